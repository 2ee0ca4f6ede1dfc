//! The typed model of what the bridge needs from an eHDSI CDA document.
//!
//! It is deliberately small: identifiers, people, organisations, and the medication content of
//! ePrescription and eDispensation entries. Everything optional in the eHDSI templates is an
//! `Option` or an empty `Vec` here, so documents from countries that leave parts out still read.

use std::fmt;

use ncp_types::{CountryCode, Oid};

/// eHDSI document template OIDs (ClinicalDocument/templateId/@root).
pub mod templates {
    pub const EPRESCRIPTION_L3: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.1.1";
    pub const EDISPENSATION: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.1.2";
    pub const PATIENT_SUMMARY_L3: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.1.3";
    pub const EPRESCRIPTION_L1: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.1.6";
    pub const PATIENT_SUMMARY_L1: &str = "1.3.6.1.4.1.12559.11.10.1.3.1.1.7";
}

/// Which eHDSI document this is, from its templateId.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    EPrescriptionL3,
    EPrescriptionL1,
    EDispensation,
    PatientSummaryL3,
    PatientSummaryL1,
}

impl DocumentKind {
    pub fn from_template(root: &str) -> Option<Self> {
        Some(match root.trim() {
            templates::EPRESCRIPTION_L3 => DocumentKind::EPrescriptionL3,
            templates::EPRESCRIPTION_L1 => DocumentKind::EPrescriptionL1,
            templates::EDISPENSATION => DocumentKind::EDispensation,
            templates::PATIENT_SUMMARY_L3 => DocumentKind::PatientSummaryL3,
            templates::PATIENT_SUMMARY_L1 => DocumentKind::PatientSummaryL1,
            _ => return None,
        })
    }

    pub fn template(self) -> &'static str {
        match self {
            DocumentKind::EPrescriptionL3 => templates::EPRESCRIPTION_L3,
            DocumentKind::EPrescriptionL1 => templates::EPRESCRIPTION_L1,
            DocumentKind::EDispensation => templates::EDISPENSATION,
            DocumentKind::PatientSummaryL3 => templates::PATIENT_SUMMARY_L3,
            DocumentKind::PatientSummaryL1 => templates::PATIENT_SUMMARY_L1,
        }
    }

    /// L1 documents carry a PDF in a nonXMLBody instead of coded entries.
    pub fn is_l1(self) -> bool {
        matches!(
            self,
            DocumentKind::EPrescriptionL1 | DocumentKind::PatientSummaryL1
        )
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DocumentKind::EPrescriptionL3 => "ePrescription L3",
            DocumentKind::EPrescriptionL1 => "ePrescription L1",
            DocumentKind::EDispensation => "eDispensation",
            DocumentKind::PatientSummaryL3 => "Patient Summary L3",
            DocumentKind::PatientSummaryL1 => "Patient Summary L1",
        })
    }
}

/// An HL7 v3 instance identifier (II): an OID root and an optional extension.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceId {
    pub root: Oid,
    pub extension: Option<String>,
}

impl InstanceId {
    /// One string naming the id uniquely: `extension` qualified by `root` (`root^extension`),
    /// or the bare root when there is no extension.
    pub fn qualified(&self) -> String {
        match &self.extension {
            Some(ext) => format!("{}^{}", self.root, ext),
            None => self.root.to_string(),
        }
    }
}

/// A coded value (CD/CE/CV) with its translations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub code: String,
    pub code_system: Oid,
    pub code_system_name: Option<String>,
    pub display: Option<String>,
    /// `<translation>` children that carry a code and a code system.
    pub translations: Vec<Code>,
}

/// A physical quantity (PQ). `value` is the decimal as written, validated as a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub value: Decimal,
    /// UCUM unit as written (`1` when absent, as HL7 defines).
    pub unit: String,
}

/// A decimal number kept in its written form (`16.00` stays `16.00`).
#[derive(Debug, Clone, PartialEq)]
pub struct Decimal(pub(crate) String);

impl Decimal {
    pub fn parse(s: &str) -> Option<Decimal> {
        let t = s.trim();
        let body = t.strip_prefix(['-', '+']).unwrap_or(t);
        let mut parts = body.splitn(2, '.');
        let int = parts.next().unwrap_or("");
        let frac = parts.next();
        let ok = !int.is_empty()
            && int.len() <= 18
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.is_none_or(|f| {
                !f.is_empty() && f.len() <= 18 && f.bytes().all(|b| b.is_ascii_digit())
            });
        ok.then(|| Decimal(t.trim_start_matches('+').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn to_f64(&self) -> f64 {
        self.0.parse().unwrap_or(0.0)
    }

    pub fn is_zero(&self) -> bool {
        self.to_f64() == 0.0
    }
}

/// A ratio of two quantities (strength: 500 mg / 1 tablet).
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    pub numerator: Quantity,
    pub denominator: Quantity,
}

/// An HL7 v3 point in time (TS), validated; kept with the precision it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub year: u16,
    pub month: Option<u8>,
    pub day: Option<u8>,
    /// Hour, minute, second.
    pub time: Option<(u8, u8, u8)>,
    /// Offset from UTC in minutes, when given.
    pub offset_minutes: Option<i16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Male,
    Female,
    Undifferentiated,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonName {
    pub family: Vec<String>,
    pub given: Vec<String>,
    pub prefix: Vec<String>,
    pub suffix: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub lines: Vec<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
    /// The country as written, and as a code when it is an ISO 3166-1 alpha-2 code.
    pub country_text: Option<String>,
    pub country: Option<CountryCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelecomKind {
    Phone,
    Email,
    Fax,
    Url,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telecom {
    pub kind: TelecomKind,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Organization {
    pub ids: Vec<InstanceId>,
    pub name: Option<String>,
    pub address: Option<Address>,
    pub telecoms: Vec<Telecom>,
}

impl Organization {
    pub fn country(&self) -> Option<CountryCode> {
        self.address.as_ref().and_then(|a| a.country)
    }
}

/// A person acting in a role: prescriber (author), pharmacist (performer), legal authenticator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Professional {
    pub ids: Vec<InstanceId>,
    pub name: Option<PersonName>,
    /// ISCO function (`221` Medical doctors, `2262` Pharmacists).
    pub function: Option<Code>,
    pub time: Option<Timestamp>,
    pub address: Option<Address>,
    pub telecoms: Vec<Telecom>,
    pub organization: Option<Organization>,
}

/// The patient (recordTarget/patientRole). Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Patient {
    /// At least one, the first being the primary identifier.
    pub ids: Vec<InstanceId>,
    pub names: Vec<PersonName>,
    pub gender: Option<Gender>,
    pub birth: Option<Timestamp>,
    pub address: Option<Address>,
    pub telecoms: Vec<Telecom>,
}

impl fmt::Debug for Patient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Patient(<{} ids, redacted>)", self.ids.len())
    }
}

/// One level of packaging: `quantity` of the content sits in a container of `form`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageLevel {
    /// How much of the inner content one container holds (3 mL; 5 syringes).
    pub quantity: Option<Quantity>,
    /// EDQM package form (`30009000` Box).
    pub form: Option<Code>,
    /// A package identifier (PCID, a national pack id).
    pub code: Option<Code>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ingredient {
    pub active: bool,
    /// The substance, normally ATC.
    pub substance: Option<Code>,
    pub name: Option<String>,
    pub strength: Option<Ratio>,
}

/// The medicinal product (manufacturedMaterial), or one part of a combination pack.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Product {
    pub name: Option<String>,
    /// Product codes (manufacturedMaterial/code, e.g. MPID or a national product id).
    pub codes: Vec<Code>,
    /// Free-text strength/description (`epsos:desc`).
    pub description: Option<String>,
    /// EDQM dose form.
    pub form: Option<Code>,
    /// Packaging, innermost first.
    pub packaging: Vec<PackageLevel>,
    /// Classes the product belongs to (asSpecializedKind: ATC class, PhPID).
    pub classes: Vec<Code>,
    pub ingredients: Vec<Ingredient>,
    /// Parts of a combination product (pharm:part), each with its quantity.
    pub parts: Vec<(Option<Quantity>, Product)>,
    pub manufacturer: Option<String>,
}

/// A PIVL_TS: every `period` (12 h).
#[derive(Debug, Clone, PartialEq)]
pub struct Frequency {
    pub period: Quantity,
    pub institution_specified: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DoseQuantity {
    Single(Quantity),
    Range {
        low: Option<Quantity>,
        high: Option<Quantity>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
}

/// One prescribed item (substanceAdministration, moodCode INT).
#[derive(Debug, Clone, PartialEq)]
pub struct PrescriptionItem {
    pub id: Option<InstanceId>,
    pub status: Option<String>,
    pub product: Product,
    /// Treatment / validity period (effectiveTime IVL_TS).
    pub period: Option<Period>,
    pub frequency: Option<Frequency>,
    pub dose: Option<DoseQuantity>,
    pub route: Option<Code>,
    /// Number of packages prescribed (supply/quantity).
    pub quantity: Option<Quantity>,
    pub repeats: Option<u32>,
    /// substanceAdministration substitution observation value (HL7 SubstanceAdminSubstitution).
    pub substitution: Option<Code>,
    pub patient_instructions: Option<String>,
    pub fulfillment_instructions: Option<String>,
    /// The prescriber of this item when the entry has its own author.
    pub prescriber: Option<Professional>,
}

/// What an eDispensation reports: a new dispensation, or the discard of an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispenseAction {
    Initialize,
    Discard,
}

/// One dispensed item (supply, moodCode EVN).
#[derive(Debug, Clone, PartialEq)]
pub struct DispenseItem {
    pub id: Option<InstanceId>,
    /// `supply/statusCode/@code` (`completed`; `nullified` marks a discard).
    pub status: Option<String>,
    pub product: Product,
    /// Dispensed quantity (number of packages, or units).
    pub quantity: Option<Quantity>,
    /// The prescription item dispensed against (entryRelationship REFR substanceAdministration/id).
    pub prescription_item: Option<InstanceId>,
    pub pharmacist: Option<Professional>,
    /// True when the supply carries the SUBST act (a substitution took place).
    pub substituted: bool,
    pub substitution_code: Option<Code>,
}

/// An L1 document body (nonXMLBody/text).
#[derive(Clone, PartialEq, Eq)]
pub struct NonXmlBody {
    pub media_type: String,
    /// Base64 content without whitespace.
    pub base64: String,
}

impl fmt::Debug for NonXmlBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NonXmlBody({}, {} base64 chars)",
            self.media_type,
            self.base64.len()
        )
    }
}

/// The parsed document.
#[derive(Debug, Clone, PartialEq)]
pub struct CdaDocument {
    pub kind: DocumentKind,
    pub id: InstanceId,
    pub set_id: Option<InstanceId>,
    pub code: Option<Code>,
    pub title: Option<String>,
    pub effective_time: Option<Timestamp>,
    pub language: Option<String>,
    pub patient: Patient,
    pub author: Option<Professional>,
    pub custodian: Option<Organization>,
    /// inFulfillmentOf/order/id (eDispensation: the ePrescription it fulfils).
    pub in_fulfillment_of: Vec<InstanceId>,
    /// relatedDocument typeCode and parentDocument/id.
    pub related: Vec<(String, InstanceId)>,
    pub prescriptions: Vec<PrescriptionItem>,
    pub dispensations: Vec<DispenseItem>,
    /// Patient Summary L3: the sections, in document order.
    pub sections: Vec<PsSection>,
    /// What the reader left out of an otherwise usable document (an entry it could not
    /// read), each naming the element and why. Never patient data.
    pub warnings: Vec<String>,
    pub non_xml_body: Option<NonXmlBody>,
}

/// What kind of clinical statement a Patient Summary entry is (from its section and
/// element).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsEntryKind {
    /// Allergy or intolerance (act/observation with the agent as participant).
    Allergy,
    /// A medicine taken (substanceAdministration).
    Medication,
    /// A current problem (active problems section).
    Problem,
    /// A resolved problem (history of past illness section).
    PastProblem,
    Procedure,
    /// A medical device or implant (supply with the device as participant).
    Device,
    Immunization,
    /// Results, vital signs, pregnancy, social history, functional status.
    Observation,
}

/// One Patient Summary entry: the clinical statement as far as the FHIR resources need it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PsEntry {
    pub kind: Option<PsEntryKind>,
    pub id: Option<InstanceId>,
    /// The statement's `code` (problem type, procedure, observation code).
    pub code: Option<Code>,
    /// A coded observation value (the condition, the allergy type, a coded result).
    pub value: Option<Code>,
    pub value_quantity: Option<Quantity>,
    pub value_text: Option<String>,
    /// The allergen (participant CSM playingEntity) or device (playingDevice) code.
    pub agent: Option<Code>,
    /// Allergy reactions (MFST observations' values).
    pub reactions: Vec<Code>,
    /// Why a medicine is taken (RSON observations' values).
    pub reasons: Vec<Code>,
    /// Medicine or vaccine.
    pub product: Option<Product>,
    pub route: Option<Code>,
    pub dose: Option<DoseQuantity>,
    /// `statusCode/@code`.
    pub status: Option<String>,
    pub period: Option<Period>,
    /// Original text (the narrative an entry's `text/reference` points at).
    pub text: Option<String>,
    /// `negationInd="true"` (e.g. no known allergies, a vaccine not given).
    pub negated: bool,
}

/// A Patient Summary section (structuredBody/component/section).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PsSection {
    /// The LOINC section code (`48765-2` allergies, `10160-0` medication, ...).
    pub code: Option<Code>,
    pub title: Option<String>,
    /// The narrative, whitespace collapsed.
    pub text: Option<String>,
    pub entries: Vec<PsEntry>,
}

impl CdaDocument {
    /// The country the document comes from: the custodian's, else the author organisation's.
    pub fn country(&self) -> Option<CountryCode> {
        self.custodian
            .as_ref()
            .and_then(Organization::country)
            .or_else(|| {
                self.author
                    .as_ref()
                    .and_then(|a| a.organization.as_ref())
                    .and_then(Organization::country)
            })
    }
}
