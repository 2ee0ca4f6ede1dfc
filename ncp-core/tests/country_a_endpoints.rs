//! Sweden as country A, end to end: the simulators of the Swedish services, the bridge on the
//! test PKI, and a foreign NCP driving `POST /ncp/xcpd`, `/ncp/xca` and `/ncp/xdr` over mutual
//! TLS with signed eHDSI assertions. NLL is checked directly on the simulator.

mod country_a_support;

mod country_a {
    use super::country_a_support::*;
    use ncp_core::country_a::Outcome;
    use ncp_core::security::{
        issue_hcp_assertion, unsigned_hcp_assertion, HcpRole, Permission, SigningKey,
    };

    const FORMAT_DIS: &str = "urn:epSOS:ep:dis:2010";
    const FORMAT_DISCARD: &str = "urn:eHDSI:ed:discard:2020";
    const XDW_OPEN: &str = "urn:ihe:iti:xdw:2011:eventCode:open";
    const XDW_CLOSED: &str = "urn:ihe:iti:xdw:2011:eventCode:closed";
    const EVENT_CODE_LIST: &str = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4";
    const SUCCESS: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success";
    const FAILURE: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure";

    // --- helpers over answers -------------------------------------------------------------

    fn attr_of<'a>(doc: &'a roxmltree::Document<'a>, tag: &str, attr: &str) -> Vec<&'a str> {
        doc.descendants()
            .filter(|n| n.has_tag_name(tag))
            .filter_map(|n| n.attribute(attr))
            .collect()
    }

    /// (uniqueId, formatCode, eventCodeList codes by scheme) of every ExtrinsicObject.
    struct Entry {
        id: String,
        unique_id: String,
        format: String,
        events: Vec<(String, String)>,
        home: String,
        mime: String,
    }

    fn entries(xml: &str) -> Vec<Entry> {
        let doc = roxmltree::Document::parse(xml).expect("XML");
        doc.descendants()
            .filter(|n| n.has_tag_name("ExtrinsicObject"))
            .map(|eo| {
                let classes = eo.children().filter(|c| c.has_tag_name("Classification"));
                let scheme_of = |c: roxmltree::Node<'_, '_>| {
                    c.descendants()
                        .find(|v| v.has_tag_name("Value"))
                        .and_then(|v| v.text())
                        .unwrap_or("")
                        .to_owned()
                };
                let mut format = String::new();
                let mut events = Vec::new();
                for c in classes {
                    let node = c.attribute("nodeRepresentation").unwrap_or("").to_owned();
                    match c.attribute("classificationScheme") {
                        Some("urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d") => format = node,
                        Some(EVENT_CODE_LIST) => events.push((scheme_of(c), node)),
                        _ => {}
                    }
                }
                let unique_id = unique_id_of(eo);
                Entry {
                    id: eo.attribute("id").unwrap_or("").to_owned(),
                    unique_id,
                    format,
                    events,
                    home: eo.attribute("home").unwrap_or("").to_owned(),
                    mime: eo.attribute("mimeType").unwrap_or("").to_owned(),
                }
            })
            .collect()
    }

    fn event<'a>(e: &'a Entry, scheme: &str) -> Option<&'a str> {
        e.events
            .iter()
            .find(|(s, _)| s == scheme)
            .map(|(_, c)| c.as_str())
    }

    async fn list(env: &Env, root: &str, ext: &str) -> Reply {
        let body = xca_query_body(root, ext, "57833-6");
        let env_xml = envelope(XCA_QUERY_ACTION, &assertions_for(env, root, ext), &body);
        env.post("EE", "/ncp/xca", &env_xml).await
    }

    async fn xdr(
        env: &Env,
        assertions: &[String],
        ext: &str,
        uid: &str,
        format: &str,
        cda: &[u8],
    ) -> Reply {
        let body = xdr_body(PNR, ext, uid, format, cda);
        env.post("EE", "/ncp/xdr", &envelope(XDR_ACTION, assertions, &body))
            .await
    }

    // --- XCPD -----------------------------------------------------------------------------

    async fn identify(env: &Env, ids: &[(&str, &str)]) -> Reply {
        let hcp = hcp_assertion(env, "EE", &pharmacist());
        let xml = envelope(XCPD_ACTION, &[hcp.xml], &xcpd_body(ids));
        env.post("EE", "/ncp/xcpd", &xml).await
    }

    fn xcpd_summary(r: &Reply) -> (String, String, Vec<String>, Vec<String>) {
        assert_eq!(r.status, 200, "{}", r.text());
        let body = r.soap_body();
        let doc = roxmltree::Document::parse(&body).expect("XML");
        let ack = doc
            .descendants()
            .find(|n| n.has_tag_name("acknowledgement"))
            .and_then(|a| a.children().find(|c| c.has_tag_name("typeCode")))
            .and_then(|t| t.attribute("code"))
            .unwrap_or("")
            .to_owned();
        let qrc = attr_of(&doc, "queryResponseCode", "code").concat();
        let ids = doc
            .descendants()
            .filter(|n| n.has_tag_name("patient"))
            .flat_map(|p| p.children().filter(|c| c.has_tag_name("id")))
            .map(|i| {
                format!(
                    "{}|{}",
                    i.attribute("root").unwrap_or(""),
                    i.attribute("extension").unwrap_or("")
                )
            })
            .collect();
        let details = doc
            .descendants()
            .filter(|n| n.has_tag_name("acknowledgementDetail"))
            .flat_map(|d| d.children().filter(|c| c.has_tag_name("code")))
            .filter_map(|c| c.attribute("code"))
            .map(str::to_owned)
            .collect();
        (ack, qrc, ids, details)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn xcpd_identifies_by_personnummer_and_samordningsnummer() {
        let env = Env::start().await;
        for (root, ext, want) in [
            (PNR, "191212121212", "1.2.752.129.2.1.3.1|191212121212"),
            (
                "urn:oid:1.2.752.129.2.1.3.1",
                "19121212-1212",
                "1.2.752.129.2.1.3.1|191212121212",
            ),
            (SAMN, "199503749062", "1.2.752.129.2.1.3.3|199503749062"),
        ] {
            let r = identify(&env, &[(root, ext)]).await;
            let (ack, qrc, ids, details) = xcpd_summary(&r);
            assert_eq!(
                (ack.as_str(), qrc.as_str()),
                ("AA", "OK"),
                "{root} {}",
                r.text()
            );
            assert_eq!(ids, vec![want.to_owned()]);
            assert!(details.is_empty());
        }
        let body = identify(&env, &[(PNR, "191212121212")]).await.soap_body();
        assert!(body.contains("<given>Tolvan</given>"), "{body}");
        assert!(body.contains("<family>Tolvansson</family>"), "{body}");
        // A samordningsnummer sent as a personnummer is no Swedish id at all.
        let (ack, qrc, ids, details) =
            xcpd_summary(&identify(&env, &[(PNR, "199503749062")]).await);
        assert_eq!((ack.as_str(), qrc.as_str()), ("AA", "NF"));
        assert!(ids.is_empty());
        assert_eq!(details, ["ERROR_PI_NO_MATCH"]);
        let events = env.audit.events();
        assert_eq!(events.len(), 5, "one audit event per transaction");
        assert!(events[..3].iter().all(|e| e.outcome == Outcome::Success));
        // The audit trail knows where each request came from: the test client on loopback.
        assert!(events
            .iter()
            .all(|e| e.source_ip == Some(std::net::Ipv4Addr::LOCALHOST.into())));
        env.stop().await;
    }

    /// Ids and times removed, and the queried number replaced: what else differs is a leak.
    fn normalised(xml: &str, number: &str) -> String {
        let mut out = xml.replace(number, "NUMBER");
        for attr in ["id root=\"", "creationTime value=\""] {
            let mut s = String::new();
            let mut rest = out.as_str();
            while let Some(i) = rest.find(attr) {
                s.push_str(&rest[..i + attr.len()]);
                rest = &rest[i + attr.len()..];
                let end = rest.find('"').unwrap_or(0);
                // Message ids are fresh UUIDs; fixed OIDs (ours, the sender's) stay.
                if rest[..end].len() == 36 || attr.starts_with("creationTime") {
                    s.push('X');
                } else {
                    s.push_str(&rest[..end]);
                }
                rest = &rest[end..];
            }
            s.push_str(rest);
            out = s;
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn xcpd_opted_out_patient_looks_exactly_like_an_unknown_one() {
        let env = Env::start().await;
        let unknown = "198001010019";
        let opted_out = "194911023424";
        let a = identify(&env, &[(PNR, unknown)]).await;
        let b = identify(&env, &[(PNR, opted_out)]).await;
        let (ack, qrc, ids, details) = xcpd_summary(&b);
        assert_eq!((ack.as_str(), qrc.as_str()), ("AA", "NF"));
        assert!(ids.is_empty());
        assert_eq!(details, ["ERROR_PI_NO_MATCH"]);
        assert_eq!(a.status, b.status);
        assert_eq!(
            a.content_type.split(';').next(),
            b.content_type.split(';').next()
        );
        assert_eq!(
            normalised(&a.soap_body(), unknown),
            normalised(&b.soap_body(), opted_out),
            "the opt-out must not show"
        );
        // Only the audit trail knows why.
        let reasons: Vec<_> = env
            .audit
            .events()
            .iter()
            .map(|e| e.reason.clone())
            .collect();
        assert_eq!(
            reasons,
            [
                Some("unknown in NLL".to_owned()),
                Some("blocked: opt-out".to_owned())
            ]
        );
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn xcpd_refuses_a_demographics_only_query() {
        let env = Env::start().await;
        let r = identify(&env, &[]).await;
        let (ack, _, ids, details) = xcpd_summary(&r);
        assert_eq!(ack, "AE");
        assert!(ids.is_empty());
        assert_eq!(details, ["ERROR_PI_GENERIC"]);
        assert!(
            r.text().contains("DemographicsQueryNotAllowed"),
            "{}",
            r.text()
        );
        env.stop().await;
    }

    // --- XCA list -------------------------------------------------------------------------

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn xca_lists_a_typical_patient_as_l3_and_l1_pairs_with_ehdsi_metadata() {
        let env = Env::start().await;
        let r = list(&env, PNR, "191212121212").await;
        assert_eq!(r.status, 200, "{}", r.text());
        let body = r.soap_body();
        assert_eq!(registry_status(&body), SUCCESS, "{body}");
        let es = entries(&body);
        let l3: Vec<&Entry> = es
            .iter()
            .filter(|e| e.format == "urn:epSOS:ep:pre:2010")
            .collect();
        let l1: Vec<&Entry> = es
            .iter()
            .filter(|e| e.format == "urn:ihe:iti:xds-sd:pdf:2008")
            .collect();
        assert_eq!(l3.len(), 5, "p01 has 5 prescriptions");
        assert_eq!(l1.len(), 5);
        let doc = roxmltree::Document::parse(&body).expect("XML");
        for e in &l3 {
            let pdf = l1
                .iter()
                .find(|x| x.unique_id == format!("{}.L1", e.unique_id))
                .expect("an L1 per L3");
            let xfrm = doc.descendants().any(|a| {
                a.has_tag_name("Association")
                    && a.attribute("associationType")
                        == Some("urn:ihe:iti:2007:AssociationType:XFRM")
                    && a.attribute("sourceObject") == Some(pdf.id.as_str())
                    && a.attribute("targetObject") == Some(e.id.as_str())
            });
            assert!(xfrm, "L1 {} is an XFRM of its L3", pdf.unique_id);
            assert_eq!(e.home, format!("urn:oid:{HCID}"));
            assert_eq!(e.mime, "text/xml");
            assert!(e.unique_id.starts_with(&format!("{EP_DOC_ROOT}^rx-p01-")));
            assert_eq!(event(e, "1.3.6.1.4.1.19376.1.2.3"), Some(XDW_OPEN));
        }
        let alvedon = l3
            .iter()
            .find(|e| e.unique_id == format!("{EP_DOC_ROOT}^rx-p01-05"))
            .expect("Alvedon");
        assert_eq!(event(alvedon, "2.16.840.1.113883.6.73"), Some("N02BE01"));
        assert!(
            event(alvedon, "0.4.0.127.0.16.1.1.2.1").is_some(),
            "EDQM dose form"
        );
        assert_eq!(event(alvedon, "eHDSI_Strength_CodeSystem"), Some("500 mg"));
        assert!(matches!(
            event(alvedon, "2.16.840.1.113883.5.1070"),
            Some("N" | "G")
        ));
        let citodon = l3
            .iter()
            .find(|e| e.unique_id == format!("{EP_DOC_ROOT}^rx-p01-03"))
            .expect("Citodon");
        let strength = event(citodon, "eHDSI_Strength_CodeSystem").unwrap_or("");
        assert!(strength.contains(" + "), "two ingredients: {strength}");
        let ev = env.audit.events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].objects.len(), 10, "the disclosed entries are audited");
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn xca_lists_all_30_prescriptions_of_the_paging_patient() {
        let env = Env::start().await;
        let nll = env
            .nll("MedicationRequest?patient.identifier=1.2.752.129.2.1.3.1|194001278953&status=active,completed&_count=100")
            .await;
        let in_nll = nll["total"].as_u64().expect("total");
        assert!(in_nll >= 30, "p08 has 30 prescriptions ({in_nll})");
        let r = list(&env, PNR, "194001278953").await;
        let body = r.soap_body();
        let l3 = entries(&body)
            .into_iter()
            .filter(|e| e.format == "urn:epSOS:ep:pre:2010")
            .count();
        assert_eq!(l3 as u64, in_nll, "every page listed");
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn xca_flags_expired_and_completed_prescriptions_not_dispensable() {
        let env = Env::start().await;
        let body = list(&env, PNR, "195804232378").await.soap_body();
        let es = entries(&body);
        let flag = |rx: &str| {
            es.iter()
                .find(|e| e.unique_id == format!("{EP_DOC_ROOT}^{rx}"))
                .and_then(|e| event(e, "1.3.6.1.4.1.19376.1.2.3"))
                .map(str::to_owned)
        };
        assert_eq!(flag("rx-p02-03").as_deref(), Some(XDW_CLOSED), "expired");
        assert_eq!(flag("rx-p02-04").as_deref(), Some(XDW_CLOSED), "completed");
        assert_eq!(flag("rx-p02-01").as_deref(), Some(XDW_OPEN));
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn xca_opted_out_and_unknown_patients_have_no_prescriptions() {
        let env = Env::start().await;
        for ext in ["194911023424", "198001010019"] {
            let r = list(&env, PNR, ext).await;
            let body = r.soap_body();
            assert_eq!(registry_status(&body), SUCCESS);
            assert!(entries(&body).is_empty());
            assert_eq!(r.registry_errors(), ["1101"], "a warning, not a disclosure");
        }
        // A query addressed to another community.
        let body = xca_query_body(PNR, "191212121212", "57833-6").replace(
            &format!("urn:oid:{HCID}"),
            "urn:oid:2.16.17.710.850.1000.990.1",
        );
        let xml = envelope(
            XCA_QUERY_ACTION,
            &assertions_for(&env, PNR, "191212121212"),
            &body,
        );
        let r = env.post("EE", "/ncp/xca", &xml).await;
        assert_eq!(r.registry_errors(), ["XDSUnknownCommunity"], "{}", r.text());
        assert!(entries(&r.soap_body()).is_empty());
        env.stop().await;
    }

    // --- XCA retrieve ---------------------------------------------------------------------

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn xca_retrieves_l3_and_l1_eprescriptions() {
        let env = Env::start().await;
        let l3 = format!("{EP_DOC_ROOT}^rx-p01-05");
        let l1 = format!("{EP_DOC_ROOT}^rx-p01-05.L1");
        let body = xca_retrieve_body(&[&l3, &l1]);
        let xml = envelope(
            XCA_RETRIEVE_ACTION,
            &assertions_for(&env, PNR, "191212121212"),
            &body,
        );
        let r = env.post("EE", "/ncp/xca", &xml).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            r.content_type.starts_with("application/soap+xml"),
            "plain asked, plain answered"
        );
        assert_eq!(r.registry_status(), SUCCESS, "{}", r.text());
        let docs = r.documents();
        assert_eq!(docs.len(), 2);
        let l3_doc = String::from_utf8(docs[0].1.clone()).expect("UTF-8");
        assert_eq!(docs[0].0, l3);
        assert!(
            l3_doc.contains("1.3.6.1.4.1.12559.11.10.1.3.1.1.1"),
            "L3 template"
        );
        assert!(l3_doc.contains(&format!(r#"root="{EP_DOC_ROOT}""#)));
        let l1_doc = String::from_utf8(docs[1].1.clone()).expect("UTF-8");
        assert!(l1_doc.contains("nonXMLBody"), "L1 carries the PDF");

        validate_cda(env.dir.path(), &[("rx-p01-05-L3".to_owned(), l3_doc)]);

        // Another patient's TRC does not open this patient's documents.
        let xml = envelope(
            XCA_RETRIEVE_ACTION,
            &assertions_for(&env, PNR, "195804232378"),
            &xca_retrieve_body(&[&l3]),
        );
        let r = env.post("EE", "/ncp/xca", &xml).await;
        assert_eq!(r.registry_status(), FAILURE);
        assert!(r.documents().is_empty());
        assert_eq!(r.registry_errors(), ["ERROR_GENERIC_DOCUMENT_MISSING"]);
        env.stop().await;
    }

    // --- XDR ------------------------------------------------------------------------------

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn xdr_records_a_dispensation_once_and_discards_it() {
        let env = Env::start().await;
        let rx = "rx-p01-05";
        let before = env.dispensations(rx).await.len();
        let (uid, cda) = edispensation("ee-disp-1", "191212121212", rx);
        let a = assertions_for(&env, PNR, "191212121212");
        let r = xdr(&env, &a, "191212121212", &uid, FORMAT_DIS, &cda).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.registry_status(), SUCCESS, "{}", r.text());
        // Acknowledged once durably queued; the outbox worker delivers to NLL.
        let is_ours = |d: &serde_json::Value| d["identifier"].to_string().contains("ee-disp-1");
        let after = env.wait_for(rx, 1, is_ours).await;
        assert_eq!(after.len(), before + 1, "NLL shows the dispensation");
        let ours = after
            .iter()
            .find(|d| d["identifier"].to_string().contains("ee-disp-1"))
            .expect("the dispensation carries the document id");
        assert_eq!(ours["status"], "completed");

        // The same document again: acknowledged, recorded once.
        let a = assertions_for(&env, PNR, "191212121212");
        let r = xdr(&env, &a, "191212121212", &uid, FORMAT_DIS, &cda).await;
        assert_eq!(r.registry_status(), SUCCESS, "{}", r.text());
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(env.dispensations(rx).await.len(), before + 1);

        // The discard gives it back.
        let (duid, dcda) = edispensation_discard("ee-disp-1", "191212121212", rx);
        let a = assertions_for(&env, PNR, "191212121212");
        let r = xdr(&env, &a, "191212121212", &duid, FORMAT_DISCARD, &dcda).await;
        assert_eq!(r.registry_status(), SUCCESS, "{}", r.text());
        let after = env
            .wait_for(rx, 1, |d| is_ours(d) && d["status"] == "entered-in-error")
            .await;
        let ours = after
            .iter()
            .find(|d| d["identifier"].to_string().contains("ee-disp-1"))
            .expect("still there");
        assert_eq!(ours["status"], "entered-in-error");
        let ev = env.audit.events();
        assert_eq!(ev.len(), 3);
        assert!(ev.iter().all(|e| e.outcome == Outcome::Success));
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn xdr_refuses_expired_and_completed_prescriptions() {
        let env = Env::start().await;
        for (rx, code) in [
            ("rx-p02-03", "ERROR_ED_NOT_DISPENSABLE_EPRESCRIPTION"),
            ("rx-p02-04", "4106"),
        ] {
            let before = env.dispensations(rx).await.len();
            let (uid, cda) = edispensation(&format!("ee-{rx}"), "195804232378", rx);
            let a = assertions_for(&env, PNR, "195804232378");
            let r = xdr(&env, &a, "195804232378", &uid, FORMAT_DIS, &cda).await;
            assert_eq!(r.registry_status(), FAILURE, "{rx}: {}", r.text());
            assert_eq!(r.registry_errors(), [code], "{rx}");
            assert_eq!(env.dispensations(rx).await.len(), before, "nothing in NLL");
        }
        // Another patient's prescription is no match.
        let (uid, cda) = edispensation("ee-x", "195804232378", "rx-p01-05");
        let a = assertions_for(&env, PNR, "195804232378");
        let r = xdr(&env, &a, "195804232378", &uid, FORMAT_DIS, &cda).await;
        assert_eq!(r.registry_errors(), ["4105"]);
        assert!(env.dispensations("rx-p01-05").await.is_empty());
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn xdr_without_an_outbox_records_in_nll_before_acknowledging() {
        let env = Env::start_custom(1024 * 1024, false, false).await;
        let rx = "rx-p01-02";
        let (uid, cda) = edispensation("ee-sync-1", "191212121212", rx);
        for _ in 0..2 {
            let a = assertions_for(&env, PNR, "191212121212");
            let r = xdr(&env, &a, "191212121212", &uid, FORMAT_DIS, &cda).await;
            assert_eq!(r.registry_status(), SUCCESS, "{}", r.text());
            // No waiting: NLL has it when the acknowledgement arrives, once.
            assert_eq!(env.dispensations(rx).await.len(), 1);
        }
        let (duid, dcda) = edispensation_discard("ee-sync-1", "191212121212", rx);
        let a = assertions_for(&env, PNR, "191212121212");
        let r = xdr(&env, &a, "191212121212", &duid, FORMAT_DISCARD, &dcda).await;
        assert_eq!(r.registry_status(), SUCCESS, "{}", r.text());
        assert_eq!(env.dispensations(rx).await[0]["status"], "entered-in-error");
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn xdr_refuses_locked_and_blocked_prescriptions() {
        let env = Env::start().await;
        // A Swedish pharmacy holds the dispensing lock of rx-p01-01.
        let nll = env
            .sims
            .as_ref()
            .unwrap()
            .nll
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let lock = reqwest::Client::new()
            .post(format!("{nll}/MedicationRequest/rx-p01-01/$lock"))
            .header("Content-Type", "application/fhir+json")
            .header("X-Caller-HsaId", "SE2321000016-9999")
            .header("X-Purpose", "dispensing")
            .header("X-Caller-Role", "pharmacist")
            .body(r#"{"resourceType":"Parameters"}"#)
            .send()
            .await
            .unwrap();
        assert!(lock.status().is_success(), "{}", lock.status());
        let (uid, cda) = edispensation("ee-locked", "191212121212", "rx-p01-01");
        let a = assertions_for(&env, PNR, "191212121212");
        let r = xdr(&env, &a, "191212121212", &uid, FORMAT_DIS, &cda).await;
        assert_eq!(
            r.registry_errors(),
            ["ERROR_ED_NOT_DISPENSABLE_EPRESCRIPTION"],
            "{}",
            r.text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(env.dispensations("rx-p01-01").await.is_empty());

        // p06's Sahlgrenska prescriptions are under an NLL spärr: cross-border they do not exist.
        let (uid, cda) = edispensation("ee-blocked", "196602086735", "rx-p06-02");
        let a = assertions_for(&env, PNR, "196602086735");
        let r = xdr(&env, &a, "196602086735", &uid, FORMAT_DIS, &cda).await;
        assert_eq!(r.registry_errors(), ["4105"], "{}", r.text());
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unavailable_national_services_answer_in_ehdsi_terms() {
        let env = Env::start().await;
        let sims = env.sims.as_ref().unwrap();
        let failing = sweden_sim::Faults {
            fail_rate: 1.0,
            fail_status: 503,
            ..Default::default()
        };
        assert!(sims.set_faults("nll", failing));
        let r = list(&env, PNR, "191212121212").await;
        let body = r.soap_body();
        assert_eq!(registry_status(&body), FAILURE, "{body}");
        assert_eq!(
            r.registry_errors(),
            ["4103"],
            "ePrescription registry not accessible"
        );
        let (ack, _, ids, details) = xcpd_summary(&identify(&env, &[(PNR, "191212121212")]).await);
        assert_eq!(ack, "AE");
        assert!(ids.is_empty());
        assert_eq!(details, ["ERROR_PI_GENERIC"]);
        // The block register down: nothing can be said about the patient either.
        assert!(sims.set_faults("nll", sweden_sim::Faults::default()));
        assert!(sims.set_faults("nsr", failing));
        let r = identify(&env, &[(PNR, "191212121212")]).await;
        assert!(r.text().contains("ResponderBusy"), "{}", r.text());
        env.stop().await;
    }

    // --- refusals -------------------------------------------------------------------------

    /// Submits an eDispensation for p01's rx-p01-05 with these assertions; checks NLL is
    /// untouched; returns the answer.
    async fn refused_submit(env: &Env, country: &str, assertions: Vec<String>) -> Reply {
        let (uid, cda) = edispensation("ee-refused", "191212121212", "rx-p01-05");
        let body = xdr_body(PNR, "191212121212", &uid, FORMAT_DIS, &cda);
        let r = env
            .post(
                country,
                "/ncp/xdr",
                &envelope(XDR_ACTION, &assertions, &body),
            )
            .await;
        assert!(
            env.dispensations("rx-p01-05").await.is_empty(),
            "nothing in NLL"
        );
        r
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refusals_answer_with_the_ehdsi_security_codes_and_record_nothing() {
        let env = Env::start().await;
        let c = pharmacist();
        let patient = ("191212121212", PNR);

        // Unsigned.
        let unsigned = unsigned_hcp_assertion(&c, &options());
        let trc = trc_assertion(&env, "EE", &unsigned, &c, patient.1, patient.0);
        let r = refused_submit(&env, "EE", vec![unsigned.xml, trc.xml]).await;
        assert_eq!(
            (r.status, r.fault_code().as_deref()),
            (400, Some("4704")),
            "{}",
            r.text()
        );

        // Signed by a key no trusted CA issued.
        let stranger = SigningKey::from_pem(
            &std::fs::read(&env.pki.untrusted_cert).unwrap(),
            &std::fs::read(&env.pki.untrusted_key).unwrap(),
        )
        .unwrap();
        let hcp = issue_hcp_assertion(&c, &options(), &stranger).unwrap();
        let trc = trc_assertion(&env, "EE", &hcp, &c, patient.1, patient.0);
        let r = refused_submit(&env, "EE", vec![hcp.xml, trc.xml]).await;
        assert_eq!(r.fault_code().as_deref(), Some("4704"), "{}", r.text());

        // Signed by Spain's NCP, sent over Estonia's TLS connection.
        let hcp = hcp_assertion(&env, "ES", &c);
        let trc = trc_assertion(&env, "ES", &hcp, &c, patient.1, patient.0);
        let r = refused_submit(&env, "EE", vec![hcp.xml, trc.xml]).await;
        assert_eq!(r.fault_code().as_deref(), Some("4703"), "{}", r.text());

        // Expired.
        let mut old = options();
        old.issue_instant = chrono::Utc::now() - chrono::Duration::hours(3);
        let hcp = issue_hcp_assertion(&c, &old, &env.signer("EE")).unwrap();
        let trc = trc_assertion(&env, "EE", &hcp, &c, patient.1, patient.0);
        let r = refused_submit(&env, "EE", vec![hcp.xml, trc.xml]).await;
        assert_eq!(r.fault_code().as_deref(), Some("4702"), "{}", r.text());

        // Another audience.
        let mut elsewhere = options();
        elsewhere.audience = "urn:ehdsi:assertions.audience:somewhere-else".into();
        let hcp = issue_hcp_assertion(&c, &elsewhere, &env.signer("EE")).unwrap();
        let trc = trc_assertion(&env, "EE", &hcp, &c, patient.1, patient.0);
        let r = refused_submit(&env, "EE", vec![hcp.xml, trc.xml]).await;
        assert_eq!(r.fault_code().as_deref(), Some("4702"), "{}", r.text());

        // Without the dispensing permission.
        let weak = claims(
            HcpRole::PHARMACIST,
            &[Permission::Prd006, Permission::Prd004],
        );
        let hcp = hcp_assertion(&env, "EE", &weak);
        let trc = trc_assertion(&env, "EE", &hcp, &weak, patient.1, patient.0);
        let r = refused_submit(&env, "EE", vec![hcp.xml, trc.xml]).await;
        assert_eq!(r.fault_code().as_deref(), Some("4703"), "{}", r.text());

        // A TRC for another patient.
        let hcp = hcp_assertion(&env, "EE", &c);
        let trc = trc_assertion(&env, "EE", &hcp, &c, PNR, "195804232378");
        let r = refused_submit(&env, "EE", vec![hcp.xml, trc.xml]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.registry_errors(), ["4206"], "{}", r.text());
        let q = xca_query_body(PNR, "191212121212", "57833-6");
        let r = env
            .post(
                "EE",
                "/ncp/xca",
                &envelope(
                    XCA_QUERY_ACTION,
                    &assertions_for(&env, PNR, "195804232378"),
                    &q,
                ),
            )
            .await;
        assert_eq!(r.registry_errors(), ["4206"], "{}", r.text());
        assert!(entries(&r.soap_body()).is_empty());
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transport_refusals_untrusted_client_malformed_and_oversized() {
        let env = Env::start_with(64 * 1024).await;
        // A client certificate from a CA outside the trust list: no TLS session at all.
        let stranger = env.client_with(&env.pki.untrusted_cert, &env.pki.untrusted_key);
        let q = envelope(XCPD_ACTION, &[], &xcpd_body(&[(PNR, "191212121212")]));
        let r = env
            .post_raw(
                &stranger,
                "/ncp/xcpd",
                "application/soap+xml",
                q.into_bytes(),
            )
            .await;
        assert!(r.is_err(), "the TLS handshake is refused");

        // Malformed SOAP.
        let r = env
            .post_raw(
                &env.client("EE"),
                "/ncp/xdr",
                "application/soap+xml",
                b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body>".to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains("env:Sender"), "{}", r.text());

        // An XCA Action at the XCPD endpoint.
        let wrong = envelope(
            XCA_QUERY_ACTION,
            &[],
            &xca_query_body(PNR, "191212121212", "57833-6"),
        );
        let r = env.post("EE", "/ncp/xcpd", &wrong).await;
        assert_eq!(r.status, 400);
        assert!(r.text().contains("ActionNotSupported"), "{}", r.text());

        // Over server.max_body_bytes.
        let (uid, _) = edispensation("ee-big", "191212121212", "rx-p01-05");
        let big = vec![b'A'; 100 * 1024];
        let a = assertions_for(&env, PNR, "191212121212");
        let r = xdr(&env, &a, "191212121212", &uid, FORMAT_DIS, &big).await;
        assert_eq!(r.status, 413, "{}", r.text());
        assert!(r.text().contains("env:Fault"));
        assert!(env.dispensations("rx-p01-05").await.is_empty());
        assert!(env.audit.events().is_empty(), "nothing reached the service");
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_transaction_lands_in_the_hash_chained_audit_trail() {
        let env = Env::start_full(1024 * 1024, true).await;
        let r = identify(&env, &[(PNR, "191212121212")]).await;
        assert_eq!(r.status, 200);
        let r = list(&env, PNR, "191212121212").await;
        assert_eq!(r.status, 200);
        let log = ncp_core::audit::AuditLog::open(&env.audit_config())
            .await
            .expect("audit trail");
        let report = log.verify().await.expect("verify");
        assert!(report.is_intact());
        assert_eq!(report.records, 2, "one record per transaction");
        let patient = ncp_core::security::PatientRef::new(
            ncp_types::Oid::parse(PNR).unwrap(),
            "191212121212",
        );
        let seen = log
            .accesses_to_patient(&patient, ncp_core::audit::Period::all())
            .await
            .expect("accesses");
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|a| a.country.as_str() == "EE"));
        env.stop().await;
    }
}
