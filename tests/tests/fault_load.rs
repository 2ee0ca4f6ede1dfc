//! Load: many concurrent foreign pharmacies (XCPD, XCA list and retrieve, XDR submit) against
//! two `ncp serve` replicas sharing one PostgreSQL. Every acknowledged dispensation reaches
//! NLL exactly once — also when the same document is submitted again to the other replica —
//! every answered transaction has its audit record, and the audit chain (written by both
//! replicas at once) verifies. Skips without PostgreSQL server binaries.

mod fault_support;

use std::sync::Arc;
use std::time::Duration;

use fault_support::{Fleet, Journal, Timing, PRESCRIPTIONS};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_under_concurrent_load_lose_and_duplicate_nothing() {
    let Some(url) = e2e_tests::pg::fresh_database().await else {
        return;
    };
    let fleet = Arc::new(Fleet::start(&url, 2, Timing::default()).await);
    let journal = Journal::default();

    // 30 pharmacy visits (120 transactions), 10 at a time, spread over both replicas.
    let limit = Arc::new(tokio::sync::Semaphore::new(10));
    let mut tasks = Vec::new();
    for n in 0..PRESCRIPTIONS {
        let (fleet, journal, limit) = (fleet.clone(), journal.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.expect("semaphore");
            fleet.visit(&journal, n % 2, n, &format!("load-{n}")).await;
        }));
    }
    for t in tasks {
        t.await.expect("visit task");
    }
    assert_eq!(
        journal.acknowledged_count(),
        PRESCRIPTIONS,
        "with everything up, every visit ends acknowledged"
    );

    // The same documents again, each to the replica that did not take it first: acknowledged
    // (already recorded) and still in NLL once.
    let mut tasks = Vec::new();
    for n in 0..10 {
        let (fleet, journal) = (fleet.clone(), journal.clone());
        tasks.push(tokio::spawn(async move {
            let a = fleet
                .submit(
                    &journal,
                    (n + 1) % 2,
                    &fault_support::rx(n),
                    &format!("load-{n}"),
                )
                .await;
            assert!(a.success(), "a repeated submission is acknowledged: {a:?}");
        }));
    }
    for t in tasks {
        t.await.expect("repeat task");
    }

    fleet.check(&journal, Duration::from_secs(30)).await;
    match Arc::try_unwrap(fleet) {
        Ok(f) => f.shutdown().await,
        Err(_) => panic!("fleet still shared"),
    }
}
