//! Full-day benchmark: a raw-layout Azure day (46,412 functions × 1,440 minutes, per-app memory) made by
//! resampling the vSwarm sample's rows under fresh hashes, then `loadgen generate` over 2 + 20 minutes
//! against the sample's 191 vSwarm profiles, repeated (`BENCH_REPEATS`, 3).
//!
//! Prints, as median [min–max] over the runs: read and map time, generation rate and output size (in
//! this process), and the wall time and peak RSS of the same `loadgen generate` as its own process.
//! Written to `bench-results/full_day.txt`. `cargo bench -p loadgen --bench full_day`; set
//! `FULL_DAY_DIR` to keep the data set there.

use std::process::Command as Process;

use host::bench::{spread, Output};
use loadgen::cli::{parse_command_line, Command};
use loadgen::commands::generate::generate;

mod common;
use common::{full_day, output_path, path, repeats, run_measured};

fn main() {
    let mut out = Output::new(
        "cargo bench -p loadgen --bench full_day",
        &output_path("full_day"),
    );
    // `data` owns the temporary directory: it must live to the end.
    let Some(data) = full_day("full_day") else {
        return;
    };
    out.line(&data.description);
    let (sample, root, day) = (&data.sample, &data.root, &data.day);
    let profile = sample.join("profile.json");
    let load = root.join("out/load.json");
    let args = [
        "loadgen",
        "generate",
        "-t",
        path(day),
        "-p",
        path(&profile),
        "-o",
        path(&load),
        "--seed",
        "1",
    ];
    let runs = repeats();
    let (mut read, mut map, mut rate, mut wall, mut rss) = (vec![], vec![], vec![], vec![], vec![]);
    let mut last = None;
    for _ in 0..runs {
        let Command::Generate(g) = parse_command_line(args.map(Into::into))
            .expect("args")
            .command
        else {
            unreachable!()
        };
        let report = generate(&g, &cmdline::Stop::new()).expect("generate");
        read.push(report.ingest.as_secs_f64());
        map.push(report.map.as_secs_f64());
        rate.push(report.stats.total() as f64 / report.stats.elapsed.as_secs_f64() / 1e6);
        // The same run as its own process, for its wall time and peak resident memory.
        let (seconds, kib, ok) =
            run_measured(Process::new(env!("CARGO_BIN_EXE_loadgen")).args(&args[1..]));
        assert!(ok, "loadgen generate failed");
        wall.push(seconds);
        rss.push(kib as f64 / 1024.0);
        last = Some(report);
    }
    let report = last.expect("at least one run");
    out.line(&format!("# {runs} runs; median [min–max]"));
    out.line(&format!(
        "ingest       read {} s, map {} s ({} functions mapped onto {} distinct proxies)",
        spread(&read, 3),
        spread(&map, 3),
        report.mapping.functions,
        report.mapping.distinct_proxies
    ));
    out.line(&format!(
        "generation   {} invocations over 22 minutes, {:.0} MB written: {} M invocations/s",
        report.stats.total(),
        report.stats.bytes as f64 / 1e6,
        spread(&rate, 2)
    ));
    out.line(&format!(
        "process      loadgen generate: {} s wall, peak RSS {} MiB",
        spread(&wall, 2),
        spread(&rss, 0)
    ));
    if data.kept {
        out.line(&format!("kept         {}", root.display()));
    }
    out.finish();
}
