use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// An ISO 3166-1 alpha-2 country code, upper case (`SE`, `EE`, `ES`).
///
/// eHDSI uses these for NCP routing (the `homeCommunityId` and the SMP participant) and in
/// addresses; Greece is `GR` here even where some EU lists say `EL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub const SE: CountryCode = CountryCode(*b"SE");

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        let t = if t.eq_ignore_ascii_case("EL") {
            "GR"
        } else {
            t
        };
        match t.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => Ok(CountryCode([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
            ])),
            _ => Err(ParseError::Country(s.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CountryCode {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CountryCode::parse(s)
    }
}

impl TryFrom<String> for CountryCode {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CountryCode::parse(&s)
    }
}

impl From<CountryCode> for String {
    fn from(c: CountryCode) -> String {
        c.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_greece() {
        assert_eq!(CountryCode::parse("se").unwrap(), CountryCode::SE);
        assert_eq!(CountryCode::parse("EL").unwrap().as_str(), "GR");
        assert!(CountryCode::parse("SWE").is_err());
        assert!(CountryCode::parse("S1").is_err());
    }
}
