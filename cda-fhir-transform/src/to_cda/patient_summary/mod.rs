//! eHDSI Wave 8 Patient Summary (L3 `1.3.6.1.4.1.12559.11.10.1.3.1.1.3`, L1 `…1.1.7`) from
//! FHIR R4 resources compiled from Swedish care providers.
//!
//! The caller (ncp-core) fetches, applies blocks and merges duplicates; this module only
//! writes. Files: `input` (what the writers take), `context` (document-wide values and entry
//! ids), `view` (reading codes and dates from FHIR), `header`, `section` (section frame,
//! narrative table, entry author), one file per section kind, `document` (assembly of L3 and
//! L1, the empty-section forms and the incomplete marker).

mod allergies;
mod context;
mod devices;
mod document;
mod header;
mod immunizations;
mod input;
mod medications;
mod problems;
mod procedures;
mod section;
mod view;
mod vital_signs;

pub use input::{PatientSummaryInput, PsAuthor, PsEntry, PsSection};

use tracing::debug;

use super::{CdaOptions, ToCdaError};

/// The eHDSI Patient Summary L3 template.
pub const L3_TEMPLATE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.1.3";
/// The eHDSI Patient Summary L1 (PDF) template.
pub const L1_TEMPLATE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.1.7";

/// Why a required section is empty, written with the eHDSI absent/unknown codes: a known
/// absence (`no-known-…`) only when a provider asserted it and every provider answered;
/// otherwise "no information" (`no-…-info`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Absence {
    Known,
    NoInformation,
}

/// eHDSI Wave 8 Patient Summary L3 (structured body).
pub fn patient_summary_l3(
    input: &PatientSummaryInput,
    opts: &CdaOptions,
) -> Result<String, ToCdaError> {
    let doc = document::write(input, opts, document::Level::L3)?;
    debug!(
        template = L3_TEMPLATE,
        bytes = doc.len(),
        entries = input.entries.len(),
        incomplete = input.incomplete,
        "Patient Summary L3 written"
    );
    Ok(doc)
}

/// eHDSI Wave 8 Patient Summary L1: the same header, the summary as a PDF.
pub fn patient_summary_l1(
    input: &PatientSummaryInput,
    opts: &CdaOptions,
) -> Result<String, ToCdaError> {
    let doc = document::write(input, opts, document::Level::L1)?;
    debug!(
        template = L1_TEMPLATE,
        bytes = doc.len(),
        entries = input.entries.len(),
        incomplete = input.incomplete,
        "Patient Summary L1 written"
    );
    Ok(doc)
}
