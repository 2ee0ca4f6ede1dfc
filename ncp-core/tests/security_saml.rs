//! The SAML security layer against valid, tampered, wrapped, expired and misdirected assertions.

mod security_support;

/// Named `security` so that `cargo test -p ncp-core security` selects these tests.
mod security {

    use crate::security_support::*;
    use chrono::{Duration, Utc};
    use ncp_core::security::{
        check_trc_patient, issue_hcp_assertion, verify_assertions, AssertionKind, AssertionPolicy,
        FacilityType, HcpRole, PatientRef, Permission, PurposeOfUse, SecurityError,
        SignatureFailure, Transaction,
    };
    use ncp_types::{CountryCode, Oid};

    fn verify(
        env: &str,
        pki: &TestPki,
        needs: Transaction,
    ) -> Result<ncp_core::security::VerifiedCaller, SecurityError> {
        verify_assertions(
            env.as_bytes(),
            &pki.trust(),
            &AssertionPolicy::default(),
            Utc::now(),
            needs,
        )
    }

    fn sig_failure(e: SecurityError) -> (AssertionKind, SignatureFailure) {
        assert_eq!(e.ehdsi_code(), "4704", "{e}");
        match e {
            SecurityError::Signature { kind, failure } => (kind, failure),
            other => panic!("not a signature error: {other:?}"),
        }
    }

    #[test]
    fn valid_hcp_and_trc_are_accepted_with_their_claims() {
        let pki = TestPki::new();
        let now = Utc::now();
        let h = hcp(&pki.ee, &hcp_claims(), now);
        let t = trc(&pki.ee, &h.id, now);
        let env = envelope(&[&h.xml, &t.xml]);
        let caller = verify(&env, &pki, Transaction::RetrievePrescriptions).unwrap();
        assert_eq!(caller.country, CountryCode::parse("EE").unwrap());
        assert_eq!(caller.hcp_assertion_id, h.id);
        assert_eq!(caller.trc_assertion_id.as_deref(), Some(t.id.as_str()));
        assert_eq!(caller.hcp_issuer, "urn:idp:EE:countryB");
        assert_eq!(caller.hcp.name, "Test Pharmacist");
        assert_eq!(caller.hcp.subject_id, "pharmacist@apteek.test");
        assert_eq!(caller.hcp.role, HcpRole::PHARMACIST);
        assert_eq!(caller.hcp.organisation, "Test Apteek");
        assert_eq!(caller.hcp.organisation_id, "urn:oid:1.3.6.1.4.1.48336.2.9");
        assert_eq!(caller.hcp.facility_type, FacilityType::Pharmacy);
        assert_eq!(caller.hcp.purpose_of_use, PurposeOfUse::Treatment);
        assert_eq!(caller.hcp.locality.as_deref(), Some("Tallinn"));
        assert!(caller.hcp.permissions.contains(&Permission::Ppd046));
        assert_eq!(caller.trc_patient(), Some(&patient()));
        assert!(caller.valid_until <= now + Duration::minutes(60) + Duration::seconds(1));

        assert_eq!(
            caller.hcp.organisation_oid(),
            Oid::parse("1.3.6.1.4.1.48336.2.9").ok()
        );
        let debug = format!("{caller:?}");
        for secret in ["Test Pharmacist", "pharmacist@apteek.test", "38201234567"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }

        check_trc_patient(&caller, &patient()).unwrap();
        let other = PatientRef::new(patient().root, "38201234568");
        let e = check_trc_patient(&caller, &other).unwrap_err();
        assert_eq!(e, SecurityError::TrcPatientMismatch);
        assert_eq!(e.ehdsi_code(), "4206");
        assert!(!e.message().contains("38201234568"));
        let other_root = PatientRef::new(Oid::parse("1.2.752.129.2.1.3.1").unwrap(), "38201234567");
        assert_eq!(
            check_trc_patient(&caller, &other_root),
            Err(SecurityError::TrcPatientMismatch)
        );
    }

    #[test]
    fn xcpd_needs_no_trc_but_xca_and_xdr_do() {
        let pki = TestPki::new();
        let h = hcp(&pki.ee, &hcp_claims(), Utc::now());
        let env = envelope(&[&h.xml]);
        let caller = verify(&env, &pki, Transaction::IdentifyPatient).unwrap();
        assert!(caller.trc.is_none());
        assert_eq!(
            check_trc_patient(&caller, &patient()),
            Err(SecurityError::MissingAssertion(AssertionKind::Trc))
        );
        for needs in [
            Transaction::FindPatientSummary,
            Transaction::SubmitDispensation,
        ] {
            let e = verify(&env, &pki, needs).unwrap_err();
            assert_eq!(e, SecurityError::MissingAssertion(AssertionKind::Trc));
            assert_eq!(e.ehdsi_code(), "4702");
        }
        let e = verify(&envelope(&[]), &pki, Transaction::IdentifyPatient).unwrap_err();
        assert_eq!(e, SecurityError::MissingAssertion(AssertionKind::Hcp));
    }

    #[test]
    fn rsa_signer_trusted_through_its_ca() {
        let pki = TestPki::new();
        let Some(es) = &pki.es_rsa else {
            eprintln!("SKIPPED: `openssl genpkey` unavailable, no RSA key to test with");
            return;
        };
        let now = Utc::now();
        let h = hcp(es, &hcp_claims(), now);
        assert!(h.xml.contains("rsa-sha256"));
        let t = trc(es, &h.id, now);
        let env = envelope(&[&h.xml, &t.xml]);
        let caller = verify(&env, &pki, Transaction::SubmitDispensation).unwrap();
        assert_eq!(caller.country.as_str(), "ES");
        // Without the CA in the trust list, the same certificate is a stranger.
        let e = verify_assertions(
            env.as_bytes(),
            &pki.pinned_only(),
            &AssertionPolicy::default(),
            now,
            Transaction::SubmitDispensation,
        )
        .unwrap_err();
        assert_eq!(
            sig_failure(e),
            (AssertionKind::Hcp, SignatureFailure::UntrustedSigner)
        );
    }

    #[test]
    fn unsigned_assertion_is_4704() {
        let pki = TestPki::new();
        let u = ncp_core::security::unsigned_hcp_assertion(
            &hcp_claims(),
            &options("urn:idp:EE:countryB", Utc::now(), 60),
        );
        let e = verify(&envelope(&[&u.xml]), &pki, Transaction::IdentifyPatient).unwrap_err();
        assert_eq!(
            sig_failure(e),
            (AssertionKind::Hcp, SignatureFailure::Missing)
        );
    }

    #[test]
    fn signer_outside_the_trust_list_is_4704_even_with_its_cert_embedded() {
        let pki = TestPki::new();
        let h = hcp(&pki.stranger, &hcp_claims(), Utc::now());
        assert!(h.xml.contains("X509Certificate"));
        let e = verify(&envelope(&[&h.xml]), &pki, Transaction::IdentifyPatient).unwrap_err();
        assert_eq!(
            sig_failure(e),
            (AssertionKind::Hcp, SignatureFailure::UntrustedSigner)
        );
    }

    #[test]
    fn trusted_cert_embedded_over_a_strangers_signature_is_4704() {
        let pki = TestPki::new();
        let h = hcp(&pki.stranger, &hcp_claims(), Utc::now());
        let trusted = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&pki.ee.cert_der)
        };
        let start = h.xml.find("<ds:X509Certificate>").unwrap() + "<ds:X509Certificate>".len();
        let end = h.xml.find("</ds:X509Certificate>").unwrap();
        let forged = format!("{}{trusted}{}", &h.xml[..start], &h.xml[end..]);
        assert_ne!(forged, h.xml);
        let e = verify(&envelope(&[&forged]), &pki, Transaction::IdentifyPatient).unwrap_err();
        assert_eq!(
            sig_failure(e),
            (AssertionKind::Hcp, SignatureFailure::Invalid)
        );
        // No KeyInfo at all: only the trusted keys are tried, and none verifies.
        let start = forged.find("<ds:KeyInfo>").unwrap();
        let end = forged.find("</ds:KeyInfo>").unwrap() + "</ds:KeyInfo>".len();
        let bare = format!("{}{}", &forged[..start], &forged[end..]);
        let e = verify(&envelope(&[&bare]), &pki, Transaction::IdentifyPatient).unwrap_err();
        assert_eq!(
            sig_failure(e),
            (AssertionKind::Hcp, SignatureFailure::Invalid)
        );
    }

    #[test]
    fn assertion_without_keyinfo_verifies_with_a_pinned_key() {
        let pki = TestPki::new();
        let h = hcp(&pki.ee, &hcp_claims(), Utc::now());
        let start = h.xml.find("<ds:KeyInfo>").unwrap();
        let end = h.xml.find("</ds:KeyInfo>").unwrap() + "</ds:KeyInfo>".len();
        let bare = format!("{}{}", &h.xml[..start], &h.xml[end..]);
        let caller = verify(&envelope(&[&bare]), &pki, Transaction::IdentifyPatient).unwrap();
        assert_eq!(caller.country.as_str(), "EE");
    }

    #[test]
    fn tampering_after_signing_is_4704() {
        let pki = TestPki::new();
        let now = Utc::now();
        let h = hcp(&pki.ee, &hcp_claims(), now);
        let t = trc(&pki.ee, &h.id, now);
        let tampered = [
            h.xml.replace("Test Pharmacist", "Test Pharmacisd"),
            h.xml
                .replace(">2262<", ">221<")
                .replace("\"2262\"", "\"221\""),
            h.xml.replace("Tallinn", "Tartu"),
        ];
        for bad in &tampered {
            assert_ne!(bad, &h.xml);
            let e = verify(
                &envelope(&[bad, &t.xml]),
                &pki,
                Transaction::FindPrescriptions,
            )
            .unwrap_err();
            assert_eq!(
                sig_failure(e),
                (AssertionKind::Hcp, SignatureFailure::Invalid)
            );
        }
        // The TRC's patient changed after signing.
        let bad_trc = t.xml.replace("38201234567", "38201234568");
        assert_ne!(bad_trc, t.xml);
        let e = verify(
            &envelope(&[&h.xml, &bad_trc]),
            &pki,
            Transaction::FindPrescriptions,
        )
        .unwrap_err();
        assert_eq!(
            sig_failure(e),
            (AssertionKind::Trc, SignatureFailure::Invalid)
        );
    }

    /// Drops the ds:Signature of an assertion.
    fn strip_signature(xml: &str) -> String {
        let start = xml.find("<ds:Signature").unwrap();
        let end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        format!("{}{}", &xml[..start], &xml[end..])
    }

    fn signature(xml: &str) -> &str {
        let start = xml.find("<ds:Signature").unwrap();
        let end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        &xml[start..end]
    }

    #[test]
    fn signature_wrapping_is_refused() {
        let pki = TestPki::new();
        let now = Utc::now();
        let mut weak = hcp_claims();
        weak.permissions = [Permission::Prd006].into_iter().collect();
        let h = hcp(&pki.ee, &weak, now);
        let policy = AssertionPolicy::default();
        let check = |env: &str| {
            verify_assertions(
                env.as_bytes(),
                &pki.trust(),
                &policy,
                now,
                Transaction::IdentifyPatient,
            )
        };
        assert!(check(&envelope(&[&h.xml])).is_ok());

        // 1. An evil assertion with the same ID carries the original signature; the original
        //    is moved into the body.
        let evil_claims = strip_signature(&h.xml)
            .replace("Test Pharmacist", "Evil Admin")
            .replace("<saml2:Issuer", &format!("{}<saml2:Issuer", ""));
        let evil = evil_claims.replacen(
            "</saml2:Issuer>",
            &format!("</saml2:Issuer>{}", signature(&h.xml)),
            1,
        );
        let env = envelope_with(&[&evil], &format!("<hide>{}</hide>", h.xml));
        let e = check(&env).unwrap_err();
        assert_eq!(sig_failure(e).1, SignatureFailure::WrongReference);

        // 2. The evil assertion has a new ID and the original's signature, whose Reference still
        //    points at the original (moved into the header's own extension).
        let evil2 = evil.replacen(&format!("ID=\"{}\"", h.id), "ID=\"_evil\"", 1);
        let env = envelope_with(&[&evil2], &format!("<hide>{}</hide>", h.xml));
        let e = check(&env).unwrap_err();
        assert_eq!(sig_failure(e).1, SignatureFailure::WrongReference);

        // 3. The original in the header, and another element elsewhere claiming its ID.
        for claim in [
            format!(r#"<x wsu:Id="{}" xmlns:wsu="urn:x"/>"#, h.id),
            format!(r#"<x xml:id="{}"/>"#, h.id),
            format!(r#"<x ID="{}"/>"#, h.id),
        ] {
            let env = envelope_with(&[&h.xml], &claim);
            let e = check(&env).unwrap_err();
            assert_eq!(
                sig_failure(e).1,
                SignatureFailure::WrongReference,
                "{claim}"
            );
        }

        // 4. Two HCP assertions in the header.
        let h2 = hcp(&pki.ee, &weak, now);
        let e = check(&envelope(&[&h.xml, &h2.xml])).unwrap_err();
        assert_eq!(e.ehdsi_code(), "4702");

        // 5. The evil assertion wraps the original inside itself (in Advice) with the same ID.
        let wrapped = evil.replacen(
            "<saml2:Subject>",
            &format!("<saml2:Advice>{}</saml2:Advice><saml2:Subject>", h.xml),
            1,
        );
        let e = check(&envelope(&[&wrapped])).unwrap_err();
        assert_eq!(sig_failure(e).1, SignatureFailure::WrongReference);
    }

    #[test]
    fn expired_and_not_yet_valid_are_4702() {
        let pki = TestPki::new();
        let now = Utc::now();
        let old = hcp(&pki.ee, &hcp_claims(), now - Duration::hours(3));
        let e = verify(&envelope(&[&old.xml]), &pki, Transaction::IdentifyPatient).unwrap_err();
        assert_eq!(e, SecurityError::Expired(AssertionKind::Hcp));
        assert_eq!(e.ehdsi_code(), "4702");
        let future = hcp(&pki.ee, &hcp_claims(), now + Duration::minutes(10));
        let e = verify(
            &envelope(&[&future.xml]),
            &pki,
            Transaction::IdentifyPatient,
        )
        .unwrap_err();
        assert_eq!(e, SecurityError::NotYetValid(AssertionKind::Hcp));
        // Within the clock skew is fine.
        let soon = hcp(&pki.ee, &hcp_claims(), now + Duration::seconds(20));
        assert!(verify(&envelope(&[&soon.xml]), &pki, Transaction::IdentifyPatient).is_ok());
        // A TRC past its end.
        let h = hcp(&pki.ee, &hcp_claims(), now - Duration::minutes(90));
        let t = trc(&pki.ee, &h.id, now - Duration::minutes(90));
        let e = verify(
            &envelope(&[&h.xml, &t.xml]),
            &pki,
            Transaction::FindPatientSummary,
        )
        .unwrap_err();
        assert_eq!(e, SecurityError::Expired(AssertionKind::Trc));
        // An assertion valid for longer than eHDSI allows.
        let long = issue_hcp_assertion(
            &hcp_claims(),
            &options("urn:idp:EE:countryB", now, 24 * 60),
            &pki.ee.key,
        )
        .unwrap();
        let e = verify(&envelope(&[&long.xml]), &pki, Transaction::IdentifyPatient).unwrap_err();
        assert_eq!(e.ehdsi_code(), "4702");
    }

    #[test]
    fn wrong_audience_is_4702() {
        let pki = TestPki::new();
        let mut opts = options("urn:idp:EE:countryB", Utc::now(), 60);
        opts.audience = "urn:ehdsi:assertions.audience:somewhere-else".into();
        let h = issue_hcp_assertion(&hcp_claims(), &opts, &pki.ee.key).unwrap();
        let e = verify(&envelope(&[&h.xml]), &pki, Transaction::IdentifyPatient).unwrap_err();
        assert_eq!(e, SecurityError::WrongAudience(AssertionKind::Hcp));
        assert_eq!(e.ehdsi_code(), "4702");
    }

    #[test]
    fn missing_permission_or_wrong_role_is_4703() {
        let pki = TestPki::new();
        let now = Utc::now();
        let mut claims = hcp_claims();
        claims.permissions.remove(&Permission::Prd006);
        let h = hcp(&pki.ee, &claims, now);
        let e = verify(&envelope(&[&h.xml]), &pki, Transaction::IdentifyPatient).unwrap_err();
        assert_eq!(e, SecurityError::MissingPermission("PRD-006"));
        assert_eq!(e.ehdsi_code(), "4703");

        let mut claims = hcp_claims();
        claims.permissions.remove(&Permission::Ppd046);
        let h = hcp(&pki.ee, &claims, now);
        let t = trc(&pki.ee, &h.id, now);
        let env = envelope(&[&h.xml, &t.xml]);
        assert_eq!(
            verify(&env, &pki, Transaction::DiscardDispensation).unwrap_err(),
            SecurityError::MissingPermission("PPD-046")
        );
        assert!(verify(&env, &pki, Transaction::RetrievePatientSummary).is_ok());

        let mut doctor = hcp_claims();
        doctor.role = HcpRole::PHYSICIAN;
        let h = hcp(&pki.ee, &doctor, now);
        let t = trc(&pki.ee, &h.id, now);
        let env = envelope(&[&h.xml, &t.xml]);
        let e = verify(&env, &pki, Transaction::SubmitDispensation).unwrap_err();
        assert_eq!(e, SecurityError::RoleNotAllowed);
        assert_eq!(e.ehdsi_code(), "4703");
        assert!(verify(&env, &pki, Transaction::FindPrescriptions).is_ok());
    }

    #[test]
    fn trc_of_another_ncp_or_another_hcp_assertion_is_refused() {
        let pki = TestPki::new();
        let now = Utc::now();
        let h = hcp(&pki.ee, &hcp_claims(), now);
        if let Some(es) = &pki.es_rsa {
            let t = trc(es, &h.id, now);
            let e = verify(
                &envelope(&[&h.xml, &t.xml]),
                &pki,
                Transaction::FindPatientSummary,
            )
            .unwrap_err();
            assert_eq!(
                sig_failure(e),
                (AssertionKind::Trc, SignatureFailure::OtherNcp)
            );
        }
        let stranger_trc = trc(&pki.stranger, &h.id, now);
        let e = verify(
            &envelope(&[&h.xml, &stranger_trc.xml]),
            &pki,
            Transaction::FindPatientSummary,
        )
        .unwrap_err();
        assert_eq!(
            sig_failure(e),
            (AssertionKind::Trc, SignatureFailure::UntrustedSigner)
        );
        let t = trc(&pki.ee, "_some-other-hcp-assertion", now);
        let e = verify(
            &envelope(&[&h.xml, &t.xml]),
            &pki,
            Transaction::FindPatientSummary,
        )
        .unwrap_err();
        assert_eq!(e, SecurityError::TrcNotForHcp);
        assert_eq!(e.ehdsi_code(), "4702");
    }

    #[test]
    fn concurrent_verification_from_many_threads() {
        let pki = TestPki::new();
        let now = Utc::now();
        let h = hcp(&pki.ee, &hcp_claims(), now);
        let t = trc(&pki.ee, &h.id, now);
        let good = envelope(&[&h.xml, &t.xml]);
        let bad = envelope(&[&h.xml.replace("Tallinn", "Narva"), &t.xml]);
        let trust = pki.trust();
        let policy = AssertionPolicy::default();
        std::thread::scope(|s| {
            for i in 0..4 {
                let (good, bad, trust, policy) = (&good, &bad, &trust, &policy);
                s.spawn(move || {
                    for j in 0..25 {
                        let env = if (i + j) % 3 == 0 { bad } else { good };
                        let r = verify_assertions(
                            env.as_bytes(),
                            trust,
                            policy,
                            now,
                            Transaction::RetrievePatientSummary,
                        );
                        assert_eq!(r.is_ok(), env == good);
                    }
                });
            }
        });
    }

    #[test]
    fn sandbox_pki_signing_certificates_work_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = ncp_core::pki::TestPki::ensure(dir.path()).unwrap();
        let mut trust = ncp_core::security::SigningTrust::new();
        trust
            .add_ca_pem(&std::fs::read(&sandbox.ca_cert).unwrap())
            .unwrap();
        let now = Utc::now();
        for ncp in &sandbox.foreign {
            let key = ncp_core::security::SigningKey::from_pem(
                &std::fs::read(&ncp.saml_cert).unwrap(),
                &std::fs::read(&ncp.saml_key).unwrap(),
            )
            .unwrap();
            let h = issue_hcp_assertion(
                &hcp_claims(),
                &options(&format!("urn:idp:{}:countryB", ncp.country), now, 60),
                &key,
            )
            .unwrap();
            let t = ncp_core::security::issue_trc_assertion(
                &trc_claims(&h.id, patient()),
                &options(&format!("urn:ncp:{}:countryB", ncp.country), now, 60),
                &key,
            )
            .unwrap();
            let caller = verify_assertions(
                envelope(&[&h.xml, &t.xml]).as_bytes(),
                &trust,
                &AssertionPolicy::default(),
                now,
                Transaction::SubmitDispensation,
            )
            .unwrap();
            assert_eq!(caller.country.as_str(), ncp.country);
        }
        // The sandbox's untrusted client certificate cannot sign for anyone.
        let stranger = ncp_core::security::SigningKey::from_pem(
            &std::fs::read(&sandbox.untrusted_cert).unwrap(),
            &std::fs::read(&sandbox.untrusted_key).unwrap(),
        )
        .unwrap();
        let h = issue_hcp_assertion(
            &hcp_claims(),
            &options("urn:idp:XX:countryB", now, 60),
            &stranger,
        )
        .unwrap();
        let e = verify_assertions(
            envelope(&[&h.xml]).as_bytes(),
            &trust,
            &AssertionPolicy::default(),
            now,
            Transaction::IdentifyPatient,
        )
        .unwrap_err();
        assert_eq!(
            sig_failure(e),
            (AssertionKind::Hcp, SignatureFailure::UntrustedSigner)
        );
    }
}
