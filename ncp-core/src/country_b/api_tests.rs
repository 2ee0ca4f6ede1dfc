//! The HTTP layer alone: the API over a scripted [`ForeignNcpClient`] (no network), checking
//! what each answer from abroad becomes, the user checks, the directory's refusals, and that
//! a dispensation is never reported as sent unless acknowledged.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ncp_types::{CountryCode, Oid};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;
use crate::country_b::audit::{CountryBAudit, MemoryTrail};
use crate::country_b::client::{BoxFuture, ForeignNcpClient};
use crate::country_b::config::{CountryEntry, Service, ServiceEndpoint};
use crate::country_b::directory::CountryDirectory;
use crate::country_b::foreign_gateway::{
    Acknowledgement, DocumentClass, DocumentFormat, DocumentRef, ForeignNcp, ForeignPatient,
    ForeignPatientId, HcpUser, RetrievedDocument,
};
use crate::country_b::token::tests as tok;

const ROOT: &str = "2.16.17.710.850.1000.990.1.1000";

/// Answers as scripted and counts the calls.
struct Scripted {
    find: Mutex<Result<Vec<ForeignPatient>, GatewayError>>,
    list: Mutex<Result<Vec<DocumentRef>, GatewayError>>,
    document: Mutex<Option<Vec<u8>>>,
    ack: Mutex<Result<Acknowledgement, GatewayError>>,
    calls: Mutex<Vec<&'static str>>,
}

impl Scripted {
    fn new() -> Self {
        Scripted {
            find: Mutex::new(Ok(vec![])),
            list: Mutex::new(Ok(vec![])),
            document: Mutex::new(None),
            ack: Mutex::new(Ok(Acknowledgement {
                accepted: true,
                foreign_errors: vec![],
            })),
            calls: Mutex::new(vec![]),
        }
    }

    fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }
}

impl ForeignNcpClient for Scripted {
    fn find_patient<'a>(
        &'a self,
        _: &'a ForeignNcp,
        _: &'a HcpUser,
        _: &'a ForeignPatientId,
    ) -> BoxFuture<'a, Result<Vec<ForeignPatient>, GatewayError>> {
        self.calls.lock().unwrap().push("xcpd");
        let r = self.find.lock().unwrap().clone();
        Box::pin(async move { r })
    }

    fn list_documents<'a>(
        &'a self,
        _: &'a ForeignNcp,
        _: &'a HcpUser,
        _: &'a ForeignPatientId,
        _: DocumentClass,
    ) -> BoxFuture<'a, Result<Vec<DocumentRef>, GatewayError>> {
        self.calls.lock().unwrap().push("xca query");
        let r = self.list.lock().unwrap().clone();
        Box::pin(async move { r })
    }

    fn retrieve<'a>(
        &'a self,
        _: &'a ForeignNcp,
        _: &'a HcpUser,
        _: &'a ForeignPatientId,
        _: &'a DocumentRef,
    ) -> BoxFuture<'a, Result<RetrievedDocument, GatewayError>> {
        self.calls.lock().unwrap().push("xca retrieve");
        let r = self.document.lock().unwrap().clone();
        Box::pin(async move {
            r.map(|bytes| RetrievedDocument {
                bytes,
                mime_type: "text/xml".into(),
            })
            .ok_or(GatewayError::Unavailable("no document scripted".into()))
        })
    }

    fn submit_dispensation<'a>(
        &'a self,
        _: &'a ForeignNcp,
        _: &'a HcpUser,
        _: &'a ForeignPatientId,
        _: &'a str,
        _: bool,
    ) -> BoxFuture<'a, Result<Acknowledgement, GatewayError>> {
        self.calls.lock().unwrap().push("xdr");
        let r = self.ack.lock().unwrap().clone();
        Box::pin(async move { r })
    }
}

/// An audit trail that is down.
struct Broken;

impl CountryBAudit for Broken {
    fn append<'a>(&'a self, _: &'a crate::audit::AuditRecord) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Err("disk full".to_owned()) })
    }
}

struct Harness {
    client: Arc<Scripted>,
    audit: Arc<MemoryTrail>,
    router: axum::Router,
    issuer: String,
}

fn harness_with(audit: Option<Arc<dyn CountryBAudit>>) -> Harness {
    let url = |s: &str| url::Url::parse(s).unwrap();
    let directory = CountryDirectory::new([
        CountryEntry {
            country: CountryCode::parse("EE").unwrap(),
            home_community_id: Oid::parse("1.3.6.1.4.1.48336.1").unwrap(),
            patient_id_roots: vec![Oid::parse(ROOT).unwrap()],
            certificate: None,
            services: Service::ALL
                .iter()
                .map(|s| ServiceEndpoint {
                    service: *s,
                    endpoint: url("https://ee.invalid/ncp"),
                })
                .collect(),
        },
        CountryEntry {
            country: CountryCode::parse("ES").unwrap(),
            home_community_id: Oid::parse("2.16.724.4.41").unwrap(),
            patient_id_roots: vec![],
            certificate: None,
            services: vec![ServiceEndpoint {
                service: Service::PatientIdentification,
                endpoint: url("https://es.invalid/xcpd"),
            }],
        },
    ]);
    let client = Arc::new(Scripted::new());
    let memory = Arc::new(MemoryTrail::default());
    let sink: Arc<dyn CountryBAudit> = audit.unwrap_or_else(|| memory.clone());
    let (issuer, public) = tok::issuer_keys();
    let api = CountryBApi {
        service: CountryB::new(
            client.clone(),
            directory,
            sink,
            crate::config::NcpIdentity::sandbox(),
        ),
        tokens: TokenVerifier::new(&tok::config(), public.as_bytes()).unwrap(),
    };
    Harness {
        client,
        audit: memory,
        router: router(Some(Arc::new(api))),
        issuer,
    }
}

impl Harness {
    fn token(&self, role: &str) -> String {
        tok::sign(&self.issuer, &tok::claims(role))
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 24)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn issue(oo: &Value) -> (String, String) {
    assert_eq!(oo["resourceType"], "OperationOutcome", "{oo}");
    (
        oo["issue"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        oo["issue"][0]["diagnostics"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

const SEARCH: &str = "/Patient?identifier=urn:oid:2.16.17.710.850.1000.990.1.1000%7C123";

#[tokio::test]
async fn each_error_from_abroad_has_its_status_and_a_message() {
    let h = harness_with(None);
    let t = h.token("pharmacist");
    let cases = [
        (
            GatewayError::NoConsent("4701".into()),
            403,
            "forbidden",
            "not consented",
        ),
        (
            GatewayError::NotDispensable("closed".into()),
            409,
            "business-rule",
            "cannot be dispensed",
        ),
        (
            GatewayError::Refused {
                code: "4704".into(),
                message: "bad signature".into(),
            },
            422,
            "business-rule",
            "refused the request (4704)",
        ),
        (
            GatewayError::Unavailable("503".into()),
            503,
            "transient",
            "EE's NCP is unavailable",
        ),
        (
            GatewayError::Timeout,
            504,
            "timeout",
            "did not answer in time",
        ),
        (
            GatewayError::Protocol("not SOAP".into()),
            502,
            "exception",
            "cannot use: not SOAP",
        ),
    ];
    for (error, status, code, text) in cases {
        *h.client.find.lock().unwrap() = Err(error.clone());
        let (s, oo) = h.call("GET", SEARCH, Some(&t), Value::Null).await;
        assert_eq!(s.as_u16(), status, "{error:?}: {oo}");
        let (c, d) = issue(&oo);
        assert_eq!(c, code, "{error:?}");
        assert!(d.contains(text), "{error:?}: {d}");
    }
    // No match is an empty search result, not an error.
    *h.client.find.lock().unwrap() = Err(GatewayError::NoMatch);
    let (s, b) = h.call("GET", SEARCH, Some(&t), Value::Null).await;
    assert_eq!((s, b["total"].as_u64()), (StatusCode::OK, Some(0)));
    assert_eq!(b["entry"][0]["search"]["mode"], "outcome");
    assert_eq!(
        b["entry"][0]["resource"]["issue"][0]["diagnostics"],
        "EE's NCP found no patient with this identifier (XCPD: no match)"
    );
    // Each call abroad was audited, failures too.
    let records = h.audit.records();
    assert_eq!(records.len(), 7);
    assert_eq!(
        records
            .iter()
            .filter(|r| r.outcome == crate::audit::Outcome::Success)
            .count(),
        0
    );
}

#[tokio::test]
async fn a_found_patient_gets_the_api_id() {
    let h = harness_with(None);
    *h.client.find.lock().unwrap() = Ok(vec![ForeignPatient {
        id: ForeignPatientId {
            root: Oid::parse(ROOT).unwrap(),
            extension: "123".into(),
        },
        given: vec!["Robert".into()],
        family: Some("Schuman".into()),
        birth_date: Some("18860629".into()),
        gender: Some("M".into()),
    }]);
    let (s, b) = h
        .call("GET", SEARCH, Some(&h.token("doctor")), Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK);
    let p = &b["entry"][0]["resource"];
    assert_eq!(p["id"], format!("EE-{ROOT}-123"));
    assert_eq!(p["birthDate"], "1886-06-29");
    assert_eq!(p["gender"], "male");
    assert_eq!(p["identifier"][0]["system"], format!("urn:oid:{ROOT}"));
}

#[tokio::test]
async fn match_takes_a_patient_in_parameters() {
    let h = harness_with(None);
    *h.client.find.lock().unwrap() = Ok(vec![ForeignPatient {
        id: ForeignPatientId {
            root: Oid::parse(ROOT).unwrap(),
            extension: "123".into(),
        },
        given: vec![],
        family: Some("Schuman".into()),
        birth_date: None,
        gender: None,
    }]);
    let body = json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {
        "resourceType": "Patient",
        "identifier": [{"system": format!("urn:oid:{ROOT}"), "value": "123"}],
        "address": [{"country": "ee"}],
    }}]});
    let (s, b) = h
        .call(
            "POST",
            "/Patient/$match",
            Some(&h.token("pharmacist")),
            body,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["entry"][0]["resource"]["id"], format!("EE-{ROOT}-123"));
    assert_eq!(b["entry"][0]["search"]["score"], 1);
    let (s, _) = h
        .call(
            "POST",
            "/Patient/$match",
            Some(&h.token("pharmacist")),
            json!({"resourceType": "Parameters", "parameter": []}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn users_and_the_directory_are_checked_before_any_call() {
    let h = harness_with(None);
    let (s, oo) = h.call("GET", SEARCH, None, Value::Null).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(issue(&oo).0, "login");
    let (s, _) = h.call("GET", SEARCH, Some("x.y.z"), Value::Null).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A nurse may not read prescriptions nor dispense.
    let nurse = h.token("nurse");
    let (s, oo) = h
        .call(
            "GET",
            &format!("/MedicationRequest?patient=Patient/EE-{ROOT}-1"),
            Some(&nurse),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{oo}");
    let (s, _) = h
        .call(
            "POST",
            "/MedicationDispense",
            Some(&nurse),
            json!({"resourceType": "MedicationDispense"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Spain offers patient identification only; France is not in the directory.
    let t = h.token("doctor");
    let (s, oo) = h
        .call(
            "GET",
            "/Patient/ES-2.16.724.4.41-1/$summary",
            Some(&t),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(
        issue(&oo),
        (
            "not-supported".into(),
            "ES does not offer Patient Summaries (XCA)".into()
        )
    );
    let (s, _) = h
        .call(
            "GET",
            "/Patient?identifier=urn:oid:1.2.3%7C4&country=FR",
            Some(&t),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Malformed requests.
    for uri in [
        "/Patient",
        "/Patient?identifier=123",
        "/Patient?identifier=http://x%7C1",
        "/MedicationRequest",
        "/MedicationRequest?patient=Patient/nonsense",
    ] {
        let (s, oo) = h.call("GET", uri, Some(&t), Value::Null).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {oo}");
    }
    assert!(h.client.calls().is_empty(), "{:?}", h.client.calls());
    assert!(h.audit.records().is_empty());
    // The CapabilityStatement needs no user; unknown interactions are OperationOutcomes.
    let (s, cs) = h.call("GET", "/metadata", None, Value::Null).await;
    assert_eq!(
        (s, cs["resourceType"].as_str()),
        (StatusCode::OK, Some("CapabilityStatement"))
    );
    let (s, oo) = h.call("DELETE", "/Patient/x", Some(&t), Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    issue(&oo);
}

#[tokio::test]
async fn without_country_b_the_api_says_so() {
    let r = router(None);
    let res = r
        .oneshot(Request::get("/metadata").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_IMPLEMENTED);
}

/// The sample ePrescription of `../shared`, when it is there.
fn sample_eprescription() -> Option<Vec<u8>> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/ehdsi/samples/openncp-mock/epstore-1-1234-W8.xml");
    let r = std::fs::read(&p).ok();
    if r.is_none() {
        eprintln!("SKIPPED: {} not found", p.display());
    }
    r
}

fn listed() -> Vec<DocumentRef> {
    vec![DocumentRef {
        document_unique_id: "1.3.6.1.4.1.48336.1.1.1".into(),
        repository_unique_id: "1.3.6.1.4.1.48336.1.9".into(),
        home_community_id: Oid::parse("1.3.6.1.4.1.48336.1").unwrap(),
        class: DocumentClass::EPrescription,
        format: DocumentFormat::L3,
        title: None,
        description: None,
        transformation_of: None,
    }]
}

#[tokio::test]
async fn a_dispensation_is_created_only_when_acknowledged() {
    let Some(cda) = sample_eprescription() else {
        return;
    };
    let h = harness_with(None);
    *h.client.list.lock().unwrap() = Ok(listed());
    *h.client.document.lock().unwrap() = Some(cda);
    let t = h.token("pharmacist");
    let (s, b) = h
        .call(
            "GET",
            &format!("/MedicationRequest?patient=Patient/EE-{ROOT}-1-1234-W8"),
            Some(&t),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mr = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "MedicationRequest")
        .unwrap()["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({
        "resourceType": "MedicationDispense",
        "status": "completed",
        "authorizingPrescription": [{ "reference": format!("MedicationRequest/{mr}") }],
        "quantity": { "value": 1, "unit": "förpackning" },
    });

    // Not accepted: 422 with the foreign codes, never 201.
    *h.client.ack.lock().unwrap() = Ok(Acknowledgement {
        accepted: false,
        foreign_errors: vec![("4106".into(), "not dispensable".into())],
    });
    let (s, oo) = h
        .call("POST", "/MedicationDispense", Some(&t), body.clone())
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{oo}");
    assert_eq!(oo["issue"][0]["details"]["coding"][0]["code"], "4106");
    assert!(issue(&oo).1.contains("nothing was recorded abroad"));

    // No answer in time: 504, and nothing to cancel.
    *h.client.ack.lock().unwrap() = Err(GatewayError::Timeout);
    let (s, _) = h
        .call("POST", "/MedicationDispense", Some(&t), body.clone())
        .await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT);

    // Acknowledged: 201 with a Location, then the discard.
    *h.client.ack.lock().unwrap() = Ok(Acknowledgement {
        accepted: true,
        foreign_errors: vec![],
    });
    let (s, md) = h
        .call("POST", "/MedicationDispense", Some(&t), body.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{md}");
    let id = md["id"].as_str().unwrap().to_owned();
    // Another pharmacist cannot discard it.
    let other = tok::sign(&h.issuer, &{
        let mut c = tok::claims("pharmacist");
        c["sub"] = json!("SE2321000016-9999");
        c
    });
    let (s, _) = h
        .call(
            "POST",
            &format!("/MedicationDispense/{id}/$cancel"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    *h.client.ack.lock().unwrap() = Err(GatewayError::Unavailable("down".into()));
    let (s, _) = h
        .call(
            "POST",
            &format!("/MedicationDispense/{id}/$cancel"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    *h.client.ack.lock().unwrap() = Ok(Acknowledgement {
        accepted: true,
        foreign_errors: vec![],
    });
    let (s, md) = h
        .call(
            "POST",
            &format!("/MedicationDispense/{id}/$cancel"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, md["status"].as_str()),
        (StatusCode::OK, Some("entered-in-error"))
    );
    assert_eq!(h.client.calls().iter().filter(|c| **c == "xdr").count(), 5);

    // A body that is not a MedicationDispense, or without a quantity.
    let (s, _) = h
        .call(
            "POST",
            "/MedicationDispense",
            Some(&t),
            json!({"resourceType": "Patient"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let mut no_qty = body.clone();
    no_qty.as_object_mut().unwrap().remove("quantity");
    let (s, _) = h
        .call("POST", "/MedicationDispense", Some(&t), no_qty)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn nothing_is_disclosed_when_the_audit_trail_is_down() {
    let h = harness_with(Some(Arc::new(Broken)));
    *h.client.find.lock().unwrap() = Ok(vec![ForeignPatient {
        id: ForeignPatientId {
            root: Oid::parse(ROOT).unwrap(),
            extension: "123".into(),
        },
        given: vec![],
        family: Some("Schuman".into()),
        birth_date: None,
        gender: None,
    }]);
    let (s, oo) = h
        .call("GET", SEARCH, Some(&h.token("doctor")), Value::Null)
        .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!oo.to_string().contains("Schuman"));
}
