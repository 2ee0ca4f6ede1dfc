//! The PostgreSQL audit store. Appends from any number of replicas form one chain: each takes
//! a transaction-scoped advisory lock before reading the head and inserting the next row.

use std::collections::HashMap;

use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::{Client, NoTls, Statement};

use super::record::{chain_hash, Canonical, IndexColumns, GENESIS_HASH};
use super::{AuditError, Result, StoredRow};

/// The advisory lock that serialises appends (`ncp_audt`).
const APPEND_LOCK: i64 = 0x6e63_705f_6175_6474;
/// The advisory lock that serialises schema creation between replicas starting together.
const SCHEMA_LOCK: i64 = 0x6e63_705f_7363_686d;

const LOCK_SQL: &str = "SELECT pg_advisory_xact_lock($1)";
const HEAD_SQL: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
const INSERT_SQL: &str = "INSERT INTO audit_log (seq, event_time_us, event_type, outcome,
     requesting_country, patient_root, patient_ext, record, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_log (
    seq                BIGINT PRIMARY KEY,
    event_time_us      BIGINT NOT NULL,
    event_type         TEXT NOT NULL,
    outcome            TEXT NOT NULL,
    requesting_country TEXT NOT NULL,
    patient_root       TEXT,
    patient_ext        TEXT,
    record             TEXT NOT NULL,
    prev_hash          TEXT NOT NULL,
    hash               TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_patient ON audit_log (patient_root, patient_ext, event_time_us);
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log (event_time_us);
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE OR REPLACE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
";

/// Connects and drives the connection on a task of its own.
pub(crate) async fn connect(url: &str) -> std::result::Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

/// Creates a schema under an advisory lock, so replicas starting together do not race.
pub(crate) async fn create_schema(
    client: &mut Client,
    lock: i64,
    schema: &str,
) -> std::result::Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock])
        .await?;
    tx.batch_execute(schema).await?;
    tx.commit().await
}

/// A connection and the statements prepared on it.
pub(crate) struct PgConn {
    pub(crate) client: Client,
    prepared: HashMap<&'static str, Statement>,
}

impl PgConn {
    /// `sql` prepared once per connection (saves a round trip per use).
    pub(crate) async fn statement(
        &mut self,
        sql: &'static str,
    ) -> std::result::Result<Statement, tokio_postgres::Error> {
        if let Some(st) = self.prepared.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql).await?;
        self.prepared.insert(sql, st.clone());
        Ok(st)
    }
}

/// One connection, reconnected when it has dropped.
pub(crate) struct PgClient {
    url: String,
    conn: Mutex<Option<PgConn>>,
}

impl PgClient {
    pub(crate) fn new(url: &str, client: Client) -> Self {
        PgClient {
            url: url.to_owned(),
            conn: Mutex::new(Some(PgConn {
                client,
                prepared: HashMap::new(),
            })),
        }
    }

    /// The connection, reconnecting first if it has closed.
    pub(crate) async fn get(
        &self,
    ) -> std::result::Result<MutexGuard<'_, Option<PgConn>>, tokio_postgres::Error> {
        let mut guard = self.conn.lock().await;
        if guard.as_ref().is_none_or(|c| c.client.is_closed()) {
            *guard = None;
            *guard = Some(PgConn {
                client: connect(&self.url).await?,
                prepared: HashMap::new(),
            });
        }
        Ok(guard)
    }
}

pub(crate) struct PgAudit {
    client: PgClient,
}

fn not_connected() -> AuditError {
    AuditError::Task("PostgreSQL client missing".into())
}

impl PgAudit {
    pub(crate) async fn open(url: &str) -> Result<Self> {
        let mut client = connect(url).await?;
        create_schema(&mut client, SCHEMA_LOCK, SCHEMA).await?;
        Ok(PgAudit {
            client: PgClient::new(url, client),
        })
    }

    pub(crate) async fn append(&self, c: Canonical) -> Result<i64> {
        let mut guard = self.client.get().await?;
        let conn = guard.as_mut().ok_or_else(not_connected)?;
        let lock = conn.statement(LOCK_SQL).await?;
        let head_sql = conn.statement(HEAD_SQL).await?;
        let insert = conn.statement(INSERT_SQL).await?;
        let tx = conn.client.transaction().await?;
        tx.execute(&lock, &[&APPEND_LOCK]).await?;
        // Read committed: this statement's snapshot is taken after the lock is held, so it
        // sees every append committed before ours.
        let head = tx.query_opt(&head_sql, &[]).await?;
        let (prev_seq, prev_hash) = match head {
            Some(row) => (row.try_get::<_, i64>(0)?, row.try_get::<_, String>(1)?),
            None => (0, GENESIS_HASH.to_owned()),
        };
        let seq = prev_seq + 1;
        let hash = chain_hash(seq, &prev_hash, &c.json);
        let i = &c.index;
        tx.execute(
            &insert,
            &[
                &seq,
                &i.event_time_us,
                &i.event_type,
                &i.outcome,
                &i.requesting_country,
                &i.patient_root,
                &i.patient_ext,
                &c.json,
                &prev_hash,
                &hash,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(seq)
    }

    pub(crate) async fn rows_after(&self, after: i64, limit: i64) -> Result<Vec<StoredRow>> {
        let guard = self.client.get().await?;
        let client = &guard.as_ref().ok_or_else(not_connected)?.client;
        let rows = client
            .query(
                "SELECT seq, record, prev_hash, hash, event_time_us, event_type, outcome,
                        requesting_country, patient_root, patient_ext
                 FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredRow {
                    seq: r.try_get(0)?,
                    record: r.try_get(1)?,
                    prev_hash: r.try_get(2)?,
                    hash: r.try_get(3)?,
                    index: IndexColumns {
                        event_time_us: r.try_get(4)?,
                        event_type: r.try_get(5)?,
                        outcome: r.try_get(6)?,
                        requesting_country: r.try_get(7)?,
                        patient_root: r.try_get(8)?,
                        patient_ext: r.try_get(9)?,
                    },
                })
            })
            .collect()
    }

    pub(crate) async fn patient_records(
        &self,
        root: &str,
        ext: &str,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<(i64, String)>> {
        let guard = self.client.get().await?;
        let client = &guard.as_ref().ok_or_else(not_connected)?.client;
        let rows = client
            .query(
                "SELECT seq, record FROM audit_log
                 WHERE patient_root = $1 AND patient_ext = $2
                   AND event_time_us >= $3 AND event_time_us < $4
                 ORDER BY event_time_us, seq",
                &[&root, &ext, &from_us, &to_us],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    pub(crate) async fn kpi(
        &self,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<(String, String, String, i64)>> {
        let guard = self.client.get().await?;
        let client = &guard.as_ref().ok_or_else(not_connected)?.client;
        let rows = client
            .query(
                "SELECT event_type, requesting_country, outcome, COUNT(*) FROM audit_log
                 WHERE event_time_us >= $1 AND event_time_us < $2
                 GROUP BY event_type, requesting_country, outcome",
                &[&from_us, &to_us],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }
}
