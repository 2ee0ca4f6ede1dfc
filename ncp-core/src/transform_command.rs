//! `ncp transform`: the document transformations on the command line, for conformance testers
//! and for looking at what the bridge would send.
//!
//! - `fhir-to-cda --document ep FILE`: an NLL searchset Bundle → ePrescription CDA (L3, or L1
//!   with `--level 1`), for the one MedicationRequest in it or the one named by `--prescription`.
//! - `fhir-to-cda --document ed FILE`: a MedicationDispense (resource or Bundle) → eDispensation
//!   CDA (`--discard` for the discard document).
//! - `cda-to-fhir FILE`: any eHDSI CDA this bridge reads → FHIR R4 JSON, the kind detected
//!   from the templateId.

use std::path::Path;

use cda_fhir_transform::{to_cda, to_fhir};
use ncp_types::PrescriptionId;
use serde_json::Value;

use crate::config::NcpIdentity;

/// Which eHDSI document to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DocumentKind {
    /// ePrescription.
    Ep,
    /// eDispensation.
    Ed,
}

/// The CDA level of an ePrescription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    /// L3: structured.
    #[value(name = "3")]
    L3,
    /// L1: the prescription as an embedded PDF.
    #[value(name = "1")]
    L1,
}

/// What `fhir-to-cda` is asked for.
#[derive(Debug, Clone)]
pub struct FhirToCda {
    pub document: DocumentKind,
    pub level: Level,
    pub prescription: Option<String>,
    pub discard: bool,
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

/// The MedicationRequest ids in a Bundle.
fn prescription_ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "MedicationRequest")
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect()
}

/// FHIR JSON → eHDSI CDA, as `ncp transform fhir-to-cda` does.
pub fn fhir_to_cda(
    input: &Value,
    req: &FhirToCda,
    ncp: &NcpIdentity,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> Result<String, String> {
    let opts = ncp.cda_options(now);
    match req.document {
        DocumentKind::Ep => {
            if input["resourceType"] != "Bundle" {
                return Err("an ePrescription is written from an NLL searchset Bundle (MedicationRequest with its Medication, Patient, PractitionerRole, Practitioner, Organization)".into());
            }
            let id = match &req.prescription {
                Some(id) => id.clone(),
                None => match prescription_ids(input).as_slice() {
                    [one] => one.clone(),
                    [] => return Err("the Bundle holds no MedicationRequest".into()),
                    many => {
                        return Err(format!(
                            "the Bundle holds {} MedicationRequests; choose one with --prescription ({})",
                            many.len(),
                            many.join(", ")
                        ))
                    }
                },
            };
            let id = PrescriptionId::new(id).map_err(|e| format!("--prescription: {e}"))?;
            let doc = match req.level {
                Level::L3 => to_cda::eprescription_l3(input, &id, &opts),
                Level::L1 => to_cda::eprescription_l1(input, &id, &opts),
            };
            doc.map_err(|e| e.to_string())
        }
        DocumentKind::Ed => {
            let doc = if req.discard {
                to_cda::edispensation_discard(input, &opts)
            } else {
                to_cda::edispensation(input, &opts)
            };
            doc.map_err(|e| e.to_string())
        }
    }
}

/// Reads `path` and writes the CDA, as `ncp transform fhir-to-cda FILE` does.
pub fn fhir_file_to_cda(path: &Path, req: &FhirToCda, ncp: &NcpIdentity) -> Result<String, String> {
    let input = read_json(path)?;
    fhir_to_cda(&input, req, ncp, chrono::Utc::now().fixed_offset())
}

/// Reads an eHDSI CDA file and returns its FHIR R4 JSON, pretty-printed.
pub fn cda_file_to_fhir(path: &Path) -> Result<String, String> {
    let xml = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    // Written straight to text: no `serde_json::Value` in between.
    to_fhir::cda_to_fhir_json_with(
        &xml,
        &to_fhir::ReaderLimits::default(),
        to_fhir::JsonStyle::Pretty,
    )
    .map_err(|e| e.to_string())
}
