//! CDA -> FHIR throughput against a baseline: a quick-xml Reader -> Writer round trip of the
//! same bytes (the least any XML-in/XML-out step costs). Goal: conversion within 3x.
//!
//! `cargo bench -p cda-fhir-transform --bench to_fhir`

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use cda_fhir_transform::to_fhir::{cda_to_fhir, detect_kind, read_cda};
use criterion::{Criterion, Throughput};
use quick_xml::events::Event;

fn document() -> (String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../../shared/ehdsi/samples/openncp-mock/epstore-1-1234-W8.xml");
    if let Ok(s) = std::fs::read_to_string(&shared) {
        return ("epstore-1-1234-W8.xml".into(), s);
    }
    eprintln!(
        "{} absent: using the eDispensation fixture",
        shared.display()
    );
    let fixture = root.join("tests/fixtures/cda/edispensation-w8-pharm.xml");
    let s = std::fs::read_to_string(&fixture).expect("fixture");
    ("edispensation-w8-pharm.xml".into(), s)
}

fn round_trip(xml: &str) -> usize {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(xml.len()));
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(e) => writer.write_event(e).expect("write"),
            Err(e) => panic!("baseline cannot read the document: {e}"),
        }
    }
    writer.into_inner().len()
}

fn convert(xml: &str) -> usize {
    let v = cda_to_fhir(xml).expect("converts");
    v["entry"].as_array().map_or(0, Vec::len)
}

/// Documents per second over roughly `budget`.
fn docs_per_second(budget: Duration, f: &dyn Fn() -> usize) -> f64 {
    for _ in 0..50 {
        black_box(f());
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..50 {
            black_box(f());
        }
        n += 50;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let (name, xml) = document();
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("to_fhir");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("cda_to_fhir/{name}"), |b| {
        b.iter(|| convert(black_box(&xml)))
    });
    group.bench_function(format!("element_tree_only/{name}"), |b| {
        b.iter(|| detect_kind(black_box(&xml)).is_ok())
    });
    group.bench_function(format!("read_cda_model_only/{name}"), |b| {
        b.iter(|| read_cda(black_box(&xml)).map(|d| d.prescriptions.len()))
    });
    group.bench_function(format!("baseline_quick_xml_round_trip/{name}"), |b| {
        b.iter(|| round_trip(black_box(&xml)))
    });
    group.finish();
    c.final_summary();
    if std::env::var_os("TO_FHIR_NO_RATIO").is_some() {
        return;
    }

    let budget = Duration::from_secs(3);
    let convert_rate = docs_per_second(budget, &|| convert(&xml));
    let baseline_rate = docs_per_second(budget, &|| round_trip(&xml));
    println!(
        "to_fhir {name} ({} bytes): cda_to_fhir {convert_rate:.0} docs/s, quick-xml round trip {baseline_rate:.0} docs/s, ratio {:.2}x (goal <= 3x)",
        xml.len(),
        baseline_rate / convert_rate
    );
}
