//! Helpers shared by the simulator tests.
#![allow(dead_code)]

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;
use sweden_sim::{patients, start, RunningSims, SimConfig, SyntheticPatient};

pub const BRIDGE: &str = "SE2321000016-NCP1";
pub const PHARMACY: &str = "SE2321000016-APO1";
pub const OTHER_PHARMACY: &str = "SE2321000016-APO2";

pub async fn sims() -> RunningSims {
    start(SimConfig::default()).await.expect("simulators start")
}

pub fn patient(key: &str) -> &'static SyntheticPatient {
    patients().iter().find(|p| p.key == key).expect("patient")
}

pub fn token(key: &str) -> String {
    let p = patient(key);
    format!("{}|{}", p.id.system_uri(), p.id.as_str())
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// A request as the bridge, cross-border.
pub fn nll_headers(caller: &str, purpose: &str, access: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-Caller-HsaId", caller.to_owned()),
        ("X-Purpose", purpose.to_owned()),
        ("X-Access", access.to_owned()),
        ("X-Caller-Role", "ncp".to_owned()),
    ]
}

/// The same headers with another `X-Caller-Role`.
pub fn with_role(mut h: Vec<(&'static str, String)>, role: &str) -> Vec<(&'static str, String)> {
    for (k, v) in &mut h {
        if *k == "X-Caller-Role" {
            *v = role.to_owned();
        }
    }
    h
}

pub fn cross_border() -> Vec<(&'static str, String)> {
    nll_headers(BRIDGE, "cross-border", "normal")
}

async fn send(rb: reqwest::RequestBuilder, headers: &[(&'static str, String)]) -> Resp {
    let mut rb = rb.header("Accept", "application/fhir+json");
    for (k, v) in headers {
        rb = rb.header(*k, v);
    }
    let r = rb.send().await.expect("request");
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
    }
}

pub async fn get(url: &str, headers: &[(&'static str, String)]) -> Resp {
    send(http().get(url), headers).await
}

pub async fn get_q(
    base: &url::Url,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&'static str, String)],
) -> Resp {
    let mut u = base.clone();
    u.set_path(&format!("{}/{}", base.path(), path));
    u.query_pairs_mut().extend_pairs(query);
    get(u.as_str(), headers).await
}

/// NLL's `MedicationRequest` search for synthetic patient `key` (by `patient.identifier`), with
/// the further `query` parameters.
pub async fn prescriptions_of(
    s: &RunningSims,
    key: &str,
    query: &[(&str, &str)],
    headers: &[(&'static str, String)],
) -> Resp {
    let patient = token(key);
    let mut q = vec![("patient.identifier", patient.as_str())];
    q.extend_from_slice(query);
    get_q(&s.nll, "MedicationRequest", &q, headers).await
}

/// NTK's `Endpoint` search for organisation `org` (by `organization.identifier`), with the
/// further `query` parameters, no caller headers.
pub async fn endpoints_of(s: &RunningSims, org: &str, query: &[(&str, &str)]) -> Resp {
    let mut q = vec![("organization.identifier", org)];
    q.extend_from_slice(query);
    get_q(&s.ntk, "Endpoint", &q, &[]).await
}

pub async fn post(url: &str, body: &Value, headers: &[(&'static str, String)]) -> Resp {
    send(
        http()
            .post(url)
            .header("Content-Type", "application/fhir+json")
            .body(body.to_string()),
        headers,
    )
    .await
}

pub async fn put(url: &str, body: &Value, headers: &[(&'static str, String)]) -> Resp {
    send(
        http()
            .put(url)
            .header("Content-Type", "application/fhir+json")
            .body(body.to_string()),
        headers,
    )
    .await
}

pub fn matches(bundle: &Value) -> Vec<&Value> {
    entries(bundle, "match")
}

pub fn entries<'a>(bundle: &'a Value, mode: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["search"]["mode"] == mode)
                .map(|e| &e["resource"])
                .collect()
        })
        .unwrap_or_default()
}

pub fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
}

pub fn assert_outcome(r: &Resp, status: u16) {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.body);
    assert_eq!(
        r.body["resourceType"], "OperationOutcome",
        "body: {}",
        r.body
    );
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/fhir+json"));
}

pub fn remaining(rx: &Value) -> i64 {
    rx["dispenseRequest"]["extension"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["url"]
                .as_str()
                .unwrap()
                .ends_with("nll-remaining-dispensations")
        })
        .unwrap()["valueInteger"]
        .as_i64()
        .unwrap()
}

/// A MedicationDispense for `rx` with an idempotency key.
pub fn dispense_body(rx: &str, key: &str) -> Value {
    serde_json::json!({
        "resourceType": "MedicationDispense",
        "identifier": [{ "system": "http://electronichealth.se/identifier/nll-dispense-id", "value": key }],
        "status": "completed",
        "authorizingPrescription": [{ "reference": format!("MedicationRequest/{rx}") }],
        "quantity": { "value": 1, "unit": "förpackning" },
    })
}
