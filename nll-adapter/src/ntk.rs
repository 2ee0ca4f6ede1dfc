//! The NTK client: where a care provider's FHIR server is. Answers are cached.

use std::sync::{Arc, Mutex};

use cached::{Cached, TimedSizedCache};
use ncp_types::HsaId;
use serde_json::Value;
use url::Url;

use crate::http::{self, FhirHttp};
use crate::{AdapterError, CallContext, CallerRole, ClientConfig, Result};

const HSA_TOKEN_SYSTEM: &str = ncp_types::systems::HSA_ID_URI;

/// A provider's active FHIR endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEndpoint {
    pub hsa_id: HsaId,
    /// The FHIR base URL.
    pub address: Url,
    /// The specification it implements (`se-ips-1.0`…).
    pub specification: Option<String>,
}

/// Client of NTK (`…/ntk/fhir`), caching answers (found or not) for `ntk_ttl`. Clones share
/// the cache.
#[derive(Debug, Clone)]
pub struct NtkClient {
    http: FhirHttp,
    ctx: CallContext,
    cache: Arc<Mutex<TimedSizedCache<HsaId, Option<ProviderEndpoint>>>>,
}

impl NtkClient {
    /// `caller` is sent as `X-Caller-HsaId`.
    pub fn new(base: Url, cfg: &ClientConfig, caller: HsaId) -> Result<Self> {
        Self::with_client(http::client(cfg)?, base, cfg, caller)
    }

    pub(crate) fn with_client(
        client: reqwest::Client,
        base: Url,
        cfg: &ClientConfig,
        caller: HsaId,
    ) -> Result<Self> {
        Ok(NtkClient {
            http: FhirHttp::new(client, base, "ntk", cfg)?,
            ctx: CallContext::cross_border(caller, CallerRole::Ncp),
            cache: Arc::new(Mutex::new(TimedSizedCache::with_size_and_lifespan(
                1024,
                cfg.ntk_ttl,
            ))),
        })
    }

    /// The active endpoint of `provider`, or `None` when NTK has none (unknown or switched off).
    pub async fn endpoint(&self, provider: &HsaId) -> Result<Option<ProviderEndpoint>> {
        if let Some(hit) = self.lock_cache().cache_get(provider) {
            return Ok(hit.clone());
        }
        let token = format!("{HSA_TOKEN_SYSTEM}|{provider}");
        let r = self
            .http
            .search(
                Some(&self.ctx),
                "Endpoint",
                &[("organization.identifier", &token)],
            )
            .await?;
        let mut found = None;
        for e in r.matches() {
            if let Some(ep) = parse_endpoint(provider, e)? {
                found = Some(ep);
                break;
            }
        }
        self.lock_cache().cache_set(provider.clone(), found.clone());
        Ok(found)
    }

    /// Forgets the cached answers (after a provider moved, say).
    pub fn clear_cache(&self) {
        self.lock_cache().cache_clear();
    }

    fn lock_cache(
        &self,
    ) -> std::sync::MutexGuard<'_, TimedSizedCache<HsaId, Option<ProviderEndpoint>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An active `Endpoint` as a [`ProviderEndpoint`]; `None` when it is not active.
pub(crate) fn parse_endpoint(provider: &HsaId, e: &Value) -> Result<Option<ProviderEndpoint>> {
    if e["resourceType"] != "Endpoint" {
        return Err(AdapterError::Protocol(
            "NTK answered something else than an Endpoint".into(),
        ));
    }
    if e["status"] != "active" {
        return Ok(None);
    }
    let address = e["address"]
        .as_str()
        .and_then(|a| Url::parse(a).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| AdapterError::Protocol("an NTK Endpoint has no usable address".into()))?;
    let specification = e["payloadType"]
        .as_array()
        .and_then(|p| {
            p.iter()
                .flat_map(|c| c["coding"].as_array().into_iter().flatten())
                .next()
        })
        .and_then(|c| c["code"].as_str())
        .map(str::to_owned);
    Ok(Some(ProviderEndpoint {
        hsa_id: provider.clone(),
        address,
        specification,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_active_endpoints_with_an_address_count() {
        let h = HsaId::parse("SE2321000016-7001").unwrap();
        let ep = json!({"resourceType": "Endpoint", "status": "active", "address": "https://x.se/fhir",
            "payloadType": [{"coding": [{"code": "se-ips-1.0"}]}]});
        let p = parse_endpoint(&h, &ep).unwrap().unwrap();
        assert_eq!(p.address.as_str(), "https://x.se/fhir");
        assert_eq!(p.specification.as_deref(), Some("se-ips-1.0"));
        let off =
            json!({"resourceType": "Endpoint", "status": "off", "address": "https://x.se/fhir"});
        assert_eq!(parse_endpoint(&h, &off).unwrap(), None);
        let bad = json!({"resourceType": "Endpoint", "status": "active", "address": "ftp://x"});
        assert!(parse_endpoint(&h, &bad).is_err());
    }
}
