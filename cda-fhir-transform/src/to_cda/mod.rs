//! FHIR R4 -> eHDSI Wave 8 CDA.
//!
//! - [`eprescription_l3`]: an NLL searchset Bundle (MedicationRequest with its Medication,
//!   Patient, PractitionerRole, Practitioner, Organization) → one structured ePrescription
//!   (template `1.3.6.1.4.1.12559.11.10.1.3.1.1.1`).
//! - [`eprescription_l1`]: the same prescription as an L1 document (`…1.1.6`): same header,
//!   a `nonXMLBody` with the prescription rendered as PDF.
//! - [`edispensation`] / [`edispensation_discard`]: a Swedish pharmacy's MedicationDispense of
//!   a foreign prescription → eDispensation (`…1.1.2`), and the discard of it.
//!
//! Module split: [`fhir`] reads the FHIR JSON into small typed views (and names every missing
//! element), `header` writes the shared CDA header, `eprescription` / `edispensation` the
//! bodies, `product` the medicinal product, `narrative` the readable content (section table
//! and PDF rows), `pdf` the PDF renderer, `xml` the writer and the data-type helpers (the
//! eHDSI OTH rule for unmapped codes), `terms` the calls into the `terminology` crate.
//!
//! Ids: documents get `document_id_root` + the NLL id; the prescription item (the
//! substanceAdministration) is `prescription_id_root` + the NLL prescription id, which is also
//! the `relatedDocument XFRM` parent (the national original). Logs never carry patient data.

mod edispensation;
mod eprescription;
pub mod fhir;
mod header;
mod narrative;
mod patient_summary;
mod pdf;
mod product;
mod terms;
mod xml;

use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use ncp_types::{Oid, PrescriptionId};
use serde_json::Value;
use terminology::Terminology;
use tracing::debug;

pub use fhir::Address;
pub use patient_summary::{
    patient_summary_l1, patient_summary_l3, PatientSummaryInput, PsAuthor, PsEntry, PsSection,
};

/// Why a document could not be written. Paths are FHIR element paths
/// (`MedicationRequest.medicationReference`, `Patient.identifier`, …).
///
/// The message (`Display`) names no prescription id and no referenced resource's id: those are
/// the patient's (`Patient/191212121212`, a prescription id) and the message is logged. The
/// fields keep them for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToCdaError {
    #[error("the requested MedicationRequest is not in the bundle")]
    PrescriptionNotFound(String),
    #[error("missing FHIR element {path}")]
    Missing { path: String },
    #[error("{path} refers to {}, which is not in the bundle", reference_kind(.reference))]
    UnresolvedReference { path: String, reference: String },
    #[error("invalid FHIR element {path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// A reference for messages: its resource type, the id masked (`Patient/191212121212` →
/// `Patient/…`); a reference of any other shape is not echoed.
fn reference_kind(reference: &str) -> String {
    let ty = reference
        .trim_start_matches('#')
        .rsplit('/')
        .nth(1)
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphabetic()));
    match ty {
        Some(t) => format!("{t}/…"),
        None => "a resource".to_owned(),
    }
}

/// The organisation that keeps the documents (the Swedish NCP): CDA `custodian`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NcpOrganisation {
    pub id: Oid,
    pub name: String,
    pub address: Address,
    /// Phone (`+46…`) or `mailto:`/`tel:` URL; written as `telecom/@value`.
    pub telecom: Option<String>,
}

/// What the writers need besides the FHIR data.
#[derive(Debug, Clone)]
pub struct CdaOptions {
    /// Root of the CDA document ids this NCP issues (`ClinicalDocument/id/@root`).
    pub document_id_root: Oid,
    /// Root of NLL prescription ids in CDA (the prescription item id and the XFRM parent).
    pub prescription_id_root: Oid,
    /// Root of Swedish dispensation ids in CDA (the eDispensation supply id).
    pub dispense_id_root: Oid,
    /// The document's creation time (`ClinicalDocument/effectiveTime`).
    pub now: DateTime<FixedOffset>,
    pub custodian: NcpOrganisation,
    /// The terminology to transcode with; `None` uses [`Terminology::embedded`] (embedded
    /// data plus the MVC from `$NCP_MVC_DIR` or the default shared directory).
    pub terminology: Option<Arc<Terminology>>,
}

impl CdaOptions {
    /// The terminology the writers use.
    pub fn terminology(&self) -> &Terminology {
        match &self.terminology {
            Some(t) => t,
            None => Terminology::embedded(),
        }
    }

    /// Options under the NCP's own OID arc: documents `{ncp_root}.1`, NLL prescriptions
    /// `{ncp_root}.2`, dispensations `{ncp_root}.3`; the custodian is the NCP.
    pub fn under(
        ncp_root: &Oid,
        now: DateTime<FixedOffset>,
        custodian: NcpOrganisation,
    ) -> CdaOptions {
        let arc = |n: u8| {
            Oid::parse(&format!("{}.{n}", ncp_root.as_str())).unwrap_or_else(|_| ncp_root.clone())
        };
        CdaOptions {
            document_id_root: arc(1),
            prescription_id_root: arc(2),
            dispense_id_root: arc(3),
            now,
            custodian,
            terminology: None,
        }
    }
}

/// The L1 document id extension for a prescription (`{id}.L1`); the L3 document uses the id.
pub fn l1_document_extension(prescription_id: &PrescriptionId) -> String {
    format!(
        "{}{}",
        prescription_id.as_str(),
        eprescription::L1_ID_SUFFIX
    )
}

/// The discard document id extension for a dispensation (`{id}.discard`).
pub fn discard_document_extension(dispense_id: &str) -> String {
    format!("{dispense_id}{}", edispensation::DISCARD_ID_SUFFIX)
}

/// eHDSI Wave 8 ePrescription L3 for the MedicationRequest `prescription_id` (its `id` or NLL
/// identifier) in an NLL searchset `bundle`.
pub fn eprescription_l3(
    bundle: &Value,
    prescription_id: &PrescriptionId,
    opts: &CdaOptions,
) -> Result<String, ToCdaError> {
    let p = fhir::PrescriptionView::from_bundle(bundle, prescription_id.as_str())?;
    let doc = eprescription::write(&p, opts, eprescription::Level::L3)?;
    debug!(
        template = eprescription::L3_TEMPLATE,
        bytes = doc.len(),
        "ePrescription L3 written"
    );
    Ok(doc)
}

/// eHDSI Wave 8 ePrescription L1: the same header as L3, the prescription as a PDF.
pub fn eprescription_l1(
    bundle: &Value,
    prescription_id: &PrescriptionId,
    opts: &CdaOptions,
) -> Result<String, ToCdaError> {
    let p = fhir::PrescriptionView::from_bundle(bundle, prescription_id.as_str())?;
    let doc = eprescription::write(&p, opts, eprescription::Level::L1)?;
    debug!(
        template = eprescription::L1_TEMPLATE,
        bytes = doc.len(),
        "ePrescription L1 written"
    );
    Ok(doc)
}

/// eHDSI Wave 8 eDispensation from a Swedish MedicationDispense (status `completed`), given as
/// a Bundle or as the resource with `contained` resources. It must reference: `subject` (the
/// patient, with a Swedish or `urn:oid:` identifier), `medicationReference` (the dispensed
/// product), `performer[0].actor` (PractitionerRole → pharmacist and pharmacy with HSA-ids),
/// and `authorizingPrescription` whose `identifier` (or the referenced MedicationRequest's
/// `urn:oid:` identifiers: document id, then item id) is the foreign ePrescription's id.
pub fn edispensation(dispense: &Value, opts: &CdaOptions) -> Result<String, ToCdaError> {
    let d = fhir::DispenseView::parse(dispense)?;
    if d.discarded {
        return Err(ToCdaError::Invalid {
            path: "MedicationDispense.status".into(),
            reason: "entered-in-error: write it with edispensation_discard".into(),
        });
    }
    let doc = edispensation::write(&d, opts, false)?;
    debug!(
        template = edispensation::TEMPLATE,
        bytes = doc.len(),
        "eDispensation written"
    );
    Ok(doc)
}

/// The discard of a dispensation: an eDispensation document (same template) that replaces
/// the dispensation's document (`relatedDocument RPLC`, same `setId`, `versionNumber` 2) and
/// whose supply is `nullified`. Accepts the MedicationDispense before or after NLL marked it
/// `entered-in-error`.
pub fn edispensation_discard(dispense: &Value, opts: &CdaOptions) -> Result<String, ToCdaError> {
    let mut d = fhir::DispenseView::parse(dispense)?;
    d.discarded = true;
    let doc = edispensation::write(&d, opts, true)?;
    debug!(
        template = edispensation::TEMPLATE,
        bytes = doc.len(),
        "eDispensation discard written"
    );
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages are logged (`error = %e`): they name no patient or prescription id.
    #[test]
    fn messages_do_not_echo_ids() {
        let not_found = ToCdaError::PrescriptionNotFound("rx-4711-secret".into()).to_string();
        assert!(!not_found.contains("rx-4711-secret"), "{not_found}");
        let unresolved = ToCdaError::UnresolvedReference {
            path: "MedicationRequest.subject".into(),
            reference: "Patient/191212121212".into(),
        }
        .to_string();
        assert!(!unresolved.contains("191212121212"), "{unresolved}");
        assert!(unresolved.contains("Patient/…"), "{unresolved}");
        assert!(
            unresolved.contains("MedicationRequest.subject"),
            "{unresolved}"
        );
        for odd in [
            "urn:uuid:191212121212",
            "191212121212",
            "a/b/c/19121212 1212",
        ] {
            let m = ToCdaError::UnresolvedReference {
                path: "p".into(),
                reference: odd.into(),
            }
            .to_string();
            assert!(!m.contains("1212"), "{m}");
        }
    }
}
