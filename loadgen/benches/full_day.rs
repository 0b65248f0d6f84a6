//! Full-day benchmark: a raw-layout Azure day (46,412 functions × 1,440 minutes, per-app memory) made by
//! resampling the vSwarm sample's rows under fresh hashes, then `loadgen generate` over 2 + 20 minutes.
//!
//! Prints: ingest + map time, generation rate, output size, and the peak RSS of the `loadgen` process doing
//! the same run. `cargo bench -p loadgen --bench full_day`; set `FULL_DAY_DIR` to keep the data set there.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Instant;

use clap::Parser;
use loadgen::cli::{Cli, Command};
use loadgen::commands::run_generate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trace::{DurationRow, FunctionId, Layout, MemoryRow, ReadOptions, TraceWriter};

const FUNCTIONS: usize = 46_412;
const MINUTES: usize = 1_440;

fn main() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        eprintln!("full_day: needs ../shared/data/vswarm-sample");
        return;
    };
    let keep = std::env::var_os("FULL_DAY_DIR").map(PathBuf::from);
    let temp = tempfile::tempdir().expect("temp dir");
    let root = keep.clone().unwrap_or_else(|| temp.path().to_owned());
    let day = root.join("day");

    let t = Instant::now();
    let (invocations, bytes) = resample_day(&sample, &day);
    println!(
        "data set     {FUNCTIONS} functions x {MINUTES} minutes, {invocations} invocations, {:.0} MB of CSV, made in {:.1} s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let profile = sample.join("profile.json");
    let out = root.join("out/load.json");
    let args = [
        "loadgen",
        "generate",
        "-t",
        path(&day),
        "-p",
        path(&profile),
        "-o",
        path(&out),
        "--seed",
        "1",
    ];
    let Command::Generate(generate) = Cli::try_parse_from(args).expect("args").command else {
        unreachable!()
    };
    let report = run_generate(&generate).expect("generate");
    let total = report.stats.total();
    println!(
        "ingest+map   {:.3} s (read {:.3} s, map {:.3} s; {} functions mapped onto {} proxies)",
        (report.ingest + report.map).as_secs_f64(),
        report.ingest.as_secs_f64(),
        report.map.as_secs_f64(),
        report.mapping.functions,
        report.mapping.distinct_proxies
    );
    println!(
        "generation   {total} invocations over 22 minutes in {:.3} s: {:.2} M invocations/s, {:.0} MB written",
        report.stats.elapsed.as_secs_f64(),
        total as f64 / report.stats.elapsed.as_secs_f64() / 1e6,
        report.stats.bytes as f64 / 1e6
    );

    // The same run as its own process, for its peak resident memory.
    let t = Instant::now();
    let status = Process::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(&args[1..])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run loadgen");
    assert!(status.success());
    println!(
        "process      loadgen generate: {:.2} s wall, peak RSS {:.0} MiB",
        t.elapsed().as_secs_f64(),
        children_peak_rss_kib() as f64 / 1024.0
    );
    if keep.is_some() {
        println!("kept         {}", root.display());
    }
}

/// Writes the raw-layout day: each function copies a random sample row (its counts repeated over the day,
/// its durations), apps of 1–4 functions get the sum of their functions' memory.
fn resample_day(sample: &Path, day: &Path) -> (u64, u64) {
    let source = trace::read(sample, &ReadOptions::default()).expect("sample");
    let mut rng = ChaCha8Rng::seed_from_u64(2019);
    let mut writer =
        TraceWriter::create(day, Layout::Raw { day: 1 }, 1, MINUTES, true).expect("writer");
    let mut counts = vec![0u32; MINUTES];
    let mut owner = hash(&mut rng);
    let mut invocations = 0u64;
    let mut written = 0;
    while written < FUNCTIONS {
        if rng.random_bool(0.3) {
            owner = hash(&mut rng);
        }
        let app = hash(&mut rng);
        let size = rng.random_range(1..=4usize).min(FUNCTIONS - written);
        let mut memory = MemoryRow {
            sample_count: 1000,
            average: 0.0,
            percentiles: [0.0; 8],
        };
        for _ in 0..size {
            let row = rng.random_range(0..source.functions.len());
            let f = &source.functions[row];
            let id = FunctionId {
                owner: owner.clone(),
                app: app.clone(),
                function: hash(&mut rng),
            };
            let src = source.counts(row);
            for (m, c) in counts.iter_mut().enumerate() {
                *c = src[m % src.len()];
            }
            invocations += counts.iter().map(|&c| u64::from(c)).sum::<u64>();
            writer.invocations(&id, &f.trigger, &counts).expect("write");
            let d: Vec<f64> = f.duration_ms.points().iter().map(|&(_, v)| v).collect();
            writer
                .durations(
                    &id,
                    &DurationRow {
                        average: f.duration_avg_ms,
                        count: source.total(row),
                        minimum: d[0],
                        maximum: d[d.len() - 1],
                        percentiles: d.try_into().expect("7 duration percentiles"),
                    },
                )
                .expect("write");
            memory.average += f.memory_avg_mb;
            for (sum, &(_, v)) in memory.percentiles.iter_mut().zip(f.memory_mb.points()) {
                *sum += v;
            }
        }
        writer.memory(&owner, &app, None, &memory).expect("write");
        written += size;
    }
    let files = writer.finish().expect("finish");
    let bytes = [&files.invocations, &files.durations, &files.memory]
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    (invocations, bytes)
}

fn hash(rng: &mut ChaCha8Rng) -> String {
    (0..4)
        .map(|_| format!("{:016x}", rng.random::<u64>()))
        .collect()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Largest peak RSS among waited-for children, KiB (Linux `ru_maxrss`).
fn children_peak_rss_kib() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss
}
