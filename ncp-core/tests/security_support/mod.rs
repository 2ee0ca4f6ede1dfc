//! Test PKI, claims and SOAP envelopes for the security tests. Keys are generated per run with
//! rcgen (and `openssl genpkey` for RSA); nothing here is a real credential.
#![allow(dead_code)]

use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use ncp_core::security::{
    issue_hcp_assertion, issue_trc_assertion, AssertionOptions, FacilityType, HcpClaims, HcpRole,
    PatientRef, Permission, PurposeOfUse, SignedAssertion, SigningKey, SigningTrust, TrcClaims,
};
use ncp_types::Oid;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

pub struct Signer {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key_pem: String,
    pub key: SigningKey,
}

pub struct TestPki {
    pub ca_pem: String,
    /// Estonia's NCP signing certificate, ECDSA P-256, pinned in the trust list.
    pub ee: Signer,
    /// Spain's NCP signing certificate, RSA 2048, trusted through the CA only.
    pub es_rsa: Option<Signer>,
    /// A certificate for "EE" from a CA nobody trusts.
    pub stranger: Signer,
}

fn dn(cn: &str, country: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::CountryName, country);
    dn
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn(name, "EU");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

fn leaf(issuer: &Issuer<'_, KeyPair>, cn: &str, country: &str, key: KeyPair) -> Signer {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn(cn, country);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    let cert = params.signed_by(&key, issuer).unwrap();
    let key_pem = key.serialize_pem();
    let signing = SigningKey::from_pem(cert.pem().as_bytes(), key_pem.as_bytes()).unwrap();
    Signer {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem,
        key: signing,
    }
}

/// A 2048-bit RSA key from the openssl command line (ring cannot generate RSA keys).
fn rsa_key() -> Option<KeyPair> {
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    KeyPair::from_pem(std::str::from_utf8(&out.stdout).ok()?).ok()
}

impl TestPki {
    pub fn new() -> TestPki {
        let (ca_params, ca_key, ca_pem) = ca("Test eHDSI signing CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let ee = leaf(&issuer, "ncp-ee.test", "EE", KeyPair::generate().unwrap());
        let es_rsa = rsa_key().map(|k| leaf(&issuer, "ncp-es.test", "ES", k));
        let (s_params, s_key, _) = ca("Untrusted CA");
        let stranger_issuer = Issuer::new(s_params, s_key);
        let stranger = leaf(
            &stranger_issuer,
            "ncp-ee.test",
            "EE",
            KeyPair::generate().unwrap(),
        );
        TestPki {
            ca_pem,
            ee,
            es_rsa,
            stranger,
        }
    }

    /// EE pinned, and the CA trusted (so ES, issued by it, is accepted by chain).
    pub fn trust(&self) -> SigningTrust {
        let mut trust = SigningTrust::new();
        trust.add_pinned_pem(self.ee.cert_pem.as_bytes()).unwrap();
        trust.add_ca_pem(self.ca_pem.as_bytes()).unwrap();
        trust
    }

    /// EE pinned only.
    pub fn pinned_only(&self) -> SigningTrust {
        let mut trust = SigningTrust::new();
        trust.add_pinned_pem(self.ee.cert_pem.as_bytes()).unwrap();
        trust
    }
}

pub fn patient() -> PatientRef {
    PatientRef::new(Oid::parse("1.3.6.1.4.1.48336.1.1").unwrap(), "38201234567")
}

pub fn hcp_claims() -> HcpClaims {
    HcpClaims {
        subject_id: "pharmacist@apteek.test".into(),
        name: "Test Pharmacist".into(),
        role: HcpRole::PHARMACIST,
        organisation: "Test Apteek".into(),
        organisation_id: "urn:oid:1.3.6.1.4.1.48336.2.9".into(),
        facility_type: FacilityType::Pharmacy,
        purpose_of_use: PurposeOfUse::Treatment,
        permissions: Permission::ALL.into_iter().collect(),
        locality: Some("Tallinn".into()),
    }
}

pub fn trc_claims(hcp_id: &str, patient: PatientRef) -> TrcClaims {
    TrcClaims {
        subject_id: hcp_claims().subject_id,
        patient,
        purpose_of_use: PurposeOfUse::Treatment,
        hcp_assertion_ref: hcp_id.to_owned(),
    }
}

pub fn options(issuer: &str, at: DateTime<Utc>, minutes: i64) -> AssertionOptions {
    AssertionOptions {
        issuer: issuer.into(),
        audience: ncp_core::security::EHDSI_AUDIENCE.into(),
        issue_instant: at,
        lifetime: Duration::minutes(minutes),
        id: None,
    }
}

pub fn hcp(signer: &Signer, claims: &HcpClaims, at: DateTime<Utc>) -> SignedAssertion {
    issue_hcp_assertion(
        claims,
        &options("urn:idp:EE:countryB", at, 120),
        &signer.key,
    )
    .unwrap()
}

pub fn trc(signer: &Signer, hcp_id: &str, at: DateTime<Utc>) -> SignedAssertion {
    issue_trc_assertion(
        &trc_claims(hcp_id, patient()),
        &options("urn:ncp:EE:countryB", at, 60),
        &signer.key,
    )
    .unwrap()
}

/// A SOAP 1.2 XCA query envelope with the given assertions in wsse:Security.
pub fn envelope(assertions: &[&str]) -> String {
    envelope_with(assertions, "")
}

/// As [`envelope`], with extra content in the body (for wrapping attacks).
pub fn envelope_with(assertions: &[&str], extra_body: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing">"#,
            r#"<soap:Header><wsa:Action soap:mustUnderstand="1">urn:ihe:iti:2007:CrossGatewayQuery</wsa:Action>"#,
            r#"<wsa:MessageID>urn:uuid:7d3c2b1a-0000-4000-8000-000000000001</wsa:MessageID>"#,
            r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">{}</wsse:Security>"#,
            r#"</soap:Header><soap:Body><query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"/>{}</soap:Body></soap:Envelope>"#
        ),
        assertions.concat(),
        extra_body
    )
}
