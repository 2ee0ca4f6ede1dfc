//! MTOM/XOP over `multipart/related` (W3C SOAP MTOM, XOP; RFC 2387, RFC 2046).
//!
//! [`split`] takes the HTTP `Content-Type` and body and returns the root part (the SOAP envelope
//! with `xop:Include` elements) and the binary parts by Content-ID. [`write`] does the reverse for
//! responses. Both work over bytes in memory: no I/O, no async.

use base64::Engine as _;
use memchr::memmem;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::xml::Limits;
use super::SoapError;

/// The XOP namespace of `xop:Include`.
pub const XOP_NS: &str = "http://www.w3.org/2004/08/xop/include";

/// One binary MIME part, addressed by its Content-ID.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The Content-ID without angle brackets (`doc1@example.org`).
    pub content_id: String,
    /// The part's Content-Type (`application/octet-stream`, `text/xml`).
    pub content_type: String,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bytes are clinical documents: never print them.
        f.debug_struct("Attachment")
            .field("content_id", &self.content_id)
            .field("content_type", &self.content_type)
            .field("len", &self.data.len())
            .finish()
    }
}

/// A `multipart/related` message taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// The root part's bytes (the SOAP envelope).
    pub root: Vec<u8>,
    /// The root part's Content-Type (`application/xop+xml; type="application/soap+xml"`).
    pub root_content_type: String,
    /// The `action` parameter, from the root part's or the message's Content-Type.
    pub action: Option<String>,
    /// The other parts.
    pub attachments: Vec<Attachment>,
}

/// Whether `content_type` announces a multipart/related (MTOM) message.
pub fn is_multipart(content_type: &str) -> bool {
    content_type
        .parse::<mime::Mime>()
        .map(|m| {
            m.type_() == mime::MULTIPART && m.subtype().as_str().eq_ignore_ascii_case("related")
        })
        .unwrap_or(false)
}

/// Splits a `multipart/related; type="application/xop+xml"` body into its parts.
pub fn split(content_type: &str, body: &[u8], limits: &Limits) -> Result<Multipart, SoapError> {
    if body.len() > limits.max_bytes {
        return Err(SoapError::TooLarge {
            size: body.len(),
            limit: limits.max_bytes,
        });
    }
    let ct: mime::Mime = content_type
        .parse()
        .map_err(|_| SoapError::BadContentType("unparsable Content-Type".into()))?;
    if ct.type_() != mime::MULTIPART || !ct.subtype().as_str().eq_ignore_ascii_case("related") {
        return Err(SoapError::BadContentType("not multipart/related".into()));
    }
    let boundary = ct
        .get_param(mime::BOUNDARY)
        .map(|b| b.as_str().to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or_else(|| SoapError::BrokenMultipart("missing or invalid boundary".into()))?;
    if let Some(t) = ct.get_param("type") {
        if !t.as_str().eq_ignore_ascii_case("application/xop+xml") {
            return Err(SoapError::BadContentType(
                "multipart/related type is not application/xop+xml".into(),
            ));
        }
    }
    let start = ct
        .get_param("start")
        .map(|s| strip_angle(s.as_str()).to_owned());
    let message_action = ct.get_param("action").map(|a| a.as_str().to_owned());

    let parts = split_parts(body, &boundary, limits.max_parts)?;
    let mut root_index = 0;
    if let Some(start) = &start {
        root_index = parts
            .iter()
            .position(|p| p.content_id.as_deref() == Some(start.as_str()))
            .ok_or_else(|| {
                SoapError::BrokenMultipart("no part matches the start parameter".into())
            })?;
    }
    let mut root = None;
    let mut attachments = Vec::with_capacity(parts.len().saturating_sub(1));
    for (i, p) in parts.into_iter().enumerate() {
        if i == root_index {
            root = Some(p);
        } else {
            let content_id = p.content_id.ok_or_else(|| {
                SoapError::BrokenMultipart("an attachment has no Content-ID".into())
            })?;
            if attachments
                .iter()
                .any(|a: &Attachment| a.content_id == content_id)
            {
                return Err(SoapError::BrokenMultipart("duplicate Content-ID".into()));
            }
            attachments.push(Attachment {
                content_id,
                content_type: p
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".to_owned()),
                data: p.data,
            });
        }
    }
    let root = root.ok_or_else(|| SoapError::BrokenMultipart("no root part".into()))?;
    let root_content_type = root
        .content_type
        .ok_or_else(|| SoapError::BrokenMultipart("the root part has no Content-Type".into()))?;
    let root_ct: mime::Mime = root_content_type
        .parse()
        .map_err(|_| SoapError::BadContentType("unparsable root part Content-Type".into()))?;
    if root_ct.essence_str() != "application/xop+xml" {
        return Err(SoapError::BadContentType(
            "the root part is not application/xop+xml".into(),
        ));
    }
    if let Some(t) = root_ct.get_param("type") {
        if !t.as_str().eq_ignore_ascii_case("application/soap+xml") {
            return Err(SoapError::BadContentType(
                "the root part does not carry SOAP 1.2 (type=application/soap+xml)".into(),
            ));
        }
    }
    let action = root_ct
        .get_param("action")
        .map(|a| a.as_str().to_owned())
        .or(message_action);
    Ok(Multipart {
        root: root.data,
        root_content_type,
        action,
        attachments,
    })
}

struct RawPart {
    content_id: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

fn split_parts(body: &[u8], boundary: &str, max_parts: usize) -> Result<Vec<RawPart>, SoapError> {
    let broken = |why: &str| SoapError::BrokenMultipart(why.to_owned());
    let dash_boundary = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    // The first boundary may open the body, or follow a preamble and a CRLF.
    let mut pos = if body.starts_with(dash_boundary.as_bytes()) {
        dash_boundary.len()
    } else {
        memmem::find(body, delimiter.as_bytes())
            .map(|i| i + delimiter.len())
            .ok_or_else(|| broken("no opening boundary"))?
    };
    let finder = memmem::Finder::new(delimiter.as_bytes());
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            break; // close delimiter; the epilogue is ignored
        }
        // Optional transport padding, then CRLF.
        let pad = rest
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        if !rest[pad..].starts_with(b"\r\n") {
            return Err(broken("boundary not followed by CRLF"));
        }
        let part_start = pos + pad + 2;
        let part_len = finder
            .find(&body[part_start..])
            .ok_or_else(|| broken("part not terminated by a boundary"))?;
        if parts.len() >= max_parts {
            return Err(broken("too many parts"));
        }
        parts.push(parse_part(&body[part_start..part_start + part_len])?);
        pos = part_start + part_len + delimiter.len();
    }
    if parts.is_empty() {
        return Err(broken("no parts"));
    }
    Ok(parts)
}

fn parse_part(raw: &[u8]) -> Result<RawPart, SoapError> {
    let broken = |why: &str| SoapError::BrokenMultipart(why.to_owned());
    // A part with no headers starts directly with the blank line.
    let (header_len, headers) = if raw.starts_with(b"\r\n") {
        (2, Vec::new())
    } else {
        let mut buf = [httparse::EMPTY_HEADER; 16];
        match httparse::parse_headers(raw, &mut buf) {
            Ok(httparse::Status::Complete((len, hs))) => (
                len,
                hs.iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).trim().to_owned(),
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            Ok(httparse::Status::Partial) => return Err(broken("part headers not terminated")),
            Err(_) => return Err(broken("malformed part headers")),
        }
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let content = &raw[header_len..];
    let data = match header("content-transfer-encoding")
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("binary") | Some("8bit") | Some("7bit") => content.to_vec(),
        Some("base64") => {
            let compact: Vec<u8> = content
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| broken("invalid base64 part"))?
        }
        Some(_) => return Err(broken("unsupported Content-Transfer-Encoding")),
    };
    Ok(RawPart {
        content_id: header("content-id").map(|c| strip_angle(&c).to_owned()),
        content_type: header("content-type"),
        data,
    })
}

fn strip_angle(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
}

/// The Content-ID a `cid:` URL names (RFC 2392: percent-decoded, no angle brackets). A `%`
/// not followed by two hex digits is kept as it is, as URL decoders do.
pub fn cid_from_href(href: &str) -> Option<String> {
    let rest = href.trim();
    let rest = rest
        .strip_prefix("cid:")
        .or_else(|| rest.strip_prefix("CID:"))?;
    let s = percent_decode_str(rest).decode_utf8().ok()?;
    (!s.is_empty()).then(|| s.into_owned())
}

/// What RFC 2392 lets stand unescaped in a `cid:` URL besides letters and digits.
const CID_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'@')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'*')
    .remove(b'+')
    .remove(b'=')
    .remove(b':');

/// The `cid:` URL for a Content-ID, percent-encoding what RFC 2392 requires.
pub fn href_for_cid(content_id: &str) -> String {
    format!("cid:{}", utf8_percent_encode(content_id, CID_ESCAPED))
}

/// An HTTP payload: the `Content-Type` header value and the body.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpPayload {
    pub content_type: String,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPayload")
            .field("content_type", &self.content_type)
            .field("len", &self.body.len())
            .finish()
    }
}

/// Writes an MTOM message: the envelope as the `application/xop+xml` root part, then the
/// attachments as binary parts. `seed` makes the boundary and root Content-ID (use the message id).
pub fn write(envelope: &[u8], action: &str, attachments: &[Attachment], seed: &str) -> HttpPayload {
    let token: String = seed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(40)
        .collect();
    let root_id = format!("root.{token}@ncp.se");
    let mut boundary = format!("MIMEBoundary_{token}");
    // A boundary must not occur inside any part.
    let mut n = 0u32;
    while std::iter::once(envelope)
        .chain(attachments.iter().map(|a| a.data.as_slice()))
        .any(|d| memmem::find(d, boundary.as_bytes()).is_some())
    {
        n += 1;
        boundary = format!("MIMEBoundary_{token}_{n}");
    }
    let action_q = action.replace(['"', '\\', '\r', '\n'], "");
    let mut body = Vec::with_capacity(
        envelope.len()
            + attachments
                .iter()
                .map(|a| a.data.len() + 200)
                .sum::<usize>()
            + 400,
    );
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        format!(
            "Content-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"; action=\"{action_q}\"\r\n\
             Content-Transfer-Encoding: binary\r\nContent-ID: <{root_id}>\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(envelope);
    for a in attachments {
        body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        let ct = a.content_type.replace(['\r', '\n'], "");
        let id = a.content_id.replace(['\r', '\n', '<', '>'], "");
        body.extend_from_slice(
            format!(
                "Content-Type: {ct}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{id}>\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&a.data);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    HttpPayload {
        content_type: format!(
            "multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; \
             start=\"<{root_id}>\"; start-info=\"application/soap+xml\"; action=\"{action_q}\""
        ),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_parts_with_boundary_like_content() {
        let att = vec![Attachment {
            content_id: "doc 1@x".into(),
            content_type: "application/octet-stream".into(),
            data: b"--MIMEBoundary_abc\r\nnot a boundary\r\n\x00\xff".to_vec(),
        }];
        let p = write(b"<env/>", "urn:a", &att, "abc");
        let m = split(&p.content_type, &p.body, &Limits::default()).unwrap();
        assert_eq!(m.root, b"<env/>");
        assert_eq!(m.action.as_deref(), Some("urn:a"));
        assert_eq!(m.attachments, att);
        assert_eq!(cid_from_href(&href_for_cid("doc 1@x")).unwrap(), "doc 1@x");
    }

    #[test]
    fn cid_urls_decode_only_real_percent_escapes() {
        assert_eq!(href_for_cid("a b%ä@x"), "cid:a%20b%25%C3%A4@x");
        assert_eq!(cid_from_href("cid:a%20b%25%C3%A4@x").unwrap(), "a b%ä@x");
        // A sign or a non-hex digit after `%` is not an escape (from_str_radix took `%+1`).
        assert_eq!(cid_from_href("CID:%+1@x").unwrap(), "%+1@x");
        assert_eq!(cid_from_href("cid:%zz").unwrap(), "%zz");
        assert_eq!(cid_from_href("cid:%4"), Some("%4".to_owned()));
        assert_eq!(cid_from_href("cid:%ff"), None, "not UTF-8");
        assert_eq!(cid_from_href("cid:"), None);
        assert_eq!(cid_from_href("http://x"), None);
    }
}
