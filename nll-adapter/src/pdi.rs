//! The PDI client: which care providers hold shareable data about a patient.

use ncp_types::{HsaId, PersonId};
use serde_json::Value;
use url::Url;

use crate::http::{self, FhirHttp};
use crate::nll::token;
use crate::{AdapterError, CallContext, ClientConfig, ResourceKind, Result};

const CATEGORIES_EXT: &str = "http://electronichealth.se/fhir/StructureDefinition/pdi-categories";

/// A care provider PDI lists for the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderListing {
    pub hsa_id: HsaId,
    pub name: Option<String>,
    /// What the provider holds (categories this client does not know are left out).
    pub categories: Vec<ResourceKind>,
}

/// Client of PDI (`…/pdi/fhir`).
#[derive(Debug, Clone)]
pub struct PdiClient {
    http: FhirHttp,
}

impl PdiClient {
    pub fn new(base: Url, cfg: &ClientConfig) -> Result<Self> {
        Self::with_client(http::client(cfg)?, base, cfg)
    }

    pub(crate) fn with_client(
        client: reqwest::Client,
        base: Url,
        cfg: &ClientConfig,
    ) -> Result<Self> {
        Ok(PdiClient {
            http: FhirHttp::new(client, base, "pdi", cfg)?,
        })
    }

    /// The providers holding shareable data about `patient` (empty for an unknown patient).
    pub async fn providers(
        &self,
        ctx: &CallContext,
        patient: &PersonId,
    ) -> Result<Vec<ProviderListing>> {
        let id = token(patient);
        let r = self
            .http
            .search(
                Some(ctx),
                "List",
                &[("subject:identifier", &id), ("code", "shareable-providers")],
            )
            .await?;
        let mut out = Vec::new();
        for list in r.matches() {
            out.extend(parse_list(list)?);
        }
        Ok(out)
    }
}

/// The providers of one PDI `List`.
pub(crate) fn parse_list(list: &Value) -> Result<Vec<ProviderListing>> {
    if list["resourceType"] != "List" {
        return Err(AdapterError::Protocol(
            "PDI answered something else than a List".into(),
        ));
    }
    let mut out = Vec::new();
    for e in list["entry"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let ident = &e["item"]["identifier"];
        let system_ok = ident["system"].as_str().is_none_or(|s| {
            ncp_types::systems::IdentifierSystem::recognise(s)
                == Some(ncp_types::systems::IdentifierSystem::HsaId)
        });
        let Some(hsa_id) = ident["value"]
            .as_str()
            .and_then(|v| HsaId::parse(v).ok())
            .filter(|_| system_ok)
        else {
            tracing::warn!("PDI entry without a usable HSA-id skipped");
            continue;
        };
        let categories = e["extension"]
            .as_array()
            .map(|exts| {
                exts.iter()
                    .filter(|x| x["url"] == CATEGORIES_EXT)
                    .filter_map(|x| x["valueCode"].as_str())
                    .filter_map(ResourceKind::from_category)
                    .collect()
            })
            .unwrap_or_default();
        out.push(ProviderListing {
            hsa_id,
            name: e["item"]["display"].as_str().map(str::to_owned),
            categories,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_providers_and_known_categories() {
        let list = json!({"resourceType": "List", "entry": [
            {"item": {"identifier": {"system": "urn:oid:1.2.752.129.2.1.4.1", "value": "SE2321000016-7001"}, "display": "VC"},
             "extension": [{"url": CATEGORIES_EXT, "valueCode": "conditions"}, {"url": CATEGORIES_EXT, "valueCode": "x-rays"}]},
            {"item": {"identifier": {"system": "1.2.752.129.2.1.3.1", "value": "SE2321000016-7002"}}},
            {"item": {"identifier": {"value": "not an hsa id"}}}
        ]});
        let l = parse_list(&list).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].hsa_id.as_str(), "SE2321000016-7001");
        assert_eq!(l[0].categories, vec![ResourceKind::Conditions]);
        assert!(parse_list(&json!({"resourceType": "Bundle"})).is_err());
    }
}
