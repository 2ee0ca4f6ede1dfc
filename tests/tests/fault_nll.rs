//! NLL slow, then down, then back: dispensations acknowledged while NLL was slow are still
//! waiting in the outbox when it goes down, requests during the outage are refused (never
//! acknowledged), and once NLL is back the outbox delivers every acknowledged dispensation
//! exactly once. Two `ncp serve` replicas on one PostgreSQL; skips without PostgreSQL.

mod fault_support;

use std::sync::Arc;
use std::time::Duration;

use fault_support::{Fleet, Journal, Timing};
use sweden_sim::Faults;

async fn visits(fleet: &Arc<Fleet>, journal: &Journal, range: std::ops::Range<usize>) {
    let mut tasks = Vec::new();
    for n in range {
        let (fleet, journal) = (fleet.clone(), journal.clone());
        tasks.push(tokio::spawn(async move {
            fleet.visit(&journal, n % 2, n, &format!("nll-{n}")).await;
        }));
    }
    for t in tasks {
        t.await.expect("visit task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dispensations_acknowledged_before_an_nll_outage_are_delivered_after_it() {
    let Some(url) = e2e_tests::pg::fresh_database().await else {
        return;
    };
    let timing = Timing {
        lease_ms: 4_000,
        national_timeout_ms: 1_500,
    };
    let fleet = Arc::new(Fleet::start(&url, 2, timing).await);
    let journal = Journal::default();

    // 1. NLL slow: every call takes 400 ms (under the 1.5 s time limit). Ten pharmacies at
    //    once are all served; each delivery then takes 400 ms, so a backlog builds up.
    fleet.set_nll_faults(Faults {
        latency_ms: 400,
        ..Faults::default()
    });
    visits(&fleet, &journal, 0..10).await;
    let acked_while_slow = journal.acknowledged_count();
    assert_eq!(acked_while_slow, 10, "a slow NLL still serves everyone");

    // 2. NLL down (accepts connections, never answers). What is still in the outbox waits.
    fleet.set_nll_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let backlog = fleet.outbox_backlog().await;
    let pending = backlog.get("pending").copied().unwrap_or(0);
    assert!(
        pending > 0,
        "some acknowledged dispensations wait for NLL when it goes down: {backlog:?}"
    );
    // Pharmacies during the outage: nothing is acknowledged.
    visits(&fleet, &journal, 10..14).await;
    assert_eq!(
        journal.acknowledged_count(),
        acked_while_slow,
        "nothing acknowledged while NLL is down"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = fleet
        .outbox_backlog()
        .await
        .get("pending")
        .copied()
        .unwrap_or(0);
    assert!(still > 0, "the outbox cannot deliver while NLL is down");

    // 3. NLL back: the outbox delivers the backlog, and new pharmacies are served again.
    fleet.set_nll_faults(Faults::default());
    visits(&fleet, &journal, 14..20).await;
    assert_eq!(journal.acknowledged_count(), acked_while_slow + 6);

    eprintln!("outbox backlog when NLL went down: {pending}; two seconds later: {still}");
    fleet.check(&journal, Duration::from_secs(40)).await;
    match Arc::try_unwrap(fleet) {
        Ok(f) => f.shutdown().await,
        Err(_) => panic!("fleet still shared"),
    }
}
