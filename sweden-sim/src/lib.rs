//! Simulators of the Swedish national services and care providers, with synthetic patients
//! (sandbox and tests only).
//!
//! Every simulator is its own axum HTTP server speaking FHIR R4 JSON as
//! `docs/national-services.md` describes: NLL (`/nll/fhir`), PDI (`/pdi/fhir`), NTK (`/ntk/fhir`),
//! the block register NSR (`/nsr/fhir`) and three care-provider servers
//! (`/providers/{hsaid}/fhir`). [`start`] brings them all up; the synthetic patients are listed by
//! [`patients`] and in `sweden-sim/README.md`.
//!
//! Port order with a fixed `base_port` P: the providers at P, P+1, P+2 (in the order of
//! [`provider_ids`]), then NLL P+3, PDI P+4, NTK P+5, NSR P+6.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

mod data;
mod faults;
mod fhir;
mod nll;
mod nsr;
mod ntk;
mod pdi;
mod provider;
mod server;

pub use data::{clinical_records, patient_resource, patients, provider_ids, SyntheticPatient};

/// Faults a simulator injects into every request (except `/_sim/…`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Fixed delay before answering, in milliseconds.
    pub latency_ms: u64,
    /// Fraction of requests (0.0 ..= 1.0) answered with `fail_status`.
    pub fail_rate: f64,
    /// Status of the injected failures (an `OperationOutcome`; 503 and 429 carry `Retry-After`).
    pub fail_status: u16,
    /// The server accepts connections but never answers (until shut down): a timeout.
    pub down: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            fail_rate: 0.0,
            fail_status: 503,
            down: false,
        }
    }
}

/// How to start the simulators.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub bind: IpAddr,
    /// First port; 0 gives every server an ephemeral port.
    pub base_port: u16,
    /// Faults every server starts with.
    pub faults: Faults,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            base_port: 0,
            faults: Faults::default(),
        }
    }
}

/// Why the simulators could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("port {0} + offset overflows")]
    PortOverflow(u16),
    #[error("simulator {0} did not start")]
    NotStarted(String),
    #[error("invalid URL: {0}")]
    Url(#[from] url::ParseError),
}

/// The running simulators and their FHIR base URLs.
pub struct RunningSims {
    pub nll: url::Url,
    pub pdi: url::Url,
    pub ntk: url::Url,
    pub nsr: url::Url,
    pub providers: Vec<(ncp_types::HsaId, url::Url)>,
    servers: Vec<(String, server::Served)>,
}

impl RunningSims {
    /// Stops every server and waits for them to finish.
    pub async fn shutdown(self) {
        for (_, s) in self.servers {
            s.shutdown().await;
        }
    }

    /// `(name, FHIR base URL)` of every server: `nll`, `pdi`, `ntk`, `nsr`, `provider-{hsaid}`.
    pub fn endpoints(&self) -> Vec<(String, url::Url)> {
        self.servers
            .iter()
            .map(|(n, s)| (n.clone(), s.base.clone()))
            .collect()
    }

    /// Changes the faults of one server (by its name in [`RunningSims::endpoints`]); false if
    /// there is no such server. The same as `PUT /_sim/faults` on that server.
    pub fn set_faults(&self, name: &str, faults: Faults) -> bool {
        match self.servers.iter().find(|(n, _)| n == name) {
            Some((_, s)) => {
                s.set_faults(faults);
                true
            }
            None => false,
        }
    }
}

/// Starts every simulator with `cfg.faults`.
pub async fn start(cfg: SimConfig) -> Result<RunningSims, SimError> {
    start_with_faults(cfg, HashMap::new()).await
}

/// Starts every simulator; `per_server` overrides `cfg.faults` for the servers it names
/// (`nll`, `pdi`, `ntk`, `nsr`, `provider-{hsaid}`).
pub async fn start_with_faults(
    cfg: SimConfig,
    per_server: HashMap<String, Faults>,
) -> Result<RunningSims, SimError> {
    let world = data::World::build(chrono::Utc::now().date_naive());
    let mut offset: u16 = 0;
    let mut next_addr = || -> Result<SocketAddr, SimError> {
        let port = if cfg.base_port == 0 {
            0
        } else {
            cfg.base_port
                .checked_add(offset)
                .ok_or(SimError::PortOverflow(cfg.base_port))?
        };
        offset += 1;
        Ok(SocketAddr::new(cfg.bind, port))
    };
    let faults_for = |name: &str| per_server.get(name).copied().unwrap_or(cfg.faults);

    let mut servers: Vec<(String, server::Served)> = Vec::new();
    let mut providers = Vec::new();
    let result: Result<(), SimError> = async {
        for hsa in data::provider_ids() {
            let name = format!("provider-{hsa}");
            let prefix = format!("/providers/{hsa}/fhir");
            let records = world.provider_records(&hsa);
            let s = server::serve(
                next_addr()?,
                &prefix,
                &provider::CAPABILITY,
                faults_for(&name),
                move |base| provider::router(base, records),
            )
            .await?;
            providers.push((hsa.clone(), s.base.clone()));
            servers.push((name, s));
        }
        let nll_data = world.nll.clone();
        let s = server::serve(
            next_addr()?,
            "/nll/fhir",
            &nll::CAPABILITY,
            faults_for("nll"),
            move |base| nll::router(base, nll_data),
        )
        .await?;
        servers.push(("nll".into(), s));
        let pdi_data = world.pdi_index();
        let s = server::serve(
            next_addr()?,
            "/pdi/fhir",
            &pdi::CAPABILITY,
            faults_for("pdi"),
            move |base| pdi::router(base, pdi_data),
        )
        .await?;
        servers.push(("pdi".into(), s));
        let ntk_data = ntk::Directory::new(&providers, world.offline_providers());
        let s = server::serve(
            next_addr()?,
            "/ntk/fhir",
            &ntk::CAPABILITY,
            faults_for("ntk"),
            move |base| ntk::router(base, ntk_data),
        )
        .await?;
        servers.push(("ntk".into(), s));
        let nsr_data = world.nsr.clone();
        let s = server::serve(
            next_addr()?,
            "/nsr/fhir",
            &nsr::CAPABILITY,
            faults_for("nsr"),
            move |base| nsr::router(base, nsr_data),
        )
        .await?;
        servers.push(("nsr".into(), s));
        Ok(())
    }
    .await;
    if let Err(e) = result {
        for (_, s) in servers {
            s.shutdown().await;
        }
        return Err(e);
    }
    let url_of = |name: &str| {
        servers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.base.clone())
            .ok_or(SimError::NotStarted(name.to_owned()))
    };
    let (nll, pdi, ntk, nsr) = (
        url_of("nll")?,
        url_of("pdi")?,
        url_of("ntk")?,
        url_of("nsr")?,
    );
    tracing::info!(servers = servers.len(), "simulators started");
    Ok(RunningSims {
        nll,
        pdi,
        ntk,
        nsr,
        providers,
        servers,
    })
}
