//! ITI-41 Provide and Register Document Set-b (IHE ITI TF-2 §3.41) as eHDSI XDR uses it towards
//! country A: an eDispensation (class 60593-1, format `urn:epSOS:ep:dis:2010`) or the discard of
//! one (same class, format `urn:eHDSI:ed:discard:2020`), answered by an `rs:RegistryResponse`.
//!
//! Documents arrive as MTOM parts (`xop:Include`) or inline base64; both come out as bytes.

use base64::Engine as _;

use super::errors::{
    write_registry_error_list, EhdsiError, RegistryError, ResponseStatus, Severity, XdsError,
};
use super::metadata::{
    classifications, codes, external_identifier, read_entry_core, scheme, LCM_NS, RIM_NS, RS_NS,
    SUBMISSION_SET_NODE,
};
use super::xca::XDSB_NS;
use super::{parse_body, Code, IheError, PatientIdentifier};
use crate::soap::mtom::{cid_from_href, Attachment, XOP_NS};
use crate::soap::xml::{child, children, XmlWriter};

/// What an XDR document is, by its class and format codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// The eHDSI eDispensation (L3 CDA).
    EDispensation,
    /// The PDF (L1) rendition of an eDispensation.
    EDispensationPdf,
    /// The discard of an earlier eDispensation.
    EDispensationDiscard,
    /// Anything else: this gateway does not take it.
    Unsupported,
}

impl DocumentKind {
    pub fn classify(class_code: &Code, format_code: &Code) -> Self {
        if class_code.code != codes::CLASS_EDISPENSATION {
            return DocumentKind::Unsupported;
        }
        let f = format_code.code.as_str();
        // Format codes are compared case-insensitively: eHDSI material spells `epSOS`/`epsos`.
        if f.eq_ignore_ascii_case(codes::FORMAT_EDISPENSATION) {
            DocumentKind::EDispensation
        } else if f.eq_ignore_ascii_case(codes::FORMAT_EDISPENSATION_DISCARD) {
            DocumentKind::EDispensationDiscard
        } else if f == codes::FORMAT_PDF {
            DocumentKind::EDispensationPdf
        } else {
            DocumentKind::Unsupported
        }
    }
}

/// The submission set of a Provide and Register request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionSet {
    pub entry_uuid: String,
    pub unique_id: String,
    pub source_id: Option<String>,
    pub patient: Option<PatientIdentifier>,
    pub content_type: Option<Code>,
}

/// One submitted document with its metadata.
#[derive(Clone, PartialEq, Eq)]
pub struct SubmittedDocument {
    pub entry_uuid: String,
    pub unique_id: String,
    pub class_code: Code,
    pub format_code: Code,
    pub patient: PatientIdentifier,
    pub mime_type: String,
    pub kind: DocumentKind,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for SubmittedDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubmittedDocument")
            .field("entry_uuid", &self.entry_uuid)
            .field("unique_id", &self.unique_id)
            .field("kind", &self.kind)
            .field("patient", &self.patient)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// A Provide and Register Document Set-b request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvideAndRegister {
    pub submission_set: SubmissionSet,
    pub documents: Vec<SubmittedDocument>,
}

/// What the submission as a whole asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionKind {
    /// Register a dispensation (the eDispensation, with or without its PDF).
    Dispensation,
    /// Discard an earlier dispensation.
    DispensationDiscard,
}

impl ProvideAndRegister {
    /// The kind of submission, or the RegistryError refusing it (4202 Unknown Signifier for a
    /// document this gateway does not take, or a mix of dispensation and discard).
    pub fn kind(&self) -> Result<SubmissionKind, RegistryError> {
        let unknown = || {
            RegistryError::ehdsi(EhdsiError::UnknownSignifier)
                .with_context("Only eDispensation (60593-1) and its discard are accepted")
        };
        let mut kind = None;
        for d in &self.documents {
            let k = match d.kind {
                DocumentKind::EDispensation | DocumentKind::EDispensationPdf => {
                    SubmissionKind::Dispensation
                }
                DocumentKind::EDispensationDiscard => SubmissionKind::DispensationDiscard,
                DocumentKind::Unsupported => return Err(unknown()),
            };
            if kind.is_some_and(|prev| prev != k) {
                return Err(unknown());
            }
            kind = Some(k);
        }
        kind.ok_or_else(unknown)
    }
}

/// Why a Provide and Register request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XdrError {
    #[error(transparent)]
    Message(#[from] IheError),
    /// An ExtrinsicObject without its Document.
    #[error("a document entry has no document")]
    MissingDocument,
    /// A Document without its ExtrinsicObject.
    #[error("a document has no metadata")]
    MissingMetadata,
    /// A document's patient is not the submission set's (ITI TF-3 §4.2.2: they must agree).
    #[error("the patient of a document differs from the submission set's")]
    PatientIdDoesNotMatch,
}

impl XdrError {
    /// The RegistryError for the response.
    pub fn registry_error(&self) -> RegistryError {
        match self {
            XdrError::MissingDocument => {
                RegistryError::xds(XdsError::XdsMissingDocument, self.to_string())
            }
            XdrError::MissingMetadata => {
                RegistryError::xds(XdsError::XdsMissingDocumentMetadata, self.to_string())
            }
            XdrError::PatientIdDoesNotMatch => {
                RegistryError::xds(XdsError::XdsPatientIdDoesNotMatch, self.to_string())
            }
            XdrError::Message(e) => {
                RegistryError::xds(XdsError::XdsRegistryMetadataError, e.to_string())
            }
        }
    }
}

/// Parses an `xdsb:ProvideAndRegisterDocumentSetRequest` body; `attachments` are the MTOM parts
/// its `xop:Include` elements name.
pub fn parse_provide_and_register(
    body: &[u8],
    attachments: &[Attachment],
) -> Result<ProvideAndRegister, XdrError> {
    let doc = parse_body(body)?;
    let root = doc.root_element();
    if !root.has_tag_name((XDSB_NS, "ProvideAndRegisterDocumentSetRequest")) {
        return Err(IheError::UnexpectedMessage {
            expected: "ProvideAndRegisterDocumentSetRequest",
        }
        .into());
    }
    let list = child(root, LCM_NS, "SubmitObjectsRequest")
        .and_then(|s| child(s, RIM_NS, "RegistryObjectList"))
        .ok_or(IheError::Missing("SubmitObjectsRequest/RegistryObjectList"))?;

    // The submission set: the RegistryPackage classified as one.
    let packages: Vec<_> = children(list, RIM_NS, "RegistryPackage").collect();
    let ss_ids: Vec<&str> = list
        .descendants()
        .filter(|n| {
            n.has_tag_name((RIM_NS, "Classification"))
                && n.attribute("classificationNode") == Some(SUBMISSION_SET_NODE)
        })
        .filter_map(|n| {
            n.attribute("classifiedObject")
                .or_else(|| n.parent().and_then(|p| p.attribute("id")))
        })
        .collect();
    let package = packages
        .iter()
        .find(|p| p.attribute("id").is_some_and(|id| ss_ids.contains(&id)))
        .or(if packages.len() == 1 {
            packages.first()
        } else {
            None
        })
        .ok_or(IheError::Missing("SubmissionSet"))?;
    let submission_set = SubmissionSet {
        entry_uuid: package
            .attribute("id")
            .ok_or(IheError::Missing("SubmissionSet id"))?
            .to_owned(),
        unique_id: external_identifier(*package, scheme::SUBMISSION_SET_UNIQUE_ID)
            .ok_or(IheError::Missing("XDSSubmissionSet.uniqueId"))?,
        source_id: external_identifier(*package, scheme::SUBMISSION_SET_SOURCE_ID),
        patient: external_identifier(*package, scheme::SUBMISSION_SET_PATIENT_ID)
            .map(|cx| PatientIdentifier::from_cx(&cx))
            .transpose()?,
        content_type: classifications(*package, scheme::SUBMISSION_SET_CONTENT_TYPE)
            .into_iter()
            .next(),
    };

    let docs: Vec<_> = children(root, XDSB_NS, "Document").collect();
    let mut documents = Vec::new();
    for eo in children(list, RIM_NS, "ExtrinsicObject") {
        let (entry_uuid, unique_id, patient, class_code, format_code) = read_entry_core(eo)?;
        let content = docs
            .iter()
            .find(|d| d.attribute("id") == Some(entry_uuid.as_str()))
            .ok_or(XdrError::MissingDocument)?;
        let bytes = document_bytes(*content, attachments)?;
        let kind = DocumentKind::classify(&class_code, &format_code);
        documents.push(SubmittedDocument {
            mime_type: eo.attribute("mimeType").unwrap_or("").to_owned(),
            entry_uuid,
            unique_id,
            class_code,
            format_code,
            patient,
            kind,
            bytes,
        });
    }
    if documents.is_empty() {
        return Err(IheError::Missing("ExtrinsicObject").into());
    }
    if let Some(p) = &submission_set.patient {
        if documents.iter().any(|d| &d.patient != p) {
            return Err(XdrError::PatientIdDoesNotMatch);
        }
    }
    if docs.iter().any(|d| {
        !documents
            .iter()
            .any(|m| Some(m.entry_uuid.as_str()) == d.attribute("id"))
    }) {
        return Err(XdrError::MissingMetadata);
    }
    tracing::debug!(documents = documents.len(), "XDR submission parsed");
    Ok(ProvideAndRegister {
        submission_set,
        documents,
    })
}

/// The bytes of an `xdsb:Document`: the MTOM part its `xop:Include` names, or its base64 text.
fn document_bytes(
    node: roxmltree::Node<'_, '_>,
    attachments: &[Attachment],
) -> Result<Vec<u8>, XdrError> {
    if let Some(inc) = child(node, XOP_NS, "Include") {
        let cid = inc
            .attribute("href")
            .and_then(cid_from_href)
            .ok_or(IheError::Invalid("xop:Include href"))?;
        return attachments
            .iter()
            .find(|a| a.content_id == cid)
            .map(|a| a.data.clone())
            .ok_or(XdrError::MissingDocument);
    }
    let text: Vec<u8> = node
        .children()
        .filter(|c| c.is_text())
        .flat_map(|c| c.text().unwrap_or("").bytes())
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if text.is_empty() {
        return Err(XdrError::MissingDocument);
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| IheError::Invalid("Document base64").into())
}

/// Builds the `rs:RegistryResponse` of ITI-41: Success, or Failure when any error has Error
/// severity (warnings alone leave it a Success).
pub fn build_registry_response(errors: &[RegistryError]) -> Vec<u8> {
    let status = if errors.iter().any(|e| e.severity == Severity::Error) {
        ResponseStatus::Failure
    } else {
        ResponseStatus::Success
    };
    let mut w = XmlWriter::new();
    w.open(
        "rs:RegistryResponse",
        &[("xmlns:rs", RS_NS), ("status", status.urn())],
    );
    write_registry_error_list(&mut w, errors);
    w.finish()
}
