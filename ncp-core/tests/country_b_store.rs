//! Country B's store on PostgreSQL, as two replicas share it: a dispensation one replica
//! recorded is discarded by exactly one of two concurrent claims, from either replica, and
//! only by its owner.

#[path = "support/pg.rs"]
mod pg;

use ncp_core::audit::StorageBackend;
use ncp_core::country_b::store::{Claim, CountryBStore, Dispensation, Listed};
use serde_json::json;

fn dispensation(id: &str) -> Dispensation {
    Dispensation {
        id: id.into(),
        owner: "SE2321000016-PH01".into(),
        organisation: "SE2321000016-APK1".into(),
        country: "EE".into(),
        patient: "EE-1.2.3-4".into(),
        prescription: "mr-1".into(),
        bundle: json!({ "resourceType": "Bundle", "type": "collection", "entry": [] }),
        discarded: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_claim_a_discard_once() {
    let Some(url) = pg::fresh_database().await else {
        return;
    };
    let backend = StorageBackend::Postgres { url };
    // Both open (and create) the tables at once, as replicas starting together.
    let (a, b) = tokio::join!(CountryBStore::open(&backend), CountryBStore::open(&backend));
    let (a, b) = (a.unwrap(), b.unwrap());
    let owner = "SE2321000016-PH01";
    for i in 0..20 {
        let id = format!("d{i}");
        a.put_dispensation(&dispensation(&id)).await.unwrap();
        let (x, y) = tokio::join!(a.claim_discard(owner, &id), b.claim_discard(owner, &id));
        let (x, y) = (x.unwrap(), y.unwrap());
        let claimed = [&x, &y]
            .iter()
            .filter(|c| matches!(c, Claim::Claimed(_)))
            .count();
        assert_eq!(claimed, 1, "{x:?} {y:?}");
        assert!(x == Claim::InProgress || y == Claim::InProgress);
        b.finish_discard(&id, true).await.unwrap();
        assert_eq!(
            a.claim_discard(owner, &id).await.unwrap(),
            Claim::AlreadyDiscarded
        );
    }
    a.put_dispensation(&dispensation("other")).await.unwrap();
    assert_eq!(
        b.claim_discard("SE2321000016-PH02", "other").await.unwrap(),
        Claim::NotFound,
        "another user's"
    );
    let Claim::Claimed(d) = b.claim_discard(owner, "other").await.unwrap() else {
        panic!("the owner claims it");
    };
    assert_eq!(*d, dispensation("other"));
    // Not acknowledged abroad: released, and the other replica may try.
    b.finish_discard("other", false).await.unwrap();
    assert!(matches!(
        a.claim_discard(owner, "other").await.unwrap(),
        Claim::Claimed(_)
    ));

    // Listed prescriptions: written on one replica, read on the other, per owner.
    let listed = Listed {
        owner: owner.into(),
        prescription: "mr-1".into(),
        country: "EE".into(),
        patient: "EE-1.2.3-4".into(),
        document_unique_id: "1.2.3.4.1".into(),
        repository_unique_id: "1.2.3.9".into(),
        home_community_id: "1.2.3".into(),
        pdf: Some("Binary/x".into()),
    };
    a.put_listed(vec![listed.clone()]).await.unwrap();
    a.put_listed(vec![listed.clone()]).await.unwrap();
    assert_eq!(b.listed(owner, "mr-1").await.unwrap(), Some(listed));
    assert_eq!(b.listed("SE2321000016-PH02", "mr-1").await.unwrap(), None);
}
