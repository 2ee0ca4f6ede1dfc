//! A small, hostile-input-proof element tree over the CDA text.
//!
//! quick-xml's namespace-aware reader feeds an arena of nodes that borrow names, attribute values
//! and text from the input wherever no unescaping is needed. Guards: input size, nesting depth and
//! element count are capped; a DOCTYPE is refused outright (so no DTD, no external or internal
//! entities); only the five predefined entities and character references are expanded.

use std::borrow::Cow;
use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::{FromCdaError, ReaderLimits};

/// The namespaces a CDA element may come in. The three CDA families (HL7 v3, the old epSOS
/// medication extension and the Wave 8 `pharm:` extension) are treated alike when matching names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    /// `urn:hl7-org:v3`, or no namespace at all (tolerated).
    Hl7,
    /// `urn:epsos-org:ep:medication` (Wave 7 and earlier).
    Epsos,
    /// `urn:hl7-org:pharm` (Wave 8).
    Pharm,
    /// Anything else (sdtc:, vendor extensions): never matched as a CDA element.
    Other,
}

impl Ns {
    fn is_cda(self) -> bool {
        !matches!(self, Ns::Other)
    }

    fn from_uri(uri: &[u8]) -> Ns {
        match uri {
            b"urn:hl7-org:v3" => Ns::Hl7,
            b"urn:epsos-org:ep:medication" => Ns::Epsos,
            b"urn:hl7-org:pharm" => Ns::Pharm,
            _ => Ns::Other,
        }
    }
}

pub(crate) type NodeId = u32;
const NONE: NodeId = u32::MAX;

struct Node<'a> {
    ns: Ns,
    name: Cow<'a, str>,
    parent: NodeId,
    first_child: NodeId,
    last_child: NodeId,
    next_sibling: NodeId,
    attrs: (u32, u32),
    text: Cow<'a, str>,
}

struct Attr<'a> {
    name: Cow<'a, str>,
    value: Cow<'a, str>,
}

/// The parsed element tree. Node 0 is the root element.
pub(crate) struct Dom<'a> {
    nodes: Vec<Node<'a>>,
    attrs: Vec<Attr<'a>>,
    /// Elements carrying an `ID` attribute (narrative targets of `<reference value="#…">`),
    /// first occurrence wins. Indexed once so resolving references stays linear.
    ids: HashMap<Cow<'a, str>, NodeId>,
}

/// Re-borrows `part` from `input` when it is a slice of it, so the tree can hold `&'a str`
/// without copying. Falls back to an owned copy otherwise.
fn anchor<'a>(input: &'a str, part: &[u8]) -> Result<Cow<'a, str>, std::str::Utf8Error> {
    let base = input.as_ptr() as usize;
    let start = part.as_ptr() as usize;
    if start >= base && start + part.len() <= base + input.len() {
        let off = start - base;
        if let Some(s) = input.get(off..off + part.len()) {
            return Ok(Cow::Borrowed(s));
        }
    }
    std::str::from_utf8(part).map(|s| Cow::Owned(s.to_owned()))
}

fn anchor_cow<'a>(input: &'a str, part: Cow<'_, str>) -> Cow<'a, str> {
    match part {
        Cow::Borrowed(s) => anchor(input, s.as_bytes()).unwrap_or(Cow::Owned(s.to_owned())),
        Cow::Owned(s) => Cow::Owned(s),
    }
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

impl<'a> Dom<'a> {
    /// Parses `input` into a tree, enforcing `limits`.
    pub(crate) fn parse(input: &'a str, limits: &ReaderLimits) -> Result<Dom<'a>, FromCdaError> {
        if input.len() > limits.max_bytes {
            return Err(FromCdaError::TooLarge {
                size: input.len(),
                limit: limits.max_bytes,
            });
        }
        let input = input.strip_prefix('\u{feff}').unwrap_or(input);
        let mut reader = NsReader::from_str(input);
        reader.config_mut().check_end_names = true;
        let mut dom = Dom {
            nodes: Vec::with_capacity(input.len() / 64),
            attrs: Vec::with_capacity(input.len() / 32),
            ids: HashMap::new(),
        };
        let mut current: NodeId = NONE;
        let mut depth = 0usize;
        let mut root_done = false;

        let xml_err = |reader: &NsReader<&'a [u8]>, e: &dyn std::fmt::Display| FromCdaError::Xml {
            position: reader.error_position(),
            message: e.to_string(),
        };

        loop {
            let (ns, event) = match reader.read_resolved_event() {
                Ok((res, ev)) => {
                    let ns = match res {
                        ResolveResult::Bound(n) => Ns::from_uri(n.into_inner()),
                        ResolveResult::Unbound => Ns::Hl7,
                        // Tolerate the well-known prefixes used without a declaration.
                        ResolveResult::Unknown(p) => match p.as_slice() {
                            b"epsos" => Ns::Epsos,
                            b"pharm" => Ns::Pharm,
                            _ => Ns::Other,
                        },
                    };
                    (ns, ev)
                }
                Err(e) => return Err(xml_err(&reader, &e)),
            };
            match event {
                Event::DocType(_) => return Err(FromCdaError::Doctype),
                ev @ (Event::Start(_) | Event::Empty(_)) => {
                    let (e, is_start) = match ev {
                        Event::Start(e) => (e, true),
                        Event::Empty(e) => (e, false),
                        _ => continue,
                    };
                    if root_done {
                        return Err(FromCdaError::Xml {
                            position: reader.buffer_position(),
                            message: "content after the root element".into(),
                        });
                    }
                    if dom.nodes.len() >= limits.max_elements {
                        return Err(FromCdaError::TooManyElements {
                            limit: limits.max_elements,
                        });
                    }
                    depth += 1;
                    if depth > limits.max_depth {
                        let at = if current == NONE {
                            "/".to_owned()
                        } else {
                            dom.path(current)
                        };
                        return Err(FromCdaError::TooDeep {
                            limit: limits.max_depth,
                            at,
                        });
                    }
                    let local = e.local_name();
                    let name =
                        anchor(input, local.into_inner()).map_err(|err| xml_err(&reader, &err))?;
                    let a0 = dom.attrs.len() as u32;
                    for attr in e.attributes() {
                        let attr = attr.map_err(|err| xml_err(&reader, &err))?;
                        let key = attr.key;
                        if key.as_namespace_binding().is_some() {
                            continue;
                        }
                        let aname = anchor(input, key.local_name().into_inner())
                            .map_err(|err| xml_err(&reader, &err))?;
                        let value = attr
                            .unescape_value()
                            .map_err(|err| xml_err(&reader, &err))?;
                        let value = anchor_cow(input, value);
                        if aname == "ID" {
                            dom.ids
                                .entry(value.clone())
                                .or_insert(dom.nodes.len() as NodeId);
                        }
                        dom.attrs.push(Attr { name: aname, value });
                    }
                    let id = dom.nodes.len() as NodeId;
                    dom.nodes.push(Node {
                        ns,
                        name,
                        parent: current,
                        first_child: NONE,
                        last_child: NONE,
                        next_sibling: NONE,
                        attrs: (a0, dom.attrs.len() as u32),
                        text: Cow::Borrowed(""),
                    });
                    if current != NONE {
                        let last = dom.nodes[current as usize].last_child;
                        if last == NONE {
                            dom.nodes[current as usize].first_child = id;
                        } else {
                            dom.nodes[last as usize].next_sibling = id;
                        }
                        dom.nodes[current as usize].last_child = id;
                    }
                    // `Empty` closes at once; `Start` descends.
                    if is_start {
                        current = id;
                    } else {
                        depth -= 1;
                        if current == NONE {
                            root_done = true;
                        }
                    }
                }
                Event::End(_) => {
                    depth = depth.saturating_sub(1);
                    if current == NONE {
                        return Err(FromCdaError::Xml {
                            position: reader.buffer_position(),
                            message: "unexpected closing tag".into(),
                        });
                    }
                    current = dom.nodes[current as usize].parent;
                    if current == NONE {
                        root_done = true;
                    }
                }
                Event::Text(t) => {
                    // Indentation between elements carries nothing the reader uses (text is
                    // read with whitespace collapsed): skip it before decoding.
                    if t.iter().all(u8::is_ascii_whitespace) {
                        if current == NONE {
                            continue;
                        }
                        if dom.nodes[current as usize].text.is_empty() {
                            continue;
                        }
                    }
                    let s = t.xml10_content().map_err(|err| xml_err(&reader, &err))?;
                    dom.push_text(input, current, s, &reader)?;
                }
                Event::CData(t) => {
                    let s = t.decode().map_err(|err| xml_err(&reader, &err))?;
                    dom.push_text(input, current, s, &reader)?;
                }
                Event::GeneralRef(r) => {
                    let ch = if r.is_char_ref() {
                        r.resolve_char_ref().map_err(|err| xml_err(&reader, &err))?
                    } else {
                        let name = r.decode().map_err(|err| xml_err(&reader, &err))?;
                        match predefined(&name) {
                            Some(c) => Some(c),
                            None => {
                                return Err(FromCdaError::Xml {
                                    position: reader.buffer_position(),
                                    message: format!(
                                        "undefined entity &{};",
                                        name.chars().take(40).collect::<String>()
                                    ),
                                })
                            }
                        }
                    };
                    if let Some(c) = ch {
                        let mut buf = [0u8; 4];
                        let s: &str = c.encode_utf8(&mut buf);
                        dom.push_text(input, current, Cow::Owned(s.to_owned()), &reader)?;
                    }
                }
                Event::Eof => break,
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
            }
        }
        if dom.nodes.is_empty() {
            return Err(FromCdaError::Xml {
                position: 0,
                message: "no root element".into(),
            });
        }
        if current != NONE || !root_done {
            return Err(FromCdaError::Xml {
                position: reader.buffer_position(),
                message: "document ends inside an element".into(),
            });
        }
        Ok(dom)
    }

    fn push_text(
        &mut self,
        input: &'a str,
        at: NodeId,
        s: Cow<'_, str>,
        reader: &NsReader<&'a [u8]>,
    ) -> Result<(), FromCdaError> {
        if at == NONE {
            if s.trim().is_empty() {
                return Ok(());
            }
            return Err(FromCdaError::Xml {
                position: reader.buffer_position(),
                message: "text outside the root element".into(),
            });
        }
        let node = &mut self.nodes[at as usize];
        if node.text.is_empty() {
            // Whitespace between elements is the common case: keep it cheap (borrowed).
            node.text = anchor_cow(input, s);
        } else {
            node.text.to_mut().push_str(&s);
        }
        Ok(())
    }

    pub(crate) fn root(&self) -> NodeId {
        0
    }

    pub(crate) fn name(&self, n: NodeId) -> &str {
        self.nodes
            .get(n as usize)
            .map(|x| x.name.as_ref())
            .unwrap_or("")
    }

    pub(crate) fn ns(&self, n: NodeId) -> Ns {
        self.nodes
            .get(n as usize)
            .map(|x| x.ns)
            .unwrap_or(Ns::Other)
    }

    /// True when `n` is a CDA-family element called `local`.
    pub(crate) fn is(&self, n: NodeId, local: &str) -> bool {
        self.ns(n).is_cda() && self.name(n) == local
    }

    pub(crate) fn children(&self, n: NodeId) -> Children<'_, 'a> {
        Children {
            dom: self,
            next: self
                .nodes
                .get(n as usize)
                .map(|x| x.first_child)
                .unwrap_or(NONE),
        }
    }

    /// CDA-family children called `local`.
    pub(crate) fn children_named<'s>(
        &'s self,
        n: NodeId,
        local: &'s str,
    ) -> impl Iterator<Item = NodeId> + 's {
        self.children(n).filter(move |c| self.is(*c, local))
    }

    /// The first CDA-family child called `local`.
    pub(crate) fn child(&self, n: NodeId, local: &str) -> Option<NodeId> {
        self.children(n).find(|c| self.is(*c, local))
    }

    /// Follows a chain of child names.
    pub(crate) fn descend(&self, n: NodeId, path: &[&str]) -> Option<NodeId> {
        path.iter().try_fold(n, |at, step| self.child(at, step))
    }

    pub(crate) fn attr(&self, n: NodeId, name: &str) -> Option<&str> {
        let node = self.nodes.get(n as usize)?;
        let (a, b) = node.attrs;
        self.attrs
            .get(a as usize..b as usize)?
            .iter()
            .find(|x| x.name == name)
            .map(|x| x.value.as_ref())
    }

    /// An attribute with surrounding whitespace removed, `None` when absent or blank.
    pub(crate) fn attr_trim(&self, n: NodeId, name: &str) -> Option<&str> {
        self.attr(n, name).map(str::trim).filter(|s| !s.is_empty())
    }

    /// The element's own text (not its descendants'), trimmed.
    pub(crate) fn own_text(&self, n: NodeId) -> &str {
        self.nodes
            .get(n as usize)
            .map(|x| x.text.trim())
            .unwrap_or("")
    }

    /// All text below `n`, whitespace collapsed to single spaces.
    pub(crate) fn deep_text(&self, n: NodeId) -> String {
        // Fast path: a leaf whose text needs no whitespace collapsing.
        if let Some(node) = self.nodes.get(n as usize) {
            if node.first_child == NONE {
                let t = node.text.trim();
                let clean =
                    !t.contains(|c: char| c.is_whitespace() && c != ' ') && !t.contains("  ");
                if clean {
                    return t.to_owned();
                }
            }
        }
        let mut out = String::new();
        self.collect_text(n, &mut out, 0);
        out
    }

    /// Appends the text below `n` with runs of whitespace collapsed to one space.
    fn collect_text(&self, n: NodeId, out: &mut String, depth: usize) {
        // The tree depth is already bounded by the reader's limit.
        if depth > 512 {
            return;
        }
        if let Some(node) = self.nodes.get(n as usize) {
            for word in node.text.split_whitespace() {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(word);
            }
            for c in self.children(n) {
                self.collect_text(c, out, depth + 1);
            }
        }
    }

    /// The first element carrying `ID="{id}"`.
    pub(crate) fn find_by_id(&self, id: &str) -> Option<NodeId> {
        self.ids.get(id).copied()
    }

    /// An XPath-like location for error messages: `/ClinicalDocument/recordTarget/patientRole/id[2]`.
    pub(crate) fn path(&self, n: NodeId) -> String {
        let mut steps = Vec::new();
        let mut at = n;
        while let Some(node) = self.nodes.get(at as usize) {
            let mut step = node.name.to_string();
            if node.parent != NONE {
                let same: Vec<NodeId> = self
                    .children(node.parent)
                    .filter(|c| self.name(*c) == node.name)
                    .collect();
                if same.len() > 1 {
                    if let Some(i) = same.iter().position(|c| *c == at) {
                        step = format!("{step}[{}]", i + 1);
                    }
                }
            }
            steps.push(step);
            if node.parent == NONE {
                break;
            }
            at = node.parent;
        }
        steps.reverse();
        format!("/{}", steps.join("/"))
    }
}

pub(crate) struct Children<'d, 'a> {
    dom: &'d Dom<'a>,
    next: NodeId,
}

impl Iterator for Children<'_, '_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        if self.next == NONE {
            return None;
        }
        let cur = self.next;
        self.next = self
            .dom
            .nodes
            .get(cur as usize)
            .map(|n| n.next_sibling)
            .unwrap_or(NONE);
        Some(cur)
    }
}
