//! Workers benchmark: 4 local invoker processes × 2,500 calls/s each (10,000 calls/s together) for 1
//! warm-up + 10 measured seconds, on this machine, against one gRPC server that answers at once
//! (`proto::testing`, in this process), through `loadgen`'s own multi-worker path (shards served over
//! HTTP, a common start, records merged), in two modes: `spin`, the invoker's default waiting (it spins
//! through gaps under 3 ms, made for a dispatcher with a CPU of its own), and `shared-cpu`, each invoker
//! passed `--shared-cpu` (it parks through gaps over 80 µs), as `loadgen run` does when local workers
//! outnumber the CPUs, and `shared-cpu` with live reports every second folded into an observer of the
//! whole load, as `loadgen run` does for its live view and `/metrics` (its cost, and whether the view
//! counted every call). Per run: calls lost or not sent (target 0), the start skew
//! between workers (the spread of their first sends' lag from due; target ≤ 1 ms), each worker's send-lag
//! p99, the achieved rate (sum of the workers' rates, from real send times) and the steal. Then the
//! median [min–max] over `BENCH_REPEATS` runs (3). Needs the `invoker` binary built beside `loadgen`
//! (`cargo build --release`). Written to `bench-results/workers.txt`.
//! `cargo bench -p loadgen --bench workers`.

use std::path::Path;
use std::time::Duration;

use coordinator::kubernetes::KubernetesOptions;
use coordinator::{replay, InvokerSettings, Launch, Launcher};
use formats::files::RunFiles;
use formats::records::Outcome;
use formats::{shard_of, Invocation, LoadWriter};
use host::bench::{spread, Output};
use invoker::observe::Observer;
use invoker::schedule::Schedule;

mod common;
use common::{output_path, repeats};

const WORKERS: u32 = 4;
const RATE_PER_WORKER: u64 = 2_500;
const WARMUP: u32 = 1;
const SECONDS: u32 = 10;

fn main() {
    let bin = Path::new(env!("CARGO_BIN_EXE_loadgen"))
        .parent()
        .unwrap()
        .to_owned();
    assert!(
        bin.join("invoker").is_file(),
        "build the invoker first: cargo build --release -p invoker"
    );
    // The local launcher finds `invoker` on PATH when it is not beside the running program.
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::env::set_var("PATH", path);

    let mut out = Output::new(
        "cargo bench -p loadgen --bench workers",
        &output_path("workers"),
    );
    let server = proto::testing::TestServer::start(Duration::ZERO).expect("server");
    let total_rate = RATE_PER_WORKER * u64::from(WORKERS);
    out.line(&format!(
        "# {WORKERS} local workers x {RATE_PER_WORKER} calls/s ({total_rate}/s together), {WARMUP} warm-up + \
         {SECONDS} measured s, evenly spaced calls, one in-process gRPC server answering at once; \
         dispatchers not pinned ({WORKERS} workers on {} CPUs)",
        host::online_cpus()
    ));
    for (shared_cpu, live) in [(false, false), (true, false), (true, true)] {
        measure(&mut out, &server, shared_cpu, live);
    }
    out.finish();
}

/// `repeats()` runs in one mode: `spin` (the invoker's default waiting) or `shared-cpu` (each invoker
/// passed `--shared-cpu`, as `loadgen run` does when local workers outnumber the CPUs), with or without
/// `live` reports (`--live-interval 1`, folded into an observer of the whole load).
fn measure(out: &mut Output, server: &proto::testing::TestServer, shared_cpu: bool, live: bool) {
    let mode = match (shared_cpu, live) {
        (false, _) => "spin (no flag)",
        (true, false) => "shared-cpu (--shared-cpu)",
        (true, true) => "shared-cpu + live reports (--shared-cpu --live-interval 1)",
    };
    let total_rate = RATE_PER_WORKER * u64::from(WORKERS);
    let mut lost = Vec::new();
    let mut skew_spread = Vec::new();
    let mut lag_p99 = Vec::new();
    let mut achieved = Vec::new();
    for run in 0..repeats() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = RunFiles::for_workers(dir.path(), WORKERS);
        write_load(&files, &server.endpoint(), total_rate);
        let head =
            Schedule::head_of_file(&files.load, 1_000_000, WARMUP, SECONDS).expect("schedule");
        std::fs::create_dir_all(&files.workers).expect("workers dir");
        let observer = live.then(|| std::sync::Arc::new(Observer::for_head(&head)));
        let summary = replay(&Launch {
            workers: WORKERS,
            launcher: Launcher::Local,
            files: &files,
            load: &head,
            settings: InvokerSettings {
                minute: false,
                warmup: WARMUP,
                duration: SECONDS,
                grpc_timeout: Duration::from_secs(10),
                connections: 1,
                max_in_flight: 100_000,
                realtime: false,
                shared_cpu,
                live_interval: live.then_some(Duration::from_secs(1)),
                request: invoker::request::RequestArgs::default(),
                compress: formats::compressed::Compression::None,
                coordinator_timeout: Duration::from_secs(60),
                records_chunk: 100_000,
                resume: None,
                stream_shard: false,
            },
            cpus: vec![None; WORKERS as usize],
            start_lead: None,
            advertise: None,
            kubernetes: KubernetesOptions {
                kubectl: deploy::kube::Kubectl::default(),
                namespace: "default".into(),
                node_selector: Vec::new(),
                image: String::new(),
                resources: Vec::new(),
            },
            run_id: "bench",
            stop: cmdline::Stop::new(),
            launch_delays: Vec::new(),
            observer: observer.clone(),
            token: coordinator::new_token(),
            tls: None,
            hooks: Default::default(),
        })
        .expect("replay");
        let not_ok: u64 = summary
            .outcomes
            .iter()
            .filter(|(k, _)| k.as_str() != Outcome::Ok.name())
            .map(|(_, v)| v)
            .sum();
        let lost_workers = summary.workers.iter().filter(|w| w.lost.is_some()).count();
        let skews: Vec<f64> = summary
            .workers
            .iter()
            .filter_map(|w| w.summary.as_ref()?.worker.as_ref()?.start_skew_us)
            .collect();
        let skew = skews.iter().copied().fold(f64::MIN, f64::max)
            - skews.iter().copied().fold(f64::MAX, f64::min);
        let p99: Vec<String> = summary
            .workers
            .iter()
            .map(|w| {
                w.summary
                    .as_ref()
                    .map_or("lost".into(), |s| format!("{:.1}", s.send_lag_us.p99))
            })
            .collect();
        for w in &summary.workers {
            if let Some(s) = &w.summary {
                lag_p99.push(s.send_lag_us.p99);
            }
        }
        out.line(&format!(
            "{mode} run {run}: {} scheduled after warm-up, {} not answered ok ({:?}), {lost_workers} workers lost; \
             start skew between workers {:.1} µs (first-send lags {:?} µs); send-lag p99 per worker {:?} µs; \
             achieved {:.0}/s of {:.0}/s; steal {}{}",
            summary.scheduled,
            not_ok,
            summary.outcomes,
            skew,
            skews.iter().map(|s| format!("{s:.1}")).collect::<Vec<_>>(),
            p99,
            summary.achieved_rate,
            summary.scheduled_rate,
            summary.steal_text().unwrap_or_else(|| "n/a".into()),
            observer.map_or_else(String::new, |o| format!(
                "; the live view counted {} of the {} calls (warm-up included)",
                o.snapshot().finished,
                head.calls
            ))
        ));
        lost.push(not_ok as f64);
        skew_spread.push(skew);
        achieved.push(summary.achieved_rate);
    }
    out.line(&format!(
        "{mode}: calls not answered ok (lost, not sent or failed; target 0): {}, median [min–max] over runs",
        spread(&lost, 0)
    ));
    out.line(&format!(
        "{mode}: start skew between workers (target ≤ 1000 µs): {} µs",
        spread(&skew_spread, 1)
    ));
    out.line(&format!(
        "{mode}: send-lag p99 of each worker, all runs: {} µs",
        spread(&lag_p99, 1)
    ));
    out.line(&format!(
        "{mode}: achieved rate (sum of the workers'): {} calls/s",
        spread(&achieved, 0)
    ));
}

/// Writes the whole load and its shards (dealt as `formats::shard_of` deals them): `rate` calls a second,
/// evenly spaced, to `endpoint`.
fn write_load(files: &RunFiles, endpoint: &str, rate: u64) {
    let endpoints = vec![endpoint.to_owned()];
    let mut whole = LoadWriter::create(&files.load, &endpoints).expect("load.json");
    let mut shards: Vec<_> = files
        .shards
        .iter()
        .map(|p| LoadWriter::create(p, &endpoints).expect("shard"))
        .collect();
    let mut index = 0u64;
    for _ in 0..WARMUP + SECONDS {
        let calls: Vec<Invocation> = (0..rate)
            .map(|i| Invocation {
                offset_us: i * 1_000_000 / rate,
                endpoint: 0,
            })
            .collect();
        let mut dealt: Vec<Vec<Invocation>> = vec![Vec::new(); WORKERS as usize];
        for call in &calls {
            dealt[shard_of(index, WORKERS).0 as usize].push(*call);
            index += 1;
        }
        whole.write_period(&calls).expect("write");
        for (w, share) in shards.iter_mut().zip(&dealt) {
            w.write_period(share).expect("write");
        }
    }
    whole.commit().expect("commit");
    for w in shards {
        w.commit().expect("commit");
    }
}
