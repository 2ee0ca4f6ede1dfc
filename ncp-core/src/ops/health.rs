//! Liveness and readiness.
//!
//! - Live (`/health`): the process answers.
//! - Ready (`/ready`): the bridge can do its job: the audit store and the outbox answer a
//!   query (a response must not leave without its audit record), the terminology is loaded,
//!   and it is not shutting down. Otherwise 503 with the reason, so a load balancer sends the
//!   foreign NCPs' requests to another replica.
//!
//! The probes use their own connections to the stores (opened at start-up): a probe checks
//! that the database answers, not that a particular connection is idle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditLog, Period};
use crate::config::Config;
use crate::outbox::Outbox;

/// How long a store may take to answer a probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What readiness depends on. Share it behind an `Arc`.
pub struct Readiness {
    shutting_down: AtomicBool,
    audit: Option<AuditLog>,
    outbox: Option<Outbox>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("shutting_down", &self.is_shutting_down())
            .field("audit", &self.audit.is_some())
            .field("outbox", &self.outbox.is_some())
            .finish()
    }
}

impl Readiness {
    /// Opens probe connections to the configured audit store and outbox.
    pub async fn open(config: &Config) -> Result<Arc<Readiness>, String> {
        let audit = match &config.audit {
            Some(a) => Some(
                AuditLog::open(a)
                    .await
                    .map_err(|e| format!("audit.backend: {e}"))?,
            ),
            None => None,
        };
        let outbox = match &config.outbox {
            Some(o) => Some(
                Outbox::open(o)
                    .await
                    .map_err(|e| format!("outbox.backend: {e}"))?,
            ),
            None => None,
        };
        Ok(Arc::new(Readiness {
            shutting_down: AtomicBool::new(false),
            audit,
            outbox,
        }))
    }

    /// From now on `/ready` answers 503 (the bridge is draining).
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// `Ok` when ready, else every reason it is not.
    pub async fn check(&self) -> Result<(), Vec<String>> {
        let mut reasons = Vec::new();
        if self.is_shutting_down() {
            reasons.push("shutting down".to_owned());
        }
        if terminology::Terminology::embedded()
            .value_sets()
            .next()
            .is_none()
        {
            reasons.push("terminology: no value sets loaded".to_owned());
        }
        if let Some(audit) = &self.audit {
            let now = chrono::Utc::now();
            match tokio::time::timeout(PROBE_TIMEOUT, audit.kpi(Period::new(now, now))).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => reasons.push(format!("audit store: {e}")),
                Err(_) => reasons.push("audit store: no answer within 2 s".to_owned()),
            }
        }
        if let Some(outbox) = &self.outbox {
            match tokio::time::timeout(PROBE_TIMEOUT, outbox.counts()).await {
                Ok(Ok(counts)) => super::metrics::outbox(&counts),
                Ok(Err(e)) => reasons.push(format!("outbox: {e}")),
                Err(_) => reasons.push("outbox: no answer within 2 s".to_owned()),
            }
        }
        metrics::gauge!("ncp_ready").set(if reasons.is_empty() { 1.0 } else { 0.0 });
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }
}
