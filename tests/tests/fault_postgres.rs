//! PostgreSQL restarted mid-run (stopped as in a crash, started again two seconds later) under
//! a steady stream of foreign pharmacies on two `ncp serve` replicas: requests during the
//! outage are refused cleanly (a SOAP fault, never an acknowledgement), the replicas reconnect
//! by themselves, and afterwards every acknowledged dispensation is in NLL exactly once, every
//! answered transaction has its audit record and the chain verifies. The test runs its own
//! PostgreSQL cluster; skips without PostgreSQL server binaries.

mod fault_support;

use std::sync::Arc;
use std::time::Duration;

use fault_support::{Fleet, Journal, Timing};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_mid_run_loses_no_acknowledged_dispensation() {
    let Some((cluster, url)) = fault_support::own_cluster().await else {
        return;
    };
    let fleet = Arc::new(Fleet::start(&url, 2, Timing::default()).await);
    let journal = Journal::default();

    // A pharmacy every 150 ms, 24 in all (about 3.6 s of arrivals): every other one walks
    // the whole flow, the others submit their dispensation straight away (so that XDR
    // submissions meet the outage too).
    let mut tasks = Vec::new();
    for n in 0..24 {
        let (fleet, journal) = (fleet.clone(), journal.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150 * n as u64)).await;
            let id = format!("pg-{n}");
            if n % 2 == 0 {
                fleet.visit(&journal, (n / 2) % 2, n, &id).await;
            } else {
                fleet
                    .submit(&journal, (n / 2) % 2, &fault_support::rx(n), &id)
                    .await;
            }
        }));
    }
    // PostgreSQL goes away after 1 s and comes back 2 s later.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let acked_before = journal.acknowledged_count();
    cluster.stop_server().expect("stop PostgreSQL");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let acked_during = journal.acknowledged_count();
    cluster.start_server().expect("start PostgreSQL again");
    for t in tasks {
        t.await.expect("visit task");
    }
    // And after the restart, everyone is served again.
    let mut tasks = Vec::new();
    for n in 24..30 {
        let (fleet, journal) = (fleet.clone(), journal.clone());
        tasks.push(tokio::spawn(async move {
            fleet.visit(&journal, n % 2, n, &format!("pg-{n}")).await;
        }));
    }
    for t in tasks {
        t.await.expect("visit task");
    }
    let faults: usize = ["Identify", "List", "Retrieve", "Submit"]
        .iter()
        .map(|tx| journal.count(&format!("{tx} fault")) + journal.count(&format!("{tx} no answer")))
        .sum();
    eprintln!(
        "acknowledged before the outage: {acked_before}, by its end: {acked_during}, in all: {}; refused during it: {faults}",
        journal.acknowledged_count()
    );
    assert!(faults > 0, "the outage refused some transactions");
    assert!(
        journal.count("Submit fault") + journal.count("Submit no answer") > 0,
        "XDR submissions met the outage"
    );
    assert!(
        journal.acknowledged_count() >= acked_during + 6,
        "every visit after the restart is acknowledged"
    );

    fleet.check(&journal, Duration::from_secs(40)).await;
    match Arc::try_unwrap(fleet) {
        Ok(f) => f.shutdown().await,
        Err(_) => panic!("fleet still shared"),
    }
    drop(cluster);
}
