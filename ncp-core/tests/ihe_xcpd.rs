//! ITI-55: the eHDSI patient discovery query in, PRPA_IN201306UV02 out, re-read with roxmltree.

use ncp_core::ihe::errors::EhdsiError;
use ncp_core::ihe::xcpd::{
    build_response, hl7_ts, parse_query, Address, DiscoveryFailure, DiscoveryOutcome, Gender,
    MatchedPatient, PatientDiscoveryQuery, Responder, XcpdError, HL7_NS,
};
use ncp_core::ihe::PatientIdentifier;
use ncp_core::soap::{parse_request, Limits};
use ncp_types::{Oid, PersonIdKind};

const SOAP_CT: &str = "application/soap+xml; charset=UTF-8";
const SE_HCID: &str = "2.16.17.710.850.1000.990.1";

fn body_of(fixture: &str) -> Vec<u8> {
    parse_request(SOAP_CT, fixture.as_bytes(), &Limits::default())
        .unwrap()
        .body
}

fn responder() -> Responder {
    Responder {
        home_community_id: Oid::parse(SE_HCID).unwrap(),
        message_id: uuid::Uuid::parse_str("5f0e6d1c-2b3a-4c9d-8e7f-6a5b4c3d2e1f").unwrap(),
        creation_time: hl7_ts(time::OffsetDateTime::UNIX_EPOCH),
    }
}

/// The eHDSI query of the request fixture (a personnummer).
fn query() -> PatientDiscoveryQuery {
    parse_query(&body_of(include_str!("fixtures/ihe/xcpd_request.xml"))).unwrap()
}

/// The PRPA_IN201306UV02 answer to `q` with `outcome`, as text.
fn answer(q: &PatientDiscoveryQuery, outcome: &DiscoveryOutcome) -> String {
    String::from_utf8(build_response(q, outcome, &responder())).unwrap()
}

/// Path from `controlActProcess` to the code of a refusal's detected issue management.
const ISSUE_MANAGEMENT_CODE: &[&str] = &[
    "reasonOf",
    "detectedIssueEvent",
    "mitigatedBy",
    "detectedIssueManagement",
    "code",
];

/// Path from `controlActProcess` to the code of an answer that asks for more.
const ORDER_REQUIRED_CODE: &[&str] = &[
    "reasonOf",
    "detectedIssueEvent",
    "triggerFor",
    "actOrderRequired",
    "code",
];

/// The acknowledgement's `typeCode` (AA, AE) of an answer.
fn ack_type(r: roxmltree::Node<'_, '_>) -> Option<String> {
    attr(r, &["acknowledgement", "typeCode"], "code")
}

/// The acknowledgement detail's code (the eHDSI error) of an answer.
fn ack_detail(r: roxmltree::Node<'_, '_>) -> Option<String> {
    attr(
        r,
        &["acknowledgement", "acknowledgementDetail", "code"],
        "code",
    )
}

fn el<'a, 'i>(n: roxmltree::Node<'a, 'i>, path: &[&str]) -> Option<roxmltree::Node<'a, 'i>> {
    let mut cur = n;
    for p in path {
        cur = cur
            .children()
            .find(|c| c.is_element() && c.has_tag_name((HL7_NS, *p)))?;
    }
    Some(cur)
}

fn attr(n: roxmltree::Node<'_, '_>, path: &[&str], a: &str) -> Option<String> {
    el(n, path).and_then(|e| e.attribute(a)).map(str::to_owned)
}

#[test]
fn parses_the_ehdsi_query_with_personnummer() {
    let q = query();
    assert_eq!(q.ids.len(), 1);
    assert_eq!(q.ids[0].root.as_str(), "1.2.752.129.2.1.3.1");
    assert_eq!(q.ids[0].extension, "191212121212");
    let pid = q.ids[0].person_id().unwrap();
    assert_eq!(pid.kind(), PersonIdKind::Personnummer);
    assert_eq!(q.demographics.given, vec!["Tolvan"]);
    assert_eq!(q.demographics.family, vec!["Tolvansson"]);
    assert_eq!(q.demographics.birth_time.as_deref(), Some("19121212"));
    assert_eq!(q.demographics.gender, Some(Gender::Male));
    let addr = q.demographics.address.as_ref().unwrap();
    assert_eq!(addr.city.as_deref(), Some("Stockholm"));
    assert_eq!(addr.country.as_deref(), Some("SE"));
    assert_eq!(
        q.sender.home_community_id().unwrap().as_str(),
        "2.16.17.710.807.1000.990.1"
    );
    assert_eq!(q.receiver.home_community_id().unwrap().as_str(), SE_HCID);
    assert_eq!(q.query_id.extension.as_deref(), Some("q-0042"));
    assert_eq!(q.message_id.extension.as_deref(), Some("4711"));
    // Debug output never carries the number or the name.
    let dbg = format!("{q:?}");
    assert!(
        !dbg.contains("191212121212") && !dbg.contains("Tolvan"),
        "{dbg}"
    );
}

#[test]
fn one_match_is_aa_ok_with_the_patient() {
    let q = query();
    let patient = MatchedPatient {
        ids: vec![PatientIdentifier::new(
            Oid::parse("1.2.752.129.2.1.3.1").unwrap(),
            "191212121212",
        )],
        given: vec!["Tolvan".into()],
        family: vec!["Tolvansson".into()],
        gender: Some(Gender::Male),
        birth_time: Some("19121212".into()),
        address: Some(Address {
            street: Some("Storgatan 1".into()),
            city: Some("Stockholm".into()),
            postal_code: Some("11122".into()),
            country: Some("SE".into()),
        }),
    };
    let text = answer(&q, &DiscoveryOutcome::Match(patient));
    let doc = roxmltree::Document::parse(&text).unwrap();
    let r = doc.root_element();
    assert!(r.has_tag_name((HL7_NS, "PRPA_IN201306UV02")));
    assert_eq!(
        attr(r, &["interactionId"], "extension").as_deref(),
        Some("PRPA_IN201306UV02")
    );
    assert_eq!(
        attr(r, &["interactionId"], "root").as_deref(),
        Some("2.16.840.1.113883.1.6")
    );
    assert_eq!(attr(r, &["processingCode"], "code").as_deref(), Some("P"));
    assert_eq!(attr(r, &["acceptAckCode"], "code").as_deref(), Some("NE"));
    assert_eq!(
        attr(r, &["creationTime"], "value").as_deref(),
        Some("19700101000000")
    );
    assert_eq!(ack_type(r).as_deref(), Some("AA"));
    assert_eq!(
        attr(r, &["acknowledgement", "targetMessage", "id"], "extension").as_deref(),
        Some("4711")
    );
    assert_eq!(
        attr(
            r,
            &[
                "receiver",
                "device",
                "asAgent",
                "representedOrganization",
                "id"
            ],
            "root"
        )
        .as_deref(),
        Some("2.16.17.710.807.1000.990.1")
    );
    assert_eq!(
        attr(r, &["sender", "device", "id"], "root").as_deref(),
        Some(SE_HCID)
    );
    let cap = el(r, &["controlActProcess"]).unwrap();
    assert_eq!(
        attr(cap, &["code"], "code").as_deref(),
        Some("PRPA_TE201306UV02")
    );
    assert_eq!(
        attr(cap, &["queryAck", "queryResponseCode"], "code").as_deref(),
        Some("OK")
    );
    assert_eq!(
        attr(cap, &["queryAck", "resultTotalQuantity"], "value").as_deref(),
        Some("1")
    );
    assert_eq!(
        attr(cap, &["queryAck", "queryId"], "extension").as_deref(),
        Some("q-0042")
    );
    let patient = el(
        cap,
        &["subject", "registrationEvent", "subject1", "patient"],
    )
    .unwrap();
    assert_eq!(
        attr(patient, &["id"], "root").as_deref(),
        Some("1.2.752.129.2.1.3.1")
    );
    assert_eq!(
        attr(patient, &["id"], "extension").as_deref(),
        Some("191212121212")
    );
    let person = el(patient, &["patientPerson"]).unwrap();
    assert_eq!(
        el(person, &["name", "given"]).unwrap().text(),
        Some("Tolvan")
    );
    assert_eq!(
        el(person, &["name", "family"]).unwrap().text(),
        Some("Tolvansson")
    );
    assert_eq!(
        attr(person, &["administrativeGenderCode"], "code").as_deref(),
        Some("M")
    );
    assert_eq!(
        attr(person, &["birthTime"], "value").as_deref(),
        Some("19121212")
    );
    assert_eq!(
        el(person, &["addr", "city"]).unwrap().text(),
        Some("Stockholm")
    );
    assert_eq!(
        attr(
            cap,
            &[
                "subject",
                "registrationEvent",
                "custodian",
                "assignedEntity",
                "id"
            ],
            "root"
        )
        .as_deref(),
        Some(SE_HCID)
    );
    // The query is echoed, and nothing says an error.
    assert_eq!(
        attr(cap, &["queryByParameter", "queryId"], "extension").as_deref(),
        Some("q-0042")
    );
    assert!(el(cap, &["reasonOf"]).is_none());
    assert!(el(r, &["acknowledgement", "acknowledgementDetail"]).is_none());
}

#[test]
fn no_match_is_aa_nf_with_error_pi_no_match() {
    let q = query();
    let text = answer(&q, &DiscoveryOutcome::NoMatch);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let r = doc.root_element();
    assert_eq!(ack_type(r).as_deref(), Some("AA"));
    assert_eq!(ack_detail(r).as_deref(), Some("ERROR_PI_NO_MATCH"));
    let cap = el(r, &["controlActProcess"]).unwrap();
    assert_eq!(
        attr(cap, &["queryAck", "queryResponseCode"], "code").as_deref(),
        Some("NF")
    );
    assert!(el(cap, &["subject"]).is_none());
    let code = el(cap, ISSUE_MANAGEMENT_CODE).unwrap();
    assert_eq!(code.attribute("code"), Some("AnswerNotAvailable"));
    assert_eq!(
        code.attribute("codeSystem"),
        Some("1.3.6.1.4.1.19376.1.2.27.3")
    );
}

#[test]
fn several_matches_ask_for_more_demographics_and_disclose_nobody() {
    let q = query();
    let text = answer(&q, &DiscoveryOutcome::MultipleMatches);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let r = doc.root_element();
    let cap = el(r, &["controlActProcess"]).unwrap();
    assert!(el(cap, &["subject"]).is_none());
    assert_eq!(
        attr(cap, &["queryAck", "queryResponseCode"], "code").as_deref(),
        Some("NF")
    );
    let code = el(cap, ORDER_REQUIRED_CODE).unwrap();
    assert_eq!(
        code.attribute("code"),
        Some("AdditionalDemographicsRequested")
    );
    assert_eq!(ack_detail(r).as_deref(), Some("ERROR_PI_MULTIPLE_MATCHES"));
}

#[test]
fn demographics_only_query_is_refused_with_the_ehdsi_answer() {
    let err = parse_query(&body_of(include_str!(
        "fixtures/ihe/xcpd_demographics_only.xml"
    )))
    .unwrap_err();
    let XcpdError::DemographicsOnly(q) = err else {
        panic!("expected DemographicsOnly, got {err:?}");
    };
    assert!(q.ids.is_empty());
    let outcome = DiscoveryOutcome::Refused(DiscoveryFailure::demographics_only());
    let text = answer(&q, &outcome);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let r = doc.root_element();
    assert_eq!(ack_type(r).as_deref(), Some("AE"));
    assert_eq!(
        ack_detail(r).as_deref(),
        Some(EhdsiError::ErrorPiGeneric.code())
    );
    let cap = el(r, &["controlActProcess"]).unwrap();
    assert_eq!(
        attr(cap, &["queryAck", "queryResponseCode"], "code").as_deref(),
        Some("AE")
    );
    let code = el(cap, ORDER_REQUIRED_CODE).unwrap();
    assert_eq!(code.attribute("code"), Some("DemographicsQueryNotAllowed"));
    assert_eq!(
        code.attribute("codeSystem"),
        Some("1.3.6.1.4.1.12559.11.10.1.3.2.2.1")
    );
}

#[test]
fn refusal_for_consent_is_ae_with_the_code() {
    let q = query();
    let outcome =
        DiscoveryOutcome::Refused(DiscoveryFailure::insufficient_rights(EhdsiError::NoConsent));
    let text = answer(&q, &outcome);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let r = doc.root_element();
    assert_eq!(ack_type(r).as_deref(), Some("AE"));
    assert_eq!(ack_detail(r).as_deref(), Some("4701"));
    let cap = el(r, &["controlActProcess"]).unwrap();
    let code = el(cap, ISSUE_MANAGEMENT_CODE).unwrap();
    assert_eq!(code.attribute("code"), Some("InsufficientRights"));
}

#[test]
fn malformed_queries_are_typed_errors() {
    use ncp_core::ihe::IheError;
    let good = String::from_utf8(body_of(include_str!("fixtures/ihe/xcpd_request.xml"))).unwrap();
    let cases = [
        good.replace("root=\"1.2.752.129.2.1.3.1\"", "root=\"not-an-oid\""),
        good.replace(" extension=\"191212121212\"", ""),
        good.replace("<value code=\"M\"", "<value code=\"Q\""),
        good.replace("<value value=\"19121212\"/>", "<value value=\"12-12\"/>"),
        good.replace("queryByParameter>", "notTheQuery>"),
        good.replace("PRPA_IN201305UV02 ", "PRPA_IN201306UV02 ")
            .replace("</PRPA_IN201305UV02>", "</PRPA_IN201306UV02>"),
    ];
    for c in cases {
        match parse_query(c.as_bytes()) {
            Err(XcpdError::Message(
                IheError::Invalid(_) | IheError::Missing(_) | IheError::UnexpectedMessage { .. },
            )) => {}
            other => panic!("expected a message error, got {other:?}"),
        }
    }
}

#[test]
fn wrong_receiver_is_ae_with_answer_not_available() {
    let q = query();
    let outcome = DiscoveryOutcome::Refused(DiscoveryFailure::wrong_receiver());
    let text = answer(&q, &outcome);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let r = doc.root_element();
    assert_eq!(ack_type(r).as_deref(), Some("AE"));
    let cap = el(r, &["controlActProcess"]).unwrap();
    assert!(el(cap, &["subject"]).is_none());
    let code = el(cap, ISSUE_MANAGEMENT_CODE).unwrap();
    assert_eq!(code.attribute("code"), Some("AnswerNotAvailable"));
}
