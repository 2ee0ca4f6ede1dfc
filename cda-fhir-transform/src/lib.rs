//! eHDSI CDA R2 <-> FHIR R4 transformations.
//!
//! - [`to_cda`]: FHIR R4 (NLL's profiles, Swedish pharmacy resources) -> eHDSI Wave 8 CDA
//!   (ePrescription L3/L1, eDispensation).
//! - [`to_fhir`]: eHDSI CDA from any country (tolerant: older `epsos:` namespace, small
//!   deviations) -> FHIR R4 (MedicationRequest, MedicationDispense and their resources).

pub mod to_cda;
pub mod to_fhir;

pub use to_fhir::{cda_to_fhir, FromCdaError};
