//! SOAP 1.2 for the initiating side: the request envelope (WS-Addressing headers and the
//! `wsse:Security` header carrying the `wsu:Timestamp` and the signed assertions) out, the
//! foreign NCP's reply (plain or MTOM, a response body or a SOAP fault) in.
//!
//! The headers are those OpenNCP's initiating gateway sends (its XCA client writes all of them
//! itself): `wsa:Action` and `wsa:To` with `mustUnderstand`, `wsa:MessageID` (`urn:uuid:`),
//! `wsa:ReplyTo` anonymous (ITI TF-2 Appendix V: synchronous answers), and `wsse:Security`
//! *without* `mustUnderstand`: every NCP reads the assertions anyway, and a stack that has no
//! WS-Security module engaged would otherwise answer `env:MustUnderstand` before looking at them.

use crate::soap::addressing::{WSA_ANONYMOUS, WSA_NS};
use crate::soap::fault::WSSE_NS;
use crate::soap::mtom::{self, Attachment, HttpPayload};
use crate::soap::xml::{self, child, children, text_of, Limits, XmlWriter};
use crate::soap::{SOAP12_CONTENT_TYPE, SOAP12_NS};

use super::timestamp::Timestamp;

/// A request ready to be sent: the addressing headers, the assertions and the body.
pub struct OutgoingRequest<'a> {
    pub action: &'a str,
    /// `urn:uuid:...`
    pub message_id: &'a str,
    /// The endpoint address (`wsa:To`).
    pub to: &'a str,
    /// The `wsu:Timestamp`, first in `wsse:Security`.
    pub timestamp: Timestamp,
    /// Signed `saml2:Assertion` elements, in order (HCP identity first, then TRC).
    pub assertions: &'a [&'a str],
    /// The body element, standalone XML.
    pub body: &'a [u8],
    /// Binary parts the body's `xop:Include` elements name; the request goes as MTOM when there
    /// are any.
    pub attachments: &'a [Attachment],
}

/// The SOAP 1.2 envelope of `req`.
pub fn write_request_envelope(req: &OutgoingRequest<'_>) -> Vec<u8> {
    let mut w = XmlWriter::new();
    w.raw(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    w.open(
        "env:Envelope",
        &[("xmlns:env", SOAP12_NS), ("xmlns:wsa", WSA_NS)],
    );
    w.open("env:Header", &[]);
    w.leaf("wsa:Action", &[("env:mustUnderstand", "true")], req.action);
    w.leaf("wsa:MessageID", &[], req.message_id);
    w.open("wsa:ReplyTo", &[]);
    w.leaf("wsa:Address", &[], WSA_ANONYMOUS);
    w.close();
    w.leaf("wsa:To", &[("env:mustUnderstand", "true")], req.to);
    w.open("wsse:Security", &[("xmlns:wsse", WSSE_NS)]);
    // The Timestamp's id only has to be unique in the message; the MessageID's UUID is.
    let ts_id: String = "TS-"
        .chars()
        .chain(
            req.message_id
                .strip_prefix("urn:uuid:")
                .unwrap_or(req.message_id)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-'),
        )
        .collect();
    req.timestamp.write(&mut w, &ts_id);
    for a in req.assertions {
        w.raw(a);
    }
    w.close();
    w.close();
    w.open("env:Body", &[]);
    w.raw(&String::from_utf8_lossy(req.body));
    w.finish()
}

/// The HTTP payload of `req`: plain `application/soap+xml`, or MTOM with attachments.
pub fn request_payload(req: &OutgoingRequest<'_>) -> HttpPayload {
    let envelope = write_request_envelope(req);
    if req.attachments.is_empty() {
        HttpPayload {
            content_type: format!(
                "{SOAP12_CONTENT_TYPE}; action=\"{}\"",
                req.action.replace('"', "")
            ),
            body: envelope,
        }
    } else {
        mtom::write(&envelope, req.action, req.attachments, req.message_id)
    }
}

/// A SOAP 1.2 fault from a foreign NCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFault {
    /// `env:Code/env:Value` (`env:Sender`, `env:Receiver`, ...), local part.
    pub code: String,
    /// The innermost `env:Subcode/env:Value`, local part.
    pub subcode: Option<String>,
    pub reason: String,
    /// An eHDSI or MyHealth@EU error code found in `env:Detail`, if any.
    pub detail_code: Option<String>,
}

/// A reply taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Body {
        /// `wsa:Action`, when given.
        action: Option<String>,
        /// `wsa:RelatesTo`, when given.
        relates_to: Option<String>,
        /// The first element of `env:Body`, standalone.
        body: Vec<u8>,
        /// The MTOM parts, when the reply was MTOM.
        attachments: Vec<Attachment>,
    },
    Fault(ReceivedFault),
}

/// Why a reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("the reply is not a SOAP 1.2 message: {0}")]
    NotSoap(String),
}

/// Reads an HTTP reply (any status) as a SOAP 1.2 message.
pub fn parse_reply(content_type: &str, body: &[u8], limits: &Limits) -> Result<Reply, ReplyError> {
    let bad = |e: String| ReplyError::NotSoap(e);
    let (envelope, attachments) = if mtom::is_multipart(content_type) {
        let m = mtom::split(content_type, body, limits).map_err(|e| bad(e.to_string()))?;
        (m.root, m.attachments)
    } else {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/soap+xml" && essence != "text/xml" {
            return Err(bad(format!("Content-Type {essence:?}")));
        }
        (body.to_vec(), Vec::new())
    };
    let doc = xml::parse(&envelope, limits).map_err(|e| bad(e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name((SOAP12_NS, "Envelope")) {
        return Err(bad("no SOAP 1.2 Envelope".into()));
    }
    let header = child(root, SOAP12_NS, "Header");
    let wsa = |local: &str| {
        header
            .and_then(|h| child(h, WSA_NS, local))
            .map(text_of)
            .filter(|s| !s.is_empty())
    };
    let first = child(root, SOAP12_NS, "Body")
        .and_then(|b| b.children().find(|c| c.is_element()))
        .ok_or_else(|| bad("empty SOAP Body".into()))?;
    if first.has_tag_name((SOAP12_NS, "Fault")) {
        return Ok(Reply::Fault(read_fault(first)));
    }
    Ok(Reply::Body {
        action: wsa("Action"),
        relates_to: wsa("RelatesTo"),
        body: xml::element_bytes(first),
        attachments,
    })
}

fn read_fault(fault: roxmltree::Node<'_, '_>) -> ReceivedFault {
    let local = |v: String| match v.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => v,
    };
    let code_el = child(fault, SOAP12_NS, "Code");
    let code = code_el
        .and_then(|c| child(c, SOAP12_NS, "Value"))
        .map(text_of)
        .map(local)
        .unwrap_or_default();
    let mut subcode = None;
    let mut at = code_el;
    while let Some(sc) = at.and_then(|c| child(c, SOAP12_NS, "Subcode")) {
        subcode = child(sc, SOAP12_NS, "Value").map(text_of).map(local);
        at = Some(sc);
    }
    let reason = child(fault, SOAP12_NS, "Reason")
        .map(|r| {
            children(r, SOAP12_NS, "Text")
                .map(text_of)
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .unwrap_or_default();
    // eHDSI implementations put the code in Detail in various shapes: an element whose text is
    // the code (`ErrorCode`, `errorCode`), or an attribute `errorCode`/`code`.
    let detail_code = child(fault, SOAP12_NS, "Detail").and_then(|d| {
        d.descendants().filter(|n| n.is_element()).find_map(|n| {
            n.attribute("errorCode")
                .or_else(|| n.attribute("code"))
                .map(str::to_owned)
                .or_else(|| {
                    let name = n.tag_name().name().to_ascii_lowercase();
                    (name == "errorcode" || name == "code")
                        .then(|| text_of(n))
                        .filter(|t| !t.is_empty())
                })
        })
    });
    ReceivedFault {
        code,
        subcode,
        reason,
        detail_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::country_b::foreign_gateway::timestamp::{xsd_date_time, WSU_NS};
    use crate::ihe::errors::EhdsiError;
    use crate::soap::{Fault, ResponseHeaders};

    #[test]
    fn a_request_parses_as_the_responding_side_reads_it() {
        let body = br#"<x:Q xmlns:x="urn:x">1</x:Q>"#;
        let req = OutgoingRequest {
            action: "urn:ihe:iti:2007:CrossGatewayQuery",
            message_id: "urn:uuid:0b7e5e1c-3c1e-4f0e-9d6b-2a3f4c5d6e7f",
            to: "https://ncp.example/xca",
            timestamp: Timestamp::now(
                crate::country_b::foreign_gateway::timestamp::DEFAULT_LIFETIME,
            ),
            assertions: &[],
            body,
            attachments: &[],
        };
        let p = request_payload(&req);
        let parsed = crate::soap::parse_request(&p.content_type, &p.body, &Limits::default())
            .expect("parses");
        assert_eq!(parsed.addressing.action, req.action);
        assert_eq!(
            parsed.addressing.message_id.as_deref(),
            Some(req.message_id)
        );
        assert_eq!(parsed.body_name.1, "Q");

        // The headers as OpenNCP writes them, the Timestamp first in the security header.
        let doc = roxmltree::Document::parse(std::str::from_utf8(&p.body).unwrap()).unwrap();
        let header = child(doc.root_element(), SOAP12_NS, "Header").unwrap();
        let must = |local: &'static str, ns: &'static str| {
            child(header, ns, local)
                .unwrap_or_else(|| panic!("no {local}"))
                .attribute((SOAP12_NS, "mustUnderstand"))
                .map(str::to_owned)
        };
        assert_eq!(must("Action", WSA_NS).as_deref(), Some("true"));
        assert_eq!(must("To", WSA_NS).as_deref(), Some("true"));
        assert_eq!(must("MessageID", WSA_NS), None);
        assert_eq!(must("Security", WSSE_NS), None);
        let reply_to = child(header, WSA_NS, "ReplyTo").unwrap();
        assert_eq!(
            child(reply_to, WSA_NS, "Address").map(text_of).as_deref(),
            Some(WSA_ANONYMOUS)
        );
        let security = child(header, WSSE_NS, "Security").unwrap();
        let first = security.children().find(|n| n.is_element()).unwrap();
        assert!(first.has_tag_name((WSU_NS, "Timestamp")));
        assert_eq!(
            first.attribute((WSU_NS, "Id")),
            Some("TS-0b7e5e1c-3c1e-4f0e-9d6b-2a3f4c5d6e7f")
        );
        assert_eq!(
            child(first, WSU_NS, "Created").map(text_of),
            Some(xsd_date_time(req.timestamp.created))
        );
        assert_eq!(
            child(first, WSU_NS, "Expires").map(text_of),
            Some(xsd_date_time(req.timestamp.expires))
        );
    }

    #[test]
    fn reads_the_faults_this_bridge_writes() {
        let headers = ResponseHeaders {
            action: String::new(),
            message_id: "urn:uuid:1".into(),
            relates_to: Some("urn:uuid:2".into()),
        };
        let f = Fault::sender("no consent")
            .with_subcode(crate::soap::fault::QName::wsse("FailedAuthentication"))
            .with_ehdsi(EhdsiError::NoConsent);
        let p = f.to_http(&headers);
        let Reply::Fault(r) = parse_reply(&p.content_type, &p.body, &Limits::default()).unwrap()
        else {
            panic!("not a fault");
        };
        assert_eq!(r.code, "Sender");
        assert_eq!(r.subcode.as_deref(), Some("FailedAuthentication"));
        assert_eq!(r.reason, "no consent");
        assert_eq!(r.detail_code.as_deref(), Some("4701"));
    }

    #[test]
    fn refuses_what_is_not_soap() {
        assert!(parse_reply("text/html", b"<html/>", &Limits::default()).is_err());
        assert!(parse_reply("application/soap+xml", b"<a/>", &Limits::default()).is_err());
        assert!(parse_reply("application/soap+xml", b"<<", &Limits::default()).is_err());
    }

    #[test]
    fn hostile_replies_are_errors_not_panics() {
        let limits = Limits::default();
        let doctype = br#"<!DOCTYPE e [<!ENTITY x "xx">]><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><a>&x;</a></env:Body></env:Envelope>"#;
        assert!(parse_reply("application/soap+xml", doctype, &limits).is_err());
        let deep = format!(
            "<env:Envelope xmlns:env=\"{SOAP12_NS}\"><env:Body>{}{}</env:Body></env:Envelope>",
            "<a>".repeat(10_000),
            "</a>".repeat(10_000)
        );
        assert!(parse_reply("application/soap+xml", deep.as_bytes(), &limits).is_err());
        let big = vec![b' '; limits.max_bytes + 1];
        assert!(parse_reply("application/soap+xml", &big, &limits).is_err());
        assert!(parse_reply("multipart/related; boundary=x", b"--x\r\n", &limits).is_err());
        let empty = format!("<env:Envelope xmlns:env=\"{SOAP12_NS}\"><env:Body/></env:Envelope>");
        assert!(parse_reply("application/soap+xml", empty.as_bytes(), &limits).is_err());
    }
}
