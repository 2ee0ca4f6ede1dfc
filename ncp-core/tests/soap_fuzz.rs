//! Fuzz-style: random bytes and mutated real messages never panic any parser.
//!
//! A fixed-seed xorshift generator keeps failures reproducible; every input goes through the
//! SOAP parser (plain and MTOM) and every IHE parser.

use ncp_core::ihe::{xca, xcpd, xdr};
use ncp_core::soap::{mtom, parse_request, Limits};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const FIXTURES: [&str; 6] = [
    include_str!("fixtures/ihe/xcpd_request.xml"),
    include_str!("fixtures/ihe/xcpd_demographics_only.xml"),
    include_str!("fixtures/ihe/xca_query.xml"),
    include_str!("fixtures/ihe/xca_retrieve.xml"),
    include_str!("fixtures/ihe/xdr_edispensation_base64.xml"),
    include_str!("fixtures/ihe/xdr_edispensation_envelope.xml"),
];

const TOKENS: [&[u8]; 14] = [
    b"<",
    b">",
    b"/>",
    b"&amp;",
    b"&",
    b"\"",
    b"'",
    b"<!DOCTYPE a>",
    b"xmlns:x=\"\"",
    b"\r\n--MIMEBoundary_f\r\n",
    b"\xff\xfe",
    b"<xop:Include href=\"cid:x\"/>",
    b"^^^&",
    b"]]>",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(8) {
        if v.is_empty() {
            break;
        }
        let at = rng.below(v.len());
        match rng.below(5) {
            0 => v[at] = rng.next() as u8,
            1 => {
                let end = (at + rng.below(64)).min(v.len());
                v.drain(at..end);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            3 => v.truncate(at),
            _ => {
                let end = (at + rng.below(128)).min(v.len());
                let dup = v[at..end].to_vec();
                v.splice(at..at, dup);
            }
        }
    }
    v
}

fn exercise(body: &[u8], attachments: &[mtom::Attachment]) {
    let _ = xcpd::parse_query(body);
    let _ = xca::parse_query(body);
    let _ = xca::parse_retrieve(body);
    let _ = xdr::parse_provide_and_register(body, attachments);
}

fn feed(content_type: &str, bytes: &[u8]) {
    let limits = Limits {
        max_bytes: 1 << 20,
        ..Limits::default()
    };
    if let Ok(req) = parse_request(content_type, bytes, &limits) {
        exercise(&req.body, &req.attachments);
    }
    exercise(bytes, &[]);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..5_000 {
        let len = rng.below(512);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        feed("application/soap+xml", &bytes);
        feed(
            "multipart/related; type=\"application/xop+xml\"; boundary=\"MIMEBoundary_f\"",
            &bytes,
        );
    }
}

#[test]
fn mutated_messages_never_panic() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..3_000 {
        let fixture = FIXTURES[rng.below(FIXTURES.len())].as_bytes();
        let m = mutate(&mut rng, fixture);
        feed("application/soap+xml; charset=UTF-8", &m);
        // The same through MTOM, with a part the xop:Include may or may not name.
        let attachments = [mtom::Attachment {
            content_id: "1.edisp@countryB.example".into(),
            content_type: "text/xml".into(),
            data: mutate(&mut rng, b"<ClinicalDocument/>"),
        }];
        let http = mtom::write(
            &m,
            "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
            &attachments,
            "f",
        );
        let cut = rng.below(http.body.len() + 1);
        feed(&http.content_type, &http.body);
        feed(&http.content_type, &mutate(&mut rng, &http.body[..cut]));
    }
}
