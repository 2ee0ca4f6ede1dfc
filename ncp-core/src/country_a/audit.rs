//! The audit call site of the country A transactions: every transaction hands an
//! [`AuditEvent`] to an [`AuditSink`] and sends its response only once the sink said the event
//! is durable.
//!
//! The fields follow `crate::audit::AuditRecord` (the hash-chained audit trail) one to one, so
//! an adapter from [`AuditSink`] to `AuditLog::append` is a field-by-field copy.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use ncp_types::CountryCode;

use crate::ihe::errors::EhdsiError;
use crate::security::{PatientRef, PurposeOfUse, Transaction, VerifiedCaller};

/// Whether the transaction did what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Refused or failed, with the eHDSI code the requester got.
    Failure,
}

/// One audited transaction. `Debug` leaves out the patient, the HCP and the reason.
#[derive(Clone, PartialEq)]
pub struct AuditEvent {
    pub transaction: Transaction,
    pub time: DateTime<Utc>,
    pub outcome: Outcome,
    pub error_code: Option<EhdsiError>,
    /// The requesting NCP's country (from its signing certificate).
    pub requesting_country: CountryCode,
    /// The HCP identity assertion's subject, name, role code and organisation id.
    pub hcp_id: String,
    pub hcp_name: String,
    pub hcp_role: &'static str,
    pub hcp_organisation_id: String,
    pub purpose_of_use: PurposeOfUse,
    pub patient: Option<PatientRef>,
    /// Document unique ids, prescription and dispensation ids disclosed or received.
    pub objects: Vec<String>,
    /// The request's WS-Addressing MessageID.
    pub message_id: String,
    /// For Swedish log review only (`blocked: opt-out`); never sent, never logged.
    pub reason: Option<String>,
}

impl std::fmt::Debug for AuditEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditEvent")
            .field("transaction", &self.transaction)
            .field("outcome", &self.outcome)
            .field("error_code", &self.error_code.map(|e| e.code()))
            .field("requesting_country", &self.requesting_country)
            .field("objects", &self.objects.len())
            .finish_non_exhaustive()
    }
}

impl AuditEvent {
    /// An event of `caller` for its transaction, now, successful until told otherwise.
    pub fn of(caller: &VerifiedCaller, message_id: Option<&str>) -> Self {
        AuditEvent {
            transaction: caller.transaction,
            time: Utc::now(),
            outcome: Outcome::Success,
            error_code: None,
            requesting_country: caller.country,
            hcp_id: caller.hcp.subject_id.clone(),
            hcp_name: caller.hcp.name.clone(),
            hcp_role: caller.hcp.role.code(),
            hcp_organisation_id: caller.hcp.organisation_id.clone(),
            purpose_of_use: caller.hcp.purpose_of_use,
            patient: None,
            objects: Vec::new(),
            message_id: message_id.unwrap_or_default().to_owned(),
            reason: None,
        }
    }

    pub fn failed(mut self, code: EhdsiError) -> Self {
        self.outcome = Outcome::Failure;
        self.error_code = Some(code);
        self
    }
}

/// The audit trail could not take the event: the response must not leave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit trail unavailable: {0}")]
pub struct AuditFailure(pub String);

/// Where the endpoints write their audit events, durably, before answering.
pub trait AuditSink: Send + Sync {
    fn append<'a>(
        &'a self,
        event: &'a AuditEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), AuditFailure>> + Send + 'a>>;
}

/// Keeps the events in memory: for tests, and for a bridge started without an audit store.
#[derive(Debug, Default)]
pub struct MemoryAudit {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemoryAudit {
    pub fn new() -> Self {
        MemoryAudit::default()
    }

    /// The events so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl AuditSink for MemoryAudit {
    fn append<'a>(
        &'a self,
        event: &'a AuditEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), AuditFailure>> + Send + 'a>> {
        Box::pin(async move {
            self.events
                .lock()
                .map_err(|_| AuditFailure("memory audit poisoned".into()))?
                .push(event.clone());
            Ok(())
        })
    }
}
