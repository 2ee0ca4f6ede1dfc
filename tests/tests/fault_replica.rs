//! A replica killed (SIGKILL) mid-run: two `ncp serve` replicas share one PostgreSQL; NLL is
//! slow, so the replica that is killed dies with acknowledged dispensations still in the
//! outbox, some possibly leased to its own worker. The surviving replica's worker delivers
//! all of them (the dead one's leases expire), requests in flight to the dead replica get no
//! answer (never an acknowledgement), and afterwards every acknowledged dispensation is in
//! NLL exactly once. Skips without PostgreSQL server binaries.

mod fault_support;

use std::sync::Arc;
use std::time::Duration;

use fault_support::{Fleet, Journal, Timing};
use sweden_sim::Faults;

fn visits(
    fleet: &Arc<Fleet>,
    journal: &Journal,
    replica: usize,
    range: std::ops::Range<usize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    range
        .map(|n| {
            let (fleet, journal) = (fleet.clone(), journal.clone());
            tokio::spawn(async move {
                fleet
                    .visit(&journal, replica, n, &format!("kill-{n}"))
                    .await
            })
        })
        .collect()
}

async fn all(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        t.await.expect("visit task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_replicas_acknowledged_dispensations_are_delivered_by_the_other() {
    let Some(url) = e2e_tests::pg::fresh_database().await else {
        return;
    };
    let timing = Timing {
        lease_ms: 3_000,
        national_timeout_ms: 1_500,
    };
    let fleet = Arc::new(Fleet::start(&url, 2, timing).await);
    let journal = Journal::default();
    // Slow NLL: deliveries lag behind acknowledgements.
    fleet.set_nll_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });

    // Twelve pharmacies at replica 0, all at once: all acknowledged.
    all(visits(&fleet, &journal, 0, 0..12)).await;
    assert_eq!(journal.acknowledged_count(), 12);
    let backlog = fleet.outbox_backlog().await;
    let pending = backlog.get("pending").copied().unwrap_or(0);
    assert!(
        pending > 0,
        "acknowledged work waits in the outbox: {backlog:?}"
    );

    // Four more at replica 0, killed while they are in flight: no answer, no acknowledgement.
    let in_flight = visits(&fleet, &journal, 0, 12..16);
    tokio::time::sleep(Duration::from_millis(400)).await;
    fleet.kill(0);
    assert!(!fleet.alive(0));
    all(in_flight).await;
    let acked_by_dead = journal.acknowledged_count();
    let cut = journal.count("Identify no answer")
        + journal.count("List no answer")
        + journal.count("Retrieve no answer")
        + journal.count("Submit no answer");
    assert!(cut > 0, "the kill cut requests in flight");

    // The survivor serves new pharmacies and delivers the dead replica's backlog.
    all(visits(&fleet, &journal, 1, 16..20)).await;
    assert_eq!(journal.acknowledged_count(), acked_by_dead + 4);
    fleet.set_nll_faults(Faults::default());
    eprintln!(
        "outbox backlog after replica 0's acknowledgements: {pending}; requests cut by the kill: {cut}"
    );
    fleet.check(&journal, Duration::from_secs(40)).await;
    match Arc::try_unwrap(fleet) {
        Ok(f) => f.shutdown().await,
        Err(_) => panic!("fleet still shared"),
    }
}
