//! What the benchmarks share: the full raw Azure-like day made from the shared sample, and process figures.

#![allow(dead_code)]

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trace::{DurationRow, FunctionId, Layout, MemoryRow, ReadOptions, TraceWriter};

/// Functions in a raw Azure day.
pub const FUNCTIONS: usize = 46_412;
/// Minutes in a day.
pub const MINUTES: usize = 1_440;

/// Where a benchmark works: the shared sample, and a root directory (`FULL_DAY_DIR` if set, kept;
/// otherwise a temporary one, removed with the returned guard) holding the full day in `day/`, made here.
pub struct FullDay {
    /// The vSwarm sample the day was resampled from.
    pub sample: std::path::PathBuf,
    /// Where the benchmark writes.
    pub root: std::path::PathBuf,
    /// The raw-layout day.
    pub day: std::path::PathBuf,
    /// Whether `root` is kept.
    pub kept: bool,
    /// What the data set is, in one line.
    pub description: String,
    /// Removes a temporary root when this is dropped: keep the whole struct alive.
    _temp: tempfile::TempDir,
}

/// Makes the full day (printing its size), or `None` (with a message) without the shared sample.
pub fn full_day(bench: &str) -> Option<FullDay> {
    let Some(sample) = trace::testing::vswarm_sample() else {
        eprintln!("{bench}: needs ../shared/data/vswarm-sample");
        return None;
    };
    let keep = std::env::var_os("FULL_DAY_DIR").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().expect("temp dir");
    let root = keep.clone().unwrap_or_else(|| temp.path().to_owned());
    let day = root.join("day");
    let t = std::time::Instant::now();
    let (invocations, bytes) = resample_day(&sample, &day);
    let description = format!(
        "data set     {FUNCTIONS} functions x {MINUTES} minutes, {invocations} invocations, {:.0} MB of CSV, made in {:.1} s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    Some(FullDay {
        description,
        sample,
        root,
        day,
        kept: keep.is_some(),
        _temp: temp,
    })
}

/// Writes the raw-layout day: each function copies a random sample row (its counts repeated over the day,
/// its durations), apps of 1–4 functions get the sum of their functions' memory.
pub fn resample_day(sample: &Path, day: &Path) -> (u64, u64) {
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

pub fn hash(rng: &mut ChaCha8Rng) -> String {
    (0..4)
        .map(|_| format!("{:016x}", rng.random::<u64>()))
        .collect()
}

/// Runs per measured figure: `BENCH_REPEATS`, or 3.
pub fn repeats() -> usize {
    std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// Where a benchmark's output file goes: `bench-results/NAME.txt` in the workspace.
pub fn output_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("bench-results")
        .join(format!("{name}.txt"))
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `command` to its end; returns (wall seconds, its own peak RSS in KiB, success).
///
/// The peak is GNU time's (`/usr/bin/time -f %M`, Debian's `time`), which starts the command from its
/// own small process: a process spawned straight from this one would carry this process's high-water
/// mark in its `ru_maxrss` (Linux keeps the largest across `exec`, and a vfork child execs from the
/// parent's memory), so after this bench has held a big trace every child would seem to peak there too.
pub fn run_measured(command: &mut std::process::Command) -> (f64, i64, bool) {
    let report = tempfile::NamedTempFile::new().expect("a file for GNU time's report");
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed
        .args(["-q", "-f", "%M", "-o"])
        .arg(report.path())
        .arg(command.get_program())
        .args(command.get_args())
        .stdout(std::process::Stdio::null());
    for (key, value) in command.get_envs() {
        match value {
            Some(v) => timed.env(key, v),
            None => timed.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    let started = std::time::Instant::now();
    let status = timed
        .status()
        .expect("run /usr/bin/time (Debian's `time` package: apt-get install time)");
    let seconds = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(report.path()).expect("GNU time's report");
    let kib = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time's report is not a KiB figure: {text:?}"));
    (seconds, kib, status.success())
}

/// `loadgen generate`'s flags for a one-hour linear ramp to 10,000 calls/s (about 18 million calls) with
/// the built-in proxies, seed 1; `-o` is left to the caller.
pub const RPS_RAMP: [&str; 22] = [
    "generate",
    "--rps",
    "1",
    "--rps-step",
    "10000",
    "--rps-every",
    "3600",
    "--rps-ramp",
    "--rps-max",
    "10000",
    "-m",
    "false",
    "-d",
    "3600",
    "-w",
    "0",
    "-p",
    "builtin",
    "--max-calls",
    "100000000",
    "--seed",
    "1",
];
