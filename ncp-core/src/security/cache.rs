//! A bounded cache of assertions whose signature this bridge has already verified.
//!
//! A foreign NCP signs an HCP identity assertion once per session and a TRC assertion once per
//! patient, then sends the very same bytes with every request. Verifying their XML signatures
//! (exclusive c14n, digest, public-key check, certificate path) is most of the CPU a request
//! costs, and its answer cannot change for the same input, so it is remembered here.
//!
//! Why a hit is as good as a verification:
//!
//! - **The key is everything the signature and the claims depend on**: the SHA-256 of the
//!   assertion element's exact bytes as received *and* every namespace binding in scope at it
//!   (exclusive c14n renders the prefixes the assertion uses with their bindings, possibly
//!   declared on the envelope). The document must be UTF-8 without a DTD (no entities, no
//!   defaulted attributes), so the same bytes always mean the same infoset. Claims are read
//!   from that subtree only. Different bytes are a different key, never a match.
//! - **Only successes are stored**, after the full check ([`super::verify_assertions`]):
//!   signature by a certificate the trust list accepted, ID and reference, claims readable.
//! - **The trust decision is re-checked on every hit**: an entry belongs to the trust list it
//!   was verified against (replacing the list, as the trust reload does, orphans every entry)
//!   and is only used while every certificate of its `KeyInfo` and the signer are within their
//!   validity period. (The trust list does no revocation checking; if it ever does, a hit must
//!   consult it too.)
//! - **Everything about the request is still checked every time**: the envelope's structure
//!   (one Header, one `wsse:Security`, at most one HCP and one TRC assertion), that no other
//!   attribute in the document carries an assertion's ID, the validity window against the
//!   clock, the audience, role, purpose of use and permissions for the transaction, the TRC's
//!   link to the HCP assertion and (in the caller) the TRC's patient and the TLS peer's country.
//!   Entries are dropped once past `NotOnOrAfter`; the cache holds at most
//!   [`VerificationCache::CAPACITY`] entries (least recently used dropped first).
//!
//! When only the HCP assertion is known (a new TRC: the next patient), the full verification
//! runs for the TRC and takes the HCP assertion's result from here.
//!
//! Anything the fast path does not recognise (another encoding, a DTD, a structure it cannot
//! read) goes to the full verification, which decides and words the refusal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cached::{Cached, SizedCache};
use chrono::{DateTime, Utc};
use ncp_types::CountryCode;
use sha2::{Digest, Sha256};

use super::assertion::{Common, HcpClaims, TrcClaims, HCP_QUALIFIER, SAML_NS, TRC_QUALIFIER};
use super::trust::{SigningTrust, TrustGeneration};

const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

/// The key of one assertion: SHA-256 over its in-scope namespaces and its bytes.
pub(crate) type Key = [u8; 32];

/// The claims of a verified assertion, by kind.
#[derive(Debug, Clone)]
pub(crate) enum Claims {
    Hcp(HcpClaims),
    Trc(TrcClaims),
}

/// What the full verification established about one assertion.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedAssertion {
    pub id: String,
    pub common: Common,
    pub country: CountryCode,
    pub claims: Claims,
    /// The span in which every certificate involved (the signer and the `KeyInfo` ones) is
    /// valid.
    pub certs_valid: (DateTime<Utc>, DateTime<Utc>),
}

struct Entry {
    generation: TrustGeneration,
    verified: VerifiedAssertion,
}

/// Assertions already verified, by [`Key`]. Shared by the request handlers of one trust list.
pub struct VerificationCache {
    entries: Mutex<SizedCache<Key, Arc<Entry>>>,
    hits: AtomicU64,
}

impl Default for VerificationCache {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for VerificationCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.entries.lock().map(|c| c.cache_size()).unwrap_or(0);
        f.debug_struct("VerificationCache")
            .field("entries", &len)
            .field("hits", &self.hits())
            .finish()
    }
}

/// An assertion of the request's `wsse:Security` header, located without verifying anything.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub id: String,
    pub key: Key,
}

/// The assertions of a request as the fast path sees them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Found {
    pub hcp: Option<Located>,
    pub trc: Option<Located>,
}

impl VerificationCache {
    /// The most assertions remembered.
    pub const CAPACITY: usize = 4096;

    pub fn new() -> Self {
        VerificationCache {
            entries: Mutex::new(SizedCache::with_size(Self::CAPACITY)),
            hits: AtomicU64::new(0),
        }
    }

    /// The verified assertion with `key`, when it was verified against the current trust list
    /// and its certificates are valid at `now`. An entry of another list or past its
    /// `NotOnOrAfter` is dropped.
    pub(crate) fn get(
        &self,
        key: &Key,
        trust: &SigningTrust,
        now: DateTime<Utc>,
    ) -> Option<VerifiedAssertion> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = Arc::clone(entries.cache_get(key)?);
        let expired = entry
            .verified
            .common
            .not_on_or_after
            .is_none_or(|t| now >= t);
        if expired || !entry.generation.is_current(trust) {
            entries.cache_remove(key);
            return None;
        }
        drop(entries);
        let (from, to) = entry.verified.certs_valid;
        let usable = from <= now && now < to;
        if usable {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        usable.then(|| entry.verified.clone())
    }

    /// How many assertions were answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Remembers a fully verified assertion.
    pub(crate) fn put(&self, key: Key, trust: &SigningTrust, verified: VerifiedAssertion) {
        let entry = Arc::new(Entry {
            generation: trust.generation(),
            verified,
        });
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.cache_set(key, entry);
    }

    /// How many assertions are remembered.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cache_size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Locates the HCP and TRC assertions of a SOAP envelope and computes their keys, checking the
/// structure the full verification checks (one Header, one `wsse:Security`, at most one
/// assertion of each kind) and that no other attribute of the document carries an assertion's
/// ID. `None` when anything is not as expected: the full verification then decides.
pub(crate) fn locate(envelope: &[u8]) -> Option<Found> {
    let text = std::str::from_utf8(envelope).ok()?;
    if !utf8_declared(text) {
        return None;
    }
    let doc = roxmltree::Document::parse(text).ok()?;
    let root = doc.root_element();
    let ns = match root.tag_name().namespace() {
        Some(SOAP12_NS) if root.tag_name().name() == "Envelope" => SOAP12_NS,
        Some(SOAP11_NS) if root.tag_name().name() == "Envelope" => SOAP11_NS,
        _ => return None,
    };
    let header = only(root.children().filter(|c| c.has_tag_name((ns, "Header"))))?;
    let security = only(
        header
            .children()
            .filter(|c| c.has_tag_name((WSSE_NS, "Security"))),
    )?;
    let mut found = Found::default();
    let mut nodes = Vec::new();
    for a in security
        .children()
        .filter(|c| c.has_tag_name((SAML_NS, "Assertion")))
    {
        let slot = if is_trc(&a) {
            &mut found.trc
        } else {
            &mut found.hcp
        };
        if slot.is_some() {
            return None;
        }
        let id = a.attribute("ID")?.to_owned();
        nodes.push((id.trim().to_owned(), a.id()));
        *slot = Some(Located {
            key: key_of(text, &a),
            id,
        });
    }
    if let [(a, _), (b, _)] = nodes.as_slice() {
        if a == b {
            return None;
        }
    }
    // Each ID must occur once in the whole document, under any attribute name: as its own
    // assertion's no-namespace `ID`.
    for node in doc.descendants().filter(|n| n.is_element()) {
        for attr in node.attributes() {
            let v = attr.value().trim();
            let Some((_, owner)) = nodes.iter().find(|(id, _)| id == v) else {
                continue;
            };
            if !(node.id() == *owner && attr.name() == "ID" && attr.namespace().is_none()) {
                return None;
            }
        }
    }
    Some(found)
}

fn only<'a, 'i>(
    mut it: impl Iterator<Item = roxmltree::Node<'a, 'i>>,
) -> Option<roxmltree::Node<'a, 'i>> {
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// As the full verification tells a TRC assertion from an HCP one.
fn is_trc(assertion: &roxmltree::Node) -> bool {
    let qualifier = assertion
        .children()
        .find(|c| c.has_tag_name((SAML_NS, "Issuer")))
        .and_then(|i| i.attribute("NameQualifier"));
    match qualifier {
        Some(TRC_QUALIFIER) => true,
        Some(HCP_QUALIFIER) => false,
        _ => assertion
            .children()
            .any(|c| c.has_tag_name((SAML_NS, "Advice"))),
    }
}

/// No XML declaration, or one naming UTF-8: the bytes are read as UTF-8 by every parser.
fn utf8_declared(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("<?xml") else {
        return !text.starts_with('\u{feff}');
    };
    let Some(end) = rest.find("?>") else {
        return false;
    };
    let decl = &rest[..end];
    match decl.find("encoding") {
        None => true,
        Some(i) => {
            let value = decl[i + "encoding".len()..]
                .trim_start()
                .trim_start_matches('=')
                .trim_start()
                .trim_start_matches(['"', '\''])
                .split(['"', '\''])
                .next()
                .unwrap_or("");
            value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
        }
    }
}

/// The span in which every one of the DER certificates `ders` is valid; `None` when one cannot
/// be read or the spans do not meet.
pub(crate) fn validity_span<'a>(
    ders: impl IntoIterator<Item = &'a [u8]>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let mut span: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for der in ders {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let v = cert.validity();
        let from = DateTime::from_timestamp(v.not_before.timestamp(), 0)?;
        let to = DateTime::from_timestamp(v.not_after.timestamp(), 0)?;
        span = Some(match span {
            None => (from, to),
            Some((f, t)) => (f.max(from), t.min(to)),
        });
    }
    span.filter(|(f, t)| f < t)
}

/// SHA-256 over the namespace bindings in scope at `node` and the node's bytes.
fn key_of(text: &str, node: &roxmltree::Node) -> Key {
    let mut h = Sha256::new();
    h.update(b"ncp-core verified SAML assertion v1\0");
    let mut bindings: Vec<(&str, &str)> = node
        .namespaces()
        .map(|n| (n.name().unwrap_or(""), n.uri()))
        .collect();
    bindings.sort_unstable();
    for (prefix, uri) in bindings {
        for part in [prefix, uri] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
    }
    let bytes = &text.as_bytes()[node.range()];
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"><s:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><saml2:Assertion ID="_a"><saml2:Issuer NameQualifier="urn:ehdsi:assertions:hcp">x</saml2:Issuer></saml2:Assertion><saml2:Assertion ID="_b"><saml2:Issuer NameQualifier="urn:ehdsi:assertions:trc">x</saml2:Issuer></saml2:Assertion></wsse:Security></s:Header><s:Body/></s:Envelope>"#;

    #[test]
    fn locates_both_assertions() {
        let f = locate(ENV.as_bytes()).expect("located");
        assert_eq!(f.hcp.as_ref().map(|l| l.id.as_str()), Some("_a"));
        assert_eq!(f.trc.as_ref().map(|l| l.id.as_str()), Some("_b"));
        assert_ne!(f.hcp.unwrap().key, f.trc.unwrap().key);
    }

    #[test]
    fn same_bytes_under_another_prefix_binding_is_another_key() {
        let a = locate(ENV.as_bytes()).unwrap().hcp.unwrap().key;
        let other = ENV.replace(
            r#"xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion""#,
            r#"xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:x="urn:x""#,
        );
        let b = locate(other.as_bytes()).unwrap().hcp.unwrap().key;
        assert_ne!(a, b);
        // The same envelope again: the same key.
        assert_eq!(a, locate(ENV.as_bytes()).unwrap().hcp.unwrap().key);
    }

    #[test]
    fn declines_what_the_full_check_must_decide() {
        // An ID repeated elsewhere in the document.
        let dup = ENV.replace("<s:Body/>", r#"<s:Body><x Id="_a"/></s:Body>"#);
        assert!(locate(dup.as_bytes()).is_none());
        // Two HCP assertions.
        let two = ENV.replace("urn:ehdsi:assertions:trc", "urn:ehdsi:assertions:hcp");
        assert!(locate(two.as_bytes()).is_none());
        // Another encoding, a DTD, not XML.
        let latin = format!(r#"<?xml version="1.0" encoding="ISO-8859-1"?>{ENV}"#);
        assert!(locate(latin.as_bytes()).is_none());
        let utf8 = format!(r#"<?xml version="1.0" encoding="UTF-8"?>{ENV}"#);
        assert!(locate(utf8.as_bytes()).is_some());
        let dtd = format!("<!DOCTYPE s:Envelope []>{ENV}");
        assert!(locate(dtd.as_bytes()).is_none());
        assert!(locate(b"\xff<").is_none());
    }
}
