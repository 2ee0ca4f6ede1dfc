//! ITI-55 Cross Gateway Patient Discovery (IHE ITI TF-2 §3.55) with the eHDSI rules: the query
//! PRPA_IN201305UV02 in, the response PRPA_IN201306UV02 out.
//!
//! eHDSI identifies a patient by a national identifier: a query with demographics only is
//! refused (`AE`, `DetectedIssueEvent` with `DemographicsQueryNotAllowed` in
//! `triggerFor/actOrderRequired`, acknowledgement detail `ERROR_PI_GENERIC`), as the eHDSI
//! reference implementation answers it. No match is `AA` / `NF` with `AnswerNotAvailable` and
//! `ERROR_PI_NO_MATCH`; several matches are `AA` / `NF` with `AdditionalDemographicsRequested`
//! and `ERROR_PI_MULTIPLE_MATCHES`, and no patient is disclosed.

use std::fmt;

use ncp_types::Oid;

use super::errors::{EhdsiError, IssueSlot, XcpdIssue};
use super::{oid_attr, parse_body, IheError, PatientIdentifier};
use crate::soap::xml::{child, children, element_bytes, text_of, XmlWriter};

pub const HL7_NS: &str = "urn:hl7-org:v3";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
const INTERACTION_ROOT: &str = "2.16.840.1.113883.1.6";
const GENDER_SYSTEM: &str = "2.16.840.1.113883.5.1";

/// An HL7 v3 instance identifier (`II`), for message and query ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ii {
    pub root: String,
    pub extension: Option<String>,
}

impl Ii {
    fn read(node: Option<roxmltree::Node<'_, '_>>) -> Option<Ii> {
        let n = node?;
        let root = n.attribute("root")?.trim();
        (!root.is_empty()).then(|| Ii {
            root: root.to_owned(),
            extension: n.attribute("extension").map(|e| e.trim().to_owned()),
        })
    }

    fn write(&self, w: &mut XmlWriter, element: &str) {
        match &self.extension {
            Some(e) => w.empty(element, &[("root", &self.root), ("extension", e)]),
            None => w.empty(element, &[("root", &self.root)]),
        };
    }
}

/// `administrativeGenderCode` (HL7 AdministrativeGender).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Male,
    Female,
    Undifferentiated,
}

impl Gender {
    pub fn code(self) -> &'static str {
        match self {
            Gender::Male => "M",
            Gender::Female => "F",
            Gender::Undifferentiated => "UN",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code.trim() {
            "M" => Some(Gender::Male),
            "F" => Some(Gender::Female),
            "UN" => Some(Gender::Undifferentiated),
            _ => None,
        }
    }
}

/// A postal address (`AD`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub street: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Address(<redacted>)")
    }
}

/// The demographic parameters of a query. `Debug` prints none of them.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Demographics {
    pub given: Vec<String>,
    pub family: Vec<String>,
    /// HL7 TS as sent (`19121212`).
    pub birth_time: Option<String>,
    pub gender: Option<Gender>,
    pub address: Option<Address>,
}

impl fmt::Debug for Demographics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Demographics")
            .field("names", &(self.given.len() + self.family.len()))
            .field("birth_time", &self.birth_time.is_some())
            .field("gender", &self.gender.is_some())
            .field("address", &self.address.is_some())
            .finish()
    }
}

/// A communication device of the HL7 transmission wrapper.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    /// `device/id`.
    pub id: Option<Ii>,
    /// `device/asAgent/representedOrganization/id/@root`: the homeCommunityId (ITI TF-2b §3.55.4.1.2).
    pub organization: Option<Oid>,
}

impl Device {
    /// The gateway's homeCommunityId: the represented organization, else the device id root.
    pub fn home_community_id(&self) -> Option<Oid> {
        self.organization
            .clone()
            .or_else(|| self.id.as_ref().and_then(|i| Oid::parse(&i.root).ok()))
    }
}

/// A Cross Gateway Patient Discovery query.
#[derive(Clone, PartialEq, Eq)]
pub struct PatientDiscoveryQuery {
    /// The message id (`PRPA_IN201305UV02/id`), echoed as the acknowledged target message.
    pub message_id: Ii,
    pub query_id: Ii,
    pub sender: Device,
    pub receiver: Device,
    /// `livingSubjectId` values.
    pub ids: Vec<PatientIdentifier>,
    pub demographics: Demographics,
    /// The `queryByParameter` element as received, echoed in the response.
    pub query_by_parameter: Vec<u8>,
}

impl fmt::Debug for PatientDiscoveryQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientDiscoveryQuery")
            .field("message_id", &self.message_id)
            .field("query_id", &self.query_id)
            .field("sender", &self.sender)
            .field("receiver", &self.receiver)
            .field("ids", &self.ids)
            .field("demographics", &self.demographics)
            .finish()
    }
}

/// Why a discovery request was not turned into a query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XcpdError {
    /// Not a readable PRPA_IN201305UV02: answer with a SOAP Sender fault.
    #[error(transparent)]
    Message(#[from] IheError),
    /// A demographics-only query: answer with [`build_response`] and
    /// [`DiscoveryOutcome::Refused`]`(`[`DiscoveryFailure::demographics_only`]`)`.
    #[error("the query carries no patient identifier")]
    DemographicsOnly(Box<PatientDiscoveryQuery>),
}

/// Parses a PRPA_IN201305UV02 body, enforcing the eHDSI rule that a query carries a patient
/// identifier.
pub fn parse_query(body: &[u8]) -> Result<PatientDiscoveryQuery, XcpdError> {
    let doc = parse_body(body)?;
    let root = doc.root_element();
    if !root.has_tag_name((HL7_NS, "PRPA_IN201305UV02")) {
        return Err(IheError::UnexpectedMessage {
            expected: "PRPA_IN201305UV02",
        }
        .into());
    }
    let message_id = Ii::read(child(root, HL7_NS, "id")).ok_or(IheError::Missing("message id"))?;
    let device = |wrapper: Option<roxmltree::Node<'_, '_>>| -> Result<Device, IheError> {
        let Some(d) = wrapper.and_then(|w| child(w, HL7_NS, "device")) else {
            return Ok(Device::default());
        };
        let organization = child(d, HL7_NS, "asAgent")
            .and_then(|a| child(a, HL7_NS, "representedOrganization"))
            .and_then(|o| child(o, HL7_NS, "id"))
            .and_then(|i| i.attribute("root"))
            .map(|r| oid_attr(r, "representedOrganization id"))
            .transpose()?;
        Ok(Device {
            id: Ii::read(child(d, HL7_NS, "id")),
            organization,
        })
    };
    let sender = device(child(root, HL7_NS, "sender"))?;
    let receiver = device(child(root, HL7_NS, "receiver"))?;
    let cap =
        child(root, HL7_NS, "controlActProcess").ok_or(IheError::Missing("controlActProcess"))?;
    let qbp =
        child(cap, HL7_NS, "queryByParameter").ok_or(IheError::Missing("queryByParameter"))?;
    let query_id = Ii::read(child(qbp, HL7_NS, "queryId")).ok_or(IheError::Missing("queryId"))?;
    let params = child(qbp, HL7_NS, "parameterList").ok_or(IheError::Missing("parameterList"))?;

    let mut ids = Vec::new();
    for lsi in children(params, HL7_NS, "livingSubjectId") {
        for v in children(lsi, HL7_NS, "value") {
            let root = v
                .attribute("root")
                .ok_or(IheError::Missing("livingSubjectId root"))?;
            let ext = v
                .attribute("extension")
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .ok_or(IheError::Missing("livingSubjectId extension"))?;
            ids.push(PatientIdentifier::new(
                oid_attr(root, "livingSubjectId root")?,
                ext,
            ));
        }
    }

    let mut demographics = Demographics::default();
    for name in children(params, HL7_NS, "livingSubjectName") {
        for v in children(name, HL7_NS, "value") {
            demographics
                .given
                .extend(children(v, HL7_NS, "given").map(text_of));
            demographics
                .family
                .extend(children(v, HL7_NS, "family").map(text_of));
        }
    }
    demographics.birth_time = child(params, HL7_NS, "livingSubjectBirthTime")
        .and_then(|b| child(b, HL7_NS, "value"))
        .and_then(|v| v.attribute("value"))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    if let Some(bt) = &demographics.birth_time {
        if bt.len() < 4 || !bt.bytes().take(8).all(|b| b.is_ascii_digit()) {
            return Err(IheError::Invalid("livingSubjectBirthTime").into());
        }
    }
    demographics.gender = match child(params, HL7_NS, "livingSubjectAdministrativeGender")
        .and_then(|g| child(g, HL7_NS, "value"))
        .and_then(|v| v.attribute("code"))
    {
        Some(c) => Some(Gender::from_code(c).ok_or(IheError::Invalid("administrative gender"))?),
        None => None,
    };
    demographics.address = child(params, HL7_NS, "patientAddress")
        .and_then(|a| child(a, HL7_NS, "value"))
        .map(|ad| {
            let part = |n: &str| child(ad, HL7_NS, n).map(text_of).filter(|s| !s.is_empty());
            Address {
                street: part("streetAddressLine").or_else(|| part("streetName")),
                city: part("city"),
                postal_code: part("postalCode"),
                country: part("country"),
            }
        });

    let query = PatientDiscoveryQuery {
        message_id,
        query_id,
        sender,
        receiver,
        ids,
        demographics,
        query_by_parameter: element_bytes(qbp),
    };
    if query.ids.is_empty() {
        return Err(XcpdError::DemographicsOnly(Box::new(query)));
    }
    Ok(query)
}

/// The patient of a match, as written in `registrationEvent/subject1/patient`.
#[derive(Clone, PartialEq, Eq)]
pub struct MatchedPatient {
    /// The patient's ids; the first is the one country B uses from now on.
    pub ids: Vec<PatientIdentifier>,
    pub given: Vec<String>,
    pub family: Vec<String>,
    pub gender: Option<Gender>,
    /// HL7 TS (`19121212`).
    pub birth_time: Option<String>,
    pub address: Option<Address>,
}

impl fmt::Debug for MatchedPatient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatchedPatient")
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

/// A refusal: the issue for the `DetectedIssueEvent` and the eHDSI code for the acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryFailure {
    pub issue: XcpdIssue,
    pub error: EhdsiError,
    /// Text for the acknowledgement detail. Never put patient data here.
    pub text: String,
}

impl DiscoveryFailure {
    /// The eHDSI answer to a demographics-only query.
    pub fn demographics_only() -> Self {
        DiscoveryFailure {
            issue: XcpdIssue::DemographicsQueryNotAllowed,
            error: EhdsiError::ErrorPiGeneric,
            text: "Queries are only available with patient identifiers".into(),
        }
    }

    /// Policy or consent forbids disclosure to this requester.
    pub fn insufficient_rights(error: EhdsiError) -> Self {
        DiscoveryFailure {
            issue: XcpdIssue::InsufficientRights,
            error,
            text: error.description().into(),
        }
    }

    /// The query was addressed to another community (receiver homeCommunityId not ours).
    pub fn wrong_receiver() -> Self {
        DiscoveryFailure {
            issue: XcpdIssue::AnswerNotAvailable,
            error: EhdsiError::ErrorPiGeneric,
            text: "Receiver has wrong Home Community ID.".into(),
        }
    }

    /// The national services failed.
    pub fn internal_error() -> Self {
        DiscoveryFailure {
            issue: XcpdIssue::InternalError,
            error: EhdsiError::ErrorPiGeneric,
            text: "The responder was not able to respond due to an internal error".into(),
        }
    }
}

/// What the discovery found, decided by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryOutcome {
    Match(MatchedPatient),
    NoMatch,
    MultipleMatches,
    Refused(DiscoveryFailure),
}

/// What the response needs to know about us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responder {
    /// Sweden's homeCommunityId.
    pub home_community_id: Oid,
    /// The response message id.
    pub message_id: uuid::Uuid,
    /// The response creation time, HL7 TS in UTC (see [`hl7_ts`]).
    pub creation_time: String,
}

/// A time as HL7 TS in UTC (`YYYYMMDDHHMMSS`).
pub fn hl7_ts(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Builds the PRPA_IN201306UV02 answering `query`.
pub fn build_response(
    query: &PatientDiscoveryQuery,
    outcome: &DiscoveryOutcome,
    responder: &Responder,
) -> Vec<u8> {
    let (ack, response_code, detail, issue): (
        &str,
        &str,
        Option<(EhdsiError, &str)>,
        Option<XcpdIssue>,
    ) = match outcome {
        DiscoveryOutcome::Match(_) => ("AA", "OK", None, None),
        DiscoveryOutcome::NoMatch => (
            "AA",
            "NF",
            Some((EhdsiError::ErrorPiNoMatch, "No patient found.")),
            Some(XcpdIssue::AnswerNotAvailable),
        ),
        DiscoveryOutcome::MultipleMatches => (
            "AA",
            "NF",
            Some((
                EhdsiError::ErrorPiMultipleMatches,
                "More than one patient matches: more demographics are needed.",
            )),
            Some(XcpdIssue::AdditionalDemographicsRequested),
        ),
        DiscoveryOutcome::Refused(f) => {
            ("AE", "AE", Some((f.error, f.text.as_str())), Some(f.issue))
        }
    };
    let hcid = responder.home_community_id.as_str();
    let msg_id = responder.message_id.to_string();
    let mut w = XmlWriter::new();
    w.open(
        "PRPA_IN201306UV02",
        &[
            ("xmlns", HL7_NS),
            ("xmlns:xsi", XSI_NS),
            ("ITSVersion", "XML_1.0"),
        ],
    );
    w.empty("id", &[("root", &msg_id)]);
    w.empty("creationTime", &[("value", &responder.creation_time)]);
    w.empty(
        "interactionId",
        &[
            ("root", INTERACTION_ROOT),
            ("extension", "PRPA_IN201306UV02"),
        ],
    );
    w.empty("processingCode", &[("code", "P")]);
    w.empty("processingModeCode", &[("code", "T")]);
    w.empty("acceptAckCode", &[("code", "NE")]);

    // The requester's device becomes our receiver; we are the sender.
    w.open("receiver", &[("typeCode", "RCV")]);
    w.open(
        "device",
        &[("classCode", "DEV"), ("determinerCode", "INSTANCE")],
    );
    match &query.sender.id {
        Some(id) => id.write(&mut w, "id"),
        None => {
            w.empty("id", &[("nullFlavor", "NI")]);
        }
    }
    if let Some(org) = &query.sender.organization {
        write_as_agent(&mut w, org.as_str());
    }
    w.close().close();
    w.open("sender", &[("typeCode", "SND")]);
    w.open(
        "device",
        &[("classCode", "DEV"), ("determinerCode", "INSTANCE")],
    );
    w.empty("id", &[("root", hcid)]);
    write_as_agent(&mut w, hcid);
    w.close().close();

    w.open("acknowledgement", &[]);
    w.empty("typeCode", &[("code", ack)]);
    w.open("targetMessage", &[]);
    query.message_id.write(&mut w, "id");
    w.close();
    if let Some((e, text)) = detail {
        crate::ops::metrics::ehdsi_error(e.code(), "xcpd-ack");
        w.open(
            "acknowledgementDetail",
            &[("typeCode", if ack == "AA" { "W" } else { "E" })],
        );
        w.empty(
            "code",
            &[("code", e.code()), ("displayName", e.description())],
        );
        w.leaf("text", &[], text);
        w.close();
    }
    w.close();

    w.open(
        "controlActProcess",
        &[("classCode", "CACT"), ("moodCode", "EVN")],
    );
    w.empty(
        "code",
        &[
            ("code", "PRPA_TE201306UV02"),
            ("codeSystem", INTERACTION_ROOT),
        ],
    );
    let found = if let DiscoveryOutcome::Match(p) = outcome {
        write_subject(&mut w, p, hcid);
        1
    } else {
        0
    };
    if let Some(issue) = issue {
        write_reason(&mut w, issue);
    }
    w.open("queryAck", &[]);
    query.query_id.write(&mut w, "queryId");
    w.empty("statusCode", &[("code", "deliveredResponse")]);
    w.empty("queryResponseCode", &[("code", response_code)]);
    w.empty("resultTotalQuantity", &[("value", &found.to_string())]);
    w.empty("resultCurrentQuantity", &[("value", &found.to_string())]);
    w.empty("resultRemainingQuantity", &[("value", "0")]);
    w.close();
    w.raw(&String::from_utf8_lossy(&query.query_by_parameter));
    w.finish()
}

fn write_as_agent(w: &mut XmlWriter, org: &str) {
    w.open("asAgent", &[("classCode", "AGNT")]);
    w.open(
        "representedOrganization",
        &[("classCode", "ORG"), ("determinerCode", "INSTANCE")],
    );
    w.empty("id", &[("root", org)]);
    w.close().close();
}

fn write_subject(w: &mut XmlWriter, p: &MatchedPatient, hcid: &str) {
    w.open(
        "subject",
        &[("typeCode", "SUBJ"), ("contextConductionInd", "false")],
    );
    w.open(
        "registrationEvent",
        &[("classCode", "REG"), ("moodCode", "EVN")],
    );
    w.empty("id", &[("nullFlavor", "NA")]);
    w.empty("statusCode", &[("code", "active")]);
    w.open("subject1", &[("typeCode", "SBJ")]);
    w.open("patient", &[("classCode", "PAT")]);
    for id in &p.ids {
        w.empty(
            "id",
            &[("root", id.root.as_str()), ("extension", &id.extension)],
        );
    }
    w.empty("statusCode", &[("code", "active")]);
    w.open(
        "patientPerson",
        &[("classCode", "PSN"), ("determinerCode", "INSTANCE")],
    );
    w.open("name", &[]);
    for g in &p.given {
        w.leaf("given", &[], g);
    }
    for f in &p.family {
        w.leaf("family", &[], f);
    }
    w.close();
    match p.gender {
        Some(g) => w.empty(
            "administrativeGenderCode",
            &[("code", g.code()), ("codeSystem", GENDER_SYSTEM)],
        ),
        None => w.empty("administrativeGenderCode", &[("nullFlavor", "UNK")]),
    };
    match &p.birth_time {
        Some(b) => w.empty("birthTime", &[("value", b)]),
        None => w.empty("birthTime", &[("nullFlavor", "UNK")]),
    };
    if let Some(a) = &p.address {
        w.open("addr", &[]);
        for (el, v) in [
            ("streetAddressLine", &a.street),
            ("city", &a.city),
            ("postalCode", &a.postal_code),
            ("country", &a.country),
        ] {
            if let Some(v) = v {
                w.leaf(el, &[], v);
            }
        }
        w.close();
    }
    w.close(); // patientPerson
    w.open("subjectOf1", &[]);
    w.open(
        "queryMatchObservation",
        &[("classCode", "COND"), ("moodCode", "EVN")],
    );
    w.empty("code", &[("code", "IHE_PDQ")]);
    w.empty("value", &[("xsi:type", "INT"), ("value", "100")]);
    w.close().close();
    w.close().close(); // patient, subject1
    w.open("custodian", &[("typeCode", "CST")]);
    w.open("assignedEntity", &[("classCode", "ASSIGNED")]);
    w.empty("id", &[("root", hcid)]);
    w.empty(
        "code",
        &[
            ("code", "NotHealthDataLocator"),
            ("codeSystem", "1.3.6.1.4.1.19376.1.2.27.2"),
        ],
    );
    w.close().close();
    w.close().close(); // registrationEvent, subject
}

fn write_reason(w: &mut XmlWriter, issue: XcpdIssue) {
    w.open("reasonOf", &[("typeCode", "RSON")]);
    w.open(
        "detectedIssueEvent",
        &[("classCode", "ALRT"), ("moodCode", "EVN")],
    );
    w.empty(
        "code",
        &[
            ("code", "ActAdministrativeDetectedIssueCode"),
            ("codeSystem", "2.16.840.1.113883.5.4"),
        ],
    );
    crate::ops::metrics::ehdsi_error(issue.code(), "xcpd-issue");
    let code = [("code", issue.code()), ("codeSystem", issue.code_system())];
    match issue.slot() {
        IssueSlot::TriggerFor => {
            w.open("triggerFor", &[("typeCode", "TRIG")]);
            w.open(
                "actOrderRequired",
                &[("classCode", "ACT"), ("moodCode", "RQO")],
            );
            w.empty("code", &code);
            w.close().close();
        }
        IssueSlot::MitigatedBy => {
            w.open("mitigatedBy", &[("typeCode", "MITGT")]);
            w.open(
                "detectedIssueManagement",
                &[("classCode", "ACT"), ("moodCode", "EVN")],
            );
            w.empty("code", &code);
            w.close().close();
        }
    }
    w.close().close();
}
