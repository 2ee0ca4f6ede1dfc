//! Reading the clinical FHIR resources: codes (every coding of a CodeableConcept, transcoded
//! into an eHDSI value set), dates and texts. Small functions over `serde_json::Value`; the
//! section writers decide what to read.

use serde_json::Value;
use terminology::{Coded, Lang, Terminology, Transcoded};

use super::super::fhir::Ts;
use super::super::{terms, ToCdaError};

/// A string at a JSON pointer (`/code/text`).
pub(super) fn s<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// The codings of a CodeableConcept as [`Coded`]s, each with a display (the coding's, else the
/// concept's text, else the code: eHDSI requires `displayName` on every code and translation).
/// Codings whose system is neither an OID nor a known URI are skipped.
pub(super) fn codings(cc: &Value) -> Vec<Coded> {
    let text = s(cc, "/text");
    cc.get("coding")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    let code = s(c, "/code")?;
                    let mut coded = Coded::from_fhir(s(c, "/system")?, code.trim())?;
                    coded.display = Some(s(c, "/display").or(text).unwrap_or(code).to_owned());
                    Some(coded)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A readable name for a CodeableConcept: its text, else the first coding's display or code.
pub(super) fn text(cc: &Value) -> Option<String> {
    s(cc, "/text")
        .map(str::to_owned)
        .or_else(|| codings(cc).into_iter().find_map(|c| c.display))
}

/// A CodeableConcept transcoded into an eHDSI value set: the outcome for the coding chosen,
/// and the concept's other codings (kept as further `<translation>`s, so no code a provider
/// sent is dropped).
pub(super) struct Concept {
    pub tc: Transcoded,
    pub others: Vec<Coded>,
}

/// Transcodes a CodeableConcept into `value_set`: the first coding that is a member or has a
/// mapping wins; if none does, the first coding as `Unmapped` (written `nullFlavor="OTH"`
/// with the original as translation, never dropped). `None` when there is no usable coding.
pub(super) fn concept(t: &Terminology, cc: &Value, value_set: &str) -> Option<Concept> {
    let codes = codings(cc);
    let mut chosen: Option<(usize, Transcoded)> = None;
    for (i, c) in codes.iter().enumerate() {
        match terms::transcode(t, c, value_set) {
            Transcoded::Unmapped { original } => {
                if chosen.is_none() {
                    chosen = Some((i, Transcoded::Unmapped { original }));
                }
            }
            found => {
                chosen = Some((i, with_english(t, found)));
                break;
            }
        }
    }
    let (i, tc) = chosen?;
    let target = tc.target().map(|c| (c.code_system.clone(), c.code.clone()));
    let others = codes
        .into_iter()
        .enumerate()
        .filter(|(j, c)| {
            *j != i && target.as_ref() != Some(&(c.code_system.clone(), c.code.clone()))
        })
        .map(|(_, c)| c)
        .collect();
    Some(Concept { tc, others })
}

/// The English display on a mapped target (the pivot document is in English).
fn with_english(t: &Terminology, tc: Transcoded) -> Transcoded {
    match tc {
        Transcoded::Mapped {
            mut target,
            original,
        } => {
            if let Some(en) = terms::english(t, &target) {
                target.display = Some(en);
            }
            if target.display.is_none() {
                target.display = original.display.clone();
            }
            Transcoded::Mapped { target, original }
        }
        other => other,
    }
}

/// The first of `pointers` that holds a FHIR date/dateTime, as an HL7 TS.
pub(super) fn date(r: &Value, resource: &str, pointers: &[&str]) -> Result<Option<Ts>, ToCdaError> {
    for p in pointers {
        if let Some(v) = s(r, p) {
            let path = format!("{resource}{}", p.replace('/', "."));
            return Ts::parse(v, &path).map(Some);
        }
    }
    Ok(None)
}

/// The display to show a reader: the Swedish name (the terminology's designation, else the
/// provider's display) and the English one (the eHDSI target's or the terminology's) when
/// they differ.
pub(super) fn readable(t: &Terminology, tc: &Transcoded) -> String {
    let original = tc.original();
    let sv = t
        .display(&original.code_system, &original.code, Lang::SV)
        .or_else(|| original.display.clone())
        .unwrap_or_else(|| original.code.clone());
    let en = tc
        .target()
        .and_then(|c| c.display.clone())
        .or_else(|| terms::english(t, original));
    match en {
        Some(en) if !en.eq_ignore_ascii_case(&sv) => format!("{sv} / {en}"),
        _ => sv,
    }
}

/// `readable` with the code: `Hypertoni / Hypertension (I10)`.
pub(super) fn readable_with_code(t: &Terminology, tc: &Transcoded) -> String {
    let code = tc.target().unwrap_or(tc.original());
    format!("{} ({})", readable(t, tc), code.code)
}
