//! `[country_b]` of the configuration: Sweden as Country B.
//!
//! - the bridge's identity towards foreign NCPs (TLS client certificate, the CAs their server
//!   certificates chain to, the key the HCP and TRC assertions are signed with),
//! - the identity issuer whose signed user tokens the FHIR API accepts (`[country_b.user_token]`),
//! - the country directory (`[[country_b.countries]]`): per country its home community id and
//!   the services it offers, each with its endpoint URL. This is the shape of the EU's SMP
//!   (service metadata per participant and document/service identifier), so the directory can
//!   later be filled from there instead of from the file.
//!
//! ```toml
//! [country_b]
//! client_cert = "ncp-se-client.pem"
//! client_key = "ncp-se-client.key"
//! server_ca = ["ehdsi-tls-ca.pem"]
//! saml_cert = "ncp-se-saml.pem"
//! saml_key = "ncp-se-saml.key"
//! timeout_ms = 20000
//! timestamp_lifetime_secs = 300   # wsu:Timestamp Created..Expires of outgoing requests
//!
//! [country_b.user_token]
//! issuer = "https://idp.example.se"
//! audience = "ncp-se-fhir"
//! algorithm = "ES256"            # or RS256
//! public_key = "idp-signing.pem"  # PEM public key or certificate
//!
//! [[country_b.countries]]
//! country = "EE"
//! home_community_id = "1.3.6.1.4.1.48336.1"
//! patient_id_roots = ["1.3.6.1.4.1.48336.1.1"]   # optional: find the country from the id
//! services = [
//!   { service = "patient-identification", endpoint = "https://ncp.ee/xcpd" },
//!   { service = "eprescription",          endpoint = "https://ncp.ee/xca" },
//!   { service = "edispensation",          endpoint = "https://ncp.ee/xdr" },
//! ]
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use ncp_types::{CountryCode, Oid};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::ConfigError;

/// `[country_b]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountryBConfig {
    /// PEM certificate chain of the TLS client certificate the bridge presents abroad.
    pub client_cert: PathBuf,
    /// PEM private key of that certificate.
    pub client_key: PathBuf,
    /// PEM files of the CAs a foreign NCP's TLS server certificate must chain to.
    pub server_ca: Vec<PathBuf>,
    /// PEM certificate the HCP identity and TRC assertions are signed with.
    pub saml_cert: PathBuf,
    /// PEM private key of that certificate.
    pub saml_key: PathBuf,
    /// How long to wait for a foreign NCP, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How long after its creation an outgoing request's `wsu:Timestamp` expires, in seconds.
    #[serde(default = "default_timestamp_lifetime_secs")]
    pub timestamp_lifetime_secs: u64,
    /// The Swedish identity issuer whose user tokens the FHIR API accepts.
    pub user_token: UserTokenConfig,
    /// The country directory.
    #[serde(default)]
    pub countries: Vec<CountryEntry>,
}

fn default_timeout_ms() -> u64 {
    20_000
}

fn default_timestamp_lifetime_secs() -> u64 {
    crate::country_b::foreign_gateway::timestamp::DEFAULT_LIFETIME.as_secs()
}

/// `[country_b.user_token]`: who signs the user tokens, and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserTokenConfig {
    /// The token's `iss` must equal this.
    pub issuer: String,
    /// The token's `aud` must contain this.
    pub audience: String,
    pub algorithm: TokenAlgorithm,
    /// PEM public key (`PUBLIC KEY`, or `RSA PUBLIC KEY` for RS256) or certificate of the
    /// issuer's signing key.
    pub public_key: PathBuf,
    /// Tolerated clock difference with the issuer, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_leeway() -> u64 {
    30
}

/// The signature algorithms accepted for user tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenAlgorithm {
    RS256,
    ES256,
}

/// A service a country's NCP may offer (a transaction family of eHDSI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    /// XCPD ITI-55.
    PatientIdentification,
    /// XCA ITI-38/39 of ePrescriptions.
    Eprescription,
    /// XDR ITI-41 of eDispensations (and their discard).
    Edispensation,
    /// XCA ITI-38/39 of Patient Summaries.
    PatientSummary,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::PatientIdentification,
        Service::Eprescription,
        Service::Edispensation,
        Service::PatientSummary,
    ];

    /// The name used in the configuration and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Service::PatientIdentification => "patient-identification",
            Service::Eprescription => "eprescription",
            Service::Edispensation => "edispensation",
            Service::PatientSummary => "patient-summary",
        }
    }

    /// What a Swedish user understands by it.
    pub fn description(self) -> &'static str {
        match self {
            Service::PatientIdentification => "patient identification (XCPD)",
            Service::Eprescription => "ePrescriptions (XCA)",
            Service::Edispensation => "eDispensation (XDR)",
            Service::PatientSummary => "Patient Summaries (XCA)",
        }
    }
}

/// One service of a country, and where it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEndpoint {
    pub service: Service,
    pub endpoint: Url,
}

/// `[[country_b.countries]]`: one foreign NCP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountryEntry {
    pub country: CountryCode,
    /// The NCP's home community id.
    pub home_community_id: Oid,
    /// The OIDs of the country's patient identifier domains: a patient search naming one of
    /// them needs no `country` parameter.
    #[serde(default)]
    pub patient_id_roots: Vec<Oid>,
    /// A PEM CA or certificate for this NCP's TLS server certificate, trusted besides
    /// `server_ca` (as the SMP publishes an endpoint's certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<PathBuf>,
    /// The services the country offers; a service not listed is refused without a call.
    pub services: Vec<ServiceEndpoint>,
}

impl CountryEntry {
    /// The endpoint of `service`, when the country offers it.
    pub fn endpoint(&self, service: Service) -> Option<&Url> {
        self.services
            .iter()
            .find(|s| s.service == service)
            .map(|s| &s.endpoint)
    }
}

impl CountryBConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn timestamp_lifetime(&self) -> Duration {
        Duration::from_secs(self.timestamp_lifetime_secs)
    }

    /// Makes relative paths relative to the configuration file's directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.client_cert);
        fix(&mut self.client_key);
        fix(&mut self.saml_cert);
        fix(&mut self.saml_key);
        fix(&mut self.user_token.public_key);
        self.server_ca.iter_mut().for_each(fix);
        for c in &mut self.countries {
            if let Some(p) = c.certificate.as_mut() {
                fix(p);
            }
        }
    }

    /// Checks what the types cannot; every problem names its key under `country_b`.
    pub fn validate(&self, ours: CountryCode) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut err = |key: String, problem: String| errors.push(ConfigError { key, problem });
        for (key, path) in [
            ("country_b.client_cert", &self.client_cert),
            ("country_b.client_key", &self.client_key),
            ("country_b.saml_cert", &self.saml_cert),
            ("country_b.saml_key", &self.saml_key),
            (
                "country_b.user_token.public_key",
                &self.user_token.public_key,
            ),
        ] {
            if !path.is_file() {
                err(key.into(), format!("file not found: {}", path.display()));
            }
        }
        if self.server_ca.is_empty() {
            err(
                "country_b.server_ca".into(),
                "no CA: no foreign NCP's server certificate could be trusted".into(),
            );
        }
        for (i, path) in self.server_ca.iter().enumerate() {
            if !path.is_file() {
                err(
                    format!("country_b.server_ca[{i}]"),
                    format!("file not found: {}", path.display()),
                );
            }
        }
        if !(100..=300_000).contains(&self.timeout_ms) {
            err(
                "country_b.timeout_ms".into(),
                format!("{} is outside 100..=300000 milliseconds", self.timeout_ms),
            );
        }
        if !(10..=3600).contains(&self.timestamp_lifetime_secs) {
            err(
                "country_b.timestamp_lifetime_secs".into(),
                format!(
                    "{} is outside 10..=3600 seconds",
                    self.timestamp_lifetime_secs
                ),
            );
        }
        if self.user_token.issuer.trim().is_empty() {
            err(
                "country_b.user_token.issuer".into(),
                "must not be empty".into(),
            );
        }
        if self.user_token.audience.trim().is_empty() {
            err(
                "country_b.user_token.audience".into(),
                "must not be empty".into(),
            );
        }
        if self.user_token.leeway_secs > 600 {
            err(
                "country_b.user_token.leeway_secs".into(),
                format!("{} is over 600 seconds", self.user_token.leeway_secs),
            );
        }
        for (i, c) in self.countries.iter().enumerate() {
            let key = format!("country_b.countries[{i}]");
            if c.country == ours {
                err(
                    format!("{key}.country"),
                    format!("{} is our own country", c.country),
                );
            }
            if self.countries[..i].iter().any(|o| o.country == c.country) {
                err(
                    format!("{key}.country"),
                    format!("{} is listed twice", c.country),
                );
            }
            if let Some(p) = &c.certificate {
                if !p.is_file() {
                    err(
                        format!("{key}.certificate"),
                        format!("file not found: {}", p.display()),
                    );
                }
            }
            if c.services.is_empty() {
                err(
                    format!("{key}.services"),
                    "no service: the country could not be reached for anything".into(),
                );
            }
            for (j, s) in c.services.iter().enumerate() {
                if c.services[..j].iter().any(|o| o.service == s.service) {
                    err(
                        format!("{key}.services[{j}].service"),
                        format!("{} is listed twice", s.service.name()),
                    );
                }
                if s.endpoint.scheme() != "https" {
                    err(
                        format!("{key}.services[{j}].endpoint"),
                        format!("must be an https URL (mutual TLS), not {}", s.endpoint),
                    );
                }
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> CountryBConfig {
        toml::from_str(text).unwrap()
    }

    const GOOD: &str = r#"
client_cert = "c.pem"
client_key = "c.key"
server_ca = ["ca.pem"]
saml_cert = "s.pem"
saml_key = "s.key"

[user_token]
issuer = "https://idp.example.se"
audience = "ncp-se-fhir"
algorithm = "ES256"
public_key = "idp.pem"

[[countries]]
country = "EE"
home_community_id = "1.3.6.1.4.1.48336.1"
services = [
  { service = "patient-identification", endpoint = "https://ncp.ee/xcpd" },
  { service = "eprescription", endpoint = "https://ncp.ee/xca" },
]
"#;

    #[test]
    fn parses_with_defaults_and_finds_endpoints() {
        let c = parse(GOOD);
        assert_eq!(c.timeout_ms, 20_000);
        assert_eq!(c.user_token.leeway_secs, 30);
        let ee = &c.countries[0];
        assert_eq!(
            ee.endpoint(Service::Eprescription).map(Url::as_str),
            Some("https://ncp.ee/xca")
        );
        assert!(ee.endpoint(Service::Edispensation).is_none());
    }

    #[test]
    fn validation_names_every_problem() {
        let text = GOOD.replace("https://ncp.ee/xca", "http://ncp.ee/xca")
            + "\n[[countries]]\ncountry = \"SE\"\nhome_community_id = \"1.2\"\nservices = []\n";
        let mut c = parse(&text);
        c.resolve_paths(Path::new("/nonexistent"));
        let keys: Vec<String> = c
            .validate(CountryCode::SE)
            .into_iter()
            .map(|e| e.key)
            .collect();
        for k in [
            "country_b.client_cert",
            "country_b.user_token.public_key",
            "country_b.server_ca[0]",
            "country_b.countries[0].services[1].endpoint",
            "country_b.countries[1].country",
            "country_b.countries[1].services",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} missing in {keys:?}");
        }
    }

    #[test]
    fn the_timestamp_lifetime_defaults_to_five_minutes_and_is_bounded() {
        let c = parse(GOOD);
        assert_eq!(c.timestamp_lifetime(), Duration::from_secs(300));
        let c = parse(&GOOD.replace(
            "saml_key = \"s.key\"",
            "saml_key = \"s.key\"\ntimestamp_lifetime_secs = 5",
        ));
        assert_eq!(c.timestamp_lifetime_secs, 5);
        let keys: Vec<String> = c
            .validate(CountryCode::SE)
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert!(
            keys.iter()
                .any(|k| k == "country_b.timestamp_lifetime_secs"),
            "{keys:?}"
        );
    }

    #[test]
    fn an_unknown_service_is_refused() {
        let bad = GOOD.replace("\"eprescription\"", "\"eprescriptions\"");
        assert!(toml::from_str::<CountryBConfig>(&bad).is_err());
    }
}
