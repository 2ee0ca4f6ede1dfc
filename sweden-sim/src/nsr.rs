//! NSR — the block register: opt-out, category, provider and entry blocks as `Consent`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use url::Url;

use crate::data::NsrData;
use crate::fhir::{self, ok, person_token, FhirError, Search};

#[derive(Clone)]
struct Nsr {
    base: Url,
    data: Arc<NsrData>,
}

/// What this simulator serves, for its CapabilityStatement.
pub(crate) const CAPABILITY: crate::server::Capability = crate::server::Capability {
    title: "NSR — the block register (simulator)",
    resources: &[("Consent", &["patient.identifier", "status"])],
};

pub(crate) fn router(base: Url, data: NsrData) -> Router {
    Router::new()
        .route("/Consent", get(search))
        .with_state(Nsr {
            base,
            data: Arc::new(data),
        })
}

async fn search(State(n): State<Nsr>, RawQuery(q): RawQuery) -> Result<Response, FhirError> {
    let s = Search::parse(q.as_deref(), &["patient.identifier", "status"])?;
    let who = person_token(s.require("patient.identifier")?)?;
    let status = s.get("status");
    let matches: Vec<Value> = n
        .data
        .consents
        .iter()
        .filter(|(p, c)| *p == who && status.is_none_or(|st| c["status"] == st))
        .map(|(_, c)| c.clone())
        .collect();
    Ok(ok(&fhir::searchset(
        &n.base,
        "Consent",
        &s,
        &matches,
        |_| vec![],
    )))
}
