use std::fmt;

use serde::{Deserialize, Serialize};

use crate::systems::IdentifierSystem;
use crate::ParseError;

/// Which kind of Swedish personal identity number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonIdKind {
    /// Personnummer: everyone registered as living in Sweden.
    Personnummer,
    /// Samordningsnummer: people without a personnummer (day of birth + 60).
    Samordningsnummer,
}

impl PersonIdKind {
    pub fn system(self) -> IdentifierSystem {
        match self {
            PersonIdKind::Personnummer => IdentifierSystem::Personnummer,
            PersonIdKind::Samordningsnummer => IdentifierSystem::Samordningsnummer,
        }
    }
}

/// A Swedish personnummer or samordningsnummer in its 12-digit form (`YYYYMMDDNNNC`).
///
/// Accepts `YYYYMMDD-NNNC` and `YYYYMMDDNNNC`; checks the date shape and the Luhn check digit.
/// `Debug` does not print the number, so it cannot leak into logs by accident; use
/// [`PersonId::as_str`] where the number is meant to be shown (the audit trail, a document).
///
/// Deserialising checks the number as [`PersonId::parse`] does (same shape as serialised).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "PersonIdRepr")]
pub struct PersonId {
    kind: PersonIdKind,
    digits: String,
}

/// The serialised shape of a [`PersonId`], checked on the way in.
#[derive(Deserialize)]
struct PersonIdRepr {
    kind: PersonIdKind,
    digits: String,
}

impl TryFrom<PersonIdRepr> for PersonId {
    type Error = ParseError;
    fn try_from(r: PersonIdRepr) -> Result<Self, Self::Error> {
        let id = PersonId::parse(&r.digits)?;
        if id.kind != r.kind || id.digits != r.digits {
            return Err(ParseError::PersonId {
                reason: "stored kind or digits do not match the number",
            });
        }
        Ok(id)
    }
}

impl PersonId {
    /// Parses a number, deciding personnummer or samordningsnummer from the day of birth.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let digits: String = value
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != '+')
            .collect();
        if digits.is_empty() {
            return Err(ParseError::Empty);
        }
        if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::PersonId {
                reason: "expected 12 digits YYYYMMDDNNNC",
            });
        }
        let b = digits.as_bytes();
        let num = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
        let month = num(4);
        let day = num(6);
        if !(1..=12).contains(&month) {
            return Err(ParseError::PersonId {
                reason: "month out of range",
            });
        }
        let kind = match day {
            1..=31 => PersonIdKind::Personnummer,
            61..=91 => PersonIdKind::Samordningsnummer,
            _ => {
                return Err(ParseError::PersonId {
                    reason: "day out of range",
                })
            }
        };
        if !luhn_ok(&digits[2..]) {
            return Err(ParseError::PersonId {
                reason: "check digit does not match",
            });
        }
        Ok(PersonId { kind, digits })
    }

    /// Parses `value` as an identifier in `system` (any spelling), checking that the number's
    /// kind matches the system it was sent under.
    pub fn from_identifier(system: &str, value: &str) -> Result<Self, ParseError> {
        let expected = match IdentifierSystem::recognise(system) {
            Some(IdentifierSystem::Personnummer) => PersonIdKind::Personnummer,
            Some(IdentifierSystem::Samordningsnummer) => PersonIdKind::Samordningsnummer,
            _ => return Err(ParseError::UnknownSystem(system.to_owned())),
        };
        let id = PersonId::parse(value)?;
        if id.kind != expected {
            return Err(ParseError::PersonId {
                reason: "number does not match its identifier system",
            });
        }
        Ok(id)
    }

    pub fn kind(&self) -> PersonIdKind {
        self.kind
    }

    /// The 12 digits, for documents and the audit trail (never for ordinary logs).
    pub fn as_str(&self) -> &str {
        &self.digits
    }

    /// The canonical identifier system OID for this number.
    pub fn system_oid(&self) -> &'static str {
        self.kind.system().oid()
    }

    /// The canonical FHIR identifier system URI for this number.
    pub fn system_uri(&self) -> &'static str {
        self.kind.system().uri()
    }
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonId({:?}, <redacted>)", self.kind)
    }
}

/// Luhn (mod 10) over the 10-digit form `YYMMDDNNNC`.
fn luhn_ok(ten: &str) -> bool {
    let sum: u32 = ten
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Completes an 11-digit prefix `YYYYMMDDNNN` with its Luhn check digit (for synthetic data).
pub fn with_check_digit(eleven: &str) -> Option<String> {
    if eleven.len() != 11 || !eleven.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    (0..10u8)
        .map(|c| format!("{eleven}{c}"))
        .find(|cand| luhn_ok(&cand[2..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_skatteverket_test_number() {
        let id = PersonId::parse("19121212-1212").unwrap();
        assert_eq!(id.as_str(), "191212121212");
        assert_eq!(id.kind(), PersonIdKind::Personnummer);
        assert_eq!(id.system_oid(), "1.2.752.129.2.1.3.1");
    }

    #[test]
    fn samordningsnummer_has_day_plus_sixty() {
        let n = with_check_digit("19800171234").unwrap();
        let id = PersonId::parse(&n).unwrap();
        assert_eq!(id.kind(), PersonIdKind::Samordningsnummer);
        assert!(PersonId::from_identifier("1.2.752.129.2.1.3.3", &n).is_ok());
        assert!(PersonId::from_identifier("1.2.752.129.2.1.3.1", &n).is_err());
    }

    #[test]
    fn rejects_bad_check_digit_and_shape() {
        assert!(PersonId::parse("191212121213").is_err());
        assert!(PersonId::parse("1212121212").is_err());
        assert!(PersonId::parse("191213121212").is_err());
        assert!(PersonId::parse("").is_err());
    }

    /// Deserialising used to take any string as the digits, unchecked.
    #[test]
    fn deserialising_checks_the_number() {
        use serde::de::value::{Error, MapDeserializer};
        let de = |kind: &'static str, digits: &'static str| {
            PersonId::deserialize(MapDeserializer::<_, Error>::new(
                [("kind", kind), ("digits", digits)].into_iter(),
            ))
        };
        let id = PersonId::parse("191212121212").unwrap();
        assert_eq!(de("personnummer", "191212121212").unwrap(), id);
        for (kind, digits) in [
            ("personnummer", "19121212121€"),
            ("personnummer", "191212121213"),
            ("samordningsnummer", "191212121212"),
            ("personnummer", "19121212-1212"),
        ] {
            let e = de(kind, digits).unwrap_err().to_string();
            assert!(!e.contains("1212"), "{e}");
        }
    }

    #[test]
    fn debug_does_not_print_the_number() {
        let id = PersonId::parse("191212121212").unwrap();
        assert!(!format!("{id:?}").contains("1212"));
    }
}
