//! The National Connector gRPC API end to end: the simulators of the Swedish services, the
//! country A service built from a configuration, the gRPC service on 127.0.0.1:0 (plain
//! HTTP/2), and a tonic client calling it with eHDSI assertions signed by the test PKI's
//! Estonian NCP.

mod country_a_support;

// In a module named like the feature, so `cargo test -p ncp-core national_connector` runs it.
mod national_connector {
    use super::country_a_support::{
        self as support, claims, options, pharmacist, BRIDGE_HSA, DOC_ROOT, EP_DOC_ROOT, HCID, PNR,
    };
    use std::net::SocketAddr;
    use std::sync::Arc;

    use ncp_core::audit::{MemoryRefusals, RefusalSink};
    use ncp_core::config::Config;
    use ncp_core::country_a::{AuditEvent, AuditFailure, AuditSink, MemoryAudit, Outcome};
    use ncp_core::endpoints::CountryAEndpoints;
    use ncp_core::ihe::errors::EhdsiError;
    use ncp_core::national_connector::proto::national_connector_client::NationalConnectorClient;
    use ncp_core::national_connector::proto::{
        self, CancelDispensationRequest, DocumentListRequest, EpsosDocument, GetDocumentRequest,
        PatientSearchRequest, SubmitDispensationRequest,
    };
    use ncp_core::national_connector::{ehdsi_code, service};
    use ncp_core::pki::TestPki;
    use ncp_core::security::{
        issue_hcp_assertion, issue_trc_assertion, unsigned_hcp_assertion, FacilityType, HcpClaims,
        HcpRole, PatientRef, Permission, PurposeOfUse, SigningKey, TrcClaims,
    };
    use ncp_types::Oid;
    use serde_json::Value;
    use tonic::transport::Channel;
    use tonic::Code;

    /// The eHDSI ePrescription (L3) templateId.
    const EP_L3_TEMPLATE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.1.1";

    /// A patient with active prescriptions (rx-p01-*), one with expired and completed ones, an
    /// unknown one and an opted-out one, as the simulators know them.
    const TOLVAN: &str = "191212121212";
    const OTHER: &str = "195804232378";
    const UNKNOWN: &str = "198001010019";
    const OPTED_OUT: &str = "194911023424";

    struct Env {
        sims: Option<sweden_sim::RunningSims>,
        _dir: tempfile::TempDir,
        pki: TestPki,
        audit: Arc<MemoryAudit>,
        /// The refusals of unverified calls (unless a trail was given).
        refusals: Arc<MemoryRefusals>,
        /// The endpoints the service runs over (its verified-assertion cache).
        ep: Arc<CountryAEndpoints>,
        client: NationalConnectorClient<Channel>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        task: Option<tokio::task::JoinHandle<()>>,
    }

    impl Env {
        async fn start() -> Env {
            Env::start_with(None).await
        }

        /// With `sink` instead of the in-memory audit when given.
        async fn start_with(sink: Option<Arc<dyn AuditSink>>) -> Env {
            Env::start_full(sink, None).await
        }

        /// With `sink` and `refusals` instead of the in-memory ones when given.
        async fn start_full(
            sink: Option<Arc<dyn AuditSink>>,
            refusal_sink: Option<Arc<dyn RefusalSink>>,
        ) -> Env {
            let sims = sweden_sim::start(sweden_sim::SimConfig::default())
                .await
                .expect("simulators start");
            let dir = tempfile::tempdir().expect("temp dir");
            let pki = TestPki::ensure(&dir.path().join("pki")).expect("test PKI");
            let toml = format!(
                r#"
[ncp]
country = "SE"
home_community_id = "{HCID}"
document_root = "{DOC_ROOT}"
organization_name = "E-hälsomyndigheten (test)"
hsa_id = "{BRIDGE_HSA}"

[server]
listen = "127.0.0.1:0"

[tls]
cert = {cert:?}
key = {key:?}
client_ca = [{ca:?}]

[national]
nll = "{nll}"
pdi = "{pdi}"
ntk = "{ntk}"
nsr = "{nsr}"

[saml]
trust = [{ca:?}]
"#,
                cert = pki.server_cert.display().to_string(),
                key = pki.server_key.display().to_string(),
                ca = pki.ca_cert.display().to_string(),
                nll = sims.nll,
                pdi = sims.pdi,
                ntk = sims.ntk,
                nsr = sims.nsr,
            );
            let config = Config::parse(&toml).expect("test configuration");
            config.validate().expect("valid test configuration");
            if let Ok(t) = terminology::Terminology::load(None) {
                let _ = terminology::Terminology::install(t);
            }
            let audit = Arc::new(MemoryAudit::new());
            let refusals = Arc::new(MemoryRefusals::new());
            let mut ep = CountryAEndpoints::from_config(&config)
                .expect("country A service")
                .with_audit(sink.unwrap_or_else(|| audit.clone()));
            ep.refusals = refusal_sink.unwrap_or_else(|| refusals.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr: SocketAddr = listener.local_addr().expect("addr");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let ep = Arc::new(ep);
            let svc = service(ep.clone());
            let task = tokio::spawn(async move {
                tonic::transport::Server::builder()
                    .add_service(svc)
                    .serve_with_incoming_shutdown(
                        tokio_stream::wrappers::TcpListenerStream::new(listener),
                        async move {
                            let _ = stopped.await;
                        },
                    )
                    .await
                    .expect("gRPC server");
            });
            let client = NationalConnectorClient::connect(format!("http://{addr}"))
                .await
                .expect("client connects");
            Env {
                sims: Some(sims),
                _dir: dir,
                pki,
                audit,
                refusals,
                ep,
                client,
                stop: Some(stop),
                task: Some(task),
            }
        }

        async fn stop(mut self) {
            if let Some(s) = self.stop.take() {
                let _ = s.send(());
            }
            if let Some(t) = self.task.take() {
                let _ = t.await;
            }
            if let Some(s) = self.sims.take() {
                s.shutdown().await;
            }
        }

        fn signer(&self, country: &str) -> SigningKey {
            let f = self
                .pki
                .foreign
                .iter()
                .find(|f| f.country == country)
                .expect("a test foreign NCP");
            SigningKey::from_pem(
                &std::fs::read(&f.saml_cert).expect("saml cert"),
                &std::fs::read(&f.saml_key).expect("saml key"),
            )
            .expect("signing key")
        }

        /// Signed HCP and TRC assertions of an Estonian pharmacist with `claims` for `patient`.
        fn assertions_with(&self, claims: &HcpClaims, patient: &str) -> (Vec<u8>, Vec<u8>) {
            let key = self.signer("EE");
            let hcp = issue_hcp_assertion(claims, &options(), &key).expect("HCP assertion");
            let trc = TrcClaims {
                subject_id: claims.subject_id.clone(),
                patient: PatientRef::new(Oid::parse(PNR).expect("oid"), patient),
                purpose_of_use: PurposeOfUse::Treatment,
                hcp_assertion_ref: hcp.id.clone(),
            };
            let trc = issue_trc_assertion(&trc, &options(), &key).expect("TRC assertion");
            (hcp.xml.into_bytes(), trc.xml.into_bytes())
        }

        fn assertions(&self, patient: &str) -> (Vec<u8>, Vec<u8>) {
            self.assertions_with(&pharmacist(), patient)
        }

        /// The dispensations NLL holds for a prescription (asked as the bridge would).
        async fn dispensations(&self, rx: &str) -> Vec<Value> {
            let base = self
                .sims
                .as_ref()
                .expect("simulators")
                .nll
                .as_str()
                .trim_end_matches('/')
                .to_owned();
            let b: Value = reqwest::Client::new()
                .get(format!("{base}/MedicationDispense?prescription={rx}"))
                .header("Accept", "application/fhir+json")
                .header("X-Caller-HsaId", BRIDGE_HSA)
                .header("X-Purpose", "cross-border")
                .header("X-Caller-Role", "ncp")
                .send()
                .await
                .expect("NLL answers")
                .json()
                .await
                .expect("NLL JSON");
            b["entry"]
                .as_array()
                .map(|a| a.iter().map(|e| e["resource"].clone()).collect())
                .unwrap_or_default()
        }
    }

    fn pid(ext: &str) -> proto::PatientId {
        proto::PatientId {
            root: PNR.into(),
            extension: ext.into(),
        }
    }

    fn edispensation(dispense_id: &str, pnr: &str, rx: &str) -> EpsosDocument {
        epsos(pnr, support::edispensation(dispense_id, pnr, rx))
    }

    fn edispensation_discard(dispense_id: &str, pnr: &str, rx: &str) -> EpsosDocument {
        epsos(pnr, support::edispensation_discard(dispense_id, pnr, rx))
    }

    /// A foreign eDispensation (its document id and CDA) of patient `pnr` as the gateway sends it.
    fn epsos(pnr: &str, (document_id, cda): (String, Vec<u8>)) -> EpsosDocument {
        EpsosDocument {
            patient_id: Some(pid(pnr)),
            class_code: "60593-1".into(),
            document_id,
            mime_type: "text/xml".into(),
            document: cda,
        }
    }

    /// The HCP assertion of [`pharmacist`], unsigned.
    fn unsigned_hcp() -> Vec<u8> {
        unsigned_hcp_assertion(&pharmacist(), &options())
            .xml
            .into_bytes()
    }

    /// A search for Tolvan with only an unsigned HCP assertion is refused: 4704.
    async fn unsigned_search_is_refused(env: &mut Env) {
        let req = PatientSearchRequest {
            hcp_assertion: unsigned_hcp(),
            patient_ids: vec![pid(TOLVAN)],
            ..Default::default()
        };
        let s = env.client.patient_search(req).await.unwrap_err();
        assert_refused(&s, Code::Unauthenticated, "4704");
    }

    /// A signed assertion with `from` replaced by `to` (which must change it).
    fn tamper(assertion: &[u8], from: &str, to: &str) -> Vec<u8> {
        let text = std::str::from_utf8(assertion).expect("UTF-8 assertion");
        assert!(text.contains(from), "{from} not in the assertion");
        text.replace(from, to).into_bytes()
    }

    /// Asserts a refusal's gRPC code and eHDSI code (in the metadata and the message prefix).
    fn assert_refused(s: &tonic::Status, code: Code, ehdsi: &str) {
        assert_eq!(s.code(), code, "{s:?}");
        assert_eq!(ehdsi_code(s), Some(ehdsi), "{s:?}");
        assert!(
            s.message().starts_with(&format!("eHDSI {ehdsi}: ")),
            "{}",
            s.message()
        );
    }

    fn search(env: &Env, ids: &[&str]) -> PatientSearchRequest {
        let (hcp, _) = env.assertions(TOLVAN);
        PatientSearchRequest {
            hcp_assertion: hcp,
            trc_assertion: Vec::new(),
            message_id: "urn:uuid:0f0e0d0c-0000-4000-8000-000000000001".into(),
            patient_ids: ids.iter().map(|e| pid(e)).collect(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn patient_search_finds_a_patient_and_nobody_else() {
        let mut env = Env::start().await;
        let req = search(&env, &[TOLVAN]);
        let found = env
            .client
            .patient_search(req)
            .await
            .expect("patient search")
            .into_inner();
        assert_eq!(found.patients.len(), 1);
        let p = &found.patients[0];
        assert_eq!(p.ids, vec![pid(TOLVAN)]);
        assert_eq!(p.given_names, ["Tolvan"]);
        assert_eq!(p.family_names, ["Tolvansson"]);

        // Unknown and opted-out patients: the same empty answer.
        for ext in [UNKNOWN, OPTED_OUT] {
            let req = search(&env, &[ext]);
            let r = env.client.patient_search(req).await.expect("answered");
            assert!(r.into_inner().patients.is_empty());
        }

        // No identifier: identification by national id only.
        let req = search(&env, &[]);
        let s = env.client.patient_search(req).await.unwrap_err();
        assert_refused(&s, Code::InvalidArgument, "ERROR_PI_GENERIC");

        // The root as a URN names the same patient; a root that is no OID is refused.
        let mut req = search(&env, &[TOLVAN]);
        req.patient_ids[0].root = format!("urn:oid:{PNR}");
        let r = env.client.patient_search(req).await.expect("answered");
        assert_eq!(r.into_inner().patients.len(), 1);
        let mut req = search(&env, &[TOLVAN]);
        req.patient_ids[0].root = "personnummer".into();
        let s = env.client.patient_search(req).await.unwrap_err();
        assert_refused(&s, Code::InvalidArgument, "ERROR_PI_GENERIC");

        let ev = env.audit.events();
        assert_eq!(ev.len(), 6);
        assert_eq!(ev[0].outcome, Outcome::Success);
        assert_eq!(
            ev[0].patient.as_ref().map(|p| p.extension.as_str()),
            Some(TOLVAN)
        );
        assert_eq!(
            ev[0].message_id,
            "urn:uuid:0f0e0d0c-0000-4000-8000-000000000001"
        );
        assert_eq!(ev[1].error_code, Some(EhdsiError::ErrorPiNoMatch));
        assert_eq!(ev[2].error_code, Some(EhdsiError::ErrorPiNoMatch));
        assert_eq!(ev[2].reason.as_deref(), Some("blocked: opt-out"));
        assert_eq!(ev[3].error_code, Some(EhdsiError::ErrorPiGeneric));
        assert_eq!(ev[4].outcome, Outcome::Success);
        assert_eq!(ev[5].outcome, Outcome::Failure);
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lists_and_fetches_eprescriptions() {
        let mut env = Env::start().await;
        let (hcp, trc) = env.assertions(TOLVAN);
        let list = env
            .client
            .get_ep_document_list(DocumentListRequest {
                hcp_assertion: hcp.clone(),
                trc_assertion: trc.clone(),
                message_id: String::new(),
                patient_id: Some(pid(TOLVAN)),
            })
            .await
            .expect("list")
            .into_inner();
        assert!(!list.documents.is_empty());
        let rx5 = list
            .documents
            .iter()
            .find(|d| d.prescription_id == "rx-p01-05")
            .expect("rx-p01-05 listed");
        let xml = rx5.xml.as_ref().expect("L3 entry");
        let pdf = rx5.pdf.as_ref().expect("L1 entry");
        assert_eq!(xml.id, format!("{EP_DOC_ROOT}^rx-p01-05"));
        assert_eq!(pdf.id, format!("{EP_DOC_ROOT}^rx-p01-05.L1"));
        assert_eq!(
            xml.format_code.as_ref().map(|c| c.code.as_str()),
            Some("urn:epSOS:ep:pre:2010")
        );
        assert_eq!(
            xml.class_code.as_ref().map(|c| c.code.as_str()),
            Some("57833-6")
        );
        assert_eq!(xml.patient_id, Some(pid(TOLVAN)));
        assert_eq!(xml.repository_id, HCID);
        assert!(xml.dispensable);
        for d in &list.documents {
            assert!(d
                .xml
                .as_ref()
                .unwrap()
                .id
                .starts_with(&format!("{EP_DOC_ROOT}^rx-p01-")));
        }

        // The L3 document: a CDA under the eHDSI ePrescription template.
        let doc = env
            .client
            .get_document(GetDocumentRequest {
                hcp_assertion: hcp.clone(),
                trc_assertion: trc.clone(),
                message_id: String::new(),
                patient_id: Some(pid(TOLVAN)),
                document_id: xml.id.clone(),
                repository_id: xml.repository_id.clone(),
            })
            .await
            .expect("document")
            .into_inner();
        assert_eq!(doc.document_id, xml.id);
        assert_eq!(doc.class_code, "57833-6");
        assert_eq!(doc.mime_type, "text/xml");
        let text = String::from_utf8(doc.document).expect("UTF-8");
        let cda = roxmltree::Document::parse(&text).expect("XML");
        assert_eq!(cda.root_element().tag_name().name(), "ClinicalDocument");
        let templates: Vec<&str> = cda
            .root_element()
            .children()
            .filter(|n| n.has_tag_name("templateId"))
            .filter_map(|n| n.attribute("root"))
            .collect();
        assert!(templates.contains(&EP_L3_TEMPLATE), "{templates:?}");

        // Without patient_id: the TRC assertion's patient (as in ITI-39); the L1 rendition.
        let l1 = env
            .client
            .get_document(GetDocumentRequest {
                hcp_assertion: hcp.clone(),
                trc_assertion: trc.clone(),
                document_id: pdf.id.clone(),
                ..Default::default()
            })
            .await
            .expect("L1 document")
            .into_inner();
        assert!(String::from_utf8_lossy(&l1.document).contains("nonXMLBody"));

        // Another patient's TRC: neither the list nor the document (4206).
        let (ohcp, otrc) = env.assertions(OTHER);
        let s = env
            .client
            .get_ep_document_list(DocumentListRequest {
                hcp_assertion: ohcp.clone(),
                trc_assertion: otrc.clone(),
                message_id: String::new(),
                patient_id: Some(pid(TOLVAN)),
            })
            .await
            .unwrap_err();
        assert_refused(&s, Code::PermissionDenied, "4206");
        let s = env
            .client
            .get_document(GetDocumentRequest {
                hcp_assertion: ohcp.clone(),
                trc_assertion: otrc.clone(),
                patient_id: Some(pid(TOLVAN)),
                document_id: xml.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_refused(&s, Code::PermissionDenied, "4206");
        // ... and its own patient cannot reach Tolvan's document by its id.
        let s = env
            .client
            .get_document(GetDocumentRequest {
                hcp_assertion: ohcp,
                trc_assertion: otrc,
                document_id: xml.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_refused(&s, Code::NotFound, "ERROR_GENERIC_DOCUMENT_MISSING");

        // An id that is none of ours.
        let s = env
            .client
            .get_document(GetDocumentRequest {
                hcp_assertion: hcp.clone(),
                trc_assertion: trc.clone(),
                document_id: "1.2.3^<script>".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_refused(&s, Code::NotFound, "ERROR_GENERIC_DOCUMENT_MISSING");

        // No TRC assertion: 4702.
        let s = env
            .client
            .get_ep_document_list(DocumentListRequest {
                hcp_assertion: hcp.clone(),
                trc_assertion: Vec::new(),
                message_id: String::new(),
                patient_id: Some(pid(TOLVAN)),
            })
            .await
            .unwrap_err();
        assert_refused(&s, Code::Unauthenticated, "4702");

        let ev = env.audit.events();
        assert_eq!(ev.len(), 7, "every verified call audited: {ev:?}");
        assert_eq!(ev[1].objects, vec![xml.id.clone()]);
        assert_eq!(ev[3].error_code, Some(EhdsiError::UnknownPatientIdentifier));
        assert_eq!(ev[5].error_code, Some(EhdsiError::ErrorDocumentMissing));
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn submits_a_dispensation_once_and_cancels_it() {
        let mut env = Env::start().await;
        let rx = "rx-p01-05";
        let before = env.dispensations(rx).await.len();
        let (hcp, trc) = env.assertions(TOLVAN);
        let submit = SubmitDispensationRequest {
            hcp_assertion: hcp.clone(),
            trc_assertion: trc.clone(),
            message_id: String::new(),
            document: Some(edispensation("grpc-disp-1", TOLVAN, rx)),
        };
        let ack = env
            .client
            .submit_dispensation(submit.clone())
            .await
            .expect("dispensation recorded")
            .into_inner();
        assert_eq!(ack.prescription_ids, [rx]);
        assert_eq!(ack.dispensation_ids.len(), 1);
        assert_eq!(ack.already_recorded, 0);
        assert!(ack.queued.is_empty(), "no [outbox]: recorded synchronously");
        let after = env.dispensations(rx).await;
        assert_eq!(after.len(), before + 1, "NLL shows the dispensation");
        let ours = after
            .iter()
            .find(|d| d["identifier"].to_string().contains("grpc-disp-1"))
            .expect("the dispensation carries the document id");
        assert_eq!(ours["status"], "completed");
        assert_eq!(ours["id"], ack.dispensation_ids[0].as_str());

        // The same document again: acknowledged, recorded once.
        let again = env
            .client
            .submit_dispensation(submit)
            .await
            .expect("acknowledged")
            .into_inner();
        assert_eq!(again.already_recorded, 1);
        assert_eq!(again.dispensation_ids, ack.dispensation_ids);
        assert_eq!(env.dispensations(rx).await.len(), before + 1);

        // The discard gives it back.
        let cancelled = env
            .client
            .cancel_dispensation(CancelDispensationRequest {
                hcp_assertion: hcp.clone(),
                trc_assertion: trc.clone(),
                message_id: String::new(),
                document: Some(edispensation_discard("grpc-disp-1", TOLVAN, rx)),
            })
            .await
            .expect("discarded")
            .into_inner();
        assert_eq!(cancelled.dispensation_ids, ack.dispensation_ids);
        let after = env.dispensations(rx).await;
        let ours = after
            .iter()
            .find(|d| d["identifier"].to_string().contains("grpc-disp-1"))
            .expect("still there");
        assert_eq!(ours["status"], "entered-in-error");

        // Not a CDA, no document at all: refused, nothing recorded.
        let mut junk = edispensation("grpc-junk", TOLVAN, rx);
        junk.document = b"<ClinicalDocument><".to_vec();
        let s = env
            .client
            .submit_dispensation(SubmitDispensationRequest {
                hcp_assertion: hcp.clone(),
                trc_assertion: trc.clone(),
                message_id: String::new(),
                document: Some(junk),
            })
            .await
            .unwrap_err();
        assert_refused(
            &s,
            Code::InvalidArgument,
            "ERROR_ED_EPRESCRIPTION_NOT_IDENTIFIABLE",
        );
        let s = env
            .client
            .submit_dispensation(SubmitDispensationRequest {
                hcp_assertion: hcp.clone(),
                trc_assertion: trc.clone(),
                message_id: String::new(),
                document: None,
            })
            .await
            .unwrap_err();
        assert_refused(&s, Code::InvalidArgument, "4108");
        assert_eq!(env.dispensations(rx).await.len(), before + 1);

        // Discarding what was never recorded fails.
        let s = env
            .client
            .cancel_dispensation(CancelDispensationRequest {
                hcp_assertion: hcp,
                trc_assertion: trc,
                message_id: String::new(),
                document: Some(edispensation_discard("grpc-never", TOLVAN, rx)),
            })
            .await
            .unwrap_err();
        assert_refused(&s, Code::FailedPrecondition, "ERROR_ED_DISCARD_FAILED");

        let ev = env.audit.events();
        assert_eq!(ev.len(), 6);
        assert!(ev[..3].iter().all(|e| e.outcome == Outcome::Success));
        assert_eq!(ev[1].reason.as_deref(), Some("already recorded"));
        assert!(ev[3..].iter().all(|e| e.outcome == Outcome::Failure));
        env.stop().await;
    }

    /// A refused call and an accepted one land in the same hash-chained trail, which verifies;
    /// the refusal names no patient and counts in the KPIs (under `ZZ`: this test's plain
    /// HTTP/2 connection has no TLS peer certificate).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refused_calls_are_chained_in_the_audit_trail() {
        use ncp_core::audit::{AuditConfig, AuditLog, Ncp, Period, StorageBackend};
        let dir = tempfile::tempdir().expect("temp dir");
        let config = AuditConfig {
            backend: StorageBackend::Sqlite {
                path: dir.path().join("audit.sqlite"),
            },
        };
        let log = Arc::new(AuditLog::open(&config).await.expect("trail"));
        let us = Ncp {
            country: ncp_types::CountryCode::SE,
            home_community_id: Oid::parse(HCID).unwrap(),
        };
        let trail = Arc::new(ncp_core::country_a::AuditTrail::new(log.clone(), us));
        let mut env = Env::start_full(Some(trail), Some(log.clone())).await;
        unsigned_search_is_refused(&mut env).await;
        let req = search(&env, &[TOLVAN]);
        env.client.patient_search(req).await.expect("found");
        let report = log.verify().await.expect("verify");
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.records, 2);
        let refused = log.refused_kpi(Period::all()).await.expect("kpi");
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!((refused[0].country.as_str(), refused[0].count), ("ZZ", 1));
        assert_eq!(log.kpi(Period::all()).await.expect("kpi").len(), 1);
        env.stop().await;
    }

    /// The gateway resends a session's assertions with every call: the second call is answered
    /// from the endpoints' verified-assertion cache, and a tampered resend of the same
    /// assertions (same IDs, changed content) is still refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_resent_assertion_pair_comes_from_the_cache_and_a_tampered_resend_is_refused() {
        let mut env = Env::start().await;
        let (hcp, trc) = env.assertions(TOLVAN);
        let list = |hcp: &[u8], trc: &[u8]| DocumentListRequest {
            hcp_assertion: hcp.to_vec(),
            trc_assertion: trc.to_vec(),
            message_id: String::new(),
            patient_id: Some(pid(TOLVAN)),
        };
        assert!(env.ep.verified.is_empty());
        let first = env
            .client
            .get_ep_document_list(list(&hcp, &trc))
            .await
            .expect("first call accepted")
            .into_inner();
        assert_eq!(env.ep.verified.len(), 2, "both assertions remembered");
        assert_eq!(env.ep.verified.hits(), 0);
        let again = env
            .client
            .get_ep_document_list(list(&hcp, &trc))
            .await
            .expect("resent pair accepted")
            .into_inner();
        assert_eq!(again.documents.len(), first.documents.len());
        assert!(!first.documents.is_empty());
        assert_eq!(env.ep.verified.hits(), 2, "both assertions from the cache");

        // The same assertion IDs with changed content: refused, not taken from the cache.
        let tampered_hcp = tamper(&hcp, "Mari Maasikas", "Mallory");
        let s = env
            .client
            .get_ep_document_list(list(&tampered_hcp, &trc))
            .await
            .unwrap_err();
        assert_refused(&s, Code::Unauthenticated, "4704");
        let tampered_trc = tamper(&trc, TOLVAN, OTHER);
        let s = env
            .client
            .get_ep_document_list(list(&hcp, &tampered_trc))
            .await
            .unwrap_err();
        assert_refused(&s, Code::Unauthenticated, "4704");
        // And the untouched pair still passes afterwards.
        env.client
            .get_ep_document_list(list(&hcp, &trc))
            .await
            .expect("the genuine pair is still accepted");
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refuses_unsigned_foreign_and_insufficient_assertions() {
        let mut env = Env::start().await;
        let rx = "rx-p01-05";
        let before = env.dispensations(rx).await.len();
        let doc = edispensation("grpc-refused", TOLVAN, rx);
        let submit = |hcp: Vec<u8>, trc: Vec<u8>| SubmitDispensationRequest {
            hcp_assertion: hcp,
            trc_assertion: trc,
            message_id: String::new(),
            document: Some(doc.clone()),
        };

        // An unsigned HCP assertion: 4704.
        let (_, trc) = env.assertions(TOLVAN);
        let unsigned = unsigned_hcp();
        let s = env
            .client
            .submit_dispensation(submit(unsigned, trc))
            .await
            .unwrap_err();
        assert_refused(&s, Code::Unauthenticated, "4704");
        unsigned_search_is_refused(&mut env).await;

        // A signed assertion changed afterwards: 4704.
        let (hcp, trc) = env.assertions(TOLVAN);
        let tampered = tamper(&hcp, "Mari Maasikas", "Mallory");
        let s = env
            .client
            .submit_dispensation(submit(tampered, trc))
            .await
            .unwrap_err();
        assert_refused(&s, Code::Unauthenticated, "4704");

        // No assertion at all, or not an assertion: 4702.
        let s = env
            .client
            .submit_dispensation(submit(Vec::new(), Vec::new()))
            .await
            .unwrap_err();
        assert_refused(&s, Code::Unauthenticated, "4702");
        let s = env
            .client
            .submit_dispensation(submit(
                b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'/>".to_vec(),
                Vec::new(),
            ))
            .await
            .unwrap_err();
        assert_refused(&s, Code::Unauthenticated, "4702");

        // The TRC assertion of another patient: 4206.
        let (hcp, trc) = env.assertions(OTHER);
        let s = env
            .client
            .submit_dispensation(submit(hcp, trc))
            .await
            .unwrap_err();
        assert_refused(&s, Code::PermissionDenied, "4206");

        // A pharmacist without the dispensation permission (PPD-046): 4703.
        let (hcp, trc) = env.assertions_with(
            &claims(
                HcpRole::PHARMACIST,
                &[Permission::Prd006, Permission::Prd004, Permission::Prd010],
            ),
            TOLVAN,
        );
        let s = env
            .client
            .submit_dispensation(submit(hcp, trc))
            .await
            .unwrap_err();
        assert_refused(&s, Code::PermissionDenied, "4703");

        assert_eq!(env.dispensations(rx).await.len(), before, "nothing in NLL");
        // The verified caller's refusals (4206, 4703 after verification) are transaction
        // events; the calls refused before verification are refusal records, one each, with
        // the code sent back and nothing from the request.
        let ev = env.audit.events();
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].error_code, Some(EhdsiError::UnknownPatientIdentifier));
        let refused = env.refusals.refusals();
        let codes: Vec<_> = refused
            .iter()
            .map(|r| (r.endpoint, r.error_code.map(|e| e.code())))
            .collect();
        assert_eq!(
            codes,
            [
                ("grpc:SubmitDispensation", Some("4704")),
                ("grpc:PatientSearch", Some("4704")),
                ("grpc:SubmitDispensation", Some("4704")),
                ("grpc:SubmitDispensation", Some("4702")),
                ("grpc:SubmitDispensation", Some("4702")),
                ("grpc:SubmitDispensation", Some("4703")),
            ]
        );
        assert!(refused
            .iter()
            .all(|r| r.class == ncp_core::audit::RefusalClass::Assertion));
        assert!(!format!("{refused:?}").contains(TOLVAN));
        env.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn patient_summary_is_listed_and_fetched_and_a_block_looks_like_no_data() {
        let mut env = Env::start().await;
        let key = env.signer("EE");
        let doctor = HcpClaims {
            role: HcpRole::PHYSICIAN,
            facility_type: FacilityType::Hospital,
            permissions: [
                Permission::Prd003,
                Permission::Prd005,
                Permission::Prd010,
                Permission::Prd016,
            ]
            .into_iter()
            .collect(),
            ..pharmacist()
        };
        let hcp = issue_hcp_assertion(&doctor, &options(), &key).expect("HCP");
        let trc_for = |patient: &str| {
            let trc_claims = TrcClaims {
                subject_id: doctor.subject_id.clone(),
                patient: PatientRef::new(Oid::parse(PNR).expect("oid"), patient),
                purpose_of_use: PurposeOfUse::Treatment,
                hcp_assertion_ref: hcp.id.clone(),
            };
            issue_trc_assertion(&trc_claims, &options(), &key).expect("TRC")
        };
        let list = |patient: &str| DocumentListRequest {
            hcp_assertion: hcp.xml.clone().into_bytes(),
            trc_assertion: trc_for(patient).xml.into_bytes(),
            message_id: String::new(),
            patient_id: Some(pid(patient)),
        };
        let found = env
            .client
            .get_ps_document_list(list(TOLVAN))
            .await
            .expect("listed")
            .into_inner();
        assert_eq!(found.documents.len(), 1);
        let xml = found.documents[0].xml.clone().expect("L3");
        let pdf = found.documents[0].pdf.clone().expect("L1");
        assert_eq!(xml.class_code.expect("class").code, "60591-5");
        assert_eq!(
            xml.format_code.expect("format").code,
            "urn:epSOS:ps:ps:2010"
        );
        assert_eq!(pdf.id, format!("{}.L1", xml.id));
        let doc = env
            .client
            .get_document(GetDocumentRequest {
                hcp_assertion: hcp.xml.clone().into_bytes(),
                trc_assertion: trc_for(TOLVAN).xml.into_bytes(),
                message_id: String::new(),
                patient_id: Some(pid(TOLVAN)),
                document_id: xml.id.clone(),
                repository_id: String::new(),
            })
            .await
            .expect("fetched")
            .into_inner();
        assert_eq!(doc.class_code, "60591-5");
        assert_eq!(doc.document_id, xml.id);
        let text = String::from_utf8(doc.document).expect("UTF-8");
        assert!(text.contains("1.3.6.1.4.1.12559.11.10.1.3.1.1.3"));

        // Opted out (Märta Sjöström) and without any data (Ingrid Bäckström): the same answer.
        let opted_out = env
            .client
            .get_ps_document_list(list("194911023424"))
            .await
            .expect("answered")
            .into_inner();
        let no_data = env
            .client
            .get_ps_document_list(list("199007197842"))
            .await
            .expect("answered")
            .into_inner();
        assert_eq!(opted_out, no_data);
        assert!(no_data.documents.is_empty());
        env.stop().await;
    }

    /// An audit trail that is down.
    struct DownAudit;

    impl AuditSink for DownAudit {
        fn append<'a>(
            &'a self,
            _event: &'a AuditEvent,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(), AuditFailure>> + Send + 'a>,
        > {
            Box::pin(async { Err(AuditFailure("down".into())) })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_is_disclosed_when_the_audit_trail_is_down() {
        let mut env = Env::start_with(Some(Arc::new(DownAudit))).await;
        let req = search(&env, &[TOLVAN]);
        let s = env.client.patient_search(req).await.unwrap_err();
        assert_refused(&s, Code::Unavailable, "ERROR_GENERIC");
        let (hcp, trc) = env.assertions(TOLVAN);
        let s = env
            .client
            .get_document(GetDocumentRequest {
                hcp_assertion: hcp,
                trc_assertion: trc,
                document_id: format!("{EP_DOC_ROOT}^rx-p01-05"),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_refused(&s, Code::Unavailable, "ERROR_GENERIC");
        env.stop().await;
    }
}
