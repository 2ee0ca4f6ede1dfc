//! Lookup / transcode throughput (plain timing loop; prints figures).
//! `cargo bench -p terminology`; set NCP_MVC_DIR or have ../shared for the full MVC.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ncp_types::Oid;
use terminology::code_systems::{ATC_OID, EDQM_OID, ICD10_SE_OID, NPL_ID_OID, SNOMED_CT_OID};
use terminology::{value_sets, Coded, Lang, Terminology};

fn rate(name: &str, n: usize, mut f: impl FnMut(usize)) {
    for i in 0..n / 10 {
        f(i);
    }
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    let el = start.elapsed();
    let per = el / n as u32;
    println!(
        "{name:<40} {:>10.0} ops/s  {:>8?}/op",
        n as f64 / el.as_secs_f64(),
        per.max(Duration::from_nanos(1))
    );
}

fn main() {
    let dir = std::env::var_os("NCP_MVC_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/ehdsi/schematron-wave8/include");
            d.is_dir().then_some(d)
        });
    let start = Instant::now();
    let t = Terminology::load(dir.as_deref()).expect("loads");
    println!(
        "load: {:?} ({} value sets, {} from the MVC)",
        start.elapsed(),
        t.source().value_sets,
        t.source().mvc_value_sets
    );
    let oid = |s: &str| Oid::parse(s).unwrap();
    let inputs = [
        (
            Coded::new("N02BE01", oid(ATC_OID)),
            value_sets::ACTIVE_INGREDIENT,
        ),
        (
            Coded::new("19620523000018", oid(NPL_ID_OID)),
            value_sets::DOSE_FORM,
        ),
        (
            Coded::new("S72.00", oid(ICD10_SE_OID)),
            value_sets::ILLNESS_AND_DISORDER,
        ),
        (
            Coded::new("38341003", oid(SNOMED_CT_OID)),
            value_sets::ILLNESS_AND_DISORDER,
        ),
        (
            Coded::new("999999", oid(SNOMED_CT_OID)),
            value_sets::REACTION_ALLERGY,
        ),
    ];
    let n = 200_000;
    rate("transcode (cached)", n, |i| {
        let (c, vs) = &inputs[i % inputs.len()];
        black_box(t.transcode(black_box(c), *vs));
    });
    rate("transcode (uncached)", n, |i| {
        let (c, vs) = &inputs[i % inputs.len()];
        black_box(t.transcode_uncached(black_box(c), *vs));
    });
    let edqm = oid(EDQM_OID);
    rate("display sv", n, |_| {
        black_box(t.display(&edqm, black_box("10221000"), Lang::SV));
    });
    let tablet = Coded::new("10219000", edqm.clone());
    rate("contains", n, |_| {
        black_box(t.contains(value_sets::DOSE_FORM, black_box(&tablet)));
    });
    rate("lookup", n / 10, |_| {
        black_box(t.lookup(&edqm, black_box("10219000")));
    });
    rate("find_swedish_term", n, |_| {
        black_box(t.find_swedish_term(value_sets::DOSE_FORM, black_box("Filmdragerad tablett")));
    });
    let threads = 2;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for i in 0..n {
                    let (c, vs) = &inputs[i % inputs.len()];
                    black_box(t.transcode(c, *vs));
                }
            });
        }
    });
    let el = start.elapsed();
    println!(
        "{:<40} {:>10.0} ops/s total",
        format!("transcode (cached, {threads} threads)"),
        (threads * n) as f64 / el.as_secs_f64()
    );
}
