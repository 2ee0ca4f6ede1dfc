//! eHDSI errors as gRPC statuses: the message starts with `eHDSI <code>: `, the trailing
//! metadata carries `ehdsi-code: <code>`, and the gRPC code says what kind of failure it is.

use tonic::{Code, Status};

use crate::ihe::errors::EhdsiError;
use crate::security::SecurityError;

/// The metadata key of the eHDSI code.
pub const EHDSI_CODE_KEY: &str = "ehdsi-code";

/// The eHDSI code a status of this service carries, if any.
pub fn ehdsi_code(status: &Status) -> Option<&str> {
    status
        .metadata()
        .get(EHDSI_CODE_KEY)
        .and_then(|v| v.to_str().ok())
}

/// The gRPC code of an eHDSI error.
pub fn grpc_code(e: EhdsiError) -> Code {
    use EhdsiError::*;
    match e {
        AssertionNotValid
        | TrcAssertionNotValid
        | WeakAuthentication
        | NoSignature
        | ErrorHpiGeneric
        | ErrorHpiInsufficientInformation
        | ErrorSecGeneric
        | ErrorSecDataIntegrityNotEnsured => Code::Unauthenticated,
        InsufficientRights | UnknownPatientIdentifier | NoConsent | PolicyViolation => {
            Code::PermissionDenied
        }
        ErrorDocumentMissing
        | DocumentsNotFound
        | EPrescriptionsNotFound
        | PatientSummaryNotFound
        | OrcdNotFound
        | EPrescriptionNotMatching
        | ErrorPiNoMatch => Code::NotFound,
        // A Patient Summary that cannot be compiled now: the national services did not answer.
        EPrescriptionRegistryNotAccessible | ErrorPiGeneric | ErrorPsGeneric => Code::Unavailable,
        ErrorEdNotDispensableEPrescription
        | EPrescriptionAlreadyDispensed
        | ErrorEdDiscardFailed
        | ErrorPiMultipleMatches => Code::FailedPrecondition,
        ErrorServiceSignifierUnknown | UnknownSignifier | UnsupportedFeature => Code::Unimplemented,
        ErrorEdGeneric
        | ErrorEdEPrescriptionNotIdentifiable
        | ErrorEdMissingExpectedMapping
        | ErrorEdSubstitutionNotAllowed
        | PivotDataMissing
        | OriginalDataMissing
        | UnknownFilter => Code::InvalidArgument,
        _ => Code::Internal,
    }
}

/// `e` as a status with its catalogue description and, when given, a detail (which must name
/// no patient, person or document content).
pub fn ehdsi_status(e: EhdsiError, detail: Option<&str>) -> Status {
    with_code(grpc_code(e), e.code(), e.description(), detail)
}

/// `e` as a status with an explicit gRPC code.
pub fn ehdsi_status_as(code: Code, e: EhdsiError, detail: Option<&str>) -> Status {
    with_code(code, e.code(), e.description(), detail)
}

/// A refusal of the security layer: `UNAUTHENTICATED` for the assertions themselves (`4702`,
/// `4704`), `PERMISSION_DENIED` for the policy (`4703`) and the TRC patient (`4206`).
pub fn security_status(e: &SecurityError) -> Status {
    let code = e.ehdsi_code();
    let grpc = EhdsiError::from_code(code)
        .map(grpc_code)
        .unwrap_or(Code::Unauthenticated);
    let mut status = Status::new(grpc, format!("eHDSI {code}: {}", e.message()));
    insert_code(&mut status, code);
    status
}

fn with_code(grpc: Code, code: &str, description: &str, detail: Option<&str>) -> Status {
    let message = match detail {
        Some(d) => format!("eHDSI {code}: {description} ({d})"),
        None => format!("eHDSI {code}: {description}"),
    };
    let mut status = Status::new(grpc, message);
    insert_code(&mut status, code);
    status
}

fn insert_code(status: &mut Status, code: &str) {
    if let Ok(v) = code.parse() {
        status.metadata_mut().insert(EHDSI_CODE_KEY, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::{AssertionKind, SignatureFailure};

    #[test]
    fn security_refusals_carry_their_code() {
        let s = security_status(&SecurityError::Signature {
            kind: AssertionKind::Hcp,
            failure: SignatureFailure::Missing,
        });
        assert_eq!(s.code(), Code::Unauthenticated);
        assert_eq!(ehdsi_code(&s), Some("4704"));
        assert!(s.message().starts_with("eHDSI 4704: "), "{}", s.message());
        let s = security_status(&SecurityError::TrcPatientMismatch);
        assert_eq!(s.code(), Code::PermissionDenied);
        assert_eq!(ehdsi_code(&s), Some("4206"));
        let s = security_status(&SecurityError::RoleNotAllowed);
        assert_eq!(s.code(), Code::PermissionDenied);
        assert_eq!(ehdsi_code(&s), Some("4703"));
    }

    #[test]
    fn every_ehdsi_code_is_valid_metadata() {
        for e in EhdsiError::ALL {
            let s = ehdsi_status(*e, Some("detail"));
            assert_eq!(ehdsi_code(&s), Some(e.code()));
            assert!(s.message().starts_with(&format!("eHDSI {}: ", e.code())));
        }
        assert_eq!(grpc_code(EhdsiError::ErrorDocumentMissing), Code::NotFound);
    }
}
