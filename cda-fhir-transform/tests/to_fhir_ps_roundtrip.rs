//! Round trip of the bridge's own Patient Summaries: every sandbox patient's summary written
//! by `to_cda` (L3 and L1) reads back through `to_fhir` as another country's NCP would: the L3
//! as a strict FHIR R4 document keeping every coded clinical value, the L1 as its PDF.

#[path = "to_cda_support.rs"]
mod support;

use std::collections::HashSet;

use cda_fhir_transform::to_cda::{patient_summary_l1, patient_summary_l3};
use cda_fhir_transform::to_fhir::fhir_json::all_codings;
use cda_fhir_transform::to_fhir::{cda_to_fhir, l1_to_binary, patient_summary_to_fhir};
use ncp_types::Oid;
use serde_json::Value;
use support::*;

fn strict_r4(name: &str, v: &Value) {
    let text = serde_json::to_string(v).expect("serialise");
    if let Err(e) = fhirbolt::json::from_str::<fhirbolt::model::r4::Resource>(&text, None) {
        panic!("{name}: not valid FHIR R4: {e}\n{text}");
    }
}

/// `(codeSystem, code)` of every coded clinical value in the CDA's entries: observation
/// values (not the status, severity and certainty observations), allergens, devices,
/// procedures, products and routes, with their translations.
fn clinical_codes(xml: &str) -> Vec<(String, String)> {
    let doc = roxmltree::Document::parse(xml).expect("xml");
    let mut out = Vec::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        let name = n.tag_name().name();
        let parent = n.parent().map(|p| p.tag_name().name()).unwrap_or("");
        let wanted = match name {
            "value" => {
                let parent_code = n
                    .parent()
                    .and_then(|p| p.children().find(|c| c.tag_name().name() == "code"))
                    .and_then(|c| c.attribute("code"));
                parent == "observation"
                    && !matches!(parent_code, Some("33999-4" | "SEV" | "66455-7" | "82606-5"))
            }
            "code" => matches!(
                parent,
                "playingEntity" | "playingDevice" | "procedure" | "manufacturedMaterial"
            ),
            "routeCode" => true,
            _ => false,
        };
        if !wanted {
            continue;
        }
        let own = std::iter::once(n).chain(
            n.children()
                .filter(|c| c.tag_name().name() == "translation"),
        );
        for c in own {
            if let (Some(code), Some(system)) = (c.attribute("code"), c.attribute("codeSystem")) {
                out.push((system.to_owned(), code.to_owned()));
            }
        }
    }
    out
}

#[test]
fn sandbox_summaries_read_back_with_every_coded_value() {
    let opts = options();
    let mut checked = 0usize;
    let mut documents = 0usize;
    for p in sweden_sim::patients() {
        let input = input_for(p.key);
        let xml = match patient_summary_l3(&input, &opts) {
            Ok(x) => x,
            Err(e) => panic!("{}: the writer refused: {e}", p.key),
        };
        let (bundle, warnings) = patient_summary_to_fhir(&xml)
            .unwrap_or_else(|e| panic!("{}: our own summary refused: {e}", p.key));
        assert!(warnings.is_empty(), "{}: {warnings:?}", p.key);
        strict_r4(p.key, &bundle);
        assert_eq!(bundle["type"], "document");
        let fhir: HashSet<(String, String)> = all_codings(&bundle).into_iter().collect();
        for (system, code) in clinical_codes(&xml) {
            let uri = Oid::parse(&system)
                .map(|o| terminology::code_systems::to_uri(&o))
                .unwrap_or(system.clone());
            assert!(
                fhir.contains(&(uri.clone(), code.clone())),
                "{}: {system}|{code} lost",
                p.key
            );
            checked += 1;
        }
        documents += 1;

        // L1: the PDF as a Binary, and in the generic conversion.
        let l1 = patient_summary_l1(&input, &opts).expect("L1");
        let binary = l1_to_binary(&l1).expect("Binary");
        assert_eq!(binary["resourceType"], "Binary");
        assert_eq!(binary["contentType"], "application/pdf");
        assert!(binary["data"]
            .as_str()
            .is_some_and(|d| d.starts_with("JVBERi0")));
        let generic = cda_to_fhir(&l1).expect("L1 converts");
        strict_r4(p.key, &generic);
        assert!(generic["entry"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["resource"] == binary));
    }
    assert!(documents >= 3, "sandbox patients: {documents}");
    assert!(checked >= 10, "only {checked} coded values checked");
}
