//! The security layer of the Country A SOAP endpoints: the eHDSI SAML assertions in the
//! `wsse:Security` header.
//!
//! [`verify_assertions`] takes the raw SOAP envelope of an XCPD, XCA or XDR request and returns
//! the [`VerifiedCaller`] the policy and audit trail work with, or a [`SecurityError`] carrying
//! the eHDSI error code to answer with. [`check_trc_patient`] then ties the request's patient to
//! the TRC assertion. The issuer side ([`issue_hcp_assertion`], [`issue_trc_assertion`]) builds
//! and signs assertions for when Sweden is Country B.
//!
//! Signatures are verified with libxmlsec1 against keys of the [`SigningTrust`] list only; the
//! claims are read from exactly the element the verified reference resolved to (its ID is
//! registered once and any other attribute in the document carrying the same value is refused),
//! which defeats signature wrapping. Nothing here logs patient identifiers, names or message
//! content.
//!
//! Use from the SOAP layer, per request:
//!
//! ```text
//! let caller = security::verify_assertions(&envelope_xml, &trust, &policy, Utc::now(),
//!                                          Transaction::FindPrescriptions)
//!     .map_err(|e| fault(e.ehdsi_code(), e.message()))?;
//! // the TLS peer must be the NCP that signed: compare its certificate's C= with caller.country
//! // once the request's patient id is read (XCA query slot, XDR submission set):
//! security::check_trc_patient(&caller, &PatientRef::new(root, extension))?;
//! ```
//!
//! `envelope_xml` is the SOAP envelope as XML (for MTOM/XOP messages, the root MIME part).
//!
//! Before the assertions, [`check_timestamp`] judges the header's optional `wsu:Timestamp`
//! (WS-Security faults `InvalidSecurity` / `MessageExpired`); it is outside the signed
//! assertions and so outside the verification cache, and runs on every request.

mod assertion;
mod cache;
mod errors;
mod issue;
mod policy;
mod timestamp;
mod trust;
mod xmldsig;

use chrono::{DateTime, Utc};
use libxml::parser::{Parser, ParserOptions};
use libxml::tree::{Document, Node};
use ncp_types::CountryCode;

pub use assertion::{
    FacilityType, HcpClaims, HcpRole, PatientRef, Permission, PurposeOfUse, TrcClaims,
    EHDSI_AUDIENCE, HCP_QUALIFIER, HCP_ROLES, TRC_QUALIFIER,
};
pub use cache::VerificationCache;
pub use errors::{code_text, AssertionKind, SecurityError, SignatureFailure};
pub use issue::{
    issue_hcp_assertion, issue_trc_assertion, sign_assertion, unsigned_hcp_assertion,
    unsigned_trc_assertion, AssertionOptions, IssueError, SignedAssertion, SigningKey,
};
pub use policy::{AssertionPolicy, Transaction};
pub use timestamp::{check_timestamp, ReceivedTimestamp, TimestampError, WSU_NS};
pub use trust::{SigningTrust, TrustError};
pub use xmldsig::{KeyAlgorithm, SignError};

use assertion::{children, is_element, read_common, read_hcp, read_trc, Common, SAML_NS};

const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

/// The verified caller of a request: who, for what, on whose authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCaller {
    /// The claims of the HCP identity assertion.
    pub hcp: HcpClaims,
    /// The HCP identity assertion's `ID`.
    pub hcp_assertion_id: String,
    /// The HCP identity assertion's `Issuer`.
    pub hcp_issuer: String,
    /// The country of the NCP that signed the assertions (the signing certificate's `C=`).
    pub country: CountryCode,
    /// The TRC assertion's claims, when the request carried one.
    pub trc: Option<TrcClaims>,
    /// The TRC assertion's `ID`.
    pub trc_assertion_id: Option<String>,
    /// The transaction the assertions were checked for.
    pub transaction: Transaction,
    /// The earliest `NotOnOrAfter` of the assertions.
    pub valid_until: DateTime<Utc>,
}

impl VerifiedCaller {
    /// The patient of the TRC assertion.
    pub fn trc_patient(&self) -> Option<&PatientRef> {
        self.trc.as_ref().map(|t| &t.patient)
    }
}

/// Checks that the patient the request is about is the patient of the TRC assertion (`4206`
/// when not; `4702` when there is no TRC assertion).
pub fn check_trc_patient(
    caller: &VerifiedCaller,
    patient: &PatientRef,
) -> Result<(), SecurityError> {
    let trc = caller
        .trc
        .as_ref()
        .ok_or(SecurityError::MissingAssertion(AssertionKind::Trc))?;
    if trc.patient.root == patient.root && trc.patient.extension.trim() == patient.extension.trim()
    {
        Ok(())
    } else {
        tracing::info!(
            hcp_assertion = %caller.hcp_assertion_id,
            "request patient differs from the TRC assertion's"
        );
        Err(SecurityError::TrcPatientMismatch)
    }
}

struct Verified {
    node: Node,
    id: String,
    common: Common,
    country: CountryCode,
    certs_valid: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// One assertion, its signature verified, ready for the checks of [`decide`]. The claims were
/// read eagerly but their error counts only where the checks reach them.
struct Checked<C> {
    id: String,
    issuer: String,
    common: Common,
    country: CountryCode,
    claims: Result<C, SecurityError>,
}

/// As [`verify_assertions`], remembering the assertions it verified in `cache` and answering
/// from it when the same assertions come again (see [`cache`] for why that is safe). Every check
/// that depends on the request, the clock or the policy runs on every call.
pub fn verify_assertions_cached(
    envelope: &[u8],
    trust: &SigningTrust,
    cache: &VerificationCache,
    policy: &AssertionPolicy,
    now: DateTime<Utc>,
    needs: Transaction,
) -> Result<VerifiedCaller, SecurityError> {
    let result = verify_with_cache(envelope, trust, cache, policy, now, needs);
    log_outcome(&result, needs);
    result
}

fn log_outcome(result: &Result<VerifiedCaller, SecurityError>, needs: Transaction) {
    match result {
        Ok(caller) => tracing::debug!(
            country = %caller.country,
            hcp_assertion = %caller.hcp_assertion_id,
            transaction = ?needs,
            "SAML assertions verified"
        ),
        Err(e) => tracing::info!(
            code = e.ehdsi_code(),
            reason = %e,
            transaction = ?needs,
            "SAML assertions refused"
        ),
    }
}

fn verify_with_cache(
    envelope: &[u8],
    trust: &SigningTrust,
    cache: &VerificationCache,
    policy: &AssertionPolicy,
    now: DateTime<Utc>,
    needs: Transaction,
) -> Result<VerifiedCaller, SecurityError> {
    let Some(found) = cache::locate(envelope) else {
        return verify_inner(envelope, trust, policy, now, needs, None);
    };
    let hit = |l: &Option<cache::Located>| {
        l.as_ref()
            .map(|l| cache.get(&l.key, trust, now).filter(|v| v.id == l.id))
    };
    let (hcp, trc) = (hit(&found.hcp), hit(&found.trc));
    let all_known = matches!(hcp, Some(Some(_))) && !matches!(trc, Some(None));
    if !all_known || (needs.needs_trc() && trc.is_none()) {
        let known_hcp = hcp.flatten().and_then(|v| match &v.claims {
            cache::Claims::Hcp(c) => Some((c.clone(), v)),
            cache::Claims::Trc(_) => None,
        });
        let remember = Remember {
            cache,
            found: &found,
            known_hcp: known_hcp.map(|(c, v)| (v, c)),
        };
        return verify_inner(envelope, trust, policy, now, needs, Some(remember));
    }
    let hcp = hcp.flatten().and_then(|v| match v.claims {
        cache::Claims::Hcp(c) => Some(Checked {
            id: v.id,
            issuer: v.common.issuer.clone(),
            common: v.common,
            country: v.country,
            claims: Ok(c),
        }),
        cache::Claims::Trc(_) => None,
    });
    let trc = trc.flatten().map(|v| match v.claims {
        cache::Claims::Trc(c) => Some(Checked {
            id: v.id,
            issuer: v.common.issuer.clone(),
            common: v.common,
            country: v.country,
            claims: Ok(c),
        }),
        cache::Claims::Hcp(_) => None,
    });
    match (hcp, trc) {
        (Some(hcp), None) => decide(hcp, None, policy, now, needs),
        (Some(hcp), Some(Some(trc))) => decide(hcp, Some(trc), policy, now, needs),
        // A kind other than remembered: let the full verification word it.
        _ => verify_inner(envelope, trust, policy, now, needs, None),
    }
}

/// Verifies the eHDSI assertions in the `wsse:Security` header of a SOAP `envelope` for the
/// transaction `needs`: signatures (against `trust` only), validity at `now`, audience, issuer,
/// the HCP's role, purpose of use and permissions, and for XCA/XDR the TRC assertion (signed by
/// the same NCP, referring to the HCP identity assertion).
///
/// Pure: no I/O, no shared state besides libxmlsec1's one-time initialisation; safe to call
/// from many threads at once.
pub fn verify_assertions(
    envelope: &[u8],
    trust: &SigningTrust,
    policy: &AssertionPolicy,
    now: DateTime<Utc>,
    needs: Transaction,
) -> Result<VerifiedCaller, SecurityError> {
    let result = verify_inner(envelope, trust, policy, now, needs, None);
    log_outcome(&result, needs);
    result
}

fn verify_inner(
    envelope: &[u8],
    trust: &SigningTrust,
    policy: &AssertionPolicy,
    now: DateTime<Utc>,
    needs: Transaction,
    remember: Option<Remember<'_>>,
) -> Result<VerifiedCaller, SecurityError> {
    xmldsig::init();
    let doc = parse(envelope)?;
    let root = doc
        .get_root_element()
        .ok_or(SecurityError::Malformed("no root element"))?;
    let security = security_header(&root)?;

    let mut hcp_nodes = Vec::new();
    let mut trc_nodes = Vec::new();
    for a in children(&security, SAML_NS, "Assertion") {
        if is_trc(&a) {
            trc_nodes.push(a);
        } else {
            hcp_nodes.push(a);
        }
    }
    let hcp_node = single(hcp_nodes, AssertionKind::Hcp)?
        .ok_or(SecurityError::MissingAssertion(AssertionKind::Hcp))?;
    let trc_node = single(trc_nodes, AssertionKind::Trc)?;
    if needs.needs_trc() && trc_node.is_none() {
        return Err(SecurityError::MissingAssertion(AssertionKind::Trc));
    }

    // An HCP assertion already verified (a new TRC for the same HCP: the next patient) is taken
    // from the cache when it is this very element; `cache::locate` checked that its ID occurs
    // nowhere else in the document.
    let known_hcp = remember
        .as_ref()
        .and_then(|r| r.known_hcp.clone())
        .filter(|(v, _)| hcp_node.get_attribute_no_ns("ID").as_deref() == Some(v.id.as_str()));
    let hcp = match known_hcp {
        Some(known) => Err(known),
        None => Ok(verify_one(
            &doc,
            &root,
            hcp_node,
            AssertionKind::Hcp,
            trust,
            now,
        )?),
    };
    let trc = trc_node
        .map(|n| verify_one(&doc, &root, n, AssertionKind::Trc, trust, now))
        .transpose()?;

    let hcp_claims = match &hcp {
        Ok(fresh) => read_hcp(&fresh.node, &fresh.common),
        Err((_, claims)) => Ok(claims.clone()),
    };
    let trc_claims = trc.as_ref().map(|t| read_trc(&t.node, &t.common));
    if let Some(Remember { cache, found, .. }) = remember {
        let keep = |located: &Option<cache::Located>, v: &Verified, claims: cache::Claims| {
            if let (Some(l), Some(certs_valid)) = (located, v.certs_valid) {
                if l.id == v.id {
                    cache.put(
                        l.key,
                        trust,
                        cache::VerifiedAssertion {
                            id: v.id.clone(),
                            common: v.common.clone(),
                            country: v.country,
                            claims,
                            certs_valid,
                        },
                    );
                }
            }
        };
        if let (Ok(fresh), Ok(c)) = (&hcp, &hcp_claims) {
            keep(&found.hcp, fresh, cache::Claims::Hcp(c.clone()));
        }
        if let (Some(t), Some(Ok(c))) = (&trc, &trc_claims) {
            keep(&found.trc, t, cache::Claims::Trc(c.clone()));
        }
    }
    let hcp = match hcp {
        Ok(fresh) => checked(fresh, hcp_claims),
        Err((known, _)) => Checked {
            issuer: known.common.issuer.clone(),
            id: known.id,
            common: known.common,
            country: known.country,
            claims: hcp_claims,
        },
    };
    let trc = trc.zip(trc_claims).map(|(t, claims)| checked(t, claims));
    decide(hcp, trc, policy, now, needs)
}

/// What the full verification is told by the cache: where to remember what it verifies, and
/// the HCP assertion it already knows.
struct Remember<'a> {
    cache: &'a VerificationCache,
    found: &'a cache::Found,
    known_hcp: Option<(cache::VerifiedAssertion, HcpClaims)>,
}

fn checked<C>(v: Verified, claims: Result<C, SecurityError>) -> Checked<C> {
    Checked {
        issuer: v.common.issuer.clone(),
        id: v.id,
        common: v.common,
        country: v.country,
        claims,
    }
}

/// The checks that do not depend on the signatures, in the order their refusals take
/// precedence: the HCP assertion's conditions, its claims, the TRC's signer, conditions, claims
/// and link to the HCP assertion, purpose of use, then the permissions for `needs`.
fn decide(
    hcp: Checked<HcpClaims>,
    trc: Option<Checked<TrcClaims>>,
    policy: &AssertionPolicy,
    now: DateTime<Utc>,
    needs: Transaction,
) -> Result<VerifiedCaller, SecurityError> {
    let hcp_valid_until = check_conditions(&hcp.common, AssertionKind::Hcp, policy, now)?;
    let hcp_claims = hcp.claims?;
    let mut valid_until = hcp_valid_until;
    let mut trc_claims = None;
    let mut trc_id = None;
    if let Some(trc) = trc {
        if trc.country != hcp.country {
            return Err(SecurityError::Signature {
                kind: AssertionKind::Trc,
                failure: SignatureFailure::OtherNcp,
            });
        }
        valid_until = valid_until.min(check_conditions(
            &trc.common,
            AssertionKind::Trc,
            policy,
            now,
        )?);
        let claims = trc.claims?;
        if claims.hcp_assertion_ref != hcp.id || claims.subject_id != hcp_claims.subject_id {
            return Err(SecurityError::TrcNotForHcp);
        }
        if !policy.purposes.contains(&claims.purpose_of_use) {
            return Err(SecurityError::PurposeNotAllowed);
        }
        trc_claims = Some(claims);
        trc_id = Some(trc.id);
    }
    policy.authorise(&hcp_claims, needs)?;
    Ok(VerifiedCaller {
        hcp: hcp_claims,
        hcp_assertion_id: hcp.id,
        hcp_issuer: hcp.issuer,
        country: hcp.country,
        trc: trc_claims,
        trc_assertion_id: trc_id,
        transaction: needs,
        valid_until,
    })
}

fn parse(envelope: &[u8]) -> Result<Document, SecurityError> {
    let options = ParserOptions {
        recover: false,
        no_def_dtd: true,
        no_error: true,
        no_warning: true,
        no_net: true,
        ..ParserOptions::default()
    };
    let doc = Parser::default()
        .parse_string_with_options(envelope, options)
        .map_err(|_| SecurityError::Malformed("not well-formed XML"))?;
    // SAFETY: doc_ptr is the live document just parsed.
    let has_dtd = unsafe { !(*doc.doc_ptr()).intSubset.is_null() };
    if has_dtd {
        return Err(SecurityError::Malformed("a DOCTYPE is not allowed"));
    }
    Ok(doc)
}

fn security_header(root: &Node) -> Result<Node, SecurityError> {
    let ns = if is_element(root, SOAP12_NS, "Envelope") {
        SOAP12_NS
    } else if is_element(root, SOAP11_NS, "Envelope") {
        SOAP11_NS
    } else {
        return Err(SecurityError::Malformed("not a SOAP envelope"));
    };
    let headers = children(root, ns, "Header");
    let [header] = headers.as_slice() else {
        return Err(SecurityError::Malformed("no single SOAP Header"));
    };
    let mut security = children(header, WSSE_NS, "Security");
    match security.len() {
        0 => Err(SecurityError::MissingAssertion(AssertionKind::Hcp)),
        1 => security
            .pop()
            .ok_or(SecurityError::Malformed("no wsse:Security header")),
        _ => Err(SecurityError::Malformed(
            "more than one wsse:Security header",
        )),
    }
}

fn is_trc(assertion: &Node) -> bool {
    let qualifier = children(assertion, SAML_NS, "Issuer")
        .first()
        .and_then(|i| i.get_attribute_no_ns("NameQualifier"));
    match qualifier.as_deref() {
        Some(TRC_QUALIFIER) => true,
        Some(HCP_QUALIFIER) => false,
        _ => !children(assertion, SAML_NS, "Advice").is_empty(),
    }
}

fn single(mut nodes: Vec<Node>, kind: AssertionKind) -> Result<Option<Node>, SecurityError> {
    if nodes.len() > 1 {
        return Err(SecurityError::InvalidAssertion {
            kind,
            reason: "more than one such assertion in the header",
        });
    }
    Ok(nodes.pop())
}

fn verify_one(
    doc: &Document,
    root: &Node,
    node: Node,
    kind: AssertionKind,
    trust: &SigningTrust,
    now: DateTime<Utc>,
) -> Result<Verified, SecurityError> {
    let sig_err = |failure| SecurityError::Signature { kind, failure };
    let id = node
        .get_attribute_no_ns("ID")
        .filter(|id| valid_id(id))
        .ok_or(SecurityError::InvalidAssertion {
            kind,
            reason: "no valid ID",
        })?;
    if !xmldsig::register_id(doc, &node, &id) || xmldsig::id_value_elsewhere(root, &node, &id) {
        return Err(sig_err(SignatureFailure::WrongReference));
    }
    let (sig, certs) = xmldsig::signature_of(&node, &id).map_err(sig_err)?;
    let candidates = trust.candidates(&certs, now);
    if candidates.is_empty() {
        return Err(sig_err(SignatureFailure::UntrustedSigner));
    }
    let mut failure = SignatureFailure::Invalid;
    let mut signed_by = None;
    for signer in &candidates {
        match xmldsig::verify(&sig, &id, &signer.der) {
            Ok(()) => {
                signed_by = Some(signer);
                break;
            }
            Err(f) => failure = f,
        }
    }
    let signer = signed_by.ok_or(sig_err(failure))?;
    let common = read_common(&node, kind)?;
    let certs_valid = cache::validity_span(
        std::iter::once(signer.der.as_slice()).chain(certs.iter().map(Vec::as_slice)),
    );
    Ok(Verified {
        node,
        id,
        common,
        country: signer.country,
        certs_valid,
    })
}

/// An XML NCName-like ID: no whitespace, quotes or characters that would change the meaning of
/// the `#id` reference.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !id.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.')
}

fn check_conditions(
    common: &Common,
    kind: AssertionKind,
    policy: &AssertionPolicy,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, SecurityError> {
    let skew = chrono::Duration::from_std(policy.clock_skew).unwrap_or(chrono::Duration::zero());
    let max_lifetime = match kind {
        AssertionKind::Hcp => policy.max_hcp_lifetime,
        AssertionKind::Trc => policy.max_trc_lifetime,
    };
    let max_lifetime = chrono::Duration::from_std(max_lifetime).unwrap_or(chrono::Duration::zero());
    let not_on_or_after = common
        .not_on_or_after
        .ok_or(SecurityError::InvalidAssertion {
            kind,
            reason: "no NotOnOrAfter",
        })?;
    let start = common.not_before.unwrap_or(common.issue_instant);
    if now + skew < start || now + skew < common.issue_instant {
        return Err(SecurityError::NotYetValid(kind));
    }
    if now - skew >= not_on_or_after {
        return Err(SecurityError::Expired(kind));
    }
    if not_on_or_after - start > max_lifetime + skew {
        return Err(SecurityError::InvalidAssertion {
            kind,
            reason: "validity period longer than allowed",
        });
    }
    let ours = |a: &String| policy.audiences.iter().any(|o| o == a);
    if common.audiences.is_empty() || !common.audiences.iter().all(|r| r.iter().any(ours)) {
        return Err(SecurityError::WrongAudience(kind));
    }
    Ok(not_on_or_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(valid_id("_e3dc4e43-d1ad-4710-b8d6-deba02b6ef74"));
        assert!(!valid_id("1abc"));
        assert!(!valid_id("a' or '1"));
        assert!(!valid_id(""));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let trust = SigningTrust::new();
        let policy = AssertionPolicy::default();
        for input in [
            &b""[..],
            b"<",
            b"not xml",
            b"<a/>",
            b"<!DOCTYPE x [<!ENTITY e 'x'>]><s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'/>",
            b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Header/></s:Envelope>",
        ] {
            let e = verify_assertions(input, &trust, &policy, Utc::now(), Transaction::IdentifyPatient)
                .unwrap_err();
            assert_eq!(e.ehdsi_code(), "4702", "{e}");
        }
    }
}
