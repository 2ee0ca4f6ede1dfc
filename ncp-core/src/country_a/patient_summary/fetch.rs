//! Fetching a patient's records from the care providers PDI lists: each provider's endpoint
//! from NTK (cached by [`nll_adapter::NtkClient`]), then every category it holds, all providers
//! and categories at once. Each provider has its own time limit, and all of them the overall
//! deadline; a provider that does not answer in time, answers with an error or has no active
//! endpoint is reported as such, and the others are used.

use std::time::Duration;

use cda_fhir_transform::to_cda::PsAuthor;
use ncp_types::PersonId;
use nll_adapter::{CallContext, NationalClients, ProviderListing};
use serde_json::Value;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long the compilation of a summary may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PsLimits {
    /// The longest one care provider (its NTK lookup and all its searches) may take.
    pub provider: Duration,
    /// The longest the whole summary (block register, NLL, PDI, NTK, providers) may take.
    pub overall: Duration,
}

impl PsLimits {
    /// A provider gets `timeout` (the per-request time limit towards a national service); the
    /// whole summary twice that.
    pub fn from_timeout(timeout: Duration) -> Self {
        PsLimits {
            provider: timeout,
            overall: timeout * 2,
        }
    }
}

/// Why a provider's records are missing from the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// NTK has no active endpoint for it.
    NoEndpoint,
    /// It did not answer within its time limit or the overall deadline.
    Timeout,
    /// It (or NTK) answered with an error; the kind of error.
    Error(&'static str),
}

impl Missing {
    pub fn as_str(self) -> &'static str {
        match self {
            Missing::NoEndpoint => "no endpoint in NTK",
            Missing::Timeout => "timeout",
            Missing::Error(kind) => kind,
        }
    }
}

/// What one provider gave.
#[derive(Debug, Clone)]
pub struct ProviderRecords {
    pub author: PsAuthor,
    pub records: Result<Vec<Value>, Missing>,
}

/// The author of a provider's records: its HSA-id and the name PDI gives it.
pub fn author_of(listing: &ProviderListing) -> PsAuthor {
    PsAuthor {
        hsa_id: listing.hsa_id.clone(),
        name: listing
            .name
            .clone()
            .unwrap_or_else(|| listing.hsa_id.as_str().to_owned()),
    }
}

/// Every record of `patient` at one provider: its endpoint, then all its categories at once.
async fn one_provider(
    clients: NationalClients,
    ctx: CallContext,
    patient: PersonId,
    listing: ProviderListing,
) -> Result<Vec<Value>, Missing> {
    let endpoint = match clients.ntk.endpoint(&listing.hsa_id).await {
        Ok(Some(e)) => e,
        Ok(None) => return Err(Missing::NoEndpoint),
        Err(e) => return Err(Missing::Error(e.kind())),
    };
    let mut searches = JoinSet::new();
    for (i, kind) in listing.categories.iter().copied().enumerate() {
        let (providers, ctx, patient, base) = (
            clients.providers.clone(),
            ctx.clone(),
            patient.clone(),
            endpoint.address.clone(),
        );
        searches.spawn(async move { (i, providers.fetch(&ctx, &base, &patient, kind).await) });
    }
    let mut pages = Vec::with_capacity(listing.categories.len());
    while let Some(done) = searches.join_next().await {
        let (i, result) = done.map_err(|_| Missing::Error("task failed"))?;
        let found = result.map_err(|e| Missing::Error(e.kind()))?;
        pages.push((i, found));
    }
    // The order PDI lists the categories in, whichever answered first.
    pages.sort_by_key(|(i, _)| *i);
    Ok(pages
        .into_iter()
        .flat_map(|(_, r)| r.matches().cloned().collect::<Vec<_>>())
        .collect())
}

/// The records of every listed provider, in the order of `listings`, each within
/// `limits.provider` and all by `deadline`.
pub async fn providers(
    clients: &NationalClients,
    ctx: &CallContext,
    patient: &PersonId,
    listings: &[ProviderListing],
    limits: PsLimits,
    deadline: Instant,
) -> Vec<ProviderRecords> {
    let mut tasks = JoinSet::new();
    for (i, listing) in listings.iter().enumerate() {
        let fut = one_provider(
            clients.clone(),
            ctx.clone(),
            patient.clone(),
            listing.clone(),
        );
        let until = deadline.min(Instant::now() + limits.provider);
        tasks.spawn(async move {
            let r = match tokio::time::timeout_at(until, fut).await {
                Ok(r) => r,
                Err(_) => Err(Missing::Timeout),
            };
            (i, r)
        });
    }
    let mut out: Vec<ProviderRecords> = listings
        .iter()
        .map(|l| ProviderRecords {
            author: author_of(l),
            records: Err(Missing::Error("task failed")),
        })
        .collect();
    while let Some(done) = tasks.join_next().await {
        if let Ok((i, r)) = done {
            if let Some(slot) = out.get_mut(i) {
                slot.records = r;
            }
        }
    }
    for p in &out {
        if let Err(m) = &p.records {
            tracing::warn!(provider = %p.author.hsa_id, missing = m.as_str(), "patient summary: a care provider's records are missing");
        }
    }
    out
}
