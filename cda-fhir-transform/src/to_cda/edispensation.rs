//! eHDSI Wave 8 eDispensation (template …1.1.2): a Swedish pharmacy's dispensation of a
//! foreign ePrescription, and its discard.
//!
//! The Wave 8 eDispensation template has no dedicated discard document or code (neither the
//! schematron nor the template mention one). The discard is therefore written with the CDA
//! replacement mechanism on the same template: a new eDispensation document in the same
//! `setId` with `versionNumber` 2, a `relatedDocument typeCode="RPLC"` pointing at the
//! dispensation document it cancels, and the supply's `statusCode` `nullified` (HL7 ActStatus
//! for "entered in error", FHIR's `entered-in-error`).

use super::fhir::DispenseView;
use super::header::{self, Header, LOINC};
use super::narrative::{self, ITEM_ID};
use super::xml::{self, Xml};
use super::{product, CdaOptions, ToCdaError};

pub(crate) const TEMPLATE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.1.2";
/// Suffix of the discard document's id extension (after the dispensation id).
pub(crate) const DISCARD_ID_SUFFIX: &str = ".discard";

pub(crate) fn write(
    d: &DispenseView,
    opts: &CdaOptions,
    discard: bool,
) -> Result<String, ToCdaError> {
    let root = opts.document_id_root.as_str();
    let discard_id = format!("{}{DISCARD_ID_SUFFIX}", d.id);
    let id_ext = if discard {
        discard_id.as_str()
    } else {
        d.id.as_str()
    };
    let title = if discard {
        format!(
            "Makulerad expediering / Discarded dispensation: {}",
            d.medication.name
        )
    } else {
        format!("e-Expediering / eDispensation: {}", d.medication.name)
    };
    let mut x = Xml::with_capacity(16 * 1024);
    header::write_start(
        &mut x,
        &Header {
            template_id: TEMPLATE,
            id: (root, id_ext),
            code: ("60593-1", "Medication dispensed.brief"),
            title: &title,
            set_id: Some((root, d.id.as_str())),
            version: Some(if discard { 2 } else { 1 }),
            patient: &d.patient,
            author: &d.pharmacist,
            author_time: &d.handed_over,
            default_function: ("2262", "Pharmacists"),
            in_fulfillment_of: Some(&d.prescription),
            transformed_from: Some((opts.dispense_id_root.as_str(), d.id.as_str())),
            replaces: discard.then_some((root, d.id.as_str())),
        },
        opts,
    );
    x.start("component", &[]);
    x.start("structuredBody", &[("classCode", "DOCBODY")]);
    x.start("component", &[]);
    x.start("section", &[("classCode", "DOCSECT"), ("moodCode", "EVN")]);
    x.empty("templateId", &[("root", "2.16.840.1.113883.10.20.1.8")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.2.2")],
    );
    xml::ii(&mut x, "id", root, Some(&format!("{id_ext}.1")));
    x.empty(
        "code",
        &[
            ("code", "60590-7"),
            ("codeSystem", LOINC),
            ("codeSystemName", "LOINC"),
            ("displayName", "Medication dispensed"),
        ],
    );
    x.leaf(
        "title",
        &[],
        if discard {
            "Makulerad expediering / Discarded dispensation"
        } else {
            "Expediering / Dispensation"
        },
    );
    x.newline();
    narrative::write_text(&mut x, &narrative::dispensation(d, opts.terminology()));
    x.newline();
    x.start("entry", &[("typeCode", "COMP")]);
    supply(&mut x, d, opts)?;
    x.end();
    x.end();
    x.end();
    x.end();
    x.end();
    Ok(x.finish())
}

fn supply(x: &mut Xml, d: &DispenseView, opts: &CdaOptions) -> Result<(), ToCdaError> {
    x.start("supply", &[("classCode", "SPLY"), ("moodCode", "EVN")]);
    for t in [
        "2.16.840.1.113883.10.20.1.34",
        "1.3.6.1.4.1.19376.1.5.3.1.4.7.3",
        "1.3.6.1.4.1.12559.11.10.1.3.1.3.3",
    ] {
        x.empty("templateId", &[("root", t)]);
    }
    xml::ii(x, "id", opts.dispense_id_root.as_str(), Some(&d.id));
    x.start("text", &[]);
    x.empty("reference", &[("value", &format!("#{ITEM_ID}"))]);
    x.end();
    x.empty(
        "statusCode",
        &[(
            "code",
            if d.discarded {
                "nullified"
            } else {
                "completed"
            },
        )],
    );
    x.empty("effectiveTime", &[("value", &d.handed_over.0)]);
    // Packages handed over (a count: UCUM "1").
    x.empty(
        "quantity",
        &[
            ("value", &d.quantity.value),
            ("unit", xml::ucum_unit(&d.quantity)),
        ],
    );
    x.start("product", &[("typeCode", "PRD")]);
    product::manufactured_product(x, &d.medication, opts.terminology())?;
    x.end();
    x.start("performer", &[("typeCode", "PRF")]);
    x.start("assignedEntity", &[("classCode", "ASSIGNED")]);
    header::professional(x, &d.pharmacist);
    x.end();
    x.end();
    // The prescription this dispensation fulfils.
    x.start("entryRelationship", &[("typeCode", "REFR")]);
    x.start(
        "substanceAdministration",
        &[("classCode", "SBADM"), ("moodCode", "INT")],
    );
    let item = d.prescription_item.as_ref().unwrap_or(&d.prescription);
    xml::ii(x, "id", item.root.as_str(), Some(&item.extension));
    x.start("consumable", &[("typeCode", "CSM")]);
    let prescribed = d
        .prescribed
        .as_ref()
        .filter(|m| m.amount.is_some())
        .unwrap_or(&d.medication);
    product::manufactured_product(x, prescribed, opts.terminology())?;
    x.end();
    x.end();
    x.end();
    if d.substituted {
        x.start("entryRelationship", &[("typeCode", "COMP")]);
        x.start("act", &[("classCode", "ACT"), ("moodCode", "EVN")]);
        x.empty(
            "code",
            &[
                ("code", "SUBST"),
                ("codeSystem", "2.16.840.1.113883.5.6"),
                ("codeSystemName", "HL7 ActClass"),
                ("displayName", "Substitution"),
            ],
        );
        x.empty("statusCode", &[("code", "completed")]);
        x.end();
        x.end();
    }
    x.end();
    Ok(())
}
