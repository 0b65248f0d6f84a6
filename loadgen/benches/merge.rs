//! The coordinator's merge at a day's scale, no replay needed: a load of 100 million calls (1,000
//! one-second periods of 100,000 calls over 100 endpoints, `load.json.zst`) dealt to 8 workers, each
//! worker's 12.5 million records written in scheduled order as it would send them (zstd, answered calls
//! with random lags and latencies), then `coordinator::merge::merge` into one `records.csv.zst` in a
//! process of its own (this bench run again as a child): wall time and peak RSS (GNU time's). The merge
//! reads the load again a period at a time and the workers' files as streams, so its memory is one period
//! and 8 readers; the target is at most 512 MiB. `MERGE_CALLS` changes the size.
//!
//! Repeated (`BENCH_REPEATS`, 3), median [min–max]. Written to `bench-results/merge.txt`.
//! `cargo bench -p loadgen --bench merge`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use coordinator::merge::{merge, MergedLoad, WorkerResult};
use formats::compressed::Compressed;
use formats::records::{Outcome, Record, RecordsWriter, Wire};
use formats::summary::Summary;
use formats::{shard_of, Invocation, LoadWriter};
use host::bench::{median, spread, Output};
use invoker::schedule::Schedule;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

mod common;
use common::{output_path, repeats, run_measured};

const CHILD: &str = "MERGE_BENCH_DIR";
const WORKERS: u32 = 8;
const PERIODS: u64 = 1_000;
const ENDPOINTS: u64 = 100;
const PERIOD_US: u64 = 1_000_000;

/// Calls per period for `total` calls.
fn per_period(total: u64) -> u64 {
    total.div_ceil(PERIODS)
}

/// Call `g`'s due time and endpoint, as the load holds it.
fn call(g: u64, per_period: u64) -> (u64, u32) {
    let (p, i) = (g / per_period, g % per_period);
    (
        p * PERIOD_US + i * (PERIOD_US / per_period),
        (g % ENDPOINTS) as u32,
    )
}

fn endpoints() -> Vec<String> {
    (0..ENDPOINTS)
        .map(|e| format!("emu-{e}.default.127.0.0.1.sslip.io"))
        .collect()
}

fn write_load(path: &Path, total: u64) {
    let each = per_period(total);
    let mut w = LoadWriter::create(path, &endpoints()).expect("create the load");
    let mut calls = Vec::with_capacity(each as usize);
    for p in 0..PERIODS {
        calls.clear();
        calls.extend((p * each..((p + 1) * each).min(total)).map(|g| {
            let (due, endpoint) = call(g, each);
            Invocation {
                offset_us: due - p * PERIOD_US,
                endpoint,
            }
        }));
        w.write_period(&calls).expect("write a period");
    }
    w.commit().expect("finish the load");
}

/// Worker `k`'s records, in scheduled order, as it sends them.
fn write_worker(path: &Path, k: u32, total: u64) {
    let each = per_period(total);
    let endpoints = endpoints();
    let file = std::fs::File::create(path).expect("create a worker's records");
    let mut w =
        RecordsWriter::new(Compressed::for_path(file, path).expect("zstd")).expect("header");
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(k));
    for g in (u64::from(k)..total).step_by(WORKERS as usize) {
        debug_assert_eq!(shard_of(g, WORKERS).0, k);
        let (due, endpoint) = call(g, each);
        let latency = 1_000 + rng.random_range(0..200_000u64);
        let record = Record {
            index: g,
            worker: k,
            period: (g / each) as u32,
            endpoint,
            warmup: false,
            scheduled_us: due,
            dispatch_lag_ns: Some(rng.random_range(200..5_000)),
            send_lag_ns: Some(rng.random_range(5_000..60_000)),
            latency_us: Some(latency),
            latency_from_scheduled_us: Some(latency + 30),
            outcome: Outcome::Ok,
            exec_us: Some(latency - rng.random_range(0..900)),
            instance: Some(rng.random_range(0..2_000u64)),
            cold: Some(false),
            wire: Wire::default(),
            workflow: None,
        };
        w.write(&record, &endpoints).expect("write a record");
    }
    w.finish()
        .and_then(Compressed::finish)
        .expect("finish a worker's records");
}

fn worker_path(dir: &Path, k: u32) -> PathBuf {
    dir.join(format!("worker-{k}.csv.zst"))
}

/// The child: the merge alone, so its peak RSS is the merge's; writes the records it merged to `merged`.
fn child(dir: &Path) {
    let load = dir.join("load.json.zst");
    let head = Schedule::head_of_file(&load, PERIOD_US, 0, PERIODS as u32).expect("head");
    let mut results: Vec<WorkerResult> = (0..WORKERS)
        .map(|k| WorkerResult {
            records: vec![worker_path(dir, k)],
            summary: Some(Summary::default()),
            lost: None,
            lost_at_us: None,
        })
        .collect();
    let summary = merge(
        MergedLoad {
            path: &load,
            head: &head,
        },
        &mut results,
        &dir.join("records.csv.zst"),
        &dir.join("lat.csv"),
        "bench".into(),
        false,
    )
    .expect("merge");
    assert!(
        results.iter().all(|r| r.lost.is_none()),
        "a worker was lost"
    );
    std::fs::write(dir.join("merged"), summary.ok.to_string()).expect("write the count");
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD) {
        child(Path::new(&dir));
        return;
    }
    let total: u64 = std::env::var("MERGE_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000_000);
    let mut out = Output::new(
        "cargo bench -p loadgen --bench merge",
        &output_path("merge"),
    );
    let runs = repeats();
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    write_load(&dir.path().join("load.json.zst"), total);
    (0..WORKERS)
        .into_par_iter()
        .for_each(|k| write_worker(&worker_path(dir.path(), k), k, total));
    let bytes = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
    let inputs: u64 = (0..WORKERS)
        .map(|k| bytes(&format!("worker-{k}.csv.zst")))
        .sum();
    out.line(&format!(
        "# {total} calls: load.json.zst {:.2} GB ({PERIODS} periods of {} calls, {ENDPOINTS} endpoints); \
         {WORKERS} workers' records.csv.zst {:.2} GB (made in {:.0} s)",
        bytes("load.json.zst") as f64 / 1e9,
        per_period(total),
        inputs as f64 / 1e9,
        started.elapsed().as_secs_f64()
    ));
    out.line(&format!("# {runs} runs; median [min–max]"));
    let (mut wall, mut rss) = (vec![], vec![]);
    for _ in 0..runs {
        let (seconds, kib, ok) = run_measured(
            Command::new(std::env::current_exe().expect("this bench")).env(CHILD, dir.path()),
        );
        assert!(ok, "the merging child failed");
        let merged: u64 = std::fs::read_to_string(dir.path().join("merged"))
            .expect("the child's count")
            .parse()
            .expect("a count");
        assert_eq!(merged, total, "every call merged, answered");
        wall.push(seconds);
        rss.push(kib as f64 / 1024.0);
    }
    out.line(&format!(
        "merge        {WORKERS} x {} records into records.csv.zst ({:.2} GB): {} s wall ({:.2} M records/s at \
         the median), peak RSS {} MiB",
        total / u64::from(WORKERS),
        bytes("records.csv.zst") as f64 / 1e9,
        spread(&wall, 1),
        total as f64 / median(&wall) / 1e6,
        spread(&rss, 0)
    ));
    out.finish();
}
