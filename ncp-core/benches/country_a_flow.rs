//! The full Country A ePrescription flow under sustained load, with the audit trail and the
//! dispensation outbox on PostgreSQL, against the same run on SQLite (the embedded default).
//!
//! Each of `COUNTRY_A_BENCH_CLIENTS` (default 16) foreign pharmacies loops over the flow a
//! pharmacist walks — XCPD identify → XCA list → XCA retrieve (L3) → XDR submit of the
//! eDispensation — over its own mutual-TLS connection, with freshly signed HCP and TRC
//! assertions per flow, for `COUNTRY_A_BENCH_SECS` (default 10) after a 1 s warm-up. The
//! bridge runs in-process on the simulated Swedish services; every transaction writes its
//! audit record durably (SQLite WAL `synchronous=FULL`; PostgreSQL with `fsync` on) before the
//! answer leaves.
//!
//! The synthetic prescriptions can be dispensed only so often, so each pharmacy keeps
//! submitting *its* dispensation (one prescription of Sven Åström, p08, per pharmacy): the first
//! submission goes through the outbox to NLL, later ones are the same document again, which the
//! bridge verifies, reads, checks against NLL and acknowledges as already recorded — the whole
//! XDR path but the outbox insert. Every flow therefore writes four audit records.
//!
//! `cargo bench -p ncp-core --bench country_a_flow` prints flows/s, flow latency percentiles
//! and p99 per transaction for both stores, and the PostgreSQL/SQLite ratios. Without
//! PostgreSQL server binaries (`/usr/lib/postgresql/*/bin`, or `$NCP_PG_BIN`) the PostgreSQL
//! run is skipped with a message.

#[path = "../tests/country_a_support/mod.rs"]
mod country_a;
#[path = "../tests/support/pg.rs"]
mod pg;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use country_a::{
    edispensation, envelope, options, pharmacist, xca_query_body, xca_retrieve_body, xcpd_body,
    xdr_body, BRIDGE_HSA, PNR, XCA_QUERY_ACTION, XCA_RETRIEVE_ACTION, XCPD_ACTION, XDR_ACTION,
};
use ncp_core::bridge::Bridge;
use ncp_core::config::Config;
use ncp_core::pki::TestPki;
use ncp_core::security::{
    issue_hcp_assertion, issue_trc_assertion, PatientRef, PurposeOfUse, SigningKey, TrcClaims,
};

const PATIENT: &str = "194001278953";
const SUCCESS: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success";
const FORMAT_DIS: &str = "urn:epSOS:ep:dis:2010";
const STEPS: [&str; 4] = ["XCPD", "XCA list", "XCA retrieve", "XDR submit"];

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let clients = env_num("COUNTRY_A_BENCH_CLIENTS", 16).clamp(1, 30) as usize;
    let secs = env_num("COUNTRY_A_BENCH_SECS", 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let sqlite = run("SQLite", None, clients, Duration::from_secs(secs)).await;
        sqlite.print();
        let cluster = match pg::PgCluster::start(true) {
            Ok(Some(c)) => c,
            Ok(None) => {
                println!(
                    "\nPostgreSQL: SKIPPED (no server binaries under /usr/lib/postgresql/*/bin; set NCP_PG_BIN)"
                );
                return;
            }
            Err(e) => panic!("could not start PostgreSQL: {e}"),
        };
        let url = cluster.create_database().await;
        let postgres = run("PostgreSQL", Some(url), clients, Duration::from_secs(secs)).await;
        postgres.print();
        println!("\nPostgreSQL / SQLite (same machine, same run):");
        println!(
            "  throughput        {:.2}x  ({:.1} vs {:.1} flows/s)",
            postgres.flows_per_sec() / sqlite.flows_per_sec(),
            postgres.flows_per_sec(),
            sqlite.flows_per_sec()
        );
        println!(
            "  flow p99 latency  {:.2}x  ({:.1} vs {:.1} ms)",
            postgres.flow_pct(99.0) / sqlite.flow_pct(99.0),
            postgres.flow_pct(99.0),
            sqlite.flow_pct(99.0)
        );
        drop(cluster);
    });
}

/// One measured run.
struct Report {
    store: &'static str,
    clients: usize,
    elapsed: Duration,
    /// Flow latencies, microseconds, sorted.
    flows: Vec<u64>,
    /// Per step latencies, microseconds, sorted.
    steps: [Vec<u64>; 4],
    errors: u64,
    first_error: Option<String>,
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

impl Report {
    fn flows_per_sec(&self) -> f64 {
        self.flows.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn flow_pct(&self, p: f64) -> f64 {
        pct(&self.flows, p)
    }

    fn print(&self) {
        println!(
            "\nCountry A ePrescription flow, audit + outbox on {}: {} pharmacies over mutual TLS, {:.1} s measured after 1 s warm-up",
            self.store,
            self.clients,
            self.elapsed.as_secs_f64()
        );
        println!(
            "  flows             {} complete, {} failed{}",
            self.flows.len(),
            self.errors,
            self.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        println!(
            "  throughput        {:.1} flows/s ({:.0} transactions/s)",
            self.flows_per_sec(),
            4.0 * self.flows_per_sec()
        );
        println!(
            "  flow latency      p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            self.flow_pct(50.0),
            self.flow_pct(90.0),
            self.flow_pct(99.0),
            self.flow_pct(100.0)
        );
        for (name, lat) in STEPS.iter().zip(&self.steps) {
            println!(
                "  {name:<17} p50 {:.1} ms  p99 {:.1} ms",
                pct(lat, 50.0),
                pct(lat, 99.0)
            );
        }
    }
}

/// Starts simulators and a bridge whose audit trail and outbox are on `postgres` (or SQLite
/// files in a temp dir), runs the load, stops everything.
async fn run(
    store: &'static str,
    postgres: Option<String>,
    clients: usize,
    duration: Duration,
) -> Report {
    let sims = sweden_sim::start(sweden_sim::SimConfig::default())
        .await
        .expect("simulators start");
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = TestPki::ensure(&dir.path().join("pki")).expect("test PKI");
    let backend = |file: &str| match &postgres {
        Some(url) => format!("kind = \"postgres\"\nurl = \"{url}\""),
        None => format!(
            "kind = \"sqlite\"\npath = {:?}",
            dir.path().join(file).display().to_string()
        ),
    };
    let toml = format!(
        r#"
[ncp]
country = "SE"
home_community_id = "{hcid}"
document_root = "{root}"
organization_name = "E-hälsomyndigheten (bench)"
hsa_id = "{BRIDGE_HSA}"

[server]
listen = "127.0.0.1:0"

[tls]
cert = {cert:?}
key = {key:?}
client_ca = [{ca:?}]

[national]
nll = "{nll}"
pdi = "{pdi}"
ntk = "{ntk}"
nsr = "{nsr}"

[saml]
trust = [{ca:?}]

[audit.backend]
{audit}

[outbox.backend]
{outbox}
"#,
        hcid = country_a::HCID,
        root = country_a::DOC_ROOT,
        cert = pki.server_cert.display().to_string(),
        key = pki.server_key.display().to_string(),
        ca = pki.ca_cert.display().to_string(),
        nll = sims.nll,
        pdi = sims.pdi,
        ntk = sims.ntk,
        nsr = sims.nsr,
        audit = backend("audit.sqlite"),
        outbox = backend("outbox.sqlite"),
    );
    let config = Config::parse(&toml).expect("bench configuration");
    config.validate().expect("valid bench configuration");
    let bridge = Bridge::bind(config).await.expect("bridge binds");
    let addr = bridge.local_addr();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bridge.run(async move {
        let _ = stop_rx.await;
    }));

    let ee = pki
        .foreign
        .iter()
        .find(|f| f.country == "EE")
        .expect("the EE test NCP");
    let key = Arc::new(
        SigningKey::from_pem(
            &std::fs::read(&ee.saml_cert).expect("EE SAML cert"),
            &std::fs::read(&ee.saml_key).expect("EE SAML key"),
        )
        .expect("EE SAML key"),
    );
    let ca = std::fs::read(&pki.ca_cert).expect("CA");
    let mut identity = std::fs::read(&ee.tls_cert).expect("EE TLS cert");
    identity.extend(std::fs::read(&ee.tls_key).expect("EE TLS key"));

    let start_at = Instant::now() + Duration::from_secs(1);
    let end_at = start_at + duration;
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let failed = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA PEM"))
            .identity(reqwest::Identity::from_pem(&identity).expect("client identity"))
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        let pharmacy = Pharmacy {
            client,
            addr,
            key: Arc::clone(&key),
            rx: format!("rx-p08-{:02}", c + 1),
            dispense_id: format!("bench-{store}-{c}"),
        };
        let (errors, first_error, failed) = (
            Arc::clone(&errors),
            Arc::clone(&first_error),
            Arc::clone(&failed),
        );
        tasks.push(tokio::spawn(async move {
            let mut flows = Vec::with_capacity(1024);
            let mut steps: [Vec<u64>; 4] = Default::default();
            loop {
                let t = Instant::now();
                if t >= end_at || failed.load(Ordering::Relaxed) {
                    break;
                }
                match pharmacy.flow().await {
                    Ok(step_times) => {
                        if t >= start_at {
                            flows.push(t.elapsed().as_micros() as u64);
                            for (s, d) in steps.iter_mut().zip(step_times) {
                                s.push(d);
                            }
                        }
                    }
                    Err(e) => {
                        let n = errors.fetch_add(1, Ordering::Relaxed);
                        if n == 0 {
                            *first_error.lock().expect("error slot") = Some(e);
                        }
                        // A bench that only measures refusals measures nothing.
                        if n > 100 {
                            failed.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
            (flows, steps)
        }));
    }
    let mut flows = Vec::new();
    let mut steps: [Vec<u64>; 4] = Default::default();
    for t in tasks {
        let (f, s) = t.await.expect("pharmacy task");
        flows.extend(f);
        for (all, mine) in steps.iter_mut().zip(s) {
            all.extend(mine);
        }
    }
    let elapsed = Instant::now()
        .min(end_at)
        .saturating_duration_since(start_at);
    let _ = stop_tx.send(());
    let _ = server.await;
    sims.shutdown().await;
    flows.sort_unstable();
    for s in &mut steps {
        s.sort_unstable();
    }
    let first_error = first_error.lock().expect("error slot").take();
    assert!(
        !failed.load(Ordering::Relaxed),
        "{store}: the flow keeps failing: {first_error:?}"
    );
    Report {
        store,
        clients,
        elapsed,
        flows,
        steps,
        errors: errors.load(Ordering::Relaxed),
        first_error,
    }
}

/// A foreign pharmacy: its connection, its NCP's signing key, its prescription.
struct Pharmacy {
    client: reqwest::Client,
    addr: SocketAddr,
    key: Arc<SigningKey>,
    rx: String,
    dispense_id: String,
}

impl Pharmacy {
    /// One flow; the time of each step in microseconds, or what went wrong.
    async fn flow(&self) -> Result<[u64; 4], String> {
        let claims = pharmacist();
        let hcp = issue_hcp_assertion(&claims, &options(), &self.key).map_err(|e| e.to_string())?;
        let trc = issue_trc_assertion(
            &TrcClaims {
                subject_id: claims.subject_id.clone(),
                patient: PatientRef::new(ncp_types::Oid::parse(PNR).expect("OID"), PATIENT),
                purpose_of_use: PurposeOfUse::Treatment,
                hcp_assertion_ref: hcp.id.clone(),
            },
            &options(),
            &self.key,
        )
        .map_err(|e| e.to_string())?;
        let both = [hcp.xml.clone(), trc.xml];
        let mut times = [0u64; 4];

        let t = Instant::now();
        let answer = self
            .post(
                "/ncp/xcpd",
                envelope(
                    XCPD_ACTION,
                    std::slice::from_ref(&hcp.xml),
                    &xcpd_body(&[(PNR, PATIENT)]),
                ),
            )
            .await?;
        if !answer.contains("queryResponseCode code=\"OK\"") {
            return Err("XCPD: patient not identified".into());
        }
        times[0] = t.elapsed().as_micros() as u64;

        let t = Instant::now();
        let list = self
            .post(
                "/ncp/xca",
                envelope(
                    XCA_QUERY_ACTION,
                    &both,
                    &xca_query_body(PNR, PATIENT, "57833-6"),
                ),
            )
            .await?;
        let unique_id = format!("{}^{}", country_a::EP_DOC_ROOT, self.rx);
        if !list.contains(SUCCESS) || !list.contains(&unique_id) {
            return Err(format!("XCA list: no {unique_id}"));
        }
        times[1] = t.elapsed().as_micros() as u64;

        let t = Instant::now();
        let doc = self
            .post(
                "/ncp/xca",
                envelope(
                    XCA_RETRIEVE_ACTION,
                    &both,
                    &xca_retrieve_body(&[&unique_id]),
                ),
            )
            .await?;
        if !doc.contains(SUCCESS) {
            return Err("XCA retrieve: not a Success".into());
        }
        times[2] = t.elapsed().as_micros() as u64;

        let t = Instant::now();
        let (uid, cda) = edispensation(&self.dispense_id, PATIENT, &self.rx);
        let ack = self
            .post(
                "/ncp/xdr",
                envelope(
                    XDR_ACTION,
                    &both,
                    &xdr_body(PNR, PATIENT, &uid, FORMAT_DIS, &cda),
                ),
            )
            .await?;
        if !ack.contains(&format!("status=\"{SUCCESS}\"")) {
            return Err(format!(
                "XDR submit not acknowledged: {}",
                ack.chars().take(300).collect::<String>()
            ));
        }
        times[3] = t.elapsed().as_micros() as u64;
        Ok(times)
    }

    async fn post(&self, path: &str, envelope: String) -> Result<String, String> {
        let r = self
            .client
            .post(format!("https://{}{path}", self.addr))
            .header("Content-Type", "application/soap+xml; charset=UTF-8")
            .body(envelope)
            .send()
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let status = r.status();
        let text = r.text().await.map_err(|e| format!("{path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{path}: HTTP {status}"));
        }
        Ok(text)
    }
}
