//! The SOAP endpoints of Sweden as country A:
//!
//! - `POST /ncp/xcpd`: ITI-55 Cross Gateway Patient Discovery,
//! - `POST /ncp/xca`: ITI-38 Cross Gateway Query and ITI-39 Cross Gateway Retrieve, told apart
//!   by the WS-Addressing Action,
//! - `POST /ncp/xdr`: ITI-41 Provide and Register (eDispensation and its discard).
//!
//! Each request goes: body within `server.max_body_bytes` → [`soap::parse_request`] → the IHE
//! body ([`crate::ihe`]) → the `wsu:Timestamp`, when there is one ([`security::check_timestamp`],
//! on every request) → [`security::verify_assertions_cached`] for the transaction → the signing
//! NCP must be the TLS peer (certificate `C=`) → for XCA and XDR the request's patient must be
//! the TRC assertion's → [`CountryA`] → the audit event, durably → the response.
//!
//! Errors answer in the protocol's terms: a SOAP fault (with the eHDSI code in `env:Detail`) for
//! a message that is not a readable transaction or whose assertions are refused; an XCPD
//! acknowledgement (`AE`, or `NF` for no match) for patient discovery; a RegistryErrorList for
//! XCA and XDR business errors.
//!
//! A request refused before its caller is verified (unreadable, Timestamp or assertions refused,
//! signer not the TLS peer) is audited too, as a [`RefusedRequest`]: only the TLS peer, the
//! endpoint, the refusal and the eHDSI code, never the request's claimed patient or HCP. Nothing
//! here logs patient identifiers, names or documents.

// The early answers (`Err(Response)`) are the responses themselves, built once per request.
#![allow(clippy::result_large_err)]

mod xca;
mod xcpd;
mod xdr;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::app::AppState;
use crate::audit::{
    EventType, MemoryRefusals, Ncp, RefusalClass, RefusalSink, RefusedRequest, TlsPeer,
};
use crate::config::Config;
use crate::country_a::{AuditEvent, AuditSink, CountryA, MemoryAudit};
use crate::ihe::errors::EhdsiError;
use crate::ihe::PatientIdentifier;
use crate::security::{self, AssertionPolicy, PatientRef, SigningTrust, VerifiedCaller};
use crate::server::Peer;
use crate::soap::{
    self, Attachment, Fault, HttpPayload, Limits, ResponseHeaders, SoapError, SoapRequest,
};

/// What the endpoints share: the service, the signing trust list and policy, the audit sink.
pub struct CountryAEndpoints {
    pub service: CountryA,
    pub trust: SigningTrust,
    /// Assertions already verified against `trust` (see [`security::VerificationCache`]).
    pub verified: security::VerificationCache,
    pub policy: AssertionPolicy,
    pub audit: Arc<dyn AuditSink>,
    /// Where requests refused before their caller was verified are audited: the same
    /// hash-chained trail as `audit` when `[audit]` is configured (see
    /// [`crate::audit::refusal`]).
    pub refusals: Arc<dyn RefusalSink>,
    /// Us, as the refusal records name the responding NCP.
    pub responding: Ncp,
    pub limits: Limits,
}

impl std::fmt::Debug for CountryAEndpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountryAEndpoints")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Why the endpoints could not be set up; the text names the configuration key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EndpointsError(pub String);

impl CountryAEndpoints {
    /// From the configuration (`[saml]`, `[national]`, `[ncp]`, `server.max_body_bytes`), with
    /// an in-memory audit sink until one is given with [`CountryAEndpoints::with_audit`].
    pub fn from_config(config: &Config) -> Result<Self, EndpointsError> {
        let mut trust = SigningTrust::new();
        for (i, path) in config.saml.trust.iter().enumerate() {
            let pem = std::fs::read(path).map_err(|e| {
                EndpointsError(format!(
                    "saml.trust[{i}]: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            trust
                .add_ca_pem(&pem)
                .map_err(|e| EndpointsError(format!("saml.trust[{i}]: {}: {e}", path.display())))?;
        }
        if trust.is_empty() {
            tracing::warn!("saml.trust is empty: every SOAP request will be refused (4704)");
        }
        let policy = AssertionPolicy {
            audiences: config.saml.audience.clone(),
            clock_skew: std::time::Duration::from_secs(config.saml.clock_skew_secs),
            ..AssertionPolicy::default()
        };
        let service = CountryA::from_config(config).map_err(|e| EndpointsError(e.to_string()))?;
        Ok(CountryAEndpoints {
            service,
            trust,
            verified: security::VerificationCache::new(),
            policy,
            audit: Arc::new(MemoryAudit::new()),
            refusals: Arc::new(MemoryRefusals::new()),
            responding: Ncp {
                country: config.ncp.country,
                home_community_id: config.ncp.home_community_id.clone(),
            },
            limits: Limits {
                max_bytes: config.server.max_body_bytes,
                ..Limits::default()
            },
        })
    }

    /// As [`CountryAEndpoints::from_config`], and opens the audit trail (`[audit]`) and the
    /// dispensation outbox (`[outbox]`) when configured.
    pub async fn open(config: &Config) -> Result<Self, EndpointsError> {
        let mut ep = Self::from_config(config)?;
        if let Some(a) = &config.audit {
            let log = crate::audit::AuditLog::open(a)
                .await
                .map_err(|e| EndpointsError(format!("audit.backend: {e}")))?;
            let log = Arc::new(log);
            ep.audit = Arc::new(crate::country_a::AuditTrail::new(
                log.clone(),
                ep.responding.clone(),
            ));
            ep.refusals = log;
        }
        if let Some(o) = &config.outbox {
            let outbox = crate::outbox::Outbox::open(o)
                .await
                .map_err(|e| EndpointsError(format!("outbox.backend: {e}")))?;
            ep.service = ep.service.with_outbox(Arc::new(outbox));
        }
        Ok(ep)
    }

    pub fn with_audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = audit;
        self
    }
}

const XCPD: &str = "/ncp/xcpd";
const XCA: &str = "/ncp/xca";
const XDR: &str = "/ncp/xdr";

/// `POST /ncp/xcpd`.
pub async fn xcpd_endpoint(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ep = state.country_a.clone();
    match read(
        &ep,
        &peer,
        XCPD,
        &headers,
        body,
        &[soap::Transaction::CrossGatewayPatientDiscovery],
    )
    .await
    {
        Ok((req, _)) => xcpd::handle(&ep, &peer, &req).await,
        Err(r) => r,
    }
}

/// `POST /ncp/xca`.
pub async fn xca_endpoint(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ep = state.country_a.clone();
    let served = [
        soap::Transaction::CrossGatewayQuery,
        soap::Transaction::CrossGatewayRetrieve,
    ];
    match read(&ep, &peer, XCA, &headers, body, &served).await {
        Ok((req, soap::Transaction::CrossGatewayQuery)) => xca::query(&ep, &peer, &req).await,
        Ok((req, _)) => xca::retrieve(&ep, &peer, &req).await,
        Err(r) => r,
    }
}

/// `POST /ncp/xdr`.
pub async fn xdr_endpoint(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ep = state.country_a.clone();
    match read(
        &ep,
        &peer,
        XDR,
        &headers,
        body,
        &[soap::Transaction::ProvideAndRegisterDocumentSet],
    )
    .await
    {
        Ok((req, _)) => xdr::handle(&ep, &peer, &req).await,
        Err(r) => r,
    }
}

/// Reads the body within the limit and parses it as SOAP 1.2 for one of `served`; a request
/// that is not readable is refused and audited as such.
async fn read(
    ep: &CountryAEndpoints,
    peer: &Peer,
    endpoint: &'static str,
    headers: &HeaderMap,
    body: Body,
    served: &[soap::Transaction],
) -> Result<(SoapRequest, soap::Transaction), Response> {
    let limit = ep.limits.max_bytes;
    // The transaction the route alone names (XCA serves two, XDR submits and discards).
    let attempted = match endpoint {
        XCPD => Some(EventType::PatientIdentification),
        _ => None,
    };
    let unreadable = |message_id: Option<&str>| Refusal {
        endpoint,
        attempted,
        class: RefusalClass::UnreadableMessage,
        message_id: message_id.map(str::to_owned),
    };
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            tracing::info!(limit, "SOAP request over the size limit refused");
            let f = Fault::from_error(&SoapError::TooLarge {
                size: limit.saturating_add(1),
                limit,
            });
            let r = fault_with_status(None, &f, StatusCode::PAYLOAD_TOO_LARGE);
            return Err(refuse(ep, peer, unreadable(None), &f, r).await);
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let req = match soap::parse_request(content_type, &bytes, &ep.limits) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "SOAP request refused");
            let f = Fault::from_error(&e);
            let r = fault(None, &f);
            return Err(refuse(ep, peer, unreadable(None), &f, r).await);
        }
    };
    let tx = match req.transaction() {
        Ok(tx) if served.contains(&tx) => tx,
        other => {
            let e = match other {
                Err(e) => e,
                Ok(_) => SoapError::UnknownAction(req.addressing.action.clone()),
            };
            let f = Fault::from_error(&e);
            let r = fault(Some(&req), &f);
            let refusal = unreadable(req.addressing.message_id.as_deref());
            return Err(refuse(ep, peer, refusal, &f, r).await);
        }
    };
    Ok((req, tx))
}

/// What the endpoint knows of a request it refuses before the caller is verified.
struct Refusal {
    endpoint: &'static str,
    attempted: Option<EventType>,
    class: RefusalClass,
    /// The request's MessageID (only its hash is kept).
    message_id: Option<String>,
}

/// Audits a request refused before its caller was verified, then answers with `response` (the
/// fault `f`). The refusal discloses nothing, so it leaves even when the trail cannot be
/// written (that failure is logged).
async fn refuse(
    ep: &CountryAEndpoints,
    peer: &Peer,
    r: Refusal,
    f: &Fault,
    response: Response,
) -> Response {
    let mut record = RefusedRequest::new(
        r.endpoint,
        r.class,
        f.ehdsi,
        TlsPeer::from(peer),
        ep.responding.clone(),
    )
    .with_message_id(r.message_id.as_deref());
    record.attempted = r.attempted;
    if let Err(e) = ep.refusals.append_refusal(&record).await {
        tracing::error!(error = %e, endpoint = r.endpoint, "audit trail write of a refusal failed");
    }
    response
}

/// Checks the `wsu:Timestamp` when there is one, verifies the assertions for `needs` and that
/// the signing NCP is the TLS peer; a refusal is audited as such (there is no verified caller
/// to name).
async fn verify(
    ep: &CountryAEndpoints,
    peer: &Peer,
    req: &SoapRequest,
    needs: security::Transaction,
) -> Result<VerifiedCaller, Response> {
    let refusal = |class| Refusal {
        endpoint: match needs {
            security::Transaction::IdentifyPatient => XCPD,
            security::Transaction::SubmitDispensation
            | security::Transaction::DiscardDispensation => XDR,
            _ => XCA,
        },
        attempted: Some(crate::country_a::audit::event_type(needs)),
        class,
        message_id: req.addressing.message_id.clone(),
    };
    let now = Utc::now();
    // The Timestamp first (WSS 1.1 §10), on every request: it is outside the cached assertions.
    if let Err(e) = security::check_timestamp(req.header.as_deref(), now, ep.policy.clock_skew) {
        tracing::info!(reason = %e, transaction = ?needs, "wsu:Timestamp refused");
        let f = Fault::sender(e.message())
            .with_subcode(soap::fault::QName::wsse(e.wsse_subcode()))
            .with_ehdsi(
                EhdsiError::from_code(e.ehdsi_code()).unwrap_or(EhdsiError::ErrorSecGeneric),
            );
        let r = fault(Some(req), &f);
        return Err(refuse(ep, peer, refusal(RefusalClass::Timestamp), &f, r).await);
    }
    let caller = match security::verify_assertions_cached(
        &req.envelope,
        &ep.trust,
        &ep.verified,
        &ep.policy,
        now,
        needs,
    ) {
        Ok(c) => c,
        Err(e) => {
            let subcode = match e.ehdsi_code() {
                "4704" => "FailedCheck",
                "4703" => "FailedAuthentication",
                _ => "InvalidSecurity",
            };
            let f = Fault::sender(e.message())
                .with_subcode(soap::fault::QName::wsse(subcode))
                .with_ehdsi(
                    EhdsiError::from_code(e.ehdsi_code()).unwrap_or(EhdsiError::ErrorSecGeneric),
                );
            let r = fault(Some(req), &f);
            return Err(refuse(ep, peer, refusal(RefusalClass::Assertion), &f, r).await);
        }
    };
    if peer.country != Some(caller.country) {
        tracing::info!(
            signer = %caller.country,
            "assertions signed by another NCP than the TLS client"
        );
        let f = Fault::sender(format!(
            "{} (the assertions were not signed by the NCP of the TLS connection)",
            security::code_text("4703")
        ))
        .with_subcode(soap::fault::QName::wsse("FailedAuthentication"))
        .with_ehdsi(EhdsiError::InsufficientRights);
        let r = fault(Some(req), &f);
        return Err(refuse(ep, peer, refusal(RefusalClass::PeerMismatch), &f, r).await);
    }
    Ok(caller)
}

/// An XCPD message whose body is not a readable query, refused before verification.
async fn unreadable_xcpd(
    ep: &CountryAEndpoints,
    peer: &Peer,
    req: &SoapRequest,
    f: &Fault,
) -> Response {
    let refusal = Refusal {
        endpoint: XCPD,
        attempted: Some(EventType::PatientIdentification),
        class: RefusalClass::UnreadableMessage,
        message_id: req.addressing.message_id.clone(),
    };
    refuse(ep, peer, refusal, f, fault(Some(req), f)).await
}

/// The request's patient against the TRC assertion's (`4206` when they differ).
fn check_trc(caller: &VerifiedCaller, patient: &PatientIdentifier) -> Result<(), EhdsiError> {
    security::check_trc_patient(
        caller,
        &PatientRef::new(patient.root.clone(), patient.extension.clone()),
    )
    .map_err(|e| EhdsiError::from_code(e.ehdsi_code()).unwrap_or(EhdsiError::ErrorSecGeneric))
}

/// Writes the audit event; a response must not leave when this fails.
async fn audit(
    ep: &CountryAEndpoints,
    req: &SoapRequest,
    event: &AuditEvent,
) -> Result<(), Response> {
    ep.audit.append(event).await.map_err(|e| {
        tracing::error!(error = %e, transaction = ?event.transaction, "audit trail write failed: response withheld");
        fault(
            Some(req),
            &Fault::receiver("The audit trail could not be written; please retry")
                .with_ehdsi(EhdsiError::ErrorGeneric),
        )
    })
}

fn patient_ref(p: &PatientIdentifier) -> PatientRef {
    PatientRef::new(p.root.clone(), p.extension.clone())
}

/// The response to `req` for `tx`: plain SOAP, or MTOM when the request was MTOM or there are
/// attachments.
pub fn respond(
    req: &SoapRequest,
    tx: soap::Transaction,
    body: Vec<u8>,
    attachments: Vec<Attachment>,
) -> Response {
    let response = soap::SoapResponse {
        headers: ResponseHeaders::answering(req, tx, uuid::Uuid::new_v4()),
        body,
        attachments,
    };
    http(StatusCode::OK, response.to_http_as(req.mtom))
}

/// An HTTP response carrying a SOAP payload with its content type.
pub fn http(status: StatusCode, payload: HttpPayload) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, payload.content_type)],
        payload.body,
    )
        .into_response()
}

/// A SOAP fault answering `req` (when it could be read), with the fault's HTTP status.
pub fn fault(req: Option<&SoapRequest>, f: &Fault) -> Response {
    let status = StatusCode::from_u16(f.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    fault_with_status(req, f, status)
}

fn fault_with_status(req: Option<&SoapRequest>, f: &Fault, status: StatusCode) -> Response {
    let headers = ResponseHeaders {
        action: soap::addressing::FAULT_ACTION.to_owned(),
        message_id: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        relates_to: req.and_then(|r| r.addressing.message_id.clone()),
    };
    http(status, f.to_http(&headers))
}
