//! The one place this module talks to the `terminology` crate: Swedish displays and FHIR
//! system URIs for code systems.

use ncp_types::Oid;
use terminology::{code_systems, Lang, Terminology};

/// The Swedish display of a code, when the terminology has a genuinely Swedish designation
/// (the English fallback does not count, nor a Swedish text equal to the English one).
pub(crate) fn swedish_display(code_system: &Oid, code: &str) -> Option<&'static str> {
    // One lookup for both languages (every coding written asks).
    let ds = Terminology::embedded().designations(code_system, code);
    let sv = ds.iter().find(|d| d.lang == Lang::SV)?;
    match ds.iter().find(|d| d.lang == Lang::EN) {
        Some(en) if en.text == sv.text => None,
        _ => Some(sv.text.as_str()),
    }
}

/// The FHIR `Coding.system` for a code system OID: its well-known URI (ATC, EDQM, SNOMED CT,
/// UCUM, LOINC, NPL-id, HL7 v3 systems), or `None` when it is written as `urn:oid:`.
pub(crate) fn known_system_uri(code_system: &Oid) -> Option<&'static str> {
    code_systems::known_uri(code_system)
}
