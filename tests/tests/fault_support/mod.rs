//! What the fault tests (`fault_*.rs`) share: a fleet of `ncp serve` processes on one
//! PostgreSQL database in front of the simulated Swedish services, foreign pharmacies driving
//! the Country A ePrescription flow (XCPD → XCA list → retrieve → XDR submit) against it, a
//! journal of every answer, and the invariants checked afterwards:
//!
//! - every acknowledged dispensation reached NLL exactly once (and no dispensation, acknowledged
//!   or not, reached it twice);
//! - every answered transaction (any answer but a SOAP fault) has its audit record;
//! - the audit chain verifies.
//!
//! The request builders are the bridge's own test support (`ncp-core/tests/country_a_support`).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ncp_core::pki::TestPki;
use ncp_core::security::{issue_hcp_assertion, issue_trc_assertion, SigningKey, TrcClaims};
use serde_json::Value;

#[path = "../../../ncp-core/tests/country_a_support/mod.rs"]
pub mod country_a;

use country_a::{
    edispensation, envelope, options, pharmacist, xca_query_body, xca_retrieve_body, xcpd_body,
    xdr_body, BRIDGE_HSA, PNR, XCA_QUERY_ACTION, XCA_RETRIEVE_ACTION, XCPD_ACTION, XDR_ACTION,
};

/// Sven Åström (sweden-sim p08): 30 active prescriptions `rx-p08-01` … `rx-p08-30`, each
/// dispensable at least once, so every pharmacy visit of a run dispenses a prescription of
/// its own.
pub const PATIENT: &str = "194001278953";
pub const PRESCRIPTIONS: usize = 30;
const FORMAT_DIS: &str = "urn:epSOS:ep:dis:2010";
const SUCCESS: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success";

pub fn rx(n: usize) -> String {
    format!("rx-p08-{:02}", n + 1)
}

/// The `[outbox.worker]` and national-services timing of the fleet.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub lease_ms: u64,
    pub national_timeout_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease_ms: 4_000,
            national_timeout_ms: 2_000,
        }
    }
}

/// One `ncp serve` process.
pub struct Replica {
    child: Mutex<Child>,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Replica {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Simulators, test PKI and bridge replicas sharing one PostgreSQL database.
pub struct Fleet {
    sims: Option<sweden_sim::RunningSims>,
    pub pki: TestPki,
    pub dir: tempfile::TempDir,
    pub pg_url: String,
    pub replicas: Vec<Replica>,
    client: reqwest::Client,
    signer: SigningKey,
    timing: Timing,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Fleet {
    /// Starts the simulators and `replicas` bridges on `pg_url`, and waits until each answers.
    pub async fn start(pg_url: &str, replicas: usize, timing: Timing) -> Fleet {
        let sims = sweden_sim::start(sweden_sim::SimConfig::default())
            .await
            .expect("simulators start");
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = TestPki::ensure(&dir.path().join("pki")).expect("test PKI");
        let ee = pki
            .foreign
            .iter()
            .find(|f| f.country == "EE")
            .expect("test NCP EE");
        let mut pem = std::fs::read(&ee.tls_cert).expect("cert");
        pem.extend(std::fs::read(&ee.tls_key).expect("key"));
        let ca = std::fs::read(&pki.ca_cert).expect("ca");
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca pem"))
            .identity(reqwest::Identity::from_pem(&pem).expect("identity"))
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        let signer = SigningKey::from_pem(
            &std::fs::read(&ee.saml_cert).expect("saml cert"),
            &std::fs::read(&ee.saml_key).expect("saml key"),
        )
        .expect("signing key");
        let mut fleet = Fleet {
            sims: Some(sims),
            pki,
            dir,
            pg_url: pg_url.to_owned(),
            replicas: Vec::new(),
            client,
            signer,
            timing,
        };
        for i in 0..replicas {
            let r = fleet.spawn(i);
            fleet.replicas.push(r);
        }
        for i in 0..replicas {
            fleet.wait_ready(i).await;
        }
        fleet
    }

    pub fn sims(&self) -> &sweden_sim::RunningSims {
        self.sims.as_ref().expect("simulators running")
    }

    fn config(&self, port: u16) -> String {
        let pki = &self.pki;
        format!(
            r#"
[ncp]
country = "SE"
home_community_id = "{hcid}"
document_root = "{root}"
organization_name = "E-hälsomyndigheten (fault test)"
hsa_id = "{BRIDGE_HSA}"

[server]
listen = "127.0.0.1:{port}"

[tls]
cert = {cert:?}
key = {key:?}
client_ca = [{ca:?}]

[national]
nll = "{nll}"
pdi = "{pdi}"
ntk = "{ntk}"
nsr = "{nsr}"
timeout_ms = {timeout}

[saml]
trust = [{ca:?}]

[audit.backend]
kind = "postgres"
url = "{pg}"

[outbox.backend]
kind = "postgres"
url = "{pg}"

[outbox.worker]
lease_ms = {lease}
poll_interval_ms = 100
backoff_base_ms = 100
backoff_max_ms = 1000
"#,
            hcid = country_a::HCID,
            root = country_a::DOC_ROOT,
            cert = pki.server_cert.display().to_string(),
            key = pki.server_key.display().to_string(),
            ca = pki.ca_cert.display().to_string(),
            nll = self.sims().nll,
            pdi = self.sims().pdi,
            ntk = self.sims().ntk,
            nsr = self.sims().nsr,
            timeout = self.timing.national_timeout_ms,
            pg = self.pg_url,
            lease = self.timing.lease_ms,
        )
    }

    fn spawn(&self, i: usize) -> Replica {
        let port = free_port();
        let config = self.dir.path().join(format!("replica-{i}.toml"));
        std::fs::write(&config, self.config(port)).expect("write config");
        let log = self.dir.path().join(format!("replica-{i}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(e2e_tests::ncp_binary())
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start ncp serve");
        Replica {
            child: Mutex::new(child),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        }
    }

    /// Waits (up to 30 s) until replica `i` answers `/status` over mutual TLS.
    async fn wait_ready(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let url = format!("https://{}/status", self.replicas[i].addr);
            if let Ok(r) = self.client.get(&url).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Ok(Some(status)) = self.replicas[i].child.lock().expect("child").try_wait() {
                panic!(
                    "replica {i} exited ({status}) before it was ready:\n{}",
                    self.replicas[i].log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "replica {i} not ready within 30 s:\n{}",
                self.replicas[i].log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: the replica dies without finishing anything.
    pub fn kill(&self, i: usize) {
        let mut child = self.replicas[i].child.lock().expect("child");
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }

    /// Whether replica `i` still runs.
    pub fn alive(&self, i: usize) -> bool {
        matches!(
            self.replicas[i].child.lock().expect("child").try_wait(),
            Ok(None)
        )
    }

    pub fn set_nll_faults(&self, faults: sweden_sim::Faults) {
        assert!(self.sims().set_faults("nll", faults), "NLL simulator");
    }

    /// POSTs a SOAP envelope to replica `i`; `None` when no answer came (connection refused,
    /// cut, or timed out).
    async fn post(&self, i: usize, path: &str, envelope: String) -> Option<(u16, String)> {
        let url = format!("https://{}{path}", self.replicas[i].addr);
        let r = self
            .client
            .post(url)
            .header("Content-Type", "application/soap+xml; charset=UTF-8")
            .body(envelope)
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        let text = r.text().await.ok()?;
        Some((status, text))
    }

    fn assertions(&self, with_trc: bool) -> Vec<String> {
        let claims = pharmacist();
        let hcp = issue_hcp_assertion(&claims, &options(), &self.signer).expect("HCP assertion");
        if !with_trc {
            return vec![hcp.xml];
        }
        let trc = TrcClaims {
            subject_id: claims.subject_id.clone(),
            patient: ncp_core::security::PatientRef::new(
                ncp_types::Oid::parse(PNR).expect("oid"),
                PATIENT,
            ),
            purpose_of_use: ncp_core::security::PurposeOfUse::Treatment,
            hcp_assertion_ref: hcp.id.clone(),
        };
        let trc = issue_trc_assertion(&trc, &options(), &self.signer).expect("TRC assertion");
        vec![hcp.xml, trc.xml]
    }

    /// One transaction: sends it to replica `i` and writes the answer in the journal.
    async fn transaction(&self, journal: &Journal, i: usize, kind: Tx, body: String) -> Answer {
        let (path, action, with_trc) = match kind {
            Tx::Identify => ("/ncp/xcpd", XCPD_ACTION, false),
            Tx::List => ("/ncp/xca", XCA_QUERY_ACTION, true),
            Tx::Retrieve => ("/ncp/xca", XCA_RETRIEVE_ACTION, true),
            Tx::Submit => ("/ncp/xdr", XDR_ACTION, true),
        };
        let xml = envelope(action, &self.assertions(with_trc), &body);
        let message_id = between(&xml, "<wsa:MessageID>", "</wsa:MessageID>")
            .expect("MessageID")
            .to_owned();
        let answer = match self.post(i, path, xml).await {
            None => Answer::Nothing,
            Some((status, text)) if status != 200 || text.contains(":Fault>") => {
                Answer::Fault(status)
            }
            Some((_, text)) => {
                let ok = match kind {
                    Tx::Identify => text.contains("queryResponseCode code=\"OK\""),
                    Tx::List | Tx::Retrieve | Tx::Submit => {
                        text.contains(&format!("status=\"{SUCCESS}\""))
                    }
                };
                if ok {
                    Answer::Success(text)
                } else {
                    Answer::Refused
                }
            }
        };
        journal.record(kind, message_id, &answer);
        answer
    }

    /// A foreign pharmacy's visit for prescription number `n`, at replica `i`: identify the
    /// patient, list the ePrescriptions, retrieve this one, and submit its dispensation as
    /// `dispense_id`. Stops at the first step that does not succeed.
    pub async fn visit(&self, journal: &Journal, i: usize, n: usize, dispense_id: &str) {
        let rx = rx(n);
        let id = self
            .transaction(journal, i, Tx::Identify, xcpd_body(&[(PNR, PATIENT)]))
            .await;
        if !id.success() {
            return;
        }
        let list = self
            .transaction(
                journal,
                i,
                Tx::List,
                xca_query_body(PNR, PATIENT, "57833-6"),
            )
            .await;
        let unique_id = format!("{}^{rx}", country_a::EP_DOC_ROOT);
        match &list {
            Answer::Success(text) if text.contains(&unique_id) => {}
            Answer::Success(_) => panic!("the list of {PATIENT} lacks {unique_id}"),
            _ => return,
        }
        let retrieve = self
            .transaction(journal, i, Tx::Retrieve, xca_retrieve_body(&[&unique_id]))
            .await;
        if !retrieve.success() {
            return;
        }
        self.submit(journal, i, &rx, dispense_id).await;
    }

    /// XDR submit of a dispensation of `rx` as `dispense_id` at replica `i`.
    pub async fn submit(&self, journal: &Journal, i: usize, rx: &str, dispense_id: &str) -> Answer {
        let (uid, cda) = edispensation(dispense_id, PATIENT, rx);
        journal.submitted(rx, dispense_id);
        let answer = self
            .transaction(
                journal,
                i,
                Tx::Submit,
                xdr_body(PNR, PATIENT, &uid, FORMAT_DIS, &cda),
            )
            .await;
        if answer.success() {
            journal.acknowledged(rx, dispense_id);
        }
        answer
    }

    /// NLL's dispensations of `rx` carrying `dispense_id`.
    async fn in_nll(&self, rx: &str, dispense_id: &str) -> usize {
        let base = self.sims().nll.as_str().trim_end_matches('/').to_owned();
        let b: Value = reqwest::Client::new()
            .get(format!("{base}/MedicationDispense?prescription={rx}"))
            .header("Accept", "application/fhir+json")
            .header("X-Caller-HsaId", BRIDGE_HSA)
            .header("X-Purpose", "cross-border")
            .header("X-Caller-Role", "ncp")
            .send()
            .await
            .expect("NLL answers")
            .json()
            .await
            .expect("NLL JSON");
        b["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                e["resource"]["identifier"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|i| i["value"] == dispense_id)
            })
            .count()
    }

    /// The outbox items not delivered yet (pending or rejected), by state.
    pub async fn outbox_backlog(&self) -> HashMap<String, i64> {
        let client = pg_client(&self.pg_url).await;
        client
            .query(
                "SELECT state, count(*) FROM outbox WHERE state <> 'delivered' GROUP BY state",
                &[],
            )
            .await
            .expect("outbox query")
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
            .collect()
    }

    /// The invariants, waiting up to `delivery_within` for the outbox to deliver.
    pub async fn check(&self, journal: &Journal, delivery_within: Duration) {
        let j = journal.inner.lock().expect("journal").clone();
        assert!(
            !j.acknowledged.is_empty(),
            "the run acknowledged no dispensation at all: {:?}",
            j.counts
        );
        // 1. Every acknowledged dispensation reaches NLL exactly once.
        let deadline = Instant::now() + delivery_within;
        let mut missing: Vec<(String, String)> = j.acknowledged.clone();
        while !missing.is_empty() && Instant::now() < deadline {
            let mut still = Vec::new();
            for (rx, id) in missing {
                if self.in_nll(&rx, &id).await == 0 {
                    still.push((rx, id));
                }
            }
            missing = still;
            if !missing.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        assert!(
            missing.is_empty(),
            "acknowledged but not in NLL after {delivery_within:?}: {missing:?}; outbox: {:?}\n{}",
            self.outbox_backlog().await,
            self.logs()
        );
        // Give a straggling duplicate delivery a moment to show, then count everything.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for (rx, id) in &j.submitted {
            let n = self.in_nll(rx, id).await;
            assert!(n <= 1, "{id} ({rx}) is in NLL {n} times");
            if j.acknowledged.contains(&(rx.clone(), id.clone())) {
                assert_eq!(n, 1, "{id} ({rx}) acknowledged, in NLL {n} times");
            }
        }
        let backlog = self.outbox_backlog().await;
        assert!(
            !backlog.contains_key("rejected"),
            "NLL rejected acknowledged dispensations: {backlog:?}"
        );

        // 2. Every answered transaction has its audit record.
        let client = pg_client(&self.pg_url).await;
        let audited: HashSet<String> = client
            .query("SELECT record FROM audit_log", &[])
            .await
            .expect("audit query")
            .iter()
            .filter_map(|r| {
                let record: Value = serde_json::from_str(r.get::<_, &str>(0)).ok()?;
                record["message_id"].as_str().map(str::to_owned)
            })
            .collect();
        let unaudited: Vec<&String> = j
            .answered
            .iter()
            .filter(|m| !audited.contains(*m))
            .collect();
        assert!(
            unaudited.is_empty(),
            "{} of {} answered transactions have no audit record: {unaudited:?}",
            unaudited.len(),
            j.answered.len()
        );

        // 3. The audit chain verifies.
        let log = ncp_core::audit::AuditLog::open(&ncp_core::audit::AuditConfig {
            backend: ncp_core::audit::StorageBackend::Postgres {
                url: self.pg_url.clone(),
            },
        })
        .await
        .expect("open the audit trail");
        let report = log.verify().await.expect("verify the audit trail");
        assert!(report.is_intact(), "audit chain broken: {report:?}");
        // And as an operator checks it: `ncp audit verify` exits 0 on an intact chain.
        let out = Command::new(e2e_tests::ncp_binary())
            .args(["audit", "verify", "--postgres", &self.pg_url])
            .output()
            .expect("run ncp audit verify");
        assert!(
            out.status.success(),
            "ncp audit verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            report.records as usize >= j.answered.len(),
            "{} records for {} answered transactions",
            report.records,
            j.answered.len()
        );
        eprintln!(
            "fault test: {:?}; {} acknowledged dispensations in NLL once each; {} audit records, chain intact",
            j.counts,
            j.acknowledged.len(),
            report.records
        );
    }

    /// Every replica's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for (i, r) in self.replicas.iter().enumerate() {
            let log = r.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            s.push_str(&format!("--- replica {i} (last lines) ---\n"));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    pub async fn shutdown(mut self) {
        for r in &self.replicas {
            if let Ok(mut child) = r.child.lock() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(sims) = self.sims.take() {
            sims.shutdown().await;
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for r in &self.replicas {
            if let Ok(mut child) = r.child.lock() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

pub async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}

fn between<'a>(s: &'a str, from: &str, to: &str) -> Option<&'a str> {
    let start = s.find(from)? + from.len();
    let len = s[start..].find(to)?;
    Some(&s[start..start + len])
}

/// The transactions of the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tx {
    Identify,
    List,
    Retrieve,
    Submit,
}

/// What a transaction got back.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The transaction succeeded (for XDR: acknowledged).
    Success(String),
    /// An answer in the protocol's terms that says no (audited like a success).
    Refused,
    /// A SOAP fault or another HTTP status: nothing was done.
    Fault(u16),
    /// No answer (connection refused or cut, timeout).
    Nothing,
}

impl Answer {
    pub fn success(&self) -> bool {
        matches!(self, Answer::Success(_))
    }
}

#[derive(Debug, Clone, Default)]
struct JournalInner {
    /// MessageIDs of the transactions that got an answer other than a fault.
    answered: Vec<String>,
    submitted: Vec<(String, String)>,
    acknowledged: Vec<(String, String)>,
    counts: HashMap<String, usize>,
}

/// Every transaction of a run and its answer.
#[derive(Clone, Default)]
pub struct Journal {
    inner: Arc<Mutex<JournalInner>>,
}

impl Journal {
    fn record(&self, kind: Tx, message_id: String, answer: &Answer) {
        let mut j = self.inner.lock().expect("journal");
        let what = match answer {
            Answer::Success(_) => "ok",
            Answer::Refused => "refused",
            Answer::Fault(_) => "fault",
            Answer::Nothing => "no answer",
        };
        *j.counts.entry(format!("{kind:?} {what}")).or_default() += 1;
        if matches!(answer, Answer::Success(_) | Answer::Refused) {
            j.answered.push(message_id);
        }
    }

    fn submitted(&self, rx: &str, id: &str) {
        let mut j = self.inner.lock().expect("journal");
        j.submitted.push((rx.to_owned(), id.to_owned()));
    }

    fn acknowledged(&self, rx: &str, id: &str) {
        let mut j = self.inner.lock().expect("journal");
        j.acknowledged.push((rx.to_owned(), id.to_owned()));
    }

    pub fn acknowledged_count(&self) -> usize {
        self.inner.lock().expect("journal").acknowledged.len()
    }

    pub fn count(&self, key: &str) -> usize {
        self.inner
            .lock()
            .expect("journal")
            .counts
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

/// A fresh database on a cluster of this test's own, or `None` (SKIPPED) without PostgreSQL.
pub async fn own_cluster() -> Option<(e2e_tests::pg::PgCluster, String)> {
    let cluster = match e2e_tests::pg::PgCluster::start(false) {
        Ok(Some(c)) => c,
        Ok(None) => {
            println!("SKIPPED: no PostgreSQL server binaries");
            return None;
        }
        Err(e) => panic!("could not start the test PostgreSQL cluster: {e}"),
    };
    let url = cluster.create_database().await;
    Some((cluster, url))
}
