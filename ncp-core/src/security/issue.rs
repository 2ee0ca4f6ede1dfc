//! The issuer side: eHDSI HCP identity and TRC assertions built from claims and signed with our
//! key (for when Sweden is Country B, and for tests).

use chrono::{DateTime, SecondsFormat, Utc};
use libxml::parser::Parser;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::assertion::PurposeOfUse;
use super::assertion::{
    children, HcpClaims, TrcClaims, ATTR_FACILITY_TYPE, ATTR_LOCALITY, ATTR_ORGANISATION,
    ATTR_ORGANISATION_ID, ATTR_PERMISSION, ATTR_PURPOSE_OF_USE, ATTR_RESOURCE_ID, ATTR_ROLE,
    ATTR_SUBJECT_ID, HCP_QUALIFIER, ISCO_CODE_SYSTEM, PURPOSE_OF_USE_CODE_SYSTEM, SAML_NS,
    TRC_QUALIFIER,
};
use super::xmldsig::{self, KeyAlgorithm, SignError};

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

/// Why an assertion could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("no readable certificate")]
    Certificate,
    #[error("the key is neither RSA nor ECDSA P-256")]
    UnsupportedKey,
    #[error("the assertion XML cannot be built")]
    Build,
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// Our signing key and its certificate.
#[derive(Clone)]
pub struct SigningKey {
    key_pem: Vec<u8>,
    cert_der: Vec<u8>,
    alg: KeyAlgorithm,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// From a PEM certificate and its PEM private key (PKCS#8, or traditional RSA/EC). The
    /// algorithm (RSA-SHA256 or ECDSA-SHA256) follows the certificate's key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, IssueError> {
        let cert = CertificateDer::from_pem_slice(cert_pem).map_err(|_| IssueError::Certificate)?;
        let (_, parsed) = X509Certificate::from_der(&cert).map_err(|_| IssueError::Certificate)?;
        let spki = &parsed.tbs_certificate.subject_pki.algorithm;
        let alg = match spki.algorithm.to_id_string().as_str() {
            OID_RSA => KeyAlgorithm::RsaSha256,
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                if curve.as_deref() != Some(OID_P256) {
                    return Err(IssueError::UnsupportedKey);
                }
                KeyAlgorithm::EcdsaP256Sha256
            }
            _ => return Err(IssueError::UnsupportedKey),
        };
        Ok(SigningKey {
            key_pem: key_pem.to_vec(),
            cert_der: cert.to_vec(),
            alg,
        })
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The DER certificate (to put in a partner's trust list).
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }
}

/// Issuer, audience, time and ID of an assertion to issue.
#[derive(Debug, Clone)]
pub struct AssertionOptions {
    /// `saml2:Issuer` (e.g. `urn:idp:SE:countryB`).
    pub issuer: String,
    pub audience: String,
    pub issue_instant: DateTime<Utc>,
    pub lifetime: chrono::Duration,
    /// The assertion `ID`; a fresh `_<uuid>` when `None`.
    pub id: Option<String>,
}

impl AssertionOptions {
    /// The eHDSI audience, now, with the given lifetime.
    pub fn new(issuer: impl Into<String>, lifetime: chrono::Duration) -> Self {
        AssertionOptions {
            issuer: issuer.into(),
            audience: super::assertion::EHDSI_AUDIENCE.to_owned(),
            issue_instant: Utc::now(),
            lifetime,
            id: None,
        }
    }
}

/// A signed assertion: its ID and its XML (a `saml2:Assertion` element, no XML declaration),
/// ready to be put in a `wsse:Security` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAssertion {
    pub id: String,
    pub xml: String,
}

/// Builds and signs an HCP identity assertion.
pub fn issue_hcp_assertion(
    claims: &HcpClaims,
    options: &AssertionOptions,
    key: &SigningKey,
) -> Result<SignedAssertion, IssueError> {
    let unsigned = unsigned_hcp_assertion(claims, options);
    sign(unsigned, key)
}

/// Builds and signs a TRC assertion.
pub fn issue_trc_assertion(
    claims: &TrcClaims,
    options: &AssertionOptions,
    key: &SigningKey,
) -> Result<SignedAssertion, IssueError> {
    let unsigned = unsigned_trc_assertion(claims, options);
    sign(unsigned, key)
}

/// The HCP identity assertion, not yet signed (`xml` has no `ds:Signature`).
pub fn unsigned_hcp_assertion(claims: &HcpClaims, options: &AssertionOptions) -> SignedAssertion {
    let mut attrs = String::new();
    text_attribute(&mut attrs, "XSPA Subject", ATTR_SUBJECT_ID, &[&claims.name]);
    attrs.push_str(&format!(
        r#"<saml2:Attribute FriendlyName="XSPA Role" Name="{ATTR_ROLE}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml2:AttributeValue><Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="{}" codeSystem="{ISCO_CODE_SYSTEM}" codeSystemName="ISCO" displayName="{}"/></saml2:AttributeValue></saml2:Attribute>"#,
        esc(claims.role.code()),
        esc(claims.role.display_name())
    ));
    text_attribute(
        &mut attrs,
        "XSPA Organization",
        ATTR_ORGANISATION,
        &[&claims.organisation],
    );
    text_attribute(
        &mut attrs,
        "XSPA Organization ID",
        ATTR_ORGANISATION_ID,
        &[&claims.organisation_id],
    );
    text_attribute(
        &mut attrs,
        "eHealth DSI Healthcare Facility Type",
        ATTR_FACILITY_TYPE,
        &[claims.facility_type.as_str()],
    );
    purpose_attribute(&mut attrs, claims.purpose_of_use);
    if let Some(locality) = &claims.locality {
        text_attribute(&mut attrs, "XSPA Locality", ATTR_LOCALITY, &[locality]);
    }
    let permissions: Vec<String> = claims.permissions.iter().map(|p| p.urn()).collect();
    let permissions: Vec<&str> = permissions.iter().map(String::as_str).collect();
    if !permissions.is_empty() {
        text_attribute(&mut attrs, "Hl7 Permissions", ATTR_PERMISSION, &permissions);
    }
    build(
        options,
        HCP_QUALIFIER,
        &claims.subject_id,
        "",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:X509",
        &attrs,
    )
}

/// The TRC assertion, not yet signed.
pub fn unsigned_trc_assertion(claims: &TrcClaims, options: &AssertionOptions) -> SignedAssertion {
    let mut attrs = String::new();
    text_attribute(
        &mut attrs,
        "XACML Resource Id",
        ATTR_RESOURCE_ID,
        &[&claims.patient.to_cx()],
    );
    purpose_attribute(&mut attrs, claims.purpose_of_use);
    let advice = format!(
        "<saml2:Advice><saml2:AssertionIDRef>{}</saml2:AssertionIDRef></saml2:Advice>",
        esc(&claims.hcp_assertion_ref)
    );
    build(
        options,
        TRC_QUALIFIER,
        &claims.subject_id,
        &advice,
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PreviousSession",
        &attrs,
    )
}

fn build(
    options: &AssertionOptions,
    qualifier: &str,
    subject: &str,
    advice: &str,
    authn_class: &str,
    attributes: &str,
) -> SignedAssertion {
    let id = options
        .id
        .clone()
        .unwrap_or_else(|| format!("_{}", uuid::Uuid::new_v4()));
    let t = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Millis, true);
    let issued = options.issue_instant;
    let xml = format!(
        concat!(
            r#"<saml2:Assertion xmlns:saml2="{saml}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" ID="{id}" IssueInstant="{issued}" Version="2.0">"#,
            r#"<saml2:Issuer NameQualifier="{qualifier}">{issuer}</saml2:Issuer>"#,
            r#"<saml2:Subject><saml2:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{subject}</saml2:NameID>"#,
            r#"<saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:sender-vouches"/></saml2:Subject>"#,
            r#"<saml2:Conditions NotBefore="{issued}" NotOnOrAfter="{until}"><saml2:AudienceRestriction><saml2:Audience>{audience}</saml2:Audience></saml2:AudienceRestriction></saml2:Conditions>"#,
            "{advice}",
            r#"<saml2:AuthnStatement AuthnInstant="{issued}"><saml2:AuthnContext><saml2:AuthnContextClassRef>{authn}</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>"#,
            "<saml2:AttributeStatement>{attributes}</saml2:AttributeStatement></saml2:Assertion>"
        ),
        saml = SAML_NS,
        id = esc(&id),
        issued = t(issued),
        until = t(issued + options.lifetime),
        qualifier = qualifier,
        issuer = esc(&options.issuer),
        subject = esc(subject),
        audience = esc(&options.audience),
        advice = advice,
        authn = authn_class,
        attributes = attributes,
    );
    SignedAssertion { id, xml }
}

fn text_attribute(out: &mut String, friendly: &str, name: &str, values: &[&str]) {
    out.push_str(&format!(
        r#"<saml2:Attribute FriendlyName="{friendly}" Name="{name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">"#
    ));
    for v in values {
        out.push_str(&format!(
            r#"<saml2:AttributeValue xsi:type="xsd:string">{}</saml2:AttributeValue>"#,
            esc(v)
        ));
    }
    out.push_str("</saml2:Attribute>");
}

fn purpose_attribute(out: &mut String, purpose: PurposeOfUse) {
    out.push_str(&format!(
        r#"<saml2:Attribute FriendlyName="XSPA Purpose Of Use" Name="{ATTR_PURPOSE_OF_USE}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml2:AttributeValue><PurposeOfUse xmlns="urn:hl7-org:v3" xsi:type="CE" code="{code}" codeSystem="{PURPOSE_OF_USE_CODE_SYSTEM}" codeSystemName="eHDSI XSPA PurposeOfUse" displayName="{code}"/></saml2:AttributeValue></saml2:Attribute>"#,
        code = purpose.code()
    ));
}

/// XML-escapes text and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn sign(unsigned: SignedAssertion, key: &SigningKey) -> Result<SignedAssertion, IssueError> {
    sign_assertion(&unsigned.xml, key)
}

/// Signs a `saml2:Assertion` built elsewhere (it must have an `ID` and a `saml2:Issuer`, and no
/// signature yet): an enveloped signature after the Issuer, as [`issue_hcp_assertion`] does.
pub fn sign_assertion(xml: &str, key: &SigningKey) -> Result<SignedAssertion, IssueError> {
    let doc = Parser::default()
        .parse_string(xml.as_bytes())
        .map_err(|_| IssueError::Build)?;
    let root = doc.get_root_element().ok_or(IssueError::Build)?;
    if !super::assertion::is_element(&root, SAML_NS, "Assertion")
        || !children(&root, super::assertion::DSIG_NS, "Signature").is_empty()
    {
        return Err(IssueError::Build);
    }
    let id = root.get_attribute_no_ns("ID").ok_or(IssueError::Build)?;
    let issuer = children(&root, SAML_NS, "Issuer")
        .into_iter()
        .next()
        .ok_or(IssueError::Build)?;
    if !xmldsig::register_id(&doc, &root, &id) {
        return Err(IssueError::Build);
    }
    xmldsig::sign(&doc, &issuer, &id, &key.key_pem, &key.cert_der, key.alg)?;
    Ok(SignedAssertion {
        xml: doc.node_to_string(&root),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(esc("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
