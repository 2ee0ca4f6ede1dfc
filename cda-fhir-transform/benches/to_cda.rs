//! ePrescription L3 generation against the baseline of quick-xml reading and re-writing the
//! same document (the goal: generation within 3x of the round trip).
//!
//! `cargo bench -p cda-fhir-transform --bench to_cda` runs the criterion benchmarks, then
//! prints documents per second for both and their ratio; the same for an eDispensation written
//! from a MedicationDispense (country B), and L1 documents per second.
//! `cargo bench -p cda-fhir-transform --bench to_cda -- nomatch` skips criterion.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cda_fhir_transform::to_cda::{
    edispensation, eprescription_l1, eprescription_l3, Address, CdaOptions, NcpOrganisation,
};
use chrono::DateTime;
use criterion::{Criterion, Throughput};
use ncp_types::{CountryCode, Oid, PrescriptionId};
use quick_xml::events::Event;
use quick_xml::{Reader, Writer};
use serde_json::Value;
use terminology::Terminology;

struct Setup {
    bundle: Value,
    id: PrescriptionId,
    opts: CdaOptions,
}

fn setup() -> Setup {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(
        dir.join("tests/fixtures/fhir/eprescription-multi-ingredient.json"),
    )
    .expect("fixture");
    let mvc = dir.join("../../shared/ehdsi/schematron-wave8/include");
    let terminology =
        Terminology::load(mvc.is_dir().then_some(mvc.as_path())).expect("terminology");
    let root = Oid::parse("1.2.752.129.2.99.1").expect("oid");
    let mut opts = CdaOptions::under(
        &root,
        DateTime::parse_from_rfc3339("2026-11-24T12:00:00+01:00").expect("time"),
        NcpOrganisation {
            id: root.clone(),
            name: "E-hälsomyndigheten, nationell kontaktpunkt".into(),
            address: Address {
                lines: vec!["Box 913".into()],
                postal_code: Some("391 29".into()),
                city: Some("Kalmar".into()),
                country: Some(CountryCode::SE),
            },
            telecom: Some("tel:+46104586200".into()),
        },
    );
    opts.terminology = Some(Arc::new(terminology));
    Setup {
        bundle: serde_json::from_str(&text).expect("json"),
        id: PrescriptionId::new("rx-1002").expect("id"),
        opts,
    }
}

/// The baseline: quick-xml reads the document and writes every event back.
fn round_trip(xml: &str) -> Vec<u8> {
    let mut reader = Reader::from_str(xml);
    let mut writer = Writer::new(Vec::with_capacity(xml.len()));
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(e) => {
                if writer.write_event(e).is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    writer.into_inner()
}

fn per_second(mut f: impl FnMut(), min: Duration) -> f64 {
    for _ in 0..50 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < min {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let s = setup();
    let doc = eprescription_l3(&s.bundle, &s.id, &s.opts).expect("L3");
    assert_eq!(
        round_trip(&doc).len(),
        doc.len(),
        "round trip keeps the bytes"
    );

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("to_cda");
    g.throughput(Throughput::Bytes(doc.len() as u64));
    g.bench_function("eprescription_l3", |b| {
        b.iter(|| eprescription_l3(black_box(&s.bundle), &s.id, &s.opts))
    });
    g.bench_function("quick_xml_round_trip", |b| {
        b.iter(|| round_trip(black_box(&doc)))
    });
    g.finish();
    c.final_summary();

    let gen = per_second(
        || {
            black_box(eprescription_l3(black_box(&s.bundle), &s.id, &s.opts).ok());
        },
        Duration::from_secs(2),
    );
    let base = per_second(
        || {
            black_box(round_trip(black_box(&doc)));
        },
        Duration::from_secs(2),
    );
    let l1 = per_second(
        || {
            black_box(eprescription_l1(black_box(&s.bundle), &s.id, &s.opts).ok());
        },
        Duration::from_secs(1),
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let md: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("tests/fixtures/fhir/medicationdispense.json"))
            .expect("fixture"),
    )
    .expect("json");
    let ed = per_second(
        || {
            black_box(edispensation(black_box(&md), &s.opts).ok());
        },
        Duration::from_secs(1),
    );
    // Country B's direction: the pharmacy's MedicationDispense -> eDispensation CDA, against
    // the round trip of the document it writes.
    let ed_doc = edispensation(&md, &s.opts).expect("eDispensation");
    let ed_base = per_second(
        || {
            black_box(round_trip(black_box(&ed_doc)));
        },
        Duration::from_secs(1),
    );
    println!("ePrescription L1 (with PDF): {l1:.0} documents/s");
    println!(
        "eDispensation ({} bytes): {ed:.0} documents/s, quick-xml round trip {ed_base:.0} documents/s, \
         generation time / round-trip time: {:.2}x (goal: <= 3x)",
        ed_doc.len(),
        ed_base / ed
    );
    println!(
        "document: {} bytes\nePrescription L3 generation: {gen:.0} documents/s\n\
         quick-xml read+write round trip: {base:.0} documents/s\n\
         generation time / round-trip time: {:.2}x (goal: <= 3x)",
        doc.len(),
        base / gen
    );
}
