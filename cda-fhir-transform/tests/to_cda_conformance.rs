//! Every document the `to_cda` writers produce from the fixtures (ePrescription L3 and L1 for
//! each prescription, the eDispensation and its discard) passes the eHDSI Wave 8 schematrons
//! with zero errors. The validator runs once over all files (it is slow to start).

#[path = "to_cda_support.rs"]
mod support;

use cda_fhir_transform::to_cda::{
    edispensation, edispensation_discard, eprescription_l1, eprescription_l3,
};
use support::*;

#[test]
fn all_fixture_documents_pass_the_wave8_schematrons() {
    let opts = options();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    let mut write = |name: String, doc: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, doc).expect("write document");
        files.push(path);
    };
    for (fixture_name, id) in EPRESCRIPTIONS {
        let bundle = fixture(fixture_name);
        let stem = fixture_name.trim_end_matches(".json");
        let l3 = eprescription_l3(&bundle, &pid(id), &opts)
            .unwrap_or_else(|e| panic!("{fixture_name}: L3: {e}"));
        write(format!("{stem}-L3.xml"), l3);
        let l1 = eprescription_l1(&bundle, &pid(id), &opts)
            .unwrap_or_else(|e| panic!("{fixture_name}: L1: {e}"));
        write(format!("{stem}-L1.xml"), l1);
    }
    let md = fixture("medicationdispense.json");
    write(
        "edispensation.xml".into(),
        edispensation(&md, &opts).expect("eDispensation"),
    );
    write(
        "edispensation-discard.xml".into(),
        edispensation_discard(&md, &opts).expect("discard"),
    );
    assert_eq!(files.len(), 2 * EPRESCRIPTIONS.len() + 2);

    let Some((ok, report)) = validate(&files) else {
        return;
    };
    assert_schematron_clean(&files, ok, &report, dir);
}
