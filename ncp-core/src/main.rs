//! `ncp`: the Swedish NCP bridge's one binary.

#[cfg(feature = "sandbox")]
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ncp_core::audit_command::{self, AuditCommand};
use ncp_core::bridge::{shutdown_signal, Bridge};
use ncp_core::config::{Config, NcpIdentity};
#[cfg(feature = "sandbox")]
use ncp_core::sandbox::{self, SandboxOptions};
use ncp_core::transform_command::{self, DocumentKind, FhirToCda, Level};

// mimalloc: allocation-heavy request handling (SOAP, XML, JSON) spends markedly less time in
// the allocator than with the system malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ncp",
    version,
    about = "The Swedish national contact point for MyHealth@EU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[cfg(feature = "sandbox")]
    /// Run the bridge on its embedded default: a sandbox Sweden with simulated national
    /// services, synthetic patients and a test PKI.
    Sandbox {
        /// Where the test PKI, the generated configuration and endpoints.json are kept.
        #[arg(long, default_value = "sandbox-data")]
        data_dir: PathBuf,
        /// The bridge's mutual-TLS address.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// The simulators' first port; they take consecutive ports (0: any free ports).
        #[arg(long, default_value_t = 9100)]
        sim_base_port: u16,
        /// Latency every simulator adds to each answer, in milliseconds.
        #[arg(long, default_value_t = 0)]
        sim_latency_ms: u64,
        /// Share of simulator requests that fail (0.0 to 1.0).
        #[arg(long, default_value_t = 0.0)]
        sim_fail_rate: f64,
        /// Where to serve the gRPC TerminologyService ("off" to not serve it).
        #[arg(long, default_value = "127.0.0.1:9190")]
        terminology_grpc: String,
        /// Where to serve /health, /ready and /metrics over plain HTTP (not served unless given).
        #[arg(long, value_name = "ADDR")]
        ops_listen: Option<SocketAddr>,
        /// A foreign NCP for the Country B FHIR API's directory: a file with one
        /// `[[country_b.countries]]` entry, as `foreign-ncp-sim` writes it (repeatable).
        #[arg(long, value_name = "FILE")]
        foreign_ncp: Vec<PathBuf>,
    },
    /// Run the bridge with a configuration file.
    Serve {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Check a configuration file and report every problem, without starting.
    CheckConfig {
        #[arg(value_name = "FILE")]
        config: PathBuf,
    },
    /// Transform documents between FHIR R4 and eHDSI CDA, to stdout.
    #[command(subcommand)]
    Transform(TransformCommand),
    /// The audit trail: verify its hash chain, list a patient's accesses, KPI counts.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum TransformCommand {
    /// FHIR R4 JSON (an NLL Bundle, or a MedicationDispense) -> eHDSI CDA.
    FhirToCda {
        /// Which eHDSI document to write.
        #[arg(long, value_enum)]
        document: DocumentKind,
        /// ePrescription level: 3 (structured) or 1 (PDF).
        #[arg(long, value_enum, default_value = "3")]
        level: Level,
        /// The MedicationRequest to write, when the Bundle holds several.
        #[arg(long)]
        prescription: Option<String>,
        /// Write the discard of the dispensation instead.
        #[arg(long)]
        discard: bool,
        /// Take the NCP identity (document OIDs, custodian) from this configuration
        /// instead of the sandbox's.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[arg(value_name = "FILE")]
        input: PathBuf,
    },
    /// eHDSI CDA (ePrescription L3/L1, eDispensation) -> FHIR R4 JSON; the kind is detected
    /// from the templateId.
    CdaToFhir {
        #[arg(value_name = "FILE")]
        input: PathBuf,
    },
}

fn transform(cmd: TransformCommand) -> Result<String, String> {
    match cmd {
        TransformCommand::FhirToCda {
            document,
            level,
            prescription,
            discard,
            config,
            input,
        } => {
            let ncp = match config {
                Some(path) => Config::load(&path).map_err(|e| e.to_string())?.ncp,
                None => NcpIdentity::sandbox(),
            };
            let req = FhirToCda {
                document,
                level,
                prescription,
                discard,
            };
            transform_command::fhir_file_to_cda(&input, &req, &ncp)
        }
        TransformCommand::CdaToFhir { input } => transform_command::cda_file_to_fhir(&input),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // After the subscriber: a panic is logged through it, by location only.
    ncp_core::ops::panics::install_hook();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ncp: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<Option<ExitCode>, String> = runtime.block_on(async {
        match cli.command {
            #[cfg(feature = "sandbox")]
            Command::Sandbox {
                data_dir,
                listen,
                sim_base_port,
                sim_latency_ms,
                sim_fail_rate,
                terminology_grpc,
                ops_listen,
                foreign_ncp,
            } => {
                if !(0.0..=1.0).contains(&sim_fail_rate) {
                    return Err("--sim-fail-rate: must be between 0.0 and 1.0".into());
                }
                let grpc_listen = match terminology_grpc.as_str() {
                    "off" => None,
                    addr => Some(addr.parse::<SocketAddr>().map_err(|e| {
                        format!("--terminology-grpc: {addr} is not an address: {e}")
                    })?),
                };
                let opts = SandboxOptions {
                    data_dir,
                    listen,
                    sim_base_port,
                    faults: sweden_sim::Faults {
                        latency_ms: sim_latency_ms,
                        fail_rate: sim_fail_rate,
                        ..Default::default()
                    },
                    grpc_listen,
                    ops_listen,
                    foreign_ncps: foreign_ncp,
                };
                sandbox::run(opts, shutdown_signal())
                    .await
                    .map(|()| None)
                    .map_err(|e| e.to_string())
            }
            Command::Serve { config } => {
                let config = Config::load(&config).map_err(|e| e.to_string())?;
                let bridge = Bridge::bind(config).await.map_err(|e| e.to_string())?;
                bridge.run(shutdown_signal()).await;
                Ok(None)
            }
            Command::CheckConfig { config } => {
                Config::load(&config).map_err(|e| e.to_string())?;
                println!("{}: valid", config.display());
                Ok(None)
            }
            Command::Transform(t) => transform(t).map(|out| {
                println!("{out}");
                None
            }),
            Command::Audit(cmd) => {
                let out = audit_command::run(&cmd).await?;
                print!("{}", out.text);
                if !out.text.ends_with('\n') {
                    println!();
                }
                if !out.ok {
                    return Ok(Some(ExitCode::from(audit_command::EXIT_TAMPERED)));
                }
                Ok(None)
            }
        }
    });
    match result {
        Ok(code) => code.unwrap_or(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("ncp: {}", e.trim_end());
            ExitCode::FAILURE
        }
    }
}
