//! Bad input gives a precise `ToCdaError` naming the FHIR element, never a panic.

#[path = "to_cda_support.rs"]
mod support;

use cda_fhir_transform::to_cda::{
    edispensation, edispensation_discard, eprescription_l1, eprescription_l3, ToCdaError,
};
use serde_json::{json, Value};
use support::*;

fn single() -> Value {
    fixture("eprescription-single-tablet.json")
}

fn l3(bundle: &Value) -> Result<String, ToCdaError> {
    eprescription_l3(bundle, &pid("rx-1001"), &options())
}

/// The resource of type `ty` in a bundle.
fn resource<'a>(bundle: &'a mut Value, ty: &str) -> &'a mut Value {
    bundle["entry"]
        .as_array_mut()
        .expect("entries")
        .iter_mut()
        .map(|e| &mut e["resource"])
        .find(|r| r["resourceType"] == ty)
        .expect("resource in fixture")
}

fn missing(path: &str) -> ToCdaError {
    ToCdaError::Missing { path: path.into() }
}

#[test]
fn medication_not_in_the_bundle() {
    let mut b = single();
    b["entry"]
        .as_array_mut()
        .expect("entries")
        .retain(|e| e["resource"]["resourceType"] != "Medication");
    assert_eq!(
        l3(&b),
        Err(ToCdaError::UnresolvedReference {
            path: "MedicationRequest.medicationReference".into(),
            reference: "Medication/med-alvedon".into(),
        })
    );
}

#[test]
fn no_medication_reference_at_all() {
    let mut b = single();
    let mr = resource(&mut b, "MedicationRequest");
    mr.as_object_mut()
        .expect("object")
        .remove("medicationReference");
    assert_eq!(
        l3(&b),
        Err(missing("MedicationRequest.medicationReference"))
    );
}

#[test]
fn patient_without_a_swedish_id() {
    let mut b = single();
    resource(&mut b, "Patient")
        .as_object_mut()
        .expect("object")
        .remove("identifier");
    assert_eq!(
        l3(&b),
        Err(missing(
            "Patient.identifier (personnummer or samordningsnummer)"
        ))
    );
    // An identifier in another system is not a patient id for an NLL prescription either.
    resource(&mut b, "Patient")["identifier"] =
        json!([{ "system": "urn:oid:1.2.3.4", "value": "42" }]);
    assert_eq!(
        l3(&b),
        Err(missing(
            "Patient.identifier (personnummer or samordningsnummer)"
        ))
    );
}

#[test]
fn personnummer_with_a_wrong_check_digit() {
    let mut b = single();
    resource(&mut b, "Patient")["identifier"][0]["value"] = "191212121213".into();
    match l3(&b) {
        Err(ToCdaError::Invalid { path, reason }) => {
            assert_eq!(path, "Patient.identifier");
            assert!(reason.contains("check digit"), "{reason}");
            assert!(
                !reason.contains("191212121213"),
                "the number must not leak: {reason}"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn samordningsnummer_under_the_personnummer_system() {
    let mut b = fixture("eprescription-samordningsnummer.json");
    resource(&mut b, "Patient")["identifier"][0]["system"] =
        "http://electronichealth.se/identifier/personnummer".into();
    let err = eprescription_l3(&b, &pid("rx-1004"), &options()).expect_err("kind mismatch");
    assert!(
        matches!(&err, ToCdaError::Invalid { path, .. } if path == "Patient.identifier"),
        "{err:?}"
    );
}

#[test]
fn unknown_prescription_and_not_a_bundle() {
    assert_eq!(
        eprescription_l3(&single(), &pid("rx-nope"), &options()),
        Err(ToCdaError::PrescriptionNotFound("rx-nope".into()))
    );
    let mr = single()["entry"][0]["resource"].clone();
    assert!(matches!(
        l3(&mr),
        Err(ToCdaError::Invalid { path, .. }) if path == "Bundle.resourceType"
    ));
    assert!(matches!(
        l3(&json!("not json object")),
        Err(ToCdaError::Invalid { path, .. }) if path == "Bundle.resourceType"
    ));
}

#[test]
fn cancelled_prescriptions_are_not_shared() {
    let mut b = single();
    resource(&mut b, "MedicationRequest")["status"] = "cancelled".into();
    assert!(matches!(
        l3(&b),
        Err(ToCdaError::Invalid { path, .. }) if path == "MedicationRequest.status"
    ));
}

#[test]
fn prescriber_without_hsa_id() {
    let mut b = single();
    resource(&mut b, "Practitioner")["identifier"] = json!([]);
    assert_eq!(l3(&b), Err(missing("Practitioner.identifier (HSA-id)")));
    resource(&mut b, "Practitioner")["identifier"] =
        json!([{ "system": "urn:oid:1.2.752.29.4.19", "value": "not an hsa id" }]);
    assert!(matches!(
        l3(&b),
        Err(ToCdaError::Invalid { path, .. }) if path == "Practitioner.identifier"
    ));
}

#[test]
fn time_without_zone_and_missing_amount() {
    let mut b = single();
    resource(&mut b, "MedicationRequest")["authoredOn"] = "2026-11-02T09:30:00".into();
    assert!(matches!(
        l3(&b),
        Err(ToCdaError::Invalid { path, .. }) if path == "MedicationRequest.authoredOn"
    ));
    let mut b = single();
    resource(&mut b, "Medication")
        .as_object_mut()
        .expect("object")
        .remove("amount");
    assert_eq!(l3(&b), Err(missing("Medication.amount (package content)")));
    let mut b = single();
    resource(&mut b, "Medication")["ingredient"][0]["strength"]["numerator"]
        .as_object_mut()
        .expect("object")
        .remove("value");
    assert_eq!(
        l3(&b),
        Err(missing("Medication.ingredient[0].strength.numerator.value"))
    );
}

#[test]
fn dispensation_errors_name_the_element() {
    let mut md = fixture("medicationdispense.json");
    md["authorizingPrescription"] = json!([]);
    assert_eq!(
        edispensation(&md, &options()),
        Err(missing("MedicationDispense.authorizingPrescription"))
    );
    let mut md = fixture("medicationdispense.json");
    md["performer"][0]["actor"]["reference"] = "#nobody".into();
    assert_eq!(
        edispensation(&md, &options()),
        Err(ToCdaError::UnresolvedReference {
            path: "MedicationDispense.performer.actor".into(),
            reference: "#nobody".into(),
        })
    );
    let mut md = fixture("medicationdispense.json");
    md.as_object_mut().expect("object").remove("quantity");
    assert_eq!(
        edispensation(&md, &options()),
        Err(missing("MedicationDispense.quantity"))
    );
}

/// Every element of the inputs replaced by values of the wrong shape: the writers return a
/// result (document or error) and never panic.
#[test]
fn never_panics_on_malformed_input() {
    let opts = options();
    let wrong = [
        Value::Null,
        json!(42),
        json!(-1.5e300),
        json!("x"),
        json!(""),
        json!([]),
        json!({}),
        json!([{"x": 1}]),
        json!("\u{0000}<&>\"'"),
    ];
    let mut calls = 0usize;
    let mut check = |doc: &Value, f: &dyn Fn(&Value) -> Result<String, ToCdaError>| {
        for w in &wrong {
            for path in leaf_paths(doc) {
                let mut d = doc.clone();
                *pointer_mut(&mut d, &path) = w.clone();
                if let Ok(xml) = f(&d) {
                    roxmltree::Document::parse(&xml)
                        .unwrap_or_else(|e| panic!("{path:?} = {w}: not well-formed: {e}"));
                }
                calls += 1;
            }
        }
    };
    for (name, id) in EPRESCRIPTIONS.iter().take(2) {
        let b = fixture(name);
        check(&b, &|d| eprescription_l3(d, &pid(id), &opts));
        check(&b, &|d| eprescription_l1(d, &pid(id), &opts));
    }
    let md = fixture("medicationdispense.json");
    check(&md, &|d| edispensation(d, &opts));
    check(&md, &|d| edispensation_discard(d, &opts));
    assert!(calls > 1000, "{calls}");
}

fn leaf_paths(v: &Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    fn walk(v: &Value, cur: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    cur.push(k.clone());
                    out.push(cur.clone());
                    walk(x, cur, out);
                    cur.pop();
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    cur.push(i.to_string());
                    out.push(cur.clone());
                    walk(x, cur, out);
                    cur.pop();
                }
            }
            _ => {}
        }
    }
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn pointer_mut<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    let p: String = path
        .iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect();
    v.pointer_mut(&p).expect("path exists")
}
