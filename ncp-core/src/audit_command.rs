//! `ncp audit`: the operator's view of the hash-chained audit trail.
//!
//! - `ncp audit verify`: walks the chain and names the first record that does not check out
//!   (exit status 3 when the chain is broken, 1 when the store cannot be read).
//! - `ncp audit accesses --patient ID`: who accessed a patient's data (the patient's right to
//!   know): organisation, country, role, time, what and how it ended.
//! - `ncp audit kpi`: the eHDSI/eADC KPI counts per transaction type, country and outcome, and
//!   the requests refused before their caller was verified (`refused-unverified`, per TLS peer
//!   country).
//!
//! The store is named by the bridge's configuration (`--config`, its `[audit]`), or directly
//! (`--sqlite PATH`, `--postgres URL`). What these commands print goes to the operator's
//! terminal, not to the logs: `accesses` prints the patient's accesses by design.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use ncp_types::Oid;

use crate::audit::{AuditConfig, AuditLog, Period, StorageBackend};
use crate::config::Config;
use crate::security::PatientRef;

/// Exit status of `ncp audit verify` when the chain is broken (1 is "could not check").
pub const EXIT_TAMPERED: u8 = 3;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; report the first broken record (exit status 3 when tampered).
    Verify {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Who accessed a patient's data: organisation, country, role, time, what.
    Accesses {
        /// The patient: a personnummer, or `ROOT^EXTENSION` for another identifier system.
        #[arg(long)]
        patient: String,
        #[command(flatten)]
        period: PeriodArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// eHDSI/eADC KPI counts per transaction type, requesting country and outcome.
    Kpi {
        #[command(flatten)]
        period: PeriodArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Which audit store to read.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct StoreArgs {
    /// The bridge's configuration file (its `[audit]` section).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// An SQLite audit file.
    #[arg(long, value_name = "PATH")]
    pub sqlite: Option<PathBuf>,
    /// A PostgreSQL connection string.
    #[arg(
        long,
        value_name = "URL",
        env = "NCP_AUDIT_POSTGRES",
        hide_env_values = true
    )]
    pub postgres: Option<String>,
}

/// A time interval `[from, to)`, RFC 3339; open-ended when left out.
#[derive(Debug, Args)]
pub struct PeriodArgs {
    /// Start (inclusive), e.g. 2026-01-01T00:00:00Z.
    #[arg(long, value_name = "TIME")]
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive).
    #[arg(long, value_name = "TIME")]
    pub to: Option<DateTime<Utc>>,
}

impl PeriodArgs {
    fn period(&self) -> Period {
        let all = Period::all();
        Period::new(self.from.unwrap_or(all.from), self.to.unwrap_or(all.to))
    }
}

impl StoreArgs {
    fn backend(&self) -> Result<StorageBackend, String> {
        if let Some(path) = &self.config {
            let config = Config::load(path).map_err(|e| e.to_string())?;
            return config
                .audit
                .map(|a| a.backend)
                .ok_or_else(|| format!("{}: has no [audit] section", path.display()));
        }
        if let Some(path) = &self.sqlite {
            return Ok(StorageBackend::Sqlite { path: path.clone() });
        }
        if let Some(url) = &self.postgres {
            return Ok(StorageBackend::Postgres { url: url.clone() });
        }
        Err("name the audit store: --config, --sqlite or --postgres".into())
    }

    async fn open(&self) -> Result<AuditLog, String> {
        let backend = self.backend()?;
        // Opening creates a missing SQLite file: checking one that is not there would report
        // an intact, empty chain.
        if let StorageBackend::Sqlite { path } = &backend {
            if !path.is_file() {
                return Err(format!("{}: no such audit file", path.display()));
            }
        }
        AuditLog::open(&AuditConfig { backend })
            .await
            .map_err(|e| e.to_string())
    }
}

/// What a command printed and whether its check passed.
#[derive(Debug)]
pub struct Outcome {
    pub text: String,
    /// `false`: the chain is broken ([`EXIT_TAMPERED`]).
    pub ok: bool,
}

/// Runs one `ncp audit` command.
pub async fn run(cmd: &AuditCommand) -> Result<Outcome, String> {
    match cmd {
        AuditCommand::Verify { store } => verify(&store.open().await?).await,
        AuditCommand::Accesses {
            patient,
            period,
            store,
        } => {
            let patient = parse_patient(patient)?;
            accesses(&store.open().await?, &patient, period.period()).await
        }
        AuditCommand::Kpi { period, store } => kpi(&store.open().await?, period.period()).await,
    }
}

async fn verify(log: &AuditLog) -> Result<Outcome, String> {
    let report = log.verify().await.map_err(|e| e.to_string())?;
    let head = report.head.as_deref().unwrap_or("(none)");
    Ok(match report.first_broken {
        None => Outcome {
            text: format!(
                "audit chain intact: {} records; head {head} (anchor it elsewhere to detect \
                 removal of the newest records)",
                report.records
            ),
            ok: true,
        },
        Some(seq) => Outcome {
            text: format!(
                "audit chain BROKEN at record {seq}: its hash, link to record {}, position or \
                 index columns do not match ({} records checked; last good head {head})",
                seq.0 - 1,
                report.records
            ),
            ok: false,
        },
    })
}

/// A personnummer (digits, an optional `-`/`+`), or `ROOT^EXTENSION`.
fn parse_patient(s: &str) -> Result<PatientRef, String> {
    let s = s.trim();
    if let Some((root, ext)) = s.split_once('^') {
        let root = Oid::parse(root.trim_start_matches("urn:oid:"))
            .map_err(|e| format!("--patient: {root} is not an OID: {e}"))?;
        if ext.is_empty() {
            return Err("--patient: the extension after ^ is empty".into());
        }
        return Ok(PatientRef::new(root, ext));
    }
    let digits: String = s.chars().filter(|c| !matches!(c, '-' | '+')).collect();
    if digits.len() != 12 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(
            "--patient: a 12-digit personnummer (YYYYMMDDNNNC), or ROOT^EXTENSION".to_owned(),
        );
    }
    let root = Oid::parse(ncp_types::systems::PERSONNUMMER_OID)
        .map_err(|e| format!("personnummer OID: {e}"))?;
    Ok(PatientRef::new(root, digits))
}

async fn accesses(log: &AuditLog, patient: &PatientRef, period: Period) -> Result<Outcome, String> {
    let rows = log
        .accesses_to_patient(patient, period)
        .await
        .map_err(|e| e.to_string())?;
    let mut text = format!("{} accesses\n", rows.len());
    if !rows.is_empty() {
        text.push_str("time\tcountry\torganisation\torganisation_id\trole\twhat\toutcome\n");
    }
    for a in rows {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{} ({})\t{}\t{}\n",
            a.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            a.country,
            a.organisation,
            a.organisation_id,
            a.role.display_name(),
            a.role.code(),
            a.what.code(),
            a.outcome.code()
        ));
    }
    Ok(Outcome { text, ok: true })
}

async fn kpi(log: &AuditLog, period: Period) -> Result<Outcome, String> {
    let rows = log.kpi(period).await.map_err(|e| e.to_string())?;
    let mut text = String::from("transaction\tcountry\toutcome\tcount\n");
    for k in rows {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            k.event_type.code(),
            k.country,
            k.outcome.code(),
            k.count
        ));
    }
    // Requests refused before their caller was verified, per TLS peer country.
    for r in log.refused_kpi(period).await.map_err(|e| e.to_string())? {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            crate::audit::refusal::REFUSED_EVENT_TYPE,
            r.country,
            crate::audit::Outcome::MinorFailure.code(),
            r.count
        ));
    }
    Ok(Outcome { text, ok: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patient_is_a_personnummer_in_any_spelling_or_root_and_extension() {
        let p = parse_patient("19121212-1212").unwrap();
        assert_eq!(p.extension, "191212121212");
        assert_eq!(p.root.as_str(), ncp_types::systems::PERSONNUMMER_OID);
        assert_eq!(parse_patient("191212121212").unwrap(), p);
        let q = parse_patient("1.2.3^abc").unwrap();
        assert_eq!((q.root.as_str(), q.extension.as_str()), ("1.2.3", "abc"));
        assert!(parse_patient("1212").is_err());
        assert!(parse_patient("x^y").is_err());
        assert!(parse_patient("1.2.3^").is_err());
    }
}
