//! The NLL client: prescriptions, dispensing with locks, discards, data locks.

use ncp_types::{DispensationId, PersonId, PrescriptionId};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use url::Url;

use crate::http::{self, FhirHttp};
use crate::{AdapterError, CallContext, ClientConfig, Result, SearchResult};

/// The identifier system that makes a dispensation idempotent in NLL.
pub const DISPENSE_ID_SYSTEM: &str = "http://electronichealth.se/identifier/nll-dispense-id";

/// Prescriptions with their included `Medication`, `PractitionerRole`, `Practitioner`,
/// `Organization` and `Patient` resources.
pub type PrescriptionBundle = SearchResult;

/// `MedicationRequest.status` in NLL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrescriptionStatus {
    Active,
    Completed,
    Stopped,
    Cancelled,
}

impl PrescriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PrescriptionStatus::Active => "active",
            PrescriptionStatus::Completed => "completed",
            PrescriptionStatus::Stopped => "stopped",
            PrescriptionStatus::Cancelled => "cancelled",
        }
    }
}

/// A dispensation NLL accepted. `Debug` prints neither the id nor the resource.
#[derive(Clone, PartialEq)]
pub struct Dispensed {
    /// NLL's id of the `MedicationDispense`.
    pub id: DispensationId,
    pub resource: Value,
    /// False when NLL already had this dispensation (same idempotency id): nothing was
    /// dispensed twice.
    pub created: bool,
    pub location: Option<String>,
}

impl std::fmt::Debug for Dispensed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispensed")
            .field("id", &self.id)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

const INCLUDES: [(&str, &str); 3] = [
    ("_include", "MedicationRequest:medication"),
    ("_include", "MedicationRequest:requester"),
    ("_include", "MedicationRequest:subject"),
];

/// Client of NLL (`…/nll/fhir`).
#[derive(Debug, Clone)]
pub struct NllClient {
    http: FhirHttp,
}

impl NllClient {
    pub fn new(base: Url, cfg: &ClientConfig) -> Result<Self> {
        Self::with_client(http::client(cfg)?, base, cfg)
    }

    pub(crate) fn with_client(
        client: reqwest::Client,
        base: Url,
        cfg: &ClientConfig,
    ) -> Result<Self> {
        Ok(NllClient {
            http: FhirHttp::new(client, base, "nll", cfg)?,
        })
    }

    /// The NLLPatient, if NLL knows the patient.
    pub async fn patient(&self, ctx: &CallContext, patient: &PersonId) -> Result<Option<Value>> {
        let id = token(patient);
        let r = self
            .http
            .search(Some(ctx), "Patient", &[("identifier", &id)])
            .await?;
        let first = r.matches().next().cloned();
        Ok(first)
    }

    /// Every prescription of the patient visible to the caller, with includes.
    pub async fn prescriptions(
        &self,
        ctx: &CallContext,
        patient: &PersonId,
    ) -> Result<PrescriptionBundle> {
        self.prescriptions_with_status(ctx, patient, &[]).await
    }

    /// The patient's prescriptions in one of `statuses` (all when empty), with includes.
    pub async fn prescriptions_with_status(
        &self,
        ctx: &CallContext,
        patient: &PersonId,
        statuses: &[PrescriptionStatus],
    ) -> Result<PrescriptionBundle> {
        let id = token(patient);
        let status = statuses
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let mut q = vec![("patient.identifier", id.as_str())];
        if !status.is_empty() {
            q.push(("status", &status));
        }
        q.extend(INCLUDES);
        self.http.search(Some(ctx), "MedicationRequest", &q).await
    }

    /// One prescription with its includes; [`AdapterError::NotFound`] when it does not exist or
    /// is hidden from the caller.
    pub async fn prescription(
        &self,
        ctx: &CallContext,
        id: &PrescriptionId,
    ) -> Result<PrescriptionBundle> {
        let mut q = vec![("_id", id.as_str())];
        q.extend(INCLUDES);
        let r = self.http.search(Some(ctx), "MedicationRequest", &q).await?;
        if r.matches().next().is_none() {
            return Err(AdapterError::NotFound {
                reason: "no such prescription".into(),
            });
        }
        Ok(r)
    }

    /// Takes the 60 s dispensing lock; [`AdapterError::Conflict`] when someone else holds it.
    pub async fn lock(&self, ctx: &CallContext, id: &PrescriptionId) -> Result<()> {
        let url = self
            .http
            .url(&["MedicationRequest", id.as_str(), "$lock"], &[]);
        self.http
            .send(
                Method::POST,
                url,
                Some(ctx),
                Some(&json!({"resourceType": "Parameters"})),
                None,
            )
            .await?;
        Ok(())
    }

    /// Releases the dispensing lock.
    pub async fn unlock(&self, ctx: &CallContext, id: &PrescriptionId) -> Result<()> {
        let url = self
            .http
            .url(&["MedicationRequest", id.as_str(), "$unlock"], &[]);
        self.http
            .send(
                Method::POST,
                url,
                Some(ctx),
                Some(&json!({"resourceType": "Parameters"})),
                None,
            )
            .await?;
        Ok(())
    }

    /// Records a dispensation. `idempotency_id` goes into the `nll-dispense-id` identifier
    /// (replacing any there), so sending the same dispensation again is harmless.
    pub async fn dispense(
        &self,
        ctx: &CallContext,
        dispense: &Value,
        idempotency_id: &DispensationId,
    ) -> Result<Dispensed> {
        if dispense["resourceType"] != "MedicationDispense" {
            return Err(AdapterError::Invalid {
                reason: "expected a MedicationDispense".into(),
            });
        }
        let mut body = dispense.clone();
        let mut ids: Vec<Value> = body["identifier"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|i| i["system"] != DISPENSE_ID_SYSTEM)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        ids.push(json!({ "system": DISPENSE_ID_SYSTEM, "value": idempotency_id.as_str() }));
        body["identifier"] = Value::Array(ids);
        let url = self.http.url(&["MedicationDispense"], &[]);
        // Safe to repeat: NLL answers a repeated nll-dispense-id with the first dispensation.
        let a = self
            .http
            .send_idempotent(Method::POST, url, Some(ctx), Some(&body))
            .await?;
        let id = resource_id(&a.body)?;
        Ok(Dispensed {
            id,
            created: a.status == StatusCode::CREATED,
            location: a.location(),
            resource: a.body,
        })
    }

    /// Reads a dispensation.
    pub async fn dispensation(&self, ctx: &CallContext, id: &DispensationId) -> Result<Value> {
        let url = self.http.url(&["MedicationDispense", id.as_str()], &[]);
        Ok(self.http.get(Some(ctx), url).await?.body)
    }

    /// Discards a dispensation (status `entered-in-error`), giving it back to the prescription.
    /// Discarding twice is harmless.
    pub async fn discard(&self, ctx: &CallContext, id: &DispensationId) -> Result<Value> {
        let url = self.http.url(&["MedicationDispense", id.as_str()], &[]);
        let current = self.http.get(Some(ctx), url.clone()).await?;
        let etag = current.etag();
        let mut body = current.body;
        body["status"] = json!("entered-in-error");
        let a = self
            .http
            .send(Method::PUT, url, Some(ctx), Some(&body), etag.as_deref())
            .await?;
        Ok(a.body)
    }

    /// The dispensations of one prescription.
    pub async fn dispensations(
        &self,
        ctx: &CallContext,
        id: &PrescriptionId,
    ) -> Result<SearchResult> {
        self.http
            .search(
                Some(ctx),
                "MedicationDispense",
                &[("prescription", id.as_str())],
            )
            .await
    }

    /// The NLL data locks (spärr, as `Consent`) on the patient.
    pub async fn data_locks(&self, ctx: &CallContext, patient: &PersonId) -> Result<Vec<Value>> {
        let id = token(patient);
        let r = self
            .http
            .search(Some(ctx), "Consent", &[("patient.identifier", &id)])
            .await?;
        Ok(r.matches().cloned().collect())
    }
}

/// `system|value` of a personal identity number, with the canonical URI system.
pub(crate) fn token(p: &PersonId) -> String {
    format!("{}|{}", p.system_uri(), p.as_str())
}

fn resource_id(v: &Value) -> Result<DispensationId> {
    v["id"]
        .as_str()
        .and_then(|s| DispensationId::new(s).ok())
        .ok_or_else(|| AdapterError::Protocol("the MedicationDispense has no id".into()))
}
