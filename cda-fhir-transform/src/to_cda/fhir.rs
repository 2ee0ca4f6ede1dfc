//! A typed view of the FHIR R4 JSON the writers consume (NLL's profiles, see
//! `docs/national-services.md`): resources are looked up by reference inside a Bundle (or in
//! `contained`), checked, and turned into small structs. Every missing or invalid element the
//! documents need is reported with its FHIR path.

use chrono::DateTime;
use ncp_types::systems::{self, IdentifierSystem};
use ncp_types::{CountryCode, HsaId, Oid, PersonId};
use serde_json::Value;
use terminology::Coded;

use super::ToCdaError;

/// NLL's prescription id system.
pub const NLL_PRESCRIPTION_ID_URI: &str =
    "http://electronichealth.se/identifier/nll-prescription-id";
/// NLL's dispense id system.
pub const NLL_DISPENSE_ID_URI: &str = "http://electronichealth.se/identifier/nll-dispense-id";
const EXT_REMAINING: &str =
    "http://electronichealth.se/fhir/StructureDefinition/nll-remaining-dispensations";
const EXT_PACKAGE: &str = "http://electronichealth.se/fhir/StructureDefinition/nll-package";
const EXT_PACKAGE_TYPE: &str =
    "http://electronichealth.se/fhir/StructureDefinition/nll-package-type";
const EXT_NARCOTIC: &str = "http://electronichealth.se/fhir/StructureDefinition/nll-narcotic-class";

fn missing(path: impl Into<String>) -> ToCdaError {
    ToCdaError::Missing { path: path.into() }
}

fn invalid(path: impl Into<String>, reason: impl Into<String>) -> ToCdaError {
    ToCdaError::Invalid {
        path: path.into(),
        reason: reason.into(),
    }
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn extension<'a>(v: &'a Value, url: &str) -> Option<&'a Value> {
    arr(v, "extension")
        .iter()
        .find(|e| s(e, "url") == Some(url))
}

/// A FHIR decimal as its literal text (`500`, `0.5`), never in exponent form.
fn decimal(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i.to_string())
            } else if let Some(u) = n.as_u64() {
                Some(u.to_string())
            } else {
                n.as_f64().filter(|f| f.is_finite()).map(|f| {
                    let t = format!("{f}");
                    if t.contains('e') || t.contains('E') {
                        format!("{f:.6}")
                    } else {
                        t
                    }
                })
            }
        }
        Value::String(t) if is_plain_decimal(t.trim()) => Some(t.trim().to_owned()),
        _ => None,
    }
}

/// `-12.50`: optional sign, digits, optional fraction (no exponent, as CDA PQ wants).
fn is_plain_decimal(t: &str) -> bool {
    let t = t.strip_prefix('-').unwrap_or(t);
    let (int, frac) = t.split_once('.').unwrap_or((t, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

fn uint(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// The resources a document is built from: a Bundle's entries and a resource's `contained`.
pub(crate) struct Resources<'a> {
    entries: Vec<(Option<&'a str>, &'a Value)>,
}

impl<'a> Resources<'a> {
    /// From a Bundle (its `entry[].resource`) or a single resource (itself and `contained`).
    pub(crate) fn new(root: &'a Value) -> Result<Self, ToCdaError> {
        let mut entries = Vec::new();
        match s(root, "resourceType") {
            Some("Bundle") => {
                for e in arr(root, "entry") {
                    if let Some(r) = e.get("resource") {
                        entries.push((s(e, "fullUrl"), r));
                        for c in arr(r, "contained") {
                            entries.push((None, c));
                        }
                    }
                }
            }
            Some(_) => {
                entries.push((None, root));
                for c in arr(root, "contained") {
                    entries.push((None, c));
                }
            }
            None => return Err(missing("resourceType")),
        }
        Ok(Resources { entries })
    }

    pub(crate) fn of_type(&self, ty: &'a str) -> impl Iterator<Item = &'a Value> + '_ {
        self.entries
            .iter()
            .map(|(_, r)| *r)
            .filter(move |r| s(r, "resourceType") == Some(ty))
    }

    /// Resolves `reference` (`Type/id`, an absolute URL ending in `Type/id`, a `fullUrl` such as
    /// `urn:uuid:…`, or `#id` for contained) to a resource of type `ty`.
    pub(crate) fn resolve(&self, reference: &str, ty: &str) -> Option<&'a Value> {
        let reference = reference.trim();
        if let Some(local) = reference.strip_prefix('#') {
            return self
                .entries
                .iter()
                .map(|(_, r)| *r)
                .find(|r| s(r, "resourceType") == Some(ty) && s(r, "id") == Some(local));
        }
        self.entries.iter().find_map(|(full, r)| {
            if s(r, "resourceType") != Some(ty) {
                return None;
            }
            if *full == Some(reference) {
                return Some(*r);
            }
            let id = s(r, "id")?;
            let rel = reference.rsplit_once('/').and_then(|(head, last)| {
                let t = head.rsplit('/').next()?;
                Some((t, last))
            });
            match rel {
                Some((t, last)) if t == ty && last == id => Some(*r),
                _ => None,
            }
        })
    }

    /// Follows `holder[key]` (a Reference) to a resource of type `ty`; errors name `path`.
    pub(crate) fn follow(
        &self,
        holder: &Value,
        key: &str,
        ty: &str,
        path: &str,
    ) -> Result<&'a Value, ToCdaError> {
        let r = holder.get(key).ok_or_else(|| missing(path))?;
        let reference = s(r, "reference").ok_or_else(|| missing(format!("{path}.reference")))?;
        self.resolve(reference, ty)
            .ok_or_else(|| ToCdaError::UnresolvedReference {
                path: path.to_owned(),
                reference: reference.to_owned(),
            })
    }
}

/// A point in time or a date, kept at the precision FHIR gave it, as an HL7 TS literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ts(pub String);

impl Ts {
    /// FHIR `date` / `dateTime` / `instant` to HL7 TS (`1985-03-02` → `19850302`,
    /// `2026-11-20T10:15:00+01:00` → `20261120101500+0100`). A time without a zone is refused
    /// (eHDSI requires a zone on anything more precise than a day, and FHIR does too).
    pub(crate) fn parse(v: &str, path: &str) -> Result<Ts, ToCdaError> {
        let v = v.trim();
        if v.contains('T') {
            let dt = DateTime::parse_from_rfc3339(v)
                .map_err(|e| invalid(path, format!("not a FHIR dateTime with zone: {e}")))?;
            return Ok(Ts(dt.format("%Y%m%d%H%M%S%z").to_string()));
        }
        let b = v.as_bytes();
        let digit = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        let ok = match b.len() {
            4 => digit(0..4),
            7 => digit(0..4) && b[4] == b'-' && digit(5..7),
            10 => digit(0..4) && b[4] == b'-' && digit(5..7) && b[7] == b'-' && digit(8..10),
            _ => false,
        };
        let digits: String = v.chars().filter(|c| *c != '-').collect();
        if ok {
            Ok(Ts(digits))
        } else {
            Err(invalid(
                path,
                "not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)",
            ))
        }
    }

    /// Readable form for narratives (`2026-11-20 10:15`).
    pub fn human(&self) -> String {
        let d = &self.0;
        match d.len() {
            4 => d.clone(),
            6 => format!("{}-{}", &d[..4], &d[4..6]),
            8 => format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8]),
            n if n >= 12 => format!(
                "{}-{}-{} {}:{}",
                &d[..4],
                &d[4..6],
                &d[6..8],
                &d[8..10],
                &d[10..12]
            ),
            _ => d.clone(),
        }
    }
}

/// A quantity: its decimal literal, its UCUM code if any, and the unit as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub value: String,
    pub ucum_code: Option<String>,
    pub unit_text: Option<String>,
}

impl Quantity {
    fn parse(v: &Value, path: &str) -> Result<Quantity, ToCdaError> {
        let value = v
            .get("value")
            .and_then(decimal)
            .ok_or_else(|| missing(format!("{path}.value")))?;
        let is_ucum = s(v, "system")
            .map(|sys| sys == systems::UCUM_URI || sys.ends_with(systems::UCUM_OID))
            .unwrap_or(false);
        let ucum_code = if is_ucum {
            s(v, "code").map(str::to_owned)
        } else {
            None
        };
        Ok(Quantity {
            value,
            ucum_code,
            unit_text: s(v, "unit").map(str::to_owned),
        })
    }

    /// `500 mg`, `100 tablett`.
    pub fn human(&self) -> String {
        match self.unit_text.as_deref().or(self.ucum_code.as_deref()) {
            Some(u) if u != "1" => format!("{} {}", self.value, u),
            _ => self.value.clone(),
        }
    }
}

/// A FHIR Ratio (strength, package content).
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    pub numerator: Quantity,
    pub denominator: Quantity,
}

impl Ratio {
    fn parse(v: &Value, path: &str) -> Result<Ratio, ToCdaError> {
        let n = v
            .get("numerator")
            .ok_or_else(|| missing(format!("{path}.numerator")))?;
        let numerator = Quantity::parse(n, &format!("{path}.numerator"))?;
        let denominator = match v.get("denominator") {
            Some(d) => Quantity::parse(d, &format!("{path}.denominator"))?,
            None => Quantity {
                value: "1".into(),
                ucum_code: None,
                unit_text: None,
            },
        };
        Ok(Ratio {
            numerator,
            denominator,
        })
    }

    pub fn human(&self) -> String {
        if self.denominator.value == "1" {
            match &self.denominator.unit_text {
                Some(u) => format!("{}/{}", self.numerator.human(), u),
                None => self.numerator.human(),
            }
        } else {
            format!("{}/{}", self.numerator.human(), self.denominator.human())
        }
    }
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub lines: Vec<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: Option<CountryCode>,
}

impl Address {
    fn parse(v: &Value) -> Option<Address> {
        let a = Address {
            lines: arr(v, "line")
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            postal_code: s(v, "postalCode").map(str::to_owned),
            city: s(v, "city").map(str::to_owned),
            country: s(v, "country").and_then(|c| {
                CountryCode::parse(c).ok().or_else(|| {
                    matches!(c.to_lowercase().as_str(), "sverige" | "sweden")
                        .then_some(CountryCode::SE)
                })
            }),
        };
        (!a.lines.is_empty() || a.postal_code.is_some() || a.city.is_some()).then_some(a)
    }

    fn first(v: &Value) -> Option<Address> {
        arr(v, "address").iter().find_map(Address::parse)
    }

    pub fn human(&self) -> String {
        let mut parts: Vec<String> = self.lines.clone();
        let town = [self.postal_code.as_deref(), self.city.as_deref()]
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        if !town.is_empty() {
            parts.push(town);
        }
        if let Some(c) = &self.country {
            parts.push(c.to_string());
        }
        parts.join(", ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelecomSystem {
    Phone,
    Fax,
    Email,
    Url,
}

/// A phone number or e-mail address with its CDA `use` code (eHDSITelecomAddress).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telecom {
    pub system: TelecomSystem,
    pub value: String,
    pub use_code: Option<&'static str>,
}

impl Telecom {
    fn all(v: &Value) -> Vec<Telecom> {
        arr(v, "telecom")
            .iter()
            .filter_map(|t| {
                let system = match s(t, "system")? {
                    "phone" | "sms" => TelecomSystem::Phone,
                    "fax" => TelecomSystem::Fax,
                    "email" => TelecomSystem::Email,
                    "url" => TelecomSystem::Url,
                    _ => return None,
                };
                let use_code = match s(t, "use") {
                    Some("home") => Some("H"),
                    Some("work") => Some("WP"),
                    Some("mobile") => Some("MC"),
                    Some("temp") => Some("TMP"),
                    _ => None,
                };
                Some(Telecom {
                    system,
                    value: s(t, "value")?.to_owned(),
                    use_code,
                })
            })
            .collect()
    }
}

/// A person's name. `Debug` does not print it (it may end up in logs).
#[derive(Clone, PartialEq, Eq)]
pub struct Name {
    pub family: String,
    pub given: Vec<String>,
}

impl Name {
    fn parse(resource: &Value, path: &str) -> Result<Name, ToCdaError> {
        let names = arr(resource, "name");
        let n = names
            .iter()
            .find(|n| s(n, "use") == Some("official"))
            .or_else(|| names.first())
            .ok_or_else(|| missing(format!("{path}.name")))?;
        let family = s(n, "family")
            .ok_or_else(|| missing(format!("{path}.name.family")))?
            .to_owned();
        let given: Vec<String> = arr(n, "given")
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect();
        if given.is_empty() {
            return Err(missing(format!("{path}.name.given")));
        }
        Ok(Name { family, given })
    }

    pub fn human(&self) -> String {
        format!("{} {}", self.given.join(" "), self.family)
    }
}

/// An identifier as CDA writes it: `root` OID and `extension`. `Debug` shows the root only:
/// the extension is a personal identity number or a prescription id.
#[derive(Clone, PartialEq, Eq)]
pub struct Ident {
    pub root: Oid,
    pub extension: String,
}

impl std::fmt::Debug for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ident")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Name(<redacted>)")
    }
}

/// The patient. `Debug` prints no identifying field (names, ids, address, telecom).
#[derive(Clone)]
pub struct PatientView {
    /// Personnummer/samordningsnummer (with its OID), or a foreign id given as `urn:oid:`.
    pub id: Ident,
    pub person_id: Option<PersonId>,
    pub name: Name,
    /// eHDSIAdministrativeGender code (`M`, `F`, `UN`); `None` when unknown.
    pub gender: Option<&'static str>,
    pub birth_time: Ts,
    pub address: Option<Address>,
    pub telecom: Vec<Telecom>,
}

impl std::fmt::Debug for PatientView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientView")
            .field("id", &self.id)
            .field("gender", &self.gender)
            .finish_non_exhaustive()
    }
}

impl PatientView {
    pub(crate) fn parse(p: &Value, allow_foreign_id: bool) -> Result<PatientView, ToCdaError> {
        let ids = arr(p, "identifier");
        let mut swedish_error = None;
        let mut found: Option<(Ident, Option<PersonId>)> = None;
        for i in ids {
            let (Some(sys), Some(val)) = (s(i, "system"), s(i, "value")) else {
                continue;
            };
            match IdentifierSystem::recognise(sys) {
                Some(IdentifierSystem::Personnummer | IdentifierSystem::Samordningsnummer) => {
                    match PersonId::from_identifier(sys, val) {
                        Ok(pid) => {
                            let root = Oid::parse(pid.system_oid())
                                .map_err(|e| invalid("Patient.identifier.system", e.to_string()))?;
                            found = Some((
                                Ident {
                                    root,
                                    extension: pid.as_str().to_owned(),
                                },
                                Some(pid),
                            ));
                            break;
                        }
                        Err(e) => swedish_error = Some(e.to_string()),
                    }
                }
                _ if allow_foreign_id && found.is_none() => {
                    if let Some(oid) = sys
                        .strip_prefix("urn:oid:")
                        .and_then(|o| Oid::parse(o).ok())
                    {
                        found = Some((
                            Ident {
                                root: oid,
                                extension: val.to_owned(),
                            },
                            None,
                        ));
                    }
                }
                _ => {}
            }
        }
        let (id, person_id) = match (found, swedish_error) {
            (Some(f), _) => f,
            (None, Some(reason)) => return Err(invalid("Patient.identifier", reason)),
            (None, None) => {
                return Err(missing(if allow_foreign_id {
                    "Patient.identifier (personnummer, samordningsnummer or urn:oid: identifier)"
                } else {
                    "Patient.identifier (personnummer or samordningsnummer)"
                }))
            }
        };
        let gender = match s(p, "gender") {
            Some("male") => Some("M"),
            Some("female") => Some("F"),
            Some("other") => Some("UN"),
            _ => None,
        };
        let birth = s(p, "birthDate").ok_or_else(|| missing("Patient.birthDate"))?;
        Ok(PatientView {
            id,
            person_id,
            name: Name::parse(p, "Patient")?,
            gender,
            birth_time: Ts::parse(birth, "Patient.birthDate")?,
            address: Address::first(p),
            telecom: Telecom::all(p),
        })
    }
}

/// An organisation (care unit, pharmacy) with its HSA-id.
#[derive(Debug, Clone)]
pub struct OrganizationView {
    pub hsa_id: HsaId,
    pub name: String,
    pub address: Option<Address>,
    pub telecom: Vec<Telecom>,
}

fn hsa_id_of(r: &Value, path: &str) -> Result<HsaId, ToCdaError> {
    let mut err = None;
    for i in arr(r, "identifier") {
        if let (Some(sys), Some(val)) = (s(i, "system"), s(i, "value")) {
            if IdentifierSystem::recognise(sys) == Some(IdentifierSystem::HsaId) {
                match HsaId::parse(val) {
                    Ok(h) => return Ok(h),
                    Err(e) => err = Some(e.to_string()),
                }
            }
        }
    }
    match err {
        Some(reason) => Err(invalid(format!("{path}.identifier"), reason)),
        None => Err(missing(format!("{path}.identifier (HSA-id)"))),
    }
}

impl OrganizationView {
    pub(crate) fn parse(o: &Value) -> Result<OrganizationView, ToCdaError> {
        Ok(OrganizationView {
            hsa_id: hsa_id_of(o, "Organization")?,
            name: s(o, "name")
                .ok_or_else(|| missing("Organization.name"))?
                .to_owned(),
            address: Address::first(o),
            telecom: Telecom::all(o),
        })
    }
}

/// A health professional (prescriber, pharmacist) and the organisation they act for.
#[derive(Debug, Clone)]
pub struct ProfessionalView {
    pub hsa_id: HsaId,
    pub name: Name,
    /// Role codes as sent (Swedish `legitimerad yrkesgrupp` such as `LK`, or ISCO codes).
    pub role_codes: Vec<String>,
    pub telecom: Vec<Telecom>,
    pub organization: OrganizationView,
}

impl ProfessionalView {
    /// From a PractitionerRole (with practitioner and organization references).
    pub(crate) fn from_role(
        res: &Resources<'_>,
        role: &Value,
    ) -> Result<ProfessionalView, ToCdaError> {
        let pr = res.follow(
            role,
            "practitioner",
            "Practitioner",
            "PractitionerRole.practitioner",
        )?;
        let org = res.follow(
            role,
            "organization",
            "Organization",
            "PractitionerRole.organization",
        )?;
        let role_codes = arr(role, "code")
            .iter()
            .flat_map(|c| arr(c, "coding"))
            .filter_map(|c| s(c, "code"))
            .map(str::to_owned)
            .collect();
        let mut telecom = Telecom::all(role);
        if telecom.is_empty() {
            telecom = Telecom::all(pr);
        }
        Ok(ProfessionalView {
            hsa_id: hsa_id_of(pr, "Practitioner")?,
            name: Name::parse(pr, "Practitioner")?,
            role_codes,
            telecom,
            organization: OrganizationView::parse(org)?,
        })
    }
}

/// A code read from a FHIR Coding, with its system turned into an OID.
fn coded_from(c: &Value, path: &str) -> Result<Coded, ToCdaError> {
    let sys = s(c, "system").ok_or_else(|| missing(format!("{path}.system")))?;
    let code = s(c, "code").ok_or_else(|| missing(format!("{path}.code")))?;
    let mut coded = Coded::from_fhir(sys, code)
        .or_else(|| {
            IdentifierSystem::recognise(sys)
                .and_then(|k| Oid::parse(k.oid()).ok())
                .map(|o| Coded::new(code, o))
        })
        .ok_or_else(|| {
            invalid(
                format!("{path}.system"),
                format!("unknown code system {sys}"),
            )
        })?;
    if let Some(d) = s(c, "display") {
        coded.display = Some(d.to_owned());
    }
    coded.code_system_name = terminology::code_systems::name(&coded.code_system).map(str::to_owned);
    Ok(coded)
}

fn codings(cc: &Value) -> &[Value] {
    arr(cc, "coding")
}

fn coding_in<'a>(cc: &'a Value, uri: &str, oid: &str) -> Option<&'a Value> {
    codings(cc).iter().find(|c| {
        s(c, "system")
            .map(|sys| sys == uri || sys.strip_prefix("urn:oid:").unwrap_or(sys) == oid)
            .unwrap_or(false)
    })
}

/// An ingredient of a medicinal product.
#[derive(Debug, Clone)]
pub struct IngredientView {
    pub substance: Coded,
    pub active: bool,
    pub strength: Option<Ratio>,
}

/// A medicinal product (NLLMedication).
#[derive(Debug, Clone)]
pub struct MedicationView {
    pub name: String,
    pub npl_id: Option<Coded>,
    /// The product's ATC class.
    pub atc: Option<Coded>,
    /// Dose form as sent (EDQM, or another system: then it goes through the OTH rule).
    pub form: Option<Coded>,
    pub ingredients: Vec<IngredientView>,
    /// Package content (100 tablets / 1 package).
    pub amount: Option<Ratio>,
    /// NPL pack id with its description (`Burk, 100 tabletter`).
    pub package: Option<Coded>,
    /// EDQM package type.
    pub package_type: Option<Coded>,
    pub narcotic_class: Option<String>,
}

impl MedicationView {
    pub(crate) fn parse(m: &Value) -> Result<MedicationView, ToCdaError> {
        let code = m.get("code").ok_or_else(|| missing("Medication.code"))?;
        let npl_id = coding_in(code, systems::NPL_ID_URI, systems::NPL_ID_OID)
            .map(|c| coded_from(c, "Medication.code.coding"))
            .transpose()?;
        let atc = coding_in(code, systems::ATC_URI, systems::ATC_OID)
            .map(|c| coded_from(c, "Medication.code.coding"))
            .transpose()?;
        let name = s(code, "text")
            .or_else(|| npl_id.as_ref().and_then(|c| c.display.as_deref()))
            .or_else(|| codings(code).iter().find_map(|c| s(c, "display")))
            .ok_or_else(|| missing("Medication.code.text"))?
            .to_owned();
        let form = m
            .get("form")
            .and_then(|f| codings(f).first())
            .map(|c| coded_from(c, "Medication.form.coding"))
            .transpose()?;
        let mut ingredients = Vec::new();
        for (i, ing) in arr(m, "ingredient").iter().enumerate() {
            let path = format!("Medication.ingredient[{i}]");
            let item = ing
                .get("itemCodeableConcept")
                .ok_or_else(|| missing(format!("{path}.itemCodeableConcept")))?;
            let coding = coding_in(item, systems::ATC_URI, systems::ATC_OID)
                .or_else(|| codings(item).first())
                .ok_or_else(|| missing(format!("{path}.itemCodeableConcept.coding")))?;
            let mut substance = coded_from(coding, &format!("{path}.itemCodeableConcept.coding"))?;
            if substance.display.is_none() {
                substance.display = s(item, "text").map(str::to_owned);
            }
            let strength = ing
                .get("strength")
                .map(|r| Ratio::parse(r, &format!("{path}.strength")))
                .transpose()?;
            ingredients.push(IngredientView {
                substance,
                active: ing.get("isActive").and_then(Value::as_bool).unwrap_or(true),
                strength,
            });
        }
        let amount = m
            .get("amount")
            .map(|r| Ratio::parse(r, "Medication.amount"))
            .transpose()?;
        let ext_code = |url: &str, path: &str| -> Result<Option<Coded>, ToCdaError> {
            extension(m, url)
                .and_then(|e| e.get("valueCodeableConcept"))
                .and_then(|cc| {
                    let text = s(cc, "text");
                    codings(cc).first().map(|c| (c, text))
                })
                .map(|(c, text)| {
                    coded_from(c, path).map(|mut k| {
                        if k.display.is_none() {
                            k.display = text.map(str::to_owned);
                        }
                        k
                    })
                })
                .transpose()
        };
        Ok(MedicationView {
            name,
            npl_id,
            atc,
            form,
            ingredients,
            amount,
            package: ext_code(EXT_PACKAGE, "Medication.extension[nll-package]")?,
            package_type: ext_code(EXT_PACKAGE_TYPE, "Medication.extension[nll-package-type]")?,
            narcotic_class: extension(m, EXT_NARCOTIC)
                .and_then(|e| s(e, "valueCode"))
                .map(str::to_owned),
        })
    }
}

/// One dosage instruction.
#[derive(Debug, Clone, Default)]
pub struct DosageView {
    pub text: Option<String>,
    pub frequency: Option<u32>,
    pub period: Option<f64>,
    pub period_unit: Option<String>,
    pub route: Option<Coded>,
    pub dose: Option<Quantity>,
}

impl DosageView {
    fn parse(d: &Value, i: usize) -> Result<DosageView, ToCdaError> {
        let path = format!("MedicationRequest.dosageInstruction[{i}]");
        let repeat = d.get("timing").and_then(|t| t.get("repeat"));
        let route = d
            .get("route")
            .and_then(|r| codings(r).first())
            .map(|c| coded_from(c, &format!("{path}.route.coding")))
            .transpose()?;
        let dose = arr(d, "doseAndRate")
            .iter()
            .find_map(|dr| dr.get("doseQuantity"))
            .map(|q| Quantity::parse(q, &format!("{path}.doseAndRate.doseQuantity")))
            .transpose()?;
        Ok(DosageView {
            text: s(d, "text").map(str::to_owned),
            frequency: uint(repeat.and_then(|r| r.get("frequency"))),
            period: repeat
                .and_then(|r| r.get("period"))
                .and_then(Value::as_f64)
                .filter(|p| p.is_finite() && *p > 0.0),
            period_unit: repeat.and_then(|r| s(r, "periodUnit")).map(str::to_owned),
            route,
            dose,
        })
    }
}

/// Whether the prescription is still open or fully dispensed (eHDSI allows only these two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Active,
    Completed,
}

/// An NLL prescription with everything an ePrescription document needs.
#[derive(Debug, Clone)]
pub struct PrescriptionView {
    pub id: String,
    pub nll_id: Option<String>,
    pub status: RequestStatus,
    pub authored_on: Ts,
    pub patient: PatientView,
    pub prescriber: ProfessionalView,
    pub medication: MedicationView,
    pub dosage: Vec<DosageView>,
    pub validity_start: Option<Ts>,
    pub validity_end: Option<Ts>,
    pub repeats_allowed: Option<u32>,
    pub remaining: Option<u32>,
    /// Number of packages per dispensation.
    pub quantity: Option<Quantity>,
    pub substitution_allowed: Option<bool>,
    pub notes: Vec<String>,
}

impl PrescriptionView {
    /// Finds the MedicationRequest `prescription_id` (its `id` or NLL identifier) in the bundle
    /// and reads everything it references.
    pub(crate) fn from_bundle(
        bundle: &Value,
        prescription_id: &str,
    ) -> Result<PrescriptionView, ToCdaError> {
        if s(bundle, "resourceType") != Some("Bundle") {
            return Err(invalid("Bundle.resourceType", "expected a Bundle"));
        }
        let res = Resources::new(bundle)?;
        let mr = res
            .of_type("MedicationRequest")
            .find(|mr| {
                s(mr, "id") == Some(prescription_id)
                    || arr(mr, "identifier")
                        .iter()
                        .any(|i| s(i, "value") == Some(prescription_id))
            })
            .ok_or_else(|| ToCdaError::PrescriptionNotFound(prescription_id.to_owned()))?;
        Self::parse(&res, mr)
    }

    pub(crate) fn parse(res: &Resources<'_>, mr: &Value) -> Result<PrescriptionView, ToCdaError> {
        let id = s(mr, "id")
            .ok_or_else(|| missing("MedicationRequest.id"))?
            .to_owned();
        let status = match s(mr, "status") {
            Some("active") => RequestStatus::Active,
            Some("completed") => RequestStatus::Completed,
            Some(other) => {
                return Err(invalid(
                    "MedicationRequest.status",
                    format!("{other}: only active or completed prescriptions are shared"),
                ))
            }
            None => return Err(missing("MedicationRequest.status")),
        };
        let authored =
            s(mr, "authoredOn").ok_or_else(|| missing("MedicationRequest.authoredOn"))?;
        let med = res.follow(
            mr,
            "medicationReference",
            "Medication",
            "MedicationRequest.medicationReference",
        )?;
        let patient = res.follow(mr, "subject", "Patient", "MedicationRequest.subject")?;
        let role = res.follow(
            mr,
            "requester",
            "PractitionerRole",
            "MedicationRequest.requester",
        )?;
        let dr = mr.get("dispenseRequest");
        let validity = dr.and_then(|d| d.get("validityPeriod"));
        let ts_opt = |key: &str| -> Result<Option<Ts>, ToCdaError> {
            validity
                .and_then(|v| s(v, key))
                .map(|t| {
                    Ts::parse(
                        t,
                        &format!("MedicationRequest.dispenseRequest.validityPeriod.{key}"),
                    )
                })
                .transpose()
        };
        let dosage = arr(mr, "dosageInstruction")
            .iter()
            .enumerate()
            .map(|(i, d)| DosageView::parse(d, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PrescriptionView {
            nll_id: arr(mr, "identifier")
                .iter()
                .find(|i| s(i, "system") == Some(NLL_PRESCRIPTION_ID_URI))
                .and_then(|i| s(i, "value"))
                .map(str::to_owned),
            id,
            status,
            authored_on: Ts::parse(authored, "MedicationRequest.authoredOn")?,
            patient: PatientView::parse(patient, false)?,
            prescriber: ProfessionalView::from_role(res, role)?,
            medication: MedicationView::parse(med)?,
            dosage,
            validity_start: ts_opt("start")?,
            validity_end: ts_opt("end")?,
            repeats_allowed: uint(dr.and_then(|d| d.get("numberOfRepeatsAllowed"))),
            remaining: dr
                .and_then(|d| extension(d, EXT_REMAINING))
                .and_then(|e| uint(e.get("valueInteger"))),
            quantity: dr
                .and_then(|d| d.get("quantity"))
                .map(|q| Quantity::parse(q, "MedicationRequest.dispenseRequest.quantity"))
                .transpose()?,
            substitution_allowed: mr
                .get("substitution")
                .and_then(|x| x.get("allowedBoolean"))
                .and_then(Value::as_bool),
            notes: arr(mr, "note")
                .iter()
                .filter_map(|n| s(n, "text"))
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// A Swedish pharmacy's dispensation of a (foreign) prescription. `Debug` prints neither the
/// patient nor the ids.
#[derive(Clone)]
pub struct DispenseView {
    pub id: String,
    pub discarded: bool,
    pub handed_over: Ts,
    pub patient: PatientView,
    pub pharmacist: ProfessionalView,
    pub medication: MedicationView,
    /// The prescribed product, when the authorizing prescription carries one we can read.
    pub prescribed: Option<MedicationView>,
    /// The foreign ePrescription's id (document id), from the authorizing prescription.
    pub prescription: Ident,
    /// The foreign prescription item (substanceAdministration) id, when distinct.
    pub prescription_item: Option<Ident>,
    pub quantity: Quantity,
    pub substituted: bool,
    pub substitution_type: Option<Coded>,
    pub dosage_text: Option<String>,
    pub notes: Vec<String>,
}

impl std::fmt::Debug for DispenseView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispenseView")
            .field("discarded", &self.discarded)
            .field("patient", &self.patient)
            .field("prescription", &self.prescription)
            .finish_non_exhaustive()
    }
}

/// A CDA instance identifier from a FHIR Identifier: `urn:oid:{root}` + value, or a root-only
/// id (`urn:ietf:rfc:3986` with value `urn:oid:{root}`, extension empty).
fn oid_ident(i: &Value) -> Option<Ident> {
    let sys = s(i, "system")?;
    let value = s(i, "value")?;
    if sys == "urn:ietf:rfc:3986" {
        let root = Oid::parse(value.strip_prefix("urn:oid:")?).ok()?;
        return Some(Ident {
            root,
            extension: String::new(),
        });
    }
    let root = Oid::parse(sys.strip_prefix("urn:oid:")?).ok()?;
    Some(Ident {
        root,
        extension: value.to_owned(),
    })
}

impl DispenseView {
    /// From a MedicationDispense (with `contained` resources) or a Bundle holding one.
    pub(crate) fn parse(root: &Value) -> Result<DispenseView, ToCdaError> {
        let res = Resources::new(root)?;
        let md = res
            .of_type("MedicationDispense")
            .next()
            .ok_or_else(|| missing("MedicationDispense"))?;
        let id = s(md, "id")
            .or_else(|| {
                arr(md, "identifier")
                    .iter()
                    .find(|i| s(i, "system") == Some(NLL_DISPENSE_ID_URI))
                    .and_then(|i| s(i, "value"))
            })
            .ok_or_else(|| missing("MedicationDispense.id"))?
            .to_owned();
        let discarded = match s(md, "status") {
            Some("completed") => false,
            Some("entered-in-error") => true,
            Some(other) => {
                return Err(invalid(
                    "MedicationDispense.status",
                    format!("{other}: expected completed or entered-in-error"),
                ))
            }
            None => return Err(missing("MedicationDispense.status")),
        };
        let handed = s(md, "whenHandedOver")
            .or_else(|| s(md, "whenPrepared"))
            .ok_or_else(|| missing("MedicationDispense.whenHandedOver"))?;
        let patient = res.follow(md, "subject", "Patient", "MedicationDispense.subject")?;
        let med = res.follow(
            md,
            "medicationReference",
            "Medication",
            "MedicationDispense.medicationReference",
        )?;
        let performer = arr(md, "performer")
            .first()
            .and_then(|p| p.get("actor"))
            .ok_or_else(|| missing("MedicationDispense.performer.actor"))?;
        let actor_ref = s(performer, "reference")
            .ok_or_else(|| missing("MedicationDispense.performer.actor.reference"))?;
        let pharmacist = match res.resolve(actor_ref, "PractitionerRole") {
            Some(role) => ProfessionalView::from_role(&res, role)?,
            None => {
                return Err(ToCdaError::UnresolvedReference {
                    path: "MedicationDispense.performer.actor".into(),
                    reference: actor_ref.to_owned(),
                })
            }
        };
        let auth = arr(md, "authorizingPrescription")
            .first()
            .ok_or_else(|| missing("MedicationDispense.authorizingPrescription"))?;
        // The foreign prescription id: on the reference itself (identifier), or on the
        // referenced MedicationRequest: the ePrescription document id in `groupIdentifier`
        // and the item in `identifier` (as to_fhir writes them), or both in `identifier`
        // (document first).
        let mr = s(auth, "reference").and_then(|r| res.resolve(r, "MedicationRequest"));
        let mut idents: Vec<Ident> = Vec::new();
        if let Some(i) = auth.get("identifier").and_then(oid_ident) {
            idents.push(i);
        }
        if let Some(mr) = mr {
            if let Some(g) = mr.get("groupIdentifier").and_then(oid_ident) {
                idents.push(g);
            }
            idents.extend(arr(mr, "identifier").iter().filter_map(oid_ident));
        }
        let mut idents = idents.into_iter();
        let prescription = idents.next().ok_or_else(|| {
            missing("MedicationDispense.authorizingPrescription.identifier (urn:oid: system)")
        })?;
        let prescription_item = idents.next();
        let prescribed = mr
            .and_then(|mr| mr.get("medicationReference"))
            .and_then(|r| s(r, "reference"))
            .and_then(|r| res.resolve(r, "Medication"))
            .and_then(|m| MedicationView::parse(m).ok());
        let q = md
            .get("quantity")
            .ok_or_else(|| missing("MedicationDispense.quantity"))?;
        let sub = md.get("substitution");
        Ok(DispenseView {
            id,
            discarded,
            handed_over: Ts::parse(handed, "MedicationDispense.whenHandedOver")?,
            patient: PatientView::parse(patient, true)?,
            pharmacist,
            medication: MedicationView::parse(med)?,
            prescribed,
            prescription,
            prescription_item,
            quantity: Quantity::parse(q, "MedicationDispense.quantity")?,
            substituted: sub
                .and_then(|x| x.get("wasSubstituted"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            substitution_type: sub
                .and_then(|x| x.get("type"))
                .and_then(|t| codings(t).first())
                .and_then(|c| coded_from(c, "MedicationDispense.substitution.type").ok()),
            dosage_text: arr(md, "dosageInstruction")
                .iter()
                .find_map(|d| s(d, "text"))
                .map(str::to_owned),
            notes: arr(md, "note")
                .iter()
                .filter_map(|n| s(n, "text"))
                .map(str::to_owned)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Debug` of what a document is written from used to print the patient's name,
    /// personnummer, address and phone (and `?value` ends up in logs).
    #[test]
    fn debug_prints_no_patient_data() {
        let p = serde_json::json!({
            "resourceType": "Patient",
            "identifier": [{"system": "http://electronichealth.se/identifier/personnummer",
                            "value": "191212121212"}],
            "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
            "gender": "male",
            "birthDate": "1912-12-12",
            "address": [{"line": ["Storgatan 1"], "city": "Uppsala", "postalCode": "75320",
                         "country": "SE"}],
            "telecom": [{"system": "phone", "value": "+46701234567"}]
        });
        let view = PatientView::parse(&p, false).unwrap();
        assert_eq!(view.id.extension, "191212121212");
        let shown = format!("{view:?}");
        for secret in ["1212", "Tolvan", "Storgatan", "Uppsala", "4670"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn ts_keeps_precision_and_requires_zone() {
        assert_eq!(Ts::parse("1985-03-02", "x").unwrap().0, "19850302");
        assert_eq!(Ts::parse("1985", "x").unwrap().0, "1985");
        assert_eq!(
            Ts::parse("2026-11-20T10:15:00+01:00", "x").unwrap().0,
            "20261120101500+0100"
        );
        assert!(Ts::parse("2026-11-20T10:15:00", "x").is_err());
        assert!(Ts::parse("20261120", "x").is_err());
        assert!(Ts::parse("2026-1-2", "x").is_err());
        assert!(Ts::parse("2026--1102", "x").is_err());
        assert!(Ts::parse("2026-11", "x").is_ok());
    }

    #[test]
    fn decimals_keep_their_literal() {
        assert_eq!(decimal(&serde_json::json!(500)).unwrap(), "500");
        assert_eq!(decimal(&serde_json::json!(0.5)).unwrap(), "0.5");
        assert!(decimal(&serde_json::json!("abc")).is_none());
        assert!(decimal(&serde_json::json!("1e5")).is_none());
        assert_eq!(decimal(&serde_json::json!("-2.50")).unwrap(), "-2.50");
    }

    #[test]
    fn references_resolve_in_every_form() {
        let b = serde_json::json!({"resourceType": "Bundle", "entry": [
            {"fullUrl": "urn:uuid:abc", "resource": {"resourceType": "Medication", "id": "m1"}}
        ]});
        let r = Resources::new(&b).unwrap();
        assert!(r.resolve("Medication/m1", "Medication").is_some());
        assert!(r
            .resolve("http://x/fhir/Medication/m1", "Medication")
            .is_some());
        assert!(r.resolve("urn:uuid:abc", "Medication").is_some());
        assert!(r.resolve("Patient/m1", "Patient").is_none());
        assert!(r.resolve("Medication/m2", "Medication").is_none());
    }
}
