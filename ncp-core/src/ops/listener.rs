//! The operations listener (`[ops] listen`): plain HTTP, for the orchestrator and Prometheus.
//!
//! - `GET /health`: 200 `ok` while the process serves (liveness).
//! - `GET /ready`: 200 `ready`, or 503 with one reason a line (readiness; 503 while draining).
//! - `GET /metrics`: the Prometheus text format.
//!
//! It keeps answering while the bridge drains its requests after SIGTERM (so probes see 503),
//! and stops with the bridge.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use super::health::Readiness;

/// The routes of the operations listener.
pub fn router(readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(readiness)
}

async fn health() -> &'static str {
    "ok\n"
}

async fn ready(State(r): State<Arc<Readiness>>) -> Response {
    match r.check().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reasons) => {
            let mut body = String::from("not ready\n");
            for why in reasons {
                body.push_str(&why);
                body.push('\n');
            }
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
        }
    }
}

async fn metrics(State(r): State<Arc<Readiness>>) -> Response {
    // Refreshes the outbox gauges and `ncp_ready`.
    let _ = r.check().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        super::metrics::render(),
    )
        .into_response()
}

/// Serves the operations routes on `listener` until `stop` completes.
pub async fn serve(
    listener: TcpListener,
    readiness: Arc<Readiness>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "operations listener (plain HTTP: /health, /ready, /metrics)");
    }
    if let Err(e) = axum::serve(listener, router(readiness))
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "operations listener failed");
    }
}
