//! eHDSI Wave 8 ePrescription: L3 (structured, template …1.1.1) and L1 (PDF, …1.1.6).

use terminology::value_sets;

use super::fhir::{DosageView, PrescriptionView, RequestStatus};
use super::header::{self, Header, LOINC};
use super::narrative::{self, FINSTRUCT_ID, ITEM_ID, PINSTRUCT_ID};
use super::terms::{is_ehdsi_unit, transcode};
use super::xml::{self, Xml};
use super::{pdf, product, CdaOptions, ToCdaError};

pub(crate) const L3_TEMPLATE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.1.1";
pub(crate) const L1_TEMPLATE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.1.6";
const SUBSTITUTION_SYSTEM: &str = "2.16.840.1.113883.5.1070";

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    L3,
    L1,
}

/// The L1 document's id extension: the L3 id with this suffix, so both name the prescription.
pub(crate) const L1_ID_SUFFIX: &str = ".L1";

pub(crate) fn write(
    p: &PrescriptionView,
    opts: &CdaOptions,
    level: Level,
) -> Result<String, ToCdaError> {
    let doc_root = opts.document_id_root.as_str();
    let l1_id;
    let (template, id_ext) = match level {
        Level::L3 => (L3_TEMPLATE, p.id.as_str()),
        Level::L1 => {
            l1_id = format!("{}{L1_ID_SUFFIX}", p.id);
            (L1_TEMPLATE, l1_id.as_str())
        }
    };
    let title = format!("e-Recept / ePrescription: {}", p.medication.name);
    let mut x = Xml::with_capacity(16 * 1024);
    header::write_start(
        &mut x,
        &Header {
            template_id: template,
            id: (doc_root, id_ext),
            code: ("57833-6", "Prescription for medication"),
            title: &title,
            set_id: None,
            version: None,
            patient: &p.patient,
            author: &p.prescriber,
            author_time: &p.authored_on,
            default_function: ("221", "Medical doctors"),
            in_fulfillment_of: None,
            transformed_from: Some((opts.prescription_id_root.as_str(), p.id.as_str())),
            replaces: None,
        },
        opts,
    );
    let blocks = narrative::prescription(p, opts.terminology());
    match level {
        Level::L3 => structured_body(&mut x, p, opts, &blocks)?,
        Level::L1 => {
            let footer = format!(
                "e-Recept från Sverige / ePrescription from Sweden. Dokument-id / Document id: {id_ext}. Skapad / Created: {}",
                opts.now.format("%Y-%m-%d %H:%M %:z")
            );
            pdf::write_body(&mut x, &pdf::render(&title, &blocks, &footer));
        }
    }
    Ok(x.finish())
}

fn structured_body(
    x: &mut Xml,
    p: &PrescriptionView,
    opts: &CdaOptions,
    blocks: &[narrative::Block],
) -> Result<(), ToCdaError> {
    let doc_root = opts.document_id_root.as_str();
    let section_id = format!("{}.1", p.id);
    x.start("component", &[]);
    x.start("structuredBody", &[("classCode", "DOCBODY")]);
    x.start("component", &[]);
    x.start("section", &[("classCode", "DOCSECT"), ("moodCode", "EVN")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.2.1")],
    );
    xml::ii(x, "id", doc_root, Some(&section_id));
    x.empty(
        "code",
        &[
            ("code", "57828-6"),
            ("codeSystem", LOINC),
            ("codeSystemName", "LOINC"),
            ("displayName", "Prescriptions"),
        ],
    );
    x.leaf("title", &[], "Prescriptions");
    x.newline();
    narrative::write_text(x, blocks);
    x.newline();
    x.start("entry", &[("typeCode", "COMP")]);
    substance_administration(x, p, opts)?;
    x.end();
    x.end();
    x.end();
    x.end();
    x.end();
    Ok(())
}

/// PIVL_TS period for `frequency` times per `period` `unit`: the interval in the largest UCUM
/// unit that keeps it whole (3 per 1 d → 8 h; 1 per 1 wk → 1 wk).
pub(crate) fn interval(frequency: u32, period: f64, unit: &str) -> Option<(String, &'static str)> {
    if frequency == 0 {
        return None;
    }
    let minutes_per = match unit {
        "s" => 1.0 / 60.0,
        "min" => 1.0,
        "h" => 60.0,
        "d" => 1440.0,
        "wk" => 10080.0,
        "mo" | "a" => {
            // Calendar units do not divide evenly; keep them only for once per period.
            return (frequency == 1)
                .then(|| (trim_float(period), if unit == "mo" { "mo" } else { "a" }));
        }
        _ => return None,
    };
    let minutes = period * minutes_per / f64::from(frequency);
    for (unit, size) in [("wk", 10080.0), ("d", 1440.0), ("h", 60.0), ("min", 1.0)] {
        let n = minutes / size;
        if n >= 1.0 && (n - n.round()).abs() < 1e-9 {
            return Some((trim_float(n.round()), unit));
        }
    }
    Some((format!("{:.3}", minutes / 60.0), "h"))
}

fn trim_float(f: f64) -> String {
    if (f - f.round()).abs() < 1e-9 {
        format!("{}", f.round() as i64)
    } else {
        format!("{f}")
    }
}

fn dosage_timing(x: &mut Xml, d: &DosageView) {
    let (Some(freq), Some(period), Some(unit)) = (d.frequency, d.period, d.period_unit.as_deref())
    else {
        return;
    };
    if let Some((value, unit)) = interval(freq, period, unit) {
        x.start(
            "effectiveTime",
            &[
                ("xsi:type", "PIVL_TS"),
                ("institutionSpecified", "true"),
                ("operator", "A"),
            ],
        );
        x.empty("period", &[("value", &value), ("unit", unit)]);
        x.end();
    }
}

fn substance_administration(
    x: &mut Xml,
    p: &PrescriptionView,
    opts: &CdaOptions,
) -> Result<(), ToCdaError> {
    let t = opts.terminology();
    x.start(
        "substanceAdministration",
        &[("classCode", "SBADM"), ("moodCode", "INT")],
    );
    for t in [
        "2.16.840.1.113883.10.20.1.24",
        "1.3.6.1.4.1.19376.1.5.3.1.4.7",
        "1.3.6.1.4.1.12559.11.10.1.3.1.3.2",
        "1.3.6.1.4.1.19376.1.5.3.1.4.7.1",
    ] {
        x.empty("templateId", &[("root", t)]);
    }
    xml::ii(x, "id", opts.prescription_id_root.as_str(), Some(&p.id));
    x.start("text", &[]);
    x.empty("reference", &[("value", &format!("#{ITEM_ID}"))]);
    x.end();
    x.empty(
        "statusCode",
        &[(
            "code",
            match p.status {
                RequestStatus::Active => "active",
                RequestStatus::Completed => "completed",
            },
        )],
    );
    // Validity of the prescription.
    x.start("effectiveTime", &[("xsi:type", "IVL_TS")]);
    match &p.validity_start {
        Some(t) => x.empty("low", &[("value", &t.0)]),
        None => x.empty("low", &[("nullFlavor", "UNK")]),
    };
    match &p.validity_end {
        Some(t) => x.empty("high", &[("value", &t.0)]),
        None => x.empty("high", &[("nullFlavor", "UNK")]),
    };
    x.end();
    let first = p.dosage.first();
    if let Some(d) = first {
        dosage_timing(x, d);
        if let Some(route) = &d.route {
            xml::coded(
                x,
                "routeCode",
                &[],
                &transcode(t, route, value_sets::ROUTE_OF_ADMINISTRATION),
            );
        }
        if let Some(dose) = &d.dose {
            let unit = dose
                .ucum_code
                .as_deref()
                .filter(|u| is_ehdsi_unit(t, u))
                .unwrap_or("1");
            x.empty("doseQuantity", &[("value", &dose.value), ("unit", unit)]);
        }
    }
    x.start("consumable", &[("typeCode", "CSM")]);
    product::manufactured_product(x, &p.medication, t)?;
    x.end();
    // The prescriber of this item.
    header::author_element(x, &p.prescriber, &p.authored_on, ("221", "Medical doctors"));
    // Dispensing request: packages per dispensation and number of dispensations.
    let quantity = p.quantity.as_ref().ok_or_else(|| ToCdaError::Missing {
        path: "MedicationRequest.dispenseRequest.quantity".into(),
    })?;
    x.start("entryRelationship", &[("typeCode", "COMP")]);
    x.start("supply", &[("classCode", "SPLY"), ("moodCode", "RQO")]);
    if let Some(r) = p.repeats_allowed {
        let total = r.saturating_add(1);
        x.empty("repeatNumber", &[("value", &xml::int(total))]);
    }
    x.empty("independentInd", &[("value", "false")]);
    x.empty("quantity", &[("value", &quantity.value), ("unit", "1")]);
    x.end();
    x.end();
    // Substitution (eHDSISubstitutionCode): NLL's allowedBoolean; Swedish generic substitution
    // is within the same substance, hence G when allowed.
    let (code, display) = match p.substitution_allowed {
        Some(false) => ("N", "none"),
        _ => ("G", "generic composition"),
    };
    x.start(
        "entryRelationship",
        &[("typeCode", "SUBJ"), ("inversionInd", "true")],
    );
    x.start("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
    x.empty(
        "code",
        &[("code", "SUBST"), ("codeSystem", "2.16.840.1.113883.5.6")],
    );
    x.empty(
        "value",
        &[
            ("xsi:type", "CE"),
            ("code", code),
            ("codeSystem", SUBSTITUTION_SYSTEM),
            ("displayName", display),
        ],
    );
    x.end();
    x.end();
    instruction_act(
        x,
        &[
            "2.16.840.1.113883.10.20.1.49",
            "1.3.6.1.4.1.19376.1.5.3.1.4.3",
        ],
        "PINSTRUCT",
        PINSTRUCT_ID,
    );
    if !p.notes.is_empty() {
        instruction_act(
            x,
            &[
                "2.16.840.1.113883.10.20.1.43",
                "1.3.6.1.4.1.19376.1.5.3.1.4.3.1",
            ],
            "FINSTRUCT",
            FINSTRUCT_ID,
        );
    }
    x.end();
    Ok(())
}

/// Patient (PINSTRUCT) or fulfillment (FINSTRUCT) instructions, referencing the narrative.
fn instruction_act(x: &mut Xml, templates: &[&str], code: &str, text_id: &str) {
    x.start(
        "entryRelationship",
        &[("typeCode", "SUBJ"), ("inversionInd", "true")],
    );
    x.start("act", &[("classCode", "ACT"), ("moodCode", "INT")]);
    for t in templates {
        x.empty("templateId", &[("root", t)]);
    }
    x.empty(
        "code",
        &[
            ("code", code),
            ("codeSystem", "1.3.6.1.4.1.19376.1.5.3.2"),
            ("codeSystemName", "IHEActCode"),
            ("displayName", code),
        ],
    );
    x.start("text", &[]);
    x.empty("reference", &[("value", &format!("#{text_id}"))]);
    x.end();
    x.empty("statusCode", &[("code", "completed")]);
    x.end();
    x.end();
}

#[cfg(test)]
mod tests {
    use super::interval;

    #[test]
    fn intervals_are_whole_in_the_largest_unit() {
        assert_eq!(interval(3, 1.0, "d"), Some(("8".into(), "h")));
        assert_eq!(interval(1, 1.0, "d"), Some(("1".into(), "d")));
        assert_eq!(interval(2, 1.0, "d"), Some(("12".into(), "h")));
        assert_eq!(interval(1, 1.0, "wk"), Some(("1".into(), "wk")));
        assert_eq!(interval(7, 1.0, "d"), Some(("3.429".into(), "h")));
        assert_eq!(interval(1, 1.0, "mo"), Some(("1".into(), "mo")));
        assert_eq!(interval(2, 1.0, "mo"), None);
        assert_eq!(interval(0, 1.0, "d"), None);
    }
}
