//! Reloading the trust lists without a restart.
//!
//! On SIGHUP, and when the modification time or size of one of the files changes (looked at
//! every `[ops] reload_poll_secs`), the bridge reads again:
//!
//! - `tls.client_ca` (which foreign NCPs may connect) and `tls.cert`/`tls.key` (our
//!   certificate, for rotation): new connections get the new TLS configuration, established
//!   ones keep theirs;
//! - `saml.trust` (whose signatures we accept on assertions).
//!
//! Both are built first and swapped only when both are valid: a broken file (a half-copied
//! PEM, a missing CA) is logged as an error and the old lists stay in force. The file paths
//! are those of the configuration at start-up.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::config::{Config, TlsConfig};
use crate::security::SigningTrust;
use crate::tls::{self, SharedServerConfig};

/// Reloads the trust lists into the running bridge.
pub struct TrustReloader {
    tls_config: TlsConfig,
    saml_paths: Vec<PathBuf>,
    tls: SharedServerConfig,
    saml: SigningTrust,
    /// (modification time, size) of every file, as last loaded.
    seen: Mutex<Vec<Option<(SystemTime, u64)>>>,
}

impl std::fmt::Debug for TrustReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustReloader")
            .field("files", &self.files())
            .finish_non_exhaustive()
    }
}

/// Reads the SAML signing trust list (`saml.trust`): every file a PEM bundle of CAs.
pub fn load_saml_trust(paths: &[PathBuf]) -> Result<SigningTrust, String> {
    let mut trust = SigningTrust::new();
    for (i, path) in paths.iter().enumerate() {
        let pem = std::fs::read(path)
            .map_err(|e| format!("saml.trust[{i}]: cannot read {}: {e}", path.display()))?;
        trust
            .add_ca_pem(&pem)
            .map_err(|e| format!("saml.trust[{i}]: {}: {e}", path.display()))?;
    }
    Ok(trust)
}

impl TrustReloader {
    /// Watches the files `config` names; `tls` and `saml` are the lists in force.
    pub fn new(config: &Config, tls: SharedServerConfig, saml: SigningTrust) -> TrustReloader {
        let r = TrustReloader {
            tls_config: config.tls.clone(),
            saml_paths: config.saml.trust.clone(),
            tls,
            saml,
            seen: Mutex::new(Vec::new()),
        };
        let now = r.signature();
        *r.seen.lock().unwrap_or_else(|p| p.into_inner()) = now;
        r
    }

    fn files(&self) -> Vec<PathBuf> {
        let t = &self.tls_config;
        [t.cert.clone(), t.key.clone()]
            .into_iter()
            .chain(t.client_ca.iter().cloned())
            .chain(self.saml_paths.iter().cloned())
            .collect()
    }

    fn signature(&self) -> Vec<Option<(SystemTime, u64)>> {
        self.files()
            .iter()
            .map(|p| {
                let m = std::fs::metadata(p).ok()?;
                Some((m.modified().ok()?, m.len()))
            })
            .collect()
    }

    /// Reads every file again and swaps both lists in, or keeps the old ones and says why.
    pub fn reload(&self) -> Result<(), String> {
        let signature = self.signature();
        let result = tls::server_config(&self.tls_config)
            .map_err(|e| e.to_string())
            .and_then(|tls| Ok((tls, load_saml_trust(&self.saml_paths)?)));
        // A failed reload is not retried by the poll until the files change again.
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = signature;
        match result {
            Ok((tls, saml)) => {
                self.tls.store(tls);
                self.saml.replace_with(&saml);
                metrics::counter!("ncp_trust_reloads_total", "result" => "ok").increment(1);
                tracing::info!(
                    client_ca_files = self.tls_config.client_ca.len(),
                    saml_trust_entries = saml.len(),
                    "trust lists reloaded"
                );
                Ok(())
            }
            Err(e) => {
                metrics::counter!("ncp_trust_reloads_total", "result" => "error").increment(1);
                tracing::error!(error = %e, "trust lists NOT reloaded; the previous ones stay in force");
                Err(e)
            }
        }
    }

    /// Whether a file changed since the last load.
    fn changed(&self) -> bool {
        let now = self.signature();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) != now
    }

    /// Reloads on every `hup` signal and, when `poll` is not zero, when a file changed; until
    /// `stop` is cancelled.
    pub async fn run(
        self: Arc<Self>,
        mut hup: Option<tokio::signal::unix::Signal>,
        poll: Duration,
        stop: CancellationToken,
    ) {
        let mut tick = (!poll.is_zero()).then(|| {
            let mut i = tokio::time::interval(poll);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        loop {
            let hup_recv = async {
                match hup.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let tick_recv = async {
                match tick.as_mut() {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                got = hup_recv => {
                    if got.is_none() {
                        hup = None;
                        continue;
                    }
                    tracing::info!("SIGHUP: reloading the trust lists");
                    let _ = self.reload();
                }
                _ = tick_recv => {
                    if self.changed() {
                        tracing::info!("trust list files changed: reloading");
                        let _ = self.reload();
                    }
                }
            }
        }
    }
}

/// Listens for SIGHUP from now on (so a SIGHUP no longer ends the process).
pub fn hangup_signal() -> Option<tokio::signal::unix::Signal> {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; trust lists reload on file change only");
            None
        }
    }
}
