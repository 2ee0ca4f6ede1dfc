use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// An ISO object identifier in dotted form (`1.2.752.129.2.1.3.1`).
///
/// Accepts the `urn:oid:` prefix on input; never carries it inside.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Oid(String);

impl Oid {
    /// Parses a dotted OID, with or without the `urn:oid:` prefix.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let bare = s.trim();
        let bare = bare.strip_prefix("urn:oid:").unwrap_or(bare);
        let valid = !bare.is_empty()
            && bare.split('.').count() >= 2
            && bare.split('.').all(|arc| {
                !arc.is_empty()
                    && arc.bytes().all(|b| b.is_ascii_digit())
                    && (arc == "0" || !arc.starts_with('0'))
            })
            && matches!(bare.as_bytes()[0], b'0'..=b'2');
        if valid {
            Ok(Oid(bare.to_owned()))
        } else {
            Err(ParseError::Oid(s.to_owned()))
        }
    }

    /// The dotted form, as CDA `@root` and `@codeSystem` carry it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `urn:oid:` form, as FHIR `Identifier.system` carries it.
    pub fn to_urn(&self) -> String {
        format!("urn:oid:{}", self.0)
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Oid {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Oid::parse(s)
    }
}

impl TryFrom<String> for Oid {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Oid::parse(&s)
    }
}

impl From<Oid> for String {
    fn from(o: Oid) -> String {
        o.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dotted_and_urn_forms() {
        let a = Oid::parse("1.2.752.129.2.1.3.1").unwrap();
        let b = Oid::parse("urn:oid:1.2.752.129.2.1.3.1").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_urn(), "urn:oid:1.2.752.129.2.1.3.1");
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "1", "1..2", "1.02", "3.1", "1.2.a", "urn:oid:"] {
            assert!(Oid::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
