//! Active problems (section 2.9) and history of past illness (2.10): a problem concern act
//! (3.15) around a problem observation (3.7) whose value is the diagnosis in
//! eHDSIIllnessandDisorder (ICD-10); Swedish SNOMED CT and ICD-10-SE codes are transcoded.

use terminology::value_sets;

use super::super::xml::{self, Xml};
use super::super::ToCdaError;
use super::context::{Ctx, Ids};
use super::input::PsEntry;
use super::section::{self, absent_code, provider_author, provider_cell, text_ref};
use super::view;
use super::Absence;

struct Problem {
    value: Option<view::Concept>,
    onset: Option<super::super::fhir::Ts>,
    abatement: Option<super::super::fhir::Ts>,
    recorded: Option<super::super::fhir::Ts>,
}

fn read(ctx: &Ctx<'_>, e: &PsEntry) -> Result<Problem, ToCdaError> {
    let r = &e.resource;
    Ok(Problem {
        value: r
            .get("code")
            .and_then(|cc| view::concept(ctx.t, cc, value_sets::ILLNESS_AND_DISORDER)),
        onset: view::date(r, "Condition", &["/onsetDateTime", "/onsetPeriod/start"])?,
        abatement: view::date(
            r,
            "Condition",
            &["/abatementDateTime", "/abatementPeriod/end"],
        )?,
        recorded: view::date(r, "Condition", &["/recordedDate"])?,
    })
}

pub(super) fn cells(ctx: &Ctx<'_>, e: &PsEntry, past: bool) -> Result<Vec<String>, ToCdaError> {
    let p = read(ctx, e)?;
    let name = match &p.value {
        Some(c) => view::readable_with_code(ctx.t, &c.tc),
        None => e
            .resource
            .get("code")
            .and_then(view::text)
            .unwrap_or_else(|| "Okänd diagnos / Unknown problem".into()),
    };
    let mut cells = vec![
        name,
        p.onset.as_ref().map(|t| t.human()).unwrap_or_default(),
    ];
    if past {
        cells.push(p.abatement.as_ref().map(|t| t.human()).unwrap_or_default());
    }
    cells.push(provider_cell(e));
    Ok(cells)
}

fn effective(x: &mut Xml, span: Span<'_>) {
    section::interval(x, span.low, span.past.then_some(span.high));
}

/// The time of a problem: onset, and for a past illness the resolution.
#[derive(Clone, Copy)]
struct Span<'a> {
    low: Option<&'a str>,
    high: Option<&'a str>,
    past: bool,
}

/// Opens `entry/act` (problem concern 3.15) with its id, status and time; the caller writes
/// the author (if any) and the observation.
fn concern_open(x: &mut Xml, ctx: &Ctx<'_>, ext: &str, span: Span<'_>) {
    section::concern_open(
        x,
        &[
            "1.3.6.1.4.1.12559.11.10.1.3.1.3.15",
            "2.16.840.1.113883.10.20.1.27",
        ],
        (ctx.id_root, ext),
        if span.past { "completed" } else { "active" },
    );
    effective(x, span);
}

/// Opens `entryRelationship/observation` (problem 3.7) up to its effectiveTime; the caller
/// writes the value and then [`close`]s.
fn observation_open(x: &mut Xml, ctx: &Ctx<'_>, ext: &str, text_id: &str, span: Span<'_>) {
    x.start(
        "entryRelationship",
        &[("typeCode", "SUBJ"), ("inversionInd", "false")],
    );
    x.start("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.7")],
    );
    xml::ii(x, "id", ctx.id_root, Some(ext));
    problem_code(x);
    text_ref(x, text_id);
    x.empty("statusCode", &[("code", "completed")]);
    effective(x, span);
}

/// Closes the observation, its entryRelationship, the concern act and the entry.
fn close(x: &mut Xml) {
    for _ in 0..4 {
        x.end();
    }
}

pub(super) fn entry(
    x: &mut Xml,
    ctx: &Ctx<'_>,
    e: &PsEntry,
    ids: &Ids,
    past: bool,
) -> Result<(), ToCdaError> {
    let p = read(ctx, e)?;
    let span = Span {
        low: p.onset.as_ref().map(|t| t.0.as_str()),
        high: p.abatement.as_ref().map(|t| t.0.as_str()),
        past,
    };
    concern_open(x, ctx, &ids.ext, span);
    let time = p
        .recorded
        .as_ref()
        .or(p.onset.as_ref())
        .map(|t| t.0.as_str());
    provider_author(x, e, time.unwrap_or(&ctx.time));
    observation_open(x, ctx, &format!("{}.1", ids.ext), &ids.text, span);
    match &p.value {
        Some(c) => section::concept(x, "value", &[("xsi:type", "CD")], c, None),
        None => {
            x.empty("value", &[("xsi:type", "CD"), ("nullFlavor", "UNK")]);
        }
    }
    close(x);
    Ok(())
}

/// The problem observation's code (eHDSICodeProb).
fn problem_code(x: &mut Xml) {
    x.empty(
        "code",
        &[
            ("code", "55607006"),
            ("codeSystem", "2.16.840.1.113883.6.96"),
            ("codeSystemName", "SNOMED CT"),
            ("displayName", "Problem"),
        ],
    );
}

/// The empty active-problems section: one problem whose value is `no-known-problems` (known
/// absence) or `no-problem-info` (no information), from eHDSIAbsentOrUnknownProblem.
pub(super) fn empty(x: &mut Xml, ctx: &Ctx<'_>, absence: Absence, text_id: &str) {
    let (code, display) = match absence {
        Absence::Known => ("no-known-problems", "No known problems"),
        Absence::NoInformation => ("no-problem-info", "No information about current problems"),
    };
    let ext = format!("{}.problems.none", ctx.document_id);
    let span = Span {
        low: None,
        high: None,
        past: false,
    };
    concern_open(x, ctx, &ext, span);
    observation_open(x, ctx, &format!("{ext}.1"), text_id, span);
    absent_code(x, "value", true, (code, display));
    close(x);
}
