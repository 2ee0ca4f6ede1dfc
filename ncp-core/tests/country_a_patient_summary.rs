//! The Swedish Patient Summary through XCA (ITI-38 class 60591-5, ITI-39) end to end: the
//! simulators of the Swedish services (blocks, providers with injected faults), the bridge on
//! the test PKI, and a foreign NCP over mutual TLS with signed eHDSI assertions of a physician.

mod country_a_support;

mod patient_summary {
    use super::country_a_support::*;
    use ncp_core::security::{HcpRole, Permission};

    const PS_CLASS: &str = "60591-5";
    const FORMAT_PS: &str = "urn:epSOS:ps:ps:2010";
    const FORMAT_PDF: &str = "urn:ihe:iti:xds-sd:pdf:2008";
    const CLASS_SCHEME: &str = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a";
    const FORMAT_SCHEME: &str = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d";
    const SUCCESS: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success";
    const SAHLGRENSKA: &str = "SE2321000131-7002";
    const OFFLINE: &str = "SE2321000057-7004";

    /// HCP and TRC assertions of an Estonian physician allowed to read Patient Summaries.
    fn ps_assertions(env: &Env, root: &str, ext: &str) -> Vec<String> {
        let c = claims(
            HcpRole::PHYSICIAN,
            &[
                Permission::Prd003,
                Permission::Prd005,
                Permission::Prd010,
                Permission::Prd016,
                Permission::Prd006,
            ],
        );
        let hcp = hcp_assertion(env, "EE", &c);
        let trc = trc_assertion(env, "EE", &hcp, &c, root, ext);
        vec![hcp.xml, trc.xml]
    }

    async fn list(env: &Env, ext: &str) -> Reply {
        let body = xca_query_body(PNR, ext, PS_CLASS);
        let xml = envelope(XCA_QUERY_ACTION, &ps_assertions(env, PNR, ext), &body);
        let r = env.post("EE", "/ncp/xca", &xml).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r
    }

    async fn retrieve(env: &Env, ext: &str, ids: &[&str]) -> Reply {
        let xml = envelope(
            XCA_RETRIEVE_ACTION,
            &ps_assertions(env, PNR, ext),
            &xca_retrieve_body(ids),
        );
        let r = env.post("EE", "/ncp/xca", &xml).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r
    }

    /// (uniqueId, classCode, formatCode) of every ExtrinsicObject of a list.
    fn entries(r: &Reply) -> Vec<(String, String, String)> {
        let body = r.soap_body();
        let doc = roxmltree::Document::parse(&body).expect("XML");
        doc.descendants()
            .filter(|n| n.has_tag_name("ExtrinsicObject"))
            .map(|eo| {
                let class = |scheme: &str| {
                    eo.children()
                        .filter(|c| c.has_tag_name("Classification"))
                        .find(|c| c.attribute("classificationScheme") == Some(scheme))
                        .and_then(|c| c.attribute("nodeRepresentation"))
                        .unwrap_or("")
                        .to_owned()
                };
                (unique_id_of(eo), class(CLASS_SCHEME), class(FORMAT_SCHEME))
            })
            .collect()
    }

    /// The retrieved documents as text.
    fn documents(r: &Reply) -> Vec<(String, String)> {
        r.documents()
            .into_iter()
            .map(|(id, bytes)| (id, String::from_utf8(bytes).expect("UTF-8")))
            .collect()
    }

    /// The L3 and L1 unique ids a list gave.
    fn l3_l1(r: &Reply) -> (String, String) {
        let e = entries(r);
        assert_eq!(e.len(), 2, "{}", r.text());
        let l3 = e.iter().find(|x| x.2 == FORMAT_PS).expect("L3 entry");
        let l1 = e.iter().find(|x| x.2 == FORMAT_PDF).expect("L1 entry");
        (l3.0.clone(), l1.0.clone())
    }

    /// Lists and retrieves the patient's summary: (L3 XML, L1 XML).
    async fn summary(env: &Env, ext: &str) -> (String, String) {
        let (l3, l1) = l3_l1(&list(env, ext).await);
        let r = retrieve(env, ext, &[&l3, &l1]).await;
        assert_eq!(r.registry_status(), SUCCESS, "{}", r.text());
        let docs = documents(&r);
        assert_eq!(docs.len(), 2, "{}", r.text());
        assert_eq!(docs[0].0, l3);
        assert_eq!(docs[1].0, l1);
        (docs[0].1.clone(), docs[1].1.clone())
    }

    /// The audit reason of the latest event.
    fn last_reason(env: &Env) -> String {
        env.audit
            .events()
            .last()
            .and_then(|e| e.reason.clone())
            .unwrap_or_default()
    }

    fn pnr(key: &str) -> String {
        sweden_sim::patients()
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.id.as_str().to_owned())
            .expect("synthetic patient")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_typical_patient_is_listed_as_l3_and_l1_and_retrieved() {
        let env = Env::start().await;
        let r = list(&env, &pnr("p01")).await;
        assert_eq!(r.registry_status(), SUCCESS, "{}", r.text());
        assert!(r.registry_errors().is_empty(), "{}", r.text());
        let e = entries(&r);
        assert_eq!(e.len(), 2);
        assert!(e.iter().all(|x| x.1 == PS_CLASS));
        let (l3_id, l1_id) = l3_l1(&r);
        assert_eq!(l1_id, format!("{l3_id}.L1"));
        // The NTK endpoint of the 4th provider is off: the summary is incomplete, audited so.
        let reason = last_reason(&env);
        assert!(
            reason.contains("incomplete") && reason.contains(OFFLINE),
            "{reason}"
        );

        // Listed twice, the same document.
        assert_eq!(
            l3_l1(&list(&env, &pnr("p01")).await),
            (l3_id.clone(), l1_id.clone())
        );

        let (l3, l1) = summary(&env, &pnr("p01")).await;
        assert!(
            l3.contains("1.3.6.1.4.1.12559.11.10.1.3.1.1.3"),
            "L3 template"
        );
        assert!(
            l1.contains("1.3.6.1.4.1.12559.11.10.1.3.1.1.7"),
            "L1 template"
        );
        assert!(l1.contains("nonXMLBody"), "L1 carries the PDF");
        let ext = l3_id.split_once('^').expect("root^ext").1;
        assert!(
            l3.contains(ext),
            "the document carries the id it was listed with"
        );
        // Records from both running providers and NLL, each provider as author.
        for code in ["38341003", "256349002", "C09AA02"] {
            assert!(l3.contains(code), "{code} missing");
        }
        assert!(l3.contains("Sahlgrenska") && l3.contains("Vårdcentralen Södermalm"));
        assert!(
            l3.contains("73761001"),
            "Akademiska's colonoscopy: three providers"
        );
        // Duplicates merged, the first source keeping the entry (entry ids name the
        // provider's resource): the hypertension Akademiska also records, and the enalapril
        // and metformin Vårdcentralen lists that NLL prescribes.
        let id = |hsa: &str, r: &str| format!(r#"extension="{hsa}.{r}""#);
        let vc = "SE2321000016-7001";
        let akademiska = "SE2321000032-7003";
        assert!(l3.contains(&id(vc, "Condition.cond-p01-1")));
        assert!(!l3.contains(&id(akademiska, "Condition.cond-p01-3")));
        assert!(l3.contains(&id(vc, "MedicationStatement.rx-p01-01")));
        assert!(!l3.contains("MedicationStatement.ms-p01-1\""));
        assert!(!l3.contains("MedicationStatement.ms-p01-2\""));
        let events = env.audit.events();
        let last = events.last().expect("audited");
        assert_eq!(last.objects, [l3_id.clone(), l1_id.clone()]);

        // An id of another content (or an outdated one) is missing, not another document.
        let stale = format!("{}^ps-{}", EP_DOC_ROOT, "0".repeat(32));
        let r = retrieve(&env, &pnr("p01"), &[&stale]).await;
        assert_eq!(r.registry_errors(), ["ERROR_GENERIC_DOCUMENT_MISSING"]);
        // The ePrescription permissions (a pharmacist's) neither list nor open a summary.
        let pharmacy = assertions_for(&env, PNR, &pnr("p01"));
        let xml = envelope(
            XCA_QUERY_ACTION,
            &pharmacy,
            &xca_query_body(PNR, &pnr("p01"), PS_CLASS),
        );
        let r = env.post("EE", "/ncp/xca", &xml).await;
        assert!(r.fault_code().is_some(), "{}", r.text());
        let xml = envelope(
            XCA_RETRIEVE_ACTION,
            &pharmacy,
            &xca_retrieve_body(&[&l3_id]),
        );
        let r = env.post("EE", "/ncp/xca", &xml).await;
        assert!(r.fault_code().is_some(), "{}", r.text());
        assert!(!r.text().contains("ClinicalDocument"));
        // Another patient's TRC does not open this summary.
        let r = retrieve(&env, &pnr("p02"), &[&l3_id]).await;
        assert_eq!(r.registry_errors(), ["ERROR_GENERIC_DOCUMENT_MISSING"]);
        assert!(documents(&r).is_empty());
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocked_patients_are_answered_exactly_like_a_patient_without_data() {
        let env = Env::start().await;
        // p07 has no data at all; p03 opted out; p05 blocked the Patient Summary category.
        let none = list(&env, &pnr("p07")).await;
        assert_eq!(none.registry_status(), SUCCESS);
        assert_eq!(none.registry_errors(), ["1102"], "{}", none.text());
        assert!(entries(&none).is_empty());
        assert_eq!(last_reason(&env), "unknown in NLL");
        for (key, reason) in [
            ("p03", "blocked: opt-out"),
            ("p05", "blocked: category-block patient-summary"),
        ] {
            let r = list(&env, &pnr(key)).await;
            assert_eq!(r.soap_body(), none.soap_body(), "{key}: the same answer");
            assert_eq!(
                last_reason(&env),
                reason,
                "{key}: the real reason is audited"
            );
            let ev = env.audit.events();
            let ev = ev.last().expect("audited");
            assert_eq!(ev.outcome, ncp_core::country_a::Outcome::Success);
            assert!(ev.objects.is_empty());
        }
        // Asking for a summary id anyway: missing, as for the patient without data.
        let guess = format!("{}^ps-{}", EP_DOC_ROOT, "a".repeat(32));
        let r07 = retrieve(&env, &pnr("p07"), &[&guess]).await;
        let r03 = retrieve(&env, &pnr("p03"), &[&guess]).await;
        assert_eq!(r03.registry_errors(), ["ERROR_GENERIC_DOCUMENT_MISSING"]);
        assert_eq!(r03.soap_body(), r07.soap_body());
        // The p05 category block does not touch its ePrescriptions.
        let c = pharmacist();
        let hcp = hcp_assertion(&env, "EE", &c);
        let trc = trc_assertion(&env, "EE", &hcp, &c, PNR, &pnr("p05"));
        let xml = envelope(
            XCA_QUERY_ACTION,
            &[hcp.xml, trc.xml],
            &xca_query_body(PNR, &pnr("p05"), "57833-6"),
        );
        let r = env.post("EE", "/ncp/xca", &xml).await;
        assert_eq!(r.registry_errors(), Vec::<String>::new(), "{}", r.text());
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_provider_block_leaves_that_providers_records_out_unnoticed() {
        let env = Env::start().await;
        // p04: hypertension at Akademiska; infarction, bypass and atorvastatin at Sahlgrenska.
        let (l3, l1) = summary(&env, &pnr("p04")).await;
        let reason = last_reason(&env);
        assert!(reason.contains("blocked: provider-block"), "{reason}");
        assert!(!reason.contains("incomplete"), "{reason}");
        assert!(
            l3.contains("38341003"),
            "Akademiska's hypertension is there"
        );
        for leak in [
            "22298006",
            "Myocardial",
            "I21.9",
            "232717009",
            "C10AA05",
            "Atorvastatin",
            "Sahlgrenska",
            SAHLGRENSKA,
        ] {
            assert!(!l3.contains(leak), "L3 leaks {leak}");
            assert!(!l1.contains(leak), "L1 leaks {leak}");
        }
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_entry_block_leaves_one_record_out_unnoticed() {
        let env = Env::start().await;
        // p11: hypertension and (blocked) depression at Vårdcentralen Södermalm.
        let (l3, l1) = summary(&env, &pnr("p11")).await;
        let reason = last_reason(&env);
        assert!(reason.contains("blocked: entry-block: 1"), "{reason}");
        assert!(l3.contains("38341003"));
        for leak in ["35489007", "F32.9", "Depressi", "cond-p11-2"] {
            assert!(!l3.contains(leak), "L3 leaks {leak}");
            assert!(!l1.contains(leak), "L1 leaks {leak}");
        }
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_provider_timing_out_or_failing_gives_an_incomplete_summary_from_the_rest() {
        let env = Env::start().await;
        let sims = env.sims.as_ref().expect("simulators");
        let name = format!("provider-{SAHLGRENSKA}");
        for (faults, why) in [
            (
                sweden_sim::Faults {
                    down: true,
                    ..sweden_sim::Faults::default()
                },
                "timeout",
            ),
            (
                sweden_sim::Faults {
                    fail_rate: 1.0,
                    fail_status: 500,
                    ..sweden_sim::Faults::default()
                },
                "",
            ),
        ] {
            assert!(sims.set_faults(&name, faults));
            let r = list(&env, &pnr("p01")).await;
            let reason = last_reason(&env);
            assert!(
                reason.contains(&format!("{SAHLGRENSKA} {why}")) && reason.contains(OFFLINE),
                "{reason}"
            );
            let (l3, _) = l3_l1(&r);
            let r = retrieve(&env, &pnr("p01"), &[&l3]).await;
            let docs = documents(&r);
            assert_eq!(docs.len(), 1, "{}", r.text());
            let xml = &docs[0].1;
            assert!(
                xml.contains("38341003"),
                "the other provider's records are there"
            );
            assert!(
                !xml.contains("256349002"),
                "Sahlgrenska's peanut allergy is not"
            );
            assert!(last_reason(&env).contains("incomplete"));
        }
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_sandbox_patients_summary_passes_validate_cda() {
        let env = Env::start().await;
        let mut docs = Vec::new();
        for p in sweden_sim::patients() {
            let ext = p.id.as_str();
            let root = match p.kind() {
                ncp_types::PersonIdKind::Samordningsnummer => SAMN,
                _ => PNR,
            };
            let body = xca_query_body(root, ext, PS_CLASS);
            let xml = envelope(XCA_QUERY_ACTION, &ps_assertions(&env, root, ext), &body);
            let r = env.post("EE", "/ncp/xca", &xml).await;
            let e = entries(&r);
            if matches!(p.key, "p03" | "p05" | "p07") {
                assert!(e.is_empty(), "{}: no summary", p.key);
                continue;
            }
            assert_eq!(e.len(), 2, "{}: {}", p.key, r.text());
            let ids: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
            let xml = envelope(
                XCA_RETRIEVE_ACTION,
                &ps_assertions(&env, root, ext),
                &xca_retrieve_body(&ids),
            );
            let r = env.post("EE", "/ncp/xca", &xml).await;
            let got = documents(&r);
            assert_eq!(got.len(), 2, "{}: {}", p.key, r.text());
            for (i, (_, xml)) in got.into_iter().enumerate() {
                let level = if i == 0 { "L3" } else { "L1" };
                docs.push((format!("ps-{}-{level}", p.key), xml));
            }
        }
        assert_eq!(docs.len(), 2 * 13);
        validate_cda(env.dir.path(), &docs);
        env.stop().await;
    }
}
