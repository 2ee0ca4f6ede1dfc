//! The FHIR logical id of a foreign patient: `{country}-{root}-{extension}`.
//!
//! The API keeps no session: the id itself says which country's NCP to ask and the patient's
//! identifier there, e.g. `EE-1.3.6.1.4.1.48336.1.1-38001085718`. An extension of other
//! characters than `A-Z a-z 0-9 -` is written as `.` followed by its UTF-8 bytes in
//! lower-case hex. FHIR ids are at most 64 characters of `A-Z a-z 0-9 - .`; a patient whose
//! id does not fit gets [`PatientIdError::TooLong`].

use ncp_types::{CountryCode, Oid};

use super::foreign_gateway::ForeignPatientId;

/// A foreign patient as the FHIR API addresses them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PatientKey {
    pub country: CountryCode,
    pub id: ForeignPatientId,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatientIdError {
    #[error("not a patient id of this API (expected COUNTRY-ROOT-EXTENSION, e.g. EE-1.2.3-123)")]
    Malformed,
    #[error("the patient's identifier is too long for a FHIR id (64 characters)")]
    TooLong,
}

impl PatientKey {
    /// The FHIR logical id.
    pub fn to_fhir_id(&self) -> Result<String, PatientIdError> {
        let ext = &self.id.extension;
        let mut s = format!("{}-{}-", self.country, self.id.root.as_str());
        let plain = !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if plain {
            s.push_str(ext);
        } else {
            s.push('.');
            s.push_str(&hex::encode(ext));
        }
        if s.len() > 64 {
            return Err(PatientIdError::TooLong);
        }
        Ok(s)
    }

    /// Reads a FHIR logical id (a `Patient/` prefix, or a full URL ending in one, is accepted).
    pub fn parse(id: &str) -> Result<PatientKey, PatientIdError> {
        let id = id.rsplit_once("Patient/").map(|(_, i)| i).unwrap_or(id);
        let (country, rest) = id.split_once('-').ok_or(PatientIdError::Malformed)?;
        let country = CountryCode::parse(country).map_err(|_| PatientIdError::Malformed)?;
        let (root, ext) = rest.split_once('-').ok_or(PatientIdError::Malformed)?;
        let root = Oid::parse(root).map_err(|_| PatientIdError::Malformed)?;
        let extension = match ext.strip_prefix('.') {
            // Lower-case hex only, as written above: one id per patient.
            Some(hex) if hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
                let bytes = hex::decode(hex).map_err(|_| PatientIdError::Malformed)?;
                String::from_utf8(bytes).map_err(|_| PatientIdError::Malformed)?
            }
            Some(_) => return Err(PatientIdError::Malformed),
            None => ext.to_owned(),
        };
        if extension.is_empty() {
            return Err(PatientIdError::Malformed);
        }
        Ok(PatientKey {
            country,
            id: ForeignPatientId { root, extension },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ext: &str) -> PatientKey {
        PatientKey {
            country: CountryCode::parse("EE").unwrap(),
            id: ForeignPatientId {
                root: Oid::parse("1.3.6.1.4.1.48336.1.1").unwrap(),
                extension: ext.to_owned(),
            },
        }
    }

    #[test]
    fn plain_and_encoded_extensions_round_trip() {
        for ext in ["38001085718", "1-1234-W8", "a b/c^d", "ä.1", "-"] {
            let k = key(ext);
            let id = k.to_fhir_id().unwrap();
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
                "{id}"
            );
            assert_eq!(PatientKey::parse(&id).unwrap(), k, "{id}");
            assert_eq!(PatientKey::parse(&format!("Patient/{id}")).unwrap(), k);
        }
        assert_eq!(
            key("38001085718").to_fhir_id().unwrap(),
            "EE-1.3.6.1.4.1.48336.1.1-38001085718"
        );
    }

    #[test]
    fn bad_ids_are_refused() {
        for bad in [
            "",
            "EE",
            "EE-1.2.3",
            "EE-1.2.3-",
            "Sweden-1.2-3",
            "EE-x.y-3",
            "EE-1.2-.4",
            // Not hex, multi-byte characters, upper case, a sign: refused, never a panic.
            "EE-1.2.3-.€0",
            "EE-1.2.3-.0€",
            "EE-1.2.3-.+1",
            "EE-1.2.3-.4A",
            "EE-1.2.3-.zz",
        ] {
            assert!(PatientKey::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            key(&"x".repeat(60)).to_fhir_id(),
            Err(PatientIdError::TooLong)
        );
    }
}
