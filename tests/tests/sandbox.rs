//! `ncp sandbox` as a newcomer meets it: it starts, prints where everything is, and answers
//! there — over mutual TLS for the bridge, FHIR for the simulators.

use std::time::Duration;

use e2e_tests::Sandbox;

#[test]
fn sandbox_starts_quickly_and_answers_on_its_printed_endpoints() {
    let sb = Sandbox::start(&[]);
    assert!(
        sb.started_in < Duration::from_secs(10),
        "sandbox took {:?} to start",
        sb.started_in
    );
    // The banner shows the bridge address, the PKI and the patients.
    let bridge = sb.bridge_url();
    assert!(sb.banner.contains(&bridge), "{}", sb.banner);
    assert!(sb.banner.contains("ca.pem"));
    assert!(sb.banner.contains("curl --cacert"));

    // A trusted foreign NCP (Estonia) is let in and recognised by its certificate.
    let ee = &sb.endpoints["clients"][0];
    assert_eq!(ee["country"], "EE");
    let client = sb.client(Some((
        ee["tls_cert"].as_str().unwrap().as_ref(),
        ee["tls_key"].as_str().unwrap().as_ref(),
    )));
    let status: serde_json::Value = client
        .get(format!("{bridge}/status"))
        .send()
        .expect("mTLS request with a trusted client certificate")
        .error_for_status()
        .expect("200")
        .json()
        .expect("JSON status");
    assert_eq!(status["country"], "SE");
    assert_eq!(status["caller"]["country"], "EE");
    assert!(status["home_community_id"]
        .as_str()
        .unwrap()
        .starts_with("urn:oid:1.2.752."));

    // Every simulator answers FHIR on the address the banner printed.
    let sims = sb.endpoints["simulators"].as_array().unwrap();
    assert!(
        sims.len() >= 5,
        "expected NLL, PDI, NTK, NSR and providers: {sims:?}"
    );
    let plain = reqwest::blocking::Client::new();
    for pair in sims {
        let url = pair[1].as_str().unwrap();
        assert!(sb.banner.contains(url), "{url} not in banner");
        let r = plain
            .get(format!("{}/metadata", url.trim_end_matches('/')))
            .send()
            .unwrap_or_else(|e| panic!("{} at {url}: {e}", pair[0]));
        assert!(
            r.status().is_success(),
            "{} metadata: {}",
            pair[0],
            r.status()
        );
        let cs: serde_json::Value = r.json().unwrap();
        assert_eq!(cs["resourceType"], "CapabilityStatement", "{}", pair[0]);
    }

    let (clean_exit, _logs) = sb.stop();
    assert!(clean_exit, "ncp sandbox did not exit cleanly on SIGTERM");
}

#[test]
fn clients_without_a_trusted_certificate_are_refused() {
    let sb = Sandbox::start(&[]);
    let bridge = sb.bridge_url();

    let anonymous = sb.client(None);
    assert!(
        anonymous.get(format!("{bridge}/status")).send().is_err(),
        "a client without a certificate got an answer"
    );

    let stranger = &sb.endpoints["untrusted_client"];
    let untrusted = sb.client(Some((
        stranger["tls_cert"].as_str().unwrap().as_ref(),
        stranger["tls_key"].as_str().unwrap().as_ref(),
    )));
    assert!(
        untrusted.get(format!("{bridge}/status")).send().is_err(),
        "a client from an untrusted CA got an answer"
    );

    // The second trusted NCP still gets in after the refusals.
    let es = &sb.endpoints["clients"][1];
    let ok = sb
        .client(Some((
            es["tls_cert"].as_str().unwrap().as_ref(),
            es["tls_key"].as_str().unwrap().as_ref(),
        )))
        .get(format!("{bridge}/status"))
        .send()
        .expect("trusted client");
    assert!(ok.status().is_success());
}

#[test]
fn an_outside_client_curl_connects_with_the_printed_files() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: curl is not installed");
        return;
    }
    let sb = Sandbox::start(&[]);
    let ee = &sb.endpoints["clients"][0];
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(sb.path("ca_cert"))
        .arg("--cert")
        .arg(ee["tls_cert"].as_str().unwrap())
        .arg("--key")
        .arg(ee["tls_key"].as_str().unwrap())
        .arg(format!("{}/status", sb.bridge_url()))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(status["caller"]["country"], "EE");
}

#[test]
fn the_pki_and_configuration_are_reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let first = Sandbox::start_in(dir.path(), &[]);
    assert!(first.banner.contains("Test PKI (new)"), "{}", first.banner);
    let ca = std::fs::read_to_string(first.path("ca_cert")).unwrap();
    let (clean, _) = first.stop();
    assert!(clean);

    let second = Sandbox::start_in(dir.path(), &[]);
    assert!(
        second.banner.contains("Test PKI (reused)"),
        "{}",
        second.banner
    );
    assert_eq!(std::fs::read_to_string(second.path("ca_cert")).unwrap(), ca);

    // The configuration the sandbox wrote is one `ncp serve` accepts.
    let out = std::process::Command::new(e2e_tests::ncp_binary())
        .arg("check-config")
        .arg(second.path("config"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the sandbox's own configuration does not validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
[ncp]
country = "SE"
home_community_id = "not-an-oid"
document_root = "1.2.3"
organization_name = "x"
hsa_id = "SE123-1"
"#,
    )
    .unwrap();
    let out = std::process::Command::new(e2e_tests::ncp_binary())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ncp.home_community_id"), "{err}");
    assert!(err.contains("not-an-oid"), "{err}");
}

#[test]
fn the_terminology_grpc_service_translates_to_swedish() {
    use terminology::grpc::proto::{Coding, TranslateRequest};
    use terminology::grpc::TerminologyServiceClient;

    let sb = Sandbox::start(&[]);
    let url = sb.endpoints["terminology_grpc"]
        .as_str()
        .expect("the sandbox serves the terminology over gRPC")
        .to_owned();
    assert!(sb.banner.contains(&url));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let answer = rt.block_on(async {
        let mut client = TerminologyServiceClient::connect(url).await.unwrap();
        client
            .translate(TranslateRequest {
                coding: Some(Coding {
                    code: "10219000".into(),
                    system: "urn:oid:0.4.0.127.0.16.1.1.2.1".into(),
                    ..Default::default()
                }),
                language: "sv-SE".into(),
            })
            .await
            .unwrap()
            .into_inner()
    });
    assert_eq!(answer.language, "sv");
    let display = answer.coding.unwrap().display;
    assert!(display.to_lowercase().contains("tablett"), "{display}");
}
