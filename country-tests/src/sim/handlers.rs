//! The simulated NCP's SOAP endpoints: `POST /xcpd`, `POST /xca` (query and retrieve, told
//! apart by the Action) and `POST /xdr`. Each request: SOAP 1.2 parsed, the IHE body read, the
//! assertions verified for the transaction, the signer checked against the TLS peer, the patient
//! against the TRC assertion, the patient's [`Behaviour`] applied, the answer built with
//! ncp-core's builders.

// The early answers (`Err(Response)`) are the responses themselves.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use ncp_core::ihe::errors::{EhdsiError, RegistryError, XdsError};
use ncp_core::ihe::metadata::{codes, DocumentEntry, EPrescriptionMetadata};
use ncp_core::ihe::xcpd::{
    self, DiscoveryFailure, DiscoveryOutcome, Gender, MatchedPatient, Responder,
};
use ncp_core::ihe::xdr::{DocumentKind, SubmissionKind};
use ncp_core::ihe::{xca, xdr, Code, PatientIdentifier};
use ncp_core::security::{self, PatientRef, Transaction, VerifiedCaller};
use ncp_core::server::Peer;
use ncp_core::soap::{self, Fault, Limits, SoapError, SoapRequest};

use ncp_core::endpoints::{fault, respond};

use super::{wss, Behaviour, CallRecord, ReceivedDispensation, Served, SimState};
use crate::samples::SampleClass;

type St = State<Arc<SimState>>;

pub(super) fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/xcpd", post(xcpd_endpoint))
        .route("/xca", post(xca_endpoint))
        .route("/xdr", post(xdr_endpoint))
        .with_state(state)
}

async fn xcpd_endpoint(
    State(st): St,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match read(
        &headers,
        body,
        &[soap::Transaction::CrossGatewayPatientDiscovery],
    )
    .await
    {
        Ok((req, _)) => xcpd(&st, &peer, &req).await.unwrap_or_else(|r| r),
        Err(r) => r,
    }
}

async fn xca_endpoint(
    State(st): St,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let served = [
        soap::Transaction::CrossGatewayQuery,
        soap::Transaction::CrossGatewayRetrieve,
    ];
    match read(&headers, body, &served).await {
        Ok((req, soap::Transaction::CrossGatewayQuery)) => {
            xca_query(&st, &peer, &req).await.unwrap_or_else(|r| r)
        }
        Ok((req, _)) => xca_retrieve(&st, &peer, &req).await.unwrap_or_else(|r| r),
        Err(r) => r,
    }
}

async fn xdr_endpoint(
    State(st): St,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match read(
        &headers,
        body,
        &[soap::Transaction::ProvideAndRegisterDocumentSet],
    )
    .await
    {
        Ok((req, _)) => xdr(&st, &peer, &req).await.unwrap_or_else(|r| r),
        Err(r) => r,
    }
}

async fn xcpd(st: &SimState, peer: &Peer, req: &SoapRequest) -> Result<Response, Response> {
    let tx = soap::Transaction::CrossGatewayPatientDiscovery;
    let query = match xcpd::parse_query(&req.body) {
        Ok(q) => q,
        Err(xcpd::XcpdError::DemographicsOnly(q)) => {
            verify(st, peer, req, Transaction::IdentifyPatient, "XCPD")?;
            let outcome = DiscoveryOutcome::Refused(DiscoveryFailure::demographics_only());
            return Ok(respond(
                req,
                tx,
                xcpd::build_response(&q, &outcome, &responder(st)),
                vec![],
            ));
        }
        Err(e) => return Err(fault(Some(req), &Fault::sender(e.to_string()))),
    };
    verify(st, peer, req, Transaction::IdentifyPatient, "XCPD")?;
    let found = query.ids.iter().find_map(|id| st.patient(id));
    let outcome = match found {
        None => DiscoveryOutcome::NoMatch,
        Some(p) => {
            gate(st, req, &p.id).await?;
            match st.behaviour(&p.id) {
                Behaviour::NoMatch => DiscoveryOutcome::NoMatch,
                Behaviour::NoConsent => DiscoveryOutcome::Refused(
                    DiscoveryFailure::insufficient_rights(EhdsiError::NoConsent),
                ),
                _ => DiscoveryOutcome::Match(MatchedPatient {
                    ids: vec![p.id.clone()],
                    given: p.given.clone(),
                    family: p.family.clone(),
                    gender: p.gender.as_deref().and_then(Gender::from_code),
                    birth_time: p.birth_time.clone(),
                    address: None,
                }),
            }
        }
    };
    let body = xcpd::build_response(&query, &outcome, &responder(st));
    Ok(respond(req, tx, body, vec![]))
}

fn class_of(q: &xca::FindDocumentsQuery) -> Option<SampleClass> {
    let has = |c: &str| q.class_codes.iter().any(|x| x.code == c);
    if q.class_codes.is_empty() || has(codes::CLASS_EPRESCRIPTION) {
        Some(SampleClass::EPrescription)
    } else if has(codes::CLASS_PATIENT_SUMMARY) {
        Some(SampleClass::PatientSummary)
    } else {
        None
    }
}

async fn xca_query(st: &SimState, peer: &Peer, req: &SoapRequest) -> Result<Response, Response> {
    let answer = |entries: &[DocumentEntry], errors: &[RegistryError]| {
        let body = xca::build_query_response(entries, errors, xca::ReturnType::LeafClass);
        respond(req, soap::Transaction::CrossGatewayQuery, body, vec![])
    };
    let q = match xca::parse_query(&req.body) {
        Ok(q) => q,
        Err(e) => {
            verify(st, peer, req, Transaction::FindPrescriptions, "XCA query")?;
            return Ok(answer(&[], &[e.registry_error()]));
        }
    };
    let Some(class) = class_of(&q) else {
        verify(st, peer, req, Transaction::FindPrescriptions, "XCA query")?;
        return Ok(answer(
            &[],
            &[RegistryError::ehdsi(EhdsiError::UnknownSignifier)],
        ));
    };
    let needs = match class {
        SampleClass::EPrescription => Transaction::FindPrescriptions,
        SampleClass::PatientSummary => Transaction::FindPatientSummary,
    };
    let caller = verify(st, peer, req, needs, "XCA query")?;
    if let Err(e) = check_trc(&caller, &q.patient) {
        return Ok(answer(&[], &[RegistryError::ehdsi(e)]));
    }
    gate(st, req, &q.patient).await?;
    let behaviour = st.behaviour(&q.patient);
    if behaviour == Behaviour::NoConsent {
        return Ok(answer(&[], &[RegistryError::ehdsi(EhdsiError::NoConsent)]));
    }
    let entries: Vec<DocumentEntry> = if behaviour == Behaviour::NoMatch {
        Vec::new()
    } else {
        st.documents
            .iter()
            .filter(|d| d.patient == q.patient && d.class == class)
            .map(|d| entry(st, d, behaviour != Behaviour::NotDispensable))
            .collect()
    };
    if entries.is_empty() {
        let none = match class {
            SampleClass::EPrescription => EhdsiError::EPrescriptionsNotFound,
            SampleClass::PatientSummary => EhdsiError::PatientSummaryNotFound,
        };
        return Ok(answer(&[], &[RegistryError::ehdsi(none)]));
    }
    Ok(answer(&entries, &[]))
}

fn entry(st: &SimState, d: &Served, dispensable: bool) -> DocumentEntry {
    let (class, format) = match (d.class, d.l1) {
        (_, true) => (
            d.class,
            Code::new(codes::FORMAT_PDF, codes::FORMAT_SCHEME_IHE_PCC, "PDF"),
        ),
        (SampleClass::EPrescription, false) => (
            d.class,
            Code::new(
                codes::FORMAT_EPRESCRIPTION,
                codes::FORMAT_SCHEME_EHDSI,
                "eHDSI ePrescription",
            ),
        ),
        (SampleClass::PatientSummary, false) => (
            d.class,
            Code::new(
                codes::FORMAT_PATIENT_SUMMARY,
                codes::FORMAT_SCHEME_EHDSI,
                "eHDSI Patient Summary",
            ),
        ),
    };
    let class_code = match class {
        SampleClass::EPrescription => {
            Code::new(codes::CLASS_EPRESCRIPTION, codes::LOINC, "ePrescription")
        }
        SampleClass::PatientSummary => Code::new(
            codes::CLASS_PATIENT_SUMMARY,
            codes::LOINC,
            "Patient Summary",
        ),
    };
    DocumentEntry {
        entry_uuid: d.entry_uuid.clone(),
        unique_id: d.unique_id.clone(),
        repository_unique_id: st.repository_id.clone(),
        home_community_id: st.home_community_id.clone(),
        patient: d.patient.clone(),
        class_code: class_code.clone(),
        type_code: class_code,
        format_code: format,
        confidentiality_code: Code::new("N", codes::CONFIDENTIALITY_SCHEME, "Normal"),
        healthcare_facility_type: None,
        practice_setting: None,
        language_code: "en-GB".into(),
        mime_type: "text/xml".into(),
        creation_time: Utc::now().format("%Y%m%d%H%M%S").to_string(),
        title: d.title.clone(),
        description: None,
        size: Some(d.bytes.len() as u64),
        hash: None,
        author_person: None,
        reference_ids: Vec::new(),
        eprescription: (d.class == SampleClass::EPrescription).then(|| EPrescriptionMetadata {
            dispensable,
            ..EPrescriptionMetadata::default()
        }),
        transformation_of: d.transformation_of.clone(),
    }
}

async fn xca_retrieve(st: &SimState, peer: &Peer, req: &SoapRequest) -> Result<Response, Response> {
    let seed = uuid::Uuid::new_v4().to_string();
    let answer = |docs: &[xca::RetrievedDocument], errors: &[RegistryError]| {
        let r = xca::build_retrieve_response(docs, errors, st.transfer, &seed);
        respond(
            req,
            soap::Transaction::CrossGatewayRetrieve,
            r.body,
            r.attachments,
        )
    };
    let request = match xca::parse_retrieve(&req.body) {
        Ok(r) => r,
        Err(e) => {
            verify(
                st,
                peer,
                req,
                Transaction::RetrievePrescriptions,
                "XCA retrieve",
            )?;
            let err = RegistryError::xds(XdsError::XdsRegistryError, e.to_string());
            return Ok(answer(&[], &[err]));
        }
    };
    let wanted: Vec<Option<&Served>> = request
        .documents
        .iter()
        .map(|r| {
            st.documents
                .iter()
                .find(|d| d.unique_id == r.document_unique_id)
        })
        .collect();
    let needs = match wanted.iter().flatten().next().map(|d| d.class) {
        Some(SampleClass::PatientSummary) => Transaction::RetrievePatientSummary,
        _ => Transaction::RetrievePrescriptions,
    };
    let caller = verify(st, peer, req, needs, "XCA retrieve")?;
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for (asked, found) in request.documents.iter().zip(wanted) {
        let Some(d) = found else {
            errors.push(
                RegistryError::ehdsi(EhdsiError::ErrorDocumentMissing)
                    .with_location(st.home_community_id.to_urn()),
            );
            continue;
        };
        if let Err(e) = check_trc(&caller, &d.patient) {
            errors.push(RegistryError::ehdsi(e));
            continue;
        }
        gate(st, req, &d.patient).await?;
        match st.behaviour(&d.patient) {
            Behaviour::NoConsent => errors.push(RegistryError::ehdsi(EhdsiError::NoConsent)),
            Behaviour::NoMatch => {
                errors.push(RegistryError::ehdsi(EhdsiError::ErrorDocumentMissing))
            }
            _ => docs.push(xca::RetrievedDocument {
                home_community_id: st.home_community_id.clone(),
                repository_unique_id: asked.repository_unique_id.clone(),
                document_unique_id: d.unique_id.clone(),
                mime_type: "text/xml".into(),
                bytes: d.bytes.clone(),
            }),
        }
    }
    Ok(answer(&docs, &errors))
}

async fn xdr(st: &SimState, peer: &Peer, req: &SoapRequest) -> Result<Response, Response> {
    let answer = |errors: &[RegistryError]| {
        respond(
            req,
            soap::Transaction::ProvideAndRegisterDocumentSet,
            xdr::build_registry_response(errors),
            vec![],
        )
    };
    let submission = match xdr::parse_provide_and_register(&req.body, &req.attachments) {
        Ok(s) => s,
        Err(e) => {
            verify(st, peer, req, Transaction::SubmitDispensation, "XDR")?;
            return Ok(answer(&[e.registry_error()]));
        }
    };
    let kind = match submission.kind() {
        Ok(k) => k,
        Err(e) => {
            verify(st, peer, req, Transaction::SubmitDispensation, "XDR")?;
            return Ok(answer(&[e]));
        }
    };
    let needs = match kind {
        SubmissionKind::Dispensation => Transaction::SubmitDispensation,
        SubmissionKind::DispensationDiscard => Transaction::DiscardDispensation,
    };
    let caller = verify(st, peer, req, needs, "XDR")?;
    let patient = submission
        .submission_set
        .patient
        .clone()
        .unwrap_or_else(|| submission.documents[0].patient.clone());
    if let Err(e) = check_trc(&caller, &patient) {
        return Ok(answer(&[RegistryError::ehdsi(e)]));
    }
    gate(st, req, &patient).await?;
    if st.patient(&patient).is_none() {
        return Ok(answer(&[RegistryError::xds(
            XdsError::XdsUnknownPatientId,
            "Unknown patient",
        )]));
    }
    match st.behaviour(&patient) {
        Behaviour::NoConsent => return Ok(answer(&[RegistryError::ehdsi(EhdsiError::NoConsent)])),
        Behaviour::NotDispensable => {
            return Ok(answer(&[RegistryError::ehdsi(
                EhdsiError::ErrorEdNotDispensableEPrescription,
            )]))
        }
        Behaviour::NoMatch => {
            return Ok(answer(&[RegistryError::xds(
                XdsError::XdsUnknownPatientId,
                "Unknown patient",
            )]))
        }
        _ => {}
    }
    let mut received = st.received.lock().unwrap_or_else(|e| e.into_inner());
    for d in &submission.documents {
        if d.kind == DocumentKind::EDispensationPdf {
            continue;
        }
        received.push(ReceivedDispensation {
            patient: d.patient.clone(),
            discard: d.kind == DocumentKind::EDispensationDiscard,
            document_unique_id: d.unique_id.clone(),
            format_code: d.format_code.code.clone(),
            cda: d.bytes.clone(),
            hcp_subject: caller.hcp.subject_id.clone(),
            hcp_role: caller.hcp.role.code().to_owned(),
        });
    }
    drop(received);
    Ok(answer(&[]))
}

/// Reads the body and parses it as SOAP 1.2 for one of `served`.
async fn read(
    headers: &HeaderMap,
    body: Body,
    served: &[soap::Transaction],
) -> Result<(SoapRequest, soap::Transaction), Response> {
    let limits = Limits::default();
    let bytes = axum::body::to_bytes(body, limits.max_bytes)
        .await
        .map_err(|_| fault(None, &Fault::sender("request too large")))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let req = soap::parse_request(content_type, &bytes, &limits)
        .map_err(|e| fault(None, &Fault::from_error(&e)))?;
    let tx = req
        .transaction()
        .map_err(|e| fault(Some(&req), &Fault::from_error(&e)))?;
    if !served.contains(&tx) {
        let e = SoapError::UnknownAction(req.addressing.action.clone());
        return Err(fault(Some(&req), &Fault::from_error(&e)));
    }
    Ok((req, tx))
}

/// Checks the `wsu:Timestamp` (first, as a WS-Security stack does), verifies the assertions
/// for `needs` and that the signing NCP is the TLS peer; records the call.
fn verify(
    st: &SimState,
    peer: &Peer,
    req: &SoapRequest,
    needs: Transaction,
    operation: &'static str,
) -> Result<VerifiedCaller, Response> {
    let now = st.now();
    let timestamp_refused = |e: &wss::TimestampFault| {
        // A WS-Security refusal, before any eHDSI processing: no eHDSI code in the detail.
        let f = Fault::sender(e.reason()).with_subcode(soap::fault::QName::wsse(e.subcode()));
        fault(Some(req), &f)
    };
    let timestamp = match wss::check_timestamp(&req.envelope, now) {
        Ok(t) => Ok(t),
        // No security header at all means no assertions either: the eHDSI check below refuses
        // that in eHDSI terms.
        Err(e @ wss::TimestampFault::NoSecurityHeader) => Err(e),
        Err(e) => return Err(timestamp_refused(&e)),
    };
    let caller = security::verify_assertions(&req.envelope, &st.trust, &st.policy, now, needs)
        .map_err(|e| {
            let f = Fault::sender(e.message())
                .with_subcode(soap::fault::QName::wsse("InvalidSecurity"))
                .with_ehdsi(
                    EhdsiError::from_code(e.ehdsi_code()).unwrap_or(EhdsiError::ErrorSecGeneric),
                );
            fault(Some(req), &f)
        })?;
    let timestamp = timestamp.map_err(|e| timestamp_refused(&e))?;
    if peer.country != Some(caller.country) {
        let f = Fault::sender("the assertions were not signed by the NCP of the TLS connection")
            .with_subcode(soap::fault::QName::wsse("FailedAuthentication"))
            .with_ehdsi(EhdsiError::InsufficientRights);
        return Err(fault(Some(req), &f));
    }
    st.calls
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(CallRecord {
            operation,
            hcp_subject: caller.hcp.subject_id.clone(),
            hcp_role: caller.hcp.role.code().to_owned(),
            purpose: caller.hcp.purpose_of_use.code().to_owned(),
            permissions: caller
                .hcp
                .permissions
                .iter()
                .map(|p| p.code().to_owned())
                .collect(),
            peer_country: peer.country,
            trc_patient: caller
                .trc_patient()
                .map(|p| PatientIdentifier::new(p.root.clone(), p.extension.clone())),
            timestamp,
        });
    Ok(caller)
}

fn check_trc(caller: &VerifiedCaller, patient: &PatientIdentifier) -> Result<(), EhdsiError> {
    security::check_trc_patient(
        caller,
        &PatientRef::new(patient.root.clone(), patient.extension.clone()),
    )
    .map_err(|e| EhdsiError::from_code(e.ehdsi_code()).unwrap_or(EhdsiError::ErrorSecGeneric))
}

/// The patient's unavailability and slowness.
async fn gate(
    st: &SimState,
    req: &SoapRequest,
    patient: &PatientIdentifier,
) -> Result<(), Response> {
    match st.behaviour(patient) {
        Behaviour::UnavailableHttp503 => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain")],
            "Service Unavailable",
        )
            .into_response()),
        Behaviour::UnavailableFault => Err(fault(
            Some(req),
            &Fault::receiver("The national infrastructure is not available; please retry")
                .with_ehdsi(EhdsiError::ErrorGeneric),
        )),
        Behaviour::Slow(d) => {
            tokio::time::sleep(d).await;
            Ok(())
        }
        Behaviour::MalformedAnswer => Err((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/soap+xml; charset=UTF-8")],
            "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body>",
        )
            .into_response()),
        _ => Ok(()),
    }
}

fn responder(st: &SimState) -> Responder {
    Responder {
        home_community_id: st.home_community_id.clone(),
        message_id: uuid::Uuid::new_v4(),
        creation_time: Utc::now().format("%Y%m%d%H%M%S").to_string(),
    }
}
