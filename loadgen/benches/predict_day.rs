//! `loadgen predict` over a whole raw-layout Azure day (46,412 functions × 1,440 minutes, made by
//! resampling the vSwarm sample's rows under fresh hashes, as the full-day benchmark does), streamed
//! period by period from the trace flags, against the sample's 191 vSwarm profiles, with Knative's
//! defaults and a 1 s cold start: wall time and peak RSS of the process, repeated (`BENCH_REPEATS`, 3),
//! as median [min–max], beside what it predicted. Written to `bench-results/predict_day.txt`.
//! `cargo bench -p loadgen --bench predict_day`; set `FULL_DAY_DIR` to keep the data set there.

use std::process::Command;

use host::bench::{spread, Output};

mod common;
use common::{full_day, output_path, path, repeats, run_measured};

fn main() {
    let mut out = Output::new(
        "cargo bench -p loadgen --bench predict_day",
        &output_path("predict_day"),
    );
    // `data` owns the temporary directory: it must live to the end.
    let Some(data) = full_day("predict_day") else {
        return;
    };
    out.line(&data.description);
    let profile = data.sample.join("profile.json");
    let predicted = data.root.join("predict");
    let args = [
        "predict",
        "-t",
        path(&data.day),
        "-p",
        path(&profile),
        "-d",
        "1440",
        "-w",
        "0",
        "--seed",
        "1",
        "-o",
        path(&predicted),
    ];
    let runs = repeats();
    let (mut wall, mut rss) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (seconds, kib, ok) =
            run_measured(Command::new(env!("CARGO_BIN_EXE_loadgen")).args(args));
        assert!(ok, "loadgen predict failed");
        wall.push(seconds);
        rss.push(kib as f64 / 1024.0);
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(predicted.join("summary.json")).expect("summary.json"),
    )
    .expect("JSON");
    let scale_mb =
        std::fs::metadata(predicted.join("scale.csv")).map_or(0, |m| m.len()) as f64 / 1e6;
    out.line(&format!("# {runs} runs; median [min–max]"));
    out.line(&format!(
        "predicted    {} calls to {} revisions: {} cold starts, {} instances created, {:.0} instance-seconds, peak {} instances; scale.csv {scale_mb:.0} MB",
        summary["calls"],
        summary["functions"].as_array().map_or(0, Vec::len),
        summary["cold_starts"],
        summary["instances_created"],
        summary["instance_seconds"].as_f64().unwrap_or(0.0),
        summary["peak_instances"],
    ));
    out.line(&format!(
        "process      loadgen predict: {} s wall, peak RSS {} MiB",
        spread(&wall, 1),
        spread(&rss, 0)
    ));
    if data.kept {
        out.line(&format!("kept         {}", data.root.display()));
    }
    out.finish();
}
