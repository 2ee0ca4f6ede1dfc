//! `[country_b]` of `ncp sandbox`: the Swedish NCP's client and SAML certificates of the test
//! PKI, a test identity issuer (an ES256 key made once in the PKI directory) and user tokens
//! signed with it for a pharmacist and a doctor, valid 12 hours, written to the data directory
//! so `curl -H "Authorization: Bearer $(cat …)"` works against `/fhir` at once.
//!
//! The country directory starts empty: the simulated foreign NCP (`country-tests`) links this
//! crate and cannot be started from it; add `[[country_b.countries]]` to the written
//! configuration and run `ncp serve --config` to reach one.

use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::config::{CountryBConfig, TokenAlgorithm, UserTokenConfig};
use crate::pki::{PkiError, TestPki};
use crate::sandbox::SandboxError;

pub const ISSUER: &str = "https://idp.sandbox.test";
pub const AUDIENCE: &str = "ncp-se-fhir";

/// The sandbox's `[country_b]` and its ready-made user tokens (role, file).
pub struct SandboxFhir {
    pub config: CountryBConfig,
    pub tokens: Vec<(String, PathBuf)>,
}

fn write(path: &Path, text: &str) -> Result<(), SandboxError> {
    std::fs::write(path, text).map_err(|source| SandboxError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Makes (or reuses) the issuer key and writes fresh tokens into `data_dir`.
pub fn prepare(pki: &TestPki, data_dir: &Path) -> Result<SandboxFhir, SandboxError> {
    let key_path = pki.dir.join("fhir-idp.key");
    let pub_path = pki.dir.join("fhir-idp.pem");
    let key_pem = match std::fs::read_to_string(&key_path) {
        Ok(k) if pub_path.is_file() => k,
        _ => {
            let kp =
                rcgen::KeyPair::generate().map_err(|e| SandboxError::Pki(PkiError::Generate(e)))?;
            write(&key_path, &kp.serialize_pem())?;
            write(&pub_path, &kp.public_key_pem())?;
            kp.serialize_pem()
        }
    };
    let key = EncodingKey::from_ec_pem(key_pem.as_bytes()).map_err(|e| SandboxError::Write {
        path: key_path.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    })?;
    let now = chrono::Utc::now().timestamp();
    let mut tokens = Vec::new();
    for (role, sub, name, org, org_id) in [
        (
            "pharmacist",
            "SE2321000016-PH01",
            "Anna Apotekare",
            "Apoteket Sandbox",
            "SE2321000016-APS1",
        ),
        (
            "doctor",
            "SE2321000016-DR01",
            "Bertil Doktor",
            "Vårdcentralen Sandbox",
            "SE2321000016-VCS1",
        ),
    ] {
        let claims = json!({
            "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 12 * 3600,
            "sub": sub, "name": name, "role": role, "organisation": org,
            "organisation_hsa_id": org_id, "purpose": "TREATMENT",
        });
        let t =
            jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key).map_err(|e| {
                SandboxError::Write {
                    path: key_path.clone(),
                    source: std::io::Error::other(e.to_string()),
                }
            })?;
        let path = data_dir.join(format!("fhir-token-{role}.jwt"));
        write(&path, &t)?;
        tokens.push((role.to_owned(), path));
    }
    Ok(SandboxFhir {
        config: CountryBConfig {
            client_cert: pki.se_client_cert.clone(),
            client_key: pki.se_client_key.clone(),
            server_ca: vec![pki.ca_cert.clone()],
            saml_cert: pki.se_saml_cert.clone(),
            saml_key: pki.se_saml_key.clone(),
            timeout_ms: 20_000,
            timestamp_lifetime_secs: super::foreign_gateway::timestamp::DEFAULT_LIFETIME.as_secs(),
            user_token: UserTokenConfig {
                issuer: ISSUER.to_owned(),
                audience: AUDIENCE.to_owned(),
                algorithm: TokenAlgorithm::ES256,
                public_key: pub_path,
                leeway_secs: 30,
            },
            countries: Vec::new(),
        },
        tokens,
    })
}

/// Reads one `[[country_b.countries]]` entry from a TOML file (as `foreign-ncp-sim` writes it
/// for the sandbox's country directory).
pub fn read_country_entry(path: &Path) -> Result<super::config::CountryEntry, SandboxError> {
    let problem = |problem: String| SandboxError::ForeignNcp {
        path: path.to_owned(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
    toml::from_str(&text).map_err(|e| problem(e.message().to_owned()))
}
