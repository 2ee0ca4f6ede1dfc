//! Identifier and code systems, with the spellings the Swedish and EU systems use for each.
//!
//! Swedish systems send the same identifier system as a URI, a `urn:oid:` or a bare OID. Match on
//! [`IdentifierSystem::recognise`]; produce with the canonical forms below.

/// Canonical OID of the Swedish personnummer.
pub const PERSONNUMMER_OID: &str = "1.2.752.129.2.1.3.1";
/// Canonical OID of the Swedish samordningsnummer.
pub const SAMORDNINGSNUMMER_OID: &str = "1.2.752.129.2.1.3.3";
/// Canonical OID of the Swedish HSA-id (HSA catalogue identity).
pub const HSA_ID_OID: &str = "1.2.752.129.2.1.4.1";

/// The URI spellings NLL and other national services use in FHIR.
pub const PERSONNUMMER_URI: &str = "http://electronichealth.se/identifier/personnummer";
pub const SAMORDNINGSNUMMER_URI: &str = "http://electronichealth.se/identifier/samordningsnummer";
pub const HSA_ID_URI: &str = "http://electronichealth.se/identifier/hsaid";
/// The older OID under which some systems send the HSA-id.
pub const HSA_ID_LEGACY_OID: &str = "1.2.752.29.4.19";

/// NPL-id (Nationellt produktregister för läkemedel, the Swedish medicinal product id).
pub const NPL_ID_OID: &str = "1.2.752.129.2.1.5.1";
pub const NPL_ID_URI: &str = "http://electronichealth.se/identifier/nplid";
/// NPL package id (a specific pack of a product).
pub const NPL_PACK_ID_OID: &str = "1.2.752.129.2.1.5.2";
pub const NPL_PACK_ID_URI: &str = "http://electronichealth.se/identifier/nplpackid";

/// Code systems the eHDSI value sets draw on.
pub const ATC_OID: &str = "2.16.840.1.113883.6.73";
pub const ATC_URI: &str = "http://www.whocc.no/atc";
pub const EDQM_OID: &str = "0.4.0.127.0.16.1.1.2.1";
pub const EDQM_URI: &str = "http://standardterms.edqm.eu";
pub const SNOMED_CT_OID: &str = "2.16.840.1.113883.6.96";
pub const SNOMED_CT_URI: &str = "http://snomed.info/sct";
pub const UCUM_OID: &str = "2.16.840.1.113883.6.8";
pub const UCUM_URI: &str = "http://unitsofmeasure.org";
pub const ICD10_OID: &str = "1.2.752.116.1.1.1";
pub const LOINC_OID: &str = "2.16.840.1.113883.6.1";
pub const LOINC_URI: &str = "http://loinc.org";

/// A recognised identifier system, whatever spelling it arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierSystem {
    Personnummer,
    Samordningsnummer,
    HsaId,
    NplId,
    NplPackId,
}

impl IdentifierSystem {
    /// Recognises `system` in any of its spellings: URI, `urn:oid:` or bare OID.
    pub fn recognise(system: &str) -> Option<Self> {
        let s = system.trim();
        let s = s.strip_prefix("urn:oid:").unwrap_or(s);
        Some(match s {
            PERSONNUMMER_OID | PERSONNUMMER_URI => IdentifierSystem::Personnummer,
            SAMORDNINGSNUMMER_OID | SAMORDNINGSNUMMER_URI => IdentifierSystem::Samordningsnummer,
            HSA_ID_OID | HSA_ID_LEGACY_OID | HSA_ID_URI => IdentifierSystem::HsaId,
            NPL_ID_OID | NPL_ID_URI => IdentifierSystem::NplId,
            NPL_PACK_ID_OID | NPL_PACK_ID_URI => IdentifierSystem::NplPackId,
            _ => return None,
        })
    }

    /// The canonical OID, for CDA.
    pub fn oid(self) -> &'static str {
        match self {
            IdentifierSystem::Personnummer => PERSONNUMMER_OID,
            IdentifierSystem::Samordningsnummer => SAMORDNINGSNUMMER_OID,
            IdentifierSystem::HsaId => HSA_ID_OID,
            IdentifierSystem::NplId => NPL_ID_OID,
            IdentifierSystem::NplPackId => NPL_PACK_ID_OID,
        }
    }

    /// The canonical FHIR system URI, as NLL uses it.
    pub fn uri(self) -> &'static str {
        match self {
            IdentifierSystem::Personnummer => PERSONNUMMER_URI,
            IdentifierSystem::Samordningsnummer => SAMORDNINGSNUMMER_URI,
            IdentifierSystem::HsaId => HSA_ID_URI,
            IdentifierSystem::NplId => NPL_ID_URI,
            IdentifierSystem::NplPackId => NPL_PACK_ID_URI,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_is_recognised() {
        for s in [
            "http://electronichealth.se/identifier/personnummer",
            "1.2.752.129.2.1.3.1",
            "urn:oid:1.2.752.129.2.1.3.1",
        ] {
            assert_eq!(
                IdentifierSystem::recognise(s),
                Some(IdentifierSystem::Personnummer)
            );
        }
        for s in [
            "urn:oid:1.2.752.29.4.19",
            "1.2.752.129.2.1.4.1",
            "urn:oid:1.2.752.129.2.1.4.1",
        ] {
            assert_eq!(
                IdentifierSystem::recognise(s),
                Some(IdentifierSystem::HsaId)
            );
        }
        assert_eq!(
            IdentifierSystem::recognise("http://electronichealth.se/identifier/samordningsnummer"),
            Some(IdentifierSystem::Samordningsnummer)
        );
        assert_eq!(IdentifierSystem::recognise("1.2.3"), None);
    }
}
