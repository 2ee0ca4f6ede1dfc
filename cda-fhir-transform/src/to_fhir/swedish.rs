//! The one place this module talks to the `terminology` crate: Swedish displays and FHIR
//! system URIs for code systems.

use ncp_types::Oid;
use terminology::{code_systems, Lang, Terminology};

/// The Swedish display of a code, when the terminology has a genuinely Swedish designation
/// (the English fallback does not count).
pub(crate) fn swedish_display(code_system: &Oid, code: &str) -> Option<&'static str> {
    let t = Terminology::embedded();
    let sv = t.designation(code_system, code, Lang::SV)?;
    if sv.lang != Lang::SV {
        // The English fallback: no Swedish designation (saves a second lookup).
        return None;
    }
    match t.designation(code_system, code, Lang::EN) {
        Some(en) if en.text == sv.text => None,
        _ => Some(sv.text.as_str()),
    }
}

/// The FHIR `Coding.system` for a code system OID: its well-known URI (ATC, EDQM, SNOMED CT,
/// UCUM, LOINC, NPL-id, HL7 v3 systems) or `urn:oid:`.
pub(crate) fn system_uri(code_system: &Oid) -> String {
    code_systems::to_uri(code_system)
}
