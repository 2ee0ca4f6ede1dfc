//! FHIR plumbing shared by the simulators: OperationOutcome errors, search parameters, paging.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ncp_types::systems::IdentifierSystem;
use ncp_types::{HsaId, PersonId};
use serde_json::{json, Value};
use url::Url;

pub(crate) const FHIR_JSON: &str = "application/fhir+json";
pub(crate) const DEFAULT_COUNT: usize = 20;
pub(crate) const MAX_COUNT: usize = 100;

/// An error answered as an `OperationOutcome`.
#[derive(Debug, Clone)]
pub(crate) struct FhirError {
    pub status: StatusCode,
    pub code: &'static str,
    pub diagnostics: String,
    pub retry_after: Option<u64>,
}

impl FhirError {
    pub fn new(status: StatusCode, code: &'static str, diagnostics: impl Into<String>) -> Self {
        FhirError {
            status,
            code,
            diagnostics: diagnostics.into(),
            retry_after: None,
        }
    }
    pub fn invalid(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", d)
    }
    pub fn not_supported(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "not-supported", d)
    }
    pub fn not_found(d: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", d)
    }
    pub fn conflict(d: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", d)
    }
    pub fn forbidden(d: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", d)
    }
    pub fn unauthorized(d: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "login", d)
    }
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

pub(crate) fn operation_outcome(code: &str, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": "error", "code": code, "diagnostics": diagnostics }]
    })
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let mut r = fhir_response(
            self.status,
            &operation_outcome(self.code, &self.diagnostics),
        );
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

/// A FHIR JSON answer with the FHIR media type.
pub(crate) fn fhir_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
        bytes,
    )
        .into_response()
}

pub(crate) fn ok(body: &Value) -> Response {
    fhir_response(StatusCode::OK, body)
}

/// Parsed search parameters, checked against the names a search accepts.
#[derive(Debug, Default)]
pub(crate) struct Search {
    pub params: Vec<(String, String)>,
    pub count: usize,
    pub offset: usize,
}

impl Search {
    /// Parses `query`, refusing names outside `allowed` (besides `_count`, `_getpagesoffset` and
    /// `_format`).
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Search, FhirError> {
        let mut s = Search {
            count: DEFAULT_COUNT,
            ..Search::default()
        };
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "_count" => {
                    let n: usize = v
                        .parse()
                        .map_err(|_| FhirError::invalid("_count must be a positive integer"))?;
                    if n == 0 {
                        return Err(FhirError::invalid("_count must be a positive integer"));
                    }
                    s.count = n.min(MAX_COUNT);
                }
                "_getpagesoffset" => {
                    s.offset = v.parse().map_err(|_| {
                        FhirError::invalid("_getpagesoffset must be a non-negative integer")
                    })?;
                }
                "_format" => {
                    if !v.contains("json") {
                        return Err(FhirError::not_supported("only JSON is supported"));
                    }
                }
                name if allowed.contains(&name) => s.params.push((k.into_owned(), v.into_owned())),
                name => {
                    return Err(FhirError::not_supported(format!(
                        "unknown search parameter: {name}"
                    )))
                }
            }
        }
        Ok(s)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn require(&self, name: &str) -> Result<&str, FhirError> {
        self.get(name)
            .ok_or_else(|| FhirError::invalid(format!("missing search parameter: {name}")))
    }
}

/// Splits a token `system|value` (or a bare `value`).
pub(crate) fn token(v: &str) -> (Option<&str>, &str) {
    match v.split_once('|') {
        Some((s, v)) => (Some(s).filter(|s| !s.is_empty()), v),
        None => (None, v),
    }
}

/// A personnummer or samordningsnummer from a token search value, in any system spelling.
pub(crate) fn person_token(v: &str) -> Result<PersonId, FhirError> {
    let (system, value) = token(v);
    let r = match system {
        Some(s) => PersonId::from_identifier(s, value),
        None => PersonId::parse(value),
    };
    r.map_err(|e| FhirError::invalid(format!("patient identifier: {e}")))
}

/// An HSA-id from a token search value, in any system spelling.
pub(crate) fn hsa_token(v: &str) -> Result<HsaId, FhirError> {
    let (system, value) = token(v);
    if let Some(s) = system {
        if IdentifierSystem::recognise(s) != Some(IdentifierSystem::HsaId) {
            return Err(FhirError::invalid(format!("not an HSA-id system: {s}")));
        }
    }
    HsaId::parse(value).map_err(|e| FhirError::invalid(e.to_string()))
}

/// Builds a `searchset` page of `matches` (all of them; paged here) with `includes(page)`
/// appended as `search.mode = include`.
pub(crate) fn searchset(
    base: &Url,
    path: &str,
    search: &Search,
    matches: &[Value],
    includes: impl Fn(&[Value]) -> Vec<Value>,
) -> Value {
    let total = matches.len();
    let start = search.offset.min(total);
    let end = (start + search.count).min(total);
    let page = &matches[start..end];
    let link = |offset: usize| {
        let mut u = base.clone();
        u.set_path(&format!("{}/{}", base.path().trim_end_matches('/'), path));
        {
            let mut q = u.query_pairs_mut();
            for (k, v) in &search.params {
                q.append_pair(k, v);
            }
            q.append_pair("_count", &search.count.to_string());
            q.append_pair("_getpagesoffset", &offset.to_string());
        }
        u.to_string()
    };
    let mut links = vec![json!({"relation": "self", "url": link(start)})];
    if end < total {
        links.push(json!({"relation": "next", "url": link(end)}));
    }
    if start > 0 {
        links
            .push(json!({"relation": "previous", "url": link(start.saturating_sub(search.count))}));
    }
    let mut entries: Vec<Value> = page.iter().map(|r| entry(base, r, "match")).collect();
    entries.extend(includes(page).iter().map(|r| entry(base, r, "include")));
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "searchset",
        "total": total,
        "link": links,
    });
    // FHIR JSON has no empty arrays: an empty page has no `entry`.
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    bundle
}

fn entry(base: &Url, r: &Value, mode: &str) -> Value {
    let full = format!(
        "{}/{}/{}",
        base.as_str().trim_end_matches('/'),
        r["resourceType"].as_str().unwrap_or(""),
        r["id"].as_str().unwrap_or("")
    );
    json!({ "fullUrl": full, "resource": r, "search": { "mode": mode } })
}

/// The HSA-id identifier of a resource (`identifier[]` with an HSA-id system).
pub(crate) fn hsa_identifier(system_value: &HsaId) -> Value {
    json!({ "system": ncp_types::systems::HSA_ID_URI, "value": system_value.as_str() })
}

/// Pushes `r` into `out` unless a resource with the same type and id is there already.
pub(crate) fn push_unique(out: &mut Vec<Value>, r: &Value) {
    let same = |x: &Value| x["resourceType"] == r["resourceType"] && x["id"] == r["id"];
    if !out.iter().any(same) {
        out.push(r.clone());
    }
}
