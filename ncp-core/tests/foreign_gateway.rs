//! The foreign gateway (Sweden as country B) against a simulated foreign NCP over real mutual
//! TLS, with the HCP and TRC assertions signed by the bridge's key and verified by the
//! simulator with ncp-core's verifier: every operation, every foreign error mapped to its
//! `GatewayError`, the `wsu:Timestamp` of every request (and a peer whose clock disagrees
//! refusing it), a slow peer timing out, and eDispensations received intact (and passing
//! `../shared/conformance/validate-cda`). The simulator serves the eHDSI sample documents in
//! `../shared`; the tests skip with a message when it is absent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use chrono::SubsecRound as _;
use country_tests::samples::{samples_or_skip, validate_cda};
use country_tests::{
    standard_patients, Behaviour, ForeignNcpSim, ForeignNcpSimConfig, RunningForeignNcp, SimPatient,
};
use ncp_core::config::NcpIdentity;
use ncp_core::country_b::foreign_gateway::{
    DocumentClass, DocumentFormat, ForeignGateway, ForeignGatewayConfig, ForeignPatient,
    ForeignPatientId, GatewayError, HcpRole, HcpUser, PurposeOfUse,
};
use ncp_core::ihe::xca::Transfer;
use ncp_core::pki::TestPki;
use ncp_core::security::SigningKey;
use ncp_types::{CountryCode, HsaId, Oid};

const PATIENT_ROOT: &str = "2.16.17.710.850.1000.990.1.1000";
const FOREIGN_HCID: &str = "2.16.17.710.850.1000.990.1";
/// How long the gateway waits; the slow patient answers after three times that.
const TIMEOUT: Duration = Duration::from_secs(2);

struct Fixture {
    _dir: tempfile::TempDir,
    pki: TestPki,
    samples: PathBuf,
    sim: RunningForeignNcp,
    gateway: ForeignGateway,
}

fn pid(ext: &str) -> ForeignPatientId {
    ForeignPatientId {
        root: Oid::parse(PATIENT_ROOT).unwrap(),
        extension: ext.to_owned(),
    }
}

fn ihe_pid(ext: &str) -> ncp_core::ihe::PatientIdentifier {
    ncp_core::ihe::PatientIdentifier::new(Oid::parse(PATIENT_ROOT).unwrap(), ext)
}

fn pharmacist() -> HcpUser {
    HcpUser {
        id: "apotekare-1@apotek.example.se".into(),
        name: "Anna Apotekare".into(),
        role: HcpRole::PHARMACIST,
        organisation: "Apoteket Kronan".into(),
        organisation_hsa_id: HsaId::parse("SE2321000016-APOT1").unwrap(),
        purpose: PurposeOfUse::Treatment,
    }
}

fn doctor() -> HcpUser {
    HcpUser {
        id: "lakare-1@region.example.se".into(),
        name: "Lars Läkare".into(),
        role: HcpRole::PHYSICIAN,
        organisation: "Vårdcentralen Kalmar".into(),
        organisation_hsa_id: HsaId::parse("SE2321000016-VC01").unwrap(),
        purpose: PurposeOfUse::Treatment,
    }
}

fn patients(samples: &Path) -> Vec<SimPatient> {
    // 1-1234-W8 normal, 1-5678-W8 no consent, 1-9999 not dispensable, 1-canesten-W7 HTTP 503,
    // 1-NO-PDF SOAP fault, 1-BAD-MAPPING slow.
    standard_patients(samples, TIMEOUT * 3).expect("sample patients")
}

fn gateway_config(pki: &TestPki) -> ForeignGatewayConfig {
    ForeignGatewayConfig::from_pem_files(
        &pki.se_client_cert,
        &pki.se_client_key,
        std::slice::from_ref(&pki.ca_cert),
        &pki.se_saml_cert,
        &pki.se_saml_key,
        NcpIdentity::sandbox(),
        TIMEOUT,
    )
    .expect("gateway configuration")
}

async fn sim(pki: &TestPki, samples: &Path, transfer: Transfer) -> RunningForeignNcp {
    let mut cfg = ForeignNcpSimConfig::from_test_pki(
        pki,
        0,
        Oid::parse(FOREIGN_HCID).unwrap(),
        samples,
        patients(samples),
    )
    .expect("the test PKI's first foreign NCP");
    cfg.retrieve_transfer = transfer;
    ForeignNcpSim::start(cfg)
        .await
        .expect("simulated NCP starts")
}

/// A simulated NCP serving retrieved documents as MTOM parts, and a gateway to it.
async fn fixture(test: &str) -> Option<Fixture> {
    fixture_with(test, Transfer::Mtom).await
}

async fn fixture_with(test: &str, transfer: Transfer) -> Option<Fixture> {
    let samples = samples_or_skip(test)?;
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::ensure(&dir.path().join("pki")).unwrap();
    let sim = sim(&pki, &samples, transfer).await;
    let gateway = ForeignGateway::new(gateway_config(&pki)).expect("gateway");
    Some(Fixture {
        _dir: dir,
        pki,
        samples,
        sim,
        gateway,
    })
}

impl Fixture {
    /// A second gateway, its configuration changed by `change`.
    fn gateway_with(&self, change: impl FnOnce(&mut ForeignGatewayConfig)) -> ForeignGateway {
        let mut cfg = gateway_config(&self.pki);
        change(&mut cfg);
        ForeignGateway::new(cfg).expect("gateway")
    }

    /// `gateway` asks the simulated NCP, as a pharmacist, for the patient it answers normally.
    async fn find_normal_patient(
        &self,
        gateway: &ForeignGateway,
    ) -> Result<Vec<ForeignPatient>, GatewayError> {
        gateway
            .find_patient(&self.sim.foreign_ncp(), &pharmacist(), &pid("1-1234-W8"))
            .await
    }
}

fn sample(samples: &Path, file: &str) -> Vec<u8> {
    std::fs::read(samples.join(file)).unwrap()
}

/// The PDF inside an L1 CDA's `nonXMLBody`.
fn pdf_of_l1(cda: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(cda).unwrap();
    let start = text
        .find("representation=\"B64\">")
        .expect("a B64 nonXMLBody")
        + 21;
    let end = start + text[start..].find("</text>").unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(text[start..end].trim())
        .unwrap()
}

#[tokio::test]
async fn find_patient_identifies_the_sample_patient_with_signed_assertions() {
    let Some(f) = fixture("find_patient").await else {
        return;
    };
    let ncp = f.sim.foreign_ncp();
    let found = f
        .gateway
        .find_patient(&ncp, &pharmacist(), &pid("1-1234-W8"))
        .await
        .expect("a match");
    assert_eq!(found.len(), 1);
    let p = &found[0];
    assert_eq!(p.id, pid("1-1234-W8"));
    assert_eq!(p.given, vec!["Robert".to_owned()]);
    assert_eq!(p.family.as_deref(), Some("Schuman"));
    assert_eq!(p.birth_date.as_deref(), Some("18860629"));
    assert_eq!(p.gender.as_deref(), Some("M"));

    let calls = f.sim.calls();
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(c.operation, "XCPD");
    assert_eq!(c.hcp_subject, "apotekare-1@apotek.example.se");
    assert_eq!(c.hcp_role, "2262");
    assert_eq!(c.purpose, "TREATMENT");
    assert!(c.permissions.contains(&"PRD-006".to_owned()), "{c:?}");
    assert_eq!(c.peer_country, Some(CountryCode::SE));
    assert_eq!(c.trc_patient, None, "XCPD carries no TRC assertion");
}

#[tokio::test]
async fn find_patient_no_match_and_no_consent() {
    let Some(f) = fixture("find_patient_errors").await else {
        return;
    };
    let ncp = f.sim.foreign_ncp();
    let e = f
        .gateway
        .find_patient(&ncp, &pharmacist(), &pid("1-0000-NOBODY"))
        .await
        .unwrap_err();
    assert_eq!(e, GatewayError::NoMatch);
    assert_eq!(e.foreign_code(), Some("ERROR_PI_NO_MATCH"));

    let e = f
        .gateway
        .find_patient(&ncp, &pharmacist(), &pid("1-5678-W8"))
        .await
        .unwrap_err();
    let GatewayError::NoConsent(message) = &e else {
        panic!("expected NoConsent, got {e:?}");
    };
    assert_eq!(e.foreign_code(), Some("4701"));
    assert!(message.contains("consent"), "{message}");

    f.sim
        .set_behaviour(&ihe_pid("1-1234-W8"), Behaviour::NoMatch);
    let e = f
        .gateway
        .find_patient(&ncp, &doctor(), &pid("1-1234-W8"))
        .await
        .unwrap_err();
    assert_eq!(e, GatewayError::NoMatch);
}

#[tokio::test]
async fn prescriptions_are_listed_and_retrieved_as_l3_and_l1_over_mtom() {
    let Some(f) = fixture("prescriptions").await else {
        return;
    };
    let ncp = f.sim.foreign_ncp();
    let patient = pid("1-1234-W8");
    let docs = f
        .gateway
        .list_documents(&ncp, &pharmacist(), &patient, DocumentClass::EPrescription)
        .await
        .expect("the list");
    assert_eq!(docs.len(), 2, "{docs:?}");
    let l3 = docs
        .iter()
        .find(|d| d.format == DocumentFormat::L3)
        .expect("an L3 entry");
    let l1 = docs
        .iter()
        .find(|d| d.format == DocumentFormat::L1Pdf)
        .expect("an L1 entry");
    for d in &docs {
        assert_eq!(d.class, DocumentClass::EPrescription);
        assert_eq!(d.home_community_id.as_str(), FOREIGN_HCID);
    }
    assert_eq!(l3.title.as_deref(), Some("ePrescription (eHDSI/Finland)"));

    let got = f
        .gateway
        .retrieve(&ncp, &pharmacist(), &patient, l3)
        .await
        .expect("the L3 document");
    assert_eq!(got.bytes, sample(&f.samples, "epstore-1-1234-W8.xml"));
    assert_eq!(got.mime_type, "text/xml");

    let got = f
        .gateway
        .retrieve(&ncp, &pharmacist(), &patient, l1)
        .await
        .expect("the L1 document");
    assert_eq!(
        pdf_of_l1(&got.bytes),
        sample(&f.samples, "epstore-1-1234-W8.pdf")
    );

    let calls = f.sim.calls();
    let ops: Vec<_> = calls.iter().map(|c| c.operation).collect();
    assert_eq!(ops, ["XCA query", "XCA retrieve", "XCA retrieve"]);
    for c in &calls {
        assert_eq!(c.trc_patient, Some(ihe_pid("1-1234-W8")), "{c:?}");
    }
}

#[tokio::test]
async fn a_doctor_reads_the_patient_summary_inline() {
    // `_dir` bound, so the PKI directory lives as long as the test.
    let Some(Fixture {
        _dir,
        samples,
        sim,
        gateway,
        ..
    }) = fixture_with("patient_summary", Transfer::Inline).await
    else {
        return;
    };
    let ncp = sim.foreign_ncp();
    let patient = pid("1-1234-W8");
    let docs = gateway
        .list_documents(&ncp, &doctor(), &patient, DocumentClass::PatientSummary)
        .await
        .expect("the list");
    assert_eq!(docs.len(), 2, "{docs:?}");
    let l3 = docs
        .iter()
        .find(|d| d.format == DocumentFormat::L3)
        .unwrap();
    assert_eq!(l3.class, DocumentClass::PatientSummary);
    let got = gateway
        .retrieve(&ncp, &doctor(), &patient, l3)
        .await
        .expect("the summary");
    assert_eq!(got.bytes, sample(&samples, "psstore-2-1234-W8.xml"));
    let l1 = docs
        .iter()
        .find(|d| d.format == DocumentFormat::L1Pdf)
        .unwrap();
    let got = gateway
        .retrieve(&ncp, &doctor(), &patient, l1)
        .await
        .unwrap();
    assert_eq!(
        pdf_of_l1(&got.bytes),
        sample(&samples, "psstore-2-1234-W8.pdf")
    );
    assert!(sim.calls().iter().all(|c| c.hcp_role == "221"));
}

#[tokio::test]
async fn a_patient_without_prescriptions_has_an_empty_list() {
    let Some(f) = fixture("empty_list").await else {
        return;
    };
    let ncp = f.sim.foreign_ncp();
    // The patient of epstore-1-5678-W8 exists but has no Patient Summary; 1102 is a warning.
    f.sim
        .set_behaviour(&ihe_pid("1-5678-W8"), Behaviour::Normal);
    let docs = f
        .gateway
        .list_documents(
            &ncp,
            &doctor(),
            &pid("1-5678-W8"),
            DocumentClass::PatientSummary,
        )
        .await
        .expect("an empty list, not an error");
    assert!(docs.is_empty());
}

#[tokio::test]
async fn foreign_errors_come_back_typed() {
    let Some(f) = fixture("foreign_errors").await else {
        return;
    };
    let ncp = f.sim.foreign_ncp();
    let user = pharmacist();
    let ep = DocumentClass::EPrescription;

    let e = f
        .gateway
        .list_documents(&ncp, &user, &pid("1-5678-W8"), ep)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GatewayError::NoConsent(m) if m.starts_with("4701: ")),
        "{e:?}"
    );

    let e = f
        .gateway
        .list_documents(&ncp, &user, &pid("1-canesten-W7"), ep)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GatewayError::Unavailable(m) if m.contains("503")),
        "{e:?}"
    );

    let e = f
        .gateway
        .find_patient(&ncp, &user, &pid("1-NO-PDF"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GatewayError::Unavailable(m) if m.starts_with("ERROR_GENERIC: ")),
        "{e:?}"
    );
    let e = f
        .gateway
        .list_documents(&ncp, &user, &pid("1-NO-PDF"), ep)
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::Unavailable(_)), "{e:?}");

    f.sim
        .set_behaviour(&ihe_pid("1-1234-W8"), Behaviour::MalformedAnswer);
    let e = f
        .gateway
        .list_documents(&ncp, &user, &pid("1-1234-W8"), ep)
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::Protocol(_)), "{e:?}");
}

#[tokio::test]
async fn a_slow_foreign_ncp_times_out() {
    let Some(f) = fixture("slow").await else {
        return;
    };
    let ncp = f.sim.foreign_ncp();
    let e = f
        .gateway
        .find_patient(&ncp, &pharmacist(), &pid("1-BAD-MAPPING"))
        .await
        .unwrap_err();
    assert_eq!(e, GatewayError::Timeout);
}

fn edispensation(discard: bool) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cda-fhir-transform/tests/fixtures/fhir/medicationdispense.json");
    let md: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("the MedicationDispense fixture");
    let now = chrono::Utc::now().fixed_offset();
    let opts = NcpIdentity::sandbox().cda_options(now);
    if discard {
        cda_fhir_transform::to_cda::edispensation_discard(&md, &opts).expect("discard CDA")
    } else {
        cda_fhir_transform::to_cda::edispensation(&md, &opts).expect("eDispensation CDA")
    }
}

#[tokio::test]
async fn an_edispensation_and_its_discard_arrive_intact_and_conformant() {
    let Some(f) = fixture("dispense").await else {
        return;
    };
    let ncp = f.sim.foreign_ncp();
    let patient = pid("1-1234-W8");
    let cda = edispensation(false);
    let ack = f
        .gateway
        .submit_dispensation(&ncp, &pharmacist(), &patient, &cda, false)
        .await
        .expect("accepted");
    assert!(ack.accepted);
    assert!(ack.foreign_errors.is_empty(), "{ack:?}");
    let discard = edispensation(true);
    let ack = f
        .gateway
        .submit_dispensation(&ncp, &pharmacist(), &patient, &discard, true)
        .await
        .expect("discard accepted");
    assert!(ack.accepted);

    let received = f.sim.received_dispensations();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].cda,
        cda.as_bytes(),
        "sent and received byte for byte"
    );
    assert!(!received[0].discard);
    assert_eq!(received[0].format_code, "urn:epSOS:ep:dis:2010");
    assert_eq!(received[0].patient, ihe_pid("1-1234-W8"));
    assert_eq!(received[0].hcp_role, "2262");
    assert_eq!(received[1].cda, discard.as_bytes());
    assert!(received[1].discard);
    assert_eq!(received[1].format_code, "urn:eHDSI:ed:discard:2020");
    let xdr_calls: Vec<_> = f
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.operation == "XDR")
        .collect();
    assert_eq!(xdr_calls.len(), 2);
    assert!(xdr_calls
        .iter()
        .all(|c| c.permissions.contains(&"PPD-046".to_owned())));

    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = received
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let p = dir.path().join(format!("received-{i}.xml"));
            std::fs::write(&p, &r.cda).unwrap();
            p
        })
        .collect();
    if let Some((ok, report)) = validate_cda(&files) {
        assert!(ok, "the eDispensations sent fail validate-cda:\n{report}");
    }
}

#[tokio::test]
async fn refused_dispensations_are_never_reported_as_accepted() {
    let Some(f) = fixture("dispense_refused").await else {
        return;
    };
    let ncp = f.sim.foreign_ncp();
    let cda = edispensation(false);
    let e = f
        .gateway
        .submit_dispensation(&ncp, &pharmacist(), &pid("1-9999"), &cda, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GatewayError::NotDispensable(m) if m.starts_with("ERROR_ED_NOT_DISPENSABLE_EPRESCRIPTION: ")),
        "{e:?}"
    );
    let e = f
        .gateway
        .submit_dispensation(&ncp, &pharmacist(), &pid("1-5678-W8"), &cda, false)
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::NoConsent(_)), "{e:?}");
    let e = f
        .gateway
        .submit_dispensation(&ncp, &pharmacist(), &pid("1-canesten-W7"), &cda, false)
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::Unavailable(_)), "{e:?}");

    // A doctor may not dispense: refused here, nothing sent.
    let before = f.sim.calls().len();
    let e = f
        .gateway
        .submit_dispensation(&ncp, &doctor(), &pid("1-1234-W8"), &cda, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GatewayError::Refused { code, .. } if code == "4703"),
        "{e:?}"
    );
    assert_eq!(f.sim.calls().len(), before);
    assert!(f.sim.received_dispensations().is_empty());
}

#[tokio::test]
async fn the_foreign_ncp_refuses_assertions_it_does_not_trust() {
    let Some(f) = fixture("untrusted_signer").await else {
        return;
    };
    // Signed with the Estonian NCP's SAML key: not in the simulator's trust list (which pins
    // the Swedish bridge's certificate only).
    let ee = &f.pki.foreign[0];
    let gateway = f.gateway_with(|cfg| {
        cfg.saml_key = SigningKey::from_pem(
            &std::fs::read(&ee.saml_cert).unwrap(),
            &std::fs::read(&ee.saml_key).unwrap(),
        )
        .unwrap();
    });
    let e = f.find_normal_patient(&gateway).await.unwrap_err();
    let GatewayError::Refused { code, message } = &e else {
        panic!("expected a refusal, got {e:?}");
    };
    assert!(!code.is_empty() && !message.is_empty(), "{e:?}");
    assert!(
        f.sim.calls().is_empty(),
        "no call got past the signature check"
    );
}

#[tokio::test]
async fn an_untrusted_foreign_server_certificate_is_not_spoken_to() {
    let Some(f) = fixture("untrusted_server").await else {
        return;
    };
    // Trust only a CA that did not issue the simulator's certificate.
    let gateway = f.gateway_with(|cfg| {
        cfg.trust_ca_pems = vec![std::fs::read(&f.pki.untrusted_cert).unwrap()];
    });
    let e = f.find_normal_patient(&gateway).await.unwrap_err();
    assert!(matches!(e, GatewayError::Unavailable(_)), "{e:?}");
    assert!(f.sim.calls().is_empty());
}

#[tokio::test]
async fn a_closed_port_is_unavailable() {
    let Some(f) = fixture("closed_port").await else {
        return;
    };
    let mut ncp = f.sim.foreign_ncp();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    ncp.xcpd_url = format!("https://localhost:{port}/xcpd").parse().unwrap();
    let e = f
        .gateway
        .find_patient(&ncp, &pharmacist(), &pid("1-1234-W8"))
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::Unavailable(_)), "{e:?}");
}

#[tokio::test]
async fn assertions_must_come_from_the_ncp_of_the_tls_connection() {
    let Some(f) = fixture("signer_is_peer").await else {
        return;
    };
    // TLS as the Spanish NCP, assertions signed by the Swedish bridge: refused (4703).
    let es = &f.pki.foreign[1];
    let gateway = f.gateway_with(|cfg| {
        cfg.client_cert_pem = std::fs::read(&es.tls_cert).unwrap();
        cfg.client_key_pem = std::fs::read(&es.tls_key).unwrap();
    });
    let e = f.find_normal_patient(&gateway).await.unwrap_err();
    assert!(
        matches!(&e, GatewayError::Refused { code, .. } if code == "4703"),
        "{e:?}"
    );
    assert!(f.sim.calls().is_empty());
}

#[tokio::test]
async fn every_request_carries_a_fresh_short_lived_timestamp() {
    let Some(f) = fixture("timestamp").await else {
        return;
    };
    let ncp = f.sim.foreign_ncp();
    let patient = pid("1-1234-W8");
    let before = chrono::Utc::now().trunc_subsecs(3);
    f.find_normal_patient(&f.gateway).await.expect("a match");
    f.gateway
        .list_documents(&ncp, &pharmacist(), &patient, DocumentClass::EPrescription)
        .await
        .expect("the list");
    let after = chrono::Utc::now();
    let calls = f.sim.calls();
    assert_eq!(calls.len(), 2);
    for c in &calls {
        let t = c.timestamp;
        assert!(before <= t.created && t.created <= after, "{t:?}");
        // Five minutes by default.
        assert_eq!(t.expires, Some(t.created + chrono::Duration::seconds(300)));
    }
    assert!(calls[0].timestamp.created <= calls[1].timestamp.created);

    let gateway = f.gateway_with(|cfg| cfg.timestamp_lifetime = Duration::from_secs(90));
    f.find_normal_patient(&gateway).await.expect("a match");
    let t = f.sim.calls().last().unwrap().timestamp;
    assert_eq!(t.expires, Some(t.created + chrono::Duration::seconds(90)));
}

#[tokio::test]
async fn a_peer_whose_clock_disagrees_refuses_the_timestamp_and_the_gateway_says_so() {
    let Some(f) = fixture("timestamp_refused").await else {
        return;
    };
    let ncp = f.sim.foreign_ncp();
    let patient = pid("1-1234-W8");
    let expired = |e: &GatewayError| {
        matches!(e, GatewayError::Refused { code, message }
            if code == "MessageExpired" && message.contains("expired") && message.contains("clock"))
    };

    // Ten minutes ahead: the five-minute Timestamp has expired by the peer's clock, for every
    // transaction.
    f.sim.set_clock_offset(chrono::Duration::minutes(10));
    let e = f.find_normal_patient(&f.gateway).await.unwrap_err();
    assert!(expired(&e), "{e:?}");
    assert_eq!(e.foreign_code(), Some("MessageExpired"));
    let e = f
        .gateway
        .list_documents(&ncp, &pharmacist(), &patient, DocumentClass::EPrescription)
        .await
        .unwrap_err();
    assert!(expired(&e), "{e:?}");
    let e = f
        .gateway
        .submit_dispensation(&ncp, &pharmacist(), &patient, &edispensation(false), false)
        .await
        .unwrap_err();
    assert!(expired(&e), "{e:?}");

    // Ten minutes behind: the Timestamp was created in the peer's future.
    f.sim.set_clock_offset(-chrono::Duration::minutes(10));
    let e = f.find_normal_patient(&f.gateway).await.unwrap_err();
    assert!(expired(&e), "{e:?}");
    assert!(f.sim.calls().is_empty(), "refused before the assertions");
    assert!(f.sim.received_dispensations().is_empty());

    // Two minutes ahead: within a five-minute lifetime, past a one-minute one.
    f.sim.set_clock_offset(chrono::Duration::minutes(2));
    f.find_normal_patient(&f.gateway)
        .await
        .expect("still valid");
    let short = f.gateway_with(|cfg| cfg.timestamp_lifetime = Duration::from_secs(60));
    let e = f.find_normal_patient(&short).await.unwrap_err();
    assert!(expired(&e), "{e:?}");
    assert_eq!(f.sim.calls().len(), 1);
}
