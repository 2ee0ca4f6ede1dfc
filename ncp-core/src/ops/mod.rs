//! Running the bridge as critical infrastructure: the operations side.
//!
//! - [`metrics`]: Prometheus metrics (requests and latency per endpoint and transaction, eHDSI
//!   errors by code, outbox depth, latency of the calls to the Swedish national services).
//! - [`health`]: liveness and readiness (audit store and outbox reachable, terminology loaded,
//!   not shutting down).
//! - [`listener`]: the optional plain-HTTP operations listener (`[ops] listen`) serving
//!   `/health`, `/ready` and `/metrics`. Kubernetes probes and Prometheus cannot present an
//!   eHDSI client certificate, and foreign NCPs have no business reading our metrics, so these
//!   are not on the mutual-TLS listener: bind this one to an internal address only.
//! - [`reload`]: the trust lists (`tls.client_ca`, `saml.trust`) reloaded without a restart,
//!   on SIGHUP or when the files change.
//! - [`panics`]: a handler panic answers a SOAP fault or an `OperationOutcome`, and is logged
//!   by location only (its message may quote request data).
//!
//! Nothing here logs patient data: metric labels are endpoints, transactions, eHDSI codes and
//! service names, from closed sets.

pub mod health;
pub mod listener;
pub mod metrics;
pub mod panics;
pub mod reload;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// `[ops]` of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsConfig {
    /// Plain-HTTP listener for `/health`, `/ready` and `/metrics` (no TLS: bind it to an
    /// internal address, e.g. `127.0.0.1:9091` or the pod IP). Not served when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// How often to look at the trust list files' modification times and reload them when
    /// they changed, in seconds; 0: only on SIGHUP.
    #[serde(default = "default_reload_poll_secs")]
    pub reload_poll_secs: u64,
}

fn default_reload_poll_secs() -> u64 {
    10
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            listen: None,
            reload_poll_secs: default_reload_poll_secs(),
        }
    }
}
