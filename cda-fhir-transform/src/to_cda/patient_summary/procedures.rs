//! History of procedures (section 2.11): one procedure (3.26) per FHIR Procedure, coded in
//! eHDSIProcedure (SNOMED CT).

use terminology::value_sets;

use super::super::xml::{self, Xml};
use super::super::ToCdaError;
use super::context::{Ctx, Ids};
use super::input::PsEntry;
use super::section::{self, absent_code, provider_author, provider_cell, text_ref};
use super::view;
use super::Absence;

const WHEN: &[&str] = &["/performedDateTime", "/performedPeriod/start"];

pub(super) fn cells(ctx: &Ctx<'_>, e: &PsEntry) -> Result<Vec<String>, ToCdaError> {
    let r = &e.resource;
    let name = match r
        .get("code")
        .and_then(|cc| view::concept(ctx.t, cc, value_sets::PROCEDURE))
    {
        Some(c) => view::readable_with_code(ctx.t, &c.tc),
        None => r
            .get("code")
            .and_then(view::text)
            .unwrap_or_else(|| "Okänd åtgärd / Unknown procedure".into()),
    };
    let when = view::date(r, "Procedure", WHEN)?;
    Ok(vec![
        name,
        when.map(|t| t.human()).unwrap_or_default(),
        provider_cell(e),
    ])
}

fn open(x: &mut Xml, ctx: &Ctx<'_>, ext: &str) {
    x.start("entry", &[("typeCode", "DRIV")]);
    x.start("procedure", &[("classCode", "PROC"), ("moodCode", "EVN")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.26")],
    );
    xml::ii(x, "id", ctx.id_root, Some(ext));
}

pub(super) fn entry(x: &mut Xml, ctx: &Ctx<'_>, e: &PsEntry, ids: &Ids) -> Result<(), ToCdaError> {
    let r = &e.resource;
    let when = view::date(r, "Procedure", WHEN)?;
    open(x, ctx, &ids.ext);
    match r
        .get("code")
        .and_then(|cc| view::concept(ctx.t, cc, value_sets::PROCEDURE))
    {
        Some(c) => section::concept(x, "code", &[], &c, None),
        None => {
            x.empty("code", &[("nullFlavor", "UNK")]);
        }
    }
    text_ref(x, &ids.text);
    let status = match view::s(r, "/status") {
        Some("in-progress") => "active",
        Some("stopped" | "not-done") => "aborted",
        _ => "completed",
    };
    x.empty("statusCode", &[("code", status)]);
    match &when {
        Some(t) => x.empty("effectiveTime", &[("value", &t.0)]),
        None => x.empty("effectiveTime", &[("nullFlavor", "UNK")]),
    };
    let time = when.as_ref().map(|t| t.0.as_str());
    provider_author(x, e, time.unwrap_or(&ctx.time));
    x.end();
    x.end();
    Ok(())
}

/// The empty procedures section: `no-known-procedures` or `no-procedure-info`
/// (eHDSIAbsentOrUnknownProcedure).
pub(super) fn empty(x: &mut Xml, ctx: &Ctx<'_>, absence: Absence, text_id: &str) {
    let code = match absence {
        Absence::Known => ("no-known-procedures", "No known procedures"),
        Absence::NoInformation => (
            "no-procedure-info",
            "No information about past history of procedures",
        ),
    };
    open(x, ctx, &format!("{}.procedures.none", ctx.document_id));
    absent_code(x, "code", false, code);
    text_ref(x, text_id);
    x.empty("statusCode", &[("code", "completed")]);
    x.empty("effectiveTime", &[("nullFlavor", "NA")]);
    x.end();
    x.end();
}
