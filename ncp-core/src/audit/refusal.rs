//! The audit record of a request refused *before* its caller was verified (IHE ATNA
//! "Security Alert", DCM 110113: a failed authentication attempt).
//!
//! Such a request has no verified caller: its SAML assertions were missing, unreadable,
//! unsigned, tampered with, signed by an untrusted issuer, expired or for another audience, its
//! `wsu:Timestamp` was malformed or stale, or the assertions' signer is not the TLS peer, or the
//! message was not readable SOAP at all. An [`super::AuditRecord`] needs a verified HCP, so these get their own record, chained in the
//! same table and hashed the same way ([`super::record::chain_hash`]).
//!
//! What it records is only what the bridge knows for sure:
//!
//! - the time, the endpoint (`/ncp/xca`, `grpc:PatientSearch`) and the transaction the route or
//!   the WS-Addressing Action names (an enumerated value, not free text);
//! - why ([`RefusalClass`]) and the eHDSI code sent back (none when the SOAP fault carried
//!   none, e.g. for an unreadable envelope);
//! - the TLS peer: its certificate's subject CN, O and C (verified by the TLS layer against the
//!   client CA list) and the remote address;
//! - the SHA-256 of the request's WS-Addressing `MessageID`, so the requester can correlate
//!   with its own logs without the trail storing a string chosen by an unverified sender.
//!
//! It records **nothing else from the request**: no patient identifier, name or demographic, no
//! HCP name, no assertion content. Those are unverified claims: storing them would let anyone
//! with a TLS certificate plant "accesses" to a patient in the trail (`ncp audit accesses`) or
//! arbitrary text in it. Not even a hash of the claimed patient id: a personnummer has about
//! 10^10 values, so its hash is as good as the id itself, and it would still be a claim. The
//! record's index columns leave the patient empty, so refusals never show in a patient's
//! access list.
//!
//! Flooding: a refusal is one row per request, the same as an accepted request, and its size is
//! bounded (fixed fields; the peer's subject comes from a certificate the TLS layer accepted;
//! the message id is stored as a 64-character hash). A refused request therefore cannot grow the
//! store faster than an accepted one. Only a TLS-authenticated client can reach the endpoints;
//! limiting how many requests a client may send is the TLS listener's / reverse proxy's job,
//! not the audit trail's.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use ncp_types::{CountryCode, Oid};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::record::{time_text, truncate_micros, Canonical, EventType, IndexColumns, Ncp, Outcome};
use crate::ihe::errors::EhdsiError;

/// The `event_type` index column (and KPI row) of a refusal.
pub const REFUSED_EVENT_TYPE: &str = "refused-unverified";

/// The KPI country of a refusal whose TLS peer certificate names no country (ISO 3166
/// user-assigned `ZZ`, "unknown").
pub const UNKNOWN_COUNTRY: &str = "ZZ";

/// Why the request was refused before its caller was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefusalClass {
    /// Not a readable message: over the size limit, not SOAP 1.2, no or an unknown Action, or a
    /// body the transaction cannot read.
    UnreadableMessage,
    /// The SAML assertions were refused (missing, unsigned, tampered, untrusted signer, expired,
    /// wrong audience, insufficient permissions ...); the eHDSI code says which.
    Assertion,
    /// The assertions verified, but were signed by another NCP than the TLS peer.
    PeerMismatch,
    /// The `wsse:Security` header's `wsu:Timestamp` was refused before the assertions: more
    /// than one, malformed, expired, or created too far in the future.
    Timestamp,
}

impl RefusalClass {
    pub const ALL: [RefusalClass; 4] = [
        RefusalClass::UnreadableMessage,
        RefusalClass::Assertion,
        RefusalClass::PeerMismatch,
        RefusalClass::Timestamp,
    ];

    pub fn code(self) -> &'static str {
        match self {
            RefusalClass::UnreadableMessage => "unreadable-message",
            RefusalClass::Assertion => "assertion-refused",
            RefusalClass::PeerMismatch => "tls-peer-mismatch",
            RefusalClass::Timestamp => "timestamp-refused",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        RefusalClass::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// The TLS client, as its verified certificate and the connection name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsPeer {
    pub common_name: Option<String>,
    pub organization: Option<String>,
    pub country: Option<CountryCode>,
    pub remote_ip: Option<IpAddr>,
}

impl From<&crate::server::Peer> for TlsPeer {
    fn from(p: &crate::server::Peer) -> Self {
        TlsPeer {
            common_name: p.common_name.clone(),
            organization: p.organization.clone(),
            country: p.country,
            remote_ip: p.remote.map(|a| a.ip()),
        }
    }
}

/// One refused, unverified request. `Debug` is safe for logs (it holds no request content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRequest {
    pub event_time: DateTime<Utc>,
    /// Where it came in: `/ncp/xcpd`, `/ncp/xca`, `/ncp/xdr`, `grpc:GetDocument`, ...
    pub endpoint: &'static str,
    /// The transaction the route or Action names, when known.
    pub attempted: Option<EventType>,
    pub class: RefusalClass,
    /// The eHDSI code sent back, if the answer carried one.
    pub error_code: Option<EhdsiError>,
    pub peer: TlsPeer,
    /// SHA-256 (hex) of the request's WS-Addressing MessageID, when it had one.
    pub message_id_sha256: Option<String>,
    /// Us.
    pub responding: Ncp,
}

impl RefusedRequest {
    /// A refusal now, at `endpoint`, by `peer`.
    pub fn new(
        endpoint: &'static str,
        class: RefusalClass,
        error_code: Option<EhdsiError>,
        peer: TlsPeer,
        responding: Ncp,
    ) -> Self {
        RefusedRequest {
            event_time: Utc::now(),
            endpoint,
            attempted: None,
            class,
            error_code,
            peer,
            message_id_sha256: None,
            responding,
        }
    }

    pub fn attempting(mut self, t: EventType) -> Self {
        self.attempted = Some(t);
        self
    }

    /// Keeps the hash of the request's MessageID (never the id itself).
    pub fn with_message_id(mut self, id: Option<&str>) -> Self {
        self.message_id_sha256 = id
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| hex(&Sha256::digest(s.as_bytes())));
        self
    }

    /// How the refusal counts in the KPIs: a minor failure (nothing was disclosed or changed).
    pub fn outcome(&self) -> Outcome {
        Outcome::MinorFailure
    }

    /// The country the KPIs count it under: the TLS peer's, else [`UNKNOWN_COUNTRY`].
    pub fn kpi_country(&self) -> &str {
        self.peer
            .country
            .as_ref()
            .map_or(UNKNOWN_COUNTRY, CountryCode::as_str)
    }

    pub(crate) fn to_wire(&self) -> WireRefusal {
        WireRefusal {
            v: 1,
            record: REFUSED_EVENT_TYPE.to_owned(),
            event_time: time_text(&truncate_micros(self.event_time)),
            endpoint: self.endpoint.to_owned(),
            attempted: self.attempted.map(|t| t.code().to_owned()),
            class: self.class.code().to_owned(),
            error_code: self.error_code.map(|e| e.code().to_owned()),
            outcome: self.outcome().code().to_owned(),
            peer_common_name: self.peer.common_name.clone(),
            peer_organization: self.peer.organization.clone(),
            peer_country: self.peer.country.map(|c| c.as_str().to_owned()),
            source_ip: self
                .peer
                .remote_ip
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
                .to_string(),
            message_id_sha256: self.message_id_sha256.clone(),
            responding_country: self.responding.country.as_str().to_owned(),
            responding_hcid: self.responding.home_community_id.as_str().to_owned(),
        }
    }

    pub(crate) fn canonical(&self) -> Result<Canonical, serde_json::Error> {
        let wire = self.to_wire();
        let json = serde_json::to_string(&wire)?;
        Ok(Canonical {
            index: IndexColumns {
                event_time_us: truncate_micros(self.event_time).timestamp_micros(),
                event_type: REFUSED_EVENT_TYPE.to_owned(),
                outcome: wire.outcome,
                requesting_country: self.kpi_country().to_owned(),
                patient_root: None,
                patient_ext: None,
            },
            json,
        })
    }

    /// Decodes a stored refusal. `Err` names the field that did not decode.
    pub(crate) fn from_canonical(json: &str) -> Result<RefusedRequest, String> {
        let w: WireRefusal =
            serde_json::from_str(json).map_err(|e| format!("not a canonical refusal: {e}"))?;
        let bad = |field: &str| format!("bad {field}");
        if w.v != 1 || w.record != REFUSED_EVENT_TYPE {
            return Err(bad("refusal version"));
        }
        let refusal = RefusedRequest {
            event_time: DateTime::parse_from_rfc3339(&w.event_time)
                .map_err(|_| bad("event_time"))?
                .with_timezone(&Utc),
            endpoint: endpoint_name(&w.endpoint).ok_or_else(|| bad("endpoint"))?,
            attempted: match &w.attempted {
                Some(t) => Some(EventType::from_code(t).ok_or_else(|| bad("attempted"))?),
                None => None,
            },
            class: RefusalClass::from_code(&w.class).ok_or_else(|| bad("class"))?,
            error_code: match &w.error_code {
                Some(c) => Some(EhdsiError::from_code(c).ok_or_else(|| bad("error_code"))?),
                None => None,
            },
            peer: TlsPeer {
                common_name: w.peer_common_name,
                organization: w.peer_organization,
                country: match &w.peer_country {
                    Some(c) => Some(CountryCode::parse(c).map_err(|_| bad("peer_country"))?),
                    None => None,
                },
                remote_ip: match w.source_ip.parse::<IpAddr>() {
                    Ok(ip) if ip.is_unspecified() => None,
                    Ok(ip) => Some(ip),
                    Err(_) => return Err(bad("source_ip")),
                },
            },
            message_id_sha256: w.message_id_sha256,
            responding: Ncp {
                country: CountryCode::parse(&w.responding_country)
                    .map_err(|_| bad("responding"))?,
                home_community_id: Oid::parse(&w.responding_hcid).map_err(|_| bad("responding"))?,
            },
        };
        if refusal.outcome().code() != w.outcome {
            return Err(bad("outcome"));
        }
        Ok(refusal)
    }
}

/// The endpoints a refusal can name (stored as text, read back as one of these).
pub const ENDPOINTS: [&str; 9] = [
    "/ncp/xcpd",
    "/ncp/xca",
    "/ncp/xdr",
    "grpc:PatientSearch",
    "grpc:GetEPDocumentList",
    "grpc:GetPSDocumentList",
    "grpc:GetDocument",
    "grpc:SubmitDispensation",
    "grpc:CancelDispensation",
];

fn endpoint_name(s: &str) -> Option<&'static str> {
    ENDPOINTS.into_iter().find(|e| *e == s)
}

/// The canonical, stored form of a refusal. Field order is part of the hash: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireRefusal {
    pub v: u32,
    /// Always [`REFUSED_EVENT_TYPE`]: tells a refusal from a transaction record.
    pub record: String,
    pub event_time: String,
    pub endpoint: String,
    pub attempted: Option<String>,
    pub class: String,
    pub error_code: Option<String>,
    pub outcome: String,
    pub peer_common_name: Option<String>,
    pub peer_organization: Option<String>,
    pub peer_country: Option<String>,
    pub source_ip: String,
    pub message_id_sha256: Option<String>,
    pub responding_country: String,
    pub responding_hcid: String,
}

/// Where the endpoints write refusals, durably, before answering.
pub trait RefusalSink: Send + Sync {
    fn append_refusal<'a>(
        &'a self,
        refusal: &'a RefusedRequest,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

impl RefusalSink for super::AuditLog {
    fn append_refusal<'a>(
        &'a self,
        refusal: &'a RefusedRequest,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            super::AuditLog::append_refusal(self, refusal)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// Keeps the refusals in memory: for a bridge started without an audit store, and tests.
#[derive(Debug, Default)]
pub struct MemoryRefusals {
    refusals: Mutex<Vec<RefusedRequest>>,
}

impl MemoryRefusals {
    pub fn new() -> Self {
        MemoryRefusals::default()
    }

    pub fn refusals(&self) -> Vec<RefusedRequest> {
        self.refusals.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl RefusalSink for MemoryRefusals {
    fn append_refusal<'a>(
        &'a self,
        refusal: &'a RefusedRequest,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            self.refusals
                .lock()
                .map_err(|_| "memory refusals poisoned".to_owned())?
                .push(refusal.clone());
            Ok(())
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Ncp {
        Ncp {
            country: CountryCode::SE,
            home_community_id: Oid::parse("1.2.752.129.2.1.99.1").unwrap(),
        }
    }

    #[test]
    fn a_refusal_reads_back_identically_and_keeps_no_message_id_in_clear() {
        let peer = TlsPeer {
            common_name: Some("ncp.ee.test".into()),
            organization: Some("NCP EE".into()),
            country: CountryCode::parse("EE").ok(),
            remote_ip: "10.0.0.7".parse().ok(),
        };
        let r = RefusedRequest::new(
            "/ncp/xca",
            RefusalClass::Assertion,
            Some(EhdsiError::NoSignature),
            peer,
            us(),
        )
        .attempting(EventType::DocumentList)
        .with_message_id(Some("urn:uuid:secret-looking-id"));
        let c = r.canonical().unwrap();
        assert!(!c.json.contains("secret-looking-id"));
        assert_eq!(c.index.event_type, REFUSED_EVENT_TYPE);
        assert_eq!(c.index.requesting_country, "EE");
        assert!(c.index.patient_root.is_none() && c.index.patient_ext.is_none());
        let back = RefusedRequest::from_canonical(&c.json).unwrap();
        assert_eq!(back.canonical().unwrap().json, c.json);
        // A record of the other kind is not a refusal.
        assert!(RefusedRequest::from_canonical("{\"v\":1}").is_err());
    }

    #[test]
    fn a_peer_without_a_country_counts_as_unknown() {
        let r = RefusedRequest::new(
            "grpc:GetDocument",
            RefusalClass::UnreadableMessage,
            None,
            TlsPeer::default(),
            us(),
        );
        assert_eq!(r.kpi_country(), "ZZ");
        let c = r.canonical().unwrap();
        assert_eq!(
            RefusedRequest::from_canonical(&c.json).unwrap(),
            r_trunc(&r)
        );
    }

    fn r_trunc(r: &RefusedRequest) -> RefusedRequest {
        RefusedRequest {
            event_time: truncate_micros(r.event_time),
            ..r.clone()
        }
    }
}
