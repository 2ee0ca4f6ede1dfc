//! The clients against the simulators over real HTTP.

use std::time::Duration;

use ncp_types::{DispensationId, HsaId, PersonId, PrescriptionId};
use nll_adapter::*;
use serde_json::{json, Value};
use sweden_sim::{patients, start, Faults, RunningSims, SimConfig};

fn pid(key: &str) -> PersonId {
    patients().iter().find(|p| p.key == key).unwrap().id.clone()
}

fn hsa(s: &str) -> HsaId {
    HsaId::parse(s).unwrap()
}

fn ctx(caller: &str, purpose: Purpose) -> CallContext {
    CallContext {
        caller: hsa(caller),
        purpose,
        access: Access::Normal,
        role: CallerRole::Ncp,
    }
}

fn bridge() -> CallContext {
    ctx("SE2321000016-NCP1", Purpose::CrossBorder)
}

fn cfg() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(5),
        retries: 0,
        ..ClientConfig::default()
    }
}

async fn sims() -> RunningSims {
    start(SimConfig::default()).await.unwrap()
}

fn rx(id: &str) -> PrescriptionId {
    PrescriptionId::new(id).unwrap()
}

fn dispense_json(rx: &str) -> Value {
    json!({
        "resourceType": "MedicationDispense",
        "status": "completed",
        "authorizingPrescription": [{"reference": format!("MedicationRequest/{rx}")}],
        "quantity": {"value": 1, "unit": "förpackning"},
    })
}

#[tokio::test]
async fn prescriptions_follow_next_links_with_includes() {
    let s = sims().await;
    let small = ClientConfig {
        page_size: 7,
        ..cfg()
    };
    let nll = NllClient::new(s.nll.clone(), &small).unwrap();
    let b = nll.prescriptions(&bridge(), &pid("p08")).await.unwrap();
    assert_eq!(b.total, Some(30));
    assert_eq!(b.matches().count(), 30);
    let mut ids: Vec<&str> = b.matches().map(|m| m["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30);
    // Every match's medication and requester resolve among the includes, each included once.
    for m in b.matches() {
        assert!(b
            .resolve(m["medicationReference"]["reference"].as_str().unwrap())
            .is_some());
        assert!(b
            .resolve(m["requester"]["reference"].as_str().unwrap())
            .is_some());
    }
    assert_eq!(
        b.includes()
            .filter(|r| r["resourceType"] == "Patient")
            .count(),
        1
    );
    // Bounded pages.
    let two = ClientConfig {
        page_size: 7,
        max_pages: 2,
        ..cfg()
    };
    let nll2 = NllClient::new(s.nll.clone(), &two).unwrap();
    assert_eq!(
        nll2.prescriptions(&bridge(), &pid("p08"))
            .await
            .unwrap_err(),
        AdapterError::TooManyPages { max: 2 }
    );
    // Status filter and an unknown patient.
    let active = nll
        .prescriptions_with_status(&bridge(), &pid("p02"), &[PrescriptionStatus::Active])
        .await
        .unwrap();
    assert_eq!(active.matches().count(), 3);
    assert_eq!(
        nll.prescriptions(&bridge(), &pid("p07"))
            .await
            .unwrap()
            .matches()
            .count(),
        0
    );
    assert!(nll.patient(&bridge(), &pid("p07")).await.unwrap().is_none());
    let p = nll.patient(&bridge(), &pid("p10")).await.unwrap().unwrap();
    assert_eq!(p["name"][0]["family"], "Lövgren");
    s.shutdown().await;
}

#[tokio::test]
async fn one_prescription_and_sparr() {
    let s = sims().await;
    let nll = NllClient::new(s.nll.clone(), &cfg()).unwrap();
    let b = nll.prescription(&bridge(), &rx("rx-p01-03")).await.unwrap();
    let m = b.matches().next().unwrap();
    let med = b
        .resolve(m["medicationReference"]["reference"].as_str().unwrap())
        .unwrap();
    assert_eq!(med["code"]["coding"][1]["code"], "N02AJ06");
    assert!(matches!(
        nll.prescription(&bridge(), &rx("rx-none")).await,
        Err(AdapterError::NotFound { .. })
    ));
    // p06's Sahlgrenska prescriptions are hidden cross-border, visible in emergency care.
    assert_eq!(
        nll.prescriptions(&bridge(), &pid("p06"))
            .await
            .unwrap()
            .matches()
            .count(),
        1
    );
    let emergency = CallContext {
        access: Access::Emergency,
        role: CallerRole::Physician,
        ..ctx("SE2321000016-NCP1", Purpose::Treatment)
    };
    assert_eq!(
        nll.prescriptions(&emergency, &pid("p06"))
            .await
            .unwrap()
            .matches()
            .count(),
        3
    );
    assert!(matches!(
        nll.prescription(&bridge(), &rx("rx-p06-02")).await,
        Err(AdapterError::NotFound { .. })
    ));
    let locks = nll.data_locks(&bridge(), &pid("p06")).await.unwrap();
    assert_eq!(locks.len(), 1);
    s.shutdown().await;
}

#[tokio::test]
async fn dispense_is_idempotent_and_discard_gives_back() {
    let s = sims().await;
    let nll = NllClient::new(s.nll.clone(), &cfg()).unwrap();
    let apo = ctx("SE2321000016-APO1", Purpose::Dispensing);
    let key = DispensationId::new("eD-SE-0001").unwrap();
    let d = nll
        .dispense(&apo, &dispense_json("rx-p01-03"), &key)
        .await
        .unwrap();
    assert!(d.created);
    assert!(d.location.as_deref().unwrap().contains(d.id.as_str()));
    let again = nll
        .dispense(&apo, &dispense_json("rx-p01-03"), &key)
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.id, d.id);
    match nll
        .dispense(
            &apo,
            &dispense_json("rx-p01-03"),
            &DispensationId::new("eD-SE-0002").unwrap(),
        )
        .await
    {
        Err(AdapterError::Conflict { reason }) => {
            assert!(reason.contains("no dispensations left"), "{reason}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let discarded = nll.discard(&apo, &d.id).await.unwrap();
    assert_eq!(discarded["status"], "entered-in-error");
    // The dispensation came back: a new one succeeds.
    let d2 = nll
        .dispense(
            &apo,
            &dispense_json("rx-p01-03"),
            &DispensationId::new("eD-SE-0003").unwrap(),
        )
        .await
        .unwrap();
    assert!(d2.created);
    let all = nll.dispensations(&apo, &rx("rx-p01-03")).await.unwrap();
    assert_eq!(all.matches().count(), 2);
    // Another pharmacy may not discard it.
    assert!(matches!(
        nll.discard(&ctx("SE2321000016-APO2", Purpose::Dispensing), &d2.id)
            .await,
        Err(AdapterError::Forbidden { .. })
    ));
    assert!(matches!(
        nll.dispense(&apo, &json!({"resourceType": "Patient"}), &key)
            .await,
        Err(AdapterError::Invalid { .. })
    ));
    s.shutdown().await;
}

#[tokio::test]
async fn lock_blocks_other_pharmacies() {
    let s = sims().await;
    let nll = NllClient::new(s.nll.clone(), &cfg()).unwrap();
    let a = ctx("SE2321000016-APO1", Purpose::Dispensing);
    let b = ctx("SE2321000016-APO2", Purpose::Dispensing);
    nll.lock(&a, &rx("rx-p01-05")).await.unwrap();
    assert!(matches!(
        nll.lock(&b, &rx("rx-p01-05")).await,
        Err(AdapterError::Conflict { .. })
    ));
    let k = DispensationId::new("k-b").unwrap();
    assert!(matches!(
        nll.dispense(&b, &dispense_json("rx-p01-05"), &k).await,
        Err(AdapterError::Conflict { .. })
    ));
    nll.unlock(&a, &rx("rx-p01-05")).await.unwrap();
    assert!(
        nll.dispense(&b, &dispense_json("rx-p01-05"), &k)
            .await
            .unwrap()
            .created
    );
    s.shutdown().await;
}

#[tokio::test]
async fn faults_become_typed_errors() {
    let s = sims().await;
    let quick = ClientConfig {
        timeout: Duration::from_millis(300),
        ..cfg()
    };
    let nll = NllClient::new(s.nll.clone(), &quick).unwrap();
    s.set_faults(
        "nll",
        Faults {
            latency_ms: 800,
            ..Faults::default()
        },
    );
    assert_eq!(
        nll.prescriptions(&bridge(), &pid("p01")).await.unwrap_err(),
        AdapterError::Timeout
    );
    s.set_faults(
        "nll",
        Faults {
            down: true,
            ..Faults::default()
        },
    );
    assert_eq!(
        nll.patient(&bridge(), &pid("p01")).await.unwrap_err(),
        AdapterError::Timeout
    );
    s.set_faults(
        "nll",
        Faults {
            fail_rate: 1.0,
            fail_status: 503,
            ..Faults::default()
        },
    );
    let e = nll.patient(&bridge(), &pid("p01")).await.unwrap_err();
    assert_eq!(
        e,
        AdapterError::Unavailable {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    assert!(e.is_transient());
    s.set_faults(
        "nll",
        Faults {
            fail_rate: 1.0,
            fail_status: 500,
            ..Faults::default()
        },
    );
    assert!(matches!(
        nll.patient(&bridge(), &pid("p01")).await,
        Err(AdapterError::Server { status: 500, .. })
    ));
    s.set_faults("nll", Faults::default());
    assert!(nll.patient(&bridge(), &pid("p01")).await.unwrap().is_some());
    // A service that is not there.
    let wrong = NllClient::new(s.pdi.clone(), &cfg()).unwrap();
    assert!(matches!(
        wrong.patient(&bridge(), &pid("p01")).await,
        Err(AdapterError::NotFound { .. })
    ));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url =
        url::Url::parse(&format!("http://{}/nll/fhir", closed.local_addr().unwrap())).unwrap();
    drop(closed);
    let gone = NllClient::new(url, &cfg()).unwrap();
    assert!(matches!(
        gone.patient(&bridge(), &pid("p01")).await,
        Err(AdapterError::Transport(_))
    ));
    s.shutdown().await;
}

#[tokio::test]
async fn blocks_from_the_register() {
    let s = sims().await;
    let nsr = NsrClient::new(s.nsr.clone(), &cfg()).unwrap();
    let b = |k: &'static str| {
        let nsr = &nsr;
        async move { nsr.blocks(&bridge(), &pid(k)).await.unwrap() }
    };
    assert_eq!(b("p03").await, vec![Block::OptOut]);
    assert_eq!(
        b("p04").await,
        vec![Block::Provider(hsa("SE2321000131-7002"))]
    );
    assert_eq!(
        b("p05").await,
        vec![Block::Category(BlockCategory::PatientSummary)]
    );
    assert_eq!(
        b("p11").await,
        vec![Block::Entry {
            provider: Some(hsa("SE2321000016-7001")),
            resource_type: "Condition".into(),
            id: "cond-p11-2".into()
        }]
    );
    assert!(b("p15").await.is_empty(), "withdrawn opt-out");
    assert!(b("p07").await.is_empty());
    s.shutdown().await;
}

#[tokio::test]
async fn pdi_then_ntk_then_providers() {
    let s = sims().await;
    let c = cfg();
    let pdi = PdiClient::new(s.pdi.clone(), &c).unwrap();
    let ntk = NtkClient::new(s.ntk.clone(), &c, hsa("SE2321000016-NCP1")).unwrap();
    let prov = ProviderClient::new(&ClientConfig {
        page_size: 1,
        ..c.clone()
    })
    .unwrap();
    let listed = pdi.providers(&bridge(), &pid("p01")).await.unwrap();
    assert_eq!(
        listed.len(),
        4,
        "three running providers and one with its NTK endpoint off"
    );
    assert!(pdi
        .providers(&bridge(), &pid("p07"))
        .await
        .unwrap()
        .is_empty());
    let mut conditions = 0;
    let mut vitals = 0;
    let mut offline = 0;
    for l in &listed {
        let Some(ep) = ntk.endpoint(&l.hsa_id).await.unwrap() else {
            offline += 1;
            continue;
        };
        assert!(s
            .providers
            .iter()
            .any(|(h, u)| *h == l.hsa_id && *u == ep.address));
        for kind in &l.categories {
            let r = prov
                .fetch(&bridge(), &ep.address, &pid("p01"), *kind)
                .await
                .unwrap();
            assert!(r.matches().count() > 0, "{kind:?} listed but empty");
            assert!(r
                .matches()
                .all(|m| m["resourceType"] == kind.resource_type()));
            match kind {
                ResourceKind::Conditions => conditions += r.matches().count(),
                ResourceKind::VitalSigns => vitals += r.matches().count(),
                _ => {}
            }
        }
    }
    // Hypertension (recorded at two providers) and type 2 diabetes; the 4th provider is offline.
    assert_eq!((conditions, vitals, offline), (3, 4, 1));
    s.shutdown().await;
}

#[tokio::test]
async fn ntk_answers_are_cached() {
    let s = sims().await;
    let ntk = NtkClient::new(s.ntk.clone(), &cfg(), hsa("SE2321000016-NCP1")).unwrap();
    let (h, url) = s.providers[1].clone();
    assert_eq!(ntk.endpoint(&h).await.unwrap().unwrap().address, url);
    assert_eq!(ntk.endpoint(&hsa("SE2321000099-0000")).await.unwrap(), None);
    s.set_faults(
        "ntk",
        Faults {
            fail_rate: 1.0,
            ..Faults::default()
        },
    );
    assert_eq!(
        ntk.endpoint(&h).await.unwrap().unwrap().address,
        url,
        "served from the cache"
    );
    assert_eq!(
        ntk.endpoint(&hsa("SE2321000099-0000")).await.unwrap(),
        None,
        "negative answers too"
    );
    ntk.clear_cache();
    assert!(matches!(
        ntk.endpoint(&h).await,
        Err(AdapterError::Unavailable { .. })
    ));
    // A short TTL expires.
    s.set_faults("ntk", Faults::default());
    let short = NtkClient::new(
        s.ntk.clone(),
        &ClientConfig {
            ntk_ttl: Duration::from_millis(100),
            ..cfg()
        },
        hsa("SE2321000016-NCP1"),
    )
    .unwrap();
    short.endpoint(&h).await.unwrap();
    s.set_faults(
        "ntk",
        Faults {
            fail_rate: 1.0,
            ..Faults::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(short.endpoint(&h).await.is_err());
    s.shutdown().await;
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let s = sims().await;
    let c = ClientConfig {
        retries: 3,
        max_backoff: Duration::from_millis(300),
        ..cfg()
    };
    let nll = NllClient::new(s.nll.clone(), &c).unwrap();
    let pdi = PdiClient::new(s.pdi.clone(), &c).unwrap();
    s.set_faults(
        "nll",
        Faults {
            fail_rate: 1.0,
            ..Faults::default()
        },
    );
    s.set_faults(
        "pdi",
        Faults {
            fail_rate: 1.0,
            ..Faults::default()
        },
    );
    // Too many failures: the last error comes back.
    let t = std::time::Instant::now();
    assert!(matches!(
        pdi.providers(&bridge(), &pid("p01")).await,
        Err(AdapterError::Unavailable { .. })
    ));
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "three waits capped at 300 ms"
    );
    // The service recovers while the client waits: the read and the dispensation succeed, once.
    let sims = std::sync::Arc::new(s);
    let s2 = sims.clone();
    let heal = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        s2.set_faults("nll", Faults::default());
    });
    let apo = ctx("SE2321000016-APO1", Purpose::Dispensing);
    let d = nll
        .dispense(
            &apo,
            &dispense_json("rx-p01-01"),
            &DispensationId::new("retry-1").unwrap(),
        )
        .await
        .unwrap();
    assert!(d.created);
    heal.await.unwrap();
    let all = nll.dispensations(&apo, &rx("rx-p01-01")).await.unwrap();
    assert_eq!(all.matches().count(), 1);
    let Ok(s) = std::sync::Arc::try_unwrap(sims) else {
        panic!("still shared")
    };
    s.shutdown().await;
}

#[tokio::test]
async fn oversized_answers_are_refused() {
    let s = sims().await;
    let tiny = ClientConfig {
        max_body_bytes: 2048,
        ..cfg()
    };
    let nll = NllClient::new(s.nll.clone(), &tiny).unwrap();
    assert!(matches!(
        nll.prescriptions(&bridge(), &pid("p01")).await,
        Err(AdapterError::Protocol(_))
    ));
    // A small answer still fits.
    assert!(nll.patient(&bridge(), &pid("p07")).await.unwrap().is_none());
    s.shutdown().await;
}
