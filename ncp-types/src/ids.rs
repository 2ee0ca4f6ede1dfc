use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// An HSA-id: the Swedish identity of a person, unit or organisation in the HSA catalogue
/// (`SE2321000016-1003`: `SE`, the organisation number with a check part, `-`, a local part).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HsaId(String);

impl HsaId {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        let ok = t.len() >= 4
            && t.len() <= 31
            && t[..2].eq_ignore_ascii_case("SE")
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(HsaId(t.to_ascii_uppercase()))
        } else {
            Err(ParseError::HsaId(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HsaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for HsaId {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        HsaId::parse(&s)
    }
}

impl From<HsaId> for String {
    fn from(h: HsaId) -> String {
        h.0
    }
}

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Result<Self, ParseError> {
                let s = s.into();
                if s.trim().is_empty() || s.len() > 256 {
                    Err(ParseError::Empty)
                } else {
                    Ok($name(s))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::new(s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}

opaque_id!(
    /// The id of a prescription (NLL `MedicationRequest.id`, the eHDSI ePrescription id).
    PrescriptionId
);
opaque_id!(
    /// The id of a dispensation (NLL `MedicationDispense.id`, the eHDSI eDispensation id).
    DispensationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsa_id_shapes() {
        assert_eq!(
            HsaId::parse("se2321000016-1003").unwrap().as_str(),
            "SE2321000016-1003"
        );
        assert!(HsaId::parse("XX123").is_err());
        assert!(HsaId::parse("SE 12").is_err());
    }

    #[test]
    fn opaque_ids_refuse_empty() {
        assert!(PrescriptionId::new("  ").is_err());
        assert_eq!(PrescriptionId::new("rx-1").unwrap().as_str(), "rx-1");
    }
}
