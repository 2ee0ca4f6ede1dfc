//! What every Patient Summary section shares: its templates, LOINC code and bilingual title,
//! the columns of its narrative table, and the frame (`component/section`, `text`, entries).

use ncp_types::systems::HSA_ID_OID;

use super::super::header::LOINC;
use super::super::xml::{self, Xml};
use super::input::{PsEntry, PsSection};
use super::view;
use terminology::{Coded, Transcoded};

/// The fixed parts of a section.
pub(super) struct Spec {
    pub templates: &'static [&'static str],
    pub code: (&'static str, &'static str),
    pub title: &'static str,
    /// Narrative table header (Swedish / English).
    pub columns: &'static [&'static str],
    /// Whether the Wave 8 Patient Summary requires the section (then an empty one carries the
    /// eHDSI "no information" / "known absence" entry).
    pub required: bool,
}

const PROVIDER: &str = "Vårdgivare / Care provider";

pub(super) fn spec(section: PsSection) -> &'static Spec {
    match section {
        PsSection::Allergies => &Spec {
            templates: &["1.3.6.1.4.1.12559.11.10.1.3.1.2.12"],
            code: ("48765-2", "Allergies and adverse reactions Document"),
            title: "Allergier och överkänslighet / Allergies and intolerances",
            columns: &[
                "Ämne / Agent",
                "Typ / Type",
                "Reaktion / Reaction",
                "Allvarlighet / Criticality",
                "Sedan / Since",
                PROVIDER,
            ],
            required: true,
        },
        PsSection::Problems => &Spec {
            templates: &[
                "1.3.6.1.4.1.12559.11.10.1.3.1.2.9",
                "2.16.840.1.113883.10.20.1.11",
            ],
            code: ("11450-4", "Problem list - Reported"),
            title: "Aktuella problem / Active problems",
            columns: &["Diagnos / Problem", "Debut / Onset", PROVIDER],
            required: true,
        },
        PsSection::Medications => &Spec {
            templates: &[
                "1.3.6.1.4.1.12559.11.10.1.3.1.2.3",
                "2.16.840.1.113883.10.20.1.8",
            ],
            code: ("10160-0", "History of Medication use Narrative"),
            title: "Läkemedel / Medication summary",
            columns: &[
                "Läkemedel / Medicinal product",
                "Dosering / Dosage",
                "Sedan / Since",
                PROVIDER,
            ],
            required: true,
        },
        PsSection::PastIllnesses => &Spec {
            templates: &["1.3.6.1.4.1.12559.11.10.1.3.1.2.10"],
            code: ("11348-0", "History of Past illness Narrative"),
            title: "Tidigare sjukdomar / History of past illness",
            columns: &[
                "Diagnos / Problem",
                "Debut / Onset",
                "Avslutad / Resolved",
                PROVIDER,
            ],
            required: false,
        },
        PsSection::Procedures => &Spec {
            templates: &["1.3.6.1.4.1.12559.11.10.1.3.1.2.11"],
            code: ("47519-4", "History of Procedures Document"),
            title: "Åtgärder / History of procedures",
            columns: &["Åtgärd / Procedure", "Datum / Date", PROVIDER],
            required: true,
        },
        PsSection::Devices => &Spec {
            templates: &[
                "1.3.6.1.4.1.12559.11.10.1.3.1.2.4",
                "2.16.840.1.113883.10.20.1.7",
            ],
            code: ("46264-8", "History of medical device use"),
            title: "Medicintekniska produkter / Medical devices",
            columns: &["Produkt / Device", "Sedan / Since", PROVIDER],
            required: true,
        },
        PsSection::Immunizations => &Spec {
            templates: &[
                "1.3.6.1.4.1.12559.11.10.1.3.1.2.15",
                "2.16.840.1.113883.10.20.1.6",
            ],
            code: ("11369-6", "History of Immunization Narrative"),
            title: "Vaccinationer / Immunizations",
            columns: &["Vaccin / Vaccine", "Datum / Date", PROVIDER],
            required: false,
        },
        PsSection::VitalSigns => &Spec {
            templates: &["1.3.6.1.4.1.12559.11.10.1.3.1.2.6"],
            code: ("8716-3", "Vital signs"),
            title: "Vitalparametrar / Vital signs",
            columns: &[
                "Mätning / Measurement",
                "Värde / Value",
                "Datum / Date",
                PROVIDER,
            ],
            required: false,
        },
    }
}

/// One narrative row: its `ID` (referenced by the entry's `text`) and its cells.
pub(super) struct Row {
    pub id: String,
    pub cells: Vec<String>,
}

/// The statement every section carries when a provider did not answer.
pub(super) const INCOMPLETE_NOTE: &str = "Ofullständig sammanfattning: minst en vårdgivare svarade inte, uppgifter kan saknas. / Incomplete summary: at least one care provider did not answer; information may be missing.";

/// Opens `component/section` and writes its header and narrative; the caller writes the
/// entries and closes the two elements.
pub(super) fn open(
    x: &mut Xml,
    spec: &Spec,
    id: (&str, &str),
    rows: &[Row],
    empty_text: Option<(&str, &str)>,
    incomplete: bool,
) {
    x.start("component", &[]);
    x.start("section", &[("classCode", "DOCSECT"), ("moodCode", "EVN")]);
    for t in spec.templates {
        x.empty("templateId", &[("root", t)]);
    }
    xml::ii(x, "id", id.0, Some(id.1));
    x.empty(
        "code",
        &[
            ("code", spec.code.0),
            ("codeSystem", LOINC),
            ("codeSystemName", "LOINC"),
            ("displayName", spec.code.1),
        ],
    );
    x.leaf("title", &[], spec.title);
    x.newline();
    x.start("text", &[]);
    if incomplete {
        x.leaf("paragraph", &[("styleCode", "Bold")], INCOMPLETE_NOTE);
    }
    if let Some((id, t)) = empty_text {
        x.leaf("paragraph", &[("ID", id)], t);
    }
    if !rows.is_empty() {
        x.start("table", &[("border", "1")]);
        x.start("thead", &[]);
        x.start("tr", &[]);
        for c in spec.columns {
            x.leaf("th", &[], c);
        }
        x.end();
        x.end();
        x.start("tbody", &[]);
        for r in rows {
            x.start("tr", &[]);
            for (i, c) in r.cells.iter().enumerate() {
                x.start("td", &[]);
                if i == 0 {
                    x.leaf("content", &[("ID", &r.id)], c);
                } else {
                    x.text(c);
                }
                x.end();
            }
            x.end();
        }
        x.end();
        x.end();
    }
    x.end();
    x.newline();
}

/// `<text><reference value="#id"/></text>`.
pub(super) fn text_ref(x: &mut Xml, id: &str) {
    x.start("text", &[]);
    x.empty("reference", &[("value", &format!("#{id}"))]);
    x.end();
}

/// The entry's author: the care provider the entry came from (eHDSI body author), as an
/// organisation with its HSA-id.
pub(super) fn provider_author(x: &mut Xml, e: &PsEntry, time: &str) {
    x.start(
        "author",
        &[("typeCode", "AUT"), ("contextControlCode", "OP")],
    );
    x.empty("time", &[("value", time)]);
    x.start("assignedAuthor", &[("classCode", "ASSIGNED")]);
    xml::ii(x, "id", HSA_ID_OID, Some(e.author.hsa_id.as_str()));
    x.start(
        "representedOrganization",
        &[("classCode", "ORG"), ("determinerCode", "INSTANCE")],
    );
    xml::ii(x, "id", HSA_ID_OID, Some(e.author.hsa_id.as_str()));
    x.leaf("name", &[], &e.author.name);
    xml::telecoms(x, &[]);
    xml::addr(x, None, Some("SE"));
    x.end();
    x.end();
    x.end();
}

/// The readable provider cell: `name (HSA-id)`.
pub(super) fn provider_cell(e: &PsEntry) -> String {
    format!("{} ({})", e.author.name, e.author.hsa_id)
}

/// The code system of the IPS "absent and unknown data" codes (`no-known-allergies`, …).
pub(super) const IPS_ABSENT: &str = "2.16.840.1.113883.5.1150.1";

/// A coded element with an IPS absent/unknown code, e.g.
/// `<value xsi:type="CD" code="no-known-allergies" …/>`.
pub(super) fn absent_code(x: &mut Xml, name: &str, xsi_cd: bool, code: (&str, &str)) {
    let mut a: Vec<(&str, &str)> = Vec::with_capacity(5);
    if xsi_cd {
        a.push(("xsi:type", "CD"));
    }
    a.extend_from_slice(&[
        ("code", code.0),
        ("codeSystem", IPS_ABSENT),
        ("codeSystemName", "IPS Absent and Unknown Data"),
        ("displayName", code.1),
    ]);
    x.empty(name, &a);
}

/// A coded element for a transcoded concept, following the eHDSI rule of [`xml::coded`]
/// (member as is; mapped target with the original as `<translation>`; unmapped
/// `nullFlavor="OTH"` with the original as `<translation>`), plus the concept's other codings
/// as further translations. With `text_id`, `originalText` references the narrative.
pub(super) fn concept(
    x: &mut Xml,
    name: &'static str,
    extra: &[(&str, &str)],
    c: &view::Concept,
    text_id: Option<&str>,
) {
    let (mut attrs, first, unmapped_text) = match &c.tc {
        Transcoded::Member(m) => (xml::coded_attrs(m), None, None),
        Transcoded::Mapped { target, original } => (xml::coded_attrs(target), Some(original), None),
        Transcoded::Unmapped { original } => (
            vec![("nullFlavor", "OTH")],
            Some(original),
            original.display.as_deref(),
        ),
    };
    attrs.extend_from_slice(extra);
    let translations: Vec<&Coded> = first.into_iter().chain(c.others.iter()).collect();
    if text_id.is_none() && unmapped_text.is_none() && translations.is_empty() {
        x.empty(name, &attrs);
        return;
    }
    x.start(name, &attrs);
    match (text_id, unmapped_text) {
        (Some(id), _) => {
            x.start("originalText", &[]);
            x.empty("reference", &[("value", &format!("#{id}"))]);
            x.end();
        }
        (None, Some(t)) => x.leaf("originalText", &[], t),
        (None, None) => {}
    }
    for t in translations {
        x.empty("translation", &xml::coded_attrs(t));
    }
    x.end();
}

/// Opens `entry/act` for a concern (problem concern 3.15, allergy concern 3.16): its
/// templates, id, the `CONC` code and status. The caller writes the time and the rest.
pub(super) fn concern_open(x: &mut Xml, templates: &[&str], id: (&str, &str), status: &str) {
    x.start("entry", &[("typeCode", "DRIV")]);
    x.start("act", &[("classCode", "ACT"), ("moodCode", "EVN")]);
    for t in templates {
        x.empty("templateId", &[("root", t)]);
    }
    xml::ii(x, "id", id.0, Some(id.1));
    x.empty(
        "code",
        &[
            ("code", "CONC"),
            ("codeSystem", "2.16.840.1.113883.5.6"),
            ("displayName", "Concern"),
        ],
    );
    x.empty("statusCode", &[("code", status)]);
}

/// `<effectiveTime xsi:type="IVL_TS">` with `low` (`nullFlavor="UNK"` when unknown) and,
/// when `high` is given, `high` likewise.
pub(super) fn interval(x: &mut Xml, low: Option<&str>, high: Option<Option<&str>>) {
    x.start("effectiveTime", &[("xsi:type", "IVL_TS")]);
    for (name, v) in [("low", Some(low)), ("high", high)] {
        match v {
            Some(Some(v)) => {
                x.empty(name, &[("value", v)]);
            }
            Some(None) => {
                x.empty(name, &[("nullFlavor", "UNK")]);
            }
            None => {}
        }
    }
    x.end();
}
