//! Compiling the summary's entries, as pure functions: NLL's current prescriptions as
//! medication entries, the care providers' records sorted into the Patient Summary sections,
//! duplicates across sources merged (the first source keeps the entry and stays its author),
//! and the document id and time, which depend on the compiled content only so that a list
//! and the retrieve after it name the same document.

use std::collections::HashSet;

use cda_fhir_transform::to_cda::{PsAuthor, PsEntry, PsSection};
use chrono::{DateTime, NaiveDate, Utc};
use ncp_types::systems::{
    ATC_OID, ATC_URI, ICD10_OID, LOINC_OID, LOINC_URI, SNOMED_CT_OID, SNOMED_CT_URI,
};
use ncp_types::HsaId;
use nll_adapter::SearchResult;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// A record with the care provider it came from (NLL's prescriptions: the prescriber's
/// organisation).
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced {
    pub author: PsAuthor,
    pub resource: Value,
}

/// The id prefix of a Patient Summary's `ClinicalDocument/id/@extension`.
pub const PS_ID_PREFIX: &str = "ps-";

fn day(v: &Value) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v.as_str()?.get(..10)?, "%Y-%m-%d").ok()
}

/// Whether the NLL prescription `mr` is current on `today`: active and not expired.
pub fn is_current(mr: &Value, today: NaiveDate) -> bool {
    mr["status"] == "active"
        && day(&mr["dispenseRequest"]["validityPeriod"]["end"]).is_none_or(|end| end >= today)
}

/// The prescriber's organisation of an NLL prescription, from the search's includes.
fn prescriber(bundle: &SearchResult, mr: &Value) -> Option<PsAuthor> {
    let role = bundle.resolve(mr["requester"]["reference"].as_str()?)?;
    let org = bundle.resolve(role["organization"]["reference"].as_str()?)?;
    let hsa = org["identifier"]
        .as_array()?
        .iter()
        .find_map(|i| HsaId::parse(i["value"].as_str()?).ok())?;
    Some(PsAuthor {
        hsa_id: hsa,
        name: org["name"].as_str().unwrap_or_default().to_owned(),
    })
}

/// NLL's current prescriptions (a `MedicationRequest` search with its includes) as
/// `MedicationStatement`s with the medicine's code inlined, authored by the prescriber's
/// organisation (`fallback` when NLL does not say). The statement keeps the prescription's id,
/// so an entry block on `MedicationRequest/{id}` still finds it ([`nll_origin`]).
pub fn nll_medications(
    bundle: &SearchResult,
    today: NaiveDate,
    fallback: &PsAuthor,
) -> Vec<Sourced> {
    bundle
        .matches()
        .filter(|mr| is_current(mr, today))
        .filter_map(|mr| {
            let medication = mr["medicationReference"]["reference"]
                .as_str()
                .and_then(|r| bundle.resolve(r));
            let code = match medication {
                Some(m) if m["code"].is_object() => m["code"].clone(),
                _ => {
                    let text = mr["medicationReference"]["display"].as_str()?;
                    json!({ "text": text })
                }
            };
            let mut ms = Map::new();
            ms.insert("resourceType".into(), json!("MedicationStatement"));
            ms.insert("id".into(), mr["id"].clone());
            ms.insert("status".into(), json!("active"));
            ms.insert(
                "basedOn".into(),
                json!([{ "reference": format!("MedicationRequest/{}", mr["id"].as_str()?) }]),
            );
            ms.insert("medicationCodeableConcept".into(), code);
            if mr["subject"]["identifier"].is_object() {
                ms.insert(
                    "subject".into(),
                    json!({ "identifier": mr["subject"]["identifier"] }),
                );
            }
            let validity = &mr["dispenseRequest"]["validityPeriod"];
            if validity.is_object() {
                ms.insert("effectivePeriod".into(), validity.clone());
            }
            if let Some(a) = mr["authoredOn"].as_str() {
                ms.insert("dateAsserted".into(), json!(a));
            }
            if mr["dosageInstruction"].is_array() {
                ms.insert("dosage".into(), mr["dosageInstruction"].clone());
            }
            Some(Sourced {
                author: prescriber(bundle, mr).unwrap_or_else(|| fallback.clone()),
                resource: Value::Object(ms),
            })
        })
        .collect()
}

/// The `Type/id` an NLL medication entry came from (`MedicationRequest/{id}`), for entry blocks.
pub fn nll_origin(statement: &Value) -> Value {
    json!({ "resourceType": "MedicationRequest", "id": statement["id"] })
}

/// One code system's canonical name (OID), whatever spelling the source used.
fn canonical_system(s: &str) -> &str {
    let s = s.strip_prefix("urn:oid:").unwrap_or(s);
    match s {
        SNOMED_CT_URI => SNOMED_CT_OID,
        ATC_URI => ATC_OID,
        LOINC_URI => LOINC_OID,
        other => other,
    }
}

/// The first coding of `concept` in one of `preferred` (canonical OIDs), else its first coding,
/// as `system|code`.
fn code_key(concept: &Value, preferred: &[&str]) -> Option<String> {
    let codings = concept["coding"].as_array()?;
    let key = |c: &Value| -> Option<String> {
        let code = c["code"].as_str()?.trim();
        (!code.is_empty()).then(|| {
            format!(
                "{}|{code}",
                canonical_system(c["system"].as_str().unwrap_or_default())
            )
        })
    };
    preferred
        .iter()
        .find_map(|p| {
            codings
                .iter()
                .find(|c| canonical_system(c["system"].as_str().unwrap_or_default()) == *p)
                .and_then(key)
        })
        .or_else(|| codings.iter().find_map(key))
}

fn first_day(r: &Value, fields: &[&str]) -> String {
    fields
        .iter()
        .find_map(|f| r[*f].as_str().and_then(|s| s.get(..10)))
        .unwrap_or_default()
        .to_owned()
}

/// What makes two records of a section the same clinical fact: the condition, substance,
/// medicine (ATC) or device by code; immunizations, procedures and vital signs by code and day.
/// `None` when the record has no code to compare (it is then never merged).
pub fn dedup_key(section: PsSection, r: &Value) -> Option<String> {
    let clinical = [SNOMED_CT_OID, ICD10_OID];
    let key = match section {
        PsSection::Problems | PsSection::PastIllnesses | PsSection::Allergies => {
            code_key(&r["code"], &clinical)?
        }
        PsSection::Medications => code_key(&r["medicationCodeableConcept"], &[ATC_OID])?,
        PsSection::Immunizations => format!(
            "{}@{}",
            code_key(&r["vaccineCode"], &[ATC_OID])?,
            first_day(r, &["occurrenceDateTime"])
        ),
        PsSection::Procedures => format!(
            "{}@{}",
            code_key(&r["code"], &clinical)?,
            first_day(r, &["performedDateTime"])
        ),
        PsSection::VitalSigns => format!(
            "{}@{}",
            code_key(&r["code"], &[LOINC_OID])?,
            first_day(r, &["effectiveDateTime", "issued"])
        ),
        PsSection::Devices => {
            let device = r["contained"]
                .as_array()
                .and_then(|c| c.iter().find(|d| d["resourceType"] == "Device"))
                .unwrap_or(r);
            code_key(&device["type"], &clinical)?
        }
    };
    Some(format!("{section:?}:{key}"))
}

/// The summary's entries from `sources` in order (NLL first, then the providers in PDI's
/// order): each record in its section, records with no place in the summary left out, a
/// duplicate of an earlier record dropped. Sorted by section, keeping the source order within.
pub fn compile(sources: impl IntoIterator<Item = Sourced>) -> Vec<(PsSection, PsEntry)> {
    let mut seen = HashSet::new();
    let mut out: Vec<(PsSection, PsEntry)> = Vec::new();
    for s in sources {
        let Some(section) = PsSection::of(&s.resource) else {
            continue;
        };
        if let Some(k) = dedup_key(section, &s.resource) {
            if !seen.insert(k) {
                continue;
            }
        }
        out.push((
            section,
            PsEntry {
                resource: s.resource,
                author: s.author,
            },
        ));
    }
    let rank = |s: &PsSection| {
        PsSection::ALL
            .iter()
            .position(|x| x == s)
            .unwrap_or(usize::MAX)
    };
    out.sort_by_key(|(s, _)| rank(s));
    out
}

/// The document id extension of a summary: a digest of everything the document says, so the
/// same content always has the same id, and different content another one.
pub fn document_extension(
    patient: &Value,
    entries: &[(PsSection, PsEntry)],
    incomplete: bool,
) -> String {
    let mut h = Sha256::new();
    h.update(patient.to_string().as_bytes());
    for (s, e) in entries {
        h.update(format!("\n{s:?}\n{}\n{}\n", e.author.hsa_id, e.author.name).as_bytes());
        h.update(e.resource.to_string().as_bytes());
    }
    h.update(if incomplete {
        b"\nincomplete"
    } else {
        b"\ncomplete  "
    });
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{PS_ID_PREFIX}{hex}")
}

/// Whether `extension` is a Patient Summary id of ours (`ps-` and 32 hex digits).
pub fn is_summary_extension(extension: &str) -> bool {
    extension
        .strip_prefix(PS_ID_PREFIX)
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn instant(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

/// The summary's time: that of its newest record (`meta.lastUpdated`, or the latest date the
/// record says it was recorded, asserted or happened; never ahead of now), so the same content
/// gives the same document; `None` without any date.
pub fn effective_time(entries: &[(PsSection, PsEntry)]) -> Option<DateTime<Utc>> {
    const FIELDS: &[&str] = &[
        "recordedDate",
        "onsetDateTime",
        "dateAsserted",
        "occurrenceDateTime",
        "performedDateTime",
        "effectiveDateTime",
        "issued",
        "timingDateTime",
    ];
    entries
        .iter()
        .filter_map(|(_, e)| {
            let r = &e.resource;
            let mut times: Vec<DateTime<Utc>> =
                FIELDS.iter().filter_map(|f| instant(&r[*f])).collect();
            times.extend(instant(&r["meta"]["lastUpdated"]));
            times.into_iter().max()
        })
        .max()
        // A date ahead (a planned procedure, say) is not when the summary was made.
        .map(|t| t.min(Utc::now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nll_adapter::{SearchEntry, SearchMode};

    fn author(h: &str, n: &str) -> PsAuthor {
        PsAuthor {
            hsa_id: HsaId::parse(h).unwrap(),
            name: n.into(),
        }
    }

    fn condition(id: &str, sct: &str, status: &str) -> Value {
        json!({"resourceType": "Condition", "id": id,
            "clinicalStatus": {"coding": [{"code": status}]},
            "code": {"coding": [{"system": SNOMED_CT_URI, "code": sct}]},
            "recordedDate": "2026-01-02"})
    }

    fn statement(id: &str, atc: &str) -> Value {
        json!({"resourceType": "MedicationStatement", "id": id, "status": "active",
            "medicationCodeableConcept": {"coding": [{"system": "http://electronichealth.se/identifier/nplid", "code": "1"}, {"system": ATC_URI, "code": atc}]}})
    }

    fn bundle(entries: Vec<(Value, SearchMode)>) -> SearchResult {
        SearchResult {
            total: None,
            entries: entries
                .into_iter()
                .map(|(resource, mode)| SearchEntry {
                    resource,
                    mode,
                    full_url: None,
                })
                .collect(),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
    }

    fn nll_bundle() -> SearchResult {
        let mr = |id: &str, status: &str, end: &str| {
            json!({"resourceType": "MedicationRequest", "id": id, "status": status,
                "authoredOn": "2026-10-01",
                "subject": {"reference": "Patient/pat-p01", "identifier": {"system": "x", "value": "1"}},
                "requester": {"reference": "PractitionerRole/role-1"},
                "medicationReference": {"reference": "Medication/med-enalapril", "display": "Enalapril"},
                "dosageInstruction": [{"text": "1 tablett dagligen"}],
                "dispenseRequest": {"validityPeriod": {"start": "2026-10-01", "end": end}}})
        };
        bundle(vec![
            (mr("rx-1", "active", "2027-10-01"), SearchMode::Match),
            (mr("rx-2", "active", "2026-11-01"), SearchMode::Match),
            (mr("rx-3", "stopped", "2027-10-01"), SearchMode::Match),
            (
                json!({"resourceType": "Medication", "id": "med-enalapril",
                "code": {"coding": [{"system": ATC_URI, "code": "C09AA02"}], "text": "Enalapril 10 mg"}}),
                SearchMode::Include,
            ),
            (
                json!({"resourceType": "PractitionerRole", "id": "role-1",
                "organization": {"reference": "Organization/org-1"}}),
                SearchMode::Include,
            ),
            (
                json!({"resourceType": "Organization", "id": "org-1", "name": "Vårdcentralen Södermalm",
                "identifier": [{"system": "http://electronichealth.se/identifier/hsaid", "value": "SE2321000016-7001"}]}),
                SearchMode::Include,
            ),
        ])
    }

    #[test]
    fn current_nll_prescriptions_become_statements_by_their_prescriber() {
        let fallback = author("SE2321000198-NCPTEST", "NLL");
        let meds = nll_medications(&nll_bundle(), today(), &fallback);
        assert_eq!(meds.len(), 1, "expired and stopped ones are not current");
        let ms = &meds[0];
        assert_eq!(
            ms.author,
            author("SE2321000016-7001", "Vårdcentralen Södermalm")
        );
        assert_eq!(ms.resource["resourceType"], "MedicationStatement");
        assert_eq!(ms.resource["id"], "rx-1");
        assert_eq!(
            ms.resource["medicationCodeableConcept"]["coding"][0]["code"],
            "C09AA02"
        );
        assert_eq!(ms.resource["dosage"][0]["text"], "1 tablett dagligen");
        assert_eq!(ms.resource["subject"].get("reference"), None);
        assert_eq!(
            nll_origin(&ms.resource),
            json!({"resourceType": "MedicationRequest", "id": "rx-1"})
        );
        assert_eq!(PsSection::of(&ms.resource), Some(PsSection::Medications));
    }

    #[test]
    fn duplicates_across_sources_are_merged_keeping_the_first() {
        let nll = author("SE2321000016-7001", "VC");
        let sahl = author("SE2321000131-7002", "Sahlgrenska");
        let sources = vec![
            Sourced {
                author: nll.clone(),
                resource: statement("rx-1", "C09AA02"),
            },
            Sourced {
                author: nll.clone(),
                resource: condition("c1", "38341003", "active"),
            },
            // The same hypertension in another spelling of SNOMED CT, at another provider.
            Sourced {
                author: sahl.clone(),
                resource: json!({"resourceType": "Condition", "id": "c9",
                    "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.96", "code": "38341003"}]}}),
            },
            Sourced {
                author: sahl.clone(),
                resource: statement("ms-1", "C09AA02"),
            },
            Sourced {
                author: sahl.clone(),
                resource: statement("ms-2", "A10BA02"),
            },
            // Resolved: a past illness, not the same entry as the active problem.
            Sourced {
                author: sahl.clone(),
                resource: condition("c2", "38341003", "resolved"),
            },
            Sourced {
                author: sahl.clone(),
                resource: json!({"resourceType": "Patient", "id": "x"}),
            },
            Sourced {
                author: sahl.clone(),
                resource: json!({"resourceType": "Condition", "id": "no-code"}),
            },
        ];
        let out = compile(sources);
        let ids: Vec<(PsSection, &str, &str)> = out
            .iter()
            .map(|(s, e)| {
                (
                    *s,
                    e.resource["id"].as_str().unwrap(),
                    e.author.name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            vec![
                (PsSection::Problems, "c1", "VC"),
                (PsSection::Problems, "no-code", "Sahlgrenska"),
                (PsSection::Medications, "rx-1", "VC"),
                (PsSection::Medications, "ms-2", "Sahlgrenska"),
                (PsSection::PastIllnesses, "c2", "Sahlgrenska"),
            ]
        );
    }

    #[test]
    fn immunizations_and_vitals_are_the_same_only_on_the_same_day() {
        let imm = |d: &str| json!({"resourceType": "Immunization", "vaccineCode": {"coding": [{"system": ATC_URI, "code": "J07BB02"}]}, "occurrenceDateTime": d});
        let a = dedup_key(PsSection::Immunizations, &imm("2026-01-01")).unwrap();
        assert_eq!(
            a,
            dedup_key(PsSection::Immunizations, &imm("2026-01-01T10:00:00Z")).unwrap()
        );
        assert_ne!(
            a,
            dedup_key(PsSection::Immunizations, &imm("2025-01-01")).unwrap()
        );
        let dev = json!({"resourceType": "DeviceUseStatement", "contained": [{"resourceType": "Device", "type": {"coding": [{"system": SNOMED_CT_URI, "code": "14106009"}]}}]});
        assert_eq!(
            dedup_key(PsSection::Devices, &dev).as_deref(),
            Some("Devices:2.16.840.1.113883.6.96|14106009")
        );
    }

    #[test]
    fn the_id_and_time_follow_the_content() {
        let p = json!({"resourceType": "Patient", "id": "p"});
        let a = author("SE2321000016-7001", "VC");
        let entries = compile(vec![Sourced {
            author: a.clone(),
            resource: condition("c1", "38341003", "active"),
        }]);
        let id = document_extension(&p, &entries, false);
        assert!(is_summary_extension(&id), "{id}");
        assert_eq!(id, document_extension(&p, &entries, false));
        assert_ne!(id, document_extension(&p, &entries, true));
        assert_ne!(id, document_extension(&p, &[], false));
        assert!(!is_summary_extension("rx-p01-01"));
        assert!(!is_summary_extension("ps-xyz"));
        assert_eq!(
            effective_time(&entries).unwrap().to_rfc3339(),
            "2026-01-02T00:00:00+00:00"
        );
        assert_eq!(effective_time(&[]), None);
    }
}
