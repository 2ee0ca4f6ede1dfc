//! Vital signs (section 2.6): one vital signs organizer (3.21) per FHIR vital-signs
//! Observation, with one vital signs observation (3.22) per measured value (a blood pressure
//! panel gives two: systolic and diastolic). Codes are LOINC, values UCUM quantities.

use serde_json::Value;

use super::super::fhir::Ts;
use super::super::xml::{self, Xml};
use super::super::ToCdaError;
use super::context::{Ctx, Ids};
use super::input::PsEntry;
use super::section::{provider_author, provider_cell, text_ref};
use super::view;

const WHEN: &[&str] = &["/effectiveDateTime", "/effectivePeriod/start", "/issued"];

/// One measured value: its code, and value + UCUM unit as written.
struct Measure<'a> {
    code: &'a Value,
    value: String,
    unit: String,
}

fn number(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn measures(r: &Value) -> Vec<Measure<'_>> {
    let one = |holder: &'_ Value| -> Option<(String, String)> {
        let q = holder.get("valueQuantity")?;
        let value = number(q.get("value")?)?;
        let unit = view::s(q, "/code").or(view::s(q, "/unit")).unwrap_or("1");
        Some((value, unit.to_owned()))
    };
    let mut out = Vec::new();
    if let (Some(code), Some((value, unit))) = (r.get("code"), one(r)) {
        out.push(Measure { code, value, unit });
    }
    for c in r
        .get("component")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(code), Some((value, unit))) = (c.get("code"), one(c)) {
            out.push(Measure { code, value, unit });
        }
    }
    out
}

fn label(ctx: &Ctx<'_>, cc: &Value) -> String {
    let codes = view::codings(cc);
    let sv = codes.first().and_then(|c| {
        ctx.t
            .display(&c.code_system, &c.code, terminology::Lang::SV)
            .or_else(|| c.display.clone())
    });
    sv.or_else(|| view::text(cc)).unwrap_or_default()
}

pub(super) fn cells(ctx: &Ctx<'_>, e: &PsEntry) -> Result<Vec<String>, ToCdaError> {
    let r = &e.resource;
    let when = view::date(r, "Observation", WHEN)?;
    let values: Vec<String> = measures(r)
        .iter()
        .map(|m| format!("{} {} {}", label(ctx, m.code), m.value, m.unit))
        .collect();
    Ok(vec![
        r.get("code").and_then(view::text).unwrap_or_default(),
        values.join("; "),
        when.map(|t| t.human()).unwrap_or_default(),
        provider_cell(e),
    ])
}

fn effective(x: &mut Xml, when: Option<&Ts>) {
    match when {
        Some(t) => x.empty("effectiveTime", &[("value", &t.0)]),
        None => x.empty("effectiveTime", &[("nullFlavor", "UNK")]),
    };
}

pub(super) fn entry(x: &mut Xml, ctx: &Ctx<'_>, e: &PsEntry, ids: &Ids) -> Result<(), ToCdaError> {
    let r = &e.resource;
    let when = view::date(r, "Observation", WHEN)?;
    let values = measures(r);
    if values.is_empty() {
        return Err(ToCdaError::Missing {
            path: "Observation.valueQuantity (or component.valueQuantity)".into(),
        });
    }
    x.start("entry", &[("typeCode", "DRIV")]);
    x.start(
        "organizer",
        &[("classCode", "CLUSTER"), ("moodCode", "EVN")],
    );
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.21")],
    );
    xml::ii(x, "id", ctx.id_root, Some(&ids.ext));
    x.empty(
        "code",
        &[
            ("code", "46680005"),
            ("codeSystem", "2.16.840.1.113883.6.96"),
            ("codeSystemName", "SNOMED CT"),
            ("displayName", "Vital signs"),
        ],
    );
    x.empty("statusCode", &[("code", "completed")]);
    effective(x, when.as_ref());
    let time = when.as_ref().map(|t| t.0.as_str());
    provider_author(x, e, time.unwrap_or(&ctx.time));
    for (i, m) in values.iter().enumerate() {
        x.start("component", &[]);
        x.start("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
        x.empty(
            "templateId",
            &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.22")],
        );
        xml::ii(
            x,
            "id",
            ctx.id_root,
            Some(&format!("{}.{}", ids.ext, i + 1)),
        );
        match view::codings(m.code).into_iter().next() {
            Some(mut c) => {
                if let Some(en) = super::super::terms::english(ctx.t, &c) {
                    c.display = Some(en);
                }
                xml::coded(x, "code", &[], &terminology::Transcoded::Member(c));
            }
            None => {
                x.empty("code", &[("nullFlavor", "UNK")]);
            }
        }
        text_ref(x, &ids.text);
        x.empty("statusCode", &[("code", "completed")]);
        effective(x, when.as_ref());
        x.empty(
            "value",
            &[("xsi:type", "PQ"), ("value", &m.value), ("unit", &m.unit)],
        );
        x.end();
        x.end();
    }
    x.end();
    x.end();
    Ok(())
}
