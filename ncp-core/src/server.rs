//! The HTTPS listener: accepts mutual-TLS connections and hands each request, with the peer's
//! verified certificate identity attached, to the application router.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use ncp_types::CountryCode;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Who is at the other end of a connection, from its verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The certificate subject's common name (the NCP's host name).
    pub common_name: Option<String>,
    /// The subject's country, which names the foreign NCP.
    pub country: Option<CountryCode>,
    /// The subject's organisation.
    pub organization: Option<String>,
    /// The connection's remote address (for the audit trail).
    pub remote: Option<std::net::SocketAddr>,
}

impl Peer {
    /// Reads the subject of a DER certificate that rustls has already verified.
    pub fn from_der(der: &[u8]) -> Option<Peer> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let text = |a: Option<&x509_parser::x509::AttributeTypeAndValue>| {
            a.and_then(|a| a.as_str().ok()).map(str::to_owned)
        };
        let peer = Peer {
            common_name: text(subject.iter_common_name().next()),
            country: text(subject.iter_country().next()).and_then(|c| CountryCode::parse(&c).ok()),
            organization: text(subject.iter_organization().next()),
            remote: None,
        };
        Some(peer)
    }
}

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` over mutual TLS until `shutdown` completes; then closes the
/// listening socket (new connections are refused), lets the requests in flight finish and
/// closes their connections instead of keeping them alive. Each new connection takes the TLS
/// configuration current at its arrival (see [`crate::tls::SharedServerConfig`]).
pub async fn serve(
    listener: TcpListener,
    tls: crate::tls::SharedServerConfig,
    app: Router,
    shutdown: impl Future<Output = ()>,
) {
    let tracker = tokio_util::task::TaskTracker::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let acceptor = TlsAcceptor::from(tls.load_full());
        let app = app.clone();
        let mut stop = stop_rx.clone();
        tracker.spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(%remote, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(%remote, "TLS handshake timed out");
                    return;
                }
            };
            let peer = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| Peer::from_der(leaf))
                .map(|p| Peer {
                    remote: Some(remote),
                    ..p
                });
            let Some(peer) = peer else {
                tracing::warn!(%remote, "verified client certificate could not be read");
                return;
            };
            let svc =
                app.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(peer.clone());
                    req
                });
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
                    // Finish the request in flight, then close instead of keeping alive.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(
        connections = tracker.len(),
        "listener closed; finishing the requests in flight"
    );
    let _ = stop_tx.send(true);
    tracker.close();
    tracker.wait().await;
}
