//! The initiating side of Country B: calls to a foreign country's NCP over SOAP 1.2 and
//! mutual TLS (XCPD ITI-55, XCA ITI-38/ITI-39, XDR ITI-41), with the eHDSI HCP and TRC
//! assertions the bridge issues and signs itself for the Swedish user.

use std::time::Duration;

use ncp_types::{CountryCode, HsaId, Oid};
use url::Url;

use crate::config::NcpIdentity;
use crate::security::SigningKey;
pub use crate::security::{HcpRole, PurposeOfUse};

/// A foreign country's NCP: who it is and where its services answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignNcp {
    pub country: CountryCode,
    pub home_community_id: Oid,
    pub xcpd_url: Url,
    pub xca_url: Url,
    pub xdr_url: Url,
}

/// The Swedish health professional on whose behalf the bridge calls abroad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HcpUser {
    pub id: String,
    pub name: String,
    pub role: HcpRole,
    pub organisation: String,
    pub organisation_hsa_id: HsaId,
    pub purpose: PurposeOfUse,
}

/// A patient identifier in the foreign country's own identifier domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ForeignPatientId {
    pub root: Oid,
    pub extension: String,
}

/// A patient as the foreign NCP identified them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignPatient {
    pub id: ForeignPatientId,
    pub given: Vec<String>,
    pub family: Option<String>,
    /// As the foreign NCP sent it (HL7 TS, e.g. `19700101`).
    pub birth_date: Option<String>,
    /// HL7 administrative gender code (`M`, `F`, `UN`).
    pub gender: Option<String>,
}

/// The eHDSI document classes the gateway lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentClass {
    /// LOINC 57833-6.
    EPrescription,
    /// LOINC 60591-5.
    PatientSummary,
}

/// The form of a document: structured CDA (level 3) or the PDF wrapped in CDA (level 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentFormat {
    L3,
    L1Pdf,
}

/// A document the foreign NCP listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRef {
    pub document_unique_id: String,
    pub repository_unique_id: String,
    pub home_community_id: Oid,
    pub class: DocumentClass,
    pub format: DocumentFormat,
    pub title: Option<String>,
    pub description: Option<String>,
}

/// A retrieved document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrievedDocument {
    pub bytes: Vec<u8>,
    pub mime_type: String,
}

/// The foreign NCP's answer to an eDispensation or a discard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub accepted: bool,
    /// `(code, message)` of every error or warning the foreign NCP reported.
    pub foreign_errors: Vec<(String, String)>,
}

/// Why a call abroad did not give an answer to use.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    #[error("the foreign NCP found no matching patient")]
    NoMatch,
    #[error("the patient has not consented: {0}")]
    NoConsent(String),
    #[error("not dispensable: {0}")]
    NotDispensable(String),
    #[error("the foreign NCP refused ({code}): {message}")]
    Refused { code: String, message: String },
    #[error("the foreign NCP is unavailable: {0}")]
    Unavailable(String),
    #[error("the foreign NCP did not answer in time")]
    Timeout,
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// What the gateway needs: our TLS client identity, the trust anchors for foreign NCPs, our
/// SAML signing key and identity, and how long to wait.
#[derive(Clone)]
pub struct ForeignGatewayConfig {
    /// PEM certificate chain of our NCP's TLS client certificate.
    pub client_cert_pem: Vec<u8>,
    /// PEM private key of that certificate.
    pub client_key_pem: Vec<u8>,
    /// PEM CA certificates a foreign NCP's TLS server certificate must chain to.
    pub trust_ca_pems: Vec<Vec<u8>>,
    /// The key the HCP and TRC assertions are signed with.
    pub saml_key: SigningKey,
    /// Who we are.
    pub ncp: NcpIdentity,
    /// How long to wait for a foreign NCP's answer (connect, send and receive).
    pub timeout: Duration,
}

/// The client for foreign NCPs.
pub struct ForeignGateway {
    #[allow(dead_code)]
    cfg: ForeignGatewayConfig,
}

impl ForeignGateway {
    pub fn new(cfg: ForeignGatewayConfig) -> Result<Self, GatewayError> {
        Ok(ForeignGateway { cfg })
    }

    /// XCPD ITI-55: the patients the foreign NCP finds for `id`.
    pub async fn find_patient(
        &self,
        _ncp: &ForeignNcp,
        _user: &HcpUser,
        _id: &ForeignPatientId,
    ) -> Result<Vec<ForeignPatient>, GatewayError> {
        Err(GatewayError::Unavailable("not implemented yet".into()))
    }

    /// XCA ITI-38: the patient's documents of `class`.
    pub async fn list_documents(
        &self,
        _ncp: &ForeignNcp,
        _user: &HcpUser,
        _patient: &ForeignPatientId,
        _class: DocumentClass,
    ) -> Result<Vec<DocumentRef>, GatewayError> {
        Err(GatewayError::Unavailable("not implemented yet".into()))
    }

    /// XCA ITI-39: one document.
    pub async fn retrieve(
        &self,
        _ncp: &ForeignNcp,
        _user: &HcpUser,
        _patient: &ForeignPatientId,
        _doc: &DocumentRef,
    ) -> Result<RetrievedDocument, GatewayError> {
        Err(GatewayError::Unavailable("not implemented yet".into()))
    }

    /// XDR ITI-41: an eDispensation CDA, or its discard.
    pub async fn submit_dispensation(
        &self,
        _ncp: &ForeignNcp,
        _user: &HcpUser,
        _patient: &ForeignPatientId,
        _cda: &str,
        _discard: bool,
    ) -> Result<Acknowledgement, GatewayError> {
        Err(GatewayError::Unavailable("not implemented yet".into()))
    }
}
