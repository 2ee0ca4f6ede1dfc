//! ITI-38 (list the patient's ePrescriptions or Patient Summary) and ITI-39 (retrieve them).

use axum::response::Response;

use super::{audit, check_trc, patient_ref, respond, verify, CountryAEndpoints};
use crate::country_a::{patient_summary, AuditEvent};
use crate::ihe::errors::{EhdsiError, RegistryError, XdsError};
use crate::ihe::metadata::{codes, DocumentEntry, STATUS_APPROVED};
use crate::ihe::xca::{self, RetrievedDocument, ReturnType, Transfer};
use crate::ihe::PatientIdentifier;
use crate::security::Transaction;
use crate::server::Peer;
use crate::soap::{self, SoapRequest};

/// What a FindDocuments query asks for, by its class codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    EPrescription,
    PatientSummary,
    Unknown,
}

fn asked(q: &xca::FindDocumentsQuery) -> Asked {
    let has = |c: &str| q.class_codes.iter().any(|x| x.code == c);
    if q.class_codes.is_empty() || has(codes::CLASS_EPRESCRIPTION) {
        Asked::EPrescription
    } else if has(codes::CLASS_PATIENT_SUMMARY) {
        Asked::PatientSummary
    } else {
        Asked::Unknown
    }
}

fn query_response(
    req: &SoapRequest,
    entries: &[DocumentEntry],
    errors: &[RegistryError],
    rt: ReturnType,
) -> Response {
    respond(
        req,
        soap::Transaction::CrossGatewayQuery,
        xca::build_query_response(entries, errors, rt),
        Vec::new(),
    )
}

pub(super) async fn query(ep: &CountryAEndpoints, peer: &Peer, req: &SoapRequest) -> Response {
    let location = ep.service.home_community_id().to_urn();
    let q = match xca::parse_query(&req.body) {
        Ok(q) => q,
        Err(e) => {
            // Answer only an authenticated requester, even about its malformed query.
            let caller = match verify(ep, peer, req, Transaction::FindPrescriptions).await {
                Ok(c) => c,
                Err(r) => return r,
            };
            let event = AuditEvent::of(&caller, req.addressing.message_id.as_deref())
                .from_address(peer.remote.map(|a| a.ip()))
                .failed(EhdsiError::ErrorGeneric);
            if let Err(r) = audit(ep, req, &event).await {
                return r;
            }
            let err = e.registry_error().with_location(location);
            return query_response(req, &[], &[err], ReturnType::LeafClass);
        }
    };
    let kind = asked(&q);
    let needs = match kind {
        Asked::PatientSummary => Transaction::FindPatientSummary,
        _ => Transaction::FindPrescriptions,
    };
    let caller = match verify(ep, peer, req, needs).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut event = AuditEvent::of(&caller, req.addressing.message_id.as_deref())
        .from_address(peer.remote.map(|a| a.ip()));
    event.patient = Some(patient_ref(&q.patient));
    let elsewhere = q
        .home_community_id
        .as_ref()
        .is_some_and(|h| h != ep.service.home_community_id());
    let (entries, errors) = if elsewhere {
        // Addressed to another community: not ours to answer (ITI-38 XDSUnknownCommunity).
        event = event.failed(EhdsiError::ErrorGeneric);
        let err = RegistryError::xds(XdsError::XdsUnknownCommunity, "Unknown home community id");
        (Vec::new(), vec![err])
    } else {
        match answer(ep, &caller, &q, kind).await {
            Ok((entries, reason)) => {
                event.reason = reason;
                if entries.is_empty() {
                    // The same answer for a patient without data and a blocked one.
                    let none = match kind {
                        Asked::PatientSummary => EhdsiError::PatientSummaryNotFound,
                        _ => EhdsiError::EPrescriptionsNotFound,
                    };
                    (entries, vec![RegistryError::ehdsi(none)])
                } else {
                    (entries, Vec::new())
                }
            }
            Err((e, reason)) => {
                event = event.failed(e);
                event.reason = reason;
                (Vec::new(), vec![registry_error(e)])
            }
        }
    };
    event.objects = entries.iter().map(|e| e.unique_id.clone()).collect();
    if let Err(r) = audit(ep, req, &event).await {
        return r;
    }
    let errors: Vec<RegistryError> = errors
        .into_iter()
        .map(|e| e.with_location(location.clone()))
        .collect();
    query_response(req, &entries, &errors, q.return_type)
}

fn registry_error(e: EhdsiError) -> RegistryError {
    match e {
        EhdsiError::ErrorPsGeneric => RegistryError::ehdsi(e)
            .with_context("The Patient Summary could not be compiled now; please retry"),
        other => RegistryError::ehdsi(other),
    }
}

/// The entries answering `q`, with the audit reason; or the error, with its audit reason.
async fn answer(
    ep: &CountryAEndpoints,
    caller: &crate::security::VerifiedCaller,
    q: &xca::FindDocumentsQuery,
    kind: Asked,
) -> Result<(Vec<DocumentEntry>, Option<String>), (EhdsiError, Option<String>)> {
    check_trc(caller, &q.patient).map_err(|e| (e, None))?;
    if matches!(kind, Asked::Unknown) {
        return Err((EhdsiError::UnknownSignifier, None));
    }
    if !q.statuses.iter().any(|s| s.trim() == STATUS_APPROVED) {
        return Ok((Vec::new(), None));
    }
    let (entries, reason) = match kind {
        Asked::PatientSummary => {
            let list = ep
                .service
                .list_patient_summary(caller, &q.patient)
                .await
                .map_err(|r| (r.error, r.reason.map(str::to_owned)))?;
            (list.entries, list.reason)
        }
        _ => {
            let docs = ep
                .service
                .list_prescriptions(caller, &q.patient)
                .await
                .map_err(|r| (r.error, r.reason.map(str::to_owned)))?;
            (docs.into_iter().flat_map(|d| [d.l3, d.l1]).collect(), None)
        }
    };
    let wanted = |e: &DocumentEntry| {
        q.format_codes.is_empty()
            || q.format_codes
                .iter()
                .any(|f| f.code.eq_ignore_ascii_case(&e.format_code.code))
    };
    Ok((entries.into_iter().filter(wanted).collect(), reason))
}

pub(super) async fn retrieve(ep: &CountryAEndpoints, peer: &Peer, req: &SoapRequest) -> Response {
    let transfer = if req.mtom {
        Transfer::Mtom
    } else {
        Transfer::Inline
    };
    let seed = uuid::Uuid::new_v4().to_string();
    let location = ep.service.home_community_id().to_urn();
    let respond_with = |docs: &[RetrievedDocument], errors: &[RegistryError]| {
        let errors: Vec<RegistryError> = errors
            .iter()
            .cloned()
            .map(|e| e.with_location(location.clone()))
            .collect();
        let out = xca::build_retrieve_response(docs, &errors, transfer, &seed);
        respond(
            req,
            soap::Transaction::CrossGatewayRetrieve,
            out.body,
            out.attachments,
        )
    };
    let parsed = xca::parse_retrieve(&req.body);
    // A Patient Summary needs the summary permissions, a prescription its own; both when both
    // are asked for.
    let root = &ep.service.entries_document_root();
    let is_summary = |d: &xca::DocumentRequest| {
        patient_summary::parse_summary_id(root, &d.document_unique_id).is_some()
    };
    let (summaries, others) = match &parsed {
        Ok(r) => (
            r.documents.iter().any(is_summary),
            r.documents.iter().any(|d| !is_summary(d)),
        ),
        Err(_) => (false, true),
    };
    let needs = if summaries {
        Transaction::RetrievePatientSummary
    } else {
        Transaction::RetrievePrescriptions
    };
    let caller = match verify(ep, peer, req, needs).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if summaries && others {
        if let Err(r) = verify(ep, peer, req, Transaction::RetrievePrescriptions).await {
            return r;
        }
    }
    let mut event = AuditEvent::of(&caller, req.addressing.message_id.as_deref())
        .from_address(peer.remote.map(|a| a.ip()));
    let r = match parsed {
        Ok(r) => r,
        Err(e) => {
            event = event.failed(EhdsiError::ErrorGeneric);
            if let Err(resp) = audit(ep, req, &event).await {
                return resp;
            }
            let err = RegistryError::xds(XdsError::XdsRegistryError, e.to_string());
            return respond_with(&[], &[err]);
        }
    };
    // ITI-39 names no patient: the documents must be the TRC assertion's patient's.
    let Some(trc) = caller.trc_patient() else {
        return respond_with(&[], &[RegistryError::ehdsi(EhdsiError::WeakAuthentication)]);
    };
    let patient = PatientIdentifier::new(trc.root.clone(), trc.extension.clone());
    event.patient = Some(patient_ref(&patient));
    let ours = ep.service.home_community_id();
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for d in &r.documents {
        if d.home_community_id.as_ref().is_some_and(|h| h != ours) {
            errors.push(RegistryError::xds(
                XdsError::XdsUnknownCommunity,
                "Unknown HomeCommunityId",
            ));
            continue;
        }
        if &d.repository_unique_id != ep.service.repository_unique_id() {
            errors.push(RegistryError::xds(
                XdsError::XdsUnknownRepositoryId,
                "Unknown RepositoryUniqueId",
            ));
            continue;
        }
        // Both kinds answer alike; only a Patient Summary may carry an audit reason.
        let retrieved = if is_summary(d) {
            ep.service
                .retrieve_patient_summary(&caller, &patient, &d.document_unique_id)
                .await
                .map(|doc| (doc.reason, doc.unique_id, doc.mime_type, doc.bytes))
        } else {
            ep.service
                .retrieve(&caller, &patient, &d.document_unique_id)
                .await
                .map(|doc| (None, doc.unique_id, doc.mime_type, doc.bytes))
        };
        match retrieved {
            Ok((reason, unique_id, mime_type, bytes)) => {
                if reason.is_some() {
                    event.reason = reason;
                }
                event.objects.push(unique_id.clone());
                docs.push(RetrievedDocument {
                    home_community_id: ours.clone(),
                    repository_unique_id: ep.service.repository_unique_id().clone(),
                    document_unique_id: unique_id,
                    mime_type,
                    bytes,
                });
            }
            Err(refusal) => {
                if let Some(reason) = refusal.reason {
                    event.reason = Some(reason.to_owned());
                }
                errors.push(RegistryError::ehdsi(refusal.error).with_context(format!(
                    "{}: {}",
                    d.document_unique_id,
                    refusal.error.description()
                )));
            }
        }
    }
    if let Some(first) = errors.first() {
        if let crate::ihe::errors::ErrorCode::Ehdsi(e) = first.code {
            if docs.is_empty() {
                event = event.failed(e);
            }
        } else if docs.is_empty() {
            event = event.failed(EhdsiError::ErrorGeneric);
        }
    }
    if let Err(resp) = audit(ep, req, &event).await {
        return resp;
    }
    respond_with(&docs, &errors)
}
