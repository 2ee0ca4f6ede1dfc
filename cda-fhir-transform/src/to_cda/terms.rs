//! The one place the writers call the `terminology` crate: transcoding into eHDSI value sets
//! (with the English display eHDSI documents carry) and value-set membership of units.

use terminology::{value_sets, Coded, Lang, Terminology, Transcoded};
use tracing::debug;

/// Transcodes `coded` into the eHDSI value set `value_set`. Members and mapped targets carry the
/// English display when the terminology knows it; the original is always kept.
pub(crate) fn transcode(t: &Terminology, coded: &Coded, value_set: &str) -> Transcoded {
    match t.transcode(coded, value_set) {
        Transcoded::Member(mut c) => {
            if let Some(en) = t.display(&c.code_system, &c.code, Lang::EN) {
                c.display = Some(en);
            }
            Transcoded::Member(c)
        }
        Transcoded::Unmapped { original } => {
            // Code system and code only: never patient data.
            debug!(
                value_set,
                code_system = %original.code_system,
                code = %original.code,
                "not in the eHDSI value set: written as nullFlavor OTH with a translation"
            );
            Transcoded::Unmapped { original }
        }
        mapped => mapped,
    }
}

/// The English display of a code, if known (for narratives next to the Swedish one).
pub(crate) fn english(t: &Terminology, coded: &Coded) -> Option<String> {
    t.display(&coded.code_system, &coded.code, Lang::EN)
}

/// Whether a UCUM unit is in eHDSIUnit (otherwise quantities fall back to a unit the schema
/// accepts and keep the original in the narrative).
pub(crate) fn is_ehdsi_unit(t: &Terminology, unit: &str) -> bool {
    if unit == "1" || (unit.starts_with('{') && unit.ends_with('}')) {
        return true;
    }
    match ncp_types::Oid::parse(ncp_types::systems::UCUM_OID) {
        Ok(ucum) => t.contains(value_sets::UNIT, &Coded::new(unit, ucum)),
        Err(_) => false,
    }
}
