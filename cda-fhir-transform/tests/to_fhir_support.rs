//! Shared helpers for the `to_fhir_*` tests over the eHDSI reference samples in `../shared`
//! (included with `#[path]`; also built on its own).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The shared eHDSI samples directory, or `None` (with a `SKIPPED:` line) when `../shared` is
/// not checked out beside the repository.
pub fn samples_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/ehdsi/samples/openncp-mock");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!(
            "SKIPPED: {} not present (the shared eHDSI samples)",
            d.display()
        );
        None
    }
}

/// The text of sample `name`; `None` when the samples are absent. A sample the present
/// directory lacks is a failure, not a skip.
pub fn sample(name: &str) -> Option<String> {
    Some(std::fs::read_to_string(samples_dir()?.join(name)).expect("read sample"))
}

/// `(file name, text)` of every `PREFIX*.xml` sample, sorted by name; empty when the samples
/// are absent.
pub fn sample_files(prefix: &str) -> Vec<(String, String)> {
    let Some(dir) = samples_dir() else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("samples dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".xml"))
        .map(|n| {
            let text = std::fs::read_to_string(dir.join(&n)).expect("read sample");
            (n, text)
        })
        .collect();
    out.sort();
    out
}

/// Strict fhirbolt parse of a Bundle. Parsed through the `Resource` enum: fhirbolt 0.4's
/// concrete-type entry point (`from_str::<Bundle>`) wrongly rejects primitives that follow a
/// nested resource (`"fullUrl"` of the second entry, `"status"` after `"contained"`); the enum
/// path does not.
pub fn assert_r4_bundle(name: &str, v: &Value) {
    let text = serde_json::to_string(v).expect("serialise");
    match fhirbolt::json::from_str::<fhirbolt::model::r4::Resource>(&text, None) {
        Ok(fhirbolt::model::r4::Resource::Bundle(_)) => {}
        Ok(_) => panic!("{name}: not a Bundle"),
        Err(e) => panic!(
            "{name}: not a valid FHIR R4 Bundle: {e}\n{}",
            serde_json::to_string_pretty(v).unwrap_or_default()
        ),
    }
}

/// The resources of type `ty` among a Bundle's entries.
pub fn resources<'v>(bundle: &'v Value, ty: &str) -> Vec<&'v Value> {
    bundle["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| &e["resource"])
                .filter(|r| r["resourceType"] == ty)
                .collect()
        })
        .unwrap_or_default()
}
