//! XCA ITI-39 retrieve under load: 64 concurrent foreign-NCP clients over mutual TLS on
//! loopback, each with its own connection, asking for an L3 ePrescription as fast as answers
//! come, for about 10 s after a warm-up. The bridge does everything it does in production per
//! request — TLS, SOAP parsing, SAML signature verification, the NLL simulator round trip and
//! the FHIR → CDA transformation — and the clients check each answer is a Success carrying the
//! document.
//!
//! `cargo bench -p ncp-core --bench xca_retrieve` prints requests/s, latency percentiles and the
//! ratio to the goal (1,000 requests/s with p99 under 50 ms). Client and server share the
//! machine, so the figures are a floor for the server alone. Knobs: `XCA_BENCH_CLIENTS`,
//! `XCA_BENCH_SECS`, `XCA_BENCH_MAX_REQUESTS`, and `XCA_BENCH_FRESH_TRC=1`.
//!
//! By default each client resends the same signed assertions, as a foreign NCP does within a
//! session for one patient: the bridge verifies their signatures the first time and then
//! recognises the same bytes (`security::VerificationCache`), still checking validity,
//! audience, permissions and the TRC's patient on every request. `XCA_BENCH_FRESH_TRC=1`
//! signs a new TRC assertion for every request (a new patient each time, so every request's
//! signatures are verified in full); the client's signing then shares the CPU too.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ncp_core::pki::TestPki;
use ncp_core::sandbox::{self, SandboxOptions};
use ncp_core::security::{
    issue_hcp_assertion, issue_trc_assertion, AssertionOptions, FacilityType, HcpClaims, HcpRole,
    PatientRef, Permission, PurposeOfUse, SigningKey, TrcClaims,
};
use ncp_types::Oid;

// As the `ncp` binary: the allocator is part of what is measured.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const GOAL_RPS: f64 = 1_000.0;
const GOAL_P99_MS: f64 = 50.0;
const PATIENT: &str = "191212121212";
const PERSONNUMMER: &str = "1.2.752.129.2.1.3.1";
const RIM: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";
const SUCCESS: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let clients = env_num("XCA_BENCH_CLIENTS", 64) as usize;
    let secs = env_num("XCA_BENCH_SECS", 10);
    let max_requests = env_num("XCA_BENCH_MAX_REQUESTS", 1_000_000);
    let fresh_trc = env_num("XCA_BENCH_FRESH_TRC", 0) != 0;
    // From the workspace root, as `./dev sandbox` runs: the sandbox finds the eHDSI MVC in
    // ../shared there, when it exists.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::set_current_dir(&root).expect("workspace root");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(bench(
        clients,
        Duration::from_secs(secs),
        max_requests,
        fresh_trc,
    ));
}

async fn bench(clients: usize, duration: Duration, max_requests: u64, fresh_trc: bool) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let pki = TestPki::ensure(&tmp.path().join("pki")).expect("test PKI");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let opts = SandboxOptions {
        data_dir: tmp.path().to_owned(),
        listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        sim_base_port: 0,
        grpc_listen: None,
        ..SandboxOptions::default()
    };
    let server = tokio::spawn(async move {
        sandbox::run(opts, async {
            let _ = stop_rx.await;
        })
        .await
    });
    let bridge = wait_for_bridge(&tmp.path().join("endpoints.json")).await;
    let ee = pki
        .foreign
        .iter()
        .find(|f| f.country == "EE")
        .expect("the EE test NCP");

    // Assertions signed once, as a country B NCP reuses them for a session (unless fresh_trc).
    let key = SigningKey::from_pem(
        &std::fs::read(&ee.saml_cert).expect("EE SAML cert"),
        &std::fs::read(&ee.saml_key).expect("EE SAML key"),
    )
    .expect("EE SAML key");
    let patient = PatientRef::new(Oid::parse(PERSONNUMMER).expect("OID"), PATIENT);
    let hcp_claims = HcpClaims {
        subject_id: "bench.pharmacist@apteek.test".into(),
        name: "Bench Pharmacist".into(),
        role: HcpRole::PHARMACIST,
        organisation: "Bench Apteek".into(),
        organisation_id: "urn:oid:2.25.1234567".into(),
        facility_type: FacilityType::Pharmacy,
        purpose_of_use: PurposeOfUse::Treatment,
        permissions: [
            Permission::Prd004,
            Permission::Prd006,
            Permission::Prd010,
            Permission::Ppd046,
        ]
        .into_iter()
        .collect(),
        locality: None,
    };
    let hcp = issue_hcp_assertion(
        &hcp_claims,
        &AssertionOptions::new("urn:idp:EE:countryB", chrono::Duration::minutes(60)),
        &key,
    )
    .expect("HCP assertion");
    let trc = issue_trc_assertion(
        &TrcClaims {
            subject_id: hcp_claims.subject_id.clone(),
            patient: patient.clone(),
            purpose_of_use: PurposeOfUse::Treatment,
            hcp_assertion_ref: hcp.id.clone(),
        },
        &AssertionOptions::new("urn:ncp:EE:countryB", chrono::Duration::minutes(60)),
        &key,
    )
    .expect("TRC assertion");
    let security = format!("{}{}", hcp.xml, trc.xml);

    let client = |_: usize| {
        let ca = std::fs::read(&pki.ca_cert).expect("CA");
        let mut pem = std::fs::read(&ee.tls_cert).expect("EE TLS cert");
        pem.extend(std::fs::read(&ee.tls_key).expect("EE TLS key"));
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA PEM"))
            .identity(reqwest::Identity::from_pem(&pem).expect("client identity"))
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client")
    };

    // Find the document to retrieve: an ITI-38 query for the patient's ePrescriptions.
    let hcid = status_hcid(&client(0), &bridge).await;
    let first = client(0);
    let query = envelope(
        "urn:ihe:iti:2007:CrossGatewayQuery",
        &bridge,
        &security,
        &find_documents(&patient, &hcid),
    );
    let answer = post(
        &first,
        &bridge,
        "urn:ihe:iti:2007:CrossGatewayQuery",
        &query,
    )
    .await
    .unwrap_or_else(|e| panic!("ITI-38 query failed: {e}"));
    let (repository, unique_id) = first_l3(&answer);
    let retrieve_body = format!(
        r#"<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007"><xdsb:DocumentRequest><xdsb:HomeCommunityId>{hcid}</xdsb:HomeCommunityId><xdsb:RepositoryUniqueId>{repository}</xdsb:RepositoryUniqueId><xdsb:DocumentUniqueId>{unique_id}</xdsb:DocumentUniqueId></xdsb:DocumentRequest></xdsb:RetrieveDocumentSetRequest>"#
    );
    let action = "urn:ihe:iti:2007:CrossGatewayRetrieve";
    let request = Arc::new(envelope(action, &bridge, &security, &retrieve_body));
    // With fresh_trc, each request carries a newly signed TRC assertion.
    let fresh = {
        let (key, patient, hcp) = (key.clone(), patient.clone(), hcp.clone());
        let (subject, bridge, body) = (
            hcp_claims.subject_id.clone(),
            bridge.clone(),
            retrieve_body.clone(),
        );
        Arc::new(move || {
            let trc = issue_trc_assertion(
                &TrcClaims {
                    subject_id: subject.clone(),
                    patient: patient.clone(),
                    purpose_of_use: PurposeOfUse::Treatment,
                    hcp_assertion_ref: hcp.id.clone(),
                },
                &AssertionOptions::new("urn:ncp:EE:countryB", chrono::Duration::minutes(60)),
                &key,
            )
            .expect("TRC assertion");
            envelope(action, &bridge, &format!("{}{}", hcp.xml, trc.xml), &body)
        })
    };
    let one = post(&first, &bridge, action, &request)
        .await
        .unwrap_or_else(|e| panic!("ITI-39 retrieve failed: {e}"));
    let doc_len = one.len();

    // Warm-up (connections, caches), then the measured run.
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let bridge = Arc::new(bridge);
    let start_at = Instant::now() + Duration::from_secs(1);
    let end_at = start_at + duration;
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let (c, request, bridge) = (client(i), Arc::clone(&request), Arc::clone(&bridge));
        let fresh = Arc::clone(&fresh);
        let (counter, errors) = (Arc::clone(&counter), Arc::clone(&errors));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            loop {
                let t = Instant::now();
                if t >= end_at {
                    break;
                }
                let measured = t >= start_at;
                if measured && counter.fetch_add(1, Ordering::Relaxed) >= max_requests {
                    break;
                }
                let ok = if fresh_trc {
                    post(&c, &bridge, action, &fresh()).await.is_ok()
                } else {
                    post(&c, &bridge, action, &request).await.is_ok()
                };
                if measured {
                    if ok {
                        latencies.push(t.elapsed().as_micros() as u64);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("client task"));
    }
    let elapsed = (Instant::now() - start_at).as_secs_f64();
    let _ = stop_tx.send(());
    let _ = server.await;

    latencies.sort_unstable();
    let n = latencies.len();
    let errors = errors.load(Ordering::Relaxed);
    let pct = |p: f64| -> f64 {
        if n == 0 {
            return f64::NAN;
        }
        let i = ((p / 100.0) * n as f64).ceil() as usize;
        latencies[i.clamp(1, n) - 1] as f64 / 1000.0
    };
    let rps = n as f64 / elapsed;
    let (p50, p99) = (pct(50.0), pct(99.0));
    println!();
    println!("XCA ITI-39 retrieve, {clients} mTLS clients on loopback, {elapsed:.1} s measured after 1 s warm-up");
    println!(
        "  assertions        {}",
        if fresh_trc {
            "a newly signed TRC with every request (signatures verified in full each time)"
        } else {
            "the same signed HCP/TRC pair resent (signatures verified once, then recognised)"
        }
    );
    println!("  document          L3 ePrescription, response {doc_len} bytes (MTOM/SOAP as sent)");
    println!(
        "  machine           {} cores, load average {} (the clients share it)",
        available_cores(),
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into())
    );
    println!("  requests          {n} ok, {errors} failed");
    println!("  throughput        {rps:.0} requests/s");
    println!(
        "  latency ms        p50 {p50:.2}  p90 {:.2}  p99 {p99:.2}  max {:.2}",
        pct(90.0),
        pct(100.0)
    );
    println!(
        "  vs goal           throughput {:.2}x of {GOAL_RPS:.0}/s; p99 {:.2}x of {GOAL_P99_MS:.0} ms ({})",
        rps / GOAL_RPS,
        p99 / GOAL_P99_MS,
        if rps >= GOAL_RPS && p99 < GOAL_P99_MS {
            "goal met"
        } else {
            "goal NOT met"
        }
    );
    if errors > 0 {
        println!(
            "  WARNING           {errors} requests did not return a Success with the document"
        );
    }
}

fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Waits for `ncp sandbox` to write its endpoints file and returns the bridge URL.
async fn wait_for_bridge(endpoints: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(endpoints) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                if let Some(url) = v["bridge"].as_str() {
                    return url.trim_end_matches('/').to_owned();
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "the sandbox did not start in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn status_hcid(client: &reqwest::Client, bridge: &str) -> String {
    let s: serde_json::Value = client
        .get(format!("{bridge}/status"))
        .send()
        .await
        .expect("GET /status")
        .json()
        .await
        .expect("status JSON");
    s["home_community_id"]
        .as_str()
        .expect("home_community_id")
        .to_owned()
}

fn envelope(action: &str, bridge: &str, security: &str, body: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"><s:Header>"#,
            r#"<wsa:Action s:mustUnderstand="true">{action}</wsa:Action><wsa:MessageID>urn:uuid:{id}</wsa:MessageID>"#,
            r#"<wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo><wsa:To>{bridge}/ncp/xca</wsa:To>"#,
            r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" s:mustUnderstand="true">{security}</wsse:Security>"#,
            r#"</s:Header><s:Body>{body}</s:Body></s:Envelope>"#
        ),
        action = action,
        id = uuid::Uuid::new_v4(),
        bridge = bridge,
        security = security,
        body = body
    )
}

fn find_documents(patient: &PatientRef, hcid: &str) -> String {
    format!(
        concat!(
            r#"<query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="{rim}">"#,
            r#"<query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>"#,
            r#"<rim:AdhocQuery id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d" home="{hcid}">"#,
            r#"<rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>'{cx}'</rim:Value></rim:ValueList></rim:Slot>"#,
            r#"<rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList><rim:Value>('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')</rim:Value></rim:ValueList></rim:Slot>"#,
            r#"<rim:Slot name="$XDSDocumentEntryClassCode"><rim:ValueList><rim:Value>('57833-6^^2.16.840.1.113883.6.1')</rim:Value></rim:ValueList></rim:Slot>"#,
            r#"</rim:AdhocQuery></query:AdhocQueryRequest>"#
        ),
        rim = RIM,
        hcid = hcid,
        cx = patient.to_cx().replace('&', "&amp;"),
    )
}

/// POSTs a SOAP request; the body of a 200 answer with status Success, else why not.
async fn post(
    client: &reqwest::Client,
    bridge: &str,
    action: &str,
    envelope: &str,
) -> Result<Vec<u8>, String> {
    let path = "/ncp/xca";
    let r = client
        .post(format!("{bridge}{path}"))
        .header(
            "Content-Type",
            format!("application/soap+xml; charset=UTF-8; action=\"{action}\""),
        )
        .body(envelope.to_owned())
        .send()
        .await
        .map_err(|e| format!("{e}"))?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| format!("{e}"))?.to_vec();
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(600)])
        ));
    }
    let retrieve = action.ends_with("CrossGatewayRetrieve");
    if memchr::memmem::find(&body, SUCCESS.as_bytes()).is_none()
        || (retrieve && memchr::memmem::find(&body, b"DocumentResponse>").is_none())
    {
        return Err(format!(
            "no Success status: {}",
            String::from_utf8_lossy(&body[..body.len().min(600)])
        ));
    }
    Ok(body)
}

/// The repository and unique id of the first L3 ePrescription entry of a query response.
fn first_l3(answer: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(answer);
    let doc = roxmltree::Document::parse(&text).expect("query response XML");
    let entry = doc
        .descendants()
        .filter(|n| n.has_tag_name((RIM, "ExtrinsicObject")))
        .find(|e| e.attribute("mimeType") == Some("text/xml"))
        .expect("an L3 ePrescription entry in the query response");
    let slot = entry
        .children()
        .find(|s| {
            s.has_tag_name((RIM, "Slot")) && s.attribute("name") == Some("repositoryUniqueId")
        })
        .and_then(|s| s.descendants().find(|v| v.has_tag_name((RIM, "Value"))))
        .and_then(|v| v.text())
        .expect("repositoryUniqueId")
        .trim()
        .to_owned();
    let unique = entry
        .children()
        .find(|e| {
            e.has_tag_name((RIM, "ExternalIdentifier"))
                && e.attribute("identificationScheme")
                    == Some("urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab")
        })
        .and_then(|e| e.attribute("value"))
        .expect("XDSDocumentEntry.uniqueId")
        .to_owned();
    (slot, unique)
}
