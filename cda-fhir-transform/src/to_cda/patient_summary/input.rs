//! What the Patient Summary writers take: the patient, the compiled entries (already filtered
//! for blocks and de-duplicated by the caller), each with the care provider it came from.

use chrono::{DateTime, Utc};
use ncp_types::HsaId;
use serde_json::Value;

/// The care provider an entry came from; written as the entry's `author`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsAuthor {
    pub hsa_id: HsaId,
    pub name: String,
}

/// One FHIR R4 resource as the provider served it.
#[derive(Debug, Clone, PartialEq)]
pub struct PsEntry {
    pub resource: Value,
    pub author: PsAuthor,
}

/// The Wave 8 Patient Summary sections the bridge writes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PsSection {
    Problems,
    Allergies,
    Medications,
    PastIllnesses,
    Procedures,
    Devices,
    Immunizations,
    VitalSigns,
}

impl PsSection {
    /// Every section, in the order the document lists them.
    pub const ALL: [PsSection; 8] = [
        PsSection::Allergies,
        PsSection::Problems,
        PsSection::Medications,
        PsSection::PastIllnesses,
        PsSection::Procedures,
        PsSection::Devices,
        PsSection::Immunizations,
        PsSection::VitalSigns,
    ];

    /// The section a FHIR resource belongs in, or `None` if the summary has no place for it.
    ///
    /// Condition: `clinicalStatus` active/recurrence/relapse (or absent) → Problems,
    /// resolved/inactive/remission → PastIllnesses; AllergyIntolerance → Allergies;
    /// MedicationStatement/MedicationRequest → Medications; Procedure → Procedures;
    /// DeviceUseStatement/Device → Devices; Immunization → Immunizations; Observation with
    /// category `vital-signs` → VitalSigns.
    pub fn of(resource: &Value) -> Option<PsSection> {
        match resource.get("resourceType")?.as_str()? {
            "Condition" => {
                let status = resource
                    .pointer("/clinicalStatus/coding")
                    .and_then(Value::as_array)
                    .and_then(|c| c.iter().find_map(|c| c.get("code")?.as_str()));
                match status {
                    None | Some("active" | "recurrence" | "relapse") => Some(PsSection::Problems),
                    Some("resolved" | "inactive" | "remission") => Some(PsSection::PastIllnesses),
                    Some(_) => None,
                }
            }
            "AllergyIntolerance" => Some(PsSection::Allergies),
            "MedicationStatement" | "MedicationRequest" => Some(PsSection::Medications),
            "Procedure" => Some(PsSection::Procedures),
            "DeviceUseStatement" | "Device" => Some(PsSection::Devices),
            "Immunization" => Some(PsSection::Immunizations),
            "Observation" => {
                let vital = resource
                    .get("category")
                    .and_then(Value::as_array)
                    .is_some_and(|cats| {
                        cats.iter().any(|c| {
                            c.get("coding").and_then(Value::as_array).is_some_and(|cs| {
                                cs.iter().any(|c| {
                                    c.get("code").and_then(Value::as_str) == Some("vital-signs")
                                })
                            })
                        })
                    });
                vital.then_some(PsSection::VitalSigns)
            }
            _ => None,
        }
    }
}

/// Everything one Patient Summary document is written from. `Debug` prints counts only (the
/// patient and the entries are the patient's data).
#[derive(Clone)]
pub struct PatientSummaryInput {
    /// FHIR Patient (as NLL / the providers serve it).
    pub patient: Value,
    /// Already filtered for blocks and de-duplicated by the caller.
    pub entries: Vec<(PsSection, PsEntry)>,
    /// Some provider did not answer: the document says so.
    pub incomplete: bool,
    /// `ClinicalDocument/id/@extension` (under `CdaOptions::document_id_root`).
    pub document_id: String,
    /// `ClinicalDocument/effectiveTime`.
    pub effective_time: DateTime<Utc>,
}

impl std::fmt::Debug for PatientSummaryInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientSummaryInput")
            .field("entries", &self.entries.len())
            .field("incomplete", &self.incomplete)
            .field("effective_time", &self.effective_time)
            .finish_non_exhaustive()
    }
}

impl PatientSummaryInput {
    /// The entries of one section, in input order.
    pub fn section(&self, section: PsSection) -> impl Iterator<Item = &PsEntry> {
        self.entries
            .iter()
            .filter(move |(s, _)| *s == section)
            .map(|(_, e)| e)
    }
}
