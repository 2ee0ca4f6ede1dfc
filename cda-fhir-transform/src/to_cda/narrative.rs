//! The human-readable content of the documents: one label/value model per document, rendered
//! both as the CDA section narrative (a two-column Swedish/English table that the schematron
//! requires and the structured entries reference by ID) and as the L1 PDF.

use terminology::Terminology;

use super::fhir::{DispenseView, MedicationView, PrescriptionView, ProfessionalView};
use super::terms;
use super::xml::Xml;

/// ID of the narrative table the substanceAdministration/supply `text` references.
pub(crate) const ITEM_ID: &str = "item-1";
/// ID of the patient instructions (dosage text), referenced by the PINSTRUCT act.
pub(crate) const PINSTRUCT_ID: &str = "pinstruct-1";
/// ID of the note to the pharmacist, referenced by the FINSTRUCT act.
pub(crate) const FINSTRUCT_ID: &str = "finstruct-1";

/// One line of the narrative: a bilingual label and its value.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: &'static str,
    pub value: String,
    /// Narrative ID for values structured entries reference.
    pub id: Option<&'static str>,
}

/// A titled group of rows.
#[derive(Debug, Clone)]
pub struct Block {
    pub heading: &'static str,
    pub rows: Vec<Row>,
}

fn row(label: &'static str, value: impl Into<String>) -> Row {
    Row {
        label,
        value: value.into(),
        id: None,
    }
}

fn push_opt(rows: &mut Vec<Row>, label: &'static str, value: Option<String>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        rows.push(row(label, v));
    }
}

fn with_english(t: &Terminology, display: Option<&str>, code: &terminology::Coded) -> String {
    let en = terms::english(t, code);
    match (display, en) {
        (Some(d), Some(e)) if !d.eq_ignore_ascii_case(&e) => format!("{d} / {e}"),
        (Some(d), _) => d.to_owned(),
        (None, Some(e)) => e,
        (None, None) => code.code.clone(),
    }
}

fn medication_rows(m: &MedicationView, t: &Terminology) -> Vec<Row> {
    let mut rows = vec![row("Läkemedel / Medicinal product", &m.name)];
    push_opt(
        &mut rows,
        "NPL-id",
        m.npl_id.as_ref().map(|c| c.code.clone()),
    );
    push_opt(
        &mut rows,
        "ATC",
        m.atc.as_ref().map(|c| match &c.display {
            Some(d) => format!("{} {}", c.code, d),
            None => c.code.clone(),
        }),
    );
    push_opt(
        &mut rows,
        "Beredningsform / Dose form",
        m.form
            .as_ref()
            .map(|f| with_english(t, f.display.as_deref(), f)),
    );
    let strengths: Vec<String> = m
        .ingredients
        .iter()
        .filter(|i| i.active)
        .map(|i| {
            let name = i
                .substance
                .display
                .clone()
                .unwrap_or_else(|| i.substance.code.clone());
            match &i.strength {
                Some(s) => format!("{name} {}", s.human()),
                None => name,
            }
        })
        .collect();
    if !strengths.is_empty() {
        rows.push(row(
            "Aktiva substanser och styrka / Active ingredients and strength",
            strengths.join("; "),
        ));
    }
    let mut package = Vec::new();
    if let Some(p) = &m.package {
        package.push(p.display.clone().unwrap_or_else(|| p.code.clone()));
    }
    if let Some(a) = &m.amount {
        package.push(a.numerator.human());
    }
    if let Some(pt) = &m.package_type {
        package.push(with_english(t, pt.display.as_deref(), pt));
    }
    if !package.is_empty() {
        rows.push(row("Förpackning / Package", package.join(", ")));
    }
    push_opt(
        &mut rows,
        "Narkotikaklass / Narcotic class",
        m.narcotic_class.clone(),
    );
    rows
}

fn professional_rows(p: &ProfessionalView, role: &'static str) -> Vec<Row> {
    let mut rows = vec![
        row(role, p.name.human()),
        row("HSA-id", p.hsa_id.as_str()),
        row("Vårdenhet / Organisation", &p.organization.name),
    ];
    push_opt(
        &mut rows,
        "Adress / Address",
        p.organization.address.as_ref().map(|a| a.human()),
    );
    let mut phones: Vec<&str> = Vec::new();
    for t in p.telecom.iter().chain(p.organization.telecom.iter()) {
        if !phones.contains(&t.value.as_str()) {
            phones.push(&t.value);
        }
    }
    if !phones.is_empty() {
        rows.push(row("Kontakt / Contact", phones.join(", ")));
    }
    rows
}

pub(crate) fn patient_rows(p: &super::fhir::PatientView) -> Vec<Row> {
    let id_label = match p.person_id.as_ref().map(|i| i.kind()) {
        Some(ncp_types::PersonIdKind::Personnummer) => "Personnummer / Personal identity number",
        Some(ncp_types::PersonIdKind::Samordningsnummer) => {
            "Samordningsnummer / Coordination number"
        }
        None => "Patient-id / Patient id",
    };
    vec![
        row("Namn / Name", p.name.human()),
        row(id_label, &p.id.extension),
        row("Födelsedatum / Date of birth", p.birth_time.human()),
    ]
}

/// The ePrescription's narrative.
pub(crate) fn prescription(p: &PrescriptionView, t: &Terminology) -> Vec<Block> {
    let mut dosage = Vec::new();
    let texts: Vec<&str> = p.dosage.iter().filter_map(|d| d.text.as_deref()).collect();
    dosage.push(Row {
        label: "Doseringsanvisning / Dosage instructions",
        value: if texts.is_empty() {
            "Enligt ordination / As directed".to_owned()
        } else {
            texts.join(" ")
        },
        id: Some(PINSTRUCT_ID),
    });
    if let Some(route) = p.dosage.iter().find_map(|d| d.route.as_ref()) {
        dosage.push(row(
            "Administrationssätt / Route of administration",
            with_english(t, route.display.as_deref(), route),
        ));
    }

    let mut dispensing = Vec::new();
    push_opt(
        &mut dispensing,
        "Mängd per uttag / Quantity per dispensation",
        p.quantity.as_ref().map(|q| q.human()),
    );
    push_opt(
        &mut dispensing,
        "Antal uttag / Number of dispensations",
        p.repeats_allowed.map(|r| (u64::from(r) + 1).to_string()),
    );
    push_opt(
        &mut dispensing,
        "Återstående uttag / Remaining dispensations",
        p.remaining.map(|r| r.to_string()),
    );
    let validity = match (&p.validity_start, &p.validity_end) {
        (Some(a), Some(b)) => Some(format!("{} – {}", a.human(), b.human())),
        (None, Some(b)) => Some(format!("– {}", b.human())),
        (Some(a), None) => Some(format!("{} –", a.human())),
        (None, None) => None,
    };
    push_opt(&mut dispensing, "Giltighetstid / Valid", validity);
    dispensing.push(row(
        "Utbyte / Substitution",
        match p.substitution_allowed {
            Some(false) => "Utbyte ej tillåtet / Substitution not allowed",
            _ => "Utbyte tillåtet / Substitution allowed",
        },
    ));
    if !p.notes.is_empty() {
        dispensing.push(Row {
            label: "Meddelande till apoteket / Note to the pharmacist",
            value: p.notes.join(" "),
            id: Some(FINSTRUCT_ID),
        });
    }

    let mut prescriber = professional_rows(&p.prescriber, "Förskrivare / Prescriber");
    prescriber.push(row("Utfärdat / Issued", p.authored_on.human()));
    push_opt(
        &mut prescriber,
        "Förskrivnings-id / Prescription id",
        Some(p.nll_id.clone().unwrap_or_else(|| p.id.clone())),
    );

    vec![
        Block {
            heading: "Patient",
            rows: patient_rows(&p.patient),
        },
        Block {
            heading: "Läkemedel / Medicine",
            rows: medication_rows(&p.medication, t),
        },
        Block {
            heading: "Dosering / Dosage",
            rows: dosage,
        },
        Block {
            heading: "Expediering / Dispensing",
            rows: dispensing,
        },
        Block {
            heading: "Förskrivare / Prescriber",
            rows: prescriber,
        },
    ]
}

/// The eDispensation's narrative.
pub(crate) fn dispensation(d: &DispenseView, t: &Terminology) -> Vec<Block> {
    let mut dispensed = medication_rows(&d.medication, t);
    dispensed.push(row(
        "Expedierad mängd / Dispensed quantity",
        d.quantity.human(),
    ));
    dispensed.push(row(
        "Utbytt / Substituted",
        if d.substituted {
            "Ja, utbytt läkemedel / Yes, substituted"
        } else {
            "Nej / No"
        },
    ));
    push_opt(
        &mut dispensed,
        "Doseringsanvisning / Dosage instructions",
        d.dosage_text.clone(),
    );
    dispensed.push(row(
        "Förskrivnings-id / Prescription id",
        format!("{} ({})", d.prescription.extension, d.prescription.root),
    ));
    dispensed.push(row("Expedierat / Dispensed", d.handed_over.human()));
    if d.discarded {
        dispensed.push(row(
            "Status",
            "Makulerad expediering / Discarded dispensation",
        ));
    }
    push_opt(
        &mut dispensed,
        "Anteckning / Note",
        (!d.notes.is_empty()).then(|| d.notes.join(" ")),
    );
    vec![
        Block {
            heading: "Patient",
            rows: patient_rows(&d.patient),
        },
        Block {
            heading: "Expedierat läkemedel / Dispensed medicine",
            rows: dispensed,
        },
        Block {
            heading: "Farmaceut / Pharmacist",
            rows: professional_rows(&d.pharmacist, "Farmaceut / Pharmacist"),
        },
    ]
}

/// Writes the blocks as the section `<text>`: one table, referenced by [`ITEM_ID`].
pub(crate) fn write_text(x: &mut Xml, blocks: &[Block]) {
    x.start("text", &[]);
    x.start("table", &[("ID", ITEM_ID), ("border", "1")]);
    x.start("thead", &[]);
    x.start("tr", &[]);
    x.leaf("th", &[], "Uppgift / Item");
    x.leaf("th", &[], "Värde / Value");
    x.end();
    x.end();
    x.start("tbody", &[]);
    for b in blocks {
        x.start("tr", &[]);
        x.start("th", &[("colspan", "2")]);
        x.text(b.heading);
        x.end();
        x.end();
        for r in &b.rows {
            x.start("tr", &[]);
            x.leaf("td", &[], r.label);
            x.start("td", &[]);
            match r.id {
                Some(id) => x.leaf("content", &[("ID", id)], &r.value),
                None => {
                    x.text(&r.value);
                }
            }
            x.end();
            x.end();
        }
    }
    x.end();
    x.end();
    x.end();
}
