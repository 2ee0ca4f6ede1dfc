//! gRPC round trip: the service on 127.0.0.1:0, called with the generated client.

use std::sync::Arc;

use terminology::code_systems::{ATC_OID, EDQM_OID, ICD10_SE_OID};
use terminology::grpc::proto::transcode_response::Outcome;
use terminology::grpc::proto::{
    Coding, LookupRequest, TranscodeRequest, TranslateRequest, ValidateCodeRequest,
};
use terminology::grpc::{service, TerminologyServiceClient};
use terminology::{value_sets, Terminology};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;
use tonic::Code;

async fn start() -> TerminologyServiceClient<Channel> {
    let t = Arc::new(Terminology::load(None).expect("embedded data"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service(t))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    TerminologyServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connects")
}

fn coding(system: &str, code: &str) -> Option<Coding> {
    Some(Coding {
        code: code.into(),
        system: system.into(),
        ..Default::default()
    })
}

#[tokio::test]
async fn round_trip_all_four_rpcs() {
    let mut client = start().await;

    // Lookup, with the FHIR URI spelling of ATC.
    let r = client
        .lookup(LookupRequest {
            system: "http://www.whocc.no/atc".into(),
            code: "N02BE01".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let c = r.coding.unwrap();
    assert_eq!(c.system, ATC_OID);
    assert_eq!(c.display, "paracetamol");
    assert!(r.designations.iter().any(|d| d.language == "sv"));
    assert_eq!(r.value_sets, [value_sets::ACTIVE_INGREDIENT]);

    let err = client
        .lookup(LookupRequest {
            system: ATC_OID.into(),
            code: "X99".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // ValidateCode.
    let r = client
        .validate_code(ValidateCodeRequest {
            value_set: value_sets::DOSE_FORM.into(),
            coding: coding(EDQM_OID, "10219000"),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.member);
    assert_eq!(r.value_set_name, "eHDSIDoseForm");
    assert_eq!(r.display, "Tablet");
    let err = client
        .validate_code(ValidateCodeRequest {
            value_set: "1.2.3.4".into(),
            coding: coding(EDQM_OID, "10219000"),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Transcode: Mapped and Unmapped (the original always comes back).
    let r = client
        .transcode(TranscodeRequest {
            coding: coding(ICD10_SE_OID, "S72.00"),
            value_set: value_sets::ILLNESS_AND_DISORDER.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome(), Outcome::Mapped);
    assert_eq!(r.target.unwrap().code, "S72.0");
    assert_eq!(r.original.unwrap().code, "S72.00");
    let r = client
        .transcode(TranscodeRequest {
            coding: coding(ATC_OID, "Z99ZZ99"),
            value_set: value_sets::ACTIVE_INGREDIENT.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome(), Outcome::Unmapped);
    assert!(r.target.is_none());
    assert_eq!(r.original.unwrap().code, "Z99ZZ99");

    // Translate, with fallback to English.
    let r = client
        .translate(TranslateRequest {
            coding: coding(EDQM_OID, "10221000"),
            language: "sv-SE".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.coding.unwrap().display, "Filmdragerad tablett");
    assert_eq!(r.language, "sv");
    let r = client
        .translate(TranslateRequest {
            coding: coding(EDQM_OID, "10221000"),
            language: "fi".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.coding.unwrap().display, "Film-coated tablet");
    assert_eq!(r.language, "en");
}

#[tokio::test]
async fn bad_arguments_are_invalid_argument() {
    let mut client = start().await;
    let err = client
        .translate(TranslateRequest {
            coding: coding(EDQM_OID, "10221000"),
            language: "svenska".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = client
        .transcode(TranscodeRequest {
            coding: coding("not-a-system", "x"),
            value_set: value_sets::DOSE_FORM.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = client
        .transcode(TranscodeRequest {
            coding: None,
            value_set: value_sets::DOSE_FORM.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}
