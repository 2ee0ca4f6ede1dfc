//! How many requests' assertions one core verifies per second (printed; run with
//! `--nocapture`, and `--release` for a production figure). Asserts only correctness.

mod security_support;

/// Named `security` so that `cargo test -p ncp-core security` selects these tests.
mod security {

    use std::time::Instant;

    use crate::security_support::*;
    use chrono::Utc;
    use ncp_core::security::{verify_assertions, AssertionPolicy, SigningTrust, Transaction};

    fn measure(label: &str, env: &str, trust: &SigningTrust, n: u32) {
        let policy = AssertionPolicy::default();
        let now = Utc::now();
        let run = || {
            verify_assertions(
                env.as_bytes(),
                trust,
                &policy,
                now,
                Transaction::RetrievePrescriptions,
            )
            .unwrap()
        };
        run();
        let start = Instant::now();
        for _ in 0..n {
            run();
        }
        let elapsed = start.elapsed();
        println!(
        "{label}: {n} envelopes (HCP + TRC, 2 signatures each) in {elapsed:.2?}: {:.0} envelopes/s, {:.0} signatures/s on one thread",
        f64::from(n) / elapsed.as_secs_f64(),
        2.0 * f64::from(n) / elapsed.as_secs_f64()
    );
    }

    #[test]
    fn verification_throughput_on_one_core() {
        let pki = TestPki::new();
        let now = Utc::now();
        let h = hcp(&pki.ee, &hcp_claims(), now);
        let t = trc(&pki.ee, &h.id, now);
        measure(
            "ECDSA P-256, pinned certificate",
            &envelope(&[&h.xml, &t.xml]),
            &pki.trust(),
            200,
        );
        if let Some(es) = &pki.es_rsa {
            let h = hcp(es, &hcp_claims(), now);
            let t = trc(es, &h.id, now);
            measure(
                "RSA 2048, certificate chained to a trusted CA",
                &envelope(&[&h.xml, &t.xml]),
                &pki.trust(),
                200,
            );
        }
    }
}
