//! The `wsu:Timestamp` of an incoming request's `wsse:Security` header (OASIS WSS SOAP Message
//! Security 1.1 §10, faults §12), checked before the assertions.
//!
//! A Timestamp is optional: OpenNCP's initiating gateway sends none, so a header without one
//! passes. When there is one, it is checked as WS-I BSP 1.1 describes it:
//!
//! - at most one `wsu:Timestamp` in the security header(s);
//! - exactly one `wsu:Created`, then at most one `wsu:Expires`, nothing else;
//! - both `xsd:dateTime` in UTC (`Z`), `Expires` after `Created`.
//!
//! Any of these wrong is `wsse:InvalidSecurity`. A well-formed Timestamp whose `Expires` has
//! passed, or whose `Created` lies more than the allowed clock skew (`[saml]` `clock_skew_secs`)
//! ahead of our clock, is `wsse:MessageExpired`.
//!
//! The Timestamp is outside the signed assertions (eHDSI signs those only), so it is checked on
//! every request, never remembered: the verification cache does not see it. Nothing here logs or
//! returns message content.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::soap::xml::{self, Limits};

const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// WS-Security utility namespace.
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

/// A Timestamp as received and accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedTimestamp {
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
}

/// Why a Timestamp was refused. The texts name the rule broken, never a value received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// More than one Timestamp, a missing `Created`, a value that is no UTC `xsd:dateTime`,
    /// `Expires` not after `Created`, or an element the Timestamp may not hold.
    #[error("invalid wsu:Timestamp: {0}")]
    Invalid(&'static str),
    /// `Expires` has passed, or `Created` is too far in the future.
    #[error("the message has expired: {0}")]
    Expired(&'static str),
}

impl TimestampError {
    /// The WS-Security fault subcode (WSS 1.1 §12): `InvalidSecurity` or `MessageExpired`.
    pub fn wsse_subcode(&self) -> &'static str {
        match self {
            TimestampError::Invalid(_) => "InvalidSecurity",
            TimestampError::Expired(_) => "MessageExpired",
        }
    }

    /// The eHDSI code in the fault detail: `4702`, what every other refusal of the security
    /// header's freshness or form gets (an expired or not yet valid assertion, a malformed
    /// `wsse:Security`). eHDSI has no code of its own for message freshness; the subcode tells
    /// the two apart.
    pub fn ehdsi_code(&self) -> &'static str {
        "4702"
    }

    /// The eHDSI text of the code followed by what exactly was refused (safe to send and log).
    pub fn message(&self) -> String {
        format!("{} ({self})", super::code_text(self.ehdsi_code()))
    }
}

/// Checks the `wsu:Timestamp` of a SOAP 1.2 `header` (the `env:Header` element, standalone, as
/// [`crate::soap::SoapRequest::header`] holds it) at `now`, allowing `clock_skew` for a
/// `Created` ahead of our clock. `Ok(None)` when there is no Timestamp (or no header).
///
/// A header that does not parse is left to the assertion verification, which words that
/// refusal; this check only judges Timestamps it can read.
pub fn check_timestamp(
    header: Option<&[u8]>,
    now: DateTime<Utc>,
    clock_skew: std::time::Duration,
) -> Result<Option<ReceivedTimestamp>, TimestampError> {
    let Some(header) = header else {
        return Ok(None);
    };
    let Ok(doc) = xml::parse(header, &Limits::default()) else {
        return Ok(None);
    };
    let root = doc.root_element();
    if !root.has_tag_name((SOAP12_NS, "Header")) {
        return Ok(None);
    }
    let mut stamps = root
        .children()
        .filter(|c| c.has_tag_name((WSSE_NS, "Security")))
        .flat_map(|s| s.children())
        .filter(|c| c.has_tag_name((WSU_NS, "Timestamp")));
    let Some(stamp) = stamps.next() else {
        return Ok(None);
    };
    if stamps.next().is_some() {
        return Err(TimestampError::Invalid("more than one wsu:Timestamp"));
    }
    let parts: Vec<_> = stamp.children().filter(|c| c.is_element()).collect();
    let (created, expires) = match parts.as_slice() {
        [c] if c.has_tag_name((WSU_NS, "Created")) => (utc_time(*c)?, None),
        [c, e] if c.has_tag_name((WSU_NS, "Created")) && e.has_tag_name((WSU_NS, "Expires")) => {
            (utc_time(*c)?, Some(utc_time(*e)?))
        }
        _ if !parts.iter().any(|c| c.has_tag_name((WSU_NS, "Created"))) => {
            return Err(TimestampError::Invalid("no wsu:Created"));
        }
        _ => {
            return Err(TimestampError::Invalid(
                "wsu:Timestamp must hold one wsu:Created, then at most one wsu:Expires",
            ))
        }
    };
    if expires.is_some_and(|e| e <= created) {
        return Err(TimestampError::Invalid(
            "wsu:Expires is not after wsu:Created",
        ));
    }
    if expires.is_some_and(|e| e <= now) {
        return Err(TimestampError::Expired("wsu:Expires has passed"));
    }
    let skew = chrono::Duration::from_std(clock_skew).unwrap_or(chrono::Duration::zero());
    if created > now + skew {
        return Err(TimestampError::Expired(
            "wsu:Created is further in the future than the allowed clock skew",
        ));
    }
    Ok(Some(ReceivedTimestamp { created, expires }))
}

/// An `xsd:dateTime` in UTC: `YYYY-MM-DDThh:mm:ss[.fff]Z` (surrounding whitespace collapsed, as
/// the type's whitespace facet says). No other child than the text.
fn utc_time(node: roxmltree::Node<'_, '_>) -> Result<DateTime<Utc>, TimestampError> {
    const NOT_UTC: TimestampError =
        TimestampError::Invalid("wsu:Created and wsu:Expires must be xsd:dateTime in UTC (Z)");
    if node.children().any(|c| !c.is_text()) {
        return Err(NOT_UTC);
    }
    let text = node.text().unwrap_or("").trim();
    let local = text.strip_suffix('Z').ok_or(NOT_UTC)?;
    NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|t| t.and_utc())
        .map_err(|_| NOT_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn header(security: &str) -> Vec<u8> {
        format!(
            r#"<s:Header xmlns:s="{SOAP12_NS}" xmlns:wsse="{WSSE_NS}" xmlns:wsu="{WSU_NS}"><wsse:Security>{security}</wsse:Security></s:Header>"#
        )
        .into_bytes()
    }

    fn stamp(created: &str, expires: &str) -> String {
        format!(
            "<wsu:Timestamp wsu:Id='TS-1'><wsu:Created>{created}</wsu:Created><wsu:Expires>{expires}</wsu:Expires></wsu:Timestamp>"
        )
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const SKEW: Duration = Duration::from_secs(60);

    fn check(security: &str, now: &str) -> Result<Option<ReceivedTimestamp>, TimestampError> {
        check_timestamp(Some(&header(security)), at(now), SKEW)
    }

    #[test]
    fn absent_is_accepted() {
        assert_eq!(check("", "2026-11-25T05:00:00Z"), Ok(None));
        assert_eq!(
            check_timestamp(None, at("2026-11-25T05:00:00Z"), SKEW),
            Ok(None)
        );
    }

    #[test]
    fn fresh_is_accepted() {
        let t = check(
            &stamp("2026-11-25T05:00:00.123Z", "2026-11-25T05:05:00.123Z"),
            "2026-11-25T05:01:00Z",
        )
        .unwrap()
        .unwrap();
        assert_eq!(t.created, at("2026-11-25T05:00:00.123Z"));
        // Created within the skew ahead of our clock; no Expires at all.
        let only_created =
            "<wsu:Timestamp><wsu:Created> 2026-11-25T05:00:30Z </wsu:Created></wsu:Timestamp>";
        assert!(check(only_created, "2026-11-25T05:00:00Z")
            .unwrap()
            .is_some());
    }

    #[test]
    fn stale_or_future_is_expired() {
        let s = stamp("2026-11-25T05:00:00Z", "2026-11-25T05:05:00Z");
        let e = check(&s, "2026-11-25T05:05:00Z").unwrap_err();
        assert_eq!(e.wsse_subcode(), "MessageExpired");
        let e = check(&s, "2026-11-25T04:58:59Z").unwrap_err();
        assert_eq!(e.wsse_subcode(), "MessageExpired");
        assert!(check(&s, "2026-11-25T04:59:00Z").is_ok());
    }

    #[test]
    fn malformed_is_invalid() {
        let now = "2026-11-25T05:01:00Z";
        let good = stamp("2026-11-25T05:00:00Z", "2026-11-25T05:05:00Z");
        for bad in [
            format!("{good}{good}"),
            stamp("2026-11-25T05:05:00Z", "2026-11-25T05:00:00Z"),
            stamp("2026-11-25T05:00:00Z", "2026-11-25T05:00:00Z"),
            stamp("2026-11-25T05:00:00+01:00", "2026-11-25T05:05:00Z"),
            stamp("2026-11-25T05:00:00", "2026-11-25T05:05:00Z"),
            stamp("25.11.2026 05:00", "2026-11-25T05:05:00Z"),
            stamp("", "2026-11-25T05:05:00Z"),
            "<wsu:Timestamp><wsu:Expires>2026-11-25T05:05:00Z</wsu:Expires></wsu:Timestamp>".into(),
            "<wsu:Timestamp/>".into(),
            "<wsu:Timestamp><wsu:Expires>2026-11-25T05:05:00Z</wsu:Expires><wsu:Created>2026-11-25T05:00:00Z</wsu:Created></wsu:Timestamp>".into(),
            "<wsu:Timestamp><wsu:Created>2026-11-25T05:00:00Z</wsu:Created><wsu:Created>2026-11-25T05:00:00Z</wsu:Created></wsu:Timestamp>".into(),
            "<wsu:Timestamp><wsu:Created>2026-11-25T05:00:00Z<x/></wsu:Created></wsu:Timestamp>".into(),
        ] {
            let e = check(&bad, now).unwrap_err();
            assert_eq!(e.wsse_subcode(), "InvalidSecurity", "{bad}: {e}");
            assert_eq!(e.ehdsi_code(), "4702");
            assert!(!e.message().contains("2026"), "{}", e.message());
        }
    }
}
