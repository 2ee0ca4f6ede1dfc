//! `ncp transform` as a conformance tester uses it: files in, documents on stdout, errors on
//! stderr with a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ncp(args: &[&str]) -> Output {
    Command::new(e2e_tests::ncp_binary())
        .args(args)
        .output()
        .expect("run ncp")
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn shared(path: &str) -> Option<PathBuf> {
    let p = repo("../shared").join(path);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (the shared eHDSI material)",
            p.display()
        );
        None
    }
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "ncp failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).expect("UTF-8 output")
}

#[test]
fn fhir_to_cda_writes_an_eprescription_that_passes_the_eu_schematron() {
    let fixture = repo("cda-fhir-transform/tests/fixtures/fhir/eprescription-single-tablet.json");
    let fixture = fixture.to_str().unwrap();
    let l3 = stdout(&ncp(&[
        "transform",
        "fhir-to-cda",
        "--document",
        "ep",
        fixture,
    ]));
    let l1 = stdout(&ncp(&[
        "transform",
        "fhir-to-cda",
        "--document",
        "ep",
        "--level",
        "1",
        fixture,
    ]));
    assert!(l3.contains("1.3.6.1.4.1.12559.11.10.1.3.1.1.1"));
    assert!(l1.contains("1.3.6.1.4.1.12559.11.10.1.3.1.1.6"));
    assert!(l1.contains("application/pdf"));

    let Some(validator) = shared("conformance/validate-cda") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("l3.xml"), dir.path().join("l1.xml"));
    std::fs::write(&a, &l3).unwrap();
    std::fs::write(&b, &l1).unwrap();
    let out = Command::new(validator).arg(&a).arg(&b).output().unwrap();
    assert!(
        out.status.success(),
        "validate-cda found errors:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cda_to_fhir_reads_another_countrys_eprescription() {
    let Some(sample) = shared("ehdsi/samples/openncp-mock/epstore-1-1234-W8.xml") else {
        return;
    };
    let json = stdout(&ncp(&[
        "transform",
        "cda-to-fhir",
        sample.to_str().unwrap(),
    ]));
    let fhir: serde_json::Value = serde_json::from_str(&json).expect("FHIR JSON");
    assert_eq!(fhir["resourceType"], "Bundle");
    let kinds: Vec<&str> = fhir["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert!(kinds.contains(&"MedicationRequest"), "{kinds:?}");
}

#[test]
fn errors_go_to_stderr_with_a_non_zero_exit() {
    // Not an eHDSI document.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.xml");
    std::fs::write(&junk, "<hello/>").unwrap();
    let out = ncp(&["transform", "cda-to-fhir", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(!out.stderr.is_empty());

    // A Bundle with several prescriptions needs --prescription, and the error lists them.
    let bundle = serde_json::json!({
        "resourceType": "Bundle", "type": "searchset",
        "entry": [
            {"resource": {"resourceType": "MedicationRequest", "id": "rx-a"}},
            {"resource": {"resourceType": "MedicationRequest", "id": "rx-b"}}
        ]
    });
    let file = dir.path().join("two.json");
    std::fs::write(&file, bundle.to_string()).unwrap();
    let out = ncp(&[
        "transform",
        "fhir-to-cda",
        "--document",
        "ep",
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--prescription") && err.contains("rx-a") && err.contains("rx-b"),
        "{err}"
    );

    // A MedicationRequest without its medication names the missing element.
    let out = ncp(&[
        "transform",
        "fhir-to-cda",
        "--document",
        "ep",
        "--prescription",
        "rx-a",
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MedicationRequest"), "{err}");
}
