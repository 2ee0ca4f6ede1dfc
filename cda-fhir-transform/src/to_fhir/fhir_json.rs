//! Small builders for FHIR R4 JSON from the CDA model's data types.

use ncp_types::systems::{IdentifierSystem, UCUM_URI};
use serde_json::{Map, Value};

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

/// Inserts `value` under `key` unless it is null, an empty string, array or object.
pub(crate) fn put(obj: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if !empty {
        obj.insert(key.to_owned(), value);
    }
}

pub(crate) fn opt_str(s: Option<&str>) -> Value {
    s.map(|x| Value::String(x.to_owned()))
        .unwrap_or(Value::Null)
}

/// A FHIR `Coding`: original code, system and display kept; a Swedish display, when the
/// terminology knows one, rides along as a `translation` extension on `display`.
pub fn coding(c: &Code) -> Value {
    let mut o = Map::with_capacity(4);
    put(
        &mut o,
        "system",
        Value::String(swedish::system_uri(&c.code_system)),
    );
    put(&mut o, "code", Value::String(c.code.clone()));
    let sv = swedish::swedish_display(&c.code_system, &c.code);
    match (&c.display, sv) {
        (Some(d), Some(sv)) if d != sv => {
            put(&mut o, "display", Value::String(d.clone()));
            o.insert("_display".into(), translation_extension_sv(sv));
        }
        (Some(d), _) => put(&mut o, "display", Value::String(d.clone())),
        (None, Some(sv)) => put(&mut o, "display", Value::String(sv.to_owned())),
        (None, None) => {}
    }
    Value::Object(o)
}

/// The `_display` translation extension: Swedish `content` for a `Coding.display` (an empty
/// content leaves `valueString` out, as FHIR JSON has no empty strings).
fn translation_extension_sv(content: &str) -> Value {
    let content = if content.is_empty() {
        j!({"url": "content"})
    } else {
        j!({"url": "content", "valueString": content})
    };
    j!({"extension": [{
        "url": TRANSLATION_EXTENSION,
        "extension": [
            {"url": "lang", "valueCode": "sv"},
            content
        ]
    }]})
}

/// A `CodeableConcept`: the code, then its translations, and `text` (the original text, else
/// the original display).
pub fn codeable(c: &Code, text: Option<&str>) -> Value {
    let mut codings = vec![coding(c)];
    codings.extend(c.translations.iter().map(coding));
    let mut o = Map::with_capacity(2);
    o.insert("coding".into(), Value::Array(codings));
    put(&mut o, "text", opt_str(text.or(c.display.as_deref())));
    Value::Object(o)
}

/// Several codes for one concept (product codes and classes) in one `CodeableConcept`.
pub fn codeable_many<'c>(codes: impl IntoIterator<Item = &'c Code>, text: Option<&str>) -> Value {
    let mut codings = Vec::new();
    for c in codes {
        codings.push(coding(c));
        codings.extend(c.translations.iter().map(coding));
    }
    let mut o = Map::with_capacity(2);
    put(&mut o, "coding", Value::Array(codings));
    put(&mut o, "text", opt_str(text));
    Value::Object(o)
}

/// A FHIR `Identifier` for an II: Swedish identity systems get their URI; otherwise
/// `urn:oid:{root}` with the extension, or `urn:ietf:rfc:3986` with the root as a URN.
pub fn identifier(id: &InstanceId) -> Value {
    match &id.extension {
        Some(ext) => {
            let system = IdentifierSystem::recognise(id.root.as_str())
                .map(|s| s.uri().to_owned())
                .unwrap_or_else(|| id.root.to_urn());
            j!({"system": system, "value": ext.as_str()})
        }
        None => j!({"system": "urn:ietf:rfc:3986", "value": id.root.to_urn()}),
    }
}

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

/// A JSON number from a CDA decimal (integers stay integers).
pub fn number(d: &Decimal) -> Value {
    let s = d.as_str();
    if !s.contains('.') {
        if let Ok(i) = s.parse::<i64>() {
            return Value::from(i);
        }
    }
    serde_json::Number::from_f64(d.to_f64())
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn ucum_like(unit: &str) -> bool {
    !unit.is_empty() && unit.bytes().all(|b| b.is_ascii_graphic())
}

/// A FHIR `Quantity` (UCUM coded when the unit looks like a UCUM code).
pub fn quantity(q: &Quantity) -> Value {
    let mut o = Map::with_capacity(4);
    put(&mut o, "value", number(&q.value));
    put(&mut o, "unit", Value::String(q.unit.clone()));
    if ucum_like(&q.unit) {
        put(&mut o, "system", Value::String(UCUM_URI.into()));
        put(&mut o, "code", Value::String(q.unit.clone()));
    }
    Value::Object(o)
}

pub fn ratio(r: &Ratio) -> Value {
    j!({"numerator": quantity(&r.numerator), "denominator": quantity(&r.denominator)})
}

pub fn period(p: &Period) -> Value {
    let mut o = Map::with_capacity(2);
    if let Some(s) = &p.start {
        put(&mut o, "start", Value::String(date_time(s)));
    }
    if let Some(e) = &p.end {
        put(&mut o, "end", Value::String(date_time(e)));
    }
    Value::Object(o)
}

pub fn human_name(n: &PersonName) -> Value {
    let mut o = Map::with_capacity(4);
    if !n.family.is_empty() {
        put(&mut o, "family", Value::String(n.family.join(" ")));
    }
    put(&mut o, "given", j!(n.given.clone()));
    put(&mut o, "prefix", j!(n.prefix.clone()));
    put(&mut o, "suffix", j!(n.suffix.clone()));
    Value::Object(o)
}

pub fn address(a: &Address) -> Value {
    let mut o = Map::with_capacity(5);
    put(&mut o, "line", j!(a.lines.clone()));
    put(&mut o, "city", opt_str(a.city.as_deref()));
    put(&mut o, "postalCode", opt_str(a.postal_code.as_deref()));
    put(&mut o, "state", opt_str(a.state.as_deref()));
    let country = a
        .country
        .map(|c| c.as_str().to_owned())
        .or_else(|| a.country_text.clone());
    put(&mut o, "country", opt_str(country.as_deref()));
    Value::Object(o)
}

pub fn telecoms(ts: &[Telecom]) -> Value {
    Value::Array(
        ts.iter()
            .map(|t| {
                let system = match t.kind {
                    TelecomKind::Phone => "phone",
                    TelecomKind::Email => "email",
                    TelecomKind::Fax => "fax",
                    TelecomKind::Url => "url",
                };
                j!({"system": system, "value": t.value.as_str()})
            })
            .collect(),
    )
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

/// A `Reference` with an optional display (absent, not null, when there is none).
pub(crate) fn reference(reference: String, display: Option<&str>) -> Value {
    let mut o = Map::with_capacity(2);
    o.insert("reference".into(), Value::String(reference));
    if let Some(d) = display.filter(|d| !d.is_empty()) {
        o.insert("display".into(), Value::String(d.to_owned()));
    }
    Value::Object(o)
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
        let v = translation_extension_sv("Tablett");
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
