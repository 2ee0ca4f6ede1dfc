//! Sweden as country A: the business of the XCPD, XCA and XDR endpoints, without SOAP.
//!
//! [`CountryA`] identifies Swedish patients, lists and renders their ePrescriptions from NLL, and
//! records (or discards) dispensations made abroad. Each function takes the
//! [`VerifiedCaller`] the security layer produced and answers in eHDSI terms, so a gRPC national
//! connector can call the same functions as the SOAP endpoints in [`crate::endpoints`].
//!
//! Every call to a national service is made as the NCP (its HSA-id from the configuration) with
//! `X-Purpose: cross-border`: NLL then hides what a spärr blocks. The NSR blocks are applied
//! here: an opted-out patient is not found (the requester must not learn a block exists), and an
//! ePrescription category block lists nothing.
//!
//! The decisions are the pure functions of [`rules`]. Nothing here logs patient identifiers,
//! names or document content.

pub mod audit;
pub mod patient_summary;
pub mod rules;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use ncp_types::{DispensationId, Oid, PersonId, PrescriptionId};
use nll_adapter::{
    AdapterError, Block, BlockCategory, CallContext, CallerRole, ClientConfig, NationalClients,
    NationalUrls, PrescriptionStatus, SearchMode, SearchResult, DISPENSE_ID_SYSTEM,
};
use serde_json::{json, Value};

use crate::config::Config;
use crate::ihe::errors::EhdsiError;
use crate::ihe::xcpd::Gender;
use crate::ihe::PatientIdentifier;
use crate::outbox::{DeliveryResult, Item, Kind, Outbox};
use crate::security::VerifiedCaller;

pub use audit::{AuditEvent, AuditFailure, AuditSink, AuditTrail, MemoryAudit, Outcome};
pub use rules::{Dispensability, EntrySettings, Level, PrescriptionDocuments};

/// A patient identified in NLL, with the demographics XCPD answers with.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentifiedPatient {
    pub id: PersonId,
    pub given: Vec<String>,
    pub family: Vec<String>,
    pub gender: Option<Gender>,
    pub birth_date: Option<NaiveDate>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

impl std::fmt::Debug for IdentifiedPatient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentifiedPatient")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why no patient was found: for the audit trail only, never for the requester.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoMatchReason {
    /// No Swedish personnummer or samordningsnummer among the identifiers.
    NoSwedishId,
    /// The identifiers name different persons.
    Conflicting,
    /// NLL does not know the patient.
    Unknown,
    /// The patient opted out of cross-border sharing (answered as unknown).
    OptedOut,
}

impl NoMatchReason {
    pub fn as_str(self) -> &'static str {
        match self {
            NoMatchReason::NoSwedishId => "no Swedish identifier",
            NoMatchReason::Conflicting => "identifiers of different persons",
            NoMatchReason::Unknown => "unknown in NLL",
            NoMatchReason::OptedOut => "blocked: opt-out",
        }
    }
}

/// What identifying a patient gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifyOutcome {
    Match(Box<IdentifiedPatient>),
    NoMatch(NoMatchReason),
    /// A national service did not answer: nothing can be said about the patient.
    Unavailable,
}

/// A rendered document.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    pub unique_id: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
    pub prescription: PrescriptionId,
    pub level: Level,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the unique id: it carries the prescription id.
        f.debug_struct("Document")
            .field("level", &self.level)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// A dispensation (or discard) NLL has recorded. `Debug` prints counts, not the ids (they are
/// a patient's prescriptions and dispensations).
#[derive(Clone, PartialEq, Eq)]
pub struct Ack {
    /// The prescriptions concerned.
    pub prescriptions: Vec<PrescriptionId>,
    /// NLL's ids of the dispensations recorded or discarded.
    pub dispensations: Vec<DispensationId>,
    /// How many items NLL already had (the same document sent again): recorded once.
    pub already_recorded: usize,
    /// The outbox keys of what is durably queued for NLL (with `[outbox]`; NLL's ids come
    /// at delivery).
    pub queued: Vec<String>,
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack")
            .field("prescriptions", &self.prescriptions.len())
            .field("dispensations", &self.dispensations.len())
            .field("already_recorded", &self.already_recorded)
            .field("queued", &self.queued.len())
            .finish()
    }
}

/// A refusal in eHDSI terms, with the prescription it is about when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: EhdsiError,
    /// For the audit trail (`blocked: category-block`), never for the requester.
    pub reason: Option<&'static str>,
    pub prescription: Option<PrescriptionId>,
}

impl Refusal {
    fn new(error: EhdsiError) -> Self {
        Refusal {
            error,
            reason: None,
            prescription: None,
        }
    }

    fn because(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    fn about(mut self, rx: &PrescriptionId) -> Self {
        self.prescription = Some(rx.clone());
        self
    }
}

impl From<EhdsiError> for Refusal {
    fn from(e: EhdsiError) -> Self {
        Refusal::new(e)
    }
}

/// Why the service could not be built.
#[derive(Debug, thiserror::Error)]
#[error("national: {0}")]
pub struct SetupError(#[from] AdapterError);

/// The country A service.
#[derive(Clone)]
pub struct CountryA {
    clients: NationalClients,
    ctx: CallContext,
    cda: cda_fhir_transform::to_cda::CdaOptions,
    entries: EntrySettings,
    outbox: Option<Arc<Outbox>>,
    ps_limits: patient_summary::PsLimits,
}

impl std::fmt::Debug for CountryA {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountryA")
            .field("entries", &self.entries)
            .field("outbox", &self.outbox.is_some())
            .finish_non_exhaustive()
    }
}

/// How many times a delivery meeting a conflict (a lock held by a dispensation in progress)
/// or a discard whose dispensation is not in NLL yet is retried before it is rejected.
const DELIVERY_PATIENCE: u32 = 8;

impl CountryA {
    /// From the configuration: the national clients (as the NCP's HSA-id) and the CDA options
    /// under the NCP's document OID.
    pub fn from_config(config: &Config) -> Result<CountryA, SetupError> {
        let urls = NationalUrls {
            nll: config.national.nll.clone(),
            pdi: config.national.pdi.clone(),
            ntk: config.national.ntk.clone(),
            nsr: config.national.nsr.clone(),
        };
        let client_config = ClientConfig {
            timeout: config.national.timeout(),
            max_backoff: Duration::from_secs(1),
            ..ClientConfig::default()
        };
        let clients = NationalClients::new(&urls, config.ncp.hsa_id.clone(), &client_config)?;
        // Ids under our document OID; the NCP (with its address) is the custodian.
        let cda = config.ncp.cda_options(Utc::now().fixed_offset());
        let entries = EntrySettings {
            home_community_id: config.ncp.home_community_id.clone(),
            repository_unique_id: config.ncp.home_community_id.clone(),
            document_root: cda.document_id_root.clone(),
        };
        Ok(CountryA {
            clients,
            ctx: CallContext::cross_border(config.ncp.hsa_id.clone(), CallerRole::Ncp),
            cda,
            entries,
            outbox: None,
            ps_limits: patient_summary::PsLimits::from_timeout(config.national.timeout()),
        })
    }

    /// Dispensations go through the durable `outbox`: acknowledged once queued, delivered to
    /// NLL by [`CountryA::spawn_outbox_worker`].
    pub fn with_outbox(mut self, outbox: Arc<Outbox>) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// Starts delivering the outbox (when there is one) until `shutdown` is cancelled.
    pub fn spawn_outbox_worker(
        &self,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let outbox = self.outbox.clone()?;
        let service = Arc::new(self.clone());
        Some(tokio::spawn(async move {
            outbox
                .run_worker(
                    move |item| {
                        let service = service.clone();
                        async move { service.deliver(item).await }
                    },
                    shutdown,
                )
                .await;
        }))
    }

    /// Delivers one outbox item to NLL: a dispensation (the key is its `nll-dispense-id`) or a
    /// discard.
    pub async fn deliver(&self, item: Item) -> DeliveryResult {
        let outcome = |e: AdapterError, attempts: u32| {
            if e.is_transient()
                || (matches!(e, AdapterError::Conflict { .. }) && attempts < DELIVERY_PATIENCE)
            {
                DeliveryResult::RetryLater
            } else {
                DeliveryResult::Rejected(format!("NLL: {}", e.kind()))
            }
        };
        match item.kind {
            Kind::Submit => {
                let Ok(id) = DispensationId::new(item.key.as_str()) else {
                    return DeliveryResult::Rejected("bad key".into());
                };
                match self
                    .clients
                    .nll
                    .dispense(&self.ctx, &item.payload, &id)
                    .await
                {
                    Ok(_) => DeliveryResult::Delivered,
                    Err(e) => outcome(e, item.attempts),
                }
            }
            Kind::Discard => {
                let field = |k: &str| item.payload[k].as_str().unwrap_or_default().to_owned();
                let (Ok(rx), Ok(target)) = (
                    PrescriptionId::new(field("prescription")),
                    DispensationId::new(field("dispense_id")),
                ) else {
                    return DeliveryResult::Rejected("bad discard payload".into());
                };
                match self.recorded(&rx, &target, true).await {
                    Ok(Some(id)) => match self.clients.nll.discard(&self.ctx, &id).await {
                        Ok(_) => DeliveryResult::Delivered,
                        Err(e) => outcome(e, item.attempts),
                    },
                    // Its dispensation may still be on its way through the outbox.
                    Ok(None) if item.attempts < DELIVERY_PATIENCE => DeliveryResult::RetryLater,
                    Ok(None) => DeliveryResult::Rejected("no such dispensation in NLL".into()),
                    Err(_) => DeliveryResult::RetryLater,
                }
            }
        }
    }

    /// Whether `key` waits in the outbox.
    async fn queued(&self, key: &str) -> bool {
        match &self.outbox {
            Some(o) => o
                .pending()
                .await
                .is_ok_and(|p| p.iter().any(|i| i.key == key)),
            None => false,
        }
    }

    /// The repository our documents are retrieved from (`RepositoryUniqueId`).
    pub fn repository_unique_id(&self) -> &Oid {
        &self.entries.repository_unique_id
    }

    /// `ClinicalDocument/id/@root` of the documents we issue.
    pub fn entries_document_root(&self) -> Oid {
        self.entries.document_root.clone()
    }

    /// Our home community id.
    pub fn home_community_id(&self) -> &Oid {
        &self.entries.home_community_id
    }

    fn today() -> NaiveDate {
        Utc::now().date_naive()
    }

    /// The NSR blocks of the patient.
    async fn blocks(&self, patient: &PersonId) -> Result<Vec<Block>, AdapterError> {
        self.clients.nsr.blocks(&self.ctx, patient).await
    }

    /// XCPD: finds the patient a national identifier names. An opted-out patient is answered
    /// exactly as an unknown one.
    pub async fn identify_patient(
        &self,
        caller: &VerifiedCaller,
        ids: &[PatientIdentifier],
    ) -> IdentifyOutcome {
        let persons: BTreeSet<String> = ids
            .iter()
            .filter_map(|i| i.person_id().ok())
            .map(|p| p.as_str().to_owned())
            .collect();
        let person = match persons.len() {
            0 => return IdentifyOutcome::NoMatch(NoMatchReason::NoSwedishId),
            1 => ids.iter().find_map(|i| i.person_id().ok()),
            _ => return IdentifyOutcome::NoMatch(NoMatchReason::Conflicting),
        };
        let Some(person) = person else {
            return IdentifyOutcome::NoMatch(NoMatchReason::NoSwedishId);
        };
        let blocks = match self.blocks(&person).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(service = "nsr", error = e.kind(), country = %caller.country, "identify: block register failed");
                return IdentifyOutcome::Unavailable;
            }
        };
        let found = match self.clients.nll.patient(&self.ctx, &person).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(service = "nll", error = e.kind(), country = %caller.country, "identify: NLL failed");
                return IdentifyOutcome::Unavailable;
            }
        };
        // The opt-out is checked after NLL answered, so both cases take the same round trips.
        if blocks.contains(&Block::OptOut) {
            return IdentifyOutcome::NoMatch(NoMatchReason::OptedOut);
        }
        match found {
            Some(p) => IdentifyOutcome::Match(Box::new(demographics(person, &p))),
            None => IdentifyOutcome::NoMatch(NoMatchReason::Unknown),
        }
    }

    /// Whether the patient shares ePrescriptions cross-border at all (no opt-out, no
    /// ePrescription category block); `Err` when the block register cannot tell.
    async fn shares_eprescriptions(&self, person: &PersonId) -> Result<bool, AdapterError> {
        let blocks = self.blocks(person).await?;
        Ok(!blocks.iter().any(|b| {
            matches!(
                b,
                Block::OptOut | Block::Category(BlockCategory::EPrescription)
            )
        }))
    }

    /// XCA list: every active or completed prescription of the patient as an L3 and L1 entry
    /// pair (completed and expired ones flagged not dispensable).
    pub async fn list_prescriptions(
        &self,
        caller: &VerifiedCaller,
        patient: &PatientIdentifier,
    ) -> Result<Vec<PrescriptionDocuments>, Refusal> {
        let Ok(person) = patient.person_id() else {
            return Ok(Vec::new());
        };
        match self.shares_eprescriptions(&person).await {
            Ok(true) => {}
            Ok(false) => return Ok(Vec::new()),
            Err(e) => return Err(Refusal::new(rules::prescription_read_error(&e))),
        }
        let bundle = self
            .clients
            .nll
            .prescriptions_with_status(
                &self.ctx,
                &person,
                &[PrescriptionStatus::Active, PrescriptionStatus::Completed],
            )
            .await
            .map_err(|e| {
                tracing::warn!(service = "nll", error = e.kind(), country = %caller.country, "list: NLL failed");
                Refusal::new(rules::prescription_read_error(&e))
            })?;
        let today = Self::today();
        let mut out = Vec::new();
        for mr in bundle.matches() {
            let med = mr["medicationReference"]["reference"]
                .as_str()
                .and_then(|r| bundle.resolve(r));
            if let Some(d) = rules::prescription_documents(&self.entries, patient, mr, med, today) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Reads one prescription the patient's, with its includes. A prescription of someone
    /// else, hidden by a spärr or not shared answers like one that does not exist.
    async fn prescription_of(
        &self,
        person: &PersonId,
        rx: &PrescriptionId,
        not_found: EhdsiError,
        on_error: fn(&AdapterError) -> EhdsiError,
    ) -> Result<SearchResult, Refusal> {
        let bundle = match self.clients.nll.prescription(&self.ctx, rx).await {
            Ok(b) => b,
            Err(AdapterError::NotFound { .. }) => return Err(Refusal::new(not_found).about(rx)),
            Err(e) => {
                tracing::warn!(
                    service = "nll",
                    error = e.kind(),
                    "prescription read failed"
                );
                return Err(Refusal::new(on_error(&e)).about(rx));
            }
        };
        let owner = bundle
            .matches()
            .next()
            .and_then(|mr| mr["subject"]["reference"].as_str())
            .and_then(|r| bundle.resolve(r));
        if !owner.is_some_and(|p| rules::is_patient(p, person)) {
            return Err(Refusal::new(not_found)
                .because("prescription of another patient")
                .about(rx));
        }
        Ok(bundle)
    }

    /// XCA retrieve: the document `unique_id` (an L3 or L1 rendition of one of the patient's
    /// prescriptions), transformed now from NLL's current data.
    pub async fn retrieve(
        &self,
        _caller: &VerifiedCaller,
        patient: &PatientIdentifier,
        unique_id: &str,
    ) -> Result<Document, Refusal> {
        let missing = EhdsiError::ErrorDocumentMissing;
        let (rx, level) = rules::parse_document_id(&self.entries.document_root, unique_id)
            .ok_or(Refusal::new(missing))?;
        let person = patient.person_id().map_err(|_| Refusal::new(missing))?;
        match self.shares_eprescriptions(&person).await {
            Ok(true) => {}
            Ok(false) => return Err(Refusal::new(missing).because("blocked").about(&rx)),
            Err(e) => return Err(Refusal::new(rules::prescription_read_error(&e)).about(&rx)),
        }
        let bundle = self
            .prescription_of(&person, &rx, missing, rules::prescription_read_error)
            .await?;
        let status = bundle
            .matches()
            .next()
            .and_then(|mr| mr["status"].as_str())
            .unwrap_or_default();
        if !matches!(status, "active" | "completed") {
            return Err(Refusal::new(missing).because("not shared").about(&rx));
        }
        let fhir = searchset(&bundle);
        let mut opts = self.cda.clone();
        // Same prescription version, same bytes: a retried or repeated retrieve returns the
        // document the list described, not a new one.
        opts.now = bundle
            .matches()
            .next()
            .and_then(rules::document_time)
            .unwrap_or_else(|| Utc::now().fixed_offset());
        let written = match level {
            Level::L3 => cda_fhir_transform::to_cda::eprescription_l3(&fhir, &rx, &opts),
            Level::L1 => cda_fhir_transform::to_cda::eprescription_l1(&fhir, &rx, &opts),
        };
        let xml = written.map_err(|e| {
            tracing::warn!(error = %e, "ePrescription could not be written");
            Refusal::new(EhdsiError::TranscodingError).about(&rx)
        })?;
        Ok(Document {
            unique_id: rules::document_id(&self.entries.document_root, &rx, level),
            mime_type: "text/xml".into(),
            bytes: xml.into_bytes(),
            prescription: rx,
            level,
        })
    }

    /// XDR: records the eDispensation `cda` of the patient's prescription(s) in NLL. Each
    /// prescription must be the patient's and dispensable; the same document twice is
    /// recorded once (NLL is idempotent on the dispense identifier, which is the document id).
    pub async fn submit_dispensation(
        &self,
        caller: &VerifiedCaller,
        patient: &PatientIdentifier,
        cda: &[u8],
    ) -> Result<Ack, Refusal> {
        let xml = std::str::from_utf8(cda)
            .map_err(|_| Refusal::new(EhdsiError::ErrorEdGeneric).because("not UTF-8"))?;
        let instructions =
            cda_fhir_transform::to_fhir::edispensation_to_fhir(xml).map_err(|e| {
                tracing::info!(error = %e, "eDispensation not readable");
                Refusal::new(EhdsiError::ErrorEdEPrescriptionNotIdentifiable)
            })?;
        if instructions
            .iter()
            .any(|i| i.action != cda_fhir_transform::to_fhir::DispenseAction::Initialize)
        {
            return Err(Refusal::new(EhdsiError::ErrorEdGeneric)
                .because("a discard sent as a dispensation"));
        }
        let person = patient
            .person_id()
            .map_err(|_| Refusal::new(EhdsiError::EPrescriptionNotMatching))?;
        match self.shares_eprescriptions(&person).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(Refusal::new(EhdsiError::EPrescriptionNotMatching).because("blocked"))
            }
            Err(e) => return Err(Refusal::new(rules::dispense_error(&e))),
        }
        let today = Self::today();
        // Check every item before recording any.
        let mut todo = Vec::new();
        let mut ack = Ack {
            prescriptions: Vec::new(),
            dispensations: Vec::new(),
            already_recorded: 0,
            queued: Vec::new(),
        };
        for ins in &instructions {
            let rx = PrescriptionId::new(ins.prescription_id.as_str())
                .map_err(|_| Refusal::new(EhdsiError::ErrorEdEPrescriptionNotIdentifiable))?;
            let dispense_id = DispensationId::new(ins.dispense_id.as_str())
                .map_err(|_| Refusal::new(EhdsiError::ErrorEdEPrescriptionNotIdentifiable))?;
            let subject = &ins.resource["subject"]["identifier"];
            let subject_ok = PersonId::from_identifier(
                subject["system"].as_str().unwrap_or_default(),
                subject["value"].as_str().unwrap_or_default(),
            )
            .is_ok_and(|p| p == person);
            if !subject_ok {
                return Err(Refusal::new(EhdsiError::EPrescriptionNotMatching)
                    .because("document patient differs from the submission's")
                    .about(&rx));
            }
            let bundle = self
                .prescription_of(
                    &person,
                    &rx,
                    EhdsiError::EPrescriptionNotMatching,
                    rules::dispense_error,
                )
                .await?;
            ack.prescriptions.push(rx.clone());
            if let Some(existing) = self.recorded(&rx, &dispense_id, false).await? {
                ack.already_recorded += 1;
                ack.dispensations.push(existing);
                continue;
            }
            let mr = bundle.matches().next().cloned().unwrap_or(Value::Null);
            if let Some(error) = rules::dispensability(&mr, today).refusal() {
                return Err(Refusal::new(error).because("not dispensable").about(&rx));
            }
            todo.push((ins, rx, dispense_id));
        }
        // NLL's dispensing lock: a dispensation in progress elsewhere refuses this one now,
        // not after the acknowledgement. Our dispensation releases it.
        let mut locked: Vec<PrescriptionId> = Vec::new();
        for (_, rx, _) in &todo {
            if let Err(e) = self.clients.nll.lock(&self.ctx, rx).await {
                self.unlock_all(&locked).await;
                return Err(Refusal::new(rules::dispense_error(&e))
                    .because("locked")
                    .about(rx));
            }
            locked.push(rx.clone());
        }
        if let Some(outbox) = &self.outbox {
            // Durable first: acknowledged once queued; the worker delivers, NLL dedupes.
            for (ins, rx, dispense_id) in todo {
                let queued = match outbox
                    .enqueue(dispense_id.as_str(), Kind::Submit, ins.resource.clone())
                    .await
                {
                    Ok(q) => q,
                    // Another dispensation of this prescription is pending delivery: refused
                    // as NLL refuses one during a dispensation in progress. The NLL lock is
                    // that dispensation's too, so it stays.
                    Err(crate::outbox::OutboxError::InProgress) => {
                        return Err(Refusal::new(EhdsiError::ErrorEdNotDispensableEPrescription)
                            .because("a dispensation in progress")
                            .about(&rx));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "outbox: eDispensation not stored");
                        self.unlock_all(&locked).await;
                        return Err(
                            Refusal::new(EhdsiError::ErrorEdEDispensationNotStored).about(&rx)
                        );
                    }
                };
                if !queued.new {
                    ack.already_recorded += 1;
                }
                ack.queued.push(dispense_id.as_str().to_owned());
            }
            return Ok(ack);
        }
        for (ins, rx, dispense_id) in todo {
            let done = match self
                .clients
                .nll
                .dispense(&self.ctx, &ins.resource, &dispense_id)
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(service = "nll", error = e.kind(), country = %caller.country, "dispense refused");
                    self.unlock_all(&locked).await;
                    return Err(Refusal::new(rules::dispense_error(&e)).about(&rx));
                }
            };
            if !done.created {
                ack.already_recorded += 1;
            }
            ack.dispensations.push(done.id);
        }
        Ok(ack)
    }

    /// Releases the dispensing locks taken for a submission that is refused after all.
    async fn unlock_all(&self, locked: &[PrescriptionId]) {
        for rx in locked {
            if let Err(e) = self.clients.nll.unlock(&self.ctx, rx).await {
                tracing::info!(
                    error = e.kind(),
                    "dispensing lock not released (expires by itself)"
                );
            }
        }
    }

    /// The NLL dispensation of `rx` recorded under `dispense_id`, if any (`discarded`: also
    /// one already marked entered-in-error).
    async fn recorded(
        &self,
        rx: &PrescriptionId,
        dispense_id: &DispensationId,
        discarded: bool,
    ) -> Result<Option<DispensationId>, Refusal> {
        let found = self
            .clients
            .nll
            .dispensations(&self.ctx, rx)
            .await
            .map_err(|e| Refusal::new(rules::dispense_error(&e)).about(rx))?;
        let id = found
            .matches()
            .filter(|d| discarded || d["status"] != "entered-in-error")
            .find(|d| {
                d["identifier"].as_array().into_iter().flatten().any(|i| {
                    i["system"] == DISPENSE_ID_SYSTEM && i["value"] == dispense_id.as_str()
                })
            })
            .and_then(|d| d["id"].as_str())
            .and_then(|id| DispensationId::new(id).ok());
        Ok(id)
    }

    /// XDR discard: marks the dispensation(s) the discard document withdraws
    /// `entered-in-error` in NLL, which gives them back to the prescription.
    pub async fn discard_dispensation(
        &self,
        caller: &VerifiedCaller,
        patient: &PatientIdentifier,
        cda: &[u8],
    ) -> Result<Ack, Refusal> {
        let failed = EhdsiError::ErrorEdDiscardFailed;
        let xml = std::str::from_utf8(cda).map_err(|_| Refusal::new(failed))?;
        let instructions = cda_fhir_transform::to_fhir::edispensation_discard_to_fhir(xml)
            .map_err(|e| {
                tracing::info!(error = %e, "eDispensation discard not readable");
                Refusal::new(failed)
            })?;
        let person = patient.person_id().map_err(|_| Refusal::new(failed))?;
        let mut ack = Ack {
            prescriptions: Vec::new(),
            dispensations: Vec::new(),
            already_recorded: 0,
            queued: Vec::new(),
        };
        for ins in &instructions {
            let rx = PrescriptionId::new(ins.prescription_id.as_str())
                .map_err(|_| Refusal::new(failed))?;
            let dispense_id =
                DispensationId::new(ins.dispense_id.as_str()).map_err(|_| Refusal::new(failed))?;
            self.prescription_of(&person, &rx, failed, rules::discard_error)
                .await?;
            let found = self.recorded(&rx, &dispense_id, true).await?;
            if let Some(outbox) = &self.outbox {
                if found.is_none() && !self.queued(dispense_id.as_str()).await {
                    return Err(Refusal::new(failed)
                        .because("no such dispensation")
                        .about(&rx));
                }
                let key = format!("{}#discard", dispense_id.as_str());
                outbox
                    .enqueue(
                        &key,
                        Kind::Discard,
                        json!({"prescription": rx.as_str(), "dispense_id": dispense_id.as_str()}),
                    )
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "outbox: discard not stored");
                        Refusal::new(EhdsiError::ErrorEdEDispensationNotStored).about(&rx)
                    })?;
                ack.prescriptions.push(rx);
                ack.queued.push(key);
                continue;
            }
            let Some(id) = found else {
                return Err(Refusal::new(failed)
                    .because("no such dispensation")
                    .about(&rx));
            };
            self.clients
                .nll
                .discard(&self.ctx, &id)
                .await
                .map_err(|e| {
                    tracing::warn!(service = "nll", error = e.kind(), country = %caller.country, "discard refused");
                    Refusal::new(rules::discard_error(&e)).about(&rx)
                })?;
            ack.prescriptions.push(rx);
            ack.dispensations.push(id);
        }
        Ok(ack)
    }
}

/// The search result as the `searchset` Bundle the CDA writers read.
fn searchset(r: &SearchResult) -> Value {
    let entries: Vec<Value> = r
        .entries
        .iter()
        .map(|e| {
            let mode = match e.mode {
                SearchMode::Match => "match",
                SearchMode::Include => "include",
                SearchMode::Outcome => "outcome",
            };
            let mut entry = json!({"resource": e.resource, "search": {"mode": mode}});
            if let Some(u) = &e.full_url {
                entry["fullUrl"] = json!(u);
            }
            entry
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "searchset", "entry": entries})
}

/// The XCPD demographics of an NLLPatient.
fn demographics(id: PersonId, p: &Value) -> IdentifiedPatient {
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(a) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
            Value::String(s) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let name = &p["name"][0];
    let address = &p["address"][0];
    IdentifiedPatient {
        given: strings(&name["given"]),
        family: strings(&name["family"]),
        gender: match p["gender"].as_str() {
            Some("male") => Some(Gender::Male),
            Some("female") => Some(Gender::Female),
            Some("other") => Some(Gender::Undifferentiated),
            _ => None,
        },
        birth_date: p["birthDate"]
            .as_str()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
        street: address["line"][0].as_str().map(str::to_owned),
        city: address["city"].as_str().map(str::to_owned),
        postal_code: address["postalCode"].as_str().map(str::to_owned),
        country: address["country"].as_str().map(str::to_owned),
        id,
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    /// `Debug` of what the service answers used to print prescription and dispensation ids
    /// (the document unique id and the outbox keys carry them too).
    #[test]
    fn debug_prints_no_prescription_or_dispensation_ids() {
        let rx = PrescriptionId::new("rx-4711").unwrap();
        let doc = Document {
            unique_id: format!("1.2.752.129.2.1.2.1^{}", rx.as_str()),
            mime_type: "text/xml".into(),
            bytes: b"<ClinicalDocument/>".to_vec(),
            prescription: rx.clone(),
            level: Level::L3,
        };
        let ack = Ack {
            prescriptions: vec![rx.clone()],
            dispensations: vec![DispensationId::new("ed-4711").unwrap()],
            already_recorded: 0,
            queued: vec!["ed-4711".into()],
        };
        let refusal = Refusal::new(EhdsiError::ErrorEpGeneric).about(&rx);
        let shown = format!("{doc:?} {ack:?} {refusal:?}");
        assert!(!shown.contains("4711"), "{shown}");
        assert!(shown.contains("len"), "{shown}");
    }
}
