//! eHDSI Master Value Set Catalogue (MVC), Swedish transcoding maps and translations.
//!
//! PUBLIC API CONTRACT (other crates code against these signatures). A code is a [`Coded`];
//! transcoding a Swedish code to an eHDSI value set gives a [`Transcoded`], which is never
//! silently empty: an unmapped code is `Unmapped` and the CDA writer emits `nullFlavor="OTH"`
//! with a `<translation>` carrying the original.
//!
//! The data lives in a [`Terminology`]: the crate's own data files (compiled in, see
//! `data/*.tsv`) plus, optionally, the official MVC value sets (ART-DECOR `voc-*.xml`) loaded
//! from a directory at startup. [`Terminology::embedded`] is the process-wide default.
//!
//! Modules: [`mvc`] parses the MVC files, `data` the crate's TSV files, `rules` holds the
//! transcoding rules, [`grpc`] the gRPC `TerminologyService`.

mod data;
pub mod grpc;
mod model;
pub mod mvc;
mod rules;
mod store;

use ncp_types::Oid;
use serde::{Deserialize, Serialize};

pub use data::NplProduct;
pub use model::{Concept, ConceptInfo, Designation, Lang, ValueSet};
pub use store::{OidRef, Source, Terminology, DEFAULT_MVC_DIR, MVC_DIR_ENV};

/// A coded value: code, its code system, and optionally the code system's name and a display.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Coded {
    pub code: String,
    pub code_system: Oid,
    pub code_system_name: Option<String>,
    pub display: Option<String>,
}

impl Coded {
    /// A code in a code system, without name or display.
    pub fn new(code: impl Into<String>, code_system: Oid) -> Self {
        Coded {
            code: code.into(),
            code_system,
            code_system_name: None,
            display: None,
        }
    }

    /// Builder: sets the display.
    pub fn with_display(mut self, display: impl Into<String>) -> Self {
        self.display = Some(display.into());
        self
    }

    /// Builder: sets the code system name.
    pub fn with_system_name(mut self, name: impl Into<String>) -> Self {
        self.code_system_name = Some(name.into());
        self
    }

    /// A code from a FHIR `Coding.system`: a known URI (`http://snomed.info/sct`), a `urn:oid:`
    /// or a bare OID. `None` when the system is neither an OID nor a URI we know.
    pub fn from_fhir(system: &str, code: impl Into<String>) -> Option<Self> {
        code_systems::from_uri(system).map(|s| Coded::new(code, s))
    }
}

/// The outcome of transcoding a code into an eHDSI value set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transcoded {
    /// The code is already in the value set (kept as is, display filled in if known).
    Member(Coded),
    /// Mapped: the eHDSI target and the original it came from (kept as `<translation>`).
    Mapped { target: Coded, original: Coded },
    /// No mapping: emit nullFlavor="OTH" with the original as `<translation>`.
    Unmapped { original: Coded },
}

impl Transcoded {
    /// The code to put in the eHDSI document, if any (`None` for `Unmapped`).
    pub fn target(&self) -> Option<&Coded> {
        match self {
            Transcoded::Member(c) => Some(c),
            Transcoded::Mapped { target, .. } => Some(target),
            Transcoded::Unmapped { .. } => None,
        }
    }

    /// The code as the Swedish side sent it.
    pub fn original(&self) -> &Coded {
        match self {
            Transcoded::Member(c) => c,
            Transcoded::Mapped { original, .. } | Transcoded::Unmapped { original } => original,
        }
    }

    pub fn is_unmapped(&self) -> bool {
        matches!(self, Transcoded::Unmapped { .. })
    }
}

/// Well-known eHDSI value set OIDs (the MVC `1.3.6.1.4.1.12559.11.10.1.3.1.42.*` family),
/// checked against the Wave 8 MVC (`voc-<OID>-DYNAMIC.xml`, value set `name` in comments).
pub mod value_sets {
    /// eHDSIActiveIngredient (ATC).
    pub const ACTIVE_INGREDIENT: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.24";
    /// eHDSIDoseForm (EDQM).
    pub const DOSE_FORM: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.2";
    /// eHDSIPackage (EDQM).
    pub const PACKAGE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.3";
    /// eHDSIRouteofAdministration (EDQM).
    pub const ROUTE_OF_ADMINISTRATION: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.12";
    /// eHDSIUnit (UCUM).
    pub const UNIT: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.16";
    /// eHDSIIllnessandDisorder (ICD-10, eHDSI code system `…1.3.1.44.2`).
    pub const ILLNESS_AND_DISORDER: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.5";
    /// eHDSIHealthcareProfessionalRole (ISCO-08).
    pub const HEALTHCARE_PROFESSIONAL_ROLE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.1";
    /// eHDSICountry (ISO 3166-1).
    pub const COUNTRY: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.4";
    /// eHDSILanguage.
    pub const LANGUAGE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.6";
    /// eHDSISubstitutionCode (HL7 ActSubstanceAdminSubstitutionCode).
    pub const SUBSTITUTION_CODE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.7";
    /// eHDSIMedicalDevice (SNOMED CT and eHDSI device codes).
    pub const MEDICAL_DEVICE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.8";
    /// eHDSIPregnancyInformation (LOINC).
    pub const PREGNANCY_INFORMATION: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.9";
    /// eHDSIProcedure (SNOMED CT).
    pub const PROCEDURE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.10";
    /// eHDSIReactionAllergy (SNOMED CT).
    pub const REACTION_ALLERGY: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.11";
    /// eHDSISeverity (SNOMED CT).
    pub const SEVERITY: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.13";
    /// eHDSISocialHistory (SNOMED CT).
    pub const SOCIAL_HISTORY: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.14";
    /// eHDSIStatusCode (SNOMED CT).
    pub const STATUS_CODE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.15";
    /// epSOSUnknownInformation (SNOMED CT).
    pub const UNKNOWN_INFORMATION: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.17";
    /// eHDSIAdverseEventType (SNOMED CT).
    pub const ADVERSE_EVENT_TYPE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.18";
    /// eHDSIAllergenNoDrug (SNOMED CT).
    pub const ALLERGEN_NO_DRUG: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.19";
    /// eHDSIBloodGroup (SNOMED CT).
    pub const BLOOD_GROUP: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.20";
    /// eHDSIBloodPressure (LOINC 8480-6, 8462-4).
    pub const BLOOD_PRESSURE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.21";
    /// epSOSCodeNoMedication (SNOMED CT).
    pub const CODE_NO_MEDICATION: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.22";
    /// eHDSICodeProb (SNOMED CT problem types).
    pub const CODE_PROB: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.23";
    /// eHDSISection (LOINC).
    pub const SECTION: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.26";
    /// eHDSIVaccine (ATC and SNOMED CT).
    pub const VACCINE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.28";
    /// eHDSIResolutionOutcome (SNOMED CT).
    pub const RESOLUTION_OUTCOME: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.30";
    /// eHDSIConfidentiality (HL7 Confidentiality).
    pub const CONFIDENTIALITY: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.31";
    /// eHDSIDocumentCode (LOINC).
    pub const DOCUMENT_CODE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.32";
    /// eHDSIAdministrativeGender (HL7 AdministrativeGender).
    pub const ADMINISTRATIVE_GENDER: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.34";
    /// eHDSINullFlavor (HL7 NullFlavor).
    pub const NULL_FLAVOR: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.37";
    /// eHDSIPersonalRelationship (HL7 RoleCode).
    pub const PERSONAL_RELATIONSHIP: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.38";
    /// eHDSIRoleClass (HL7 RoleClass).
    pub const ROLE_CLASS: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.39";
    /// eHDSITelecomAddress (HL7 TelecommunicationAddressUse).
    pub const TELECOM_ADDRESS: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.40";
    /// eHDSITimingEvent.
    pub const TIMING_EVENT: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.41";
    /// eHDSIDisplayLabel.
    pub const DISPLAY_LABEL: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.46";
    /// eHDSIAbsentOrUnknownAllergy.
    pub const ABSENT_OR_UNKNOWN_ALLERGY: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.47";
    /// eHDSIAbsentOrUnknownDevice.
    pub const ABSENT_OR_UNKNOWN_DEVICE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.48";
    /// eHDSIAbsentOrUnknownMedication.
    pub const ABSENT_OR_UNKNOWN_MEDICATION: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.49";
    /// eHDSIAbsentOrUnknownProblem.
    pub const ABSENT_OR_UNKNOWN_PROBLEM: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.50";
    /// eHDSIAbsentOrUnknownProcedure.
    pub const ABSENT_OR_UNKNOWN_PROCEDURE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.51";
    /// eHDSIQuantityUnit (EDQM units of presentation).
    pub const QUANTITY_UNIT: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.56";
    /// eHDSICriticality (FHIR AllergyIntoleranceCriticality).
    pub const CRITICALITY: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.57";
    /// eHDSIAllergyCertainty (FHIR AllergyIntoleranceVerificationStatus).
    pub const ALLERGY_CERTAINTY: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.58";
    /// eHDSIAllergyStatus (FHIR AllergyIntoleranceClinicalStatus).
    pub const ALLERGY_STATUS: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.59";
    /// eHDSICurrentPregnancyStatus (SNOMED CT).
    pub const CURRENT_PREGNANCY_STATUS: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.60";
    /// eHDSIOutcomeOfPregnancy (SNOMED CT).
    pub const OUTCOME_OF_PREGNANCY: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.62";
    /// eHDSIRareDisease (ORPHAcode).
    pub const RARE_DISEASE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.63";
    /// eHDSICertainty (FHIR ConditionVerificationStatus).
    pub const CERTAINTY: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.64";
    /// eHDSIBodySite (SNOMED CT).
    pub const BODY_SITE: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.42.65";

    /// Every value set above with its MVC `name`, for name ↔ OID lookups (data files may
    /// refer to a value set by either).
    pub const ALL: &[(&str, &str)] = &[
        ("eHDSIActiveIngredient", ACTIVE_INGREDIENT),
        ("eHDSIDoseForm", DOSE_FORM),
        ("eHDSIPackage", PACKAGE),
        ("eHDSIRouteofAdministration", ROUTE_OF_ADMINISTRATION),
        ("eHDSIUnit", UNIT),
        ("eHDSIIllnessandDisorder", ILLNESS_AND_DISORDER),
        (
            "eHDSIHealthcareProfessionalRole",
            HEALTHCARE_PROFESSIONAL_ROLE,
        ),
        ("eHDSICountry", COUNTRY),
        ("eHDSILanguage", LANGUAGE),
        ("eHDSISubstitutionCode", SUBSTITUTION_CODE),
        ("eHDSIMedicalDevice", MEDICAL_DEVICE),
        ("eHDSIPregnancyInformation", PREGNANCY_INFORMATION),
        ("eHDSIProcedure", PROCEDURE),
        ("eHDSIReactionAllergy", REACTION_ALLERGY),
        ("eHDSISeverity", SEVERITY),
        ("eHDSISocialHistory", SOCIAL_HISTORY),
        ("eHDSIStatusCode", STATUS_CODE),
        ("epSOSUnknownInformation", UNKNOWN_INFORMATION),
        ("eHDSIAdverseEventType", ADVERSE_EVENT_TYPE),
        ("eHDSIAllergenNoDrug", ALLERGEN_NO_DRUG),
        ("eHDSIBloodGroup", BLOOD_GROUP),
        ("eHDSIBloodPressure", BLOOD_PRESSURE),
        ("epSOSCodeNoMedication", CODE_NO_MEDICATION),
        ("eHDSICodeProb", CODE_PROB),
        ("eHDSISection", SECTION),
        ("eHDSIVaccine", VACCINE),
        ("eHDSIResolutionOutcome", RESOLUTION_OUTCOME),
        ("eHDSIConfidentiality", CONFIDENTIALITY),
        ("eHDSIDocumentCode", DOCUMENT_CODE),
        ("eHDSIAdministrativeGender", ADMINISTRATIVE_GENDER),
        ("eHDSINullFlavor", NULL_FLAVOR),
        ("eHDSIPersonalRelationship", PERSONAL_RELATIONSHIP),
        ("eHDSIRoleClass", ROLE_CLASS),
        ("eHDSITelecomAddress", TELECOM_ADDRESS),
        ("eHDSITimingEvent", TIMING_EVENT),
        ("eHDSIDisplayLabel", DISPLAY_LABEL),
        ("eHDSIAbsentOrUnknownAllergy", ABSENT_OR_UNKNOWN_ALLERGY),
        ("eHDSIAbsentOrUnknownDevice", ABSENT_OR_UNKNOWN_DEVICE),
        (
            "eHDSIAbsentOrUnknownMedication",
            ABSENT_OR_UNKNOWN_MEDICATION,
        ),
        ("eHDSIAbsentOrUnknownProblem", ABSENT_OR_UNKNOWN_PROBLEM),
        ("eHDSIAbsentOrUnknownProcedure", ABSENT_OR_UNKNOWN_PROCEDURE),
        ("eHDSIQuantityUnit", QUANTITY_UNIT),
        ("eHDSICriticality", CRITICALITY),
        ("eHDSIAllergyCertainty", ALLERGY_CERTAINTY),
        ("eHDSIAllergyStatus", ALLERGY_STATUS),
        ("eHDSICurrentPregnancyStatus", CURRENT_PREGNANCY_STATUS),
        ("eHDSIOutcomeOfPregnancy", OUTCOME_OF_PREGNANCY),
        ("eHDSIRareDisease", RARE_DISEASE),
        ("eHDSICertainty", CERTAINTY),
        ("eHDSIBodySite", BODY_SITE),
    ];

    /// The OID of a value set given its MVC name (`eHDSIDoseForm`) or its OID.
    pub fn resolve(name_or_oid: &str) -> Option<&'static str> {
        let s = name_or_oid.trim();
        let s = s.strip_prefix("urn:oid:").unwrap_or(s);
        ALL.iter()
            .find(|(name, oid)| *oid == s || name.eq_ignore_ascii_case(s))
            .map(|(_, oid)| *oid)
    }

    /// The MVC name of a well-known value set.
    pub fn name(oid: &str) -> Option<&'static str> {
        ALL.iter().find(|(_, o)| *o == oid).map(|(n, _)| *n)
    }
}

/// Code systems used by the eHDSI value sets and the Swedish services, beyond those in
/// [`ncp_types::systems`].
pub mod code_systems {
    use ncp_types::systems;
    use ncp_types::Oid;

    pub use ncp_types::systems::{ATC_OID, EDQM_OID, LOINC_OID, SNOMED_CT_OID, UCUM_OID};

    /// ICD-10-SE (Socialstyrelsen's Swedish edition), as Swedish services send it.
    pub const ICD10_SE_OID: &str = systems::ICD10_OID;
    /// The ICD-10 code system of eHDSIIllnessandDisorder (eHDSI's own OID for WHO ICD-10).
    pub const EHDSI_ICD10_OID: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.44.2";
    /// WHO ICD-10 (HL7 OID).
    pub const WHO_ICD10_OID: &str = "2.16.840.1.113883.6.3";
    /// ORPHAcode (eHDSIRareDisease).
    pub const ORPHACODE_OID: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.44.5";
    /// eHDSI medical device codes (eHDSIMedicalDevice).
    pub const EHDSI_DEVICE_OID: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.44.6";
    /// HL7 NullFlavor.
    pub const NULL_FLAVOR_OID: &str = "2.16.840.1.113883.5.1008";
    /// HL7 AdministrativeGender.
    pub const ADMINISTRATIVE_GENDER_OID: &str = "2.16.840.1.113883.5.1";
    /// HL7 Confidentiality.
    pub const CONFIDENTIALITY_OID: &str = "2.16.840.1.113883.5.25";
    /// HL7 ActSubstanceAdminSubstitutionCode (eHDSISubstitutionCode).
    pub const SUBSTITUTION_OID: &str = "2.16.840.1.113883.5.1070";
    /// NPL-id (Swedish medicinal product).
    pub const NPL_ID_OID: &str = systems::NPL_ID_OID;
    /// CDC vaccine codes (CVX), which Swedish immunization records carry beside ATC.
    pub const CVX_OID: &str = "2.16.840.1.113883.12.292";

    /// Short names for the systems above; data files may use these instead of OIDs.
    pub const ALIASES: &[(&str, &str)] = &[
        ("ATC", ATC_OID),
        ("EDQM", EDQM_OID),
        ("SNOMED", SNOMED_CT_OID),
        ("UCUM", UCUM_OID),
        ("LOINC", LOINC_OID),
        ("ICD10", EHDSI_ICD10_OID),
        ("ICD10SE", ICD10_SE_OID),
        ("ICD10WHO", WHO_ICD10_OID),
        ("ORPHA", ORPHACODE_OID),
        ("NPL", NPL_ID_OID),
        ("NULLFLAVOR", NULL_FLAVOR_OID),
        ("GENDER", ADMINISTRATIVE_GENDER_OID),
        ("CONFIDENTIALITY", CONFIDENTIALITY_OID),
        ("SUBSTITUTION", SUBSTITUTION_OID),
        ("EHDSIDEVICE", EHDSI_DEVICE_OID),
        ("CVX", CVX_OID),
    ];

    /// Display names for code systems (the CDA `@codeSystemName`).
    const NAMES: &[(&str, &str)] = &[
        (ATC_OID, "ATC"),
        (EDQM_OID, "EDQM"),
        (SNOMED_CT_OID, "SNOMED CT"),
        (UCUM_OID, "UCUM"),
        (LOINC_OID, "LOINC"),
        (EHDSI_ICD10_OID, "ICD-10"),
        (ICD10_SE_OID, "ICD-10-SE"),
        (WHO_ICD10_OID, "ICD-10"),
        (ORPHACODE_OID, "ORPHAcode"),
        (NPL_ID_OID, "NPL-id"),
        (NULL_FLAVOR_OID, "HL7 NullFlavor"),
        (ADMINISTRATIVE_GENDER_OID, "HL7 AdministrativeGender"),
        (CONFIDENTIALITY_OID, "HL7 Confidentiality"),
        (SUBSTITUTION_OID, "HL7 ActSubstanceAdminSubstitutionCode"),
        (EHDSI_DEVICE_OID, "eHDSI Medical Device"),
        (CVX_OID, "CVX"),
    ];

    /// FHIR system URIs of the code systems.
    const URIS: &[(&str, &str)] = &[
        (systems::ATC_URI, ATC_OID),
        (systems::EDQM_URI, EDQM_OID),
        (systems::SNOMED_CT_URI, SNOMED_CT_OID),
        (systems::UCUM_URI, UCUM_OID),
        (systems::LOINC_URI, LOINC_OID),
        (systems::NPL_ID_URI, NPL_ID_OID),
        ("http://hl7.org/fhir/sid/icd-10", WHO_ICD10_OID),
        ("http://hl7.org/fhir/sid/icd-10-se", ICD10_SE_OID),
        ("http://hl7.org/fhir/sid/cvx", CVX_OID),
        (
            "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
            NULL_FLAVOR_OID,
        ),
        (
            "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender",
            ADMINISTRATIVE_GENDER_OID,
        ),
        (
            "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
            CONFIDENTIALITY_OID,
        ),
        (
            "http://terminology.hl7.org/CodeSystem/v3-substanceAdminSubstitution",
            SUBSTITUTION_OID,
        ),
    ];

    /// Resolves an alias (`ATC`, case-insensitive) or a dotted / `urn:oid:` OID.
    pub fn resolve(alias_or_oid: &str) -> Option<Oid> {
        let s = alias_or_oid.trim();
        ALIASES
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(s))
            .and_then(|(_, oid)| Oid::parse(oid).ok())
            .or_else(|| Oid::parse(s).ok())
    }

    /// The OID for a FHIR `Coding.system` (known URI, `urn:oid:` or bare OID).
    pub fn from_uri(system: &str) -> Option<Oid> {
        let s = system.trim();
        URIS.iter()
            .find(|(uri, _)| *uri == s)
            .and_then(|(_, oid)| Oid::parse(oid).ok())
            .or_else(|| Oid::parse(s).ok())
    }

    /// The FHIR URI of a code system, when it has one; otherwise its `urn:oid:` form.
    pub fn to_uri(oid: &Oid) -> String {
        known_uri(oid)
            .map(str::to_owned)
            .unwrap_or_else(|| oid.to_urn())
    }

    /// The well-known FHIR URI of a code system, `None` for one that only has its `urn:oid:`
    /// form (what [`to_uri`] gives without allocating for the known ones).
    pub fn known_uri(oid: &Oid) -> Option<&'static str> {
        URIS.iter()
            .find(|(_, o)| *o == oid.as_str())
            .map(|(uri, _)| *uri)
    }

    /// The display name of a well-known code system.
    pub fn name(oid: &Oid) -> Option<&'static str> {
        NAMES
            .iter()
            .find(|(o, _)| *o == oid.as_str())
            .map(|(_, n)| *n)
    }
}

/// Terminology errors (loading data files).
#[derive(Debug, thiserror::Error)]
pub enum TerminologyError {
    #[error("cannot read {path}: {reason}")]
    Load { path: String, reason: String },
}
