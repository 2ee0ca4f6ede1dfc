//! Shared helpers for the `to_cda_*` tests (included with `#[path]`; also built on its own).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use cda_fhir_transform::to_cda::{Address, CdaOptions, NcpOrganisation};
use chrono::{DateTime, FixedOffset};
use ncp_types::{CountryCode, Oid, PrescriptionId};
use serde_json::Value;
use terminology::Terminology;

/// The Swedish NCP's (test) OID arc.
pub const NCP_ROOT: &str = "1.2.752.129.2.99.1";

/// The terminology for the tests: embedded data plus the official Wave 8 MVC value sets from
/// `../shared` when it is there (independent of the working directory and `$NCP_MVC_DIR`).
pub fn terminology() -> Arc<Terminology> {
    static T: OnceLock<Arc<Terminology>> = OnceLock::new();
    T.get_or_init(|| {
        let mvc = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/ehdsi/schematron-wave8/include");
        let dir = mvc.is_dir().then_some(mvc.as_path());
        Arc::new(Terminology::load(dir).expect("terminology"))
    })
    .clone()
}

pub fn options() -> CdaOptions {
    let now: DateTime<FixedOffset> =
        DateTime::parse_from_rfc3339("2026-11-24T12:00:00+01:00").expect("fixed time");
    let mut opts = CdaOptions::under(
        &Oid::parse(NCP_ROOT).expect("oid"),
        now,
        NcpOrganisation {
            id: Oid::parse(NCP_ROOT).expect("oid"),
            name: "E-hälsomyndigheten, nationell kontaktpunkt".into(),
            address: Address {
                lines: vec!["Box 913".into()],
                postal_code: Some("391 29".into()),
                city: Some("Kalmar".into()),
                country: Some(CountryCode::SE),
            },
            telecom: Some("tel:+46104586200".into()),
        },
    );
    opts.terminology = Some(terminology());
    opts
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fhir")
}

pub fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The ePrescription fixtures with the prescription id each holds.
pub const EPRESCRIPTIONS: &[(&str, &str)] = &[
    ("eprescription-single-tablet.json", "rx-1001"),
    ("eprescription-multi-ingredient.json", "rx-1002"),
    ("eprescription-narcotic.json", "rx-1003"),
    ("eprescription-samordningsnummer.json", "rx-1004"),
    ("eprescription-unmapped-code.json", "rx-1005"),
];

pub fn pid(s: &str) -> PrescriptionId {
    PrescriptionId::new(s).expect("prescription id")
}

/// `../shared/conformance/validate-cda`, when the shared directory is there.
pub fn validator() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/validate-cda");
    p.is_file().then_some(p)
}

/// Runs the eHDSI Wave 8 schematron validator once over `files`; returns (exit ok, output).
pub fn validate(files: &[PathBuf]) -> Option<(bool, String)> {
    let Some(v) = validator() else {
        eprintln!(
            "SKIPPED: ../shared/conformance/validate-cda not found (the shared eHDSI material is \
             not checked out beside the repository); schematron validation not run"
        );
        return None;
    };
    let out = Command::new("bash")
        .arg(v)
        .args(files)
        .output()
        .expect("run validate-cda");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}
