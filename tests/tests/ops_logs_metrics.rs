//! A full Country A flow (the independent Python client: XCPD, XCA list and retrieve, XDR
//! submit and discard, the refusals) against `ncp sandbox` logging at `debug`, with the
//! operations listener on:
//!
//! - nothing the bridge logged names the patient (personnummer in any spelling, names), the
//!   prescriptions or document ids the flow handled, nor contains a document;
//! - `/health` and `/ready` answer, and `/metrics` counted the flow: requests per endpoint and
//!   ITI transaction, latency histograms, the eHDSI codes of the refusals, the calls to the
//!   national services, the outbox depth.
//!
//! Without PyPI the test prints `SKIPPED: ...` and passes.

mod ops_support;

use std::collections::BTreeSet;
use std::time::Duration;

use e2e_tests::Sandbox;
use ops_support::{client_python, run_flow};

/// The patient of the flow (sweden-sim p01), every way it can be written.
const PATIENT_SECRETS: [&str; 6] = [
    "191212121212",
    "19121212-1212",
    "121212-1212",
    "1212121212",
    "Tolvan",
    "Tolvansson",
];

/// Identifiers and names in a CDA the flow exchanged: every `extension` of an `id` (patient,
/// prescriptions, documents, HCPs), and the patient's given and family names.
fn secrets_of_cda(xml: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let doc = roxmltree::Document::parse(xml).expect("saved CDA parses");
    for n in doc.descendants().filter(|n| n.is_element()) {
        if n.tag_name().name() == "id" {
            if let Some(ext) = n.attribute("extension") {
                if ext.len() >= 6 {
                    out.insert(ext.to_owned());
                }
            }
        }
        if matches!(n.tag_name().name(), "given" | "family") {
            if let Some(t) = n.text().map(str::trim).filter(|t| t.len() >= 3) {
                out.insert(t.to_owned());
            }
        }
    }
    out
}

fn get(url: &str) -> (u16, String) {
    let r = reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (r.status().as_u16(), r.text().unwrap_or_default())
}

/// The sum of the samples of `metric` whose labels include every one of `labels`.
fn sample(metrics: &str, metric: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name_labels, value) = l.rsplit_once(' ')?;
            let (name, rest) = name_labels.split_once('{').unwrap_or((name_labels, ""));
            (name == metric && labels.iter().all(|want| rest.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

#[test]
fn a_full_flow_at_debug_logs_no_patient_data_and_moves_the_metrics() {
    let Some(python) = client_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let sb = Sandbox::start_logging(dir.path(), &["--ops-listen", "127.0.0.1:0"], "debug");
    let ops = sb.endpoints["ops"]
        .as_str()
        .expect("endpoints.json names the ops listener")
        .to_owned();

    assert_eq!(get(&format!("{ops}/health")), (200, "ok\n".to_owned()));
    let (status, body) = get(&format!("{ops}/ready"));
    assert_eq!(status, 200, "not ready before the flow: {body}");

    let docs = tempfile::tempdir().expect("temp dir");
    run_flow(python, &sb, docs.path());

    let (status, metrics) = get(&format!("{ops}/metrics"));
    assert_eq!(status, 200);
    for (endpoint, tx) in [
        ("/ncp/xcpd", "ITI-55"),
        ("/ncp/xca", "ITI-38"),
        ("/ncp/xca", "ITI-39"),
        ("/ncp/xdr", "ITI-41"),
    ] {
        let e = format!("endpoint=\"{endpoint}\"");
        let t = format!("transaction=\"{tx}\"");
        assert!(
            sample(&metrics, "ncp_requests_total", &[&e, &t, "status=\"200\""]) >= 1.0,
            "no answered {tx} counted:\n{metrics}"
        );
        assert!(
            sample(&metrics, "ncp_request_duration_seconds_count", &[&e, &t]) >= 1.0,
            "no {tx} latency recorded:\n{metrics}"
        );
    }
    assert!(
        sample(
            &metrics,
            "ncp_request_duration_seconds_bucket",
            &["le=\"+Inf\""]
        ) >= 5.0,
        "latency histograms have buckets:\n{metrics}"
    );
    // The client's negative checks: two assertions refused (4704), one sent over another
    // NCP's connection (4703), a TRC for another patient (4206).
    for code in ["4704", "4703", "4206"] {
        assert!(
            sample(
                &metrics,
                "ncp_ehdsi_errors_total",
                &[&format!("code=\"{code}\"")]
            ) >= 1.0,
            "eHDSI {code} not counted:\n{metrics}"
        );
    }
    assert!(
        sample(
            &metrics,
            "ncp_upstream_request_duration_seconds_count",
            &["service=\"nll\""]
        ) >= 1.0,
        "no NLL call timed:\n{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ncp_outbox_pending ")),
        "outbox depth missing:\n{metrics}"
    );
    assert!(metrics.lines().any(|l| l == "ncp_ready 1"), "{metrics}");

    let (clean, logs) = sb.stop();
    assert!(clean, "ncp sandbox did not exit cleanly");
    assert!(
        logs.lines().count() > 50 && logs.contains("DEBUG"),
        "the bridge did not log at debug:\n{logs}"
    );

    let mut secrets: BTreeSet<String> = PATIENT_SECRETS.iter().map(|s| s.to_string()).collect();
    for file in ["eprescription-l3.xml", "edispensation.xml"] {
        let xml = std::fs::read_to_string(docs.path().join(file)).expect("saved CDA");
        secrets.extend(secrets_of_cda(&xml));
    }
    assert!(
        secrets.len() > PATIENT_SECRETS.len() + 3,
        "too few identifiers found in the documents: {secrets:?}"
    );
    // The bridge's lines: the sandbox's simulators of the national services log too (they
    // stand in for systems outside the bridge, and name their own FHIR base URLs).
    let bridge_logs: Vec<&str> = logs
        .lines()
        .filter(|l| !l.contains("sweden_sim::"))
        .collect();
    let leaks: Vec<String> = secrets
        .iter()
        .filter_map(|s| {
            bridge_logs
                .iter()
                .find(|l| l.contains(s.as_str()))
                .map(|l| format!("{s}: {l}"))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "the bridge logged patient data:\n{}",
        leaks.join("\n")
    );
    for body in ["ClinicalDocument", "<?xml", "\"resourceType\""] {
        assert!(
            !bridge_logs.iter().any(|l| l.contains(body)),
            "a document body ({body}) in the log"
        );
    }
}
