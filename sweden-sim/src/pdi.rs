//! PDI — patientdataindex: which care providers hold shareable data about a patient.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use url::Url;

use crate::data::PdiIndex;
use crate::fhir::{self, hsa_identifier, ok, person_token, FhirError, Search};

/// The extension listing what a provider holds.
pub(crate) const CATEGORIES_EXT: &str =
    "http://electronichealth.se/fhir/StructureDefinition/pdi-categories";

#[derive(Clone)]
struct Pdi {
    base: Url,
    index: Arc<PdiIndex>,
}

/// What this simulator serves, for its CapabilityStatement.
pub(crate) const CAPABILITY: crate::server::Capability = crate::server::Capability {
    title: "PDI — patientdataindex (simulator)",
    resources: &[("List", &["subject:identifier", "code"])],
};

pub(crate) fn router(base: Url, index: PdiIndex) -> Router {
    Router::new().route("/List", get(search)).with_state(Pdi {
        base,
        index: Arc::new(index),
    })
}

async fn search(State(p): State<Pdi>, RawQuery(q): RawQuery) -> Result<Response, FhirError> {
    let s = Search::parse(q.as_deref(), &["subject:identifier", "code"])?;
    let who = person_token(s.require("subject:identifier")?)?;
    match s.require("code")? {
        "shareable-providers" => {}
        other => return Err(FhirError::invalid(format!("unknown List code: {other}"))),
    }
    let providers = p
        .index
        .iter()
        .find(|(pid, _)| *pid == who)
        .map(|(_, l)| l.as_slice())
        .unwrap_or(&[]);
    let entries: Vec<Value> = providers
        .iter()
        .map(|(hsa, name, cats)| {
            json!({
                "extension": cats.iter().map(|c| json!({ "url": CATEGORIES_EXT, "valueCode": c })).collect::<Vec<_>>(),
                "item": { "type": "Organization", "identifier": hsa_identifier(hsa), "display": name },
            })
        })
        .collect();
    let mut list = json!({
        "resourceType": "List",
        "id": format!("pdi-{}", uuid::Uuid::new_v4()),
        "status": "current",
        "mode": "snapshot",
        "code": { "coding": [{ "system": "http://electronichealth.se/fhir/CodeSystem/pdi-list", "code": "shareable-providers" }] },
        "subject": { "identifier": { "system": who.system_uri(), "value": who.as_str() } },
        "date": chrono::Utc::now().to_rfc3339(),
    });
    if entries.is_empty() {
        list["emptyReason"] = json!({ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
            "code": "nilknown",
        }] });
    } else {
        list["entry"] = Value::Array(entries);
    }
    Ok(ok(&fhir::searchset(
        &p.base,
        "List",
        &s,
        &[list],
        |_| vec![],
    )))
}
