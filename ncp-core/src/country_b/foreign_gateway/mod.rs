//! The initiating side of Country B: calls to a foreign country's NCP over SOAP 1.2 and
//! mutual TLS (XCPD ITI-55, XCA ITI-38/ITI-39, XDR ITI-41), with the eHDSI HCP and TRC
//! assertions the bridge issues and signs itself for the Swedish user.

//!
//! Layers: [`assertions`] (who the user is, in eHDSI terms), [`xcpd`], [`xca`] and [`xdr`] (the
//! IHE messages, pure functions), [`envelope`] (SOAP 1.2, WS-Addressing, WS-Security) with
//! [`timestamp`] (the request's `wsu:Timestamp`), [`transport`] (HTTPS with mutual TLS) and [`errors`] (foreign error codes to
//! [`GatewayError`]). [`ForeignGateway`] puts them together, one method per operation.
//!
//! Every foreign refusal comes back as a typed [`GatewayError`] whose text starts with the
//! foreign code (`4701: ...`, see [`GatewayError::foreign_code`]); a dispensation is reported
//! [`Acknowledgement::accepted`] only when the foreign NCP answered `Success`. Nothing here logs
//! patient identifiers, names or documents.

pub mod assertions;
pub mod envelope;
pub mod errors;
pub mod timestamp;
pub mod transport;
pub mod xca;
pub mod xcpd;
pub mod xdr;

use std::time::Duration;

use ncp_types::{CountryCode, HsaId, Oid};
use url::Url;

use crate::config::NcpIdentity;
use crate::security::SigningKey;
pub use crate::security::{HcpRole, PurposeOfUse};
use crate::soap::mtom::Attachment;
use crate::soap::xml::Limits;
use crate::soap::Transaction as SoapTransaction;

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
    /// For an L1 (PDF) entry: the `document_unique_id` of the listed L3 entry it is a
    /// transformation of, as the list's `XFRM` association says (eHDSI relates the two
    /// documents of one prescription so). `None` when the list relates it to no listed L3 or
    /// to more than one.
    pub transformation_of: Option<String>,
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
    /// How long after its creation a request's `wsu:Timestamp` expires
    /// ([`timestamp::DEFAULT_LIFETIME`] unless configured).
    pub timestamp_lifetime: Duration,
}

impl ForeignGatewayConfig {
    /// From PEM files: our TLS client certificate and key, the CA certificates foreign NCPs'
    /// server certificates chain to, and our SAML signing certificate and key.
    pub fn from_pem_files(
        client_cert: &std::path::Path,
        client_key: &std::path::Path,
        trust_cas: &[std::path::PathBuf],
        saml_cert: &std::path::Path,
        saml_key: &std::path::Path,
        ncp: NcpIdentity,
        timeout: Duration,
    ) -> Result<Self, GatewayError> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| {
                GatewayError::Protocol(format!(
                    "foreign gateway configuration: cannot read {}: {e}",
                    p.display()
                ))
            })
        };
        let saml_key = SigningKey::from_pem(&read(saml_cert)?, &read(saml_key)?).map_err(|e| {
            GatewayError::Protocol(format!("foreign gateway configuration: SAML key: {e}"))
        })?;
        Ok(ForeignGatewayConfig {
            client_cert_pem: read(client_cert)?,
            client_key_pem: read(client_key)?,
            trust_ca_pems: trust_cas
                .iter()
                .map(|p| read(p))
                .collect::<Result<_, _>>()?,
            saml_key,
            ncp,
            timeout,
            timestamp_lifetime: timestamp::DEFAULT_LIFETIME,
        })
    }
}

/// The client for foreign NCPs. Cheap to share (`Arc`) and safe to call concurrently.
pub struct ForeignGateway {
    transport: transport::Transport,
    saml_key: SigningKey,
    ncp: NcpIdentity,
    issuer: String,
    limits: Limits,
    timestamp_lifetime: Duration,
}

impl std::fmt::Debug for ForeignGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForeignGateway")
            .field("country", &self.ncp.country)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl ForeignGateway {
    pub fn new(cfg: ForeignGatewayConfig) -> Result<Self, GatewayError> {
        let limits = Limits::default();
        let transport = transport::Transport::new(
            &cfg.client_cert_pem,
            &cfg.client_key_pem,
            &cfg.trust_ca_pems,
            cfg.timeout,
            limits.max_bytes,
        )?;
        Ok(ForeignGateway {
            transport,
            issuer: format!("urn:idp:{}:countryB", cfg.ncp.country),
            saml_key: cfg.saml_key,
            ncp: cfg.ncp,
            limits,
            timestamp_lifetime: cfg.timestamp_lifetime,
        })
    }

    /// XCPD ITI-55: the patients the foreign NCP finds for `id` ([`GatewayError::NoMatch`] when
    /// none).
    pub async fn find_patient(
        &self,
        ncp: &ForeignNcp,
        user: &HcpUser,
        id: &ForeignPatientId,
    ) -> Result<Vec<ForeignPatient>, GatewayError> {
        let issued = assertions::issue(&self.saml_key, &self.issuer, user, None)?;
        let message_id = uuid::Uuid::new_v4().to_string();
        let query_id = uuid::Uuid::new_v4().to_string();
        let now = hl7_now();
        let body = xcpd::build_query(
            &xcpd::QueryIds {
                message_id: &message_id,
                query_id: &query_id,
                creation_time: &now,
                sender: &self.ncp.home_community_id,
                receiver: &ncp.home_community_id,
            },
            id,
        );
        let result = self
            .exchange(
                ncp,
                &ncp.xcpd_url,
                SoapTransaction::CrossGatewayPatientDiscovery,
                &issued,
                body,
                Vec::new(),
            )
            .await
            .and_then(|(body, _)| xcpd::parse_response(&body, id));
        log_outcome(ncp, "XCPD find patient", &result);
        result
    }

    /// XCA ITI-38: the patient's documents of `class` (empty when the foreign NCP has none).
    pub async fn list_documents(
        &self,
        ncp: &ForeignNcp,
        user: &HcpUser,
        patient: &ForeignPatientId,
        class: DocumentClass,
    ) -> Result<Vec<DocumentRef>, GatewayError> {
        let issued = assertions::issue(&self.saml_key, &self.issuer, user, Some(patient))?;
        let body = xca::build_query(patient, class, &ncp.home_community_id);
        let result = self
            .exchange(
                ncp,
                &ncp.xca_url,
                SoapTransaction::CrossGatewayQuery,
                &issued,
                body,
                Vec::new(),
            )
            .await
            .and_then(|(body, _)| xca::parse_query_response(&body, class, &ncp.home_community_id));
        log_outcome(ncp, "XCA list documents", &result);
        result
    }

    /// XCA ITI-39: one document (sent as an MTOM part or inline).
    pub async fn retrieve(
        &self,
        ncp: &ForeignNcp,
        user: &HcpUser,
        patient: &ForeignPatientId,
        doc: &DocumentRef,
    ) -> Result<RetrievedDocument, GatewayError> {
        let issued = assertions::issue(&self.saml_key, &self.issuer, user, Some(patient))?;
        let body = xca::build_retrieve(doc);
        let result = self
            .exchange(
                ncp,
                &ncp.xca_url,
                SoapTransaction::CrossGatewayRetrieve,
                &issued,
                body,
                Vec::new(),
            )
            .await
            .and_then(|(body, parts)| xca::parse_retrieve_response(&body, &parts, doc));
        log_outcome(ncp, "XCA retrieve", &result);
        result
    }

    /// XDR ITI-41: an eDispensation CDA, or (`discard`) the CDA discarding an earlier one.
    /// `Ok` with `accepted` only when the foreign NCP answered `Success`; its refusals are
    /// `Err` ([`GatewayError::NotDispensable`], [`GatewayError::NoConsent`], ...).
    pub async fn submit_dispensation(
        &self,
        ncp: &ForeignNcp,
        user: &HcpUser,
        patient: &ForeignPatientId,
        cda: &str,
        discard: bool,
    ) -> Result<Acknowledgement, GatewayError> {
        if !assertions::is_dispensing_role(&user.role) {
            return Err(GatewayError::Refused {
                code: crate::ihe::errors::EhdsiError::InsufficientRights
                    .code()
                    .to_owned(),
                message: "only a pharmacist or a pharmaceutical technician may dispense".into(),
            });
        }
        let seed = uuid::Uuid::new_v4();
        let submission_unique_id = format!("2.25.{}", uuid::Uuid::new_v4().as_u128());
        let now = hl7_now();
        let (body, attachment) = xdr::build_provide_and_register(
            &xdr::Submitter {
                home_community_id: &self.ncp.home_community_id,
                submission_unique_id: &submission_unique_id,
                submission_time: &now,
                seed,
            },
            patient,
            cda,
            discard,
        )?;
        let issued = assertions::issue(&self.saml_key, &self.issuer, user, Some(patient))?;
        let result = self
            .exchange(
                ncp,
                &ncp.xdr_url,
                SoapTransaction::ProvideAndRegisterDocumentSet,
                &issued,
                body,
                vec![attachment],
            )
            .await
            .and_then(|(body, _)| xdr::parse_registry_response(&body));
        log_outcome(
            ncp,
            if discard {
                "XDR discard dispensation"
            } else {
                "XDR submit dispensation"
            },
            &result,
        );
        result
    }

    /// Sends one request and returns the answer's body element and MTOM parts, or the error a
    /// SOAP fault, an HTTP failure or an unreadable answer stands for.
    async fn exchange(
        &self,
        ncp: &ForeignNcp,
        url: &Url,
        tx: SoapTransaction,
        issued: &assertions::Issued,
        body: Vec<u8>,
        attachments: Vec<Attachment>,
    ) -> Result<(Vec<u8>, Vec<Attachment>), GatewayError> {
        let message_id = format!("urn:uuid:{}", uuid::Uuid::new_v4());
        let mut assertion_xml = vec![issued.hcp.xml.as_str()];
        if let Some(trc) = &issued.trc {
            assertion_xml.push(trc.xml.as_str());
        }
        let payload = envelope::request_payload(&envelope::OutgoingRequest {
            action: tx.request_action(),
            message_id: &message_id,
            to: url.as_str(),
            timestamp: timestamp::Timestamp::now(self.timestamp_lifetime),
            assertions: &assertion_xml,
            body: &body,
            attachments: &attachments,
        });
        tracing::debug!(country = %ncp.country, action = tx.request_action(), "calling foreign NCP");
        let reply = self.transport.post(url, payload).await?;
        let status = reply.status;
        let parsed = envelope::parse_reply(&reply.content_type, &reply.body, &self.limits);
        match parsed {
            Err(e) if status >= 500 => Err(GatewayError::Unavailable(format!(
                "the foreign NCP answered HTTP {status} ({e})"
            ))),
            Err(e) => Err(GatewayError::Protocol(format!("HTTP {status}: {e}"))),
            Ok(envelope::Reply::Fault(f)) => Err(errors::from_fault(&f, status)),
            Ok(envelope::Reply::Body { .. }) if status >= 500 => Err(GatewayError::Unavailable(
                format!("the foreign NCP answered HTTP {status}"),
            )),
            Ok(envelope::Reply::Body { .. }) if !(200..300).contains(&status) => Err(
                GatewayError::Protocol(format!("the foreign NCP answered HTTP {status}")),
            ),
            Ok(envelope::Reply::Body {
                action,
                relates_to,
                body,
                attachments,
            }) => {
                if action.as_deref().is_some_and(|a| a != tx.response_action()) {
                    return Err(GatewayError::Protocol(format!(
                        "unexpected answer Action {:?}",
                        action.unwrap_or_default()
                    )));
                }
                if relates_to.as_deref().is_some_and(|r| r != message_id) {
                    return Err(GatewayError::Protocol(
                        "the answer relates to another message".into(),
                    ));
                }
                Ok((body, attachments))
            }
        }
    }
}

fn hl7_now() -> String {
    chrono::Utc::now().format("%Y%m%d%H%M%S").to_string()
}

fn log_outcome<T>(ncp: &ForeignNcp, operation: &str, result: &Result<T, GatewayError>) {
    match result {
        Ok(_) => tracing::info!(country = %ncp.country, operation, "foreign NCP answered"),
        Err(e) => tracing::info!(
            country = %ncp.country,
            operation,
            code = e.foreign_code().unwrap_or(""),
            kind = e.kind(),
            "foreign NCP call failed"
        ),
    }
}

impl GatewayError {
    /// A short name of the variant, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::NoMatch => "no-match",
            GatewayError::NoConsent(_) => "no-consent",
            GatewayError::NotDispensable(_) => "not-dispensable",
            GatewayError::Refused { .. } => "refused",
            GatewayError::Unavailable(_) => "unavailable",
            GatewayError::Timeout => "timeout",
            GatewayError::Protocol(_) => "protocol",
        }
    }
}
