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

use serde_json::{Map, Value};

use ncp_types::systems::IdentifierSystem;
use ncp_types::PersonId;

use super::cda_model::*;
use super::eprescription::{medication, organization, package_count, practitioner};
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

impl DispenseInstruction {
    /// The transaction Bundle entry: a conditional create (`POST` with `ifNoneExist` on the
    /// dispense identifier) to record, or a conditional update (`PUT
    /// MedicationDispense?identifier=…`) to mark the dispensation `entered-in-error`.
    pub fn bundle_entry(&self) -> Value {
        let search = format!("identifier={NLL_DISPENSE_ID_SYSTEM}|{}", self.dispense_id);
        let request = match self.action {
            DispenseAction::Initialize => {
                j!({"method": "POST", "url": "MedicationDispense", "ifNoneExist": search})
            }
            DispenseAction::Discard => {
                j!({"method": "PUT", "url": format!("MedicationDispense?{search}")})
            }
        };
        j!({
            "fullUrl": stable_uuid(&format!("dispense/{}", self.dispense_id)),
            "resource": self.resource.clone(),
            "request": request,
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
fn subject(doc: &CdaDocument) -> Result<Value, FromCdaError> {
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
    Ok(match swedish.or(doc.patient.ids.first()) {
        Some(id) => j!({"identifier": identifier(id)}),
        None => Value::Null,
    })
}

/// Converts every dispensed item. `forced` overrides what the document says (the discard
/// transaction).
pub(crate) fn to_instructions(
    doc: &CdaDocument,
    forced: Option<DispenseAction>,
) -> Result<Vec<DispenseInstruction>, FromCdaError> {
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
        let resource = dispense(
            doc,
            item,
            action,
            &dispense_id,
            &prescription_id,
            subject.clone(),
        );
        out.push(DispenseInstruction {
            action,
            dispense_id,
            prescription_id,
            resource,
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

fn dispense(
    doc: &CdaDocument,
    item: &DispenseItem,
    action: DispenseAction,
    dispense_id: &str,
    prescription_id: &str,
    subject: Value,
) -> Value {
    let mut contained = vec![medication(&item.product, "med")];
    // Parts of a combination product sit beside the Medication (contained resources cannot
    // nest), keeping their `#med-partN` references valid.
    if let Some(Value::Array(parts)) = contained
        .first_mut()
        .and_then(|m| m.as_object_mut())
        .and_then(|m| m.remove("contained"))
    {
        contained.extend(parts);
    }
    let mut performers = Vec::new();
    let pharmacist = item.pharmacist.as_ref();
    if let Some(p) = pharmacist {
        contained.push(practitioner(p, "pharmacist"));
        performers.push(j!({
            "function": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/medicationdispense-performer-function",
                "code": "finalchecker",
                "display": "Final Checker"
            }]},
            "actor": {"reference": "#pharmacist"}
        }));
        if let Some(org) = &p.organization {
            contained.push(organization(org, "pharmacy"));
            performers.push(j!({"actor": {"reference": "#pharmacy"}}));
        }
    }

    let mut md = Map::with_capacity(12);
    md.insert("resourceType".into(), j!("MedicationDispense"));
    md.insert("contained".into(), Value::Array(contained));
    let mut identifiers = vec![j!({"system": NLL_DISPENSE_ID_SYSTEM, "value": dispense_id})];
    identifiers.push(identifier(&doc.id));
    if let Some(id) = &item.id {
        identifiers.push(identifier(id));
    }
    md.insert("identifier".into(), Value::Array(identifiers));
    md.insert(
        "status".into(),
        j!(match action {
            DispenseAction::Initialize => "completed",
            DispenseAction::Discard => "entered-in-error",
        }),
    );
    md.insert(
        "medicationReference".into(),
        reference("#med".to_owned(), item.product.name.as_deref()),
    );
    put(&mut md, "subject", subject);
    let mut rx = Map::with_capacity(2);
    if let Some(id) = as_fhir_id(prescription_id) {
        rx.insert("reference".into(), j!(format!("MedicationRequest/{id}")));
    }
    rx.insert(
        "identifier".into(),
        j!({"system": NLL_PRESCRIPTION_ID_SYSTEM, "value": prescription_id}),
    );
    md.insert("authorizingPrescription".into(), j!([rx]));
    if let Some(q) = &item.quantity {
        md.insert("quantity".into(), package_count(q));
    }
    if let Some(t) = pharmacist.and_then(|p| p.time).or(doc.effective_time) {
        md.insert("whenHandedOver".into(), j!(date_time(&t)));
    }
    put(&mut md, "performer", Value::Array(performers));
    let mut sub = Map::with_capacity(2);
    sub.insert("wasSubstituted".into(), j!(item.substituted));
    if let Some(c) = &item.substitution_code {
        sub.insert("type".into(), codeable(c, None));
    }
    md.insert("substitution".into(), Value::Object(sub));
    let v = Value::Object(md);
    // The builders never produce a null or an empty member (FHIR JSON forbids them).
    debug_assert!(!has_empty_members(&v));
    v
}
