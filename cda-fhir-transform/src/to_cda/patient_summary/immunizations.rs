//! Immunizations (section 2.15): one immunization (3.19) per FHIR Immunization, the vaccine in
//! eHDSIVaccine (ATC or SNOMED CT; a CVX coding alone stays the original translation).

use terminology::value_sets;

use super::super::xml::{self, Xml};
use super::super::ToCdaError;
use super::context::{Ctx, Ids};
use super::input::PsEntry;
use super::section::{self, provider_author, provider_cell, text_ref};
use super::view;

const WHEN: &[&str] = &["/occurrenceDateTime", "/recorded"];

pub(super) fn cells(ctx: &Ctx<'_>, e: &PsEntry) -> Result<Vec<String>, ToCdaError> {
    let r = &e.resource;
    let cc = r.get("vaccineCode");
    let name = match cc.and_then(|cc| view::concept(ctx.t, cc, value_sets::VACCINE)) {
        Some(c) => view::readable_with_code(ctx.t, &c.tc),
        None => cc
            .and_then(view::text)
            .unwrap_or_else(|| "Okänt vaccin / Unknown vaccine".into()),
    };
    let when = view::date(r, "Immunization", WHEN)?;
    Ok(vec![
        name,
        when.map(|t| t.human()).unwrap_or_default(),
        provider_cell(e),
    ])
}

pub(super) fn entry(x: &mut Xml, ctx: &Ctx<'_>, e: &PsEntry, ids: &Ids) -> Result<(), ToCdaError> {
    let r = &e.resource;
    let when = view::date(r, "Immunization", WHEN)?;
    let not_done = view::s(r, "/status") == Some("not-done");
    x.start("entry", &[("typeCode", "DRIV")]);
    x.start(
        "substanceAdministration",
        &[
            ("classCode", "SBADM"),
            ("moodCode", "EVN"),
            ("negationInd", if not_done { "true" } else { "false" }),
        ],
    );
    for t in [
        "1.3.6.1.4.1.12559.11.10.1.3.1.3.19",
        "1.3.6.1.4.1.19376.1.5.3.1.4.12",
        "2.16.840.1.113883.10.20.1.24",
    ] {
        x.empty("templateId", &[("root", t)]);
    }
    xml::ii(x, "id", ctx.id_root, Some(&ids.ext));
    x.empty(
        "code",
        &[
            ("code", "IMMUNIZ"),
            ("codeSystem", "1.3.5.1.4.1.19376.1.5.3.2"),
            ("codeSystemName", "IHEActCode"),
            ("displayName", "Immunization"),
        ],
    );
    text_ref(x, &ids.text);
    x.empty("statusCode", &[("code", "completed")]);
    match &when {
        Some(t) => x.empty("effectiveTime", &[("value", &t.0)]),
        None => x.empty("effectiveTime", &[("nullFlavor", "UNK")]),
    };
    x.start("consumable", &[("typeCode", "CSM")]);
    x.start("manufacturedProduct", &[("classCode", "MANU")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.18")],
    );
    x.empty("templateId", &[("root", "2.16.840.1.113883.10.20.1.53")]);
    x.start(
        "manufacturedMaterial",
        &[("classCode", "MMAT"), ("determinerCode", "KIND")],
    );
    let cc = r.get("vaccineCode");
    match cc.and_then(|cc| view::concept(ctx.t, cc, value_sets::VACCINE)) {
        Some(c) => section::concept(x, "code", &[], &c, Some(&ids.text)),
        None => {
            x.start("code", &[("nullFlavor", "UNK")]);
            x.start("originalText", &[]);
            x.empty("reference", &[("value", &format!("#{}", ids.text))]);
            x.end();
            x.end();
        }
    }
    let name = cc
        .and_then(view::text)
        .unwrap_or_else(|| "Okänt vaccin / Unknown vaccine".into());
    x.leaf("name", &[], &name);
    x.end();
    x.end();
    x.end();
    let time = when.as_ref().map(|t| t.0.as_str());
    provider_author(x, e, time.unwrap_or(&ctx.time));
    x.end();
    x.end();
    Ok(())
}
