//! The outbox against both backends: idempotent enqueue, durability across reopen, retry with
//! backoff, rejection kept with its reason, lease expiry after a crashed worker, and two
//! workers (two "replicas") never delivering the same item twice.

#[path = "support/pg.rs"]
mod pg;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ncp_core::outbox::{
    backoff, DeliveryResult, Item, Kind, Outbox, OutboxConfig, StorageBackend, WorkerConfig,
    WorkerStats,
};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Backend {
    backend: StorageBackend,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    fn config(&self, worker: WorkerConfig) -> OutboxConfig {
        OutboxConfig {
            backend: self.backend.clone(),
            worker,
        }
    }
}

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    Backend {
        backend: StorageBackend::Sqlite {
            path: dir.path().join("outbox.db"),
        },
        _dir: Some(dir),
    }
}

async fn postgres() -> Option<Backend> {
    Some(Backend {
        backend: StorageBackend::Postgres {
            url: pg::fresh_database().await?,
        },
        _dir: None,
    })
}

fn fast() -> WorkerConfig {
    WorkerConfig {
        lease_ms: 10_000,
        poll_interval_ms: 20,
        backoff_base_ms: 100,
        backoff_max_ms: 1_000,
    }
}

fn dispense(id: &str) -> serde_json::Value {
    json!({
        "resourceType": "MedicationDispense",
        "identifier": [{"system": "nll-dispense-id", "value": id}],
        "status": "completed"
    })
}

/// Every delivery attempt: key and when.
type Log = Arc<Mutex<Vec<(String, Instant)>>>;

fn attempts_of(log: &Log, key: &str) -> Vec<Instant> {
    log.lock()
        .expect("log")
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, t)| *t)
        .collect()
}

async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `outbox`'s worker on a task of its own, delivering with `deliver` until `stop`.
fn spawn_worker<F, Fut>(
    outbox: &Arc<Outbox>,
    stop: &CancellationToken,
    deliver: F,
) -> JoinHandle<WorkerStats>
where
    F: Fn(Item) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = DeliveryResult> + Send + 'static,
{
    let (outbox, stop) = (Arc::clone(outbox), stop.clone());
    tokio::spawn(async move { outbox.run_worker(deliver, stop).await })
}

/// A worker that notes every attempt (key and when) in `log` and answers with `answer`.
fn spawn_logging_worker(
    outbox: &Arc<Outbox>,
    stop: &CancellationToken,
    log: &Log,
    answer: fn(&Item) -> DeliveryResult,
) -> JoinHandle<WorkerStats> {
    let log = Arc::clone(log);
    spawn_worker(outbox, stop, move |item: Item| {
        let log = Arc::clone(&log);
        async move {
            log.lock()
                .expect("log")
                .push((item.key.clone(), Instant::now()));
            answer(&item)
        }
    })
}

/// Waits until `outbox` counts `n` delivered items.
async fn wait_delivered(what: &str, outbox: &Arc<Outbox>, n: u64) {
    wait_until(what, || {
        let outbox = Arc::clone(outbox);
        async move { outbox.counts().await.expect("counts").delivered == n }
    })
    .await;
}

/// Whether enqueueing took the item in as new (not already there under its key).
async fn is_new(outbox: &Outbox, key: &str, kind: Kind, payload: serde_json::Value) -> bool {
    outbox
        .enqueue(key, kind, payload)
        .await
        .expect("enqueue")
        .new
}

async fn idempotent_and_durable(b: Backend) {
    let cfg = b.config(fast());
    let outbox = Outbox::open(&cfg).await.expect("open");
    assert!(is_new(&outbox, "doc-1", Kind::Submit, dispense("d1")).await);
    assert!(!is_new(&outbox, "doc-1", Kind::Submit, dispense("d1")).await);
    // Other content under the same key: still the first one is kept.
    assert!(!is_new(&outbox, "doc-1", Kind::Submit, dispense("other")).await);
    assert!(is_new(&outbox, "doc-2", Kind::Discard, dispense("d2")).await);
    assert!(outbox
        .enqueue("  ", Kind::Submit, dispense("x"))
        .await
        .is_err());
    drop(outbox);

    // A new process (reopen) sees what was acknowledged before.
    let outbox = Arc::new(Outbox::open(&cfg).await.expect("reopen"));
    let pending = outbox.pending().await.expect("pending");
    let keys: Vec<_> = pending
        .iter()
        .map(|p| (p.key.as_str(), p.kind, p.attempts))
        .collect();
    assert_eq!(
        keys,
        vec![("doc-1", Kind::Submit, 0), ("doc-2", Kind::Discard, 0)]
    );
    let counts = outbox.counts().await.expect("counts");
    assert_eq!(
        (counts.pending, counts.delivered, counts.rejected),
        (2, 0, 0)
    );
    assert!(counts.oldest_pending.is_some());

    let seen: Arc<Mutex<Vec<Item>>> = Arc::default();
    let stop = CancellationToken::new();
    let worker = {
        let seen = Arc::clone(&seen);
        spawn_worker(&outbox, &stop, move |item: Item| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().expect("seen").push(item);
                DeliveryResult::Delivered
            }
        })
    };
    wait_delivered("both delivered", &outbox, 2).await;
    stop.cancel();
    let stats = worker.await.expect("worker");
    assert_eq!(stats.delivered, 2);
    let seen = seen.lock().expect("seen").clone();
    assert_eq!(seen.len(), 2);
    let first = seen.iter().find(|i| i.key == "doc-1").expect("doc-1");
    assert_eq!(first.payload, dispense("d1"));
    assert_eq!(first.attempts, 1);
    assert!(outbox.pending().await.expect("pending").is_empty());

    // Enqueueing a delivered key again does not deliver it again.
    assert!(!is_new(&outbox, "doc-1", Kind::Submit, dispense("d1")).await);
    assert!(outbox.pending().await.expect("pending").is_empty());
}

async fn retries_with_backoff_then_delivers(b: Backend) {
    let outbox = Arc::new(Outbox::open(&b.config(fast())).await.expect("open"));
    outbox
        .enqueue("doc-r", Kind::Submit, dispense("r"))
        .await
        .expect("enqueue");
    let log: Log = Arc::default();
    let stop = CancellationToken::new();
    let worker = spawn_logging_worker(&outbox, &stop, &log, |item| {
        // NLL is down for the first two attempts.
        if item.attempts < 3 {
            DeliveryResult::RetryLater
        } else {
            DeliveryResult::Delivered
        }
    });
    // While NLL is down the item is reported as pending with its attempts.
    wait_until("first failure recorded", || {
        let outbox = Arc::clone(&outbox);
        async move {
            outbox
                .pending()
                .await
                .expect("pending")
                .first()
                .is_some_and(|p| {
                    p.attempts >= 1
                        && !p.in_flight
                        && p.last_error.as_deref() == Some("retry later")
                })
        }
    })
    .await;
    wait_delivered("delivered", &outbox, 1).await;
    stop.cancel();
    let stats = worker.await.expect("worker");
    assert_eq!((stats.retried, stats.delivered), (2, 1));
    let t = attempts_of(&log, "doc-r");
    assert_eq!(t.len(), 3);
    // Backoff 100 ms then 200 ms, each jittered into [d/2, d].
    let (g1, g2) = (t[1] - t[0], t[2] - t[1]);
    assert!(g1 >= Duration::from_millis(50), "first retry after {g1:?}");
    assert!(
        g2 >= Duration::from_millis(100),
        "second retry after {g2:?}"
    );
    assert!(g2 < Duration::from_secs(5));
}

async fn rejected_items_are_kept_with_the_reason(b: Backend) {
    let outbox = Arc::new(Outbox::open(&b.config(fast())).await.expect("open"));
    outbox
        .enqueue("doc-bad", Kind::Submit, dispense("bad"))
        .await
        .expect("enqueue");
    outbox
        .enqueue("doc-good", Kind::Submit, dispense("good"))
        .await
        .expect("enqueue");
    let log: Log = Arc::default();
    let stop = CancellationToken::new();
    let worker = spawn_logging_worker(&outbox, &stop, &log, |item| {
        if item.key == "doc-bad" {
            DeliveryResult::Rejected("NLL 422: unknown prescription".into())
        } else {
            DeliveryResult::Delivered
        }
    });
    wait_until("both settled", || {
        let outbox = Arc::clone(&outbox);
        async move {
            let c = outbox.counts().await.expect("counts");
            c.delivered == 1 && c.rejected == 1
        }
    })
    .await;
    // Give the worker time to (wrongly) pick the rejected item up again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    worker.await.expect("worker");
    assert_eq!(attempts_of(&log, "doc-bad").len(), 1);
    let rejected = outbox.rejected().await.expect("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].key, "doc-bad");
    assert_eq!(
        rejected[0].reject_reason.as_deref(),
        Some("NLL 422: unknown prescription")
    );
    assert!(outbox.pending().await.expect("pending").is_empty());
}

async fn expired_lease_is_reclaimed_after_a_crash(b: Backend) {
    let cfg = b.config(WorkerConfig {
        lease_ms: 600,
        ..fast()
    });
    let crashed = Arc::new(Outbox::open(&cfg).await.expect("open"));
    crashed
        .enqueue("doc-c", Kind::Submit, dispense("c"))
        .await
        .expect("enqueue");
    let claimed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let dying = {
        let claimed_at = Arc::clone(&claimed_at);
        spawn_worker(&crashed, &CancellationToken::new(), move |_item: Item| {
            let claimed_at = Arc::clone(&claimed_at);
            async move {
                *claimed_at.lock().expect("t") = Some(Instant::now());
                // Hangs in NLL; the process dies before it answers.
                std::future::pending::<DeliveryResult>().await
            }
        })
    };
    wait_until("claimed", || {
        let c = Arc::clone(&claimed_at);
        async move { c.lock().expect("t").is_some() }
    })
    .await;
    dying.abort(); // the crash: no result is ever recorded
    let claimed = claimed_at.lock().expect("t").unwrap_or_else(Instant::now);
    let pending = crashed.pending().await.expect("pending");
    assert!(pending[0].in_flight, "a live lease shows as in flight");
    drop(crashed);

    // Another replica picks it up, but only once the lease has run out.
    let survivor = Arc::new(Outbox::open(&cfg).await.expect("open"));
    let log: Log = Arc::default();
    let stop = CancellationToken::new();
    let worker = spawn_logging_worker(&survivor, &stop, &log, |_| DeliveryResult::Delivered);
    wait_delivered("redelivered", &survivor, 1).await;
    stop.cancel();
    assert_eq!(worker.await.expect("worker").delivered, 1);
    let t = attempts_of(&log, "doc-c");
    assert_eq!(t.len(), 1);
    assert!(
        t[0] - claimed >= Duration::from_millis(550),
        "reclaimed {:?} after the claim, before the lease ran out",
        t[0] - claimed
    );
}

async fn two_workers_never_deliver_the_same_item_twice(b: Backend) {
    let cfg = b.config(fast());
    let a = Arc::new(Outbox::open(&cfg).await.expect("open a"));
    let bb = Arc::new(Outbox::open(&cfg).await.expect("open b"));
    const N: usize = 60;
    for i in 0..N {
        let target = if i % 2 == 0 { &a } else { &bb };
        target
            .enqueue(
                &format!("doc-{i:03}"),
                Kind::Submit,
                dispense(&format!("d{i}")),
            )
            .await
            .expect("enqueue");
    }
    let deliveries: Arc<Mutex<HashMap<String, Vec<&'static str>>>> = Arc::default();
    let stop = CancellationToken::new();
    let mut workers = Vec::new();
    for (name, outbox) in [("a", &a), ("b", &bb)] {
        let deliveries = Arc::clone(&deliveries);
        workers.push(spawn_worker(outbox, &stop, move |item: Item| {
            let deliveries = Arc::clone(&deliveries);
            async move {
                tokio::time::sleep(Duration::from_millis(3)).await;
                deliveries
                    .lock()
                    .expect("d")
                    .entry(item.key)
                    .or_default()
                    .push(name);
                DeliveryResult::Delivered
            }
        }));
    }
    wait_delivered("all delivered", &a, N as u64).await;
    stop.cancel();
    let mut total = 0;
    for w in workers {
        let s = w.await.expect("worker");
        assert_eq!(s.lease_lost, 0);
        total += s.delivered;
    }
    assert_eq!(total, N as u64);
    let d = deliveries.lock().expect("d");
    assert_eq!(d.len(), N);
    for (key, by) in d.iter() {
        assert_eq!(by.len(), 1, "{key} delivered by {by:?}");
    }
    // Both took part.
    let by_a = d.values().filter(|v| v[0] == "a").count();
    assert!(by_a > 0 && by_a < N, "a delivered {by_a} of {N}");
}

/// Grouped so that `cargo test -p ncp-core outbox` selects them.
mod outbox {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let cfg = WorkerConfig {
            backoff_base_ms: 1_000,
            backoff_max_ms: 60_000,
            ..WorkerConfig::default()
        };
        for _ in 0..200 {
            let d1 = backoff(1, &cfg).as_millis();
            let d3 = backoff(3, &cfg).as_millis();
            let d40 = backoff(40, &cfg).as_millis();
            assert!((500..=1_000).contains(&d1), "{d1}");
            assert!((2_000..=4_000).contains(&d3), "{d3}");
            assert!((30_000..=60_000).contains(&d40), "{d40}");
        }
    }

    #[test]
    fn item_debug_leaves_the_payload_out() {
        let item = Item {
            key: "doc-1".into(),
            kind: Kind::Submit,
            payload: json!({"subject": {"identifier": {"value": "191212121212"}}}),
            attempts: 1,
            enqueued_at: chrono::Utc::now(),
        };
        let dbg = format!("{item:?}");
        assert!(
            dbg.contains("doc-1") && !dbg.contains("191212121212"),
            "{dbg}"
        );
    }

    #[tokio::test]
    async fn sqlite_idempotent_and_durable() {
        idempotent_and_durable(sqlite()).await;
    }

    #[tokio::test]
    async fn sqlite_retries_with_backoff_then_delivers() {
        retries_with_backoff_then_delivers(sqlite()).await;
    }

    #[tokio::test]
    async fn sqlite_rejected_items_are_kept_with_the_reason() {
        rejected_items_are_kept_with_the_reason(sqlite()).await;
    }

    #[tokio::test]
    async fn sqlite_expired_lease_is_reclaimed_after_a_crash() {
        expired_lease_is_reclaimed_after_a_crash(sqlite()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_two_workers_never_deliver_the_same_item_twice() {
        two_workers_never_deliver_the_same_item_twice(sqlite()).await;
    }

    #[tokio::test]
    async fn postgres_idempotent_and_durable() {
        if let Some(b) = postgres().await {
            idempotent_and_durable(b).await;
        }
    }

    #[tokio::test]
    async fn postgres_retries_with_backoff_then_delivers() {
        if let Some(b) = postgres().await {
            retries_with_backoff_then_delivers(b).await;
        }
    }

    #[tokio::test]
    async fn postgres_rejected_items_are_kept_with_the_reason() {
        if let Some(b) = postgres().await {
            rejected_items_are_kept_with_the_reason(b).await;
        }
    }

    #[tokio::test]
    async fn postgres_expired_lease_is_reclaimed_after_a_crash() {
        if let Some(b) = postgres().await {
            expired_lease_is_reclaimed_after_a_crash(b).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_two_replicas_never_deliver_the_same_item_twice() {
        if let Some(b) = postgres().await {
            two_workers_never_deliver_the_same_item_twice(b).await;
        }
    }

    #[test]
    fn config_reads_from_toml_with_worker_defaults() {
        let c: OutboxConfig = toml::from_str(
            "backend = { kind = \"sqlite\", path = \"/var/lib/ncp/outbox.db\" }\n\
         [worker]\nlease_ms = 30000\n",
        )
        .expect("config");
        assert_eq!(c.worker.lease_ms, 30_000);
        assert_eq!(
            c.worker.backoff_base_ms,
            WorkerConfig::default().backoff_base_ms
        );
        let c: OutboxConfig =
            toml::from_str("backend = { kind = \"postgres\", url = \"host=db user=ncp\" }")
                .expect("config");
        assert_eq!(c.worker, WorkerConfig::default());
    }
}
