//! ITI-41 for the initiating gateway: the Provide and Register request carrying an
//! eDispensation (or its discard) as an MTOM part, and the `rs:RegistryResponse` read into an
//! [`Acknowledgement`] or a [`GatewayError`].

use ncp_types::Oid;

use super::errors::classify_all;
use super::{Acknowledgement, ForeignPatientId, GatewayError};
use crate::ihe::metadata::{
    codes, derived_id, scheme, write_classification, write_external_identifier, write_slot,
    DocumentEntry, LCM_NS, RIM_NS, RS_NS, SUBMISSION_SET_NODE,
};
use crate::ihe::xca::XDSB_NS;
use crate::ihe::{Code, PatientIdentifier};
use crate::soap::mtom::{href_for_cid, Attachment, XOP_NS};
use crate::soap::xml::{self, child, children, text_of, Limits, XmlWriter};

const HL7_NS: &str = "urn:hl7-org:v3";
const SUCCESS: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success";
const FAILURE: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure";

/// What the submission metadata takes from the CDA header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdaHeader {
    /// `root^extension`, or `root`.
    pub unique_id: String,
    pub title: String,
    pub language: String,
    pub confidentiality: String,
}

/// Reads the header fields the metadata needs; the CDA must be a ClinicalDocument with an id.
pub fn read_cda_header(cda: &str) -> Result<CdaHeader, GatewayError> {
    let bad = |m: &str| GatewayError::Protocol(format!("the eDispensation CDA: {m}"));
    let doc = xml::parse(cda.as_bytes(), &Limits::default()).map_err(|e| bad(&e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name((HL7_NS, "ClinicalDocument")) {
        return Err(bad("not an HL7 CDA ClinicalDocument"));
    }
    let id = child(root, HL7_NS, "id").ok_or_else(|| bad("no id"))?;
    let id_root = id
        .attribute("root")
        .map(str::trim)
        .filter(|r| Oid::parse(r).is_ok())
        .ok_or_else(|| bad("the id has no OID root"))?;
    let unique_id = match id.attribute("extension").map(str::trim) {
        Some(e) if !e.is_empty() => format!("{id_root}^{e}"),
        _ => id_root.to_owned(),
    };
    let attr = |el: &str, a: &str| {
        child(root, HL7_NS, el)
            .and_then(|n| n.attribute(a))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    Ok(CdaHeader {
        unique_id,
        title: child(root, HL7_NS, "title")
            .map(text_of)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "eDispensation".to_owned()),
        language: attr("languageCode", "code").unwrap_or_else(|| "sv-SE".to_owned()),
        confidentiality: attr("confidentialityCode", "code").unwrap_or_else(|| "N".to_owned()),
    })
}

/// Who submits, and when.
pub struct Submitter<'a> {
    /// Our home community id (the submission set's source and the entry's repository).
    pub home_community_id: &'a Oid,
    /// A fresh OID for the submission set's uniqueId.
    pub submission_unique_id: &'a str,
    /// HL7 DTM, UTC.
    pub submission_time: &'a str,
    /// Seeds the entry UUIDs and the Content-ID.
    pub seed: uuid::Uuid,
}

/// The Provide and Register request body and the MTOM part it names.
pub fn build_provide_and_register(
    submitter: &Submitter<'_>,
    patient: &ForeignPatientId,
    cda: &str,
    discard: bool,
) -> Result<(Vec<u8>, Attachment), GatewayError> {
    let header = read_cda_header(cda)?;
    let patient = PatientIdentifier::new(patient.root.clone(), patient.extension.clone());
    let ss_id = format!("urn:uuid:{}", submitter.seed);
    let entry_id = derived_id(&ss_id, 1);
    let class = Code::new(codes::CLASS_EDISPENSATION, codes::LOINC, "eDispensation");
    let format = if discard {
        Code::new(
            codes::FORMAT_EDISPENSATION_DISCARD,
            codes::FORMAT_SCHEME_EHDSI,
            "eDispensation discard",
        )
    } else {
        Code::new(
            codes::FORMAT_EDISPENSATION,
            codes::FORMAT_SCHEME_EHDSI,
            "eDispensation",
        )
    };
    let entry = DocumentEntry {
        entry_uuid: entry_id.clone(),
        unique_id: header.unique_id.clone(),
        repository_unique_id: submitter.home_community_id.clone(),
        home_community_id: submitter.home_community_id.clone(),
        patient: patient.clone(),
        class_code: class.clone(),
        type_code: class.clone(),
        format_code: format,
        confidentiality_code: Code::new(
            &header.confidentiality,
            codes::CONFIDENTIALITY_SCHEME,
            &header.confidentiality,
        ),
        healthcare_facility_type: None,
        practice_setting: None,
        language_code: header.language.clone(),
        mime_type: "text/xml".to_owned(),
        creation_time: submitter.submission_time.to_owned(),
        title: header.title.clone(),
        description: None,
        size: Some(cda.len() as u64),
        hash: None,
        author_person: None,
        reference_ids: Vec::new(),
        eprescription: None,
        transformation_of: None,
    };
    let cid = format!("edispensation.{}@ncp.se", submitter.seed.simple());

    let mut w = XmlWriter::new();
    w.open(
        "xdsb:ProvideAndRegisterDocumentSetRequest",
        &[
            ("xmlns:xdsb", XDSB_NS),
            ("xmlns:lcm", LCM_NS),
            ("xmlns:rim", RIM_NS),
            ("xmlns:xop", XOP_NS),
        ],
    );
    w.open("lcm:SubmitObjectsRequest", &[]);
    w.open("rim:RegistryObjectList", &[]);
    entry.write(&mut w);
    w.open(
        "rim:RegistryPackage",
        &[
            ("id", &ss_id),
            (
                "objectType",
                "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage",
            ),
        ],
    );
    write_slot(&mut w, "submissionTime", &[submitter.submission_time]);
    w.open("rim:Name", &[]);
    w.empty("rim:LocalizedString", &[("value", &header.title)]);
    w.close();
    write_classification(
        &mut w,
        scheme::SUBMISSION_SET_CONTENT_TYPE,
        &ss_id,
        &derived_id(&ss_id, 2),
        &class,
    );
    write_external_identifier(
        &mut w,
        scheme::SUBMISSION_SET_UNIQUE_ID,
        &ss_id,
        &derived_id(&ss_id, 3),
        submitter.submission_unique_id,
        "XDSSubmissionSet.uniqueId",
    );
    write_external_identifier(
        &mut w,
        scheme::SUBMISSION_SET_SOURCE_ID,
        &ss_id,
        &derived_id(&ss_id, 4),
        submitter.home_community_id.as_str(),
        "XDSSubmissionSet.sourceId",
    );
    write_external_identifier(
        &mut w,
        scheme::SUBMISSION_SET_PATIENT_ID,
        &ss_id,
        &derived_id(&ss_id, 5),
        &patient.to_cx(),
        "XDSSubmissionSet.patientId",
    );
    w.close();
    w.empty(
        "rim:Classification",
        &[
            ("classificationNode", SUBMISSION_SET_NODE),
            ("classifiedObject", &ss_id),
            ("id", &derived_id(&ss_id, 6)),
            (
                "objectType",
                "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification",
            ),
        ],
    );
    w.open(
        "rim:Association",
        &[
            ("associationType", codes::ASSOCIATION_HAS_MEMBER),
            ("id", &derived_id(&ss_id, 7)),
            (
                "objectType",
                "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association",
            ),
            ("sourceObject", &ss_id),
            ("targetObject", &entry_id),
        ],
    );
    write_slot(&mut w, "SubmissionSetStatus", &["Original"]);
    w.close();
    w.close().close();
    w.open("xdsb:Document", &[("id", &entry_id)]);
    w.empty("xop:Include", &[("href", &href_for_cid(&cid))]);
    w.close();
    let attachment = Attachment {
        content_id: cid,
        content_type: "text/xml".to_owned(),
        data: cda.as_bytes().to_vec(),
    };
    Ok((w.finish(), attachment))
}

/// Reads the `rs:RegistryResponse`: accepted (Success, with any warnings), or the error the
/// foreign NCP's RegistryErrorList stands for.
pub fn parse_registry_response(body: &[u8]) -> Result<Acknowledgement, GatewayError> {
    let bad = |m: &str| GatewayError::Protocol(format!("XDR answer: {m}"));
    let doc = xml::parse(body, &Limits::default()).map_err(|e| bad(&e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name((RS_NS, "RegistryResponse")) {
        return Err(bad("not a RegistryResponse"));
    }
    let status = root
        .attribute("status")
        .map(str::trim)
        .ok_or_else(|| bad("no status"))?;
    let foreign_errors: Vec<(String, String)> = children(root, RS_NS, "RegistryErrorList")
        .flat_map(|l| children(l, RS_NS, "RegistryError"))
        .map(|e| {
            (
                e.attribute("errorCode").unwrap_or("").trim().to_owned(),
                e.attribute("codeContext").unwrap_or("").trim().to_owned(),
            )
        })
        .collect();
    match status {
        SUCCESS => Ok(Acknowledgement {
            accepted: true,
            foreign_errors,
        }),
        FAILURE => Err(
            classify_all(&foreign_errors).unwrap_or_else(|| GatewayError::Refused {
                code: "Failure".into(),
                message: "the foreign NCP refused the submission without saying why".into(),
            }),
        ),
        // Anything else is not an acknowledgement: never report the dispensation as accepted.
        _ => Ok(Acknowledgement {
            accepted: false,
            foreign_errors,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ihe::errors::{EhdsiError, RegistryError};
    use crate::ihe::xdr::{build_registry_response, parse_provide_and_register, DocumentKind};

    const CDA: &str = r#"<ClinicalDocument xmlns="urn:hl7-org:v3"><id root="1.2.752.129.2.1.99.2.1" extension="D-1"/><title>Expediering</title><languageCode code="sv-SE"/></ClinicalDocument>"#;

    #[test]
    fn the_submission_reads_back() {
        let hcid = Oid::parse("1.2.752.129.2.1.99.1").unwrap();
        let patient = ForeignPatientId {
            root: Oid::parse("2.16.17.710.850.1000.990.1.1000").unwrap(),
            extension: "1-1234-W8".into(),
        };
        for discard in [false, true] {
            let s = Submitter {
                home_community_id: &hcid,
                submission_unique_id: "1.2.752.129.2.1.99.1.5.1",
                submission_time: "20261125020000",
                seed: uuid::Uuid::new_v4(),
            };
            let (body, att) = build_provide_and_register(&s, &patient, CDA, discard).unwrap();
            let p = parse_provide_and_register(&body, &[att]).unwrap();
            assert_eq!(p.documents.len(), 1);
            assert_eq!(p.documents[0].bytes, CDA.as_bytes());
            assert_eq!(p.documents[0].unique_id, "1.2.752.129.2.1.99.2.1^D-1");
            assert_eq!(p.documents[0].patient.extension, "1-1234-W8");
            assert_eq!(
                p.documents[0].kind,
                if discard {
                    DocumentKind::EDispensationDiscard
                } else {
                    DocumentKind::EDispensation
                }
            );
            assert!(p.kind().is_ok());
        }
    }

    #[test]
    fn acknowledgements() {
        let ok = parse_registry_response(&build_registry_response(&[])).unwrap();
        assert!(ok.accepted);
        let e = parse_registry_response(&build_registry_response(&[RegistryError::ehdsi(
            EhdsiError::ErrorEdNotDispensableEPrescription,
        )]))
        .unwrap_err();
        assert!(matches!(e, GatewayError::NotDispensable(_)), "{e:?}");
        assert!(read_cda_header("<a/>").is_err());
    }
}
