//! A simulated foreign NCP: another country as country A, answering Sweden (country B) over
//! SOAP 1.2 and mutual TLS as a real one would.
//!
//! It checks the request's `wsu:Timestamp` as a strict WS-Security stack does ([`wss`]: missing
//! or malformed -> `wsse:InvalidSecurity`, expired or from the future -> `wsse:MessageExpired`,
//! by its own clock, which tests can set ahead or behind), the signed HCP and TRC assertions
//! with ncp-core's verifier against its own SAML trust list, that the signing NCP is the TLS peer, and that the request's patient is the TRC
//! assertion's; it answers XCPD (ITI-55), XCA (ITI-38/39) and XDR (ITI-41) with ncp-core's
//! response builders, serving the eHDSI sample documents; and it records every call and every
//! eDispensation or discard it received, so tests can assert what was sent.
//!
//! Each patient has a [`Behaviour`]: answer normally, no match, no consent (`4701`), not
//! dispensable, unavailable (HTTP 503 or a SOAP Receiver fault), or answer after a delay.

mod handlers;
mod listener;
pub mod wss;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ncp_core::ihe::xca::Transfer;
use ncp_core::ihe::PatientIdentifier;
use ncp_core::security::{AssertionPolicy, SigningTrust};
use ncp_types::{CountryCode, Oid};
use url::Url;

use crate::samples::{SampleClass, SampleDemographics, SampleDocument, SampleError};

/// How the simulated NCP answers for a patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Finds the patient and serves their documents; accepts dispensations.
    Normal,
    /// XCPD: no such patient (`ERROR_PI_NO_MATCH`).
    NoMatch,
    /// The patient has not consented: XCPD `AE` and XCA/XDR RegistryError `4701`.
    NoConsent,
    /// Lists the ePrescriptions as closed and refuses a dispensation
    /// (`ERROR_ED_NOT_DISPENSABLE_EPRESCRIPTION`).
    NotDispensable,
    /// Every call about the patient gets HTTP 503 without a SOAP body (a load balancer).
    UnavailableHttp503,
    /// Every call about the patient gets a SOAP Receiver fault (HTTP 500, `ERROR_GENERIC`).
    UnavailableFault,
    /// Answers normally after this delay.
    Slow(Duration),
    /// Answers HTTP 200 with a body that is not a SOAP envelope (a broken proxy or stack).
    MalformedAnswer,
}

/// A patient of the simulated country.
#[derive(Debug, Clone)]
pub struct SimPatient {
    pub id: PatientIdentifier,
    pub given: Vec<String>,
    pub family: Vec<String>,
    /// HL7 TS (`18860629`).
    pub birth_time: Option<String>,
    /// `M`, `F`, `UN`.
    pub gender: Option<String>,
    /// Stems of the `epstore-*` samples that are this patient's ePrescriptions.
    pub prescriptions: Vec<String>,
    /// Stem of the `psstore-*` sample that is this patient's Patient Summary.
    pub summary: Option<String>,
    pub behaviour: Behaviour,
}

impl SimPatient {
    /// A patient whose id and demographics are those of the first sample's `recordTarget`.
    pub fn from_samples(
        dir: &Path,
        prescriptions: &[&str],
        summary: Option<&str>,
    ) -> Result<Self, SimError> {
        let first = prescriptions
            .first()
            .copied()
            .or(summary)
            .ok_or_else(|| SimError::Config("a patient needs at least one sample".into()))?;
        let sample = SampleDocument::load(dir, first)?;
        let id = sample
            .patient
            .clone()
            .ok_or_else(|| SimError::Config(format!("{first}: no patient id")))?;
        let SampleDemographics {
            given,
            family,
            birth_time,
            gender,
        } = sample.demographics;
        Ok(SimPatient {
            id,
            given,
            family,
            birth_time,
            gender,
            prescriptions: prescriptions.iter().map(|s| (*s).to_owned()).collect(),
            summary: summary.map(str::to_owned),
            behaviour: Behaviour::Normal,
        })
    }

    pub fn with_behaviour(mut self, b: Behaviour) -> Self {
        self.behaviour = b;
        self
    }

    /// A patient with a given id and name, no documents.
    pub fn named(id: PatientIdentifier, given: &str, family: &str) -> Self {
        SimPatient {
            id,
            given: vec![given.to_owned()],
            family: vec![family.to_owned()],
            birth_time: None,
            gender: None,
            prescriptions: Vec::new(),
            summary: None,
            behaviour: Behaviour::Normal,
        }
    }
}

/// The patients the examples and the sandbox use, one per behaviour, from the samples:
///
/// | patient id (root `2.16.17.710.850.1000.990.1.1000`) | documents | behaviour |
/// |---|---|---|
/// | `1-1234-W8` (Robert Schuman) | `epstore-1-1234-W8`, `psstore-2-1234-W8` | normal |
/// | `1-5678-W8` | `epstore-1-5678-W8` | no consent (4701) |
/// | `1-9999` | `epstore-1-9999` | not dispensable |
/// | `1-canesten-W7` | `epstore-1-canesten-W7` | HTTP 503 |
/// | `1-NO-PDF` | `epstore-1-NO-PDF` (no L1) | SOAP Receiver fault |
/// | `1-BAD-MAPPING` | `epstore-1-BAD-MAPPING` | answers after `slow` |
///
/// Any other id: no match.
pub fn standard_patients(samples: &Path, slow: Duration) -> Result<Vec<SimPatient>, SimError> {
    let p = |ep: &str, ps: Option<&str>, b: Behaviour| {
        SimPatient::from_samples(samples, &[ep], ps).map(|p| p.with_behaviour(b))
    };
    Ok(vec![
        p(
            "epstore-1-1234-W8",
            Some("psstore-2-1234-W8"),
            Behaviour::Normal,
        )?,
        p("epstore-1-5678-W8", None, Behaviour::NoConsent)?,
        p("epstore-1-9999", None, Behaviour::NotDispensable)?,
        p("epstore-1-canesten-W7", None, Behaviour::UnavailableHttp503)?,
        p("epstore-1-NO-PDF", None, Behaviour::UnavailableFault)?,
        p("epstore-1-BAD-MAPPING", None, Behaviour::Slow(slow))?,
    ])
}

/// What the simulated NCP is and whom it trusts.
#[derive(Debug, Clone)]
pub struct ForeignNcpSimConfig {
    pub country: CountryCode,
    pub home_community_id: Oid,
    /// PEM chain and key of its TLS server certificate.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// PEM CA certificates a caller's TLS client certificate must chain to.
    pub client_ca: Vec<PathBuf>,
    /// PEM SAML signing certificates trusted as they are (the Swedish NCP's).
    pub saml_pinned: Vec<PathBuf>,
    /// PEM CA certificates SAML signing certificates may chain to.
    pub saml_ca: Vec<PathBuf>,
    /// Where the sample documents are (`../shared/ehdsi/samples/openncp-mock`).
    pub samples: PathBuf,
    pub patients: Vec<SimPatient>,
    /// How retrieved documents travel: MTOM parts or inline base64.
    pub retrieve_transfer: Transfer,
    /// Where to listen (`127.0.0.1:0` for any free port).
    pub listen: SocketAddr,
}

impl ForeignNcpSimConfig {
    /// The `index`th foreign NCP of a [`TestPki`](ncp_core::pki::TestPki) (its TLS server
    /// certificate and country), trusting the PKI's CA for TLS clients and the Swedish
    /// bridge's SAML certificate for assertions; retrieved documents as MTOM; any free port.
    pub fn from_test_pki(
        pki: &ncp_core::pki::TestPki,
        index: usize,
        home_community_id: Oid,
        samples: &Path,
        patients: Vec<SimPatient>,
    ) -> Result<Self, SimError> {
        let f = pki
            .foreign
            .get(index)
            .ok_or_else(|| SimError::Config(format!("the test PKI has no foreign NCP {index}")))?;
        Ok(ForeignNcpSimConfig {
            country: CountryCode::parse(f.country).map_err(|e| SimError::Config(e.to_string()))?,
            home_community_id,
            tls_cert: f.server_cert.clone(),
            tls_key: f.server_key.clone(),
            client_ca: vec![pki.ca_cert.clone()],
            saml_pinned: vec![pki.se_saml_cert.clone()],
            saml_ca: Vec::new(),
            samples: samples.to_owned(),
            patients,
            retrieve_transfer: Transfer::Mtom,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        })
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulated NCP configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Sample(#[from] SampleError),
    #[error("simulated NCP TLS: {0}")]
    Tls(String),
    #[error("simulated NCP cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

/// A call the simulated NCP answered (after its assertions were checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// `XCPD`, `XCA query`, `XCA retrieve`, `XDR`.
    pub operation: &'static str,
    /// The HCP's id (the assertion's NameID).
    pub hcp_subject: String,
    /// The HCP's ISCO role code.
    pub hcp_role: String,
    /// `TREATMENT` or `EMERGENCY`.
    pub purpose: String,
    /// The eHDSI permissions the HCP assertion carried (`PRD-006`, ...).
    pub permissions: Vec<String>,
    /// The TLS client certificate's country.
    pub peer_country: Option<CountryCode>,
    /// The patient of the TRC assertion, when there was one.
    pub trc_patient: Option<PatientIdentifier>,
    /// The request's `wsu:Timestamp` (checked before the assertions).
    pub timestamp: wss::ReceivedTimestamp,
}

/// An eDispensation or discard the simulated NCP accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedDispensation {
    pub patient: PatientIdentifier,
    pub discard: bool,
    /// XDSDocumentEntry.uniqueId.
    pub document_unique_id: String,
    /// The format code (`urn:epSOS:ep:dis:2010`, `urn:eHDSI:ed:discard:2020`).
    pub format_code: String,
    /// The CDA exactly as received.
    pub cda: Vec<u8>,
    pub hcp_subject: String,
    pub hcp_role: String,
}

/// A document the simulated NCP serves.
#[derive(Clone)]
struct Served {
    entry_uuid: String,
    unique_id: String,
    patient: PatientIdentifier,
    class: SampleClass,
    l1: bool,
    /// For an L1 entry: the entryUUID of its L3.
    transformation_of: Option<String>,
    title: String,
    bytes: Vec<u8>,
}

struct SimState {
    country: CountryCode,
    home_community_id: Oid,
    repository_id: Oid,
    trust: SigningTrust,
    policy: AssertionPolicy,
    patients: Vec<SimPatient>,
    behaviours: Mutex<HashMap<PatientIdentifier, Behaviour>>,
    documents: Vec<Served>,
    transfer: Transfer,
    calls: Mutex<Vec<CallRecord>>,
    received: Mutex<Vec<ReceivedDispensation>>,
    /// How far this NCP's clock is ahead of the real one (negative: behind), in milliseconds.
    clock_offset_ms: AtomicI64,
}

impl SimState {
    /// This NCP's clock.
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
            + chrono::Duration::milliseconds(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    fn patient(&self, id: &PatientIdentifier) -> Option<&SimPatient> {
        self.patients.iter().find(|p| &p.id == id)
    }

    fn behaviour(&self, id: &PatientIdentifier) -> Behaviour {
        let overrides = self.behaviours.lock().unwrap_or_else(|e| e.into_inner());
        overrides
            .get(id)
            .copied()
            .or_else(|| self.patient(id).map(|p| p.behaviour))
            .unwrap_or(Behaviour::NoMatch)
    }
}

/// The simulated foreign NCP.
pub struct ForeignNcpSim;

impl ForeignNcpSim {
    /// Loads the patients' documents and starts listening; runs until the returned handle is
    /// dropped or [`RunningForeignNcp::stop`] is called.
    pub async fn start(cfg: ForeignNcpSimConfig) -> Result<RunningForeignNcp, SimError> {
        let mut trust = SigningTrust::new();
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| SimError::Config(format!("{}: {e}", path.display())))
        };
        for path in &cfg.saml_pinned {
            trust
                .add_pinned_pem(&read(path)?)
                .map_err(|e| SimError::Config(format!("{}: {e}", path.display())))?;
        }
        for path in &cfg.saml_ca {
            trust
                .add_ca_pem(&read(path)?)
                .map_err(|e| SimError::Config(format!("{}: {e}", path.display())))?;
        }
        let repository_id = Oid::parse(&format!("{}.9", cfg.home_community_id))
            .map_err(|e| SimError::Config(e.to_string()))?;
        let mut documents = Vec::new();
        let mut n = 0u32;
        for p in &cfg.patients {
            let stems = p.prescriptions.iter().chain(p.summary.iter());
            for stem in stems {
                let sample = SampleDocument::load(&cfg.samples, stem)?;
                n += 1;
                let l3_uuid = format!("urn:uuid:{}", uuid::Uuid::new_v4());
                let title = sample.title.clone().unwrap_or_else(|| stem.clone());
                documents.push(Served {
                    entry_uuid: l3_uuid.clone(),
                    unique_id: format!("{}.1.{n}", cfg.home_community_id),
                    patient: p.id.clone(),
                    class: sample.class,
                    l1: false,
                    transformation_of: None,
                    title: title.clone(),
                    bytes: sample.l3.clone(),
                });
                if let Some(l1) = sample.l1() {
                    documents.push(Served {
                        entry_uuid: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
                        unique_id: format!("{}.2.{n}", cfg.home_community_id),
                        patient: p.id.clone(),
                        class: sample.class,
                        l1: true,
                        transformation_of: Some(l3_uuid),
                        title: format!("{title} (PDF)"),
                        bytes: l1,
                    });
                }
            }
        }
        let tls = ncp_core::tls::server_config(&ncp_core::config::TlsConfig {
            cert: cfg.tls_cert.clone(),
            key: cfg.tls_key.clone(),
            client_ca: cfg.client_ca.clone(),
        })
        .map_err(|e| SimError::Tls(e.to_string()))?;
        let state = Arc::new(SimState {
            country: cfg.country,
            home_community_id: cfg.home_community_id.clone(),
            repository_id,
            trust,
            policy: AssertionPolicy::default(),
            patients: cfg.patients.clone(),
            behaviours: Mutex::new(HashMap::new()),
            documents,
            transfer: cfg.retrieve_transfer,
            calls: Mutex::new(Vec::new()),
            received: Mutex::new(Vec::new()),
            clock_offset_ms: AtomicI64::new(0),
        });
        let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let app = handlers::router(state.clone());
        let task = tokio::spawn(listener::serve(listener, tls, app, stop_rx));
        let base = Url::parse(&format!("https://localhost:{}/", addr.port()))
            .map_err(|e| SimError::Config(e.to_string()))?;
        tracing::info!(country = %cfg.country, %addr, "simulated foreign NCP listening");
        Ok(RunningForeignNcp {
            url: base,
            addr,
            state,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// A running simulated NCP.
pub struct RunningForeignNcp {
    /// `https://localhost:{port}/`; the services are at `xcpd`, `xca` and `xdr` below it.
    pub url: Url,
    pub addr: SocketAddr,
    state: Arc<SimState>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningForeignNcp {
    pub fn country(&self) -> CountryCode {
        self.state.country
    }

    pub fn home_community_id(&self) -> &Oid {
        &self.state.home_community_id
    }

    pub fn xcpd_url(&self) -> Url {
        self.service_url("xcpd")
    }

    pub fn xca_url(&self) -> Url {
        self.service_url("xca")
    }

    pub fn xdr_url(&self) -> Url {
        self.service_url("xdr")
    }

    fn service_url(&self, s: &str) -> Url {
        self.url.join(s).unwrap_or_else(|_| self.url.clone())
    }

    /// The NCP as the Swedish bridge's foreign gateway addresses it.
    pub fn foreign_ncp(&self) -> ncp_core::country_b::foreign_gateway::ForeignNcp {
        ncp_core::country_b::foreign_gateway::ForeignNcp {
            country: self.state.country,
            home_community_id: self.state.home_community_id.clone(),
            xcpd_url: self.xcpd_url(),
            xca_url: self.xca_url(),
            xdr_url: self.xdr_url(),
        }
    }

    /// The NCP as a Country B directory entry (`[[country_b.countries]]`): every service at
    /// its URL, and the patients' identifier domains so a search needs no `country`.
    pub fn country_entry(&self) -> ncp_core::country_b::config::CountryEntry {
        use ncp_core::country_b::config::{CountryEntry, Service, ServiceEndpoint};
        let mut roots: Vec<Oid> = Vec::new();
        for p in &self.state.patients {
            if !roots.contains(&p.id.root) {
                roots.push(p.id.root.clone());
            }
        }
        let at = |service, endpoint| ServiceEndpoint { service, endpoint };
        CountryEntry {
            country: self.state.country,
            home_community_id: self.state.home_community_id.clone(),
            patient_id_roots: roots,
            certificate: None,
            services: vec![
                at(Service::PatientIdentification, self.xcpd_url()),
                at(Service::Eprescription, self.xca_url()),
                at(Service::Edispensation, self.xdr_url()),
                at(Service::PatientSummary, self.xca_url()),
            ],
        }
    }

    /// Changes how the NCP answers for a patient from now on.
    pub fn set_behaviour(&self, patient: &PatientIdentifier, b: Behaviour) {
        self.state
            .behaviours
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(patient.clone(), b);
    }

    /// Sets this NCP's clock `offset` ahead of the real one (negative: behind), as a peer whose
    /// clock is not synchronised: it judges Timestamps and assertion lifetimes by it.
    pub fn set_clock_offset(&self, offset: chrono::Duration) {
        self.state
            .clock_offset_ms
            .store(offset.num_milliseconds(), Ordering::Relaxed);
    }

    /// The eDispensations and discards received and accepted, in order.
    pub fn received_dispensations(&self) -> Vec<ReceivedDispensation> {
        self.state
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The calls answered after their assertions were checked, in order.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.state
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops listening and waits for the connections in flight.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for RunningForeignNcp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
