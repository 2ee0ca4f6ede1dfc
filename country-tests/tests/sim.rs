//! The simulated foreign NCP on its own: the samples it serves, and that it refuses what a real
//! NCP refuses (an untrusted TLS client, a request without assertions, a demographics-only
//! patient discovery) in SOAP terms.

use std::time::Duration;

use country_tests::samples::{samples_or_skip, SampleClass, SampleDocument};
use country_tests::{standard_patients, ForeignNcpSim, ForeignNcpSimConfig, RunningForeignNcp};
use ncp_core::pki::TestPki;
use ncp_types::Oid;

const SAMPLES: [&str; 12] = [
    "epstore-1-1234-W8",
    "epstore-1-5678-W8",
    "epstore-1-9999",
    "epstore-1-BAD-MAPPING",
    "epstore-1-NO-PDF",
    "epstore-1-canesten-W7",
    "psstore-2-1234-W8",
    "psstore-2-5678-W8",
    "psstore-2-9999",
    "psstore-2-BAD-MAPPING",
    "psstore-2-NO-PDF",
    "epstore-X-XXXX",
];

#[test]
fn every_sample_loads_and_its_l1_carries_the_pdf() {
    let Some(dir) = samples_or_skip("samples") else {
        return;
    };
    for stem in SAMPLES {
        let s = SampleDocument::load(&dir, stem).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let expected = if stem.starts_with("ep") {
            SampleClass::EPrescription
        } else {
            SampleClass::PatientSummary
        };
        assert_eq!(s.class, expected, "{stem}");
        match (&s.pdf, s.l1()) {
            (Some(pdf), Some(l1)) => {
                let text = String::from_utf8(l1).unwrap();
                let doc = roxmltree::Document::parse(&text).expect("the L1 is well-formed");
                let b64: String = doc
                    .descendants()
                    .find(|n| n.has_tag_name(("urn:hl7-org:v3", "nonXMLBody")))
                    .and_then(|n| n.children().find(|c| c.is_element()))
                    .and_then(|t| t.text())
                    .expect("nonXMLBody/text")
                    .to_owned();
                use base64::Engine as _;
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .unwrap();
                assert_eq!(&decoded, pdf, "{stem}");
                assert!(
                    !text.contains("<structuredBody"),
                    "{stem}: the L1 has no structured body"
                );
            }
            (None, None) => assert!(stem.ends_with("NO-PDF"), "{stem} has no PDF"),
            (pdf, l1) => panic!("{stem}: pdf {:?} but l1 {:?}", pdf.is_some(), l1.is_some()),
        }
    }
    let s = SampleDocument::load(&dir, "epstore-1-1234-W8").unwrap();
    assert_eq!(s.patient.unwrap().extension, "1-1234-W8");
    assert_eq!(s.demographics.family, vec!["Schuman".to_owned()]);
}

async fn start(pki: &TestPki) -> Option<RunningForeignNcp> {
    let samples = samples_or_skip("sim")?;
    let patients = standard_patients(&samples, Duration::from_secs(1)).unwrap();
    let cfg = ForeignNcpSimConfig::from_test_pki(
        pki,
        0,
        Oid::parse("2.16.17.710.850.1000.990.1").unwrap(),
        &samples,
        patients,
    )
    .unwrap();
    Some(ForeignNcpSim::start(cfg).await.unwrap())
}

fn client(pki: &TestPki, cert: &std::path::Path, key: &std::path::Path) -> reqwest::Client {
    let mut pem = std::fs::read(cert).unwrap();
    pem.extend(std::fs::read(key).unwrap());
    reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&pki.ca_cert).unwrap()).unwrap(),
        )
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

const UNSIGNED_XCPD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing">
<env:Header><wsa:Action>urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery</wsa:Action><wsa:MessageID>urn:uuid:9d1a4c3e-1111-4222-8333-944455556666</wsa:MessageID></env:Header>
<env:Body><PRPA_IN201305UV02 xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0"><id root="9d1a4c3e-1111-4222-8333-944455556666"/><controlActProcess classCode="CACT" moodCode="EVN"><queryByParameter><queryId root="9d1a4c3e-1111-4222-8333-944455556667"/><parameterList><livingSubjectId><value root="2.16.17.710.850.1000.990.1.1000" extension="1-1234-W8"/></livingSubjectId></parameterList></queryByParameter></controlActProcess></PRPA_IN201305UV02></env:Body></env:Envelope>"#;

#[tokio::test]
async fn refuses_an_untrusted_client_and_an_unsigned_request() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::ensure(dir.path()).unwrap();
    let Some(sim) = start(&pki).await else {
        return;
    };

    let stranger = client(&pki, &pki.untrusted_cert, &pki.untrusted_key);
    let r = stranger
        .post(sim.xcpd_url())
        .header("Content-Type", "application/soap+xml")
        .body(UNSIGNED_XCPD)
        .send()
        .await;
    assert!(r.is_err(), "an untrusted client certificate is refused");

    let se = client(&pki, &pki.se_client_cert, &pki.se_client_key);
    let r = se
        .post(sim.xcpd_url())
        .header("Content-Type", "application/soap+xml")
        .body(UNSIGNED_XCPD)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("env:Fault"), "{body}");
    assert!(body.contains(">4702<") || body.contains(">1001<"), "{body}");
    assert!(sim.calls().is_empty());
}
