//! ITI-38 and ITI-39: the eHDSI ePrescription list and retrieve, parsed and built, re-read.

use ncp_core::ihe::errors::{EhdsiError, RegistryError, Severity, XdsError};
use ncp_core::ihe::metadata::{
    self, codes, scheme, DocumentEntry, EPrescriptionMetadata, QUERY_NS, RIM_NS, RS_NS,
};
use ncp_core::ihe::xca::{
    build_query_response, build_retrieve_response, parse_query, parse_retrieve, QueryError,
    RetrievedDocument, ReturnType, Transfer, XDSB_NS,
};
use ncp_core::ihe::{Code, PatientIdentifier};
use ncp_core::soap::addressing::Transaction;
use ncp_core::soap::mtom::{self, XOP_NS};
use ncp_core::soap::{parse_request, Limits, ResponseHeaders, SoapResponse};
use ncp_types::Oid;

const SOAP_CT: &str = "application/soap+xml; charset=UTF-8";
const SE_HCID: &str = "2.16.17.710.850.1000.990.1";
const REPO: &str = "2.16.17.710.850.1000.990.1.2";

/// The first element named `name` at or below `n`; panics when there is none.
fn first<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: (&str, &str)) -> roxmltree::Node<'a, 'i> {
    n.descendants()
        .find(|c| c.has_tag_name(name))
        .unwrap_or_else(|| panic!("no {}", name.1))
}

fn body_of(fixture: &str) -> Vec<u8> {
    parse_request(SOAP_CT, fixture.as_bytes(), &Limits::default())
        .unwrap()
        .body
}

fn patient() -> PatientIdentifier {
    PatientIdentifier::new(Oid::parse("1.2.752.129.2.1.3.1").unwrap(), "191212121212")
}

fn entry(uuid: &str, unique_id: &str, pdf: bool) -> DocumentEntry {
    let (format, mime) = if pdf {
        (
            Code::new(
                codes::FORMAT_PDF,
                codes::FORMAT_SCHEME_IHE_PCC,
                "PDF/A coded document",
            ),
            "text/xml",
        )
    } else {
        (
            Code::new(
                codes::FORMAT_EPRESCRIPTION,
                codes::FORMAT_SCHEME_EHDSI,
                "epSOS coded ePrescription",
            ),
            "text/xml",
        )
    };
    DocumentEntry {
        entry_uuid: uuid.into(),
        unique_id: unique_id.into(),
        repository_unique_id: Oid::parse(REPO).unwrap(),
        home_community_id: Oid::parse(SE_HCID).unwrap(),
        patient: patient(),
        class_code: Code::new(codes::CLASS_EPRESCRIPTION, codes::LOINC, "ePrescription"),
        type_code: Code::new(codes::CLASS_EPRESCRIPTION, codes::LOINC, "ePrescription"),
        format_code: format,
        confidentiality_code: Code::new("N", codes::CONFIDENTIALITY_SCHEME, "Normal"),
        healthcare_facility_type: Some(Code::new("SE", "1.0.3166.1", "Sweden")),
        practice_setting: None,
        language_code: "sv-SE".into(),
        mime_type: mime.into(),
        creation_time: "20261120083000".into(),
        title: "eHDSI - ePrescription".into(),
        description: Some("Omeprazol 20 mg".into()),
        size: Some(13844),
        hash: Some("da39a3ee5e6b4b0d3255bfef95601890afd80709".into()),
        author_person: Some("^Läkare^Lisa^^^".into()),
        reference_ids: vec![
            "rx-1001^^^&1.2.752.129.2.1.2.99&ISO^urn:ihe:iti:xds:2013:uniqueId".into(),
        ],
        eprescription: Some(EPrescriptionMetadata {
            atc: Some(Code::new("A02BC01", codes::ATC, "omeprazole")),
            dose_form: Some(Code::new("10219000", codes::EDQM, "Tablet")),
            strength: Some("20 mg".into()),
            substitution: Some(Code::new("N", codes::SUBSTITUTION, "none")),
            dispensable: true,
        }),
        transformation_of: None,
    }
}

#[test]
fn parses_find_documents_for_eprescriptions() {
    let q = parse_query(&body_of(include_str!("fixtures/ihe/xca_query.xml"))).unwrap();
    assert_eq!(q.patient.root.as_str(), "1.2.752.129.2.1.3.1");
    assert_eq!(q.patient.extension, "191212121212");
    assert!(q.patient.person_id().is_ok());
    assert_eq!(q.class_codes.len(), 1);
    assert_eq!(q.class_codes[0].code, "57833-6");
    assert_eq!(q.class_codes[0].scheme, "2.16.840.1.113883.6.1");
    assert_eq!(
        q.statuses,
        vec!["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]
    );
    assert_eq!(q.home_community_id.unwrap().as_str(), SE_HCID);
    assert_eq!(q.return_type, ReturnType::LeafClass);
}

#[test]
fn refuses_other_stored_queries_and_bad_parameters() {
    let good = String::from_utf8(body_of(include_str!("fixtures/ihe/xca_query.xml"))).unwrap();
    let other = good.replace(
        "14d4debf-8f97-4251-9a74-a90016b0af0d",
        "5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4",
    );
    let e = parse_query(other.as_bytes()).unwrap_err();
    assert!(matches!(e, QueryError::UnknownStoredQuery(_)));
    assert_eq!(e.registry_error().code.code(), "XDSUnknownStoredQuery");

    let no_patient = good.replace("$XDSDocumentEntryPatientId", "$Other");
    let e = parse_query(no_patient.as_bytes()).unwrap_err();
    assert_eq!(e, QueryError::ParamNumber("$XDSDocumentEntryPatientId"));
    assert_eq!(
        e.registry_error().code.code(),
        XdsError::XdsStoredQueryParamNumber.code()
    );

    let bad_cx = good.replace("&amp;ISO'", "&amp;DNS'");
    assert!(matches!(
        parse_query(bad_cx.as_bytes()),
        Err(QueryError::Message(_))
    ));
    let unbalanced = good.replace("('57833-6^^2.16.840.1.113883.6.1')", "('57833-6");
    assert!(matches!(
        parse_query(unbalanced.as_bytes()),
        Err(QueryError::Message(_))
    ));
}

#[test]
fn query_response_has_full_metadata_and_the_l1_l3_pair() {
    let l3 = entry(
        "urn:uuid:11111111-2222-4333-8444-555555555555",
        "1.2.752.129.2.1.2.99^rx-1001",
        false,
    );
    let mut l1 = entry(
        "urn:uuid:66666666-7777-4888-9999-aaaaaaaaaaaa",
        "1.2.752.129.2.1.2.99^rx-1001.pdf",
        true,
    );
    l1.transformation_of = Some(l3.entry_uuid.clone());
    let xml = build_query_response(&[l3.clone(), l1.clone()], &[], ReturnType::LeafClass);
    let text = String::from_utf8(xml).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    assert!(root.has_tag_name((QUERY_NS, "AdhocQueryResponse")));
    assert_eq!(
        root.attribute("status"),
        Some("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success")
    );
    let eos: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name((RIM_NS, "ExtrinsicObject")))
        .collect();
    assert_eq!(eos.len(), 2);
    let eo = eos[0];
    assert_eq!(eo.attribute("id"), Some(l3.entry_uuid.as_str()));
    assert_eq!(
        eo.attribute("home"),
        Some("urn:oid:2.16.17.710.850.1000.990.1")
    );
    assert_eq!(eo.attribute("mimeType"), Some("text/xml"));
    assert_eq!(
        eo.attribute("objectType"),
        Some(metadata::DOCUMENT_ENTRY_TYPE)
    );
    assert_eq!(metadata::slot_values(eo, "repositoryUniqueId"), vec![REPO]);
    assert_eq!(
        metadata::slot_values(eo, "creationTime"),
        vec!["20261120083000"]
    );
    assert_eq!(metadata::slot_values(eo, "languageCode"), vec!["sv-SE"]);
    assert_eq!(metadata::slot_values(eo, "size"), vec!["13844"]);
    assert_eq!(
        metadata::slot_values(eo, "sourcePatientId"),
        vec!["191212121212^^^&1.2.752.129.2.1.3.1&ISO"]
    );
    assert_eq!(metadata::slot_values(eo, codes::REFERENCE_ID_LIST).len(), 1);
    assert_eq!(
        metadata::localized(eo, "Name").as_deref(),
        Some("eHDSI - ePrescription")
    );
    assert_eq!(
        metadata::localized(eo, "Description").as_deref(),
        Some("Omeprazol 20 mg")
    );
    let class = metadata::classifications(eo, scheme::CLASS_CODE);
    assert_eq!(class[0].code, "57833-6");
    assert_eq!(class[0].scheme, codes::LOINC);
    assert_eq!(
        metadata::classifications(eo, scheme::FORMAT_CODE)[0].code,
        "urn:epSOS:ep:pre:2010"
    );
    assert_eq!(
        metadata::classifications(eo, scheme::TYPE_CODE)[0].code,
        "57833-6"
    );
    assert_eq!(
        metadata::classifications(eo, scheme::CONFIDENTIALITY_CODE)[0].code,
        "N"
    );
    assert_eq!(
        metadata::external_identifier(eo, scheme::UNIQUE_ID).as_deref(),
        Some("1.2.752.129.2.1.2.99^rx-1001")
    );
    assert_eq!(
        metadata::external_identifier(eo, scheme::PATIENT_ID).as_deref(),
        Some("191212121212^^^&1.2.752.129.2.1.3.1&ISO")
    );
    // The ePrescription slots come back exactly as written.
    assert_eq!(metadata::read_eprescription(eo), l3.eprescription);
    assert_eq!(metadata::read_entry_core(eo).unwrap().1, l3.unique_id);
    // Every classification and identifier id is unique.
    let mut ids: Vec<_> = doc
        .descendants()
        .filter_map(|n| n.attribute("id"))
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n);
    // L1 is a transformation of L3.
    let assoc = first(doc.root(), (RIM_NS, "Association"));
    assert_eq!(
        assoc.attribute("associationType"),
        Some(codes::ASSOCIATION_XFRM)
    );
    assert_eq!(
        assoc.attribute("sourceObject"),
        Some(l1.entry_uuid.as_str())
    );
    assert_eq!(
        assoc.attribute("targetObject"),
        Some(l3.entry_uuid.as_str())
    );
    assert_eq!(
        metadata::classifications(eos[1], scheme::FORMAT_CODE)[0].code,
        codes::FORMAT_PDF
    );
}

#[test]
fn not_dispensable_is_the_closed_workflow_code() {
    let mut e = entry(
        "urn:uuid:11111111-2222-4333-8444-555555555555",
        "1.2^x",
        false,
    );
    e.eprescription.as_mut().unwrap().dispensable = false;
    let text = String::from_utf8(build_query_response(&[e], &[], ReturnType::LeafClass)).unwrap();
    assert!(text.contains(codes::XDW_CLOSED));
    let doc = roxmltree::Document::parse(&text).unwrap();
    let eo = first(doc.root(), (RIM_NS, "ExtrinsicObject"));
    assert!(!metadata::read_eprescription(eo).unwrap().dispensable);
}

#[test]
fn no_eprescriptions_is_a_warning_with_success() {
    let errors = [RegistryError::ehdsi(EhdsiError::EPrescriptionsNotFound)
        .with_location(format!("urn:oid:{SE_HCID}"))];
    let text =
        String::from_utf8(build_query_response(&[], &errors, ReturnType::LeafClass)).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(
        doc.root_element().attribute("status"),
        Some("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success")
    );
    let re = first(doc.root(), (RS_NS, "RegistryError"));
    assert_eq!(re.attribute("errorCode"), Some("1101"));
    assert_eq!(re.attribute("severity"), Some(Severity::Warning.urn()));
    assert_eq!(
        re.attribute("location"),
        Some("urn:oid:2.16.17.710.850.1000.990.1")
    );
    assert!(re
        .attribute("codeContext")
        .unwrap()
        .contains("ePrescriptions"));
}

#[test]
fn consent_error_is_failure_and_partial_with_results() {
    let errors = [RegistryError::ehdsi(EhdsiError::NoConsent)];
    let text =
        String::from_utf8(build_query_response(&[], &errors, ReturnType::LeafClass)).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(
        doc.root_element().attribute("status"),
        Some("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure")
    );
    let e = entry(
        "urn:uuid:11111111-2222-4333-8444-555555555555",
        "1.2^x",
        false,
    );
    let text =
        String::from_utf8(build_query_response(&[e], &errors, ReturnType::ObjectRef)).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(
        doc.root_element().attribute("status"),
        Some("urn:ihe:iti:2007:ResponseStatusType:PartialSuccess")
    );
    assert!(doc
        .descendants()
        .any(|n| n.has_tag_name((RIM_NS, "ObjectRef"))));
}

#[test]
fn parses_the_retrieve_request() {
    let r = parse_retrieve(&body_of(include_str!("fixtures/ihe/xca_retrieve.xml"))).unwrap();
    assert_eq!(r.documents.len(), 2);
    assert_eq!(
        r.documents[0].home_community_id.as_ref().unwrap().as_str(),
        SE_HCID
    );
    assert_eq!(r.documents[0].repository_unique_id.as_str(), REPO);
    assert_eq!(
        r.documents[0].document_unique_id,
        "1.2.752.129.2.1.2.99^rx-1001"
    );
    assert!(
        parse_retrieve(b"<RetrieveDocumentSetRequest xmlns=\"urn:ihe:iti:xds-b:2007\"/>").is_err()
    );
}

fn sample_cda() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/ehdsi/samples/openncp-mock/epstore-1-1234-W8.xml");
    match std::fs::read(&path) {
        Ok(b) => b,
        Err(_) => {
            eprintln!(
                "shared eHDSI sample not found at {}: using the local eDispensation fixture",
                path.display()
            );
            include_bytes!("fixtures/ihe/edispensation_l3.xml").to_vec()
        }
    }
}

#[test]
fn retrieve_response_as_mtom_round_trips_the_document() {
    let cda = sample_cda();
    let docs = [RetrievedDocument {
        home_community_id: Oid::parse(SE_HCID).unwrap(),
        repository_unique_id: Oid::parse(REPO).unwrap(),
        document_unique_id: "1.2.752.129.2.1.2.99^rx-1001".into(),
        mime_type: "text/xml".into(),
        bytes: cda.clone(),
    }];
    let missing = [RegistryError::ehdsi(EhdsiError::ErrorDocumentMissing)
        .with_context("1.2.752.129.2.1.2.99^rx-1001.pdf")];
    let out = build_retrieve_response(&docs, &missing, Transfer::Mtom, "urn:uuid:0000-1");
    assert_eq!(out.attachments.len(), 1);

    let req = parse_request(
        SOAP_CT,
        include_str!("fixtures/ihe/xca_retrieve.xml").as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    let headers =
        ResponseHeaders::answering(&req, Transaction::CrossGatewayRetrieve, uuid::Uuid::nil());
    let http = SoapResponse {
        headers,
        body: out.body,
        attachments: out.attachments,
    }
    .to_http();
    assert!(http.content_type.starts_with("multipart/related"));
    // Read it back the way country B would: MTOM split, xop:Include to the part.
    let m = mtom::split(&http.content_type, &http.body, &Limits::default()).unwrap();
    let env = std::str::from_utf8(&m.root).unwrap();
    let doc = roxmltree::Document::parse(env).unwrap();
    let rr = first(doc.root(), (RS_NS, "RegistryResponse"));
    assert_eq!(
        rr.attribute("status"),
        Some("urn:ihe:iti:2007:ResponseStatusType:PartialSuccess")
    );
    let dr = first(doc.root(), (XDSB_NS, "DocumentResponse"));
    let field = |l: &str| {
        dr.children()
            .find(|c| c.has_tag_name((XDSB_NS, l)))
            .and_then(|c| c.text())
            .unwrap()
            .to_owned()
    };
    assert_eq!(field("HomeCommunityId"), format!("urn:oid:{SE_HCID}"));
    assert_eq!(field("RepositoryUniqueId"), REPO);
    assert_eq!(field("DocumentUniqueId"), "1.2.752.129.2.1.2.99^rx-1001");
    assert_eq!(field("mimeType"), "text/xml");
    let inc = first(dr, (XOP_NS, "Include"));
    let cid = mtom::cid_from_href(inc.attribute("href").unwrap()).unwrap();
    let part = m.attachments.iter().find(|a| a.content_id == cid).unwrap();
    assert_eq!(part.data, cda);
}

#[test]
fn retrieve_response_inline_is_base64() {
    use base64::Engine as _;
    let docs = [RetrievedDocument {
        home_community_id: Oid::parse(SE_HCID).unwrap(),
        repository_unique_id: Oid::parse(REPO).unwrap(),
        document_unique_id: "1.2^x".into(),
        mime_type: "text/xml".into(),
        bytes: b"<ClinicalDocument/>".to_vec(),
    }];
    let out = build_retrieve_response(&docs, &[], Transfer::Inline, "seed");
    assert!(out.attachments.is_empty());
    let text = String::from_utf8(out.body).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let d = first(doc.root(), (XDSB_NS, "Document"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(d.text().unwrap())
        .unwrap();
    assert_eq!(bytes, b"<ClinicalDocument/>");
    let rr = first(doc.root(), (RS_NS, "RegistryResponse"));
    assert_eq!(
        rr.attribute("status"),
        Some("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success")
    );
}
