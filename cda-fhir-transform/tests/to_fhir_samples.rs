//! The EU reference implementation's sample ePrescriptions (../shared, read in place) convert
//! to FHIR R4 that a strict FHIR parser accepts; the deliberately broken ones are refused with a
//! precise reason; the coded product content survives the conversion.

#[path = "to_fhir_support.rs"]
mod support;

use cda_fhir_transform::to_fhir::{
    cda_to_fhir, eprescription_to_fhir, l1_to_binary, read_cda, DocumentKind, FromCdaError,
};
use support::*;

fn is_broken(name: &str) -> bool {
    name.contains("BAD-MAPPING")
}

#[test]
fn every_good_sample_converts_to_strict_fhir_r4() {
    let files = sample_files("epstore-");
    if files.is_empty() {
        return;
    }
    let mut converted = 0;
    for (name, xml) in &files {
        if is_broken(name) {
            continue;
        }
        let bundle = cda_to_fhir(xml).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_r4_bundle(name, &bundle);
        assert_eq!(bundle["type"], "collection", "{name}");
        let requests = resources(&bundle, "MedicationRequest");
        assert!(!requests.is_empty(), "{name}: no MedicationRequest");
        assert_eq!(
            requests.len(),
            resources(&bundle, "Medication").len(),
            "{name}"
        );
        assert_eq!(resources(&bundle, "Patient").len(), 1, "{name}");
        converted += 1;
    }
    assert!(converted >= 6, "only {converted} samples converted");
}

/// epstore-1-BAD-MAPPING.xml: its document code names the code system `XXXXXXXXXXX` (a failed
/// mapping left in place). A code system that is not an OID cannot be carried into FHIR
/// faithfully, so the document is refused, naming the attribute.
#[test]
fn bad_mapping_is_refused_with_the_location() {
    let Some(xml) = sample("epstore-1-BAD-MAPPING.xml") else {
        return;
    };
    let err = cda_to_fhir(&xml).unwrap_err();
    match &err {
        FromCdaError::Invalid { at, value, reason } => {
            assert_eq!(at, "/ClinicalDocument/code/@codeSystem");
            assert_eq!(value.as_deref(), Some("XXXXXXXXXXX"));
            assert_eq!(*reason, "not an OID");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err
        .to_string()
        .contains("/ClinicalDocument/code/@codeSystem"));
}

/// epstore-1-NO-PDF.xml is the same Greek L3 ePrescription with a sound mapping; what it lacks
/// is the L1 rendition (there is no epstore-1-NO-PDF.pdf beside it). The L3 content is fine and
/// converts; asking it for the L1 PDF fails with a clear error.
#[test]
fn no_pdf_converts_as_l3_but_has_no_l1_binary() {
    let Some(xml) = sample("epstore-1-NO-PDF.xml") else {
        return;
    };
    let bundle = eprescription_to_fhir(&xml).expect("L3 content converts");
    assert_r4_bundle("NO-PDF", &bundle);
    assert!(resources(&bundle, "Binary").is_empty());
    let err = l1_to_binary(&xml).unwrap_err();
    assert!(matches!(err, FromCdaError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("nonXMLBody"), "{err}");
}

#[test]
fn finnish_w8_fields_map_where_they_belong() {
    let Some(xml) = sample("epstore-1-5678-W8.xml") else {
        return;
    };
    let doc = read_cda(&xml).expect("reads");
    assert_eq!(doc.kind, DocumentKind::EPrescriptionL3);
    assert_eq!(doc.id.root.as_str(), "2.16.17.710.850.1000.990.1");
    assert_eq!(doc.id.extension.as_deref(), Some("3000"));
    assert_eq!(
        doc.patient.ids[0].root.as_str(),
        "2.16.17.710.850.1000.990.1.1000"
    );
    assert_eq!(doc.country().map(|c| c.to_string()).as_deref(), Some("FI"));

    let bundle = cda_to_fhir(&xml).expect("converts");
    let mr = resources(&bundle, "MedicationRequest")[0];
    assert_eq!(
        mr["identifier"][0]["system"],
        "urn:oid:2.16.17.710.850.1000.990.1"
    );
    assert_eq!(mr["identifier"][0]["value"], "3000.1.1");
    assert_eq!(mr["groupIdentifier"]["value"], "3000");
    assert_eq!(mr["status"], "active");
    assert_eq!(mr["intent"], "order");
    // Validity period and the substitution "none".
    assert_eq!(
        mr["dispenseRequest"]["validityPeriod"]["start"],
        "2022-07-06"
    );
    assert_eq!(mr["dispenseRequest"]["validityPeriod"]["end"], "2022-07-13");
    assert_eq!(mr["dispenseRequest"]["quantity"]["value"], 5);
    assert_eq!(mr["dispenseRequest"]["quantity"]["unit"], "förpackning");
    assert_eq!(mr["substitution"]["allowedBoolean"], false);
    // Dosage: every 12 h, 3 mL/d, subcutaneous (EDQM route), instructions from the narrative.
    let dosage = &mr["dosageInstruction"][0];
    assert_eq!(dosage["timing"]["repeat"]["period"], 12);
    assert_eq!(dosage["timing"]["repeat"]["periodUnit"], "h");
    assert_eq!(
        dosage["route"]["coding"][0]["system"],
        "http://standardterms.edqm.eu"
    );
    assert_eq!(dosage["route"]["coding"][0]["code"], "20066000");
    assert_eq!(dosage["doseAndRate"][0]["doseQuantity"]["value"], 3);
    assert_eq!(dosage["doseAndRate"][0]["doseQuantity"]["code"], "mL/d");
    assert_eq!(dosage["text"], "Diabeteksen hoitoon Käytetään tarvittaessa");
    assert_eq!(
        mr["note"][0]["text"],
        "Tähän viesti apteekille Permanent medication."
    );
    assert_eq!(mr["authoredOn"], "2018-08-31T16:24:54+02:00");

    let med = resources(&bundle, "Medication")[0];
    assert_eq!(med["code"]["text"], "Lantus SoloStar");
    // EDQM dose form, original display kept.
    assert_eq!(
        med["form"]["coding"][0]["system"],
        "http://standardterms.edqm.eu"
    );
    assert_eq!(med["form"]["coding"][0]["code"], "50060300");
    assert_eq!(
        med["form"]["coding"][0]["display"],
        "Solution For injection in pre-filled syringe"
    );
    // Active ingredient as ATC with its strength 100 1/mL.
    let ing = &med["ingredient"][0];
    assert_eq!(
        ing["itemCodeableConcept"]["coding"][0]["system"],
        "http://www.whocc.no/atc"
    );
    assert_eq!(ing["itemCodeableConcept"]["coding"][0]["code"], "A10AE04");
    assert_eq!(ing["itemCodeableConcept"]["text"], "insulin glargine");
    assert_eq!(ing["isActive"], true);
    assert_eq!(ing["strength"]["numerator"]["value"], 100);
    assert_eq!(ing["strength"]["denominator"]["unit"], "mL");
    // 3 mL per syringe, 5 syringes per box: 15 mL / 1 Box, outer package type Box.
    assert_eq!(med["amount"]["numerator"]["value"], 15);
    assert_eq!(med["amount"]["numerator"]["unit"], "mL");
    assert_eq!(med["amount"]["denominator"]["unit"], "Box");
    let exts = med["extension"].as_array().expect("extensions");
    assert!(exts.iter().any(|e| e["url"]
        .as_str()
        .is_some_and(|u| u.ends_with("nll-package-type"))
        && e["valueCodeableConcept"]["coding"][0]["code"] == "30009000"));

    let patient = resources(&bundle, "Patient")[0];
    assert_eq!(
        patient["identifier"][0]["system"],
        "urn:oid:2.16.17.710.850.1000.990.1.1000"
    );
    assert_eq!(patient["gender"], "male");
    assert_eq!(patient["birthDate"], "1886-06-29");
    let org = resources(&bundle, "Organization")[0];
    assert_eq!(org["address"][0]["country"], "FI");
}

#[test]
fn older_epsos_namespace_sample_reads_strength_and_package() {
    let Some(xml) = sample("epstore-X-XXXX.xml") else {
        return;
    };
    let doc = read_cda(&xml).expect("reads");
    let item = &doc.prescriptions[0];
    // `<ingredient xmlns="urn:epsos-org:ep:medication">` with unprefixed children.
    let ing = &item.product.ingredients[0];
    assert_eq!(ing.name.as_deref(), Some("Candesartan"));
    let s = ing.strength.as_ref().expect("strength");
    assert_eq!(s.numerator.value.as_str(), "16.00");
    assert_eq!(s.numerator.unit, "mg");
    // Wave 7 capacityQuantity packaging and the ATC class.
    assert_eq!(
        item.product.packaging[0]
            .quantity
            .as_ref()
            .map(|q| q.value.as_str()),
        Some("28")
    );
    assert_eq!(item.product.classes[0].code, "C09CA06");
    assert_eq!(
        item.substitution.as_ref().map(|c| c.code.as_str()),
        Some("G")
    );
    let bundle = cda_to_fhir(&xml).expect("converts");
    let mr = resources(&bundle, "MedicationRequest")[0];
    assert_eq!(mr["substitution"]["allowedBoolean"], true);
    let med = resources(&bundle, "Medication")[0];
    assert_eq!(med["code"]["coding"][0]["code"], "C09CA06");
    assert_eq!(med["amount"]["numerator"]["value"], 28);
}

#[test]
fn combination_product_keeps_its_parts() {
    let Some(xml) = sample("epstore-1-canesten-W7.xml") else {
        return;
    };
    let bundle = cda_to_fhir(&xml).expect("converts");
    let med = resources(&bundle, "Medication")[0];
    let contained = med["contained"].as_array().expect("parts contained");
    assert_eq!(contained.len(), 2);
    assert_eq!(contained[0]["form"]["coding"][0]["code"], "10502000");
    assert_eq!(contained[1]["form"]["coding"][0]["code"], "10909000");
    assert_eq!(
        contained[1]["ingredient"][0]["strength"]["numerator"]["value"],
        500
    );
    let refs: Vec<&str> = med["ingredient"]
        .as_array()
        .expect("ingredients")
        .iter()
        .filter_map(|i| i["itemReference"]["reference"].as_str())
        .collect();
    assert_eq!(refs.len(), 2);
    let mr = resources(&bundle, "MedicationRequest")[0];
    assert_eq!(mr["dispenseRequest"]["validityPeriod"]["end"], "2022-08-06");
}

/// Every code/codeSystem pair on the product, its form, packages, classes and ingredients in
/// the CDA appears as a FHIR coding (system URI or urn:oid) in the output.
#[test]
fn round_trip_every_product_code_survives() {
    let files = sample_files("epstore-");
    for (name, xml) in files.iter().filter(|(n, _)| !is_broken(n)) {
        let bundle = cda_to_fhir(xml).unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = cda_fhir_transform::to_fhir::fhir_json::all_codings(&bundle);
        let pairs = product_codes_in_cda(xml);
        assert!(
            !pairs.is_empty() || name.contains("9999"),
            "{name}: no product codes found"
        );
        for (system, code) in pairs {
            let found = out.iter().any(|(s, c)| {
                c == &code
                    && (s == &format!("urn:oid:{system}")
                        || uri_for(&system).is_some_and(|u| u == s))
            });
            assert!(found, "{name}: {system}|{code} lost in the FHIR output");
        }
    }
}

fn uri_for(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.16.840.1.113883.6.73" => "http://www.whocc.no/atc",
        "0.4.0.127.0.16.1.1.2.1" => "http://standardterms.edqm.eu",
        "2.16.840.1.113883.6.96" => "http://snomed.info/sct",
        _ => return None,
    })
}

/// Collects code/codeSystem pairs of every element with both attributes inside
/// `manufacturedMaterial` (any namespace prefix), with a plain text scan independent of the
/// converter's reader.
fn product_codes_in_cda(xml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut depth_in_material = 0usize;
    // Drop comments (9999 carries a commented-out ATC code).
    let mut text = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find("<!--") {
        text.push_str(&rest[..start]);
        rest = rest[start..]
            .find("-->")
            .map_or("", |end| &rest[start + end + 3..]);
    }
    text.push_str(rest);
    for raw in text.split('<').skip(1) {
        let tag_end = raw.find('>').unwrap_or(raw.len());
        let tag = &raw[..tag_end];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        let name = tag.split_whitespace().next().unwrap_or("");
        let local = name
            .trim_start_matches('/')
            .rsplit(':')
            .next()
            .unwrap_or("");
        if local == "manufacturedMaterial" {
            if name.starts_with('/') {
                depth_in_material = depth_in_material.saturating_sub(1);
            } else if !tag.ends_with('/') {
                depth_in_material += 1;
            }
            continue;
        }
        if depth_in_material == 0 || name.starts_with('/') {
            continue;
        }
        let attr = |key: &str| {
            let pat = format!(" {key}=\"");
            tag.find(&pat).map(|i| {
                let rest = &tag[i + pat.len()..];
                rest[..rest.find('"').unwrap_or(rest.len())].to_owned()
            })
        };
        if let (Some(code), Some(system)) = (attr("code"), attr("codeSystem")) {
            out.push((system, code));
        }
    }
    out
}

#[test]
fn patient_summaries_are_recognised_and_converted_as_documents() {
    let Some(xml) = sample("psstore-2-5678-W8.xml") else {
        return;
    };
    let bundle = cda_to_fhir(&xml).expect("converts");
    assert_eq!(bundle["type"], "document");
    assert_eq!(
        bundle["entry"][0]["resource"]["resourceType"],
        "Composition"
    );
    assert!(matches!(
        eprescription_to_fhir(&xml),
        Err(FromCdaError::WrongKind {
            found: DocumentKind::PatientSummaryL3,
            ..
        })
    ));
}

/// Displays: the original stays in `Coding.display`; a Swedish display from the terminology rides
/// along as the core `translation` extension (lang `sv`) on `_display`.
#[test]
fn swedish_displays_are_added_next_to_the_original() {
    let Some(xml) = sample("epstore-1-5678-W8.xml") else {
        return;
    };
    let bundle = cda_to_fhir(&xml).expect("converts");
    let med = resources(&bundle, "Medication")[0];
    let package_type = med["extension"]
        .as_array()
        .expect("extensions")
        .iter()
        .find(|e| {
            e["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("nll-package-type"))
        })
        .expect("package type");
    let coding = &package_type["valueCodeableConcept"]["coding"][0];
    assert_eq!(coding["code"], "30009000");
    assert_eq!(coding["display"], "Box", "original display kept");
    let translation = &coding["_display"]["extension"][0];
    assert_eq!(
        translation["url"],
        "http://hl7.org/fhir/StructureDefinition/translation"
    );
    assert_eq!(translation["extension"][0]["valueCode"], "sv");
    let sv = translation["extension"][1]["valueString"]
        .as_str()
        .expect("Swedish display");
    assert!(!sv.is_empty() && sv != "Box", "{sv}");
}
