//! Sweden as Country B, end to end: the bridge's FHIR API (`/fhir`, mutual TLS and a signed
//! user token) in front of the real foreign gateway, against a simulated Estonian NCP
//! (`country_tests::ForeignNcpSim`: mutual TLS, SOAP, signed assertions checked, the eHDSI
//! sample documents). The pharmacy flow (find the patient, list the prescriptions, read one,
//! its PDF, dispense, discard), a doctor reading the Patient Summary, the refusals by role and
//! token, the directory's refusals without a call, the errors from abroad as OperationOutcome,
//! the audit trail, and every eDispensation the simulated NCP received through
//! `../shared/conformance/validate-cda`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use country_tests::{Behaviour, ForeignNcpSim, ForeignNcpSimConfig, RunningForeignNcp, SimPatient};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ncp_core::bridge::Bridge;
use ncp_core::config::Config;
use ncp_core::pki::TestPki;
use ncp_types::{CountryCode, Oid};
use serde_json::{json, Value};

#[path = "support/pg.rs"]
mod pg;

const EE_HCID: &str = "1.3.6.1.4.1.48336.1";
/// The patient of the `epstore-1-1234-W8` sample.
const ROOT: &str = "2.16.17.710.850.1000.990.1.1000";
const EXT: &str = "1-1234-W8";
const PATIENT_ID: &str = "EE-2.16.17.710.850.1000.990.1.1000-1-1234-W8";
/// The samples of a patient with two ePrescriptions; the patient is the first's.
const TWO_PRESCRIPTIONS: [&str; 2] = ["epstore-1-9999", "epstore-1-1234-W8"];
const TWO_PATIENT_ID: &str = "EE-2.16.17.710.850.1000.990.1.1000-1-9999";

struct Env {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    pki: TestPki,
    sim: RunningForeignNcp,
    /// The bridge addressed.
    bridge: Replica,
    issuer_key: String,
    /// The configuration every replica of the bridge starts from.
    toml: String,
}

/// A running bridge: its address and how to stop it.
struct Replica {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Replica {
    async fn start(toml: &str) -> Replica {
        let config = Config::parse(toml).expect("test configuration");
        config.validate().expect("valid test configuration");
        let bridge = Bridge::bind(config).await.expect("bridge binds");
        let addr = bridge.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(bridge.run(async move {
            let _ = stopped.await;
        }));
        Replica {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Env {
    async fn start(samples: &Path) -> Env {
        Env::start_with(samples, None).await
    }

    /// With `[audit.backend]` as given (TOML), or the default SQLite file in the test's
    /// directory.
    async fn start_with(samples: &Path, audit_backend: Option<String>) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let pki = TestPki::ensure(&dir.join("pki")).unwrap();
        let ee = pki.foreign.iter().find(|f| f.country == "EE").unwrap();
        let patient =
            SimPatient::from_samples(samples, &["epstore-1-1234-W8"], Some("psstore-2-1234-W8"))
                .unwrap();
        // A patient with two ePrescriptions (two L3 documents and their two L1 PDFs).
        let two = SimPatient::from_samples(samples, &TWO_PRESCRIPTIONS, None).unwrap();
        let sim = ForeignNcpSim::start(ForeignNcpSimConfig {
            country: CountryCode::parse("EE").unwrap(),
            home_community_id: Oid::parse(EE_HCID).unwrap(),
            tls_cert: ee.server_cert.clone(),
            tls_key: ee.server_key.clone(),
            client_ca: vec![pki.ca_cert.clone()],
            saml_pinned: vec![],
            saml_ca: vec![pki.ca_cert.clone()],
            samples: samples.to_owned(),
            patients: vec![patient, two],
            retrieve_transfer: ncp_core::ihe::xca::Transfer::Mtom,
            listen: "127.0.0.1:0".parse().unwrap(),
        })
        .await
        .expect("simulated NCP starts");

        // The Swedish identity issuer's ES256 key.
        let kp = rcgen::KeyPair::generate().unwrap();
        std::fs::write(dir.join("idp.pem"), kp.public_key_pem()).unwrap();
        let s = |p: &Path| format!("{:?}", p.display().to_string());
        let toml = format!(
            r#"
[ncp]
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
listen = "127.0.0.1:0"

[tls]
cert = {cert}
key = {key}
client_ca = [{ca}]

[national]
nll = "http://127.0.0.1:9/nll"
pdi = "http://127.0.0.1:9/pdi"
ntk = "http://127.0.0.1:9/ntk"
nsr = "http://127.0.0.1:9/nsr"

{audit}

[country_b]
client_cert = {ccert}
client_key = {ckey}
server_ca = [{ca}]
saml_cert = {scert}
saml_key = {skey}
timeout_ms = 2000

[country_b.user_token]
issuer = "https://idp.test.se"
audience = "ncp-se-fhir"
algorithm = "ES256"
public_key = {idp}

[[country_b.countries]]
country = "EE"
home_community_id = "{EE_HCID}"
patient_id_roots = ["{ROOT}"]
services = [
  {{ service = "patient-identification", endpoint = "{xcpd}" }},
  {{ service = "eprescription", endpoint = "{xca}" }},
  {{ service = "edispensation", endpoint = "{xdr}" }},
  {{ service = "patient-summary", endpoint = "{xca}" }},
]

[[country_b.countries]]
country = "ES"
home_community_id = "2.16.724.4.41"
services = [{{ service = "patient-identification", endpoint = "https://localhost:1/xcpd" }}]
"#,
            cert = s(&pki.server_cert),
            key = s(&pki.server_key),
            ca = s(&pki.ca_cert),
            audit = audit_backend.unwrap_or_else(|| format!(
                "[audit.backend]\nkind = \"sqlite\"\npath = {}",
                s(&dir.join("audit.sqlite"))
            )),
            ccert = s(&pki.se_client_cert),
            ckey = s(&pki.se_client_key),
            scert = s(&pki.se_saml_cert),
            skey = s(&pki.se_saml_key),
            idp = s(&dir.join("idp.pem")),
            xcpd = sim.xcpd_url(),
            xca = sim.xca_url(),
            xdr = sim.xdr_url(),
        );
        let first = Replica::start(&toml).await;
        Env {
            _dir: tmp,
            dir,
            pki,
            sim,
            bridge: first,
            issuer_key: kp.serialize_pem(),
            toml,
        }
    }

    /// Another bridge on the same configuration (and database), not yet the one addressed.
    async fn replica(&self) -> Replica {
        Replica::start(&self.toml).await
    }

    /// Addresses `other` from now on; the one addressed so far is handed back.
    fn switch_to(&mut self, other: Replica) -> Replica {
        std::mem::replace(&mut self.bridge, other)
    }

    /// Stops the bridge and starts a new one on the same configuration and database.
    async fn restart(&mut self) {
        let stopped = Replica {
            addr: self.bridge.addr,
            stop: None,
            task: None,
        };
        self.switch_to(stopped).stop().await;
        self.bridge = self.replica().await;
    }

    async fn stop(self) {
        self.bridge.stop().await;
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}/fhir{path}", self.bridge.addr.port())
    }

    /// A Swedish system's mutual-TLS client.
    fn client(&self) -> reqwest::Client {
        let ca = std::fs::read(&self.pki.ca_cert).unwrap();
        let mut pem = std::fs::read(&self.pki.se_client_cert).unwrap();
        pem.extend(std::fs::read(&self.pki.se_client_key).unwrap());
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .identity(reqwest::Identity::from_pem(&pem).unwrap())
            .resolve("localhost", self.bridge.addr)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    fn token_with(&self, role: &str, patch: impl FnOnce(&mut Value)) -> String {
        let now = chrono::Utc::now().timestamp();
        let (sub, name, org, org_id) = match role {
            "pharmacist" => (
                "SE2321000016-PH01",
                "Anna Apotekare",
                "Apoteket Kronan Kalmar",
                "SE2321000016-APK1",
            ),
            _ => (
                "SE2321000016-DR01",
                "Bertil Doktor",
                "Vårdcentralen Kalmar",
                "SE2321000016-VC01",
            ),
        };
        let mut claims = json!({
            "iss": "https://idp.test.se", "aud": "ncp-se-fhir", "iat": now, "exp": now + 600,
            "sub": sub, "name": name, "role": role, "organisation": org,
            "organisation_hsa_id": org_id, "purpose": "TREATMENT",
        });
        patch(&mut claims);
        jsonwebtoken::encode(
            &Header::new(Algorithm::ES256),
            &claims,
            &EncodingKey::from_ec_pem(self.issuer_key.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn token(&self, role: &str) -> String {
        self.token_with(role, |_| {})
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .client()
            .get(self.url(path))
            .bearer_auth(token)
            .header("Accept", "application/fhir+json")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client()
            .post(self.url(path))
            .bearer_auth(token)
            .header("Content-Type", "application/fhir+json")
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn resources<'a>(bundle: &'a Value, t: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .map(|es| {
            es.iter()
                .map(|e| &e["resource"])
                .filter(|r| r["resourceType"] == t)
                .collect()
        })
        .unwrap_or_default()
}

fn diagnostics(oo: &Value) -> String {
    assert_eq!(oo["resourceType"], "OperationOutcome", "{oo}");
    oo["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The pharmacist's dispensation: one package of the prescribed product.
fn dispense_body(request_id: &str) -> Value {
    json!({
        "resourceType": "MedicationDispense",
        "status": "completed",
        "authorizingPrescription": [{ "reference": format!("MedicationRequest/{request_id}") }],
        "quantity": { "value": 1, "unit": "förpackning" },
        "dosageInstruction": [{ "text": "Enligt ordination" }],
    })
}

fn validate(cdas: &[Vec<u8>]) {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = cdas
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let p = dir.path().join(format!("edispensation-{i}.xml"));
            std::fs::write(&p, c).unwrap();
            p
        })
        .collect();
    if let Some((ok, out)) = country_tests::samples::validate_cda(&files) {
        assert!(
            ok,
            "validate-cda refused an eDispensation the bridge sent:\n{out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pharmacy_dispenses_and_discards_and_a_doctor_reads_the_summary() {
    let Some(samples) = country_tests::samples::samples_or_skip("country_b_fhir_api") else {
        return;
    };
    let env = Env::start(&samples).await;
    let pharmacist = env.token("pharmacist");

    // The CapabilityStatement needs no user.
    let r = env.client().get(env.url("/metadata")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cs: Value = r.json().await.unwrap();
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["fhirVersion"], "4.0.1");

    // Find the patient by their Estonian identifier (the country from the directory's roots).
    let (s, b) = env
        .get(
            &pharmacist,
            &format!("/Patient?identifier=urn:oid:{ROOT}|{EXT}"),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let patients = resources(&b, "Patient");
    assert_eq!(patients.len(), 1, "{b}");
    assert_eq!(patients[0]["id"], PATIENT_ID);
    assert_eq!(patients[0]["name"][0]["family"], "Schuman");
    assert_eq!(patients[0]["birthDate"], "1886-06-29");

    // The prescriptions: XCA list and retrieve, CDA -> FHIR.
    let (s, b) = env
        .get(
            &pharmacist,
            &format!("/MedicationRequest?patient=Patient/{PATIENT_ID}"),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["type"], "searchset");
    let requests = resources(&b, "MedicationRequest");
    assert!(!requests.is_empty(), "{b}");
    assert_eq!(b["total"], requests.len());
    let text = b.to_string();
    // The prescriber's original text is kept; Swedish displays are added where known.
    assert!(
        text.contains("Diabeteksen hoitoon"),
        "original dosage text kept"
    );
    assert!(
        text.contains("\"valueCode\":\"sv\""),
        "Swedish translations"
    );
    let pdf = resources(&b, "Binary");
    assert_eq!(pdf.len(), 1, "the L1 PDF is included: {b}");
    assert_eq!(pdf[0]["contentType"], "application/pdf");
    let mr_id = requests[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        requests[0]["supportingInformation"][0]["reference"],
        format!("Binary/{}", pdf[0]["id"].as_str().unwrap())
    );

    // Read one prescription, and its PDF as bytes.
    let (s, mr) = env
        .get(&pharmacist, &format!("/MedicationRequest/{mr_id}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(mr["id"], mr_id.as_str());
    let r = env
        .client()
        .get(env.url(&format!("/Binary/{}", pdf[0]["id"].as_str().unwrap())))
        .bearer_auth(&pharmacist)
        .header("Accept", "application/pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.bytes().await.unwrap().starts_with(b"%PDF"));

    // Dispense: eDispensation over XDR, 201 once Estonia acknowledged it.
    let (s, md) = env
        .post(&pharmacist, "/MedicationDispense", &dispense_body(&mr_id))
        .await;
    assert_eq!(s, 201, "{md}");
    assert_eq!(md["status"], "completed");
    let md_id = md["id"].as_str().unwrap().to_owned();
    let received = env.sim.received_dispensations();
    assert_eq!(received.len(), 1);
    assert!(!received[0].discard);
    assert_eq!(received[0].patient.extension, EXT);
    assert_eq!(received[0].hcp_role, "2262", "sent as a pharmacist");
    let cda = String::from_utf8(received[0].cda.clone()).unwrap();
    assert!(
        cda.contains("SE2321000016-PH01"),
        "the dispenser is the token's user"
    );
    assert!(cda.contains("Apoteket Kronan Kalmar"));

    // Discard it.
    let (s, md) = env
        .post(
            &pharmacist,
            &format!("/MedicationDispense/{md_id}/$cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{md}");
    assert_eq!(md["status"], "entered-in-error");
    let received = env.sim.received_dispensations();
    assert_eq!(received.len(), 2);
    assert!(received[1].discard);
    let (s, oo) = env
        .post(
            &pharmacist,
            &format!("/MedicationDispense/{md_id}/$cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 400, "a second discard: {oo}");

    // A substitution: the pharmacy hands over a Swedish product, sent as contained Medication.
    let mut substituted = dispense_body(&mr_id);
    substituted["contained"] = json!([{
        "resourceType": "Medication", "id": "m",
        "code": {
            "coding": [
                { "system": "http://electronichealth.se/identifier/nplid", "code": "20090915000258", "display": "Lantus SoloStar 100 E/ml injektionsvätska, lösning i förfylld injektionspenna" },
                { "system": "http://www.whocc.no/atc", "code": "A10AE04", "display": "insulin glargin" }
            ],
            "text": "Lantus SoloStar 100 E/ml injektionsvätska, lösning i förfylld injektionspenna"
        },
        "form": { "coding": [{ "system": "http://standardterms.edqm.eu", "code": "11210000", "display": "Solution for injection" }] },
        "amount": {
            "numerator": { "value": 15, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL" },
            "denominator": { "value": 1, "unit": "förpackning" }
        },
        "ingredient": [{
            "itemCodeableConcept": { "coding": [{ "system": "http://www.whocc.no/atc", "code": "A10AE04", "display": "insulin glargine" }] },
            "strength": {
                "numerator": { "value": 100, "unit": "U", "system": "http://unitsofmeasure.org", "code": "[iU]" },
                "denominator": { "value": 1, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL" }
            }
        }]
    }]);
    substituted["medicationReference"] = json!({ "reference": "#m" });
    substituted["substitution"] = json!({
        "wasSubstituted": true,
        "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "G", "display": "generic composition" }] }
    });
    let (s, md) = env
        .post(&pharmacist, "/MedicationDispense", &substituted)
        .await;
    assert_eq!(s, 201, "{md}");
    let received = env.sim.received_dispensations();
    assert_eq!(received.len(), 3);
    assert!(String::from_utf8_lossy(&received[2].cda).contains("A10AE04"));
    validate(&received.iter().map(|r| r.cda.clone()).collect::<Vec<_>>());

    // A pharmacist does not read Patient Summaries; a doctor does not dispense.
    let (s, oo) = env
        .get(&pharmacist, &format!("/Patient/{PATIENT_ID}/$summary"))
        .await;
    assert_eq!(s, 403);
    assert!(diagnostics(&oo).contains("pharmacist may not"), "{oo}");
    let doctor = env.token("doctor");
    let (s, oo) = env
        .post(&doctor, "/MedicationDispense", &dispense_body(&mr_id))
        .await;
    assert_eq!(s, 403, "{oo}");

    // The doctor reads the summary: the original CDA and PDF, described by DocumentReferences.
    let (s, b) = env
        .get(&doctor, &format!("/Patient/{PATIENT_ID}/$summary"))
        .await;
    assert_eq!(s, 200, "{b}");
    let refs = resources(&b, "DocumentReference");
    assert!(!refs.is_empty(), "{b}");
    // The structured summary, converted to FHIR (Composition and its clinical entries).
    assert_eq!(resources(&b, "Composition").len(), 1, "{b}");
    assert!(!resources(&b, "Condition").is_empty());
    assert!(!resources(&b, "AllergyIntolerance").is_empty());
    let binaries = resources(&b, "Binary");
    assert!(binaries
        .iter()
        .any(|x| x["contentType"] == "application/hl7-v3+xml"));
    assert!(binaries
        .iter()
        .any(|x| x["contentType"] == "application/pdf"));
    let cda_binary = binaries
        .iter()
        .find(|x| x["contentType"] == "application/hl7-v3+xml")
        .unwrap();
    let (s, again) = env
        .get(
            &doctor,
            &format!("/Binary/{}", cda_binary["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(again["data"], cda_binary["data"]);
    // Another user cannot reach what the doctor fetched.
    let (s, _) = env
        .get(
            &pharmacist,
            &format!("/Binary/{}", cda_binary["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(s, 404);

    // What went abroad went with the user's role and purpose.
    let calls = env.sim.calls();
    assert!(calls
        .iter()
        .any(|c| c.operation == "XCPD" && c.hcp_role == "2262"));
    assert!(calls
        .iter()
        .any(|c| c.hcp_role == "221" && c.purpose == "TREATMENT"));

    // Every call abroad is in the audit trail, with Sweden requesting.
    let log = ncp_core::audit::AuditLog::open(&ncp_core::audit::AuditConfig {
        backend: ncp_core::audit::StorageBackend::Sqlite {
            path: env.dir.join("audit.sqlite"),
        },
    })
    .await
    .unwrap();
    let accesses = log
        .accesses_to_patient(
            &ncp_core::security::PatientRef::new(Oid::parse(ROOT).unwrap(), EXT),
            ncp_core::audit::Period::all(),
        )
        .await
        .unwrap();
    use ncp_core::audit::EventType as E;
    for what in [
        E::PatientIdentification,
        E::DocumentList,
        E::DocumentRetrieve,
        E::DispensationSubmit,
        E::DispensationDiscard,
        E::FhirApi,
    ] {
        assert!(
            accesses.iter().any(|a| a.what == what),
            "{what} not audited: {accesses:?}"
        );
    }
    assert!(accesses
        .iter()
        .any(|a| a.organisation == "Vårdcentralen Kalmar"));
    assert!(log.verify().await.unwrap().is_intact());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_errors_from_abroad_are_operation_outcomes() {
    let Some(samples) = country_tests::samples::samples_or_skip("country_b_fhir_api") else {
        return;
    };
    let env = Env::start(&samples).await;
    let pharmacist = env.token("pharmacist");
    let search = format!("/MedicationRequest?patient=Patient/{PATIENT_ID}");

    // No token, a token from another key, an expired one, another role.
    let r = env.client().get(env.url(&search)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let (s, _) = env.get("not.a.token", &search).await;
    assert_eq!(s, 401);
    let expired = env.token_with("pharmacist", |c| {
        c["exp"] = json!(chrono::Utc::now().timestamp() - 120)
    });
    let (s, oo) = env.get(&expired, &search).await;
    assert_eq!(s, 401);
    assert!(diagnostics(&oo).contains("expired"));
    let (s, _) = env.get(&env.token("janitor"), &search).await;
    assert_eq!(s, 403);
    let calls_before = env.sim.calls().len();

    // The directory refuses without a call: a service Spain does not offer, an unknown country.
    let (s, oo) = env
        .get(
            &pharmacist,
            "/MedicationRequest?patient=Patient/ES-2.16.724.4.41-123",
        )
        .await;
    assert_eq!(s, 501);
    assert!(
        diagnostics(&oo).contains("ES does not offer ePrescriptions"),
        "{oo}"
    );
    let (s, oo) = env
        .get(
            &pharmacist,
            "/Patient?identifier=urn:oid:1.2.3|4&country=FR",
        )
        .await;
    assert_eq!(s, 404);
    assert!(
        diagnostics(&oo).contains("FR is not in the country directory"),
        "{oo}"
    );
    let (s, _) = env
        .get(&pharmacist, "/Patient?identifier=urn:oid:1.2.3|4")
        .await;
    assert_eq!(s, 400, "a root no country is known for");
    assert_eq!(env.sim.calls().len(), calls_before, "no call abroad");

    // Errors from abroad.
    let pid = ncp_core::ihe::PatientIdentifier::new(Oid::parse(ROOT).unwrap(), EXT);
    env.sim.set_behaviour(&pid, Behaviour::NoMatch);
    let (s, b) = env
        .get(
            &pharmacist,
            &format!("/Patient?identifier=urn:oid:{ROOT}|{EXT}&country=EE"),
        )
        .await;
    assert_eq!((s, b["total"].as_u64()), (200, Some(0)), "no match: {b}");

    env.sim.set_behaviour(&pid, Behaviour::NoConsent);
    let (s, oo) = env.get(&pharmacist, &search).await;
    assert_eq!(s, 403, "{oo}");
    assert!(diagnostics(&oo).contains("not consented"), "{oo}");

    env.sim.set_behaviour(&pid, Behaviour::UnavailableHttp503);
    let (s, oo) = env.get(&pharmacist, &search).await;
    assert_eq!(s, 503, "{oo}");
    assert!(diagnostics(&oo).contains("EE's NCP is unavailable"), "{oo}");

    env.sim
        .set_behaviour(&pid, Behaviour::Slow(Duration::from_secs(4)));
    let (s, oo) = env.get(&pharmacist, &search).await;
    assert_eq!(s, 504, "{oo}");
    assert!(diagnostics(&oo).contains("did not answer in time"), "{oo}");

    // Not dispensable: listed, but the dispensation is refused and never reported as sent.
    env.sim.set_behaviour(&pid, Behaviour::NotDispensable);
    let (s, b) = env.get(&pharmacist, &search).await;
    assert_eq!(s, 200, "{b}");
    let mr_id = resources(&b, "MedicationRequest")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, oo) = env
        .post(&pharmacist, "/MedicationDispense", &dispense_body(&mr_id))
        .await;
    assert!(s == 409 || s == 422, "{s} {oo}");
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert!(env.sim.received_dispensations().is_empty());

    // A dispensation against a prescription the user never listed.
    let (s, oo) = env
        .post(
            &pharmacist,
            "/MedicationDispense",
            &dispense_body("no-such-request"),
        )
        .await;
    assert_eq!(s, 404, "{oo}");
    env.stop().await;
}

/// Another pharmacist of the same pharmacy.
fn colleague(c: &mut Value) {
    c["sub"] = json!("SE2321000016-PH02");
    c["name"] = json!("Cecilia Apotekare");
}

/// Lists the patient's prescriptions; the first MedicationRequest's id.
async fn list_prescriptions(env: &Env, token: &str) -> String {
    let (s, b) = env
        .get(
            token,
            &format!("/MedicationRequest?patient=Patient/{PATIENT_ID}"),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    resources(&b, "MedicationRequest")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Dispenses against `mr_id` (accepted: 201); the MedicationDispense id.
async fn dispense(env: &Env, token: &str, mr_id: &str) -> String {
    let (s, md) = env
        .post(token, "/MedicationDispense", &dispense_body(mr_id))
        .await;
    assert_eq!(s, 201, "{md}");
    md["id"].as_str().unwrap().to_owned()
}

async fn cancel(env: &Env, token: &str, md_id: &str) -> (u16, Value) {
    env.post(
        token,
        &format!("/MedicationDispense/{md_id}/$cancel"),
        &json!({}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispensations_and_listed_prescriptions_survive_a_restart() {
    let Some(samples) = country_tests::samples::samples_or_skip("country_b_fhir_api") else {
        return;
    };
    let mut env = Env::start(&samples).await;
    let pharmacist = env.token("pharmacist");
    let mr_id = list_prescriptions(&env, &pharmacist).await;
    let md_id = dispense(&env, &pharmacist, &mr_id).await;

    env.restart().await;
    let retrieves = |env: &Env| {
        env.sim
            .calls()
            .iter()
            .filter(|c| c.operation == "XCA retrieve")
            .count()
    };
    let before = retrieves(&env);

    // Only the pharmacist who dispensed may discard it (a colleague at the same pharmacy
    // is told it is not among their dispensations, as for any other user).
    let (s, oo) = cancel(&env, &env.token_with("pharmacist", colleague), &md_id).await;
    assert_eq!(s, 404, "{oo}");
    assert!(diagnostics(&oo).contains("not among the dispensations you sent"));
    assert_eq!(env.sim.received_dispensations().len(), 1, "nothing sent");

    // The dispenser discards it on the restarted bridge, once.
    let (s, md) = cancel(&env, &pharmacist, &md_id).await;
    assert_eq!(s, 200, "{md}");
    assert_eq!(md["status"], "entered-in-error");
    assert_eq!(md["id"], md_id.as_str());
    let received = env.sim.received_dispensations();
    assert_eq!(received.len(), 2);
    assert!(received[1].discard);
    let (s, oo) = cancel(&env, &pharmacist, &md_id).await;
    assert_eq!(s, 400, "a second discard: {oo}");
    assert!(diagnostics(&oo).contains("already discarded"), "{oo}");
    assert_eq!(env.sim.received_dispensations().len(), 2);

    // The prescription listed before the restart: read and dispensed without searching
    // again (the bridge retrieves its document again from Estonia).
    let (s, mr) = env
        .get(&pharmacist, &format!("/MedicationRequest/{mr_id}"))
        .await;
    assert_eq!(s, 200, "{mr}");
    assert_eq!(mr["id"], mr_id.as_str());
    assert!(
        mr["supportingInformation"][0]["reference"]
            .as_str()
            .is_some_and(|r| r.starts_with("Binary/")),
        "the PDF link is kept: {mr}"
    );
    assert_eq!(retrieves(&env), before + 1, "retrieved again, once");
    dispense(&env, &pharmacist, &mr_id).await;
    assert_eq!(retrieves(&env), before + 1, "then from memory");
    let received = env.sim.received_dispensations();
    assert_eq!(received.len(), 3);
    assert!(!received[2].discard);
    // The colleague never listed it.
    let (s, _) = env
        .post(
            &env.token_with("pharmacist", colleague),
            "/MedicationDispense",
            &dispense_body(&mr_id),
        )
        .await;
    assert_eq!(s, 404);
    validate(&received.iter().map(|r| r.cda.clone()).collect::<Vec<_>>());

    // At rest: the dispensations in full (their discard is written from them), but of a
    // listed prescription only where it came from.
    let db = rusqlite::Connection::open(env.dir.join("audit.sqlite")).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM country_b_dispensation", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 2);
    let (owner, patient, doc): (String, String, String) = db
        .query_row(
            "SELECT owner, patient, document_unique_id FROM country_b_listed WHERE prescription = ?1",
            [&mr_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (owner.as_str(), patient.as_str()),
        ("SE2321000016-PH01", PATIENT_ID)
    );
    assert!(!doc.is_empty());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgresql_share_dispensations() {
    let Some(samples) = country_tests::samples::samples_or_skip("country_b_fhir_api") else {
        return;
    };
    let Some(url) = pg::fresh_database().await else {
        return;
    };
    let backend = format!("[audit.backend]\nkind = \"postgres\"\nurl = {url:?}");
    let mut env = Env::start_with(&samples, Some(backend)).await;
    let pharmacist = env.token("pharmacist");
    // Replica A lists and dispenses.
    let mr_id = list_prescriptions(&env, &pharmacist).await;
    let on_a = dispense(&env, &pharmacist, &mr_id).await;

    // Replica B: dispenses against what was listed on A, discards what A sent.
    let b = env.replica().await;
    let a = env.switch_to(b);
    let on_b = dispense(&env, &pharmacist, &mr_id).await;
    let (s, oo) = cancel(&env, &env.token_with("pharmacist", colleague), &on_a).await;
    assert_eq!(s, 404, "{oo}");
    let (s, md) = cancel(&env, &pharmacist, &on_a).await;
    assert_eq!(s, 200, "{md}");
    assert_eq!(md["status"], "entered-in-error");

    // Back on A: what B discarded is discarded there too; what B sent, A discards.
    let b = env.switch_to(a);
    let (s, oo) = cancel(&env, &pharmacist, &on_a).await;
    assert_eq!(s, 400, "{oo}");
    assert!(diagnostics(&oo).contains("already discarded"), "{oo}");
    let (s, md) = cancel(&env, &pharmacist, &on_b).await;
    assert_eq!(s, 200, "{md}");
    let received = env.sim.received_dispensations();
    assert_eq!(
        received.iter().map(|r| r.discard).collect::<Vec<_>>(),
        [false, false, true, true]
    );
    // Both are in the shared database, discarded.
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT id, discarded_ms IS NOT NULL FROM country_b_dispensation ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let mut expected = vec![(on_a.clone(), true), (on_b.clone(), true)];
    expected.sort();
    assert_eq!(
        rows.iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, bool>(1)))
            .collect::<Vec<_>>(),
        expected
    );
    b.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_prescriptions_each_is_linked_to_its_own_pdf() {
    let Some(samples) = country_tests::samples::samples_or_skip("country_b_fhir_api") else {
        return;
    };
    let env = Env::start(&samples).await;
    let pharmacist = env.token("pharmacist");
    let (s, b) = env
        .get(
            &pharmacist,
            &format!("/MedicationRequest?patient=Patient/{TWO_PATIENT_ID}"),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let binaries = resources(&b, "Binary");
    assert_eq!(binaries.len(), 2, "both PDFs: {b}");
    for pdf in &binaries {
        assert_eq!(
            pdf["securityContext"]["reference"],
            format!("Patient/{TWO_PATIENT_ID}")
        );
    }
    let requests = resources(&b, "MedicationRequest");
    assert_eq!(requests.len(), 2, "{b}");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    for sample in TWO_PRESCRIPTIONS {
        // The sample's own prescription(s), as the bridge converts them, and its PDF.
        let xml = std::fs::read_to_string(samples.join(format!("{sample}.xml"))).unwrap();
        let own = cda_fhir_transform::to_fhir::eprescription_to_fhir(&xml).unwrap();
        let pdf = std::fs::read(samples.join(format!("{sample}.pdf"))).unwrap();
        let own_ids: Vec<&str> = resources(&own, "MedicationRequest")
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert!(!own_ids.is_empty());
        for id in own_ids {
            let mr = requests.iter().find(|r| r["id"] == id).expect("listed");
            let links = mr["supportingInformation"].as_array().expect("linked");
            assert_eq!(links.len(), 1, "{sample}: {mr}");
            let linked = links[0]["reference"].as_str().unwrap();
            let binary = binaries
                .iter()
                .find(|x| format!("Binary/{}", x["id"].as_str().unwrap()) == linked)
                .expect("the linked Binary is in the Bundle");
            assert_eq!(
                b64.decode(binary["data"].as_str().unwrap()).unwrap(),
                pdf,
                "{sample}'s prescription is linked to {sample}'s PDF"
            );
            // Read alone, the prescription keeps its link.
            let (s, alone) = env
                .get(&pharmacist, &format!("/MedicationRequest/{id}"))
                .await;
            assert_eq!(s, 200);
            assert_eq!(alone["supportingInformation"], mr["supportingInformation"]);
        }
    }
    env.stop().await;
}
