//! Shared by the operations e2e tests and `country_a_independent_client.rs`: the venv of the
//! independent Python Country B client (`tests/python/country_a_client.py`), running it, and
//! running the `ncp` binary's other commands.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use e2e_tests::python::{python_dir, python_venv};
use e2e_tests::{ncp_binary, Sandbox};

/// The venv's python with the client's requirements, or `None` (the reason printed).
pub fn client_python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("country-a-client-venv");
            python_venv(&venv, &python_dir().join("requirements.txt"))
        })
        .as_deref()
}

/// Runs the full Country A flow (XCPD, XCA list and retrieve, XDR submit and discard, the
/// refusals) against `sb`, saving the documents in `out`; panics with the client's report when
/// a check fails.
pub fn run_flow(python: &Path, sb: &Sandbox, out: &Path) -> String {
    let run = Command::new(python)
        .arg(python_dir().join("country_a_client.py"))
        .arg(sb.data_dir.join("endpoints.json"))
        .arg("--out")
        .arg(out)
        .output()
        .expect("run the client");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success() && stdout.contains("ALL CHECKS PASSED"),
        "the Country A flow failed:\n{stdout}\n--- client stderr:\n{}\n--- bridge log:\n{}",
        String::from_utf8_lossy(&run.stderr),
        sb.logs()
    );
    stdout
}

/// `ncp ARGS...`
pub fn ncp(args: &[&str]) -> Output {
    Command::new(ncp_binary())
        .args(args)
        .output()
        .expect("run ncp")
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
