//! The audit trail: every disclosure, who asked, for which patient, and why it was answered
//! the way it was, in one append-only, hash-chained table.
//!
//! - Append before the response leaves: [`AuditLog::append`] returns once the record is
//!   durable (SQLite WAL with `synchronous=FULL`; PostgreSQL commit) and the caller must not
//!   send the response if it fails.
//! - One chain, even with several bridge replicas on one PostgreSQL: appends take a
//!   transaction-scoped advisory lock, read the head and insert the next `seq` in the same
//!   transaction (SQLite: `BEGIN IMMEDIATE`). See [`record`] for the hash.
//! - Tampering with a stored row (its canonical text, its hash or its index columns), removing
//!   a row in the middle or reordering rows shows in [`AuditLog::verify`]. Removing the *last*
//!   rows does not break the chain: anchor [`VerifyReport::head`] elsewhere to detect that.
//! - UPDATE and DELETE on the table are refused by triggers in both backends.
//!
//! Two kinds of record share the chain: a transaction served for a verified caller
//! ([`AuditRecord`]) and a request refused before its caller was verified
//! ([`RefusedRequest`], see [`refusal`] for what it keeps and why it keeps no patient data).
//! `verify` checks both alike; the KPIs count refusals under `refused-unverified`.
//!
//! Nothing here logs record contents: patient ids, HCP names and reasons go to the audit
//! trail only.
//!
//! Schema (same columns in both backends):
//!
//! ```sql
//! CREATE TABLE audit_log (
//!     seq                BIGINT PRIMARY KEY,   -- 1, 2, 3, ... without gaps
//!     event_time_us      BIGINT NOT NULL,      -- microseconds since the Unix epoch, UTC
//!     event_type         TEXT NOT NULL,        -- EventType::code
//!     outcome            TEXT NOT NULL,        -- Outcome::code
//!     requesting_country TEXT NOT NULL,
//!     patient_root       TEXT,
//!     patient_ext        TEXT,
//!     record             TEXT NOT NULL,        -- the canonical JSON (record.rs)
//!     prev_hash          TEXT NOT NULL,
//!     hash               TEXT NOT NULL);
//! ```

pub mod atna;
mod postgres;
pub mod record;
pub mod refusal;
mod sqlite;

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use ncp_types::CountryCode;
use serde::{Deserialize, Serialize};

pub use atna::{refusal_to_atna_xml, to_atna_xml};
pub use record::{AuditRecord, EventType, Hcp, Ncp, ObjectRef, Outcome, GENESIS_HASH};
pub use refusal::{MemoryRefusals, RefusalClass, RefusalSink, RefusedRequest, TlsPeer};

pub(crate) use postgres::{connect as pg_connect, create_schema as pg_create_schema, PgClient};

use crate::security::{HcpRole, PatientRef};

/// Where a store keeps its table: shared by the audit trail and the outbox.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum StorageBackend {
    /// An embedded SQLite file (created if missing).
    Sqlite { path: PathBuf },
    /// A PostgreSQL connection string (`postgresql://user@host:5432/db` or key=value form).
    Postgres { url: String },
}

impl fmt::Debug for StorageBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageBackend::Sqlite { path } => {
                f.debug_struct("Sqlite").field("path", path).finish()
            }
            // The URL may carry a password.
            StorageBackend::Postgres { .. } => f.write_str("Postgres { url: <redacted> }"),
        }
    }
}

/// `[audit]` of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    pub backend: StorageBackend,
}

/// Why the audit trail could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit store (SQLite): {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("audit store (PostgreSQL): {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("audit record could not be serialised: {0}")]
    Serialise(#[from] serde_json::Error),
    #[error("audit store holds an unreadable record at seq {seq}: {why}")]
    Corrupt { seq: i64, why: String },
    #[error("audit record cannot be stored faithfully: {0}")]
    Unrepresentable(String),
    #[error("audit store task failed: {0}")]
    Task(String),
}

pub type Result<T, E = AuditError> = std::result::Result<T, E>;

/// The position of a record in the chain (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AuditSeq(pub i64);

impl fmt::Display for AuditSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A half-open time interval `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Period { from, to }
    }

    /// All of time that the store can hold.
    pub fn all() -> Self {
        Period {
            from: DateTime::<Utc>::MIN_UTC,
            to: DateTime::<Utc>::MAX_UTC,
        }
    }

    fn micros(&self) -> (i64, i64) {
        (self.from.timestamp_micros(), self.to.timestamp_micros())
    }
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// How many records were checked (up to and including a broken one).
    pub records: u64,
    /// The first record whose hash, link, position or index columns do not match.
    pub first_broken: Option<AuditSeq>,
    /// The hash of the last good record (anchor it elsewhere to detect truncation).
    pub head: Option<String>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// One access to a patient's records, for the patient's right to know who accessed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSummary {
    pub organisation: String,
    pub organisation_id: String,
    pub country: CountryCode,
    pub role: HcpRole,
    pub time: DateTime<Utc>,
    pub what: EventType,
    pub outcome: Outcome,
}

/// One eHDSI/eADC KPI cell: how many transactions of a type, from a country, ended how.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KpiCount {
    pub event_type: EventType,
    pub country: CountryCode,
    pub outcome: Outcome,
    pub count: u64,
}

/// Requests refused before their caller was verified, from one TLS peer country.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RefusedCount {
    /// The peer certificate's country, or `ZZ`.
    pub country: String,
    pub count: u64,
}

/// A stored row, as the backends hand it back.
#[derive(Debug, Clone)]
pub(crate) struct StoredRow {
    pub seq: i64,
    pub record: String,
    pub prev_hash: String,
    pub hash: String,
    pub index: record::IndexColumns,
}

enum Store {
    Sqlite(sqlite::SqliteAudit),
    Postgres(Box<postgres::PgAudit>),
}

/// The audit trail. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct AuditLog {
    store: Store,
}

const VERIFY_BATCH: i64 = 1000;

impl AuditLog {
    /// Opens (and creates if needed) the audit table of the configured backend.
    pub async fn open(config: &AuditConfig) -> Result<AuditLog> {
        let store = match &config.backend {
            StorageBackend::Sqlite { path } => {
                Store::Sqlite(sqlite::SqliteAudit::open(path).await?)
            }
            StorageBackend::Postgres { url } => {
                Store::Postgres(Box::new(postgres::PgAudit::open(url).await?))
            }
        };
        Ok(AuditLog { store })
    }

    /// Appends a record to the chain; durable when this returns `Ok`.
    pub async fn append(&self, record: &AuditRecord) -> Result<AuditSeq> {
        let canonical = record.canonical()?;
        // Refuse what verify() could not read back identically (a year outside 0..=9999, say):
        // such a record would look like tampering later.
        let round_trip = AuditRecord::from_canonical(&canonical.json)
            .and_then(|r| r.canonical().map_err(|e| e.to_string()))
            .map_err(AuditError::Unrepresentable)?;
        self.append_canonical(canonical, round_trip.json, record.event_type.code())
            .await
    }

    /// Appends the record of a request refused before its caller was verified; durable when
    /// this returns `Ok`.
    pub async fn append_refusal(&self, refusal: &RefusedRequest) -> Result<AuditSeq> {
        let canonical = refusal.canonical()?;
        let round_trip = RefusedRequest::from_canonical(&canonical.json)
            .and_then(|r| r.canonical().map_err(|e| e.to_string()))
            .map_err(AuditError::Unrepresentable)?;
        self.append_canonical(canonical, round_trip.json, refusal::REFUSED_EVENT_TYPE)
            .await
    }

    async fn append_canonical(
        &self,
        canonical: record::Canonical,
        round_trip: String,
        event: &'static str,
    ) -> Result<AuditSeq> {
        if round_trip != canonical.json {
            return Err(AuditError::Unrepresentable(
                "the record does not read back identically".into(),
            ));
        }
        let seq = match &self.store {
            Store::Sqlite(s) => s.append(canonical).await,
            Store::Postgres(s) => s.append(canonical).await,
        };
        match seq {
            Ok(seq) => {
                tracing::debug!(seq, event, "audit record appended");
                Ok(AuditSeq(seq))
            }
            Err(e) => {
                tracing::error!(error = %e, event, "audit append failed");
                Err(e)
            }
        }
    }

    async fn rows_after(&self, after: i64) -> Result<Vec<StoredRow>> {
        match &self.store {
            Store::Sqlite(s) => s.rows_after(after, VERIFY_BATCH).await,
            Store::Postgres(s) => s.rows_after(after, VERIFY_BATCH).await,
        }
    }

    /// Walks the whole chain and reports the first record that does not check out.
    pub async fn verify(&self) -> Result<VerifyReport> {
        let mut records = 0u64;
        let mut prev_seq = 0i64;
        let mut prev_hash = GENESIS_HASH.to_owned();
        loop {
            let rows = self.rows_after(prev_seq).await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                records += 1;
                if !row_checks_out(&row, prev_seq, &prev_hash) {
                    tracing::warn!(seq = row.seq, "audit chain broken");
                    return Ok(VerifyReport {
                        records,
                        first_broken: Some(AuditSeq(row.seq)),
                        head: (prev_seq > 0).then_some(prev_hash),
                    });
                }
                prev_seq = row.seq;
                prev_hash = row.hash;
            }
        }
        Ok(VerifyReport {
            records,
            first_broken: None,
            head: (prev_seq > 0).then_some(prev_hash),
        })
    }

    /// Every audited access to `patient` in `period`, oldest first.
    pub async fn accesses_to_patient(
        &self,
        patient: &PatientRef,
        period: Period,
    ) -> Result<Vec<AccessSummary>> {
        let (from, to) = period.micros();
        let root = patient.root.as_str();
        let ext = patient.extension.as_str();
        let rows = match &self.store {
            Store::Sqlite(s) => s.patient_records(root, ext, from, to).await?,
            Store::Postgres(s) => s.patient_records(root, ext, from, to).await?,
        };
        rows.into_iter()
            .map(|(seq, json)| {
                let r = AuditRecord::from_canonical(&json)
                    .map_err(|why| AuditError::Corrupt { seq, why })?;
                Ok(AccessSummary {
                    organisation: r.hcp.organisation,
                    organisation_id: r.hcp.organisation_id,
                    country: r.requesting.country,
                    role: r.hcp.role,
                    time: r.event_time,
                    what: r.event_type,
                    outcome: r.outcome,
                })
            })
            .collect()
    }

    /// KPI counts per transaction type, requesting country and outcome in `period` (the
    /// transactions of verified callers; see [`AuditLog::refused_kpi`] for the others).
    pub async fn kpi(&self, period: Period) -> Result<Vec<KpiCount>> {
        let corrupt = |why: String| AuditError::Corrupt { seq: 0, why };
        let mut out = self
            .kpi_rows(period)
            .await?
            .into_iter()
            .filter(|(t, ..)| t != refusal::REFUSED_EVENT_TYPE)
            .map(|(t, c, o, n)| {
                Ok(KpiCount {
                    event_type: EventType::from_code(&t)
                        .ok_or_else(|| corrupt(format!("unknown event type {t}")))?,
                    country: CountryCode::parse(&c).map_err(|e| corrupt(e.to_string()))?,
                    outcome: Outcome::from_code(&o)
                        .ok_or_else(|| corrupt(format!("unknown outcome {o}")))?,
                    count: u64::try_from(n).unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort();
        Ok(out)
    }

    /// How many requests were refused before their caller was verified in `period`, per TLS
    /// peer country (`ZZ` when the certificate names none).
    pub async fn refused_kpi(&self, period: Period) -> Result<Vec<RefusedCount>> {
        let mut out: Vec<RefusedCount> = self
            .kpi_rows(period)
            .await?
            .into_iter()
            .filter(|(t, ..)| t == refusal::REFUSED_EVENT_TYPE)
            .map(|(_, country, _, n)| RefusedCount {
                country,
                count: u64::try_from(n).unwrap_or(0),
            })
            .collect();
        out.sort();
        Ok(out)
    }

    async fn kpi_rows(&self, period: Period) -> Result<Vec<(String, String, String, i64)>> {
        let (from, to) = period.micros();
        match &self.store {
            Store::Sqlite(s) => s.kpi(from, to).await,
            Store::Postgres(s) => s.kpi(from, to).await,
        }
    }
}

/// Whether `row` is the valid successor of (`prev_seq`, `prev_hash`).
fn row_checks_out(row: &StoredRow, prev_seq: i64, prev_hash: &str) -> bool {
    if row.seq != prev_seq + 1 || row.prev_hash != prev_hash {
        return false;
    }
    if record::chain_hash(row.seq, &row.prev_hash, &row.record) != row.hash {
        return false;
    }
    // The index columns must say what the hashed record says.
    let canonical = match AuditRecord::from_canonical(&row.record) {
        Ok(r) => r.canonical().map_err(|e| e.to_string()),
        Err(_) => RefusedRequest::from_canonical(&row.record)
            .and_then(|r| r.canonical().map_err(|e| e.to_string())),
    };
    match canonical {
        Ok(c) => c.json == row.record && c.index == row.index,
        Err(_) => false,
    }
}
