//! The business rules of Sweden as country A, as pure functions over NLL's FHIR JSON: whether a
//! prescription can be dispensed, the eHDSI list metadata of a prescription, the document ids
//! and how they map back, and which eHDSI error answers a failure of a national service.
//!
//! No I/O here: [`super::CountryA`] fetches, these decide.

use chrono::NaiveDate;
use ncp_types::systems::{ATC_OID, ATC_URI, EDQM_OID, EDQM_URI};
use ncp_types::{Oid, PersonId, PrescriptionId};
use nll_adapter::AdapterError;
use serde_json::Value;

use crate::ihe::errors::EhdsiError;
use crate::ihe::metadata::{codes, DocumentEntry, EPrescriptionMetadata};
use crate::ihe::{Code, PatientIdentifier};

/// The NLL extension counting the dispensations left.
pub const REMAINING_EXTENSION: &str =
    "http://electronichealth.se/fhir/StructureDefinition/nll-remaining-dispensations";
/// The id suffix of the L1 (PDF) rendition, as `cda_fhir_transform::to_cda` writes it.
pub const L1_SUFFIX: &str = ".L1";
/// HL7 ActSubstanceAdminSubstitution.
pub const SUBSTITUTION_SYSTEM: &str = "2.16.840.1.113883.5.1070";

/// Whether a prescription can be dispensed today, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispensability {
    Dispensable,
    /// `dispenseRequest.validityPeriod.end` has passed.
    Expired,
    /// `dispenseRequest.validityPeriod.start` is still ahead.
    NotYetValid,
    /// `completed`, or no dispensations left.
    FullyDispensed,
    /// `stopped`, `cancelled` or another status than `active`.
    NotActive,
}

impl Dispensability {
    /// The eHDSI error refusing a dispensation of such a prescription (`None` when it may be
    /// dispensed).
    pub fn refusal(self) -> Option<EhdsiError> {
        match self {
            Dispensability::Dispensable => None,
            Dispensability::FullyDispensed => Some(EhdsiError::EPrescriptionAlreadyDispensed),
            Dispensability::Expired | Dispensability::NotYetValid | Dispensability::NotActive => {
                Some(EhdsiError::ErrorEdNotDispensableEPrescription)
            }
        }
    }
}

fn date_of(v: &Value) -> Option<NaiveDate> {
    let s = v.as_str()?;
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

/// Decides whether the NLLMedicationRequest `mr` can be dispensed on `today`, in NLL's order of
/// checks: status, validity end, validity start, remaining dispensations.
pub fn dispensability(mr: &Value, today: NaiveDate) -> Dispensability {
    match mr["status"].as_str() {
        Some("active") => {}
        Some("completed") => return Dispensability::FullyDispensed,
        _ => return Dispensability::NotActive,
    }
    let validity = &mr["dispenseRequest"]["validityPeriod"];
    if date_of(&validity["end"]).is_some_and(|end| end < today) {
        return Dispensability::Expired;
    }
    if date_of(&validity["start"]).is_some_and(|start| start > today) {
        return Dispensability::NotYetValid;
    }
    let remaining = mr["dispenseRequest"]["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["url"] == REMAINING_EXTENSION)
        .and_then(|e| e["valueInteger"].as_i64());
    if remaining.is_some_and(|r| r <= 0) {
        return Dispensability::FullyDispensed;
    }
    Dispensability::Dispensable
}

fn coding_in<'a>(concept: &'a Value, systems: &[&str]) -> Option<&'a Value> {
    concept["coding"].as_array()?.iter().find(|c| {
        c["system"].as_str().is_some_and(|s| {
            let s = s.strip_prefix("urn:oid:").unwrap_or(s);
            systems.contains(&s)
        })
    })
}

fn code_from(coding: &Value, scheme: &str) -> Option<Code> {
    let code = coding["code"].as_str()?.trim();
    (!code.is_empty()).then(|| {
        Code::new(
            code,
            scheme,
            coding["display"].as_str().unwrap_or_default().trim(),
        )
    })
}

fn number(v: &Value) -> Option<String> {
    if let Some(i) = v.as_i64() {
        return Some(i.to_string());
    }
    v.as_f64().map(|f| {
        let s = format!("{f}");
        s.trim_end_matches(".0").to_owned()
    })
}

/// The strength of the active ingredients as text (`500 mg`, `500 mg + 30 mg`).
fn strength(medication: &Value) -> Option<String> {
    let parts: Vec<String> = medication["ingredient"]
        .as_array()?
        .iter()
        .filter(|i| i["isActive"].as_bool() != Some(false))
        .filter_map(|i| {
            let n = &i["strength"]["numerator"];
            let value = number(&n["value"])?;
            let unit = n["unit"].as_str().or_else(|| n["code"].as_str())?;
            Some(format!("{value} {unit}"))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" + "))
}

/// The eHDSI ePrescription list metadata of `mr` with its `medication`.
pub fn eprescription_metadata(
    mr: &Value,
    medication: Option<&Value>,
    today: NaiveDate,
) -> EPrescriptionMetadata {
    let empty = Value::Null;
    let med = medication.unwrap_or(&empty);
    let substitution = match mr["substitution"]["allowedBoolean"].as_bool() {
        Some(false) => Code::new("N", SUBSTITUTION_SYSTEM, "none"),
        _ => Code::new("G", SUBSTITUTION_SYSTEM, "generic composition"),
    };
    EPrescriptionMetadata {
        atc: coding_in(&med["code"], &[ATC_URI, ATC_OID]).and_then(|c| code_from(c, codes::ATC)),
        dose_form: coding_in(&med["form"], &[EDQM_URI, EDQM_OID])
            .and_then(|c| code_from(c, codes::EDQM)),
        strength: strength(med),
        substitution: Some(substitution),
        dispensable: dispensability(mr, today) == Dispensability::Dispensable,
    }
}

/// Which rendition of a prescription a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// The structured CDA (L3).
    L3,
    /// The PDF in CDA (L1).
    L1,
}

/// The document unique id (`root^extension`) of a prescription's rendition: the same id
/// `to_cda` writes as `ClinicalDocument/id`.
pub fn document_id(document_root: &Oid, prescription: &PrescriptionId, level: Level) -> String {
    match level {
        Level::L3 => format!("{document_root}^{}", prescription.as_str()),
        Level::L1 => format!(
            "{document_root}^{}",
            cda_fhir_transform::to_cda::l1_document_extension(prescription)
        ),
    }
}

/// The prescription and rendition a document unique id names, if it is one of ours.
pub fn parse_document_id(document_root: &Oid, unique_id: &str) -> Option<(PrescriptionId, Level)> {
    let (root, ext) = unique_id.trim().split_once('^')?;
    if root != document_root.as_str() {
        return None;
    }
    let (rx, level) = match ext.strip_suffix(L1_SUFFIX) {
        Some(rx) => (rx, Level::L1),
        None => (ext, Level::L3),
    };
    if rx.is_empty() || rx.contains(['^', '&']) {
        return None;
    }
    Some((PrescriptionId::new(rx).ok()?, level))
}

/// A stable `urn:uuid:` for a document unique id, so a list answered twice names its entries
/// the same way (FNV-1a, 128 bit).
pub fn entry_uuid(unique_id: &str) -> String {
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013B;
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in unique_id.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(PRIME);
    }
    let u = uuid::Builder::from_u128(h)
        .with_variant(uuid::Variant::RFC4122)
        .with_version(uuid::Version::Random)
        .into_uuid();
    format!("urn:uuid:{u}")
}

/// HL7 DTM of a FHIR date or dateTime (`2025-01-02` → `20250102`, a dateTime in UTC).
pub fn hl7_time(fhir: &str) -> Option<String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(fhir) {
        return Some(
            t.with_timezone(&chrono::Utc)
                .format("%Y%m%d%H%M%S")
                .to_string(),
        );
    }
    NaiveDate::parse_from_str(fhir.get(..10)?, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y%m%d").to_string())
}

/// The creation time of the documents made from an NLL prescription: the version's
/// `meta.lastUpdated`, else its `authoredOn` (a date counts from midnight UTC). The same
/// prescription version always gives the same document bytes, and the documents agree with
/// the `creationTime` the list announced; `None` when NLL gives neither.
pub fn document_time(mr: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let rfc3339 = |v: &Value| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    rfc3339(&mr["meta"]["lastUpdated"])
        .or_else(|| rfc3339(&mr["authoredOn"]))
        .or_else(|| {
            let date = mr["authoredOn"].as_str()?.get(..10)?;
            let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
            Some(d.and_hms_opt(0, 0, 0)?.and_utc().fixed_offset())
        })
}

/// What every entry of the list shares.
#[derive(Debug, Clone)]
pub struct EntrySettings {
    pub home_community_id: Oid,
    pub repository_unique_id: Oid,
    /// `ClinicalDocument/id/@root` of our ePrescriptions.
    pub document_root: Oid,
}

/// The L3 and L1 entries of one prescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrescriptionDocuments {
    pub prescription: PrescriptionId,
    pub l3: DocumentEntry,
    pub l1: DocumentEntry,
}

/// The eHDSI list entries of `mr` (an NLLMedicationRequest) for `patient`: the L3 CDA and its
/// L1 PDF rendition (an XFRM of the L3 entry), with the ePrescription metadata.
pub fn prescription_documents(
    settings: &EntrySettings,
    patient: &PatientIdentifier,
    mr: &Value,
    medication: Option<&Value>,
    today: NaiveDate,
) -> Option<PrescriptionDocuments> {
    let prescription = PrescriptionId::new(mr["id"].as_str()?).ok()?;
    let meta = eprescription_metadata(mr, medication, today);
    let creation_time = mr["authoredOn"]
        .as_str()
        .and_then(hl7_time)
        .unwrap_or_default();
    let product = medication
        .and_then(|m| m["code"]["text"].as_str())
        .map(str::to_owned);
    let class = Code::new(codes::CLASS_EPRESCRIPTION, codes::LOINC, "ePrescription");
    let l3_id = document_id(&settings.document_root, &prescription, Level::L3);
    let l1_id = document_id(&settings.document_root, &prescription, Level::L1);
    let l3 = DocumentEntry {
        entry_uuid: entry_uuid(&l3_id),
        unique_id: l3_id,
        repository_unique_id: settings.repository_unique_id.clone(),
        home_community_id: settings.home_community_id.clone(),
        patient: patient.clone(),
        class_code: class.clone(),
        type_code: class,
        format_code: Code::new(
            codes::FORMAT_EPRESCRIPTION,
            codes::FORMAT_SCHEME_EHDSI,
            "epSOS coded ePrescription",
        ),
        confidentiality_code: Code::new("N", codes::CONFIDENTIALITY_SCHEME, "Normal"),
        healthcare_facility_type: None,
        practice_setting: None,
        language_code: "sv-SE".into(),
        mime_type: "text/xml".into(),
        creation_time,
        title: "ePrescription".into(),
        description: product,
        size: None,
        hash: None,
        author_person: None,
        reference_ids: Vec::new(),
        eprescription: Some(meta),
        transformation_of: None,
    };
    let l1 = DocumentEntry {
        entry_uuid: entry_uuid(&l1_id),
        unique_id: l1_id,
        format_code: Code::new(codes::FORMAT_PDF, codes::FORMAT_SCHEME_IHE_PCC, "PDF"),
        title: "ePrescription (PDF)".into(),
        transformation_of: Some(l3.entry_uuid.clone()),
        ..l3.clone()
    };
    Some(PrescriptionDocuments {
        prescription,
        l3,
        l1,
    })
}

/// Whether the Patient resource `patient` carries the personal identity number `id`.
pub fn is_patient(patient: &Value, id: &PersonId) -> bool {
    patient["identifier"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|i| {
            let system = i["system"].as_str().unwrap_or_default();
            let value = i["value"].as_str().unwrap_or_default();
            PersonId::from_identifier(system, value).is_ok_and(|p| &p == id)
        })
}

/// How a failed NLL call answers a list or retrieve of ePrescriptions.
pub fn prescription_read_error(e: &AdapterError) -> EhdsiError {
    match e {
        AdapterError::NotFound { .. } => EhdsiError::ErrorDocumentMissing,
        e if e.is_transient() => EhdsiError::EPrescriptionRegistryNotAccessible,
        AdapterError::TooManyPages { .. } => EhdsiError::EPrescriptionRegistryNotAccessible,
        _ => EhdsiError::ErrorEpGeneric,
    }
}

/// How a failed NLL call answers a submitted eDispensation.
pub fn dispense_error(e: &AdapterError) -> EhdsiError {
    match e {
        AdapterError::NotFound { .. } => EhdsiError::EPrescriptionNotMatching,
        // Locked by a dispensation in progress, expired, no dispensations left, spärr: NLL
        // re-checks atomically what we checked before.
        AdapterError::Conflict { .. } => EhdsiError::ErrorEdNotDispensableEPrescription,
        e if e.is_transient() => EhdsiError::EPrescriptionRegistryNotAccessible,
        _ => EhdsiError::ErrorEdEPrescriptionNotUpdated,
    }
}

/// How a failed NLL call answers a discard.
pub fn discard_error(e: &AdapterError) -> EhdsiError {
    match e {
        e if e.is_transient() => EhdsiError::EPrescriptionRegistryNotAccessible,
        _ => EhdsiError::ErrorEdDiscardFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn document_time_is_the_prescription_versions_not_the_clock() {
        let with_meta = json!({"meta": {"lastUpdated": "2026-10-01T08:30:00+02:00"}, "authoredOn": "2026-09-01"});
        assert_eq!(
            document_time(&with_meta).unwrap().to_rfc3339(),
            "2026-10-01T08:30:00+02:00"
        );
        let date_only = json!({"authoredOn": "2026-09-01"});
        assert_eq!(
            document_time(&date_only).unwrap().to_rfc3339(),
            "2026-09-01T00:00:00+00:00"
        );
        assert_eq!(document_time(&json!({"authoredOn": "soon"})), None);
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
    }

    fn rx(status: &str, start: &str, end: &str, remaining: i64) -> Value {
        json!({
            "resourceType": "MedicationRequest",
            "id": "rx-1",
            "status": status,
            "authoredOn": "2026-10-01",
            "dispenseRequest": {
                "validityPeriod": {"start": start, "end": end},
                "extension": [{"url": REMAINING_EXTENSION, "valueInteger": remaining}]
            },
            "substitution": {"allowedBoolean": false}
        })
    }

    #[test]
    fn dispensability_in_nll_order() {
        let t = today();
        let d = |v: Value| dispensability(&v, t);
        assert_eq!(
            d(rx("active", "2026-10-01", "2027-10-01", 2)),
            Dispensability::Dispensable
        );
        assert_eq!(
            d(rx("active", "2026-10-01", "2026-11-24", 2)),
            Dispensability::Dispensable,
            "valid through its last day"
        );
        assert_eq!(
            d(rx("active", "2025-10-01", "2026-11-23", 2)),
            Dispensability::Expired
        );
        assert_eq!(
            d(rx("active", "2026-12-01", "2027-12-01", 2)),
            Dispensability::NotYetValid
        );
        assert_eq!(
            d(rx("active", "2026-10-01", "2027-10-01", 0)),
            Dispensability::FullyDispensed
        );
        assert_eq!(
            d(rx("completed", "2026-10-01", "2027-10-01", 0)),
            Dispensability::FullyDispensed
        );
        assert_eq!(
            d(rx("stopped", "2026-10-01", "2027-10-01", 2)),
            Dispensability::NotActive
        );
        // Expired and completed: completed wins, as in NLL.
        assert_eq!(
            d(rx("completed", "2025-10-01", "2025-11-01", 0)),
            Dispensability::FullyDispensed
        );
    }

    #[test]
    fn refusals_are_the_ehdsi_codes() {
        assert_eq!(Dispensability::Dispensable.refusal(), None);
        assert_eq!(
            Dispensability::FullyDispensed.refusal(),
            Some(EhdsiError::EPrescriptionAlreadyDispensed)
        );
        for d in [
            Dispensability::Expired,
            Dispensability::NotYetValid,
            Dispensability::NotActive,
        ] {
            assert_eq!(
                d.refusal(),
                Some(EhdsiError::ErrorEdNotDispensableEPrescription)
            );
        }
    }

    fn citodon() -> Value {
        json!({
            "resourceType": "Medication",
            "id": "med-citodon",
            "code": {
                "coding": [
                    {"system": "http://electronichealth.se/identifier/nplid", "code": "1", "display": "Citodon"},
                    {"system": "http://www.whocc.no/atc", "code": "N02AJ06", "display": "kodein och paracetamol"}
                ],
                "text": "Citodon 500 mg/30 mg tablett"
            },
            "form": {"coding": [{"system": "http://standardterms.edqm.eu", "code": "10219000", "display": "Tablet"}]},
            "ingredient": [
                {"isActive": true, "strength": {"numerator": {"value": 500, "unit": "mg"}, "denominator": {"value": 1, "unit": "tablett"}}},
                {"isActive": true, "strength": {"numerator": {"value": 30.0, "unit": "mg"}, "denominator": {"value": 1, "unit": "tablett"}}},
                {"isActive": false, "strength": {"numerator": {"value": 5, "unit": "mg"}}}
            ]
        })
    }

    #[test]
    fn metadata_from_nll() {
        let med = citodon();
        let m = eprescription_metadata(
            &rx("active", "2026-10-01", "2027-10-01", 1),
            Some(&med),
            today(),
        );
        let atc = m.atc.unwrap();
        assert_eq!(
            (atc.code.as_str(), atc.scheme.as_str()),
            ("N02AJ06", ATC_OID)
        );
        let form = m.dose_form.unwrap();
        assert_eq!(
            (form.code.as_str(), form.scheme.as_str()),
            ("10219000", EDQM_OID)
        );
        assert_eq!(m.strength.as_deref(), Some("500 mg + 30 mg"));
        assert_eq!(m.substitution.unwrap().code, "N");
        assert!(m.dispensable);

        let mut allowed = rx("active", "2025-10-01", "2025-11-01", 1);
        allowed["substitution"]["allowedBoolean"] = json!(true);
        let m = eprescription_metadata(&allowed, None, today());
        assert_eq!(m.substitution.unwrap().code, "G");
        assert!(!m.dispensable, "expired");
        assert!(m.atc.is_none() && m.strength.is_none());
    }

    #[test]
    fn document_ids_map_back() {
        let root = Oid::parse("1.2.752.129.2.1.99.2.1").unwrap();
        let rx = PrescriptionId::new("rx-p01-03").unwrap();
        let l3 = document_id(&root, &rx, Level::L3);
        let l1 = document_id(&root, &rx, Level::L1);
        assert_eq!(l3, "1.2.752.129.2.1.99.2.1^rx-p01-03");
        assert_eq!(l1, "1.2.752.129.2.1.99.2.1^rx-p01-03.L1");
        assert_eq!(parse_document_id(&root, &l3), Some((rx.clone(), Level::L3)));
        assert_eq!(parse_document_id(&root, &l1), Some((rx, Level::L1)));
        assert_eq!(parse_document_id(&root, "1.2.3^rx-p01-03"), None);
        assert_eq!(parse_document_id(&root, "1.2.752.129.2.1.99.2.1"), None);
        assert_eq!(parse_document_id(&root, "1.2.752.129.2.1.99.2.1^"), None);
        assert_eq!(entry_uuid(&l3), entry_uuid(&l3));
        assert_ne!(entry_uuid(&l3), entry_uuid(&l1));
        assert!(entry_uuid(&l3).starts_with("urn:uuid:"));
    }

    #[test]
    fn entries_pair_l3_and_l1() {
        let settings = EntrySettings {
            home_community_id: Oid::parse("1.2.752.129.2.1.99.1").unwrap(),
            repository_unique_id: Oid::parse("1.2.752.129.2.1.99.1").unwrap(),
            document_root: Oid::parse("1.2.752.129.2.1.99.2.1").unwrap(),
        };
        let patient =
            PatientIdentifier::new(Oid::parse("1.2.752.129.2.1.3.1").unwrap(), "191212121212");
        let med = citodon();
        let d = prescription_documents(
            &settings,
            &patient,
            &rx("active", "2026-10-01", "2027-10-01", 1),
            Some(&med),
            today(),
        )
        .unwrap();
        assert_eq!(d.prescription.as_str(), "rx-1");
        assert_eq!(d.l3.format_code.code, codes::FORMAT_EPRESCRIPTION);
        assert_eq!(d.l1.format_code.code, codes::FORMAT_PDF);
        assert_eq!(
            d.l1.transformation_of.as_deref(),
            Some(d.l3.entry_uuid.as_str())
        );
        assert_eq!(d.l3.creation_time, "20261001");
        assert_eq!(d.l3.eprescription, d.l1.eprescription);
    }

    #[test]
    fn errors_map_to_ehdsi() {
        let unavailable = AdapterError::Unavailable { retry_after: None };
        assert_eq!(
            prescription_read_error(&unavailable),
            EhdsiError::EPrescriptionRegistryNotAccessible
        );
        assert_eq!(
            dispense_error(&AdapterError::Conflict {
                reason: "locked".into()
            }),
            EhdsiError::ErrorEdNotDispensableEPrescription
        );
        assert_eq!(
            dispense_error(&AdapterError::NotFound { reason: "x".into() }),
            EhdsiError::EPrescriptionNotMatching
        );
        assert_eq!(
            discard_error(&AdapterError::Timeout),
            EhdsiError::EPrescriptionRegistryNotAccessible
        );
        let p = PersonId::parse("19121212-1212").unwrap();
        let pat = json!({"identifier": [{"system": "urn:oid:1.2.752.129.2.1.3.1", "value": "191212121212"}]});
        assert!(is_patient(&pat, &p));
        assert!(!is_patient(&json!({}), &p));
    }
}
