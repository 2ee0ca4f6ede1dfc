//! Sweden as Country B, driven by a FHIR client this project did not write:
//! `tests/python/country_b_fhirpy.py` (fhirpy over requests with mutual TLS, user tokens signed
//! with PyJWT) plays a Swedish pharmacy and a doctor's system against the built `ncp serve`,
//! whose `[country_b]` directory points at a simulated Estonian NCP
//! (`country_tests::ForeignNcpSim`). Find the patient, list the prescriptions, read one and its
//! PDF, dispense, discard; a doctor reads the Patient Summary. What the simulated NCP received
//! must pass `../shared/conformance/validate-cda`.
//!
//! The client runs in a venv under the target dir, made on first use; without PyPI the test
//! prints `SKIPPED: ...` and passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use country_tests::{ForeignNcpSim, ForeignNcpSimConfig, SimPatient};
use e2e_tests::ncp_binary;
use e2e_tests::python::{python_dir, python_venv};
use ncp_core::pki::TestPki;
use ncp_types::{CountryCode, Oid};

/// The venv's python with the client's requirements, or `None` (the reason printed).
fn client_python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("country-b-fhirpy-venv");
            python_venv(&venv, &python_dir().join("requirements-country-b.txt"))
        })
        .as_deref()
}

const ROOT: &str = "2.16.17.710.850.1000.990.1.1000";
const EXT: &str = "1-1234-W8";

#[test]
fn fhirpy_drives_the_pharmacy_and_summary_flows() {
    let Some(samples) = country_tests::samples::samples_or_skip("country_b_fhir_client") else {
        return;
    };
    let Some(python) = client_python() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let pki = TestPki::ensure(&d.join("pki")).expect("test PKI");
    let ee = pki.foreign.iter().find(|f| f.country == "EE").expect("EE");
    let patient =
        SimPatient::from_samples(&samples, &["epstore-1-1234-W8"], Some("psstore-2-1234-W8"))
            .expect("sample patient");
    let sim = rt
        .block_on(ForeignNcpSim::start(ForeignNcpSimConfig {
            country: CountryCode::parse("EE").unwrap(),
            home_community_id: Oid::parse("1.3.6.1.4.1.48336.1").unwrap(),
            tls_cert: ee.server_cert.clone(),
            tls_key: ee.server_key.clone(),
            client_ca: vec![pki.ca_cert.clone()],
            saml_pinned: vec![],
            saml_ca: vec![pki.ca_cert.clone()],
            samples: samples.clone(),
            patients: vec![patient],
            retrieve_transfer: ncp_core::ihe::xca::Transfer::Mtom,
            listen: "127.0.0.1:0".parse().unwrap(),
        }))
        .expect("simulated NCP starts");

    // The identity issuer's key, made by the client's own crypto library.
    let keygen = Command::new(python)
        .arg(python_dir().join("country_b_fhirpy.py"))
        .args(["keygen"])
        .arg(d)
        .status()
        .expect("keygen");
    assert!(keygen.success());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let q = |p: &Path| format!("{:?}", p.display().to_string());
    let config = format!(
        r#"[ncp]
country = "SE"
home_community_id = "1.2.752.129.2.1.99.1"
document_root = "1.2.752.129.2.1.99.2"
organization_name = "E-hälsomyndigheten (test)"
hsa_id = "SE2321000198-NCPTEST"
telecom = "tel:+46104585000"

[ncp.address]
lines = ["Box 913"]
postal_code = "391 29"
city = "Kalmar"

[server]
listen = "127.0.0.1:{port}"

[tls]
cert = {cert}
key = {key}
client_ca = [{ca}]

[national]
nll = "http://127.0.0.1:9/nll"
pdi = "http://127.0.0.1:9/pdi"
ntk = "http://127.0.0.1:9/ntk"
nsr = "http://127.0.0.1:9/nsr"

[country_b]
client_cert = {ccert}
client_key = {ckey}
server_ca = [{ca}]
saml_cert = {scert}
saml_key = {skey}

[country_b.user_token]
issuer = "https://idp.test.se"
audience = "ncp-se-fhir"
algorithm = "ES256"
public_key = {idp}

[[country_b.countries]]
country = "EE"
home_community_id = "1.3.6.1.4.1.48336.1"
services = [
  {{ service = "patient-identification", endpoint = "{xcpd}" }},
  {{ service = "eprescription", endpoint = "{xca}" }},
  {{ service = "edispensation", endpoint = "{xdr}" }},
  {{ service = "patient-summary", endpoint = "{xca}" }},
]
"#,
        cert = q(&pki.server_cert),
        key = q(&pki.server_key),
        ca = q(&pki.ca_cert),
        ccert = q(&pki.se_client_cert),
        ckey = q(&pki.se_client_key),
        scert = q(&pki.se_saml_cert),
        skey = q(&pki.se_saml_key),
        idp = q(&d.join("idp-public.pem")),
        xcpd = sim.xcpd_url(),
        xca = sim.xca_url(),
        xdr = sim.xdr_url(),
    );
    std::fs::write(d.join("ncp.toml"), config).unwrap();
    let settings = serde_json::json!({
        "base": format!("https://localhost:{port}/fhir"),
        "ca": pki.ca_cert, "cert": pki.se_client_cert, "key": pki.se_client_key,
        "issuer_key": d.join("idp-private.pem"), "issuer": "https://idp.test.se",
        "audience": "ncp-se-fhir", "patient_system": format!("urn:oid:{ROOT}"),
        "patient_value": EXT,
    });
    std::fs::write(d.join("settings.json"), settings.to_string()).unwrap();

    let log_path = d.join("ncp.log");
    let mut bridge = Command::new(ncp_binary())
        .args(["serve", "--config"])
        .arg(d.join("ncp.toml"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("start ncp serve");
    let run = Command::new(python)
        .arg(python_dir().join("country_b_fhirpy.py"))
        .arg("run")
        .arg(d.join("settings.json"))
        .output()
        .expect("run the client");
    let _ = bridge.kill();
    let _ = bridge.wait();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let logs = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        run.status.success(),
        "the fhirpy client failed ({}):\n{stdout}\n--- stderr:\n{}\n--- bridge log:\n{logs}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    for line in [
        "OK metadata",
        "OK refused without a user token",
        "OK find patient",
        "OK $match",
        "OK list prescriptions",
        "OK read one prescription and its PDF",
        "OK dispense",
        "OK discard",
        "OK a pharmacist may not read a Patient Summary",
        "OK a doctor reads the Patient Summary",
        "ALL CHECKS PASSED",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(line)),
            "missing `{line}`:\n{stdout}"
        );
    }

    // What Estonia received: the eDispensation and its discard, both conformant.
    let received = sim.received_dispensations();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!((received[0].discard, received[1].discard), (false, true));
    let files: Vec<PathBuf> = received
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let p = d.join(format!("received-{i}.xml"));
            std::fs::write(&p, &r.cda).unwrap();
            p
        })
        .collect();
    if let Some((ok, out)) = country_tests::samples::validate_cda(&files) {
        assert!(ok, "validate-cda refused what the bridge sent:\n{out}");
    }
    // The bridge's log never names the patient.
    for secret in ["Schuman", "Robert", EXT] {
        assert!(
            !logs.contains(secret),
            "the bridge logged patient data ({secret})"
        );
    }
    rt.block_on(sim.stop());
}

/// `ncp sandbox` serves the FHIR API with ready-made user tokens; its country directory is
/// empty, so a foreign patient gets a clear OperationOutcome, not a time-out.
#[test]
fn the_sandbox_serves_the_fhir_api_with_its_tokens() {
    let sb = e2e_tests::Sandbox::start(&[]);
    let fhir = sb.endpoints["fhir"]
        .as_str()
        .expect("fhir in endpoints.json")
        .to_owned();
    let pki = sb.path("pki_dir");
    let client = sb.client(Some((
        &pki.join("ncp-se-client.pem"),
        &pki.join("ncp-se-client.key"),
    )));
    let token = |role: &str| {
        let path = sb.endpoints["fhir_tokens"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t[0] == role))
            .and_then(|t| t[1].as_str())
            .map(PathBuf::from)
            .expect("token file");
        std::fs::read_to_string(path).expect("token")
    };
    let r = client
        .get(format!("{fhir}/metadata"))
        .send()
        .expect("metadata");
    assert_eq!(r.status().as_u16(), 200);
    let cs: serde_json::Value = r.json().unwrap();
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    let r = client
        .get(format!(
            "{fhir}/Patient?identifier=urn:oid:1.2.3%7C4&country=EE"
        ))
        .bearer_auth(token("pharmacist"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let oo: serde_json::Value = r.json().unwrap();
    assert!(oo["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default()
        .contains("EE is not in the country directory"));
    let r = client
        .get(format!(
            "{fhir}/Patient?identifier=urn:oid:1.2.3%7C4&country=EE"
        ))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "no token");
    let r = client
        .get(format!("{fhir}/Patient/EE-1.2.3-4/$summary"))
        .bearer_auth(token("doctor"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404, "a doctor may ask; EE is unknown");
    let (clean, _) = sb.stop();
    assert!(clean);
}

/// `ncp sandbox --foreign-ncp FILE` puts a foreign NCP into the Country B directory (what
/// `./dev sandbox` does with `foreign-ncp-sim`): a pharmacist finds the Estonian sample patient
/// through the sandbox's FHIR API, with the sandbox's own token and certificates.
#[test]
fn the_sandbox_reaches_a_foreign_ncp_given_with_foreign_ncp() {
    let Some(samples) = country_tests::samples::samples_or_skip("country_b_fhir_client") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    // The sandbox keeps its PKI in DATA_DIR/pki; made first here, as foreign-ncp-sim does.
    let pki = TestPki::ensure(&d.join("pki")).expect("test PKI");
    let patients = country_tests::standard_patients(&samples, std::time::Duration::from_secs(5))
        .expect("sample patients");
    let cfg = ForeignNcpSimConfig::from_test_pki(
        &pki,
        0,
        Oid::parse("2.16.17.710.850.1000.990.1").unwrap(),
        &samples,
        patients,
    )
    .expect("config");
    let sim = rt
        .block_on(ForeignNcpSim::start(cfg))
        .expect("simulated NCP starts");
    let entry = d.join("foreign-ncp-EE.toml");
    std::fs::write(&entry, toml::to_string(&sim.country_entry()).unwrap()).unwrap();

    let sb = e2e_tests::Sandbox::start_in(d, &["--foreign-ncp", entry.to_str().unwrap()]);
    assert!(
        sb.banner.contains("foreign NCP EE"),
        "the banner lists the directory:\n{}",
        sb.banner
    );
    let fhir = sb.endpoints["fhir"].as_str().expect("fhir").to_owned();
    let client = sb.client(Some((&pki.se_client_cert, &pki.se_client_key)));
    let token_file = sb.endpoints["fhir_tokens"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t[0] == "pharmacist"))
        .and_then(|t| t[1].as_str())
        .map(PathBuf::from)
        .expect("pharmacist token");
    let token = std::fs::read_to_string(token_file).expect("token");
    // No `country`: the entry names the samples' identifier domain.
    let r = client
        .get(format!("{fhir}/Patient?identifier=urn:oid:{ROOT}%7C{EXT}"))
        .bearer_auth(token.trim())
        .send()
        .expect("patient search");
    assert_eq!(r.status().as_u16(), 200);
    let bundle: serde_json::Value = r.json().unwrap();
    let patient = &bundle["entry"][0]["resource"];
    assert_eq!(patient["resourceType"], "Patient", "{bundle}");
    assert!(
        patient["identifier"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|i| i["value"] == EXT)),
        "{bundle}"
    );
    assert_eq!(sim.calls().len(), 1, "one XCPD reached Estonia");
    let (clean, _) = sb.stop();
    assert!(clean);
    rt.block_on(sim.stop());
}
