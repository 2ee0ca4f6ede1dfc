//! A small, fast XML writer for CDA documents, and the writers for CDA data types that the
//! documents share (coded values with the eHDSI OTH rule, ids, quantities, times, names,
//! addresses, telecoms).
//!
//! Documents are built by appending to one `String`: no DOM, no intermediate events. Text and
//! attribute values are escaped with `quick_xml::escape` (which only allocates when something
//! needs escaping).

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::escape::{escape, partial_escape};
use terminology::{Coded, Transcoded};

use super::fhir::{Address, Quantity, Telecom, TelecomSystem};

/// `s` without the characters XML 1.0 forbids (C0 controls other than tab, LF, CR, and
/// U+FFFE/U+FFFF), which are replaced by U+FFFD; borrowed when there are none.
fn xml_chars(s: &str) -> Cow<'_, str> {
    let forbidden = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
    };
    if s.bytes()
        .all(|b| b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r'))
        && !s.contains(['\u{FFFE}', '\u{FFFF}'])
    {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(
            s.chars()
                .map(|c| if forbidden(c) { '\u{FFFD}' } else { c })
                .collect(),
        )
    }
}

/// Appends XML to a string, keeping the stack of open elements so ends cannot mismatch.
pub(crate) struct Xml {
    buf: String,
    stack: Vec<&'static str>,
}

impl Xml {
    pub(crate) fn with_capacity(cap: usize) -> Self {
        let mut buf = String::with_capacity(cap);
        buf.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        Xml {
            buf,
            stack: Vec::with_capacity(16),
        }
    }

    fn attrs(&mut self, attrs: &[(&str, &str)]) {
        for (k, v) in attrs {
            self.buf.push(' ');
            self.buf.push_str(k);
            self.buf.push_str("=\"");
            self.buf.push_str(&escape(xml_chars(v).as_ref()));
            self.buf.push('"');
        }
    }

    /// `<name a="v">`, to be closed by [`Xml::end`].
    pub(crate) fn start(&mut self, name: &'static str, attrs: &[(&str, &str)]) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(name);
        self.attrs(attrs);
        self.buf.push('>');
        self.stack.push(name);
        self
    }

    /// `<name a="v"/>`.
    pub(crate) fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(name);
        self.attrs(attrs);
        self.buf.push_str("/>");
        self
    }

    /// Closes the innermost open element.
    pub(crate) fn end(&mut self) -> &mut Self {
        if let Some(name) = self.stack.pop() {
            self.buf.push_str("</");
            self.buf.push_str(name);
            self.buf.push('>');
        }
        self
    }

    /// Escaped character data.
    pub(crate) fn text(&mut self, text: &str) -> &mut Self {
        self.buf.push_str(&partial_escape(xml_chars(text).as_ref()));
        self
    }

    /// `<name a="v">text</name>`.
    pub(crate) fn leaf(&mut self, name: &'static str, attrs: &[(&str, &str)], text: &str) {
        self.start(name, attrs);
        self.text(text);
        self.end();
    }

    /// Raw, already well-formed XML (used for base64 and fixed fragments only).
    pub(crate) fn raw(&mut self, xml: &str) -> &mut Self {
        self.buf.push_str(xml);
        self
    }

    pub(crate) fn newline(&mut self) {
        self.buf.push('\n');
    }

    /// Closes anything still open and returns the document.
    pub(crate) fn finish(mut self) -> String {
        while !self.stack.is_empty() {
            self.end();
        }
        self.buf.push('\n');
        self.buf
    }
}

/// The attributes of a coded value, in CDA order.
pub(crate) fn coded_attrs(c: &Coded) -> Vec<(&'static str, &str)> {
    let mut a: Vec<(&'static str, &str)> = Vec::with_capacity(4);
    a.push(("code", c.code.as_str()));
    a.push(("codeSystem", c.code_system.as_str()));
    if let Some(n) = &c.code_system_name {
        a.push(("codeSystemName", n.as_str()));
    }
    if let Some(d) = &c.display {
        a.push(("displayName", d.as_str()));
    }
    a
}

/// Writes a coded element (`CD`/`CE`) for a transcoding outcome, following the eHDSI rule:
/// - a member of the value set is written as is;
/// - a mapped code is written as the eHDSI target with the original as `<translation>`;
/// - an unmapped code is written `nullFlavor="OTH"` with the original as `<translation>`, so
///   that no code is ever dropped.
///
/// `name` is the element name (`code`, `pharm:formCode`, `routeCode`, ...); `translation`
/// elements are always in the HL7 namespace.
pub(crate) fn coded(x: &mut Xml, name: &'static str, extra: &[(&str, &str)], t: &Transcoded) {
    match t {
        Transcoded::Member(c) => {
            let mut a = coded_attrs(c);
            a.extend_from_slice(extra);
            x.empty(name, &a);
        }
        Transcoded::Mapped { target, original } => {
            let mut a = coded_attrs(target);
            a.extend_from_slice(extra);
            x.start(name, &a);
            x.empty("translation", &coded_attrs(original));
            x.end();
        }
        Transcoded::Unmapped { original } => {
            let mut a: Vec<(&str, &str)> = vec![("nullFlavor", "OTH")];
            a.extend_from_slice(extra);
            x.start(name, &a);
            if let Some(d) = &original.display {
                x.leaf("originalText", &[], d);
            }
            x.empty("translation", &coded_attrs(original));
            x.end();
        }
    }
}

/// `<name root=".." extension=".."/>`.
pub(crate) fn ii(x: &mut Xml, name: &str, root: &str, extension: Option<&str>) {
    match extension.filter(|e| !e.is_empty()) {
        Some(e) => x.empty(name, &[("root", root), ("extension", e)]),
        None => x.empty(name, &[("root", root)]),
    };
}

/// A UCUM unit for CDA: the UCUM code when the quantity carries one, `1` otherwise (a count of
/// things: tablets, packages), which eHDSIUnit accepts.
pub(crate) fn ucum_unit(q: &Quantity) -> &str {
    q.ucum_code.as_deref().unwrap_or("1")
}

/// `<name value=".." unit=".."/>` for a PQ, with optional `xsi:type`.
pub(crate) fn pq(x: &mut Xml, name: &str, q: &Quantity, xsi_type: bool) {
    let unit = ucum_unit(q);
    if xsi_type {
        x.empty(
            name,
            &[("xsi:type", "PQ"), ("value", &q.value), ("unit", unit)],
        );
    } else {
        x.empty(name, &[("value", &q.value), ("unit", unit)]);
    }
}

/// A person name: `<name><family/><given/>…</name>`.
pub(crate) fn person_name(x: &mut Xml, family: &str, given: &[String]) {
    x.start("name", &[]);
    x.leaf("family", &[], family);
    for g in given {
        x.leaf("given", &[], g);
    }
    x.end();
}

/// An address; `nullFlavor="NI"` when there is none. `default_country` is written when the
/// address has no country (the eHDSI organisation templates require one).
pub(crate) fn addr(x: &mut Xml, a: Option<&Address>, default_country: Option<&str>) {
    let Some(a) = a else {
        match default_country {
            Some(c) => {
                x.start("addr", &[]);
                x.leaf("country", &[], c);
                x.end();
            }
            None => {
                x.empty("addr", &[("nullFlavor", "NI")]);
            }
        }
        return;
    };
    x.start("addr", &[]);
    for l in &a.lines {
        x.leaf("streetAddressLine", &[], l);
    }
    if let Some(p) = &a.postal_code {
        x.leaf("postalCode", &[], p);
    }
    if let Some(c) = &a.city {
        x.leaf("city", &[], c);
    }
    match (&a.country, default_country) {
        (Some(c), _) => x.leaf("country", &[], c.as_str()),
        (None, Some(c)) => x.leaf("country", &[], c),
        (None, None) => {}
    }
    x.end();
}

/// Telecoms; one `nullFlavor="NI"` when there are none.
pub(crate) fn telecoms(x: &mut Xml, t: &[Telecom]) {
    if t.is_empty() {
        x.empty("telecom", &[("nullFlavor", "NI")]);
        return;
    }
    let mut value = String::with_capacity(32);
    for tc in t {
        value.clear();
        let scheme = match tc.system {
            TelecomSystem::Phone => "tel:",
            TelecomSystem::Fax => "fax:",
            TelecomSystem::Email => "mailto:",
            TelecomSystem::Url => "",
        };
        value.push_str(scheme);
        value.extend(tc.value.chars().filter(|c| !c.is_whitespace()));
        match tc.use_code {
            Some(u) => x.empty("telecom", &[("use", u), ("value", &value)]),
            None => x.empty("telecom", &[("value", &value)]),
        };
    }
}

/// Formats an integer into a small string (for attributes).
pub(crate) fn int(n: u32) -> String {
    let mut s = String::with_capacity(4);
    let _ = write!(s, "{n}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_drops_forbidden_characters() {
        let mut x = Xml::with_capacity(64);
        x.leaf("a", &[("v", "\"<&>'\u{1}")], "<&>\u{0}ok\u{FFFF}");
        let doc = x.finish();
        let want = "<a v=\"&quot;&lt;&amp;&gt;&apos;\u{FFFD}\">&lt;&amp;&gt;\u{FFFD}ok\u{FFFD}</a>";
        assert!(doc.contains(want), "{doc}");
    }
}
