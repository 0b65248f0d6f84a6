//! Load shapes benchmark, two parts, each repeated (`BENCH_REPEATS`, 3):
//!
//! 1. **Azure 2021 read.** A synthetic two-week invocation file of 10,000,000 rows in the dataset's
//!    shape (424 functions in 119 apps, 64-hex-digit names, times with six decimals, rows in order of end
//!    time; `AZURE2021_ROWS` changes the count) is read whole, by minute. Printed: rows per second read
//!    in this process, and the peak RSS of a process that only reads it (this benchmark run again as a
//!    child). Then `loadgen generate` over the whole two weeks as its own process: wall time, peak RSS.
//! 2. **RPS ramp.** `loadgen generate --rps 1 --rps-step 10000 --rps-every 3600 --rps-ramp --rps-max
//!    10000 -m false -d 3600 -w 0` (a one-hour linear ramp to 10,000 calls/s, about 18 million calls):
//!    calls per second from the start of the schedule to the last byte of load.json, in this process;
//!    wall time and peak RSS as its own process.
//! 3. **RPS hour.** `loadgen generate --rps 20000 -m false -d 3600 -w 0` (72 million calls, made second
//!    by second, never all held) as its own process: wall time, peak RSS, load.json size.
//!
//! Written to `bench-results/shapes.txt`. `cargo bench -p loadgen --bench shapes`.

use std::path::Path;
use std::process::Command as Process;
use std::time::Instant;

use host::bench::{spread, Output};
use loadgen::cli::{parse_command_line, Command};
use loadgen::commands::generate::generate;
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trace::{read_azure2021, Azure2021Options, Azure2021Writer, Granularity};

mod common;
use common::{hash, output_path, path, repeats, run_measured, RPS_RAMP};

const TWO_WEEKS_US: u64 = 14 * 86_400 * 1_000_000;
const CHILD: &str = "SHAPES_BENCH_READ";

fn options() -> Azure2021Options {
    Azure2021Options {
        granularity: Granularity::Minute,
        start: 0,
        periods: None,
        memory_mb: 256.0,
    }
}

/// Writes `rows` invocations of 424 functions in 119 apps over two weeks, in order of end time. Rates
/// are log-uniform over four orders of magnitude, durations log-normal around each function's median.
fn write_file(file: &Path, rows: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(2021);
    let apps: Vec<String> = (0..119).map(|_| hash(&mut rng)).collect();
    let functions: Vec<(usize, String, f64)> = (0..424)
        .map(|f| {
            let median_us = 10f64.powf(rng.random_range(3.0..6.5));
            (f % 119, hash(&mut rng), median_us)
        })
        .collect();
    let weights: Vec<f64> = (0..424)
        .map(|_| 10f64.powf(rng.random_range(0.0..4.0)))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut calls: Vec<(u64, u64, u32)> = Vec::with_capacity(rows as usize);
    let mut cumulative = Vec::with_capacity(424);
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        cumulative.push(acc);
    }
    for _ in 0..rows {
        let u: f64 = rng.random();
        let f = cumulative.partition_point(|&c| c < u).min(423);
        let start = rng.random_range(0..TWO_WEEKS_US);
        let z: f64 = rng.random_range(-2.0..2.0);
        let duration = ((functions[f].2 * (0.6 * z).exp()) as u64).max(1);
        calls.push((start + duration, duration, f as u32));
    }
    calls.sort_unstable();
    let mut w = Azure2021Writer::create(file).expect("create the file");
    for (end, duration, f) in calls {
        let (app, name, _) = &functions[f as usize];
        w.row(&apps[*app], name, end, duration)
            .expect("write a row");
    }
    w.finish().expect("finish the file");
}

fn main() {
    if let Ok(file) = std::env::var(CHILD) {
        // The child: only the read, so its peak RSS is the reader's.
        let trace = read_azure2021(Path::new(&file), &options()).expect("read");
        assert!(trace.arrivals.is_some());
        return;
    }
    let mut out = Output::new(
        "cargo bench -p loadgen --bench shapes",
        &output_path("shapes"),
    );
    let runs = repeats();
    let rows: u64 = std::env::var("AZURE2021_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join(trace::AZURE2021_FILE);
    let started = Instant::now();
    write_file(&file, rows);
    let bytes = std::fs::metadata(&file).expect("file").len();
    out.line(&format!(
        "# Azure 2021: {rows} rows, 424 functions in 119 apps over two weeks, {:.2} GB (written in {:.0} s)",
        bytes as f64 / 1e9,
        started.elapsed().as_secs_f64()
    ));
    out.line(&format!("# {runs} runs; median [min–max]"));

    let (mut rate, mut read_rss, mut wall, mut rss) = (vec![], vec![], vec![], vec![]);
    let load = dir.path().join("load.json");
    let whole = [
        "generate",
        "-t",
        path(&file),
        "-p",
        "builtin",
        "-d",
        "20160",
        "-w",
        "0",
        "-o",
        path(&load),
        "--seed",
        "1",
    ];
    for _ in 0..runs {
        let started = Instant::now();
        let trace = read_azure2021(&file, &options()).expect("read");
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(trace.periods, 20_160, "two weeks of minutes");
        rate.push(rows as f64 / seconds / 1e6);
        drop(trace);
        let (_, kib, ok) = run_measured(
            Process::new(std::env::current_exe().expect("this bench")).env(CHILD, &file),
        );
        assert!(ok, "the reading child failed");
        read_rss.push(kib as f64 / 1024.0);
        let (seconds, kib, ok) =
            run_measured(Process::new(env!("CARGO_BIN_EXE_loadgen")).args(whole));
        assert!(ok, "loadgen generate failed");
        wall.push(seconds);
        rss.push(kib as f64 / 1024.0);
    }
    out.line(&format!(
        "read         {} M rows/s; a process that only reads: peak RSS {} MiB",
        spread(&rate, 2),
        spread(&read_rss, 0)
    ));
    out.line(&format!(
        "generate     whole two weeks ({rows} calls) as its own process: {} s wall, peak RSS {} MiB",
        spread(&wall, 1),
        spread(&rss, 0)
    ));
    std::fs::remove_file(&file).ok();
    std::fs::remove_file(&load).ok();

    let ramp: Vec<&str> = ["loadgen"]
        .into_iter()
        .chain(RPS_RAMP)
        .chain(["-o", path(&load)])
        .collect();
    let (mut rate, mut wall, mut rss, mut calls) = (vec![], vec![], vec![], 0);
    for _ in 0..runs {
        let Command::Generate(g) = parse_command_line(ramp.iter().map(Into::into))
            .expect("args")
            .command
        else {
            unreachable!()
        };
        let started = Instant::now();
        let report = generate(&g, &cmdline::Stop::new()).expect("generate");
        calls = report.stats.total();
        rate.push(calls as f64 / started.elapsed().as_secs_f64() / 1e6);
        let (seconds, kib, ok) =
            run_measured(Process::new(env!("CARGO_BIN_EXE_loadgen")).args(&ramp[1..]));
        assert!(ok, "loadgen generate --rps failed");
        wall.push(seconds);
        rss.push(kib as f64 / 1024.0);
    }
    out.line(&format!(
        "rps ramp     1 h linear to 10,000/s, {calls} calls: {} M calls/s (schedule + load.json); \
         as its own process {} s wall, peak RSS {} MiB",
        spread(&rate, 2),
        spread(&wall, 1),
        spread(&rss, 0)
    ));
    std::fs::remove_file(&load).ok();

    let hour = [
        "generate",
        "--rps",
        "20000",
        "-m",
        "false",
        "-d",
        "3600",
        "-w",
        "0",
        "-p",
        "builtin",
        "-o",
        path(&load),
        "--seed",
        "1",
    ];
    let (mut wall, mut rss, mut bytes) = (vec![], vec![], 0);
    for _ in 0..runs {
        let (seconds, kib, ok) =
            run_measured(Process::new(env!("CARGO_BIN_EXE_loadgen")).args(hour));
        assert!(ok, "loadgen generate --rps 20000 failed");
        wall.push(seconds);
        rss.push(kib as f64 / 1024.0);
        bytes = std::fs::metadata(&load).expect("load.json").len();
        std::fs::remove_file(&load).ok();
    }
    out.line(&format!(
        "rps hour     1 h at 20,000/s, 72000000 calls, {:.2} GB load.json: as its own process {} s wall, \
         peak RSS {} MiB",
        bytes as f64 / 1e9,
        spread(&wall, 1),
        spread(&rss, 0)
    ));
    out.finish();
}
