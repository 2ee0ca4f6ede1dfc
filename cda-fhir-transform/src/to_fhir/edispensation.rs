//! Country A: an eDispensation of a Swedish prescription, dispensed abroad -> the FHIR
//! `MedicationDispense` NLL records (or, for a discard, the instruction to mark the earlier one
//! `entered-in-error`).
//!
//! How a discard is recognised: the Wave 8 eDispensation templates (document
//! 1.3.6.1.4.1.12559.11.10.1.3.1.1.2, supply 1.3.6.1.4.1.12559.11.10.1.3.1.3.3) have no discard
//! code; eHDSI carries a discard as its own transaction (Discard Dispensation) that resends the
//! eDispensation being withdrawn. So: a supply whose `statusCode` is `nullified` (HL7 ActStatus:
//! "created in error, treat as though it never existed") reads as a discard, and a caller that
//! received the document through the discard transaction says so with
//! [`DispenseAction::Discard`] (see [`super::edispensation_discard_to_fhir`]). The discard
//! targets the dispensation recorded under the document it replaces
//! (`relatedDocument[@typeCode='RPLC']/parentDocument/id`, as this crate's `to_cda` writes a
//! discard), else under its own id (a resent original).

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use ncp_types::systems::IdentifierSystem;
use ncp_types::PersonId;

use super::cda_model::*;
use super::eprescription::{MedicationJ, OrganizationJ, PackageCountJ, PartsJ, PractitionerJ};
use super::fhir_json::*;
use super::FromCdaError;

/// What the bridge must do in NLL for one dispensed item.
#[derive(Debug, Clone, PartialEq)]
pub struct DispenseInstruction {
    pub action: DispenseAction,
    /// The NLL idempotency identifier (`nll-dispense-id` system): the eDispensation document
    /// id (`root^extension`), with `#n` appended when the document holds several items.
    pub dispense_id: String,
    /// The Swedish prescription (NLL `MedicationRequest`) this dispensation fulfils.
    pub prescription_id: String,
    /// The `MedicationDispense` (status `completed`, or `entered-in-error` for a discard).
    pub resource: Value,
}

/// The transaction request of an instruction: a conditional create (`POST` with
/// `ifNoneExist` on the dispense identifier) to record, or a conditional update (`PUT
/// MedicationDispense?identifier=…`) to mark the dispensation `entered-in-error`.
struct RequestJ<'a> {
    action: DispenseAction,
    dispense_id: &'a str,
}

impl Serialize for RequestJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let search = format!("identifier={NLL_DISPENSE_ID_SYSTEM}|{}", self.dispense_id);
        let mut m = s.serialize_map(None)?;
        match self.action {
            DispenseAction::Initialize => {
                m.serialize_entry("method", "POST")?;
                m.serialize_entry("url", "MedicationDispense")?;
                m.serialize_entry("ifNoneExist", &search)?;
            }
            DispenseAction::Discard => {
                m.serialize_entry("method", "PUT")?;
                m.serialize_entry("url", &format!("MedicationDispense?{search}"))?;
            }
        }
        m.end()
    }
}

fn full_url(dispense_id: &str) -> String {
    stable_uuid(&format!("dispense/{dispense_id}"))
}

impl DispenseInstruction {
    /// The transaction Bundle entry: a conditional create (`POST` with `ifNoneExist` on the
    /// dispense identifier) to record, or a conditional update (`PUT
    /// MedicationDispense?identifier=…`) to mark the dispensation `entered-in-error`.
    pub fn bundle_entry(&self) -> Value {
        j!({
            "fullUrl": full_url(&self.dispense_id),
            "resource": self.resource.clone(),
            "request": to_value(&RequestJ {
                action: self.action,
                dispense_id: &self.dispense_id,
            }),
        })
    }
}

/// A `transaction` Bundle carrying every instruction.
pub fn transaction_bundle(instructions: &[DispenseInstruction]) -> Value {
    j!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": instructions.iter().map(DispenseInstruction::bundle_entry).collect::<Vec<_>>(),
    })
}

/// The `transaction` Bundle of a document's dispensations, ready to be written (the same
/// JSON as [`transaction_bundle`] of its instructions).
pub(crate) struct TransactionJ<'a>(pub Vec<DispenseJ<'a>>);

impl Serialize for TransactionJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct EntryJ<'a>(&'a DispenseJ<'a>);
        impl Serialize for EntryJ<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let d = self.0;
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("fullUrl", &full_url(&d.dispense_id))?;
                m.serialize_entry("resource", d)?;
                m.serialize_entry(
                    "request",
                    &RequestJ {
                        action: d.action,
                        dispense_id: &d.dispense_id,
                    },
                )?;
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("resourceType", "Bundle")?;
        m.serialize_entry("type", "transaction")?;
        m.serialize_entry("entry", &SeqOf(|| self.0.iter().map(EntryJ)))?;
        m.end()
    }
}

fn prescription_id(doc: &CdaDocument, item: &DispenseItem) -> Option<String> {
    let id = item
        .prescription_item
        .as_ref()
        .or_else(|| doc.in_fulfillment_of.first())?;
    Some(
        id.extension
            .clone()
            .unwrap_or_else(|| id.root.as_str().to_owned()),
    )
}

/// The patient identifier NLL knows: the Swedish personnummer/samordningsnummer if present,
/// checked (date shape, check digit) since NLL can only match a valid one.
fn subject(doc: &CdaDocument) -> Result<Option<&InstanceId>, FromCdaError> {
    let swedish = doc.patient.ids.iter().find(|i| {
        matches!(
            IdentifierSystem::recognise(i.root.as_str()),
            Some(IdentifierSystem::Personnummer | IdentifierSystem::Samordningsnummer)
        )
    });
    if let Some(id) = swedish {
        let valid = id
            .extension
            .as_deref()
            .is_some_and(|v| PersonId::from_identifier(id.root.as_str(), v).is_ok());
        if !valid {
            return Err(FromCdaError::Invalid {
                at: "/ClinicalDocument/recordTarget/patientRole/id/@extension".into(),
                value: None,
                reason: "not a valid Swedish personnummer/samordningsnummer for its root",
            });
        }
    }
    Ok(swedish.or(doc.patient.ids.first()))
}

/// Converts every dispensed item. `forced` overrides what the document says (the discard
/// transaction).
pub(crate) fn to_instructions(
    doc: &CdaDocument,
    forced: Option<DispenseAction>,
) -> Result<Vec<DispenseInstruction>, FromCdaError> {
    Ok(plan(doc, forced)?
        .into_iter()
        .map(|d| {
            let resource = to_value(&d);
            // The views never write a null or an empty member (FHIR JSON forbids them).
            debug_assert!(!has_empty_members(&resource));
            DispenseInstruction {
                action: d.action,
                resource,
                dispense_id: d.dispense_id,
                prescription_id: d.prescription_id,
            }
        })
        .collect())
}

/// One `MedicationDispense` per dispensed item, ready to be written.
pub(crate) fn plan(
    doc: &CdaDocument,
    forced: Option<DispenseAction>,
) -> Result<Vec<DispenseJ<'_>>, FromCdaError> {
    if doc.dispensations.is_empty() {
        return Err(FromCdaError::Missing {
            at: "/ClinicalDocument/component/structuredBody/component/section/entry".into(),
            what: "supply (a dispensed item)",
        });
    }
    let subject = subject(doc)?;
    let several = doc.dispensations.len() > 1;
    let mut out = Vec::with_capacity(doc.dispensations.len());
    for (i, item) in doc.dispensations.iter().enumerate() {
        let action = forced.unwrap_or(if item.status.as_deref() == Some("nullified") {
            DispenseAction::Discard
        } else {
            DispenseAction::Initialize
        });
        // A discard document replaces the dispensation's document (relatedDocument RPLC):
        // the dispensation to withdraw is the one recorded under the replaced document's id.
        let base = match action {
            DispenseAction::Discard => doc
                .related
                .iter()
                .find(|(type_code, _)| type_code == "RPLC")
                .map(|(_, id)| id)
                .unwrap_or(&doc.id),
            DispenseAction::Initialize => &doc.id,
        };
        let dispense_id = if several {
            format!("{}#{}", base.qualified(), i + 1)
        } else {
            base.qualified()
        };
        let prescription_id = prescription_id(doc, item).ok_or_else(|| FromCdaError::Missing {
            at: format!(
                "/ClinicalDocument/component/structuredBody/component/section/entry[{}]/supply/entryRelationship",
                i + 1
            ),
            what: "substanceAdministration/id (the Swedish prescription dispensed against)",
        })?;
        out.push(DispenseJ {
            doc,
            item,
            action,
            dispense_id,
            prescription_id,
            subject,
        });
    }
    tracing::info!(
        items = out.len(),
        discard = out.iter().any(|x| x.action == DispenseAction::Discard),
        country = doc.country().map(|c| c.to_string()).unwrap_or_default(),
        "eDispensation converted to FHIR"
    );
    Ok(out)
}

/// The `MedicationDispense` of one dispensed item.
pub(crate) struct DispenseJ<'a> {
    doc: &'a CdaDocument,
    item: &'a DispenseItem,
    action: DispenseAction,
    dispense_id: String,
    prescription_id: String,
    subject: Option<&'a InstanceId>,
}

/// The contained resources: the Medication, beside it the parts of a combination product
/// (contained resources cannot nest; their `#med-partN` references stay valid), the
/// pharmacist and the pharmacy.
struct ContainedJ<'a>(&'a DispenseItem);

impl Serialize for ContainedJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let product = &self.0.product;
        let mut seq = s.serialize_seq(None)?;
        seq.serialize_element(&MedicationJ {
            product,
            id: Cow::Borrowed("med"),
            nested: true,
        })?;
        PartsJ { product, id: "med" }.each(&mut seq)?;
        if let Some(p) = &self.0.pharmacist {
            seq.serialize_element(&PractitionerJ {
                professional: p,
                id: "pharmacist",
            })?;
            if let Some(org) = &p.organization {
                seq.serialize_element(&OrganizationJ {
                    organization: org,
                    id: "pharmacy",
                })?;
            }
        }
        seq.end()
    }
}

/// The pharmacist (final checker) and, when known, the pharmacy.
struct PerformersJ {
    pharmacy: bool,
}

impl Serialize for PerformersJ {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Coding {
            system: &'static str,
            code: &'static str,
            display: &'static str,
        }
        #[derive(serde::Serialize)]
        struct FinalChecker {
            function: One<'static, [Coding; 1]>,
            actor: One<'static, &'static str>,
        }
        let mut seq = s.serialize_seq(None)?;
        seq.serialize_element(&FinalChecker {
            function: One(
                "coding",
                [Coding {
                    system: "http://terminology.hl7.org/CodeSystem/medicationdispense-performer-function",
                    code: "finalchecker",
                    display: "Final Checker",
                }],
            ),
            actor: One("reference", "#pharmacist"),
        })?;
        if self.pharmacy {
            seq.serialize_element(&One("actor", One("reference", "#pharmacy")))?;
        }
        seq.end()
    }
}

impl Serialize for DispenseJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let DispenseJ {
            doc,
            item,
            action,
            prescription_id,
            subject,
            ..
        } = self;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resourceType", "MedicationDispense")?;
        m.serialize_entry("contained", &ContainedJ(item))?;
        {
            struct IdentifiersJ<'a>(&'a DispenseJ<'a>);
            impl Serialize for IdentifiersJ<'_> {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    #[derive(serde::Serialize)]
                    struct SystemValue<'a> {
                        system: &'a str,
                        value: &'a str,
                    }
                    let d = self.0;
                    let mut seq = s.serialize_seq(None)?;
                    seq.serialize_element(&SystemValue {
                        system: NLL_DISPENSE_ID_SYSTEM,
                        value: &d.dispense_id,
                    })?;
                    seq.serialize_element(&IdentifierJ(&d.doc.id))?;
                    if let Some(id) = &d.item.id {
                        seq.serialize_element(&IdentifierJ(id))?;
                    }
                    seq.end()
                }
            }
            m.serialize_entry("identifier", &IdentifiersJ(self))?;
        }
        m.serialize_entry(
            "status",
            match action {
                DispenseAction::Initialize => "completed",
                DispenseAction::Discard => "entered-in-error",
            },
        )?;
        m.serialize_entry(
            "medicationReference",
            &ReferenceJ {
                reference: "#med",
                display: item.product.name.as_deref(),
            },
        )?;
        if let Some(id) = subject {
            m.serialize_entry("subject", &One("identifier", IdentifierJ(id)))?;
        }
        {
            #[derive(serde::Serialize)]
            struct SystemValue<'a> {
                system: &'a str,
                value: &'a str,
            }
            #[derive(serde::Serialize)]
            struct Authorizing<'a> {
                #[serde(skip_serializing_if = "Option::is_none")]
                reference: Option<String>,
                identifier: SystemValue<'a>,
            }
            let rx = Authorizing {
                reference: as_fhir_id(prescription_id).map(|id| format!("MedicationRequest/{id}")),
                identifier: SystemValue {
                    system: NLL_PRESCRIPTION_ID_SYSTEM,
                    value: prescription_id,
                },
            };
            m.serialize_entry("authorizingPrescription", &[rx])?;
        }
        if let Some(q) = &item.quantity {
            m.serialize_entry("quantity", &PackageCountJ(q))?;
        }
        let pharmacist = item.pharmacist.as_ref();
        if let Some(t) = pharmacist.and_then(|p| p.time).or(doc.effective_time) {
            m.serialize_entry("whenHandedOver", &date_time(&t))?;
        }
        if let Some(p) = pharmacist {
            m.serialize_entry(
                "performer",
                &PerformersJ {
                    pharmacy: p.organization.is_some(),
                },
            )?;
        }
        let mut sub_type = None;
        if let Some(c) = &item.substitution_code {
            sub_type = Some(CodeableJ(c, None));
        }
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Substitution<'a> {
            was_substituted: bool,
            #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
            kind: Option<CodeableJ<'a>>,
        }
        m.serialize_entry(
            "substitution",
            &Substitution {
                was_substituted: item.substituted,
                kind: sub_type,
            },
        )?;
        m.end()
    }
}
