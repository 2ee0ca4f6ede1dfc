//! ITI-41: an eDispensation of a Swedish prescription, or its discard, recorded in NLL.
//!
//! The dispensation is recorded synchronously before the acknowledgement (the durable outbox
//! is not yet wired): the requester gets `Success` only once NLL holds it.

use axum::response::Response;

use super::{audit, check_trc, patient_ref, respond, verify, CountryAEndpoints};
use crate::country_a::AuditEvent;
use crate::ihe::errors::{EhdsiError, RegistryError};
use crate::ihe::xdr::{self, DocumentKind, SubmissionKind};
use crate::security::Transaction;
use crate::server::Peer;
use crate::soap::{self, SoapRequest};

fn registry_response(req: &SoapRequest, errors: &[RegistryError]) -> Response {
    respond(
        req,
        soap::Transaction::ProvideAndRegisterDocumentSet,
        xdr::build_registry_response(errors),
        Vec::new(),
    )
}

pub(super) async fn handle(ep: &CountryAEndpoints, peer: &Peer, req: &SoapRequest) -> Response {
    let location = ep.service.home_community_id().to_urn();
    let parsed = xdr::parse_provide_and_register(&req.body, &req.attachments)
        .map_err(|e| e.registry_error())
        .and_then(|p| p.kind().map(|k| (p, k)));
    let needs = match &parsed {
        Ok((_, SubmissionKind::DispensationDiscard)) => Transaction::DiscardDispensation,
        _ => Transaction::SubmitDispensation,
    };
    let caller = match verify(ep, peer, req, needs).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut event = AuditEvent::of(&caller, req.addressing.message_id.as_deref())
        .from_address(peer.remote.map(|a| a.ip()));
    let (submission, kind) = match parsed {
        Ok(p) => p,
        Err(err) => {
            event = event.failed(EhdsiError::ErrorEdGeneric);
            if let Err(r) = audit(ep, req, &event).await {
                return r;
            }
            return registry_response(req, &[err.with_location(location)]);
        }
    };
    let result = submit(ep, &caller, &submission, kind, &mut event).await;
    let errors = match result {
        Ok(()) => Vec::new(),
        Err(e) => {
            event = event.failed(e);
            vec![RegistryError::ehdsi(e).with_location(location)]
        }
    };
    if let Err(r) = audit(ep, req, &event).await {
        return r;
    }
    registry_response(req, &errors)
}

async fn submit(
    ep: &CountryAEndpoints,
    caller: &crate::security::VerifiedCaller,
    submission: &xdr::ProvideAndRegister,
    kind: SubmissionKind,
    event: &mut AuditEvent,
) -> Result<(), EhdsiError> {
    let wanted = match kind {
        SubmissionKind::Dispensation => DocumentKind::EDispensation,
        SubmissionKind::DispensationDiscard => DocumentKind::EDispensationDiscard,
    };
    // The pivot (L3) document; its PDF rendition, if sent, adds nothing NLL records.
    let doc = submission
        .documents
        .iter()
        .find(|d| d.kind == wanted)
        .ok_or(EhdsiError::PivotDataMissing)?;
    let patient = submission
        .submission_set
        .patient
        .as_ref()
        .unwrap_or(&doc.patient);
    event.patient = Some(patient_ref(patient));
    event.objects.push(doc.unique_id.clone());
    check_trc(caller, patient)?;
    let outcome = match kind {
        SubmissionKind::Dispensation => {
            ep.service
                .submit_dispensation(caller, patient, &doc.bytes)
                .await
        }
        SubmissionKind::DispensationDiscard => {
            ep.service
                .discard_dispensation(caller, patient, &doc.bytes)
                .await
        }
    };
    match outcome {
        Ok(ack) => {
            event
                .objects
                .extend(ack.prescriptions.iter().map(|p| p.as_str().to_owned()));
            for d in &ack.dispensations {
                event.object(crate::audit::ObjectRef::Dispensation(d.clone()));
            }
            if ack.already_recorded > 0 {
                event.reason = Some("already recorded".into());
            }
            Ok(())
        }
        Err(refusal) => {
            if let Some(rx) = &refusal.prescription {
                event.objects.push(rx.as_str().to_owned());
            }
            event.reason = refusal.reason.map(str::to_owned);
            Err(refusal.error)
        }
    }
}
