//! The FHIR R4 REST API for Swedish users, under `/fhir` on the bridge's mutual-TLS listener.
//!
//! | request | what happens abroad |
//! | --- | --- |
//! | `GET /fhir/metadata` | nothing: the CapabilityStatement |
//! | `GET /fhir/Patient?identifier=urn:oid:ROOT\|EXT&country=EE` | XCPD; Patients with ids `EE-ROOT-EXT` |
//! | `POST /fhir/Patient/$match` (Parameters `resource`: Patient with identifier, `address.country`) | XCPD, as the search |
//! | `GET /fhir/MedicationRequest?patient=Patient/{id}` | XCA list + retrieve of ePrescriptions |
//! | `GET /fhir/MedicationRequest/{id}` | nothing: one of the prescriptions listed before |
//! | `GET /fhir/Binary/{id}` | nothing: an L1 PDF or original CDA fetched before (`Accept: application/pdf` for the bytes) |
//! | `POST /fhir/MedicationDispense` | eDispensation over XDR; 201 only when acknowledged |
//! | `POST /fhir/MedicationDispense/{id}/$cancel` | its discard over XDR; 200 only when acknowledged |
//! | `GET /fhir/Patient/{id}/$summary` | XCA list + retrieve of Patient Summaries |
//!
//! Every request but `metadata` needs a user token (`Authorization: Bearer`, see
//! [`super::token`]); the TLS client certificate was checked by the listener. Errors are
//! OperationOutcomes with an HTTP status that says whose problem it is: 400/404 the request,
//! 401/403 the user, 422 the business rules (also a dispensation the foreign NCP did not
//! accept), 501 a service the patient's country does not offer, 502/503/504 the foreign NCP.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use ncp_types::{CountryCode, Oid};
use serde::Deserialize;
use serde_json::Value;

use super::directory::DirectoryError;
use super::fhir::{self, operation_outcome, operation_outcome_with, FHIR_JSON};
use super::foreign_gateway::GatewayError;
use super::patient_id::PatientKey;
use super::service::{CountryB, Found, RequestCtx, ServiceError};
use super::token::{TokenError, TokenVerifier};
use crate::server::Peer;

/// What the API needs: the service and the token verifier.
pub struct CountryBApi {
    pub service: CountryB,
    pub tokens: TokenVerifier,
}

type Api = State<Arc<CountryBApi>>;

/// The `/fhir` routes; without a configured `[country_b]` every request is answered 501.
pub fn router(api: Option<Arc<CountryBApi>>) -> Router {
    let Some(api) = api else {
        return Router::new().fallback(|| async {
            outcome(
                StatusCode::NOT_IMPLEMENTED,
                "not-supported",
                "the FHIR API for Swedish users is not configured on this bridge ([country_b])",
            )
        });
    };
    Router::new()
        .route("/metadata", get(metadata))
        .route("/Patient", get(search_patient))
        .route("/Patient/$match", post(match_patient))
        .route("/Patient/{id}/$summary", get(summary))
        .route("/MedicationRequest", get(search_prescriptions))
        .route("/MedicationRequest/{id}", get(read_prescription))
        .route("/Binary/{id}", get(read_binary))
        .route("/MedicationDispense", post(dispense))
        .route("/MedicationDispense/{id}/$cancel", post(cancel))
        .fallback(|| async {
            outcome(
                StatusCode::NOT_FOUND,
                "not-supported",
                "no such FHIR interaction here: see GET /fhir/metadata",
            )
        })
        .with_state(api)
}

fn fhir_json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, FHIR_JSON)],
        serde_json::to_vec(body).unwrap_or_default(),
    )
        .into_response()
}

fn outcome(status: StatusCode, code: &str, message: &str) -> Response {
    let severity = if status.is_server_error() {
        "fatal"
    } else {
        "error"
    };
    fhir_json(status, &operation_outcome(severity, code, message))
}

/// The base URL the client reached us at (for `fullUrl`s).
fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("https://{host}/fhir")
}

fn token_error(e: &TokenError) -> Response {
    if e.is_forbidden() {
        return outcome(StatusCode::FORBIDDEN, "forbidden", &e.to_string());
    }
    let mut r = outcome(StatusCode::UNAUTHORIZED, "login", &e.to_string());
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

/// The request's user, or the 401/403 to answer with.
#[allow(clippy::result_large_err)]
fn authenticate(
    api: &CountryBApi,
    headers: &HeaderMap,
    peer: Option<&Peer>,
) -> Result<RequestCtx, Response> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let user = api.tokens.verify_header(auth).map_err(|e| {
        tracing::info!(reason = %e, "FHIR request refused: user token");
        token_error(&e)
    })?;
    Ok(RequestCtx {
        user,
        source_ip: peer.and_then(|p| p.remote).map(|a| a.ip()),
        request_id: uuid::Uuid::new_v4().to_string(),
    })
}

/// The authenticated user of a request (see [`authenticate`]); rejected with the 401/403.
struct User(RequestCtx);

impl FromRequestParts<Arc<CountryBApi>> for User {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        api: &Arc<CountryBApi>,
    ) -> Result<Self, Response> {
        authenticate(api, &parts.headers, parts.extensions.get::<Peer>()).map(User)
    }
}

/// 200 with the resource, or the answer to the service error.
fn ok_or_error(result: Result<Value, ServiceError>) -> Response {
    match result {
        Ok(resource) => fhir_json(StatusCode::OK, &resource),
        Err(e) => error_response(&e),
    }
}

/// The answer to a service error.
pub fn error_response(e: &ServiceError) -> Response {
    use StatusCode as S;
    let text = e.to_string();
    match e {
        ServiceError::Directory(DirectoryError::UnknownCountry(_)) => {
            outcome(S::NOT_FOUND, "not-found", &text)
        }
        ServiceError::Directory(DirectoryError::NotOffered { .. }) => {
            outcome(S::NOT_IMPLEMENTED, "not-supported", &text)
        }
        ServiceError::Directory(DirectoryError::UnknownRoot(_)) => {
            outcome(S::BAD_REQUEST, "required", &text)
        }
        ServiceError::Gateway { country, error } => {
            let (status, code, message) = match error {
                GatewayError::NoMatch => (
                    S::NOT_FOUND,
                    "not-found",
                    format!("{country}'s NCP does not know this patient"),
                ),
                GatewayError::NoConsent(m) => (
                    S::FORBIDDEN,
                    "forbidden",
                    format!(
                        "the patient has not consented to {country} sharing their data abroad: {m}"
                    ),
                ),
                GatewayError::NotDispensable(m) => (
                    S::CONFLICT,
                    "business-rule",
                    format!("{country}: the prescription cannot be dispensed: {m}"),
                ),
                GatewayError::Refused { code, message } => {
                    let oo = operation_outcome_with(
                        "error",
                        "business-rule",
                        &format!("{country}'s NCP refused the request ({code}): {message}"),
                        &[(code.clone(), message.clone())],
                    );
                    return fhir_json(S::UNPROCESSABLE_ENTITY, &oo);
                }
                GatewayError::Unavailable(m) => (
                    S::SERVICE_UNAVAILABLE,
                    "transient",
                    format!("{country}'s NCP is unavailable, try again later: {m}"),
                ),
                GatewayError::Timeout => (
                    S::GATEWAY_TIMEOUT,
                    "timeout",
                    format!("{country}'s NCP did not answer in time"),
                ),
                GatewayError::Protocol(m) => (
                    S::BAD_GATEWAY,
                    "exception",
                    format!("{country}'s NCP answered something the bridge cannot use: {m}"),
                ),
            };
            outcome(status, code, &message)
        }
        ServiceError::Forbidden(t) => token_error(t),
        ServiceError::BadRequest(_) => outcome(S::BAD_REQUEST, "invalid", &text),
        ServiceError::NotFound(_) => outcome(S::NOT_FOUND, "not-found", &text),
        ServiceError::ForeignDocument(_) => outcome(S::BAD_GATEWAY, "exception", &text),
        ServiceError::NotAcknowledged { errors, .. } => {
            let oo = operation_outcome_with(
                "error",
                "business-rule",
                &format!("{text}: nothing was recorded abroad"),
                errors,
            );
            fhir_json(S::UNPROCESSABLE_ENTITY, &oo)
        }
        ServiceError::Unprocessable(_) => outcome(S::UNPROCESSABLE_ENTITY, "processing", &text),
        ServiceError::Store(_) => outcome(
            S::SERVICE_UNAVAILABLE,
            "transient",
            "the bridge's database is unavailable, try again later",
        ),
        ServiceError::Conflict(_) => outcome(S::CONFLICT, "conflict", &text),
        ServiceError::Audit(_) => outcome(
            S::INTERNAL_SERVER_ERROR,
            "exception",
            "the audit trail is unavailable: nothing can be disclosed",
        ),
    }
}

fn found_bundle(kind: &str, found: Found) -> Value {
    let warnings = (!found.warnings.is_empty()).then(|| {
        let mut oo = operation_outcome("warning", "incomplete", &found.warnings.join("; "));
        if let Some(issues) = oo["issue"].as_array_mut() {
            *issues = found
                .warnings
                .iter()
                .map(|w| serde_json::json!({ "severity": "warning", "code": "incomplete", "diagnostics": w }))
                .collect();
        }
        oo
    });
    fhir::bundle(kind, found.entries, warnings)
}

async fn metadata(State(api): Api, headers: HeaderMap) -> Response {
    fhir_json(
        StatusCode::OK,
        &fhir::capability_statement(&base(&headers), api.service.directory()),
    )
}

#[derive(Deserialize)]
struct PatientSearch {
    identifier: Option<String>,
    country: Option<String>,
}

async fn search_patient(
    State(api): Api,
    headers: HeaderMap,
    Query(q): Query<PatientSearch>,
    User(ctx): User,
) -> Response {
    let Some(identifier) = q.identifier else {
        return outcome(
            StatusCode::BAD_REQUEST,
            "required",
            "search by identifier=urn:oid:ROOT|EXTENSION (the patient's id in their country)",
        );
    };
    let Some((system, value)) = identifier.split_once('|') else {
        return outcome(
            StatusCode::BAD_REQUEST,
            "invalid",
            "identifier must be SYSTEM|VALUE, e.g. urn:oid:1.2.3|123",
        );
    };
    find(
        &api,
        &ctx,
        &headers,
        system,
        value,
        q.country.as_deref(),
        false,
    )
    .await
}

/// `POST /fhir/Patient/$match`: a `Parameters` with a `resource` Patient (or the Patient
/// itself) whose `identifier` is `urn:oid:ROOT` + value; the country from `address.country`.
async fn match_patient(
    State(api): Api,
    headers: HeaderMap,
    User(ctx): User,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return outcome(StatusCode::BAD_REQUEST, "structure", "the body is not JSON");
    };
    let patient = if body["resourceType"] == "Parameters" {
        body["parameter"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "resource"))
            .map(|p| &p["resource"])
            .unwrap_or(&Value::Null)
    } else {
        &body
    };
    if patient["resourceType"] != "Patient" {
        return outcome(
            StatusCode::BAD_REQUEST,
            "required",
            "$match takes a Parameters with a `resource` Patient (or a Patient)",
        );
    }
    let id = patient["identifier"].as_array().and_then(|ids| {
        ids.iter().find(|i| {
            i["system"]
                .as_str()
                .is_some_and(|s| s.starts_with("urn:oid:"))
        })
    });
    let (Some(system), Some(value)) = (
        id.and_then(|i| i["system"].as_str()),
        id.and_then(|i| i["value"].as_str()),
    ) else {
        return outcome(
            StatusCode::BAD_REQUEST,
            "required",
            "the Patient needs an identifier with system urn:oid:ROOT and a value",
        );
    };
    let country = patient["address"][0]["country"].as_str();
    find(&api, &ctx, &headers, system, value, country, true).await
}

/// XCPD for `system|value` and the answer as a searchset (with match grades for `$match`).
async fn find(
    api: &CountryBApi,
    ctx: &RequestCtx,
    headers: &HeaderMap,
    system: &str,
    value: &str,
    country: Option<&str>,
    graded: bool,
) -> Response {
    let Some(root) = system
        .strip_prefix("urn:oid:")
        .and_then(|o| Oid::parse(o).ok())
    else {
        return outcome(
            StatusCode::BAD_REQUEST,
            "invalid",
            "the identifier's system must be urn:oid:ROOT (the patient's identifier domain)",
        );
    };
    if value.trim().is_empty() {
        return outcome(
            StatusCode::BAD_REQUEST,
            "invalid",
            "the identifier has no value",
        );
    }
    let country = match country.map(|c| CountryCode::parse(&c.trim().to_ascii_uppercase())) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(_)) => {
            return outcome(
                StatusCode::BAD_REQUEST,
                "invalid",
                "country must be an ISO 3166-1 alpha-2 code such as EE",
            )
        }
    };
    let b = base(headers);
    match api
        .service
        .find_patient(ctx, country, root.clone(), value.trim().to_owned())
        .await
    {
        Ok(found) => {
            let mut entries = Vec::new();
            let mut warnings = Vec::new();
            for (key, p) in found {
                match key.to_fhir_id() {
                    Ok(id) => {
                        let mut e = fhir::entry(&b, fhir::patient(&id, &key, &p), None, "match");
                        if graded {
                            // The identifier matched in the patient's own country: certain.
                            e["search"]["score"] = 1.into();
                            e["search"]["extension"] = serde_json::json!([{
                                "url": "http://hl7.org/fhir/StructureDefinition/match-grade",
                                "valueCode": "certain",
                            }]);
                        }
                        entries.push(e);
                    }
                    Err(e) => warnings.push(e.to_string()),
                }
            }
            let mut oo = (!warnings.is_empty())
                .then(|| operation_outcome("warning", "too-long", &warnings.join("; ")));
            if entries.is_empty() && oo.is_none() {
                let c = country
                    .or_else(|| api.service.directory().country_of_root(&root).ok())
                    .map(|c| format!("{c}'s NCP"))
                    .unwrap_or_else(|| "The patient's country".to_owned());
                oo = Some(operation_outcome(
                    "information",
                    "not-found",
                    &format!("{c} found no patient with this identifier (XCPD: no match)"),
                ));
            }
            fhir_json(StatusCode::OK, &fhir::bundle("searchset", entries, oo))
        }
        Err(e) => error_response(&e),
    }
}

#[allow(clippy::result_large_err)]
fn patient_key(id: &str) -> Result<PatientKey, Response> {
    PatientKey::parse(id).map_err(|e| outcome(StatusCode::BAD_REQUEST, "invalid", &e.to_string()))
}

#[derive(Deserialize)]
struct PrescriptionSearch {
    patient: Option<String>,
}

async fn search_prescriptions(
    State(api): Api,
    headers: HeaderMap,
    Query(q): Query<PrescriptionSearch>,
    User(ctx): User,
) -> Response {
    let Some(patient) = q.patient else {
        return outcome(
            StatusCode::BAD_REQUEST,
            "required",
            "search by patient=Patient/{id} (an id the Patient search returned)",
        );
    };
    let key = match patient_key(&patient) {
        Ok(k) => k,
        Err(r) => return r,
    };
    ok_or_error(
        api.service
            .prescriptions(&ctx, &base(&headers), &key)
            .await
            .map(|found| found_bundle("searchset", found)),
    )
}

async fn read_prescription(State(api): Api, Path(id): Path<String>, User(ctx): User) -> Response {
    ok_or_error(api.service.medication_request(&ctx, &id).await)
}

async fn read_binary(
    State(api): Api,
    headers: HeaderMap,
    Path(id): Path<String>,
    User(ctx): User,
) -> Response {
    let binary = match api.service.binary(&ctx, &id).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    let content_type = binary["contentType"]
        .as_str()
        .unwrap_or("application/octet-stream");
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    // The raw content when asked for its type (and not for FHIR JSON).
    if accept.contains(content_type) && !accept.contains("fhir+json") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(binary["data"].as_str().unwrap_or_default())
            .unwrap_or_default();
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, content_type.to_owned())],
            bytes,
        )
            .into_response();
    }
    fhir_json(StatusCode::OK, &binary)
}

async fn dispense(State(api): Api, headers: HeaderMap, User(ctx): User, body: Bytes) -> Response {
    let Ok(resource) = serde_json::from_slice::<Value>(&body) else {
        return outcome(
            StatusCode::BAD_REQUEST,
            "structure",
            "the body is not JSON: send a FHIR MedicationDispense (application/fhir+json)",
        );
    };
    match api.service.dispense(&ctx, &resource).await {
        Ok(md) => {
            let id = md["id"].as_str().unwrap_or_default().to_owned();
            let mut r = fhir_json(StatusCode::CREATED, &md);
            if let Ok(loc) = header::HeaderValue::from_str(&format!(
                "{}/MedicationDispense/{id}",
                base(&headers)
            )) {
                r.headers_mut().insert(header::LOCATION, loc);
            }
            r
        }
        Err(e) => error_response(&e),
    }
}

async fn cancel(State(api): Api, Path(id): Path<String>, User(ctx): User) -> Response {
    ok_or_error(api.service.cancel(&ctx, &id).await)
}

async fn summary(
    State(api): Api,
    headers: HeaderMap,
    Path(id): Path<String>,
    User(ctx): User,
) -> Response {
    let key = match patient_key(&id) {
        Ok(k) => k,
        Err(r) => return r,
    };
    ok_or_error(
        api.service
            .summary(&ctx, &base(&headers), &key)
            .await
            .map(|found| found_bundle("collection", found)),
    )
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
