//! The National Connector API: the country A operations as a tonic gRPC service mirroring
//! OpenNCP's national connector SPI, so a country that keeps OpenNCP as its gateway can use
//! this bridge as its Swedish back end.
//!
//! | RPC                  | OpenNCP                                      | `CountryA`                |
//! |----------------------|----------------------------------------------|---------------------------|
//! | `PatientSearch`      | `PatientSearchInterface.patientSearch`       | `identify_patient`        |
//! | `GetEPDocumentList`  | `DocumentSearchInterface.getEPDocumentList`  | `list_prescriptions`      |
//! | `GetPSDocumentList`  | `DocumentSearchInterface.getPSDocumentList`  | `list_patient_summary`    |
//! | `GetDocument`        | `DocumentSearchInterface.getDocument`        | `retrieve`, `retrieve_patient_summary` |
//! | `SubmitDispensation` | `DocumentSubmitInterface.submitDispensation` | `submit_dispensation`     |
//! | `CancelDispensation` | `DocumentSubmitInterface.cancelDispensation` | `discard_dispensation`    |
//!
//! Each call is a thin adapter like the SOAP endpoints of [`crate::endpoints`]: the HCP (and
//! TRC) assertions the gateway received are put in a SOAP envelope ([`assertions_envelope`])
//! and verified by [`security::verify_assertions_cached`] for the transaction (with the
//! verified-assertion cache the SOAP endpoints share, so a gateway resending a session's
//! assertions pays for the signature checks once) → the request's
//! patient must be the TRC assertion's → [`CountryA`](crate::country_a::CountryA) → the
//! audit event, durably → the answer.
//!
//! Unlike the SOAP endpoints, the caller of this service is the gateway, not the foreign NCP:
//! there is no TLS peer to compare with the assertions' signer. The listener must therefore
//! only admit the gateway (mutual TLS with its certificate, or a private network); the
//! assertions are still verified in full against this bridge's own trust list.
//!
//! A call whose assertions are refused has no verified caller; it is audited as a
//! [`RefusedRequest`] (the RPC, the connection's peer, the eHDSI code; nothing from the
//! request), in the same trail. Messages tonic cannot decode never reach this service and are
//! not audited here.
//!
//! Errors are gRPC statuses carrying the eHDSI code ([`status`]). Nothing here logs patient
//! identifiers, names or documents.

mod envelope;
pub mod status;

use std::sync::Arc;

use chrono::Utc;
use ncp_types::Oid;
use tonic::{Request, Response, Status};

use crate::audit::{RefusalClass, RefusedRequest, TlsPeer};
use crate::country_a::{
    patient_summary, Ack, AuditEvent, IdentifiedPatient, IdentifyOutcome, Refusal,
};
use crate::endpoints::CountryAEndpoints;
use crate::ihe::errors::EhdsiError;
use crate::ihe::metadata::{codes, DocumentEntry};
use crate::ihe::xcpd::Gender;
use crate::ihe::PatientIdentifier;
use crate::security::{self, PatientRef, Transaction, VerifiedCaller};

pub use envelope::assertions_envelope;
pub use status::{ehdsi_code, EHDSI_CODE_KEY};

/// The generated messages, client and server of `proto/national_connector.proto`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    tonic::include_proto!("ncp.national_connector.v1");
}

use proto::national_connector_server::NationalConnectorServer;

/// The LOINC class code of an eDispensation (and of its discard).
const CLASS_EDISPENSATION: &str = "60593-1";

/// The gRPC service over the country A service, its signing trust and policy, and its audit
/// sink (shared with the SOAP endpoints).
#[derive(Clone)]
pub struct NationalConnector {
    ep: Arc<CountryAEndpoints>,
}

impl std::fmt::Debug for NationalConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NationalConnector").finish_non_exhaustive()
    }
}

impl NationalConnector {
    /// Over what the SOAP endpoints use: the same service, trust list, policy and audit sink.
    pub fn new(ep: Arc<CountryAEndpoints>) -> Self {
        NationalConnector { ep }
    }

    /// Verifies the assertions for `needs` (the whole security layer, unchanged), answering
    /// assertions verified before from the endpoints' [`security::VerificationCache`]. A
    /// refusal is audited as a [`RefusedRequest`] (the connection's peer, the RPC and the
    /// eHDSI code; nothing from the request).
    async fn verify(
        &self,
        hcp: &[u8],
        trc: &[u8],
        needs: Transaction,
        rpc: &'static str,
        call: &Call,
    ) -> Result<VerifiedCaller, Status> {
        let result = assertions_envelope(hcp, trc).and_then(|envelope| {
            security::verify_assertions_cached(
                &envelope,
                &self.ep.trust,
                &self.ep.verified,
                &self.ep.policy,
                Utc::now(),
                needs,
            )
        });
        let e = match result {
            Ok(caller) => return Ok(caller),
            Err(e) => e,
        };
        tracing::info!(rpc, code = e.ehdsi_code(), reason = %e, "national connector: assertions refused");
        let code = EhdsiError::from_code(e.ehdsi_code()).unwrap_or(EhdsiError::ErrorSecGeneric);
        let record = RefusedRequest::new(
            call.endpoint,
            RefusalClass::Assertion,
            Some(code),
            call.peer.clone(),
            self.ep.responding.clone(),
        )
        .attempting(crate::country_a::audit::event_type(needs))
        .with_message_id(call.message_id.as_deref());
        if let Err(err) = self.ep.refusals.append_refusal(&record).await {
            tracing::error!(error = %err, rpc, "audit trail write of a refusal failed");
        }
        Err(status::security_status(&e))
    }

    /// Writes the audit event; no answer leaves when this fails.
    async fn audit(&self, event: &AuditEvent) -> Result<(), Status> {
        self.ep.audit.append(event).await.map_err(|e| {
            tracing::error!(error = %e, transaction = ?event.transaction, "audit trail write failed: response withheld");
            status::ehdsi_status_as(
                tonic::Code::Unavailable,
                EhdsiError::ErrorGeneric,
                Some("the audit trail could not be written; please retry"),
            )
        })
    }

    /// A document-list request's caller, its audit event and its patient (checked against the
    /// TRC assertion), or the refusal (audited).
    async fn document_list_request(
        &self,
        request: Request<proto::DocumentListRequest>,
        needs: Transaction,
        rpc: &'static str,
    ) -> Result<(VerifiedCaller, AuditEvent, PatientIdentifier), Status> {
        let ip = source_ip(&request);
        let call = Call::of(&request, grpc_endpoint(rpc), &request.get_ref().message_id);
        let req = request.into_inner();
        let caller = self
            .verify(&req.hcp_assertion, &req.trc_assertion, needs, rpc, &call)
            .await?;
        let mut event = AuditEvent::of(&caller, message_id(&req.message_id)).from_address(ip);
        let Some(patient) = patient(req.patient_id.as_ref()) else {
            return Err(self
                .refuse(
                    event,
                    EhdsiError::UnknownFilter,
                    Some("patient_id is missing or invalid"),
                    rpc,
                )
                .await);
        };
        event.patient = Some(patient_ref(&patient));
        if let Err(e) = check_trc(&caller, &patient) {
            return Err(self.refuse(event, e, None, rpc).await);
        }
        Ok((caller, event, patient))
    }

    /// Audits `event` as failed with `e` and answers with its status.
    async fn refuse(
        &self,
        event: AuditEvent,
        e: EhdsiError,
        detail: Option<&str>,
        rpc: &'static str,
    ) -> Status {
        self.refuse_as(event, status::grpc_code(e), e, detail, rpc)
            .await
    }

    /// [`NationalConnector::refuse`] with another gRPC code than `e`'s usual one.
    async fn refuse_as(
        &self,
        event: AuditEvent,
        grpc: tonic::Code,
        e: EhdsiError,
        detail: Option<&str>,
        rpc: &'static str,
    ) -> Status {
        tracing::info!(rpc, code = e.code(), "national connector: refused");
        let event = event.failed(e);
        match self.audit(&event).await {
            Ok(()) => status::ehdsi_status_as(grpc, e, detail),
            Err(s) => s,
        }
    }

    /// Audits a refusal of the service (its reason and prescription for the audit trail only).
    async fn refuse_with(&self, mut event: AuditEvent, r: Refusal, rpc: &'static str) -> Status {
        if let Some(rx) = &r.prescription {
            event.objects.push(rx.as_str().to_owned());
        }
        event.reason = r.reason.map(str::to_owned);
        self.refuse(event, r.error, None, rpc).await
    }
}

/// The caller's remote address, from the mutual-TLS listener's [`crate::server::Peer`] (for
/// the audit trail).
fn source_ip<T>(request: &Request<T>) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<crate::server::Peer>()
        .and_then(|p| p.remote)
        .map(|a| a.ip())
}

/// What is known for sure about a call before its assertions are verified (for the audit of
/// a refusal): the RPC, the connection's peer and the request's message id.
struct Call {
    endpoint: &'static str,
    peer: TlsPeer,
    message_id: Option<String>,
}

impl Call {
    fn of<T>(request: &Request<T>, endpoint: &'static str, message_id: &str) -> Call {
        Call {
            endpoint,
            peer: request
                .extensions()
                .get::<crate::server::Peer>()
                .map(TlsPeer::from)
                .unwrap_or_default(),
            message_id: self::message_id(message_id).map(str::to_owned),
        }
    }
}

/// The gRPC server of the National Connector API over the SOAP endpoints' service, trust,
/// policy and audit sink, accepting messages up to their body limit.
pub fn service(ep: Arc<CountryAEndpoints>) -> NationalConnectorServer<NationalConnector> {
    let limit = ep.limits.max_bytes;
    NationalConnectorServer::new(NationalConnector::new(ep)).max_decoding_message_size(limit)
}

/// The audit trail's name of an RPC's endpoint (one of [`crate::audit::refusal::ENDPOINTS`]).
fn grpc_endpoint(rpc: &str) -> &'static str {
    match rpc {
        "PatientSearch" => "grpc:PatientSearch",
        "GetEPDocumentList" => "grpc:GetEPDocumentList",
        "GetPSDocumentList" => "grpc:GetPSDocumentList",
        "GetDocument" => "grpc:GetDocument",
        "SubmitDispensation" => "grpc:SubmitDispensation",
        _ => "grpc:CancelDispensation",
    }
}

fn message_id(id: &str) -> Option<&str> {
    let id = id.trim();
    (!id.is_empty()).then_some(id)
}

/// A request's patient identifier; `None` when absent or not an OID-rooted identifier.
fn patient(p: Option<&proto::PatientId>) -> Option<PatientIdentifier> {
    let p = p?;
    let root = p.root.trim();
    let root = Oid::parse(root.strip_prefix("urn:oid:").unwrap_or(root)).ok()?;
    let ext = p.extension.trim();
    (!ext.is_empty()).then(|| PatientIdentifier::new(root, ext))
}

fn patient_ref(p: &PatientIdentifier) -> PatientRef {
    PatientRef::new(p.root.clone(), p.extension.clone())
}

fn patient_id(p: &PatientIdentifier) -> proto::PatientId {
    proto::PatientId {
        root: p.root.as_str().to_owned(),
        extension: p.extension.clone(),
    }
}

/// The request's patient against the TRC assertion's (`4206`, or `4702` without TRC).
fn check_trc(caller: &VerifiedCaller, p: &PatientIdentifier) -> Result<(), EhdsiError> {
    security::check_trc_patient(caller, &patient_ref(p))
        .map_err(|e| EhdsiError::from_code(e.ehdsi_code()).unwrap_or(EhdsiError::ErrorSecGeneric))
}

fn demographics(p: &IdentifiedPatient) -> proto::PatientDemographics {
    let ids = Oid::parse(p.id.system_oid())
        .ok()
        .map(|root| proto::PatientId {
            root: root.as_str().to_owned(),
            extension: p.id.as_str().to_owned(),
        })
        .into_iter()
        .collect();
    let gender = match p.gender {
        Some(Gender::Male) => proto::Gender::Male,
        Some(Gender::Female) => proto::Gender::Female,
        Some(Gender::Undifferentiated) => proto::Gender::Undifferentiated,
        None => proto::Gender::Unspecified,
    };
    proto::PatientDemographics {
        ids,
        given_names: p.given.clone(),
        family_names: p.family.clone(),
        gender: gender as i32,
        birth_date: p
            .birth_date
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        street_address: p.street.clone().unwrap_or_default(),
        city: p.city.clone().unwrap_or_default(),
        postal_code: p.postal_code.clone().unwrap_or_default(),
        country: p.country.clone().unwrap_or_else(|| "SE".to_owned()),
    }
}

fn code(c: &crate::ihe::Code) -> proto::Code {
    proto::Code {
        code: c.code.clone(),
        scheme: c.scheme.clone(),
        display: c.display.clone(),
    }
}

fn metadata(e: &DocumentEntry) -> proto::DocumentMetaData {
    let ep = e.eprescription.as_ref();
    proto::DocumentMetaData {
        id: e.unique_id.clone(),
        patient_id: Some(patient_id(&e.patient)),
        repository_id: e.repository_unique_id.as_str().to_owned(),
        home_community_id: e.home_community_id.as_str().to_owned(),
        class_code: Some(code(&e.class_code)),
        type_code: Some(code(&e.type_code)),
        format_code: Some(code(&e.format_code)),
        confidentiality_code: Some(code(&e.confidentiality_code)),
        mime_type: e.mime_type.clone(),
        language: e.language_code.clone(),
        title: e.title.clone(),
        description: e.description.clone().unwrap_or_default(),
        creation_time: e.creation_time.clone(),
        author: e.author_person.clone().unwrap_or_default(),
        size: e.size.unwrap_or_default(),
        hash: e.hash.clone().unwrap_or_default(),
        atc_code: ep.and_then(|m| m.atc.as_ref()).map(code),
        dose_form: ep.and_then(|m| m.dose_form.as_ref()).map(code),
        strength: ep.and_then(|m| m.strength.clone()).unwrap_or_default(),
        substitution: ep.and_then(|m| m.substitution.as_ref()).map(code),
        dispensable: ep.is_some_and(|m| m.dispensable),
    }
}

fn ack(a: Ack) -> proto::DispensationAck {
    proto::DispensationAck {
        prescription_ids: a
            .prescriptions
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
        dispensation_ids: a
            .dispensations
            .iter()
            .map(|d| d.as_str().to_owned())
            .collect(),
        already_recorded: u32::try_from(a.already_recorded).unwrap_or(u32::MAX),
        queued: a.queued,
    }
}

/// The eDispensation (or discard) of a submit or cancel request.
enum Submission {
    Dispensation,
    Discard,
}

impl NationalConnector {
    async fn submit(
        &self,
        kind: Submission,
        hcp: &[u8],
        trc: &[u8],
        msg: &str,
        document: Option<proto::EpsosDocument>,
        call: Call,
    ) -> Result<proto::DispensationAck, Status> {
        let ip = call.peer.remote_ip;
        let (needs, rpc) = match kind {
            Submission::Dispensation => (Transaction::SubmitDispensation, "SubmitDispensation"),
            Submission::Discard => (Transaction::DiscardDispensation, "CancelDispensation"),
        };
        let caller = self.verify(hcp, trc, needs, rpc, &call).await?;
        let mut event = AuditEvent::of(&caller, message_id(msg)).from_address(ip);
        let Some(doc) = document.filter(|d| !d.document.is_empty()) else {
            return Err(self
                .refuse(
                    event,
                    EhdsiError::PivotDataMissing,
                    Some("no document"),
                    rpc,
                )
                .await);
        };
        let Some(patient) = patient(doc.patient_id.as_ref()) else {
            return Err(self
                .refuse(
                    event,
                    EhdsiError::ErrorEdGeneric,
                    Some("the document's patient_id is missing or invalid"),
                    rpc,
                )
                .await);
        };
        event.patient = Some(patient_ref(&patient));
        if let Some(id) = message_id(&doc.document_id) {
            event.objects.push(id.to_owned());
        }
        let class = doc.class_code.trim();
        if !class.is_empty() && class != CLASS_EDISPENSATION {
            return Err(self
                .refuse(
                    event,
                    EhdsiError::ErrorEdGeneric,
                    Some("class_code is not that of an eDispensation (60593-1)"),
                    rpc,
                )
                .await);
        }
        if let Err(e) = check_trc(&caller, &patient) {
            return Err(self.refuse(event, e, None, rpc).await);
        }
        let outcome = match kind {
            Submission::Dispensation => {
                self.ep
                    .service
                    .submit_dispensation(&caller, &patient, &doc.document)
                    .await
            }
            Submission::Discard => {
                self.ep
                    .service
                    .discard_dispensation(&caller, &patient, &doc.document)
                    .await
            }
        };
        match outcome {
            Ok(a) => {
                event
                    .objects
                    .extend(a.prescriptions.iter().map(|p| p.as_str().to_owned()));
                event
                    .objects
                    .extend(a.dispensations.iter().map(|d| d.as_str().to_owned()));
                if a.already_recorded > 0 {
                    event.reason = Some("already recorded".into());
                }
                self.audit(&event).await?;
                Ok(ack(a))
            }
            Err(r) => Err(self.refuse_with(event, r, rpc).await),
        }
    }
}

#[tonic::async_trait]
impl proto::national_connector_server::NationalConnector for NationalConnector {
    async fn patient_search(
        &self,
        request: Request<proto::PatientSearchRequest>,
    ) -> Result<Response<proto::PatientSearchResponse>, Status> {
        const RPC: &str = "PatientSearch";
        let ip = source_ip(&request);
        let call = Call::of(&request, grpc_endpoint(RPC), &request.get_ref().message_id);
        let req = request.into_inner();
        let caller = self
            .verify(
                &req.hcp_assertion,
                &req.trc_assertion,
                Transaction::IdentifyPatient,
                RPC,
                &call,
            )
            .await?;
        let mut event = AuditEvent::of(&caller, message_id(&req.message_id)).from_address(ip);
        let mut ids = Vec::with_capacity(req.patient_ids.len());
        for p in &req.patient_ids {
            match patient(Some(p)) {
                Some(id) => ids.push(id),
                None => {
                    return Err(self
                        .refuse_as(
                            event,
                            tonic::Code::InvalidArgument,
                            EhdsiError::ErrorPiGeneric,
                            Some("a patient id without an OID root or an extension"),
                            RPC,
                        )
                        .await)
                }
            }
        }
        event.patient = ids.first().map(patient_ref);
        if ids.is_empty() {
            return Err(self
                .refuse_as(
                    event,
                    tonic::Code::InvalidArgument,
                    EhdsiError::ErrorPiGeneric,
                    Some("queries are only available with patient identifiers"),
                    RPC,
                )
                .await);
        }
        let patients = match self.ep.service.identify_patient(&caller, &ids).await {
            IdentifyOutcome::Match(p) => {
                let found = demographics(&p);
                event.patient = found
                    .ids
                    .first()
                    .and_then(|i| patient(Some(i)))
                    .map(|i| patient_ref(&i));
                vec![found]
            }
            IdentifyOutcome::NoMatch(reason) => {
                event.reason = Some(reason.as_str().to_owned());
                event = event.failed(EhdsiError::ErrorPiNoMatch);
                Vec::new()
            }
            IdentifyOutcome::Unavailable => {
                return Err(self
                    .refuse(
                        event,
                        EhdsiError::ErrorPiGeneric,
                        Some("the national patient services could not be reached; please retry"),
                        RPC,
                    )
                    .await);
            }
        };
        self.audit(&event).await?;
        Ok(Response::new(proto::PatientSearchResponse { patients }))
    }

    async fn get_ep_document_list(
        &self,
        request: Request<proto::DocumentListRequest>,
    ) -> Result<Response<proto::EpDocumentListResponse>, Status> {
        const RPC: &str = "GetEPDocumentList";
        let (caller, mut event, patient) = self
            .document_list_request(request, Transaction::FindPrescriptions, RPC)
            .await?;
        let docs = match self.ep.service.list_prescriptions(&caller, &patient).await {
            Ok(d) => d,
            Err(r) => return Err(self.refuse_with(event, r, RPC).await),
        };
        event.objects = docs
            .iter()
            .flat_map(|d| [d.l3.unique_id.clone(), d.l1.unique_id.clone()])
            .collect();
        self.audit(&event).await?;
        let documents = docs
            .iter()
            .map(|d| proto::EpDocumentAssociation {
                prescription_id: d.prescription.as_str().to_owned(),
                xml: Some(metadata(&d.l3)),
                pdf: Some(metadata(&d.l1)),
            })
            .collect();
        Ok(Response::new(proto::EpDocumentListResponse { documents }))
    }

    async fn get_ps_document_list(
        &self,
        request: Request<proto::DocumentListRequest>,
    ) -> Result<Response<proto::EpDocumentListResponse>, Status> {
        const RPC: &str = "GetPSDocumentList";
        let (caller, mut event, patient) = self
            .document_list_request(request, Transaction::FindPatientSummary, RPC)
            .await?;
        let list = match self
            .ep
            .service
            .list_patient_summary(&caller, &patient)
            .await
        {
            Ok(l) => l,
            Err(r) => return Err(self.refuse_with(event, r, RPC).await),
        };
        // A patient without data and a blocked one: the same empty list; the audit trail
        // keeps the reason.
        event.reason = list.reason;
        event.objects = list.entries.iter().map(|e| e.unique_id.clone()).collect();
        self.audit(&event).await?;
        let xml = list
            .entries
            .iter()
            .find(|e| e.transformation_of.is_none())
            .map(metadata);
        let pdf = list
            .entries
            .iter()
            .find(|e| e.transformation_of.is_some())
            .map(metadata);
        let documents = if xml.is_some() || pdf.is_some() {
            vec![proto::EpDocumentAssociation {
                prescription_id: String::new(),
                xml,
                pdf,
            }]
        } else {
            Vec::new()
        };
        Ok(Response::new(proto::EpDocumentListResponse { documents }))
    }

    async fn get_document(
        &self,
        request: Request<proto::GetDocumentRequest>,
    ) -> Result<Response<proto::EpsosDocument>, Status> {
        const RPC: &str = "GetDocument";
        let ip = source_ip(&request);
        let call = Call::of(&request, grpc_endpoint(RPC), &request.get_ref().message_id);
        let req = request.into_inner();
        let summary = patient_summary::parse_summary_id(
            &self.ep.service.entries_document_root(),
            req.document_id.trim(),
        )
        .is_some();
        let needs = if summary {
            Transaction::RetrievePatientSummary
        } else {
            Transaction::RetrievePrescriptions
        };
        let caller = self
            .verify(&req.hcp_assertion, &req.trc_assertion, needs, RPC, &call)
            .await?;
        let mut event = AuditEvent::of(&caller, message_id(&req.message_id)).from_address(ip);
        let patient = match &req.patient_id {
            Some(p) => patient(Some(p)),
            // Like ITI-39: no patient named, the documents must be the TRC patient's.
            None => caller
                .trc_patient()
                .map(|t| PatientIdentifier::new(t.root.clone(), t.extension.clone())),
        };
        let Some(patient) = patient else {
            let e = if req.patient_id.is_some() {
                EhdsiError::UnknownFilter
            } else {
                EhdsiError::WeakAuthentication
            };
            return Err(self
                .refuse(event, e, Some("no valid patient_id"), RPC)
                .await);
        };
        event.patient = Some(patient_ref(&patient));
        if let Err(e) = check_trc(&caller, &patient) {
            return Err(self.refuse(event, e, None, RPC).await);
        }
        let repository = req.repository_id.trim();
        let repository = repository.strip_prefix("urn:oid:").unwrap_or(repository);
        if !repository.is_empty() && repository != self.ep.service.repository_unique_id().as_str() {
            return Err(self
                .refuse(
                    event,
                    EhdsiError::ErrorDocumentMissing,
                    Some("unknown repository_id"),
                    RPC,
                )
                .await);
        }
        let unique_id = req.document_id.trim();
        if summary {
            let doc = match self
                .ep
                .service
                .retrieve_patient_summary(&caller, &patient, unique_id)
                .await
            {
                Ok(d) => d,
                Err(r) => return Err(self.refuse_with(event, r, RPC).await),
            };
            event.objects.push(doc.unique_id.clone());
            event.reason = doc.reason;
            self.audit(&event).await?;
            return Ok(Response::new(proto::EpsosDocument {
                patient_id: Some(patient_id(&patient)),
                class_code: codes::CLASS_PATIENT_SUMMARY.to_owned(),
                document_id: doc.unique_id,
                mime_type: doc.mime_type,
                document: doc.bytes,
            }));
        }
        let doc = match self.ep.service.retrieve(&caller, &patient, unique_id).await {
            Ok(d) => d,
            Err(r) => return Err(self.refuse_with(event, r, RPC).await),
        };
        event.objects.push(doc.unique_id.clone());
        self.audit(&event).await?;
        tracing::debug!(
            rpc = RPC,
            level = ?doc.level,
            len = doc.bytes.len(),
            "national connector: document served"
        );
        Ok(Response::new(proto::EpsosDocument {
            patient_id: Some(patient_id(&patient)),
            class_code: codes::CLASS_EPRESCRIPTION.to_owned(),
            document_id: doc.unique_id,
            mime_type: doc.mime_type,
            document: doc.bytes,
        }))
    }

    async fn submit_dispensation(
        &self,
        request: Request<proto::SubmitDispensationRequest>,
    ) -> Result<Response<proto::DispensationAck>, Status> {
        let call = Call::of(
            &request,
            "grpc:SubmitDispensation",
            &request.get_ref().message_id,
        );
        let req = request.into_inner();
        self.submit(
            Submission::Dispensation,
            &req.hcp_assertion,
            &req.trc_assertion,
            &req.message_id,
            req.document,
            call,
        )
        .await
        .map(Response::new)
    }

    async fn cancel_dispensation(
        &self,
        request: Request<proto::CancelDispensationRequest>,
    ) -> Result<Response<proto::DispensationAck>, Status> {
        let call = Call::of(
            &request,
            "grpc:CancelDispensation",
            &request.get_ref().message_id,
        );
        let req = request.into_inner();
        self.submit(
            Submission::Discard,
            &req.hcp_assertion,
            &req.trc_assertion,
            &req.message_id,
            req.document,
            call,
        )
        .await
        .map(Response::new)
    }
}
