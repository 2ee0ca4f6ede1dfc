//! The audit trail of Sweden as Country B: every call abroad on a Swedish user's behalf (who,
//! for which foreign patient, which documents, how it ended) is written to the same
//! hash-chained trail as the Country A transactions, with Sweden as the requesting NCP and the
//! foreign NCP as the responding one, before the FHIR answer leaves.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use chrono::Utc;

use super::client::BoxFuture;
use super::foreign_gateway::ForeignPatientId;
use super::token::{SwedishUser, UserRole};
use crate::audit::{AuditLog, AuditRecord, EventType, Hcp, Ncp, ObjectRef, Outcome};
use crate::security::{FacilityType, PatientRef};

/// Where Country B's audit records go, durably, before the answer leaves.
pub trait CountryBAudit: Send + Sync {
    fn append<'a>(&'a self, record: &'a AuditRecord) -> BoxFuture<'a, Result<(), String>>;
}

impl CountryBAudit for AuditLog {
    fn append<'a>(&'a self, record: &'a AuditRecord) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            AuditLog::append(self, record)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// Records kept in memory (a bridge without `[audit]`, and tests).
#[derive(Debug, Default)]
pub struct MemoryTrail {
    records: Mutex<Vec<AuditRecord>>,
}

impl MemoryTrail {
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl CountryBAudit for MemoryTrail {
    fn append<'a>(&'a self, record: &'a AuditRecord) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.records
                .lock()
                .map_err(|_| "memory audit poisoned".to_owned())?
                .push(record.clone());
            Ok(())
        })
    }
}

/// One call abroad to be audited.
pub struct Audited<'a> {
    pub event: EventType,
    pub user: &'a SwedishUser,
    pub foreign: Ncp,
    pub patient: Option<&'a ForeignPatientId>,
    pub objects: Vec<ObjectRef>,
    pub success: bool,
    /// For Swedish log review: why it failed.
    pub reason: Option<String>,
    pub source_ip: Option<IpAddr>,
    pub request_id: String,
}

/// The audit record of `a`, with Sweden (`us`) requesting.
pub fn record(us: &Ncp, a: Audited<'_>) -> AuditRecord {
    AuditRecord {
        event_type: a.event,
        event_time: Utc::now(),
        outcome: if a.success {
            Outcome::Success
        } else {
            Outcome::MinorFailure
        },
        error_code: None,
        requesting: us.clone(),
        responding: a.foreign,
        hcp: Hcp {
            id: a.user.hsa_id.as_str().to_owned(),
            name: a.user.name.clone(),
            role: a.user.role.hcp_role(),
            organisation: a.user.organisation.clone(),
            organisation_id: a.user.organisation_hsa_id.as_str().to_owned(),
            facility_type: match a.user.role {
                UserRole::Pharmacist => FacilityType::Pharmacy,
                UserRole::Doctor | UserRole::Nurse => FacilityType::Hospital,
            },
        },
        purpose_of_use: a.user.purpose,
        patient: a
            .patient
            .map(|p| PatientRef::new(p.root.clone(), p.extension.clone())),
        objects: a.objects,
        message_id: a.request_id,
        source_ip: a.source_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        reason: a.reason,
    }
}

/// The sink of a bridge: the configured trail, else memory.
pub fn sink_of(log: Option<Arc<AuditLog>>) -> Arc<dyn CountryBAudit> {
    match log {
        Some(l) => l,
        None => Arc::new(MemoryTrail::default()),
    }
}
