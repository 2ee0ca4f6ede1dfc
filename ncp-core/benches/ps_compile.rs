//! Compiling a Patient Summary from three care providers: the time `CountryA` takes for
//! Tolvan Tolvansson (p01: records at the three running provider simulators, a fourth provider
//! whose NTK endpoint is off, and NLL's current prescriptions) — block register, NLL patient
//! and PDI, then every provider and NLL at once, merged — against the slowest provider's own
//! response time, measured alone in the same run through the same fetch code (its NTK lookup,
//! cached, and all its searches).
//!
//! Two rounds: the simulators answering at once, then every provider with a configured latency
//! (`PS_BENCH_LATENCY_MS`, default 20 ms per request). Goal: compile / slowest provider < 1.5.
//! Each round also prints every other service alone, the critical path of the two rounds of
//! calls (blocks, patient and PDI; then providers and NLL's prescriptions) and the sum of all
//! calls: without latency the simulators and the bridge share the machine's cores, so the
//! compile is bound by that sum rather than by the slowest provider. It also prints the floor
//! the block rule sets: no provider is asked before the block register (opt-out, provider
//! blocks) has answered, so no compile can go below `(blocks + slowest provider) / slowest`.
//! With simulators answering at once a block lookup costs about what a provider does, so that
//! floor alone is near the goal; with real latency it vanishes.
//! `cargo bench -p ncp-core --bench ps_compile`; `PS_BENCH_ITERATIONS` (default 60) per round.
//! The CDA writing (L3) is timed on its own after the compile.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ncp_core::config::Config;
use ncp_core::country_a::patient_summary::{fetch, Compiled};
use ncp_core::country_a::CountryA;
use ncp_types::{HsaId, PersonId};
use nll_adapter::{CallContext, CallerRole, ClientConfig, NationalClients, NationalUrls};

// The allocator the `ncp` binary runs with (see main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const GOAL: f64 = 1.5;
const BRIDGE_HSA: &str = "SE2321000198-NCPBENCH";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(bench(
        env_num("PS_BENCH_ITERATIONS", 60) as usize,
        env_num("PS_BENCH_LATENCY_MS", 20),
    ));
}

fn config(sims: &sweden_sim::RunningSims) -> Config {
    let toml = format!(
        r#"
[ncp]
country = "SE"
home_community_id = "1.2.752.129.2.1.99.1"
document_root = "1.2.752.129.2.1.99.2"
organization_name = "E-hälsomyndigheten (bench)"
hsa_id = "{BRIDGE_HSA}"

[server]
listen = "127.0.0.1:0"

[tls]
cert = "unused.pem"
key = "unused.key"
client_ca = ["unused-ca.pem"]

[national]
nll = "{}"
pdi = "{}"
ntk = "{}"
nsr = "{}"

[saml]
trust = []
"#,
        sims.nll, sims.pdi, sims.ntk, sims.nsr
    );
    Config::parse(&toml).expect("bench configuration")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p90(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 9 / 10).min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Round {
    compile: Duration,
    compile_p90: Duration,
    providers: Vec<(HsaId, Duration)>,
    /// The national services the compile also waits for, each alone (median).
    services: Vec<(&'static str, Duration)>,
    entries: usize,
    incomplete: bool,
}

async fn round(
    service: &CountryA,
    clients: &NationalClients,
    ctx: &CallContext,
    patient: &PersonId,
    iterations: usize,
) -> Round {
    let listings: Vec<_> = clients
        .pdi
        .providers(ctx, patient)
        .await
        .expect("PDI")
        .into_iter()
        .filter(|l| !l.categories.is_empty())
        .collect();
    let limits = fetch::PsLimits::from_timeout(Duration::from_secs(5));
    let mut compile = Vec::with_capacity(iterations);
    let mut alone: HashMap<HsaId, Vec<Duration>> = HashMap::new();
    let mut services: HashMap<&'static str, Vec<Duration>> = HashMap::new();
    let mut entries = 0;
    let mut incomplete = false;
    // Warm-up: connections, NTK cache.
    for _ in 0..3 {
        let _ = service.compile_patient_summary(patient).await;
    }
    for _ in 0..iterations {
        let t = Instant::now();
        let c = service
            .compile_patient_summary(patient)
            .await
            .expect("summary compiled");
        compile.push(t.elapsed());
        if let Compiled::Summary(s) = c {
            entries = s.input.entries.len();
            incomplete = s.input.incomplete;
        }
        // The other services the compile waits for, each alone.
        let t = Instant::now();
        clients.nsr.blocks(ctx, patient).await.expect("NSR");
        services.entry("NSR blocks").or_default().push(t.elapsed());
        let t = Instant::now();
        clients.nll.patient(ctx, patient).await.expect("NLL");
        services.entry("NLL patient").or_default().push(t.elapsed());
        let t = Instant::now();
        clients.pdi.providers(ctx, patient).await.expect("PDI");
        services
            .entry("PDI providers")
            .or_default()
            .push(t.elapsed());
        let t = Instant::now();
        clients
            .nll
            .prescriptions_with_status(ctx, patient, &[nll_adapter::PrescriptionStatus::Active])
            .await
            .expect("NLL");
        services
            .entry("NLL prescriptions")
            .or_default()
            .push(t.elapsed());
        // Each provider alone, through the same fetch code.
        for l in &listings {
            let t = Instant::now();
            let got = fetch::providers(
                clients,
                ctx,
                patient,
                std::slice::from_ref(l),
                limits,
                tokio::time::Instant::now() + limits.overall,
            )
            .await;
            let took = t.elapsed();
            if got.iter().all(|p| p.records.is_ok()) {
                alone.entry(l.hsa_id.clone()).or_default().push(took);
            }
        }
    }
    let mut providers: Vec<(HsaId, Duration)> =
        alone.into_iter().map(|(h, v)| (h, median(v))).collect();
    providers.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let mut services: Vec<(&'static str, Duration)> =
        services.into_iter().map(|(n, v)| (n, median(v))).collect();
    services.sort();
    Round {
        services,
        compile: median(compile.clone()),
        compile_p90: p90(compile),
        providers,
        entries,
        incomplete,
    }
}

fn report(name: &str, r: &Round) -> f64 {
    println!("== {name}");
    for (h, d) in &r.providers {
        println!("  provider {h} alone: median {:.2} ms", ms(*d));
    }
    let slowest = r
        .providers
        .iter()
        .max_by_key(|(_, d)| *d)
        .map(|(_, d)| *d)
        .unwrap_or_default();
    for (n, d) in &r.services {
        println!("  {n} alone: median {:.2} ms", ms(*d));
    }
    let of = |n: &str| {
        r.services
            .iter()
            .find(|(x, _)| *x == n)
            .map(|(_, d)| *d)
            .unwrap_or_default()
    };
    // Blocks, patient and providers first; then the providers and NLL's prescriptions.
    let floor = of("NSR blocks")
        .max(of("NLL patient"))
        .max(of("PDI providers"))
        + slowest.max(of("NLL prescriptions"));
    println!(
        "  critical path of the two rounds of calls, each service alone: {:.2} ms = {:.2}x the slowest provider",
        ms(floor),
        floor.as_secs_f64() / slowest.as_secs_f64().max(1e-9)
    );
    // Nothing may be asked of a provider before the block register has answered (opt-out,
    // provider blocks): the lowest ratio any compile can reach, even with no work of its own.
    println!(
        "  floor the block rule sets (blocks, then the slowest provider): {:.2}x",
        (of("NSR blocks") + slowest).as_secs_f64() / slowest.as_secs_f64().max(1e-9)
    );
    // With simulators that answer at once the calls are CPU work on the same cores as the
    // bridge: their sum is what the compile cannot go below on a small machine.
    let sum: Duration = r.services.iter().map(|(_, d)| *d).sum::<Duration>()
        + r.providers.iter().map(|(_, d)| *d).sum::<Duration>();
    println!(
        "  every call one after the other (the floor when CPU-bound): {:.2} ms on {} cores",
        ms(sum),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let ratio = r.compile.as_secs_f64() / slowest.as_secs_f64().max(1e-9);
    println!(
        "  compile ({} providers answering, {} entries, incomplete={}): median {:.2} ms, p90 {:.2} ms",
        r.providers.len(),
        r.entries,
        r.incomplete,
        ms(r.compile),
        ms(r.compile_p90)
    );
    println!(
        "  ratio compile / slowest provider alone ({:.2} ms): {ratio:.2}x (goal < {GOAL}x) {}",
        ms(slowest),
        if ratio < GOAL { "OK" } else { "MISSED" }
    );
    ratio
}

async fn bench(iterations: usize, latency_ms: u64) {
    let sims = sweden_sim::start(sweden_sim::SimConfig::default())
        .await
        .expect("simulators start");
    let config = config(&sims);
    let service = CountryA::from_config(&config).expect("country A service");
    let urls = NationalUrls {
        nll: sims.nll.clone(),
        pdi: sims.pdi.clone(),
        ntk: sims.ntk.clone(),
        nsr: sims.nsr.clone(),
    };
    let hsa = HsaId::parse(BRIDGE_HSA).expect("HSA-id");
    let clients =
        NationalClients::new(&urls, hsa.clone(), &ClientConfig::default()).expect("clients");
    let ctx = CallContext::cross_border(hsa, CallerRole::Ncp);
    let patient = PersonId::parse("19121212-1212").expect("p01");
    println!(
        "ps_compile: p01 from {} provider simulators + NLL, {iterations} iterations per round",
        sims.providers.len()
    );

    let at_once = round(&service, &clients, &ctx, &patient, iterations).await;
    let r1 = report("simulators answering at once", &at_once);

    for (hsa, _) in &sims.providers {
        sims.set_faults(
            &format!("provider-{hsa}"),
            sweden_sim::Faults {
                latency_ms,
                ..sweden_sim::Faults::default()
            },
        );
    }
    let slow = round(&service, &clients, &ctx, &patient, iterations).await;
    let r2 = report(
        &format!("every provider answering after {latency_ms} ms"),
        &slow,
    );

    // The CDA writing after the compile, on its own.
    if let Ok(Compiled::Summary(s)) = service.compile_patient_summary(&patient).await {
        let opts = config
            .ncp
            .cda_options(s.input.effective_time.fixed_offset());
        let mut took = Vec::new();
        let mut ok = true;
        for _ in 0..20 {
            let t = Instant::now();
            ok &= cda_fhir_transform::to_cda::patient_summary_l3(&s.input, &opts).is_ok();
            took.push(t.elapsed());
        }
        println!(
            "== L3 CDA writing of the compiled summary: median {:.2} ms{}",
            ms(median(took)),
            if ok { "" } else { " (the writer refused it)" }
        );
    }
    println!(
        "ps_compile summary: ratio at once {r1:.2}x, with {latency_ms} ms latency {r2:.2}x (goal < {GOAL}x)"
    );
    sims.shutdown().await;
}
