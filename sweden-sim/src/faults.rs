//! Fault injection: latency, failure rate, and `down` (no answer until shutdown).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::watch;

use crate::fhir::FhirError;
use crate::Faults;

#[derive(Clone)]
pub(crate) struct FaultState {
    pub faults: Arc<Mutex<Faults>>,
    pub stop: watch::Receiver<bool>,
}

impl FaultState {
    fn current(&self) -> Faults {
        *self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) fn routes(state: FaultState) -> Router {
    Router::new()
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .with_state(state)
}

async fn get_faults(State(st): State<FaultState>) -> Json<Faults> {
    Json(st.current())
}

async fn put_faults(
    State(st): State<FaultState>,
    body: axum::body::Bytes,
) -> Result<Json<Faults>, FhirError> {
    let f: Faults =
        serde_json::from_slice(&body).map_err(|e| FhirError::invalid(format!("faults: {e}")))?;
    if !(0.0..=1.0).contains(&f.fail_rate) {
        return Err(FhirError::invalid("fail_rate must be within 0.0 ..= 1.0"));
    }
    if StatusCode::from_u16(f.fail_status).is_err() || f.fail_status < 400 {
        return Err(FhirError::invalid(
            "fail_status must be an HTTP error status",
        ));
    }
    *st.faults.lock().unwrap_or_else(|p| p.into_inner()) = f;
    tracing::info!(?f, "faults changed");
    Ok(Json(f))
}

/// Middleware: applies the server's current faults to every request but `/_sim/…`.
pub(crate) async fn inject(State(st): State<FaultState>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/_sim/") {
        return outcome_for_bare_errors(next.run(req).await);
    }
    let f = st.current();
    if f.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
    }
    if f.down {
        // Hold the connection without answering until the simulator shuts down.
        let mut stop = st.stop.clone();
        let _ = stop.wait_for(|s| *s).await;
        return FhirError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "simulator is down",
        )
        .into_response();
    }
    if f.fail_rate > 0.0 && rand::random::<f64>() < f.fail_rate {
        let status = StatusCode::from_u16(f.fail_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut e = FhirError::new(status, "transient", "injected failure");
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            e = e.retry_after(1);
        }
        return e.into_response();
    }
    outcome_for_bare_errors(next.run(req).await)
}

/// Turns axum's own plain-text errors (405 method not allowed, 413 body too large, a path that
/// is not UTF-8…) into `OperationOutcome`s with the same status.
fn outcome_for_bare_errors(r: Response) -> Response {
    let fhir = r
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/fhir+json") || v.starts_with("application/json")
        });
    let status = r.status();
    if (status.is_client_error() || status.is_server_error()) && !fhir {
        let code = match status {
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::UNSUPPORTED_MEDIA_TYPE => "not-supported",
            StatusCode::PAYLOAD_TOO_LARGE => "too-costly",
            s if s.is_server_error() => "exception",
            _ => "invalid",
        };
        let reason = status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase();
        return FhirError::new(status, code, reason).into_response();
    }
    r
}
