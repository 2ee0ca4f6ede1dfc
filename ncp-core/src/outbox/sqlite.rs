//! The SQLite outbox (same durability settings as the audit store).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};

use super::{Finish, OutboxCounts, OutboxError, RawClaim, RawRow, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    key             TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    enqueued_ms     INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    lease_token     TEXT,
    lease_until_ms  INTEGER,
    last_error      TEXT,
    reject_reason   TEXT,
    finished_ms     INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_ms);
-- One pending submission per prescription (see the PostgreSQL schema).
CREATE UNIQUE INDEX IF NOT EXISTS outbox_one_pending_submit_per_prescription
    ON outbox (json_extract(payload, '$.authorizingPrescription[0].reference'))
    WHERE state = 'pending' AND kind = 'submit';
";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) struct SqliteOutbox {
    conn: Arc<Mutex<Connection>>,
}

async fn with_conn<T, F>(conn: &Arc<Mutex<Connection>>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
{
    crate::db::on_blocking_pool(conn, f)
        .await
        .map_err(|e| OutboxError::Task(e.to_string()))?
}

impl SqliteOutbox {
    pub(crate) async fn open(path: &Path) -> Result<Self> {
        let path = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let conn = crate::db::open_sqlite(&path)?;
            conn.execute_batch(SCHEMA)?;
            Ok(conn)
        })
        .await
        .map_err(|e| OutboxError::Task(e.to_string()))??;
        Ok(SqliteOutbox {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Inserts; `Some((kind, payload))` of the existing row when the key was there.
    pub(crate) async fn enqueue(
        &self,
        key: &str,
        kind: &str,
        payload: &str,
    ) -> Result<Option<(String, String)>> {
        let (key, kind, payload) = (key.to_owned(), kind.to_owned(), payload.to_owned());
        with_conn(&self.conn, move |conn| {
            let now = now_ms();
            let inserted = conn.execute(
                "INSERT INTO outbox (key, kind, payload, state, attempts, enqueued_ms, next_attempt_ms)
                 VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?4)
                 ON CONFLICT (key) DO NOTHING",
                params![key, kind, payload, now],
            )?;
            if inserted == 1 {
                return Ok(None);
            }
            let existing = conn
                .query_row(
                    "SELECT kind, payload FROM outbox WHERE key = ?1",
                    params![key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            existing
                .map(Some)
                .ok_or_else(|| OutboxError::Corrupt("conflicting row vanished".into()))
        })
        .await
    }

    pub(crate) async fn claim(&self, token: &str, lease_ms: i64) -> Result<Option<RawClaim>> {
        let token = token.to_owned();
        with_conn(&self.conn, move |conn| {
            let now = now_ms();
            // One statement, one write transaction: the pick and the lease are atomic, also
            // against other processes on the same file.
            let claimed = conn
                .query_row(
                    "UPDATE outbox SET lease_token = ?1, lease_until_ms = ?2, attempts = attempts + 1
                     WHERE key = (SELECT key FROM outbox
                                  WHERE state = 'pending' AND next_attempt_ms <= ?3
                                    AND (lease_until_ms IS NULL OR lease_until_ms <= ?3)
                                  ORDER BY next_attempt_ms, enqueued_ms LIMIT 1)
                     RETURNING key, kind, payload, attempts, enqueued_ms",
                    params![token, now.saturating_add(lease_ms), now],
                    |r| {
                        Ok(RawClaim {
                            key: r.get(0)?,
                            kind: r.get(1)?,
                            payload: r.get(2)?,
                            attempts: r.get(3)?,
                            enqueued_ms: r.get(4)?,
                        })
                    },
                )
                .optional()?;
            Ok(claimed)
        })
        .await
    }

    pub(crate) async fn finish(&self, key: &str, token: &str, how: Finish) -> Result<bool> {
        let (key, token) = (key.to_owned(), token.to_owned());
        with_conn(&self.conn, move |conn| {
            let now = now_ms();
            let n = match how {
                Finish::Delivered => conn.execute(
                    "UPDATE outbox SET state = 'delivered', lease_token = NULL, lease_until_ms = NULL,
                         last_error = NULL, finished_ms = ?3
                     WHERE key = ?1 AND lease_token = ?2 AND state = 'pending'",
                    params![key, token, now],
                )?,
                Finish::Retry { delay_ms } => conn.execute(
                    "UPDATE outbox SET lease_token = NULL, lease_until_ms = NULL,
                         next_attempt_ms = ?3, last_error = 'retry later'
                     WHERE key = ?1 AND lease_token = ?2 AND state = 'pending'",
                    params![key, token, now.saturating_add(delay_ms)],
                )?,
                Finish::Rejected(reason) => conn.execute(
                    "UPDATE outbox SET state = 'rejected', lease_token = NULL, lease_until_ms = NULL,
                         reject_reason = ?3, finished_ms = ?4
                     WHERE key = ?1 AND lease_token = ?2 AND state = 'pending'",
                    params![key, token, reason, now],
                )?,
            };
            Ok(n == 1)
        })
        .await
    }

    pub(crate) async fn list(&self, state: &str) -> Result<Vec<RawRow>> {
        let state = state.to_owned();
        with_conn(&self.conn, move |conn| {
            let now = now_ms();
            let mut st = conn.prepare_cached(
                "SELECT key, kind, state, attempts, enqueued_ms, next_attempt_ms,
                        lease_until_ms IS NOT NULL AND lease_until_ms > ?2, last_error, reject_reason
                 FROM outbox WHERE state = ?1 ORDER BY enqueued_ms, key",
            )?;
            let rows = st
                .query_map(params![state, now], |r| {
                    Ok(RawRow {
                        key: r.get(0)?,
                        kind: r.get(1)?,
                        state: r.get(2)?,
                        attempts: r.get(3)?,
                        enqueued_ms: r.get(4)?,
                        next_attempt_ms: r.get(5)?,
                        in_flight: r.get(6)?,
                        last_error: r.get(7)?,
                        reject_reason: r.get(8)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    pub(crate) async fn counts(&self) -> Result<OutboxCounts> {
        with_conn(&self.conn, move |conn| {
            let now = now_ms();
            let (pending, in_flight, delivered, rejected, oldest): (
                i64,
                i64,
                i64,
                i64,
                Option<i64>,
            ) = conn.query_row(
                "SELECT
                    COALESCE(SUM(state = 'pending'), 0),
                    COALESCE(SUM(state = 'pending' AND lease_until_ms IS NOT NULL AND lease_until_ms > ?1), 0),
                    COALESCE(SUM(state = 'delivered'), 0),
                    COALESCE(SUM(state = 'rejected'), 0),
                    MIN(CASE WHEN state = 'pending' THEN enqueued_ms END)
                 FROM outbox",
                params![now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )?;
            Ok(OutboxCounts {
                pending: u64::try_from(pending).unwrap_or(0),
                in_flight: u64::try_from(in_flight).unwrap_or(0),
                delivered: u64::try_from(delivered).unwrap_or(0),
                rejected: u64::try_from(rejected).unwrap_or(0),
                oldest_pending: oldest.map(super::time_of).transpose()?,
            })
        })
        .await
    }
}
