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

/// Binds `addr`, and serves `make(base)` under `prefix` with the fault layer and `/_sim/faults`.
pub(crate) async fn serve(
    addr: SocketAddr,
    prefix: &str,
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
    let app = Router::new()
        .nest(prefix, make(base.clone()))
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
