//! Shared domain types of the Swedish NCP bridge.
//!
//! Every crate of the workspace speaks in these types rather than in loose strings: an [`Oid`],
//! a [`CountryCode`], a Swedish [`PersonId`] (personnummer or samordningsnummer), an [`HsaId`],
//! a [`PrescriptionId`]. Parsing is strict where we produce and tolerant where the world varies
//! (the identifier systems come in URI and OID spellings, see [`systems`]).

mod country;
mod ids;
mod oid;
mod person;
pub mod systems;

pub use country::CountryCode;
pub use ids::{DispensationId, HsaId, PrescriptionId};
pub use oid::Oid;
pub use person::{with_check_digit, PersonId, PersonIdKind};

/// Why a value could not be turned into one of the domain types.
///
/// The message quotes the refused value (never a personal identity number: that error names
/// only the reason) escaped and cut to [`QUOTE_MAX`] characters, since it may be logged: a
/// value with line breaks cannot forge log lines, a huge one cannot flood them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not an OID: {}", quote(.0))]
    Oid(String),
    #[error("not an ISO 3166-1 alpha-2 country code: {}", quote(.0))]
    Country(String),
    #[error("not a Swedish personnummer or samordningsnummer ({reason})")]
    PersonId { reason: &'static str },
    #[error("not an HSA-id: {}", quote(.0))]
    HsaId(String),
    #[error("unknown identifier system: {}", quote(.0))]
    UnknownSystem(String),
    #[error("empty identifier")]
    Empty,
}

/// How many characters of a refused value an error message quotes.
pub const QUOTE_MAX: usize = 64;

/// `value` in double quotes, escaped as Rust does, cut to [`QUOTE_MAX`] characters (`…` after).
fn quote(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(QUOTE_MAX).collect();
    let more = if chars.next().is_some() { "…" } else { "" };
    format!("{head:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refused values used to be echoed raw and whole into messages that are logged.
    #[test]
    fn messages_quote_values_escaped_and_bounded() {
        let e = ParseError::Oid("1.2\nINFO forged log line".into()).to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("\\n"), "{e}");
        let long = "9".repeat(10_000);
        let e = ParseError::UnknownSystem(long).to_string();
        assert!(e.len() < QUOTE_MAX + 64, "{}", e.len());
        assert!(e.ends_with('…'), "{e}");
        assert_eq!(
            ParseError::Country("SWE".into()).to_string(),
            "not an ISO 3166-1 alpha-2 country code: \"SWE\""
        );
    }
}
