//! eHDSI Wave 8 Patient Summary (L3 `1.3.6.1.4.1.12559.11.10.1.3.1.1.3`, L1 `…1.1.7`) from
//! FHIR R4 resources compiled from Swedish care providers.

mod input;

pub use input::{PatientSummaryInput, PsAuthor, PsEntry, PsSection};

use super::{CdaOptions, ToCdaError};

/// eHDSI Wave 8 Patient Summary L3 (structured body).
pub fn patient_summary_l3(
    input: &PatientSummaryInput,
    opts: &CdaOptions,
) -> Result<String, ToCdaError> {
    let _ = (input, opts);
    Err(ToCdaError::Invalid {
        path: "Patient".into(),
        reason: "Patient Summary L3 not written yet".into(),
    })
}

/// eHDSI Wave 8 Patient Summary L1: the same header, the summary as a PDF.
pub fn patient_summary_l1(
    input: &PatientSummaryInput,
    opts: &CdaOptions,
) -> Result<String, ToCdaError> {
    let _ = (input, opts);
    Err(ToCdaError::Invalid {
        path: "Patient".into(),
        reason: "Patient Summary L1 not written yet".into(),
    })
}
