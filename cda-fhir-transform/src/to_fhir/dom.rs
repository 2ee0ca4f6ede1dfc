//! A small, hostile-input-proof element tree over the CDA text.
//!
//! quick-xml's namespace-aware reader feeds an arena of nodes that borrow names, attribute values
//! and text from the input wherever no unescaping is needed. Guards: input size, nesting depth and
//! element count are capped; a DOCTYPE is refused outright (so no DTD, no external or internal
//! entities); only the five predefined entities and character references are expanded.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use quick_xml::escape::unescape;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::Event;
use quick_xml::Reader;

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
    /// Local name (the part after the first `:`), always a slice of the input.
    name: &'a str,
    parent: NodeId,
    first_child: NodeId,
    last_child: NodeId,
    next_sibling: NodeId,
    attrs: (u32, u32),
    /// Index into `Dom::texts`, `NONE` while the element has no text.
    text: u32,
    ns: Ns,
}

struct Attr<'a> {
    /// Local name (`xsi:type` is found as `type`).
    name: &'a str,
    value: Cow<'a, str>,
}

/// The parsed element tree. Node 0 is the root element.
pub(crate) struct Dom<'a> {
    nodes: Vec<Node<'a>>,
    attrs: Vec<Attr<'a>>,
    texts: Vec<Cow<'a, str>>,
    /// Elements carrying an `ID` attribute (narrative targets of `<reference value="#…">`),
    /// first occurrence wins. Indexed once so resolving references stays linear.
    ids: HashMap<Cow<'a, str>, NodeId>,
}

/// Buffers of a finished tree, kept per thread for the next document: a converter thread
/// parses one document after another, and fresh multi-kilobyte vectors per document cost more
/// (allocator consolidation) than the parse itself on small documents.
struct Spare {
    nodes: Vec<Node<'static>>,
    attrs: Vec<Attr<'static>>,
    texts: Vec<Cow<'static, str>>,
}

thread_local! {
    static SPARE: RefCell<Option<Spare>> = const { RefCell::new(None) };
}

/// Buffers larger than this (in elements) are not kept, so one huge document does not pin
/// its memory for the life of the thread.
const SPARE_MAX: usize = 16 * 1024;

/// An emptied vector re-typed (another lifetime), keeping its allocation.
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    // In-place collection: same size and alignment, so the allocation is reused.
    v.into_iter().map(|_| -> U { unreachable!() }).collect()
}

impl<'a> Dom<'a> {
    fn with_buffers(input_len: usize) -> Dom<'a> {
        let spare = SPARE.with(|s| s.borrow_mut().take());
        match spare {
            Some(sp) => Dom {
                nodes: recycle(sp.nodes),
                attrs: recycle(sp.attrs),
                texts: recycle(sp.texts),
                ids: HashMap::new(),
            },
            None => Dom {
                nodes: Vec::with_capacity(input_len / 64),
                attrs: Vec::with_capacity(input_len / 40),
                texts: Vec::with_capacity(input_len / 256),
                ids: HashMap::new(),
            },
        }
    }
}

impl Drop for Dom<'_> {
    fn drop(&mut self) {
        if self.nodes.capacity() > SPARE_MAX || self.attrs.capacity() > 2 * SPARE_MAX {
            return;
        }
        let spare = Spare {
            nodes: recycle(std::mem::take(&mut self.nodes)),
            attrs: recycle(std::mem::take(&mut self.attrs)),
            texts: recycle(std::mem::take(&mut self.texts)),
        };
        // `try_with`: during thread teardown the slot may be gone; then just free.
        let _ = SPARE.try_with(|s| {
            if let Ok(mut slot) = s.try_borrow_mut() {
                *slot = Some(spare);
            }
        });
    }
}

/// `part` as a `&'a str` when it lies inside `input` on character boundaries.
fn slice_of<'a>(input: &'a str, part: &[u8]) -> Option<&'a str> {
    let base = input.as_ptr() as usize;
    let start = part.as_ptr() as usize;
    if start >= base && start + part.len() <= base + input.len() {
        let off = start - base;
        return input.get(off..off + part.len());
    }
    None
}

fn anchor_cow<'a>(input: &'a str, part: Cow<'_, str>) -> Cow<'a, str> {
    match part {
        // `slice_of` directly (not `anchor(..).unwrap_or(..)`, which would copy every text
        // eagerly just to drop the copy).
        Cow::Borrowed(s) => match slice_of(input, s.as_bytes()) {
            Some(b) => Cow::Borrowed(b),
            None => Cow::Owned(s.to_owned()),
        },
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

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// In-scope namespace declarations: `(prefix, uri, depth of the declaring element)`; the
/// default namespace has the prefix `""`. Declarations are rare in CDA (normally only on the
/// root), so a linear stack searched from the top is the cheapest scope.
struct Scopes<'a> {
    /// `(prefix, uri, its family, depth of the declaring element)`.
    bindings: Vec<(&'a str, &'a str, Ns, usize)>,
    /// The family of unprefixed names here, kept up to date by `declare` and `leave` (every
    /// element asks; declarations change rarely).
    default: Ns,
}

impl<'a> Scopes<'a> {
    /// The namespace family of an element name, resolved as a namespace-aware reader would:
    /// unprefixed names take the nearest default namespace (none, or `xmlns=""`, counts as
    /// HL7); prefixed names their nearest binding; undeclared (or `xmlns:p=""`) prefixes are
    /// tolerated for the two well-known medication prefixes.
    fn resolve(&self, qname: &str, colon: Option<usize>) -> Ns {
        match colon {
            None => self.default,
            Some(i) => {
                let prefix = &qname[..i];
                if prefix.is_empty() || prefix == "xml" || prefix == "xmlns" {
                    return Ns::Other;
                }
                match self.bindings.iter().rev().find(|b| b.0 == prefix) {
                    Some((_, uri, ns, _)) if !uri.is_empty() => *ns,
                    _ => match prefix {
                        "epsos" => Ns::Epsos,
                        "pharm" => Ns::Pharm,
                        _ => Ns::Other,
                    },
                }
            }
        }
    }

    /// Records `xmlns`/`xmlns:p` on an element at `depth`, refusing the reserved bindings.
    fn declare(&mut self, prefix: &'a str, uri: &'a str, depth: usize) -> Result<(), String> {
        match prefix {
            "xml" if uri != XML_NS => Err("the xml prefix bound to another namespace".into()),
            "xml" => Ok(()),
            "xmlns" => Err("the xmlns prefix cannot be declared".into()),
            _ if !prefix.is_empty() && (uri == XML_NS || uri == XMLNS_NS) => {
                Err("a reserved namespace bound to another prefix".into())
            }
            _ => {
                self.bindings
                    .push((prefix, uri, Ns::from_uri(uri.as_bytes()), depth));
                if prefix.is_empty() {
                    self.default = self.nearest_default();
                }
                Ok(())
            }
        }
    }

    /// Leaves an element at `depth`: its declarations go out of scope.
    fn leave(&mut self, depth: usize) {
        let mut popped = false;
        while self.bindings.last().is_some_and(|b| b.3 >= depth) {
            self.bindings.pop();
            popped = true;
        }
        if popped {
            self.default = self.nearest_default();
        }
    }

    /// The nearest default namespace's family (none, or `xmlns=""`, counts as HL7).
    fn nearest_default(&self) -> Ns {
        match self.bindings.iter().rev().find(|b| b.0.is_empty()) {
            Some((_, uri, ns, _)) if !uri.is_empty() => *ns,
            _ => Ns::Hl7,
        }
    }
}

#[inline]
fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// One attribute of a start tag: byte ranges of the qualified name and the raw value in
/// `tag` (the tag's bytes from its name on) and whether the value holds a `&` (needs
/// unescaping), or why the tag is malformed. The rules (and the
/// errors) of quick-xml's checked XML attribute iterator: `name S? = S? ("…" | '…')`.
#[allow(clippy::type_complexity)]
fn next_attr(
    tag: &[u8],
    pos: &mut usize,
) -> Option<Result<((usize, usize), (usize, usize), bool), AttrError>> {
    let len = tag.len();
    let mut i = skip_space(tag, *pos);
    if i >= len {
        *pos = len;
        return None;
    }
    *pos = len;
    let key_start = i;
    // The key's first byte is taken whatever it is (`=x="1"` is a key `=x`), as quick-xml does.
    let key_end = key_end(tag, i + 1);
    i = key_end;
    i = skip_space(tag, i);
    if i >= len || tag[i] != b'=' {
        return Some(Err(AttrError::ExpectedEq(i.min(len))));
    }
    i = skip_space(tag, i + 1);
    let quote = match tag.get(i) {
        Some(q @ (b'"' | b'\'')) => *q,
        Some(_) => return Some(Err(AttrError::UnquotedValue(i))),
        None => return Some(Err(AttrError::ExpectedValue(len))),
    };
    let value_start = i + 1;
    match value_end(&tag[value_start..], quote) {
        Some((n, amp)) => {
            *pos = value_start + n + 1;
            Some(Ok((
                (key_start, key_end),
                (value_start, value_start + n),
                amp,
            )))
        }
        None => Some(Err(AttrError::ExpectedQuote(len, quote))),
    }
}

/// The index of the first non-space byte of `tag` from `from` (`tag.len()` if none).
#[inline]
fn skip_space(tag: &[u8], from: usize) -> usize {
    // Mostly there is no space at all (after a name, around `=`), or a single one.
    match tag.get(from) {
        None => return tag.len(),
        Some(b) if !is_xml_space(*b) => return from,
        Some(_) => {}
    }
    match tag.get(from..) {
        Some(rest) => {
            from + rest
                .iter()
                .position(|&b| !is_xml_space(b))
                .unwrap_or(rest.len())
        }
        None => tag.len(),
    }
}

const LO: u64 = u64::from_ne_bytes([0x01; 8]);
const HI: u64 = u64::from_ne_bytes([0x80; 8]);

// Word-at-a-time scanning: eight bytes as one little-endian `u64`, per-byte tests as masks
// (the high bit of each matching byte; exact, no carries between bytes), so the first match is
// `trailing_zeros / 8`. Names, values and indentation are short: a searcher's setup costs more.

/// The eight bytes of `hay` from `i`, if there are eight.
#[inline]
fn word_at(hay: &[u8], i: usize) -> Option<u64> {
    hay.get(i..i.checked_add(8)?)
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
        .map(u64::from_le_bytes)
}

/// The high bit of every byte of `x` that is not zero.
#[inline]
fn nonzero_bytes(x: u64) -> u64 {
    const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
    ((x & LOW7).wrapping_add(LOW7) | x) & HI
}

/// The high bit of every byte of `w` equal to `b`.
#[inline]
fn eq_mask(w: u64, b: u8) -> u64 {
    !nonzero_bytes(w ^ (LO * u64::from(b))) & HI
}

/// The high bit of every byte of `w` below `n` (`n <= 0x80`).
#[inline]
fn lt_mask(w: u64, n: u8) -> u64 {
    !(w | HI).wrapping_sub(LO * u64::from(n)) & !w & HI
}

/// The byte index of the first marked byte of a non-zero mask.
#[inline]
fn first(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// The end of an attribute name: the first `=` or XML space from `from` on (`tag.len()` if
/// none).
fn key_end(tag: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(w) = word_at(tag, i) {
        // Every XML space is below 0x21; other control bytes are left to the byte loop.
        let m = eq_mask(w, b'=') | lt_mask(w, 0x21);
        if m != 0 {
            let j = i + first(m);
            if tag[j] == b'=' || is_xml_space(tag[j]) {
                return j;
            }
            break;
        }
        i += 8;
    }
    match tag.get(i..) {
        Some(rest) => {
            i + rest
                .iter()
                .position(|&b| b == b'=' || is_xml_space(b))
                .unwrap_or(rest.len())
        }
        None => i,
    }
}

/// The first `b` in `hay`.
fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    let mut i = 0;
    while let Some(w) = word_at(hay, i) {
        let m = eq_mask(w, b);
        if m != 0 {
            return Some(i + first(m));
        }
        i += 8;
    }
    if i >= hay.len() {
        return None;
    }
    // The tail: the last eight bytes again when there are eight (the part before `i` holds
    // no `b`), else byte by byte.
    match hay
        .len()
        .checked_sub(8)
        .and_then(|s| Some((s, word_at(hay, s)?)))
    {
        Some((s, w)) => {
            let m = eq_mask(w, b);
            (m != 0).then(|| s + first(m))
        }
        None => hay[i..].iter().position(|&x| x == b).map(|j| i + j),
    }
}

/// The index of the closing `quote` of an attribute value and whether a `&` comes before it,
/// in one pass.
fn value_end(hay: &[u8], quote: u8) -> Option<(usize, bool)> {
    let mut amp = false;
    let mut i = 0;
    while let Some(w) = word_at(hay, i) {
        let q = eq_mask(w, quote);
        let a = eq_mask(w, b'&');
        if q != 0 {
            // Only the `&`s before the quote (lower bits) count.
            amp |= a & ((q & q.wrapping_neg()) - 1) != 0;
            return Some((i + first(q), amp));
        }
        amp |= a != 0;
        i += 8;
    }
    for (j, &b) in hay.get(i..).unwrap_or_default().iter().enumerate() {
        if b == quote {
            return Some((i + j, amp));
        }
        amp |= b == b'&';
    }
    None
}

/// True when `t` is ASCII whitespace only (indentation between elements). Fast path for the
/// usual indentation, a newline and a run of spaces, compared eight bytes at a time (the last
/// eight overlapping); anything else byte by byte.
fn all_space(t: &[u8]) -> bool {
    const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);
    let body = t.strip_prefix(b"\n").unwrap_or(t);
    let indentation = match body.len().checked_sub(8) {
        Some(last) => {
            body.chunks_exact(8)
                .all(|c| <[u8; 8]>::try_from(c).is_ok_and(|a| u64::from_le_bytes(a) == SPACES))
                && word_at(body, last) == Some(SPACES)
        }
        None => body.iter().all(|&b| b == b' '),
    };
    indentation || t.iter().all(u8::is_ascii_whitespace)
}

/// The position of the first `:` of a (short) qualified name.
#[inline]
fn colon_of(qname: &str) -> Option<usize> {
    find_byte(qname.as_bytes(), b':')
}

/// The local part of a qualified name whose first `:` is at `colon`.
#[inline]
fn local_at(qname: &str, colon: Option<usize>) -> &str {
    match colon {
        Some(i) => &qname[i + 1..],
        None => qname,
    }
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
        let mut reader = Reader::from_str(input);
        reader.config_mut().check_end_names = true;
        let mut dom = Dom::with_buffers(input.len());
        let mut scopes = Scopes {
            bindings: Vec::new(),
            default: Ns::Hl7,
        };
        let mut current: NodeId = NONE;
        let mut depth = 0usize;
        let mut root_done = false;
        // Raw qualified attribute names of the current tag, for the duplicate check.
        let mut keys: Vec<(usize, usize)> = Vec::new();

        let xml_err = |reader: &Reader<&'a [u8]>, e: &dyn std::fmt::Display| FromCdaError::Xml {
            position: reader.error_position(),
            message: e.to_string(),
        };

        loop {
            let event = match reader.read_event() {
                Ok(ev) => ev,
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
                    // The whole tag (name and attributes) as a slice of the input.
                    let raw: &[u8] = &e;
                    let tag = slice_of(input, raw).ok_or_else(|| FromCdaError::Xml {
                        position: reader.buffer_position(),
                        message: "tag is not valid UTF-8".into(),
                    })?;
                    let name_len = e.name().as_ref().len();
                    let qname = &tag[..name_len];
                    let bytes = tag.as_bytes();
                    let a0 = dom.attrs.len() as u32;
                    let id = dom.nodes.len() as NodeId;
                    keys.clear();
                    let mut pos = name_len;
                    while let Some(next) = next_attr(bytes, &mut pos) {
                        let ((ks, ke), (vs, ve), amp) =
                            next.map_err(|err| xml_err(&reader, &err))?;
                        let key = &tag[ks..ke];
                        let raw_value = &tag[vs..ve];
                        if let Some(prev) = keys.iter().find(|k| {
                            // Length and first byte before the whole name (no memcmp call).
                            k.1 - k.0 == key.len()
                                && bytes[k.0] == bytes[ks]
                                && tag[k.0..k.1] == *key
                        }) {
                            let err = AttrError::Duplicated(ks, prev.0);
                            return Err(xml_err(&reader, &err));
                        }
                        keys.push((ks, ke));
                        if let Some(rest) = key.strip_prefix("xmlns") {
                            let prefix = match rest.strip_prefix(':') {
                                Some(p) => Some(p),
                                None if rest.is_empty() => Some(""),
                                None => None,
                            };
                            if let Some(prefix) = prefix {
                                scopes.declare(prefix, raw_value, depth).map_err(|m| {
                                    FromCdaError::Xml {
                                        position: reader.buffer_position(),
                                        message: m,
                                    }
                                })?;
                                continue;
                            }
                        }
                        let value = if amp {
                            match unescape(raw_value).map_err(|err| xml_err(&reader, &err))? {
                                Cow::Borrowed(_) => Cow::Borrowed(raw_value),
                                Cow::Owned(s) => Cow::Owned(s),
                            }
                        } else {
                            Cow::Borrowed(raw_value)
                        };
                        let aname = local_at(key, colon_of(key));
                        if aname == "ID" {
                            dom.ids.entry(value.clone()).or_insert(id);
                        }
                        dom.attrs.push(Attr { name: aname, value });
                    }
                    let colon = colon_of(qname);
                    let ns = scopes.resolve(qname, colon);
                    dom.nodes.push(Node {
                        name: local_at(qname, colon),
                        parent: current,
                        first_child: NONE,
                        last_child: NONE,
                        next_sibling: NONE,
                        attrs: (a0, dom.attrs.len() as u32),
                        text: NONE,
                        ns,
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
                        scopes.leave(depth);
                        depth -= 1;
                        if current == NONE {
                            root_done = true;
                        }
                    }
                }
                Event::End(_) => {
                    scopes.leave(depth);
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
                    if all_space(&t) {
                        if current == NONE {
                            continue;
                        }
                        if dom.text_of(current).is_empty() {
                            continue;
                        }
                    }
                    // Text without a carriage return needs no end-of-line normalisation, and
                    // the input is already UTF-8: borrow it as it stands.
                    let raw: &[u8] = &t;
                    let s = match slice_of(input, raw) {
                        Some(s) if !raw.contains(&b'\r') => Cow::Borrowed(s),
                        _ => t.xml10_content().map_err(|err| xml_err(&reader, &err))?,
                    };
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

    fn text_of(&self, n: NodeId) -> &str {
        match self.nodes.get(n as usize) {
            Some(node) if node.text != NONE => self
                .texts
                .get(node.text as usize)
                .map(|t| t.as_ref())
                .unwrap_or(""),
            _ => "",
        }
    }

    fn push_text(
        &mut self,
        input: &'a str,
        at: NodeId,
        s: Cow<'_, str>,
        reader: &Reader<&'a [u8]>,
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
        let Some(node) = self.nodes.get_mut(at as usize) else {
            return Ok(());
        };
        match self.texts.get_mut(node.text as usize) {
            Some(text) if !text.is_empty() => text.to_mut().push_str(&s),
            Some(text) => *text = anchor_cow(input, s),
            None => {
                node.text = self.texts.len() as u32;
                self.texts.push(anchor_cow(input, s));
            }
        }
        Ok(())
    }

    pub(crate) fn root(&self) -> NodeId {
        0
    }

    pub(crate) fn name(&self, n: NodeId) -> &str {
        self.nodes.get(n as usize).map(|x| x.name).unwrap_or("")
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
        self.attr(n, name).map(trim).filter(|s| !s.is_empty())
    }

    /// The element's own text (not its descendants'), trimmed.
    pub(crate) fn own_text(&self, n: NodeId) -> &str {
        trim(self.text_of(n))
    }

    /// All text below `n`, whitespace collapsed to single spaces.
    pub(crate) fn deep_text(&self, n: NodeId) -> String {
        // Fast path: a leaf whose text needs no whitespace collapsing.
        if let Some(node) = self.nodes.get(n as usize) {
            if node.first_child == NONE {
                let t = trim(self.text_of(n));
                if is_collapsed(t) {
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
        if (n as usize) < self.nodes.len() {
            for word in self.text_of(n).split_whitespace() {
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
            let mut step = node.name.to_owned();
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

/// `str::trim`, answered without decoding characters when both ends are ASCII and not
/// whitespace (nearly every attribute value and text).
#[inline]
fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) if is_plain(f) && is_plain(l) => s,
        (None, _) => s,
        _ => s.trim(),
    }
}

/// An ASCII byte that is not whitespace.
#[inline]
fn is_plain(b: u8) -> bool {
    b.is_ascii() && !b.is_ascii_whitespace() && b != 0x0b
}

/// True when `t` (already trimmed) has no whitespace but single spaces: what collapsing its
/// whitespace would give back unchanged.
fn is_collapsed(t: &str) -> bool {
    let mut prev_space = false;
    for &b in t.as_bytes() {
        if b == b' ' {
            if prev_space {
                return false;
            }
            prev_space = true;
        } else if b.is_ascii() {
            if b.is_ascii_whitespace() || b == 0x0b {
                return false;
            }
            prev_space = false;
        } else {
            // Non-ASCII: Unicode whitespace (NBSP, ideographic space, ...) is decided per
            // character.
            return !t.contains(|c: char| c.is_whitespace() && c != ' ') && !t.contains("  ");
        }
    }
    true
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

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::name::ResolveResult;
    use quick_xml::NsReader;

    /// The namespace family of every element as quick-xml's namespace-aware reader resolves
    /// it (the reader this tree used before its own scopes), in document order.
    fn ns_reader_families(xml: &str) -> Vec<(String, Ns)> {
        let mut reader = NsReader::from_str(xml);
        let mut out = Vec::new();
        loop {
            let (res, ev) = reader.read_resolved_event().expect("well-formed");
            let ns = match res {
                ResolveResult::Bound(n) => Ns::from_uri(n.into_inner()),
                ResolveResult::Unbound => Ns::Hl7,
                ResolveResult::Unknown(p) => match p.as_slice() {
                    b"epsos" => Ns::Epsos,
                    b"pharm" => Ns::Pharm,
                    _ => Ns::Other,
                },
            };
            match ev {
                Event::Start(e) | Event::Empty(e) => {
                    let local = String::from_utf8(e.local_name().into_inner().to_vec()).unwrap();
                    out.push((local, ns));
                }
                Event::Eof => break,
                _ => {}
            }
        }
        out
    }

    #[test]
    fn namespace_scopes_resolve_like_a_namespace_aware_reader() {
        let docs = [
            // Wave 8: pharm: declared on the root.
            r#"<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:pharm="urn:hl7-org:pharm"><a/><pharm:formCode code="1"/><pharm:asContent><pharm:x/></pharm:asContent></ClinicalDocument>"#,
            // Wave 7 epsos: declared; undeclared pharm: and epsos: are tolerated.
            r#"<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:epsos="urn:epsos-org:ep:medication"><epsos:desc/><pharm:desc/></ClinicalDocument>"#,
            r#"<ClinicalDocument><epsos:desc/><pharm:desc/><sdtc:x/><xml:y/><xmlns:z/></ClinicalDocument>"#,
            // A prefix bound to a foreign namespace, the well-known prefixes rebound, reset.
            r#"<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:pharm="urn:other"><pharm:a/><b xmlns:pharm=""><pharm:c/></b><epsos:d xmlns:epsos="urn:hl7-org:pharm"/><epsos:e/></ClinicalDocument>"#,
            // Default namespace changed, unset, and restored by scope.
            r#"<ClinicalDocument xmlns="urn:hl7-org:v3"><a xmlns="urn:other"><b/><c xmlns=""><d/></c><e/></a><f/><g xmlns="urn:hl7-org:pharm"/><h/></ClinicalDocument>"#,
            // Declarations on empty elements apply to themselves only.
            r#"<r><p:a xmlns:p="urn:hl7-org:v3"/><p:b/><q:c xmlns:q="urn:epsos-org:ep:medication"></q:c><q:d/></r>"#,
            // Odd names.
            r#"<r xmlns:a="urn:hl7-org:v3"><a:b:c/><x a:y="1"/></r>"#,
        ];
        for xml in docs {
            let dom = Dom::parse(xml, &ReaderLimits::default()).expect(xml);
            let ours: Vec<(String, Ns)> = (0..dom.nodes.len() as NodeId)
                .map(|n| (dom.name(n).to_owned(), dom.ns(n)))
                .collect();
            assert_eq!(ours, ns_reader_families(xml), "{xml}");
        }
    }

    #[test]
    fn attributes_are_unescaped_and_namespace_declarations_skipped() {
        let xml = r#"<r xmlns="urn:hl7-org:v3" xmlns:xsi="urn:x"><a xsi:type="IVL_TS" v='a &amp; b &#228;' ID="x&lt;1"/></r>"#;
        let dom = Dom::parse(xml, &ReaderLimits::default()).unwrap();
        assert_eq!(dom.attr(0, "xmlns"), None);
        assert_eq!(dom.attr(0, "xsi"), None);
        assert_eq!(dom.attr(1, "type"), Some("IVL_TS"));
        assert_eq!(dom.attr(1, "v"), Some("a & b ä"));
        assert_eq!(dom.find_by_id("x<1"), Some(1));
        for bad in [
            r#"<r a="1" a="2"/>"#,
            r#"<r a/>"#,
            r#"<r a=1/>"#,
            r#"<r a="1/>"#,
            r#"<r a="&bogus;"/>"#,
            r#"<r xmlns:xmlns="urn:x"/>"#,
        ] {
            assert!(
                matches!(
                    Dom::parse(bad, &ReaderLimits::default()),
                    Err(FromCdaError::Xml { .. })
                ),
                "{bad}"
            );
        }
    }

    /// The word-at-a-time scanners agree with plain byte loops on every prefix of inputs
    /// that put the sought bytes at every offset, before, inside and after a word.
    #[test]
    fn word_scanners_agree_with_byte_loops() {
        let samples: [&[u8]; 9] = [
            b"codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"x\"",
            b"xsi:type='IVL_TS' value=\"a&amp;b\"",
            b"a\tb\nc\rd e=f&g\"h'i:j\x01k\x0cl",
            b"pharm:asContent",
            b"\n                ",
            b"\r\n    \t  ",
            b"\n        \x01  ",
            b"\n          x ",
            "é:ü=\"&ß\"  ".as_bytes(),
        ];
        for sample in samples {
            for start in 0..sample.len() {
                for end in start..=sample.len() {
                    let t = &sample[start..end];
                    for b in [b':', b'=', b'&', b'"', b'\''] {
                        assert_eq!(find_byte(t, b), t.iter().position(|&x| x == b), "{t:?}");
                    }
                    for q in [b'"', b'\''] {
                        let expect = t
                            .iter()
                            .position(|&x| x == q)
                            .map(|n| (n, t[..n].contains(&b'&')));
                        assert_eq!(value_end(t, q), expect, "{t:?}");
                    }
                    for from in 0..=t.len() {
                        let expect = from
                            + t[from..]
                                .iter()
                                .position(|&b| b == b'=' || is_xml_space(b))
                                .unwrap_or(t.len() - from);
                        assert_eq!(key_end(t, from), expect, "{t:?} {from}");
                    }
                    assert_eq!(all_space(t), t.iter().all(u8::is_ascii_whitespace), "{t:?}");
                }
            }
        }
    }

    #[test]
    fn fast_trim_and_collapse_checks_agree_with_str() {
        let samples = [
            "",
            " ",
            "a",
            " a",
            "a ",
            "a  b",
            "a b",
            "a\tb",
            "a\nb",
            "\u{a0}a",
            "a\u{a0}",
            "a\u{a0}b",
            "a \u{3000}b",
            "\u{b}a",
            "a\u{c}",
            "ä",
            " ä ",
            "äb c",
            "ä  b",
            "x\u{85}y",
            "\u{1c}a",
            "a\u{1f}",
        ];
        for s in samples {
            assert_eq!(trim(s), s.trim(), "{s:?}");
            let t = s.trim();
            let expect = !t.contains(|c: char| c.is_whitespace() && c != ' ') && !t.contains("  ");
            assert_eq!(is_collapsed(t), expect, "{s:?}");
        }
    }

    #[test]
    fn buffers_are_reused_without_leaking_content() {
        let first = Dom::parse("<a><b>x</b></a>", &ReaderLimits::default()).unwrap();
        drop(first);
        let second = Dom::parse("<c/>", &ReaderLimits::default()).unwrap();
        assert_eq!(second.nodes.len(), 1);
        assert_eq!(second.name(0), "c");
        assert_eq!(second.own_text(0), "");
    }
}
