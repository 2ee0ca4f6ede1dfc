//! The FHIR R4 JSON the API answers with: OperationOutcome, search Bundles, the foreign
//! Patient, the CapabilityStatement. Protocol text only: no business rules here.

use serde_json::{json, Value};

use super::config::Service;
use super::directory::CountryDirectory;
use super::foreign_gateway::ForeignPatient;
use super::patient_id::PatientKey;

pub const FHIR_JSON: &str = "application/fhir+json";

/// The system of the extension that says which country a patient or document comes from.
pub const COUNTRY_PARAM: &str = "country";

/// An OperationOutcome with one issue (`code` from the FHIR IssueType value set).
pub fn operation_outcome(severity: &str, code: &str, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": severity, "code": code, "diagnostics": diagnostics }]
    })
}

/// As [`operation_outcome`], with the foreign NCP's own codes as `details`.
pub fn operation_outcome_with(
    severity: &str,
    code: &str,
    diagnostics: &str,
    foreign: &[(String, String)],
) -> Value {
    let mut oo = operation_outcome(severity, code, diagnostics);
    if !foreign.is_empty() {
        oo["issue"][0]["details"] = json!({
            "coding": foreign.iter().map(|(c, m)| json!({
                "system": "urn:oid:1.3.6.1.4.1.12559.11.10.1.3.2.2.1",
                "code": c,
                "display": m,
            })).collect::<Vec<_>>(),
            "text": foreign.iter().map(|(c, m)| format!("{c}: {m}")).collect::<Vec<_>>().join("; "),
        });
    }
    oo
}

/// A search entry: `mode` is `match` or `include`; `full_url` as the source gave it
/// (`urn:uuid:…` keeps the references between the converted resources), else `{base}/{type}/{id}`.
pub fn entry(base: &str, resource: Value, full_url: Option<&str>, mode: &str) -> Value {
    let full = match full_url {
        Some(u) => Value::from(u),
        None => match (resource["resourceType"].as_str(), resource["id"].as_str()) {
            (Some(t), Some(id)) => Value::from(format!("{base}/{t}/{id}")),
            _ => Value::Null,
        },
    };
    let mut e = json!({ "resource": resource, "search": { "mode": mode } });
    if !full.is_null() {
        e["fullUrl"] = full;
    }
    e
}

/// A Bundle of `kind` (`searchset`, `collection`) of `entries` (see [`entry`]), with an
/// OperationOutcome of warnings when there are any.
pub fn bundle(kind: &str, mut entries: Vec<Value>, outcome: Option<Value>) -> Value {
    let total = entries
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .count();
    if let Some(oo) = outcome {
        entries.push(json!({ "resource": oo, "search": { "mode": "outcome" } }));
    }
    let mut b = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": kind,
        "entry": entries,
    });
    if kind == "searchset" {
        b["total"] = total.into();
    } else if let Some(es) = b["entry"].as_array_mut() {
        for e in es {
            if let Some(o) = e.as_object_mut() {
                o.remove("search");
            }
        }
    }
    b
}

/// `19700101` (HL7 TS) -> `1970-01-01` (FHIR date); other precisions as far as given.
pub fn fhir_date(ts: &str) -> Option<String> {
    let d: String = ts.chars().take_while(char::is_ascii_digit).collect();
    match d.len() {
        n if n >= 8 => Some(format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8])),
        6 | 7 => Some(format!("{}-{}", &d[..4], &d[4..6])),
        4 | 5 => Some(d[..4].to_owned()),
        _ => None,
    }
}

/// A foreign patient as a FHIR Patient, under the API's patient id.
pub fn patient(id: &str, key: &PatientKey, p: &ForeignPatient) -> Value {
    let mut r = json!({
        "resourceType": "Patient",
        "id": id,
        "identifier": [{
            "system": p.id.root.to_urn(),
            "value": p.id.extension,
            "assigner": { "display": format!("NCP {}", key.country) },
        }],
        "address": [{ "country": key.country.as_str() }],
    });
    let mut name = serde_json::Map::new();
    if let Some(f) = &p.family {
        name.insert("family".into(), f.clone().into());
    }
    if !p.given.is_empty() {
        name.insert("given".into(), p.given.clone().into());
    }
    if !name.is_empty() {
        r["name"] = json!([Value::Object(name)]);
    }
    if let Some(b) = p.birth_date.as_deref().and_then(fhir_date) {
        r["birthDate"] = b.into();
    }
    let gender = match p.gender.as_deref() {
        Some("M") => Some("male"),
        Some("F") => Some("female"),
        Some("UN") => Some("other"),
        Some(_) => Some("unknown"),
        None => None,
    };
    if let Some(g) = gender {
        r["gender"] = g.into();
    }
    r
}

/// The CapabilityStatement of `GET /fhir/metadata`.
pub fn capability_statement(base: &str, directory: &CountryDirectory) -> Value {
    let countries: Vec<Value> = directory
        .entries()
        .map(|c| {
            json!({
                "country": c.country.as_str(),
                "services": Service::ALL.iter()
                    .filter(|s| c.endpoint(**s).is_some())
                    .map(|s| s.name())
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    let country_param = json!({
        "name": COUNTRY_PARAM, "type": "token",
        "documentation": "The patient's country (ISO 3166-1 alpha-2, e.g. EE); optional when the identifier's system names a root the country directory knows",
    });
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-25",
        "kind": "instance",
        "publisher": "E-hälsomyndigheten",
        "software": { "name": "Swedish NCP bridge (MyHealth@EU)", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "Sweden as MyHealth@EU country B: foreign patients' ePrescriptions and Patient Summaries for Swedish pharmacies and clinicians", "url": base },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": format!("Countries reachable: {}", serde_json::to_string(&countries).unwrap_or_default()),
            "security": {
                "cors": false,
                "description": "Mutual TLS (a client certificate the bridge trusts) and `Authorization: Bearer <JWT>`: a user token signed by the Swedish identity issuer naming the user (HSA-id), role (pharmacist, doctor, nurse), organisation and purpose of use. Pharmacists: patient search, MedicationRequest, Binary, MedicationDispense; doctors: patient search, MedicationRequest, Binary, $summary; nurses: patient search, $summary."
            },
            "resource": [
                {
                    "type": "Patient",
                    "interaction": [{ "code": "search-type" }],
                    "searchParam": [
                        { "name": "identifier", "type": "token", "documentation": "urn:oid:ROOT|EXTENSION: the patient's identifier in their country (XCPD)" },
                        country_param,
                    ],
                    "operation": [{ "name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match", "documentation": "POST Patient/$match: Parameters with a resource Patient (identifier urn:oid:ROOT|EXTENSION, address.country): XCPD" }, { "name": "summary", "definition": "http://hl7.org/fhir/uv/ips/OperationDefinition/summary", "documentation": "GET Patient/{id}/$summary: the foreign Patient Summary (XCA) as a Bundle with the original CDA and PDF as Binary" }]
                },
                {
                    "type": "MedicationRequest",
                    "interaction": [{ "code": "search-type" }, { "code": "read" }],
                    "searchParam": [{ "name": "patient", "type": "reference", "documentation": "Patient/{id} as Patient search returned it (XCA list and retrieve of ePrescriptions)" }]
                },
                { "type": "Binary", "interaction": [{ "code": "read" }], "documentation": "The original L1 PDF or CDA of a document listed in this session (Accept: application/pdf for the bytes)" },
                {
                    "type": "MedicationDispense",
                    "interaction": [{ "code": "create" }],
                    "operation": [{ "name": "cancel", "definition": "urn:ncp-se:OperationDefinition/MedicationDispense-cancel", "documentation": "POST MedicationDispense/{id}/$cancel: discards a dispensation (eDispensation discard over XDR); answers the MedicationDispense with status entered-in-error" }],
                    "documentation": "create: eDispensation over XDR to the patient's country; 201 only when that country's NCP acknowledged it"
                }
            ]
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_follow_the_precision_given() {
        assert_eq!(fhir_date("19700131").as_deref(), Some("1970-01-31"));
        assert_eq!(fhir_date("197001").as_deref(), Some("1970-01"));
        assert_eq!(fhir_date("1970").as_deref(), Some("1970"));
        assert_eq!(fhir_date("x"), None);
    }

    #[test]
    fn searchset_counts_matches_only() {
        let base = "https://b/fhir";
        let b = bundle(
            "searchset",
            vec![
                entry(
                    base,
                    json!({"resourceType": "Patient", "id": "p"}),
                    None,
                    "match",
                ),
                entry(
                    base,
                    json!({"resourceType": "Binary", "id": "b"}),
                    Some("urn:uuid:b"),
                    "include",
                ),
            ],
            None,
        );
        assert_eq!(b["total"], 1);
        assert_eq!(b["entry"][0]["fullUrl"], "https://b/fhir/Patient/p");
    }
}
