//! Two foreign pharmacies submit different dispensations of the same prescription, which has
//! one dispensation left, at the same moment, through the two replicas. At most one may be
//! acknowledged — or, if both are, both must reach NLL.
//!
//! Both used to be acknowledged, and the second was rejected by NLL when the outbox delivered
//! it ("no dispensations left"): NLL's dispensing lock is per caller HSA-id and every replica
//! calls as the NCP, and submissions still in the outbox were not counted. The outbox now
//! holds at most one pending submission per prescription (a unique partial index, so across
//! replicas too); the second is refused like a dispensation in progress.

mod fault_support;

use std::time::Duration;

use fault_support::{Fleet, Journal, Timing};
use sweden_sim::Faults;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_dispensations_of_the_last_repeat_are_not_both_acknowledged_and_lost() {
    let Some(url) = e2e_tests::pg::fresh_database().await else {
        return;
    };
    let fleet = Fleet::start(&url, 2, Timing::default()).await;
    let journal = Journal::default();
    // A slow NLL widens the window between acknowledgement and delivery, as in production.
    fleet.set_nll_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    // rx-p08-01 has one dispensation left.
    let rx = fault_support::rx(0);
    let (a, b) = tokio::join!(
        fleet.submit(&journal, 0, &rx, "same-rx-a"),
        fleet.submit(&journal, 1, &rx, "same-rx-b")
    );
    assert!(
        a.success() != b.success(),
        "exactly one is acknowledged: {a:?} / {b:?}"
    );
    fleet.set_nll_faults(Faults::default());
    fleet.check(&journal, Duration::from_secs(15)).await;
    fleet.shutdown().await;
}

/// The same rule on both outbox backends, at the outbox itself: one pending submission per
/// prescription; a discard, another prescription or the same key again are not affected.
#[tokio::test]
async fn the_outbox_holds_one_pending_submission_per_prescription() {
    use ncp_core::outbox::{Kind, Outbox, OutboxConfig, OutboxError, StorageBackend};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut backends = vec![StorageBackend::Sqlite {
        path: dir.path().join("outbox.sqlite"),
    }];
    if let Some(url) = e2e_tests::pg::fresh_database().await {
        backends.push(StorageBackend::Postgres { url });
    }
    let dispense = |rx: &str, id: &str| {
        serde_json::json!({
            "resourceType": "MedicationDispense",
            "identifier": [{"value": id}],
            "authorizingPrescription": [{"reference": format!("MedicationRequest/{rx}")}],
        })
    };
    for backend in backends {
        let outbox = Outbox::open(&OutboxConfig {
            backend: backend.clone(),
            worker: Default::default(),
        })
        .await
        .expect("open the outbox");
        let first = outbox
            .enqueue("d-1", Kind::Submit, dispense("rx-1", "d-1"))
            .await
            .expect("first submission");
        assert!(first.new);
        // The same document again: idempotent, not "in progress".
        let again = outbox
            .enqueue("d-1", Kind::Submit, dispense("rx-1", "d-1"))
            .await
            .expect("the same key again");
        assert!(!again.new);
        assert!(
            matches!(
                outbox
                    .enqueue("d-2", Kind::Submit, dispense("rx-1", "d-2"))
                    .await,
                Err(OutboxError::InProgress)
            ),
            "{backend:?}: a second pending submission of rx-1"
        );
        outbox
            .enqueue("d-3", Kind::Submit, dispense("rx-2", "d-3"))
            .await
            .expect("another prescription");
        outbox
            .enqueue("d-1-discard", Kind::Discard, dispense("rx-1", "d-1"))
            .await
            .expect("a discard is not a submission");
    }
}
