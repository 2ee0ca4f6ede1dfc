//! Medication summary (section 2.3): one medication item (substanceAdministration 3.4) per
//! MedicationStatement or NLL MedicationRequest, with the product (3.31/3.32) named and coded
//! by its NPL-id and ATC code (eHDSIActiveIngredient) and the route (eHDSIRouteofAdministration).

use ncp_types::systems::{ATC_OID, NPL_ID_OID};
use serde_json::Value;
use terminology::{value_sets, Transcoded};

use super::super::eprescription::interval;
use super::super::fhir::Ts;
use super::super::terms::is_ehdsi_unit;
use super::super::xml::{self, Xml};
use super::super::ToCdaError;
use super::context::{Ctx, Ids};
use super::input::PsEntry;
use super::section::{self, absent_code, provider_author, provider_cell, text_ref};
use super::view;
use super::Absence;

struct Medication {
    name: String,
    npl_id: Option<String>,
    atc: Option<Transcoded>,
    route: Option<view::Concept>,
    dosage: Option<String>,
    start: Option<Ts>,
    end: Option<Ts>,
    active: bool,
    /// `timing.repeat` as (frequency, period, period unit).
    timing: Option<(u32, f64, &'static str)>,
    /// `doseAndRate.doseQuantity` as (value, UCUM unit in eHDSIUnit, else `1`).
    dose: Option<(String, String)>,
}

/// The dose per administration, its unit kept only when eHDSIUnit has it (as the
/// ePrescription does; the dosage text in the narrative carries the original).
fn dose(t: &terminology::Terminology, dosage: Option<&Vec<Value>>) -> Option<(String, String)> {
    let q = dosage?
        .iter()
        .find_map(|d| d.pointer("/doseAndRate/0/doseQuantity"))?;
    let value = match q.get("value")? {
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let unit = view::s(q, "/code")
        .filter(|u| is_ehdsi_unit(t, u))
        .unwrap_or("1");
    Some((value, unit.to_owned()))
}

/// The dosage frequency as PIVL_TS when the dosage has a `timing.repeat`; otherwise the
/// period is unknown (the dosage text is in the narrative).
fn frequency(x: &mut Xml, timing: Option<(u32, f64, &'static str)>) {
    let interval = timing.and_then(|(f, p, u)| interval(f, p, u));
    x.start(
        "effectiveTime",
        &[
            ("xsi:type", "PIVL_TS"),
            ("institutionSpecified", "true"),
            ("operator", "A"),
        ],
    );
    match &interval {
        Some((value, unit)) => x.empty("period", &[("value", value), ("unit", unit)]),
        None => x.empty("period", &[("nullFlavor", "UNK")]),
    };
    x.end();
}

fn timing(dosage: Option<&Vec<Value>>) -> Option<(u32, f64, &'static str)> {
    let repeat = dosage?.iter().find_map(|d| d.pointer("/timing/repeat"))?;
    let frequency = u32::try_from(repeat.get("frequency")?.as_u64()?).ok()?;
    let period = repeat.get("period")?.as_f64()?;
    let unit = match repeat.get("periodUnit")?.as_str()? {
        "s" => "s",
        "min" => "min",
        "h" => "h",
        "d" => "d",
        "wk" => "wk",
        "mo" => "mo",
        "a" => "a",
        _ => return None,
    };
    Some((frequency, period, unit))
}

/// The medication's CodeableConcept: `medicationCodeableConcept`, or the `code` of a
/// contained Medication that `medicationReference` points to.
fn medication_concept(r: &Value) -> Option<&Value> {
    if let Some(cc) = r.get("medicationCodeableConcept") {
        return Some(cc);
    }
    let reference = view::s(r, "/medicationReference/reference")?;
    let local = reference.strip_prefix('#')?;
    r.get("contained")?
        .as_array()?
        .iter()
        .find(|c| view::s(c, "/id") == Some(local))
        .and_then(|m| m.get("code"))
}

fn read(ctx: &Ctx<'_>, e: &PsEntry) -> Result<Medication, ToCdaError> {
    let r = &e.resource;
    let ty = view::s(r, "/resourceType").unwrap_or("MedicationStatement");
    let cc = medication_concept(r);
    let codes = cc.map(view::codings).unwrap_or_default();
    let npl_id = codes
        .iter()
        .find(|c| c.code_system.as_str() == NPL_ID_OID)
        .map(|c| c.code.clone());
    let atc = codes
        .iter()
        .find(|c| c.code_system.as_str() == ATC_OID)
        .map(|c| super::super::terms::transcode(ctx.t, c, value_sets::ACTIVE_INGREDIENT));
    let name = cc
        .and_then(view::text)
        .or_else(|| view::s(r, "/medicationReference/display").map(str::to_owned))
        .unwrap_or_else(|| "Okänt läkemedel / Unknown medicinal product".to_owned());
    let dosage = r
        .get("dosageInstruction")
        .or_else(|| r.get("dosage"))
        .and_then(Value::as_array);
    let route = dosage
        .and_then(|d| d.iter().find_map(|d| d.get("route")))
        .and_then(|cc| view::concept(ctx.t, cc, value_sets::ROUTE_OF_ADMINISTRATION));
    let text: Vec<&str> = dosage
        .into_iter()
        .flatten()
        .filter_map(|d| view::s(d, "/text"))
        .collect();
    let status = view::s(r, "/status").unwrap_or("active");
    Ok(Medication {
        name,
        npl_id,
        atc,
        route,
        dosage: (!text.is_empty()).then(|| text.join(" ")),
        start: view::date(
            r,
            ty,
            &[
                "/effectivePeriod/start",
                "/effectiveDateTime",
                "/dispenseRequest/validityPeriod/start",
                "/authoredOn",
            ],
        )?,
        end: view::date(
            r,
            ty,
            &[
                "/effectivePeriod/end",
                "/dispenseRequest/validityPeriod/end",
            ],
        )?,
        active: matches!(status, "active" | "intended" | "on-hold" | "draft"),
        timing: timing(dosage),
        dose: dose(ctx.t, dosage),
    })
}

pub(super) fn cells(ctx: &Ctx<'_>, e: &PsEntry) -> Result<Vec<String>, ToCdaError> {
    let m = read(ctx, e)?;
    let mut name = m.name.clone();
    if let Some(atc) = &m.atc {
        name = format!(
            "{name} (ATC {} {})",
            atc.original().code,
            view::readable(ctx.t, atc)
        );
    }
    let mut dosage = m.dosage.clone().unwrap_or_default();
    if let Some(route) = &m.route {
        if !dosage.is_empty() {
            dosage.push_str("; ");
        }
        dosage.push_str(&view::readable(ctx.t, &route.tc));
    }
    Ok(vec![
        name,
        dosage,
        m.start.as_ref().map(|t| t.human()).unwrap_or_default(),
        provider_cell(e),
    ])
}

fn open(x: &mut Xml, ctx: &Ctx<'_>, ext: &str) {
    x.start("entry", &[("typeCode", "DRIV")]);
    x.start(
        "substanceAdministration",
        &[("classCode", "SBADM"), ("moodCode", "INT")],
    );
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.4")],
    );
    x.empty("templateId", &[("root", "2.16.840.1.113883.10.20.1.24")]);
    xml::ii(x, "id", ctx.id_root, Some(ext));
}

pub(super) fn entry(x: &mut Xml, ctx: &Ctx<'_>, e: &PsEntry, ids: &Ids) -> Result<(), ToCdaError> {
    let m = read(ctx, e)?;
    open(x, ctx, &ids.ext);
    text_ref(x, &ids.text);
    x.empty(
        "statusCode",
        &[("code", if m.active { "active" } else { "completed" })],
    );
    section::interval(
        x,
        m.start.as_ref().map(|t| t.0.as_str()),
        Some(m.end.as_ref().map(|t| t.0.as_str())),
    );
    frequency(x, m.timing);
    if let Some(route) = &m.route {
        section::concept(x, "routeCode", &[], route, None);
    }
    if let Some((value, unit)) = &m.dose {
        x.empty("doseQuantity", &[("value", value), ("unit", unit)]);
    }
    x.start("consumable", &[("typeCode", "CSM")]);
    x.start("manufacturedProduct", &[("classCode", "MANU")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.31")],
    );
    x.start(
        "manufacturedMaterial",
        &[("classCode", "MMAT"), ("determinerCode", "KIND")],
    );
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.32")],
    );
    if let Some(npl) = &m.npl_id {
        x.empty(
            "code",
            &[
                ("code", npl),
                ("codeSystem", NPL_ID_OID),
                ("codeSystemName", "NPL-id"),
                ("displayName", &m.name),
            ],
        );
    }
    x.leaf("name", &[], &m.name);
    if let Some(atc) = &m.atc {
        x.start("pharm:asSpecializedKind", &[("classCode", "GRIC")]);
        x.start(
            "pharm:generalizedMaterialKind",
            &[("classCode", "MMAT"), ("determinerCode", "KIND")],
        );
        xml::coded(x, "pharm:code", &[], atc);
        if let Some(d) = &atc.original().display {
            x.leaf("pharm:name", &[], d);
        }
        x.end();
        x.end();
    }
    x.end();
    x.end();
    x.end();
    let time = m.start.as_ref().map(|t| t.0.as_str());
    provider_author(x, e, time.unwrap_or(&ctx.time));
    x.end();
    x.end();
    Ok(())
}

/// The empty medication summary: `no-known-medications` (known absence) or
/// `no-medication-info` (no information), eHDSIAbsentOrUnknownMedication.
pub(super) fn empty(x: &mut Xml, ctx: &Ctx<'_>, absence: Absence, text_id: &str) {
    let code = match absence {
        Absence::Known => ("no-known-medications", "No known medications"),
        Absence::NoInformation => ("no-medication-info", "No information about medications"),
    };
    open(x, ctx, &format!("{}.medications.none", ctx.document_id));
    absent_code(x, "code", false, code);
    text_ref(x, text_id);
    x.empty("statusCode", &[("code", "completed")]);
    x.empty(
        "effectiveTime",
        &[("xsi:type", "IVL_TS"), ("nullFlavor", "UNK")],
    );
    x.empty("effectiveTime", &[("nullFlavor", "NA")]);
    x.start("consumable", &[("typeCode", "CSM")]);
    x.start("manufacturedProduct", &[("classCode", "MANU")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.31")],
    );
    x.start(
        "manufacturedMaterial",
        &[
            ("classCode", "MMAT"),
            ("determinerCode", "KIND"),
            ("nullFlavor", "NA"),
        ],
    );
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.32")],
    );
    x.end();
    x.end();
    x.end();
    x.end();
    x.end();
}
