//! The eHDSI error codes the security layer answers with.
//!
//! The codes and their texts are those of the eHDSI error code list (the `4xxx` security and
//! policy codes); [`SecurityError::message`] adds a short detail that never carries a patient
//! identifier, a name or any part of the message.

use std::fmt;

/// Which of the two eHDSI assertions a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssertionKind {
    /// The HCP identity assertion.
    Hcp,
    /// The treatment relationship confirmation assertion.
    Trc,
}

impl fmt::Display for AssertionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AssertionKind::Hcp => "HCP identity assertion",
            AssertionKind::Trc => "TRC assertion",
        })
    }
}

/// Why a signature was not accepted. Each of these answers `4704`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFailure {
    /// The assertion has no `ds:Signature` child.
    Missing,
    /// The signature is not an enveloped one over exactly this assertion (a reference to another
    /// node, more than one reference, a second signature, a duplicate ID: signature wrapping).
    WrongReference,
    /// An algorithm or transform outside the eHDSI profile (exclusive c14n, SHA-256, RSA or ECDSA).
    Algorithm,
    /// The certificate in `KeyInfo` is neither in the trust list nor issued by a trusted CA, or
    /// the message has none and no trusted key verifies.
    UntrustedSigner,
    /// The digest or signature value does not match: the assertion was changed after signing, or
    /// a key other than the trusted one signed it.
    Invalid,
    /// The TRC assertion was signed by another NCP than the HCP identity assertion.
    OtherNcp,
}

impl SignatureFailure {
    fn detail(self) -> &'static str {
        match self {
            SignatureFailure::Missing => "not signed",
            SignatureFailure::WrongReference => {
                "the signature does not cover exactly this assertion"
            }
            SignatureFailure::Algorithm => "signature algorithm or transform not allowed",
            SignatureFailure::UntrustedSigner => "signer not in the trust list",
            SignatureFailure::Invalid => "signature does not verify",
            SignatureFailure::OtherNcp => "signed by another NCP than the HCP identity assertion",
        }
    }
}

/// A refusal by the security layer, with its eHDSI code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    /// The envelope is not XML we can read, or has no `wsse:Security` header.
    #[error("malformed SOAP security header: {0}")]
    Malformed(&'static str),
    /// A required assertion is absent.
    #[error("missing {0}")]
    MissingAssertion(AssertionKind),
    /// An assertion is structurally invalid or lacks a required claim.
    #[error("invalid {kind}: {reason}")]
    InvalidAssertion {
        kind: AssertionKind,
        reason: &'static str,
    },
    /// `NotBefore` is in the future (beyond the allowed clock skew).
    #[error("{0} not yet valid")]
    NotYetValid(AssertionKind),
    /// `NotOnOrAfter` has passed.
    #[error("{0} expired")]
    Expired(AssertionKind),
    /// No `Audience` of an `AudienceRestriction` is ours.
    #[error("{0} is not addressed to this NCP")]
    WrongAudience(AssertionKind),
    /// The signature is missing, untrusted, or does not verify.
    #[error("{kind}: {}", .failure.detail())]
    Signature {
        kind: AssertionKind,
        failure: SignatureFailure,
    },
    /// The TRC assertion does not belong to the HCP identity assertion (its `AssertionIDRef` or
    /// subject differs).
    #[error("the TRC assertion does not refer to the HCP identity assertion")]
    TrcNotForHcp,
    /// The HCP lacks a permission the transaction needs (the codes are the eHDSI permission
    /// codes, e.g. `PRD-006`, never personal data).
    #[error("missing permission {0}")]
    MissingPermission(&'static str),
    /// The HCP's role may not perform the transaction.
    #[error("role not allowed for this transaction")]
    RoleNotAllowed,
    /// The purpose of use is not one the policy allows.
    #[error("purpose of use not allowed")]
    PurposeNotAllowed,
    /// The patient in the request is not the patient of the TRC assertion.
    #[error("patient identifier differs from the TRC assertion")]
    TrcPatientMismatch,
}

impl SecurityError {
    /// The eHDSI error code to put in the response (`RegistryError/@errorCode` or the XCPD
    /// `DetectedIssueEvent` code).
    pub fn ehdsi_code(&self) -> &'static str {
        match self {
            SecurityError::Malformed(_)
            | SecurityError::MissingAssertion(_)
            | SecurityError::InvalidAssertion { .. }
            | SecurityError::NotYetValid(_)
            | SecurityError::Expired(_)
            | SecurityError::WrongAudience(_)
            | SecurityError::TrcNotForHcp => "4702",
            SecurityError::Signature { .. } => "4704",
            SecurityError::MissingPermission(_)
            | SecurityError::RoleNotAllowed
            | SecurityError::PurposeNotAllowed => "4703",
            SecurityError::TrcPatientMismatch => "4206",
        }
    }

    /// The eHDSI text of the code, followed by what exactly was refused. Safe to send back and to
    /// log: it names no patient, person or message content.
    pub fn message(&self) -> String {
        format!("{} ({self})", code_text(self.ehdsi_code()))
    }
}

/// The eHDSI description of a security or policy error code.
pub fn code_text(code: &str) -> &'static str {
    match code {
        "4206" => {
            "The patient identifier in the query differs from the patient identifier in the TRC assertion"
        }
        "4701" => "The patient has not given consent to the requested service.",
        "4702" => {
            "Country A requests a higher authentication trust level than assigned to the HP"
        }
        "4703" => {
            "Either the security policy of country A or a privacy policy of the patient (that was given in country A) does not allow the requested operation to be performed by the HP"
        }
        "4704" => {
            "The Provide Data service provider only accepts data of the given kind if it is digitally signed by an HP."
        }
        "4705" => "Policy violation",
        "4706" => "Unknown Policy",
        _ => "Security error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_texts() {
        let e = SecurityError::Signature {
            kind: AssertionKind::Trc,
            failure: SignatureFailure::Invalid,
        };
        assert_eq!(e.ehdsi_code(), "4704");
        assert!(e.message().starts_with("The Provide Data service provider"));
        assert!(e
            .message()
            .contains("TRC assertion: signature does not verify"));
        assert_eq!(SecurityError::TrcPatientMismatch.ehdsi_code(), "4206");
        assert_eq!(
            SecurityError::MissingPermission("PRD-006").ehdsi_code(),
            "4703"
        );
        assert_eq!(
            SecurityError::Expired(AssertionKind::Hcp).ehdsi_code(),
            "4702"
        );
    }
}
