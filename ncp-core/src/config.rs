//! The bridge's configuration: one TOML file, validated at start-up.
//!
//! Every error names the key it is about (`tls.client_ca[1]: file not found: …`), so an
//! operator can fix the file without reading code. `ncp sandbox` builds the same structure in
//! code; `ncp serve --config FILE` reads it from disk.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ncp_types::{CountryCode, HsaId, Oid};
use serde::{Deserialize, Serialize};
use url::Url;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub ncp: NcpIdentity,
    pub server: ServerConfig,
    pub tls: TlsConfig,
    pub national: NationalServices,
    #[serde(default)]
    pub terminology: TerminologyConfig,
    #[serde(default)]
    pub saml: SamlConfig,
    /// The hash-chained audit trail; without it, audit records are kept in memory only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<crate::audit::AuditConfig>,
    /// The durable outbox of dispensations for NLL; without it, XDR records in NLL before
    /// acknowledging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<crate::outbox::OutboxConfig>,
    /// Sweden as Country B: the FHIR API for Swedish users and the foreign NCPs it reaches;
    /// without it, `/fhir` answers 501.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_b: Option<crate::country_b::config::CountryBConfig>,
    /// Operations: the plain-HTTP `/health`, `/ready`, `/metrics` listener; trust list reload.
    #[serde(default)]
    pub ops: crate::ops::OpsConfig,
}

/// Who this NCP is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NcpIdentity {
    /// Our country (`SE`).
    pub country: CountryCode,
    /// The NCP's home community id (an OID), as XCPD/XCA `homeCommunityId` carries it.
    pub home_community_id: Oid,
    /// The OID under which this NCP issues document ids.
    pub document_root: Oid,
    /// The organisation running the NCP.
    pub organization_name: String,
    /// The NCP's HSA-id, sent to the national services as the caller.
    pub hsa_id: HsaId,
    /// The NCP's postal address and contact, written as the CDA custodian.
    #[serde(default)]
    pub address: PostalAddress,
    /// Phone (`+46…`) or e-mail (`mailto:…`) of the NCP's service desk.
    pub telecom: Option<String>,
}

/// A postal address, as documents carry it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostalAddress {
    #[serde(default)]
    pub lines: Vec<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
}

impl NcpIdentity {
    /// The identity of the embedded default (`ncp sandbox`, and `ncp transform` without a
    /// configuration): a made-up arc of the Swedish OID space, never a production identity.
    pub fn sandbox() -> NcpIdentity {
        let oid = |s: &str| Oid::parse(s).unwrap_or_else(|_| unreachable!("constant OID {s}"));
        NcpIdentity {
            country: CountryCode::SE,
            home_community_id: oid("1.2.752.129.2.1.99.1"),
            document_root: oid("1.2.752.129.2.1.99.2"),
            organization_name: "E-hälsomyndigheten (sandbox)".to_owned(),
            hsa_id: HsaId::parse("SE2321000198-NCPSANDBOX")
                .unwrap_or_else(|_| unreachable!("constant HSA-id")),
            address: PostalAddress {
                lines: vec!["Box 913".to_owned()],
                postal_code: Some("391 29".to_owned()),
                city: Some("Kalmar".to_owned()),
            },
            telecom: Some("tel:+46104585000".to_owned()),
        }
    }

    /// What the CDA writers need from us: ids under our document OID root, and the NCP as
    /// the documents' custodian.
    pub fn cda_options(
        &self,
        now: chrono::DateTime<chrono::FixedOffset>,
    ) -> cda_fhir_transform::to_cda::CdaOptions {
        let custodian = cda_fhir_transform::to_cda::NcpOrganisation {
            id: self.home_community_id.clone(),
            name: self.organization_name.clone(),
            address: cda_fhir_transform::to_cda::Address {
                lines: self.address.lines.clone(),
                postal_code: self.address.postal_code.clone(),
                city: self.address.city.clone(),
                country: Some(self.country),
            },
            telecom: self.telecom.clone(),
        };
        cda_fhir_transform::to_cda::CdaOptions::under(&self.document_root, now, custodian)
    }
}

/// Where the bridge listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The address foreign NCPs connect to (mutual TLS).
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
}

fn default_max_body() -> usize {
    16 * 1024 * 1024
}

/// Certificates: ours, and the trust list of foreign NCPs' issuers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the NCP's TLS server certificate.
    pub cert: PathBuf,
    /// PEM private key of that certificate.
    pub key: PathBuf,
    /// PEM files of the CAs whose client certificates may connect (the trust list).
    pub client_ca: Vec<PathBuf>,
}

/// The Swedish national services' base URLs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NationalServices {
    pub nll: Url,
    pub pdi: Url,
    pub ntk: Url,
    pub nsr: Url,
    /// Per-request time limit towards a national service, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    5_000
}

impl NationalServices {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Terminology data, and the gRPC TerminologyService other Swedish systems may share.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminologyConfig {
    /// A directory of eHDSI MVC value sets (`voc-*.xml`) to load over the embedded data.
    pub mvc_dir: Option<PathBuf>,
    /// Where to serve the gRPC TerminologyService (plain HTTP/2, for the internal network);
    /// not served when absent.
    pub grpc_listen: Option<SocketAddr>,
}

/// The SAML assertions foreign NCPs send: whose signatures we accept, and what we hold them to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlConfig {
    /// PEM files of the CAs (the eHDSI central PKI's signing CA) whose certificates may sign
    /// the HCP identity and TRC assertions. Empty: every SOAP request is refused (4704).
    #[serde(default)]
    pub trust: Vec<PathBuf>,
    /// The audiences we answer to; every `AudienceRestriction` must name one of them.
    #[serde(default = "default_audience")]
    pub audience: Vec<String>,
    /// Tolerated clock difference with the issuers, in seconds.
    #[serde(default = "default_clock_skew")]
    pub clock_skew_secs: u64,
}

fn default_audience() -> Vec<String> {
    vec![crate::security::EHDSI_AUDIENCE.to_owned()]
}

fn default_clock_skew() -> u64 {
    60
}

impl Default for SamlConfig {
    fn default() -> Self {
        SamlConfig {
            trust: Vec::new(),
            audience: default_audience(),
            clock_skew_secs: default_clock_skew(),
        }
    }
}

/// A configuration problem, naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (`tls.cert`), or empty for the file as a whole.
    pub key: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{}: {}", self.key, self.problem)
        }
    }
}

/// All the problems found in one configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads, parses and validates a TOML file. Relative paths in it are taken relative to
    /// the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                key: String::new(),
                problem: format!("cannot read {}: {e}", path.display()),
            }])
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let mut config = Config::parse(&text)?;
        config.resolve_paths(base);
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text; the error names the key and line.
    pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
        let de = toml::Deserializer::parse(text).map_err(|e| toml_error(&e))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let mut problem = inner.message().to_owned();
            if let Some(span) = inner.span() {
                let line = text[..span.start.min(text.len())].lines().count().max(1);
                problem = format!("{problem} (line {line})");
            }
            ConfigErrors(vec![ConfigError {
                key: if key == "." { String::new() } else { key },
                problem,
            }])
        })
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.tls.cert);
        fix(&mut self.tls.key);
        self.tls.client_ca.iter_mut().for_each(fix);
        self.saml.trust.iter_mut().for_each(fix);
        for backend in [
            self.audit.as_mut().map(|a| &mut a.backend),
            self.outbox.as_mut().map(|o| &mut o.backend),
        ]
        .into_iter()
        .flatten()
        {
            if let crate::audit::StorageBackend::Sqlite { path } = backend {
                fix(path);
            }
        }
        if let Some(dir) = self.terminology.mvc_dir.as_mut() {
            fix(dir);
        }
        if let Some(b) = self.country_b.as_mut() {
            b.resolve_paths(base);
        }
    }

    /// Checks what the types alone cannot: files exist, lists are not empty, numbers are sane.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        let mut err = |key: &str, problem: String| {
            errors.push(ConfigError {
                key: key.to_owned(),
                problem,
            })
        };
        if self.ncp.organization_name.trim().is_empty() {
            err("ncp.organization_name", "must not be empty".into());
        }
        for (key, path) in [("tls.cert", &self.tls.cert), ("tls.key", &self.tls.key)] {
            if !path.is_file() {
                err(key, format!("file not found: {}", path.display()));
            }
        }
        if self.tls.client_ca.is_empty() {
            err(
                "tls.client_ca",
                "the trust list is empty: no foreign NCP could connect".into(),
            );
        }
        for (i, path) in self.tls.client_ca.iter().enumerate() {
            if !path.is_file() {
                err(
                    &format!("tls.client_ca[{i}]"),
                    format!("file not found: {}", path.display()),
                );
            }
        }
        for (i, path) in self.saml.trust.iter().enumerate() {
            if !path.is_file() {
                err(
                    &format!("saml.trust[{i}]"),
                    format!("file not found: {}", path.display()),
                );
            }
        }
        if self.saml.audience.iter().all(|a| a.trim().is_empty()) {
            err(
                "saml.audience",
                "no audience: every assertion would be refused".into(),
            );
        }
        if self.saml.clock_skew_secs > 600 {
            err(
                "saml.clock_skew_secs",
                format!("{} is over 600 seconds", self.saml.clock_skew_secs),
            );
        }
        if self.server.max_body_bytes < 1024 {
            err(
                "server.max_body_bytes",
                "must be at least 1024 bytes".into(),
            );
        }
        if !(100..=120_000).contains(&self.national.timeout_ms) {
            err(
                "national.timeout_ms",
                format!(
                    "{} is outside 100..=120000 milliseconds",
                    self.national.timeout_ms
                ),
            );
        }
        for (key, url) in [
            ("national.nll", &self.national.nll),
            ("national.pdi", &self.national.pdi),
            ("national.ntk", &self.national.ntk),
            ("national.nsr", &self.national.nsr),
        ] {
            if !matches!(url.scheme(), "http" | "https") {
                err(key, format!("must be an http(s) URL, not {url}"));
            }
        }
        if let Some(dir) = &self.terminology.mvc_dir {
            if !dir.is_dir() {
                err(
                    "terminology.mvc_dir",
                    format!("not a directory: {}", dir.display()),
                );
            }
        }
        if let Some(b) = &self.country_b {
            errors.extend(b.validate(self.ncp.country));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The configuration as TOML, as `ncp sandbox` writes it for `ncp serve` to reuse.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

fn toml_error(e: &toml::de::Error) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        key: String::new(),
        problem: e.to_string(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[ncp]
country = "SE"
home_community_id = "1.2.752.129.2.1.99"
document_root = "1.2.752.129.2.1.99.1"
organization_name = "E-hälsomyndigheten"
hsa_id = "SE2321000198-NCP1"

[server]
listen = "127.0.0.1:8443"

[tls]
cert = "server.pem"
key = "server.key"
client_ca = ["ca.pem"]

[national]
nll = "http://127.0.0.1:9001/nll/fhir"
pdi = "http://127.0.0.1:9002/pdi/fhir"
ntk = "http://127.0.0.1:9003/ntk/fhir"
nsr = "http://127.0.0.1:9004/nsr/fhir"
"#;

    #[test]
    fn parses_a_complete_file_with_defaults() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.ncp.country, CountryCode::SE);
        assert_eq!(c.national.timeout_ms, 5_000);
        assert_eq!(c.server.max_body_bytes, 16 * 1024 * 1024);
    }

    #[test]
    fn a_bad_value_names_its_key_and_line() {
        let bad = GOOD.replace("country = \"SE\"", "country = \"Sweden\"");
        let e = Config::parse(&bad).unwrap_err();
        assert_eq!(e.0[0].key, "ncp.country");
        assert!(e.0[0].problem.contains("line 3"), "{}", e.0[0].problem);
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let bad = GOOD.replace("[server]", "[server]\nlisten_port = 1");
        let e = Config::parse(&bad).unwrap_err();
        assert!(e.0[0].to_string().contains("listen_port"), "{e}");
    }

    #[test]
    fn validation_lists_every_problem_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ncp.toml");
        std::fs::write(&path, GOOD.replace("timeout_ms", "x")).unwrap();
        let e = Config::load(&path).unwrap_err();
        let keys: Vec<&str> = e.0.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["tls.cert", "tls.key", "tls.client_ca[0]"]);
        assert!(e.0[0].problem.contains("server.pem"));
    }

    #[test]
    fn saml_audit_and_outbox_sections() {
        let text = format!(
            "{GOOD}\n[saml]\ntrust = [\"signing-ca.pem\"]\nclock_skew_secs = 900\n\n\
             [audit.backend]\nkind = \"sqlite\"\npath = \"audit.sqlite\"\n\n\
             [outbox.backend]\nkind = \"sqlite\"\npath = \"outbox.sqlite\"\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ncp.toml");
        std::fs::write(&path, text).unwrap();
        let e = Config::load(&path).unwrap_err();
        let keys: Vec<&str> = e.0.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"saml.trust[0]"), "{e}");
        assert!(keys.contains(&"saml.clock_skew_secs"), "{e}");
        let c = Config::parse(GOOD).unwrap();
        assert!(c.saml.trust.is_empty() && c.audit.is_none() && c.outbox.is_none());
        assert_eq!(c.saml.audience, [crate::security::EHDSI_AUDIENCE]);
    }
}
