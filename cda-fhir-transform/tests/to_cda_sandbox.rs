//! The writers on every prescription the NLL simulator (`sweden-sim`) serves cross-border:
//! each active or completed prescription becomes an L3 and an L1 document, and all of them
//! pass the eHDSI Wave 8 schematrons (one validator run).

#[path = "to_cda_support.rs"]
mod support;

use cda_fhir_transform::to_cda::{eprescription_l1, eprescription_l3};
use support::*;
use sweden_sim::{start, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sandbox_prescription_becomes_valid_cda() {
    let sims = start(SimConfig::default()).await.expect("simulators start");
    let opts = options();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    let mut failures = Vec::new();
    let mut shared = 0usize;
    for (key, bundle, ids) in sandbox_prescriptions(sims.nll.as_str()).await {
        for id in ids {
            shared += 1;
            for (level, doc) in [
                ("L3", eprescription_l3(&bundle, &pid(&id), &opts)),
                ("L1", eprescription_l1(&bundle, &pid(&id), &opts)),
            ] {
                match doc {
                    Ok(xml) => {
                        let path = dir.path().join(format!("{key}-{id}-{level}.xml"));
                        std::fs::write(&path, xml).expect("write");
                        files.push(path);
                    }
                    Err(e) => failures.push(format!("{key} {id} {level}: {e}")),
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
