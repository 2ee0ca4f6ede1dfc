//! XDS metadata (IHE ITI TF-3 §4.2) in ebRIM 3.0: the DocumentEntry as a typed struct, written
//! as an `ExtrinsicObject`, and the readers for slots, classifications and external identifiers.
//!
//! The eHDSI ePrescription list (XCA for class 57833-6) adds to each entry, as `eventCodeList`
//! classifications told apart by their coding scheme: the ATC code, the EDQM dose form, the
//! strength (scheme `eHDSI_Strength_CodeSystem`), the substitution code (HL7
//! ActSubstanceAdminSubstitution) and the dispensable flag (XDW `open` / `closed`). The L1 (PDF)
//! entry points to its L3 (CDA) entry with an `XFRM` association.

use ncp_types::Oid;

use super::{Code, IheError, PatientIdentifier};
use crate::soap::xml::{child, children, XmlWriter};

pub const RIM_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";
pub const RS_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0";
pub const QUERY_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0";
pub const LCM_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0";

/// DocumentEntry objectType (stable document).
pub const DOCUMENT_ENTRY_TYPE: &str = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1";
/// Classification node of a SubmissionSet RegistryPackage.
pub const SUBMISSION_SET_NODE: &str = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd";
pub const CLASSIFICATION_OBJECT_TYPE: &str =
    "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification";
pub const EXTERNAL_IDENTIFIER_OBJECT_TYPE: &str =
    "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier";
pub const STATUS_APPROVED: &str = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved";

/// Classification schemes of a DocumentEntry.
pub mod scheme {
    pub const CLASS_CODE: &str = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a";
    pub const TYPE_CODE: &str = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983";
    pub const FORMAT_CODE: &str = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d";
    pub const CONFIDENTIALITY_CODE: &str = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f";
    pub const HEALTHCARE_FACILITY_TYPE_CODE: &str = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1";
    pub const PRACTICE_SETTING_CODE: &str = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead";
    pub const EVENT_CODE_LIST: &str = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4";
    pub const AUTHOR: &str = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d";
    /// DocumentEntry external identifiers.
    pub const PATIENT_ID: &str = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427";
    pub const UNIQUE_ID: &str = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab";
    /// SubmissionSet classifications and external identifiers.
    pub const SUBMISSION_SET_UNIQUE_ID: &str = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8";
    pub const SUBMISSION_SET_SOURCE_ID: &str = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832";
    pub const SUBMISSION_SET_PATIENT_ID: &str = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446";
    pub const SUBMISSION_SET_CONTENT_TYPE: &str = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500";
}

/// eHDSI class codes (LOINC) and format codes.
pub mod codes {
    pub const LOINC: &str = "2.16.840.1.113883.6.1";
    pub const CLASS_EPRESCRIPTION: &str = "57833-6";
    pub const CLASS_PATIENT_SUMMARY: &str = "60591-5";
    pub const CLASS_EDISPENSATION: &str = "60593-1";
    pub const FORMAT_EPRESCRIPTION: &str = "urn:epSOS:ep:pre:2010";
    pub const FORMAT_PATIENT_SUMMARY: &str = "urn:epSOS:ps:ps:2010";
    pub const FORMAT_EDISPENSATION: &str = "urn:epSOS:ep:dis:2010";
    pub const FORMAT_EDISPENSATION_DISCARD: &str = "urn:eHDSI:ed:discard:2020";
    /// The L1 (PDF in CDA) rendition of any document.
    pub const FORMAT_PDF: &str = "urn:ihe:iti:xds-sd:pdf:2008";
    pub const FORMAT_SCHEME_EHDSI: &str = "eHDSI formatCodes";
    pub const FORMAT_SCHEME_IHE_PCC: &str = "IHE PCC";
    pub const CONFIDENTIALITY_SCHEME: &str = "2.16.840.1.113883.5.25";
    pub const ATC: &str = "2.16.840.1.113883.6.73";
    pub const EDQM: &str = "0.4.0.127.0.16.1.1.2.1";
    pub const STRENGTH: &str = "eHDSI_Strength_CodeSystem";
    pub const SUBSTITUTION: &str = "2.16.840.1.113883.5.1070";
    pub const XDW_WORKFLOW: &str = "1.3.6.1.4.1.19376.1.2.3";
    pub const XDW_OPEN: &str = "urn:ihe:iti:xdw:2011:eventCode:open";
    pub const XDW_CLOSED: &str = "urn:ihe:iti:xdw:2011:eventCode:closed";
    pub const ASSOCIATION_XFRM: &str = "urn:ihe:iti:2007:AssociationType:XFRM";
    pub const ASSOCIATION_HAS_MEMBER: &str =
        "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember";
    /// The referenceIdList slot (ITI TF-3 §4.2.3.2.28).
    pub const REFERENCE_ID_LIST: &str = "urn:ihe:iti:xds:2013:referenceIdList";
}

/// The ePrescription-specific metadata of an eHDSI ePrescription list entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EPrescriptionMetadata {
    /// The ATC code of the prescribed product (scheme 2.16.840.1.113883.6.73).
    pub atc: Option<Code>,
    /// The EDQM dose form.
    pub dose_form: Option<Code>,
    /// The strength as text ("10 mg").
    pub strength: Option<String>,
    /// The substitution code (HL7 ActSubstanceAdminSubstitution: `N`, `G`, `E`, ...).
    pub substitution: Option<Code>,
    /// Whether the prescription can be dispensed (XDW `open`) or not (`closed`).
    pub dispensable: bool,
}

/// An XDS DocumentEntry with the metadata eHDSI asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentEntry {
    /// The entryUUID (`urn:uuid:...`), the ExtrinsicObject's id.
    pub entry_uuid: String,
    /// XDSDocumentEntry.uniqueId (an OID, or `OID^extension`).
    pub unique_id: String,
    pub repository_unique_id: Oid,
    pub home_community_id: Oid,
    pub patient: PatientIdentifier,
    pub class_code: Code,
    pub type_code: Code,
    pub format_code: Code,
    pub confidentiality_code: Code,
    pub healthcare_facility_type: Option<Code>,
    pub practice_setting: Option<Code>,
    /// `sv-SE`.
    pub language_code: String,
    pub mime_type: String,
    /// HL7 DTM, UTC (`20250102123000`).
    pub creation_time: String,
    pub title: String,
    pub description: Option<String>,
    pub size: Option<u64>,
    /// SHA-1 of the document, hex.
    pub hash: Option<String>,
    pub author_person: Option<String>,
    /// CXi values for `urn:ihe:iti:xds:2013:referenceIdList`.
    pub reference_ids: Vec<String>,
    pub eprescription: Option<EPrescriptionMetadata>,
    /// For an L1 (PDF) entry: the entryUUID of the L3 entry it is a transformation of (XFRM).
    pub transformation_of: Option<String>,
}

/// Writes `<rim:Slot name=..><rim:ValueList><rim:Value>..` for each value.
pub fn write_slot(w: &mut XmlWriter, name: &str, values: &[&str]) {
    w.open("rim:Slot", &[("name", name)]);
    w.open("rim:ValueList", &[]);
    for v in values {
        w.leaf("rim:Value", &[], v);
    }
    w.close();
    w.close();
}

fn write_localized(w: &mut XmlWriter, element: &str, value: &str) {
    w.open(element, &[]);
    w.empty("rim:LocalizedString", &[("value", value)]);
    w.close();
}

/// A deterministic object id derived from `base` (a `urn:uuid:`) and a counter.
pub fn derived_id(base: &str, n: u32) -> String {
    let u = base
        .strip_prefix("urn:uuid:")
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .unwrap_or_else(uuid::Uuid::new_v4);
    let mix = (u128::from(n) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    let v = uuid::Builder::from_u128(u.as_u128() ^ mix)
        .with_variant(uuid::Variant::RFC4122)
        .with_version(uuid::Version::Random)
        .into_uuid();
    format!("urn:uuid:{v}")
}

/// Writes a coded classification.
pub fn write_classification(w: &mut XmlWriter, scheme: &str, object: &str, id: &str, code: &Code) {
    w.open(
        "rim:Classification",
        &[
            ("classificationScheme", scheme),
            ("classifiedObject", object),
            ("id", id),
            ("nodeRepresentation", &code.code),
            ("objectType", CLASSIFICATION_OBJECT_TYPE),
        ],
    );
    write_slot(w, "codingScheme", &[&code.scheme]);
    write_localized(w, "rim:Name", &code.display);
    w.close();
}

/// Writes an external identifier.
pub fn write_external_identifier(
    w: &mut XmlWriter,
    scheme: &str,
    object: &str,
    id: &str,
    value: &str,
    name: &str,
) {
    w.open(
        "rim:ExternalIdentifier",
        &[
            ("id", id),
            ("identificationScheme", scheme),
            ("objectType", EXTERNAL_IDENTIFIER_OBJECT_TYPE),
            ("registryObject", object),
            ("value", value),
        ],
    );
    write_localized(w, "rim:Name", name);
    w.close();
}

impl DocumentEntry {
    /// Writes the entry as a `rim:ExtrinsicObject` (the `rim` prefix must be bound).
    pub fn write(&self, w: &mut XmlWriter) {
        let id = self.entry_uuid.as_str();
        let home = self.home_community_id.to_urn();
        w.open(
            "rim:ExtrinsicObject",
            &[
                ("home", &home),
                ("id", id),
                ("lid", id),
                ("mimeType", &self.mime_type),
                ("objectType", DOCUMENT_ENTRY_TYPE),
                ("status", STATUS_APPROVED),
            ],
        );
        write_slot(w, "creationTime", &[&self.creation_time]);
        write_slot(w, "languageCode", &[&self.language_code]);
        write_slot(
            w,
            "repositoryUniqueId",
            &[self.repository_unique_id.as_str()],
        );
        write_slot(w, "sourcePatientId", &[&self.patient.to_cx()]);
        if let Some(size) = self.size {
            write_slot(w, "size", &[&size.to_string()]);
        }
        if let Some(hash) = &self.hash {
            write_slot(w, "hash", &[hash]);
        }
        if !self.reference_ids.is_empty() {
            let refs: Vec<&str> = self.reference_ids.iter().map(String::as_str).collect();
            write_slot(w, codes::REFERENCE_ID_LIST, &refs);
        }
        write_localized(w, "rim:Name", &self.title);
        if let Some(d) = &self.description {
            write_localized(w, "rim:Description", d);
        }
        w.open("rim:VersionInfo", &[("versionName", "1")]).close();

        let mut n = 0u32;
        let mut next = || {
            n += 1;
            derived_id(id, n)
        };
        if let Some(author) = &self.author_person {
            let cid = next();
            w.open(
                "rim:Classification",
                &[
                    ("classificationScheme", scheme::AUTHOR),
                    ("classifiedObject", id),
                    ("id", &cid),
                    ("nodeRepresentation", ""),
                    ("objectType", CLASSIFICATION_OBJECT_TYPE),
                ],
            );
            write_slot(w, "authorPerson", &[author]);
            w.close();
        }
        write_classification(w, scheme::CLASS_CODE, id, &next(), &self.class_code);
        write_classification(w, scheme::TYPE_CODE, id, &next(), &self.type_code);
        write_classification(w, scheme::FORMAT_CODE, id, &next(), &self.format_code);
        write_classification(
            w,
            scheme::CONFIDENTIALITY_CODE,
            id,
            &next(),
            &self.confidentiality_code,
        );
        if let Some(c) = &self.healthcare_facility_type {
            write_classification(w, scheme::HEALTHCARE_FACILITY_TYPE_CODE, id, &next(), c);
        }
        if let Some(c) = &self.practice_setting {
            write_classification(w, scheme::PRACTICE_SETTING_CODE, id, &next(), c);
        }
        if let Some(ep) = &self.eprescription {
            let flag = if ep.dispensable {
                Code::new(codes::XDW_OPEN, codes::XDW_WORKFLOW, "Open")
            } else {
                Code::new(codes::XDW_CLOSED, codes::XDW_WORKFLOW, "Closed")
            };
            write_classification(w, scheme::EVENT_CODE_LIST, id, &next(), &flag);
            if let Some(atc) = &ep.atc {
                write_classification(w, scheme::EVENT_CODE_LIST, id, &next(), atc);
            }
            if let Some(df) = &ep.dose_form {
                write_classification(w, scheme::EVENT_CODE_LIST, id, &next(), df);
            }
            if let Some(s) = &ep.strength {
                let c = Code::new(s, codes::STRENGTH, "Strength of medication");
                write_classification(w, scheme::EVENT_CODE_LIST, id, &next(), &c);
            }
            if let Some(sub) = &ep.substitution {
                write_classification(w, scheme::EVENT_CODE_LIST, id, &next(), sub);
            }
        }
        write_external_identifier(
            w,
            scheme::PATIENT_ID,
            id,
            &next(),
            &self.patient.to_cx(),
            "XDSDocumentEntry.patientId",
        );
        write_external_identifier(
            w,
            scheme::UNIQUE_ID,
            id,
            &next(),
            &self.unique_id,
            "XDSDocumentEntry.uniqueId",
        );
        w.close();
    }
}

/// The values of the slot `name` of a registry object.
pub fn slot_values(node: roxmltree::Node<'_, '_>, name: &str) -> Vec<String> {
    children(node, RIM_NS, "Slot")
        .filter(|s| s.attribute("name") == Some(name))
        .flat_map(|s| {
            child(s, RIM_NS, "ValueList")
                .into_iter()
                .flat_map(|vl| children(vl, RIM_NS, "Value"))
                .map(crate::soap::xml::text_of)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The first localized string of `rim:Name` or `rim:Description`.
pub fn localized(node: roxmltree::Node<'_, '_>, element: &str) -> Option<String> {
    child(node, RIM_NS, element)
        .and_then(|n| child(n, RIM_NS, "LocalizedString"))
        .and_then(|l| l.attribute("value"))
        .map(str::to_owned)
}

/// The classifications of `node` in `scheme`, as codes.
pub fn classifications(node: roxmltree::Node<'_, '_>, scheme: &str) -> Vec<Code> {
    children(node, RIM_NS, "Classification")
        .filter(|c| c.attribute("classificationScheme") == Some(scheme))
        .map(|c| Code {
            code: c.attribute("nodeRepresentation").unwrap_or("").to_owned(),
            scheme: slot_values(c, "codingScheme")
                .into_iter()
                .next()
                .unwrap_or_default(),
            display: localized(c, "Name").unwrap_or_default(),
        })
        .collect()
}

/// The value of the external identifier of `node` in `scheme`.
pub fn external_identifier(node: roxmltree::Node<'_, '_>, scheme: &str) -> Option<String> {
    children(node, RIM_NS, "ExternalIdentifier")
        .find(|e| e.attribute("identificationScheme") == Some(scheme))
        .and_then(|e| e.attribute("value"))
        .map(|v| v.trim().to_owned())
}

/// Reads the ePrescription metadata back from `eventCodeList` classifications.
pub fn read_eprescription(node: roxmltree::Node<'_, '_>) -> Option<EPrescriptionMetadata> {
    let events = classifications(node, scheme::EVENT_CODE_LIST);
    let by = |s: &str| events.iter().find(|c| c.scheme == s).cloned();
    let flag = by(codes::XDW_WORKFLOW)?;
    Some(EPrescriptionMetadata {
        atc: by(codes::ATC),
        dose_form: by(codes::EDQM),
        strength: by(codes::STRENGTH).map(|c| c.code),
        substitution: by(codes::SUBSTITUTION),
        dispensable: flag.code == codes::XDW_OPEN,
    })
}

/// Reads the core of a DocumentEntry from an `rim:ExtrinsicObject` (the fields a submission
/// must carry: entryUUID, uniqueId, patientId, classCode, formatCode).
pub fn read_entry_core(
    eo: roxmltree::Node<'_, '_>,
) -> Result<(String, String, PatientIdentifier, Code, Code), IheError> {
    let entry_uuid = eo
        .attribute("id")
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
        .ok_or(IheError::Missing("ExtrinsicObject id"))?;
    let unique_id = external_identifier(eo, scheme::UNIQUE_ID)
        .filter(|s| !s.is_empty())
        .ok_or(IheError::Missing("XDSDocumentEntry.uniqueId"))?;
    let patient = external_identifier(eo, scheme::PATIENT_ID)
        .ok_or(IheError::Missing("XDSDocumentEntry.patientId"))
        .and_then(|cx| PatientIdentifier::from_cx(&cx))?;
    let class_code = classifications(eo, scheme::CLASS_CODE)
        .into_iter()
        .next()
        .ok_or(IheError::Missing("XDSDocumentEntry.classCode"))?;
    let format_code = classifications(eo, scheme::FORMAT_CODE)
        .into_iter()
        .next()
        .ok_or(IheError::Missing("XDSDocumentEntry.formatCode"))?;
    Ok((entry_uuid, unique_id, patient, class_code, format_code))
}
