//! Country B: a foreign eHDSI Patient Summary L3 -> a FHIR R4 `document` Bundle for Swedish
//! clinicians: the `Composition` (one section per PS section, its narrative kept), the
//! `Patient`, the author (`Practitioner`, `Organization`) and custodian, and per entry the
//! resource of its kind: `AllergyIntolerance`, `MedicationStatement` + `Medication`,
//! `Condition`, `Procedure`, `DeviceUseStatement` + `Device`, `Immunization`, `Observation`.
//! Codes keep their original system, code and display; a Swedish display rides along where
//! the terminology knows one (see [`CodingJ`]).

use std::borrow::Cow;

use serde_json::{json, Value};

use super::cda_model::*;
use super::eprescription::{fhir_id_of, MedicationJ, OrganizationJ, PatientJ, PractitionerJ};
use super::fhir_json::*;
use super::FromCdaError;

const LOINC: &str = "http://loinc.org";
const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const ALLERGY_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const LIST_EMPTY_REASON: &str = "http://terminology.hl7.org/CodeSystem/list-empty-reason";

fn codeable(c: &Code, text: Option<&str>) -> Value {
    to_value(&CodeableJ(c, text))
}

/// A CodeableConcept from a code, else from text alone.
fn concept(c: Option<&Code>, text: Option<&str>) -> Option<Value> {
    match (c, text.filter(|t| !t.is_empty())) {
        (Some(c), t) => Some(codeable(c, t)),
        (None, Some(t)) => Some(json!({ "text": t })),
        (None, None) => None,
    }
}

fn with_period(r: &mut Value, p: Option<&Period>, single: &str, period: &str) {
    let Some(p) = p else { return };
    match (p.start, p.end) {
        (Some(s), None) => r[single] = json!(date_time(&s)),
        (None, None) => {}
        _ => r[period] = to_value(&PeriodJ(p)),
    }
}

fn insert(r: &mut Value, key: &str, v: Option<Value>) {
    if let (Some(v), Some(o)) = (v, r.as_object_mut()) {
        o.insert(key.to_owned(), v);
    }
}

fn identifiers(e: &PsEntry) -> Option<Value> {
    e.id.as_ref().map(|i| json!([to_value(&IdentifierJ(i))]))
}

/// The narrative as XHTML (escaped text in one `div`).
fn narrative(text: &str) -> Value {
    let mut div = String::with_capacity(text.len() + 64);
    div.push_str(r#"<div xmlns="http://www.w3.org/1999/xhtml">"#);
    for ch in text.chars() {
        match ch {
            '<' => div.push_str("&lt;"),
            '>' => div.push_str("&gt;"),
            '&' => div.push_str("&amp;"),
            c => div.push(c),
        }
    }
    div.push_str("</div>");
    json!({ "status": "generated", "div": div })
}

struct Built {
    entries: Vec<Value>,
}

impl Built {
    fn add(&mut self, url: String, resource: Value) -> String {
        self.entries
            .push(json!({ "fullUrl": url, "resource": resource }));
        url
    }

    /// As [`Built::add`], for a resource whose `id` is the one its `url` carries.
    fn add_with_id(&mut self, url: String, resource: impl FnOnce(&str) -> Value) -> String {
        let resource = resource(fhir_id_of(&url));
        self.add(url, resource)
    }
}

/// The resource(s) for one entry; returns the URL the section lists.
fn entry_resources(
    b: &mut Built,
    seed: &str,
    n: usize,
    e: &PsEntry,
    patient: &str,
) -> Option<String> {
    let url = stable_uuid(&format!("{seed}/entry/{n}"));
    let id = fhir_id_of(&url).to_owned();
    let subject = json!({ "reference": patient });
    let text = e.text.as_deref();
    let kind = e.kind?;
    let mut r = match kind {
        PsEntryKind::Problem | PsEntryKind::PastProblem => {
            let resolved = kind == PsEntryKind::PastProblem
                || e.period.is_some_and(|p| p.end.is_some())
                || matches!(e.status.as_deref(), Some("completed" | "aborted"));
            let status = if resolved { "resolved" } else { "active" };
            let mut r = json!({
                "resourceType": "Condition",
                "id": id,
                "clinicalStatus": { "coding": [{ "system": CONDITION_CLINICAL, "code": status }] },
                "subject": subject,
            });
            insert(
                &mut r,
                "code",
                concept(e.value.as_ref(), text.or(e.value_text.as_deref())),
            );
            if let Some(p) = &e.period {
                if let Some(s) = p.start {
                    r["onsetDateTime"] = json!(date_time(&s));
                }
                if let Some(s) = p.end {
                    r["abatementDateTime"] = json!(date_time(&s));
                }
            }
            r
        }
        PsEntryKind::Allergy => {
            let mut r = json!({
                "resourceType": "AllergyIntolerance",
                "id": id,
                "clinicalStatus": { "coding": [{ "system": ALLERGY_CLINICAL, "code":
                    if e.period.is_some_and(|p| p.end.is_some()) { "resolved" } else { "active" } }] },
                "patient": subject,
            });
            // The allergen, else the coded value (a no-known-allergies statement).
            insert(
                &mut r,
                "code",
                concept(e.agent.as_ref().or(e.value.as_ref()), text),
            );
            if let Some(s) = e.period.and_then(|p| p.start) {
                r["onsetDateTime"] = json!(date_time(&s));
            }
            if !e.reactions.is_empty() {
                let m: Vec<Value> = e.reactions.iter().map(|c| codeable(c, None)).collect();
                r["reaction"] = json!([{ "manifestation": m }]);
            }
            r
        }
        PsEntryKind::Medication | PsEntryKind::Immunization => {
            let product = e.product.as_ref();
            if kind == PsEntryKind::Immunization {
                let vaccine = product.and_then(|p| {
                    concept(p.codes.first().or(p.classes.first()), p.name.as_deref())
                });
                let vaccine = vaccine
                    .or_else(|| concept(e.code.as_ref(), text))
                    .unwrap_or_else(|| json!({ "text": "unknown vaccine" }));
                let mut r = json!({
                    "resourceType": "Immunization",
                    "id": id,
                    "status": if e.negated { "not-done" } else { "completed" },
                    "vaccineCode": vaccine,
                    "patient": subject,
                });
                match e.period.and_then(|p| p.start.or(p.end)) {
                    Some(t) => r["occurrenceDateTime"] = json!(date_time(&t)),
                    None => r["occurrenceString"] = json!("unknown"),
                }
                if let Some(rt) = &e.route {
                    r["route"] = codeable(rt, None);
                }
                r
            } else {
                let med_url = stable_uuid(&format!("{seed}/entry/{n}/medication"));
                let medication = match product {
                    Some(p) => to_value(&MedicationJ {
                        product: p,
                        id: Cow::Borrowed(fhir_id_of(&med_url)),
                        nested: false,
                    }),
                    None => json!({
                        "resourceType": "Medication",
                        "id": fhir_id_of(&med_url),
                        "code": concept(e.code.as_ref(), text).unwrap_or_else(|| json!({"text": "unknown medicine"})),
                    }),
                };
                b.add(med_url.clone(), medication);
                let status = match e.status.as_deref() {
                    Some("completed") => "completed",
                    Some("aborted" | "cancelled") => "stopped",
                    _ if e.negated => "not-taken",
                    _ => "active",
                };
                let mut r = json!({
                    "resourceType": "MedicationStatement",
                    "id": id,
                    "status": status,
                    "medicationReference": { "reference": med_url },
                    "subject": subject,
                });
                with_period(
                    &mut r,
                    e.period.as_ref(),
                    "effectiveDateTime",
                    "effectivePeriod",
                );
                if !e.reasons.is_empty() {
                    r["reasonCode"] =
                        Value::Array(e.reasons.iter().map(|c| codeable(c, None)).collect());
                }
                let mut dosage = serde_json::Map::new();
                if let Some(rt) = &e.route {
                    dosage.insert("route".into(), codeable(rt, None));
                }
                if let Some(DoseQuantity::Single(q)) = &e.dose {
                    dosage.insert(
                        "doseAndRate".into(),
                        json!([{ "doseQuantity": to_value(&quantity(q)) }]),
                    );
                }
                if !dosage.is_empty() {
                    r["dosage"] = json!([dosage]);
                }
                r
            }
        }
        PsEntryKind::Procedure => {
            let mut r = json!({
                "resourceType": "Procedure",
                "id": id,
                "status": if e.negated { "not-done" } else { "completed" },
                "subject": subject,
            });
            insert(&mut r, "code", concept(e.code.as_ref(), text));
            with_period(
                &mut r,
                e.period.as_ref(),
                "performedDateTime",
                "performedPeriod",
            );
            r
        }
        PsEntryKind::Device => {
            let dev_url = stable_uuid(&format!("{seed}/entry/{n}/device"));
            let mut device = json!({ "resourceType": "Device", "id": fhir_id_of(&dev_url) });
            insert(&mut device, "type", concept(e.agent.as_ref(), text));
            b.add(dev_url.clone(), device);
            let mut r = json!({
                "resourceType": "DeviceUseStatement",
                "id": id,
                "status": if e.period.is_some_and(|p| p.end.is_some()) { "completed" } else { "active" },
                "subject": subject,
                "device": { "reference": dev_url },
            });
            with_period(&mut r, e.period.as_ref(), "timingDateTime", "timingPeriod");
            r
        }
        PsEntryKind::Observation => {
            let mut r = json!({
                "resourceType": "Observation",
                "id": id,
                "status": "final",
                "code": concept(e.code.as_ref(), text)
                    .unwrap_or_else(|| json!({ "text": "observation" })),
                "subject": subject,
            });
            with_period(
                &mut r,
                e.period.as_ref(),
                "effectiveDateTime",
                "effectivePeriod",
            );
            if let Some(q) = &e.value_quantity {
                r["valueQuantity"] = to_value(&quantity(q));
            } else if let Some(c) = &e.value {
                r["valueCodeableConcept"] = codeable(c, None);
            } else if let Some(t) = e.value_text.as_deref().filter(|t| !t.is_empty()) {
                r["valueString"] = json!(t);
            }
            r
        }
    };
    insert(&mut r, "identifier", identifiers(e));
    Some(b.add(url, r))
}

/// Builds the `document` Bundle of a Patient Summary L3.
pub(crate) fn to_bundle(doc: &CdaDocument) -> Result<Value, FromCdaError> {
    let seed = doc.id.qualified();
    let mut b = Built {
        entries: Vec::new(),
    };
    let date = doc.effective_time.ok_or(FromCdaError::Missing {
        at: "/ClinicalDocument/effectiveTime".into(),
        what: "@value (the date of the summary)",
    })?;

    let patient_url = b.add_with_id(stable_uuid(&format!("{seed}/patient")), |id| {
        to_value(&PatientJ {
            patient: &doc.patient,
            id,
        })
    });
    let mut authors = Vec::new();
    if let Some(a) = &doc.author {
        let url = b.add_with_id(stable_uuid(&format!("{seed}/practitioner/0")), |id| {
            to_value(&PractitionerJ {
                professional: a,
                id,
            })
        });
        authors.push(json!({ "reference": url }));
        if let Some(org) = &a.organization {
            let url = b.add_with_id(stable_uuid(&format!("{seed}/organization/0")), |id| {
                to_value(&OrganizationJ {
                    organization: org,
                    id,
                })
            });
            authors.push(json!({ "reference": url }));
        }
    }
    let custodian = doc.custodian.as_ref().map(|org| {
        b.add_with_id(stable_uuid(&format!("{seed}/custodian")), |id| {
            to_value(&OrganizationJ {
                organization: org,
                id,
            })
        })
    });
    if authors.is_empty() {
        match &custodian {
            Some(url) => authors.push(json!({ "reference": url })),
            None => {
                return Err(FromCdaError::Missing {
                    at: "/ClinicalDocument/author".into(),
                    what: "assignedAuthor (who wrote the summary)",
                })
            }
        }
    }

    let mut sections = Vec::new();
    let mut n = 0usize;
    for s in &doc.sections {
        let mut refs = Vec::new();
        for e in &s.entries {
            if let Some(url) = entry_resources(&mut b, &seed, n, e, &patient_url) {
                refs.push(json!({ "reference": url }));
            }
            n += 1;
        }
        let title = s
            .title
            .clone()
            .or_else(|| s.code.as_ref().and_then(|c| c.display.clone()))
            .unwrap_or_else(|| "Section".to_owned());
        let mut section = json!({ "title": title });
        if let Some(c) = &s.code {
            section["code"] = codeable(c, None);
        }
        if let Some(t) = &s.text {
            section["text"] = narrative(t);
        }
        if refs.is_empty() {
            if s.text.is_none() {
                section["emptyReason"] = json!({ "coding": [{
                    "system": LIST_EMPTY_REASON, "code": "unavailable"
                }] });
            }
        } else {
            section["entry"] = Value::Array(refs);
        }
        sections.push(section);
    }

    let composition_url = stable_uuid(&format!("{seed}/composition"));
    let mut composition = json!({
        "resourceType": "Composition",
        "id": fhir_id_of(&composition_url),
        "identifier": to_value(&IdentifierJ(&doc.id)),
        "status": "final",
        "type": { "coding": [{ "system": LOINC, "code": "60591-5", "display": "Patient summary Document" }] },
        "subject": { "reference": patient_url },
        "date": date_time(&date),
        "author": authors,
        "title": doc.title.clone().unwrap_or_else(|| "Patient Summary".to_owned()),
    });
    if let Some(url) = custodian {
        composition["custodian"] = json!({ "reference": url });
    }
    if let Some(l) = doc.language.as_deref().filter(|l| !l.is_empty()) {
        composition["language"] = json!(l);
    }
    if !sections.is_empty() {
        composition["section"] = Value::Array(sections);
    }
    let mut entries = vec![json!({ "fullUrl": composition_url, "resource": composition })];
    entries.append(&mut b.entries);

    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": fhir_id_of(&stable_uuid(&seed)),
        "identifier": to_value(&IdentifierJ(&doc.id)),
        "type": "document",
    });
    let stamp = date_time(&date);
    if stamp.contains('T') {
        // An instant needs a time and zone; a date-only summary has no timestamp.
        bundle["timestamp"] = json!(stamp);
    }
    bundle["entry"] = Value::Array(entries);
    debug_assert!(!has_empty_members(&bundle));
    tracing::info!(
        sections = doc.sections.len(),
        entries = n,
        warnings = doc.warnings.len(),
        country = doc.country().map(|c| c.to_string()).unwrap_or_default(),
        "Patient Summary converted to FHIR"
    );
    Ok(bundle)
}
