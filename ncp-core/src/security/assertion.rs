//! The claims of the eHDSI SAML assertions, as types, and reading them from a verified
//! `saml2:Assertion` element.
//!
//! The attribute names and value shapes are those of the eHDSI SAML profile: XSPA subject, role
//! (an HL7 `Role` element with an ISCO-08 code), organisation and its id, the eHDSI healthcare
//! facility type, purpose of use (an HL7 `PurposeOfUse` element, `TREATMENT` or `EMERGENCY`) and
//! the HL7 permissions (`urn:oasis:names:tc:xspa:1.0:subject:hl7:permission:PRD-006`, ...). The
//! TRC carries the patient as an HL7 v2 CX value (`extension^^^&root&ISO`).

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use libxml::tree::Node;
use ncp_types::Oid;

use super::errors::{AssertionKind, SecurityError};

pub(crate) const SAML_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(crate) const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub(crate) const HL7_NS: &str = "urn:hl7-org:v3";

pub(crate) const ATTR_SUBJECT_ID: &str = "urn:oasis:names:tc:xspa:1.0:subject:subject-id";
pub(crate) const ATTR_ROLE: &str = "urn:oasis:names:tc:xacml:2.0:subject:role";
pub(crate) const ATTR_ORGANISATION: &str = "urn:oasis:names:tc:xspa:1.0:subject:organization";
pub(crate) const ATTR_ORGANISATION_ID: &str = "urn:oasis:names:tc:xspa:1.0:subject:organization-id";
pub(crate) const ATTR_FACILITY_TYPE: &str = "urn:ehdsi:names:subject:healthcare-facility-type";
pub(crate) const ATTR_PURPOSE_OF_USE: &str = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse";
pub(crate) const ATTR_PERMISSION: &str = "urn:oasis:names:tc:xspa:1.0:subject:hl7:permission";
pub(crate) const ATTR_LOCALITY: &str = "urn:oasis:names:tc:xspa:1.0:environment:locality";
pub(crate) const ATTR_RESOURCE_ID: &str = "urn:oasis:names:tc:xacml:1.0:resource:resource-id";

/// `saml2:Issuer/@NameQualifier` of an HCP identity assertion.
pub const HCP_QUALIFIER: &str = "urn:ehdsi:assertions:hcp";
/// `saml2:Issuer/@NameQualifier` of a TRC assertion.
pub const TRC_QUALIFIER: &str = "urn:ehdsi:assertions:trc";
/// The eHDSI audience of cross-border assertions.
pub const EHDSI_AUDIENCE: &str = "urn:ehdsi:assertions.audience:x-border";
/// The code system of the eHDSI HCP roles (ISCO-08).
pub const ISCO_CODE_SYSTEM: &str = "2.16.840.1.113883.2.9.6.2.7";
/// The code system of the eHDSI XSPA purpose of use.
pub const PURPOSE_OF_USE_CODE_SYSTEM: &str = "3bc18518-d305-46c2-a8d6-94bd59856e9e";

/// XSPA purpose of use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PurposeOfUse {
    Treatment,
    Emergency,
}

impl PurposeOfUse {
    pub fn code(self) -> &'static str {
        match self {
            PurposeOfUse::Treatment => "TREATMENT",
            PurposeOfUse::Emergency => "EMERGENCY",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code.trim() {
            "TREATMENT" => Some(PurposeOfUse::Treatment),
            "EMERGENCY" => Some(PurposeOfUse::Emergency),
            _ => None,
        }
    }
}

/// The eHDSI HCP roles (ISCO-08 codes, code system [`ISCO_CODE_SYSTEM`]).
pub const HCP_ROLES: [(&str, &str); 13] = [
    ("221", "Medical Doctors"),
    ("2221", "Nursing professionals"),
    ("2222", "Midwifery professionals"),
    ("2261", "Dentists"),
    ("2262", "Pharmacists"),
    ("2264", "Physiotherapists"),
    ("2265", "Dieticians and nutritionists"),
    ("2266", "Audiologists and speech therapists"),
    ("2267", "Optometrists and ophthalmic opticians"),
    ("2269", "Health professionals not elsewhere classified"),
    (
        "3211",
        "Medical imaging and therapeutic equipment technicians",
    ),
    ("3213", "Pharmaceutical technicians and assistants"),
    ("44", "Other Clerical Support Workers"),
];

/// The structural role of the HCP: an eHDSI ISCO-08 code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HcpRole {
    code: &'static str,
}

impl HcpRole {
    pub const PHYSICIAN: HcpRole = HcpRole { code: "221" };
    pub const NURSE: HcpRole = HcpRole { code: "2221" };
    pub const DENTIST: HcpRole = HcpRole { code: "2261" };
    pub const PHARMACIST: HcpRole = HcpRole { code: "2262" };
    pub const PHARMACY_TECHNICIAN: HcpRole = HcpRole { code: "3213" };

    /// An eHDSI role by its ISCO code (`221`), or by its display name (`Medical Doctors`, any
    /// case) as some older issuers send it.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        HCP_ROLES
            .iter()
            .find(|(code, name)| *code == s || name.eq_ignore_ascii_case(s))
            .map(|(code, _)| HcpRole { code })
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn display_name(&self) -> &'static str {
        HCP_ROLES
            .iter()
            .find(|(c, _)| *c == self.code)
            .map(|(_, n)| *n)
            .unwrap_or("")
    }
}

/// `urn:ehdsi:names:subject:healthcare-facility-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FacilityType {
    Hospital,
    ResidentPhysician,
    Pharmacy,
    Other,
}

impl FacilityType {
    pub fn as_str(self) -> &'static str {
        match self {
            FacilityType::Hospital => "Hospital",
            FacilityType::ResidentPhysician => "Resident Physician",
            FacilityType::Pharmacy => "Pharmacy",
            FacilityType::Other => "Other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            FacilityType::Hospital,
            FacilityType::ResidentPhysician,
            FacilityType::Pharmacy,
            FacilityType::Other,
        ]
        .into_iter()
        .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// An eHDSI HL7 permission (the `urn:oasis:names:tc:xspa:1.0:subject:hl7:permission` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// PRD-003 Review Medical History.
    Prd003,
    /// PRD-004 Review Existing Orders.
    Prd004,
    /// PRD-005 Review Vital Signs/Patient Measurements.
    Prd005,
    /// PRD-006 Patient Identification and Lookup.
    Prd006,
    /// PRD-010 Review Patient Medications.
    Prd010,
    /// PRD-016 Review Problems.
    Prd016,
    /// PPD-032 New Consents and Authorizations.
    Ppd032,
    /// PPD-033 Manage Consents and Authorizations.
    Ppd033,
    /// PPD-046 Record Medication Administration Record (dispense, discard).
    Ppd046,
}

pub(crate) const PERMISSION_PREFIX: &str = "urn:oasis:names:tc:xspa:1.0:subject:hl7:permission:";

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::Prd003,
        Permission::Prd004,
        Permission::Prd005,
        Permission::Prd006,
        Permission::Prd010,
        Permission::Prd016,
        Permission::Ppd032,
        Permission::Ppd033,
        Permission::Ppd046,
    ];

    /// The code (`PRD-006`).
    pub fn code(self) -> &'static str {
        match self {
            Permission::Prd003 => "PRD-003",
            Permission::Prd004 => "PRD-004",
            Permission::Prd005 => "PRD-005",
            Permission::Prd006 => "PRD-006",
            Permission::Prd010 => "PRD-010",
            Permission::Prd016 => "PRD-016",
            Permission::Ppd032 => "PPD-032",
            Permission::Ppd033 => "PPD-033",
            Permission::Ppd046 => "PPD-046",
        }
    }

    /// The attribute value as the assertion carries it.
    pub fn urn(self) -> String {
        format!("{PERMISSION_PREFIX}{}", self.code())
    }

    /// From the attribute value (the full URN).
    pub fn parse(value: &str) -> Option<Self> {
        let code = value.trim().strip_prefix(PERMISSION_PREFIX)?;
        Permission::ALL.into_iter().find(|p| p.code() == code)
    }
}

/// A patient identifier: an assigning authority OID and the identifier within it.
///
/// `Debug` does not show the identifier, so a stray `{:?}` cannot leak it into a log.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PatientRef {
    pub root: Oid,
    pub extension: String,
}

impl PatientRef {
    pub fn new(root: Oid, extension: impl Into<String>) -> Self {
        PatientRef {
            root,
            extension: extension.into(),
        }
    }

    /// From the HL7 v2 CX form the TRC carries: `extension^^^&root&ISO`.
    pub fn parse_cx(s: &str) -> Option<Self> {
        let (extension, rest) = s.trim().split_once("^^^")?;
        let mut parts = rest.split('&');
        let (namespace, root, kind) = (parts.next()?, parts.next()?, parts.next()?);
        if !namespace.is_empty()
            || kind != "ISO"
            || parts.next().is_some()
            || extension.is_empty()
            || extension.contains(['^', '&'])
        {
            return None;
        }
        Some(PatientRef {
            root: Oid::parse(root).ok()?,
            extension: extension.to_owned(),
        })
    }

    /// The HL7 v2 CX form, `extension^^^&root&ISO`.
    pub fn to_cx(&self) -> String {
        format!("{}^^^&{}&ISO", self.extension, self.root)
    }
}

impl fmt::Debug for PatientRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientRef")
            .field("root", &self.root.as_str())
            .field("extension", &"<redacted>")
            .finish()
    }
}

/// The claims of a verified HCP identity assertion.
///
/// `Debug` leaves out the HCP's name and identifier, so a stray `{:?}` does not log them.
#[derive(Clone, PartialEq, Eq)]
pub struct HcpClaims {
    /// `saml2:Subject/saml2:NameID`: the HCP's identifier at the issuer.
    pub subject_id: String,
    /// `urn:oasis:names:tc:xspa:1.0:subject:subject-id`: the HCP's name.
    pub name: String,
    pub role: HcpRole,
    pub organisation: String,
    pub organisation_id: String,
    pub facility_type: FacilityType,
    pub purpose_of_use: PurposeOfUse,
    pub permissions: BTreeSet<Permission>,
    /// `urn:oasis:names:tc:xspa:1.0:environment:locality`, when given.
    pub locality: Option<String>,
}

/// The claims of a verified TRC assertion. `Debug` leaves out the HCP and patient identifiers.
#[derive(Clone, PartialEq, Eq)]
pub struct TrcClaims {
    /// `saml2:Subject/saml2:NameID`: the HCP, as in the HCP identity assertion.
    pub subject_id: String,
    /// The patient the treatment relationship is confirmed for.
    pub patient: PatientRef,
    pub purpose_of_use: PurposeOfUse,
    /// `saml2:Advice/saml2:AssertionIDRef`: the HCP identity assertion's ID.
    pub hcp_assertion_ref: String,
}

impl HcpClaims {
    /// The organisation id as an OID, when it is given in the `urn:oid:` form (other forms,
    /// such as `urn:hl7ii:root:extension`, give `None`).
    pub fn organisation_oid(&self) -> Option<Oid> {
        self.organisation_id
            .strip_prefix("urn:oid:")
            .and_then(|o| Oid::parse(o).ok())
    }
}

impl fmt::Debug for HcpClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HcpClaims")
            .field("subject_id", &"<redacted>")
            .field("name", &"<redacted>")
            .field("role", &self.role.code())
            .field("organisation", &self.organisation)
            .field("organisation_id", &self.organisation_id)
            .field("facility_type", &self.facility_type)
            .field("purpose_of_use", &self.purpose_of_use)
            .field("permissions", &self.permissions)
            .field("locality", &self.locality)
            .finish()
    }
}

impl fmt::Debug for TrcClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrcClaims")
            .field("subject_id", &"<redacted>")
            .field("patient", &self.patient)
            .field("purpose_of_use", &self.purpose_of_use)
            .field("hcp_assertion_ref", &self.hcp_assertion_ref)
            .finish()
    }
}

/// What every assertion has: ID, issuer, validity, audiences.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub issuer: String,
    pub issue_instant: DateTime<Utc>,
    pub not_before: Option<DateTime<Utc>>,
    pub not_on_or_after: Option<DateTime<Utc>>,
    /// One list per `AudienceRestriction`: each must name us.
    pub audiences: Vec<Vec<String>>,
    pub name_id: Option<String>,
}

pub(crate) fn is_element(node: &Node, ns: &str, local: &str) -> bool {
    node.is_element_node()
        && node.get_name() == local
        && node.get_namespace().map(|n| n.get_href()).as_deref() == Some(ns)
}

pub(crate) fn children(node: &Node, ns: &str, local: &str) -> Vec<Node> {
    node.get_child_elements()
        .into_iter()
        .filter(|c| is_element(c, ns, local))
        .collect()
}

fn only_child(
    node: &Node,
    ns: &str,
    local: &str,
    kind: AssertionKind,
    reason: &'static str,
) -> Result<Option<Node>, SecurityError> {
    let mut found = children(node, ns, local);
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(SecurityError::InvalidAssertion { kind, reason }),
    }
}

fn time(
    value: Option<String>,
    kind: AssertionKind,
) -> Result<Option<DateTime<Utc>>, SecurityError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| SecurityError::InvalidAssertion {
                    kind,
                    reason: "a time is not an xs:dateTime with a time zone",
                })
        })
        .transpose()
}

pub(crate) fn read_common(assertion: &Node, kind: AssertionKind) -> Result<Common, SecurityError> {
    let invalid = |reason| SecurityError::InvalidAssertion { kind, reason };
    if assertion.get_attribute_no_ns("Version").as_deref() != Some("2.0") {
        return Err(invalid("not a SAML 2.0 assertion"));
    }
    let issuer_node = only_child(assertion, SAML_NS, "Issuer", kind, "more than one Issuer")?
        .ok_or_else(|| invalid("no Issuer"))?;
    let issuer = issuer_node.get_content().trim().to_owned();
    if issuer.is_empty() {
        return Err(invalid("empty Issuer"));
    }
    let issue_instant = time(assertion.get_attribute_no_ns("IssueInstant"), kind)?
        .ok_or_else(|| invalid("no IssueInstant"))?;
    let conditions = only_child(
        assertion,
        SAML_NS,
        "Conditions",
        kind,
        "more than one Conditions",
    )?
    .ok_or_else(|| invalid("no Conditions"))?;
    let not_before = time(conditions.get_attribute_no_ns("NotBefore"), kind)?;
    let not_on_or_after = time(conditions.get_attribute_no_ns("NotOnOrAfter"), kind)?;
    let audiences = children(&conditions, SAML_NS, "AudienceRestriction")
        .iter()
        .map(|r| {
            children(r, SAML_NS, "Audience")
                .iter()
                .map(|a| a.get_content().trim().to_owned())
                .collect()
        })
        .collect();
    let name_id = match only_child(assertion, SAML_NS, "Subject", kind, "more than one Subject")? {
        Some(subject) => only_child(&subject, SAML_NS, "NameID", kind, "more than one NameID")?
            .map(|n| n.get_content().trim().to_owned())
            .filter(|s| !s.is_empty()),
        None => None,
    };
    Ok(Common {
        issuer,
        issue_instant,
        not_before,
        not_on_or_after,
        audiences,
        name_id,
    })
}

/// The `saml2:AttributeValue` elements of the attribute named `name`, over all attribute
/// statements. `Err` when the attribute occurs twice.
fn attribute_values(
    assertion: &Node,
    name: &str,
    kind: AssertionKind,
) -> Result<Vec<Node>, SecurityError> {
    let mut found: Option<Vec<Node>> = None;
    for statement in children(assertion, SAML_NS, "AttributeStatement") {
        for attribute in children(&statement, SAML_NS, "Attribute") {
            if attribute.get_attribute_no_ns("Name").as_deref() == Some(name) {
                if found.is_some() {
                    return Err(SecurityError::InvalidAssertion {
                        kind,
                        reason: "an attribute occurs twice",
                    });
                }
                found = Some(children(&attribute, SAML_NS, "AttributeValue"));
            }
        }
    }
    Ok(found.unwrap_or_default())
}

fn single_text(
    assertion: &Node,
    name: &str,
    kind: AssertionKind,
    reason: &'static str,
) -> Result<Option<String>, SecurityError> {
    let values = attribute_values(assertion, name, kind)?;
    match values.as_slice() {
        [] => Ok(None),
        [v] => Ok(Some(v.get_content().trim().to_owned()).filter(|s| !s.is_empty())),
        _ => Err(SecurityError::InvalidAssertion { kind, reason }),
    }
}

fn required_text(
    assertion: &Node,
    name: &str,
    kind: AssertionKind,
    reason: &'static str,
) -> Result<String, SecurityError> {
    single_text(assertion, name, kind, reason)?
        .ok_or(SecurityError::InvalidAssertion { kind, reason })
}

/// A coded value: the HL7 element (`Role`, `PurposeOfUse`) inside the attribute value, its
/// `@code` (checked against `code_system`), or a plain text value.
fn coded_value(
    assertion: &Node,
    name: &str,
    element: &str,
    code_system: &str,
    kind: AssertionKind,
    reason: &'static str,
) -> Result<String, SecurityError> {
    let invalid = SecurityError::InvalidAssertion { kind, reason };
    let values = attribute_values(assertion, name, kind)?;
    let [value] = values.as_slice() else {
        return Err(invalid);
    };
    let coded = value.get_child_elements();
    match coded.as_slice() {
        [] => Ok(value.get_content().trim().to_owned()),
        [c] if is_element(c, HL7_NS, element) => {
            if let Some(system) = c.get_attribute_no_ns("codeSystem") {
                if system.trim() != code_system {
                    return Err(invalid);
                }
            }
            c.get_attribute_no_ns("code")
                .map(|s| s.trim().to_owned())
                .ok_or(invalid)
        }
        _ => Err(invalid),
    }
}

fn purpose_of_use(assertion: &Node, kind: AssertionKind) -> Result<PurposeOfUse, SecurityError> {
    let code = coded_value(
        assertion,
        ATTR_PURPOSE_OF_USE,
        "PurposeOfUse",
        PURPOSE_OF_USE_CODE_SYSTEM,
        kind,
        "purpose of use missing or malformed",
    )?;
    PurposeOfUse::parse(&code).ok_or(SecurityError::PurposeNotAllowed)
}

pub(crate) fn read_hcp(assertion: &Node, common: &Common) -> Result<HcpClaims, SecurityError> {
    let kind = AssertionKind::Hcp;
    let invalid = |reason| SecurityError::InvalidAssertion { kind, reason };
    let subject_id = common
        .name_id
        .clone()
        .ok_or_else(|| invalid("no Subject/NameID"))?;
    let name = required_text(assertion, ATTR_SUBJECT_ID, kind, "XSPA subject missing")?;
    let role_code = coded_value(
        assertion,
        ATTR_ROLE,
        "Role",
        ISCO_CODE_SYSTEM,
        kind,
        "XSPA role missing or malformed",
    )?;
    let role = HcpRole::parse(&role_code).ok_or(SecurityError::RoleNotAllowed)?;
    let organisation = required_text(assertion, ATTR_ORGANISATION, kind, "organisation missing")?;
    let organisation_id = required_text(
        assertion,
        ATTR_ORGANISATION_ID,
        kind,
        "organisation id missing",
    )?;
    let facility = required_text(assertion, ATTR_FACILITY_TYPE, kind, "facility type missing")?;
    let facility_type =
        FacilityType::parse(&facility).ok_or_else(|| invalid("unknown facility type"))?;
    let purpose_of_use = purpose_of_use(assertion, kind)?;
    let mut permissions = BTreeSet::new();
    let mut unknown = 0usize;
    for value in attribute_values(assertion, ATTR_PERMISSION, kind)? {
        match Permission::parse(&value.get_content()) {
            Some(p) => {
                permissions.insert(p);
            }
            None => unknown += 1,
        }
    }
    if unknown > 0 {
        tracing::debug!(
            unknown,
            "HCP assertion carries permissions outside the eHDSI list"
        );
    }
    let locality = single_text(assertion, ATTR_LOCALITY, kind, "more than one locality")?;
    Ok(HcpClaims {
        subject_id,
        name,
        role,
        organisation,
        organisation_id,
        facility_type,
        purpose_of_use,
        permissions,
        locality,
    })
}

pub(crate) fn read_trc(assertion: &Node, common: &Common) -> Result<TrcClaims, SecurityError> {
    let kind = AssertionKind::Trc;
    let invalid = |reason| SecurityError::InvalidAssertion { kind, reason };
    let subject_id = common
        .name_id
        .clone()
        .ok_or_else(|| invalid("no Subject/NameID"))?;
    // The profile names the patient in resource-id; some issuers (OpenNCP among them) put it in
    // the XSPA subject of the TRC. Either is read; both present must agree.
    let by_resource = single_text(
        assertion,
        ATTR_RESOURCE_ID,
        kind,
        "more than one patient id",
    )?;
    let by_subject = single_text(assertion, ATTR_SUBJECT_ID, kind, "more than one patient id")?;
    let patient = match (by_resource, by_subject) {
        (Some(a), Some(b)) => {
            let (a, b) = (PatientRef::parse_cx(&a), PatientRef::parse_cx(&b));
            match (a, b) {
                (Some(a), Some(b)) if a == b => a,
                (Some(a), None) => a,
                (Some(_), Some(_)) => return Err(invalid("two different patient ids")),
                _ => return Err(invalid("patient id is not extension^^^&root&ISO")),
            }
        }
        (Some(v), None) | (None, Some(v)) => PatientRef::parse_cx(&v)
            .ok_or_else(|| invalid("patient id is not extension^^^&root&ISO"))?,
        (None, None) => return Err(invalid("no patient id")),
    };
    let purpose_of_use = purpose_of_use(assertion, kind)?;
    let advice = only_child(assertion, SAML_NS, "Advice", kind, "more than one Advice")?
        .ok_or_else(|| invalid("no Advice referring to the HCP identity assertion"))?;
    let refs = children(&advice, SAML_NS, "AssertionIDRef");
    let [hcp_ref] = refs.as_slice() else {
        return Err(invalid("Advice must hold exactly one AssertionIDRef"));
    };
    Ok(TrcClaims {
        subject_id,
        patient,
        purpose_of_use,
        hcp_assertion_ref: hcp_ref.get_content().trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cx_round_trip_and_refusals() {
        let p = PatientRef::parse_cx("0410009234^^^&1.2.208.176.1.2&ISO").unwrap();
        assert_eq!(p.root.as_str(), "1.2.208.176.1.2");
        assert_eq!(p.extension, "0410009234");
        assert_eq!(p.to_cx(), "0410009234^^^&1.2.208.176.1.2&ISO");
        for bad in [
            "",
            "123",
            "^^^&1.2.3&ISO",
            "1^^^&1.2.3&DNS",
            "1^^^&nope&ISO",
            "1^^^x&1.2.3&ISO",
            "1^^^&1.2.3&ISO&x",
        ] {
            assert!(PatientRef::parse_cx(bad).is_none(), "{bad}");
        }
        assert!(!format!("{p:?}").contains("0410009234"));
    }

    #[test]
    fn permissions_roles_facilities() {
        assert_eq!(
            Permission::parse("urn:oasis:names:tc:xspa:1.0:subject:hl7:permission:PRD-006"),
            Some(Permission::Prd006)
        );
        assert_eq!(Permission::parse("PRD-006"), None);
        assert_eq!(
            Permission::Ppd046.urn(),
            format!("{PERMISSION_PREFIX}PPD-046")
        );
        assert_eq!(HcpRole::parse("2262"), Some(HcpRole::PHARMACIST));
        assert_eq!(HcpRole::parse("medical doctors"), Some(HcpRole::PHYSICIAN));
        assert_eq!(HcpRole::parse("9999"), None);
        assert_eq!(
            FacilityType::parse("Resident Physician"),
            Some(FacilityType::ResidentPhysician)
        );
        assert_eq!(
            PurposeOfUse::parse("EMERGENCY"),
            Some(PurposeOfUse::Emergency)
        );
        assert_eq!(PurposeOfUse::parse("RESEARCH"), None);
    }
}
