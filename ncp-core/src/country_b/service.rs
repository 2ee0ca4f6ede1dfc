//! The business layer of Sweden as Country B: what a Swedish user may ask of which country,
//! the calls abroad (through [`ForeignNcpClient`]), CDA <-> FHIR, the audit trail.
//!
//! The FHIR layer ([`super::api`]) parses the request and renders the answer; everything in
//! between is here. Nothing here logs patient data.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use ncp_types::{CountryCode, Oid};
use serde_json::{json, Value};

use super::audit::{record, Audited, CountryBAudit};
use super::cache::{Cache, Cached};
use super::client::ForeignNcpClient;
use super::config::Service;
use super::directory::{CountryDirectory, DirectoryError};
use super::fhir;
use super::foreign_gateway::{
    DocumentClass, DocumentFormat, DocumentRef, ForeignNcp, ForeignPatient, ForeignPatientId,
    GatewayError,
};
use super::linking::{self, DocIds, Linkable};
use super::patient_id::PatientKey;
use super::store::{Claim, CountryBStore, Dispensation, Listed, StoreError};
use super::token::{Operation, SwedishUser, TokenError};
use crate::audit::{EventType, Ncp, ObjectRef};
use crate::config::NcpIdentity;

/// Who asks, from where, in which request.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub user: SwedishUser,
    pub source_ip: Option<IpAddr>,
    pub request_id: String,
}

/// Why a request could not be served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("{country}: {error}")]
    Gateway {
        country: CountryCode,
        error: GatewayError,
    },
    #[error(transparent)]
    Forbidden(TokenError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The foreign NCP sent a document the bridge cannot read.
    #[error("{0}")]
    ForeignDocument(String),
    /// The foreign NCP answered but did not accept the dispensation.
    #[error("{country} did not accept the {what}")]
    NotAcknowledged {
        country: CountryCode,
        what: &'static str,
        errors: Vec<(String, String)>,
    },
    /// The request's content cannot be turned into the document to send.
    #[error("{0}")]
    Unprocessable(String),
    #[error("audit trail unavailable: {0}")]
    Audit(String),
    /// The bridge's database (what survives a restart) cannot be read or written.
    #[error("the bridge's database is unavailable: {0}")]
    Store(String),
    /// The request conflicts with one in progress.
    #[error("{0}")]
    Conflict(String),
}

fn store_error(e: StoreError) -> ServiceError {
    ServiceError::Store(e.to_string())
}

/// A search's resources (as Bundle entries) and the problems met on the way.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub entries: Vec<Value>,
    pub warnings: Vec<String>,
}

/// Sweden as Country B.
pub struct CountryB {
    client: Arc<dyn ForeignNcpClient>,
    directory: CountryDirectory,
    audit: Arc<dyn CountryBAudit>,
    identity: NcpIdentity,
    us: Ncp,
    cache: Cache,
    /// Dispensations sent and prescriptions listed, for every replica and after a restart
    /// (none: in memory only, as in the unit tests).
    store: Option<Arc<CountryBStore>>,
}

/// How long fetched documents and sent dispensations stay reachable.
const CACHE_TTL: Duration = Duration::from_secs(8 * 3600);
const CACHE_ITEMS: usize = 20_000;
/// The memory the kept items may take (L1 PDFs are the large ones).
const CACHE_BYTES: usize = 256 * 1024 * 1024;

impl CountryB {
    pub fn new(
        client: Arc<dyn ForeignNcpClient>,
        directory: CountryDirectory,
        audit: Arc<dyn CountryBAudit>,
        identity: NcpIdentity,
    ) -> Self {
        let us = Ncp {
            country: identity.country,
            home_community_id: identity.home_community_id.clone(),
        };
        CountryB {
            client,
            directory,
            audit,
            identity,
            us,
            cache: Cache::new(CACHE_TTL, CACHE_ITEMS, CACHE_BYTES),
            store: None,
        }
    }

    /// Keeps dispensations sent and prescriptions listed in `store` as well as in memory.
    pub fn with_store(mut self, store: Arc<CountryBStore>) -> Self {
        self.store = Some(store);
        self
    }

    pub fn directory(&self) -> &CountryDirectory {
        &self.directory
    }

    fn route(&self, country: CountryCode, service: Service) -> Result<ForeignNcp, ServiceError> {
        Ok(self.directory.ncp_for(country, service)?)
    }

    fn them(ncp: &ForeignNcp) -> Ncp {
        Ncp {
            country: ncp.country,
            home_community_id: ncp.home_community_id.clone(),
        }
    }

    async fn audit(
        &self,
        ctx: &RequestCtx,
        event: EventType,
        ncp: &ForeignNcp,
        patient: Option<&ForeignPatientId>,
        objects: Vec<ObjectRef>,
        failure: Option<String>,
    ) -> Result<(), ServiceError> {
        self.audit_to(ctx, event, Self::them(ncp), patient, objects, failure)
            .await
    }

    /// The NCP of `country` for the audit trail (its home community id from the directory).
    fn ncp_of(&self, country: CountryCode) -> Ncp {
        Ncp {
            country,
            home_community_id: self
                .directory
                .entry(country)
                .map(|e| e.home_community_id.clone())
                .unwrap_or_else(|_| self.us.home_community_id.clone()),
        }
    }

    async fn audit_to(
        &self,
        ctx: &RequestCtx,
        event: EventType,
        foreign: Ncp,
        patient: Option<&ForeignPatientId>,
        objects: Vec<ObjectRef>,
        failure: Option<String>,
    ) -> Result<(), ServiceError> {
        let r = record(
            &self.us,
            Audited {
                event,
                user: &ctx.user,
                foreign,
                patient,
                objects,
                success: failure.is_none(),
                reason: failure,
                source_ip: ctx.source_ip,
                request_id: ctx.request_id.clone(),
            },
        );
        self.audit.append(&r).await.map_err(ServiceError::Audit)
    }

    /// Audits a failed call abroad and turns it into the error to answer with.
    async fn failed(
        &self,
        ctx: &RequestCtx,
        event: EventType,
        ncp: &ForeignNcp,
        patient: Option<&ForeignPatientId>,
        error: GatewayError,
    ) -> ServiceError {
        if let Err(e) = self
            .audit(
                ctx,
                event,
                ncp,
                patient,
                Vec::new(),
                Some(error.to_string()),
            )
            .await
        {
            return e;
        }
        ServiceError::Gateway {
            country: ncp.country,
            error,
        }
    }

    /// XCPD: the patients `country` finds for `root`/`extension`. `country` may be left out
    /// when the directory knows the root.
    pub async fn find_patient(
        &self,
        ctx: &RequestCtx,
        country: Option<CountryCode>,
        root: Oid,
        extension: String,
    ) -> Result<Vec<(PatientKey, ForeignPatient)>, ServiceError> {
        ctx.user
            .check(Operation::IdentifyPatient)
            .map_err(ServiceError::Forbidden)?;
        let country = match country {
            Some(c) => c,
            None => self.directory.country_of_root(&root)?,
        };
        let ncp = self.route(country, Service::PatientIdentification)?;
        let id = ForeignPatientId { root, extension };
        let found = match self
            .client
            .find_patient(&ncp, &ctx.user.hcp_user(), &id)
            .await
        {
            Ok(p) => p,
            Err(GatewayError::NoMatch) => Vec::new(),
            Err(e) => {
                return Err(self
                    .failed(ctx, EventType::PatientIdentification, &ncp, Some(&id), e)
                    .await)
            }
        };
        self.audit(
            ctx,
            EventType::PatientIdentification,
            &ncp,
            Some(&id),
            Vec::new(),
            found.is_empty().then(|| "no match".to_owned()),
        )
        .await?;
        Ok(found
            .into_iter()
            .map(|p| {
                (
                    PatientKey {
                        country,
                        id: p.id.clone(),
                    },
                    p,
                )
            })
            .collect())
    }

    /// XCA list and retrieve of `class`: each document's bytes with its reference; a document
    /// that cannot be retrieved is a warning, not a failure of the whole list.
    async fn fetch(
        &self,
        ctx: &RequestCtx,
        ncp: &ForeignNcp,
        key: &PatientKey,
        class: DocumentClass,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<(DocumentRef, String)>, ServiceError> {
        let user = ctx.user.hcp_user();
        let refs = match self.client.list_documents(ncp, &user, &key.id, class).await {
            Ok(r) => r,
            Err(e) => {
                return Err(self
                    .failed(ctx, EventType::DocumentList, ncp, Some(&key.id), e)
                    .await)
            }
        };
        let objects = refs
            .iter()
            .map(|r| ObjectRef::Document(r.document_unique_id.clone()))
            .collect();
        self.audit(
            ctx,
            EventType::DocumentList,
            ncp,
            Some(&key.id),
            objects,
            None,
        )
        .await?;
        let mut docs = Vec::new();
        for r in refs {
            match self.client.retrieve(ncp, &user, &key.id, &r).await {
                Ok(d) => {
                    self.audit(
                        ctx,
                        EventType::DocumentRetrieve,
                        ncp,
                        Some(&key.id),
                        vec![ObjectRef::Document(r.document_unique_id.clone())],
                        None,
                    )
                    .await?;
                    match String::from_utf8(d.bytes) {
                        Ok(xml) => docs.push((r, xml)),
                        Err(_) => warnings.push(format!(
                            "document {} is not UTF-8 XML and was left out",
                            r.document_unique_id
                        )),
                    }
                }
                // Unavailable, timed out or refused on retrieve: the others still count.
                Err(e) => {
                    self.audit(
                        ctx,
                        EventType::DocumentRetrieve,
                        ncp,
                        Some(&key.id),
                        vec![ObjectRef::Document(r.document_unique_id.clone())],
                        Some(e.to_string()),
                    )
                    .await?;
                    warnings.push(format!(
                        "document {} could not be retrieved: {e}",
                        r.document_unique_id
                    ));
                }
            }
        }
        Ok(docs)
    }

    /// The patient's documents of `class` when the user may do `op`, with a `Found` holding
    /// the warnings met on the way.
    async fn fetch_allowed(
        &self,
        ctx: &RequestCtx,
        key: &PatientKey,
        op: Operation,
        service: Service,
        class: DocumentClass,
    ) -> Result<(Found, Vec<(DocumentRef, String)>), ServiceError> {
        ctx.user.check(op).map_err(ServiceError::Forbidden)?;
        let ncp = self.route(key.country, service)?;
        let mut found = Found::default();
        let docs = self
            .fetch(ctx, &ncp, key, class, &mut found.warnings)
            .await?;
        Ok((found, docs))
    }

    /// The patient's ePrescriptions: MedicationRequests (match) with their Medication,
    /// Patient and prescriber resources, and each L1 PDF as a Binary (include).
    pub async fn prescriptions(
        &self,
        ctx: &RequestCtx,
        base: &str,
        key: &PatientKey,
    ) -> Result<Found, ServiceError> {
        let (mut found, docs) = self
            .fetch_allowed(
                ctx,
                key,
                Operation::ReadPrescriptions,
                Service::Eprescription,
                DocumentClass::EPrescription,
            )
            .await?;
        let mut seen = HashSet::new();
        let patient_id = key.to_fhir_id().ok();
        // The L1 documents (list and header ids, Binary reference) and the L3 ones (list and
        // header ids, Bundle), to link each PDF to its prescriptions once all are read.
        let mut l1s: Vec<(Linkable, String)> = Vec::new();
        let mut l3s: Vec<(Linkable, Value)> = Vec::new();
        let linkable = |r: &DocumentRef, xml: &str| Linkable {
            listed_as: r.document_unique_id.clone(),
            transformation_of: r.transformation_of.clone(),
            header: DocIds::of(xml),
        };
        // Per MedicationRequest: its entry, its L3, and where it came from.
        let mut requests: Vec<(usize, usize, Option<Listed>)> = Vec::new();
        for (r, xml) in docs {
            match r.format {
                DocumentFormat::L1Pdf => match cda_fhir_transform::to_fhir::l1_to_binary(&xml) {
                    Ok(mut binary) => {
                        let id = binary["id"].as_str().unwrap_or_default().to_owned();
                        if let Some(p) = &patient_id {
                            binary["securityContext"] =
                                json!({ "reference": format!("Patient/{p}") });
                        }
                        self.cache.put(
                            &ctx.user.hsa_id,
                            &id,
                            Cached::Binary {
                                patient: key.clone(),
                                binary: binary.clone(),
                            },
                        );
                        if seen.insert(format!("Binary/{id}")) {
                            l1s.push((linkable(&r, &xml), format!("Binary/{id}")));
                            found
                                .entries
                                .push(fhir::entry(base, binary, None, "include"));
                        }
                    }
                    Err(e) => found.warnings.push(format!(
                        "ePrescription {} (PDF) could not be read: {e}",
                        r.document_unique_id
                    )),
                },
                DocumentFormat::L3 => {
                    let bundle = match cda_fhir_transform::to_fhir::eprescription_to_fhir(&xml) {
                        Ok(b) => b,
                        Err(e) => {
                            found.warnings.push(format!(
                                "ePrescription {} could not be converted: {e}",
                                r.document_unique_id
                            ));
                            continue;
                        }
                    };
                    let l3 = l3s.len();
                    for e in bundle["entry"].as_array().cloned().unwrap_or_default() {
                        let res = &e["resource"];
                        let (Some(t), Some(id)) =
                            (res["resourceType"].as_str(), res["id"].as_str())
                        else {
                            continue;
                        };
                        if !seen.insert(format!("{t}/{id}")) {
                            continue;
                        }
                        let mode = if t == "MedicationRequest" {
                            let listed = patient_id.as_ref().map(|patient| Listed {
                                owner: ctx.user.hsa_id.as_str().to_owned(),
                                prescription: id.to_owned(),
                                country: key.country.to_string(),
                                patient: patient.clone(),
                                document_unique_id: r.document_unique_id.clone(),
                                repository_unique_id: r.repository_unique_id.clone(),
                                home_community_id: r.home_community_id.as_str().to_owned(),
                                pdf: None,
                            });
                            requests.push((found.entries.len(), l3, listed));
                            "match"
                        } else {
                            if t == "Binary" {
                                self.cache.put(
                                    &ctx.user.hsa_id,
                                    id,
                                    Cached::Binary {
                                        patient: key.clone(),
                                        binary: res.clone(),
                                    },
                                );
                            }
                            "include"
                        };
                        found.entries.push(fhir::entry(
                            base,
                            res.clone(),
                            e["fullUrl"].as_str(),
                            mode,
                        ));
                    }
                    l3s.push((linkable(&r, &xml), bundle));
                }
            }
        }
        // Each L1 PDF is linked to the prescriptions of its L3 document (see `linking`);
        // one matched to none stays included, linked to the patient only.
        let l1_ids: Vec<_> = l1s.iter().map(|(ids, _)| ids.clone()).collect();
        let l3_ids: Vec<_> = l3s.iter().map(|(ids, _)| ids.clone()).collect();
        let mut pdfs_of: Vec<Vec<String>> = vec![Vec::new(); l3s.len()];
        for ((_, pdf), l3) in l1s.iter().zip(linking::l1_to_l3(&l1_ids, &l3_ids)) {
            if let Some(l3) = l3 {
                pdfs_of[l3].push(pdf.clone());
            }
        }
        let mut listed: Vec<Listed> = Vec::new();
        for (entry, l3, row) in requests {
            let pdfs = &pdfs_of[l3];
            let Some(mr) = found.entries[entry].get_mut("resource") else {
                continue;
            };
            if !pdfs.is_empty() {
                mr["supportingInformation"] = pdf_link(pdfs);
            }
            if let Some(id) = mr["id"].as_str() {
                self.cache.put(
                    &ctx.user.hsa_id,
                    id,
                    Cached::Prescription {
                        patient: key.clone(),
                        request: mr.clone(),
                        bundle: l3s[l3].1.clone(),
                    },
                );
            }
            if let Some(mut row) = row {
                row.pdf = pdfs.first().cloned();
                listed.push(row);
            }
        }
        // Where each prescription came from, so that another replica (or this one after a
        // restart) can retrieve it again when the user reads or dispenses it.
        if let Some(store) = &self.store {
            if let Err(e) = store.put_listed(listed).await {
                tracing::warn!(error = %e, "listed prescriptions not stored: reachable on this replica only");
            }
        }
        Ok(found)
    }

    /// A MedicationRequest this user listed.
    /// A MedicationRequest this user listed (a disclosure to the user: audited).
    pub async fn medication_request(
        &self,
        ctx: &RequestCtx,
        id: &str,
    ) -> Result<Value, ServiceError> {
        ctx.user
            .check(Operation::ReadPrescriptions)
            .map_err(ServiceError::Forbidden)?;
        let (patient, request, _) = self.listed_prescription(ctx, id).await?;
        self.disclosed(ctx, &patient, format!("MedicationRequest/{id}"))
            .await?;
        Ok(request)
    }

    /// A MedicationRequest this user listed, with its patient and the ePrescription Bundle it
    /// is part of: from memory, or else retrieved again from the patient's country by the
    /// document reference the store kept (another replica listed it, or before a restart).
    async fn listed_prescription(
        &self,
        ctx: &RequestCtx,
        id: &str,
    ) -> Result<(PatientKey, Value, Value), ServiceError> {
        let not_listed = || {
            ServiceError::NotFound(format!(
                "MedicationRequest/{id} is not among the prescriptions you listed: search MedicationRequest?patient= first"
            ))
        };
        if let Some(Cached::Prescription {
            patient,
            request,
            bundle,
        }) = self.cache.get(&ctx.user.hsa_id, id)
        {
            return Ok((patient, request, bundle));
        }
        let Some(store) = &self.store else {
            return Err(not_listed());
        };
        let Some(l) = store
            .listed(ctx.user.hsa_id.as_str(), id)
            .await
            .map_err(store_error)?
        else {
            return Err(not_listed());
        };
        let corrupt =
            |what: &str| ServiceError::Store(format!("unreadable {what} in a listed prescription"));
        let key = PatientKey::parse(&l.patient).map_err(|_| corrupt("patient"))?;
        let doc = DocumentRef {
            home_community_id: Oid::parse(&l.home_community_id)
                .map_err(|_| corrupt("home community id"))?,
            document_unique_id: l.document_unique_id,
            repository_unique_id: l.repository_unique_id,
            class: DocumentClass::EPrescription,
            format: DocumentFormat::L3,
            title: None,
            description: None,
            transformation_of: None,
        };
        let ncp = self.route(key.country, Service::Eprescription)?;
        let retrieved = match self
            .client
            .retrieve(&ncp, &ctx.user.hcp_user(), &key.id, &doc)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                return Err(self
                    .failed(ctx, EventType::DocumentRetrieve, &ncp, Some(&key.id), e)
                    .await)
            }
        };
        self.audit(
            ctx,
            EventType::DocumentRetrieve,
            &ncp,
            Some(&key.id),
            vec![ObjectRef::Document(doc.document_unique_id.clone())],
            None,
        )
        .await?;
        let unreadable = |e: String| {
            ServiceError::ForeignDocument(format!(
                "{}: ePrescription {} retrieved again could not be read: {e}",
                key.country, doc.document_unique_id
            ))
        };
        let xml = String::from_utf8(retrieved.bytes).map_err(|e| unreadable(e.to_string()))?;
        let bundle = cda_fhir_transform::to_fhir::eprescription_to_fhir(&xml)
            .map_err(|e| unreadable(e.to_string()))?;
        let Some(mut request) = bundle["entry"].as_array().and_then(|es| {
            es.iter()
                .map(|e| &e["resource"])
                .find(|r| r["resourceType"] == "MedicationRequest" && r["id"] == id)
                .cloned()
        }) else {
            return Err(not_listed());
        };
        if let Some(pdf) = &l.pdf {
            request["supportingInformation"] = pdf_link(std::slice::from_ref(pdf));
        }
        self.cache.put(
            &ctx.user.hsa_id,
            id,
            Cached::Prescription {
                patient: key.clone(),
                request: request.clone(),
                bundle: bundle.clone(),
            },
        );
        Ok((key, request, bundle))
    }

    /// A Binary (PDF or original CDA) this user fetched (a disclosure to the user: audited).
    pub async fn binary(&self, ctx: &RequestCtx, id: &str) -> Result<Value, ServiceError> {
        match self.cache.get(&ctx.user.hsa_id, id) {
            Some(Cached::Binary { binary, patient }) => {
                self.disclosed(ctx, &patient, format!("Binary/{id}"))
                    .await?;
                Ok(binary)
            }
            _ => Err(ServiceError::NotFound(format!(
                "Binary/{id} is not among the documents you fetched"
            ))),
        }
    }

    /// Audits a read of something fetched before, as a FHIR API event.
    async fn disclosed(
        &self,
        ctx: &RequestCtx,
        patient: &PatientKey,
        what: String,
    ) -> Result<(), ServiceError> {
        self.audit_to(
            ctx,
            EventType::FhirApi,
            self.ncp_of(patient.country),
            Some(&patient.id),
            vec![ObjectRef::Document(what)],
            None,
        )
        .await
    }

    /// The patient's Patient Summary: per document a DocumentReference with the original as
    /// a Binary (CDA, or the PDF of an L1 document), and the FHIR resources the bridge can
    /// convert it to.
    pub async fn summary(
        &self,
        ctx: &RequestCtx,
        base: &str,
        key: &PatientKey,
    ) -> Result<Found, ServiceError> {
        let (mut found, docs) = self
            .fetch_allowed(
                ctx,
                key,
                Operation::ReadSummary,
                Service::PatientSummary,
                DocumentClass::PatientSummary,
            )
            .await?;
        let mut seen = HashSet::new();
        for (r, xml) in docs {
            let cda_id = fhir_id_of(&r.document_unique_id, "cda");
            let cda = json!({
                "resourceType": "Binary",
                "id": cda_id,
                "contentType": "application/hl7-v3+xml",
                "data": base64::engine::general_purpose::STANDARD.encode(xml.as_bytes()),
            });
            self.cache.put(
                &ctx.user.hsa_id,
                &cda_id,
                Cached::Binary {
                    patient: key.clone(),
                    binary: cda.clone(),
                },
            );
            let mut content = vec![json!({ "attachment": {
                "contentType": "application/hl7-v3+xml",
                "url": format!("Binary/{cda_id}"),
                "title": "Original CDA document",
            }, "format": { "system": "urn:oid:1.3.6.1.4.1.19376.1.2.3", "code": match r.format {
                DocumentFormat::L3 => "urn:epsos:ps:2010",
                DocumentFormat::L1Pdf => "urn:ihe:iti:xds-sd:pdf:2008",
            }}})];
            let mut extra: Vec<Value> = Vec::new();
            if r.format == DocumentFormat::L1Pdf {
                match cda_fhir_transform::to_fhir::l1_to_binary(&xml) {
                    Ok(pdf) => {
                        let id = pdf["id"].as_str().unwrap_or_default().to_owned();
                        self.cache.put(
                            &ctx.user.hsa_id,
                            &id,
                            Cached::Binary {
                                patient: key.clone(),
                                binary: pdf.clone(),
                            },
                        );
                        content.push(json!({ "attachment": {
                            "contentType": "application/pdf",
                            "url": format!("Binary/{id}"),
                            "title": "Patient Summary (PDF, as issued)",
                        }}));
                        extra.push(pdf);
                    }
                    Err(e) => found.warnings.push(format!(
                        "Patient Summary {} (PDF) could not be read: {e}",
                        r.document_unique_id
                    )),
                }
            }
            // Structured content, where the transformation handles this kind of document.
            match cda_fhir_transform::to_fhir::cda_to_fhir(&xml) {
                Ok(b) => {
                    for e in b["entry"].as_array().cloned().unwrap_or_default() {
                        let res = e["resource"].clone();
                        let (Some(t), Some(id)) = (res["resourceType"].as_str(), res["id"].as_str())
                        else {
                            continue;
                        };
                        if t == "Binary" || !seen.insert(format!("{t}/{id}")) {
                            continue;
                        }
                        found
                            .entries
                            .push(fhir::entry(base, res.clone(), e["fullUrl"].as_str(), "include"));
                    }
                }
                Err(e) => found.warnings.push(format!(
                    "Patient Summary {}: no FHIR resources converted ({e}); the original is attached",
                    r.document_unique_id
                )),
            }
            let doc_ref = json!({
                "resourceType": "DocumentReference",
                "id": fhir_id_of(&r.document_unique_id, "ref"),
                "status": "current",
                "masterIdentifier": master_identifier(&r.document_unique_id),
                "type": { "coding": [{ "system": "http://loinc.org", "code": "60591-5", "display": "Patient summary Document" }] },
                "subject": { "reference": format!("Patient/{}", key.to_fhir_id().unwrap_or_default()) },
                "description": r.title.clone().or(r.description.clone()).unwrap_or_else(|| "Patient Summary".to_owned()),
                "custodian": { "display": format!("NCP {}", key.country) },
                "content": content,
            });
            found
                .entries
                .push(fhir::entry(base, doc_ref, None, "match"));
            found.entries.push(fhir::entry(base, cda, None, "include"));
            for x in extra {
                found.entries.push(fhir::entry(base, x, None, "include"));
            }
        }
        Ok(found)
    }

    /// Sends an eDispensation (or its discard) for `document` over XDR and audits it; `Ok` only
    /// when the patient's country acknowledged it.
    async fn submit_acknowledged(
        &self,
        ctx: &RequestCtx,
        ncp: &ForeignNcp,
        key: &PatientKey,
        cda: &str,
        discard: bool,
        document: &str,
    ) -> Result<(), ServiceError> {
        let (event, what) = if discard {
            (EventType::DispensationDiscard, "discard")
        } else {
            (EventType::DispensationSubmit, "eDispensation")
        };
        let ack = match self
            .client
            .submit_dispensation(ncp, &ctx.user.hcp_user(), &key.id, cda, discard)
            .await
        {
            Ok(a) => a,
            Err(e) => return Err(self.failed(ctx, event, ncp, Some(&key.id), e).await),
        };
        let objects = vec![ObjectRef::Document(document.to_owned())];
        let failure = (!ack.accepted).then(|| "not acknowledged".to_owned());
        self.audit(ctx, event, ncp, Some(&key.id), objects, failure)
            .await?;
        if !ack.accepted {
            return Err(ServiceError::NotAcknowledged {
                country: key.country,
                what,
                errors: ack.foreign_errors,
            });
        }
        Ok(())
    }

    /// Dispenses against a MedicationRequest this user listed: the eDispensation goes to the
    /// patient's country over XDR; `Ok` only when that country's NCP acknowledged it.
    pub async fn dispense(&self, ctx: &RequestCtx, body: &Value) -> Result<Value, ServiceError> {
        ctx.user
            .check(Operation::Dispense)
            .map_err(ServiceError::Forbidden)?;
        if body["resourceType"] != "MedicationDispense" {
            return Err(ServiceError::BadRequest(
                "the body must be a MedicationDispense".into(),
            ));
        }
        let auth = body["authorizingPrescription"][0]["reference"]
            .as_str()
            .ok_or_else(|| {
                ServiceError::BadRequest(
                    "MedicationDispense.authorizingPrescription[0].reference (MedicationRequest/{id}) is required".into(),
                )
            })?;
        let mr_id = auth.rsplit('/').next().unwrap_or(auth);
        let (key, request, source) = self.listed_prescription(ctx, mr_id).await?;
        let ncp = self.route(key.country, Service::Edispensation)?;
        let dispense_id = uuid::Uuid::new_v4().to_string();
        let bundle = dispensation_bundle(&dispense_id, body, &request, &source, &ctx.user)?;
        let now = Utc::now().fixed_offset();
        let cda =
            cda_fhir_transform::to_cda::edispensation(&bundle, &self.identity.cda_options(now))
                .map_err(|e| {
                    ServiceError::Unprocessable(format!("no eDispensation can be written: {e}"))
                })?;
        self.submit_acknowledged(ctx, &ncp, &key, &cda, false, &dispense_id)
            .await?;
        let md = resource_of(&bundle, "MedicationDispense").unwrap_or_default();
        // Sent and acknowledged: a failure to record it now must not make the pharmacy
        // believe (and dispense) otherwise, so it is logged and the answer stays 201; the
        // dispensation is then discardable on this replica until a restart.
        if let (Some(store), Ok(patient)) = (&self.store, key.to_fhir_id()) {
            let record = Dispensation {
                id: dispense_id.clone(),
                owner: ctx.user.hsa_id.as_str().to_owned(),
                organisation: ctx.user.organisation_hsa_id.as_str().to_owned(),
                country: key.country.to_string(),
                patient,
                prescription: mr_id.to_owned(),
                bundle: bundle.clone(),
                discarded: false,
            };
            if let Err(e) = store.put_dispensation(&record).await {
                tracing::error!(error = %e, "dispensation sent but not stored: discardable on this replica only");
            }
        }
        self.cache.put(
            &ctx.user.hsa_id,
            &dispense_id,
            Cached::Dispensation {
                patient: key,
                bundle,
                discarded: false,
            },
        );
        Ok(md)
    }

    /// Writes the discard of a dispensation from its Bundle and sends it; `Ok` when the
    /// patient's country acknowledged it.
    async fn send_discard(
        &self,
        ctx: &RequestCtx,
        key: &PatientKey,
        bundle: &Value,
        id: &str,
    ) -> Result<(), ServiceError> {
        let ncp = self.route(key.country, Service::Edispensation)?;
        let now = Utc::now().fixed_offset();
        let cda = cda_fhir_transform::to_cda::edispensation_discard(
            bundle,
            &self.identity.cda_options(now),
        )
        .map_err(|e| ServiceError::Unprocessable(format!("no discard can be written: {e}")))?;
        self.submit_acknowledged(ctx, &ncp, key, &cda, true, id)
            .await
    }

    /// Ends a claimed discard in the store: done, or released for another try.
    async fn release(&self, id: &str, discarded: bool) {
        if let Some(store) = &self.store {
            if let Err(e) = store.finish_discard(id, discarded).await {
                tracing::error!(error = %e, discarded, "the end of a discard was not stored");
            }
        }
    }

    /// Discards a dispensation this user sent: the eDispensation discard goes to the patient's
    /// country; `Ok` (the MedicationDispense, `entered-in-error`) only when acknowledged.
    pub async fn cancel(&self, ctx: &RequestCtx, id: &str) -> Result<Value, ServiceError> {
        ctx.user
            .check(Operation::Dispense)
            .map_err(ServiceError::Forbidden)?;
        let already =
            || ServiceError::BadRequest(format!("MedicationDispense/{id} is already discarded"));
        // The store decides (for every replica); memory only for what the store lacks.
        let claim = match &self.store {
            Some(s) => s
                .claim_discard(ctx.user.hsa_id.as_str(), id)
                .await
                .map_err(store_error)?,
            None => Claim::NotFound,
        };
        let (key, mut bundle, claimed) = match claim {
            Claim::Claimed(d) => {
                let key = PatientKey::parse(&d.patient).map_err(|_| {
                    ServiceError::Store("unreadable patient in a stored dispensation".into())
                });
                match key {
                    Ok(key) => (key, d.bundle, true),
                    Err(e) => {
                        self.release(id, false).await;
                        return Err(e);
                    }
                }
            }
            Claim::AlreadyDiscarded => return Err(already()),
            Claim::InProgress => {
                return Err(ServiceError::Conflict(format!(
                    "MedicationDispense/{id} is being discarded by another request: try again in a while"
                )))
            }
            Claim::NotFound => match self.cache.get(&ctx.user.hsa_id, id) {
                Some(Cached::Dispensation {
                    patient,
                    bundle,
                    discarded: false,
                }) => (patient, bundle, false),
                Some(Cached::Dispensation { .. }) => return Err(already()),
                _ => {
                    return Err(ServiceError::NotFound(format!(
                        "MedicationDispense/{id} is not among the dispensations you sent"
                    )))
                }
            },
        };
        set_dispense_status(&mut bundle, "entered-in-error");
        let sent = self.send_discard(ctx, &key, &bundle, id).await;
        if claimed {
            self.release(id, sent.is_ok()).await;
        }
        sent?;
        let md = resource_of(&bundle, "MedicationDispense").unwrap_or_default();
        self.cache.put(
            &ctx.user.hsa_id,
            id,
            Cached::Dispensation {
                patient: key,
                bundle,
                discarded: true,
            },
        );
        Ok(md)
    }
}

/// `MedicationRequest.supportingInformation` pointing at the prescription's L1 PDFs.
fn pdf_link(pdf_refs: &[String]) -> Value {
    pdf_refs
        .iter()
        .map(|r| json!({ "reference": r, "display": "ePrescription (PDF, as issued)" }))
        .collect()
}

/// A FHIR id (`[A-Za-z0-9.-]{1,64}`) for a document unique id and a purpose.
fn fhir_id_of(document_unique_id: &str, what: &str) -> String {
    cda_fhir_transform::to_fhir::fhir_json::stable_uuid(&format!("{document_unique_id}/{what}"))
        .trim_start_matches("urn:uuid:")
        .to_owned()
}

/// An XDS uniqueId as a FHIR Identifier: an OID as `urn:oid:`, `root^extension` as the root's
/// system with the extension as value.
fn master_identifier(unique_id: &str) -> Value {
    match unique_id.split_once('^') {
        Some((root, ext)) if Oid::parse(root).is_ok() => {
            json!({ "system": format!("urn:oid:{root}"), "value": ext })
        }
        _ if Oid::parse(unique_id).is_ok() => {
            json!({ "system": "urn:ietf:rfc:3986", "value": format!("urn:oid:{unique_id}") })
        }
        _ => json!({ "value": unique_id }),
    }
}

fn resource_of(bundle: &Value, t: &str) -> Option<Value> {
    bundle["entry"]
        .as_array()?
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == t)
        .cloned()
}

fn set_dispense_status(bundle: &mut Value, status: &str) {
    if let Some(es) = bundle["entry"].as_array_mut() {
        for e in es {
            if e["resource"]["resourceType"] == "MedicationDispense" {
                e["resource"]["status"] = status.into();
            }
        }
    }
}

/// The Bundle the eDispensation is written from: the pharmacy's MedicationDispense (its
/// dispensed Medication contained, or the prescribed one), the prescription's Patient and
/// MedicationRequest as the patient's country sent them, and the dispensing pharmacist from
/// the user token (never from the request body).
fn dispensation_bundle(
    dispense_id: &str,
    body: &Value,
    request: &Value,
    source: &Value,
    user: &SwedishUser,
) -> Result<Value, ServiceError> {
    let bad = |m: &str| ServiceError::BadRequest(m.to_owned());
    let by_ref = |r: &str| {
        source["entry"].as_array().and_then(|es| {
            es.iter()
                .find(|e| e["fullUrl"] == r)
                .map(|e| e["resource"].clone())
        })
    };
    let patient_ref = request["subject"]["reference"]
        .as_str()
        .ok_or_else(|| bad("the prescription names no patient"))?;
    let patient =
        by_ref(patient_ref).ok_or_else(|| bad("the prescription's patient is missing"))?;
    let prescribed_ref = request["medicationReference"]["reference"].as_str();
    let prescribed = prescribed_ref.and_then(by_ref);

    let mut md = body.clone();
    let contained = md
        .as_object_mut()
        .and_then(|o| o.remove("contained"))
        .and_then(|c| c.as_array().cloned())
        .unwrap_or_default();
    let med_ref = md["medicationReference"]["reference"]
        .as_str()
        .map(str::to_owned);
    let dispensed = match med_ref.as_deref() {
        Some(r) if r.starts_with('#') => Some(
            contained
                .iter()
                .find(|c| c["resourceType"] == "Medication" && c["id"] == r[1..])
                .cloned()
                .ok_or_else(|| bad("MedicationDispense.medicationReference: no such contained Medication"))?,
        ),
        Some(_) => {
            return Err(bad(
                "MedicationDispense.medicationReference must point at a contained Medication (#id), or be left out to dispense the prescribed product",
            ))
        }
        None => None,
    };
    if md.get("quantity").is_none() {
        return Err(bad("MedicationDispense.quantity is required"));
    }
    let mut entries = Vec::new();
    let mut add = |url: String, mut r: Value| {
        if let Some(o) = r.as_object_mut() {
            o.remove("contained");
        }
        entries.push(json!({ "fullUrl": url, "resource": r }));
    };
    let medication_url = match (dispensed, prescribed_ref, &prescribed) {
        (Some(mut m), _, _) => {
            m["id"] = Value::from(format!("{dispense_id}-med"));
            let url = format!("urn:uuid:{}", uuid::Uuid::new_v4());
            add(url.clone(), m);
            url
        }
        (None, Some(r), Some(_)) => r.to_owned(),
        _ => return Err(bad(
            "the prescription names no Medication: send the dispensed one as contained Medication",
        )),
    };
    let role_url = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let pr_url = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let org_url = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let hsa = |v: &str| json!([{ "system": ncp_types::systems::HSA_ID_URI, "value": v }]);
    let obj = md
        .as_object_mut()
        .ok_or_else(|| bad("the body must be a JSON object"))?;
    obj.insert("id".into(), dispense_id.into());
    obj.insert("status".into(), "completed".into());
    obj.insert("subject".into(), json!({ "reference": patient_ref }));
    obj.insert(
        "medicationReference".into(),
        json!({ "reference": medication_url }),
    );
    obj.insert(
        "authorizingPrescription".into(),
        json!([{ "reference": request_url(source, request).unwrap_or_default() }]),
    );
    obj.insert(
        "performer".into(),
        json!([{ "actor": { "reference": role_url } }]),
    );
    if obj.get("whenHandedOver").is_none() {
        obj.insert(
            "whenHandedOver".into(),
            Utc::now()
                .fixed_offset()
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
                .into(),
        );
    }
    add(format!("urn:uuid:{dispense_id}"), md);
    add(patient_ref.to_owned(), patient);
    if let Some(url) = request_url(source, request) {
        add(url, request.clone());
    }
    if let (Some(r), Some(m)) = (prescribed_ref, prescribed) {
        add(r.to_owned(), m);
    }
    add(
        role_url,
        json!({
            "resourceType": "PractitionerRole",
            "practitioner": { "reference": pr_url },
            "organization": { "reference": org_url },
            "code": [{ "coding": [{ "system": "urn:oid:2.16.840.1.113883.2.9.6.2.7", "code": user.role.hcp_role().code(), "display": user.role.hcp_role().display_name() }] }],
        }),
    );
    add(
        pr_url,
        json!({
            "resourceType": "Practitioner",
            "identifier": hsa(user.hsa_id.as_str()),
            "name": [{ "family": user.family, "given": user.given }],
        }),
    );
    add(
        org_url,
        json!({
            "resourceType": "Organization",
            "identifier": hsa(user.organisation_hsa_id.as_str()),
            "name": user.organisation,
            "address": [{ "country": "SE" }],
        }),
    );
    Ok(json!({ "resourceType": "Bundle", "type": "collection", "entry": entries }))
}

fn request_url(source: &Value, request: &Value) -> Option<String> {
    source["entry"].as_array().and_then(|es| {
        es.iter()
            .find(|e| {
                e["resource"]["id"] == request["id"]
                    && e["resource"]["resourceType"] == "MedicationRequest"
            })
            .and_then(|e| e["fullUrl"].as_str().map(str::to_owned))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_ids_become_identifiers() {
        assert_eq!(
            master_identifier("1.2.3.4"),
            json!({"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3.4"})
        );
        assert_eq!(
            master_identifier("1.2.3^PS-7"),
            json!({"system": "urn:oid:1.2.3", "value": "PS-7"})
        );
        assert_eq!(master_identifier("abc"), json!({"value": "abc"}));
    }
}
