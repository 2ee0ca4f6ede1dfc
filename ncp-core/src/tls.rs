//! Mutual TLS towards foreign NCPs: our certificate, and a client verifier that lets in only
//! certificates chaining to the configured trust list.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::TlsConfig;

/// The TLS server configuration the listener takes for each new connection: replaced as a
/// whole when the trust list is reloaded (`crate::ops::reload`), while connections already
/// established keep theirs.
pub type SharedServerConfig = Arc<arc_swap::ArcSwap<ServerConfig>>;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key}: cannot read {path}: {reason}")]
    Read {
        key: &'static str,
        path: String,
        reason: String,
    },
    #[error("{key}: {path} holds no {what}")]
    Empty {
        key: &'static str,
        path: String,
        what: &'static str,
    },
    #[error("tls: {0}")]
    Rustls(String),
}

fn certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read_err = |reason: String| TlsError::Read {
        key,
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            key,
            path: path.display().to_string(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// The trust list as a root store.
pub fn trust_list(paths: &[impl AsRef<Path>]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for path in paths {
        for cert in certs("tls.client_ca", path.as_ref())? {
            roots
                .add(cert)
                .map_err(|e| TlsError::Rustls(format!("tls.client_ca: {e}")))?;
        }
    }
    Ok(roots)
}

/// The server side of mutual TLS: every client must present a certificate chaining to the
/// trust list. SOAP peers (OpenNCP's Axis2, .NET WCF) speak HTTP/1.1; gRPC clients of the
/// National Connector API negotiate HTTP/2.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certs("tls.cert", &tls.cert)?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| TlsError::Read {
        key: "tls.key",
        path: tls.key.display().to_string(),
        reason: e.to_string(),
    })?;
    let roots = trust_list(&tls.client_ca)?;
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .map_err(|e| TlsError::Rustls(format!("tls.client_ca: {e}")))?;
    let mut config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(format!("tls.key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
