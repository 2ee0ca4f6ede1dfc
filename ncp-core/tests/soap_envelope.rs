//! The SOAP 1.2 layer: plain and MTOM requests in, responses and faults out, hostile input refused.

use ncp_core::soap::addressing::{Transaction, FAULT_ACTION, WSA_NS};
use ncp_core::soap::mtom::{self, Attachment};
use ncp_core::soap::{
    parse_request, Fault, Limits, ResponseHeaders, SoapError, SoapResponse, XmlError, SOAP12_NS,
};

const SOAP_CT: &str = "application/soap+xml; charset=UTF-8";
const XCPD: &str = include_str!("fixtures/ihe/xcpd_request.xml");
const XDR_MTOM_ENVELOPE: &str = include_str!("fixtures/ihe/xdr_edispensation_envelope.xml");
const EDISP_L3: &[u8] = include_bytes!("fixtures/ihe/edispensation_l3.xml");

/// An MTOM request the way Axis2/CXF send one: root part first, CRLF line ends, binary parts.
fn mtom_request(envelope: &str, parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "MIMEBoundary_c0ffee";
    let mut body = Vec::new();
    body.extend_from_slice(b"preamble to be ignored\r\n");
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        b"Content-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\n\
          Content-Transfer-Encoding: binary\r\nContent-ID: <0.root@countryB.example>\r\n\r\n",
    );
    body.extend_from_slice(envelope.as_bytes());
    for (cid, data) in parts {
        body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!(
                "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!(
        "multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; \
         start=\"<0.root@countryB.example>\"; start-info=\"application/soap+xml\""
    );
    (ct, body)
}

#[test]
fn plain_request_gives_addressing_header_and_body() {
    let req = parse_request(SOAP_CT, XCPD.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(
        req.addressing.action,
        "urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery"
    );
    assert_eq!(
        req.addressing.message_id.as_deref(),
        Some("urn:uuid:6b4a7c2e-3f0d-4a57-9a1e-0c5d3e1b7a01")
    );
    assert_eq!(
        req.addressing.to.as_deref(),
        Some("https://ncp.example.se/xcpd")
    );
    assert_eq!(
        req.transaction().unwrap(),
        Transaction::CrossGatewayPatientDiscovery
    );
    assert!(!req.mtom);
    // The raw envelope is handed on unchanged to the security layer.
    assert_eq!(req.envelope, XCPD.as_bytes());
    // The body element stands alone: it parses by itself with its namespace.
    let body = std::str::from_utf8(&req.body).unwrap();
    let doc = roxmltree::Document::parse(body).unwrap();
    assert!(doc
        .root_element()
        .has_tag_name(("urn:hl7-org:v3", "PRPA_IN201305UV02")));
    assert_eq!(req.body_name.1, "PRPA_IN201305UV02");
    // So does the header, with the SAML assertion in it.
    let header = std::str::from_utf8(req.header.as_ref().unwrap()).unwrap();
    let h = roxmltree::Document::parse(header).unwrap();
    assert!(h
        .descendants()
        .any(|n| n.has_tag_name(("urn:oasis:names:tc:SAML:2.0:assertion", "Assertion"))));
}

#[test]
fn mtom_request_resolves_xop_include_to_the_binary_part() {
    let (ct, body) = mtom_request(XDR_MTOM_ENVELOPE, &[("1.edisp@countryB.example", EDISP_L3)]);
    let req = parse_request(&ct, &body, &Limits::default()).unwrap();
    assert!(req.mtom);
    assert_eq!(
        req.transaction().unwrap(),
        Transaction::ProvideAndRegisterDocumentSet
    );
    assert_eq!(req.envelope, XDR_MTOM_ENVELOPE.as_bytes());
    let part = req.attachment("1.edisp@countryB.example").unwrap();
    assert_eq!(part.data, EDISP_L3);
}

#[test]
fn mtom_part_with_real_pdf_survives_byte_for_byte() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/ehdsi/samples/openncp-mock/epstore-1-1234-W8.pdf");
    let Ok(pdf) = std::fs::read(&path) else {
        eprintln!(
            "skipped: shared eHDSI samples not found at {}",
            path.display()
        );
        return;
    };
    let (ct, body) = mtom_request(XDR_MTOM_ENVELOPE, &[("1.edisp@countryB.example", &pdf)]);
    let req = parse_request(&ct, &body, &Limits::default()).unwrap();
    assert_eq!(req.attachments[0].data, pdf);
}

#[test]
fn xop_include_without_its_part_is_refused() {
    let (ct, body) = mtom_request(XDR_MTOM_ENVELOPE, &[("other@x", b"zz")]);
    assert_eq!(
        parse_request(&ct, &body, &Limits::default()).unwrap_err(),
        SoapError::UnresolvedXop
    );
    // And an xop:Include in a plain (non-MTOM) message names nothing.
    assert_eq!(
        parse_request(SOAP_CT, XDR_MTOM_ENVELOPE.as_bytes(), &Limits::default()).unwrap_err(),
        SoapError::UnresolvedXop
    );
}

#[test]
fn response_carries_relates_to_and_the_response_action() {
    let req = parse_request(SOAP_CT, XCPD.as_bytes(), &Limits::default()).unwrap();
    let id = uuid::Uuid::new_v4();
    let headers = ResponseHeaders::answering(&req, Transaction::CrossGatewayPatientDiscovery, id);
    let resp = SoapResponse {
        headers,
        body: b"<r xmlns=\"urn:x\">ok</r>".to_vec(),
        attachments: vec![],
    };
    let http = resp.to_http();
    assert!(http.content_type.starts_with("application/soap+xml"));
    let text = String::from_utf8(http.body).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let wsa = |l: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name((WSA_NS, l)))
            .and_then(|n| n.text())
            .map(str::to_owned)
    };
    assert_eq!(
        wsa("Action").as_deref(),
        Some("urn:hl7-org:v3:PRPA_IN201306UV02:CrossGatewayPatientDiscovery")
    );
    assert_eq!(
        wsa("RelatesTo").as_deref(),
        Some("urn:uuid:6b4a7c2e-3f0d-4a57-9a1e-0c5d3e1b7a01")
    );
    assert_eq!(wsa("MessageID"), Some(format!("urn:uuid:{id}")));
    let body = doc
        .descendants()
        .find(|n| n.has_tag_name((SOAP12_NS, "Body")))
        .unwrap();
    assert!(body
        .first_element_child()
        .unwrap()
        .has_tag_name(("urn:x", "r")));
}

#[test]
fn mtom_response_parses_back_as_an_mtom_request() {
    let headers = ResponseHeaders {
        action: Transaction::CrossGatewayRetrieve.response_action().into(),
        message_id: "urn:uuid:00000000-0000-4000-8000-000000000001".into(),
        relates_to: Some("urn:uuid:abc".into()),
    };
    let data = vec![0u8, 1, 2, 255, b'\r', b'\n', b'-', b'-'];
    let resp = SoapResponse {
        headers,
        body: format!(
            "<x:D xmlns:x=\"urn:x\"><xop:Include xmlns:xop=\"{}\" href=\"cid:d0@ncp.se\"/></x:D>",
            mtom::XOP_NS
        )
        .into_bytes(),
        attachments: vec![Attachment {
            content_id: "d0@ncp.se".into(),
            content_type: "text/xml".into(),
            data: data.clone(),
        }],
    };
    let http = resp.to_http();
    assert!(http.content_type.starts_with("multipart/related"));
    // Our response is a valid MTOM message: our own reader takes it back.
    let back = mtom::split(&http.content_type, &http.body, &Limits::default()).unwrap();
    assert_eq!(back.attachments[0].data, data);
    assert_eq!(
        back.action.as_deref(),
        Some("urn:ihe:iti:2007:CrossGatewayRetrieveResponse")
    );
    assert!(roxmltree::Document::parse(std::str::from_utf8(&back.root).unwrap()).is_ok());
}

#[test]
fn fault_has_code_subcode_reason_and_ehdsi_detail() {
    let fault = Fault::from_error(&SoapError::MissingAction)
        .with_ehdsi(ncp_core::ihe::errors::EhdsiError::ErrorSecGeneric);
    let headers = ResponseHeaders {
        action: String::new(),
        message_id: "urn:uuid:1".into(),
        relates_to: Some("urn:uuid:req".into()),
    };
    assert_eq!(fault.http_status(), 400);
    assert_eq!(ncp_core::soap::Fault::receiver("later").http_status(), 500);
    let http = fault.to_http(&headers);
    let text = String::from_utf8(http.body).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let find = |ns: &str, l: &str| doc.descendants().find(|n| n.has_tag_name((ns, l))).unwrap();
    let code = find(SOAP12_NS, "Code");
    assert_eq!(
        code.first_element_child().unwrap().text(),
        Some("env:Sender")
    );
    let sub = find(SOAP12_NS, "Subcode").first_element_child().unwrap();
    let qname = sub.text().unwrap();
    let (prefix, local) = qname.split_once(':').unwrap();
    assert_eq!(local, "MessageAddressingHeaderRequired");
    assert_eq!(sub.lookup_namespace_uri(Some(prefix)), Some(WSA_NS));
    assert!(find(SOAP12_NS, "Text").text().unwrap().contains("Action"));
    let detail = find(SOAP12_NS, "Detail").first_element_child().unwrap();
    assert_eq!(detail.text(), Some("ERROR_SEC_GENERIC"));
    assert_eq!(find(WSA_NS, "Action").text(), Some(FAULT_ACTION));
    assert_eq!(find(WSA_NS, "RelatesTo").text(), Some("urn:uuid:req"));
}

#[test]
fn version_mismatch_for_soap_11() {
    let soap11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><a/></s:Body></s:Envelope>"#;
    let e = parse_request(SOAP_CT, soap11.as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(e, SoapError::NotSoap12);
    assert_eq!(
        Fault::from_error(&e).code,
        ncp_core::soap::FaultCode::VersionMismatch
    );
    assert_eq!(
        parse_request("text/xml", soap11.as_bytes(), &Limits::default()).unwrap_err(),
        SoapError::NotSoap12
    );
}

#[test]
fn hostile_requests_get_typed_errors() {
    let l = Limits::default();
    let doctype = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>{}",
        XCPD.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
    );
    assert_eq!(
        parse_request(SOAP_CT, doctype.as_bytes(), &l).unwrap_err(),
        SoapError::Xml(XmlError::Doctype)
    );

    let bomb = format!(
        "<e:Envelope xmlns:e=\"{SOAP12_NS}\"><e:Body>{}{}</e:Body></e:Envelope>",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    assert!(matches!(
        parse_request(SOAP_CT, bomb.as_bytes(), &l).unwrap_err(),
        SoapError::Xml(XmlError::TooDeep { .. })
    ));

    let small = Limits {
        max_bytes: 1024,
        ..Limits::default()
    };
    assert!(matches!(
        parse_request(SOAP_CT, XCPD.as_bytes(), &small).unwrap_err(),
        SoapError::TooLarge { .. }
    ));

    let no_action = XCPD.replace(
        "<wsa:Action soap:mustUnderstand=\"true\">urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery</wsa:Action>",
        "",
    );
    assert_eq!(
        parse_request(SOAP_CT, no_action.as_bytes(), &l).unwrap_err(),
        SoapError::MissingAction
    );

    let unknown = XCPD.replace(
        "urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery",
        "urn:example:Unknown",
    );
    let req = parse_request(SOAP_CT, unknown.as_bytes(), &l).unwrap();
    assert!(matches!(
        req.transaction(),
        Err(SoapError::UnknownAction(_))
    ));

    let must = XCPD.replace(
        "<wsa:To>",
        "<x:Extra xmlns:x=\"urn:x\" soap:mustUnderstand=\"true\"/><wsa:To>",
    );
    assert!(matches!(
        parse_request(SOAP_CT, must.as_bytes(), &l).unwrap_err(),
        SoapError::MustUnderstand(_)
    ));

    let reply = XCPD.replace(
        "http://www.w3.org/2005/08/addressing/anonymous",
        "http://attacker.example/",
    );
    assert_eq!(
        parse_request(SOAP_CT, reply.as_bytes(), &l).unwrap_err(),
        SoapError::NonAnonymousReplyTo
    );

    assert!(matches!(
        parse_request(SOAP_CT, b"<a><b></a>", &l).unwrap_err(),
        SoapError::Xml(XmlError::Malformed(_))
    ));
    assert_eq!(
        parse_request(SOAP_CT, b"<a/>", &l).unwrap_err(),
        SoapError::NotAnEnvelope
    );
    let empty = format!("<e:Envelope xmlns:e=\"{SOAP12_NS}\"><e:Body/></e:Envelope>");
    assert_eq!(
        parse_request(SOAP_CT, empty.as_bytes(), &l).unwrap_err(),
        SoapError::EmptyBody
    );
    assert!(matches!(
        parse_request("application/json", b"{}", &l).unwrap_err(),
        SoapError::BadContentType(_)
    ));
    assert_eq!(
        parse_request(SOAP_CT, &[0xff, 0xfe, 0x3c, 0x00], &l).unwrap_err(),
        SoapError::Xml(XmlError::NotUtf8)
    );
}

#[test]
fn broken_multipart_gets_typed_errors() {
    let l = Limits::default();
    let (ct, body) = mtom_request(XDR_MTOM_ENVELOPE, &[("1.edisp@countryB.example", EDISP_L3)]);
    let broken = |r: Result<_, SoapError>| matches!(r, Err(SoapError::BrokenMultipart(_)));

    // Truncated: no closing boundary.
    let cut = &body[..body.len() - 40];
    assert!(broken(parse_request(&ct, cut, &l)));
    // Wrong boundary.
    let other = ct.replace("MIMEBoundary_c0ffee", "nope");
    assert!(broken(parse_request(&other, &body, &l)));
    // No boundary parameter.
    assert!(broken(parse_request(
        "multipart/related; type=\"application/xop+xml\"",
        &body,
        &l
    )));
    // The start parameter names no part.
    let start = ct.replace("<0.root@countryB.example>", "<missing@x>");
    assert!(broken(parse_request(&start, &body, &l)));
    // Unterminated part headers.
    let headers = b"--b\r\nContent-Type: application/xop+xml\r\nContent-ID: <r>".to_vec();
    assert!(broken(parse_request(
        "multipart/related; type=\"application/xop+xml\"; boundary=b",
        &headers,
        &l
    )));
    // Too many parts.
    let few = Limits { max_parts: 1, ..l };
    assert!(broken(parse_request(&ct, &body, &few)));
    // A root part that is not XOP.
    let notxop = String::from_utf8_lossy(&body)
        .replace("application/xop+xml; charset", "text/plain; charset");
    assert!(matches!(
        parse_request(&ct, notxop.as_bytes(), &l),
        Err(SoapError::BadContentType(_))
    ));
}
