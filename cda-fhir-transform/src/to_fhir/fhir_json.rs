//! FHIR R4 JSON for the CDA model's data types: `Serialize` views that borrow from the model
//! (a `Coding`, `CodeableConcept`, `Identifier`, `Quantity`, ...), written by serde straight
//! to JSON text, or to a `serde_json::Value` for the Value API, from the same code.
//!
//! FHIR JSON has no `null` and no empty strings, arrays or objects: the views leave such
//! members out (the `*_entry` helpers), and callers ask `is_empty` before writing a member
//! whose object could turn out empty.

use ncp_types::systems::{IdentifierSystem, UCUM_URI};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use super::cda_model::*;
use super::swedish;

/// NLL's idempotency key for a dispensation (posting the same identifier twice is a no-op).
pub const NLL_DISPENSE_ID_SYSTEM: &str = "http://electronichealth.se/identifier/nll-dispense-id";
/// NLL prescription identifier system.
pub const NLL_PRESCRIPTION_ID_SYSTEM: &str =
    "http://electronichealth.se/identifier/nll-prescription-id";
/// NLL extension base.
pub const NLL_EXTENSION_BASE: &str = "http://electronichealth.se/fhir/StructureDefinition/";
/// The bridge's own extensions (lossless carriage of CDA content NLL has no element for).
pub const NCP_EXTENSION_BASE: &str = "http://electronichealth.se/fhir/StructureDefinition/ncp-";
/// The core FHIR translation extension (used on `Coding.display` for the Swedish display).
pub const TRANSLATION_EXTENSION: &str = "http://hl7.org/fhir/StructureDefinition/translation";

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
pub fn date(t: &Timestamp) -> String {
    let mut s = String::with_capacity(25);
    push_date(&mut s, t);
    s
}

fn push_digits(s: &mut String, v: u32, width: u32) {
    for i in (0..width).rev() {
        s.push(char::from(b'0' + ((v / 10u32.pow(i)) % 10) as u8));
    }
}

fn push_date(s: &mut String, t: &Timestamp) {
    if t.year > 9999 {
        s.push_str(&t.year.to_string());
    } else {
        push_digits(s, u32::from(t.year), 4);
    }
    if let Some(m) = t.month {
        s.push('-');
        push_two(s, m);
        if let Some(d) = t.day {
            s.push('-');
            push_two(s, d);
        }
    }
}

/// `{v:02}`.
fn push_two(s: &mut String, v: u8) {
    if v > 99 {
        s.push_str(&v.to_string());
    } else {
        push_digits(s, u32::from(v), 2);
    }
}

/// A FHIR `dateTime`. FHIR requires a time zone with a time, so a CDA time without an offset
/// is reduced to its date rather than guessing the zone.
pub fn date_time(t: &Timestamp) -> String {
    match (t.time, t.offset_minutes, t.day) {
        (Some((h, mi, se)), Some(off), Some(_)) => {
            let a = off.unsigned_abs();
            let mut s = String::with_capacity(25);
            push_date(&mut s, t);
            s.push('T');
            push_two(&mut s, h);
            s.push(':');
            push_two(&mut s, mi);
            s.push(':');
            push_two(&mut s, se);
            s.push(if off < 0 { '-' } else { '+' });
            let (oh, om) = (a / 60, a % 60);
            if oh > 99 {
                s.push_str(&oh.to_string());
            } else {
                push_digits(&mut s, u32::from(oh), 2);
            }
            s.push(':');
            push_digits(&mut s, u32::from(om), 2);
            s
        }
        _ => date(t),
    }
}

/// A FHIR id (`[A-Za-z0-9\-\.]{1,64}`) for `s`, if `s` already is one.
pub fn as_fhir_id(s: &str) -> Option<&str> {
    (!s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
    .then_some(s)
}

/// A deterministic UUID-shaped name (version 8, RFC 9562 "custom") for `seed`, so that the
/// same document always converts to the same Bundle.
pub fn stable_uuid(seed: &str) -> String {
    let mut out = String::with_capacity(45);
    out.push_str("urn:uuid:");
    push_uuid(&mut out, seed);
    out
}

fn push_uuid(out: &mut String, seed: &str) {
    fn fnv(seed: &str, basis: u64) -> u64 {
        seed.bytes().fold(basis, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
    fn hex(out: &mut String, v: u64, digits: u32) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for i in (0..digits).rev() {
            out.push(char::from(HEX[((v >> (i * 4)) & 0xf) as usize]));
        }
    }
    let hi = fnv(seed, 0xcbf2_9ce4_8422_2325);
    let lo = fnv(seed, 0x8422_2325_cbf2_9ce4 ^ hi.rotate_left(17));
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_8000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    hex(out, hi >> 32, 8);
    out.push('-');
    hex(out, (hi >> 16) & 0xffff, 4);
    out.push('-');
    hex(out, hi & 0xffff, 4);
    out.push('-');
    hex(out, lo >> 48, 4);
    out.push('-');
    hex(out, lo & 0xffff_ffff_ffff, 12);
}

// ----- writing helpers ---------------------------------------------------------------------

/// `key: value` unless `value` is empty (FHIR JSON has no empty strings).
pub(crate) fn str_entry<M: SerializeMap>(
    m: &mut M,
    key: &str,
    value: &str,
) -> Result<(), M::Error> {
    if value.is_empty() {
        Ok(())
    } else {
        m.serialize_entry(key, value)
    }
}

/// `key: value` when there is a non-empty value.
pub(crate) fn opt_str_entry<M: SerializeMap>(
    m: &mut M,
    key: &str,
    value: Option<&str>,
) -> Result<(), M::Error> {
    match value {
        Some(v) => str_entry(m, key, v),
        None => Ok(()),
    }
}

/// `key: [items]` unless there are none.
pub(crate) fn seq_entry<M: SerializeMap, T: Serialize>(
    m: &mut M,
    key: &str,
    items: &[T],
) -> Result<(), M::Error> {
    if items.is_empty() {
        Ok(())
    } else {
        m.serialize_entry(key, items)
    }
}

/// A JSON array written from an iterator of views (no intermediate vector).
pub(crate) struct SeqOf<F>(pub F);

impl<I, T, F> Serialize for SeqOf<F>
where
    F: Fn() -> I,
    I: Iterator<Item = T>,
    T: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for item in (self.0)() {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

/// A one-member object `{key: value}`.
pub(crate) struct One<'k, V>(pub &'k str, pub V);

impl<V: Serialize> Serialize for One<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, &self.1)?;
        m.end()
    }
}

/// `urn:oid:{oid}` written without an intermediate string.
pub(crate) struct OidUrn<'a>(pub &'a ncp_types::Oid);

impl Serialize for OidUrn<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Joined on the stack (OIDs are short), no formatting machinery per identifier.
        const URN: &[u8] = b"urn:oid:";
        let oid = self.0.as_str().as_bytes();
        let mut buf = [0u8; 96];
        if let Some(joined) = buf.get_mut(..URN.len() + oid.len()) {
            let (head, tail) = joined.split_at_mut(URN.len());
            head.copy_from_slice(URN);
            tail.copy_from_slice(oid);
            if let Ok(text) = std::str::from_utf8(joined) {
                return s.serialize_str(text);
            }
        }
        s.collect_str(&format_args!("urn:oid:{}", self.0.as_str()))
    }
}

// ----- data types -----------------------------------------------------------------------------

/// A FHIR `Coding`: original code, system and display kept; a Swedish display, when the
/// terminology knows one, rides along as a `translation` extension on `display`.
pub(crate) struct CodingJ<'a>(pub &'a Code);

impl Serialize for CodingJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(None)?;
        match swedish::known_system_uri(&c.code_system) {
            Some(uri) => m.serialize_entry("system", uri)?,
            None => m.serialize_entry("system", &OidUrn(&c.code_system))?,
        }
        str_entry(&mut m, "code", &c.code)?;
        let sv = swedish::swedish_display(&c.code_system, &c.code);
        match (&c.display, sv) {
            (Some(d), Some(sv)) if d != sv => {
                str_entry(&mut m, "display", d)?;
                m.serialize_entry("_display", &TranslationSv(sv))?;
            }
            (Some(d), _) => str_entry(&mut m, "display", d)?,
            (None, Some(sv)) => str_entry(&mut m, "display", sv)?,
            (None, None) => {}
        }
        m.end()
    }
}

/// The `_display` translation extension: Swedish `content` for a `Coding.display` (an empty
/// content leaves `valueString` out, as FHIR JSON has no empty strings).
pub(crate) struct TranslationSv<'a>(pub &'a str);

#[derive(serde::Serialize)]
struct UrlValue<'a> {
    url: &'a str,
    #[serde(rename = "valueCode", skip_serializing_if = "Option::is_none")]
    value_code: Option<&'a str>,
    #[serde(rename = "valueString", skip_serializing_if = "str::is_empty")]
    value_string: &'a str,
}

impl Serialize for TranslationSv<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Translation<'a> {
            url: &'a str,
            extension: [UrlValue<'a>; 2],
        }
        let inner = Translation {
            url: TRANSLATION_EXTENSION,
            extension: [
                UrlValue {
                    url: "lang",
                    value_code: Some("sv"),
                    value_string: "",
                },
                UrlValue {
                    url: "content",
                    value_code: None,
                    value_string: self.0,
                },
            ],
        };
        One("extension", [inner]).serialize(s)
    }
}

/// Every coding of a code: itself, then its translations.
fn codings(c: &Code) -> impl Iterator<Item = CodingJ<'_>> {
    std::iter::once(CodingJ(c)).chain(c.translations.iter().map(CodingJ))
}

/// A `CodeableConcept`: the code, then its translations, and `text` (the original text, else
/// the original display).
pub(crate) struct CodeableJ<'a>(pub &'a Code, pub Option<&'a str>);

impl Serialize for CodeableJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("coding", &SeqOf(|| codings(c)))?;
        opt_str_entry(&mut m, "text", self.1.or(c.display.as_deref()))?;
        m.end()
    }
}

/// Several codes for one concept (product codes, then classes) in one `CodeableConcept`.
pub(crate) struct CodeableManyJ<'a> {
    pub codes: &'a [Code],
    pub more: &'a [Code],
    pub text: Option<&'a str>,
}

impl CodeableManyJ<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.codes.is_empty() && self.more.is_empty() && self.text.is_none_or(str::is_empty)
    }
}

impl Serialize for CodeableManyJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if !self.codes.is_empty() || !self.more.is_empty() {
            m.serialize_entry(
                "coding",
                &SeqOf(|| self.codes.iter().chain(self.more).flat_map(codings)),
            )?;
        }
        opt_str_entry(&mut m, "text", self.text)?;
        m.end()
    }
}

/// A FHIR `Identifier` for an II: Swedish identity systems get their URI; otherwise
/// `urn:oid:{root}` with the extension, or `urn:ietf:rfc:3986` with the root as a URN.
pub(crate) struct IdentifierJ<'a>(pub &'a InstanceId);

impl Serialize for IdentifierJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let id = self.0;
        let mut m = s.serialize_map(Some(2))?;
        match &id.extension {
            Some(ext) => {
                match IdentifierSystem::recognise(id.root.as_str()) {
                    Some(sys) => m.serialize_entry("system", sys.uri())?,
                    None => m.serialize_entry("system", &OidUrn(&id.root))?,
                }
                m.serialize_entry("value", ext)?;
            }
            None => {
                m.serialize_entry("system", "urn:ietf:rfc:3986")?;
                m.serialize_entry("value", &OidUrn(&id.root))?;
            }
        }
        m.end()
    }
}

/// A JSON number from a CDA decimal (integers stay integers; `None` if not representable).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Num::Int(i) => s.serialize_i64(i),
            Num::Float(f) => s.serialize_f64(f),
        }
    }
}

pub(crate) fn number(d: &Decimal) -> Option<Num> {
    let s = d.as_str();
    if !s.contains('.') {
        if let Ok(i) = s.parse::<i64>() {
            return Some(Num::Int(i));
        }
    }
    let f = d.to_f64();
    f.is_finite().then_some(Num::Float(f))
}

fn ucum_like(unit: &str) -> bool {
    !unit.is_empty() && unit.bytes().all(|b| b.is_ascii_graphic())
}

/// A FHIR `Quantity` (UCUM coded when the unit looks like a UCUM code). `unit_text`, when
/// given, replaces the human-readable `unit` (the UCUM `code` stays the CDA unit).
pub(crate) struct QuantityJ<'a> {
    pub q: &'a Quantity,
    pub unit_text: Option<&'a str>,
}

pub(crate) fn quantity(q: &Quantity) -> QuantityJ<'_> {
    QuantityJ { q, unit_text: None }
}

impl Serialize for QuantityJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let q = self.q;
        let mut m = s.serialize_map(None)?;
        if let Some(n) = number(&q.value) {
            m.serialize_entry("value", &n)?;
        }
        if !q.unit.is_empty() {
            str_entry(&mut m, "unit", self.unit_text.unwrap_or(&q.unit))?;
        }
        if ucum_like(&q.unit) {
            m.serialize_entry("system", UCUM_URI)?;
            m.serialize_entry("code", &q.unit)?;
        }
        m.end()
    }
}

pub(crate) struct RatioJ<'a>(pub &'a Ratio);

impl Serialize for RatioJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("numerator", &quantity(&self.0.numerator))?;
        m.serialize_entry("denominator", &quantity(&self.0.denominator))?;
        m.end()
    }
}

pub(crate) struct PeriodJ<'a>(pub &'a Period);

impl PeriodJ<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.start.is_none() && self.0.end.is_none()
    }
}

impl Serialize for PeriodJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(t) = &self.0.start {
            str_entry(&mut m, "start", &date_time(t))?;
        }
        if let Some(t) = &self.0.end {
            str_entry(&mut m, "end", &date_time(t))?;
        }
        m.end()
    }
}

/// Space-joined parts (`family` may come in several elements).
struct Joined<'a>(&'a [String]);

impl Serialize for Joined<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => s.serialize_str(one),
            many => s.serialize_str(&many.join(" ")),
        }
    }
}

pub(crate) struct HumanNameJ<'a>(pub &'a PersonName);

impl Serialize for HumanNameJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let mut m = s.serialize_map(None)?;
        // Joined with spaces: empty only when there is nothing, or one empty part.
        if !matches!(n.family.as_slice(), [] | [_])
            || n.family.first().is_some_and(|f| !f.is_empty())
        {
            m.serialize_entry("family", &Joined(&n.family))?;
        }
        seq_entry(&mut m, "given", &n.given)?;
        seq_entry(&mut m, "prefix", &n.prefix)?;
        seq_entry(&mut m, "suffix", &n.suffix)?;
        m.end()
    }
}

pub(crate) struct AddressJ<'a>(pub &'a Address);

impl AddressJ<'_> {
    fn country(&self) -> Option<&str> {
        let a = self.0;
        a.country
            .as_ref()
            .map(|c| c.as_str())
            .or(a.country_text.as_deref())
    }

    pub(crate) fn is_empty(&self) -> bool {
        let a = self.0;
        let blank = |x: &Option<String>| x.as_deref().is_none_or(str::is_empty);
        a.lines.is_empty()
            && blank(&a.city)
            && blank(&a.postal_code)
            && blank(&a.state)
            && self.country().is_none_or(str::is_empty)
    }
}

impl Serialize for AddressJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut m = s.serialize_map(None)?;
        seq_entry(&mut m, "line", &a.lines)?;
        opt_str_entry(&mut m, "city", a.city.as_deref())?;
        opt_str_entry(&mut m, "postalCode", a.postal_code.as_deref())?;
        opt_str_entry(&mut m, "state", a.state.as_deref())?;
        opt_str_entry(&mut m, "country", self.country())?;
        m.end()
    }
}

pub(crate) struct TelecomJ<'a>(pub &'a Telecom);

impl Serialize for TelecomJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let system = match t.kind {
            TelecomKind::Phone => "phone",
            TelecomKind::Email => "email",
            TelecomKind::Fax => "fax",
            TelecomKind::Url => "url",
        };
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("system", system)?;
        m.serialize_entry("value", &t.value)?;
        m.end()
    }
}

/// `telecom: [...]` unless there are none.
pub(crate) fn telecom_entry<M: SerializeMap>(m: &mut M, ts: &[Telecom]) -> Result<(), M::Error> {
    if ts.is_empty() {
        return Ok(());
    }
    m.serialize_entry("telecom", &SeqOf(|| ts.iter().map(TelecomJ)))
}

/// `identifier: [...]` unless there are none.
pub(crate) fn identifiers_entry<M: SerializeMap>(
    m: &mut M,
    ids: &[InstanceId],
) -> Result<(), M::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    m.serialize_entry("identifier", &SeqOf(|| ids.iter().map(IdentifierJ)))
}

/// A `Reference` with an optional display (absent, not null, when there is none).
pub(crate) struct ReferenceJ<'a> {
    pub reference: &'a str,
    pub display: Option<&'a str>,
}

impl Serialize for ReferenceJ<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("reference", self.reference)?;
        opt_str_entry(&mut m, "display", self.display)?;
        m.end()
    }
}

/// `{"reference": r}`.
pub(crate) fn reference(r: &str) -> ReferenceJ<'_> {
    ReferenceJ {
        reference: r,
        display: None,
    }
}

/// A view as a `serde_json::Value` (for the Value API).
pub(crate) fn to_value<T: Serialize>(view: &T) -> Value {
    // The views write only string keys, strings, numbers and booleans: nothing `to_value`
    // can refuse.
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// True when `v` holds anything FHIR JSON forbids and the builders must not produce: a
/// `null`, or an empty string, array or object as a member value (checked in debug builds).
pub(crate) fn has_empty_members(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.values().any(|x| {
            matches!(x, Value::Null)
                || matches!(x, Value::String(s) if s.is_empty())
                || matches!(x, Value::Array(a) if a.is_empty())
                || matches!(x, Value::Object(m) if m.is_empty())
                || has_empty_members(x)
        }),
        Value::Array(a) => a.iter().any(|x| x.is_null() || has_empty_members(x)),
        _ => false,
    }
}

/// Every `(system, code)` pair of every `Coding` in `v` (for tests and audits).
pub fn all_codings(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(o) => {
                if let (Some(Value::String(s)), Some(Value::String(c))) =
                    (o.get("system"), o.get("code"))
                {
                    out.push((s.clone(), c.clone()));
                }
                o.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_uuid_shape() {
        let a = stable_uuid("x");
        assert_eq!(a, stable_uuid("x"));
        assert_ne!(a, stable_uuid("y"));
        assert_eq!(a.len(), "urn:uuid:".len() + 36);
    }

    #[test]
    fn dates_format_like_format_macro() {
        for (year, month, day, time, off) in [
            (1886u16, Some(6u8), Some(29u8), None, None),
            (7, Some(1), None, None, None),
            (2019, None, None, None, None),
            (
                12345,
                Some(12),
                Some(31),
                Some((23u8, 59u8, 60u8)),
                Some(-840i16),
            ),
            (2019, Some(11), Some(22), Some((0, 5, 9)), Some(0)),
            (2019, Some(11), Some(22), Some((14, 35, 0)), Some(330)),
        ] {
            let t = Timestamp {
                year,
                month,
                day,
                time,
                offset_minutes: off,
            };
            let mut want = format!("{year:04}");
            if let Some(m) = month {
                want.push_str(&format!("-{m:02}"));
                if let Some(d) = day {
                    want.push_str(&format!("-{d:02}"));
                }
            }
            assert_eq!(date(&t), want);
            if let (Some((h, mi, se)), Some(o)) = (time, off) {
                let sign = if o < 0 { '-' } else { '+' };
                let a = o.unsigned_abs();
                want = format!(
                    "{want}T{h:02}:{mi:02}:{se:02}{sign}{:02}:{:02}",
                    a / 60,
                    a % 60
                );
            }
            assert_eq!(date_time(&t), want);
        }
    }

    #[test]
    fn translation_extension_shape() {
        let v = to_value(&TranslationSv("Tablett"));
        let want = serde_json::json!({"extension": [{
            "url": TRANSLATION_EXTENSION,
            "extension": [
                {"url": "lang", "valueCode": "sv"},
                {"url": "content", "valueString": "Tablett"}
            ]
        }]});
        assert_eq!(v, want);
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            serde_json::to_string(&want).unwrap()
        );
    }

    #[test]
    fn date_time_needs_zone() {
        let t = crate::to_fhir::parse::parse_ts("20191122143500+0200").unwrap();
        assert_eq!(date_time(&t), "2019-11-22T14:35:00+02:00");
        let t = crate::to_fhir::parse::parse_ts("20180831162454").unwrap();
        assert_eq!(date_time(&t), "2018-08-31");
    }
}
