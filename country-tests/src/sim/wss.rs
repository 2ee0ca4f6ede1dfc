//! The simulated NCP's `wsu:Timestamp` check, as a strict WS-Security stack does it before it
//! looks at the assertions (OASIS WSS SOAP Message Security 1.1 §10 and §12, WS-I BSP 1.1, the
//! limits WSS4J applies by default):
//!
//! - the `wsse:Security` header holds exactly one `wsu:Timestamp`, with exactly one
//!   `wsu:Created` and at most one `wsu:Expires` after it, both UTC `xsd:dateTime` ending in `Z`;
//!   otherwise `wsse:InvalidSecurity`;
//! - `Created` no later than [`FUTURE_TOLERANCE`] ahead of this NCP's clock, no older than
//!   [`MAX_AGE`], and `Expires` not reached; otherwise `wsse:MessageExpired`.
//!
//! Written independently of the gateway's writer (its own parsing of the received bytes), so a
//! mistake on the sending side shows here.

use chrono::{DateTime, Utc};

const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

/// How far in the future (by this NCP's clock) `Created` may be: WSS4J's default.
pub const FUTURE_TOLERANCE: chrono::Duration = chrono::Duration::seconds(60);
/// How old `Created` may be, whatever `Expires` says: WSS4J's default time-to-live.
pub const MAX_AGE: chrono::Duration = chrono::Duration::seconds(300);

/// A Timestamp as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedTimestamp {
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
}

/// Why a Timestamp was refused: the WS-Security fault subcode and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampFault {
    /// `wsse:InvalidSecurity`: no `wsse:Security` header at all (so no assertions either).
    NoSecurityHeader,
    /// `wsse:InvalidSecurity`: missing, repeated or malformed.
    InvalidSecurity(String),
    /// `wsse:MessageExpired`: expired, too old, or from the future.
    MessageExpired(String),
}

impl TimestampFault {
    /// The local name of the `wsse:` subcode.
    pub fn subcode(&self) -> &'static str {
        match self {
            TimestampFault::NoSecurityHeader | TimestampFault::InvalidSecurity(_) => {
                "InvalidSecurity"
            }
            TimestampFault::MessageExpired(_) => "MessageExpired",
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            TimestampFault::NoSecurityHeader => {
                "An error was discovered processing the <wsse:Security> header: there is none"
            }
            TimestampFault::InvalidSecurity(r) | TimestampFault::MessageExpired(r) => r,
        }
    }
}

fn invalid(what: &str) -> TimestampFault {
    TimestampFault::InvalidSecurity(format!(
        "An error was discovered processing the <wsse:Security> header: {what}"
    ))
}

fn elements<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children().filter(|n| n.is_element())
}

fn utc_time(node: roxmltree::Node<'_, '_>, name: &str) -> Result<DateTime<Utc>, TimestampFault> {
    let text = node.text().unwrap_or("").trim();
    if !text.ends_with('Z') {
        return Err(invalid(&format!(
            "wsu:{name} is not a UTC time ending in Z"
        )));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| invalid(&format!("wsu:{name} is not an xsd:dateTime")))
}

/// Checks the Timestamp of `envelope` (the SOAP 1.2 envelope as received) against `now`, this
/// NCP's clock.
pub fn check_timestamp(
    envelope: &[u8],
    now: DateTime<Utc>,
) -> Result<ReceivedTimestamp, TimestampFault> {
    let text = std::str::from_utf8(envelope).map_err(|_| invalid("the envelope is not UTF-8"))?;
    let doc = roxmltree::Document::parse(text).map_err(|_| invalid("unreadable envelope"))?;
    let header = elements(doc.root_element())
        .find(|n| n.has_tag_name((SOAP12_NS, "Header")))
        .ok_or(TimestampFault::NoSecurityHeader)?;
    let mut securities = elements(header).filter(|n| n.has_tag_name((WSSE_NS, "Security")));
    let security = securities.next().ok_or(TimestampFault::NoSecurityHeader)?;
    if securities.next().is_some() {
        return Err(invalid("more than one wsse:Security header"));
    }
    let mut stamps = elements(security).filter(|n| n.has_tag_name((WSU_NS, "Timestamp")));
    let stamp = stamps
        .next()
        .ok_or_else(|| invalid("the security header has no wsu:Timestamp"))?;
    if stamps.next().is_some() {
        return Err(invalid("more than one wsu:Timestamp"));
    }
    let parts: Vec<_> = elements(stamp).collect();
    let (created, expires) = match parts.as_slice() {
        [c] if c.has_tag_name((WSU_NS, "Created")) => (utc_time(*c, "Created")?, None),
        [c, e] if c.has_tag_name((WSU_NS, "Created")) && e.has_tag_name((WSU_NS, "Expires")) => {
            (utc_time(*c, "Created")?, Some(utc_time(*e, "Expires")?))
        }
        _ => {
            return Err(invalid(
                "wsu:Timestamp must hold one wsu:Created, then at most one wsu:Expires",
            ))
        }
    };
    if expires.is_some_and(|e| e <= created) {
        return Err(invalid("wsu:Expires is not after wsu:Created"));
    }
    if created > now + FUTURE_TOLERANCE {
        return Err(TimestampFault::MessageExpired(
            "The message has expired: its wsu:Created is in the future".into(),
        ));
    }
    if expires.is_some_and(|e| now >= e) {
        return Err(TimestampFault::MessageExpired(
            "The message has expired".into(),
        ));
    }
    if now - created > MAX_AGE {
        return Err(TimestampFault::MessageExpired(
            "The message has expired: its wsu:Created is too old".into(),
        ));
    }
    Ok(ReceivedTimestamp { created, expires })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn envelope(security: &str) -> Vec<u8> {
        format!(
            r#"<env:Envelope xmlns:env="{SOAP12_NS}"><env:Header>{security}</env:Header><env:Body><x/></env:Body></env:Envelope>"#
        )
        .into_bytes()
    }

    fn stamp(inner: &str) -> String {
        format!(
            r#"<wsse:Security xmlns:wsse="{WSSE_NS}"><wsu:Timestamp xmlns:wsu="{WSU_NS}" wsu:Id="TS-1">{inner}</wsu:Timestamp></wsse:Security>"#
        )
    }

    const GOOD: &str = "<wsu:Created>2026-11-25T05:00:00.000Z</wsu:Created>\
                        <wsu:Expires>2026-11-25T05:05:00.000Z</wsu:Expires>";

    #[test]
    fn a_fresh_timestamp_passes() {
        let t = check_timestamp(&envelope(&stamp(GOOD)), at("2026-11-25T05:01:00Z")).unwrap();
        assert_eq!(t.created, at("2026-11-25T05:00:00Z"));
        assert_eq!(t.expires, Some(at("2026-11-25T05:05:00Z")));
        // Within the tolerated clock difference.
        assert!(check_timestamp(&envelope(&stamp(GOOD)), at("2026-11-25T04:59:30Z")).is_ok());
    }

    #[test]
    fn expired_old_and_future_messages_have_expired() {
        for now in [
            "2026-11-25T05:05:00Z", // Expires reached
            "2026-11-25T06:00:00Z",
            "2026-11-25T04:58:00Z", // Created two minutes ahead of this clock
        ] {
            let e = check_timestamp(&envelope(&stamp(GOOD)), at(now)).unwrap_err();
            assert_eq!(e.subcode(), "MessageExpired", "{now}: {e:?}");
        }
        // No Expires, but older than MAX_AGE.
        let only_created = stamp("<wsu:Created>2026-11-25T05:00:00Z</wsu:Created>");
        assert!(check_timestamp(&envelope(&only_created), at("2026-11-25T05:04:00Z")).is_ok());
        let e = check_timestamp(&envelope(&only_created), at("2026-11-25T05:06:00Z")).unwrap_err();
        assert_eq!(e.subcode(), "MessageExpired");
    }

    #[test]
    fn missing_repeated_or_malformed_timestamps_are_invalid_security() {
        let now = at("2026-11-25T05:01:00Z");
        let security_only = format!(r#"<wsse:Security xmlns:wsse="{WSSE_NS}"/>"#);
        let two = stamp(GOOD).replace(
            "</wsse:Security>",
            &format!(
                r#"<wsu:Timestamp xmlns:wsu="{WSU_NS}">{GOOD}</wsu:Timestamp></wsse:Security>"#
            ),
        );
        assert_eq!(
            check_timestamp(&envelope(""), now),
            Err(TimestampFault::NoSecurityHeader)
        );
        let cases = [
            security_only,
            two,
            stamp("<wsu:Expires>2026-11-25T05:05:00Z</wsu:Expires>"),
            stamp(
                "<wsu:Expires>2026-11-25T05:05:00Z</wsu:Expires>\
                 <wsu:Created>2026-11-25T05:00:00Z</wsu:Created>",
            ),
            stamp(
                "<wsu:Created>2026-11-25T05:00:00Z</wsu:Created>\
                 <wsu:Expires>2026-11-25T05:00:00Z</wsu:Expires>",
            ),
            stamp(
                "<wsu:Created>2026-11-25T06:00:00+01:00</wsu:Created>\
                 <wsu:Expires>2026-11-25T05:05:00Z</wsu:Expires>",
            ),
            stamp("<wsu:Created>yesterday Z</wsu:Created>"),
        ];
        for c in &cases {
            let e = check_timestamp(&envelope(c), now).unwrap_err();
            assert_eq!(e.subcode(), "InvalidSecurity", "{c}: {e:?}");
            assert!(e.reason().contains("wsse:Security"), "{e:?}");
        }
    }
}
