//! Shared helpers for the `to_cda_*` tests (included with `#[path]`; also built on its own).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use cda_fhir_transform::to_cda::{
    Address, CdaOptions, NcpOrganisation, PatientSummaryInput, PsAuthor, PsEntry, PsSection,
};
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
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

/// Checks a validator report over `files`: success, one summary line per document, no error
/// anywhere. `TO_CDA_KEEP` set keeps the documents' directory (printed) for a look.
pub fn assert_schematron_clean(files: &[PathBuf], ok: bool, report: &str, dir: tempfile::TempDir) {
    if std::env::var_os("TO_CDA_KEEP").is_some() {
        eprintln!("documents kept in {}", dir.keep().display());
    }
    assert!(ok, "schematron errors:\n{report}");
    // The validator prints one summary line per document; all of them with zero errors.
    let summaries = report.lines().filter(|l| l.contains("\"errors\"")).count();
    assert_eq!(
        summaries,
        files.len(),
        "one summary per document:\n{report}"
    );
    assert!(
        !report.lines().any(|l| l.contains("\"role\": \"error\"")),
        "{report}"
    );
}

/// The day the Patient Summary tests look at the providers' records from.
pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).expect("date")
}

/// The summary input for synthetic patient `key`, from every record the providers hold.
pub fn input_for(key: &str) -> PatientSummaryInput {
    let patient = sweden_sim::patient_resource(key).expect("synthetic patient");
    let person = sweden_sim::patients()
        .iter()
        .find(|p| p.key == key)
        .expect("patient")
        .id
        .clone();
    let entries = sweden_sim::clinical_records(today())
        .into_iter()
        .filter(|(_, _, p, _)| *p == person)
        .filter_map(|(hsa_id, name, _, resource)| {
            let section = PsSection::of(&resource)?;
            Some((
                section,
                PsEntry {
                    resource,
                    author: PsAuthor {
                        hsa_id,
                        name: name.to_owned(),
                    },
                },
            ))
        })
        .collect();
    PatientSummaryInput {
        patient,
        entries,
        incomplete: false,
        document_id: format!("ps-{key}"),
        effective_time: Utc.with_ymd_and_hms(2026, 11, 24, 11, 0, 0).unwrap(),
    }
}

/// What the sandbox NLL at `nll` shares cross-border, patient by patient: the key, the
/// MedicationRequest search Bundle (medication, requester and subject included) and the ids of
/// its active or completed prescriptions. A patient NLL refuses is left out (said on stderr).
pub async fn sandbox_prescriptions(nll: &str) -> Vec<(&'static str, Value, Vec<String>)> {
    let http = reqwest::Client::new();
    let base = nll.trim_end_matches('/');
    let mut out = Vec::new();
    for p in sweden_sim::patients() {
        let mut url = reqwest::Url::parse(&format!("{base}/MedicationRequest")).expect("url");
        url.query_pairs_mut()
            .append_pair(
                "patient.identifier",
                &format!("{}|{}", p.id.system_uri(), p.id.as_str()),
            )
            .append_pair("_include", "MedicationRequest:medication")
            .append_pair("_include", "MedicationRequest:requester")
            .append_pair("_include", "MedicationRequest:subject")
            .append_pair("_count", "100");
        let resp = http
            .get(url)
            .header("Accept", "application/fhir+json")
            .header("X-Caller-HsaId", "SE2321000016-NCP1")
            .header("X-Caller-Role", "ncp")
            .header("X-Purpose", "cross-border")
            .header("X-Access", "normal")
            .send()
            .await
            .expect("NLL answers");
        if !resp.status().is_success() {
            eprintln!("{}: NLL answered {}", p.key, resp.status());
            continue;
        }
        let bundle: Value = resp.json().await.expect("bundle");
        let ids: Vec<String> = bundle["entry"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] == "MedicationRequest")
            .filter(|r| matches!(r["status"].as_str(), Some("active" | "completed")))
            .map(|r| r["id"].as_str().expect("id").to_owned())
            .collect();
        out.push((p.key, bundle, ids));
    }
    out
}
