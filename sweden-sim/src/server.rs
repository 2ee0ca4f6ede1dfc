//! Binding, serving and shutting down one simulator.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use crate::faults::{self, FaultState};
use crate::{Faults, SimError};

/// One running simulator.
pub(crate) struct Served {
    pub base: Url,
    faults: Arc<Mutex<Faults>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Served {
    pub fn set_faults(&self, f: Faults) {
        *self.faults.lock().unwrap_or_else(|p| p.into_inner()) = f;
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// What a simulator is, for its CapabilityStatement (`GET {base}/metadata`), which FHIR
/// clients read first to learn what a server supports.
pub(crate) struct Capability {
    pub title: &'static str,
    /// Resource types served, each with its search parameters.
    pub resources: &'static [(&'static str, &'static [&'static str])],
}

impl Capability {
    fn statement(&self, base: &Url) -> serde_json::Value {
        let resources: Vec<serde_json::Value> = self
            .resources
            .iter()
            .map(|(ty, params)| {
                let mut r = serde_json::json!({
                    "type": ty,
                    "interaction": [{ "code": "read" }, { "code": "search-type" }],
                });
                if !params.is_empty() {
                    r["searchParam"] = params
                        .iter()
                        .map(|p| serde_json::json!({ "name": p, "type": "token" }))
                        .collect();
                }
                r
            })
            .collect();
        serde_json::json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-01",
            "kind": "instance",
            "software": { "name": "sweden-sim", "version": env!("CARGO_PKG_VERSION") },
            "implementation": { "description": self.title, "url": base.as_str() },
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json"],
            "rest": [{ "mode": "server", "resource": resources }],
        })
    }
}

/// Binds `addr`, and serves `make(base)` under `prefix` with the fault layer, the
/// CapabilityStatement at `{prefix}/metadata` and `/_sim/faults`.
pub(crate) async fn serve(
    addr: SocketAddr,
    prefix: &str,
    capability: &Capability,
    initial: Faults,
    make: impl FnOnce(Url) -> Router,
) -> Result<Served, SimError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr, source })?;
    // Advertise a reachable address when bound to all interfaces.
    let mut shown = local;
    if shown.ip().is_unspecified() {
        shown.set_ip(match shown.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let base = Url::parse(&format!("http://{shown}{prefix}"))?;
    let (stop, stop_rx) = watch::channel(false);
    let state = FaultState {
        faults: Arc::new(Mutex::new(initial)),
        stop: stop_rx.clone(),
    };
    let statement = capability.statement(&base);
    let metadata = Router::new().route(
        "/metadata",
        axum::routing::get(move || {
            let body = statement.clone();
            async move { crate::fhir::ok(&body) }
        }),
    );
    let app = Router::new()
        .nest(prefix, make(base.clone()).merge(metadata))
        .merge(faults::routes(state.clone()))
        .fallback(|| async {
            crate::fhir::FhirError::not_found("no such endpoint on this simulator")
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::inject,
        ));
    let mut rx = stop_rx;
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "simulator stopped with an error");
        }
    });
    tracing::debug!(%base, "simulator listening");
    Ok(Served {
        base,
        faults: state.faults,
        stop,
        task,
    })
}
