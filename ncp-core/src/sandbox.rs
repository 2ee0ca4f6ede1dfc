//! `ncp sandbox`: the bridge on its embedded default, a sandbox Sweden.
//!
//! Starts the simulators of the Swedish national services (`sweden-sim`), makes or reuses a
//! test PKI, writes the configuration it runs with (so `ncp serve --config` can be tried
//! against the same simulators), starts the bridge, and prints where everything is.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::Serialize;

use crate::bridge::{Bridge, StartError};
use crate::config::{
    Config, NationalServices, NcpIdentity, ServerConfig, TerminologyConfig, TlsConfig,
};
use crate::pki::{PkiError, TestPki};

/// What `ncp sandbox` is asked to do.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Where the PKI, the generated configuration and `endpoints.json` go.
    pub data_dir: PathBuf,
    /// The bridge's mutual-TLS address.
    pub listen: SocketAddr,
    /// The simulators' first port (0: any free ports).
    pub sim_base_port: u16,
    /// Faults every simulator starts with.
    pub faults: sweden_sim::Faults,
    /// Where to serve the gRPC TerminologyService.
    pub grpc_listen: Option<SocketAddr>,
    /// Where to serve `/health`, `/ready` and `/metrics` (plain HTTP); not served when absent.
    pub ops_listen: Option<SocketAddr>,
    /// Foreign NCPs for the Country B directory: files each holding one
    /// `[[country_b.countries]]` entry (as `foreign-ncp-sim` writes them).
    pub foreign_ncps: Vec<PathBuf>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            data_dir: PathBuf::from("sandbox-data"),
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8443),
            sim_base_port: 9100,
            faults: sweden_sim::Faults::default(),
            grpc_listen: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9190)),
            ops_listen: None,
            foreign_ncps: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("cannot start the simulators: {0}")]
    Sim(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a country directory entry: {problem}")]
    ForeignNcp { path: PathBuf, problem: String },
    #[error(transparent)]
    Start(#[from] StartError),
}

/// The sandbox's addresses and files, as printed and as written to `endpoints.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxEndpoints {
    pub bridge: String,
    pub terminology_grpc: Option<String>,
    /// The operations listener (`/health`, `/ready`, `/metrics`), when asked for.
    pub ops: Option<String>,
    pub simulators: Vec<(String, String)>,
    pub pki_dir: PathBuf,
    pub ca_cert: PathBuf,
    pub clients: Vec<ClientFiles>,
    pub untrusted_client: ClientFiles,
    pub config: PathBuf,
    /// The eHDSI MVC loaded over the embedded terminology, if found.
    pub mvc_dir: Option<PathBuf>,
    /// The country A SOAP endpoints: (transaction, URL).
    pub soap: Vec<(String, String)>,
    pub audit_db: PathBuf,
    pub outbox_db: PathBuf,
    /// The FHIR API for Swedish users (Sweden as country B) and user tokens for it.
    pub fhir: String,
    pub fhir_tokens: Vec<(String, PathBuf)>,
    /// The Country B directory: each foreign NCP's country and where its services answer.
    pub fhir_countries: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientFiles {
    pub country: String,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub saml_cert: Option<PathBuf>,
    pub saml_key: Option<PathBuf>,
}

/// The eHDSI MVC value sets of `../shared` (the project's sibling directory), looked for from
/// the current directory upwards so the sandbox finds them from any folder of a checkout.
fn shared_mvc_dir() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|a| a.join("../shared/ehdsi/schematron-wave8/include"))
        .find(|p| p.is_dir())
        .and_then(|p| p.canonicalize().ok())
}

/// Starts everything, prints the banner, and runs until `shutdown` completes.
pub async fn run(
    opts: SandboxOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), SandboxError> {
    let write = |path: PathBuf, text: String| {
        std::fs::write(&path, text).map_err(|source| SandboxError::Write { path, source })
    };
    std::fs::create_dir_all(&opts.data_dir).map_err(|source| SandboxError::Write {
        path: opts.data_dir.clone(),
        source,
    })?;
    let data_dir = opts
        .data_dir
        .canonicalize()
        .unwrap_or_else(|_| opts.data_dir.clone());
    let pki = TestPki::ensure(&data_dir.join("pki"))?;

    let sims = sweden_sim::start(sweden_sim::SimConfig {
        bind: opts.listen.ip(),
        base_port: opts.sim_base_port,
        faults: opts.faults,
    })
    .await
    .map_err(|e| SandboxError::Sim(e.to_string()))?;

    let mvc = shared_mvc_dir();
    // Sweden as country B: the FHIR API with a test identity issuer and ready-made tokens.
    let mut fhir = crate::country_b::sandbox::prepare(&pki, &data_dir)?;
    for path in &opts.foreign_ncps {
        let entry = crate::country_b::sandbox::read_country_entry(path)?;
        fhir.config.countries.push(entry);
    }
    let config = Config {
        ncp: NcpIdentity::sandbox(),
        server: ServerConfig {
            listen: opts.listen,
            max_body_bytes: 16 * 1024 * 1024,
        },
        tls: TlsConfig {
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
            client_ca: vec![pki.ca_cert.clone()],
        },
        national: NationalServices {
            nll: sims.nll.clone(),
            pdi: sims.pdi.clone(),
            ntk: sims.ntk.clone(),
            nsr: sims.nsr.clone(),
            timeout_ms: 5_000,
        },
        terminology: TerminologyConfig {
            mvc_dir: mvc.clone(),
            grpc_listen: opts.grpc_listen,
        },
        // The sandbox CA issued the test foreign NCPs' SAML signing certificates.
        saml: crate::config::SamlConfig {
            trust: vec![pki.ca_cert.clone()],
            ..Default::default()
        },
        // The audit trail and the dispensation outbox: SQLite files in the data directory.
        audit: Some(crate::audit::AuditConfig {
            backend: crate::audit::StorageBackend::Sqlite {
                path: data_dir.join("audit.sqlite"),
            },
        }),
        outbox: Some(crate::outbox::OutboxConfig {
            backend: crate::audit::StorageBackend::Sqlite {
                path: data_dir.join("outbox.sqlite"),
            },
            worker: Default::default(),
        }),
        ops: crate::ops::OpsConfig {
            listen: opts.ops_listen,
            ..Default::default()
        },
        country_b: Some(fhir.config.clone()),
    };
    let config_path = data_dir.join("ncp.toml");
    write(config_path.clone(), config.to_toml())?;

    let bridge = Bridge::bind(config).await?;
    let endpoints = SandboxEndpoints {
        bridge: format!("https://{}", bridge.local_addr()),
        terminology_grpc: bridge.grpc_addr().map(|a| format!("http://{a}")),
        ops: bridge.ops_addr().map(|a| format!("http://{a}")),
        simulators: sims
            .endpoints()
            .into_iter()
            .map(|(name, url)| (name, url.to_string()))
            .collect(),
        pki_dir: pki.dir.clone(),
        ca_cert: pki.ca_cert.clone(),
        clients: pki
            .foreign
            .iter()
            .map(|f| ClientFiles {
                country: f.country.to_owned(),
                tls_cert: f.tls_cert.clone(),
                tls_key: f.tls_key.clone(),
                saml_cert: Some(f.saml_cert.clone()),
                saml_key: Some(f.saml_key.clone()),
            })
            .collect(),
        untrusted_client: ClientFiles {
            country: "XX".to_owned(),
            tls_cert: pki.untrusted_cert.clone(),
            tls_key: pki.untrusted_key.clone(),
            saml_cert: None,
            saml_key: None,
        },
        config: config_path,
        mvc_dir: mvc.clone(),
        soap: [
            ("XCPD (ITI-55)", "/ncp/xcpd"),
            ("XCA (ITI-38, ITI-39)", "/ncp/xca"),
            ("XDR (ITI-41)", "/ncp/xdr"),
            (
                "National Connector (gRPC)",
                "/ncp.national_connector.v1.NationalConnector",
            ),
        ]
        .into_iter()
        .map(|(name, path)| {
            (
                name.to_owned(),
                format!("https://{}{path}", bridge.local_addr()),
            )
        })
        .collect(),
        audit_db: data_dir.join("audit.sqlite"),
        fhir: format!("https://{}/fhir", bridge.local_addr()),
        fhir_tokens: fhir.tokens.clone(),
        fhir_countries: fhir
            .config
            .countries
            .iter()
            .map(|c| {
                let services = c
                    .services
                    .iter()
                    .map(|s| format!("{} {}", s.service.name(), s.endpoint))
                    .collect();
                (c.country.to_string(), services)
            })
            .collect(),
        outbox_db: data_dir.join("outbox.sqlite"),
    };
    write(
        data_dir.join("endpoints.json"),
        serde_json::to_string_pretty(&endpoints).unwrap_or_default(),
    )?;
    print!("{}", banner(&endpoints, pki.generated));

    bridge.run(shutdown).await;
    sims.shutdown().await;
    Ok(())
}

/// The text a newcomer sees: where to connect, with what, and whom to look up.
fn banner(e: &SandboxEndpoints, generated: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\nSandbox Sweden is up.\n");
    let _ = writeln!(s, "  NCP bridge (mutual TLS)      {}", e.bridge);
    if let Some(grpc) = &e.terminology_grpc {
        let _ = writeln!(s, "  Terminology gRPC             {grpc}");
    }
    if let Some(ops) = &e.ops {
        let _ = writeln!(
            s,
            "  Health, readiness, metrics   {ops}/health /ready /metrics"
        );
    }
    for (name, url) in &e.simulators {
        let _ = writeln!(s, "  {name:<28} {url}");
    }
    let _ = writeln!(
        s,
        "\n  Test PKI ({}): {}",
        if generated { "new" } else { "reused" },
        e.pki_dir.display()
    );
    let _ = writeln!(s, "    CA (trust this)        {}", e.ca_cert.display());
    for c in &e.clients {
        let _ = writeln!(
            s,
            "    NCP {} client          {} + {}",
            c.country,
            c.tls_cert.display(),
            c.tls_key.display()
        );
    }
    for (name, url) in &e.soap {
        let _ = writeln!(s, "  {name:<28} {url}");
    }
    if e.fhir_countries.is_empty() {
        let _ = writeln!(
            s,
            "  {:<28} {} (no foreign NCP in its country directory: `./dev sandbox` starts one, \
             or pass --foreign-ncp FILE)",
            "FHIR API (country B)", e.fhir
        );
    } else {
        let _ = writeln!(s, "  {:<28} {}", "FHIR API (country B)", e.fhir);
        for (country, services) in &e.fhir_countries {
            for service in services {
                let _ = writeln!(s, "    foreign NCP {country:<14} {service}");
            }
        }
    }
    for (role, path) in &e.fhir_tokens {
        let label = format!("{role} token (12 h)");
        let _ = writeln!(s, "    {label:<26} {}", path.display());
    }
    let _ = writeln!(s, "  Configuration: {}", e.config.display());
    match &e.mvc_dir {
        Some(dir) => {
            let _ = writeln!(
                s,
                "  Terminology: embedded + eHDSI MVC from {}",
                dir.display()
            );
        }
        None => {
            let _ = writeln!(
                s,
                "  Terminology: embedded data only (../shared/ehdsi/schematron-wave8 not found)"
            );
        }
    }
    let _ = writeln!(
        s,
        "  Audit trail: {}  Outbox: {}",
        e.audit_db.display(),
        e.outbox_db.display()
    );
    if let Some(c) = e.clients.first() {
        let _ = writeln!(
            s,
            "\n  Try it:\n    curl --cacert {} --cert {} --key {} {}/status",
            e.ca_cert.display(),
            c.tls_cert.display(),
            c.tls_key.display(),
            e.bridge
        );
    }
    let _ = writeln!(s, "\n  Synthetic patients (see sweden-sim/README.md):");
    for p in sweden_sim::patients() {
        let kind = match p.kind() {
            ncp_types::PersonIdKind::Personnummer => "personnummer",
            ncp_types::PersonIdKind::Samordningsnummer => "samordningsnr",
        };
        let name = format!("{} {}", p.given, p.family);
        let _ = writeln!(
            s,
            "    {kind:<13} {}  {name:<24} {}",
            p.id.as_str(),
            p.edge_case
        );
    }
    let _ = writeln!(s, "\nReady. Ctrl-C stops.");
    s
}
