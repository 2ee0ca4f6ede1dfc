//! From a foreign NCP's error codes to [`GatewayError`]: one table for the codes, whichever
//! place they came in (XCPD acknowledgement, RegistryErrorList, SOAP fault).

use super::envelope::ReceivedFault;
use super::GatewayError;

/// The codes that mean "the patient has not consented".
const NO_CONSENT: &[&str] = &["4701"];
/// The codes that mean "this prescription cannot be dispensed".
const NOT_DISPENSABLE: &[&str] = &["ERROR_ED_NOT_DISPENSABLE_EPRESCRIPTION", "4105", "4106"];
/// The codes that mean "the foreign NCP or its national services failed; try again later".
const UNAVAILABLE: &[&str] = &["4103", "ERROR_GENERIC", "XDSRegistryNotAvailable"];
/// The codes that mean "no such patient".
const NO_MATCH: &[&str] = &["ERROR_PI_NO_MATCH"];

/// The text a coded error carries: `{code}: {message}` (the message as the foreign NCP wrote it).
pub fn coded(code: &str, message: &str) -> String {
    let message = message.trim();
    if message.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {message}")
    }
}

/// The error for a foreign code and message.
pub fn classify(code: &str, message: &str) -> GatewayError {
    let code = code.trim();
    if NO_CONSENT.contains(&code) {
        GatewayError::NoConsent(coded(code, message))
    } else if NOT_DISPENSABLE.contains(&code) {
        GatewayError::NotDispensable(coded(code, message))
    } else if UNAVAILABLE.contains(&code) {
        GatewayError::Unavailable(coded(code, message))
    } else if NO_MATCH.contains(&code) {
        GatewayError::NoMatch
    } else {
        GatewayError::Refused {
            code: code.to_owned(),
            message: message.trim().to_owned(),
        }
    }
}

/// The most telling of several `(code, message)` errors: consent first, then dispensability,
/// then unavailability, else the first.
pub fn classify_all(errors: &[(String, String)]) -> Option<GatewayError> {
    let rank = |e: &GatewayError| match e {
        GatewayError::NoConsent(_) => 0,
        GatewayError::NotDispensable(_) => 1,
        GatewayError::NoMatch => 2,
        GatewayError::Unavailable(_) => 3,
        _ => 4,
    };
    errors
        .iter()
        .map(|(c, m)| classify(c, m))
        .enumerate()
        .min_by_key(|(i, e)| (rank(e), *i))
        .map(|(_, e)| e)
}

/// The WS-Security fault subcode (WSS 1.1 §12) of a message refused for its `wsu:Timestamp`:
/// expired, too old or created in the future by the foreign NCP's clock.
pub const MESSAGE_EXPIRED: &str = "MessageExpired";

/// The error for a SOAP fault: by its eHDSI code when it has one; else a `Receiver` fault means
/// the foreign NCP failed (unavailable) and a `Sender` fault that it refused our message.
///
/// `wsse:MessageExpired` is told apart whatever the detail says (a generic security code at
/// most): it is refused as `MessageExpired`, with a hint, since it almost always means that the
/// two NCPs' clocks differ by more than the Timestamp's lifetime.
pub fn from_fault(f: &ReceivedFault, http_status: u16) -> GatewayError {
    let reason = if f.reason.is_empty() {
        format!("SOAP fault {}", f.code)
    } else {
        f.reason.clone()
    };
    if f.code == "Sender" && f.subcode.as_deref() == Some(MESSAGE_EXPIRED) {
        return GatewayError::Refused {
            code: MESSAGE_EXPIRED.to_owned(),
            message: format!(
                "{reason} (the request's wsu:Timestamp was refused: check that this server's \
                 clock is synchronised, and the configured timestamp lifetime)"
            ),
        };
    }
    match &f.detail_code {
        Some(code) => match classify(code, &reason) {
            GatewayError::Refused { .. } if f.code == "Receiver" => {
                GatewayError::Unavailable(coded(code, &reason))
            }
            e => e,
        },
        None if f.code == "Receiver" || http_status == 503 => {
            GatewayError::Unavailable(coded(&format!("SOAP {} fault", f.code), &reason))
        }
        None => GatewayError::Refused {
            code: f.subcode.clone().unwrap_or_else(|| f.code.clone()),
            message: reason,
        },
    }
}

impl GatewayError {
    /// The foreign (eHDSI, MyHealth@EU or IHE) error code behind this error, when there is one.
    pub fn foreign_code(&self) -> Option<&str> {
        fn prefix(s: &str) -> Option<&str> {
            s.split_once(": ")
                .map(|(c, _)| c)
                .filter(|c| !c.contains(' '))
        }
        match self {
            GatewayError::NoMatch => Some("ERROR_PI_NO_MATCH"),
            GatewayError::NoConsent(m)
            | GatewayError::NotDispensable(m)
            | GatewayError::Unavailable(m) => prefix(m),
            GatewayError::Refused { code, .. } => Some(code),
            GatewayError::Timeout | GatewayError::Protocol(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_their_kind() {
        assert_eq!(
            classify("4701", "no consent"),
            GatewayError::NoConsent("4701: no consent".into())
        );
        assert!(matches!(
            classify("ERROR_ED_NOT_DISPENSABLE_EPRESCRIPTION", "x"),
            GatewayError::NotDispensable(_)
        ));
        assert!(matches!(
            classify("4106", "x"),
            GatewayError::NotDispensable(_)
        ));
        assert!(matches!(
            classify("4103", "x"),
            GatewayError::Unavailable(_)
        ));
        assert_eq!(classify("ERROR_PI_NO_MATCH", ""), GatewayError::NoMatch);
        assert_eq!(
            classify("4703", "not allowed"),
            GatewayError::Refused {
                code: "4703".into(),
                message: "not allowed".into()
            }
        );
        assert_eq!(classify("4701", "x").foreign_code(), Some("4701"));
    }

    #[test]
    fn the_most_telling_error_wins() {
        let errors = vec![
            ("XDSRegistryError".to_owned(), "a".to_owned()),
            ("4701".to_owned(), "b".to_owned()),
        ];
        assert!(matches!(
            classify_all(&errors),
            Some(GatewayError::NoConsent(_))
        ));
        assert_eq!(classify_all(&[]), None);
    }

    #[test]
    fn faults_without_a_code() {
        let f = ReceivedFault {
            code: "Receiver".into(),
            subcode: None,
            reason: "database down".into(),
            detail_code: None,
        };
        assert!(
            matches!(from_fault(&f, 500), GatewayError::Unavailable(m) if m.contains("database down"))
        );
        let f = ReceivedFault {
            code: "Sender".into(),
            subcode: Some("InvalidSecurity".into()),
            reason: "bad".into(),
            detail_code: None,
        };
        assert_eq!(
            from_fault(&f, 400),
            GatewayError::Refused {
                code: "InvalidSecurity".into(),
                message: "bad".into()
            }
        );
    }

    #[test]
    fn an_expired_message_is_told_apart_even_behind_a_generic_code() {
        for detail_code in [None, Some("ERROR_SEC_GENERIC".to_owned())] {
            let f = ReceivedFault {
                code: "Sender".into(),
                subcode: Some("MessageExpired".into()),
                reason: "The message has expired".into(),
                detail_code,
            };
            let e = from_fault(&f, 400);
            assert!(
                matches!(&e, GatewayError::Refused { code, message }
                    if code == "MessageExpired" && message.starts_with("The message has expired")
                        && message.contains("clock")),
                "{e:?}"
            );
            assert_eq!(e.foreign_code(), Some("MessageExpired"));
        }
    }
}
