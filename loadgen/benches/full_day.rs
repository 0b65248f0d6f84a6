//! Full-day benchmark: a raw-layout Azure day (46,412 functions × 1,440 minutes, per-app memory) made by
//! resampling the vSwarm sample's rows under fresh hashes, then `loadgen generate` over 2 + 20 minutes.
//!
//! Prints: ingest + map time, generation rate, output size, and the peak RSS of the `loadgen` process doing
//! the same run. `cargo bench -p loadgen --bench full_day`; set `FULL_DAY_DIR` to keep the data set there.

use std::process::Command as Process;
use std::time::Instant;

use clap::Parser;
use loadgen::cli::{Cli, Command};
use loadgen::commands::generate::generate as run_generate;

mod common;
use common::{children_peak_rss_kib, full_day, path};

fn main() {
    // `data` owns the temporary directory: it must live to the end.
    let Some(data) = full_day("full_day") else {
        return;
    };
    let (sample, root, day) = (&data.sample, &data.root, &data.day);

    let profile = sample.join("profile.json");
    let out = root.join("out/load.json");
    let args = [
        "loadgen",
        "generate",
        "-t",
        path(day),
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
    if data.kept {
        println!("kept         {}", root.display());
    }
}
