//! PDI, NTK, NSR and the care-provider simulators over real HTTP.

mod common;

use common::*;
use sweden_sim::provider_ids;

#[tokio::test]
async fn pdi_lists_providers_with_categories() {
    let s = sims().await;
    let r = get_q(
        &s.pdi,
        "List",
        &[
            ("subject:identifier", &token("p01")),
            ("code", "shareable-providers"),
        ],
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let list = matches(&r.body)[0];
    let entries = list["entry"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        4,
        "three running providers and the offline one"
    );
    let first = &entries[0];
    assert_eq!(
        first["item"]["identifier"]["value"],
        provider_ids()[0].as_str()
    );
    let cats: Vec<&str> = first["extension"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["valueCode"].as_str().unwrap())
        .collect();
    for c in ["conditions", "medications", "immunizations", "vital-signs"] {
        assert!(cats.contains(&c), "{cats:?}");
    }
    // Samordningsnummer in urn:oid spelling.
    let q = format!("urn:oid:1.2.752.129.2.1.3.3|{}", patient("p09").id.as_str());
    let r = get_q(
        &s.pdi,
        "List",
        &[("subject:identifier", &q), ("code", "shareable-providers")],
        &[],
    )
    .await;
    assert_eq!(matches(&r.body)[0]["entry"].as_array().unwrap().len(), 1);
    // Unknown patient: an empty List, never 404.
    let r = get_q(
        &s.pdi,
        "List",
        &[
            ("subject:identifier", &token("p07")),
            ("code", "shareable-providers"),
        ],
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(matches(&r.body)[0].get("entry").is_none());
    assert_eq!(
        matches(&r.body)[0]["emptyReason"]["coding"][0]["code"],
        "nilknown"
    );
    assert!(r.body.get("entry").is_some(), "the List itself is an entry");
    assert_outcome(
        &get_q(
            &s.pdi,
            "List",
            &[("subject:identifier", &token("p01")), ("code", "other")],
            &[],
        )
        .await,
        400,
    );
    assert_outcome(&get_q(&s.pdi, "List", &[("subject", "x")], &[]).await, 400);
    s.shutdown().await;
}

#[tokio::test]
async fn ntk_points_at_the_running_providers() {
    let s = sims().await;
    for (hsa, url) in &s.providers {
        let q = format!("urn:oid:1.2.752.129.2.1.4.1|{hsa}");
        let r = endpoints_of(&s, &q, &[]).await;
        let eps = matches(&r.body);
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0]["address"], url.as_str());
        assert_eq!(eps[0]["status"], "active");
        assert_eq!(eps[0]["payloadType"][0]["coding"][0]["code"], "se-ips-1.0");
        // And the address answers.
        let c = get_q(
            url,
            "Condition",
            &[("patient.identifier", &token("p07"))],
            &[],
        )
        .await;
        assert_eq!(c.status, 200);
    }
    let r = endpoints_of(&s, "SE2321000057-7004", &[]).await;
    assert_eq!(matches(&r.body)[0]["status"], "off");
    let r = endpoints_of(&s, "SE2321000057-7004", &[("status", "active")]).await;
    assert_eq!(r.body["total"], 0);
    assert_outcome(
        &endpoints_of(&s, "1.2.752.129.2.1.3.1|SE123", &[]).await,
        400,
    );
    assert_outcome(&endpoints_of(&s, "not-an-hsa-id", &[]).await, 400);
    s.shutdown().await;
}

#[tokio::test]
async fn nsr_returns_each_kind_of_block() {
    let s = sims().await;
    let category = |b: &serde_json::Value| {
        b["category"][0]["coding"][0]["code"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let blocks = |key: &'static str| {
        let s = &s;
        async move {
            get_q(
                &s.nsr,
                "Consent",
                &[("patient.identifier", &token(key))],
                &[],
            )
            .await
            .body
        }
    };
    assert_eq!(category(matches(&blocks("p03").await)[0]), "opt-out");
    let b = blocks("p04").await;
    assert_eq!(category(matches(&b)[0]), "provider-block");
    assert_eq!(
        matches(&b)[0]["provision"]["actor"][0]["reference"]["identifier"]["value"],
        "SE2321000131-7002"
    );
    assert_eq!(
        matches(&blocks("p05").await)[0]["provision"]["class"][0]["code"],
        "patient-summary"
    );
    assert_eq!(
        matches(&blocks("p11").await)[0]["provision"]["data"][0]["reference"]["reference"],
        "Condition/cond-p11-2"
    );
    assert_eq!(matches(&blocks("p15").await)[0]["status"], "inactive");
    assert_eq!(blocks("p07").await["total"], 0);
    let r = get_q(
        &s.nsr,
        "Consent",
        &[("patient.identifier", &token("p15")), ("status", "active")],
        &[],
    )
    .await;
    assert_eq!(r.body["total"], 0);
    assert_outcome(
        &get_q(&s.nsr, "Consent", &[("patient", "x")], &[]).await,
        400,
    );
    s.shutdown().await;
}

#[tokio::test]
async fn providers_serve_coded_records() {
    let s = sims().await;
    let (_, sodermalm) = &s.providers[0];
    let r = get_q(
        sodermalm,
        "Condition",
        &[("patient.identifier", &token("p01"))],
        &[],
    )
    .await;
    let conds = matches(&r.body);
    assert_eq!(conds.len(), 2);
    let codings = conds[0]["code"]["coding"].as_array().unwrap();
    assert!(codings
        .iter()
        .any(|c| c["system"] == "http://snomed.info/sct" && c["code"] == "38341003"));
    assert!(codings
        .iter()
        .any(|c| c["system"] == "urn:oid:1.2.752.116.1.1.1" && c["code"] == "I10"));
    let r = get_q(
        sodermalm,
        "Observation",
        &[
            ("patient.identifier", &token("p01")),
            ("category", "vital-signs"),
        ],
        &[],
    )
    .await;
    let obs = matches(&r.body);
    assert_eq!(obs.len(), 4);
    let bp = obs
        .iter()
        .find(|o| o["code"]["coding"][0]["code"] == "85354-9")
        .unwrap();
    assert_eq!(bp["component"][0]["valueQuantity"]["code"], "mm[Hg]");
    let r = get_q(
        sodermalm,
        "Observation",
        &[
            ("patient.identifier", &token("p01")),
            ("category", "laboratory"),
        ],
        &[],
    )
    .await;
    assert_eq!(r.body["total"], 0);
    // Devices are contained in the DeviceUseStatement.
    let (_, akademiska) = &s.providers[2];
    let r = get_q(
        akademiska,
        "DeviceUseStatement",
        &[("patient.identifier", &token("p13"))],
        &[],
    )
    .await;
    let dus = matches(&r.body)[0];
    assert_eq!(dus["contained"][0]["resourceType"], "Device");
    assert_eq!(dus["contained"][0]["type"]["coding"][0]["code"], "14106009");
    // Read by id (what an entry-block names), and errors.
    assert_eq!(
        get(&format!("{sodermalm}/Condition/cond-p11-2"), &[])
            .await
            .status,
        200
    );
    assert_outcome(&get(&format!("{sodermalm}/Condition/nope"), &[]).await, 404);
    assert_outcome(&get(&format!("{sodermalm}/Patient"), &[]).await, 404);
    assert_outcome(
        &get_q(sodermalm, "Condition", &[("code", "I10")], &[]).await,
        400,
    );
    s.shutdown().await;
}

#[tokio::test]
async fn provider_paging() {
    let s = sims().await;
    let (_, sodermalm) = &s.providers[0];
    let r = get_q(
        sodermalm,
        "Immunization",
        &[("patient.identifier", &token("p12")), ("_count", "2")],
        &[],
    )
    .await;
    assert_eq!(r.body["total"], 3);
    assert_eq!(matches(&r.body).len(), 2);
    let r2 = get(&next_link(&r.body).unwrap(), &[]).await;
    assert_eq!(matches(&r2.body).len(), 1);
    assert!(next_link(&r2.body).is_none());
    s.shutdown().await;
}

#[tokio::test]
async fn wrong_methods_are_operation_outcomes() {
    let s = sims().await;
    let r = put(&format!("{}/Consent", s.nsr), &serde_json::json!({}), &[]).await;
    assert_outcome(&r, 405);
    let r = put(&format!("{}/Endpoint", s.ntk), &serde_json::json!({}), &[]).await;
    assert_outcome(&r, 405);
    s.shutdown().await;
}

#[tokio::test]
async fn bound_to_all_interfaces_advertises_loopback() {
    let s = sweden_sim::start(sweden_sim::SimConfig {
        bind: "0.0.0.0".parse().unwrap(),
        ..sweden_sim::SimConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(s.nll.host_str(), Some("127.0.0.1"));
    let r = endpoints_of(&s, "SE2321000016-7001", &[]).await;
    assert!(matches(&r.body)[0]["address"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    s.shutdown().await;
}

#[tokio::test]
async fn oversized_bodies_are_operation_outcomes() {
    let s = sims().await;
    let big = "x".repeat(3 * 1024 * 1024);
    let r = http()
        .post(format!("{}/MedicationDispense", s.nll))
        .header("X-Caller-HsaId", BRIDGE)
        .header("X-Purpose", "dispensing")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
    s.shutdown().await;
}

#[tokio::test]
async fn every_simulator_publishes_a_capability_statement_of_what_it_serves() {
    let s = sims().await;
    let expect: Vec<(String, &str)> = vec![
        (s.nll.to_string(), "MedicationRequest"),
        (s.pdi.to_string(), "List"),
        (s.ntk.to_string(), "Endpoint"),
        (s.nsr.to_string(), "Consent"),
        (s.providers[0].1.to_string(), "Condition"),
    ];
    for (base, resource) in expect {
        let r = get(&format!("{}/metadata", base.trim_end_matches('/')), &[]).await;
        assert_eq!(r.status, 200, "{base}");
        assert_eq!(r.body["resourceType"], "CapabilityStatement");
        assert_eq!(r.body["fhirVersion"], "4.0.1");
        assert_eq!(r.body["implementation"]["url"], base.as_str());
        let types: Vec<&str> = r.body["rest"][0]["resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap())
            .collect();
        assert!(types.contains(&resource), "{base}: {types:?}");
    }
}
