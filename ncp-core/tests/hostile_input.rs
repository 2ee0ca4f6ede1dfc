//! Hostile input against every parser a foreign NCP can reach: the SOAP envelope (plain and
//! MTOM), the IHE bodies (XCPD, XCA, XDR), the SAML assertion verifier (libxml2 +
//! libxmlsec1) and the CDA reader (eDispensation, ePrescription, any document → FHIR).
//!
//! - Property tests (proptest, a bounded number of cases, shrinking on failure): arbitrary
//!   bytes, and real messages under structured mutations (token insertion, deletion,
//!   duplication, truncation, byte flips), never panic. `soap_fuzz.rs` keeps its fixed-seed
//!   corpus; this adds shrinking and the SAML and CDA parsers.
//! - Explicit attacks, each refused with a clear error: XML bombs (billion laughs), external
//!   entities (a `file://` entity naming a FIFO proves the file is never opened; an `http://`
//!   one proves no connection is made), huge attributes, 100 000 levels of nesting, UTF-16
//!   declared over other bytes, Latin-1 bytes. Memory stays bounded (peak RSS checked).

#[path = "security_support/mod.rs"]
mod security_support;

use std::sync::OnceLock;
use std::time::Duration;

use chrono::Utc;
use ncp_core::ihe::{xca, xcpd, xdr};
use ncp_core::security::{verify_assertions, AssertionPolicy, SigningTrust, Transaction};
use ncp_core::soap::{mtom, parse_request, Limits, SoapError, XmlError};
use proptest::prelude::*;

const SOAP_CT: &str = "application/soap+xml; charset=UTF-8";

const SOAP_FIXTURES: [&str; 6] = [
    include_str!("fixtures/ihe/xcpd_request.xml"),
    include_str!("fixtures/ihe/xca_query.xml"),
    include_str!("fixtures/ihe/xca_retrieve.xml"),
    include_str!("fixtures/ihe/xdr_edispensation_base64.xml"),
    include_str!("fixtures/ihe/xdr_edispensation_envelope.xml"),
    include_str!("fixtures/ihe/xdr_discard_base64.xml"),
];

const CDA_FIXTURES: [&str; 5] = [
    include_str!("../../cda-fhir-transform/tests/fixtures/cda/edispensation-minimal.xml"),
    include_str!("../../cda-fhir-transform/tests/fixtures/cda/edispensation-w8-pharm.xml"),
    include_str!("../../cda-fhir-transform/tests/fixtures/cda/edispensation-w8-discard.xml"),
    include_str!("../../cda-fhir-transform/tests/fixtures/cda/eprescription-l1.xml"),
    include_str!("fixtures/ihe/edispensation_l3.xml"),
];

/// Pieces of XML and MIME that make mutations land on parser decisions.
const TOKENS: [&str; 22] = [
    "<",
    ">",
    "/>",
    "</",
    "&amp;",
    "&",
    "&#0;",
    "&#x110000;",
    "\"",
    "'",
    "<!DOCTYPE a [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
    "&e;",
    "<![CDATA[",
    "]]>",
    "<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
    "xmlns=\"\"",
    "xmlns:saml2=\"urn:x\"",
    "<xop:Include xmlns:xop=\"http://www.w3.org/2004/08/xop/include\" href=\"cid:x\"/>",
    "\r\n--MIMEBoundary\r\n",
    "^^^&amp;",
    "\u{feff}",
    "\u{0}",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Insert { at: usize, token: usize },
    Duplicate { at: usize, len: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (any::<usize>(), 1usize..256).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (any::<usize>(), 1usize..512).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(input: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut v = input.to_vec();
    for m in mutations {
        if v.is_empty() {
            break;
        }
        let n = v.len();
        match *m {
            Mutation::Flip { at, byte } => v[at % n] = byte,
            Mutation::Delete { at, len } => {
                let at = at % n;
                v.drain(at..(at + len).min(n));
            }
            Mutation::Insert { at, token } => {
                let at = at % (n + 1);
                v.splice(at..at, TOKENS[token].bytes());
            }
            Mutation::Duplicate { at, len } => {
                let at = at % n;
                let dup = v[at..(at + len).min(n)].to_vec();
                v.splice(at..at, dup);
            }
            Mutation::Truncate { at } => v.truncate(at % n),
        }
    }
    v
}

/// Every SOAP-side parser on `bytes`, as the endpoints would reach them.
fn soap_side(content_type: &str, bytes: &[u8]) {
    let limits = Limits::default();
    if let Ok(req) = parse_request(content_type, bytes, &limits) {
        let _ = req.transaction();
        let _ = xcpd::parse_query(&req.body);
        let _ = xca::parse_query(&req.body);
        let _ = xca::parse_retrieve(&req.body);
        let _ = xdr::parse_provide_and_register(&req.body, &req.attachments);
    }
    let _ = mtom::split(content_type, bytes, &limits);
}

/// The SAML verifier, with a real trust list, on a whole envelope.
fn saml_side(bytes: &[u8]) {
    let trust = saml_env().1.clone();
    let policy = AssertionPolicy::default();
    for needs in [Transaction::IdentifyPatient, Transaction::FindPrescriptions] {
        let _ = verify_assertions(bytes, &trust, &policy, Utc::now(), needs);
    }
}

/// The CDA readers, on text (as XDR hands them a UTF-8 document) and on bytes.
fn cda_side(bytes: &[u8]) {
    let _ = cda_fhir_transform::to_fhir::cda_to_fhir_json(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = cda_fhir_transform::to_fhir::read_cda(text);
        let _ = cda_fhir_transform::to_fhir::cda_to_fhir(text);
        let _ = cda_fhir_transform::to_fhir::edispensation_to_fhir(text);
        let _ = cda_fhir_transform::to_fhir::edispensation_discard_to_fhir(text);
    }
}

/// A SOAP envelope carrying a validly signed HCP identity and TRC assertion, and the trust
/// list that accepts them: mutations of it reach signature verification, not just parsing.
fn saml_env() -> &'static (String, SigningTrust) {
    static ENV: OnceLock<(String, SigningTrust)> = OnceLock::new();
    ENV.get_or_init(|| {
        let pki = security_support::TestPki::new();
        let now = Utc::now();
        let hcp = security_support::hcp(&pki.ee, &security_support::hcp_claims(), now);
        let trc = security_support::trc(&pki.ee, &hcp.id, now);
        let env = security_support::envelope(&[&hcp.xml, &trc.xml]);
        // The untouched envelope is accepted: the mutations start from a valid message.
        verify_assertions(
            env.as_bytes(),
            &pki.trust(),
            &AssertionPolicy::default(),
            now,
            Transaction::FindPrescriptions,
        )
        .expect("the unmutated envelope verifies");
        (env, pki.trust())
    })
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Failures are reported with the shrunk input; no files written next to the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_never_panic_any_parser(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        soap_side(SOAP_CT, &bytes);
        soap_side("multipart/related; type=\"application/xop+xml\"; boundary=\"MIMEBoundary\"; start-info=\"application/soap+xml\"", &bytes);
        saml_side(&bytes);
        cda_side(&bytes);
    }

    #[test]
    fn mutated_soap_messages_never_panic(
        which in 0..SOAP_FIXTURES.len(),
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        let bytes = apply(SOAP_FIXTURES[which].as_bytes(), &mutations);
        soap_side(SOAP_CT, &bytes);
    }

    #[test]
    fn mutated_cda_documents_never_panic(
        which in 0..CDA_FIXTURES.len(),
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        cda_side(&apply(CDA_FIXTURES[which].as_bytes(), &mutations));
    }
}

proptest! {
    // Signature verification is the expensive one: fewer cases.
    #![proptest_config(config(96))]

    #[test]
    fn mutated_signed_assertions_never_panic_and_never_verify_changed_content(
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let (env, trust) = saml_env();
        let bytes = apply(env.as_bytes(), &mutations);
        let result = verify_assertions(
            &bytes,
            trust,
            &AssertionPolicy::default(),
            Utc::now(),
            Transaction::FindPrescriptions,
        );
        // A mutation inside a signed assertion must not be accepted. (Mutations elsewhere —
        // the SOAP body, whitespace between elements — may leave it valid.)
        if result.is_ok() {
            let inside = |b: &[u8]| {
                let text = String::from_utf8_lossy(b);
                let s = text.find("<saml2:Assertion").or_else(|| text.find("<saml:Assertion"));
                let e = text.rfind("</saml2:Assertion>").or_else(|| text.rfind("</saml:Assertion>"));
                match (s, e) { (Some(s), Some(e)) if s < e => text[s..e].to_owned(), _ => String::new() }
            };
            prop_assert_eq!(inside(env.as_bytes()), inside(&bytes), "changed assertions verified");
        }
    }
}

// --- explicit attacks -----------------------------------------------------------------------

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>"#;

/// A SOAP envelope (with an XCA query body) after `prolog`, with `inner` in the body.
fn soap_with(prolog: &str, header: &str, inner: &str) -> String {
    format!(
        concat!(
            "{}<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">",
            "<soap:Header><wsa:Action soap:mustUnderstand=\"1\">urn:ihe:iti:2007:CrossGatewayQuery</wsa:Action>",
            "<wsa:MessageID>urn:uuid:7d3c2b1a-0000-4000-8000-000000000002</wsa:MessageID>{}</soap:Header>",
            "<soap:Body><query:AdhocQueryRequest xmlns:query=\"urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0\">{}</query:AdhocQueryRequest></soap:Body></soap:Envelope>"
        ),
        prolog, header, inner
    )
}

fn cda_with(prolog: &str, inner: &str) -> String {
    format!(
        "{prolog}<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>{inner}</title></ClinicalDocument>"
    )
}

fn saml_err(bytes: &[u8]) -> String {
    let (_, trust) = saml_env();
    let e = verify_assertions(
        bytes,
        trust,
        &AssertionPolicy::default(),
        Utc::now(),
        Transaction::FindPrescriptions,
    )
    .expect_err("refused");
    assert_eq!(e.ehdsi_code(), "4702", "{e}");
    e.to_string()
}

/// Runs `f` on another thread; fails if it does not finish within `secs` (a parser blocked
/// opening a FIFO, or fetching a URL, would hang here).
fn finishes_within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("the parser finished (it did not try to read the external entity)")
}

/// Peak resident memory of this process, in KiB (`VmHWM`), on Linux.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The whole process (every test here, in parallel) stays under this peak.
const PEAK_RSS_LIMIT_KIB: u64 = 1024 * 1024;

fn assert_memory_bounded(what: &str) {
    if let Some(peak) = peak_rss_kib() {
        assert!(
            peak < PEAK_RSS_LIMIT_KIB,
            "{what}: peak RSS {peak} KiB over {PEAK_RSS_LIMIT_KIB}"
        );
    }
}

#[test]
fn billion_laughs_is_refused_by_every_parser_in_bounded_memory() {
    let soap = soap_with(BILLION_LAUGHS, "", "&lol9;");
    assert_eq!(
        parse_request(SOAP_CT, soap.as_bytes(), &Limits::default()).unwrap_err(),
        SoapError::Xml(XmlError::Doctype)
    );
    // The same bomb inside the header the SAML verifier reads (libxml2).
    let saml = soap_with(BILLION_LAUGHS, "<x>&lol9;</x>", "");
    let e = saml_err(saml.as_bytes());
    assert!(e.contains("DOCTYPE") || e.contains("well-formed"), "{e}");
    let cda = cda_with(BILLION_LAUGHS, "&lol9;");
    assert_eq!(
        cda_fhir_transform::to_fhir::read_cda(&cda).unwrap_err(),
        cda_fhir_transform::to_fhir::FromCdaError::Doctype
    );
    assert!(cda_fhir_transform::to_fhir::cda_to_fhir_json(cda.as_bytes()).is_err());
    assert!(cda_fhir_transform::to_fhir::edispensation_to_fhir(&cda).is_err());
    // Quadratic blow-up: one big entity referenced many times.
    let big = format!("<!DOCTYPE q [<!ENTITY a \"{}\">]>", "x".repeat(100_000));
    let quadratic = soap_with(&big, &"<x>&a;</x>".repeat(1000), "");
    saml_err(quadratic.as_bytes());
    assert_eq!(
        parse_request(SOAP_CT, quadratic.as_bytes(), &Limits::default()).unwrap_err(),
        SoapError::Xml(XmlError::Doctype)
    );
    assert_memory_bounded("billion laughs");
}

#[cfg(unix)]
#[test]
fn external_entities_are_never_fetched() {
    // A FIFO: opening it for reading blocks until a writer comes, so a parser that tried to
    // read the entity would hang, and the test would fail on its time limit.
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("secret");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(made, "mkfifo");
    // A listener: a parser that fetched an http:// entity or DTD would connect to it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();

    let file_url = format!("file://{}", fifo.display());
    let http_url = format!("http://127.0.0.1:{port}/x.dtd");
    for (name, prolog, reference) in [
        (
            "file entity",
            format!("<!DOCTYPE x [<!ENTITY xxe SYSTEM \"{file_url}\">]>"),
            "&xxe;",
        ),
        (
            "passwd entity",
            "<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>".to_owned(),
            "&xxe;",
        ),
        (
            "http entity",
            format!("<!DOCTYPE x [<!ENTITY xxe SYSTEM \"{http_url}\">]>"),
            "&xxe;",
        ),
        (
            "external DTD",
            format!("<!DOCTYPE x SYSTEM \"{http_url}\">"),
            "",
        ),
        (
            "parameter entity",
            format!("<!DOCTYPE x [<!ENTITY % p SYSTEM \"{file_url}\"> %p;]>"),
            "",
        ),
    ] {
        let soap = soap_with(&prolog, &format!("<x>{reference}</x>"), reference);
        let cda = cda_with(&prolog, reference);
        let (soap_err, saml_msg, cda_err, json_err) = finishes_within(20, move || {
            (
                parse_request(SOAP_CT, soap.as_bytes(), &Limits::default()).unwrap_err(),
                saml_err(soap.as_bytes()),
                cda_fhir_transform::to_fhir::read_cda(&cda).unwrap_err(),
                cda_fhir_transform::to_fhir::cda_to_fhir_json(cda.as_bytes()).unwrap_err(),
            )
        });
        assert_eq!(soap_err, SoapError::Xml(XmlError::Doctype), "{name}");
        assert!(!saml_msg.contains("root:"), "{name}: {saml_msg}");
        assert_eq!(
            cda_err,
            cda_fhir_transform::to_fhir::FromCdaError::Doctype,
            "{name}"
        );
        assert!(!json_err.to_string().contains("root:"), "{name}");
    }
    assert!(
        listener.accept().is_err(),
        "a parser connected to the external entity's URL"
    );
}

#[test]
fn a_huge_attribute_is_refused_or_bounded() {
    // 20 MiB in one attribute: under the 32 MiB SOAP limit, so it parses as XML, but it is
    // no IHE query; the request is refused with a protocol error, not a crash.
    let huge = format!("<x a=\"{}\"/>", "A".repeat(20 * 1024 * 1024));
    let soap = soap_with("", "", &huge);
    match parse_request(SOAP_CT, soap.as_bytes(), &Limits::default()) {
        Ok(req) => assert!(xca::parse_query(&req.body).is_err()),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    // Over the limit: refused before parsing.
    let over = soap_with(
        "",
        "",
        &format!("<x a=\"{}\"/>", "A".repeat(33 * 1024 * 1024)),
    );
    assert!(matches!(
        parse_request(SOAP_CT, over.as_bytes(), &Limits::default()).unwrap_err(),
        SoapError::TooLarge { .. } | SoapError::Xml(XmlError::TooLarge { .. })
    ));
    // The SAML verifier and the CDA reader on the same.
    let e = saml_err(soap.as_bytes());
    assert!(!e.is_empty());
    let cda = cda_with("", &huge);
    assert!(cda_fhir_transform::to_fhir::read_cda(&cda).is_err());
    assert_memory_bounded("huge attribute");
}

#[test]
fn a_hundred_thousand_levels_of_nesting_are_refused() {
    let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    let soap = soap_with("", "", &deep);
    assert!(matches!(
        parse_request(SOAP_CT, soap.as_bytes(), &Limits::default()).unwrap_err(),
        SoapError::Xml(XmlError::TooDeep { .. })
    ));
    let soap_in_header = soap_with("", &deep, "");
    saml_err(soap_in_header.as_bytes());
    let cda = cda_with("", &deep);
    assert!(matches!(
        cda_fhir_transform::to_fhir::read_cda(&cda).unwrap_err(),
        cda_fhir_transform::to_fhir::FromCdaError::TooDeep { .. }
    ));
    assert!(cda_fhir_transform::to_fhir::cda_to_fhir_json(cda.as_bytes()).is_err());
    // Unclosed: the same, not a stack overflow.
    let open = soap_with("", "", &"<a>".repeat(100_000));
    assert!(parse_request(SOAP_CT, open.as_bytes(), &Limits::default()).is_err());
    assert_memory_bounded("deep nesting");
}

#[test]
fn wrong_encodings_are_refused_with_a_clear_error() {
    // Really UTF-16 (with a BOM).
    let utf16: Vec<u8> = std::iter::once(0xfeff_u16)
        .chain(soap_with("", "", "").encode_utf16())
        .flat_map(|u| u.to_le_bytes())
        .collect();
    assert_eq!(
        parse_request(SOAP_CT, &utf16, &Limits::default()).unwrap_err(),
        SoapError::Xml(XmlError::NotUtf8)
    );
    saml_err(&utf16);
    assert!(cda_fhir_transform::to_fhir::cda_to_fhir_json(&utf16).is_err());

    // Latin-1 bytes (ä = 0xE4) in a document that says nothing, or says UTF-8.
    for prolog in ["", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"] {
        let mut soap = soap_with(prolog, "", "<x>Sm").into_bytes();
        let at = soap.len() - "</query:AdhocQueryRequest></soap:Body></soap:Envelope>".len();
        soap.splice(at..at, b"\xe4rt</x>".iter().copied());
        assert_eq!(
            parse_request(SOAP_CT, &soap, &Limits::default()).unwrap_err(),
            SoapError::Xml(XmlError::NotUtf8),
            "{prolog}"
        );
        saml_err(&soap);
        let cda = format!(
            "{prolog}<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>Sm\u{e4}rt</title></ClinicalDocument>"
        );
        let latin1: Vec<u8> = cda.chars().map(|c| c as u32 as u8).collect();
        let e = cda_fhir_transform::to_fhir::cda_to_fhir_json(&latin1).unwrap_err();
        assert!(!e.to_string().is_empty());
    }

    // UTF-16 declared over single-byte text: the declaration is a lie one way or the other.
    let declared = soap_with("<?xml version=\"1.0\" encoding=\"UTF-16\"?>", "", "");
    saml_err(declared.as_bytes());
    match parse_request(SOAP_CT, declared.as_bytes(), &Limits::default()) {
        // Read as the UTF-8 it is (the bytes decide); the transaction still has to verify.
        Ok(req) => assert!(req.transaction().is_ok()),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let cda = cda_with("<?xml version=\"1.0\" encoding=\"UTF-16\"?>", "x");
    assert!(cda_fhir_transform::to_fhir::read_cda(&cda).is_err());
}
