//! Runs a simulated foreign NCP until interrupted, for trying the bridge's Country B API by
//! hand against the sandbox:
//!
//! ```text
//! foreign-ncp-sim PKI_DIR [FOREIGN_INDEX] [LISTEN] [ENTRY_FILE]
//! ```
//!
//! `PKI_DIR` is the sandbox's test PKI (`ncp sandbox` keeps it in its data directory; made when
//! absent); `FOREIGN_INDEX` picks the foreign NCP of that PKI (0 = EE, 1 = ES); `LISTEN`
//! defaults to `127.0.0.1:0`; `ENTRY_FILE`, when given, receives the NCP's
//! `[[country_b.countries]]` entry once it listens, for `ncp sandbox --foreign-ncp ENTRY_FILE`
//! (`./dev sandbox` does this). The patients are [`country_tests::standard_patients`]; it prints
//! the service URLs and serves the samples in `../shared/ehdsi/samples/openncp-mock`.

use std::path::PathBuf;
use std::time::Duration;

use country_tests::{standard_patients, ForeignNcpSim, ForeignNcpSimConfig};
use ncp_core::pki::TestPki;
use ncp_types::Oid;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("foreign-ncp-sim: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let pki_dir = args
        .next()
        .map(PathBuf::from)
        .ok_or("usage: foreign-ncp-sim PKI_DIR [FOREIGN_INDEX] [LISTEN] [ENTRY_FILE]")?;
    let index: usize = match args.next() {
        Some(i) => i.parse().map_err(|_| format!("not an index: {i}"))?,
        None => 0,
    };
    let listen = match args.next() {
        Some(a) => a.parse().map_err(|_| format!("not an address: {a}"))?,
        None => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let entry_file = args.next().map(PathBuf::from);
    let samples = country_tests::samples::samples_dir()
        .ok_or("../shared/ehdsi/samples/openncp-mock not found")?;
    let pki = TestPki::ensure(&pki_dir).map_err(|e| e.to_string())?;
    let patients =
        standard_patients(&samples, Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let hcid = Oid::parse("2.16.17.710.850.1000.990.1").map_err(|e| e.to_string())?;
    // What a Swedish user would search for: `identifier=urn:oid:ROOT|EXTENSION`.
    let shown: Vec<String> = patients
        .iter()
        .map(|p| {
            format!(
                "urn:oid:{}|{} ({:?})",
                p.id.root, p.id.extension, p.behaviour
            )
        })
        .collect();
    let mut cfg = ForeignNcpSimConfig::from_test_pki(&pki, index, hcid, &samples, patients)
        .map_err(|e| e.to_string())?;
    cfg.listen = listen;
    let sim = ForeignNcpSim::start(cfg).await.map_err(|e| e.to_string())?;
    println!("country: {}", sim.country());
    println!("homeCommunityId: {}", sim.home_community_id());
    println!("xcpd: {}", sim.xcpd_url());
    println!("xca: {}", sim.xca_url());
    println!("xdr: {}", sim.xdr_url());
    for p in &shown {
        println!("patient: {p}");
    }
    if let Some(path) = entry_file {
        let entry = toml::to_string(&sim.country_entry()).map_err(|e| e.to_string())?;
        // Written whole, then renamed: a reader never sees half an entry.
        let part = path.with_extension("part");
        std::fs::write(&part, entry).map_err(|e| format!("{}: {e}", part.display()))?;
        std::fs::rename(&part, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    sim.stop().await;
    Ok(())
}
