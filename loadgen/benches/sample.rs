//! Preprocess and sample benchmark: a full raw day (46,412 functions × 1,440 minutes, per-app memory, made
//! by resampling the shared vSwarm sample), then `loadgen preprocess` of the whole day and `loadgen sample`
//! with sizes 100..=3,000 step 100, 16 trials each, each as its own process.
//!
//! Prints: preprocess time and peak RSS; the sweep's time, trials per second and peak RSS.
//! `cargo bench -p loadgen --bench sample`; set `FULL_DAY_DIR` to keep the data set there.

use std::process::Command;

mod common;
use common::{full_day, path, run_measured};

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

fn main() {
    let Some(data) = full_day("sample bench") else {
        return;
    };
    let (root, day) = (&data.root, &data.day);
    let clean = root.join("clean");
    let samples = root.join("samples");

    let (wall, rss, ok) = run_measured(Command::new(LOADGEN).args([
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
    let functions_kept = std::fs::read_to_string(clean.join("invocations.csv"))
        .expect("clean trace")
        .lines()
        .count()
        - 1;
    println!(
        "preprocess   whole day: {wall:.2} s wall, peak RSS {:.0} MiB, {functions_kept} functions kept",
        rss as f64 / 1024.0
    );

    let (sizes, trials) = (30, 16);
    let (wall, rss, ok) = run_measured(Command::new(LOADGEN).args([
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
    println!(
        "sample       {sizes} sizes (100..=3000) x {trials} trials over 1440 minutes: {wall:.2} s wall, {:.1} trials/s, peak RSS {:.0} MiB",
        (sizes * trials) as f64 / wall,
        rss as f64 / 1024.0
    );
    if data.kept {
        println!("kept         {}", root.display());
    }
}
