//! eHDSI Patient Summary L3 -> FHIR R4 `document` Bundle: every shared sample converts to a
//! Bundle a strict FHIR parser accepts (the deliberately broken one is refused, naming what is
//! wrong), with one Composition section per CDA section and each entry as the resource of its
//! kind, original codes kept.

#[path = "to_fhir_support.rs"]
mod support;

use std::collections::HashSet;

use cda_fhir_transform::to_fhir::fhir_json::all_codings;
use cda_fhir_transform::to_fhir::{
    cda_to_fhir, cda_to_fhir_json, patient_summary_to_fhir, FromCdaError,
};
use serde_json::Value;
use support::*;

fn by_url<'v>(bundle: &'v Value, url: &str) -> &'v Value {
    bundle["entry"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["fullUrl"] == url))
        .map(|e| &e["resource"])
        .unwrap_or_else(|| panic!("{url} not in the Bundle"))
}

fn section<'v>(bundle: &'v Value, loinc: &str) -> &'v Value {
    bundle["entry"][0]["resource"]["section"]
        .as_array()
        .expect("sections")
        .iter()
        .find(|s| s["code"]["coding"][0]["code"] == loinc)
        .unwrap_or_else(|| panic!("no section {loinc}"))
}

/// The resources a section lists.
fn section_resources<'v>(bundle: &'v Value, loinc: &str) -> Vec<&'v Value> {
    section(bundle, loinc)["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| by_url(bundle, r["reference"].as_str().expect("reference")))
                .collect()
        })
        .unwrap_or_default()
}

fn has_coding(v: &Value, system: &str, code: &str) -> bool {
    all_codings(v).iter().any(|(s, c)| s == system && c == code)
}

const SNOMED: &str = "http://snomed.info/sct";

#[test]
fn every_patient_summary_sample_converts_to_a_strict_r4_document() {
    let files = sample_files("psstore-");
    if files.is_empty() {
        return;
    }
    let mut converted = 0;
    for (name, xml) in &files {
        if name.contains("BAD-MAPPING") {
            continue;
        }
        let (bundle, warnings) =
            patient_summary_to_fhir(xml).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_r4_bundle(name, &bundle);
        assert_eq!(bundle["type"], "document", "{name}");
        let composition = &bundle["entry"][0]["resource"];
        assert_eq!(composition["resourceType"], "Composition", "{name}");
        assert_eq!(
            composition["type"]["coding"][0]["code"], "60591-5",
            "{name}"
        );
        let cda_sections = roxmltree::Document::parse(xml)
            .expect("well-formed")
            .descendants()
            .filter(|n| n.tag_name().name() == "section")
            .count();
        assert_eq!(
            composition["section"].as_array().map_or(0, Vec::len),
            cda_sections,
            "{name}: one Composition section per CDA section"
        );
        // Every section entry resolves inside the Bundle; ids are unique.
        let mut urls = HashSet::new();
        for e in bundle["entry"].as_array().unwrap() {
            assert!(
                urls.insert(e["fullUrl"].as_str().unwrap().to_owned()),
                "{name}: duplicate"
            );
        }
        for s in composition["section"].as_array().unwrap() {
            for r in s["entry"].as_array().map(Vec::as_slice).unwrap_or_default() {
                by_url(&bundle, r["reference"].as_str().unwrap());
            }
        }
        assert_eq!(resources(&bundle, "Patient").len(), 1, "{name}");
        // The generic entry point gives the same Bundle, and the text API the same JSON.
        assert_eq!(cda_to_fhir(xml).expect("generic"), bundle, "{name}");
        let text = cda_to_fhir_json(xml.as_bytes()).expect("text");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            bundle,
            "{name}"
        );
        eprintln!(
            "{name}: {} resources, warnings {warnings:?}",
            bundle["entry"].as_array().unwrap().len()
        );
        converted += 1;
    }
    assert!(converted >= 5, "only {converted} converted");
}

/// psstore-2-BAD-MAPPING.xml names its document code's system `XXXXXXXXXXXXX`: the document
/// type cannot be carried faithfully, so the summary is refused, naming the attribute.
#[test]
fn bad_mapping_summary_is_refused_with_the_location() {
    let Some(xml) = sample("psstore-2-BAD-MAPPING.xml") else {
        return;
    };
    match patient_summary_to_fhir(&xml).unwrap_err() {
        FromCdaError::Invalid { at, value, reason } => {
            assert_eq!(at, "/ClinicalDocument/code/@codeSystem");
            assert_eq!(value.as_deref(), Some("XXXXXXXXXXXXX"));
            assert_eq!(reason, "not an OID");
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// psstore-2-1234-W8.xml, section by section: each entry becomes the resource of its kind,
/// with the CDA's codes, dates and statuses where FHIR puts them.
#[test]
fn each_section_maps_to_its_resources() {
    let Some(xml) = sample("psstore-2-1234-W8.xml") else {
        return;
    };
    let (b, warnings) = patient_summary_to_fhir(&xml).expect("converts");
    assert!(warnings.is_empty(), "{warnings:?}");
    let composition = &b["entry"][0]["resource"];
    assert_eq!(composition["date"], "2022-06-08T10:49:00+02:00");
    assert_eq!(composition["language"], "en-GB");
    assert_eq!(b["timestamp"], "2022-06-08T10:49:00+02:00");
    let author = by_url(&b, composition["author"][0]["reference"].as_str().unwrap());
    assert_eq!(author["resourceType"], "Practitioner");
    assert_eq!(author["name"][0]["family"], "Pereira");
    let patient = &resources(&b, "Patient")[0];
    assert_eq!(patient["birthDate"], "1886-06-29");
    assert_eq!(patient["identifier"][0]["value"], "2-1234-W8");

    // Medication summary: MedicationStatement -> Medication, route and dose kept.
    let meds = section_resources(&b, "10160-0");
    assert_eq!(meds.len(), 5);
    for m in &meds {
        assert_eq!(m["resourceType"], "MedicationStatement");
        let med = by_url(&b, m["medicationReference"]["reference"].as_str().unwrap());
        assert_eq!(med["resourceType"], "Medication");
    }
    assert_eq!(meds[0]["effectiveDateTime"], "1997-10-06");
    assert!(has_coding(
        &meds[0]["dosage"][0]["route"],
        "http://standardterms.edqm.eu",
        "20053000"
    ));

    // Allergies: AllergyIntolerance with the reaction as manifestation.
    let allergies = section_resources(&b, "48765-2");
    assert_eq!(allergies.len(), 4);
    assert!(allergies
        .iter()
        .all(|a| a["resourceType"] == "AllergyIntolerance"));
    assert!(has_coding(&allergies[0]["code"], SNOMED, "260176001"));
    assert!(has_coding(
        &allergies[0]["reaction"][0]["manifestation"][0],
        SNOMED,
        "43116000"
    ));
    assert_eq!(allergies[0]["onsetDateTime"], "1990-01-10");

    // Procedures.
    let procedures = section_resources(&b, "47519-4");
    assert_eq!(procedures.len(), 3);
    assert!(has_coding(&procedures[0]["code"], SNOMED, "64253000"));
    assert_eq!(procedures[0]["performedDateTime"], "2014-10-20");
    assert_eq!(procedures[0]["status"], "completed");

    // Active problems are active Conditions; past illnesses resolved ones.
    let problems = section_resources(&b, "11450-4");
    assert_eq!(problems.len(), 7);
    assert!(problems.iter().all(|p| p["resourceType"] == "Condition"));
    assert!(has_coding(
        &problems[0]["code"],
        "urn:oid:1.3.6.1.4.1.12559.11.10.1.3.1.44.2",
        "J45"
    ));
    assert_eq!(problems[0]["onsetDateTime"], "1994-10-03");
    assert_eq!(problems[0]["clinicalStatus"]["coding"][0]["code"], "active");
    let past = section_resources(&b, "11348-0");
    assert_eq!(past.len(), 2);
    assert!(past
        .iter()
        .all(|p| p["clinicalStatus"]["coding"][0]["code"] == "resolved"));

    // Devices: DeviceUseStatement -> Device with the device type.
    let devices = section_resources(&b, "46264-8");
    assert_eq!(devices.len(), 2);
    let device = by_url(&b, devices[0]["device"]["reference"].as_str().unwrap());
    assert!(has_coding(&device["type"], SNOMED, "72506001"));
    assert_eq!(devices[0]["timingDateTime"], "2014-10-20");

    // Immunizations.
    let vaccines = section_resources(&b, "11369-6");
    assert_eq!(vaccines.len(), 4);
    assert!(has_coding(&vaccines[0]["vaccineCode"], SNOMED, "836374004"));
    assert_eq!(vaccines[0]["occurrenceDateTime"], "1983-01-02");

    // Pregnancy, social history, vital signs, results, functional status: Observations.
    for loinc in ["10162-6", "29762-2", "8716-3", "30954-2", "47420-5"] {
        let obs = section_resources(&b, loinc);
        assert!(!obs.is_empty(), "{loinc}");
        assert!(
            obs.iter().all(|o| o["resourceType"] == "Observation"),
            "{loinc}"
        );
    }
    let pregnancy = section_resources(&b, "10162-6");
    assert!(has_coding(
        &pregnancy[0]["valueCodeableConcept"],
        SNOMED,
        "77386006"
    ));

    // A section without entries keeps its narrative (or says why it is empty).
    let directives = section(&b, "42348-3");
    assert!(directives["entry"].is_null());
    assert!(directives["text"]["div"].is_string() || directives["emptyReason"].is_object());
}

/// Displays in Swedish where the terminology has them, the original display kept.
#[test]
fn swedish_displays_ride_along_and_originals_stay() {
    let Some(xml) = sample("psstore-2-1234-W8.xml") else {
        return;
    };
    let (b, _) = patient_summary_to_fhir(&xml).expect("converts");
    let pregnancy = section_resources(&b, "10162-6");
    let coding = &pregnancy[0]["valueCodeableConcept"]["coding"][0];
    assert_eq!(coding["display"], "Pregnant");
    assert_eq!(
        coding["_display"]["extension"][0]["extension"][1]["valueString"],
        "Gravid"
    );
}

/// The Wave 7 `epsos:` medication namespace (psstore-2-9999.xml): products still read.
#[test]
fn epsos_namespace_products_are_read() {
    let Some(xml) = sample("psstore-2-9999.xml") else {
        return;
    };
    assert!(xml.contains("epsos:"));
    let (b, _) = patient_summary_to_fhir(&xml).expect("converts");
    let meds = resources(&b, "Medication");
    assert_eq!(meds.len(), 5);
    assert!(
        meds.iter().any(|m| !all_codings(m).is_empty()),
        "coded products: {meds:?}"
    );
    assert!(meds
        .iter()
        .all(|m| m["code"].is_object() || m["ingredient"].is_array()));
}

/// Every coded clinical value of the CDA entries (what the statement is about: the value, the
/// allergen, the device, the procedure, the vaccine) is in the FHIR.
#[test]
fn every_coded_clinical_value_is_kept() {
    let Some(xml) = sample("psstore-2-1234-W8.xml") else {
        return;
    };
    let (b, _) = patient_summary_to_fhir(&xml).expect("converts");
    let out: HashSet<(String, String)> = all_codings(&b).into_iter().collect();
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    let mut missing = Vec::new();
    let mut checked = 0;
    for n in doc.descendants().filter(|n| {
        matches!(n.tag_name().name(), "value" | "code")
            && n.parent().is_some_and(|p| {
                matches!(
                    p.tag_name().name(),
                    "playingEntity" | "playingDevice" | "procedure"
                )
            })
            || (n.tag_name().name() == "value"
                && n.parent()
                    .is_some_and(|p| p.tag_name().name() == "observation")
                && n.attribute(("http://www.w3.org/2001/XMLSchema-instance", "type")) == Some("CD")
                && n.parent().and_then(|p| p.parent()).is_some_and(|g| {
                    matches!(
                        g.tag_name().name(),
                        "entry" | "entryRelationship" | "component"
                    )
                }))
    }) {
        let (Some(code), Some(system)) = (n.attribute("code"), n.attribute("codeSystem")) else {
            continue;
        };
        // Status, severity and certainty observations are not carried (their own resources'
        // status fields are FHIR-coded).
        let parent_code = n
            .parent()
            .and_then(|p| p.children().find(|c| c.tag_name().name() == "code"))
            .and_then(|c| c.attribute("code"));
        if matches!(parent_code, Some("33999-4" | "SEV" | "66455-7" | "82606-5")) {
            continue;
        }
        checked += 1;
        let hit = out
            .iter()
            .any(|(s, c)| c == code && (s.ends_with(system) || !s.starts_with("urn:oid:")));
        if !hit {
            missing.push(format!("{system}|{code}"));
        }
    }
    assert!(checked >= 15, "only {checked} checked");
    assert!(missing.is_empty(), "lost: {missing:?}");
}
