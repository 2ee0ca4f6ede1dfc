//! Audit append throughput: SQLite (WAL, synchronous=FULL) against PostgreSQL (fsync on, a
//! throwaway cluster), one task and several concurrent tasks, and the ratio. Every append is
//! a durable commit, so these are commit rates of the disk as much as of the code.
//!
//! `cargo bench -p ncp-core --bench audit` (`NCP_AUDIT_BENCH_N` appends per case, default 400).

#[path = "../tests/support/pg.rs"]
mod pg;
#[path = "../tests/support/audit_sample.rs"]
mod sample;

use std::sync::Arc;
use std::time::Instant;

use ncp_core::audit::{AuditConfig, AuditLog, EventType, Outcome, StorageBackend};

/// Appends `n` records from `tasks` tasks spread over `logs`; returns appends per second.
async fn rate(logs: &[Arc<AuditLog>], n: usize, tasks: usize) -> f64 {
    let per_task = n / tasks;
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let log = Arc::clone(&logs[t % logs.len()]);
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                let r = sample::record(
                    EventType::DocumentRetrieve,
                    "BE",
                    Outcome::Success,
                    (i % 60) as u32,
                );
                if let Err(e) = log.append(&r).await {
                    eprintln!("append failed: {e}");
                    return;
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    (per_task * tasks) as f64 / start.elapsed().as_secs_f64()
}

async fn open(config: &AuditConfig, replicas: usize) -> Vec<Arc<AuditLog>> {
    let mut v = Vec::new();
    for _ in 0..replicas {
        match AuditLog::open(config).await {
            Ok(l) => v.push(Arc::new(l)),
            Err(e) => panic!("open the audit store: {e}"),
        }
    }
    v
}

async fn verify_all(log: &AuditLog, expected: u64) {
    match log.verify().await {
        Ok(r) if r.is_intact() && r.records == expected => {}
        other => panic!("chain not intact after the bench: {other:?}"),
    }
}

async fn bench(name: &str, config: &AuditConfig, n: usize) -> (f64, f64) {
    let one = open(config, 1).await;
    let seq = rate(&one, n, 1).await;
    let two = open(config, 2).await;
    let conc = rate(&two, n, 8).await;
    verify_all(&one[0], (n + n / 8 * 8) as u64).await;
    println!(
        "{name:<10} 1 task: {seq:>8.0} appends/s   8 tasks on 2 handles: {conc:>8.0} appends/s"
    );
    (seq, conc)
}

fn main() {
    let n: usize = std::env::var("NCP_AUDIT_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = AuditConfig {
            backend: StorageBackend::Sqlite {
                path: dir.path().join("audit.db"),
            },
        };
        let (s1, s8) = bench("sqlite", &sqlite, n).await;

        let cluster = match pg::PgCluster::start(true) {
            Ok(Some(c)) => c,
            Ok(None) => {
                println!("SKIPPED: no PostgreSQL server binaries");
                return;
            }
            Err(e) => panic!("PostgreSQL: {e}"),
        };
        let postgres = AuditConfig {
            backend: StorageBackend::Postgres {
                url: cluster.create_database().await,
            },
        };
        let (p1, p8) = bench("postgres", &postgres, n).await;
        println!(
            "ratio postgres/sqlite: 1 task {:.2}x, 8 tasks {:.2}x",
            p1 / s1,
            p8 / s8
        );
    });
}
