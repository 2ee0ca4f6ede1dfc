//! One entry point: the Action picks the parser, and a body that is not what the Action says is
//! refused.

use ncp_core::ihe::{parse_request as parse_ihe, IheRequest, RequestError};
use ncp_core::soap::{mtom, parse_request, Limits, ResponseHeaders, SoapError, SoapResponse};

const SOAP_CT: &str = "application/soap+xml; charset=UTF-8";

fn ihe(fixture: &str) -> Result<IheRequest, RequestError> {
    let req = parse_request(SOAP_CT, fixture.as_bytes(), &Limits::default()).unwrap();
    parse_ihe(&req)
}

#[test]
fn each_action_reaches_its_parser() {
    assert!(matches!(
        ihe(include_str!("fixtures/ihe/xcpd_request.xml")),
        Ok(IheRequest::PatientDiscovery(_))
    ));
    assert!(matches!(
        ihe(include_str!("fixtures/ihe/xca_query.xml")),
        Ok(IheRequest::FindDocuments(_))
    ));
    assert!(matches!(
        ihe(include_str!("fixtures/ihe/xca_retrieve.xml")),
        Ok(IheRequest::Retrieve(_))
    ));
    assert!(matches!(
        ihe(include_str!("fixtures/ihe/xdr_edispensation_base64.xml")),
        Ok(IheRequest::ProvideAndRegister(_))
    ));
    assert!(matches!(
        ihe(include_str!("fixtures/ihe/xcpd_demographics_only.xml")),
        Err(RequestError::Discovery(
            ncp_core::ihe::xcpd::XcpdError::DemographicsOnly(_)
        ))
    ));
}

#[test]
fn a_body_that_is_not_what_the_action_says_is_refused() {
    let lying = include_str!("fixtures/ihe/xcpd_request.xml").replace(
        "urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery",
        "urn:ihe:iti:2007:CrossGatewayQuery",
    );
    assert!(matches!(ihe(&lying), Err(RequestError::Query(_))));
    let lying = include_str!("fixtures/ihe/xca_query.xml").replace(
        "urn:ihe:iti:2007:CrossGatewayQuery",
        "urn:ihe:iti:2007:CrossGatewayRetrieve",
    );
    assert!(matches!(ihe(&lying), Err(RequestError::Retrieve(_))));
    let unknown = include_str!("fixtures/ihe/xca_query.xml").replace(
        "urn:ihe:iti:2007:CrossGatewayQuery",
        "urn:ihe:iti:2007:RegistryStoredQuery",
    );
    assert!(matches!(
        ihe(&unknown),
        Err(RequestError::Soap(SoapError::UnknownAction(_)))
    ));
}

#[test]
fn an_answer_without_parts_can_still_go_as_mtom() {
    let resp = SoapResponse {
        headers: ResponseHeaders {
            action: "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse".into(),
            message_id: "urn:uuid:7".into(),
            relates_to: None,
        },
        body: b"<a xmlns=\"urn:a\"/>".to_vec(),
        attachments: vec![],
    };
    let plain = resp.to_http();
    assert!(plain.content_type.starts_with("application/soap+xml"));
    let packaged = resp.to_http_as(true);
    let m = mtom::split(&packaged.content_type, &packaged.body, &Limits::default()).unwrap();
    assert!(m.attachments.is_empty());
    assert_eq!(m.root, plain.body);
}
