//! The SAML assertion verifier (libxml2 parse, wsse:Security lookup, XML-DSig with libxmlsec1,
//! then the eHDSI claims and the policy), against a trust list that pins one certificate
//! generated at start-up with rcgen.
//!
//! Each input is used twice:
//! 1. as a whole SOAP envelope: the fuzzer cannot hold the pinned key, so every input must be
//!    refused (none may crash or be accepted);
//! 2. as the text of an HCP assertion, optionally followed by `<!--TRC-->` and a TRC assertion
//!    (the templates of `ncp-core/tests/fixtures/saml`, whose `${ID}`, `${HCP_ID}`, `${NOW}`,
//!    `${END}` and `${PATIENT}` are filled in here): the target signs them with the pinned key
//!    and verifies the envelope, so the claim readers and the policy see hostile assertions
//!    behind a valid signature (what a trusted but careless country could send).
#![no_main]

use std::sync::OnceLock;

use chrono::{Duration, SecondsFormat, Utc};
use libfuzzer_sys::fuzz_target;
use ncp_core::security::{
    sign_assertion, verify_assertions, AssertionPolicy, SigningKey, SigningTrust, Transaction,
};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, KeyUsagePurpose};

struct Pki {
    key: SigningKey,
    trust: SigningTrust,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "fuzz NCP signer");
        dn.push(DnType::CountryName, "EE");
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let mut trust = SigningTrust::new();
        trust.add_pinned_pem(cert.pem().as_bytes()).unwrap();
        let key =
            SigningKey::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();
        Pki { key, trust }
    })
}

const HCP_ID: &str = "_8a1c6a3e-5b0f-4c1e-9a57-3f1f0d2b7c11";

fn fill(template: &str, id: &str) -> String {
    let now = Utc::now();
    let t = |d: chrono::DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Millis, true);
    template
        .replace("${ID}", id)
        .replace("${HCP_ID}", HCP_ID)
        .replace("${NOW}", &t(now - Duration::minutes(1)))
        .replace("${END}", &t(now + Duration::minutes(60)))
        .replace(
            "${PATIENT}",
            "38201234567^^^&amp;1.3.6.1.4.1.48336.1.1&amp;ISO",
        )
}

fn envelope(assertions: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing">"#,
            r#"<soap:Header><wsa:Action soap:mustUnderstand="1">urn:ihe:iti:2007:CrossGatewayQuery</wsa:Action>"#,
            r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">{}</wsse:Security>"#,
            r#"</soap:Header><soap:Body><query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"/></soap:Body></soap:Envelope>"#
        ),
        assertions
    )
}

fuzz_target!(|data: &[u8]| {
    let pki = pki();
    let policy = AssertionPolicy::default();
    let now = Utc::now();
    let r = verify_assertions(
        data,
        &pki.trust,
        &policy,
        now,
        Transaction::FindPrescriptions,
    );
    assert!(r.is_err(), "an envelope the fuzzer wrote was accepted");

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (hcp, trc) = match text.split_once("<!--TRC-->") {
        Some((h, t)) => (h, Some(t)),
        None => (text, None),
    };
    let Ok(hcp) = sign_assertion(&fill(hcp, HCP_ID), &pki.key) else {
        return;
    };
    let mut signed = hcp.xml.clone();
    let mut needs = Transaction::IdentifyPatient;
    if let Some(trc) = trc {
        match sign_assertion(&fill(trc, "_trc-fuzz"), &pki.key) {
            Ok(t) => {
                signed.push_str(&t.xml);
                needs = Transaction::FindPrescriptions;
            }
            Err(_) => return,
        }
    }
    let r = verify_assertions(
        envelope(&signed).as_bytes(),
        &pki.trust,
        &policy,
        now,
        needs,
    );
    // `SAML_FUZZ_SHOW=1 saml_verify FILE` shows how far a (seed) input gets.
    if std::env::var_os("SAML_FUZZ_SHOW").is_some() {
        eprintln!("signed {needs:?}: {:?}", r.map(|c| c.country));
    }
});
