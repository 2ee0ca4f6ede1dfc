//! Hostile and broken input: precise errors, never a panic.

use cda_fhir_transform::to_fhir::{
    cda_to_fhir, detect_kind, l1_to_binary, read_cda, read_cda_with_limits, DocumentKind,
    FromCdaError, ReaderLimits,
};

fn fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cda")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const MINIMAL_EP: &str = r#"<ClinicalDocument xmlns="urn:hl7-org:v3">
  <templateId root="1.3.6.1.4.1.12559.11.10.1.3.1.1.1"/>
  <id root="1.2.3.4" extension="doc-1"/>
  <recordTarget><patientRole><id root="1.2.3.5" extension="p-1"/></patientRole></recordTarget>
  <component><structuredBody><component><section><entry>
    <substanceAdministration classCode="SBADM" moodCode="INT">
      <id root="1.2.3.6" extension="item-1"/>
      <consumable><manufacturedProduct><manufacturedMaterial><name>X</name></manufacturedMaterial></manufacturedProduct></consumable>
    </substanceAdministration>
  </entry></section></component></structuredBody></component>
</ClinicalDocument>"#;

#[test]
fn the_minimal_document_itself_converts() {
    let v = cda_to_fhir(MINIMAL_EP).expect("converts");
    assert_eq!(v["resourceType"], "Bundle");
}

#[test]
fn not_xml() {
    for bad in [
        "",
        "hello",
        "{\"resourceType\":\"Bundle\"}",
        "<ClinicalDocument",
        "<a><b></a>",
    ] {
        let err = read_cda(bad).unwrap_err();
        assert!(
            matches!(err, FromCdaError::Xml { .. } | FromCdaError::NotCda { .. }),
            "{bad:?}: {err:?}"
        );
    }
    let err = read_cda("<a><b></a>").unwrap_err();
    assert!(err.to_string().contains("not well-formed"), "{err}");
}

#[test]
fn doctype_and_entity_bombs_are_refused() {
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&lol2;</title></ClinicalDocument>"#;
    assert_eq!(read_cda(bomb).unwrap_err(), FromCdaError::Doctype);
    let xxe = r#"<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><ClinicalDocument>&xxe;</ClinicalDocument>"#;
    assert_eq!(read_cda(xxe).unwrap_err(), FromCdaError::Doctype);
    // An undeclared entity without a DOCTYPE is not expanded either.
    let undeclared = MINIMAL_EP.replace("<name>X</name>", "<name>&xxe;</name>");
    let err = read_cda(&undeclared).unwrap_err();
    assert!(err.to_string().contains("undefined entity &xxe;"), "{err}");
    // The predefined ones and character references are fine.
    let ok = MINIMAL_EP.replace("<name>X</name>", "<name>A &amp; B &#228;</name>");
    let doc = read_cda(&ok).expect("reads");
    assert_eq!(
        doc.prescriptions[0].product.name.as_deref(),
        Some("A & B ä")
    );
}

#[test]
fn too_deep_and_too_large() {
    let deep = format!(
        "{}{}{}",
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">",
        "<x>".repeat(100),
        "</x>".repeat(100)
    ) + "</ClinicalDocument>";
    match read_cda(&deep).unwrap_err() {
        FromCdaError::TooDeep { limit, at } => {
            assert_eq!(limit, 64);
            assert!(at.starts_with("/ClinicalDocument/x/x"), "{at}");
        }
        other => panic!("{other:?}"),
    }
    let limits = ReaderLimits {
        max_bytes: 100,
        ..ReaderLimits::default()
    };
    assert_eq!(
        cda_fhir_transform::to_fhir::cda_to_fhir_with_limits(MINIMAL_EP, &limits).unwrap_err(),
        FromCdaError::TooLarge {
            size: MINIMAL_EP.len(),
            limit: 100
        }
    );
    assert_eq!(
        read_cda_with_limits(MINIMAL_EP, &limits).unwrap_err(),
        FromCdaError::TooLarge {
            size: MINIMAL_EP.len(),
            limit: 100
        }
    );
    let many = format!(
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">{}</ClinicalDocument>",
        "<x/>".repeat(300)
    );
    let limits = ReaderLimits {
        max_elements: 200,
        ..ReaderLimits::default()
    };
    assert_eq!(
        read_cda_with_limits(&many, &limits).unwrap_err(),
        FromCdaError::TooManyElements { limit: 200 }
    );
}

#[test]
fn unknown_template_and_wrong_root() {
    let unknown = MINIMAL_EP.replace(
        "1.3.6.1.4.1.12559.11.10.1.3.1.1.1",
        "2.16.840.1.113883.10.20.22.1.1",
    );
    match read_cda(&unknown).unwrap_err() {
        FromCdaError::UnknownTemplate { at, found } => {
            assert_eq!(at, "/ClinicalDocument/templateId");
            assert_eq!(found, ["2.16.840.1.113883.10.20.22.1.1"]);
        }
        other => panic!("{other:?}"),
    }
    let not_cda = r#"<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/></Bundle>"#;
    assert_eq!(
        read_cda(not_cda).unwrap_err(),
        FromCdaError::NotCda {
            found: "Bundle".into()
        }
    );
}

#[test]
fn missing_patient_id_names_the_element() {
    let xml = MINIMAL_EP.replace(
        r#"<id root="1.2.3.5" extension="p-1"/>"#,
        "<id nullFlavor=\"NI\"/>",
    );
    let err = read_cda(&xml).unwrap_err();
    assert_eq!(
        err,
        FromCdaError::Missing {
            at: "/ClinicalDocument/recordTarget/patientRole".into(),
            what: "id with @root (the patient identifier)"
        }
    );
    let no_target = MINIMAL_EP.replace(
        r#"<recordTarget><patientRole><id root="1.2.3.5" extension="p-1"/></patientRole></recordTarget>"#,
        "",
    );
    assert!(read_cda(&no_target)
        .unwrap_err()
        .to_string()
        .contains("recordTarget"));
}

#[test]
fn bad_values_are_located_and_patient_data_not_echoed() {
    let bad_birth = MINIMAL_EP.replace(
        r#"<id root="1.2.3.5" extension="p-1"/>"#,
        r#"<id root="1.2.3.5" extension="p-1"/><patient><birthTime value="19121312"/></patient>"#,
    );
    let err = read_cda(&bad_birth).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/ClinicalDocument/recordTarget/patientRole/patient/birthTime/@value: invalid value: not an HL7 timestamp (YYYYMMDD[HHMM[SS]][+ZZZZ])"
    );
    // A sender that puts the personnummer in the patient id's root: located, not echoed.
    let pnr_root = MINIMAL_EP.replace(
        r#"<id root="1.2.3.5" extension="p-1"/>"#,
        r#"<id root="19121212-1212" extension="p-1"/>"#,
    );
    let err = read_cda(&pnr_root).unwrap_err();
    assert!(
        err.to_string()
            .contains("recordTarget/patientRole/id/@root"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("1212"), "{err:?}");
    let bad_root = MINIMAL_EP.replace(r#"root="1.2.3.6""#, r#"root="not-an-oid""#);
    let err = read_cda(&bad_root).unwrap_err();
    assert!(
        err.to_string().contains("substanceAdministration/id/@root"),
        "{err}"
    );
    let bad_qty = MINIMAL_EP.replace("<name>X</name>", r#"<name>X</name><pharm:formCode xmlns:pharm="urn:hl7-org:pharm" code="1" codeSystem="EDQM"/>"#);
    let err = read_cda(&bad_qty).unwrap_err();
    assert!(
        err.to_string()
            .contains("manufacturedMaterial/formCode/@codeSystem"),
        "{err}"
    );
}

#[test]
fn l1_binary_and_kind_detection() {
    let xml = fixture("eprescription-l1.xml");
    assert_eq!(
        detect_kind(&xml).expect("kind"),
        DocumentKind::EPrescriptionL1
    );
    let bin = l1_to_binary(&xml).expect("binary");
    assert_eq!(bin["resourceType"], "Binary");
    assert_eq!(bin["contentType"], "application/pdf");
    assert_eq!(
        bin["data"],
        "JVBERi0xLjQKMSAwIG9iajw8L1R5cGUvQ2F0YWxvZz4+ZW5kb2JqCnRyYWlsZXI8PC9Sb290IDEgMCBSPj4KJSVFT0YK"
    );
    let text = serde_json::to_string(&bin).expect("json");
    fhirbolt::json::from_str::<fhirbolt::model::r4::resources::Binary>(&text, None)
        .expect("valid Binary");
    let bundle = cda_to_fhir(&xml).expect("bundle");
    let text = serde_json::to_string(&bundle).expect("json");
    // Through the Resource enum: fhirbolt 0.4's concrete `Bundle` entry point mis-parses
    // primitives that follow a nested resource.
    let parsed = fhirbolt::json::from_str::<fhirbolt::model::r4::Resource>(&text, None)
        .expect("valid Bundle");
    assert!(matches!(parsed, fhirbolt::model::r4::Resource::Bundle(_)));
    let types: Vec<&str> = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert_eq!(types, ["Patient", "Binary"]);
    let broken = xml.replace("JVBERi0x", "JVB#Ri0x");
    let err = l1_to_binary(&broken).unwrap_err();
    assert!(err.to_string().contains("not valid base64"), "{err}");
}

/// Narrative references resolve through an index: thousands of dangling `#ID` references do not
/// make the reader quadratic.
#[test]
fn many_narrative_references_stay_linear() {
    let act = r##"<entryRelationship typeCode="SUBJ"><act classCode="ACT" moodCode="INT"><code code="PINSTRUCT" codeSystem="1.3.6.1.4.1.19376.1.5.3.2"/><text><reference value="#nowhere"/></text></act></entryRelationship>"##;
    let xml = MINIMAL_EP.replace(
        "</consumable>",
        &format!("</consumable>{}", act.repeat(20_000)),
    );
    let start = std::time::Instant::now();
    let doc = read_cda(&xml).expect("reads");
    assert!(doc.prescriptions[0].patient_instructions.is_none());
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// Cheap mutation fuzzing: truncations and byte flips of real documents never panic.
#[test]
fn mutations_never_panic() {
    let sources = [
        fixture("edispensation-w8-pharm.xml"),
        fixture("edispensation-epsos-wave7.xml"),
        MINIMAL_EP.to_owned(),
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for src in &sources {
        for cut in (0..src.len()).step_by(97) {
            if src.is_char_boundary(cut) {
                let _ = cda_to_fhir(&src[..cut]);
            }
        }
        for _ in 0..300 {
            let mut bytes = src.clone().into_bytes();
            for _ in 0..3 {
                let i = (next() as usize) % bytes.len();
                bytes[i] = b"<>/\"=&;x1 :#"[(next() as usize) % 12];
            }
            if let Ok(s) = String::from_utf8(bytes) {
                let _ = cda_to_fhir(&s);
            }
        }
    }
}
