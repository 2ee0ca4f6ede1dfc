//! Allergies and intolerances (section 2.12): an allergy concern act (3.16) around an
//! allergy/intolerance observation (3.17) with the agent as consumable participant, the
//! reaction (3.44), the criticality (3.33) and the clinical status (3.34).

use terminology::value_sets;

use super::super::fhir::Ts;
use super::super::xml::{self, Xml};
use super::super::ToCdaError;
use super::context::{Ctx, Ids};
use super::input::PsEntry;
use super::section::{self, absent_code, provider_author, provider_cell, text_ref};
use super::view;
use super::Absence;

const SNOMED: &str = "2.16.840.1.113883.6.96";
const CRITICALITY_SYSTEM: &str = "2.16.840.1.113883.4.642.4.130";
const ALLERGY_STATUS_SYSTEM: &str = "2.16.840.1.113883.4.642.4.1373";

struct Allergy {
    agent: Option<view::Concept>,
    kind: (&'static str, &'static str),
    reactions: Vec<view::Concept>,
    criticality: Option<(&'static str, &'static str)>,
    status: Option<(&'static str, &'static str)>,
    since: Option<Ts>,
    recorded: Option<Ts>,
}

/// The agent: a non-drug allergen (SNOMED CT) or an active ingredient (ATC).
fn agent(ctx: &Ctx<'_>, cc: &serde_json::Value) -> Option<view::Concept> {
    let no_drug = view::concept(ctx.t, cc, value_sets::ALLERGEN_NO_DRUG)?;
    if !no_drug.tc.is_unmapped() {
        return Some(no_drug);
    }
    match view::concept(ctx.t, cc, value_sets::ACTIVE_INGREDIENT) {
        Some(drug) if !drug.tc.is_unmapped() => Some(drug),
        _ => Some(no_drug),
    }
}

fn read(ctx: &Ctx<'_>, e: &PsEntry) -> Result<Allergy, ToCdaError> {
    let r = &e.resource;
    let intolerance = view::s(r, "/type") == Some("intolerance");
    let reactions = r
        .get("reaction")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .flat_map(|re| {
            re.get("manifestation")
                .and_then(|m| m.as_array())
                .into_iter()
                .flatten()
        })
        .filter_map(|m| view::concept(ctx.t, m, value_sets::REACTION_ALLERGY))
        .collect();
    Ok(Allergy {
        agent: r.get("code").and_then(|cc| agent(ctx, cc)),
        kind: if intolerance {
            ("782197009", "Intolerance to substance")
        } else {
            ("609328004", "Allergic disposition")
        },
        reactions,
        criticality: match view::s(r, "/criticality") {
            Some("low") => Some(("low", "Low Risk")),
            Some("high") => Some(("high", "High Risk")),
            Some("unable-to-assess") => Some(("unable-to-assess", "Unable to Assess Risk")),
            _ => None,
        },
        status: match view::s(r, "/clinicalStatus/coding/0/code") {
            Some("active") => Some(("active", "Active")),
            Some("inactive") => Some(("inactive", "Inactive")),
            Some("resolved") => Some(("resolved", "Resolved")),
            _ => None,
        },
        since: view::date(
            r,
            "AllergyIntolerance",
            &["/onsetDateTime", "/onsetPeriod/start"],
        )?,
        recorded: view::date(r, "AllergyIntolerance", &["/recordedDate"])?,
    })
}

pub(super) fn cells(ctx: &Ctx<'_>, e: &PsEntry) -> Result<Vec<String>, ToCdaError> {
    let a = read(ctx, e)?;
    let agent = match &a.agent {
        Some(c) => view::readable_with_code(ctx.t, &c.tc),
        None => e
            .resource
            .get("code")
            .and_then(view::text)
            .unwrap_or_else(|| "Okänt ämne / Unknown agent".into()),
    };
    let kind = if a.kind.0 == "782197009" {
        "Intolerans / Intolerance"
    } else {
        "Allergi / Allergy"
    };
    let reactions: Vec<String> = a
        .reactions
        .iter()
        .map(|r| view::readable(ctx.t, &r.tc))
        .collect();
    let criticality = match a.criticality.map(|c| c.0) {
        Some("low") => "Låg / Low",
        Some("high") => "Hög / High",
        Some(_) => "Kan ej bedömas / Unable to assess",
        None => "",
    };
    Ok(vec![
        agent,
        kind.into(),
        reactions.join(", "),
        criticality.into(),
        a.since
            .or(a.recorded)
            .map(|t| t.human())
            .unwrap_or_default(),
        provider_cell(e),
    ])
}

fn concern_open(x: &mut Xml, ctx: &Ctx<'_>, ext: &str, low: Option<&str>) {
    section::concern_open(
        x,
        &["1.3.6.1.4.1.12559.11.10.1.3.1.3.16"],
        (ctx.id_root, ext),
        "active",
    );
    section::interval(x, low, None);
}

fn observation_open(
    x: &mut Xml,
    ctx: &Ctx<'_>,
    ext: &str,
    kind: (&str, &str),
    text_id: &str,
    low: Option<&str>,
) {
    x.start(
        "entryRelationship",
        &[("typeCode", "SUBJ"), ("inversionInd", "false")],
    );
    x.start("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.17")],
    );
    xml::ii(x, "id", ctx.id_root, Some(ext));
    x.empty(
        "code",
        &[
            ("code", kind.0),
            ("codeSystem", SNOMED),
            ("codeSystemName", "SNOMED CT"),
            ("displayName", kind.1),
        ],
    );
    text_ref(x, text_id);
    x.empty("statusCode", &[("code", "completed")]);
    section::interval(x, low, None);
}

fn simple_obs(
    x: &mut Xml,
    text_id: &str,
    rel: &[(&str, &str)],
    template: &str,
    code: (&str, &str),
    value: (&str, &str, &str),
) {
    x.start("entryRelationship", rel);
    x.start("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
    x.empty("templateId", &[("root", template)]);
    x.empty(
        "code",
        &[
            ("code", code.0),
            ("codeSystem", "2.16.840.1.113883.6.1"),
            ("codeSystemName", "LOINC"),
            ("displayName", code.1),
        ],
    );
    text_ref(x, text_id);
    x.empty("statusCode", &[("code", "completed")]);
    x.empty(
        "value",
        &[
            ("xsi:type", "CE"),
            ("code", value.0),
            ("codeSystem", value.2),
            ("displayName", value.1),
        ],
    );
    x.end();
    x.end();
}

pub(super) fn entry(x: &mut Xml, ctx: &Ctx<'_>, e: &PsEntry, ids: &Ids) -> Result<(), ToCdaError> {
    let a = read(ctx, e)?;
    let low = a.since.as_ref().map(|t| t.0.as_str());
    concern_open(x, ctx, &ids.ext, low);
    let time = a
        .recorded
        .as_ref()
        .or(a.since.as_ref())
        .map(|t| t.0.as_str());
    provider_author(x, e, time.unwrap_or(&ctx.time));
    observation_open(x, ctx, &format!("{}.1", ids.ext), a.kind, &ids.text, low);
    if let Some(agent) = &a.agent {
        x.start("participant", &[("typeCode", "CSM")]);
        x.start("participantRole", &[("classCode", "MANU")]);
        x.start("playingEntity", &[("classCode", "MMAT")]);
        section::concept(x, "code", &[], agent, None);
        x.end();
        x.end();
        x.end();
    }
    for (i, reaction) in a.reactions.iter().enumerate() {
        x.start(
            "entryRelationship",
            &[("typeCode", "MFST"), ("inversionInd", "true")],
        );
        x.start("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
        x.empty(
            "templateId",
            &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.44")],
        );
        xml::ii(
            x,
            "id",
            ctx.id_root,
            Some(&format!("{}.1.{}", ids.ext, i + 1)),
        );
        x.empty(
            "code",
            &[
                ("code", "ASSERTION"),
                ("codeSystem", "2.16.840.1.113883.5.4"),
                ("displayName", "Assertion"),
            ],
        );
        text_ref(x, &ids.text);
        x.empty("statusCode", &[("code", "completed")]);
        section::interval(x, low, None);
        section::concept(x, "value", &[("xsi:type", "CD")], reaction, None);
        x.end();
        x.end();
    }
    if let Some((code, display)) = a.criticality {
        simple_obs(
            x,
            &ids.text,
            &[("typeCode", "SUBJ"), ("inversionInd", "true")],
            "1.3.6.1.4.1.12559.11.10.1.3.1.3.33",
            ("82606-5", "Criticality"),
            (code, display, CRITICALITY_SYSTEM),
        );
    }
    if let Some((code, display)) = a.status {
        simple_obs(
            x,
            &ids.text,
            &[("typeCode", "REFR")],
            "1.3.6.1.4.1.12559.11.10.1.3.1.3.34",
            ("33999-4", "Status"),
            (code, display, ALLERGY_STATUS_SYSTEM),
        );
    }
    x.end();
    x.end();
    x.end();
    x.end();
    Ok(())
}

/// The empty allergies section: `no-known-allergies` (known absence) or `no-allergy-info`
/// (no information), eHDSIAbsentOrUnknownAllergy.
pub(super) fn empty(x: &mut Xml, ctx: &Ctx<'_>, absence: Absence, text_id: &str) {
    let (code, display) = match absence {
        Absence::Known => ("no-known-allergies", "No known allergies"),
        Absence::NoInformation => ("no-allergy-info", "No information about allergies"),
    };
    let ext = format!("{}.allergies.none", ctx.document_id);
    concern_open(x, ctx, &ext, None);
    observation_open(
        x,
        ctx,
        &format!("{ext}.1"),
        ("609328004", "Allergic disposition"),
        text_id,
        None,
    );
    absent_code(x, "value", true, (code, display));
    x.end();
    x.end();
    x.end();
    x.end();
}
