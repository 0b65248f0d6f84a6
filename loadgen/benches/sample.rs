//! Preprocess and sample benchmark: a full raw day (46,412 functions × 1,440 minutes, per-app memory, made
//! by resampling the shared vSwarm sample), then `loadgen preprocess` of the whole day and `loadgen sample`
//! with sizes 100..=3,000 step 100, 16 trials each, each as its own process.
//!
//! Prints, as median [min–max] over repeated runs (`BENCH_REPEATS`, 3): preprocess time and peak RSS;
//! the sweep's time, trials per second and peak RSS. Written to `bench-results/sample.txt`.
//! `cargo bench -p loadgen --bench sample`; set `FULL_DAY_DIR` to keep the data set there.

use std::process::Command;

use host::bench::{spread, Output};

mod common;
use common::{full_day, output_path, path, repeats, run_measured};

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

fn main() {
    let mut out = Output::new(
        "cargo bench -p loadgen --bench sample",
        &output_path("sample"),
    );
    let Some(data) = full_day("sample bench") else {
        return;
    };
    out.line(&data.description);
    let (root, day) = (&data.root, &data.day);
    let clean = root.join("clean");
    let samples = root.join("samples");
    let runs = repeats();

    let (mut wall, mut rss) = (vec![], vec![]);
    for _ in 0..runs {
        let (seconds, kib, ok) = run_measured(Command::new(LOADGEN).args([
            "preprocess",
            "-t",
            path(day),
            "-o",
            path(&clean),
            "--start",
            "0:00:00",
            "-d",
            "1440",
        ]));
        assert!(ok, "preprocess failed");
        wall.push(seconds);
        rss.push(kib as f64 / 1024.0);
    }
    let functions_kept = std::fs::read_to_string(clean.join("invocations.csv"))
        .expect("clean trace")
        .lines()
        .count()
        - 1;
    out.line(&format!("# {runs} runs each; median [min–max]"));
    out.line(&format!(
        "preprocess   whole day: {} s wall, peak RSS {} MiB, {functions_kept} functions kept",
        spread(&wall, 2),
        spread(&rss, 0)
    ));

    let (sizes, trials) = (30, 16);
    let (mut wall, mut rate, mut rss) = (vec![], vec![], vec![]);
    for _ in 0..runs {
        let (seconds, kib, ok) = run_measured(Command::new(LOADGEN).args([
            "sample",
            "-t",
            path(&clean),
            "-o",
            path(&samples),
            "--min",
            "100",
            "--step",
            "100",
            "--max",
            "3000",
            "--trials",
            "16",
            "--seed",
            "1",
        ]));
        assert!(ok, "sample failed");
        wall.push(seconds);
        rate.push((sizes * trials) as f64 / seconds);
        rss.push(kib as f64 / 1024.0);
    }
    out.line(&format!(
        "sample       {sizes} sizes (100..=3000) x {trials} trials over 1440 minutes: {} s wall, {} trials/s, peak RSS {} MiB",
        spread(&wall, 2),
        spread(&rate, 1),
        spread(&rss, 0)
    ));
    if data.kept {
        out.line(&format!("kept         {}", root.display()));
    }
    out.finish();
}
