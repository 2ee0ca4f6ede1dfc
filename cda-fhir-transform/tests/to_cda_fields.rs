//! What maps where: the `to_cda` documents parsed back, field by field (ids with their OIDs,
//! ATC, EDQM, strength, substitution, validity, unmapped codes as OTH + translation).

#[path = "to_cda_support.rs"]
mod support;

use base64::Engine as _;
use cda_fhir_transform::to_cda::{
    edispensation, edispensation_discard, eprescription_l1, eprescription_l3, ToCdaError,
};
use roxmltree::{Document, Node};
use support::*;

const HL7: &str = "urn:hl7-org:v3";
const PHARM: &str = "urn:hl7-org:pharm";
const HSA: &str = "1.2.752.129.2.1.4.1";
const ATC: &str = "2.16.840.1.113883.6.73";
const EDQM: &str = "0.4.0.127.0.16.1.1.2.1";

fn l3(fixture_name: &str, id: &str) -> String {
    eprescription_l3(&fixture(fixture_name), &pid(id), &options()).expect("L3")
}

/// The first descendant of `n` along `path` (each step a child element by name; `pharm:`
/// prefix for the pharm namespace).
fn at<'a, 'i>(n: Node<'a, 'i>, path: &str) -> Node<'a, 'i> {
    let mut cur = n;
    for step in path.split('/') {
        let (ns, name) = match step.strip_prefix("pharm:") {
            Some(local) => (PHARM, local),
            None => (HL7, step),
        };
        cur = cur
            .children()
            .find(|c| {
                c.is_element()
                    && c.tag_name().name() == name
                    && c.tag_name().namespace() == Some(ns)
            })
            .unwrap_or_else(|| panic!("no {step} in {path} under <{}>", n.tag_name().name()));
    }
    cur
}

fn all<'a, 'i>(n: Node<'a, 'i>, ns: &str, name: &str) -> Vec<Node<'a, 'i>> {
    n.descendants()
        .filter(|c| {
            c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == Some(ns)
        })
        .collect()
}

fn a<'a>(n: Node<'a, '_>, attr: &str) -> &'a str {
    n.attribute(attr)
        .unwrap_or_else(|| panic!("no @{attr} on <{}>", n.tag_name().name()))
}

fn sa<'a, 'i>(doc: &'a Document<'i>) -> Node<'a, 'i> {
    at(
        doc.root_element(),
        "component/structuredBody/component/section/entry/substanceAdministration",
    )
}

const MATERIAL: &str = "consumable/manufacturedProduct/manufacturedMaterial";

#[test]
fn header_ids_keep_their_oids() {
    let xml = l3("eprescription-single-tablet.json", "rx-1001");
    let doc = Document::parse(&xml).expect("well-formed");
    let cd = doc.root_element();
    assert_eq!(
        a(at(cd, "templateId"), "root"),
        "1.3.6.1.4.1.12559.11.10.1.3.1.1.1"
    );
    let id = at(cd, "id");
    assert_eq!(a(id, "root"), "1.2.752.129.2.99.1.1");
    assert_eq!(a(id, "extension"), "rx-1001");
    assert_eq!(a(at(cd, "code"), "code"), "57833-6");
    assert_eq!(a(at(cd, "languageCode"), "code"), "sv-SE");
    assert_eq!(a(at(cd, "confidentialityCode"), "code"), "N");
    assert_eq!(a(at(cd, "effectiveTime"), "value"), "20261124120000+0100");

    let pr = at(cd, "recordTarget/patientRole");
    assert_eq!(
        a(at(pr, "id"), "root"),
        "1.2.752.129.2.1.3.1",
        "personnummer OID"
    );
    assert_eq!(a(at(pr, "id"), "extension"), "191212121212");
    assert_eq!(at(pr, "patient/name/family").text(), Some("Tolvansson"));
    assert_eq!(a(at(pr, "patient/administrativeGenderCode"), "code"), "M");
    assert_eq!(a(at(pr, "patient/birthTime"), "value"), "19121212");

    let author = at(cd, "author/assignedAuthor");
    assert_eq!(a(at(author, "id"), "root"), HSA);
    assert_eq!(a(at(author, "id"), "extension"), "SE2321000016-1003");
    assert_eq!(at(author, "assignedPerson/name/given").text(), Some("Åsa"));
    let org = at(author, "representedOrganization");
    assert_eq!(a(at(org, "id"), "root"), HSA);
    assert_eq!(a(at(org, "id"), "extension"), "SE2321000016-92V4");
    assert_eq!(at(org, "name").text(), Some("Vårdcentralen Södermalm"));
    assert_eq!(at(org, "addr/city").text(), Some("Stockholm"));
    assert_eq!(a(at(org, "telecom"), "value"), "tel:+46812345600");
    assert_eq!(a(at(cd, "author/functionCode"), "code"), "221");
    assert_eq!(a(at(cd, "author/time"), "value"), "20261102093000+0100");

    let la = at(cd, "legalAuthenticator/assignedEntity");
    assert_eq!(a(at(la, "id"), "extension"), "SE2321000016-1003");
    let custodian = at(
        cd,
        "custodian/assignedCustodian/representedCustodianOrganization",
    );
    assert_eq!(a(at(custodian, "id"), "root"), NCP_ROOT);
    // The national original: the NLL prescription.
    let parent = at(cd, "relatedDocument/parentDocument/id");
    assert_eq!(a(parent, "root"), "1.2.752.129.2.99.1.2");
    assert_eq!(a(parent, "extension"), "rx-1001");
}

#[test]
fn single_ingredient_tablet_product_dosage_and_dispensing() {
    let xml = l3("eprescription-single-tablet.json", "rx-1001");
    let doc = Document::parse(&xml).expect("well-formed");
    let sa = sa(&doc);
    assert_eq!(a(at(sa, "id"), "root"), "1.2.752.129.2.99.1.2");
    assert_eq!(a(at(sa, "id"), "extension"), "rx-1001");
    assert_eq!(a(at(sa, "statusCode"), "code"), "active");

    // Validity (IVL_TS) and frequency (3 per day → every 8 h, PIVL_TS).
    let times: Vec<Node> = sa
        .children()
        .filter(|c| c.tag_name().name() == "effectiveTime")
        .collect();
    assert_eq!(times.len(), 2);
    assert_eq!(a(at(times[0], "low"), "value"), "20261102");
    assert_eq!(a(at(times[0], "high"), "value"), "20271102");
    let period = at(times[1], "period");
    assert_eq!((a(period, "value"), a(period, "unit")), ("8", "h"));
    assert_eq!(a(at(sa, "routeCode"), "code"), "20053000");
    assert_eq!(a(at(sa, "routeCode"), "codeSystem"), EDQM);
    assert_eq!(a(at(sa, "doseQuantity"), "value"), "1");

    let mm = at(sa, MATERIAL);
    assert_eq!(a(at(mm, "code"), "code"), "19620523000018");
    assert_eq!(
        a(at(mm, "code"), "codeSystem"),
        "1.2.752.129.2.1.5.1",
        "NPL-id OID"
    );
    assert_eq!(
        at(mm, "name").text(),
        Some("Alvedon 500 mg filmdragerad tablett")
    );
    let form = at(mm, "pharm:formCode");
    assert_eq!((a(form, "code"), a(form, "codeSystem")), ("10221000", EDQM));
    assert_eq!(a(form, "displayName"), "Film-coated tablet");
    assert_eq!(a(at(mm, "pharm:asContent/pharm:quantity"), "value"), "20");
    let pack = at(mm, "pharm:asContent/pharm:containerPackagedProduct");
    assert_eq!(a(at(pack, "pharm:code"), "code"), "19620523100018");
    assert_eq!(
        a(at(pack, "pharm:code"), "codeSystem"),
        "1.2.752.129.2.1.5.2"
    );
    assert_eq!(a(at(pack, "pharm:formCode"), "code"), "30007000");
    let atc = at(
        mm,
        "pharm:asSpecializedKind/pharm:generalizedMaterialKind/pharm:code",
    );
    assert_eq!((a(atc, "code"), a(atc, "codeSystem")), ("N02BE01", ATC));
    let ing = at(mm, "pharm:ingredient");
    assert_eq!(a(ing, "classCode"), "ACTI");
    let num = at(ing, "pharm:quantity/numerator");
    assert_eq!((a(num, "value"), a(num, "unit")), ("500", "mg"));
    let den = at(ing, "pharm:quantity/denominator");
    assert_eq!((a(den, "value"), a(den, "unit")), ("1", "1"));
    let sub = at(ing, "pharm:ingredientSubstance/pharm:code");
    assert_eq!((a(sub, "code"), a(sub, "codeSystem")), ("N02BE01", ATC));

    // The prescriber of the item, with HSA-id.
    let prescriber = at(sa, "author/assignedAuthor");
    assert_eq!(a(at(prescriber, "id"), "root"), HSA);
    assert_eq!(a(at(prescriber, "id"), "extension"), "SE2321000016-1003");
    assert_eq!(a(at(sa, "author/time"), "value"), "20261102093000+0100");

    // Packages per dispensation and the number of dispensations (2 repeats → 3 in all).
    let supply = all(sa, HL7, "supply")[0];
    assert_eq!(a(supply, "moodCode"), "RQO");
    assert_eq!(a(at(supply, "quantity"), "value"), "1");
    assert_eq!(a(at(supply, "quantity"), "unit"), "1");
    assert_eq!(a(at(supply, "repeatNumber"), "value"), "3");
    assert_eq!(a(at(supply, "independentInd"), "value"), "false");

    // Substitution allowed → eHDSISubstitutionCode G.
    let subst = all(sa, HL7, "observation")
        .into_iter()
        .find(|o| a(at(*o, "code"), "code") == "SUBST")
        .expect("substitution observation");
    let v = at(subst, "value");
    assert_eq!(
        (a(v, "code"), a(v, "codeSystem")),
        ("G", "2.16.840.1.113883.5.1070")
    );

    // Patient and fulfillment instructions reference the narrative.
    let refs: Vec<&str> = all(sa, HL7, "reference")
        .iter()
        .map(|r| a(*r, "value"))
        .collect();
    assert!(
        refs.contains(&"#pinstruct-1") && refs.contains(&"#finstruct-1"),
        "{refs:?}"
    );
    let contents = all(doc.root_element(), HL7, "content");
    let note = contents
        .iter()
        .find(|c| c.attribute("ID") == Some("finstruct-1"))
        .expect("note in narrative");
    assert_eq!(
        note.text(),
        Some("Patienten reser i Europa under december.")
    );
    let dose = contents
        .iter()
        .find(|c| c.attribute("ID") == Some("pinstruct-1"))
        .expect("dosage in narrative");
    assert_eq!(
        dose.text(),
        Some("1 tablett vid behov, högst 3 gånger per dygn")
    );
    let table = all(doc.root_element(), HL7, "table")[0];
    assert_eq!(table.attribute("ID"), Some("item-1"));
}

#[test]
fn multi_ingredient_product_lists_every_active_ingredient_with_strength() {
    let xml = l3("eprescription-multi-ingredient.json", "rx-1002");
    let doc = Document::parse(&xml).expect("well-formed");
    let mm = at(sa(&doc), MATERIAL);
    let atc = at(
        mm,
        "pharm:asSpecializedKind/pharm:generalizedMaterialKind/pharm:code",
    );
    assert_eq!(a(atc, "code"), "N02AJ06");
    let ings = all(mm, PHARM, "ingredient");
    let got: Vec<(&str, &str, &str)> = ings
        .iter()
        .map(|i| {
            let num = at(*i, "pharm:quantity/numerator");
            (
                a(at(*i, "pharm:ingredientSubstance/pharm:code"), "code"),
                a(num, "value"),
                a(num, "unit"),
            )
        })
        .collect();
    assert_eq!(got, vec![("N02BE01", "500", "mg"), ("R05DA04", "30", "mg")]);
    assert_eq!(a(at(mm, "pharm:formCode"), "code"), "10219000");
    let pack = at(
        mm,
        "pharm:asContent/pharm:containerPackagedProduct/pharm:formCode",
    );
    assert_eq!(a(pack, "code"), "30008000");
    // 4 times a day → every 6 h; no repeats → one dispensation.
    let period = all(sa(&doc), HL7, "period")[0];
    assert_eq!((a(period, "value"), a(period, "unit")), ("6", "h"));
    assert_eq!(a(all(sa(&doc), HL7, "repeatNumber")[0], "value"), "1");
}

#[test]
fn narcotic_forbids_substitution_and_shows_its_class() {
    let xml = l3("eprescription-narcotic.json", "rx-1003");
    let doc = Document::parse(&xml).expect("well-formed");
    let value = all(sa(&doc), HL7, "value")[0];
    assert_eq!(a(value, "code"), "N");
    let cells: Vec<&str> = all(doc.root_element(), HL7, "td")
        .iter()
        .filter_map(|td| td.text())
        .collect();
    let i = cells
        .iter()
        .position(|c| c.starts_with("Narkotikaklass"))
        .expect("narcotic class row");
    assert_eq!(cells[i + 1], "II");
    assert!(cells.contains(&"Utbyte ej tillåtet / Substitution not allowed"));
}

#[test]
fn samordningsnummer_keeps_its_own_oid() {
    let xml = l3("eprescription-samordningsnummer.json", "rx-1004");
    let doc = Document::parse(&xml).expect("well-formed");
    let pr = at(doc.root_element(), "recordTarget/patientRole");
    assert_eq!(a(at(pr, "id"), "root"), "1.2.752.129.2.1.3.3");
    assert_eq!(a(at(pr, "id"), "extension"), "198302712347");
    // No address or phone in NLL: explicit nullFlavor, as the template requires.
    assert_eq!(a(at(pr, "addr"), "nullFlavor"), "NI");
    assert_eq!(a(at(pr, "telecom"), "nullFlavor"), "NI");
}

#[test]
fn unmapped_codes_become_oth_with_the_original_as_translation() {
    let xml = l3("eprescription-unmapped-code.json", "rx-1005");
    let doc = Document::parse(&xml).expect("well-formed");
    let mm = at(sa(&doc), MATERIAL);
    // A dose form in a local Swedish code system: not in eHDSIDoseForm.
    let form = at(mm, "pharm:formCode");
    assert_eq!(a(form, "nullFlavor"), "OTH");
    assert!(form.attribute("code").is_none());
    let tr = at(form, "translation");
    assert_eq!(a(tr, "code"), "INJVLOSNPENNA");
    assert_eq!(a(tr, "codeSystem"), "1.2.752.129.2.2.3.11");
    // A new ATC code that the Wave 8 eHDSIActiveIngredient does not list.
    for code in [
        at(mm, "pharm:ingredient/pharm:ingredientSubstance/pharm:code"),
        at(
            mm,
            "pharm:asSpecializedKind/pharm:generalizedMaterialKind/pharm:code",
        ),
    ] {
        assert_eq!(a(code, "nullFlavor"), "OTH");
        let tr = at(code, "translation");
        assert_eq!((a(tr, "code"), a(tr, "codeSystem")), ("B06AC07", ATC));
    }
    // Members stay plain codes in the same document.
    assert_eq!(a(at(sa(&doc), "routeCode"), "code"), "20066000");
    let period = all(sa(&doc), HL7, "period")[0];
    assert_eq!((a(period, "value"), a(period, "unit")), ("4", "wk"));
}

#[test]
fn no_code_of_the_fhir_input_is_dropped() {
    for (name, id) in EPRESCRIPTIONS {
        let bundle = fixture(name);
        let xml = eprescription_l3(&bundle, &pid(id), &options()).expect("L3");
        let doc = Document::parse(&xml).expect("well-formed");
        let written: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("code"))
            .collect();
        let text = bundle.to_string();
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        let mut codes = Vec::new();
        collect_codings(&v, &mut codes);
        for c in codes {
            assert!(written.contains(&c.as_str()), "{name}: code {c} dropped");
        }
    }
}

/// Codes of the Medication and dosage codings (not the role codes, which become ISCO).
fn collect_codings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            if m.get("resourceType").and_then(|t| t.as_str()) == Some("PractitionerRole") {
                return;
            }
            if let (Some(_), Some(code)) = (m.get("system"), m.get("code").and_then(|c| c.as_str()))
            {
                if m.get("value").is_none() {
                    out.push(code.to_owned());
                }
            }
            m.values().for_each(|x| collect_codings(x, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_codings(x, out)),
        _ => {}
    }
}

#[test]
fn l1_has_the_l3_header_and_a_pdf_body() {
    let bundle = fixture("eprescription-single-tablet.json");
    let opts = options();
    let l1 = eprescription_l1(&bundle, &pid("rx-1001"), &opts).expect("L1");
    let l3 = eprescription_l3(&bundle, &pid("rx-1001"), &opts).expect("L3");
    let d1 = Document::parse(&l1).expect("well-formed");
    let d3 = Document::parse(&l3).expect("well-formed");
    let (c1, c3) = (d1.root_element(), d3.root_element());
    assert_eq!(
        a(at(c1, "templateId"), "root"),
        "1.3.6.1.4.1.12559.11.10.1.3.1.1.6"
    );
    assert_eq!(a(at(c1, "id"), "extension"), "rx-1001.L1");
    for part in [
        "recordTarget",
        "author",
        "custodian",
        "legalAuthenticator",
        "relatedDocument",
    ] {
        assert_eq!(
            &l1[at(c1, part).range()],
            &l3[at(c3, part).range()],
            "{part} differs between L1 and L3"
        );
    }
    let text = at(c1, "component/nonXMLBody/text");
    assert_eq!(a(text, "mediaType"), "application/pdf");
    assert_eq!(a(text, "representation"), "B64");
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(text.text().unwrap_or_default().trim())
        .expect("base64");
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.ends_with(b"%%EOF") || pdf.ends_with(b"%%EOF\n"));
    // Helvetica + WinAnsiEncoding: "Läkemedel" is in the content stream as Latin-1 bytes.
    // Helvetica + WinAnsiEncoding: "Läkemedel" is shown as WinAnsi bytes (pdf-writer writes
    // non-ASCII strings in hex: <4CE46B656D6564656C…>, ä = 0xE4).
    let hex: String = "Läkemedel"
        .chars()
        .map(|c| format!("{:02X}", c as u32))
        .collect();
    let body = String::from_utf8_lossy(&pdf).to_uppercase();
    assert!(
        body.contains(&format!("<{hex}")),
        "no WinAnsi Läkemedel in the PDF"
    );
}

#[test]
fn edispensation_references_the_foreign_prescription() {
    let xml = edispensation(&fixture("medicationdispense.json"), &options()).expect("eD");
    let doc = Document::parse(&xml).expect("well-formed");
    let cd = doc.root_element();
    assert_eq!(
        a(at(cd, "templateId"), "root"),
        "1.3.6.1.4.1.12559.11.10.1.3.1.1.2"
    );
    assert_eq!(a(at(cd, "code"), "code"), "60593-1");
    assert_eq!(a(at(cd, "id"), "extension"), "disp-2001");
    assert_eq!(a(at(cd, "setId"), "extension"), "disp-2001");
    assert_eq!(a(at(cd, "versionNumber"), "value"), "1");
    let order = at(cd, "inFulfillmentOf/order/id");
    assert_eq!(a(order, "root"), "2.16.17.710.850.1000.990.1");
    assert_eq!(a(order, "extension"), "3000");
    // The foreign patient keeps the foreign id.
    let pid = at(cd, "recordTarget/patientRole/id");
    assert_eq!(a(pid, "root"), "2.16.17.710.850.1000.990.1.1000");
    assert_eq!(a(pid, "extension"), "1-1234-W8");
    // The pharmacist is the author, with HSA-id, acting for the pharmacy.
    assert_eq!(a(at(cd, "author/functionCode"), "code"), "2262");
    let author = at(cd, "author/assignedAuthor");
    assert_eq!(a(at(author, "id"), "root"), HSA);
    assert_eq!(a(at(author, "id"), "extension"), "SE5565594230-B12C");
    assert_eq!(
        at(author, "representedOrganization/name").text(),
        Some("Apoteket Kronan Kalmar")
    );

    let supply = at(
        cd,
        "component/structuredBody/component/section/entry/supply",
    );
    assert_eq!(a(supply, "moodCode"), "EVN");
    assert_eq!(a(at(supply, "id"), "root"), "1.2.752.129.2.99.1.3");
    assert_eq!(a(at(supply, "id"), "extension"), "disp-2001");
    assert_eq!(a(at(supply, "statusCode"), "code"), "completed");
    assert_eq!(
        a(at(supply, "effectiveTime"), "value"),
        "20261124104200+0100"
    );
    assert_eq!(a(at(supply, "quantity"), "value"), "1");
    let mm = at(supply, "product/manufacturedProduct/manufacturedMaterial");
    assert_eq!(a(at(mm, "code"), "code"), "19620523000018");
    assert_eq!(
        a(at(supply, "performer/assignedEntity/id"), "extension"),
        "SE5565594230-B12C"
    );
    let refr = supply
        .children()
        .find(|c| c.attribute("typeCode") == Some("REFR"))
        .expect("REFR to the prescription");
    assert_eq!(
        a(at(refr, "substanceAdministration/id"), "extension"),
        "3000.1.1"
    );
    // Substituted: the SUBST act is there.
    let subst = supply
        .children()
        .find(|c| c.attribute("typeCode") == Some("COMP"))
        .expect("substitution act");
    assert_eq!(a(at(subst, "act/code"), "code"), "SUBST");
}

#[test]
fn discard_replaces_the_dispensation_document() {
    let md = fixture("medicationdispense.json");
    let xml = edispensation_discard(&md, &options()).expect("discard");
    let doc = Document::parse(&xml).expect("well-formed");
    let cd = doc.root_element();
    assert_eq!(
        a(at(cd, "templateId"), "root"),
        "1.3.6.1.4.1.12559.11.10.1.3.1.1.2"
    );
    assert_eq!(a(at(cd, "id"), "extension"), "disp-2001.discard");
    assert_eq!(a(at(cd, "setId"), "extension"), "disp-2001");
    assert_eq!(a(at(cd, "versionNumber"), "value"), "2");
    let rplc = cd
        .children()
        .find(|c| {
            c.tag_name().name() == "relatedDocument" && c.attribute("typeCode") == Some("RPLC")
        })
        .expect("RPLC");
    assert_eq!(a(at(rplc, "parentDocument/id"), "extension"), "disp-2001");
    assert_eq!(
        a(at(rplc, "parentDocument/id"), "root"),
        "1.2.752.129.2.99.1.1"
    );
    let supply = at(
        cd,
        "component/structuredBody/component/section/entry/supply",
    );
    assert_eq!(a(at(supply, "statusCode"), "code"), "nullified");
    assert!(at(cd, "title")
        .text()
        .unwrap_or_default()
        .contains("Discarded dispensation"));

    // NLL marks the discarded dispensation entered-in-error: it is then only a discard.
    let mut gone = md.clone();
    gone["status"] = "entered-in-error".into();
    assert!(matches!(
        edispensation(&gone, &options()),
        Err(ToCdaError::Invalid { ref path, .. }) if path == "MedicationDispense.status"
    ));
    assert!(edispensation_discard(&gone, &options()).is_ok());
}

#[test]
fn prescription_ids_in_the_to_fhir_shape() {
    // to_fhir writes the ePrescription document id as groupIdentifier and the item as
    // identifier; a root-only id comes as urn:ietf:rfc:3986.
    let mut md = fixture("medicationdispense.json");
    let rx = md["contained"]
        .as_array_mut()
        .expect("contained")
        .iter_mut()
        .find(|r| r["resourceType"] == "MedicationRequest")
        .expect("MedicationRequest");
    rx["groupIdentifier"] = serde_json::json!({
        "system": "urn:ietf:rfc:3986", "value": "urn:oid:2.16.17.710.850.1000.990.1.3000"
    });
    rx["identifier"] = serde_json::json!([
        { "system": "urn:oid:2.16.17.710.850.1000.990.1", "value": "3000.1.1" }
    ]);
    let xml = edispensation(&md, &options()).expect("eD");
    let doc = Document::parse(&xml).expect("well-formed");
    let order = at(doc.root_element(), "inFulfillmentOf/order/id");
    assert_eq!(a(order, "root"), "2.16.17.710.850.1000.990.1.3000");
    assert!(order.attribute("extension").is_none());
    let supply = at(
        doc.root_element(),
        "component/structuredBody/component/section/entry/supply",
    );
    let refr = supply
        .children()
        .find(|c| c.attribute("typeCode") == Some("REFR"))
        .expect("REFR");
    assert_eq!(
        a(at(refr, "substanceAdministration/id"), "extension"),
        "3000.1.1"
    );
}
