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
        // Bytes, not `&t[..2]`: a first character of several bytes would panic there.
        let ok = t.len() >= 4
            && t.len() <= 31
            && t.as_bytes()[..2].eq_ignore_ascii_case(b"SE")
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
        ///
        /// `Debug` does not print the id (it names a patient's prescription or dispensation,
        /// and `?value` ends up in logs); `Display` and [`Self::as_str`] do, for documents
        /// and the audit trail.
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

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

    /// A first character of several bytes used to panic (`&t[..2]` off a char boundary).
    #[test]
    fn hsa_id_refuses_non_ascii_without_panicking() {
        assert!(HsaId::parse("€SE2321000016-1").is_err());
        assert!(HsaId::parse("Å€1234").is_err());
        assert!(HsaId::parse("SÉ2321000016").is_err());
    }

    #[test]
    fn opaque_ids_refuse_empty() {
        assert!(PrescriptionId::new("  ").is_err());
        assert_eq!(PrescriptionId::new("rx-1").unwrap().as_str(), "rx-1");
    }

    #[test]
    fn debug_does_not_print_prescription_or_dispensation_ids() {
        let rx = PrescriptionId::new("rx-4711").unwrap();
        let d = DispensationId::new("ed-4711").unwrap();
        let shown = format!("{rx:?} {d:?} {:?}", Some(&rx));
        assert!(!shown.contains("4711"), "{shown}");
        assert!(shown.contains("PrescriptionId"), "{shown}");
        assert_eq!(rx.to_string(), "rx-4711");
    }
}
