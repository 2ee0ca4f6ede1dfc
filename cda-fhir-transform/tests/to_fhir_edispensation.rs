//! Hand-written eDispensation fixtures (tests/fixtures/cda) -> NLL MedicationDispense.

use cda_fhir_transform::to_fhir::{
    cda_to_fhir, edispensation_discard_to_fhir, edispensation_to_fhir, transaction_bundle,
    DispenseAction, FromCdaError,
};
use serde_json::Value;

const NLL_DISPENSE_ID: &str = "http://electronichealth.se/identifier/nll-dispense-id";

fn fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cda")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Strict fhirbolt parse, through the `Resource` enum (fhirbolt 0.4's concrete-type entry point
/// wrongly rejects primitives that follow a nested resource, e.g. `status` after `contained`).
fn assert_r4(v: &Value, resource_type: &str) {
    let text = serde_json::to_string(v).expect("serialise");
    match fhirbolt::json::from_str::<fhirbolt::model::r4::Resource>(&text, None) {
        Ok(r) => {
            let ok = matches!(
                (&r, resource_type),
                (fhirbolt::model::r4::Resource::Bundle(_), "Bundle")
                    | (
                        fhirbolt::model::r4::Resource::MedicationDispense(_),
                        "MedicationDispense"
                    )
            );
            assert!(ok, "not a {resource_type}");
        }
        Err(e) => panic!(
            "not valid FHIR R4: {e}\n{}",
            serde_json::to_string_pretty(v).unwrap_or_default()
        ),
    }
}

fn contained<'v>(md: &'v Value, id: &str) -> &'v Value {
    md["contained"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("no contained #{id}"))
}

#[test]
fn wave8_pharm_dispensation_maps_to_medication_dispense() {
    let out = edispensation_to_fhir(&fixture("edispensation-w8-pharm.xml")).expect("converts");
    assert_eq!(out.len(), 1);
    let ins = &out[0];
    assert_eq!(ins.action, DispenseAction::Initialize);
    assert_eq!(ins.dispense_id, "1.2.246.10.99.1.1^ED-2026-0001");
    assert_eq!(ins.prescription_id, "RX-SE-0042");
    let md = &ins.resource;
    assert_r4(md, "MedicationDispense");

    assert_eq!(md["status"], "completed");
    assert_eq!(md["identifier"][0]["system"], NLL_DISPENSE_ID);
    assert_eq!(
        md["identifier"][0]["value"],
        "1.2.246.10.99.1.1^ED-2026-0001"
    );
    assert_eq!(
        md["authorizingPrescription"][0]["reference"],
        "MedicationRequest/RX-SE-0042"
    );
    assert_eq!(
        md["authorizingPrescription"][0]["identifier"]["system"],
        "http://electronichealth.se/identifier/nll-prescription-id"
    );
    assert_eq!(
        md["subject"]["identifier"]["system"],
        "http://electronichealth.se/identifier/personnummer"
    );
    assert_eq!(md["subject"]["identifier"]["value"], "191212121212");
    assert_eq!(md["quantity"]["value"], 2);
    assert_eq!(md["quantity"]["unit"], "förpackning");
    assert_eq!(md["whenHandedOver"], "2026-11-24T10:12:00+02:00");
    assert_eq!(md["substitution"]["wasSubstituted"], true);

    // Dispensed product: the Finnish product code, ATC class, EDQM form, strength, package.
    let med = contained(md, "med");
    assert_eq!(md["medicationReference"]["reference"], "#med");
    let codes: Vec<(&str, &str)> = med["code"]["coding"]
        .as_array()
        .expect("codings")
        .iter()
        .map(|c| {
            (
                c["system"].as_str().unwrap_or(""),
                c["code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        codes.contains(&("urn:oid:1.2.246.537.6.55", "048376")),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("http://www.whocc.no/atc", "N02BE01")),
        "{codes:?}"
    );
    assert_eq!(med["code"]["text"], "Panadol 500 mg tabletti");
    assert_eq!(med["form"]["coding"][0]["code"], "10219000");
    assert_eq!(med["ingredient"][0]["strength"]["numerator"]["value"], 500);
    assert_eq!(med["ingredient"][0]["strength"]["numerator"]["code"], "mg");
    assert_eq!(med["amount"]["numerator"]["value"], 30);
    assert_eq!(med["amount"]["denominator"]["unit"], "Bottle");

    // Foreign pharmacist and pharmacy, with the pharmacy's country.
    let pharmacist = contained(md, "pharmacist");
    assert_eq!(
        pharmacist["identifier"][0]["system"],
        "urn:oid:1.2.246.537.25"
    );
    assert_eq!(pharmacist["identifier"][0]["value"], "PH-4711");
    assert_eq!(pharmacist["name"][0]["family"], "Apteekkari");
    let pharmacy = contained(md, "pharmacy");
    assert_eq!(pharmacy["name"], "Helsingin Yliopiston Apteekki");
    assert_eq!(pharmacy["address"][0]["country"], "FI");
    let actors: Vec<&str> = md["performer"]
        .as_array()
        .expect("performers")
        .iter()
        .filter_map(|p| p["actor"]["reference"].as_str())
        .collect();
    assert_eq!(actors, ["#pharmacist", "#pharmacy"]);

    // As a transaction: a conditional create keyed on the NLL dispense id.
    let bundle = transaction_bundle(&out);
    assert_r4(&bundle, "Bundle");
    assert_eq!(bundle["entry"][0]["request"]["method"], "POST");
    assert_eq!(
        bundle["entry"][0]["request"]["ifNoneExist"],
        format!("identifier={NLL_DISPENSE_ID}|1.2.246.10.99.1.1^ED-2026-0001")
    );
}

#[test]
fn discard_marks_the_replaced_dispensation_entered_in_error() {
    let out = edispensation_to_fhir(&fixture("edispensation-w8-discard.xml")).expect("converts");
    let ins = &out[0];
    assert_eq!(ins.action, DispenseAction::Discard);
    // The dispensation recorded under the replaced (RPLC) document, not the discard's own id.
    assert_eq!(ins.dispense_id, "1.2.246.10.99.1.1^ED-2026-0001");
    assert_eq!(ins.resource["status"], "entered-in-error");
    assert_r4(&ins.resource, "MedicationDispense");
    let bundle = transaction_bundle(&out);
    assert_r4(&bundle, "Bundle");
    assert_eq!(bundle["entry"][0]["request"]["method"], "PUT");
    assert_eq!(
        bundle["entry"][0]["request"]["url"],
        format!("MedicationDispense?identifier={NLL_DISPENSE_ID}|1.2.246.10.99.1.1^ED-2026-0001")
    );
    // The same via the generic entry point.
    let generic = cda_to_fhir(&fixture("edispensation-w8-discard.xml")).expect("converts");
    assert_eq!(
        generic["entry"][0]["resource"]["status"],
        "entered-in-error"
    );
}

#[test]
fn discard_transaction_forces_entered_in_error() {
    let out =
        edispensation_discard_to_fhir(&fixture("edispensation-w8-pharm.xml")).expect("converts");
    assert_eq!(out[0].action, DispenseAction::Discard);
    assert_eq!(out[0].dispense_id, "1.2.246.10.99.1.1^ED-2026-0001");
    assert_eq!(out[0].resource["status"], "entered-in-error");
}

#[test]
fn older_epsos_namespace_dispensation_reads() {
    let out = edispensation_to_fhir(&fixture("edispensation-epsos-wave7.xml")).expect("converts");
    let md = &out[0].resource;
    assert_r4(md, "MedicationDispense");
    assert_eq!(md["status"], "completed");
    assert_eq!(out[0].prescription_id, "RX-SE-0077");
    assert_eq!(md["substitution"]["wasSubstituted"], false);
    let med = contained(md, "med");
    assert_eq!(med["form"]["coding"][0]["code"], "10221000");
    assert_eq!(
        med["ingredient"][0]["itemCodeableConcept"]["coding"][0]["code"],
        "M01AE01"
    );
    assert_eq!(med["ingredient"][0]["strength"]["numerator"]["value"], 400);
    // capacityQuantity 30 in a blister, with the pack code as nll-package.
    assert_eq!(med["amount"]["numerator"]["value"], 30);
    let exts = med["extension"].as_array().expect("extensions");
    assert!(exts.iter().any(|e| e["url"]
        .as_str()
        .is_some_and(|u| u.ends_with("/nll-package"))
        && e["valueCodeableConcept"]["coding"][0]["code"] == "652394-6"));
    assert_eq!(contained(md, "pharmacy")["address"][0]["country"], "ES");
    assert_eq!(md["whenHandedOver"], "2024-03-10T09:40:00+01:00");
}

#[test]
fn minimal_dispensation_without_optional_parts_reads() {
    let out = edispensation_to_fhir(&fixture("edispensation-minimal.xml")).expect("converts");
    let md = &out[0].resource;
    assert_r4(md, "MedicationDispense");
    assert_eq!(md["status"], "completed");
    assert_eq!(out[0].prescription_id, "RX-SE-0099");
    assert!(md.get("performer").is_none());
    assert!(md.get("quantity").is_none());
    assert!(md.get("whenHandedOver").is_none());
    assert_eq!(contained(md, "med")["code"]["text"], "Paracetamol 500 mg");
}

#[test]
fn dispensation_without_the_prescription_reference_is_refused() {
    let xml = fixture("edispensation-minimal.xml").replace(
        r#"<id root="1.2.752.129.5.1.2" extension="RX-SE-0099"/>"#,
        "",
    );
    let err = edispensation_to_fhir(&xml).unwrap_err();
    assert!(matches!(err, FromCdaError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("prescription"), "{err}");
}

#[test]
fn an_eprescription_is_not_an_edispensation() {
    let err = edispensation_to_fhir(&fixture("eprescription-l1.xml")).unwrap_err();
    assert!(matches!(err, FromCdaError::WrongKind { .. }), "{err:?}");
}

/// Every code/codeSystem pair of the dispensed product in the fixtures appears in the FHIR.
#[test]
fn dispensed_product_codes_all_survive() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "edispensation-w8-pharm.xml",
            &[
                ("urn:oid:1.2.246.537.6.55", "048376"),
                ("http://standardterms.edqm.eu", "10219000"),
                ("urn:oid:1.2.246.537.6.56", "048376-30"),
                ("http://standardterms.edqm.eu", "30008000"),
                ("http://www.whocc.no/atc", "N02BE01"),
            ],
        ),
        (
            "edispensation-epsos-wave7.xml",
            &[
                ("urn:oid:2.16.724.4.21.5.1", "6523946"),
                ("http://standardterms.edqm.eu", "10221000"),
                ("urn:oid:2.16.724.4.21.5.2", "652394-6"),
                ("http://standardterms.edqm.eu", "30007000"),
                ("http://www.whocc.no/atc", "M01AE01"),
            ],
        ),
    ];
    for (name, expected) in cases {
        let out = edispensation_to_fhir(&fixture(name)).expect("converts");
        let codings = cda_fhir_transform::to_fhir::fhir_json::all_codings(&out[0].resource);
        for (system, code) in *expected {
            assert!(
                codings.iter().any(|(s, c)| s == system && c == code),
                "{name}: {system}|{code} missing"
            );
        }
    }
}

#[test]
fn a_corrupt_personnummer_is_refused_without_echoing_it() {
    let xml = fixture("edispensation-minimal.xml").replace("191212121212", "191212121213");
    let err = edispensation_to_fhir(&xml).unwrap_err();
    assert!(matches!(err, FromCdaError::Invalid { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("patientRole/id/@extension"), "{msg}");
    assert!(!msg.contains("19121212121"), "{msg}");
}
