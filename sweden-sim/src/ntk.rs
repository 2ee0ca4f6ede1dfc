//! NTK — nationell tjänsteadresseringskatalog: where each care provider's FHIR server is.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use ncp_types::HsaId;
use serde_json::{json, Value};
use url::Url;

use crate::fhir::{self, hsa_identifier, hsa_token, ok, FhirError, Search};

pub(crate) const SPECIFICATION_SYSTEM: &str = "http://electronichealth.se/fhir/ntk-specification";

/// The endpoints NTK knows: `(provider, address, active)`.
#[derive(Clone)]
pub(crate) struct Directory(Vec<(HsaId, Url, bool)>);

impl Directory {
    pub fn new(running: &[(HsaId, Url)], offline: Vec<HsaId>) -> Self {
        let mut v: Vec<_> = running
            .iter()
            .map(|(h, u)| (h.clone(), u.clone(), true))
            .collect();
        for h in offline {
            if let Ok(u) = Url::parse(&format!("https://fhir.invalid/providers/{h}/fhir")) {
                v.push((h, u, false));
            }
        }
        Directory(v)
    }
}

#[derive(Clone)]
struct Ntk {
    base: Url,
    dir: Arc<Directory>,
}

/// What this simulator serves, for its CapabilityStatement.
pub(crate) const CAPABILITY: crate::server::Capability = crate::server::Capability {
    title: "NTK — nationell tjänsteadresseringskatalog (simulator)",
    resources: &[("Endpoint", &["organization.identifier", "status"])],
};

pub(crate) fn router(base: Url, dir: Directory) -> Router {
    Router::new()
        .route("/Endpoint", get(search))
        .with_state(Ntk {
            base,
            dir: Arc::new(dir),
        })
}

fn endpoint(hsa: &HsaId, address: &Url, active: bool) -> Value {
    json!({
        "resourceType": "Endpoint",
        "id": format!("ep-{hsa}"),
        "status": if active { "active" } else { "off" },
        "connectionType": { "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest" },
        "managingOrganization": { "identifier": hsa_identifier(hsa) },
        "payloadType": [{ "coding": [{ "system": SPECIFICATION_SYSTEM, "code": "se-ips-1.0" }] }],
        "payloadMimeType": ["application/fhir+json"],
        "address": address.as_str(),
    })
}

async fn search(State(n): State<Ntk>, RawQuery(q): RawQuery) -> Result<Response, FhirError> {
    let s = Search::parse(q.as_deref(), &["organization.identifier", "status"])?;
    let org = hsa_token(s.require("organization.identifier")?)?;
    let status = s.get("status");
    if let Some(st) = status {
        if st != "active" && st != "off" {
            return Err(FhirError::invalid(format!("unknown Endpoint status: {st}")));
        }
    }
    let matches: Vec<Value> = n
        .dir
        .0
        .iter()
        .filter(|(h, _, _)| *h == org)
        .filter(|(_, _, active)| status.is_none_or(|st| (st == "active") == *active))
        .map(|(h, u, a)| endpoint(h, u, *a))
        .collect();
    Ok(ok(&fhir::searchset(
        &n.base,
        "Endpoint",
        &s,
        &matches,
        |_| vec![],
    )))
}
