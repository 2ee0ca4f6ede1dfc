//! What every database-backed store of the bridge shares: the SQLite opener (the audit trail,
//! the outbox and Country B's dispensations use the same durability settings).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// Opens (creating if missing) a SQLite file with the durability settings every store here
/// uses: WAL, `synchronous=FULL`, a 10 s busy timeout (several connections, one file).
pub(crate) fn open_sqlite(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // journal_mode answers with the mode it ended up in.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode = %mode, "SQLite refused WAL; durability still holds with synchronous=FULL");
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Runs `f` on a shared SQLite connection on the blocking pool; `Err` when the task failed
/// (panicked or was cancelled). A panic while holding the lock cannot leave a half-written
/// row behind (the transaction rolls back on drop), so a poisoned lock is safe to take over.
pub(crate) async fn on_blocking_pool<T, F>(
    conn: &Arc<Mutex<Connection>>,
    f: F,
) -> Result<T, tokio::task::JoinError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> T + Send + 'static,
{
    let conn = Arc::clone(conn);
    tokio::task::spawn_blocking(move || {
        let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    })
    .await
}
