//! A care provider's FHIR server: the patient's records, searched by `patient.identifier`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use ncp_types::PersonId;
use serde_json::Value;
use url::Url;

use crate::data::category_of;
use crate::fhir::{self, ok, person_token, FhirError, Search};

#[derive(Clone)]
struct Provider {
    base: Url,
    records: Arc<Vec<(PersonId, Value)>>,
}

/// What this simulator serves, for its CapabilityStatement.
pub(crate) const CAPABILITY: crate::server::Capability = crate::server::Capability {
    title: "Care provider FHIR server (simulator)",
    resources: &[
        ("Condition", &["patient.identifier"]),
        ("AllergyIntolerance", &["patient.identifier"]),
        ("MedicationStatement", &["patient.identifier"]),
        ("Immunization", &["patient.identifier"]),
        ("Procedure", &["patient.identifier"]),
        ("Observation", &["patient.identifier", "category"]),
        ("DeviceUseStatement", &["patient.identifier"]),
    ],
};

pub(crate) fn router(base: Url, records: Vec<(PersonId, Value)>) -> Router {
    Router::new()
        .route("/{kind}", get(search))
        .route("/{kind}/{id}", get(read))
        .with_state(Provider {
            base,
            records: Arc::new(records),
        })
}

fn known(kind: &str) -> Result<(), FhirError> {
    if category_of(kind).is_some() {
        Ok(())
    } else {
        Err(FhirError::not_found(format!(
            "resource type not served here: {kind}"
        )))
    }
}

async fn search(
    State(p): State<Provider>,
    Path(kind): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, FhirError> {
    known(&kind)?;
    let allowed: &[&str] = if kind == "Observation" {
        &["patient.identifier", "category"]
    } else {
        &["patient.identifier"]
    };
    let s = Search::parse(q.as_deref(), allowed)?;
    let who = person_token(s.require("patient.identifier")?)?;
    let category = s.get("category");
    let matches: Vec<Value> = p
        .records
        .iter()
        .filter(|(pid, r)| *pid == who && r["resourceType"] == kind.as_str())
        .filter(|(_, r)| {
            category.is_none_or(|c| {
                r["category"]
                    .as_array()
                    .is_some_and(|cats| cats.iter().any(|cc| cc["coding"][0]["code"] == c))
            })
        })
        .map(|(_, r)| r.clone())
        .collect();
    Ok(ok(&fhir::searchset(
        &p.base,
        &kind,
        &s,
        &matches,
        |_| vec![],
    )))
}

async fn read(
    State(p): State<Provider>,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, FhirError> {
    known(&kind)?;
    p.records
        .iter()
        .find(|(_, r)| r["resourceType"] == kind.as_str() && r["id"] == id.as_str())
        .map(|(_, r)| ok(r))
        .ok_or_else(|| FhirError::not_found(format!("{kind}/{id} is not known")))
}
