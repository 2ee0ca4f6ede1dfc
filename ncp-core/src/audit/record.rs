//! The audit record, its canonical serialisation and the chain hash.
//!
//! A record is stored as its *canonical form*: the JSON of [`WireRecord`], a private struct of
//! plain strings whose fields serialise in declaration order (no maps, so no key-order
//! ambiguity), with the event time truncated to microseconds (what PostgreSQL keeps). The chain
//! hash of record `seq` is
//!
//! ```text
//! SHA-256("ncp-audit-v1\n" || seq || "\n" || prev_hash_hex || "\n" || canonical_json)
//! ```
//!
//! hex-encoded, with 64 zeros as the previous hash of record 1. Including `seq` makes a
//! removed or reordered row as detectable as an edited one.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use ncp_types::{CountryCode, DispensationId, Oid, PrescriptionId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ihe::errors::EhdsiError;
use crate::security::{FacilityType, HcpRole, PatientRef, PurposeOfUse};

/// The previous hash of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened: the transaction the bridge served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// XCPD Cross Gateway Patient Discovery (ITI-55).
    PatientIdentification,
    /// XCA Cross Gateway Query (ITI-38): listing a patient's documents.
    DocumentList,
    /// XCA Cross Gateway Retrieve (ITI-39): disclosing a document.
    DocumentRetrieve,
    /// XDR Provide and Register (ITI-41) of an eDispensation.
    DispensationSubmit,
    /// XDR Provide and Register (ITI-41) of an eDispensation discard.
    DispensationDiscard,
    /// A request to the bridge's FHIR API by a Swedish user.
    FhirApi,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::PatientIdentification,
        EventType::DocumentList,
        EventType::DocumentRetrieve,
        EventType::DispensationSubmit,
        EventType::DispensationDiscard,
        EventType::FhirApi,
    ];

    /// The stable code stored in the audit trail and reported in the KPIs.
    pub fn code(self) -> &'static str {
        match self {
            EventType::PatientIdentification => "patient-identification",
            EventType::DocumentList => "document-list",
            EventType::DocumentRetrieve => "document-retrieve",
            EventType::DispensationSubmit => "dispensation-submit",
            EventType::DispensationDiscard => "dispensation-discard",
            EventType::FhirApi => "fhir-api",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        EventType::ALL.into_iter().find(|e| e.code() == code)
    }

    /// The IHE transaction (`ITI-55`, ...) or, for the FHIR API, the HL7 `rest` event type.
    pub fn transaction(self) -> &'static str {
        match self {
            EventType::PatientIdentification => "ITI-55",
            EventType::DocumentList => "ITI-38",
            EventType::DocumentRetrieve => "ITI-39",
            EventType::DispensationSubmit | EventType::DispensationDiscard => "ITI-41",
            EventType::FhirApi => "rest",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The outcome, as the ATNA `EventOutcomeIndicator` grades it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Success,
    MinorFailure,
    SeriousFailure,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [
        Outcome::Success,
        Outcome::MinorFailure,
        Outcome::SeriousFailure,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::MinorFailure => "minor-failure",
            Outcome::SeriousFailure => "serious-failure",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Outcome::ALL.into_iter().find(|o| o.code() == code)
    }

    /// The DICOM / RFC 3881 `EventOutcomeIndicator`: 0, 4 or 8.
    pub fn atna_indicator(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::MinorFailure => 4,
            Outcome::SeriousFailure => 8,
        }
    }
}

/// A National Contact Point: its country and its `homeCommunityId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ncp {
    pub country: CountryCode,
    pub home_community_id: Oid,
}

/// The health professional on whose behalf the request was made.
///
/// `Debug` leaves out the HCP's identifier and name.
#[derive(Clone, PartialEq, Eq)]
pub struct Hcp {
    /// The HCP's identifier at the issuer of the identity assertion.
    pub id: String,
    pub name: String,
    pub role: HcpRole,
    pub organisation: String,
    pub organisation_id: String,
    pub facility_type: FacilityType,
}

impl fmt::Debug for Hcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hcp")
            .field("role", &self.role.code())
            .field("organisation_id", &self.organisation_id)
            .field("facility_type", &self.facility_type)
            .finish_non_exhaustive()
    }
}

/// An object the transaction disclosed or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectRef {
    /// A CDA document, by its unique id (`root^extension` or an OID).
    Document(String),
    Prescription(PrescriptionId),
    Dispensation(DispensationId),
}

impl ObjectRef {
    fn kind(&self) -> &'static str {
        match self {
            ObjectRef::Document(_) => "document",
            ObjectRef::Prescription(_) => "prescription",
            ObjectRef::Dispensation(_) => "dispensation",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            ObjectRef::Document(d) => d,
            ObjectRef::Prescription(p) => p.as_str(),
            ObjectRef::Dispensation(d) => d.as_str(),
        }
    }
}

/// One audited event (IHE ATNA / RFC 3881 shaped).
///
/// `Debug` is safe for logs: it leaves out the patient, the HCP's name and id and the reason.
#[derive(Clone, PartialEq)]
pub struct AuditRecord {
    pub event_type: EventType,
    pub event_time: DateTime<Utc>,
    pub outcome: Outcome,
    /// The eHDSI error code sent to the requester, if any.
    pub error_code: Option<EhdsiError>,
    pub requesting: Ncp,
    pub responding: Ncp,
    pub hcp: Hcp,
    pub purpose_of_use: PurposeOfUse,
    pub patient: Option<PatientRef>,
    pub objects: Vec<ObjectRef>,
    /// The transaction's WS-Addressing `MessageID` (or the FHIR request id).
    pub message_id: String,
    pub source_ip: IpAddr,
    /// Why, for Swedish log review only (`blocked: provider-block`); never sent to the
    /// requester and never logged.
    pub reason: Option<String>,
}

impl fmt::Debug for AuditRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditRecord")
            .field("event_type", &self.event_type)
            .field("event_time", &self.event_time)
            .field("outcome", &self.outcome)
            .field("error_code", &self.error_code.map(|e| e.code()))
            .field("requesting", &self.requesting)
            .field("responding", &self.responding)
            .field("hcp", &self.hcp)
            .field("message_id", &self.message_id)
            .finish_non_exhaustive()
    }
}

/// The canonical, stored form of a record. Field order is part of the hash: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireRecord {
    pub v: u32,
    pub event_type: String,
    pub event_time: String,
    pub outcome: String,
    pub error_code: Option<String>,
    pub requesting_country: String,
    pub requesting_hcid: String,
    pub responding_country: String,
    pub responding_hcid: String,
    pub hcp_id: String,
    pub hcp_name: String,
    pub hcp_role: String,
    pub hcp_organisation: String,
    pub hcp_organisation_id: String,
    pub hcp_facility_type: String,
    pub purpose_of_use: String,
    pub patient_root: Option<String>,
    pub patient_extension: Option<String>,
    pub objects: Vec<(String, String)>,
    pub message_id: String,
    pub source_ip: String,
    pub reason: Option<String>,
}

/// The columns kept beside the canonical text so queries need not parse every record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexColumns {
    pub event_time_us: i64,
    pub event_type: String,
    pub outcome: String,
    pub requesting_country: String,
    pub patient_root: Option<String>,
    pub patient_ext: Option<String>,
}

/// A record ready to be chained: its canonical text and its index columns.
#[derive(Debug, Clone)]
pub(crate) struct Canonical {
    pub json: String,
    pub index: IndexColumns,
}

pub(super) fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Truncates to whole microseconds, the precision both backends keep.
pub(super) fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_micros(t.timestamp_micros())
        .single()
        .unwrap_or(t)
}

impl AuditRecord {
    pub(crate) fn to_wire(&self) -> WireRecord {
        WireRecord {
            v: 1,
            event_type: self.event_type.code().to_owned(),
            event_time: time_text(&truncate_micros(self.event_time)),
            outcome: self.outcome.code().to_owned(),
            error_code: self.error_code.map(|e| e.code().to_owned()),
            requesting_country: self.requesting.country.as_str().to_owned(),
            requesting_hcid: self.requesting.home_community_id.as_str().to_owned(),
            responding_country: self.responding.country.as_str().to_owned(),
            responding_hcid: self.responding.home_community_id.as_str().to_owned(),
            hcp_id: self.hcp.id.clone(),
            hcp_name: self.hcp.name.clone(),
            hcp_role: self.hcp.role.code().to_owned(),
            hcp_organisation: self.hcp.organisation.clone(),
            hcp_organisation_id: self.hcp.organisation_id.clone(),
            hcp_facility_type: self.hcp.facility_type.as_str().to_owned(),
            purpose_of_use: self.purpose_of_use.code().to_owned(),
            patient_root: self.patient.as_ref().map(|p| p.root.as_str().to_owned()),
            patient_extension: self.patient.as_ref().map(|p| p.extension.clone()),
            objects: self
                .objects
                .iter()
                .map(|o| (o.kind().to_owned(), o.id().to_owned()))
                .collect(),
            message_id: self.message_id.clone(),
            source_ip: self.source_ip.to_string(),
            reason: self.reason.clone(),
        }
    }

    pub(crate) fn canonical(&self) -> Result<Canonical, serde_json::Error> {
        let wire = self.to_wire();
        let json = serde_json::to_string(&wire)?;
        Ok(Canonical {
            index: IndexColumns {
                event_time_us: truncate_micros(self.event_time).timestamp_micros(),
                event_type: wire.event_type,
                outcome: wire.outcome,
                requesting_country: wire.requesting_country,
                patient_root: wire.patient_root,
                patient_ext: wire.patient_extension,
            },
            json,
        })
    }

    /// Decodes a stored canonical record. `Err` names the field that did not decode.
    pub(crate) fn from_canonical(json: &str) -> Result<AuditRecord, String> {
        let w: WireRecord =
            serde_json::from_str(json).map_err(|e| format!("not a canonical record: {e}"))?;
        if w.v != 1 {
            return Err(format!("unknown record version {}", w.v));
        }
        let bad = |field: &str| format!("bad {field}");
        let ncp = |country: &str, hcid: &str, what: &str| -> Result<Ncp, String> {
            Ok(Ncp {
                country: CountryCode::parse(country).map_err(|_| bad(what))?,
                home_community_id: Oid::parse(hcid).map_err(|_| bad(what))?,
            })
        };
        let patient = match (&w.patient_root, &w.patient_extension) {
            (Some(root), Some(ext)) => Some(PatientRef::new(
                Oid::parse(root).map_err(|_| bad("patient_root"))?,
                ext.clone(),
            )),
            (None, None) => None,
            _ => return Err(bad("patient")),
        };
        let objects = w
            .objects
            .iter()
            .map(|(kind, id)| match kind.as_str() {
                "document" => Ok(ObjectRef::Document(id.clone())),
                "prescription" => PrescriptionId::new(id.clone())
                    .map(ObjectRef::Prescription)
                    .map_err(|_| bad("objects")),
                "dispensation" => DispensationId::new(id.clone())
                    .map(ObjectRef::Dispensation)
                    .map_err(|_| bad("objects")),
                _ => Err(bad("objects")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AuditRecord {
            event_type: EventType::from_code(&w.event_type).ok_or_else(|| bad("event_type"))?,
            event_time: DateTime::parse_from_rfc3339(&w.event_time)
                .map_err(|_| bad("event_time"))?
                .with_timezone(&Utc),
            outcome: Outcome::from_code(&w.outcome).ok_or_else(|| bad("outcome"))?,
            error_code: match &w.error_code {
                Some(c) => Some(EhdsiError::from_code(c).ok_or_else(|| bad("error_code"))?),
                None => None,
            },
            requesting: ncp(&w.requesting_country, &w.requesting_hcid, "requesting")?,
            responding: ncp(&w.responding_country, &w.responding_hcid, "responding")?,
            hcp: Hcp {
                id: w.hcp_id,
                name: w.hcp_name,
                role: HcpRole::parse(&w.hcp_role).ok_or_else(|| bad("hcp_role"))?,
                organisation: w.hcp_organisation,
                organisation_id: w.hcp_organisation_id,
                facility_type: FacilityType::parse(&w.hcp_facility_type)
                    .ok_or_else(|| bad("hcp_facility_type"))?,
            },
            purpose_of_use: PurposeOfUse::parse(&w.purpose_of_use)
                .ok_or_else(|| bad("purpose_of_use"))?,
            patient,
            objects,
            message_id: w.message_id,
            source_ip: w.source_ip.parse().map_err(|_| bad("source_ip"))?,
            reason: w.reason,
        })
    }
}

/// The chain hash of record `seq` (see the module docs), lower-case hex.
pub(crate) fn chain_hash(seq: i64, prev_hash: &str, canonical_json: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"ncp-audit-v1\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical_json.as_bytes());
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}
