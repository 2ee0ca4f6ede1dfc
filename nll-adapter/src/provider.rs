//! Care-provider FHIR servers: one kind of record of one patient at a time.

use ncp_types::PersonId;
use url::Url;

use crate::http::{self, FhirHttp};
use crate::nll::token;
use crate::{CallContext, ClientConfig, Result, SearchResult};

/// The kinds of record a care provider serves (and PDI lists as categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    Conditions,
    Allergies,
    Medications,
    Immunizations,
    Procedures,
    VitalSigns,
    Devices,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 7] = [
        ResourceKind::Conditions,
        ResourceKind::Allergies,
        ResourceKind::Medications,
        ResourceKind::Immunizations,
        ResourceKind::Procedures,
        ResourceKind::VitalSigns,
        ResourceKind::Devices,
    ];

    /// The FHIR resource type searched.
    pub fn resource_type(self) -> &'static str {
        match self {
            ResourceKind::Conditions => "Condition",
            ResourceKind::Allergies => "AllergyIntolerance",
            ResourceKind::Medications => "MedicationStatement",
            ResourceKind::Immunizations => "Immunization",
            ResourceKind::Procedures => "Procedure",
            ResourceKind::VitalSigns => "Observation",
            ResourceKind::Devices => "DeviceUseStatement",
        }
    }

    /// The PDI category code.
    pub fn category(self) -> &'static str {
        match self {
            ResourceKind::Conditions => "conditions",
            ResourceKind::Allergies => "allergies",
            ResourceKind::Medications => "medications",
            ResourceKind::Immunizations => "immunizations",
            ResourceKind::Procedures => "procedures",
            ResourceKind::VitalSigns => "vital-signs",
            ResourceKind::Devices => "devices",
        }
    }

    pub fn from_category(code: &str) -> Option<Self> {
        ResourceKind::ALL.into_iter().find(|k| k.category() == code)
    }
}

/// Client of care-provider FHIR servers (the base URL comes from NTK per call).
#[derive(Debug, Clone)]
pub struct ProviderClient {
    client: reqwest::Client,
    cfg: ClientConfig,
}

impl ProviderClient {
    pub fn new(cfg: &ClientConfig) -> Result<Self> {
        Ok(Self::with_client(http::client(cfg)?, cfg))
    }

    pub(crate) fn with_client(client: reqwest::Client, cfg: &ClientConfig) -> Self {
        ProviderClient {
            client,
            cfg: cfg.clone(),
        }
    }

    /// All records of `kind` about `patient` at the provider whose FHIR base is `base`.
    pub async fn fetch(
        &self,
        ctx: &CallContext,
        base: &Url,
        patient: &PersonId,
        kind: ResourceKind,
    ) -> Result<SearchResult> {
        let http = FhirHttp::new(self.client.clone(), base.clone(), "provider", &self.cfg)?;
        let id = token(patient);
        let mut q = vec![("patient.identifier", id.as_str())];
        if kind == ResourceKind::VitalSigns {
            q.push(("category", "vital-signs"));
        }
        http.search(Some(ctx), kind.resource_type(), &q).await
    }
}
