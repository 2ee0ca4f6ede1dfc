//! Starting the bridge from a validated [`Config`]: the one path `ncp serve`, `ncp sandbox` and
//! the tests all take.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::{router, AppState};
use crate::config::Config;
use crate::ops::health::Readiness;
use crate::ops::reload::TrustReloader;
use crate::{ops, server, tls};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("terminology.mvc_dir: {0}")]
    Terminology(#[from] terminology::TerminologyError),
    #[error("terminology.grpc_listen: cannot listen on {addr}: {source}")]
    BindGrpc {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Endpoints(#[from] crate::endpoints::EndpointsError),
    #[error("server.listen: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("ops.listen: cannot listen on {addr}: {source}")]
    BindOps {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Readiness(String),
}

/// A bridge whose listener is bound but not yet serving.
pub struct Bridge {
    listener: TcpListener,
    grpc: Option<TcpListener>,
    ops: Option<TcpListener>,
    tls: tls::SharedServerConfig,
    readiness: Arc<Readiness>,
    reloader: Arc<TrustReloader>,
    hangup: Option<tokio::signal::unix::Signal>,
    state: AppState,
}

impl Bridge {
    /// Loads the certificates and binds the listener; fails early with the offending key.
    pub async fn bind(config: Config) -> Result<Bridge, StartError> {
        ops::metrics::install();
        let tls: tls::SharedServerConfig =
            Arc::new(arc_swap::ArcSwap::new(tls::server_config(&config.tls)?));
        install_terminology(config.terminology.mvc_dir.as_deref())?;
        let country_a = Arc::new(crate::endpoints::CountryAEndpoints::open(&config).await?);
        let country_b = crate::country_b::open(&config)
            .await
            .map_err(crate::endpoints::EndpointsError)?;
        let addr = config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let grpc = match config.terminology.grpc_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::BindGrpc { addr, source })?,
            ),
            None => None,
        };
        let ops = match config.ops.listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::BindOps { addr, source })?,
            ),
            None => None,
        };
        let readiness = Readiness::open(&config)
            .await
            .map_err(StartError::Readiness)?;
        let reloader = Arc::new(TrustReloader::new(
            &config,
            tls.clone(),
            country_a.trust.clone(),
        ));
        Ok(Bridge {
            listener,
            grpc,
            ops,
            tls,
            readiness,
            reloader,
            // From here on a SIGHUP reloads the trust lists instead of ending the process.
            hangup: ops::reload::hangup_signal(),
            state: AppState {
                config: Arc::new(config),
                country_a,
                country_b,
            },
        })
    }

    /// Writes the country A endpoints' audit events to `sink` (instead of memory).
    pub fn with_audit(mut self, sink: Arc<dyn crate::country_a::AuditSink>) -> Self {
        if let Some(ep) = Arc::get_mut(&mut self.state.country_a) {
            ep.audit = sink;
        }
        self
    }

    /// The bound address (with the real port when the configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.config.server.listen)
    }

    /// The operations listener's bound address (`[ops] listen`), when configured.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Reloads the trust lists now (what SIGHUP does).
    pub fn trust_reloader(&self) -> Arc<TrustReloader> {
        self.reloader.clone()
    }

    /// The gRPC TerminologyService's bound address, when configured.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then refuses new connections, reports not ready and
    /// finishes the requests in flight.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tracing::info!(addr = %self.local_addr(), "NCP bridge listening (mutual TLS)");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let grpc = self.grpc.map(|listener| {
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                if let Ok(addr) = listener.local_addr() {
                    tracing::info!(%addr, "gRPC TerminologyService listening");
                }
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let result = tonic::transport::Server::builder()
                    .add_service(terminology::grpc::default_service())
                    .serve_with_incoming_shutdown(incoming, async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
                if let Err(e) = result {
                    tracing::error!(error = %e, "gRPC TerminologyService failed");
                }
            })
        });
        let outbox_stop = tokio_util::sync::CancellationToken::new();
        let outbox = self
            .state
            .country_a
            .service
            .spawn_outbox_worker(outbox_stop.clone());
        let ops_stop = tokio_util::sync::CancellationToken::new();
        let ops_listener = self.ops.map(|listener| {
            let stop = ops_stop.clone();
            tokio::spawn(ops::listener::serve(
                listener,
                self.readiness.clone(),
                async move { stop.cancelled().await },
            ))
        });
        let reload_poll = std::time::Duration::from_secs(self.state.config.ops.reload_poll_secs);
        let reloader = tokio::spawn(self.reloader.clone().run(
            self.hangup,
            reload_poll,
            ops_stop.clone(),
        ));
        let readiness = self.readiness.clone();
        let draining = async move {
            shutdown.await;
            readiness.set_shutting_down();
            tracing::info!("shutting down: not ready; finishing the requests in flight");
        };
        server::serve(self.listener, self.tls, router(self.state), draining).await;
        let _ = stop_tx.send(true);
        outbox_stop.cancel();
        ops_stop.cancel();
        let _ = reloader.await;
        if let Some(task) = ops_listener {
            let _ = task.await;
        }
        if let Some(task) = outbox {
            let _ = task.await;
        }
        if let Some(task) = grpc {
            let _ = task.await;
        }
        tracing::info!("NCP bridge stopped");
    }
}

/// Loads the terminology (embedded data plus the configured MVC) and makes it the process
/// default every transformation uses. A second bridge in the same process (tests) keeps the
/// first one's, which is loaded from the same data.
fn install_terminology(mvc_dir: Option<&std::path::Path>) -> Result<(), StartError> {
    let t = terminology::Terminology::load(mvc_dir)?;
    if terminology::Terminology::install(t).is_err() {
        tracing::debug!("terminology already installed in this process");
    }
    Ok(())
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM. Must be called inside the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    // Register the handlers now, not when the future is first polled: a SIGTERM that arrives
    // between start-up and the first poll must stop us gracefully, not kill us.
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let recv = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = recv(term) => {},
                _ = recv(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
