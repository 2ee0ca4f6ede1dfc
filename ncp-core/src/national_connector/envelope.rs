//! The assertions of a national connector call, as the SOAP envelope the security layer reads.
//!
//! OpenNCP hands its national connector the HCP identity and TRC assertions it received, each
//! a signed `saml2:Assertion` element on its own. [`assertions_envelope`] puts them, unchanged,
//! in the `wsse:Security` header of a minimal SOAP 1.2 envelope so that
//! [`crate::security::verify_assertions`] applies every one of its checks (signature against
//! the trust list, validity, audience, role, permissions, TRC-to-HCP binding) exactly as for a
//! SOAP request. Each piece must be exactly one well-formed `saml2:Assertion` element with its
//! namespaces declared on it (what a DOM serialisation of the element gives): nothing can be
//! smuggled around it into the envelope.

use crate::security::{AssertionKind, SecurityError};

const SAML_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// A SOAP 1.2 envelope whose `wsse:Security` header holds the HCP assertion `hcp` and, when
/// not empty, the TRC assertion `trc`. Refuses (`4702`) an empty HCP assertion and anything
/// that is not a single self-contained `saml2:Assertion` element.
pub fn assertions_envelope(hcp: &[u8], trc: &[u8]) -> Result<Vec<u8>, SecurityError> {
    let hcp = assertion_element(hcp, AssertionKind::Hcp)?
        .ok_or(SecurityError::MissingAssertion(AssertionKind::Hcp))?;
    let trc = assertion_element(trc, AssertionKind::Trc)?;
    let mut out = String::with_capacity(hcp.len() + trc.map_or(0, str::len) + 400);
    out.push_str(concat!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">"#,
        r#"<s:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">"#
    ));
    out.push_str(hcp);
    if let Some(trc) = trc {
        out.push_str(trc);
    }
    out.push_str("</wsse:Security></s:Header><s:Body/></s:Envelope>");
    Ok(out.into_bytes())
}

/// The assertion's element text (without BOM, XML declaration or surrounding whitespace);
/// `None` when empty.
fn assertion_element(bytes: &[u8], kind: AssertionKind) -> Result<Option<&str>, SecurityError> {
    let invalid = |reason| SecurityError::InvalidAssertion { kind, reason };
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("not UTF-8 XML"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).trim();
    let text = match text.strip_prefix("<?xml") {
        Some(rest) => rest
            .find("?>")
            .map(|end| rest[end + 2..].trim_start())
            .ok_or(invalid("not well-formed XML"))?,
        None => text,
    };
    if text.is_empty() {
        return Ok(None);
    }
    // roxmltree refuses a DOCTYPE by default: no entities can expand inside the envelope.
    let doc = roxmltree::Document::parse(text).map_err(|_| invalid("not well-formed XML"))?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(SAML_NS) || root.tag_name().name() != "Assertion" {
        return Err(invalid("not a saml2:Assertion element"));
    }
    if root.range() != (0..text.len()) {
        return Err(invalid("more than the saml2:Assertion element"));
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str =
        r#"<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a"/>"#;

    #[test]
    fn wraps_the_assertions_unchanged() {
        let trc = format!("<?xml version=\"1.0\"?>\n{A}\n");
        let env = assertions_envelope(A.as_bytes(), trc.as_bytes()).unwrap();
        let env = String::from_utf8(env).unwrap();
        assert_eq!(env.matches(A).count(), 2);
        let doc = roxmltree::Document::parse(&env).unwrap();
        let security = doc
            .descendants()
            .find(|n| n.has_tag_name("Security"))
            .unwrap();
        assert_eq!(security.children().filter(|n| n.is_element()).count(), 2);
    }

    #[test]
    fn refuses_what_is_not_one_assertion() {
        let code = |hcp: &str, trc: &str| {
            assertions_envelope(hcp.as_bytes(), trc.as_bytes())
                .unwrap_err()
                .ehdsi_code()
        };
        assert_eq!(code("", ""), "4702");
        assert_eq!(code("  ", A), "4702");
        assert_eq!(code("<a/>", ""), "4702");
        assert_eq!(code(&format!("{A}{A}"), ""), "4702");
        assert_eq!(code(&format!("{A}<!-- -->"), ""), "4702");
        assert_eq!(code(&format!("{A}</wsse:Security>"), ""), "4702");
        assert_eq!(code(r#"<Assertion ID="_a"/>"#, ""), "4702");
        assert_eq!(
            code(&format!("<!DOCTYPE x [<!ENTITY e 'x'>]>{A}"), ""),
            "4702"
        );
        assert_eq!(code("<?xml version='1.0'", ""), "4702");
        assert_eq!(code(A, "<saml2:Assertion"), "4702");
        assert!(assertions_envelope(&[0xff, 0xfe], b"").is_err());
    }
}
