//! The Patient Summary header. The summary is compiled by the NCP from the care providers'
//! records, so the document author is the NCP's system (an authoring device on behalf of the
//! NCP), the custodian is the NCP, and the NCP takes legal responsibility (eHDSI
//! LegalAuthenticator: "a person or a regional authority, or an NCP"). Each entry keeps the
//! care provider it came from as its own author.

use super::super::fhir::PatientView;
use super::super::header as cda_header;
use super::super::xml::{self, Xml};
use super::super::{CdaOptions, NcpOrganisation};
use super::input::PsAuthor;
use ncp_types::systems::HSA_ID_OID;

pub(super) struct PsHeader<'a> {
    pub template_id: &'static str,
    pub id_ext: &'a str,
    pub title: &'a str,
    pub time: &'a str,
    pub patient: &'a PatientView,
    /// `relatedDocument XFRM`: the national data the summary was compiled from.
    pub source_ext: &'a str,
    /// The organisation to contact about the patient (eHDSI contact / preferred HP / legal
    /// organisation): the care provider holding most of the summary's entries; the NCP when
    /// there are none.
    pub contact: Option<&'a PsAuthor>,
}

/// Name of the authoring device (the bridge).
const SOFTWARE: &str = "Svensk nationell kontaktpunkt / Swedish NCP bridge";

fn ncp_contact(x: &mut Xml, c: &NcpOrganisation) {
    xml::ii(x, "id", c.id.as_str(), None);
    xml::addr(x, Some(&c.address), Some("SE"));
    cda_header::ncp_telecom(x, c);
}

pub(super) fn write(x: &mut Xml, h: &PsHeader<'_>, opts: &CdaOptions) {
    let ncp = &opts.custodian;
    cda_header::open_document(
        x,
        h.template_id,
        (opts.document_id_root.as_str(), h.id_ext),
        ("60591-5", "Patient summary Document"),
        h.title,
        h.time,
    );
    x.newline();
    cda_header::record_target(x, h.patient);
    x.newline();
    // Author: the NCP's system, on behalf of the NCP.
    x.start(
        "author",
        &[("typeCode", "AUT"), ("contextControlCode", "OP")],
    );
    x.empty("time", &[("value", h.time)]);
    x.start("assignedAuthor", &[("classCode", "ASSIGNED")]);
    ncp_contact(x, ncp);
    x.start(
        "assignedAuthoringDevice",
        &[("classCode", "DEV"), ("determinerCode", "INSTANCE")],
    );
    x.leaf("softwareName", &[], SOFTWARE);
    x.end();
    cda_header::ncp_organization(x, "representedOrganization", ncp);
    x.end();
    x.end();
    x.newline();
    cda_header::custodian(x, ncp);
    x.newline();
    // Legal authenticator: the NCP taking responsibility for the compiled summary.
    x.start(
        "legalAuthenticator",
        &[("typeCode", "LA"), ("contextControlCode", "OP")],
    );
    x.empty("time", &[("value", h.time)]);
    x.empty("signatureCode", &[("code", "S")]);
    x.start("assignedEntity", &[("classCode", "ASSIGNED")]);
    ncp_contact(x, ncp);
    x.start(
        "assignedPerson",
        &[("classCode", "PSN"), ("determinerCode", "INSTANCE")],
    );
    xml::person_name(x, &ncp.name, &["Nationell kontaktpunkt".to_owned()]);
    x.end();
    cda_header::ncp_organization(x, "representedOrganization", ncp);
    x.end();
    x.end();
    x.newline();
    contact(x, h.contact, ncp);
    x.newline();
    x.start("documentationOf", &[("typeCode", "DOC")]);
    x.start(
        "serviceEvent",
        &[("classCode", "PCPR"), ("moodCode", "EVN")],
    );
    x.start("effectiveTime", &[]);
    x.empty("high", &[("value", h.time)]);
    x.end();
    x.end();
    x.end();
    x.start("relatedDocument", &[("typeCode", "XFRM")]);
    x.start(
        "parentDocument",
        &[("classCode", "DOCCLIN"), ("moodCode", "EVN")],
    );
    xml::ii(x, "id", opts.document_id_root.as_str(), Some(h.source_ext));
    x.end();
    x.end();
    x.newline();
}

/// `participant` (IHE 1.3.6.1.4.1.19376.1.5.3.1.2.4, eHDSI contact / preferred HP / legal
/// organisation) as an organisation (`scopingOrganization`).
fn contact(x: &mut Xml, provider: Option<&PsAuthor>, ncp: &NcpOrganisation) {
    x.start("participant", &[("typeCode", "IND")]);
    x.empty("templateId", &[("root", "1.3.6.1.4.1.19376.1.5.3.1.2.4")]);
    x.start("associatedEntity", &[("classCode", "PRS")]);
    match provider {
        Some(p) => {
            xml::addr(x, None, Some("SE"));
            xml::telecoms(x, &[]);
            x.start(
                "scopingOrganization",
                &[("classCode", "ORG"), ("determinerCode", "INSTANCE")],
            );
            xml::ii(x, "id", HSA_ID_OID, Some(p.hsa_id.as_str()));
            x.leaf("name", &[], &p.name);
            x.end();
        }
        None => {
            xml::addr(x, Some(&ncp.address), Some("SE"));
            cda_header::ncp_telecom(x, ncp);
            x.start(
                "scopingOrganization",
                &[("classCode", "ORG"), ("determinerCode", "INSTANCE")],
            );
            xml::ii(x, "id", ncp.id.as_str(), None);
            x.leaf("name", &[], &ncp.name);
            x.end();
        }
    }
    x.end();
    x.end();
}
