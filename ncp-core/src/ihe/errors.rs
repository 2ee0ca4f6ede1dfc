//! The eHDSI error codes this gateway sends as country A, and where each goes.
//!
//! eHDSI has two generations of codes on the wire: the numeric MyHealth@EU codes (`1101`,
//! `4701`, ...) still used for document availability, consent and authorisation, and the
//! named business codes of the eHDSI error catalogue (`ERROR_PI_NO_MATCH`, ...). Each goes in
//! one place: `RegistryError/@errorCode` for XCA and XDR, `acknowledgementDetail/code` for
//! XCPD, `env:Detail` of a SOAP fault for what fails before the transaction is understood.

/// Where an error is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A SOAP 1.2 fault (the message could not be processed as a transaction).
    SoapFault,
    /// `rs:RegistryErrorList` of an XCA or XDR response.
    RegistryErrorList,
    /// The XCPD response's `acknowledgementDetail` (with a `DetectedIssueEvent` reason).
    XcpdAcknowledgement,
}

macro_rules! ehdsi_errors {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $desc:literal, [$($place:ident),+]; )+) => {
        /// An eHDSI error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EhdsiError { $( $(#[$doc])* $name, )+ }

        impl EhdsiError {
            pub const ALL: &'static [EhdsiError] = &[$(EhdsiError::$name),+];

            /// The code as sent on the wire.
            pub fn code(self) -> &'static str {
                match self { $(EhdsiError::$name => $code,)+ }
            }

            /// The catalogue's description.
            pub fn description(self) -> &'static str {
                match self { $(EhdsiError::$name => $desc,)+ }
            }

            /// Where this error may be reported.
            pub fn placements(self) -> &'static [Placement] {
                match self { $(EhdsiError::$name => &[$(Placement::$place),+],)+ }
            }

            /// The error for a wire code.
            pub fn from_code(code: &str) -> Option<Self> {
                EhdsiError::ALL.iter().copied().find(|e| e.code() == code.trim())
            }
        }
    };
}

ehdsi_errors! {
    // Generic
    ErrorGeneric = "ERROR_GENERIC", "Internal Server Error - Please retry or contact the server administrator", [SoapFault, RegistryErrorList, XcpdAcknowledgement];
    /// The service signifier (class code) is not supported.
    ErrorServiceSignifierUnknown = "ERROR_GENERIC_SERVICE_SIGNIFIER_UNKNOWN", "Class code not supported", [RegistryErrorList];
    ErrorDocumentMissing = "ERROR_GENERIC_DOCUMENT_MISSING", "The document requested was not found", [RegistryErrorList];
    // 01 Health professional identification
    ErrorHpiGeneric = "ERROR_HPI_GENERIC", "Health Professional (HP) Identification generic error", [SoapFault, RegistryErrorList, XcpdAcknowledgement];
    ErrorHpiInsufficientInformation = "ERROR_HPI_INSUFFICIENT_INFORMATION", "Information provided about the HP is insufficient", [SoapFault, RegistryErrorList, XcpdAcknowledgement];
    // 02 Patient identification
    ErrorPiGeneric = "ERROR_PI_GENERIC", "Patient Identification generic error", [XcpdAcknowledgement];
    ErrorPiNoMatch = "ERROR_PI_NO_MATCH", "The identification and authentication used in the Country of Treatment (Country B) are not correctly provided or does not match any existing patient.", [XcpdAcknowledgement];
    ErrorPiMultipleMatches = "ERROR_PI_MULTIPLE_MATCHES", "The identification and authentication used in the Country of Treatment (Country B) match multiple patients, instead of only one patient.", [XcpdAcknowledgement];
    // 05 Patient Summary
    ErrorPsGeneric = "ERROR_PS_GENERIC", "Patient Summary generic error", [RegistryErrorList];
    ErrorPsMissingExpectedMapping = "ERROR_PS_MISSING_EXPECTED_MAPPING", "A needed code mapping is missing.", [RegistryErrorList];
    ErrorPsPdfFormatNotProvided = "ERROR_PS_PDF_FORMAT_NOT_PROVIDED", "A PDF has not been provided.", [RegistryErrorList];
    // 06 ePrescription
    ErrorEpGeneric = "ERROR_EP_GENERIC", "ePrescription generic error", [RegistryErrorList];
    ErrorEpMissingExpectedMapping = "ERROR_EP_MISSING_EXPECTED_MAPPING", "A needed code mapping is missing.", [RegistryErrorList];
    ErrorEpPdfFormatNotProvided = "ERROR_EP_PDF_FORMAT_NOT_PROVIDED", "A PDF has not been provided.", [RegistryErrorList];
    // 07 Dispensation
    ErrorEdGeneric = "ERROR_ED_GENERIC", "Dispensation generic error", [RegistryErrorList];
    ErrorEdNotDispensableEPrescription = "ERROR_ED_NOT_DISPENSABLE_EPRESCRIPTION", "The selected ePrescription is not dispensable", [RegistryErrorList];
    ErrorEdSubstitutionNotAllowed = "ERROR_ED_SUBSTITUTION_INFORMATION_NOT_ALLOWED", "Country of Affiliation has received an information of substitution when it was not allowed based on its national legislation.", [RegistryErrorList];
    ErrorEdEPrescriptionNotIdentifiable = "ERROR_ED_EPRESCRIPTION_NOT_IDENTIFIABLE", "Some of the necessary information to allow the identification of the ePrescription and the related medicinal product are missing.", [RegistryErrorList];
    ErrorEdMissingExpectedMapping = "ERROR_ED_MISSING_EXPECTED_MAPPING", "An expected code is missing.", [RegistryErrorList];
    ErrorEdEPrescriptionNotUpdated = "ERROR_ED_EPRESCRIPTION_NOT_UPDATED", "Some of the ePrescription(s) could not be updated with the dispensed medicine information.", [RegistryErrorList];
    ErrorEdDiscardFailed = "ERROR_ED_DISCARD_FAILED", "The dispensation discard could not be performed in the Country of Affiliation", [RegistryErrorList];
    ErrorEdEDispensationNotStored = "ERROR_ED_EDISPENSATION_NOT_STORED", "Although the Country of Affiliation authorizes the eDispensation discard action, eDispensation information could not be stored by the Country of Affiliation.", [RegistryErrorList];
    // 10 Security
    ErrorSecGeneric = "ERROR_SEC_GENERIC", "SEC generic error", [SoapFault, RegistryErrorList, XcpdAcknowledgement];
    ErrorSecDataIntegrityNotEnsured = "ERROR_SEC_DATA_INTEGRITY_NOT_ENSURED", "Integrity of the exchanged data cannot be ensured by the Country of Affiliation, such as with insufficient or invalid SAML assertions", [SoapFault, RegistryErrorList, XcpdAcknowledgement];
    // MyHealth@EU numeric codes
    /// 1001: the identity (HCP) assertion is not valid.
    AssertionNotValid = "1001", "Assertion is not valid.", [SoapFault];
    /// 1002: the TRC assertion does not validate against the identity assertion.
    TrcAssertionNotValid = "1002", "The given TRC Assertion does not validate against the Identity Assertion", [SoapFault];
    DocumentsNotFound = "1100", "No documents are registered for the given patient.", [RegistryErrorList];
    /// 1101: no ePrescriptions for the patient (a warning, with status Success).
    EPrescriptionsNotFound = "1101", "No ePrescriptions are registered for the given patient.", [RegistryErrorList];
    /// 1102: no Patient Summary for the patient (a warning, with status Success).
    PatientSummaryNotFound = "1102", "No patient summary is registered for the given patient.", [RegistryErrorList];
    OrcdNotFound = "1104", "No original clinical document of the requested type is registered for the given patient.", [RegistryErrorList];
    DocumentsNotProcessed = "2201", "Documents were received but not processed", [RegistryErrorList];
    EPrescriptionRegistryNotAccessible = "4103", "ePrescription registry could not be accessed.", [RegistryErrorList];
    EPrescriptionNotMatching = "4105", "No matching ePrescription was found", [RegistryErrorList];
    /// 4106: the ePrescription has already been dispensed (invalid dispensation).
    EPrescriptionAlreadyDispensed = "4106", "ePrescription has already been dispensed", [RegistryErrorList];
    OriginalDataMissing = "4107", "For data of the given kind the Provide Data service provider requires the service consumer to transmit the source coded PDF document.", [RegistryErrorList];
    PivotDataMissing = "4108", "The service consumer did not provide the eHealth DSI pivot coded document which is requested by the Provide Data service provider for the given kind of data.", [RegistryErrorList];
    UnsupportedFeature = "4201", "Country A does not provide the (optional) source coded version of the document", [RegistryErrorList];
    /// 4202: unknown signifier (the class code is not supported).
    UnknownSignifier = "4202", "Class code not supported", [RegistryErrorList];
    TranscodingError = "4203", "The requested encoding cannot be provided due to a transcoding error.", [RegistryErrorList];
    UnknownFilter = "4204", "The service provider is unable to evaluate the given argument values", [RegistryErrorList];
    /// 4206: the patient id in the query differs from the one in the TRC assertion.
    UnknownPatientIdentifier = "4206", "The patient identifier in the query differs from the patient identifier in the TRC assertion", [RegistryErrorList];
    /// 4701: the patient has not consented.
    NoConsent = "4701", "The patient has not given consent to the requested service.", [RegistryErrorList, XcpdAcknowledgement];
    WeakAuthentication = "4702", "Country A requests a higher authentication trust level than assigned to the HP", [RegistryErrorList, XcpdAcknowledgement, SoapFault];
    /// 4703: policy does not allow the operation for this HP.
    InsufficientRights = "4703", "Either the security policy of country A or a privacy policy of the patient (that was given in country A) does not allow the requested operation to be performed by the HP", [RegistryErrorList, XcpdAcknowledgement, SoapFault];
    NoSignature = "4704", "The Provide Data service provider only accepts data of the given kind if it is digitally signed by an HP.", [RegistryErrorList];
    PolicyViolation = "4705", "Policy violation", [RegistryErrorList, XcpdAcknowledgement, SoapFault];
}

impl EhdsiError {
    /// Whether this error is sent as a warning rather than an error by default (eHDSI: "no
    /// documents" is a warning with status Success).
    pub fn is_warning_by_default(self) -> bool {
        matches!(
            self,
            EhdsiError::DocumentsNotFound
                | EhdsiError::EPrescriptionsNotFound
                | EhdsiError::PatientSummaryNotFound
                | EhdsiError::OrcdNotFound
        )
    }
}

/// The XCPD `DetectedIssueEvent` codes (IHE ITI-55 and the eHDSI XCPD profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XcpdIssue {
    // IHE ITI TF-2 Table 3.55.4.2.2.7-1 (codeSystem 1.3.6.1.4.1.19376.1.2.27.3), in mitigatedBy.
    AnswerNotAvailable,
    ResponderBusy,
    InternalError,
    // eHDSI (codeSystem 1.3.6.1.4.1.12559.11.10.1.3.2.2.1).
    /// In triggerFor/actOrderRequired: identify by more demographics.
    AdditionalDemographicsRequested,
    /// In triggerFor/actOrderRequired: only identification by national id is allowed.
    DemographicsQueryNotAllowed,
    EhicDataRequested,
    PrivacyViolation,
    /// In mitigatedBy.
    InsufficientRights,
    PatientAuthenticationRequired,
    PolicyViolation,
}

/// Where in the `DetectedIssueEvent` an issue code goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueSlot {
    /// `triggerFor/actOrderRequired/code`: the requester should ask again with more or other data.
    TriggerFor,
    /// `mitigatedBy/detectedIssueManagement/code`.
    MitigatedBy,
}

impl XcpdIssue {
    pub fn code(self) -> &'static str {
        match self {
            XcpdIssue::AnswerNotAvailable => "AnswerNotAvailable",
            XcpdIssue::ResponderBusy => "ResponderBusy",
            XcpdIssue::InternalError => "InternalError",
            XcpdIssue::AdditionalDemographicsRequested => "AdditionalDemographicsRequested",
            XcpdIssue::DemographicsQueryNotAllowed => "DemographicsQueryNotAllowed",
            XcpdIssue::EhicDataRequested => "EHICDataRequested",
            XcpdIssue::PrivacyViolation => "PrivacyViolation",
            XcpdIssue::InsufficientRights => "InsufficientRights",
            XcpdIssue::PatientAuthenticationRequired => "PatientAuthenticationRequired",
            XcpdIssue::PolicyViolation => "PolicyViolation",
        }
    }

    pub fn code_system(self) -> &'static str {
        match self {
            XcpdIssue::AnswerNotAvailable | XcpdIssue::ResponderBusy | XcpdIssue::InternalError => {
                "1.3.6.1.4.1.19376.1.2.27.3"
            }
            _ => "1.3.6.1.4.1.12559.11.10.1.3.2.2.1",
        }
    }

    pub fn slot(self) -> IssueSlot {
        match self {
            XcpdIssue::AdditionalDemographicsRequested
            | XcpdIssue::DemographicsQueryNotAllowed
            | XcpdIssue::EhicDataRequested
            | XcpdIssue::PatientAuthenticationRequired => IssueSlot::TriggerFor,
            _ => IssueSlot::MitigatedBy,
        }
    }
}

/// IHE XDS error codes (ITI TF-3 Table 4.2.4.1-2) used alongside the eHDSI ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XdsError {
    XdsRegistryError,
    XdsRepositoryError,
    XdsUnknownStoredQuery,
    XdsStoredQueryParamNumber,
    XdsMissingDocument,
    XdsMissingDocumentMetadata,
    XdsUnknownCommunity,
    XdsUnknownRepositoryId,
    XdsUnknownPatientId,
    XdsPatientIdDoesNotMatch,
    XdsRegistryMetadataError,
}

impl XdsError {
    pub fn code(self) -> &'static str {
        match self {
            XdsError::XdsRegistryError => "XDSRegistryError",
            XdsError::XdsRepositoryError => "XDSRepositoryError",
            XdsError::XdsUnknownStoredQuery => "XDSUnknownStoredQuery",
            XdsError::XdsStoredQueryParamNumber => "XDSStoredQueryParamNumber",
            XdsError::XdsMissingDocument => "XDSMissingDocument",
            XdsError::XdsMissingDocumentMetadata => "XDSMissingDocumentMetadata",
            XdsError::XdsUnknownCommunity => "XDSUnknownCommunity",
            XdsError::XdsUnknownRepositoryId => "XDSUnknownRepositoryId",
            XdsError::XdsUnknownPatientId => "XDSUnknownPatientId",
            XdsError::XdsPatientIdDoesNotMatch => "XDSPatientIdDoesNotMatch",
            XdsError::XdsRegistryMetadataError => "XDSRegistryMetadataError",
        }
    }
}

/// Either kind of code a `RegistryError` can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Ehdsi(EhdsiError),
    Xds(XdsError),
}

impl ErrorCode {
    pub fn code(self) -> &'static str {
        match self {
            ErrorCode::Ehdsi(e) => e.code(),
            ErrorCode::Xds(e) => e.code(),
        }
    }
}

impl From<EhdsiError> for ErrorCode {
    fn from(e: EhdsiError) -> Self {
        ErrorCode::Ehdsi(e)
    }
}

impl From<XdsError> for ErrorCode {
    fn from(e: XdsError) -> Self {
        ErrorCode::Xds(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for e in EhdsiError::ALL {
            assert_eq!(EhdsiError::from_code(e.code()), Some(*e));
            assert!(!e.placements().is_empty());
        }
        assert_eq!(EhdsiError::NoConsent.code(), "4701");
        assert_eq!(EhdsiError::ErrorPiNoMatch.code(), "ERROR_PI_NO_MATCH");
        assert_eq!(
            XcpdIssue::DemographicsQueryNotAllowed.slot(),
            IssueSlot::TriggerFor
        );
    }
}

/// The severity of a `RegistryError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn urn(self) -> &'static str {
        match self {
            Severity::Error => "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error",
            Severity::Warning => "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning",
        }
    }
}

/// One `rs:RegistryError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    pub code: ErrorCode,
    pub severity: Severity,
    /// Free text for the requester. Never put patient data here.
    pub code_context: String,
    /// Where the error arose (eHDSI: the home community id as `urn:oid:`).
    pub location: Option<String>,
}

impl RegistryError {
    /// An eHDSI error with its catalogue description as context and its default severity.
    pub fn ehdsi(e: EhdsiError) -> Self {
        RegistryError {
            code: ErrorCode::Ehdsi(e),
            severity: if e.is_warning_by_default() {
                Severity::Warning
            } else {
                Severity::Error
            },
            code_context: e.description().to_owned(),
            location: None,
        }
    }

    /// An IHE XDS error.
    pub fn xds(e: XdsError, context: impl Into<String>) -> Self {
        RegistryError {
            code: ErrorCode::Xds(e),
            severity: Severity::Error,
            code_context: context.into(),
            location: None,
        }
    }

    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.code_context = context.into();
        self
    }

    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }
}

/// The status of an ebXML registry response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStatus {
    Success,
    PartialSuccess,
    Failure,
}

impl ResponseStatus {
    pub fn urn(self) -> &'static str {
        match self {
            ResponseStatus::Success => "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success",
            ResponseStatus::PartialSuccess => "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess",
            ResponseStatus::Failure => "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure",
        }
    }

    /// The status a response with `results` results and these errors has: Failure when there
    /// is an error and nothing else, PartialSuccess when there is both, Success otherwise
    /// (warnings do not fail a response).
    pub fn from_outcome(results: usize, errors: &[RegistryError]) -> Self {
        let failed = errors.iter().any(|e| e.severity == Severity::Error);
        match (failed, results) {
            (false, _) => ResponseStatus::Success,
            (true, 0) => ResponseStatus::Failure,
            (true, _) => ResponseStatus::PartialSuccess,
        }
    }
}

/// Writes `rs:RegistryErrorList` (nothing when `errors` is empty). The `rs` prefix must be bound.
pub fn write_registry_error_list(w: &mut crate::soap::xml::XmlWriter, errors: &[RegistryError]) {
    if errors.is_empty() {
        return;
    }
    let highest = if errors.iter().any(|e| e.severity == Severity::Error) {
        Severity::Error
    } else {
        Severity::Warning
    };
    w.open(
        "rs:RegistryErrorList",
        &[("highestSeverity", highest.urn())],
    );
    for e in errors {
        crate::ops::metrics::ehdsi_error(e.code.code(), "registry-error");
        let mut attrs = vec![
            ("codeContext", e.code_context.as_str()),
            ("errorCode", e.code.code()),
            ("severity", e.severity.urn()),
        ];
        if let Some(l) = &e.location {
            attrs.push(("location", l.as_str()));
        }
        w.empty("rs:RegistryError", &attrs);
    }
    w.close();
}
