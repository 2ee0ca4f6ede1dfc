//! The `wsu:Timestamp` of an outgoing request (OASIS WSS SOAP Message Security 1.1 §10): when
//! the message was created and when its security semantics expire, so that a foreign NCP can
//! refuse a stale or replayed message.
//!
//! As WS-I BSP 1.1 asks: exactly one `wsu:Created`, one `wsu:Expires` after it, both UTC
//! `xsd:dateTime` with a `Z` and at most millisecond precision. eHDSI signs the HCP and TRC
//! assertions only (integrity of the message is TLS's), so the Timestamp is not signed; its
//! `wsu:Id` is there for peers that want to refer to it.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use crate::soap::xml::XmlWriter;

/// WS-Security utility namespace.
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

/// How long a request's Timestamp is valid unless configured otherwise: five minutes, the usual
/// default of WS-Security stacks (WSS4J, Rampart, WSE), enough for a reasonable clock difference
/// between two NCPs and short enough to limit replay.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// A request's creation and expiry times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub created: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

impl Timestamp {
    /// Created `now` (to the millisecond), expiring `lifetime` later.
    pub fn starting(now: DateTime<Utc>, lifetime: Duration) -> Self {
        let created = now.trunc_subsecs(3);
        let lifetime = chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::MAX);
        let expires = created
            .checked_add_signed(lifetime)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        Timestamp { created, expires }
    }

    /// Created now, expiring `lifetime` later.
    pub fn now(lifetime: Duration) -> Self {
        Timestamp::starting(Utc::now(), lifetime)
    }

    /// Writes `<wsu:Timestamp wsu:Id="...">` (declaring `wsu` on itself, so nothing else in the
    /// security header changes).
    pub fn write(&self, w: &mut XmlWriter, id: &str) {
        w.open("wsu:Timestamp", &[("xmlns:wsu", WSU_NS), ("wsu:Id", id)]);
        w.leaf("wsu:Created", &[], &xsd_date_time(self.created));
        w.leaf("wsu:Expires", &[], &xsd_date_time(self.expires));
        w.close();
    }
}

/// `2026-11-25T05:00:00.123Z`.
pub fn xsd_date_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lives_as_long_as_asked_in_utc_milliseconds() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T05:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let t = Timestamp::starting(now, Duration::from_secs(90));
        assert_eq!(xsd_date_time(t.created), "2026-11-25T05:00:00.123Z");
        assert_eq!(xsd_date_time(t.expires), "2026-11-25T05:01:30.123Z");
        let mut w = XmlWriter::new();
        t.write(&mut w, "TS-1");
        let xml = String::from_utf8(w.finish()).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert!(root.has_tag_name((WSU_NS, "Timestamp")));
        assert_eq!(root.attribute((WSU_NS, "Id")), Some("TS-1"));
        let kids: Vec<_> = root
            .children()
            .filter(|n| n.is_element())
            .map(|n| (n.tag_name().name(), n.text().unwrap_or("")))
            .collect();
        assert_eq!(
            kids,
            [
                ("Created", "2026-11-25T05:00:00.123Z"),
                ("Expires", "2026-11-25T05:01:30.123Z")
            ]
        );
    }

    #[test]
    fn an_absurd_lifetime_does_not_overflow() {
        let t = Timestamp::now(Duration::MAX);
        assert!(t.expires > t.created);
    }
}
