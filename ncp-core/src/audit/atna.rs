//! The IHE ATNA export: a record as a DICOM `AuditMessage` (DICOM PS3.15 A.5, RFC 3881
//! shaped, as the eHDSI audit repository takes it).
//!
//! - `EventIdentification`: DCM event id, the IHE transaction as `EventTypeCode`, the outcome
//!   indicator (0/4/8), the purpose of use and, on failure, the eHDSI error code.
//! - `ActiveParticipant`s: the HCP (requestor, with the ISCO role), the HCP's organisation,
//!   the requesting NCP (source, with the source IP) and the responding NCP (destination).
//! - `ParticipantObjectIdentification`s: the patient (`ext^^^&root&ISO`), each document,
//!   prescription or dispensation, and the transaction's message id; the audit-only `reason`
//!   is a base64 `ParticipantObjectDetail` of the message id object (type `reason`).
//!
//! A request refused before its caller was verified exports as a "Security Alert" instead
//! ([`refusal_to_atna_xml`]).

use base64::Engine;

use super::record::{AuditRecord, EventType, Ncp, ObjectRef, Outcome};
use super::refusal::RefusedRequest;
use crate::soap::xml::XmlWriter;

/// The code system of the eHDSI XSPA purpose of use.
const PURPOSE_OF_USE_CODE_SYSTEM: &str = "3bc18518-d305-46c2-a8d6-94bd59856e9e";

/// The DICOM EventID code, its meaning and the EventActionCode.
fn event_id(t: EventType) -> (&'static str, &'static str, &'static str) {
    match t {
        EventType::PatientIdentification | EventType::DocumentList => ("110112", "Query", "E"),
        EventType::DocumentRetrieve => ("110106", "Export", "R"),
        EventType::DispensationSubmit => ("110107", "Import", "C"),
        EventType::DispensationDiscard => ("110107", "Import", "D"),
        EventType::FhirApi => ("110106", "Export", "R"),
    }
}

fn transaction_name(t: EventType) -> &'static str {
    match t {
        EventType::PatientIdentification => "Cross Gateway Patient Discovery",
        EventType::DocumentList => "Cross Gateway Query",
        EventType::DocumentRetrieve => "Cross Gateway Retrieve",
        EventType::DispensationSubmit => "Provide and Register Document Set-b",
        EventType::DispensationDiscard => "Provide and Register Document Set-b (discard)",
        EventType::FhirApi => "RESTful Operation",
    }
}

fn code(w: &mut XmlWriter, element: &str, code: &str, system: &str, text: &str) {
    w.empty(
        element,
        &[
            ("csd-code", code),
            ("codeSystemName", system),
            ("originalText", text),
        ],
    );
}

/// A new `AuditMessage`, its `EventIdentification` opened (action, time and outcome set).
fn open_message(action: &str, time: &chrono::DateTime<chrono::Utc>, outcome: Outcome) -> XmlWriter {
    let mut w = XmlWriter::new();
    let time = time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let indicator = outcome.atna_indicator().to_string();
    w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    w.open("AuditMessage", &[]);
    w.open(
        "EventIdentification",
        &[
            ("EventActionCode", action),
            ("EventDateTime", &time),
            ("EventOutcomeIndicator", &indicator),
        ],
    );
    w
}

/// The responding NCP (us) as the destination participant and as the audit source.
fn responding(w: &mut XmlWriter, ncp: &Ncp) {
    let id = format!("urn:oid:{}", ncp.home_community_id);
    w.open(
        "ActiveParticipant",
        &[
            ("UserID", &id),
            ("AlternativeUserID", ncp.country.as_str()),
            ("UserIsRequestor", "false"),
        ],
    );
    code(w, "RoleIDCode", "110152", "DCM", "Destination Role ID");
    w.close();

    w.empty(
        "AuditSourceIdentification",
        &[
            ("AuditSourceID", ncp.home_community_id.as_str()),
            ("AuditEnterpriseSiteID", ncp.country.as_str()),
        ],
    );
}

/// The record as an ATNA `AuditMessage` document.
pub fn to_atna_xml(r: &AuditRecord) -> String {
    let (id_code, id_text, action) = event_id(r.event_type);
    let mut w = open_message(action, &r.event_time, r.outcome);
    code(&mut w, "EventID", id_code, "DCM", id_text);
    let (tx_system, tx_code) = match r.event_type {
        EventType::FhirApi => (
            "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "rest",
        ),
        t => ("IHE Transactions", t.transaction()),
    };
    code(
        &mut w,
        "EventTypeCode",
        tx_code,
        tx_system,
        transaction_name(r.event_type),
    );
    let pou = r.purpose_of_use.code();
    code(&mut w, "PurposeOfUse", pou, PURPOSE_OF_USE_CODE_SYSTEM, pou);
    if let Some(e) = r.error_code {
        w.leaf("EventOutcomeDescription", &[], e.code());
    }
    w.close();

    // The HCP, on whose behalf the request was made.
    w.open(
        "ActiveParticipant",
        &[
            ("UserID", &r.hcp.id),
            ("UserName", &r.hcp.name),
            ("UserIsRequestor", "true"),
        ],
    );
    code(
        &mut w,
        "RoleIDCode",
        r.hcp.role.code(),
        "ISCO-08",
        r.hcp.role.display_name(),
    );
    w.close();

    // The HCP's organisation and facility type.
    w.open(
        "ActiveParticipant",
        &[
            ("UserID", &r.hcp.organisation_id),
            ("UserName", &r.hcp.organisation),
            ("UserIsRequestor", "false"),
        ],
    );
    let facility = r.hcp.facility_type.as_str();
    code(
        &mut w,
        "RoleIDCode",
        facility,
        "urn:ehdsi:names:subject:healthcare-facility-type",
        facility,
    );
    w.close();

    let source_ip = r.source_ip.to_string();
    let requesting = format!("urn:oid:{}", r.requesting.home_community_id);
    w.open(
        "ActiveParticipant",
        &[
            ("UserID", &requesting),
            ("AlternativeUserID", r.requesting.country.as_str()),
            ("UserIsRequestor", "false"),
            ("NetworkAccessPointID", &source_ip),
            ("NetworkAccessPointTypeCode", "2"),
        ],
    );
    code(&mut w, "RoleIDCode", "110153", "DCM", "Source Role ID");
    w.close();

    responding(&mut w, &r.responding);

    if let Some(p) = &r.patient {
        let cx = p.to_cx();
        w.open(
            "ParticipantObjectIdentification",
            &[
                ("ParticipantObjectID", &cx),
                ("ParticipantObjectTypeCode", "1"),
                ("ParticipantObjectTypeCodeRole", "1"),
            ],
        );
        code(
            &mut w,
            "ParticipantObjectIDTypeCode",
            "2",
            "RFC-3881",
            "Patient Number",
        );
        w.close();
    }

    for o in &r.objects {
        let kind = match o {
            ObjectRef::Document(_) => "document",
            ObjectRef::Prescription(_) => "prescription",
            ObjectRef::Dispensation(_) => "dispensation",
        };
        w.open(
            "ParticipantObjectIdentification",
            &[
                ("ParticipantObjectID", o.id()),
                ("ParticipantObjectTypeCode", "2"),
                ("ParticipantObjectTypeCodeRole", "3"),
            ],
        );
        code(
            &mut w,
            "ParticipantObjectIDTypeCode",
            "9",
            "RFC-3881",
            "Report Number",
        );
        w.empty(
            "ParticipantObjectDetail",
            &[
                ("type", "kind"),
                (
                    "value",
                    &base64::engine::general_purpose::STANDARD.encode(kind),
                ),
            ],
        );
        w.close();
    }

    w.open(
        "ParticipantObjectIdentification",
        &[
            ("ParticipantObjectID", &r.message_id),
            ("ParticipantObjectTypeCode", "2"),
            ("ParticipantObjectTypeCodeRole", "24"),
        ],
    );
    code(
        &mut w,
        "ParticipantObjectIDTypeCode",
        r.event_type.transaction(),
        "IHE Transactions",
        transaction_name(r.event_type),
    );
    if let Some(reason) = &r.reason {
        w.empty(
            "ParticipantObjectDetail",
            &[
                ("type", "reason"),
                (
                    "value",
                    &base64::engine::general_purpose::STANDARD.encode(reason),
                ),
            ],
        );
    }
    w.close();

    w.close();
    String::from_utf8(w.finish()).unwrap_or_default()
}

/// A refusal of an unverified request as an ATNA `AuditMessage`: DICOM "Security Alert"
/// (110113) with the outcome 4, the attempted IHE transaction (when known) as
/// `EventTypeCode`, the eHDSI code and refusal class as `EventOutcomeDescription`; the TLS peer
/// as the requesting participant (its certificate subject and address, nothing the request
/// claimed) and us as the destination; the MessageID hash as the only participant object.
pub fn refusal_to_atna_xml(r: &RefusedRequest) -> String {
    let mut w = open_message("E", &r.event_time, r.outcome());
    code(&mut w, "EventID", "110113", "DCM", "Security Alert");
    if let Some(t) = r.attempted {
        code(
            &mut w,
            "EventTypeCode",
            t.transaction(),
            "IHE Transactions",
            transaction_name(t),
        );
    }
    let outcome = match r.error_code {
        Some(e) => format!("{} {}", e.code(), r.class.code()),
        None => r.class.code().to_owned(),
    };
    w.leaf("EventOutcomeDescription", &[], &outcome);
    w.close();

    let source_ip = r
        .peer
        .remote_ip
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let country = r.kpi_country().to_owned();
    let user = r.peer.common_name.as_deref().unwrap_or("unknown");
    let mut attrs = vec![
        ("UserID", user),
        ("AlternativeUserID", country.as_str()),
        ("UserIsRequestor", "true"),
    ];
    if let Some(o) = r.peer.organization.as_deref() {
        attrs.push(("UserName", o));
    }
    if !source_ip.is_empty() {
        attrs.push(("NetworkAccessPointID", &source_ip));
        attrs.push(("NetworkAccessPointTypeCode", "2"));
    }
    w.open("ActiveParticipant", &attrs);
    code(&mut w, "RoleIDCode", "110153", "DCM", "Source Role ID");
    w.close();

    responding(&mut w, &r.responding);

    if let Some(h) = &r.message_id_sha256 {
        w.open(
            "ParticipantObjectIdentification",
            &[
                ("ParticipantObjectID", h.as_str()),
                ("ParticipantObjectTypeCode", "2"),
                ("ParticipantObjectTypeCodeRole", "24"),
            ],
        );
        code(
            &mut w,
            "ParticipantObjectIDTypeCode",
            "message-id-sha256",
            "urn:se:ncp:audit",
            "SHA-256 of the request's WS-Addressing MessageID",
        );
        w.close();
    }
    w.close();
    String::from_utf8(w.finish()).unwrap_or_default()
}
