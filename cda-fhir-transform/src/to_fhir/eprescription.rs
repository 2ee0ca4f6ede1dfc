//! Country B: a foreign ePrescription (L3, or L1 with its PDF) -> FHIR R4 resources for the
//! Swedish pharmacy: one `MedicationRequest` per prescription item, with its `Medication`, the
//! `Patient`, the prescriber (`Practitioner`, `PractitionerRole`, `Organization`), in a
//! `collection` Bundle.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::cda_model::*;
use super::fhir_json::*;
use super::FromCdaError;

/// The NLL dose form / package vocabulary's unit for "number of packages".
const PACKAGE_UNIT_SV: &str = "förpackning";

/// An NLL extension URL.
macro_rules! nll_ext {
    ($name:literal) => {
        concat!(
            "http://electronichealth.se/fhir/StructureDefinition/",
            $name
        )
    };
}

/// One of the bridge's own extension URLs.
macro_rules! ncp_ext {
    ($name:literal) => {
        concat!(
            "http://electronichealth.se/fhir/StructureDefinition/ncp-",
            $name
        )
    };
}

const NLL_PACKAGE: &str = nll_ext!("nll-package");
const NLL_PACKAGE_TYPE: &str = nll_ext!("nll-package-type");
const NCP_PACKAGE_LEVEL: &str = ncp_ext!("package-level");
const NCP_PRODUCT_DESCRIPTION: &str = ncp_ext!("product-description");
const NCP_SUBSTITUTION_CODE: &str = ncp_ext!("substitution-code");

/// The FHIR `Medication` for a product. Parts of a combination product become contained
/// Medications referenced from `ingredient.itemReference`; a `nested` Medication (itself
/// contained) leaves its parts out, as a contained resource cannot contain others (dom-2).
pub(crate) struct MedicationJ<'a> {
    pub product: &'a Product,
    pub id: Cow<'a, str>,
    pub nested: bool,
}

fn part_id(id: &str, i: usize) -> String {
    format!("{id}-part{}", i + 1)
}

/// The Medications of a product's parts (`{id}-part1`, ...).
pub(crate) struct PartsJ<'a> {
    pub product: &'a Product,
    pub id: &'a str,
}

impl PartsJ<'_> {
    /// Writes each part as an element of an enclosing array.
    pub(crate) fn each<Q: SerializeSeq>(&self, seq: &mut Q) -> Result<(), Q::Error> {
        for (i, (_, part)) in self.product.parts.iter().enumerate() {
            seq.serialize_element(&MedicationJ {
                product: part,
                id: Cow::Owned(part_id(self.id, i)),
                nested: true,
            })?;
        }
        Ok(())
    }
}

impl Serialize for PartsJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.product.parts.len()))?;
        self.each(&mut seq)?;
        seq.end()
    }
}

impl Serialize for MedicationJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let product = self.product;
        let id: &str = &self.id;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resourceType", "Medication")?;
        m.serialize_entry("id", id)?;
        if !self.nested && !product.parts.is_empty() {
            m.serialize_entry("contained", &PartsJ { product, id })?;
        }
        let code = CodeableManyJ {
            codes: &product.codes,
            more: &product.classes,
            text: product.name.as_deref(),
        };
        if !code.is_empty() {
            m.serialize_entry("code", &code)?;
        }
        if let Some(f) = &product.form {
            m.serialize_entry("form", &CodeableJ(f, None))?;
        }
        if let Some(mfr) = &product.manufacturer {
            m.serialize_entry("manufacturer", &One("display", mfr))?;
        }
        if !product.ingredients.is_empty() || !product.parts.is_empty() {
            m.serialize_entry("ingredient", &IngredientsJ { product, id })?;
        }
        if let Some(a) = package_amount(product) {
            m.serialize_entry("amount", &a)?;
        }
        let ext = product_extensions(product);
        seq_entry(&mut m, "extension", &ext)?;
        m.end()
    }
}

/// The ingredients, then the parts of a combination product (by reference).
struct IngredientsJ<'a> {
    product: &'a Product,
    id: &'a str,
}

impl Serialize for IngredientsJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for ing in &self.product.ingredients {
            seq.serialize_element(&IngredientJ(ing))?;
        }
        for (i, (qty, part)) in self.product.parts.iter().enumerate() {
            seq.serialize_element(&PartIngredientJ {
                reference: &format!("#{}", part_id(self.id, i)),
                name: part.name.as_deref(),
                quantity: qty.as_ref(),
            })?;
        }
        seq.end()
    }
}

struct IngredientJ<'a>(&'a Ingredient);

impl Serialize for IngredientJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ing = self.0;
        let mut m = s.serialize_map(None)?;
        match &ing.substance {
            Some(c) => {
                m.serialize_entry("itemCodeableConcept", &CodeableJ(c, ing.name.as_deref()))?
            }
            None => m.serialize_entry(
                "itemCodeableConcept",
                &One("text", ing.name.as_deref().unwrap_or("unknown substance")),
            )?,
        }
        m.serialize_entry("isActive", &ing.active)?;
        if let Some(r) = &ing.strength {
            m.serialize_entry("strength", &RatioJ(r))?;
        }
        m.end()
    }
}

struct PartIngredientJ<'a> {
    reference: &'a str,
    name: Option<&'a str>,
    quantity: Option<&'a Quantity>,
}

/// `1` (UCUM unity), the denominator of a part's count.
#[derive(serde::Serialize)]
struct Unity {
    value: u8,
    unit: &'static str,
    system: &'static str,
    code: &'static str,
}

const UNITY: Unity = Unity {
    value: 1,
    unit: "1",
    system: ncp_types::systems::UCUM_URI,
    code: "1",
};

impl Serialize for PartIngredientJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(
            "itemReference",
            &ReferenceJ {
                reference: self.reference,
                display: self.name,
            },
        )?;
        m.serialize_entry("isActive", &true)?;
        if let Some(q) = self.quantity {
            #[derive(serde::Serialize)]
            struct Strength<'a> {
                numerator: QuantityJ<'a>,
                denominator: Unity,
            }
            m.serialize_entry(
                "strength",
                &Strength {
                    numerator: quantity(q),
                    denominator: UNITY,
                },
            )?;
        }
        m.end()
    }
}

/// The package content as a Ratio: innermost quantity times the counts of the outer levels,
/// per one outermost package (3 mL x 5 syringes = 15 mL / 1 box).
struct PackageAmountJ<'a> {
    numerator: Quantity,
    /// The dose form's display as the unit of a count (`1`).
    numerator_unit: Option<&'a str>,
    denominator_unit: &'a str,
}

fn package_amount(product: &Product) -> Option<PackageAmountJ<'_>> {
    let levels = &product.packaging;
    let inner = levels.first()?.quantity.as_ref()?;
    let mut total = inner.value.to_f64();
    for level in levels.iter().skip(1) {
        match &level.quantity {
            Some(q) if q.unit == "1" => total *= q.value.to_f64(),
            Some(_) => return None,
            None => {}
        }
    }
    let outer = levels.last()?;
    let numerator = Quantity {
        value: Decimal::parse(&format_decimal(total))?,
        unit: inner.unit.clone(),
    };
    let numerator_unit = if inner.unit == "1" {
        product.form.as_ref().and_then(|f| f.display.as_deref())
    } else {
        None
    };
    let denominator_unit = outer
        .form
        .as_ref()
        .and_then(|f| f.display.as_deref())
        .unwrap_or(PACKAGE_UNIT_SV);
    Some(PackageAmountJ {
        numerator,
        numerator_unit,
        denominator_unit,
    })
}

impl Serialize for PackageAmountJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Denominator<'a> {
            value: u8,
            unit: &'a str,
        }
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(
            "numerator",
            &QuantityJ {
                q: &self.numerator,
                unit_text: self.numerator_unit,
            },
        )?;
        m.serialize_entry(
            "denominator",
            &Denominator {
                value: 1,
                unit: self.denominator_unit,
            },
        )?;
        m.end()
    }
}

fn format_decimal(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let s = format!("{x:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A FHIR extension: a URL with one value, or with nested extensions.
pub(crate) enum ExtJ<'a> {
    Codeable(&'a str, CodeableJ<'a>),
    Quantity(&'a str, QuantityJ<'a>),
    Str(&'a str, &'a str),
    Nested(&'a str, Vec<ExtJ<'a>>),
}

impl Serialize for ExtJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        match self {
            ExtJ::Codeable(url, v) => {
                m.serialize_entry("url", url)?;
                m.serialize_entry("valueCodeableConcept", v)?;
            }
            ExtJ::Quantity(url, v) => {
                m.serialize_entry("url", url)?;
                m.serialize_entry("valueQuantity", v)?;
            }
            ExtJ::Str(url, v) => {
                m.serialize_entry("url", url)?;
                m.serialize_entry("valueString", v)?;
            }
            ExtJ::Nested(url, v) => {
                m.serialize_entry("url", url)?;
                m.serialize_entry("extension", v)?;
            }
        }
        m.end()
    }
}

fn product_extensions(product: &Product) -> Vec<ExtJ<'_>> {
    let mut ext = Vec::new();
    if let Some(outer) = product.packaging.last() {
        if let Some(code) = &outer.code {
            ext.push(ExtJ::Codeable(
                NLL_PACKAGE,
                CodeableJ(code, outer.name.as_deref()),
            ));
        }
        if let Some(form) = &outer.form {
            ext.push(ExtJ::Codeable(NLL_PACKAGE_TYPE, CodeableJ(form, None)));
        }
    }
    // Every packaging level, innermost first, so nothing of the CDA is lost.
    for level in &product.packaging {
        let mut sub = Vec::new();
        if let Some(q) = &level.quantity {
            sub.push(ExtJ::Quantity("quantity", quantity(q)));
        }
        if let Some(f) = &level.form {
            sub.push(ExtJ::Codeable("type", CodeableJ(f, None)));
        }
        if let Some(c) = &level.code {
            sub.push(ExtJ::Codeable("code", CodeableJ(c, None)));
        }
        if let Some(n) = &level.name {
            sub.push(ExtJ::Str("name", n));
        }
        if !sub.is_empty() {
            ext.push(ExtJ::Nested(NCP_PACKAGE_LEVEL, sub));
        }
    }
    if let Some(d) = &product.description {
        ext.push(ExtJ::Str(NCP_PRODUCT_DESCRIPTION, d));
    }
    ext
}

pub(crate) struct PatientJ<'a> {
    pub patient: &'a Patient,
    pub id: &'a str,
}

impl Serialize for PatientJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.patient;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resourceType", "Patient")?;
        m.serialize_entry("id", self.id)?;
        identifiers_entry(&mut m, &p.ids)?;
        if !p.names.is_empty() {
            m.serialize_entry("name", &SeqOf(|| p.names.iter().map(HumanNameJ)))?;
        }
        if let Some(g) = p.gender {
            let g = match g {
                Gender::Male => "male",
                Gender::Female => "female",
                Gender::Undifferentiated => "other",
            };
            m.serialize_entry("gender", g)?;
        }
        if let Some(b) = &p.birth {
            m.serialize_entry("birthDate", &date(b))?;
        }
        telecom_entry(&mut m, &p.telecoms)?;
        if let Some(a) = &p.address {
            m.serialize_entry("address", &[AddressJ(a)])?;
        }
        m.end()
    }
}

pub(crate) struct PractitionerJ<'a> {
    pub professional: &'a Professional,
    pub id: &'a str,
}

impl Serialize for PractitionerJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.professional;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resourceType", "Practitioner")?;
        m.serialize_entry("id", self.id)?;
        identifiers_entry(&mut m, &p.ids)?;
        if let Some(n) = &p.name {
            m.serialize_entry("name", &[HumanNameJ(n)])?;
        }
        telecom_entry(&mut m, &p.telecoms)?;
        if let Some(a) = p.address.as_ref().map(AddressJ) {
            if !a.is_empty() {
                m.serialize_entry("address", &[a])?;
            }
        }
        m.end()
    }
}

pub(crate) struct OrganizationJ<'a> {
    pub organization: &'a Organization,
    pub id: &'a str,
}

impl Serialize for OrganizationJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let org = self.organization;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resourceType", "Organization")?;
        m.serialize_entry("id", self.id)?;
        identifiers_entry(&mut m, &org.ids)?;
        opt_str_entry(&mut m, "name", org.name.as_deref())?;
        telecom_entry(&mut m, &org.telecoms)?;
        if let Some(a) = &org.address {
            m.serialize_entry("address", &[AddressJ(a)])?;
        }
        m.end()
    }
}

fn professional_seed(p: &Professional) -> String {
    p.ids
        .iter()
        .map(InstanceId::qualified)
        .collect::<Vec<_>>()
        .join("|")
}

/// The resource id in a `urn:uuid:` full URL.
pub(crate) fn fhir_id_of(full_url: &str) -> &str {
    full_url.trim_start_matches("urn:uuid:")
}

fn period_unit(ucum: &str) -> Option<&'static str> {
    Some(match ucum {
        "s" => "s",
        "min" => "min",
        "h" => "h",
        "d" => "d",
        "wk" => "wk",
        "mo" => "mo",
        "a" => "a",
        _ => return None,
    })
}

fn request_status(s: Option<&str>) -> &'static str {
    match s {
        Some("completed") => "completed",
        Some("aborted") => "stopped",
        Some("cancelled") => "cancelled",
        Some("suspended") => "on-hold",
        Some("nullified") => "entered-in-error",
        _ => "active",
    }
}

/// The number-of-packages quantity, NLL style (`förpackning`) when the CDA unit is `1`.
pub(crate) struct PackageCountJ<'a>(pub &'a Quantity);

impl Serialize for PackageCountJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let q = self.0;
        if q.unit != "1" {
            return quantity(q).serialize(s);
        }
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("value", &number(&q.value))?;
        m.serialize_entry("unit", PACKAGE_UNIT_SV)?;
        m.end()
    }
}

struct DosageJ<'a>(&'a PrescriptionItem);

impl Serialize for DosageJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let item = self.0;
        let mut d = s.serialize_map(None)?;
        opt_str_entry(&mut d, "text", item.patient_instructions.as_deref())?;
        if let Some(f) = &item.frequency {
            match period_unit(&f.period.unit) {
                Some(unit) => {
                    #[derive(serde::Serialize)]
                    struct Repeat {
                        frequency: u8,
                        period: Option<Num>,
                        #[serde(rename = "periodUnit")]
                        period_unit: &'static str,
                    }
                    let repeat = Repeat {
                        frequency: 1,
                        period: number(&f.period.value),
                        period_unit: unit,
                    };
                    d.serialize_entry("timing", &One("repeat", repeat))?;
                }
                None => {
                    tracing::debug!(unit = %f.period.unit, "dosage period unit not representable in Timing")
                }
            }
        }
        if let Some(r) = &item.route {
            d.serialize_entry("route", &CodeableJ(r, None))?;
        }
        match &item.dose {
            Some(DoseQuantity::Single(q)) => {
                d.serialize_entry("doseAndRate", &[One("doseQuantity", quantity(q))])?;
            }
            Some(DoseQuantity::Range { low, high }) => {
                #[derive(serde::Serialize)]
                struct Range<'a> {
                    #[serde(skip_serializing_if = "Option::is_none")]
                    low: Option<QuantityJ<'a>>,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    high: Option<QuantityJ<'a>>,
                }
                let r = Range {
                    low: low.as_ref().map(quantity),
                    high: high.as_ref().map(quantity),
                };
                d.serialize_entry("doseAndRate", &[One("doseRange", r)])?;
            }
            None => {}
        }
        d.end()
    }
}

/// One entry of the Bundle: its full URL and the resource.
struct EntryJ<'a> {
    full_url: String,
    resource: ResourceJ<'a>,
}

enum ResourceJ<'a> {
    Patient(&'a Patient),
    Practitioner(&'a Professional),
    Organization(&'a Organization),
    Role {
        practitioner: String,
        organization: Option<String>,
        function: Option<&'a Code>,
    },
    Medication(&'a Product),
    Request(RequestJ<'a>),
    Binary(&'a NonXmlBody),
}

struct RequestJ<'a> {
    doc: &'a CdaDocument,
    item: &'a PrescriptionItem,
    medication: String,
    patient: String,
    requester: Option<String>,
    authored: Option<Timestamp>,
}

impl Serialize for EntryJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let id = fhir_id_of(&self.full_url);
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("fullUrl", &self.full_url)?;
        match &self.resource {
            ResourceJ::Patient(patient) => {
                m.serialize_entry("resource", &PatientJ { patient, id })?
            }
            ResourceJ::Practitioner(professional) => {
                m.serialize_entry("resource", &PractitionerJ { professional, id })?
            }
            ResourceJ::Organization(organization) => {
                m.serialize_entry("resource", &OrganizationJ { organization, id })?
            }
            ResourceJ::Role {
                practitioner,
                organization,
                function,
            } => {
                #[derive(serde::Serialize)]
                #[serde(rename_all = "camelCase")]
                struct Role<'a> {
                    resource_type: &'static str,
                    id: &'a str,
                    practitioner: ReferenceJ<'a>,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    organization: Option<ReferenceJ<'a>>,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    code: Option<[CodeableJ<'a>; 1]>,
                }
                let role = Role {
                    resource_type: "PractitionerRole",
                    id,
                    practitioner: reference(practitioner),
                    organization: organization.as_deref().map(reference),
                    code: function.map(|f| [CodeableJ(f, None)]),
                };
                m.serialize_entry("resource", &role)?
            }
            ResourceJ::Medication(product) => m.serialize_entry(
                "resource",
                &MedicationJ {
                    product,
                    id: Cow::Borrowed(id),
                    nested: false,
                },
            )?,
            ResourceJ::Request(request) => {
                m.serialize_entry("resource", &MedicationRequestJ { request, id })?
            }
            ResourceJ::Binary(body) => m.serialize_entry("resource", &BinaryJ { body, id })?,
        }
        m.end()
    }
}

/// A `MedicationRequest` with its resource id.
struct MedicationRequestJ<'a> {
    request: &'a RequestJ<'a>,
    id: &'a str,
}

impl Serialize for MedicationRequestJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let RequestJ {
            doc,
            item,
            medication,
            patient,
            requester,
            authored,
        } = self.request;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resourceType", "MedicationRequest")?;
        m.serialize_entry("id", self.id)?;
        let item_id = item.id.as_ref().unwrap_or(&doc.id);
        m.serialize_entry("identifier", &[IdentifierJ(item_id)])?;
        m.serialize_entry("status", request_status(item.status.as_deref()))?;
        m.serialize_entry("intent", "order")?;
        m.serialize_entry(
            "medicationReference",
            &ReferenceJ {
                reference: medication,
                display: item.product.name.as_deref(),
            },
        )?;
        m.serialize_entry("subject", &reference(patient))?;
        if let Some(t) = authored {
            m.serialize_entry("authoredOn", &date_time(t))?;
        }
        if let Some(r) = requester {
            m.serialize_entry("requester", &reference(r))?;
        }
        m.serialize_entry("groupIdentifier", &IdentifierJ(&doc.id))?;
        m.serialize_entry("dosageInstruction", &[DosageJ(item)])?;
        let validity = item.period.as_ref().map(PeriodJ).filter(|p| !p.is_empty());
        if validity.is_some() || item.repeats.is_some() || item.quantity.is_some() {
            #[derive(serde::Serialize)]
            #[serde(rename_all = "camelCase")]
            struct DispenseRequest<'a> {
                #[serde(skip_serializing_if = "Option::is_none")]
                validity_period: Option<PeriodJ<'a>>,
                #[serde(skip_serializing_if = "Option::is_none")]
                number_of_repeats_allowed: Option<u32>,
                #[serde(skip_serializing_if = "Option::is_none")]
                quantity: Option<PackageCountJ<'a>>,
            }
            m.serialize_entry(
                "dispenseRequest",
                &DispenseRequest {
                    validity_period: validity,
                    number_of_repeats_allowed: item.repeats,
                    quantity: item.quantity.as_ref().map(PackageCountJ),
                },
            )?;
        }
        if let Some(sub) = &item.substitution {
            #[derive(serde::Serialize)]
            #[serde(rename_all = "camelCase")]
            struct Substitution<'a> {
                allowed_boolean: bool,
                extension: [ExtJ<'a>; 1],
            }
            m.serialize_entry(
                "substitution",
                &Substitution {
                    allowed_boolean: sub.code != "N",
                    extension: [ExtJ::Codeable(NCP_SUBSTITUTION_CODE, CodeableJ(sub, None))],
                },
            )?;
        }
        if let Some(n) = &item.fulfillment_instructions {
            m.serialize_entry("note", &[One("text", n)])?;
        }
        m.end()
    }
}

/// The `collection` Bundle of an ePrescription (L3 items, or L1 with its PDF), ready to be
/// written.
pub(crate) struct EPrescriptionBundleJ<'a> {
    doc: &'a CdaDocument,
    entries: Vec<EntryJ<'a>>,
}

impl Serialize for EPrescriptionBundleJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let id = stable_uuid(&self.doc.id.qualified());
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("resourceType", "Bundle")?;
        m.serialize_entry("id", fhir_id_of(&id))?;
        m.serialize_entry("identifier", &IdentifierJ(&self.doc.id))?;
        m.serialize_entry("type", "collection")?;
        m.serialize_entry("entry", &self.entries)?;
        m.end()
    }
}

/// Plans the `collection` Bundle for an ePrescription: the Patient, the prescribers
/// (Practitioner, Organization, PractitionerRole: the document author, plus any entry-level
/// author that differs), per item the Medication and the MedicationRequest, and an L1's PDF.
pub(crate) fn to_bundle<'a>(
    doc: &'a CdaDocument,
) -> Result<EPrescriptionBundleJ<'a>, FromCdaError> {
    let mut urls = Urls::new(doc.id.qualified());
    let mut entries: Vec<EntryJ<'a>> = Vec::with_capacity(4 + 2 * doc.prescriptions.len());

    let patient_url = urls.of("patient", None);
    entries.push(EntryJ {
        full_url: patient_url.clone(),
        resource: ResourceJ::Patient(&doc.patient),
    });

    let mut roles: Vec<(String, String)> = Vec::new(); // (professional seed, PractitionerRole url)
    let mut add_professional =
        |p: &'a Professional, entries: &mut Vec<EntryJ<'a>>, urls: &mut Urls| -> String {
            let pseed = professional_seed(p);
            if let Some((_, url)) = roles.iter().find(|(s, _)| *s == pseed) {
                return url.clone();
            }
            let n = roles.len();
            let prac_url = urls.of("practitioner", Some(n));
            let role_url = urls.of("role", Some(n));
            entries.push(EntryJ {
                full_url: prac_url.clone(),
                resource: ResourceJ::Practitioner(p),
            });
            let organization = p.organization.as_ref().map(|org| {
                let org_url = urls.of("organization", Some(n));
                entries.push(EntryJ {
                    full_url: org_url.clone(),
                    resource: ResourceJ::Organization(org),
                });
                org_url
            });
            entries.push(EntryJ {
                full_url: role_url.clone(),
                resource: ResourceJ::Role {
                    practitioner: prac_url,
                    organization,
                    function: p.function.as_ref(),
                },
            });
            roles.push((pseed, role_url.clone()));
            role_url
        };
    let author_role = doc
        .author
        .as_ref()
        .map(|a| add_professional(a, &mut entries, &mut urls));

    for (i, item) in doc.prescriptions.iter().enumerate() {
        let med_url = urls.of("medication", Some(i));
        entries.push(EntryJ {
            full_url: med_url.clone(),
            resource: ResourceJ::Medication(&item.product),
        });
        let requester = match &item.prescriber {
            Some(p) => Some(add_professional(p, &mut entries, &mut urls)),
            None => author_role.clone(),
        };
        let authored = item
            .prescriber
            .as_ref()
            .and_then(|p| p.time)
            .or_else(|| doc.author.as_ref().and_then(|a| a.time))
            .or(doc.effective_time);
        entries.push(EntryJ {
            full_url: urls.of("request", Some(i)),
            resource: ResourceJ::Request(RequestJ {
                doc,
                item,
                medication: med_url,
                patient: patient_url.clone(),
                requester,
                authored,
            }),
        });
    }

    if let Some(body) = &doc.non_xml_body {
        entries.push(EntryJ {
            full_url: urls.of("binary", None),
            resource: ResourceJ::Binary(body),
        });
    }
    tracing::info!(
        kind = %doc.kind,
        items = doc.prescriptions.len(),
        country = doc.country().map(|c| c.to_string()).unwrap_or_default(),
        "ePrescription converted to FHIR"
    );
    Ok(EPrescriptionBundleJ { doc, entries })
}

/// The entries' full URLs: `stable_uuid("{document id}/{what}[/{n}]")`, each seed written
/// into one reused buffer (no string formatting per entry).
struct Urls {
    seed: String,
    /// The length of the document id part of `seed`.
    base: usize,
}

impl Urls {
    fn new(document_id: String) -> Urls {
        let base = document_id.len();
        let mut seed = document_id;
        seed.reserve(32);
        Urls { seed, base }
    }

    fn of(&mut self, what: &str, n: Option<usize>) -> String {
        use std::fmt::Write;
        self.seed.truncate(self.base);
        self.seed.push('/');
        self.seed.push_str(what);
        if let Some(n) = n {
            // Writing to a String cannot fail.
            let _ = write!(self.seed, "/{n}");
        }
        stable_uuid(&self.seed)
    }
}

/// An L1 document's PDF as a FHIR `Binary`.
pub(crate) struct BinaryJ<'a> {
    pub body: &'a NonXmlBody,
    pub id: &'a str,
}

impl Serialize for BinaryJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("resourceType", "Binary")?;
        m.serialize_entry("id", self.id)?;
        m.serialize_entry("contentType", &self.body.media_type)?;
        m.serialize_entry("data", &self.body.base64)?;
        m.end()
    }
}
