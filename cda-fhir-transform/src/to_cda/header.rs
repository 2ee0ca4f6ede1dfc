//! The CDA header the eHDSI ePrescription and eDispensation templates share (recordTarget,
//! author, custodian, legalAuthenticator, inFulfillmentOf, relatedDocument).

use ncp_types::systems::HSA_ID_OID;

use super::fhir::{Ident, PatientView, ProfessionalView, Ts};
use super::xml::{self, Xml};
use super::{CdaOptions, NcpOrganisation};

pub(crate) const LOINC: &str = "2.16.840.1.113883.6.1";
const ISCO: &str = "2.16.840.1.113883.2.9.6.2.7";

/// The document-specific parts of a header.
pub(crate) struct Header<'a> {
    pub template_id: &'static str,
    pub id: (&'a str, &'a str),
    pub code: (&'static str, &'static str),
    pub title: &'a str,
    pub set_id: Option<(&'a str, &'a str)>,
    pub version: Option<u32>,
    pub patient: &'a PatientView,
    pub author: &'a ProfessionalView,
    pub author_time: &'a Ts,
    /// The default eHDSIHealthcareProfessionalRole (ISCO-08) code when the role codes sent do
    /// not name one.
    pub default_function: (&'static str, &'static str),
    /// The order this document fulfils (eDispensation: the ePrescription id).
    pub in_fulfillment_of: Option<&'a Ident>,
    /// The national document this one was transformed from (`XFRM`).
    pub transformed_from: Option<(&'a str, &'a str)>,
    /// The document this one replaces (`RPLC`, the discard of a dispensation).
    pub replaces: Option<(&'a str, &'a str)>,
}

/// ISCO-08 (eHDSIHealthcareProfessionalRole) for the role codes Swedish services send: the
/// `legitimerad yrkesgrupp` codes, or an ISCO code itself.
fn function_code(role_codes: &[String]) -> Option<(&'static str, &'static str)> {
    role_codes.iter().find_map(|c| {
        Some(match c.trim().to_ascii_uppercase().as_str() {
            // HSA legitimerad yrkesgrupp, SNOMED CT (as NLL sends it), or ISCO-08 itself.
            "LK" | "309343006" | "221" => ("221", "Medical doctors"),
            "TL" | "2261" => ("2261", "Dentists"),
            "SJ" | "2221" => ("2221", "Nursing professionals"),
            "BM" | "2222" => ("2222", "Midwifery professionals"),
            "AP" | "RC" | "46255001" | "2262" => ("2262", "Pharmacists"),
            _ => return None,
        })
    })
}

/// The start of every document this crate writes: `ClinicalDocument` with its namespaces,
/// typeId, the eHDSI templateId, id, LOINC document code, title, effectiveTime (HL7 TS),
/// confidentiality `N` and language `sv-SE`.
pub(crate) fn open_document(
    x: &mut Xml,
    template_id: &str,
    id: (&str, &str),
    code: (&str, &str),
    title: &str,
    effective_time: &str,
) {
    x.start(
        "ClinicalDocument",
        &[
            ("xmlns", "urn:hl7-org:v3"),
            ("xmlns:pharm", "urn:hl7-org:pharm"),
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
            ("classCode", "DOCCLIN"),
            ("moodCode", "EVN"),
        ],
    );
    x.empty(
        "typeId",
        &[
            ("root", "2.16.840.1.113883.1.3"),
            ("extension", "POCD_HD000040"),
        ],
    );
    x.empty("templateId", &[("root", template_id)]);
    xml::ii(x, "id", id.0, Some(id.1));
    x.empty(
        "code",
        &[
            ("code", code.0),
            ("codeSystem", LOINC),
            ("codeSystemName", "LOINC"),
            ("displayName", code.1),
        ],
    );
    x.leaf("title", &[], title);
    x.empty("effectiveTime", &[("value", effective_time)]);
    x.empty(
        "confidentialityCode",
        &[
            ("code", "N"),
            ("codeSystem", "2.16.840.1.113883.5.25"),
            ("displayName", "normal"),
        ],
    );
    x.empty("languageCode", &[("code", "sv-SE")]);
}

pub(crate) fn write_start(x: &mut Xml, h: &Header<'_>, opts: &CdaOptions) {
    let now = opts.now.format("%Y%m%d%H%M%S%z").to_string();
    open_document(x, h.template_id, h.id, h.code, h.title, &now);
    if let Some((root, ext)) = h.set_id {
        xml::ii(x, "setId", root, Some(ext));
    }
    if let Some(v) = h.version {
        x.empty("versionNumber", &[("value", &xml::int(v))]);
    }
    x.newline();
    record_target(x, h.patient);
    x.newline();
    author(x, h);
    x.newline();
    custodian(x, &opts.custodian);
    x.newline();
    legal_authenticator(x, h.author, h.author_time);
    x.newline();
    if let Some(order) = h.in_fulfillment_of {
        x.start("inFulfillmentOf", &[("typeCode", "FLFS")]);
        x.start("order", &[("classCode", "ACT"), ("moodCode", "RQO")]);
        xml::ii(x, "id", order.root.as_str(), Some(&order.extension));
        x.end();
        x.end();
    }
    if let Some((root, ext)) = h.transformed_from {
        x.start("relatedDocument", &[("typeCode", "XFRM")]);
        x.start(
            "parentDocument",
            &[("classCode", "DOCCLIN"), ("moodCode", "EVN")],
        );
        xml::ii(x, "id", root, Some(ext));
        x.end();
        x.end();
    }
    if let Some((root, ext)) = h.replaces {
        x.start("relatedDocument", &[("typeCode", "RPLC")]);
        x.start(
            "parentDocument",
            &[("classCode", "DOCCLIN"), ("moodCode", "EVN")],
        );
        xml::ii(x, "id", root, Some(ext));
        if let Some((set_root, set_ext)) = h.set_id {
            xml::ii(x, "setId", set_root, Some(set_ext));
        }
        x.end();
        x.end();
    }
    x.newline();
}

pub(crate) fn record_target(x: &mut Xml, p: &PatientView) {
    x.start(
        "recordTarget",
        &[("typeCode", "RCT"), ("contextControlCode", "OP")],
    );
    x.start("patientRole", &[("classCode", "PAT")]);
    xml::ii(x, "id", p.id.root.as_str(), Some(&p.id.extension));
    xml::addr(x, p.address.as_ref(), None);
    xml::telecoms(x, &p.telecom);
    x.start(
        "patient",
        &[("classCode", "PSN"), ("determinerCode", "INSTANCE")],
    );
    xml::person_name(x, &p.name.family, &p.name.given);
    match p.gender {
        Some(g) => {
            let display = match g {
                "M" => "Male",
                "F" => "Female",
                _ => "Undifferentiated",
            };
            x.empty(
                "administrativeGenderCode",
                &[
                    ("code", g),
                    ("codeSystem", "2.16.840.1.113883.5.1"),
                    ("displayName", display),
                ],
            )
        }
        None => x.empty("administrativeGenderCode", &[("nullFlavor", "UNK")]),
    };
    x.empty("birthTime", &[("value", &p.birth_time.0)]);
    x.end();
    x.end();
    x.end();
}

/// `representedOrganization` (eHDSIOrganization): id, name, telecom, addr with country.
pub(crate) fn organization(x: &mut Xml, o: &super::fhir::OrganizationView) {
    x.start(
        "representedOrganization",
        &[("classCode", "ORG"), ("determinerCode", "INSTANCE")],
    );
    xml::ii(x, "id", HSA_ID_OID, Some(o.hsa_id.as_str()));
    x.leaf("name", &[], &o.name);
    xml::telecoms(x, &o.telecom);
    xml::addr(x, o.address.as_ref(), Some("SE"));
    x.end();
}

/// The inside of an assignedAuthor / assignedEntity for a Swedish professional.
pub(crate) fn professional(x: &mut Xml, p: &ProfessionalView) {
    xml::ii(x, "id", HSA_ID_OID, Some(p.hsa_id.as_str()));
    xml::addr(x, p.organization.address.as_ref(), None);
    xml::telecoms(x, &p.telecom);
    x.start(
        "assignedPerson",
        &[("classCode", "PSN"), ("determinerCode", "INSTANCE")],
    );
    xml::person_name(x, &p.name.family, &p.name.given);
    x.end();
    organization(x, &p.organization);
}

fn author(x: &mut Xml, h: &Header<'_>) {
    author_element(x, h.author, h.author_time, h.default_function);
}

/// `<author>` (eHDSIAuthorPrescriber / eHDSIAuthor): function (ISCO-08), time and the
/// professional with their organisation. Used in the header and for the prescriber of the
/// substanceAdministration.
pub(crate) fn author_element(
    x: &mut Xml,
    p: &ProfessionalView,
    time: &Ts,
    default_function: (&'static str, &'static str),
) {
    x.start(
        "author",
        &[("typeCode", "AUT"), ("contextControlCode", "OP")],
    );
    let (code, display) = function_code(&p.role_codes).unwrap_or(default_function);
    x.empty(
        "functionCode",
        &[
            ("code", code),
            ("codeSystem", ISCO),
            ("codeSystemName", "ISCO"),
            ("displayName", display),
        ],
    );
    x.empty("time", &[("value", &time.0)]);
    x.start("assignedAuthor", &[("classCode", "ASSIGNED")]);
    professional(x, p);
    x.end();
    x.end();
}

/// The NCP's telecom (`use="WP"`); `nullFlavor="NI"` when it has none.
pub(crate) fn ncp_telecom(x: &mut Xml, c: &NcpOrganisation) {
    match &c.telecom {
        Some(t) => x.empty("telecom", &[("use", "WP"), ("value", t)]),
        None => x.empty("telecom", &[("nullFlavor", "NI")]),
    };
}

/// The NCP as the organisation element `name` (eHDSIOrganization / custodian organisation):
/// id, name, telecom and address with country.
pub(crate) fn ncp_organization(x: &mut Xml, name: &'static str, c: &NcpOrganisation) {
    x.start(
        name,
        &[("classCode", "ORG"), ("determinerCode", "INSTANCE")],
    );
    xml::ii(x, "id", c.id.as_str(), None);
    x.leaf("name", &[], &c.name);
    ncp_telecom(x, c);
    xml::addr(x, Some(&c.address), Some("SE"));
    x.end();
}

pub(crate) fn custodian(x: &mut Xml, c: &NcpOrganisation) {
    x.start("custodian", &[("typeCode", "CST")]);
    x.start("assignedCustodian", &[("classCode", "ASSIGNED")]);
    ncp_organization(x, "representedCustodianOrganization", c);
    x.end();
    x.end();
}

/// The professional who signed the prescription (or dispensation) in the national system is
/// the document's legal authenticator.
fn legal_authenticator(x: &mut Xml, p: &ProfessionalView, time: &Ts) {
    x.start(
        "legalAuthenticator",
        &[("typeCode", "LA"), ("contextControlCode", "OP")],
    );
    x.empty("time", &[("value", &time.0)]);
    x.empty("signatureCode", &[("code", "S")]);
    x.start("assignedEntity", &[("classCode", "ASSIGNED")]);
    professional(x, p);
    x.end();
    x.end();
}
