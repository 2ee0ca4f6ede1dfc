//! NLL — nationella läkemedelslistan: prescriptions, dispensing with locks, spärr filtering.
//!
//! All mutable state sits behind one mutex and every check-and-update (dispense, discard, lock)
//! happens in a single critical section without awaiting, so concurrent callers cannot dispense
//! the same dispensation twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use ncp_types::{HsaId, PersonId};
use serde_json::{json, Value};
use url::Url;

use crate::data::{NllData, Prescription, RxStatus};
use crate::fhir::{self, ok, person_token, push_unique, FhirError, Search};

/// The identifier system that makes a dispensation idempotent.
pub(crate) const DISPENSE_ID_SYSTEM: &str = "http://electronichealth.se/identifier/nll-dispense-id";
/// How long a dispensing lock lasts.
const LOCK_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Treatment,
    Dispensing,
    CrossBorder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Normal,
    Emergency,
}

/// Who is calling, from the `X-Caller-*`, `X-Purpose` and `X-Access` headers.
#[derive(Debug, Clone)]
struct Caller {
    hsa: HsaId,
    purpose: Purpose,
    access: Access,
    /// A clinician (physician or pharmacist), who may use emergency access.
    clinician: bool,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn caller(h: &HeaderMap) -> Result<Caller, FhirError> {
    let hsa = header(h, "x-caller-hsaid")
        .ok_or_else(|| FhirError::unauthorized("X-Caller-HsaId is required"))
        .and_then(|v| {
            HsaId::parse(v).map_err(|_| FhirError::unauthorized("X-Caller-HsaId is not an HSA-id"))
        })?;
    let purpose = match header(h, "x-purpose") {
        Some("treatment") => Purpose::Treatment,
        Some("dispensing") => Purpose::Dispensing,
        Some("cross-border") => Purpose::CrossBorder,
        Some(_) => {
            return Err(FhirError::invalid(
                "X-Purpose must be treatment, dispensing or cross-border",
            ))
        }
        None => return Err(FhirError::invalid("X-Purpose is required")),
    };
    let access = match header(h, "x-access") {
        None | Some("normal") => Access::Normal,
        Some("emergency") => Access::Emergency,
        Some(_) => return Err(FhirError::invalid("X-Access must be normal or emergency")),
    };
    let clinician = match header(h, "x-caller-role") {
        Some("pharmacist") | Some("physician") => true,
        None | Some("ncp") => false,
        Some(_) => {
            return Err(FhirError::invalid(
                "X-Caller-Role must be pharmacist, physician or ncp",
            ))
        }
    };
    Ok(Caller {
        hsa,
        purpose,
        access,
        clinician,
    })
}

#[derive(Debug, Clone)]
struct Dispensation {
    id: String,
    prescription: String,
    dispenser: HsaId,
    key: Option<String>,
    version: u32,
    resource: Value,
}

struct Store {
    prescriptions: Vec<Prescription>,
    /// prescription id → (holder, expiry)
    locks: HashMap<String, (HsaId, Instant)>,
    dispensations: Vec<Dispensation>,
}

struct Static {
    base: Url,
    data: NllData,
}

#[derive(Clone)]
struct Nll {
    st: Arc<Static>,
    store: Arc<Mutex<Store>>,
}

impl Nll {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether an NLL data lock hides `rx` from `caller`.
    fn hidden(&self, rx: &Prescription, caller: &Caller) -> bool {
        // Emergency access by a clinician in Swedish care lifts a spärr; never cross-border.
        let override_ok = caller.purpose != Purpose::CrossBorder
            && caller.access == Access::Emergency
            && caller.clinician;
        self.st.data.locks.iter().any(|l| {
            l.patient == rx.patient && l.blocked == rx.prescriber_org && caller.hsa != l.blocked
        }) && !override_ok
    }

    fn find<'a>(list: &'a [Value], reference: &str) -> Option<&'a Value> {
        let (ty, id) = reference.rsplit_once('/')?;
        let ty = ty.rsplit('/').next()?;
        list.iter()
            .find(|r| r["resourceType"] == ty && r["id"] == id)
    }

    fn includes(&self, page: &[Value], include: &[&str]) -> Vec<Value> {
        let d = &self.st.data;
        let mut out = Vec::new();
        for rx in page {
            if include.contains(&"MedicationRequest:medication") {
                if let Some(m) = rx["medicationReference"]["reference"]
                    .as_str()
                    .and_then(|r| Self::find(&d.medications, r))
                {
                    push_unique(&mut out, m);
                }
            }
            if include.contains(&"MedicationRequest:requester") {
                if let Some(role) = rx["requester"]["reference"]
                    .as_str()
                    .and_then(|r| Self::find(&d.roles, r))
                {
                    push_unique(&mut out, role);
                    if let Some(p) = role["practitioner"]["reference"]
                        .as_str()
                        .and_then(|r| Self::find(&d.practitioners, r))
                    {
                        push_unique(&mut out, p);
                    }
                    if let Some(o) = role["organization"]["reference"]
                        .as_str()
                        .and_then(|r| Self::find(&d.organizations, r))
                    {
                        push_unique(&mut out, o);
                    }
                }
            }
            if include.contains(&"MedicationRequest:subject") {
                if let Some(id) = rx["subject"]["reference"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("Patient/"))
                {
                    if let Some((_, p)) = d.patients.iter().find(|(_, p)| p["id"] == id) {
                        push_unique(&mut out, p);
                    }
                }
            }
        }
        out
    }
}

/// What this simulator serves, for its CapabilityStatement.
pub(crate) const CAPABILITY: crate::server::Capability = crate::server::Capability {
    title: "NLL — nationella läkemedelslistan (simulator)",
    resources: &[
        ("Patient", &["identifier"]),
        (
            "MedicationRequest",
            &["patient.identifier", "status", "_id", "_include"],
        ),
        ("MedicationDispense", &["prescription"]),
        ("Consent", &["patient.identifier"]),
    ],
};

pub(crate) fn router(base: Url, data: NllData) -> Router {
    let store = Store {
        prescriptions: data.prescriptions.clone(),
        locks: HashMap::new(),
        dispensations: Vec::new(),
    };
    let state = Nll {
        st: Arc::new(Static { base, data }),
        store: Arc::new(Mutex::new(store)),
    };
    Router::new()
        .route("/Patient", get(search_patient))
        .route("/Patient/{id}", get(read_patient))
        .route("/MedicationRequest", get(search_requests))
        .route("/MedicationRequest/{id}", get(read_request))
        .route("/MedicationRequest/{id}/{op}", post(operation))
        .route(
            "/MedicationDispense",
            get(search_dispenses).post(create_dispense),
        )
        .route(
            "/MedicationDispense/{id}",
            get(read_dispense).put(update_dispense),
        )
        .route("/Consent", get(search_locks))
        .with_state(state)
}

async fn search_patient(
    State(n): State<Nll>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, FhirError> {
    caller(&headers)?;
    let s = Search::parse(q.as_deref(), &["identifier"])?;
    let who = person_token(s.require("identifier")?)?;
    let matches: Vec<Value> =
        n.st.data
            .patients
            .iter()
            .filter(|(p, _)| *p == who)
            .map(|(_, r)| r.clone())
            .collect();
    Ok(ok(&fhir::searchset(
        &n.st.base,
        "Patient",
        &s,
        &matches,
        |_| vec![],
    )))
}

async fn read_patient(
    State(n): State<Nll>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    caller(&headers)?;
    n.st.data
        .patients
        .iter()
        .find(|(_, p)| p["id"] == id.as_str())
        .map(|(_, p)| ok(p))
        .ok_or_else(|| FhirError::not_found(format!("Patient/{id} is not known")))
}

fn parse_statuses(s: &Search) -> Result<Option<Vec<RxStatus>>, FhirError> {
    let Some(v) = s.get("status") else {
        return Ok(None);
    };
    v.split(',')
        .map(|x| match x.trim() {
            "active" => Ok(RxStatus::Active),
            "completed" => Ok(RxStatus::Completed),
            "stopped" => Ok(RxStatus::Stopped),
            "cancelled" => Ok(RxStatus::Cancelled),
            other => Err(FhirError::invalid(format!(
                "unknown MedicationRequest status: {other}"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

async fn search_requests(
    State(n): State<Nll>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, FhirError> {
    let who = caller(&headers)?;
    let s = Search::parse(
        q.as_deref(),
        &["patient.identifier", "status", "_id", "_include"],
    )?;
    let include: Vec<&str> = s.all("_include").collect();
    for i in &include {
        if !matches!(
            *i,
            "MedicationRequest:medication"
                | "MedicationRequest:requester"
                | "MedicationRequest:subject"
        ) {
            return Err(FhirError::not_supported(format!(
                "unsupported _include: {i}"
            )));
        }
    }
    let patient: Option<PersonId> = s.get("patient.identifier").map(person_token).transpose()?;
    let ids: Option<Vec<&str>> = s.get("_id").map(|v| v.split(',').map(str::trim).collect());
    if patient.is_none() && ids.is_none() {
        return Err(FhirError::invalid("search needs patient.identifier or _id"));
    }
    let statuses = parse_statuses(&s)?;
    let matches: Vec<Value> = {
        let store = n.store();
        store
            .prescriptions
            .iter()
            .filter(|rx| patient.as_ref().is_none_or(|p| rx.patient == *p))
            .filter(|rx| ids.as_ref().is_none_or(|ids| ids.contains(&rx.id.as_str())))
            .filter(|rx| statuses.as_ref().is_none_or(|st| st.contains(&rx.status)))
            .filter(|rx| !n.hidden(rx, &who))
            .map(Prescription::to_json)
            .collect()
    };
    tracing::debug!(matches = matches.len(), "MedicationRequest search");
    Ok(ok(&fhir::searchset(
        &n.st.base,
        "MedicationRequest",
        &s,
        &matches,
        |page| n.includes(page, &include),
    )))
}

async fn read_request(
    State(n): State<Nll>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    let who = caller(&headers)?;
    let store = n.store();
    store
        .prescriptions
        .iter()
        .find(|rx| rx.id == id && !n.hidden(rx, &who))
        .map(|rx| ok(&rx.to_json()))
        .ok_or_else(|| FhirError::not_found(format!("MedicationRequest/{id} is not known")))
}

async fn operation(
    State(n): State<Nll>,
    headers: HeaderMap,
    Path((id, op)): Path<(String, String)>,
) -> Result<Response, FhirError> {
    let who = caller(&headers)?;
    let now = Instant::now();
    let mut store = n.store();
    let rx = store
        .prescriptions
        .iter()
        .find(|rx| rx.id == id)
        .ok_or_else(|| FhirError::not_found(format!("MedicationRequest/{id} is not known")))?;
    if n.hidden(rx, &who) {
        return Err(FhirError::conflict(
            "the prescription is locked by a spärr for this caller",
        ));
    }
    let held_by_other = locked_for(store.locks.get(&id), &who.hsa, now);
    match op.as_str() {
        "$lock" => {
            if held_by_other {
                return Err(FhirError::conflict(
                    "the prescription is locked by another dispensation in progress",
                ));
            }
            store
                .locks
                .insert(id.clone(), (who.hsa.clone(), now + LOCK_TTL));
            Ok(ok(&json!({
                "resourceType": "Parameters",
                "parameter": [
                    { "name": "prescription", "valueReference": { "reference": format!("MedicationRequest/{id}") } },
                    { "name": "expires-in-seconds", "valueInteger": LOCK_TTL.as_secs() },
                ],
            })))
        }
        "$unlock" => {
            if held_by_other {
                return Err(FhirError::conflict(
                    "the prescription is locked by someone else",
                ));
            }
            store.locks.remove(&id);
            Ok(ok(&json!({ "resourceType": "Parameters", "parameter": [
                { "name": "prescription", "valueReference": { "reference": format!("MedicationRequest/{id}") } },
            ] })))
        }
        other => Err(FhirError::not_supported(format!(
            "unknown operation: {other}"
        ))),
    }
}

/// Whether `lock` (holder, expiry) keeps `caller` out at `now`: held by someone else and not
/// yet expired.
fn locked_for(lock: Option<&(HsaId, Instant)>, caller: &HsaId, now: Instant) -> bool {
    lock.is_some_and(|(holder, until)| holder != caller && *until > now)
}

/// The prescription id a MedicationDispense refers to.
fn authorizing_prescription(body: &Value) -> Result<String, FhirError> {
    let reference = body["authorizingPrescription"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|r| r["reference"].as_str())
        .ok_or_else(|| FhirError::invalid("authorizingPrescription[0].reference is required"))?;
    let (ty, id) = reference
        .trim_end_matches('/')
        .rsplit_once('/')
        .ok_or_else(|| {
            FhirError::invalid("authorizingPrescription must reference MedicationRequest/{id}")
        })?;
    if !(ty == "MedicationRequest" || ty.ends_with("/MedicationRequest")) || id.is_empty() {
        return Err(FhirError::invalid(
            "authorizingPrescription must reference MedicationRequest/{id}",
        ));
    }
    Ok(id.to_owned())
}

fn dispense_key(body: &Value) -> Option<String> {
    body["identifier"].as_array()?.iter().find_map(|i| {
        (i["system"] == DISPENSE_ID_SYSTEM)
            .then(|| i["value"].as_str().map(str::to_owned))
            .flatten()
    })
}

fn with_location(n: &Nll, status: StatusCode, d: &Dispensation) -> Response {
    let mut r = fhir::fhir_response(status, &d.resource);
    let loc = format!(
        "{}/MedicationDispense/{}/_history/{}",
        n.st.base.as_str().trim_end_matches('/'),
        d.id,
        d.version
    );
    if let Ok(v) = HeaderValue::from_str(&loc) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{}\"", d.version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

async fn create_dispense(
    State(n): State<Nll>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, FhirError> {
    let who = caller(&headers)?;
    let body: Value =
        serde_json::from_slice(&body).map_err(|_| FhirError::invalid("the body is not JSON"))?;
    if body["resourceType"] != "MedicationDispense" {
        return Err(FhirError::invalid("expected a MedicationDispense"));
    }
    let rx_id = authorizing_prescription(&body)?;
    let key = dispense_key(&body);
    let today = chrono::Utc::now().date_naive();
    let now = Instant::now();

    let mut guard = n.store();
    let store = &mut *guard;
    if let Some(k) = &key {
        if let Some(d) = store
            .dispensations
            .iter()
            .find(|d| d.key.as_deref() == Some(k))
        {
            if d.prescription != rx_id {
                return Err(FhirError::conflict(
                    "this nll-dispense-id was used for another prescription",
                ));
            }
            tracing::info!(dispense = %d.id, "repeated dispensation answered idempotently");
            return Ok(with_location(&n, StatusCode::OK, d));
        }
    }
    let rx = store
        .prescriptions
        .iter_mut()
        .find(|rx| rx.id == rx_id)
        .ok_or_else(|| FhirError::not_found(format!("MedicationRequest/{rx_id} is not known")))?;
    if let Some(subject) = body["subject"]["identifier"]["value"].as_str() {
        if PersonId::parse(subject).ok().as_ref() != Some(&rx.patient) {
            return Err(FhirError::invalid(
                "subject does not match the prescription's patient",
            ));
        }
    }
    if n.hidden(rx, &who) {
        return Err(FhirError::conflict(
            "the prescription is locked by a spärr for this caller",
        ));
    }
    if rx.status == RxStatus::Completed {
        return Err(FhirError::conflict(
            "the prescription is completed: no dispensations left",
        ));
    }
    if rx.status != RxStatus::Active {
        return Err(FhirError::conflict(format!(
            "the prescription is {}",
            rx.status.as_str()
        )));
    }
    if today > rx.valid_until {
        return Err(FhirError::conflict("the prescription has expired"));
    }
    if today < rx.valid_from {
        return Err(FhirError::conflict("the prescription is not yet valid"));
    }
    if rx.remaining == 0 {
        return Err(FhirError::conflict(
            "no dispensations left on the prescription",
        ));
    }
    if locked_for(store.locks.get(&rx_id), &who.hsa, now) {
        return Err(FhirError::conflict(
            "the prescription is locked by another dispensation in progress",
        ));
    }
    rx.remaining -= 1;
    if rx.remaining == 0 {
        rx.status = RxStatus::Completed;
    }
    let remaining = rx.remaining;
    store.locks.remove(&rx_id);

    let id = uuid::Uuid::new_v4().to_string();
    let mut resource = body;
    resource["id"] = json!(id);
    resource["meta"] = json!({ "versionId": "1", "lastUpdated": chrono::Utc::now().to_rfc3339() });
    if resource["status"].as_str().is_none() {
        resource["status"] = json!("completed");
    }
    if resource["whenHandedOver"].as_str().is_none() {
        resource["whenHandedOver"] = json!(chrono::Utc::now().to_rfc3339());
    }
    let d = Dispensation {
        id: id.clone(),
        prescription: rx_id,
        dispenser: who.hsa,
        key,
        version: 1,
        resource,
    };
    let resp = with_location(&n, StatusCode::CREATED, &d);
    store.dispensations.push(d);
    tracing::info!(dispense = %id, remaining, "dispensation recorded");
    Ok(resp)
}

async fn read_dispense(
    State(n): State<Nll>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    caller(&headers)?;
    let store = n.store();
    store
        .dispensations
        .iter()
        .find(|d| d.id == id)
        .map(|d| with_location(&n, StatusCode::OK, d))
        .ok_or_else(|| FhirError::not_found(format!("MedicationDispense/{id} is not known")))
}

/// The discard of a dispensation: `status = entered-in-error` gives the dispensation back.
async fn update_dispense(
    State(n): State<Nll>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, FhirError> {
    let who = caller(&headers)?;
    let body: Value =
        serde_json::from_slice(&body).map_err(|_| FhirError::invalid("the body is not JSON"))?;
    if body["resourceType"] != "MedicationDispense" || body["id"].as_str().is_some_and(|b| b != id)
    {
        return Err(FhirError::invalid(
            "expected the MedicationDispense with the id of the URL",
        ));
    }
    if body["status"] != "entered-in-error" {
        return Err(FhirError::not_supported(
            "only the discard (status entered-in-error) is supported",
        ));
    }
    let if_match = header(&headers, "if-match").map(str::to_owned);
    let mut guard = n.store();
    let store = &mut *guard;
    let d = store
        .dispensations
        .iter_mut()
        .find(|d| d.id == id)
        .ok_or_else(|| FhirError::not_found(format!("MedicationDispense/{id} is not known")))?;
    if d.dispenser != who.hsa {
        return Err(FhirError::forbidden(
            "only the dispensing organisation may discard",
        ));
    }
    if let Some(m) = if_match {
        if m != format!("W/\"{}\"", d.version) {
            return Err(FhirError::new(
                StatusCode::PRECONDITION_FAILED,
                "conflict",
                "version mismatch",
            ));
        }
    }
    if d.resource["status"] == "entered-in-error" {
        return Ok(with_location(&n, StatusCode::OK, d));
    }
    d.version += 1;
    d.resource["status"] = json!("entered-in-error");
    d.resource["meta"] = json!({ "versionId": d.version.to_string(), "lastUpdated": chrono::Utc::now().to_rfc3339() });
    if let Some(rx) = store
        .prescriptions
        .iter_mut()
        .find(|rx| rx.id == d.prescription)
    {
        rx.remaining += 1;
        if rx.status == RxStatus::Completed {
            rx.status = RxStatus::Active;
        }
    }
    tracing::info!(dispense = %id, "dispensation discarded");
    Ok(with_location(&n, StatusCode::OK, d))
}

async fn search_dispenses(
    State(n): State<Nll>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, FhirError> {
    let who = caller(&headers)?;
    let s = Search::parse(q.as_deref(), &["prescription"])?;
    let p = s.require("prescription")?;
    let rx_id = p.strip_prefix("MedicationRequest/").unwrap_or(p).to_owned();
    let matches: Vec<Value> = {
        let store = n.store();
        let visible = store
            .prescriptions
            .iter()
            .any(|rx| rx.id == rx_id && !n.hidden(rx, &who));
        store
            .dispensations
            .iter()
            .filter(|d| visible && d.prescription == rx_id)
            .map(|d| d.resource.clone())
            .collect()
    };
    Ok(ok(&fhir::searchset(
        &n.st.base,
        "MedicationDispense",
        &s,
        &matches,
        |_| vec![],
    )))
}

async fn search_locks(
    State(n): State<Nll>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, FhirError> {
    caller(&headers)?;
    let s = Search::parse(q.as_deref(), &["patient.identifier"])?;
    let who = person_token(s.require("patient.identifier")?)?;
    let matches: Vec<Value> =
        n.st.data
            .locks
            .iter()
            .filter(|l| l.patient == who)
            .map(|l| l.resource.clone())
            .collect();
    Ok(ok(&fhir::searchset(
        &n.st.base,
        "Consent",
        &s,
        &matches,
        |_| vec![],
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_keeps_others_out_until_it_expires() {
        let a = HsaId::parse("SE2321000016-APO1").unwrap();
        let b = HsaId::parse("SE2321000016-APO2").unwrap();
        let now = Instant::now();
        let lock = (a.clone(), now + LOCK_TTL);
        assert!(locked_for(Some(&lock), &b, now));
        assert!(locked_for(
            Some(&lock),
            &b,
            now + LOCK_TTL - Duration::from_secs(1)
        ));
        assert!(
            !locked_for(Some(&lock), &b, now + LOCK_TTL),
            "expired after 60 s"
        );
        assert!(
            !locked_for(Some(&lock), &a, now),
            "never against its holder"
        );
        assert!(!locked_for(None, &b, now));
    }

    #[test]
    fn caller_headers_are_parsed_strictly() {
        let mut h = HeaderMap::new();
        assert_eq!(caller(&h).unwrap_err().status, StatusCode::UNAUTHORIZED);
        h.insert(
            "x-caller-hsaid",
            HeaderValue::from_static("SE2321000016-NCP1"),
        );
        assert_eq!(caller(&h).unwrap_err().status, StatusCode::BAD_REQUEST);
        h.insert("x-purpose", HeaderValue::from_static("cross-border"));
        let c = caller(&h).unwrap();
        assert_eq!(
            (c.purpose, c.access),
            (Purpose::CrossBorder, Access::Normal)
        );
        h.insert("x-access", HeaderValue::from_static("emergency"));
        assert_eq!(caller(&h).unwrap().access, Access::Emergency);
        h.insert("x-caller-role", HeaderValue::from_static("janitor"));
        assert_eq!(caller(&h).unwrap_err().status, StatusCode::BAD_REQUEST);
    }
}
