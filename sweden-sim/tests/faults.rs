//! Fault injection: at start and at run time.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use sweden_sim::{start_with_faults, Faults, SimConfig};

#[tokio::test]
async fn failures_at_run_time() {
    let s = sims().await;
    let faults = format!("{}://{}/_sim/faults", s.pdi.scheme(), s.pdi.authority());
    let r = get(&faults, &[]).await;
    assert_eq!(
        r.body,
        json!({"latency_ms": 0, "fail_rate": 0.0, "fail_status": 503, "down": false})
    );
    let r = put(&faults, &json!({"fail_rate": 1.0, "fail_status": 503}), &[]).await;
    assert_eq!(r.status, 200);
    let q = [
        ("subject:identifier", token("p01")),
        ("code", "shareable-providers".into()),
    ];
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = get_q(&s.pdi, "List", &q, &[]).await;
    assert_outcome(&r, 503);
    assert_eq!(r.headers["retry-after"], "1");
    // Other servers are unaffected.
    assert_eq!(
        get_q(
            &s.nsr,
            "Consent",
            &[("patient.identifier", &token("p01"))],
            &[]
        )
        .await
        .status,
        200
    );
    put(&faults, &json!({"fail_rate": 1.0, "fail_status": 500}), &[]).await;
    assert_outcome(&get_q(&s.pdi, "List", &q, &[]).await, 500);
    // Invalid settings are refused.
    assert_outcome(&put(&faults, &json!({"fail_rate": 2.0}), &[]).await, 400);
    assert_outcome(&put(&faults, &json!({"fail_status": 200}), &[]).await, 400);
    // A partial failure rate fails some, not all.
    put(&faults, &json!({"fail_rate": 0.5}), &[]).await;
    let mut failed = 0;
    for _ in 0..60 {
        if get_q(&s.pdi, "List", &q, &[]).await.status != 200 {
            failed += 1;
        }
    }
    assert!((5..55).contains(&failed), "{failed} of 60 failed");
    put(&faults, &json!({}), &[]).await;
    assert_eq!(get_q(&s.pdi, "List", &q, &[]).await.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn latency_and_down() {
    let s = sims().await;
    assert!(s.set_faults(
        "nsr",
        Faults {
            latency_ms: 300,
            ..Faults::default()
        }
    ));
    assert!(!s.set_faults("nope", Faults::default()));
    let t = Instant::now();
    let r = get_q(
        &s.nsr,
        "Consent",
        &[("patient.identifier", &token("p03"))],
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    s.set_faults(
        "nsr",
        Faults {
            down: true,
            ..Faults::default()
        },
    );
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let e = c
        .get(format!(
            "{}/Consent?patient.identifier={}",
            s.nsr,
            patient("p03").id.as_str()
        ))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_timeout());
    // Shutdown is not held up by the hanging request.
    let t = Instant::now();
    s.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn faults_from_the_start_configuration() {
    let mut per = HashMap::new();
    per.insert(
        "ntk".to_owned(),
        Faults {
            fail_rate: 1.0,
            fail_status: 429,
            ..Faults::default()
        },
    );
    let s = start_with_faults(
        SimConfig {
            faults: Faults {
                latency_ms: 50,
                ..Faults::default()
            },
            ..SimConfig::default()
        },
        per,
    )
    .await
    .unwrap();
    let r = endpoints_of(&s, "SE2321000016-7001", &[]).await;
    assert_outcome(&r, 429);
    let names: Vec<String> = s.endpoints().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 7);
    assert!(names.contains(&"provider-SE2321000016-7001".to_owned()));
    let f = get(
        &format!("{}://{}/_sim/faults", s.nll.scheme(), s.nll.authority()),
        &[],
    )
    .await;
    assert_eq!(f.body["latency_ms"], 50);
    s.shutdown().await;
}

#[tokio::test]
async fn fixed_base_port_gives_the_documented_order() {
    // Find 7 free consecutive ports above an ephemeral one (best effort: retry a few bases).
    for _ in 0..5 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port().saturating_sub(100);
        drop(probe);
        let cfg = SimConfig {
            base_port: base,
            ..SimConfig::default()
        };
        let Ok(s) = sweden_sim::start(cfg).await else {
            continue;
        };
        let ports: Vec<(String, u16)> = s
            .endpoints()
            .into_iter()
            .map(|(n, u)| (n, u.port().unwrap()))
            .collect();
        let expected = [
            "provider-SE2321000016-7001",
            "provider-SE2321000131-7002",
            "provider-SE2321000032-7003",
            "nll",
            "pdi",
            "ntk",
            "nsr",
        ];
        for (i, (name, port)) in ports.iter().enumerate() {
            assert_eq!(name, expected[i]);
            assert_eq!(*port, base + i as u16);
        }
        s.shutdown().await;
        return;
    }
    panic!("no free port range found");
}
