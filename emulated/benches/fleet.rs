//! Local fleet benchmark: emulated functions of 200 ms wall time at a 0.1 % CPU share (0.2 ms of
//! computation each), on a fleet of 10 functions sharing 1 busy thread pinned to CPU 0, called over
//! loopback by a client pinned to the last CPU (10 connections, one per function).
//!
//! 1. 1,000 calls in flight at once (0.2 s of CPU in all): latency p50, p99 and max against 200 ms.
//! 2. Open-loop constant rates (5 s each, latency measured from each call's intended send time, so
//!    coordinated omission cannot hide): the highest rate tried whose p99 stays within 1.2 × 200 ms.
//!
//! Both for functions of 0 and of 16 MiB: each instance holds its footprint from its cold call on, so
//! the 16 MiB functions should sustain the same rates (when every call touched its 16 MiB, 4 ms of
//! page faults on the one busy thread, they could not pass ~250 calls/s).
//!
//! Each repeated `BENCH_REPEATS` times (3); median [min–max]. Written to `bench-results/fleet.txt`.
//! `cargo bench -p emulated --bench fleet`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use emulated::{Behaviour, LocalServers};
use host::bench::{spread, Output};
use proto::greeter_client::GreeterClient;
use proto::HelloRequest;
use tonic::transport::Channel;

const FUNCTIONS: usize = 10;
const DURATION_MS: f64 = 200.0;
const SHARE: f64 = 0.001;
const IN_FLIGHT: usize = 1000;
const RATE_SECONDS: u64 = 5;

fn repeats() -> usize {
    std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(|| {
            host::pin_to(&[host::online_cpus().saturating_sub(1)]);
        })
        .enable_all()
        .build()
        .expect("client runtime")
}

async fn clients(servers: &LocalServers) -> Vec<GreeterClient<Channel>> {
    let mut out = Vec::new();
    for e in servers.endpoints() {
        out.push(
            GreeterClient::connect(format!("http://{e}"))
                .await
                .expect("connect"),
        );
    }
    out
}

fn request() -> HelloRequest {
    HelloRequest {
        name: "bench".into(),
        v_hive_metadata: Vec::new(),
    }
}

/// Latencies (ms) of `IN_FLIGHT` calls sent at once.
fn burst(servers: &LocalServers, runtime: &tokio::runtime::Runtime) -> Vec<f64> {
    runtime.block_on(async {
        let clients = clients(servers).await;
        let tasks: Vec<_> = (0..IN_FLIGHT)
            .map(|i| {
                let mut c = clients[i % clients.len()].clone();
                tokio::spawn(async move {
                    let t = Instant::now();
                    c.say_hello(request()).await.expect("call");
                    t.elapsed().as_secs_f64() * 1e3
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    })
}

/// p99 latency (ms, from intended send) of `rate` calls/s for `RATE_SECONDS`, and the calls that failed.
fn at_rate(servers: &LocalServers, runtime: &tokio::runtime::Runtime, rate: u64) -> (f64, u64) {
    runtime.block_on(async {
        let clients = clients(servers).await;
        let total = rate * RATE_SECONDS;
        let start = tokio::time::Instant::now() + Duration::from_millis(50);
        let failed = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::with_capacity(total as usize);
        for i in 0..total {
            let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
            tokio::time::sleep_until(due).await;
            let mut c = clients[i as usize % clients.len()].clone();
            let failed = Arc::clone(&failed);
            tasks.push(tokio::spawn(async move {
                if c.say_hello(request()).await.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                // From the intended send time: a client that fell behind counts its delay.
                due.elapsed().as_secs_f64() * 1e3
            }));
        }
        let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
        for t in tasks {
            let ms = t.await.expect("task");
            h.record((ms * 1e3) as u64).expect("record");
        }
        (
            h.value_at_quantile(0.99) as f64 / 1e3,
            failed.load(Ordering::Relaxed),
        )
    })
}

fn main() {
    let mut out = Output::new(
        "cargo bench -p emulated --bench fleet",
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("bench-results")
            .join("fleet.txt"),
    );
    let runtime = client_runtime();
    out.line(&format!(
        "# {FUNCTIONS} emulated functions, {DURATION_MS} ms wall time at a {SHARE} CPU share, 1 busy thread on \
         CPU 0; client on CPU {}; {} runs each; functions of 0 and of 16 MiB",
        host::online_cpus().saturating_sub(1),
        repeats()
    ));
    for mib in [0.0, 16.0] {
        let mut b = Behaviour::fixed("bench", DURATION_MS, mib);
        b.cpu_share = SHARE;
        let servers = LocalServers::start(vec![b; FUNCTIONS], 1, Some(vec![0])).expect("servers");
        measure(&mut out, &servers, &runtime, &format!("{mib} MiB"));
    }
    out.finish();
}

/// The burst and the rate search on `servers`, each line prefixed with `label`.
fn measure(
    out: &mut Output,
    servers: &LocalServers,
    runtime: &tokio::runtime::Runtime,
    label: &str,
) {
    let (mut p50s, mut p99s, mut maxes) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..repeats() {
        let steal = host::steal_ms();
        let mut l = burst(servers, runtime);
        l.sort_by(f64::total_cmp);
        let q = |q: f64| formats::nearest_rank(&l, q);
        out.line(&format!(
            "{label} burst run {run}: {IN_FLIGHT} calls in flight: latency p50 {:.1} p99 {:.1} max {:.1} ms; steal {:?} ms",
            q(0.5),
            q(0.99),
            l[l.len() - 1],
            host::steal_between(&steal, &host::steal_ms())
        ));
        p50s.push(q(0.5));
        p99s.push(q(0.99));
        maxes.push(l[l.len() - 1]);
    }
    out.line(&format!(
        "{label}: {IN_FLIGHT} calls in flight of {DURATION_MS} ms: latency p50 {} ms, p99 {} ms, max {} ms (median [min–max])",
        spread(&p50s, 1),
        spread(&p99s, 1),
        spread(&maxes, 1)
    ));

    let bound = 1.2 * DURATION_MS;
    let rates = [250u64, 500, 1000, 2000, 3000, 4000, 6000, 8000];
    let mut best = Vec::new();
    for run in 0..repeats() {
        let mut sustained = 0;
        for &rate in &rates {
            let steal = host::steal_ms();
            let (p99, failed) = at_rate(servers, runtime, rate);
            out.line(&format!(
                "{label} rate run {run}: {rate}/s for {RATE_SECONDS} s: p99 {p99:.1} ms (from intended send), {failed} failed; steal {:?} ms",
                host::steal_between(&steal, &host::steal_ms())
            ));
            if p99 <= bound && failed == 0 {
                sustained = rate;
            } else {
                break;
            }
        }
        best.push(sustained as f64);
    }
    out.line(&format!(
        "{label}: highest rate tried with latency p99 ≤ {bound:.0} ms (1.2 × duration): {} calls/s (rates tried: {rates:?})",
        spread(&best, 0)
    ));
}
