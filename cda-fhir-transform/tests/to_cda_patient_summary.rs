//! eHDSI Wave 8 Patient Summary (L3 and L1) from the synthetic care providers' records: every
//! sandbox patient's summary, an empty record and an incomplete one pass the schematrons with
//! zero errors (one validator run), and the fields land where eHDSI wants them.

#[path = "to_cda_support.rs"]
mod support;

use base64::Engine as _;
use cda_fhir_transform::to_cda::{
    patient_summary_l1, patient_summary_l3, PatientSummaryInput, PsAuthor, PsEntry, PsSection,
};
use ncp_types::HsaId;
use serde_json::{json, Value};
use support::*;

const HL7: &str = "urn:hl7-org:v3";
const SECTION_PROBLEMS: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.2.9";
const SECTION_PAST: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.2.10";
const SECTION_ALLERGIES: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.2.12";
const SECTION_MEDICATIONS: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.2.3";
const SECTION_PROCEDURES: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.2.11";
const SECTION_DEVICES: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.2.4";
const SECTION_IMMUNIZATIONS: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.2.15";
const SECTION_VITALS: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.2.6";
const REQUIRED: [&str; 5] = [
    SECTION_ALLERGIES,
    SECTION_PROBLEMS,
    SECTION_MEDICATIONS,
    SECTION_PROCEDURES,
    SECTION_DEVICES,
];
const IPS_ABSENT: &str = "2.16.840.1.113883.5.1150.1";
const HSA_OID: &str = "1.2.752.129.2.1.4.1";

fn provider(hsa: &str, name: &str) -> PsAuthor {
    PsAuthor {
        hsa_id: HsaId::parse(hsa).expect("hsa"),
        name: name.into(),
    }
}

fn l3(input: &PatientSummaryInput) -> String {
    patient_summary_l3(input, &options()).expect("Patient Summary L3")
}

fn has_template(n: roxmltree::Node<'_, '_>, root: &str) -> bool {
    n.children()
        .any(|c| c.has_tag_name((HL7, "templateId")) && c.attribute("root") == Some(root))
}

/// The section with template `root`, if the document has it.
fn section<'a, 'i>(
    doc: &'a roxmltree::Document<'i>,
    root: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    doc.descendants()
        .find(|n| n.has_tag_name((HL7, "section")) && has_template(*n, root))
}

fn sections(doc: &roxmltree::Document<'_>) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name((HL7, "section")))
        .filter_map(|s| {
            s.children()
                .find(|c| c.has_tag_name((HL7, "templateId")))
                .and_then(|t| t.attribute("root"))
                .map(str::to_owned)
        })
        .collect()
}

fn entries<'a, 'i>(s: roxmltree::Node<'a, 'i>) -> Vec<roxmltree::Node<'a, 'i>> {
    s.children()
        .filter(|c| c.has_tag_name((HL7, "entry")))
        .collect()
}

fn text_of(n: roxmltree::Node<'_, '_>) -> String {
    n.descendants()
        .filter_map(|d| d.text())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn every_sandbox_summary_passes_the_wave8_schematrons() {
    let opts = options();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    let mut inputs: Vec<(String, PatientSummaryInput)> = sweden_sim::patients()
        .iter()
        .map(|p| (p.key.to_owned(), input_for(p.key)))
        .collect();
    // An incomplete summary (a provider did not answer) and a record without any data.
    let mut incomplete = input_for("p01");
    incomplete.incomplete = true;
    incomplete.document_id = "ps-p01-incomplete".into();
    inputs.push(("p01-incomplete".into(), incomplete));
    let mut empty = input_for("p07");
    assert!(empty.entries.is_empty(), "p07 has no data anywhere");
    empty.incomplete = true;
    empty.document_id = "ps-p07-incomplete".into();
    inputs.push(("p07-empty-incomplete".into(), empty));
    for (name, input) in &inputs {
        let l3 = patient_summary_l3(input, &opts).unwrap_or_else(|e| panic!("{name}: L3: {e}"));
        let l1 = patient_summary_l1(input, &opts).unwrap_or_else(|e| panic!("{name}: L1: {e}"));
        for (level, doc) in [("L3", l3), ("L1", l1)] {
            roxmltree::Document::parse(&doc)
                .unwrap_or_else(|e| panic!("{name} {level}: not well-formed: {e}"));
            let path = dir.path().join(format!("ps-{name}-{level}.xml"));
            std::fs::write(&path, doc).expect("write");
            files.push(path);
        }
    }
    assert_eq!(files.len(), 2 * (sweden_sim::patients().len() + 2));
    let Some((ok, report)) = validate(&files) else {
        return;
    };
    assert_schematron_clean(&files, ok, &report, dir);
}

#[test]
fn a_coded_problem_lands_in_active_problems_as_icd10_with_the_swedish_original() {
    let input = input_for("p01");
    let doc = l3(&input);
    let doc = roxmltree::Document::parse(&doc).expect("xml");
    let problems = section(&doc, SECTION_PROBLEMS).expect("problems section");
    let value = problems
        .descendants()
        .find(|n| n.has_tag_name((HL7, "value")) && n.attribute("code") == Some("I10"))
        .expect("hypertension as I10");
    assert_eq!(
        value.attribute("codeSystem"),
        Some("1.3.6.1.4.1.12559.11.10.1.3.1.44.2"),
        "eHDSI ICD-10"
    );
    assert!(value
        .attribute("displayName")
        .is_some_and(|d| d.contains("hypertension")));
    let translation = value
        .children()
        .find(|c| c.has_tag_name((HL7, "translation")))
        .expect("the provider's code kept as translation");
    assert_eq!(translation.attribute("code"), Some("38341003"));
    assert_eq!(
        translation.attribute("codeSystem"),
        Some("2.16.840.1.113883.6.96")
    );
    // The provider's ICD-10-SE coding is kept too, as a further translation.
    assert!(value
        .children()
        .any(|c| c.has_tag_name((HL7, "translation"))
            && c.attribute("codeSystem") == Some("1.2.752.116.1.1.1")
            && c.attribute("code") == Some("I10")));
    // One entry per active problem the caller passed, nothing in past illness.
    let active = input.section(PsSection::Problems).count();
    assert!(active >= 2);
    assert_eq!(entries(problems).len(), active);
    assert!(section(&doc, SECTION_PAST).is_none());
}

#[test]
fn a_resolved_condition_is_a_past_illness_with_a_completed_concern() {
    let doc = l3(&input_for("p04"));
    let doc = roxmltree::Document::parse(&doc).expect("xml");
    let past = section(&doc, SECTION_PAST).expect("past illness section");
    let e = entries(past);
    assert_eq!(e.len(), 1);
    let act = e[0].first_element_child().expect("act");
    let status = act
        .children()
        .find(|c| c.has_tag_name((HL7, "statusCode")))
        .and_then(|s| s.attribute("code"));
    assert_eq!(status, Some("completed"));
    assert!(e[0]
        .descendants()
        .any(|n| n.has_tag_name((HL7, "value")) && n.attribute("code") == Some("I21.9")));
    let active = section(&doc, SECTION_PROBLEMS).expect("problems");
    assert!(active
        .descendants()
        .any(|n| n.has_tag_name((HL7, "value")) && n.attribute("code") == Some("I10")));
}

#[test]
fn an_unmapped_code_is_written_oth_with_the_original_as_translation() {
    let mut input = input_for("p07");
    input.entries.push((
        PsSection::Problems,
        PsEntry {
            resource: json!({
                "resourceType": "Condition",
                "id": "cond-x",
                "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
                "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "99991000052109", "display": "Påhittad svensk diagnos" }] },
                "onsetDateTime": "2024-03-01",
            }),
            author: provider("SE2321000016-7001", "Vårdcentralen Södermalm"),
        },
    ));
    let xml = l3(&input);
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    let problems = section(&doc, SECTION_PROBLEMS).expect("problems");
    let value = problems
        .descendants()
        .find(|n| n.has_tag_name((HL7, "value")) && n.attribute("nullFlavor") == Some("OTH"))
        .expect("nullFlavor OTH value");
    let tr = value
        .children()
        .find(|c| c.has_tag_name((HL7, "translation")))
        .expect("translation");
    assert_eq!(tr.attribute("code"), Some("99991000052109"));
    assert_eq!(tr.attribute("displayName"), Some("Påhittad svensk diagnos"));
    // The narrative shows the provider's words.
    assert!(text_of(problems).contains("Påhittad svensk diagnos"));
    let Some((ok, report)) = validate_one("unmapped", &xml) else {
        return;
    };
    assert!(ok, "{report}");
}

fn validate_one(name: &str, xml: &str) -> Option<(bool, String)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("{name}.xml"));
    std::fs::write(&path, xml).expect("write");
    validate(&[path])
}

#[test]
fn every_entry_keeps_its_provider_as_author() {
    let input = input_for("p01");
    let doc = l3(&input);
    let doc = roxmltree::Document::parse(&doc).expect("xml");
    let mut seen = std::collections::BTreeSet::new();
    let mut count = 0;
    for e in doc.descendants().filter(|n| n.has_tag_name((HL7, "entry"))) {
        let top = e.first_element_child().expect("entry element");
        let entry_id = top
            .children()
            .find(|c| c.has_tag_name((HL7, "id")))
            .and_then(|i| i.attribute("extension"))
            .expect("entry id");
        if entry_id.ends_with(".none") {
            // The "no information" entry of an empty required section has no provider.
            continue;
        }
        let author = top
            .children()
            .find(|c| c.has_tag_name((HL7, "author")))
            .unwrap_or_else(|| panic!("entry without author: {:?}", top.tag_name()));
        let id = author
            .descendants()
            .find(|n| n.has_tag_name((HL7, "id")))
            .expect("author id");
        assert_eq!(id.attribute("root"), Some(HSA_OID));
        let hsa = id.attribute("extension").expect("HSA-id");
        // The entry's own id names the same provider's resource.
        assert!(entry_id.starts_with(hsa), "{entry_id} from {hsa}");
        let org = author
            .descendants()
            .find(|n| n.has_tag_name((HL7, "representedOrganization")))
            .expect("organisation");
        assert!(!text_of(org).trim().is_empty());
        seen.insert(hsa.to_owned());
        count += 1;
    }
    // One entry per resource the caller passed, with the providers they came from (p01 has
    // records at more than one).
    assert_eq!(count, input.entries.len());
    let providers: std::collections::BTreeSet<String> = input
        .entries
        .iter()
        .map(|(_, e)| e.author.hsa_id.to_string())
        .collect();
    assert!(providers.len() >= 2);
    assert_eq!(seen, providers);
}

#[test]
fn sections_hold_their_entries_with_ehdsi_codes() {
    let doc13 = l3(&input_for("p13"));
    let doc = roxmltree::Document::parse(&doc13).expect("xml");
    let devices = section(&doc, SECTION_DEVICES).expect("devices");
    assert!(devices
        .descendants()
        .any(|n| n.has_tag_name((HL7, "code")) && n.attribute("code") == Some("14106009")));
    let procedures = section(&doc, SECTION_PROCEDURES).expect("procedures");
    assert!(procedures
        .descendants()
        .any(
            |n| n.has_tag_name((HL7, "code")) && n.attribute("code") == Some("307280005")
                || n.attribute("nullFlavor") == Some("OTH")
        ));
    let meds = section(&doc, SECTION_MEDICATIONS).expect("medications");
    assert!(
        meds.descendants()
            .any(|n| n.attribute("code") == Some("B01AA03")),
        "warfarin by ATC"
    );
    let vitals = section(&doc, SECTION_VITALS).expect("vital signs");
    assert!(vitals
        .descendants()
        .any(|n| n.has_tag_name((HL7, "value")) && n.attribute("unit") == Some("mm[Hg]")));

    let doc12 = l3(&input_for("p12"));
    let doc = roxmltree::Document::parse(&doc12).expect("xml");
    let imm = section(&doc, SECTION_IMMUNIZATIONS).expect("immunizations");
    assert_eq!(entries(imm).len(), 3);
    // The CVX codings ride along as translations of the ATC vaccine code.
    assert!(imm
        .descendants()
        .any(|n| n.has_tag_name((HL7, "translation"))
            && n.attribute("codeSystem") == Some("2.16.840.1.113883.12.292")
            && n.attribute("code") == Some("03")));
    assert!(imm
        .descendants()
        .any(|n| n.has_tag_name((HL7, "code")) && n.attribute("code") == Some("J07BD52")));

    let doc10 = l3(&input_for("p10"));
    let doc = roxmltree::Document::parse(&doc10).expect("xml");
    let allergies = section(&doc, SECTION_ALLERGIES).expect("allergies");
    assert!(allergies
        .descendants()
        .any(|n| n.has_tag_name((HL7, "playingEntity"))));
    assert!(text_of(allergies).contains("Penicillin"));
}

fn absent_codes(doc: &roxmltree::Document<'_>) -> Vec<(String, String)> {
    REQUIRED
        .iter()
        .map(|root| {
            let s = section(doc, root).unwrap_or_else(|| panic!("required section {root}"));
            let code = s
                .descendants()
                .find(|n| n.attribute("codeSystem") == Some(IPS_ABSENT))
                .and_then(|n| n.attribute("code"))
                .unwrap_or_else(|| panic!("{root}: no absent/unknown code"));
            (root.to_string(), code.to_owned())
        })
        .collect()
}

#[test]
fn an_empty_record_says_no_information_in_every_required_section_and_nothing_else() {
    let input = input_for("p07");
    assert!(input.entries.is_empty());
    let xml = l3(&input);
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    let mut got = sections(&doc);
    got.sort();
    let mut want: Vec<String> = REQUIRED.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "only the required sections");
    let codes: Vec<String> = absent_codes(&doc).into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        codes,
        vec![
            "no-allergy-info",
            "no-problem-info",
            "no-medication-info",
            "no-procedure-info",
            "no-device-info"
        ]
    );
}

#[test]
fn a_providers_no_known_allergies_is_a_known_absence_unless_the_summary_is_incomplete() {
    let mut input = input_for("p07");
    input.entries.push((
        PsSection::Allergies,
        PsEntry {
            resource: json!({
                "resourceType": "AllergyIntolerance",
                "id": "alg-none",
                "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "716186003", "display": "No known allergy" }] },
            }),
            author: provider("SE2321000016-7001", "Vårdcentralen Södermalm"),
        },
    ));
    let xml = l3(&input);
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    let allergies = section(&doc, SECTION_ALLERGIES).expect("allergies");
    assert!(allergies
        .descendants()
        .any(|n| n.attribute("code") == Some("no-known-allergies")));
    assert!(text_of(allergies).contains("No known allergies"));
    // Other required sections still say "no information".
    let problems = section(&doc, SECTION_PROBLEMS).expect("problems");
    assert!(problems
        .descendants()
        .any(|n| n.attribute("code") == Some("no-problem-info")));

    input.incomplete = true;
    let xml = l3(&input);
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    let allergies = section(&doc, SECTION_ALLERGIES).expect("allergies");
    assert!(allergies
        .descendants()
        .any(|n| n.attribute("code") == Some("no-allergy-info")));
}

#[test]
fn an_incomplete_summary_says_so_in_its_title_and_every_section() {
    let mut input = input_for("p01");
    let complete = l3(&input);
    assert!(!complete.contains("incomplete"));
    input.incomplete = true;
    let xml = l3(&input);
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    let title = doc
        .root_element()
        .children()
        .find(|c| c.has_tag_name((HL7, "title")))
        .and_then(|t| t.text())
        .expect("title");
    assert!(title.contains("incomplete"), "{title}");
    let all = doc
        .descendants()
        .filter(|n| n.has_tag_name((HL7, "section")))
        .collect::<Vec<_>>();
    assert!(all.len() >= 5);
    for s in all {
        let text = s
            .children()
            .find(|c| c.has_tag_name((HL7, "text")))
            .expect("section text");
        assert!(
            text_of(text).contains("Incomplete summary"),
            "section without the incomplete statement"
        );
    }
}

#[test]
fn the_l1_document_carries_the_summary_as_a_pdf() {
    let input = input_for("p01");
    let xml = patient_summary_l1(&input, &options()).expect("L1");
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    assert!(doc
        .descendants()
        .any(|n| n.has_tag_name((HL7, "templateId"))
            && n.attribute("root") == Some("1.3.6.1.4.1.12559.11.10.1.3.1.1.7")));
    let text = doc
        .descendants()
        .find(|n| {
            n.has_tag_name((HL7, "text")) && n.attribute("mediaType") == Some("application/pdf")
        })
        .and_then(|n| n.text())
        .expect("PDF text");
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("base64");
    assert!(pdf.starts_with(b"%PDF-"));
    let id = doc
        .root_element()
        .children()
        .find(|c| c.has_tag_name((HL7, "id")))
        .and_then(|i| i.attribute("extension"));
    assert_eq!(id, Some("ps-p01.L1"));
}

#[test]
fn an_nll_prescription_as_statement_gets_its_frequency_dose_and_validity() {
    // As ncp-core passes NLL's current prescriptions: a MedicationStatement with the
    // medicine's code inlined and NLL's dosageInstruction as dosage.
    let mut input = input_for("p07");
    input.entries.push((
        PsSection::Medications,
        PsEntry {
            resource: json!({
                "resourceType": "MedicationStatement",
                "id": "rx-77",
                "status": "active",
                "medicationCodeableConcept": {
                    "coding": [
                        { "system": "http://electronichealth.se/identifier/nplid", "code": "19961220000064", "display": "Enalapril Actavis 10 mg tablett" },
                        { "system": "http://www.whocc.no/atc", "code": "C09AA02", "display": "enalapril" }
                    ],
                    "text": "Enalapril Actavis 10 mg tablett"
                },
                "effectivePeriod": { "start": "2026-01-10", "end": "2027-01-10" },
                "dosage": [{
                    "text": "1 tablett 2 gånger dagligen",
                    "timing": { "repeat": { "frequency": 2, "period": 1, "periodUnit": "d" } },
                    "route": { "coding": [{ "system": "http://standardterms.edqm.eu", "code": "20053000", "display": "Oral use" }] },
                    "doseAndRate": [{ "doseQuantity": { "value": 1, "unit": "tablett", "system": "http://unitsofmeasure.org", "code": "1" } }]
                }]
            }),
            author: provider("SE2321000016-7001", "Vårdcentralen Södermalm"),
        },
    ));
    let xml = l3(&input);
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    let meds = section(&doc, SECTION_MEDICATIONS).expect("medications");
    let sa = meds
        .descendants()
        .find(|n| n.has_tag_name((HL7, "substanceAdministration")))
        .expect("medication item");
    let times: Vec<_> = sa
        .children()
        .filter(|c| c.has_tag_name((HL7, "effectiveTime")))
        .collect();
    assert_eq!(times.len(), 2);
    let low = times[0].children().find(|c| c.has_tag_name((HL7, "low")));
    let high = times[0].children().find(|c| c.has_tag_name((HL7, "high")));
    assert_eq!(low.and_then(|l| l.attribute("value")), Some("20260110"));
    assert_eq!(high.and_then(|h| h.attribute("value")), Some("20270110"));
    let period = times[1]
        .children()
        .find(|c| c.has_tag_name((HL7, "period")))
        .expect("PIVL period");
    assert_eq!(period.attribute("value"), Some("12"));
    assert_eq!(period.attribute("unit"), Some("h"));
    let dose = sa
        .children()
        .find(|c| c.has_tag_name((HL7, "doseQuantity")))
        .expect("dose");
    assert_eq!(dose.attribute("value"), Some("1"));
    assert!(sa
        .descendants()
        .any(|n| n.has_tag_name((HL7, "routeCode")) && n.attribute("code") == Some("20053000")));
    assert!(sa
        .descendants()
        .any(|n| n.attribute("code") == Some("C09AA02")));
    let Some((ok, report)) = validate_one("nll-statement", &xml) else {
        return;
    };
    assert!(ok, "{report}");
}

#[test]
fn resources_are_classified_into_sections() {
    let cond = |status: &str| json!({ "resourceType": "Condition", "clinicalStatus": { "coding": [{ "code": status }] } });
    assert_eq!(PsSection::of(&cond("active")), Some(PsSection::Problems));
    assert_eq!(PsSection::of(&cond("relapse")), Some(PsSection::Problems));
    assert_eq!(
        PsSection::of(&cond("resolved")),
        Some(PsSection::PastIllnesses)
    );
    assert_eq!(
        PsSection::of(&cond("remission")),
        Some(PsSection::PastIllnesses)
    );
    let ty = |t: &str| json!({ "resourceType": t });
    assert_eq!(
        PsSection::of(&ty("AllergyIntolerance")),
        Some(PsSection::Allergies)
    );
    assert_eq!(
        PsSection::of(&ty("MedicationRequest")),
        Some(PsSection::Medications)
    );
    assert_eq!(
        PsSection::of(&ty("MedicationStatement")),
        Some(PsSection::Medications)
    );
    assert_eq!(PsSection::of(&ty("Procedure")), Some(PsSection::Procedures));
    assert_eq!(
        PsSection::of(&ty("DeviceUseStatement")),
        Some(PsSection::Devices)
    );
    assert_eq!(
        PsSection::of(&ty("Immunization")),
        Some(PsSection::Immunizations)
    );
    assert_eq!(PsSection::of(&ty("Patient")), None);
    let vital = json!({ "resourceType": "Observation", "category": [{ "coding": [{ "code": "vital-signs" }] }] });
    let lab = json!({ "resourceType": "Observation", "category": [{ "coding": [{ "code": "laboratory" }] }] });
    assert_eq!(PsSection::of(&vital), Some(PsSection::VitalSigns));
    assert_eq!(PsSection::of(&lab), None);
}

#[test]
fn a_bad_date_is_a_clear_error_not_a_panic() {
    let mut input = input_for("p07");
    input.entries.push((
        PsSection::Procedures,
        PsEntry {
            resource: json!({ "resourceType": "Procedure", "id": "x", "performedDateTime": "igår" }),
            author: provider("SE2321000016-7001", "Vårdcentralen Södermalm"),
        },
    ));
    let err = patient_summary_l3(&input, &options()).expect_err("bad date");
    assert!(
        err.to_string().contains("Procedure.performedDateTime"),
        "{err}"
    );
    let _: Option<Value> = None;
}
