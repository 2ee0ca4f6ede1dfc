//! Requests refused before their caller is verified are audited: over mutual TLS against the
//! bridge with its SQLite audit trail, every refusal class leaves exactly one
//! `refused-unverified` record with the eHDSI code the requester got, naming the TLS peer and
//! nothing the request claimed (no patient id, no HCP name); the chain still verifies and the
//! KPIs count them. The National Connector's refusals are checked the same way.

mod country_a_support;

mod refusal_audit {
    use super::country_a_support::*;
    use ncp_core::audit::{AuditLog, Period};
    use ncp_core::security::{
        issue_hcp_assertion, unsigned_hcp_assertion, HcpClaims, SignedAssertion, SigningKey,
    };
    use serde_json::Value;

    const TOLVAN: &str = "191212121212";

    /// Sends one request and returns the one record it added, checking that it is a refusal
    /// with `code`, and that nothing from the request is in it.
    async fn one_refusal(
        env: &Env,
        client: &reqwest::Client,
        path: &str,
        body: Vec<u8>,
        code: Option<&str>,
    ) -> Value {
        let before = env.audit_records().len();
        let r = env
            .post_raw(client, path, "application/soap+xml; charset=UTF-8", body)
            .await
            .expect("the bridge answers");
        assert!(r.status >= 400, "{} {}", r.status, r.text());
        assert_eq!(r.fault_code().as_deref(), code, "{}", r.text());
        let all = env.audit_records();
        assert_eq!(all.len(), before + 1, "exactly one record per refusal");
        let rec = all.last().expect("a record").clone();
        assert_eq!(rec["record"], "refused-unverified", "{rec}");
        assert_eq!(rec["endpoint"], path);
        assert_eq!(rec["error_code"].as_str(), code, "{rec}");
        let text = rec.to_string();
        for claimed in [TOLVAN, "Mari Maasikas", "Tolvan", "hcp-4711", "urn:uuid:"] {
            assert!(!text.contains(claimed), "{claimed} in {text}");
        }
        rec
    }

    /// An XCA query for Tolvan carrying `assertions`.
    fn xca(assertions: &[String]) -> Vec<u8> {
        envelope(
            XCA_QUERY_ACTION,
            assertions,
            &xca_query_body(PNR, TOLVAN, "57833-6"),
        )
        .into_bytes()
    }

    /// Sends Estonia's XCA query with `hcp_xml` (the HCP assertion `hcp` as sent) and an
    /// Estonian TRC assertion for `hcp` and `claims`; returns its one refusal, with `code`.
    async fn refused_xca(
        env: &Env,
        client: &reqwest::Client,
        hcp: &SignedAssertion,
        hcp_xml: &str,
        claims: &HcpClaims,
        code: &str,
    ) -> Value {
        let trc = trc_assertion(env, "EE", hcp, claims, PNR, TOLVAN);
        let body = xca(&[hcp_xml.to_owned(), trc.xml]);
        one_refusal(env, client, "/ncp/xca", body, Some(code)).await
    }

    fn peer_is(rec: &Value, country: &str) {
        assert_eq!(rec["peer_country"], country, "{rec}");
        assert_eq!(rec["source_ip"], "127.0.0.1", "{rec}");
        assert!(rec["peer_common_name"].is_string(), "{rec}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_soap_refusal_class_is_audited_once_without_the_claimed_patient() {
        let env = Env::start_full(64 * 1024, true).await;
        let ee = env.client("EE");
        let c = pharmacist();

        // Unreadable: not XML, too large, an Action the endpoint does not serve, an XCPD body
        // that is no query. No eHDSI code was sent, none is recorded.
        let rec = one_refusal(&env, &ee, "/ncp/xca", b"<not-soap".to_vec(), None).await;
        assert_eq!(rec["class"], "unreadable-message");
        peer_is(&rec, "EE");
        let mut big = xca(&assertions_for(&env, PNR, TOLVAN));
        big.extend(vec![b' '; 70 * 1024]);
        let rec = one_refusal(&env, &ee, "/ncp/xca", big, None).await;
        assert_eq!(rec["class"], "unreadable-message");
        let wrong_action = envelope(
            XDR_ACTION,
            &assertions_for(&env, PNR, TOLVAN),
            &xca_query_body(PNR, TOLVAN, "57833-6"),
        );
        let rec = one_refusal(&env, &ee, "/ncp/xca", wrong_action.into_bytes(), None).await;
        assert_eq!(rec["class"], "unreadable-message");
        assert!(rec["message_id_sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64));
        let no_query = envelope(XCPD_ACTION, &[], "<foo/>");
        let rec = one_refusal(&env, &ee, "/ncp/xcpd", no_query.into_bytes(), None).await;
        assert_eq!(rec["attempted"], "patient-identification");

        // Assertions: missing, unsigned, tampered, untrusted signer, expired, other audience,
        // insufficient permissions.
        let rec = one_refusal(&env, &ee, "/ncp/xca", xca(&[]), Some("4702")).await;
        assert_eq!(rec["class"], "assertion-refused");
        assert_eq!(rec["attempted"], "document-list");
        peer_is(&rec, "EE");

        let unsigned = unsigned_hcp_assertion(&c, &options());
        refused_xca(&env, &ee, &unsigned, &unsigned.xml, &c, "4704").await;

        let hcp = hcp_assertion(&env, "EE", &c);
        let tampered = hcp.xml.replace("Mari Maasikas", "Mallory");
        refused_xca(&env, &ee, &hcp, &tampered, &c, "4704").await;

        let stranger = SigningKey::from_pem(
            &std::fs::read(&env.pki.untrusted_cert).unwrap(),
            &std::fs::read(&env.pki.untrusted_key).unwrap(),
        )
        .unwrap();
        let hcp = issue_hcp_assertion(&c, &options(), &stranger).unwrap();
        refused_xca(&env, &ee, &hcp, &hcp.xml, &c, "4704").await;

        let mut old = options();
        old.issue_instant = chrono::Utc::now() - chrono::Duration::hours(3);
        let hcp = issue_hcp_assertion(&c, &old, &env.signer("EE")).unwrap();
        refused_xca(&env, &ee, &hcp, &hcp.xml, &c, "4702").await;

        let mut elsewhere = options();
        elsewhere.audience = "urn:ehdsi:assertions.audience:somewhere-else".into();
        let hcp = issue_hcp_assertion(&c, &elsewhere, &env.signer("EE")).unwrap();
        refused_xca(&env, &ee, &hcp, &hcp.xml, &c, "4702").await;

        let weak = claims(ncp_core::security::HcpRole::PHARMACIST, &[]);
        let hcp = hcp_assertion(&env, "EE", &weak);
        let trc = trc_assertion(&env, "EE", &hcp, &weak, PNR, TOLVAN);
        let body = envelope(
            XDR_ACTION,
            &[hcp.xml, trc.xml],
            "<lcm:SubmitObjectsRequest xmlns:lcm='urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0'/>",
        );
        let rec = one_refusal(&env, &ee, "/ncp/xdr", body.into_bytes(), Some("4703")).await;
        assert_eq!(rec["attempted"], "dispensation-submit");

        // Signed by Spain's NCP, sent over Estonia's TLS connection.
        let hcp = hcp_assertion(&env, "ES", &c);
        let trc = trc_assertion(&env, "ES", &hcp, &c, PNR, TOLVAN);
        let rec = one_refusal(
            &env,
            &ee,
            "/ncp/xca",
            xca(&[hcp.xml, trc.xml]),
            Some("4703"),
        )
        .await;
        assert_eq!(rec["class"], "tls-peer-mismatch");
        peer_is(&rec, "EE");

        // An accepted request beside them, then the chain, the KPIs and the patient's accesses.
        let ok = env
            .post(
                "EE",
                "/ncp/xca",
                &String::from_utf8(xca(&assertions_for(&env, PNR, TOLVAN))).unwrap(),
            )
            .await;
        assert_eq!(ok.status, 200, "{}", ok.text());
        let log = AuditLog::open(&env.audit_config()).await.expect("trail");
        let report = log.verify().await.expect("verify");
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.records, 13);
        let refused = log.refused_kpi(Period::all()).await.expect("kpi");
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!((refused[0].country.as_str(), refused[0].count), ("EE", 12));
        let kpi = log.kpi(Period::all()).await.expect("kpi");
        assert_eq!(kpi.iter().map(|k| k.count).sum::<u64>(), 1, "{kpi:?}");
        let patient =
            ncp_core::security::PatientRef::new(ncp_types::Oid::parse(PNR).unwrap(), TOLVAN);
        let accesses = log
            .accesses_to_patient(&patient, Period::all())
            .await
            .expect("accesses");
        assert_eq!(accesses.len(), 1, "refusals are no accesses: {accesses:?}");
        drop(log);
        env.stop().await;
    }
}
