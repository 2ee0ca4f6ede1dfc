//! Country B: a foreign ePrescription (L3, or L1 with its PDF) -> FHIR R4 resources for the
//! Swedish pharmacy: one `MedicationRequest` per prescription item, with its `Medication`, the
//! `Patient`, the prescriber (`Practitioner`, `PractitionerRole`, `Organization`), in a
//! `collection` Bundle.

use serde_json::{Map, Value};

use super::cda_model::*;
use super::fhir_json::*;
use super::FromCdaError;

/// The NLL dose form / package vocabulary's unit for "number of packages".
const PACKAGE_UNIT_SV: &str = "förpackning";

fn entry(full_url: String, resource: Value) -> Value {
    j!({"fullUrl": full_url, "resource": resource})
}

/// The FHIR `Medication` for a product. Parts of a combination product become contained
/// Medications referenced from `ingredient.itemReference`.
pub(crate) fn medication(product: &Product, id: &str) -> Value {
    let mut m = Map::with_capacity(10);
    m.insert("resourceType".into(), j!("Medication"));
    m.insert("id".into(), j!(id));
    let mut contained = Vec::new();
    let mut ingredients = ingredients(&product.ingredients);
    for (i, (qty, part)) in product.parts.iter().enumerate() {
        let part_id = format!("{id}-part{}", i + 1);
        let mut part_med = medication(part, &part_id);
        if let Value::Object(o) = &mut part_med {
            // A contained resource cannot contain further resources (dom-2).
            o.remove("contained");
        }
        contained.push(part_med);
        let mut ing = Map::with_capacity(3);
        ing.insert(
            "itemReference".into(),
            reference(format!("#{part_id}"), part.name.as_deref()),
        );
        ing.insert("isActive".into(), j!(true));
        if let Some(q) = qty {
            ing.insert(
                "strength".into(),
                j!({"numerator": quantity(q), "denominator": {"value": 1, "unit": "1", "system": ncp_types::systems::UCUM_URI, "code": "1"}}),
            );
        }
        ingredients.push(Value::Object(ing));
    }
    put(&mut m, "contained", Value::Array(contained));
    let mut codes: Vec<&Code> = product.codes.iter().collect();
    codes.extend(product.classes.iter());
    put(
        &mut m,
        "code",
        codeable_many(codes, product.name.as_deref()),
    );
    if let Some(f) = &product.form {
        put(&mut m, "form", codeable(f, None));
    }
    if let Some(mfr) = &product.manufacturer {
        put(&mut m, "manufacturer", j!({"display": mfr.as_str()}));
    }
    put(&mut m, "ingredient", Value::Array(ingredients));
    if let Some(a) = package_amount(product) {
        put(&mut m, "amount", a);
    }
    put(
        &mut m,
        "extension",
        Value::Array(product_extensions(product)),
    );
    Value::Object(m)
}

fn ingredients(list: &[Ingredient]) -> Vec<Value> {
    list.iter()
        .map(|ing| {
            let mut o = Map::with_capacity(3);
            let item = match &ing.substance {
                Some(c) => codeable(c, ing.name.as_deref()),
                None => {
                    j!({"text": ing.name.clone().unwrap_or_else(|| "unknown substance".into())})
                }
            };
            o.insert("itemCodeableConcept".into(), item);
            o.insert("isActive".into(), j!(ing.active));
            if let Some(r) = &ing.strength {
                o.insert("strength".into(), ratio(r));
            }
            Value::Object(o)
        })
        .collect()
}

/// The package content as a Ratio: innermost quantity times the counts of the outer levels,
/// per one outermost package (3 mL x 5 syringes = 15 mL / 1 box).
fn package_amount(product: &Product) -> Option<Value> {
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
    let mut numerator = quantity(&Quantity {
        value: Decimal::parse(&format_decimal(total))?,
        unit: inner.unit.clone(),
    });
    if inner.unit == "1" {
        if let (Value::Object(o), Some(d)) = (
            &mut numerator,
            product.form.as_ref().and_then(|f| f.display.clone()),
        ) {
            o.insert("unit".into(), j!(d));
        }
    }
    let denominator_unit = outer
        .form
        .as_ref()
        .and_then(|f| f.display.clone())
        .unwrap_or_else(|| PACKAGE_UNIT_SV.to_owned());
    Some(j!({"numerator": numerator, "denominator": {"value": 1, "unit": denominator_unit}}))
}

fn format_decimal(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let s = format!("{x:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn product_extensions(product: &Product) -> Vec<Value> {
    let mut ext = Vec::new();
    if let Some(outer) = product.packaging.last() {
        if let Some(code) = &outer.code {
            ext.push(j!({"url": format!("{NLL_EXTENSION_BASE}nll-package"), "valueCodeableConcept": codeable(code, outer.name.as_deref())}));
        }
        if let Some(form) = &outer.form {
            ext.push(j!({"url": format!("{NLL_EXTENSION_BASE}nll-package-type"), "valueCodeableConcept": codeable(form, None)}));
        }
    }
    // Every packaging level, innermost first, so nothing of the CDA is lost.
    for level in &product.packaging {
        let mut sub = Vec::new();
        if let Some(q) = &level.quantity {
            sub.push(j!({"url": "quantity", "valueQuantity": quantity(q)}));
        }
        if let Some(f) = &level.form {
            sub.push(j!({"url": "type", "valueCodeableConcept": codeable(f, None)}));
        }
        if let Some(c) = &level.code {
            sub.push(j!({"url": "code", "valueCodeableConcept": codeable(c, None)}));
        }
        if let Some(n) = &level.name {
            sub.push(j!({"url": "name", "valueString": n.as_str()}));
        }
        if !sub.is_empty() {
            ext.push(j!({"url": format!("{NCP_EXTENSION_BASE}package-level"), "extension": sub}));
        }
    }
    if let Some(d) = &product.description {
        ext.push(
            j!({"url": format!("{NCP_EXTENSION_BASE}product-description"), "valueString": d.as_str()}),
        );
    }
    ext
}

pub(crate) fn patient(p: &Patient, id: &str) -> Value {
    let mut o = Map::with_capacity(8);
    o.insert("resourceType".into(), j!("Patient"));
    o.insert("id".into(), j!(id));
    put(
        &mut o,
        "identifier",
        Value::Array(p.ids.iter().map(identifier).collect()),
    );
    put(
        &mut o,
        "name",
        Value::Array(p.names.iter().map(human_name).collect()),
    );
    if let Some(g) = p.gender {
        let g = match g {
            Gender::Male => "male",
            Gender::Female => "female",
            Gender::Undifferentiated => "other",
        };
        o.insert("gender".into(), j!(g));
    }
    if let Some(b) = &p.birth {
        o.insert("birthDate".into(), j!(date(b)));
    }
    put(&mut o, "telecom", telecoms(&p.telecoms));
    if let Some(a) = &p.address {
        put(&mut o, "address", j!([address(a)]));
    }
    Value::Object(o)
}

pub(crate) fn practitioner(p: &Professional, id: &str) -> Value {
    let mut o = Map::with_capacity(6);
    o.insert("resourceType".into(), j!("Practitioner"));
    o.insert("id".into(), j!(id));
    put(
        &mut o,
        "identifier",
        Value::Array(p.ids.iter().map(identifier).collect()),
    );
    if let Some(n) = &p.name {
        put(&mut o, "name", j!([human_name(n)]));
    }
    put(&mut o, "telecom", telecoms(&p.telecoms));
    if let Some(a) = &p.address {
        let a = address(a);
        if a.as_object().is_some_and(|x| !x.is_empty()) {
            put(&mut o, "address", j!([a]));
        }
    }
    Value::Object(o)
}

pub(crate) fn organization(org: &Organization, id: &str) -> Value {
    let mut o = Map::with_capacity(6);
    o.insert("resourceType".into(), j!("Organization"));
    o.insert("id".into(), j!(id));
    put(
        &mut o,
        "identifier",
        Value::Array(org.ids.iter().map(identifier).collect()),
    );
    put(&mut o, "name", opt_str(org.name.as_deref()));
    put(&mut o, "telecom", telecoms(&org.telecoms));
    if let Some(a) = &org.address {
        put(&mut o, "address", j!([address(a)]));
    }
    Value::Object(o)
}

fn professional_seed(p: &Professional) -> String {
    p.ids
        .iter()
        .map(InstanceId::qualified)
        .collect::<Vec<_>>()
        .join("|")
}

fn fhir_id_of(full_url: &str) -> String {
    full_url.trim_start_matches("urn:uuid:").to_owned()
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
pub(crate) fn package_count(q: &Quantity) -> Value {
    if q.unit == "1" {
        j!({"value": number(&q.value), "unit": PACKAGE_UNIT_SV})
    } else {
        quantity(q)
    }
}

fn dosage(item: &PrescriptionItem) -> Value {
    let mut d = Map::with_capacity(4);
    put(
        &mut d,
        "text",
        opt_str(item.patient_instructions.as_deref()),
    );
    if let Some(f) = &item.frequency {
        match period_unit(&f.period.unit) {
            Some(unit) => {
                put(
                    &mut d,
                    "timing",
                    j!({"repeat": {"frequency": 1, "period": number(&f.period.value), "periodUnit": unit}}),
                );
            }
            None => {
                tracing::debug!(unit = %f.period.unit, "dosage period unit not representable in Timing")
            }
        }
    }
    if let Some(r) = &item.route {
        put(&mut d, "route", codeable(r, None));
    }
    match &item.dose {
        Some(DoseQuantity::Single(q)) => {
            put(&mut d, "doseAndRate", j!([{"doseQuantity": quantity(q)}]));
        }
        Some(DoseQuantity::Range { low, high }) => {
            let mut r = Map::with_capacity(2);
            if let Some(l) = low {
                r.insert("low".into(), quantity(l));
            }
            if let Some(h) = high {
                r.insert("high".into(), quantity(h));
            }
            put(&mut d, "doseAndRate", j!([{"doseRange": r}]));
        }
        None => {}
    }
    Value::Object(d)
}

/// Builds the `collection` Bundle for an ePrescription (L3 items, or L1 with its PDF).
pub(crate) fn to_bundle(doc: &CdaDocument) -> Result<Value, FromCdaError> {
    let seed = doc.id.qualified();
    let mut entries: Vec<Value> = Vec::new();

    let patient_url = stable_uuid(&format!("{seed}/patient"));
    entries.push(entry(
        patient_url.clone(),
        patient(&doc.patient, &fhir_id_of(&patient_url)),
    ));

    // Prescribers: the document author, plus any entry-level author that differs.
    let mut roles: Vec<(String, String)> = Vec::new(); // (professional seed, PractitionerRole url)
    let mut add_professional = |p: &Professional, entries: &mut Vec<Value>| -> String {
        let pseed = professional_seed(p);
        if let Some((_, url)) = roles.iter().find(|(s, _)| *s == pseed) {
            return url.clone();
        }
        let n = roles.len();
        let prac_url = stable_uuid(&format!("{seed}/practitioner/{n}"));
        let role_url = stable_uuid(&format!("{seed}/role/{n}"));
        entries.push(entry(
            prac_url.clone(),
            practitioner(p, &fhir_id_of(&prac_url)),
        ));
        let mut role = Map::with_capacity(5);
        role.insert("resourceType".into(), j!("PractitionerRole"));
        role.insert("id".into(), j!(fhir_id_of(&role_url)));
        role.insert("practitioner".into(), j!({"reference": prac_url}));
        if let Some(org) = &p.organization {
            let org_url = stable_uuid(&format!("{seed}/organization/{n}"));
            entries.push(entry(
                org_url.clone(),
                organization(org, &fhir_id_of(&org_url)),
            ));
            role.insert("organization".into(), j!({"reference": org_url}));
        }
        if let Some(f) = &p.function {
            role.insert("code".into(), j!([codeable(f, None)]));
        }
        entries.push(entry(role_url.clone(), Value::Object(role)));
        roles.push((pseed, role_url.clone()));
        role_url
    };
    let author_role = doc
        .author
        .as_ref()
        .map(|a| add_professional(a, &mut entries));

    for (i, item) in doc.prescriptions.iter().enumerate() {
        let med_url = stable_uuid(&format!("{seed}/medication/{i}"));
        entries.push(entry(
            med_url.clone(),
            medication(&item.product, &fhir_id_of(&med_url)),
        ));
        let requester = match &item.prescriber {
            Some(p) => Some(add_professional(p, &mut entries)),
            None => author_role.clone(),
        };
        let authored = item
            .prescriber
            .as_ref()
            .and_then(|p| p.time)
            .or_else(|| doc.author.as_ref().and_then(|a| a.time))
            .or(doc.effective_time);

        let mr_url = stable_uuid(&format!("{seed}/request/{i}"));
        let mut mr = Map::with_capacity(14);
        mr.insert("resourceType".into(), j!("MedicationRequest"));
        mr.insert("id".into(), j!(fhir_id_of(&mr_url)));
        let item_id = item.id.as_ref().unwrap_or(&doc.id);
        mr.insert("identifier".into(), j!([identifier(item_id)]));
        mr.insert("status".into(), j!(request_status(item.status.as_deref())));
        mr.insert("intent".into(), j!("order"));
        mr.insert(
            "medicationReference".into(),
            reference(med_url, item.product.name.as_deref()),
        );
        mr.insert("subject".into(), j!({"reference": patient_url.as_str()}));
        if let Some(t) = authored {
            mr.insert("authoredOn".into(), j!(date_time(&t)));
        }
        if let Some(r) = requester {
            mr.insert("requester".into(), j!({"reference": r}));
        }
        mr.insert("groupIdentifier".into(), identifier(&doc.id));
        put(&mut mr, "dosageInstruction", j!([dosage(item)]));
        let mut dr = Map::with_capacity(3);
        if let Some(p) = &item.period {
            put(&mut dr, "validityPeriod", period(p));
        }
        if let Some(n) = item.repeats {
            dr.insert("numberOfRepeatsAllowed".into(), j!(n));
        }
        if let Some(q) = &item.quantity {
            dr.insert("quantity".into(), package_count(q));
        }
        put(&mut mr, "dispenseRequest", Value::Object(dr));
        if let Some(s) = &item.substitution {
            let mut sub = Map::with_capacity(2);
            sub.insert("allowedBoolean".into(), j!(s.code != "N"));
            sub.insert(
                "extension".into(),
                j!([{"url": format!("{NCP_EXTENSION_BASE}substitution-code"), "valueCodeableConcept": codeable(s, None)}]),
            );
            mr.insert("substitution".into(), Value::Object(sub));
        }
        if let Some(n) = &item.fulfillment_instructions {
            mr.insert("note".into(), j!([{"text": n.as_str()}]));
        }
        entries.push(entry(mr_url, Value::Object(mr)));
    }

    if let Some(body) = &doc.non_xml_body {
        let url = stable_uuid(&format!("{seed}/binary"));
        entries.push(entry(url.clone(), binary(body, &fhir_id_of(&url))));
    }

    let bundle = j!({
        "resourceType": "Bundle",
        "id": fhir_id_of(&stable_uuid(&seed)),
        "identifier": identifier(&doc.id),
        "type": "collection",
        "entry": entries,
    });
    // The builders never produce a null or an empty member (FHIR JSON forbids them).
    debug_assert!(!has_empty_members(&bundle));
    tracing::info!(
        kind = %doc.kind,
        items = doc.prescriptions.len(),
        country = doc.country().map(|c| c.to_string()).unwrap_or_default(),
        "ePrescription converted to FHIR"
    );
    Ok(bundle)
}

pub(crate) fn binary(body: &NonXmlBody, id: &str) -> Value {
    j!({
        "resourceType": "Binary",
        "id": id,
        "contentType": body.media_type.as_str(),
        "data": body.base64.as_str(),
    })
}
