//! MVC overlay behaviour on a small hand-made directory: national designations (an MTC),
//! version choice and fallback past a broken file.

use std::fs;

use ncp_types::Oid;
use terminology::code_systems::EDQM_OID;
use terminology::{value_sets, Coded, Lang, Terminology};

const DOSE_FORM_V1: &str = r#"<valueSets><valueSet id="1.3.6.1.4.1.12559.11.10.1.3.1.42.2" name="eHDSIDoseForm" versionLabel="OLD">
<conceptList><concept code="10219000" codeSystem="0.4.0.127.0.16.1.1.2.1" displayName="Tablet"/></conceptList></valueSet></valueSets>"#;

const DOSE_FORM_V2: &str = r#"<valueSets><valueSet id="1.3.6.1.4.1.12559.11.10.1.3.1.42.2" name="eHDSIDoseForm" versionLabel="NEW">
<conceptList>
 <concept code="10219000" codeSystem="0.4.0.127.0.16.1.1.2.1" displayName="Tablet" type="L">
   <designation language="sv-SE" displayName="Tablett (MTC)" type="preferred"/>
 </concept>
 <concept code="10221000" codeSystem="0.4.0.127.0.16.1.1.2.1" displayName="Film-coated tablet"/>
</conceptList></valueSet></valueSets>"#;

#[test]
fn national_designations_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    fs::write(
        p("voc-1.3.6.1.4.1.12559.11.10.1.3.1.42.2-2013-06-03T000000.xml"),
        DOSE_FORM_V1,
    )
    .unwrap();
    fs::write(
        p("voc-1.3.6.1.4.1.12559.11.10.1.3.1.42.2-2024-01-25T162500.xml"),
        DOSE_FORM_V2,
    )
    .unwrap();
    fs::write(p("voc-UCUM.xml"), "<ucums/>").unwrap();
    fs::write(p("notes.txt"), "ignored").unwrap();
    let t = Terminology::load(Some(dir.path())).unwrap();
    let vs = t.value_set(value_sets::DOSE_FORM).unwrap();
    assert_eq!(
        vs.version, "NEW",
        "the latest dated version wins without DYNAMIC"
    );
    assert_eq!(t.source().mvc_value_sets, 1);
    let edqm = Oid::parse(EDQM_OID).unwrap();
    assert_eq!(
        t.display(&edqm, "10219000", Lang::SV).as_deref(),
        Some("Tablett (MTC)")
    );
    assert_eq!(
        t.display(&edqm, "10219000", Lang::EN).as_deref(),
        Some("Tablet")
    );
    // The MVC set replaced the embedded subset: an embedded-only member is gone…
    assert!(!t.contains(value_sets::DOSE_FORM, &Coded::new("10210000", edqm.clone())));
    // …but other embedded value sets are untouched.
    assert!(t.value_set(value_sets::ACTIVE_INGREDIENT).is_some());

    // A broken DYNAMIC file falls back to the newest dated one that parses.
    fs::write(
        p("voc-1.3.6.1.4.1.12559.11.10.1.3.1.42.2-DYNAMIC.xml"),
        "<valueSets><valueSet",
    )
    .unwrap();
    let t = Terminology::load(Some(dir.path())).unwrap();
    assert_eq!(t.value_set(value_sets::DOSE_FORM).unwrap().version, "NEW");
}

#[test]
fn missing_directory_is_an_error_not_a_panic() {
    let err = Terminology::load(Some(std::path::Path::new("/nonexistent/mvc"))).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/mvc"), "{err}");
}
