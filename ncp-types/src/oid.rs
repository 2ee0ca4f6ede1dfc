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
        if is_dotted_oid(bare) {
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

/// At least two arcs of digits separated by single dots, no arc with a leading zero (`0` itself
/// is fine), the first arc 0, 1 or 2. One pass over the bytes: documents name a dozen OIDs
/// each, and conversions parse every one.
fn is_dotted_oid(s: &str) -> bool {
    let b = s.as_bytes();
    if !matches!(b.first(), Some(b'0'..=b'2')) {
        return false;
    }
    let mut arcs = 1;
    let mut arc_start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'.' {
            // The arc that ends here: not empty, no leading zero.
            match i - arc_start {
                0 => return false,
                1 => {}
                _ if b[arc_start] == b'0' => return false,
                _ => {}
            }
            arcs += 1;
            arc_start = i + 1;
        } else if !c.is_ascii_digit() {
            return false;
        }
    }
    match b.len() - arc_start {
        0 => false,
        1 => arcs >= 2,
        _ => arcs >= 2 && b[arc_start] != b'0',
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

    /// The one-pass check agrees with the rule written out arc by arc.
    #[test]
    fn one_pass_check_matches_the_arc_rule() {
        fn by_arcs(bare: &str) -> bool {
            !bare.is_empty()
                && bare.split('.').count() >= 2
                && bare.split('.').all(|arc| {
                    !arc.is_empty()
                        && arc.bytes().all(|b| b.is_ascii_digit())
                        && (arc == "0" || !arc.starts_with('0'))
                })
                && matches!(bare.as_bytes()[0], b'0'..=b'2')
        }
        let alphabet = ["0", "1", "2", "3", "9", ".", "a", "00", "10"];
        let mut cases = vec![String::new()];
        for _ in 0..5 {
            let next: Vec<String> = cases
                .iter()
                .flat_map(|c| alphabet.iter().map(move |a| format!("{c}{a}")))
                .collect();
            cases.extend(next);
            cases.sort();
            cases.dedup();
        }
        cases.push("2.16.840.1.113883.6.1".into());
        cases.push("1.2.752.129.2.1.3.1".into());
        cases.push("é.1".into());
        for c in &cases {
            assert_eq!(is_dotted_oid(c), by_arcs(c), "{c:?}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "1", "1..2", "1.02", "3.1", "1.2.a", "urn:oid:"] {
            assert!(Oid::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
