//! The signed user token a Swedish system passes with every FHIR API request
//! (`Authorization: Bearer <JWT>`), issued by the configured Swedish identity issuer.
//!
//! Claims (JSON Web Token, RS256 or ES256 as configured):
//!
//! | claim | meaning |
//! | --- | --- |
//! | `iss`, `aud`, `exp` (required), `nbf`, `iat` | issuer, audience, validity |
//! | `sub` | the user's HSA-id |
//! | `name`, and optionally `given_name`, `family_name` | the user's name |
//! | `role` | `pharmacist`, `doctor` or `nurse` |
//! | `organisation`, `organisation_hsa_id` | the care unit or pharmacy the user acts for |
//! | `purpose` | `TREATMENT` or `EMERGENCY` (eHDSI purpose of use) |
//!
//! A missing, malformed, wrongly signed, expired or foreign-issued token is a [`TokenError`]
//! (the API answers 401); a valid token with another role is [`TokenError::RoleNotAllowed`]
//! (403). The token's text is never logged.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ncp_types::HsaId;
use serde::Deserialize;

use super::config::{TokenAlgorithm, UserTokenConfig};
use super::foreign_gateway::{HcpRole, HcpUser, PurposeOfUse};

/// What a Swedish user may do abroad, by role (eHDSI functional roles):
/// - a pharmacist identifies the patient, reads ePrescriptions and dispenses (and discards);
/// - a doctor identifies the patient and reads Patient Summaries and ePrescriptions;
/// - a nurse identifies the patient and reads Patient Summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserRole {
    Pharmacist,
    Doctor,
    Nurse,
}

/// An operation of the FHIR API that needs a role's permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    IdentifyPatient,
    ReadPrescriptions,
    Dispense,
    ReadSummary,
}

impl Operation {
    pub fn description(self) -> &'static str {
        match self {
            Operation::IdentifyPatient => "identify a foreign patient",
            Operation::ReadPrescriptions => "read a foreign patient's ePrescriptions",
            Operation::Dispense => "dispense a foreign ePrescription",
            Operation::ReadSummary => "read a foreign patient's Patient Summary",
        }
    }
}

impl UserRole {
    pub fn parse(s: &str) -> Option<UserRole> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pharmacist" => Some(UserRole::Pharmacist),
            "doctor" | "physician" => Some(UserRole::Doctor),
            "nurse" => Some(UserRole::Nurse),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            UserRole::Pharmacist => "pharmacist",
            UserRole::Doctor => "doctor",
            UserRole::Nurse => "nurse",
        }
    }

    /// The eHDSI (ISCO-08) role of the HCP assertion.
    pub fn hcp_role(self) -> HcpRole {
        match self {
            UserRole::Pharmacist => HcpRole::PHARMACIST,
            UserRole::Doctor => HcpRole::PHYSICIAN,
            UserRole::Nurse => HcpRole::NURSE,
        }
    }

    pub fn may(self, op: Operation) -> bool {
        use Operation::*;
        match self {
            UserRole::Pharmacist => matches!(op, IdentifyPatient | ReadPrescriptions | Dispense),
            UserRole::Doctor => matches!(op, IdentifyPatient | ReadPrescriptions | ReadSummary),
            UserRole::Nurse => matches!(op, IdentifyPatient | ReadSummary),
        }
    }
}

/// The authenticated Swedish user.
#[derive(Clone, PartialEq, Eq)]
pub struct SwedishUser {
    pub hsa_id: HsaId,
    pub name: String,
    pub given: Vec<String>,
    pub family: String,
    pub role: UserRole,
    pub organisation: String,
    pub organisation_hsa_id: HsaId,
    pub purpose: PurposeOfUse,
}

impl std::fmt::Debug for SwedishUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwedishUser")
            .field("role", &self.role)
            .field("organisation_hsa_id", &self.organisation_hsa_id)
            .finish_non_exhaustive()
    }
}

impl SwedishUser {
    /// The user as the gateway puts them into the HCP identity assertion.
    pub fn hcp_user(&self) -> HcpUser {
        HcpUser {
            id: self.hsa_id.as_str().to_owned(),
            name: self.name.clone(),
            role: self.role.hcp_role(),
            organisation: self.organisation.clone(),
            organisation_hsa_id: self.organisation_hsa_id.clone(),
            purpose: self.purpose,
        }
    }

    /// Refuses an operation the role does not allow.
    pub fn check(&self, op: Operation) -> Result<(), TokenError> {
        if self.role.may(op) {
            Ok(())
        } else {
            Err(TokenError::RoleNotAllowed {
                role: self.role.name(),
                operation: op.description(),
            })
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "no user token: send `Authorization: Bearer <token>` signed by the Swedish identity issuer"
    )]
    Missing,
    #[error("the user token is not valid: {0}")]
    Invalid(String),
    #[error("the user token has expired")]
    Expired,
    #[error("the user token has {0}")]
    BadClaim(String),
    #[error("a {role} may not {operation}")]
    RoleNotAllowed {
        role: &'static str,
        operation: &'static str,
    },
}

impl TokenError {
    /// Whether the answer is 403 (authenticated, not allowed) rather than 401.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, TokenError::RoleNotAllowed { .. })
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    name: String,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    role: String,
    organisation: String,
    organisation_hsa_id: String,
    purpose: String,
}

/// Why the token verifier could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("country_b.user_token.public_key: {0}")]
pub struct VerifierError(pub String);

/// Checks user tokens against the configured issuer key.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn new(cfg: &UserTokenConfig, public_key_pem: &[u8]) -> Result<Self, VerifierError> {
        let (alg, key) = match cfg.algorithm {
            TokenAlgorithm::ES256 => (Algorithm::ES256, DecodingKey::from_ec_pem(public_key_pem)),
            TokenAlgorithm::RS256 => (Algorithm::RS256, DecodingKey::from_rsa_pem(public_key_pem)),
        };
        let key = key.map_err(|e| VerifierError(e.to_string()))?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[cfg.issuer.as_str()]);
        validation.set_audience(&[cfg.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = cfg.leeway_secs;
        validation.validate_nbf = true;
        Ok(TokenVerifier { key, validation })
    }

    /// The user of an `Authorization` header value.
    pub fn verify_header(&self, authorization: Option<&str>) -> Result<SwedishUser, TokenError> {
        let value = authorization.ok_or(TokenError::Missing)?.trim();
        let (scheme, token) = value.split_once(' ').ok_or(TokenError::Missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::Missing);
        }
        self.verify(token.trim())
    }

    /// The user of a token.
    pub fn verify(&self, token: &str) -> Result<SwedishUser, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::Invalid("bad signature".into()),
                ErrorKind::InvalidIssuer => TokenError::Invalid("unknown issuer".into()),
                ErrorKind::InvalidAudience => TokenError::Invalid("not meant for this NCP".into()),
                ErrorKind::InvalidAlgorithm => {
                    TokenError::Invalid("signature algorithm not accepted".into())
                }
                ErrorKind::ImmatureSignature => TokenError::Invalid("not valid yet".into()),
                ErrorKind::MissingRequiredClaim(c) => {
                    TokenError::Invalid(format!("missing claim {c}"))
                }
                ErrorKind::Json(_) => {
                    TokenError::Invalid("missing or malformed user claims".into())
                }
                _ => TokenError::Invalid("malformed token".into()),
            },
        )?;
        let c = data.claims;
        let hsa_id = HsaId::parse(&c.sub)
            .map_err(|_| TokenError::BadClaim("a sub that is not an HSA-id".into()))?;
        let organisation_hsa_id = HsaId::parse(&c.organisation_hsa_id).map_err(|_| {
            TokenError::BadClaim("an organisation_hsa_id that is not an HSA-id".into())
        })?;
        let role = UserRole::parse(&c.role).ok_or(TokenError::RoleNotAllowed {
            role: "user of another role than pharmacist, doctor or nurse",
            operation: "use the FHIR API",
        })?;
        let purpose = PurposeOfUse::parse(&c.purpose).ok_or_else(|| {
            TokenError::BadClaim("a purpose other than TREATMENT or EMERGENCY".into())
        })?;
        let name = c.name.trim().to_owned();
        if name.is_empty() || c.organisation.trim().is_empty() {
            return Err(TokenError::BadClaim("an empty name or organisation".into()));
        }
        // The name's parts: as given, else the last word is the family name.
        let words: Vec<&str> = name.split_whitespace().collect();
        let family = c
            .family_name
            .filter(|f| !f.trim().is_empty())
            .unwrap_or_else(|| words.last().copied().unwrap_or_default().to_owned());
        let given = match c.given_name.filter(|g| !g.trim().is_empty()) {
            Some(g) => g.split_whitespace().map(str::to_owned).collect(),
            None if words.len() > 1 => words[..words.len() - 1]
                .iter()
                .map(|w| (*w).to_owned())
                .collect(),
            None => vec![name.clone()],
        };
        Ok(SwedishUser {
            hsa_id,
            name,
            given,
            family,
            role,
            organisation: c.organisation.trim().to_owned(),
            organisation_hsa_id,
            purpose,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    /// An ES256 issuer key pair: (private PKCS#8 PEM, public PEM).
    pub(crate) fn issuer_keys() -> (String, String) {
        let kp = rcgen::KeyPair::generate().unwrap();
        (kp.serialize_pem(), kp.public_key_pem())
    }

    pub(crate) fn config() -> UserTokenConfig {
        UserTokenConfig {
            issuer: "https://idp.test".into(),
            audience: "ncp-se-fhir".into(),
            algorithm: TokenAlgorithm::ES256,
            public_key: "unused.pem".into(),
            leeway_secs: 0,
        }
    }

    pub(crate) fn sign(private_pem: &str, claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::ES256),
            claims,
            &EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    pub(crate) fn claims(role: &str) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": "https://idp.test", "aud": "ncp-se-fhir", "exp": now + 600, "iat": now,
            "sub": "SE2321000016-1003", "name": "Anna Apotekare", "role": role,
            "organisation": "Apoteket Kronan", "organisation_hsa_id": "SE2321000016-A001",
            "purpose": "TREATMENT"
        })
    }

    #[test]
    fn a_valid_token_gives_the_user_and_role_permissions() {
        let (private, public) = issuer_keys();
        let v = TokenVerifier::new(&config(), public.as_bytes()).unwrap();
        let t = sign(&private, &claims("pharmacist"));
        let u = v.verify_header(Some(&format!("Bearer {t}"))).unwrap();
        assert_eq!(u.role, UserRole::Pharmacist);
        assert_eq!(u.given, ["Anna"]);
        assert_eq!(u.family, "Apotekare");
        assert_eq!(u.hcp_user().role, HcpRole::PHARMACIST);
        assert!(u.check(Operation::Dispense).is_ok());
        assert!(u.check(Operation::ReadSummary).unwrap_err().is_forbidden());
        let d = v.verify(&sign(&private, &claims("doctor"))).unwrap();
        assert!(d.check(Operation::ReadSummary).is_ok());
        assert!(d.check(Operation::Dispense).is_err());
    }

    #[test]
    fn bad_tokens_are_refused() {
        let (private, public) = issuer_keys();
        let (other, _) = issuer_keys();
        let v = TokenVerifier::new(&config(), public.as_bytes()).unwrap();
        assert_eq!(v.verify_header(None), Err(TokenError::Missing));
        assert_eq!(v.verify_header(Some("Basic abc")), Err(TokenError::Missing));
        assert!(matches!(
            v.verify(&sign(&other, &claims("doctor"))),
            Err(TokenError::Invalid(_))
        ));
        let mut c = claims("doctor");
        c["exp"] = json!(chrono::Utc::now().timestamp() - 10);
        assert_eq!(v.verify(&sign(&private, &c)), Err(TokenError::Expired));
        let mut c = claims("doctor");
        c["iss"] = json!("https://evil.test");
        assert!(matches!(
            v.verify(&sign(&private, &c)),
            Err(TokenError::Invalid(_))
        ));
        let mut c = claims("doctor");
        c["sub"] = json!("not an hsa id");
        assert!(matches!(
            v.verify(&sign(&private, &c)),
            Err(TokenError::BadClaim(_))
        ));
        assert!(v
            .verify(&sign(&private, &claims("janitor")))
            .unwrap_err()
            .is_forbidden());
        assert!(matches!(v.verify("a.b.c"), Err(TokenError::Invalid(_))));
    }
}
