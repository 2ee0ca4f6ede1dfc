//! ITI-55: identify a Swedish patient.

use ncp_types::Oid;

use super::{audit, patient_ref, respond, unreadable_xcpd, verify, CountryAEndpoints};
use crate::country_a::{AuditEvent, IdentifiedPatient, IdentifyOutcome};
use crate::ihe::errors::{EhdsiError, XcpdIssue};
use crate::ihe::xcpd::{
    self, Address, DiscoveryFailure, DiscoveryOutcome, MatchedPatient, Responder, XcpdError,
};
use crate::ihe::PatientIdentifier;
use crate::security::Transaction;
use crate::server::Peer;
use crate::soap::{self, Fault, SoapRequest};
use axum::response::Response;

pub(super) async fn handle(ep: &CountryAEndpoints, peer: &Peer, req: &SoapRequest) -> Response {
    let (query, refused) = match xcpd::parse_query(&req.body) {
        Ok(q) => (q, None),
        Err(XcpdError::DemographicsOnly(q)) => (*q, Some(DiscoveryFailure::demographics_only())),
        Err(XcpdError::Message(e)) => {
            tracing::info!(error = %e, "XCPD query refused");
            let f = Fault::sender(format!("Not a readable PRPA_IN201305UV02: {e}"));
            return unreadable_xcpd(ep, peer, req, &f).await;
        }
    };
    let caller = match verify(ep, peer, req, Transaction::IdentifyPatient).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let ours = ep.service.home_community_id();
    let wrong_receiver = query
        .receiver
        .organization
        .as_ref()
        .is_some_and(|o| o != ours);
    let mut event = AuditEvent::of(&caller, req.addressing.message_id.as_deref())
        .from_address(peer.remote.map(|a| a.ip()));
    event.patient = query.ids.first().map(patient_ref);
    event.requesting_hcid = query.sender.organization.clone();
    let outcome = if let Some(f) = refused {
        DiscoveryOutcome::Refused(f)
    } else if wrong_receiver {
        DiscoveryOutcome::Refused(DiscoveryFailure::wrong_receiver())
    } else {
        match ep.service.identify_patient(&caller, &query.ids).await {
            IdentifyOutcome::Match(p) => {
                let m = matched(&p);
                event.patient = m.ids.first().map(patient_ref);
                DiscoveryOutcome::Match(m)
            }
            IdentifyOutcome::NoMatch(reason) => {
                event.reason = Some(reason.as_str().to_owned());
                DiscoveryOutcome::NoMatch
            }
            IdentifyOutcome::Unavailable => DiscoveryOutcome::Refused(DiscoveryFailure {
                issue: XcpdIssue::ResponderBusy,
                error: EhdsiError::ErrorPiGeneric,
                text: "The national patient services could not be reached; please retry".into(),
            }),
        }
    };
    match &outcome {
        DiscoveryOutcome::Match(_) => {}
        DiscoveryOutcome::NoMatch => event = event.failed(EhdsiError::ErrorPiNoMatch),
        DiscoveryOutcome::MultipleMatches => {
            event = event.failed(EhdsiError::ErrorPiMultipleMatches)
        }
        DiscoveryOutcome::Refused(f) => event = event.failed(f.error),
    }
    if let Err(r) = audit(ep, req, &event).await {
        return r;
    }
    let body = xcpd::build_response(&query, &outcome, &responder(ours));
    respond(
        req,
        soap::Transaction::CrossGatewayPatientDiscovery,
        body,
        Vec::new(),
    )
}

fn responder(hcid: &Oid) -> Responder {
    Responder {
        home_community_id: hcid.clone(),
        message_id: uuid::Uuid::new_v4(),
        creation_time: xcpd::hl7_ts(time::OffsetDateTime::now_utc()),
    }
}

/// The patient as XCPD writes it: the Swedish id under its canonical OID first.
fn matched(p: &IdentifiedPatient) -> MatchedPatient {
    let ids = Oid::parse(p.id.system_oid())
        .ok()
        .map(|root| PatientIdentifier::new(root, p.id.as_str()))
        .into_iter()
        .collect();
    let address =
        (p.street.is_some() || p.city.is_some() || p.postal_code.is_some()).then(|| Address {
            street: p.street.clone(),
            city: p.city.clone(),
            postal_code: p.postal_code.clone(),
            country: p.country.clone().or_else(|| Some("SE".to_owned())),
        });
    MatchedPatient {
        ids,
        given: p.given.clone(),
        family: p.family.clone(),
        gender: p.gender,
        birth_time: p.birth_date.map(|d| d.format("%Y%m%d").to_string()),
        address,
    }
}
