//! The SQLite audit store: WAL, `synchronous=FULL`, appends under `BEGIN IMMEDIATE`.
//!
//! Appends are committed in groups: the records that arrive while a commit is in progress are
//! written together in the next transaction, one fsync for all of them. Each `append` still
//! returns only once its own record is committed, so "durable before the response leaves"
//! holds per record; what changes is that 64 concurrent requests share one disk flush instead
//! of queueing for 64.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use super::record::{chain_hash, Canonical, IndexColumns, GENESIS_HASH};
use super::{AuditError, Result, StoredRow};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_log (
    seq                INTEGER PRIMARY KEY,
    event_time_us      INTEGER NOT NULL,
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
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
";

pub(crate) struct SqliteAudit {
    conn: Arc<Mutex<Connection>>,
    queue: Arc<Mutex<Queue>>,
}

/// Records waiting for the next group commit, and whether a writer is at work.
#[derive(Default)]
struct Queue {
    pending: Vec<(Canonical, oneshot::Sender<Result<i64>>)>,
    writing: bool,
}

/// The most records one transaction takes.
const MAX_GROUP: usize = 256;

/// Clears `writing` if the writer stops early (a panic): the next append starts a new one, and
/// the waiters of the records it held are told (their senders drop) instead of waiting forever.
struct WriterGuard<'a>(&'a Mutex<Queue>);

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
            q.writing = false;
            q.pending.clear();
        }
    }
}

/// Commits the queued records, group after group, until the queue is empty.
fn write_groups(conn: &Mutex<Connection>, queue: &Mutex<Queue>) {
    let _guard = WriterGuard(queue);
    loop {
        let group: Vec<_> = {
            let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.pending.is_empty() {
                q.writing = false;
                return;
            }
            let n = q.pending.len().min(MAX_GROUP);
            q.pending.drain(..n).collect()
        };
        // A panic while holding the lock cannot leave a half-written row behind (the
        // transaction rolls back on drop), so a poisoned lock is safe to take over.
        let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        let (records, waiters): (Vec<Canonical>, Vec<_>) = group.into_iter().unzip();
        match append_all(&mut conn, &records) {
            Ok(seqs) => {
                for (w, seq) in waiters.into_iter().zip(seqs) {
                    let _ = w.send(Ok(seq));
                }
            }
            // None of the group was written: each record on its own, so that one record's
            // failure is its own.
            Err(_) => {
                for (w, record) in waiters.into_iter().zip(records) {
                    let result =
                        append_all(&mut conn, std::slice::from_ref(&record)).map(|seqs| seqs[0]);
                    let _ = w.send(result);
                }
            }
        }
    }
}

/// Appends `records` to the chain in one transaction; their seqs, in order.
fn append_all(conn: &mut Connection, records: &[Canonical]) -> Result<Vec<i64>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let head: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (mut seq, mut prev_hash) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
    let mut seqs = Vec::with_capacity(records.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO audit_log (seq, event_time_us, event_type, outcome, requesting_country,
                 patient_root, patient_ext, record, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for c in records {
            seq += 1;
            let hash = chain_hash(seq, &prev_hash, &c.json);
            let i = &c.index;
            insert.execute(params![
                seq,
                i.event_time_us,
                i.event_type,
                i.outcome,
                i.requesting_country,
                i.patient_root,
                i.patient_ext,
                c.json,
                prev_hash,
                hash
            ])?;
            seqs.push(seq);
            prev_hash = hash;
        }
    }
    tx.commit()?;
    Ok(seqs)
}

/// Runs `f` on the connection on the blocking pool.
async fn with_conn<T, F>(conn: &Arc<Mutex<Connection>>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
{
    crate::db::on_blocking_pool(conn, f)
        .await
        .map_err(|e| AuditError::Task(e.to_string()))?
}

fn index_from_row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<IndexColumns> {
    Ok(IndexColumns {
        event_time_us: r.get(first)?,
        event_type: r.get(first + 1)?,
        outcome: r.get(first + 2)?,
        requesting_country: r.get(first + 3)?,
        patient_root: r.get(first + 4)?,
        patient_ext: r.get(first + 5)?,
    })
}

impl SqliteAudit {
    pub(crate) async fn open(path: &Path) -> Result<Self> {
        let path = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let conn = crate::db::open_sqlite(&path)?;
            conn.execute_batch(SCHEMA)?;
            Ok(conn)
        })
        .await
        .map_err(|e| AuditError::Task(e.to_string()))??;
        Ok(SqliteAudit {
            conn: Arc::new(Mutex::new(conn)),
            queue: Arc::default(),
        })
    }

    /// Appends `c`; returns its seq once it is committed (in a group with the records that
    /// arrived meanwhile).
    pub(crate) async fn append(&self, c: Canonical) -> Result<i64> {
        let (tx, rx) = oneshot::channel();
        let start_writer = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.pending.push((c, tx));
            !std::mem::replace(&mut q.writing, true)
        };
        if start_writer {
            let (conn, queue) = (Arc::clone(&self.conn), Arc::clone(&self.queue));
            tokio::task::spawn_blocking(move || write_groups(&conn, &queue));
        }
        rx.await
            .map_err(|_| AuditError::Task("the audit writer stopped".into()))?
    }

    pub(crate) async fn rows_after(&self, after: i64, limit: i64) -> Result<Vec<StoredRow>> {
        with_conn(&self.conn, move |conn| {
            let mut st = conn.prepare_cached(
                "SELECT seq, record, prev_hash, hash, event_time_us, event_type, outcome,
                        requesting_country, patient_root, patient_ext
                 FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = st
                .query_map(params![after, limit], |r| {
                    Ok(StoredRow {
                        seq: r.get(0)?,
                        record: r.get(1)?,
                        prev_hash: r.get(2)?,
                        hash: r.get(3)?,
                        index: index_from_row(r, 4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    pub(crate) async fn patient_records(
        &self,
        root: &str,
        ext: &str,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<(i64, String)>> {
        let (root, ext) = (root.to_owned(), ext.to_owned());
        with_conn(&self.conn, move |conn| {
            let mut st = conn.prepare_cached(
                "SELECT seq, record FROM audit_log
                 WHERE patient_root = ?1 AND patient_ext = ?2
                   AND event_time_us >= ?3 AND event_time_us < ?4
                 ORDER BY event_time_us, seq",
            )?;
            let rows = st
                .query_map(params![root, ext, from_us, to_us], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    pub(crate) async fn kpi(
        &self,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<(String, String, String, i64)>> {
        with_conn(&self.conn, move |conn| {
            let mut st = conn.prepare_cached(
                "SELECT event_type, requesting_country, outcome, COUNT(*) FROM audit_log
                 WHERE event_time_us >= ?1 AND event_time_us < ?2
                 GROUP BY event_type, requesting_country, outcome",
            )?;
            let rows = st
                .query_map(params![from_us, to_us], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }
}
