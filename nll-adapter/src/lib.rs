//! Clients of the Swedish national services: NLL, PDI, NTK, the block register (NSR) and
//! care-provider FHIR servers, as `docs/national-services.md` describes them.
//!
//! Every client speaks FHIR R4 JSON and hands back resources as [`serde_json::Value`] (the CDA
//! transformation consumes FHIR JSON); searches follow `next` links up to
//! [`ClientConfig::max_pages`] and flatten the pages into a [`SearchResult`]. Failures are an
//! [`AdapterError`] mapped from the HTTP status and the `OperationOutcome`.
//!
//! ```no_run
//! # async fn demo(urls: nll_adapter::NationalUrls) -> nll_adapter::Result<()> {
//! use ncp_types::{DispensationId, HsaId, PersonId};
//! use nll_adapter::*;
//!
//! let bridge = HsaId::parse("SE2321000016-NCP1").expect("HSA-id");
//! let clients = NationalClients::new(&urls, bridge.clone(), &ClientConfig::default())?;
//! let ctx = CallContext::cross_border(bridge, CallerRole::Ncp);
//! let patient = PersonId::parse("19121212-1212").expect("personnummer");
//!
//! if clients.nsr.blocks(&ctx, &patient).await?.contains(&Block::OptOut) {
//!     return Ok(());
//! }
//! let rx = clients
//!     .nll
//!     .prescriptions_with_status(&ctx, &patient, &[PrescriptionStatus::Active])
//!     .await?;
//! for m in rx.matches() {
//!     let medication = rx.resolve(m["medicationReference"]["reference"].as_str().unwrap_or(""));
//!     # let _ = medication;
//! }
//! for listing in clients.pdi.providers(&ctx, &patient).await? {
//!     if let Some(endpoint) = clients.ntk.endpoint(&listing.hsa_id).await? {
//!         for kind in &listing.categories {
//!             let records = clients.providers.fetch(&ctx, &endpoint.address, &patient, *kind).await?;
//!             # let _ = records;
//!         }
//!     }
//! }
//! let dispense = serde_json::json!({
//!     "resourceType": "MedicationDispense",
//!     "authorizingPrescription": [{ "reference": "MedicationRequest/rx-p01-01" }],
//! });
//! let done = clients
//!     .nll
//!     .dispense(&ctx, &dispense, &DispensationId::new("eD-1").expect("id"))
//!     .await?;
//! clients.nll.discard(&ctx, &done.id).await?;
//! # Ok(())
//! # }
//! ```

mod bundle;
mod context;
mod error;
mod http;
mod nll;
mod nsr;
mod ntk;
mod pdi;
mod provider;

pub use bundle::{SearchEntry, SearchMode, SearchResult};
pub use context::{Access, CallContext, CallerRole, Purpose};
pub use error::AdapterError;
pub use nll::{Dispensed, NllClient, PrescriptionBundle, PrescriptionStatus, DISPENSE_ID_SYSTEM};
pub use nsr::{Block, BlockCategory, NsrClient};
pub use ntk::{NtkClient, ProviderEndpoint};
pub use pdi::{PdiClient, ProviderListing};
pub use provider::{ProviderClient, ResourceKind};

use std::time::Duration;

/// Settings shared by the clients.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Timeout of each HTTP request (connect + answer).
    pub timeout: Duration,
    /// Most pages a search follows; more gives [`AdapterError::TooManyPages`].
    pub max_pages: usize,
    /// `_count` asked for on searches (the server caps it at 100).
    pub page_size: u32,
    /// How long NTK answers are cached.
    pub ntk_ttl: Duration,
    /// How many times a read (or an idempotent dispensation) is retried after
    /// [`AdapterError::Unavailable`] or a failed connection.
    pub retries: u32,
    /// Longest wait before a retry, whatever `Retry-After` says.
    pub max_backoff: Duration,
    /// Largest answer accepted (a larger one is [`AdapterError::Protocol`]).
    pub max_body_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: Duration::from_secs(10),
            max_pages: 20,
            page_size: 50,
            ntk_ttl: Duration::from_secs(300),
            retries: 1,
            max_backoff: Duration::from_secs(2),
            max_body_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Every client, sharing one HTTP connection pool.
#[derive(Debug, Clone)]
pub struct NationalClients {
    pub nll: NllClient,
    pub pdi: PdiClient,
    pub ntk: NtkClient,
    pub nsr: NsrClient,
    pub providers: ProviderClient,
}

/// Where the national services are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NationalUrls {
    pub nll: url::Url,
    pub pdi: url::Url,
    pub ntk: url::Url,
    pub nsr: url::Url,
}

impl NationalClients {
    /// `caller` (the bridge's HSA-id) is what NTK lookups are made as.
    pub fn new(urls: &NationalUrls, caller: ncp_types::HsaId, cfg: &ClientConfig) -> Result<Self> {
        let c = http::client(cfg)?;
        Ok(NationalClients {
            nll: NllClient::with_client(c.clone(), urls.nll.clone(), cfg)?,
            pdi: PdiClient::with_client(c.clone(), urls.pdi.clone(), cfg)?,
            ntk: NtkClient::with_client(c.clone(), urls.ntk.clone(), cfg, caller)?,
            nsr: NsrClient::with_client(c.clone(), urls.nsr.clone(), cfg)?,
            providers: ProviderClient::with_client(c, cfg),
        })
    }
}

/// Result of the clients.
pub type Result<T, E = AdapterError> = std::result::Result<T, E>;
