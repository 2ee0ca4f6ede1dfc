//! HTTPS with mutual TLS to foreign NCPs: our NCP's client certificate, the foreign NCP's
//! server certificate verified against the configured EU trust anchors, HTTP/1.1 (what SOAP
//! stacks speak), one time limit for the whole exchange.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::GatewayError;
use crate::soap::mtom::HttpPayload;

/// An HTTP answer: status, Content-Type and body.
pub struct HttpReply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The HTTPS client.
#[derive(Clone)]
pub struct Transport {
    client: reqwest::Client,
    max_reply_bytes: usize,
}

fn config_error(what: &str, e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Protocol(format!("foreign gateway configuration: {what}: {e}"))
}

impl Transport {
    pub fn new(
        client_cert_pem: &[u8],
        client_key_pem: &[u8],
        trust_ca_pems: &[Vec<u8>],
        timeout: Duration,
        max_reply_bytes: usize,
    ) -> Result<Self, GatewayError> {
        let chain = CertificateDer::pem_slice_iter(client_cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| config_error("client certificate", e))?;
        if chain.is_empty() {
            return Err(config_error(
                "client certificate",
                "no certificate in the PEM",
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(client_key_pem)
            .map_err(|e| config_error("client key", e))?;
        let mut roots = rustls::RootCertStore::empty();
        for (i, pem) in trust_ca_pems.iter().enumerate() {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| config_error(&format!("trust CA {i}"), e))?;
                roots
                    .add(cert)
                    .map_err(|e| config_error(&format!("trust CA {i}"), e))?;
            }
        }
        if roots.is_empty() {
            return Err(config_error("trust CAs", "no CA certificate given"));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error("TLS", e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| config_error("client key", e))?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| config_error("HTTP client", e))?;
        Ok(Transport {
            client,
            max_reply_bytes,
        })
    }

    /// POSTs `payload` to `url` and reads the whole answer.
    pub async fn post(
        &self,
        url: &url::Url,
        payload: HttpPayload,
    ) -> Result<HttpReply, GatewayError> {
        let response = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, payload.content_type)
            .body(payload.body)
            .send()
            .await
            .map_err(send_error)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if response
            .content_length()
            .is_some_and(|l| l > self.max_reply_bytes as u64)
        {
            return Err(GatewayError::Protocol(format!(
                "the answer is larger than {} bytes",
                self.max_reply_bytes
            )));
        }
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(send_error)? {
            if body.len() + chunk.len() > self.max_reply_bytes {
                return Err(GatewayError::Protocol(format!(
                    "the answer is larger than {} bytes",
                    self.max_reply_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpReply {
            status,
            content_type,
            body,
        })
    }
}

fn send_error(e: reqwest::Error) -> GatewayError {
    if e.is_timeout() {
        return GatewayError::Timeout;
    }
    // The innermost cause says what happened (refused connection, TLS alert, reset).
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if e.is_connect() {
        GatewayError::Unavailable(format!("cannot connect to the foreign NCP: {cause}"))
    } else {
        GatewayError::Unavailable(format!("the exchange with the foreign NCP failed: {cause}"))
    }
}
