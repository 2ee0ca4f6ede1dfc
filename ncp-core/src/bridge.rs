//! Starting the bridge from a validated [`Config`]: the one path `ncp serve`, `ncp sandbox` and
//! the tests all take.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::{router, AppState};
use crate::config::Config;
use crate::{server, tls};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("server.listen: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A bridge whose listener is bound but not yet serving.
pub struct Bridge {
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: AppState,
}

impl Bridge {
    /// Loads the certificates and binds the listener; fails early with the offending key.
    pub async fn bind(config: Config) -> Result<Bridge, StartError> {
        let tls = tls::server_config(&config.tls)?;
        let addr = config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Ok(Bridge {
            listener,
            tls,
            state: AppState {
                config: Arc::new(config),
            },
        })
    }

    /// The bound address (with the real port when the configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.config.server.listen)
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tracing::info!(addr = %self.local_addr(), "NCP bridge listening (mutual TLS)");
        server::serve(self.listener, self.tls, router(self.state), shutdown).await;
        tracing::info!("NCP bridge stopped");
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
