//! Medical devices (section 2.4): one medical device supply (3.5) per DeviceUseStatement (its
//! Device contained or inline) or Device, the device type in eHDSIMedicalDevice (SNOMED CT).

use serde_json::Value;
use terminology::value_sets;

use super::super::xml::{self, Xml};
use super::super::ToCdaError;
use super::context::{Ctx, Ids};
use super::input::PsEntry;
use super::section::{self, absent_code, provider_author, provider_cell, text_ref};
use super::view;
use super::Absence;

/// The Device of a DeviceUseStatement (a `#local` reference into `contained`), or the
/// resource itself when it is a Device.
fn device(r: &Value) -> Option<&Value> {
    if view::s(r, "/resourceType") == Some("Device") {
        return Some(r);
    }
    let local = view::s(r, "/device/reference")?.strip_prefix('#')?;
    r.get("contained")?
        .as_array()?
        .iter()
        .find(|c| view::s(c, "/id") == Some(local))
}

const WHEN: &[&str] = &[
    "/timingPeriod/start",
    "/timingDateTime",
    "/recordedOn",
    "/manufactureDate",
];

fn type_concept(r: &Value) -> Option<&Value> {
    device(r).and_then(|d| d.get("type"))
}

pub(super) fn cells(ctx: &Ctx<'_>, e: &PsEntry) -> Result<Vec<String>, ToCdaError> {
    let r = &e.resource;
    let cc = type_concept(r);
    let name = match cc.and_then(|cc| view::concept(ctx.t, cc, value_sets::MEDICAL_DEVICE)) {
        Some(c) => view::readable_with_code(ctx.t, &c.tc),
        None => cc
            .and_then(view::text)
            .or_else(|| view::s(r, "/device/display").map(str::to_owned))
            .unwrap_or_else(|| "Okänd produkt / Unknown device".into()),
    };
    let ty = view::s(r, "/resourceType").unwrap_or("DeviceUseStatement");
    let since = view::date(r, ty, WHEN)?;
    Ok(vec![
        name,
        since.map(|t| t.human()).unwrap_or_default(),
        provider_cell(e),
    ])
}

fn open(x: &mut Xml, ctx: &Ctx<'_>, ext: &str) {
    x.start("entry", &[("typeCode", "DRIV")]);
    x.start("supply", &[("classCode", "SPLY"), ("moodCode", "EVN")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.5")],
    );
    xml::ii(x, "id", ctx.id_root, Some(ext));
}

fn playing_device_open(x: &mut Xml) {
    x.start("participant", &[("typeCode", "DEV")]);
    x.start("participantRole", &[("classCode", "MANU")]);
    x.start(
        "playingDevice",
        &[("classCode", "DEV"), ("determinerCode", "INSTANCE")],
    );
}

pub(super) fn entry(x: &mut Xml, ctx: &Ctx<'_>, e: &PsEntry, ids: &Ids) -> Result<(), ToCdaError> {
    let r = &e.resource;
    let ty = view::s(r, "/resourceType").unwrap_or("DeviceUseStatement");
    let since = view::date(r, ty, WHEN)?;
    open(x, ctx, &ids.ext);
    text_ref(x, &ids.text);
    section::interval(x, since.as_ref().map(|t| t.0.as_str()), None);
    playing_device_open(x);
    match type_concept(r).and_then(|cc| view::concept(ctx.t, cc, value_sets::MEDICAL_DEVICE)) {
        Some(c) => section::concept(x, "code", &[], &c, None),
        None => {
            x.empty("code", &[("nullFlavor", "UNK")]);
        }
    }
    x.end();
    x.end();
    x.end();
    let time = since.as_ref().map(|t| t.0.as_str());
    provider_author(x, e, time.unwrap_or(&ctx.time));
    x.end();
    x.end();
    Ok(())
}

/// The empty devices section: `no-known-devices` or `no-device-info`
/// (eHDSIAbsentOrUnknownDevice).
pub(super) fn empty(x: &mut Xml, ctx: &Ctx<'_>, absence: Absence, text_id: &str) {
    let code = match absence {
        Absence::Known => ("no-known-devices", "No known devices in use"),
        Absence::NoInformation => ("no-device-info", "No information about device"),
    };
    open(x, ctx, &format!("{}.devices.none", ctx.document_id));
    text_ref(x, text_id);
    x.start("effectiveTime", &[("xsi:type", "IVL_TS")]);
    x.empty("low", &[("nullFlavor", "NA")]);
    x.end();
    playing_device_open(x);
    absent_code(x, "code", false, code);
    x.end();
    x.end();
    x.end();
    x.end();
    x.end();
}
