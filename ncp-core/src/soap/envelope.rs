//! SOAP 1.2 envelopes: requests in, responses out.

use super::addressing::{Addressing, Transaction, WSA_NS};
use super::fault::WSSE_NS;
use super::mtom::{self, Attachment, HttpPayload, XOP_NS};
use super::xml::{self, child, Limits, XmlWriter};
use super::{SoapError, SOAP11_NS, SOAP12_CONTENT_TYPE, SOAP12_NS};

/// Headers this gateway understands (or hands on to the security layer, which does).
const UNDERSTOOD_HEADER_NS: [&str; 3] = [
    WSA_NS,
    WSSE_NS,
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
];

/// A SOAP 1.2 request, taken apart.
#[derive(Clone, PartialEq, Eq)]
pub struct SoapRequest {
    pub addressing: Addressing,
    /// The envelope exactly as received (the MTOM root part), for the security layer: the SAML
    /// assertions and their signatures are checked against these bytes.
    pub envelope: Vec<u8>,
    /// The `env:Header` element, standalone (with its inherited namespaces).
    pub header: Option<Vec<u8>>,
    /// The first child of `env:Body`, standalone (with its inherited namespaces). Any
    /// `xop:Include` in it names one of [`SoapRequest::attachments`].
    pub body: Vec<u8>,
    /// The namespace and local name of the body element.
    pub body_name: (String, String),
    /// The binary MIME parts of an MTOM request.
    pub attachments: Vec<Attachment>,
    /// Whether the request came as MTOM (answer in kind).
    pub mtom: bool,
}

impl std::fmt::Debug for SoapRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body and the header carry patient data and assertions: lengths only.
        f.debug_struct("SoapRequest")
            .field("addressing", &self.addressing)
            .field("envelope_len", &self.envelope.len())
            .field("body_name", &self.body_name)
            .field("body_len", &self.body.len())
            .field("attachments", &self.attachments)
            .field("mtom", &self.mtom)
            .finish()
    }
}

impl SoapRequest {
    /// The IHE transaction the Action names, or [`SoapError::UnknownAction`].
    pub fn transaction(&self) -> Result<Transaction, SoapError> {
        Transaction::from_action(&self.addressing.action)
            .ok_or_else(|| SoapError::UnknownAction(self.addressing.action.clone()))
    }

    /// The attachment with this Content-ID.
    pub fn attachment(&self, content_id: &str) -> Option<&Attachment> {
        self.attachments.iter().find(|a| a.content_id == content_id)
    }
}

/// Parses an HTTP request body with its `Content-Type` into a [`SoapRequest`].
///
/// Accepts `application/soap+xml` and MTOM (`multipart/related; type="application/xop+xml"`).
/// Refuses SOAP 1.1, a DOCTYPE, anything over the limits, a missing `wsa:Action`, and
/// `xop:Include` references to parts that are not there.
pub fn parse_request(
    content_type: &str,
    body: &[u8],
    limits: &Limits,
) -> Result<SoapRequest, SoapError> {
    if body.len() > limits.max_bytes {
        return Err(SoapError::TooLarge {
            size: body.len(),
            limit: limits.max_bytes,
        });
    }
    let (envelope, attachments, mtom) = if mtom::is_multipart(content_type) {
        let m = mtom::split(content_type, body, limits)?;
        (m.root, m.attachments, true)
    } else {
        let ct: mime::Mime = content_type
            .parse()
            .map_err(|_| SoapError::BadContentType("unparsable Content-Type".into()))?;
        match ct.essence_str() {
            "application/soap+xml" => {}
            "text/xml" => return Err(SoapError::NotSoap12),
            _ => return Err(SoapError::BadContentType(ct.essence_str().to_owned())),
        }
        (body.to_vec(), Vec::new(), false)
    };

    let doc = xml::parse(&envelope, limits)?;
    let root = doc.root_element();
    if root.tag_name().name() == "Envelope" && root.tag_name().namespace() == Some(SOAP11_NS) {
        return Err(SoapError::NotSoap12);
    }
    if !root.has_tag_name((SOAP12_NS, "Envelope")) {
        return Err(SoapError::NotAnEnvelope);
    }
    let header = child(root, SOAP12_NS, "Header");
    let env_body = child(root, SOAP12_NS, "Body").ok_or(SoapError::MissingBody)?;
    let first = env_body
        .children()
        .find(|c| c.is_element())
        .ok_or(SoapError::EmptyBody)?;

    if let Some(h) = header {
        for block in h.children().filter(|c| c.is_element()) {
            let must = block
                .attribute((SOAP12_NS, "mustUnderstand"))
                .is_some_and(|v| v.trim() == "true" || v.trim() == "1");
            let ns = block.tag_name().namespace().unwrap_or("");
            if must && !UNDERSTOOD_HEADER_NS.contains(&ns) {
                return Err(SoapError::MustUnderstand(format!(
                    "{{{ns}}}{}",
                    block.tag_name().name()
                )));
            }
        }
    }
    let addressing = Addressing::from_header(header)?;

    for inc in first
        .descendants()
        .filter(|n| n.has_tag_name((XOP_NS, "Include")))
    {
        let cid = inc
            .attribute("href")
            .and_then(mtom::cid_from_href)
            .ok_or(SoapError::UnresolvedXop)?;
        if !attachments.iter().any(|a| a.content_id == cid) {
            return Err(SoapError::UnresolvedXop);
        }
    }

    let body_name = (
        first.tag_name().namespace().unwrap_or("").to_owned(),
        first.tag_name().name().to_owned(),
    );
    let header_bytes = header.map(xml::element_bytes);
    let body_bytes = xml::element_bytes(first);
    drop(doc);
    tracing::debug!(
        action = %addressing.action,
        mtom,
        parts = attachments.len(),
        "SOAP request parsed"
    );
    Ok(SoapRequest {
        addressing,
        envelope,
        header: header_bytes,
        body: body_bytes,
        body_name,
        attachments,
        mtom,
    })
}

/// The WS-Addressing headers of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeaders {
    pub action: String,
    /// `urn:uuid:...`
    pub message_id: String,
    /// The request's MessageID.
    pub relates_to: Option<String>,
}

impl ResponseHeaders {
    /// The headers answering `request` for `transaction`, with a fresh message id.
    pub fn answering(
        request: &SoapRequest,
        transaction: Transaction,
        message_id: uuid::Uuid,
    ) -> Self {
        ResponseHeaders {
            action: transaction.response_action().to_owned(),
            message_id: format!("urn:uuid:{message_id}"),
            relates_to: request.addressing.message_id.clone(),
        }
    }
}

/// Wraps a body element (standalone XML) in a SOAP 1.2 envelope with the addressing headers.
pub fn write_envelope(headers: &ResponseHeaders, body_element: &[u8]) -> Vec<u8> {
    let mut w = XmlWriter::new();
    w.raw(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    w.open(
        "env:Envelope",
        &[("xmlns:env", SOAP12_NS), ("xmlns:wsa", WSA_NS)],
    );
    w.open("env:Header", &[]);
    w.leaf(
        "wsa:Action",
        &[("env:mustUnderstand", "true")],
        &headers.action,
    );
    w.leaf("wsa:MessageID", &[], &headers.message_id);
    if let Some(r) = &headers.relates_to {
        w.leaf("wsa:RelatesTo", &[], r);
    }
    w.close();
    w.open("env:Body", &[]);
    w.raw(&String::from_utf8_lossy(body_element));
    w.finish()
}

/// A response ready to be written: headers, the body element, and any MTOM parts it references.
#[derive(Clone, PartialEq, Eq)]
pub struct SoapResponse {
    pub headers: ResponseHeaders,
    pub body: Vec<u8>,
    pub attachments: Vec<Attachment>,
}

impl std::fmt::Debug for SoapResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoapResponse")
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("attachments", &self.attachments)
            .finish()
    }
}

impl SoapResponse {
    /// The HTTP payload: plain SOAP 1.2 without attachments, MTOM with them.
    pub fn to_http(&self) -> HttpPayload {
        self.to_http_as(!self.attachments.is_empty())
    }

    /// The HTTP payload, as MTOM when `mtom` (or when there are attachments, which need it),
    /// else plain: answer an MTOM request in MTOM.
    pub fn to_http_as(&self, mtom: bool) -> HttpPayload {
        let envelope = write_envelope(&self.headers, &self.body);
        if !mtom && self.attachments.is_empty() {
            HttpPayload {
                content_type: format!(
                    "{SOAP12_CONTENT_TYPE}; action=\"{}\"",
                    self.headers.action.replace('"', "")
                ),
                body: envelope,
            }
        } else {
            mtom::write(
                &envelope,
                &self.headers.action,
                &self.attachments,
                &self.headers.message_id,
            )
        }
    }
}
