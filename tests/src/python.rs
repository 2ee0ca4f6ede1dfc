//! The Python venvs the independent-client tests run their clients in.
//!
//! Only `std`: ncp-core's `security_independent` test includes this file by path for its signxml
//! venv (it cannot depend on this crate, which depends on ncp-core).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `tests/python/`: the independent clients and their requirements files (of this crate only:
/// where the file is included by path, `CARGO_MANIFEST_DIR` is the including crate's).
pub fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// The python of a venv at `venv` with `requirements` installed, made on first use, or `None`
/// (the reason printed as `SKIPPED: ...`) when `python3 -m venv` or PyPI is unavailable.
///
/// The requirements are copied into the venv once installed: a changed file reinstalls.
/// Callers pass a directory under their `CARGO_TARGET_TMPDIR` (only test targets have it).
pub fn python_venv(venv: &Path, requirements: &Path) -> Option<PathBuf> {
    let python = venv.join("bin").join("python");
    let installed = venv.join("requirements.installed");
    let wanted = std::fs::read(requirements)
        .unwrap_or_else(|e| panic!("read {}: {e}", requirements.display()));
    if std::fs::read(&installed).ok().as_ref() == Some(&wanted) && python.is_file() {
        return Some(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv)
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
        .arg(requirements)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !pip {
        // Shown relative to the workspace, as a reader finds it.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let shown = requirements.strip_prefix(&root).unwrap_or(requirements);
        eprintln!(
            "SKIPPED: cannot install {} from PyPI (offline?)",
            shown.display()
        );
        return None;
    }
    std::fs::write(&installed, &wanted).expect("write requirements.installed");
    Some(python)
}
