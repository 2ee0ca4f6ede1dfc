//! Guarded XML reading and a small escaping writer, shared by the SOAP and IHE layers.
//!
//! Every message from a foreign NCP is hostile until parsed: [`parse`] refuses a DOCTYPE (so no
//! entity can be declared, let alone expanded), bounds the size, the element depth and the
//! number of nodes, and only then builds a namespace-aware tree. A depth bomb is caught by a
//! streaming pre-scan before any tree exists.

use std::fmt::Write as _;

use quick_xml::events::Event;

/// Bounds applied to every incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest HTTP body accepted, all MIME parts included.
    pub max_bytes: usize,
    /// Deepest element nesting accepted.
    pub max_depth: usize,
    /// Most XML nodes (elements, attributes, text) accepted in one document.
    pub max_nodes: u32,
    /// Most MIME parts accepted in one multipart/related message.
    pub max_parts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 32 * 1024 * 1024,
            max_depth: 64,
            max_nodes: 200_000,
            max_parts: 64,
        }
    }
}

/// Why an XML document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("element nesting exceeds the limit of {limit}")]
    TooDeep { limit: usize },
    #[error("too many XML nodes")]
    TooManyNodes,
    #[error("a DOCTYPE is not allowed")]
    Doctype,
    #[error("the XML is not UTF-8")]
    NotUtf8,
    /// Malformed XML. The text says where, never what the message carried.
    #[error("malformed XML: {0}")]
    Malformed(String),
}

/// Checks `bytes` against the limits and parses them into a namespace-aware tree.
pub fn parse<'a>(bytes: &'a [u8], limits: &Limits) -> Result<roxmltree::Document<'a>, XmlError> {
    let text = guard(bytes, limits)?;
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: limits.max_nodes,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => XmlError::Doctype,
        roxmltree::Error::NodesLimitReached => XmlError::TooManyNodes,
        other => XmlError::Malformed(format!("at {}", other.pos())),
    })
}

/// Size, encoding, DOCTYPE and depth checks, by a streaming scan that builds nothing.
pub fn guard<'a>(bytes: &'a [u8], limits: &Limits) -> Result<&'a str, XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::NotUtf8)?;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
            }
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::DocType(_)) => return Err(XmlError::Doctype),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) => {
                return Err(XmlError::Malformed(format!(
                    "near byte {}",
                    reader.buffer_position()
                )))
            }
        }
    }
    Ok(text)
}

/// The element `node` as standalone XML: its own bytes, with the namespace declarations it
/// inherits from its ancestors added to its start tag, so it parses on its own.
pub fn element_bytes(node: roxmltree::Node<'_, '_>) -> Vec<u8> {
    let input = node.document().input_text();
    let range = node.range();
    let src = &input[range.clone()];
    let tag_end = start_tag_end(src);
    let declared = declared_namespaces(&src[..tag_end]);
    let name_end = src[1..]
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .map_or(src.len(), |i| i + 1);
    let mut out = String::with_capacity(src.len() + 256);
    out.push_str(&src[..name_end]);
    for ns in node.namespaces() {
        let prefix = ns.name();
        if prefix == Some("xml") || declared.iter().any(|d| d.as_deref() == prefix) {
            continue;
        }
        match prefix {
            Some(p) => {
                let _ = write!(out, " xmlns:{p}=\"{}\"", escape_attr(ns.uri()));
            }
            None => {
                let _ = write!(out, " xmlns=\"{}\"", escape_attr(ns.uri()));
            }
        }
    }
    out.push_str(&src[name_end..]);
    out.into_bytes()
}

/// Index just past the `>` that closes the start tag at the beginning of `src`.
fn start_tag_end(src: &str) -> usize {
    let mut quote: Option<char> = None;
    for (i, c) in src.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return i + 1,
            _ => {}
        }
    }
    src.len()
}

/// The prefixes a start tag declares itself (`None` for the default namespace).
fn declared_namespaces(tag: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut token = String::new();
    for c in tag.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '=') => {
                let name = token.trim();
                if name == "xmlns" {
                    out.push(None);
                } else if let Some(p) = name.strip_prefix("xmlns:") {
                    out.push(Some(p.to_owned()));
                }
                token.clear();
            }
            (None, c) if c.is_whitespace() => token.clear(),
            (None, c) => token.push(c),
        }
    }
    out
}

/// Escapes text content.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Escapes an attribute value (double-quoted).
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A forward-only XML writer that escapes everything it is given.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
    open: Vec<String>,
}

impl XmlWriter {
    pub fn new() -> Self {
        XmlWriter::default()
    }

    /// Opens `<name a="v" ...>`.
    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.start_tag(name, attrs);
        self.out.push('>');
        self.open.push(name.to_owned());
        self
    }

    /// Writes `<name a="v" .../>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.start_tag(name, attrs);
        self.out.push_str("/>");
        self
    }

    /// Writes `<name ...>text</name>`.
    pub fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.start_tag(name, attrs);
        self.out.push('>');
        self.out.push_str(&escape_text(text));
        let _ = write!(self.out, "</{name}>");
        self
    }

    /// Writes escaped text.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.out.push_str(&escape_text(text));
        self
    }

    /// Writes an already well-formed fragment (such as [`element_bytes`] output) verbatim.
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            let _ = write!(self.out, "</{name}>");
        }
        self
    }

    /// Closes whatever is still open and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        while !self.open.is_empty() {
            self.close();
        }
        self.out.into_bytes()
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        let _ = write!(self.out, "<{name}");
        for (k, v) in attrs {
            let _ = write!(self.out, " {k}=\"{}\"", escape_attr(v));
        }
    }
}

/// Child elements of `node` with namespace `ns` and local name `local`.
pub fn children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    ns: &'a str,
    local: &'a str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> + 'a {
    node.children()
        .filter(move |c| c.is_element() && c.has_tag_name((ns, local)))
}

/// The first child element of `node` with namespace `ns` and local name `local`.
pub fn child<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    ns: &'a str,
    local: &'a str,
) -> Option<roxmltree::Node<'a, 'i>> {
    children(node, ns, local).next()
}

/// All the text inside `node`, trimmed.
pub fn text_of(node: roxmltree::Node<'_, '_>) -> String {
    let mut s = String::new();
    for d in node.descendants().filter(|d| d.is_text()) {
        s.push_str(d.text().unwrap_or(""));
    }
    s.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_doctype_and_depth() {
        let l = Limits::default();
        let dt = b"<?xml version='1.0'?><!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>";
        assert_eq!(guard(dt, &l).unwrap_err(), XmlError::Doctype);
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(
            guard(deep.as_bytes(), &l).unwrap_err(),
            XmlError::TooDeep { limit: 64 }
        );
    }

    #[test]
    fn element_bytes_carries_inherited_namespaces() {
        let xml = r#"<e:Env xmlns:e="urn:e" xmlns:x="urn:x"><e:Body><x:a xmlns:y="urn:y" k='v>w'><x:b/></x:a></e:Body></e:Env>"#;
        let doc = roxmltree::Document::parse(xml).unwrap();
        let a = doc
            .descendants()
            .find(|n| n.has_tag_name(("urn:x", "a")))
            .unwrap();
        let bytes = element_bytes(a);
        let s = std::str::from_utf8(&bytes).unwrap();
        let re = roxmltree::Document::parse(s).unwrap();
        assert!(re.root_element().has_tag_name(("urn:x", "a")));
        assert_eq!(s.matches("xmlns:y=").count(), 1);
    }

    #[test]
    fn writer_escapes() {
        let mut w = XmlWriter::new();
        w.open("a", &[("k", "\"<&>")]).text("<&>\u{1}");
        let s = String::from_utf8(w.finish()).unwrap();
        assert_eq!(s, "<a k=\"&quot;&lt;&amp;&gt;\">&lt;&amp;&gt;\u{FFFD}</a>");
    }
}
