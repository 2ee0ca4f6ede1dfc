//! Sweden as Country B: Swedish pharmacies and clinicians reach foreign patients.
//!
//! - [`foreign_gateway`]: the client that calls a foreign country's NCP (XCPD, XCA, XDR).
//! - [`api`]: the FHIR R4 REST API for Swedish users under `/fhir`; [`token`] its user tokens.
//! - [`service`]: the business layer (roles, routing, CDA <-> FHIR, audit) over the
//!   [`client::ForeignNcpClient`] trait; [`directory`] the country directory of
//!   [`config::CountryBConfig`] (`[country_b]`); [`audit`], [`cache`], [`fhir`], [`patient_id`]
//!   its parts; [`store`] what of it outlives a restart (in the outbox's or audit's database).

pub mod api;
pub mod audit;
pub mod cache;
pub mod client;
pub mod config;
pub mod directory;
pub mod fhir;
pub mod foreign_gateway;
pub mod linking;
pub mod patient_id;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod service;
pub mod store;
pub mod token;

use std::sync::Arc;

use crate::config::Config;

/// The FHIR API of `[country_b]`, or `None` when the section is absent. Reads the
/// certificates and keys, and opens the audit trail (`[audit]`) for Country B's records.
pub async fn open(config: &Config) -> Result<Option<Arc<api::CountryBApi>>, String> {
    let Some(cb) = &config.country_b else {
        return Ok(None);
    };
    let read = |key: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))
    };
    let mut trust = Vec::new();
    for (i, p) in cb.server_ca.iter().enumerate() {
        trust.push(read(&format!("country_b.server_ca[{i}]"), p)?);
    }
    for (i, c) in cb.countries.iter().enumerate() {
        if let Some(p) = &c.certificate {
            trust.push(read(&format!("country_b.countries[{i}].certificate"), p)?);
        }
    }
    let saml_key = crate::security::SigningKey::from_pem(
        &read("country_b.saml_cert", &cb.saml_cert)?,
        &read("country_b.saml_key", &cb.saml_key)?,
    )
    .map_err(|e| format!("country_b.saml_cert: {e}"))?;
    let gateway = foreign_gateway::ForeignGateway::new(foreign_gateway::ForeignGatewayConfig {
        client_cert_pem: read("country_b.client_cert", &cb.client_cert)?,
        client_key_pem: read("country_b.client_key", &cb.client_key)?,
        trust_ca_pems: trust,
        saml_key,
        ncp: config.ncp.clone(),
        timeout: cb.timeout(),
        timestamp_lifetime: cb.timestamp_lifetime(),
    })
    .map_err(|e| format!("country_b: {e}"))?;
    let tokens = token::TokenVerifier::new(
        &cb.user_token,
        &read("country_b.user_token.public_key", &cb.user_token.public_key)?,
    )
    .map_err(|e| e.to_string())?;
    let log = match &config.audit {
        Some(a) => Some(Arc::new(
            crate::audit::AuditLog::open(a)
                .await
                .map_err(|e| format!("audit.backend: {e}"))?,
        )),
        None => None,
    };
    let mut service = service::CountryB::new(
        Arc::new(gateway),
        directory::CountryDirectory::new(cb.countries.clone()),
        audit::sink_of(log),
        config.ncp.clone(),
    );
    // Dispensations and listed prescriptions go where the outbox lives (else the audit
    // trail's database), so every replica sees them and they outlive a restart.
    let backend = config
        .outbox
        .as_ref()
        .map(|o| &o.backend)
        .or(config.audit.as_ref().map(|a| &a.backend));
    if let Some(b) = backend {
        let store = store::CountryBStore::open(b)
            .await
            .map_err(|e| format!("country_b store: {e}"))?;
        service = service.with_store(Arc::new(store));
    }
    Ok(Some(Arc::new(api::CountryBApi { service, tokens })))
}
