//! A worker's shard read through the invoker's look-ahead, without sending: peak RSS against the
//! busiest period's size. The shard is one hour of one-minute periods, 25 million calls over 500
//! endpoints, busier in some minutes than others (`load.json.zst`, as shards travel). Each figure is a
//! process of its own (this bench run again as a child, peak RSS from GNU time):
//! - `bare`: the child starting and ending, nothing read (what any process costs);
//! - `head`: the head pass alone (`LoadToReplay::open`: endpoints, counts, offsets checked);
//! - `look-ahead`: the head pass, then every call through `invoker::lookahead::read_ahead`, as the
//!   dispatcher takes them (in due-time order, checked), so the reader is as far ahead as it may be;
//! - `whole`: `Schedule::from_file`, how a shard was read before the look-ahead.
//!
//! The target: the look-ahead's peak, less the bare process's, at most 2x the busiest period's calls
//! as the dispatcher holds them (`size_of::<ScheduledCall>()` bytes each). `LOOKAHEAD_CALLS` changes
//! the size. Repeated (`BENCH_REPEATS`, 3), median [min–max]. Written to `bench-results/lookahead.txt`.
//! `cargo bench -p loadgen --bench lookahead`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use formats::{Invocation, LoadWriter};
use host::bench::{median, spread, Output};
use invoker::lookahead::{read_ahead, LoadToReplay};
use invoker::schedule::{Schedule, ScheduledCall};

mod common;
use common::{output_path, repeats, run_measured};

const CHILD_MODE: &str = "LOOKAHEAD_BENCH_MODE";
const CHILD_LOAD: &str = "LOOKAHEAD_BENCH_LOAD";
const PERIODS: u64 = 60;
const PERIOD_US: u64 = 60_000_000;
const ENDPOINTS: u64 = 500;

/// Calls in each period for `total` calls: a daily-looking swing, the busiest minute about 1.6x the
/// quietest.
fn per_period(total: u64) -> Vec<u64> {
    let weights: Vec<f64> = (0..PERIODS)
        .map(|p| 1.0 + 0.25 * (p as f64 / PERIODS as f64 * std::f64::consts::TAU).sin())
        .collect();
    let sum: f64 = weights.iter().sum();
    let mut counts: Vec<u64> = weights
        .iter()
        .map(|w| (total as f64 * w / sum) as u64)
        .collect();
    counts[0] += total - counts.iter().sum::<u64>();
    counts
}

fn write_load(path: &Path, total: u64) -> Vec<u64> {
    let endpoints: Vec<String> = (0..ENDPOINTS)
        .map(|e| format!("emu-{e}.default.127.0.0.1.sslip.io"))
        .collect();
    let mut w = LoadWriter::create(path, &endpoints).expect("create the load");
    let counts = per_period(total);
    let mut calls = Vec::new();
    for &n in &counts {
        calls.clear();
        calls.extend((0..n).map(|i| Invocation {
            offset_us: i * PERIOD_US / n,
            endpoint: ((i * 7919) % ENDPOINTS) as u32,
        }));
        w.write_period(&calls).expect("write a period");
    }
    w.commit().expect("finish the load");
    counts
}

/// The child: reads `load` as `mode` says and writes how many calls it saw beside it.
fn child(mode: &str, load: &Path) {
    let calls = match mode {
        "bare" => 0,
        "head" => {
            LoadToReplay::open(load, PERIOD_US, 0, PERIODS as u32)
                .expect("the head")
                .head
                .calls
        }
        "look-ahead" => {
            let load_to_replay =
                LoadToReplay::open(load, PERIOD_US, 0, PERIODS as u32).expect("the head");
            let (calls, reader) =
                read_ahead(&load_to_replay.head, load, None).expect("start the reader");
            let (mut n, mut last) = (0u64, 0u64);
            for call in calls {
                assert!(call.due_us >= last, "calls out of order");
                last = call.due_us;
                n += 1;
            }
            reader.join().expect("the reader").expect("the load read");
            assert_eq!(n, load_to_replay.head.calls, "every call handed over");
            n
        }
        "whole" => Schedule::from_file(load, PERIOD_US, 0, PERIODS as u32)
            .expect("the load")
            .calls
            .len() as u64,
        other => panic!("unknown mode {other}"),
    };
    std::fs::write(load.with_extension(mode), calls.to_string()).expect("write the count");
}

fn main() {
    if let (Ok(mode), Ok(load)) = (std::env::var(CHILD_MODE), std::env::var(CHILD_LOAD)) {
        child(&mode, Path::new(&load));
        return;
    }
    let total: u64 = std::env::var("LOOKAHEAD_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25_000_000);
    let mut out = Output::new(
        "cargo bench -p loadgen --bench lookahead",
        &output_path("lookahead"),
    );
    let runs = repeats();
    let dir = tempfile::tempdir().expect("temp dir");
    let load = dir.path().join("load.json.zst");
    let started = Instant::now();
    let counts = write_load(&load, total);
    let busiest = *counts.iter().max().expect("periods");
    let call_bytes = std::mem::size_of::<ScheduledCall>() as f64;
    let busiest_mib = busiest as f64 * call_bytes / (1024.0 * 1024.0);
    out.line(&format!(
        "# shard: {total} calls in {PERIODS} one-minute periods over {ENDPOINTS} endpoints, load.json.zst \
         {:.2} GB (made in {:.0} s); busiest period {busiest} calls = {busiest_mib:.1} MiB as the \
         dispatcher holds them ({call_bytes} B a call)",
        std::fs::metadata(&load).map_or(0, |m| m.len()) as f64 / 1e9,
        started.elapsed().as_secs_f64()
    ));
    out.line(&format!("# {runs} runs; median [min–max]"));
    let mut peaks = Vec::new();
    for mode in ["bare", "head", "look-ahead", "whole"] {
        let (mut wall, mut rss) = (vec![], vec![]);
        for _ in 0..runs {
            let (seconds, kib, ok) = run_measured(
                Command::new(std::env::current_exe().expect("this bench"))
                    .env(CHILD_MODE, mode)
                    .env(CHILD_LOAD, &load),
            );
            assert!(ok, "the {mode} child failed");
            let seen: u64 = std::fs::read_to_string(load.with_extension(mode))
                .expect("the child's count")
                .parse()
                .expect("a count");
            assert_eq!(seen, if mode == "bare" { 0 } else { total }, "{mode}");
            wall.push(seconds);
            rss.push(kib as f64 / 1024.0);
        }
        out.line(&format!(
            "{mode:<11}  {} s wall, peak RSS {} MiB",
            spread(&wall, 1),
            spread(&rss, 0)
        ));
        peaks.push(rss);
    }
    let above_bare: Vec<f64> = peaks[2]
        .iter()
        .zip(&peaks[0])
        .map(|(look_ahead, bare)| (look_ahead - bare) / busiest_mib)
        .collect();
    out.line(&format!(
        "look-ahead less bare = {} x the busiest period (target <= 2); read whole = {:.0} x",
        spread(&above_bare, 2),
        (median(&peaks[3]) - median(&peaks[0])) / busiest_mib
    ));
    out.finish();
}
