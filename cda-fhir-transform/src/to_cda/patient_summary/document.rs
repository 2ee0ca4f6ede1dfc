//! Assembles one Patient Summary: the header, then either every section (L3) or the same
//! content rendered as a PDF (L1). Sections the Wave 8 template requires are always written;
//! when they have no entries they carry the eHDSI absent/unknown entry. Optional sections are
//! written only when they have entries. When a provider did not answer (`incomplete`), the
//! title and every section's narrative say so and no section claims a known absence.

use serde_json::Value;

use super::super::eprescription::L1_ID_SUFFIX;
use super::super::fhir::PatientView;
use super::super::narrative::{self, Block, Row as PdfRow};
use super::super::xml::Xml;
use super::super::{pdf, CdaOptions, ToCdaError};
use super::context::Ctx;
use super::header::{self, PsHeader};
use super::input::{PatientSummaryInput, PsAuthor, PsEntry, PsSection};
use super::section::{self, Row, INCOMPLETE_NOTE};
use super::{
    allergies, devices, immunizations, medications, problems, procedures, vital_signs, Absence,
    L1_TEMPLATE, L3_TEMPLATE,
};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    L3,
    L1,
}

const IPS_ABSENT_URI: &str = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips";
/// SNOMED CT "no known …" situations providers send as a resource's code.
const SNOMED_ABSENT: &[&str] = &["716186003", "409137002", "428607008", "160245001"];

/// Whether a resource only asserts that the patient has nothing of its kind ("no known
/// allergies"): such entries are not written as entries but make an empty section a known
/// absence.
fn is_absence_assertion(r: &Value) -> bool {
    let cc = r
        .get("code")
        .or_else(|| r.get("medicationCodeableConcept"))
        .or_else(|| r.get("vaccineCode"));
    let Some(codings) = cc.and_then(|c| c.get("coding")).and_then(Value::as_array) else {
        return false;
    };
    codings.iter().any(|c| {
        let system = c.get("system").and_then(Value::as_str).unwrap_or("");
        let code = c.get("code").and_then(Value::as_str).unwrap_or("");
        (system == IPS_ABSENT_URI && code.starts_with("no-known"))
            || (system == ncp_types::systems::SNOMED_CT_URI && SNOMED_ABSENT.contains(&code))
    })
}

/// One section's content, computed once for the L3 body or the L1 PDF.
struct SectionContent<'a> {
    number: usize,
    section: PsSection,
    entries: Vec<&'a PsEntry>,
    rows: Vec<Row>,
    /// Set when the section has no entries.
    absence: Option<Absence>,
}

fn cells(ctx: &Ctx<'_>, s: PsSection, e: &PsEntry) -> Result<Vec<String>, ToCdaError> {
    match s {
        PsSection::Allergies => allergies::cells(ctx, e),
        PsSection::Problems => problems::cells(ctx, e, false),
        PsSection::PastIllnesses => problems::cells(ctx, e, true),
        PsSection::Medications => medications::cells(ctx, e),
        PsSection::Procedures => procedures::cells(ctx, e),
        PsSection::Devices => devices::cells(ctx, e),
        PsSection::Immunizations => immunizations::cells(ctx, e),
        PsSection::VitalSigns => vital_signs::cells(ctx, e),
    }
}

fn contents<'a>(
    input: &'a PatientSummaryInput,
    ctx: &Ctx<'_>,
) -> Result<Vec<SectionContent<'a>>, ToCdaError> {
    let mut out = Vec::with_capacity(PsSection::ALL.len());
    for (i, s) in PsSection::ALL.into_iter().enumerate() {
        let number = i + 1;
        let (asserted_absent, entries): (Vec<&PsEntry>, Vec<&PsEntry>) = input
            .section(s)
            .partition(|e| is_absence_assertion(&e.resource));
        if entries.is_empty() && !section::spec(s).required {
            continue;
        }
        let absence =
            entries
                .is_empty()
                .then_some(if !asserted_absent.is_empty() && !input.incomplete {
                    Absence::Known
                } else {
                    Absence::NoInformation
                });
        let mut rows = Vec::with_capacity(entries.len());
        for (n, e) in entries.iter().enumerate() {
            rows.push(Row {
                id: ctx.ids(number, n + 1, e).text,
                cells: cells(ctx, s, e)?,
            });
        }
        out.push(SectionContent {
            number,
            section: s,
            entries,
            rows,
            absence,
        });
    }
    Ok(out)
}

/// The narrative of an empty section.
fn empty_text(s: PsSection, a: Absence) -> &'static str {
    match (s, a) {
        (PsSection::Allergies, Absence::Known) => "Inga kända allergier / No known allergies",
        (PsSection::Problems, Absence::Known) => "Inga kända problem / No known problems",
        (PsSection::Medications, Absence::Known) => "Inga kända läkemedel / No known medications",
        (PsSection::Procedures, Absence::Known) => "Inga kända åtgärder / No known procedures",
        (PsSection::Devices, Absence::Known) => {
            "Inga kända medicintekniska produkter / No known devices in use"
        }
        _ => "Uppgift saknas / No information available",
    }
}

fn empty_text_id(number: usize) -> String {
    format!("s{number}none")
}

fn write_section(
    x: &mut Xml,
    ctx: &Ctx<'_>,
    c: &SectionContent<'_>,
    incomplete: bool,
) -> Result<(), ToCdaError> {
    let spec = section::spec(c.section);
    let ext = ctx.section_ext(c.number);
    match c.absence {
        Some(a) => {
            let id = empty_text_id(c.number);
            let text = empty_text(c.section, a);
            section::open(
                x,
                spec,
                (ctx.id_root, &ext),
                &[],
                Some((&id, text)),
                incomplete,
            );
            match c.section {
                PsSection::Allergies => allergies::empty(x, ctx, a, &id),
                PsSection::Problems => problems::empty(x, ctx, a, &id),
                PsSection::Medications => medications::empty(x, ctx, a, &id),
                PsSection::Procedures => procedures::empty(x, ctx, a, &id),
                PsSection::Devices => devices::empty(x, ctx, a, &id),
                _ => {}
            }
        }
        None => {
            section::open(x, spec, (ctx.id_root, &ext), &c.rows, None, incomplete);
            for (n, e) in c.entries.iter().enumerate() {
                let ids = ctx.ids(c.number, n + 1, e);
                match c.section {
                    PsSection::Allergies => allergies::entry(x, ctx, e, &ids)?,
                    PsSection::Problems => problems::entry(x, ctx, e, &ids, false)?,
                    PsSection::PastIllnesses => problems::entry(x, ctx, e, &ids, true)?,
                    PsSection::Medications => medications::entry(x, ctx, e, &ids)?,
                    PsSection::Procedures => procedures::entry(x, ctx, e, &ids)?,
                    PsSection::Devices => devices::entry(x, ctx, e, &ids)?,
                    PsSection::Immunizations => immunizations::entry(x, ctx, e, &ids)?,
                    PsSection::VitalSigns => vital_signs::entry(x, ctx, e, &ids)?,
                }
            }
        }
    }
    x.end();
    x.end();
    x.newline();
    Ok(())
}

/// The PDF content: the patient, the incomplete note, then one block per section.
fn pdf_blocks(
    patient: &PatientView,
    sections: &[SectionContent<'_>],
    incomplete: bool,
) -> Vec<Block> {
    let mut blocks = vec![Block {
        heading: "Patient",
        rows: narrative::patient_rows(patient),
    }];
    if incomplete {
        blocks.push(Block {
            heading: "Obs / Note",
            rows: vec![PdfRow {
                label: "Ofullständig / Incomplete",
                value: INCOMPLETE_NOTE.to_owned(),
                id: None,
            }],
        });
    }
    for c in sections {
        let spec = section::spec(c.section);
        let mut rows = Vec::new();
        if let Some(a) = c.absence {
            rows.push(PdfRow {
                label: spec.columns[0],
                value: empty_text(c.section, a).to_owned(),
                id: None,
            });
        }
        for r in &c.rows {
            for (label, value) in spec.columns.iter().zip(&r.cells) {
                if !value.is_empty() {
                    rows.push(PdfRow {
                        label,
                        value: value.clone(),
                        id: None,
                    });
                }
            }
        }
        blocks.push(Block {
            heading: spec.title,
            rows,
        });
    }
    blocks
}

/// The care provider with the most entries (the first of equals), the patient's contact.
fn main_provider(input: &PatientSummaryInput) -> Option<&PsAuthor> {
    let mut counts: Vec<(&PsAuthor, usize)> = Vec::new();
    for (_, e) in &input.entries {
        match counts.iter_mut().find(|(a, _)| a.hsa_id == e.author.hsa_id) {
            Some((_, n)) => *n += 1,
            None => counts.push((&e.author, 1)),
        }
    }
    let max = counts.iter().map(|(_, n)| *n).max()?;
    counts.into_iter().find(|(_, n)| *n == max).map(|(a, _)| a)
}

pub(super) fn write(
    input: &PatientSummaryInput,
    opts: &CdaOptions,
    level: Level,
) -> Result<String, ToCdaError> {
    if input.document_id.trim().is_empty() {
        return Err(ToCdaError::Invalid {
            path: "PatientSummaryInput.document_id".into(),
            reason: "empty".into(),
        });
    }
    let patient = PatientView::parse(&input.patient, false)?;
    let time = input.effective_time.format("%Y%m%d%H%M%S+0000").to_string();
    let ctx = Ctx {
        t: opts.terminology(),
        id_root: opts.document_id_root.as_str(),
        document_id: &input.document_id,
        time: time.clone(),
    };
    let sections = contents(input, &ctx)?;
    let title = if input.incomplete {
        "Patientöversikt / Patient Summary (ofullständig / incomplete)"
    } else {
        "Patientöversikt / Patient Summary"
    };
    let l1_id;
    let (template, id_ext) = match level {
        Level::L3 => (L3_TEMPLATE, input.document_id.as_str()),
        Level::L1 => {
            l1_id = format!("{}{L1_ID_SUFFIX}", input.document_id);
            (L1_TEMPLATE, l1_id.as_str())
        }
    };
    let source_ext = format!("{}.national", input.document_id);
    let mut x = Xml::with_capacity(8 * 1024 + input.entries.len() * 3 * 1024);
    header::write(
        &mut x,
        &PsHeader {
            template_id: template,
            id_ext,
            title,
            time: &time,
            patient: &patient,
            source_ext: &source_ext,
            contact: main_provider(input),
        },
        opts,
    );
    match level {
        Level::L3 => {
            x.start("component", &[]);
            x.start("structuredBody", &[("classCode", "DOCBODY")]);
            x.newline();
            for c in &sections {
                write_section(&mut x, &ctx, c, input.incomplete)?;
            }
        }
        Level::L1 => {
            let footer = format!(
                "Patientöversikt från Sverige / Patient Summary from Sweden. Dokument-id / Document id: {id_ext}. Skapad / Created: {}",
                input.effective_time.format("%Y-%m-%d %H:%M UTC")
            );
            let blocks = pdf_blocks(&patient, &sections, input.incomplete);
            pdf::write_body(&mut x, &pdf::render(title, &blocks, &footer));
        }
    }
    Ok(x.finish())
}
