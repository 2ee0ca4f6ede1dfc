//! ITI-55 for the initiating gateway: the PRPA_IN201305UV02 query by patient identifier, and the
//! PRPA_IN201306UV02 answer read into patients or a [`GatewayError`].

use ncp_types::Oid;

use super::errors::{classify, coded};
use super::{ForeignPatient, ForeignPatientId, GatewayError};
use crate::ihe::xcpd::HL7_NS;
use crate::soap::xml::{self, child, children, text_of, Limits, XmlWriter};

const INTERACTION_ROOT: &str = "2.16.840.1.113883.1.6";

/// The parties and ids of one query.
pub struct QueryIds<'a> {
    /// `PRPA_IN201305UV02/id/@root` (a UUID).
    pub message_id: &'a str,
    /// `queryByParameter/queryId/@root` (a UUID).
    pub query_id: &'a str,
    /// HL7 TS, UTC.
    pub creation_time: &'a str,
    pub sender: &'a Oid,
    pub receiver: &'a Oid,
}

fn device(w: &mut XmlWriter, wrapper: &str, type_code: &str, hcid: &Oid) {
    w.open(wrapper, &[("typeCode", type_code)]);
    w.open(
        "device",
        &[("classCode", "DEV"), ("determinerCode", "INSTANCE")],
    );
    w.empty("id", &[("root", hcid.as_str())]);
    w.open("asAgent", &[("classCode", "AGNT")]);
    w.open(
        "representedOrganization",
        &[("classCode", "ORG"), ("determinerCode", "INSTANCE")],
    );
    w.empty("id", &[("root", hcid.as_str())]);
    w.close().close().close().close();
}

/// The PRPA_IN201305UV02 asking for the patient with `id`.
pub fn build_query(ids: &QueryIds<'_>, id: &ForeignPatientId) -> Vec<u8> {
    let mut w = XmlWriter::new();
    w.open(
        "PRPA_IN201305UV02",
        &[("xmlns", HL7_NS), ("ITSVersion", "XML_1.0")],
    );
    w.empty("id", &[("root", ids.message_id)]);
    w.empty("creationTime", &[("value", ids.creation_time)]);
    w.empty(
        "interactionId",
        &[
            ("root", INTERACTION_ROOT),
            ("extension", "PRPA_IN201305UV02"),
        ],
    );
    w.empty("processingCode", &[("code", "P")]);
    w.empty("processingModeCode", &[("code", "T")]);
    w.empty("acceptAckCode", &[("code", "AL")]);
    device(&mut w, "receiver", "RCV", ids.receiver);
    device(&mut w, "sender", "SND", ids.sender);
    w.open(
        "controlActProcess",
        &[("classCode", "CACT"), ("moodCode", "EVN")],
    );
    w.empty(
        "code",
        &[
            ("code", "PRPA_TE201305UV02"),
            ("codeSystem", INTERACTION_ROOT),
        ],
    );
    w.open("queryByParameter", &[]);
    w.empty("queryId", &[("root", ids.query_id)]);
    w.empty("statusCode", &[("code", "new")]);
    w.empty("responseModalityCode", &[("code", "R")]);
    w.empty("responsePriorityCode", &[("code", "I")]);
    w.open("parameterList", &[]);
    w.open("livingSubjectId", &[]);
    w.empty(
        "value",
        &[("root", id.root.as_str()), ("extension", &id.extension)],
    );
    w.leaf("semanticsText", &[], "LivingSubject.id");
    w.close();
    w.close().close().close();
    w.finish()
}

/// Reads a PRPA_IN201306UV02: the matched patients, or why there are none.
pub fn parse_response(
    body: &[u8],
    asked: &ForeignPatientId,
) -> Result<Vec<ForeignPatient>, GatewayError> {
    let bad = |m: &str| GatewayError::Protocol(format!("XCPD answer: {m}"));
    let doc = xml::parse(body, &Limits::default()).map_err(|e| bad(&e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name((HL7_NS, "PRPA_IN201306UV02")) {
        return Err(bad("not a PRPA_IN201306UV02"));
    }
    let ack = child(root, HL7_NS, "acknowledgement");
    let ack_code = ack
        .and_then(|a| child(a, HL7_NS, "typeCode"))
        .and_then(|t| t.attribute("code"))
        .unwrap_or("")
        .trim()
        .to_owned();
    let details: Vec<(String, String)> = ack
        .into_iter()
        .flat_map(|a| children(a, HL7_NS, "acknowledgementDetail"))
        .map(|d| {
            let code = child(d, HL7_NS, "code");
            (
                code.and_then(|c| c.attribute("code"))
                    .unwrap_or("")
                    .trim()
                    .to_owned(),
                child(d, HL7_NS, "text")
                    .map(text_of)
                    .filter(|t| !t.is_empty())
                    .or_else(|| {
                        code.and_then(|c| c.attribute("displayName"))
                            .map(str::to_owned)
                    })
                    .unwrap_or_default(),
            )
        })
        .collect();
    let cap =
        child(root, HL7_NS, "controlActProcess").ok_or_else(|| bad("no controlActProcess"))?;
    let issues: Vec<String> = children(cap, HL7_NS, "reasonOf")
        .filter_map(|r| child(r, HL7_NS, "detectedIssueEvent"))
        .flat_map(|e| e.descendants())
        .filter(|n| n.has_tag_name((HL7_NS, "code")))
        .filter_map(|c| c.attribute("code"))
        .filter(|c| *c != "ActAdministrativeDetectedIssueCode")
        .map(str::to_owned)
        .collect();
    let response_code = child(cap, HL7_NS, "queryAck")
        .and_then(|q| child(q, HL7_NS, "queryResponseCode"))
        .and_then(|c| c.attribute("code"))
        .unwrap_or("")
        .trim()
        .to_owned();

    let mut patients = Vec::new();
    for subject in children(cap, HL7_NS, "subject") {
        let Some(patient) = child(subject, HL7_NS, "registrationEvent")
            .and_then(|r| child(r, HL7_NS, "subject1"))
            .and_then(|s| child(s, HL7_NS, "patient"))
        else {
            continue;
        };
        patients.push(read_patient(patient, asked).ok_or_else(|| bad("a patient without id"))?);
    }

    let first_detail = details.iter().find(|(c, _)| !c.is_empty());
    let busy = issues
        .iter()
        .any(|i| i == "ResponderBusy" || i == "InternalError");
    let refusal = |fallback: &str| -> GatewayError {
        if busy {
            let (code, text) = first_detail
                .cloned()
                .unwrap_or_else(|| (fallback.to_owned(), String::new()));
            let issue = issues.join(", ");
            return GatewayError::Unavailable(coded(&code, &format!("{text} ({issue})")));
        }
        match first_detail {
            Some((code, text)) => classify(code, text),
            None => GatewayError::Refused {
                code: issues
                    .first()
                    .cloned()
                    .unwrap_or_else(|| fallback.to_owned()),
                message: "the foreign NCP refused the query without a reason".into(),
            },
        }
    };
    match (ack_code.as_str(), response_code.as_str()) {
        ("AA" | "CA", "OK") if !patients.is_empty() => Ok(patients),
        ("AA" | "CA", "OK" | "NF") if busy => Err(refusal(&response_code)),
        ("AA" | "CA", "OK" | "NF") => Err(match first_detail {
            // Several matches: the answer asks for more demographics; anything else the
            // foreign NCP says about an empty answer means it has no such patient.
            Some((code, text)) => match classify(code, text) {
                GatewayError::Refused { .. }
                    if code != "ERROR_PI_MULTIPLE_MATCHES"
                        && !issues
                            .iter()
                            .any(|i| i == "AdditionalDemographicsRequested") =>
                {
                    GatewayError::NoMatch
                }
                e => e,
            },
            None => GatewayError::NoMatch,
        }),
        ("AE" | "AR" | "CE" | "CR", _) | (_, "AE" | "QE") => Err(refusal(&ack_code)),
        _ => Err(bad(&format!(
            "unexpected acknowledgement {ack_code:?} / queryResponseCode {response_code:?}"
        ))),
    }
}

fn read_patient(p: roxmltree::Node<'_, '_>, asked: &ForeignPatientId) -> Option<ForeignPatient> {
    let ids: Vec<ForeignPatientId> = children(p, HL7_NS, "id")
        .filter_map(|i| {
            let root = Oid::parse(i.attribute("root")?).ok()?;
            let extension = i.attribute("extension")?.trim().to_owned();
            (!extension.is_empty()).then_some(ForeignPatientId { root, extension })
        })
        .collect();
    let id = ids
        .iter()
        .find(|i| i.root == asked.root)
        .or(ids.first())?
        .clone();
    let person = child(p, HL7_NS, "patientPerson");
    let name = person.and_then(|pp| child(pp, HL7_NS, "name"));
    let given = name
        .into_iter()
        .flat_map(|n| children(n, HL7_NS, "given"))
        .map(text_of)
        .filter(|g| !g.is_empty())
        .collect();
    let family = name
        .into_iter()
        .flat_map(|n| children(n, HL7_NS, "family"))
        .map(text_of)
        .filter(|f| !f.is_empty())
        .collect::<Vec<_>>();
    let attr = |el: &str, a: &str| {
        person
            .and_then(|pp| child(pp, HL7_NS, el))
            .and_then(|e| e.attribute(a))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    Some(ForeignPatient {
        id,
        given,
        family: (!family.is_empty()).then(|| family.join(" ")),
        birth_date: attr("birthTime", "value"),
        gender: attr("administrativeGenderCode", "code"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ihe::errors::EhdsiError;
    use crate::ihe::xcpd::{
        build_response, parse_query, DiscoveryFailure, DiscoveryOutcome, Gender, MatchedPatient,
        Responder,
    };
    use crate::ihe::PatientIdentifier;

    fn oid(s: &str) -> Oid {
        Oid::parse(s).unwrap()
    }

    fn asked() -> ForeignPatientId {
        ForeignPatientId {
            root: oid("2.16.17.710.850.1000.990.1.1000"),
            extension: "1-1234-W8".into(),
        }
    }

    fn query() -> Vec<u8> {
        let ids = QueryIds {
            message_id: "6f0bd3a0-6a6f-4d8e-9d70-5b0f1e2a3c4d",
            query_id: "7a1ce4b1-7b70-4e9f-8e81-6c1f2f3b4d5e",
            creation_time: "20261125020000",
            sender: &oid("1.2.752.129.2.1.99.1"),
            receiver: &oid("2.16.17.710.850.1000.990.1"),
        };
        build_query(&ids, &asked())
    }

    fn answer(outcome: &DiscoveryOutcome) -> Vec<u8> {
        let q = parse_query(&query()).expect("the responding side reads our query");
        let responder = Responder {
            home_community_id: oid("2.16.17.710.850.1000.990.1"),
            message_id: uuid::Uuid::new_v4(),
            creation_time: "20261125020001".into(),
        };
        build_response(&q, outcome, &responder)
    }

    #[test]
    fn the_query_reads_back() {
        let q = parse_query(&query()).unwrap();
        assert_eq!(q.ids.len(), 1);
        assert_eq!(q.ids[0].extension, "1-1234-W8");
        assert_eq!(
            q.receiver.home_community_id(),
            Some(oid("2.16.17.710.850.1000.990.1"))
        );
        assert_eq!(
            q.sender.home_community_id(),
            Some(oid("1.2.752.129.2.1.99.1"))
        );
    }

    #[test]
    fn a_match() {
        let a = asked();
        let body = answer(&DiscoveryOutcome::Match(MatchedPatient {
            ids: vec![PatientIdentifier::new(a.root.clone(), a.extension.clone())],
            given: vec!["Robert".into()],
            family: vec!["Schuman".into()],
            gender: Some(Gender::Male),
            birth_time: Some("18860629".into()),
            address: None,
        }));
        let patients = parse_response(&body, &a).unwrap();
        assert_eq!(
            patients,
            vec![ForeignPatient {
                id: a,
                given: vec!["Robert".into()],
                family: Some("Schuman".into()),
                birth_date: Some("18860629".into()),
                gender: Some("M".into()),
            }]
        );
    }

    #[test]
    fn no_match_consent_and_busy() {
        assert_eq!(
            parse_response(&answer(&DiscoveryOutcome::NoMatch), &asked()),
            Err(GatewayError::NoMatch)
        );
        let e = parse_response(
            &answer(&DiscoveryOutcome::Refused(
                DiscoveryFailure::insufficient_rights(EhdsiError::NoConsent),
            )),
            &asked(),
        )
        .unwrap_err();
        assert!(
            matches!(&e, GatewayError::NoConsent(m) if m.starts_with("4701: ")),
            "{e:?}"
        );
        let e = parse_response(
            &answer(&DiscoveryOutcome::Refused(
                DiscoveryFailure::internal_error(),
            )),
            &asked(),
        )
        .unwrap_err();
        assert!(matches!(e, GatewayError::Unavailable(_)), "{e:?}");
        let e = parse_response(&answer(&DiscoveryOutcome::MultipleMatches), &asked()).unwrap_err();
        assert!(
            matches!(&e, GatewayError::Refused { code, .. } if code == "ERROR_PI_MULTIPLE_MATCHES"),
            "{e:?}"
        );
    }
}
