//! The verification cache answers exactly as the full verification does: with the cache warm
//! from a valid request, every tampered, wrapped, expired, misdirected or re-trusted variant is
//! refused with the same error, and a repeated valid request gets the same caller.

mod security_support;

/// Named `security` so that `cargo test -p ncp-core security` selects these tests.
mod security {

    use crate::security_support::*;
    use chrono::{DateTime, Duration, Utc};
    use ncp_core::security::{
        verify_assertions, verify_assertions_cached, AssertionKind, AssertionPolicy, HcpClaims,
        Permission, SecurityError, SignatureFailure, SignedAssertion, SigningTrust, Transaction,
        VerificationCache, VerifiedCaller,
    };

    type Outcome = Result<VerifiedCaller, SecurityError>;

    struct Both {
        trust: SigningTrust,
        cache: VerificationCache,
        policy: AssertionPolicy,
    }

    impl Both {
        fn new(pki: &TestPki) -> Both {
            Both {
                trust: pki.trust(),
                cache: VerificationCache::new(),
                policy: AssertionPolicy::default(),
            }
        }

        /// The cached verification's answer, checked to be the full verification's.
        fn check(&self, env: &str, now: DateTime<Utc>, needs: Transaction) -> Outcome {
            let cached = verify_assertions_cached(
                env.as_bytes(),
                &self.trust,
                &self.cache,
                &self.policy,
                now,
                needs,
            );
            let full = verify_assertions(env.as_bytes(), &self.trust, &self.policy, now, needs);
            assert_eq!(cached, full, "the cache changed the answer");
            cached
        }
    }

    /// A test PKI, an Estonian HCP assertion with `claims` and a TRC for it, both issued now,
    /// and a cold cache.
    struct Setup {
        pki: TestPki,
        now: DateTime<Utc>,
        h: SignedAssertion,
        t: SignedAssertion,
        both: Both,
    }

    fn setup(claims: &HcpClaims) -> Setup {
        let pki = TestPki::new();
        let now = Utc::now();
        let h = hcp(&pki.ee, claims, now);
        let t = trc(&pki.ee, &h.id, now);
        let both = Both::new(&pki);
        Setup {
            pki,
            now,
            h,
            t,
            both,
        }
    }

    fn sig_failure(e: SecurityError) -> (AssertionKind, SignatureFailure) {
        match e {
            SecurityError::Signature { kind, failure } => (kind, failure),
            other => panic!("not a signature error: {other:?}"),
        }
    }

    #[test]
    fn a_repeated_request_is_answered_from_the_cache_with_the_same_caller() {
        let Setup {
            now, h, t, both, ..
        } = setup(&hcp_claims());
        let env = envelope(&[&h.xml, &t.xml]);
        assert!(both.cache.is_empty());
        let first = both
            .check(&env, now, Transaction::RetrievePrescriptions)
            .unwrap();
        assert_eq!(both.cache.len(), 2, "both assertions remembered");
        assert_eq!(both.cache.hits(), 0);
        for _ in 0..3 {
            let again = both
                .check(&env, now, Transaction::RetrievePrescriptions)
                .unwrap();
            assert_eq!(again, first);
        }
        assert_eq!(
            both.cache.hits(),
            6,
            "both assertions from the cache, three times"
        );
        // The same assertions in another envelope (another body, another message id).
        let other =
            envelope_with(&[&h.xml, &t.xml], "<more/>").replace("000000000001", "000000000002");
        assert_eq!(
            both.check(&other, now, Transaction::RetrievePrescriptions)
                .unwrap(),
            first
        );
        assert_eq!(both.cache.len(), 2);
        // XCPD with the HCP assertion alone: known too.
        let alone = both
            .check(&envelope(&[&h.xml]), now, Transaction::IdentifyPatient)
            .unwrap();
        assert_eq!(alone.hcp, first.hcp);
        assert!(alone.trc.is_none());
    }

    #[test]
    fn a_new_trc_for_a_known_hcp_assertion_is_verified_in_full() {
        let Setup {
            pki,
            now,
            h,
            t: t1,
            both,
        } = setup(&hcp_claims());
        let needs = Transaction::RetrievePrescriptions;
        both.check(&envelope(&[&h.xml, &t1.xml]), now, needs)
            .unwrap();
        // The next patient: a new TRC, the same HCP assertion (taken from the cache).
        let t2 = trc(&pki.ee, &h.id, now);
        let hits = both.cache.hits();
        let second = both
            .check(&envelope(&[&h.xml, &t2.xml]), now, needs)
            .unwrap();
        assert_eq!(second.trc_assertion_id.as_deref(), Some(t2.id.as_str()));
        assert_eq!(both.cache.hits(), hits + 1, "the HCP assertion was known");
        assert_eq!(both.cache.len(), 3);
        // A tampered new TRC beside the known HCP assertion.
        let t3 = trc(&pki.ee, &h.id, now);
        let bad = t3.xml.replace("38201234567", "38201234568");
        let e = both
            .check(&envelope(&[&h.xml, &bad]), now, needs)
            .unwrap_err();
        assert_eq!(
            sig_failure(e),
            (AssertionKind::Trc, SignatureFailure::Invalid)
        );
        // A new TRC signed by a stranger beside the known HCP assertion.
        let s = trc(&pki.stranger, &h.id, now);
        let e = both
            .check(&envelope(&[&h.xml, &s.xml]), now, needs)
            .unwrap_err();
        assert_eq!(e.ehdsi_code(), "4704", "{e}");
    }

    #[test]
    fn tampered_or_wrapped_variants_of_a_cached_assertion_are_refused() {
        let Setup {
            pki,
            now,
            h,
            t,
            both,
        } = setup(&hcp_claims());
        let needs = Transaction::FindPrescriptions;
        both.check(&envelope(&[&h.xml, &t.xml]), now, needs)
            .unwrap();

        for bad in [
            h.xml.replace("Test Pharmacist", "Test Pharmacisd"),
            h.xml.replace("Tallinn", "Tartu"),
        ] {
            let e = both
                .check(&envelope(&[&bad, &t.xml]), now, needs)
                .unwrap_err();
            assert_eq!(
                sig_failure(e),
                (AssertionKind::Hcp, SignatureFailure::Invalid)
            );
        }
        let bad_trc = t.xml.replace("38201234567", "38201234568");
        let e = both
            .check(&envelope(&[&h.xml, &bad_trc]), now, needs)
            .unwrap_err();
        assert_eq!(
            sig_failure(e),
            (AssertionKind::Trc, SignatureFailure::Invalid)
        );

        // The cached assertion in the header, another element elsewhere claiming its ID.
        for claim in [
            format!(r#"<x wsu:Id="{}" xmlns:wsu="urn:x"/>"#, h.id),
            format!(r#"<x xml:id="{}"/>"#, h.id),
            format!(r#"<x ID="{}"/>"#, t.id),
        ] {
            let env = envelope_with(&[&h.xml, &t.xml], &claim);
            let e = both.check(&env, now, needs).unwrap_err();
            assert_eq!(
                sig_failure(e).1,
                SignatureFailure::WrongReference,
                "{claim}"
            );
        }
        // The cached assertion wrapped inside another one, or twice in the header.
        let wrapped = h.xml.replacen(
            "<saml2:Subject>",
            &format!("<saml2:Advice>{}</saml2:Advice><saml2:Subject>", h.xml),
            1,
        );
        assert!(both
            .check(&envelope(&[&wrapped, &t.xml]), now, needs)
            .is_err());
        let e = both
            .check(&envelope(&[&h.xml, &h.xml, &t.xml]), now, needs)
            .unwrap_err();
        assert_eq!(e.ehdsi_code(), "4702");
        // The TRC of the cached pair with another HCP assertion.
        let h2 = hcp(&pki.ee, &hcp_claims(), now);
        let e = both
            .check(&envelope(&[&h2.xml, &t.xml]), now, needs)
            .unwrap_err();
        assert_eq!(e, SecurityError::TrcNotForHcp);
        // The same bytes with other namespaces in scope: another key, verified in full.
        let before = both.cache.len();
        let rebound = envelope(&[&h.xml, &t.xml]).replacen(
            "<wsse:Security ",
            r#"<wsse:Security xmlns:x="urn:x" "#,
            1,
        );
        assert!(both.check(&rebound, now, needs).is_ok());
        assert_eq!(both.cache.len(), before + 2);
    }

    #[test]
    fn clock_policy_and_transaction_are_checked_on_every_hit() {
        let mut weak = hcp_claims();
        weak.permissions = [Permission::Prd006].into_iter().collect();
        let Setup {
            now, h, t, both, ..
        } = setup(&weak);
        let env = envelope(&[&h.xml, &t.xml]);
        both.check(&env, now, Transaction::IdentifyPatient).unwrap();
        assert_eq!(both.cache.len(), 2);
        // Permissions per transaction.
        let e = both
            .check(&env, now, Transaction::RetrievePrescriptions)
            .unwrap_err();
        assert_eq!(e.ehdsi_code(), "4703");
        // Expired (the TRC lives 60 minutes), not yet valid.
        let e = both
            .check(
                &env,
                now + Duration::minutes(90),
                Transaction::IdentifyPatient,
            )
            .unwrap_err();
        assert_eq!(e, SecurityError::Expired(AssertionKind::Trc));
        let e = both
            .check(
                &env,
                now - Duration::minutes(30),
                Transaction::IdentifyPatient,
            )
            .unwrap_err();
        assert_eq!(e, SecurityError::NotYetValid(AssertionKind::Hcp));
        // Another audience.
        let strict = AssertionPolicy {
            audiences: vec!["urn:somewhere:else".into()],
            ..AssertionPolicy::default()
        };
        let e = verify_assertions_cached(
            env.as_bytes(),
            &both.trust,
            &both.cache,
            &strict,
            now,
            Transaction::IdentifyPatient,
        )
        .unwrap_err();
        assert_eq!(e, SecurityError::WrongAudience(AssertionKind::Hcp));
    }

    #[test]
    fn a_replaced_trust_list_forgets_what_was_verified() {
        let Setup {
            pki,
            now,
            h,
            t,
            both,
        } = setup(&hcp_claims());
        let env = envelope(&[&h.xml, &t.xml]);
        both.check(&env, now, Transaction::FindPrescriptions)
            .unwrap();
        // EE is dropped from the list while the bridge runs: its cached assertions go with it.
        let mut others = SigningTrust::new();
        others
            .add_pinned_pem(pki.stranger.cert_pem.as_bytes())
            .unwrap();
        both.trust.replace_with(&others);
        let hits = both.cache.hits();
        let e = both
            .check(&env, now, Transaction::FindPrescriptions)
            .unwrap_err();
        assert_eq!(e.ehdsi_code(), "4704", "{e}");
        assert_eq!(both.cache.hits(), hits);
        // A stranger's signature is never remembered.
        let s = hcp(&pki.stranger, &hcp_claims(), now);
        let st = trc(&pki.stranger, &s.id, now);
        let strange = envelope(&[&s.xml, &st.xml]);
        let cache = VerificationCache::new();
        for _ in 0..2 {
            assert!(verify_assertions_cached(
                strange.as_bytes(),
                &pki.trust(),
                &cache,
                &AssertionPolicy::default(),
                now,
                Transaction::FindPrescriptions,
            )
            .is_err());
        }
        assert!(cache.is_empty());
    }
}
