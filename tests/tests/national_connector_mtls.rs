//! The National Connector API (gRPC) on the sandbox's mutual-TLS listener, as an OpenNCP
//! gateway would reach it: HTTP/2 over TLS with a client certificate from the trust list, and
//! the eHDSI assertions in the request.

use chrono::Duration;
use e2e_tests::Sandbox;
use ncp_core::national_connector::proto::national_connector_client::NationalConnectorClient;
use ncp_core::national_connector::proto::{PatientId, PatientSearchRequest};
use ncp_core::security::{
    issue_hcp_assertion, AssertionOptions, FacilityType, HcpClaims, HcpRole, Permission,
    PurposeOfUse, SigningKey,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

const PNR: &str = "1.2.752.129.2.1.3.1";

fn pharmacist() -> HcpClaims {
    HcpClaims {
        subject_id: "hcp-4711@ncp-ee.test".into(),
        name: "Mari Maasikas".into(),
        role: HcpRole::PHARMACIST,
        organisation: "Tallinna Apteek".into(),
        organisation_id: "urn:oid:1.3.6.1.4.1.48336.1.1".into(),
        facility_type: FacilityType::Pharmacy,
        purpose_of_use: PurposeOfUse::Treatment,
        permissions: [Permission::Prd006].into_iter().collect(),
        locality: None,
    }
}

fn read(v: &serde_json::Value) -> Vec<u8> {
    std::fs::read(v.as_str().expect("path")).expect("PKI file")
}

async fn channel(sb: &Sandbox, client: Option<&serde_json::Value>) -> Result<Channel, String> {
    let ca = std::fs::read(sb.path("ca_cert")).unwrap();
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some(c) = client {
        tls = tls.identity(Identity::from_pem(
            read(&c["tls_cert"]),
            read(&c["tls_key"]),
        ));
    }
    let url = sb.bridge_url();
    Channel::from_shared(url)
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

#[test]
fn an_openncp_gateway_reaches_the_national_connector_over_mutual_tls() {
    let sb = Sandbox::start(&[]);
    let ee = sb.endpoints["clients"][0].clone();
    assert_eq!(ee["country"], "EE");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let key = SigningKey::from_pem(&read(&ee["saml_cert"]), &read(&ee["saml_key"])).unwrap();
        let hcp = issue_hcp_assertion(
            &pharmacist(),
            &AssertionOptions::new("urn:idp:EE:countryB", Duration::hours(1)),
            &key,
        )
        .unwrap();
        let mut client = NationalConnectorClient::new(channel(&sb, Some(&ee)).await.unwrap());
        let found = client
            .patient_search(PatientSearchRequest {
                hcp_assertion: hcp.xml.clone().into_bytes(),
                trc_assertion: Vec::new(),
                message_id: "urn:uuid:6d1f2a3b-0000-4000-8000-00000000e2e1".into(),
                patient_ids: vec![PatientId {
                    root: PNR.into(),
                    extension: "191212121212".into(),
                }],
            })
            .await
            .expect("patient search over mTLS")
            .into_inner();
        assert_eq!(found.patients.len(), 1);
        assert_eq!(found.patients[0].family_names, ["Tolvansson"]);
        // Its audit record names where the call came from (the TLS connection's address).
        let audit = rusqlite::Connection::open(sb.data_dir.join("audit.sqlite")).unwrap();
        let record: String = audit
            .query_row(
                "SELECT record FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            record.contains("\"source_ip\":\"127.0.0.1\""),
            "no source address in {record}"
        );

        // Without a client certificate the gateway gets nothing.
        let anonymous = channel(&sb, None).await;
        if let Ok(ch) = anonymous {
            let r = NationalConnectorClient::new(ch)
                .patient_search(PatientSearchRequest {
                    hcp_assertion: hcp.xml.into_bytes(),
                    trc_assertion: Vec::new(),
                    message_id: String::new(),
                    patient_ids: vec![],
                })
                .await;
            assert!(r.is_err(), "a client without a certificate was answered");
        }
    });
}
