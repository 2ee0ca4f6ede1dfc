//! eHDSI CDA -> FHIR R4.
//!
//! - [`read_cda`]: a tolerant, hostile-input-proof reader into the typed [`CdaDocument`]
//!   (HL7 v3 with the Wave 8 `pharm:` or the older `epsos:` medication namespace; no DTD, size,
//!   depth and element-count limits).
//! - [`eprescription_to_fhir`]: country B, a foreign ePrescription -> a `collection` Bundle of
//!   `MedicationRequest` (one per item), `Medication`, `Patient`, prescriber resources, and the
//!   L1 PDF as a `Binary`.
//! - [`edispensation_to_fhir`] / [`edispensation_discard_to_fhir`]: country A, an eDispensation of
//!   a Swedish prescription -> NLL `MedicationDispense` instructions (record, or mark
//!   `entered-in-error`).
//! - [`cda_to_fhir`]: picks the conversion from the document's templateId.
//! - [`cda_to_fhir_json`]: the same conversion written straight to FHIR JSON text (no
//!   `serde_json::Value` in between; what the bridge forwards). Both come from one set of
//!   `Serialize` views over the typed model, so they cannot disagree.
//!
//! Errors ([`FromCdaError`]) name the element (an XPath-like location) and what is wrong, and
//! never contain patient data.

#[macro_use]
mod macros {
    /// `serde_json::json!`-like object literals that move their values (`json!` serialises
    /// every interpolated `Value` again, a deep copy), built in one go from their entries.
    macro_rules! j {
        ({ $($tt:tt)* }) => {
            serde_json::Value::Object(j_obj!(@acc [] $($tt)*))
        };
        ($e:expr) => {
            serde_json::Value::from($e)
        };
    }

    macro_rules! j_obj {
        (@acc [$($done:tt)*]) => {
            <serde_json::Map<String, serde_json::Value> as FromIterator<(
                String,
                serde_json::Value,
            )>>::from_iter([$($done)*])
        };
        (@acc [$($done:tt)*] $k:literal : { $($v:tt)* } $(, $($rest:tt)*)?) => {
            j_obj!(@acc [$($done)* (String::from($k), j!({ $($v)* })),] $($($rest)*)?)
        };
        (@acc [$($done:tt)*] $k:literal : $v:expr $(, $($rest:tt)*)?) => {
            j_obj!(@acc [$($done)* (String::from($k), serde_json::Value::from($v)),] $($($rest)*)?)
        };
    }
}

mod cda_model;
mod dom;
mod edispensation;
mod eprescription;
pub mod fhir_json;
mod parse;
mod patient_summary;
mod swedish;

use serde::ser::{Serialize, Serializer};
use serde_json::Value;

pub use cda_model::*;
pub use edispensation::{transaction_bundle, DispenseInstruction};

/// Limits that keep a hostile document from exhausting the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderLimits {
    /// Maximum document size in bytes (L1 documents carry a base64 PDF: allow some MB).
    pub max_bytes: usize,
    /// Maximum element nesting depth.
    pub max_depth: usize,
    /// Maximum number of elements.
    pub max_elements: usize,
}

impl Default for ReaderLimits {
    fn default() -> Self {
        ReaderLimits {
            max_bytes: 32 * 1024 * 1024,
            max_depth: 64,
            max_elements: 200_000,
        }
    }
}

/// Why a CDA document could not be converted. Locations are XPath-like
/// (`/ClinicalDocument/recordTarget/patientRole`); values are echoed only when they cannot
/// be patient data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FromCdaError {
    #[error("not well-formed XML (byte {position}): {message}")]
    Xml { position: u64, message: String },
    #[error("DOCTYPE declarations are refused (no DTD or entity processing)")]
    Doctype,
    #[error("document is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("elements nested deeper than {limit} below {at}")]
    TooDeep { limit: usize, at: String },
    #[error("more than {limit} elements")]
    TooManyElements { limit: usize },
    #[error("root element <{found}> is not an HL7 CDA ClinicalDocument")]
    NotCda { found: String },
    #[error(
        "{at}: no eHDSI ePrescription/eDispensation/Patient Summary templateId (found {found:?})"
    )]
    UnknownTemplate { at: String, found: Vec<String> },
    #[error("{at}: missing {what}")]
    Missing { at: String, what: &'static str },
    #[error("{at}: invalid value{}: {reason}", value.as_deref().map(|v| format!(" {v:?}")).unwrap_or_default())]
    Invalid {
        at: String,
        value: Option<String>,
        reason: &'static str,
    },
    #[error("a {found} cannot be converted here ({expected} expected)")]
    WrongKind {
        found: DocumentKind,
        expected: &'static str,
    },
    #[error("the FHIR JSON could not be written: {0}")]
    Output(String),
}

/// How [`cda_to_fhir_json_with`] lays out the JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonStyle {
    /// No whitespace (what goes over the wire).
    #[default]
    Compact,
    /// Two-space indentation (for people: `ncp transform cda-to-fhir`).
    Pretty,
}

/// Reads a CDA document into the typed model with the default [`ReaderLimits`].
pub fn read_cda(xml: &str) -> Result<CdaDocument, FromCdaError> {
    read_cda_with_limits(xml, &ReaderLimits::default())
}

/// Reads a CDA document into the typed model.
pub fn read_cda_with_limits(xml: &str, limits: &ReaderLimits) -> Result<CdaDocument, FromCdaError> {
    parse::parse_document(xml, limits)
}

/// The kind of an eHDSI document, from its templateId.
pub fn detect_kind(xml: &str) -> Result<DocumentKind, FromCdaError> {
    let dom = dom::Dom::parse(xml, &ReaderLimits::default())?;
    parse::detect(&dom)
}

/// Converts any supported eHDSI document, chosen by its templateId:
/// ePrescription L3/L1 -> `collection` Bundle (see [`eprescription_to_fhir`]);
/// eDispensation -> `transaction` Bundle of NLL instructions (see [`edispensation_to_fhir`]);
/// Patient Summary L1 -> `collection` Bundle with the Patient and the PDF `Binary`;
/// Patient Summary L3 -> `document` Bundle (see [`patient_summary_to_fhir`]).
///
/// To forward the result as text, [`cda_to_fhir_json`] writes the same JSON faster.
pub fn cda_to_fhir(xml: &str) -> Result<Value, FromCdaError> {
    cda_to_fhir_with_limits(xml, &ReaderLimits::default())
}

/// [`cda_to_fhir`] with explicit reader limits (e.g. a larger `max_bytes` for big L1 PDFs).
pub fn cda_to_fhir_with_limits(xml: &str, limits: &ReaderLimits) -> Result<Value, FromCdaError> {
    let doc = read_cda_with_limits(xml, limits)?;
    let value = fhir_json::to_value(&fhir_view(&doc)?);
    // The views never write a null or an empty member (FHIR JSON forbids them).
    debug_assert!(!fhir_json::has_empty_members(&value));
    Ok(value)
}

/// [`cda_to_fhir`] written as compact FHIR JSON text: the same JSON (members in the same
/// order) without building a `serde_json::Value`. The document must be UTF-8, as eHDSI
/// documents are.
pub fn cda_to_fhir_json(xml: &[u8]) -> Result<String, FromCdaError> {
    cda_to_fhir_json_with(xml, &ReaderLimits::default(), JsonStyle::Compact)
}

/// [`cda_to_fhir_json`] with explicit reader limits and layout.
pub fn cda_to_fhir_json_with(
    xml: &[u8],
    limits: &ReaderLimits,
    style: JsonStyle,
) -> Result<String, FromCdaError> {
    if xml.len() > limits.max_bytes {
        return Err(FromCdaError::TooLarge {
            size: xml.len(),
            limit: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(xml).map_err(|e| FromCdaError::Xml {
        position: e.valid_up_to() as u64,
        message: "not UTF-8 (eHDSI documents are UTF-8)".into(),
    })?;
    let doc = read_cda_with_limits(text, limits)?;
    let view = fhir_view(&doc)?;
    // Room for the larger of the two: the JSON is mostly shorter than the CDA, except that
    // an L1's base64 PDF is copied whole.
    let mut out = Vec::with_capacity(text.len() + 1024);
    match style {
        JsonStyle::Compact => serde_json::to_writer(&mut out, &view),
        JsonStyle::Pretty => serde_json::to_writer_pretty(&mut out, &view),
    }
    .map_err(|e| FromCdaError::Output(e.to_string()))?;
    let out = String::from_utf8(out).map_err(|e| FromCdaError::Output(e.to_string()))?;
    debug_assert!(
        serde_json::from_str::<Value>(&out).is_ok_and(|v| !fhir_json::has_empty_members(&v))
    );
    Ok(out)
}

/// What [`cda_to_fhir`] makes of a document, ready to be written.
enum FhirView<'a> {
    EPrescription(eprescription::EPrescriptionBundleJ<'a>),
    Dispensations(edispensation::TransactionJ<'a>),
    /// Built as a Value (the Patient Summary: no speed goal, many resource kinds).
    Value(Value),
}

impl Serialize for FhirView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FhirView::EPrescription(b) => b.serialize(s),
            FhirView::Dispensations(b) => b.serialize(s),
            FhirView::Value(v) => v.serialize(s),
        }
    }
}

fn fhir_view(doc: &CdaDocument) -> Result<FhirView<'_>, FromCdaError> {
    match doc.kind {
        DocumentKind::EPrescriptionL3
        | DocumentKind::EPrescriptionL1
        | DocumentKind::PatientSummaryL1 => eprescription_bundle(doc).map(FhirView::EPrescription),
        DocumentKind::EDispensation => Ok(FhirView::Dispensations(edispensation::TransactionJ(
            edispensation::plan(doc, None)?,
        ))),
        DocumentKind::PatientSummaryL3 => patient_summary_bundle(doc).map(FhirView::Value),
    }
}

fn patient_summary_bundle(doc: &CdaDocument) -> Result<Value, FromCdaError> {
    if doc.sections.is_empty() {
        return Err(FromCdaError::Missing {
            at: "/ClinicalDocument/component/structuredBody".into(),
            what: "component/section (the summary's sections)",
        });
    }
    patient_summary::to_bundle(doc)
}

/// Country B: a foreign Patient Summary L3 -> FHIR R4 `document` Bundle (Composition with
/// one section per PS section, Patient, author and custodian, and the entries as
/// AllergyIntolerance, MedicationStatement + Medication, Condition, Procedure,
/// DeviceUseStatement + Device, Immunization, Observation). Entries the reader could not
/// understand are left out and listed in the second value (never patient data).
pub fn patient_summary_to_fhir(xml: &str) -> Result<(Value, Vec<String>), FromCdaError> {
    let doc = read_cda(xml)?;
    if doc.kind != DocumentKind::PatientSummaryL3 {
        return Err(FromCdaError::WrongKind {
            found: doc.kind,
            expected: "a Patient Summary L3",
        });
    }
    Ok((patient_summary_bundle(&doc)?, doc.warnings))
}

fn eprescription_bundle(
    doc: &CdaDocument,
) -> Result<eprescription::EPrescriptionBundleJ<'_>, FromCdaError> {
    if doc.kind.is_l1() && doc.non_xml_body.is_none() {
        return Err(FromCdaError::Missing {
            at: "/ClinicalDocument/component".into(),
            what: "nonXMLBody (the L1 PDF)",
        });
    }
    if doc.kind == DocumentKind::EPrescriptionL3 && doc.prescriptions.is_empty() {
        return Err(FromCdaError::Missing {
            at: "/ClinicalDocument/component/structuredBody/component/section/entry".into(),
            what: "substanceAdministration (a prescription item)",
        });
    }
    eprescription::to_bundle(doc)
}

/// Country B: a foreign ePrescription (L3 or L1) -> FHIR R4 `collection` Bundle: one
/// `MedicationRequest` per item with its `Medication`, the `Patient`, `Practitioner`,
/// `PractitionerRole`, `Organization`; for L1 the PDF as a `Binary`.
pub fn eprescription_to_fhir(xml: &str) -> Result<Value, FromCdaError> {
    let doc = read_cda(xml)?;
    match doc.kind {
        DocumentKind::EPrescriptionL3 | DocumentKind::EPrescriptionL1 => {
            let value = fhir_json::to_value(&eprescription_bundle(&doc)?);
            debug_assert!(!fhir_json::has_empty_members(&value));
            Ok(value)
        }
        other => Err(FromCdaError::WrongKind {
            found: other,
            expected: "an ePrescription",
        }),
    }
}

/// The PDF of an L1 document (ePrescription or Patient Summary) as a FHIR `Binary`.
pub fn l1_to_binary(xml: &str) -> Result<Value, FromCdaError> {
    let doc = read_cda(xml)?;
    let body = doc.non_xml_body.as_ref().ok_or(FromCdaError::Missing {
        at: "/ClinicalDocument/component".into(),
        what: "nonXMLBody (an L1 document's PDF)",
    })?;
    let id = fhir_json::stable_uuid(&format!("{}/binary", doc.id.qualified()));
    Ok(fhir_json::to_value(&eprescription::BinaryJ {
        body,
        id: eprescription::fhir_id_of(&id),
    }))
}

/// Country A: an eDispensation -> one NLL instruction per dispensed item: record the
/// `MedicationDispense` (status `completed`), or, when the supply is `nullified`, mark it
/// `entered-in-error`. Use [`transaction_bundle`] for one FHIR transaction.
pub fn edispensation_to_fhir(xml: &str) -> Result<Vec<DispenseInstruction>, FromCdaError> {
    edispensation_with(xml, None)
}

/// Country A: the eDispensation received through the Discard Dispensation transaction ->
/// instructions to set those dispensations to `entered-in-error`.
pub fn edispensation_discard_to_fhir(xml: &str) -> Result<Vec<DispenseInstruction>, FromCdaError> {
    edispensation_with(xml, Some(DispenseAction::Discard))
}

fn edispensation_with(
    xml: &str,
    forced: Option<DispenseAction>,
) -> Result<Vec<DispenseInstruction>, FromCdaError> {
    let doc = read_cda(xml)?;
    if doc.kind != DocumentKind::EDispensation {
        return Err(FromCdaError::WrongKind {
            found: doc.kind,
            expected: "an eDispensation",
        });
    }
    edispensation::to_instructions(&doc, forced)
}
