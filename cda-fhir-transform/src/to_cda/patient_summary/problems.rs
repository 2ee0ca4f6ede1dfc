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

fn effective(x: &mut Xml, low: Option<&str>, high: Option<&str>, past: bool) {
    x.start("effectiveTime", &[("xsi:type", "IVL_TS")]);
    match low {
        Some(v) => x.empty("low", &[("value", v)]),
        None => x.empty("low", &[("nullFlavor", "UNK")]),
    };
    if past {
        match high {
            Some(v) => x.empty("high", &[("value", v)]),
            None => x.empty("high", &[("nullFlavor", "UNK")]),
        };
    }
    x.end();
}

pub(super) fn entry(
    x: &mut Xml,
    ctx: &Ctx<'_>,
    e: &PsEntry,
    ids: &Ids,
    past: bool,
) -> Result<(), ToCdaError> {
    let p = read(ctx, e)?;
    let onset = p.onset.as_ref().map(|t| t.0.as_str());
    let end = p.abatement.as_ref().map(|t| t.0.as_str());
    x.start("entry", &[("typeCode", "DRIV")]);
    x.start("act", &[("classCode", "ACT"), ("moodCode", "EVN")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.15")],
    );
    x.empty("templateId", &[("root", "2.16.840.1.113883.10.20.1.27")]);
    xml::ii(x, "id", ctx.id_root, Some(&ids.ext));
    x.empty(
        "code",
        &[
            ("code", "CONC"),
            ("codeSystem", "2.16.840.1.113883.5.6"),
            ("displayName", "Concern"),
        ],
    );
    x.empty(
        "statusCode",
        &[("code", if past { "completed" } else { "active" })],
    );
    effective(x, onset, end, past);
    let time = p
        .recorded
        .as_ref()
        .or(p.onset.as_ref())
        .map(|t| t.0.as_str());
    provider_author(x, e, time.unwrap_or(&ctx.time));
    x.start(
        "entryRelationship",
        &[("typeCode", "SUBJ"), ("inversionInd", "false")],
    );
    x.start("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.7")],
    );
    xml::ii(x, "id", ctx.id_root, Some(&format!("{}.1", ids.ext)));
    problem_code(x);
    text_ref(x, &ids.text);
    x.empty("statusCode", &[("code", "completed")]);
    effective(x, onset, end, past);
    match &p.value {
        Some(c) => section::concept(x, "value", &[("xsi:type", "CD")], c, None),
        None => {
            x.empty("value", &[("xsi:type", "CD"), ("nullFlavor", "UNK")]);
        }
    }
    x.end();
    x.end();
    x.end();
    x.end();
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
    x.start("entry", &[("typeCode", "DRIV")]);
    x.start("act", &[("classCode", "ACT"), ("moodCode", "EVN")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.15")],
    );
    x.empty("templateId", &[("root", "2.16.840.1.113883.10.20.1.27")]);
    xml::ii(
        x,
        "id",
        ctx.id_root,
        Some(&format!("{}.problems.none", ctx.document_id)),
    );
    x.empty(
        "code",
        &[
            ("code", "CONC"),
            ("codeSystem", "2.16.840.1.113883.5.6"),
            ("displayName", "Concern"),
        ],
    );
    x.empty("statusCode", &[("code", "active")]);
    effective(x, None, None, false);
    x.start(
        "entryRelationship",
        &[("typeCode", "SUBJ"), ("inversionInd", "false")],
    );
    x.start("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.7")],
    );
    xml::ii(
        x,
        "id",
        ctx.id_root,
        Some(&format!("{}.problems.none.1", ctx.document_id)),
    );
    problem_code(x);
    text_ref(x, text_id);
    x.empty("statusCode", &[("code", "completed")]);
    effective(x, None, None, false);
    absent_code(x, "value", true, (code, display));
    x.end();
    x.end();
    x.end();
    x.end();
}
