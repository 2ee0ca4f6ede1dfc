//! ITI-41 as eHDSI XDR: eDispensation by MTOM and inline base64, its discard, the RegistryResponse.

use ncp_core::ihe::errors::{EhdsiError, RegistryError};
use ncp_core::ihe::metadata::RS_NS;
use ncp_core::ihe::xdr::{
    build_registry_response, parse_provide_and_register, DocumentKind, SubmissionKind, XdrError,
};
use ncp_core::soap::{parse_request, Limits};

const SOAP_CT: &str = "application/soap+xml; charset=UTF-8";
const MTOM_ENVELOPE: &str = include_str!("fixtures/ihe/xdr_edispensation_envelope.xml");
const EDISP_L3: &[u8] = include_bytes!("fixtures/ihe/edispensation_l3.xml");

fn mtom(envelope: &str, cid: &str, data: &[u8]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    body.extend_from_slice(
        b"--uuid:7b0f\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\n\
          Content-ID: <root.message@cxf.apache.org>\r\n\r\n",
    );
    body.extend_from_slice(envelope.as_bytes());
    body.extend_from_slice(
        format!("\r\n--uuid:7b0f\r\nContent-Type: text/xml\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(b"\r\n--uuid:7b0f--");
    (
        "multipart/related; type=\"application/xop+xml\"; boundary=\"uuid:7b0f\"; start=\"<root.message@cxf.apache.org>\"; start-info=\"application/soap+xml\"".into(),
        body,
    )
}

#[test]
fn edispensation_by_mtom() {
    let (ct, body) = mtom(MTOM_ENVELOPE, "1.edisp@countryB.example", EDISP_L3);
    let req = parse_request(&ct, &body, &Limits::default()).unwrap();
    let pnr = parse_provide_and_register(&req.body, &req.attachments).unwrap();
    assert_eq!(pnr.submission_set.entry_uuid, "SubmissionSet01");
    assert_eq!(
        pnr.submission_set.unique_id,
        "2.16.17.710.807.1000.990.1.8.1"
    );
    assert_eq!(
        pnr.submission_set.source_id.as_deref(),
        Some("2.16.17.710.807.1000.990.1")
    );
    assert_eq!(
        pnr.submission_set.content_type.as_ref().unwrap().code,
        "60593-1"
    );
    assert_eq!(pnr.documents.len(), 1);
    let d = &pnr.documents[0];
    assert_eq!(d.entry_uuid, "Document01");
    assert_eq!(d.unique_id, "2.16.17.710.807.1000.990.1.7^disp-77");
    assert_eq!(d.class_code.code, "60593-1");
    assert_eq!(d.format_code.code, "urn:epSOS:ep:dis:2010");
    assert_eq!(d.kind, DocumentKind::EDispensation);
    assert_eq!(d.patient.root.as_str(), "1.2.752.129.2.1.3.1");
    assert!(d.patient.person_id().is_ok());
    assert_eq!(d.mime_type, "text/xml");
    assert_eq!(d.bytes, EDISP_L3);
    assert_eq!(pnr.kind().unwrap(), SubmissionKind::Dispensation);
    assert!(!format!("{pnr:?}").contains("191212121212"));
}

#[test]
fn edispensation_inline_base64() {
    let req = parse_request(
        SOAP_CT,
        include_str!("fixtures/ihe/xdr_edispensation_base64.xml").as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    let pnr = parse_provide_and_register(&req.body, &req.attachments).unwrap();
    assert_eq!(pnr.documents[0].bytes, EDISP_L3);
    assert_eq!(pnr.kind().unwrap(), SubmissionKind::Dispensation);
}

#[test]
fn discard_is_told_apart_by_its_format_code() {
    let req = parse_request(
        SOAP_CT,
        include_str!("fixtures/ihe/xdr_discard_base64.xml").as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    let pnr = parse_provide_and_register(&req.body, &req.attachments).unwrap();
    assert_eq!(pnr.documents[0].kind, DocumentKind::EDispensationDiscard);
    assert_eq!(
        pnr.documents[0].format_code.code,
        "urn:eHDSI:ed:discard:2020"
    );
    assert_eq!(pnr.kind().unwrap(), SubmissionKind::DispensationDiscard);
}

#[test]
fn other_class_codes_are_an_unknown_signifier() {
    let ps = include_str!("fixtures/ihe/xdr_edispensation_base64.xml").replace(
        "nodeRepresentation=\"60593-1\"",
        "nodeRepresentation=\"60591-5\"",
    );
    let req = parse_request(SOAP_CT, ps.as_bytes(), &Limits::default()).unwrap();
    let pnr = parse_provide_and_register(&req.body, &req.attachments).unwrap();
    assert_eq!(pnr.documents[0].kind, DocumentKind::Unsupported);
    let err = pnr.kind().unwrap_err();
    assert_eq!(err.code.code(), "4202");
}

#[test]
fn missing_pieces_are_typed() {
    let l = Limits::default();
    // The MTOM part is not there (the envelope alone, sent as MTOM with another part).
    let (ct, body) = mtom(MTOM_ENVELOPE, "someone-else@x", b"..");
    assert!(parse_request(&ct, &body, &l).is_err());

    let base = include_str!("fixtures/ihe/xdr_edispensation_base64.xml");
    let no_doc = base.replace(
        "<xdsb:Document id=\"Document01\">",
        "<xdsb:Document id=\"Document99\">",
    );
    let req = parse_request(SOAP_CT, no_doc.as_bytes(), &l).unwrap();
    let e = parse_provide_and_register(&req.body, &[]).unwrap_err();
    assert_eq!(e, XdrError::MissingDocument);
    assert_eq!(e.registry_error().code.code(), "XDSMissingDocument");

    let no_uid = base.replace(
        "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
        "urn:uuid:0",
    );
    let req = parse_request(SOAP_CT, no_uid.as_bytes(), &l).unwrap();
    let e = parse_provide_and_register(&req.body, &[]).unwrap_err();
    assert!(matches!(e, XdrError::Message(_)));
    assert_eq!(e.registry_error().code.code(), "XDSRegistryMetadataError");

    // The submission set speaks of another patient than the document.
    let other = base.replacen(
        "value=\"191212121212^^^&amp;1.2.752.129.2.1.3.1&amp;ISO\">\n              <rim:Name><rim:LocalizedString value=\"XDSSubmissionSet.patientId\"/>",
        "value=\"191010101010^^^&amp;1.2.752.129.2.1.3.1&amp;ISO\">\n              <rim:Name><rim:LocalizedString value=\"XDSSubmissionSet.patientId\"/>",
        1,
    );
    assert_ne!(other, base);
    let req = parse_request(SOAP_CT, other.as_bytes(), &l).unwrap();
    let e = parse_provide_and_register(&req.body, &[]).unwrap_err();
    assert_eq!(e, XdrError::PatientIdDoesNotMatch);
    assert_eq!(e.registry_error().code.code(), "XDSPatientIdDoesNotMatch");

    let bad_b64 = base.replace("PD94bWwg", "!!!!");
    let req = parse_request(SOAP_CT, bad_b64.as_bytes(), &l).unwrap();
    assert!(matches!(
        parse_provide_and_register(&req.body, &[]),
        Err(XdrError::Message(_))
    ));
}

fn status_and_codes(xml: &[u8]) -> (String, Vec<String>) {
    let text = std::str::from_utf8(xml).unwrap();
    let doc = roxmltree::Document::parse(text).unwrap();
    let root = doc.root_element();
    assert!(root.has_tag_name((RS_NS, "RegistryResponse")));
    let codes = doc
        .descendants()
        .filter(|n| n.has_tag_name((RS_NS, "RegistryError")))
        .map(|n| n.attribute("errorCode").unwrap().to_owned())
        .collect();
    (root.attribute("status").unwrap().to_owned(), codes)
}

#[test]
fn registry_responses() {
    let (s, c) = status_and_codes(&build_registry_response(&[]));
    assert_eq!(
        s,
        "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    );
    assert!(c.is_empty());

    let (s, c) = status_and_codes(&build_registry_response(&[RegistryError::ehdsi(
        EhdsiError::ErrorEdNotDispensableEPrescription,
    )]));
    assert_eq!(
        s,
        "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
    );
    assert_eq!(c, vec!["ERROR_ED_NOT_DISPENSABLE_EPRESCRIPTION"]);

    let (s, c) = status_and_codes(&build_registry_response(&[
        RegistryError::ehdsi(EhdsiError::ErrorEdDiscardFailed),
        RegistryError::ehdsi(EhdsiError::EPrescriptionAlreadyDispensed),
    ]));
    assert_eq!(
        s,
        "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
    );
    assert_eq!(c, vec!["ERROR_ED_DISCARD_FAILED", "4106"]);

    // A warning alone leaves the submission a success.
    let (s, _) = status_and_codes(&build_registry_response(&[RegistryError::ehdsi(
        EhdsiError::ErrorEdGeneric,
    )
    .warning()]));
    assert_eq!(
        s,
        "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    );
}
