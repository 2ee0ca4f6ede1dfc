//! The fast path (`cda_to_fhir_json`, FHIR JSON text written straight from the CDA model) and
//! the `serde_json::Value` API (`cda_to_fhir`) agree on every document the bridge meets: the
//! eHDSI reference samples in ../shared, this crate's CDA fixtures, the documents `to_cda`
//! writes from the FHIR fixtures, and every ePrescription the sandbox NLL shares. Agreement is
//! the same JSON text (same members, same order), the same error for a refused document, and a
//! strict FHIR R4 parse (fhirbolt) of the text.

#[path = "to_cda_support.rs"]
mod support;

use std::path::Path;

use cda_fhir_transform::to_cda::{
    edispensation, edispensation_discard, eprescription_l1, eprescription_l3,
};
use cda_fhir_transform::to_fhir::{
    cda_to_fhir, cda_to_fhir_json, cda_to_fhir_json_with, detect_kind, edispensation_to_fhir,
    eprescription_to_fhir, transaction_bundle, DocumentKind, FromCdaError, JsonStyle, ReaderLimits,
};
use serde_json::Value;
use support::*;
use sweden_sim::{start, SimConfig};

/// `(name, CDA text)` of the samples, the CDA fixtures and `to_cda`'s output for the FHIR
/// fixtures.
fn offline_corpus() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples = root.join("../../shared/ehdsi/samples/openncp-mock");
    if samples.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&samples)
            .expect("samples dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".xml"))
            .collect();
        names.sort();
        assert!(names.len() >= 10, "the shared samples: {names:?}");
        for n in names {
            let text = std::fs::read_to_string(samples.join(&n)).expect("read sample");
            out.push((n, text));
        }
    } else {
        eprintln!(
            "SKIPPED (samples part): {} not present (the shared eHDSI samples)",
            samples.display()
        );
    }
    let cda_fixtures = root.join("tests/fixtures/cda");
    let mut names: Vec<String> = std::fs::read_dir(&cda_fixtures)
        .expect("fixtures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    for n in names {
        let text = std::fs::read_to_string(cda_fixtures.join(&n)).expect("read fixture");
        out.push((format!("fixture {n}"), text));
    }
    let opts = options();
    for (file, id) in EPRESCRIPTIONS {
        let fhir = fixture(file);
        out.push((
            format!("to_cda L3 {file}"),
            eprescription_l3(&fhir, &pid(id), &opts).expect("L3"),
        ));
        out.push((
            format!("to_cda L1 {file}"),
            eprescription_l1(&fhir, &pid(id), &opts).expect("L1"),
        ));
    }
    let md = fixture("medicationdispense.json");
    out.push((
        "to_cda eD medicationdispense.json".into(),
        edispensation(&md, &opts).expect("eD"),
    ));
    out.push((
        "to_cda eD discard medicationdispense.json".into(),
        edispensation_discard(&md, &opts).expect("eD discard"),
    ));
    out
}

/// Every active or completed prescription the sandbox NLL shares, as L3 and L1 documents.
async fn sandbox_corpus() -> Vec<(String, String)> {
    let sims = start(SimConfig::default()).await.expect("simulators start");
    let opts = options();
    let mut out = Vec::new();
    for (key, bundle, ids) in sandbox_prescriptions(sims.nll.as_str()).await {
        for id in ids {
            if let Ok(xml) = eprescription_l3(&bundle, &pid(&id), &opts) {
                out.push((format!("sandbox {key} {id} L3"), xml));
            }
            if let Ok(xml) = eprescription_l1(&bundle, &pid(&id), &opts) {
                out.push((format!("sandbox {key} {id} L1"), xml));
            }
        }
    }
    sims.shutdown().await;
    out
}

fn strict_r4(name: &str, text: &str) {
    match fhirbolt::json::from_str::<fhirbolt::model::r4::Resource>(text, None) {
        Ok(fhirbolt::model::r4::Resource::Bundle(_)) => {}
        Ok(_) => panic!("{name}: not a Bundle"),
        Err(e) => panic!("{name}: not a valid FHIR R4 Bundle: {e}\n{text}"),
    }
}

/// Both APIs on one document: the same text, or the same error. Returns true when converted.
fn agree(name: &str, xml: &str) -> bool {
    let value = cda_to_fhir(xml);
    let fast = cda_to_fhir_json(xml.as_bytes());
    match (value, fast) {
        (Ok(v), Ok(text)) => {
            let parsed: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name}: fast path wrote invalid JSON: {e}"));
            assert_eq!(parsed, v, "{name}: fast path and Value API differ");
            assert_eq!(
                serde_json::to_string(&v).expect("serialise"),
                text,
                "{name}: same members in the same order"
            );
            strict_r4(name, &text);
            let pretty =
                cda_to_fhir_json_with(xml.as_bytes(), &ReaderLimits::default(), JsonStyle::Pretty)
                    .expect("pretty");
            assert_eq!(
                pretty,
                serde_json::to_string_pretty(&v).expect("pretty"),
                "{name}"
            );
            true
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "{name}: both refuse it, for the same reason");
            false
        }
        (a, b) => panic!(
            "{name}: one API converts, the other refuses: {:?} / {:?}",
            a.err(),
            b.err()
        ),
    }
}

#[test]
fn fast_path_equals_value_api_on_samples_and_fixtures() {
    let corpus = offline_corpus();
    let converted = corpus.iter().filter(|(n, x)| agree(n, x)).count();
    // 5 ePrescription fixtures x L3/L1, 2 eDispensations, 5 CDA fixtures at least.
    assert!(converted >= 15, "only {converted} converted");
}

/// The per-kind Value APIs the services call (`eprescription_to_fhir` in Country B,
/// `edispensation_to_fhir` in Country A) give the same JSON as the text API, member for
/// member and in the same order, on every sample and fixture of their kind.
#[test]
fn kind_value_apis_equal_the_text_api_on_samples_and_fixtures() {
    let (mut eps, mut eds) = (0, 0);
    for (name, xml) in offline_corpus() {
        let Ok(text) = cda_to_fhir_json(xml.as_bytes()) else {
            continue;
        };
        let value = match detect_kind(&xml).expect("a converted document has a kind") {
            DocumentKind::EPrescriptionL3 | DocumentKind::EPrescriptionL1 => {
                eps += 1;
                eprescription_to_fhir(&xml).expect("ePrescription Value API")
            }
            DocumentKind::EDispensation => {
                eds += 1;
                transaction_bundle(&edispensation_to_fhir(&xml).expect("eDispensation Value API"))
            }
            _ => continue,
        };
        assert_eq!(
            serde_json::to_string(&value).expect("serialise"),
            text,
            "{name}: Value API and text API differ"
        );
    }
    assert!(
        eps >= 10 && eds >= 2,
        "ePrescriptions {eps}, eDispensations {eds}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_equals_value_api_on_sandbox_documents() {
    let corpus = sandbox_corpus().await;
    assert!(corpus.len() >= 10, "sandbox documents: {}", corpus.len());
    for (name, xml) in &corpus {
        assert!(
            agree(name, xml),
            "{name}: the bridge's own document refused"
        );
    }
}

#[test]
fn fast_path_refuses_what_is_not_utf8_or_not_cda() {
    match cda_to_fhir_json(b"<ClinicalDocument>\xff</ClinicalDocument>") {
        Err(FromCdaError::Xml { position, message }) => {
            assert_eq!(position, 18);
            assert!(message.contains("UTF-8"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        cda_to_fhir_json(b"<html/>"),
        Err(FromCdaError::NotCda { .. })
    ));
}
