//! Sweden as country A, driven by a client this project did not write: `tests/python/
//! country_a_client.py` (Python `requests`, `lxml`, `signxml`) plays a foreign NCP against `ncp
//! sandbox` over mutual TLS — XCPD, XCA query and retrieve (plain and MTOM), the eHDSI schematrons
//! on the retrieved ePrescription and on its own eDispensation, XDR eDispensation submit and
//! discard (and their effect in the NLL simulator), and the refusals of an unsigned or tampered
//! assertion (4704), of assertions sent over another NCP's TLS connection (4703) and of a TRC
//! for another patient (4206).
//!
//! The client runs in a venv under the target dir, made on first use; without PyPI the test
//! prints `SKIPPED: ...` and passes.

mod ops_support;

use std::path::Path;
use std::process::Command;

use e2e_tests::python::python_dir;
use e2e_tests::Sandbox;
use ops_support::client_python;

/// Whether `../shared` (the eHDSI schematrons) is next to the project.
fn have_shared() -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/validate-cda")
        .exists()
}

#[test]
fn an_independent_country_b_client_completes_the_eprescription_flow() {
    let Some(python) = client_python() else {
        return;
    };
    let sb = Sandbox::start(&[]);
    let out = tempfile::tempdir().expect("temp dir");
    let run = Command::new(python)
        .arg(python_dir().join("country_a_client.py"))
        .arg(sb.data_dir.join("endpoints.json"))
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("run the client");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    let (clean_exit, logs) = sb.stop();
    assert!(
        run.status.success(),
        "the independent client failed ({}):\n{stdout}\n--- client stderr:\n{stderr}\n--- bridge log (tail):\n{}",
        run.status,
        tail(&logs, 60)
    );

    let mut expected = vec![
        "OK mutual TLS: the bridge",
        "OK XCPD: patient identified (1 match",
        "OK XCA query:",
        "OK XCA retrieve: L3 ePrescription",
        "OK XDR eDispensation submit: RegistryResponse Success (MTOM request",
        "OK NLL: the dispensation is recorded against the prescription (completed, 1 package",
        "OK XDR eDispensation discard: RegistryResponse Success (inline base64 request",
        "OK NLL: the discard marks that dispensation entered-in-error",
        "OK negative: unsigned HCP assertion refused with 4704",
        "OK negative: signed HCP assertion changed after signing refused with 4704",
        "OK negative: EE-signed assertions over ES's TLS connection refused with 4703",
        "OK negative: TRC assertion for another patient refused with 4206",
        "ALL CHECKS PASSED",
    ];
    if have_shared() {
        expected.push("OK CDA conformance: validate-cda (eHDSI Wave 8 schematron) passes the retrieved ePrescription");
        expected.push("OK CDA conformance: validate-cda passes our own eDispensation");
    } else {
        expected.push("SKIPPED CDA conformance:");
    }
    for line in expected {
        assert!(
            stdout.lines().any(|l| l.starts_with(line)),
            "missing `{line}` in the client's report:\n{stdout}"
        );
    }
    // What the client saved is what the bridge sent: an L3 ePrescription CDA.
    let cda = std::fs::read_to_string(out.path().join("eprescription-l3.xml")).expect("saved CDA");
    assert!(cda.contains("1.3.6.1.4.1.12559.11.10.1.3.1.1.1"));

    // The bridge's log never names the patient (p01 of sweden-sim) nor the prescriptions' content.
    for secret in ["191212121212", "19121212-1212", "Tolvan", "Tolvansson"] {
        assert!(
            !logs.contains(secret),
            "the bridge logged patient data ({secret})"
        );
    }
    assert!(clean_exit, "ncp sandbox did not exit cleanly on SIGTERM");
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}
