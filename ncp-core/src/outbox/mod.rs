//! The durable outbox: eDispensations (and discards) acknowledged to the foreign pharmacy that
//! must reach NLL, even when NLL is down when they arrive.
//!
//! The contract towards NLL is **at-least-once delivery with a stable idempotency key**:
//!
//! - [`Outbox::enqueue`] is idempotent on the key (the eDispensation document id): the same
//!   document submitted twice is stored, and delivered, once. It returns once the row is
//!   durable (SQLite `synchronous=FULL`, PostgreSQL commit), so the XDR acknowledgement may be
//!   sent after it.
//! - [`Outbox::run_worker`] claims one due item at a time with a lease (a random token and an
//!   expiry), so two workers — in one process or in two replicas — never hold the same item at
//!   once; a worker that crashes mid-delivery leaves a lease that expires and the item is
//!   claimed again. Results are written only while the lease token still matches.
//! - A delivery can therefore happen twice: when a worker dies (or stalls past its lease) after
//!   NLL accepted the dispensation but before the result was recorded. NLL makes that
//!   harmless: the same `nll-dispense-id` identifier POSTed twice answers 200 with the
//!   existing resource. The deliver function must send the key as that identifier; together
//!   that is exactly-once in effect.
//! - `RetryLater` backs off exponentially with jitter and never gives up; `Rejected(reason)`
//!   keeps the row with its reason for an operator ([`Outbox::rejected`]).
//!
//! Neither payloads nor rejection reasons are logged; keys (document ids) are.
//!
//! Schema (same columns in both backends; times are milliseconds since the Unix epoch):
//!
//! ```sql
//! CREATE TABLE outbox (
//!     key             TEXT PRIMARY KEY,     -- the idempotency key
//!     kind            TEXT NOT NULL,        -- submit | discard
//!     payload         TEXT NOT NULL,        -- the FHIR MedicationDispense (JSON)
//!     state           TEXT NOT NULL,        -- pending | delivered | rejected
//!     attempts        INTEGER NOT NULL,     -- claims so far
//!     enqueued_ms     BIGINT NOT NULL,
//!     next_attempt_ms BIGINT NOT NULL,
//!     lease_token     TEXT,                 -- set while a worker holds the item
//!     lease_until_ms  BIGINT,
//!     last_error      TEXT,
//!     reject_reason   TEXT,
//!     finished_ms     BIGINT);
//! ```

mod postgres;
mod sqlite;
pub mod worker;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use worker::{backoff, DeliveryResult, WorkerConfig, WorkerStats};

pub use crate::audit::StorageBackend;

/// `[outbox]` of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    pub backend: StorageBackend,
    #[serde(default)]
    pub worker: WorkerConfig,
}

/// What is to be done at NLL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Submit,
    Discard,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Submit => "submit",
            Kind::Discard => "discard",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "submit" => Some(Kind::Submit),
            "discard" => Some(Kind::Discard),
            _ => None,
        }
    }
}

/// Where an item is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Pending,
    Delivered,
    Rejected,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(State::Pending),
            "delivered" => Some(State::Delivered),
            "rejected" => Some(State::Rejected),
            _ => None,
        }
    }
}

/// An item handed to the deliver function. `Debug` leaves out the payload.
#[derive(Clone, PartialEq)]
pub struct Item {
    /// The idempotency key: send it to NLL as the `nll-dispense-id` identifier.
    pub key: String,
    pub kind: Kind,
    pub payload: serde_json::Value,
    /// This is attempt number `attempts` (1 on the first delivery).
    pub attempts: u32,
    pub enqueued_at: DateTime<Utc>,
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Item")
            .field("key", &self.key)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// The answer of [`Outbox::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// `false` when the key was already there (the first payload is kept).
    pub new: bool,
}

/// An item not yet delivered (or rejected), for operators and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSummary {
    pub key: String,
    pub kind: Kind,
    pub state: State,
    pub attempts: u32,
    pub enqueued_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    /// A worker holds an unexpired lease on it.
    pub in_flight: bool,
    pub last_error: Option<String>,
    pub reject_reason: Option<String>,
}

/// Counts for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxCounts {
    pub pending: u64,
    /// Pending items a worker is delivering right now (included in `pending`).
    pub in_flight: u64,
    pub delivered: u64,
    pub rejected: u64,
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// Why the outbox could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox (SQLite): {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("outbox (PostgreSQL): {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("outbox payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// Names the row by [`log_ref`], never by its key (a patient's dispensation id).
    #[error("outbox holds an unreadable row ({0})")]
    Corrupt(String),
    #[error("outbox key must be 1 to 256 characters")]
    BadKey,
    #[error("outbox task failed: {0}")]
    Task(String),
    /// Another submission for the same prescription is still pending delivery to NLL.
    #[error("a dispensation of this prescription is still on its way to NLL")]
    InProgress,
}

/// A unique violation on enqueue: key conflicts are ignored by the insert, so it is the
/// one-pending-submission-per-prescription index.
fn in_progress(e: OutboxError) -> OutboxError {
    match &e {
        OutboxError::Postgres(pe)
            if pe.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
        {
            OutboxError::InProgress
        }
        OutboxError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            OutboxError::InProgress
        }
        _ => e,
    }
}

pub type Result<T, E = OutboxError> = std::result::Result<T, E>;

/// A row as the backends return it.
pub(crate) struct RawRow {
    pub key: String,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    pub enqueued_ms: i64,
    pub next_attempt_ms: i64,
    pub in_flight: bool,
    pub last_error: Option<String>,
    pub reject_reason: Option<String>,
}

/// A claimed row.
pub(crate) struct RawClaim {
    pub key: String,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
    pub enqueued_ms: i64,
}

/// How a claimed item ends.
pub(crate) enum Finish {
    Delivered,
    Retry { delay_ms: i64 },
    Rejected(String),
}

enum Store {
    Sqlite(sqlite::SqliteOutbox),
    Postgres(Box<postgres::PgOutbox>),
}

/// The outbox. Share it behind an `Arc`; all methods take `&self`.
pub struct Outbox {
    store: Store,
    config: WorkerConfig,
    wake: Arc<Notify>,
}

/// How logs name an outbox key: the key is a document or dispensation id of a patient, so
/// logs carry the first 16 hex digits of its SHA-256 instead (compute the same over the
/// `outbox.key` column to find the row).
pub fn log_ref(key: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(key.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn time_of(ms: i64) -> Result<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| OutboxError::Corrupt(format!("time {ms}")))
}

impl Outbox {
    pub async fn open(config: &OutboxConfig) -> Result<Outbox> {
        let store = match &config.backend {
            StorageBackend::Sqlite { path } => {
                Store::Sqlite(sqlite::SqliteOutbox::open(path).await?)
            }
            StorageBackend::Postgres { url } => {
                Store::Postgres(Box::new(postgres::PgOutbox::open(url).await?))
            }
        };
        Ok(Outbox {
            store,
            config: config.worker.clone(),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Stores an item for delivery; durable when this returns. Idempotent on `key`.
    pub async fn enqueue(
        &self,
        key: &str,
        kind: Kind,
        payload: serde_json::Value,
    ) -> Result<Enqueued> {
        if key.trim().is_empty() || key.len() > 256 {
            return Err(OutboxError::BadKey);
        }
        let text = serde_json::to_string(&payload)?;
        let existing = match &self.store {
            Store::Sqlite(s) => s.enqueue(key, kind.as_str(), &text).await,
            Store::Postgres(s) => s.enqueue(key, kind.as_str(), &text).await,
        }
        .map_err(in_progress)?;
        match existing {
            None => {
                tracing::info!(key_ref = %log_ref(key), kind = kind.as_str(), "outbox: enqueued");
                self.wake.notify_one();
                Ok(Enqueued { new: true })
            }
            Some((old_kind, old_payload)) => {
                let same = old_kind == kind.as_str()
                    && serde_json::from_str::<serde_json::Value>(&old_payload)
                        .is_ok_and(|v| v == payload);
                if same {
                    tracing::info!(key_ref = %log_ref(key), "outbox: already enqueued");
                } else {
                    tracing::warn!(
                        key_ref = %log_ref(key),
                        "outbox: key already enqueued with other content; the first is kept"
                    );
                }
                Ok(Enqueued { new: false })
            }
        }
    }

    async fn list(&self, state: State) -> Result<Vec<PendingSummary>> {
        let rows = match &self.store {
            Store::Sqlite(s) => s.list(state.as_str()).await?,
            Store::Postgres(s) => s.list(state.as_str()).await?,
        };
        rows.into_iter()
            .map(|r| {
                Ok(PendingSummary {
                    kind: Kind::parse(&r.kind).ok_or_else(|| {
                        OutboxError::Corrupt(format!("kind of row {}", log_ref(&r.key)))
                    })?,
                    state: State::parse(&r.state).ok_or_else(|| {
                        OutboxError::Corrupt(format!("state of row {}", log_ref(&r.key)))
                    })?,
                    attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
                    enqueued_at: time_of(r.enqueued_ms)?,
                    next_attempt_at: time_of(r.next_attempt_ms)?,
                    in_flight: r.in_flight,
                    last_error: r.last_error,
                    reject_reason: r.reject_reason,
                    key: r.key,
                })
            })
            .collect()
    }

    /// Items still to be delivered, oldest first.
    pub async fn pending(&self) -> Result<Vec<PendingSummary>> {
        self.list(State::Pending).await
    }

    /// Items NLL rejected, with the reason, oldest first.
    pub async fn rejected(&self) -> Result<Vec<PendingSummary>> {
        self.list(State::Rejected).await
    }

    /// Counts per state, for metrics.
    pub async fn counts(&self) -> Result<OutboxCounts> {
        match &self.store {
            Store::Sqlite(s) => s.counts().await,
            Store::Postgres(s) => s.counts().await,
        }
    }

    /// Claims the most overdue item for `lease_ms`, if any is due.
    pub(crate) async fn claim(&self, token: &str) -> Result<Option<Item>> {
        let lease_ms = i64::try_from(self.config.lease_ms).unwrap_or(i64::MAX / 4);
        let raw = match &self.store {
            Store::Sqlite(s) => s.claim(token, lease_ms).await?,
            Store::Postgres(s) => s.claim(token, lease_ms).await?,
        };
        let Some(raw) = raw else { return Ok(None) };
        let payload = serde_json::from_str(&raw.payload)
            .map_err(|_| OutboxError::Corrupt(format!("payload of row {}", log_ref(&raw.key))))?;
        Ok(Some(Item {
            kind: Kind::parse(&raw.kind).ok_or_else(|| {
                OutboxError::Corrupt(format!("kind of row {}", log_ref(&raw.key)))
            })?,
            payload,
            attempts: u32::try_from(raw.attempts).unwrap_or(u32::MAX),
            enqueued_at: time_of(raw.enqueued_ms)?,
            key: raw.key,
        }))
    }

    /// Records how a claimed item ended; `false` when the lease was lost meanwhile.
    pub(crate) async fn finish(&self, key: &str, token: &str, how: Finish) -> Result<bool> {
        match &self.store {
            Store::Sqlite(s) => s.finish(key, token, how).await,
            Store::Postgres(s) => s.finish(key, token, how).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unreadable row's error (logged by the worker) used to name the row by its key.
    #[tokio::test]
    async fn unreadable_row_errors_name_the_row_by_log_ref_not_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        let config = OutboxConfig {
            backend: StorageBackend::Sqlite { path: path.clone() },
            worker: WorkerConfig::default(),
        };
        let outbox = Outbox::open(&config).await.unwrap();
        let key = "eD-191212121212-4711";
        outbox
            .enqueue(
                key,
                Kind::Submit,
                serde_json::json!({"resourceType": "MedicationDispense"}),
            )
            .await
            .unwrap();
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute("UPDATE outbox SET kind = 'bogus'", [])
            .unwrap();
        let listed = outbox.pending().await.unwrap_err().to_string();
        let claimed = outbox.claim("token").await.unwrap_err().to_string();
        for e in [listed, claimed] {
            assert!(!e.contains("1212"), "{e}");
            assert!(e.contains(&log_ref(key)), "{e}");
        }
    }
}
