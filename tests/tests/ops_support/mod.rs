//! Shared by the operations e2e tests: the independent Python Country B client
//! (`tests/python/country_a_client.py`) in the venv `country_a_independent_client.rs` makes,
//! and running the `ncp` binary's other commands.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use e2e_tests::{ncp_binary, Sandbox};

pub fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// The venv's python with the client's requirements, or `None` (the reason printed).
pub fn client_python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("country-a-client-venv");
            let python = venv.join("bin").join("python");
            let requirements = python_dir().join("requirements.txt");
            let installed = venv.join("requirements.installed");
            let wanted = std::fs::read(&requirements).expect("tests/python/requirements.txt");
            if std::fs::read(&installed).ok().as_ref() == Some(&wanted) && python.is_file() {
                return Some(python);
            }
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !made {
                eprintln!("SKIPPED: `python3 -m venv` is not available");
                return None;
            }
            let pip = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(&requirements)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !pip {
                eprintln!(
                    "SKIPPED: cannot install tests/python/requirements.txt from PyPI (offline?)"
                );
                return None;
            }
            std::fs::write(&installed, &wanted).expect("write requirements.installed");
            Some(python)
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
