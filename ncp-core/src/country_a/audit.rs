//! The audit call site of the country A transactions: every transaction hands an
//! [`AuditEvent`] to an [`AuditSink`] and sends its response only once the sink said the event
//! is durable.
//!
//! The fields follow `crate::audit::AuditRecord` (the hash-chained audit trail) one to one, so
//! an adapter from [`AuditSink`] to `AuditLog::append` is a field-by-field copy.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ncp_types::{CountryCode, Oid, PrescriptionId};

use crate::audit::{self as trail, AuditLog, AuditRecord, EventType, Hcp, Ncp, ObjectRef};
use crate::ihe::errors::EhdsiError;
use crate::security::{
    FacilityType, HcpRole, PatientRef, PurposeOfUse, Transaction, VerifiedCaller,
};

/// The reasons the Patient Summary writes into [`AuditEvent::reason`] (for the Swedish log
/// review only; the requester never sees them).
pub mod reasons {
    /// The patient opted out: no summary at all.
    pub const BLOCKED_OPT_OUT: &str = "blocked: opt-out";
    /// A category block on the Patient Summary: no summary.
    pub const BLOCKED_PS_CATEGORY: &str = "blocked: category-block patient-summary";
    /// A provider block left a provider's records out (followed by the HSA-ids).
    pub const BLOCKED_PROVIDER: &str = "blocked: provider-block";
    /// Entry blocks left records out (followed by how many).
    pub const BLOCKED_ENTRY: &str = "blocked: entry-block";
    /// Some source did not answer; the summary says it is incomplete (followed by which).
    pub const INCOMPLETE: &str = "incomplete";
    /// NLL does not know the patient.
    pub const UNKNOWN_PATIENT: &str = "unknown in NLL";
    /// Nothing to summarise.
    pub const NO_DATA: &str = "no data";
    /// The patient id is not a Swedish personnummer or samordningsnummer.
    pub const NOT_SWEDISH: &str = "no Swedish identifier";
}

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
    pub hcp_organisation: String,
    pub hcp_facility_type: FacilityType,
    pub purpose_of_use: PurposeOfUse,
    pub patient: Option<PatientRef>,
    /// Document unique ids (`root^extension`) and prescription ids disclosed or received.
    pub objects: Vec<String>,
    /// Objects with their kind (see [`AuditEvent::object`]).
    pub refs: Vec<ObjectRef>,
    /// The requesting NCP's home community id, when the message names it (XCPD's sender).
    pub requesting_hcid: Option<Oid>,
    /// The request's WS-Addressing MessageID.
    pub message_id: String,
    /// For Swedish log review only (`blocked: opt-out`); never sent, never logged.
    pub reason: Option<String>,
    /// Where the request came from (the TLS connection's remote address).
    pub source_ip: Option<IpAddr>,
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
            hcp_organisation: caller.hcp.organisation.clone(),
            hcp_facility_type: caller.hcp.facility_type,
            purpose_of_use: caller.hcp.purpose_of_use,
            patient: None,
            objects: Vec::new(),
            refs: Vec::new(),
            requesting_hcid: None,
            message_id: message_id.unwrap_or_default().to_owned(),
            reason: None,
            source_ip: None,
        }
    }

    /// The remote address the request came from.
    pub fn from_address(mut self, ip: Option<IpAddr>) -> Self {
        self.source_ip = ip;
        self
    }

    pub fn failed(mut self, code: EhdsiError) -> Self {
        self.outcome = Outcome::Failure;
        self.error_code = Some(code);
        self
    }

    /// Adds an object with its kind.
    pub fn object(&mut self, o: ObjectRef) {
        self.refs.push(o);
    }

    /// The record of the audit trail: `responding` is us. Untyped [`AuditEvent::objects`] are
    /// documents when they are `root^extension`, else prescriptions.
    pub fn to_record(&self, responding: &Ncp) -> AuditRecord {
        let mut objects = self.refs.clone();
        for o in &self.objects {
            if o.contains('^') {
                objects.push(ObjectRef::Document(o.clone()));
            } else if let Ok(p) = PrescriptionId::new(o.as_str()) {
                objects.push(ObjectRef::Prescription(p));
            }
        }
        let requesting_hcid = self
            .requesting_hcid
            .clone()
            .or_else(|| {
                self.hcp_organisation_id
                    .strip_prefix("urn:oid:")
                    .and_then(|o| Oid::parse(o).ok())
            })
            // Unknown: the assertions carry no OID of the requesting NCP.
            .or_else(|| Oid::parse("0.0").ok())
            .unwrap_or_else(|| responding.home_community_id.clone());
        AuditRecord {
            event_type: event_type(self.transaction),
            event_time: self.time,
            outcome: match (self.outcome, self.error_code) {
                (Outcome::Success, _) => trail::Outcome::Success,
                (
                    Outcome::Failure,
                    Some(
                        EhdsiError::ErrorGeneric
                        | EhdsiError::EPrescriptionRegistryNotAccessible
                        | EhdsiError::ErrorEdEDispensationNotStored,
                    ),
                ) => trail::Outcome::SeriousFailure,
                (Outcome::Failure, _) => trail::Outcome::MinorFailure,
            },
            error_code: self.error_code,
            requesting: Ncp {
                country: self.requesting_country,
                home_community_id: requesting_hcid,
            },
            responding: responding.clone(),
            hcp: Hcp {
                id: self.hcp_id.clone(),
                name: self.hcp_name.clone(),
                role: HcpRole::parse(self.hcp_role).unwrap_or(HcpRole::PHYSICIAN),
                organisation: self.hcp_organisation.clone(),
                organisation_id: self.hcp_organisation_id.clone(),
                facility_type: self.hcp_facility_type,
            },
            purpose_of_use: self.purpose_of_use,
            patient: self.patient.clone(),
            objects,
            message_id: self.message_id.clone(),
            source_ip: self.source_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            reason: self.reason.clone(),
        }
    }
}

/// The audit trail's event type of a transaction.
pub fn event_type(t: Transaction) -> EventType {
    match t {
        Transaction::IdentifyPatient => EventType::PatientIdentification,
        Transaction::FindPatientSummary | Transaction::FindPrescriptions => EventType::DocumentList,
        Transaction::RetrievePatientSummary | Transaction::RetrievePrescriptions => {
            EventType::DocumentRetrieve
        }
        Transaction::SubmitDispensation => EventType::DispensationSubmit,
        Transaction::DiscardDispensation => EventType::DispensationDiscard,
    }
}

/// The hash-chained audit trail ([`AuditLog`], `[audit]` of the configuration) as a sink.
pub struct AuditTrail {
    log: Arc<AuditLog>,
    responding: Ncp,
}

impl AuditTrail {
    pub fn new(log: Arc<AuditLog>, responding: Ncp) -> Self {
        AuditTrail { log, responding }
    }
}

impl AuditSink for AuditTrail {
    fn append<'a>(
        &'a self,
        event: &'a AuditEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), AuditFailure>> + Send + 'a>> {
        Box::pin(async move {
            let record = event.to_record(&self.responding);
            self.log
                .append(&record)
                .await
                .map(|_| ())
                .map_err(|e| AuditFailure(e.to_string()))
        })
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
