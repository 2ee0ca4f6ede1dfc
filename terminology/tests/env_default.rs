//! `Terminology::embedded()` picks the MVC overlay from $NCP_MVC_DIR (its own test binary:
//! the default is built once per process).

use std::fs;

use terminology::{value_sets, Terminology, MVC_DIR_ENV};

#[test]
fn default_uses_the_directory_named_by_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("voc-1.3.6.1.4.1.12559.11.10.1.3.1.42.7-DYNAMIC.xml"),
        r#"<valueSets><valueSet id="1.3.6.1.4.1.12559.11.10.1.3.1.42.7" name="eHDSISubstitutionCode" versionLabel="TEST">
<conceptList><concept code="G" codeSystem="2.16.840.1.113883.5.1070" displayName="generic"/></conceptList>
</valueSet></valueSets>"#,
    )
    .unwrap();
    // SAFETY: edition 2021; this binary has a single test and no other threads yet.
    std::env::set_var(MVC_DIR_ENV, dir.path());
    let t = Terminology::embedded();
    assert_eq!(t.source().mvc_dir.as_deref(), Some(dir.path()));
    assert_eq!(
        t.value_set(value_sets::SUBSTITUTION_CODE).unwrap().version,
        "TEST"
    );
    // Everything else is still the embedded data.
    assert_eq!(
        t.value_set(value_sets::DOSE_FORM).unwrap().version,
        "embedded"
    );
}
