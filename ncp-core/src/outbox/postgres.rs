//! The PostgreSQL outbox. Claims use `FOR UPDATE SKIP LOCKED`, and every time (leases,
//! backoff) is taken from the database clock, so replicas with skewed clocks agree.

use tokio_postgres::Row;

use super::{Finish, OutboxCounts, OutboxError, RawClaim, RawRow, Result};
use crate::audit::{pg_connect, pg_create_schema, PgClient};

/// The advisory lock that serialises schema creation (`ncp_obox`).
const SCHEMA_LOCK: i64 = 0x6e63_705f_6f62_6f78;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    key             TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    enqueued_ms     BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    lease_token     TEXT,
    lease_until_ms  BIGINT,
    last_error      TEXT,
    reject_reason   TEXT,
    finished_ms     BIGINT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_ms);
-- One pending submission per prescription: a second dispensation of a prescription whose
-- first is still on its way to NLL is refused (NLL's own lock is per caller, and every
-- replica calls as the NCP), so it is never acknowledged and then rejected by NLL.
CREATE UNIQUE INDEX IF NOT EXISTS outbox_one_pending_submit_per_prescription
    ON outbox (((payload::jsonb) #>> '{authorizingPrescription,0,reference}'))
    WHERE state = 'pending' AND kind = 'submit';
";

/// The database's clock in milliseconds since the epoch.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

pub(crate) struct PgOutbox {
    client: PgClient,
}

fn missing() -> OutboxError {
    OutboxError::Task("PostgreSQL client missing".into())
}

fn raw_row(r: &Row) -> Result<RawRow> {
    Ok(RawRow {
        key: r.try_get(0)?,
        kind: r.try_get(1)?,
        state: r.try_get(2)?,
        attempts: i64::from(r.try_get::<_, i32>(3)?),
        enqueued_ms: r.try_get(4)?,
        next_attempt_ms: r.try_get(5)?,
        in_flight: r.try_get(6)?,
        last_error: r.try_get(7)?,
        reject_reason: r.try_get(8)?,
    })
}

impl PgOutbox {
    pub(crate) async fn open(url: &str) -> Result<Self> {
        let mut client = pg_connect(url).await?;
        pg_create_schema(&mut client, SCHEMA_LOCK, SCHEMA).await?;
        Ok(PgOutbox {
            client: PgClient::new(url, client),
        })
    }

    pub(crate) async fn enqueue(
        &self,
        key: &str,
        kind: &str,
        payload: &str,
    ) -> Result<Option<(String, String)>> {
        let guard = self.client.get().await?;
        let client = &guard.as_ref().ok_or_else(missing)?.client;
        let inserted = client
            .execute(
                &format!(
                    "INSERT INTO outbox (key, kind, payload, state, attempts, enqueued_ms, next_attempt_ms)
                     VALUES ($1, $2, $3, 'pending', 0, {NOW_MS}, {NOW_MS})
                     ON CONFLICT (key) DO NOTHING"
                ),
                &[&key, &kind, &payload],
            )
            .await?;
        if inserted == 1 {
            return Ok(None);
        }
        let row = client
            .query_opt("SELECT kind, payload FROM outbox WHERE key = $1", &[&key])
            .await?
            .ok_or_else(|| OutboxError::Corrupt("conflicting row vanished".into()))?;
        Ok(Some((row.try_get(0)?, row.try_get(1)?)))
    }

    pub(crate) async fn claim(&self, token: &str, lease_ms: i64) -> Result<Option<RawClaim>> {
        let guard = self.client.get().await?;
        let client = &guard.as_ref().ok_or_else(missing)?.client;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE outbox SET lease_token = $1, lease_until_ms = {NOW_MS} + $2,
                         attempts = attempts + 1
                     WHERE key = (SELECT key FROM outbox
                                  WHERE state = 'pending' AND next_attempt_ms <= {NOW_MS}
                                    AND (lease_until_ms IS NULL OR lease_until_ms <= {NOW_MS})
                                  ORDER BY next_attempt_ms, enqueued_ms LIMIT 1
                                  FOR UPDATE SKIP LOCKED)
                     RETURNING key, kind, payload, attempts, enqueued_ms"
                ),
                &[&token, &lease_ms],
            )
            .await?;
        row.map(|r| {
            Ok(RawClaim {
                key: r.try_get(0)?,
                kind: r.try_get(1)?,
                payload: r.try_get(2)?,
                attempts: i64::from(r.try_get::<_, i32>(3)?),
                enqueued_ms: r.try_get(4)?,
            })
        })
        .transpose()
    }

    pub(crate) async fn finish(&self, key: &str, token: &str, how: Finish) -> Result<bool> {
        let guard = self.client.get().await?;
        let client = &guard.as_ref().ok_or_else(missing)?.client;
        let n = match how {
            Finish::Delivered => {
                client
                    .execute(
                        &format!(
                            "UPDATE outbox SET state = 'delivered', lease_token = NULL,
                                 lease_until_ms = NULL, last_error = NULL, finished_ms = {NOW_MS}
                             WHERE key = $1 AND lease_token = $2 AND state = 'pending'"
                        ),
                        &[&key, &token],
                    )
                    .await?
            }
            Finish::Retry { delay_ms } => {
                client
                    .execute(
                        &format!(
                            "UPDATE outbox SET lease_token = NULL, lease_until_ms = NULL,
                                 next_attempt_ms = {NOW_MS} + $3, last_error = 'retry later'
                             WHERE key = $1 AND lease_token = $2 AND state = 'pending'"
                        ),
                        &[&key, &token, &delay_ms],
                    )
                    .await?
            }
            Finish::Rejected(reason) => {
                client
                    .execute(
                        &format!(
                            "UPDATE outbox SET state = 'rejected', lease_token = NULL,
                                 lease_until_ms = NULL, reject_reason = $3, finished_ms = {NOW_MS}
                             WHERE key = $1 AND lease_token = $2 AND state = 'pending'"
                        ),
                        &[&key, &token, &reason],
                    )
                    .await?
            }
        };
        Ok(n == 1)
    }

    pub(crate) async fn list(&self, state: &str) -> Result<Vec<RawRow>> {
        let guard = self.client.get().await?;
        let client = &guard.as_ref().ok_or_else(missing)?.client;
        let rows = client
            .query(
                &format!(
                    "SELECT key, kind, state, attempts, enqueued_ms, next_attempt_ms,
                            COALESCE(lease_until_ms > {NOW_MS}, false), last_error, reject_reason
                     FROM outbox WHERE state = $1 ORDER BY enqueued_ms, key"
                ),
                &[&state],
            )
            .await?;
        rows.iter().map(raw_row).collect()
    }

    pub(crate) async fn counts(&self) -> Result<OutboxCounts> {
        let guard = self.client.get().await?;
        let client = &guard.as_ref().ok_or_else(missing)?.client;
        let r = client
            .query_one(
                &format!(
                    "SELECT
                        COUNT(*) FILTER (WHERE state = 'pending'),
                        COUNT(*) FILTER (WHERE state = 'pending' AND lease_until_ms > {NOW_MS}),
                        COUNT(*) FILTER (WHERE state = 'delivered'),
                        COUNT(*) FILTER (WHERE state = 'rejected'),
                        MIN(enqueued_ms) FILTER (WHERE state = 'pending')
                     FROM outbox"
                ),
                &[],
            )
            .await?;
        let count =
            |i: usize| -> Result<u64> { Ok(u64::try_from(r.try_get::<_, i64>(i)?).unwrap_or(0)) };
        Ok(OutboxCounts {
            pending: count(0)?,
            in_flight: count(1)?,
            delivered: count(2)?,
            rejected: count(3)?,
            oldest_pending: r
                .try_get::<_, Option<i64>>(4)?
                .map(super::time_of)
                .transpose()?,
        })
    }
}
