//! The `wsu:Timestamp` of an incoming request's `wsse:Security` header, over mutual TLS against
//! the real Country A endpoints with the SQLite audit trail: none (OpenNCP sends none) or a
//! fresh one is accepted; an expired one, or one created beyond the `[saml]` clock skew (60 s)
//! in the future, is a Sender fault `wsse:MessageExpired`; two Timestamps or `Expires` before
//! `Created` are `wsse:InvalidSecurity`. Each refusal carries eHDSI `4702` (as an expired
//! assertion does) and leaves exactly one `timestamp-refused` audit record. Assertions already
//! in the verification cache do not carry a request with a bad Timestamp through.

mod country_a_support;

mod soap_timestamp {
    use super::country_a_support::*;
    use chrono::{DateTime, Duration, Utc};
    use serde_json::Value;

    const TOLVAN: &str = "191212121212";
    const WSU_NS: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    const SECURITY_OPEN: &str = r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">"#;

    fn xsd(t: DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }

    fn stamp(created: DateTime<Utc>, expires: DateTime<Utc>) -> String {
        format!(
            r#"<wsu:Timestamp xmlns:wsu="{WSU_NS}" wsu:Id="TS-1"><wsu:Created>{}</wsu:Created><wsu:Expires>{}</wsu:Expires></wsu:Timestamp>"#,
            xsd(created),
            xsd(expires)
        )
    }

    /// The usual 300 s Timestamp, created `age` ago.
    fn aged(age: Duration) -> String {
        let created = Utc::now() - age;
        stamp(created, created + Duration::seconds(300))
    }

    /// An XCA query for Tolvan with `assertions`, `stamps` first in `wsse:Security`.
    fn xca(assertions: &[String], stamps: &str) -> Vec<u8> {
        let e = envelope(
            XCA_QUERY_ACTION,
            assertions,
            &xca_query_body(PNR, TOLVAN, "57833-6"),
        );
        assert!(e.contains(SECURITY_OPEN));
        e.replacen(SECURITY_OPEN, &format!("{SECURITY_OPEN}{stamps}"), 1)
            .into_bytes()
    }

    /// The `env:Subcode/env:Value` of a fault, as written (`wsse:...`).
    fn subcode(r: &Reply) -> Option<String> {
        let text = r.text();
        let doc = roxmltree::Document::parse(&text).ok()?;
        doc.descendants()
            .find(|n| n.has_tag_name("Subcode"))?
            .children()
            .find(|n| n.has_tag_name("Value"))?
            .text()
            .map(str::to_owned)
    }

    async fn send(env: &Env, client: &reqwest::Client, path: &str, body: Vec<u8>) -> Reply {
        env.post_raw(client, path, "application/soap+xml; charset=UTF-8", body)
            .await
            .expect("the bridge answers")
    }

    async fn accepted(env: &Env, client: &reqwest::Client, body: Vec<u8>) {
        let before = env.audit_records().len();
        let r = send(env, client, "/ncp/xca", body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.fault_code(), None, "{}", r.text());
        let all = env.audit_records();
        assert_eq!(all.len(), before + 1);
        assert_ne!(
            all[before]["record"], "refused-unverified",
            "{}",
            all[before]
        );
    }

    /// Sends one request that must be refused with the WS-Security `subcode` and eHDSI 4702,
    /// and returns the one refusal record it added.
    async fn refused(
        env: &Env,
        client: &reqwest::Client,
        path: &str,
        body: Vec<u8>,
        wsse: &str,
    ) -> Value {
        let before = env.audit_records().len();
        let r = send(env, client, path, body).await;
        assert_eq!(r.status, 400, "{}", r.text());
        let text = r.text();
        assert!(text.contains("<env:Value>env:Sender</env:Value>"), "{text}");
        assert_eq!(
            subcode(&r).as_deref(),
            Some(format!("wsse:{wsse}").as_str())
        );
        assert_eq!(r.fault_code().as_deref(), Some("4702"), "{text}");
        assert!(
            text.contains("wsu:"),
            "the reason names the Timestamp: {text}"
        );
        let all = env.audit_records();
        assert_eq!(all.len(), before + 1, "exactly one record per refusal");
        let rec = all.last().expect("a record").clone();
        assert_eq!(rec["record"], "refused-unverified", "{rec}");
        assert_eq!(rec["class"], "timestamp-refused", "{rec}");
        assert_eq!(rec["endpoint"], path, "{rec}");
        assert_eq!(rec["error_code"], "4702", "{rec}");
        assert_eq!(rec["peer_country"], "EE", "{rec}");
        assert!(!rec.to_string().contains(TOLVAN), "{rec}");
        rec
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn timestamps_are_optional_and_checked_when_present() {
        let env = Env::start_full(64 * 1024, true).await;
        let ee = env.client("EE");
        let assertions = assertions_for(&env, PNR, TOLVAN);

        // None, as OpenNCP sends; a fresh one, as our own foreign gateway sends; one with
        // Created a little (within the skew) ahead of our clock; one without Expires.
        accepted(&env, &ee, xca(&assertions, "")).await;
        accepted(&env, &ee, xca(&assertions, &aged(Duration::seconds(5)))).await;
        accepted(&env, &ee, xca(&assertions, &aged(Duration::seconds(-30)))).await;
        let created_only = format!(
            r#"<wsu:Timestamp xmlns:wsu="{WSU_NS}"><wsu:Created>{}</wsu:Created></wsu:Timestamp>"#,
            xsd(Utc::now())
        );
        accepted(&env, &ee, xca(&assertions, &created_only)).await;

        // The same (now cached) assertions with a bad Timestamp: refused all the same.
        let count = {
            let expired = xca(&assertions, &aged(Duration::seconds(600)));
            refused(&env, &ee, "/ncp/xca", expired, "MessageExpired").await;
            let future = xca(&assertions, &aged(Duration::seconds(-600)));
            refused(&env, &ee, "/ncp/xca", future, "MessageExpired").await;
            let two = format!(
                "{}{}",
                aged(Duration::seconds(1)),
                aged(Duration::seconds(1))
            );
            refused(
                &env,
                &ee,
                "/ncp/xca",
                xca(&assertions, &two),
                "InvalidSecurity",
            )
            .await;
            let now = Utc::now();
            let backwards = stamp(now, now - Duration::seconds(1));
            let rec = refused(
                &env,
                &ee,
                "/ncp/xca",
                xca(&assertions, &backwards),
                "InvalidSecurity",
            )
            .await;
            assert_eq!(rec["attempted"], "document-list", "{rec}");
            let not_utc = stamp(now, now + Duration::seconds(300)).replace('Z', "+00:00");
            refused(
                &env,
                &ee,
                "/ncp/xca",
                xca(&assertions, &not_utc),
                "InvalidSecurity",
            )
            .await;
            env.audit_records().len()
        };
        assert_eq!(count, 4 + 5, "four accepted, five refused");

        // XCPD (HCP assertion only) goes through the same check.
        let hcp = hcp_assertion(&env, "EE", &pharmacist());
        let q = envelope(XCPD_ACTION, &[hcp.xml], &xcpd_body(&[(PNR, TOLVAN)])).replacen(
            SECURITY_OPEN,
            &format!("{SECURITY_OPEN}{}", aged(Duration::seconds(301))),
            1,
        );
        let rec = refused(&env, &ee, "/ncp/xcpd", q.into_bytes(), "MessageExpired").await;
        assert_eq!(rec["attempted"], "patient-identification", "{rec}");

        let log = ncp_core::audit::AuditLog::open(&env.audit_config())
            .await
            .expect("trail");
        let report = log.verify().await.expect("verify");
        assert!(report.is_intact(), "{report:?}");
        drop(log);
        env.stop().await;
    }
}
