//! The writers on every prescription the NLL simulator (`sweden-sim`) serves cross-border:
//! each active or completed prescription becomes an L3 and an L1 document, and all of them
//! pass the eHDSI Wave 8 schematrons (one validator run).

#[path = "to_cda_support.rs"]
mod support;

use cda_fhir_transform::to_cda::{eprescription_l1, eprescription_l3};
use serde_json::Value;
use support::*;
use sweden_sim::{patients, start, SimConfig};

const BRIDGE: &str = "SE2321000016-NCP1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sandbox_prescription_becomes_valid_cda() {
    let sims = start(SimConfig::default()).await.expect("simulators start");
    let http = reqwest::Client::new();
    let opts = options();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    let mut failures = Vec::new();
    let mut shared = 0usize;
    for p in patients() {
        let base = sims.nll.as_str().trim_end_matches('/');
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
            .header("X-Caller-HsaId", BRIDGE)
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
        let requests = bundle["entry"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] == "MedicationRequest")
            .filter(|r| matches!(r["status"].as_str(), Some("active" | "completed")));
        for mr in requests {
            let id = mr["id"].as_str().expect("id");
            shared += 1;
            for (level, doc) in [
                ("L3", eprescription_l3(&bundle, &pid(id), &opts)),
                ("L1", eprescription_l1(&bundle, &pid(id), &opts)),
            ] {
                match doc {
                    Ok(xml) => {
                        let path = dir.path().join(format!("{}-{id}-{level}.xml", p.key));
                        std::fs::write(&path, xml).expect("write");
                        files.push(path);
                    }
                    Err(e) => failures.push(format!("{} {id} {level}: {e}", p.key)),
                }
            }
        }
    }
    sims.shutdown().await;
    eprintln!("{shared} sandbox prescriptions, {} documents", files.len());
    assert!(failures.is_empty(), "not written:\n{}", failures.join("\n"));
    assert!(shared >= 5, "the sandbox shares prescriptions ({shared})");
    if let Some((ok, report)) = validate(&files) {
        assert!(ok, "schematron errors:\n{report}");
    }
}
