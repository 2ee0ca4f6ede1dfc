//! The documents `to_cda` writes read back through this crate's own CDA reader (`to_fhir`),
//! as another country's NCP would: the identities and codes survive the trip.

#[path = "to_cda_support.rs"]
mod support;

use cda_fhir_transform::to_cda::{
    edispensation, edispensation_discard, eprescription_l1, eprescription_l3,
};
use cda_fhir_transform::to_fhir::{
    edispensation_to_fhir, eprescription_to_fhir, l1_to_binary, DispenseAction,
};
use serde_json::Value;
use support::*;

fn resources<'a>(bundle: &'a Value, ty: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    bundle["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| &e["resource"])
        .filter(move |r| r["resourceType"] == ty)
}

fn codes(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(c) = m.get("code").and_then(Value::as_str) {
                    out.push(c.to_owned());
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

#[test]
fn every_l3_reads_back_with_its_patient_prescription_and_codes() {
    for (name, id) in EPRESCRIPTIONS {
        let xml = eprescription_l3(&fixture(name), &pid(id), &options()).expect("L3");
        let fhir = eprescription_to_fhir(&xml).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mr: Vec<&Value> = resources(&fhir, "MedicationRequest").collect();
        assert_eq!(mr.len(), 1, "{name}: one prescription item");
        assert!(
            mr[0].to_string().contains(id),
            "{name}: prescription id {id} kept: {}",
            mr[0]
        );
        let patient = resources(&fhir, "Patient").next().expect("patient");
        let pid_text = patient["identifier"].to_string();
        assert!(
            pid_text.contains("191212121212") || pid_text.contains("198302712347"),
            "{name}: {pid_text}"
        );
        let med = resources(&fhir, "Medication").next().expect("medication");
        let med_codes = codes(med);
        let source = fixture(name);
        let source_med = source["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| &e["resource"])
            .find(|r| r["resourceType"] == "Medication")
            .expect("fixture medication");
        for c in source_med["ingredient"]
            .as_array()
            .expect("ingredients")
            .iter()
            .filter_map(|i| i["itemCodeableConcept"]["coding"][0]["code"].as_str())
        {
            assert!(
                med_codes.iter().any(|m| m == c),
                "{name}: ingredient {c} lost: {med_codes:?}"
            );
        }
    }
}

#[test]
fn l1_reads_back_as_the_pdf() {
    let xml = eprescription_l1(
        &fixture("eprescription-single-tablet.json"),
        &pid("rx-1001"),
        &options(),
    )
    .expect("L1");
    let binary = l1_to_binary(&xml).expect("Binary");
    assert_eq!(binary["contentType"], "application/pdf");
    assert!(
        binary["data"]
            .as_str()
            .is_some_and(|d| d.starts_with("JVBERi0")),
        "%PDF- in base64"
    );
}

#[test]
fn edispensation_and_discard_read_back_as_record_and_withdrawal() {
    let md = fixture("medicationdispense.json");
    let ed = edispensation(&md, &options()).expect("eD");
    let read = edispensation_to_fhir(&ed).expect("eD reads");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].action, DispenseAction::Initialize);
    assert_eq!(read[0].resource["status"], "completed");
    assert!(
        read[0].resource.to_string().contains("19620523000018"),
        "dispensed NPL-id kept"
    );

    let discard = edispensation_discard(&md, &options()).expect("discard");
    let read = edispensation_to_fhir(&discard).expect("discard reads");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].action, DispenseAction::Discard);
    assert_eq!(read[0].resource["status"], "entered-in-error");
}
