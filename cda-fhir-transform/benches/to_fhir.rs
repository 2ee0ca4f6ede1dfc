//! CDA -> FHIR throughput against a floor: a quick-xml Reader -> Writer round trip of the same
//! bytes (the least any XML-in/XML-out step costs). Goal: conversion within 3x of the floor.
//!
//! Two directions, each on a typical document:
//! - country B, a foreign ePrescription (`epstore-1-1234-W8.xml` from ../shared, else this
//!   crate's L1 fixture) -> FHIR: `cda_to_fhir_json`, the JSON text the bridge hands on
//!   (headline), and `eprescription_to_fhir`, the `serde_json::Value` API;
//! - country A, an eDispensation (this crate's Wave 8 fixture) -> NLL MedicationDispense:
//!   `cda_to_fhir_json` (the transaction Bundle as text, headline) and
//!   `edispensation_to_fhir`, the instructions with `Value` resources.
//!
//! The ratios are measured in one run, interleaved with the floor (rounds of floor, fast path,
//! Value API), and printed as the median and the best round: the machine is shared and noisy.
//! On a shared machine prefer instruction counts (below): they do not move with the load.
//!
//! A bench is built with the dev-dependencies, and `fhirbolt` (the tests' strict FHIR parser)
//! turns on serde_json's `preserve_order` and `arbitrary_precision`: here the Value API builds
//! `IndexMap` objects (SipHash per key); the bridge's own builds use serde_json's `BTreeMap`.
//! The text API does not depend on either.
//!
//! `cargo bench -p cda-fhir-transform --bench to_fhir`
//! `TO_FHIR_NO_CRITERION=1`: only the ratio rounds. `TO_FHIR_ROUNDS=n` (default 7).
//! `TO_FHIR_ONLY=json|value|reparse|model|tree|floor [TO_FHIR_DOC=ep|ed] [TO_FHIR_ITERS=n]`
//! (`reparse`: the JSON text parsed into a `serde_json::Value`, the alternative to the Value
//! API): run one
//! function n times after one warm-up call (the terminology tables load once per process) and
//! exit; for stable instruction counts:
//! `TO_FHIR_ONLY=json valgrind --tool=callgrind --toggle-collect='*profiled*' BENCH_BINARY`
//! (the binary: `cargo bench -p cda-fhir-transform --bench to_fhir --no-run`), and the same
//! with `floor`: instructions per document, and their ratio, without the machine's noise.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use cda_fhir_transform::to_fhir::{
    cda_to_fhir_json, detect_kind, edispensation_to_fhir, eprescription_to_fhir, read_cda,
};
use criterion::{Criterion, Throughput};
use quick_xml::events::Event;

struct Doc {
    /// `ep` or `ed`.
    key: &'static str,
    direction: &'static str,
    name: String,
    xml: String,
}

fn documents() -> Vec<Doc> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = |name: &str| {
        std::fs::read_to_string(root.join("tests/fixtures/cda").join(name)).expect("fixture")
    };
    let shared = root.join("../../shared/ehdsi/samples/openncp-mock/epstore-1-1234-W8.xml");
    let (ep_name, ep) = match std::fs::read_to_string(&shared) {
        Ok(s) => ("epstore-1-1234-W8.xml".to_owned(), s),
        Err(_) => {
            eprintln!("{} absent: using the L1 fixture", shared.display());
            (
                "eprescription-l1.xml".to_owned(),
                fixture("eprescription-l1.xml"),
            )
        }
    };
    vec![
        Doc {
            key: "ep",
            direction: "country B ePrescription -> FHIR",
            name: ep_name,
            xml: ep,
        },
        Doc {
            key: "ed",
            direction: "country A eDispensation -> NLL FHIR",
            name: "edispensation-w8-pharm.xml".into(),
            xml: fixture("edispensation-w8-pharm.xml"),
        },
    ]
}

/// The floor: read every event and write it again.
fn floor(xml: &str) -> usize {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(xml.len()));
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(e) => writer.write_event(e).expect("write"),
            Err(e) => panic!("the floor cannot read the document: {e}"),
        }
    }
    writer.into_inner().len()
}

/// The fast path: FHIR JSON text.
fn json(xml: &str) -> usize {
    cda_to_fhir_json(xml.as_bytes()).expect("converts").len()
}

/// The `serde_json::Value` API of the document's kind.
fn value(doc: &Doc) -> impl Fn() -> usize + '_ {
    move || match doc.key {
        "ep" => eprescription_to_fhir(&doc.xml).expect("converts")["entry"]
            .as_array()
            .map_or(0, Vec::len),
        _ => edispensation_to_fhir(&doc.xml).expect("converts").len(),
    }
}

/// Seconds per document over roughly `budget`.
fn secs_per_doc(budget: Duration, f: &dyn Fn() -> usize) -> f64 {
    for _ in 0..20 {
        black_box(f());
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..20 {
            black_box(f());
        }
        n += 20;
    }
    start.elapsed().as_secs_f64() / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn profile_one(docs: &[Doc], which: &str) {
    let key = std::env::var("TO_FHIR_DOC").unwrap_or_else(|_| "ep".into());
    let doc = docs
        .iter()
        .find(|d| d.key == key)
        .expect("TO_FHIR_DOC: ep or ed");
    let iters: usize = std::env::var("TO_FHIR_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let xml = doc.xml.as_str();
    let value = value(doc);
    let f: &dyn Fn() -> usize = match which {
        "json" => &|| json(xml),
        "value" => &value,
        "model" => &|| read_cda(xml).map_or(0, |d| d.prescriptions.len()),
        "tree" => &|| usize::from(detect_kind(xml).is_ok()),
        // The Value API's alternative: the text, parsed once into a `serde_json::Value`.
        "reparse" => &|| {
            let text = cda_to_fhir_json(xml.as_bytes()).expect("converts");
            serde_json::from_str::<serde_json::Value>(&text)
                .map_or(0, |v| usize::from(v.is_object()))
        },
        "floor" => &|| floor(xml),
        _ => panic!("TO_FHIR_ONLY: json, value, reparse, model, tree or floor"),
    };
    // The first call loads the terminology tables (once per process): keep it out of the
    // measured loop.
    black_box(f());
    profiled(iters, f);
}

/// The measured loop, a function of its own so that
/// `valgrind --tool=callgrind --toggle-collect='*profiled*'` counts only it.
#[inline(never)]
fn profiled(iters: usize, f: &dyn Fn() -> usize) {
    for _ in 0..iters {
        black_box(f());
    }
}

fn main() {
    let docs = documents();
    if let Ok(which) = std::env::var("TO_FHIR_ONLY") {
        profile_one(&docs, &which);
        return;
    }
    if std::env::var_os("TO_FHIR_NO_CRITERION").is_none() {
        let mut c = Criterion::default().configure_from_args();
        let mut group = c.benchmark_group("to_fhir");
        group.throughput(Throughput::Elements(1));
        for doc in &docs {
            let (key, xml) = (doc.key, doc.xml.as_str());
            group.bench_function(format!("{key}/cda_to_fhir_json/{}", doc.name), |b| {
                b.iter(|| json(black_box(xml)))
            });
            let value = value(doc);
            group.bench_function(format!("{key}/value_api/{}", doc.name), |b| b.iter(&value));
            group.bench_function(format!("{key}/read_cda_model_only/{}", doc.name), |b| {
                b.iter(|| read_cda(black_box(xml)).map(|d| d.prescriptions.len()))
            });
            group.bench_function(format!("{key}/element_tree_only/{}", doc.name), |b| {
                b.iter(|| detect_kind(black_box(xml)).is_ok())
            });
            group.bench_function(
                format!("{key}/floor_quick_xml_round_trip/{}", doc.name),
                |b| b.iter(|| floor(black_box(xml))),
            );
        }
        group.finish();
        c.final_summary();
    }
    if std::env::var_os("TO_FHIR_NO_RATIO").is_some() {
        return;
    }

    let rounds: usize = std::env::var("TO_FHIR_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
        .max(1);
    let budget = Duration::from_millis(400);
    for doc in &docs {
        let xml = doc.xml.as_str();
        let value = value(doc);
        let (mut fast, mut val, mut fl) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let f = secs_per_doc(budget, &|| floor(xml));
            let j = secs_per_doc(budget, &|| json(xml));
            let v = secs_per_doc(budget, &value);
            fl.push(f);
            fast.push(j / f);
            val.push(v / f);
        }
        let floor_rate = 1.0 / median(fl);
        let fast_rate = floor_rate / median(fast.clone());
        let value_rate = floor_rate / median(val.clone());
        println!(
            "to_fhir {} ({}, {} bytes), {rounds} rounds: floor (quick-xml round trip) {floor_rate:.0} docs/s; \
             cda_to_fhir_json {fast_rate:.0} docs/s, ratio median {:.2}x best {:.2}x (goal <= 3x); \
             Value API {value_rate:.0} docs/s, ratio median {:.2}x best {:.2}x",
            doc.direction,
            doc.name,
            xml.len(),
            median(fast.clone()),
            min(&fast),
            median(val.clone()),
            min(&val),
        );
    }
}
