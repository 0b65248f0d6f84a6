//! `run` against `predict`: how far the offline Knative model is from the local fleet that scales the
//! same way (`--local-platform knative`), on three loads, each run `BENCH_REPEATS` times (3):
//!
//! 1. **default**: the README's first command, `loadgen run` (100 synthetic functions, one minute);
//! 2. **sample100**: 100 functions drawn from the shared vSwarm sample by `loadgen sample` (its closest
//!    100-function subset), on the sample's real profile.json, for 10 minutes (`-d 10 -w 0`);
//! 3. **rps-step**: one function of the built-in catalogue at 2 calls/s, 4 more every 20 s, for 2 minutes
//!    (`--rps 2 --rps-step 4 --rps-every 20 -m false -d 120 -w 0 --rps-duration-ms 500 --local-scale 1`).
//!
//! Each run writes its fleet's totals (`summary.json`'s `local_platform`) and `predict/summary.json`
//! (which `run` writes for the same load, knobs and scale); printed per load: the measured and predicted
//! cold starts, instances created, instance-seconds and peak instances, and the relative error of each
//! ((predicted − measured) / measured), as `median [min–max]` over the runs, with the steal on both CPUs.
//! Written to `bench-results/predict.txt`. `cargo bench -p loadgen --bench predict`.

use std::path::{Path, PathBuf};
use std::process::Command;

use host::bench::{spread, Output};

mod common;
use common::{output_path, path, repeats};

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

/// The figures compared.
const FIGURES: [&str; 4] = [
    "cold_starts",
    "instances_created",
    "instance_seconds",
    "peak_instances",
];

fn json(file: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(file).expect("read")).expect("JSON")
}

/// One run of `args` into `out`: (measured, predicted) per figure, and the run's steal, ms.
fn run(args: &[&str], out: &Path) -> Option<(Vec<(f64, f64)>, f64)> {
    let status = Command::new(LOADGEN)
        .args(["run", "-o", path(out), "--force", "--quiet"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("start loadgen");
    if !status.success() {
        eprintln!("loadgen run {args:?} failed: {status}");
        return None;
    }
    let summary = json(&out.join("summary.json"));
    let predicted = json(&out.join("predict/summary.json"));
    let measured = &summary["local_platform"];
    let steal: f64 = summary["steal_ms"]
        .as_object()
        .map_or(0.0, |m| m.values().filter_map(|v| v.as_f64()).sum());
    let pairs = FIGURES
        .iter()
        .map(|f| {
            (
                measured[f].as_f64().unwrap_or(f64::NAN),
                predicted[f].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    Some((pairs, steal))
}

/// The closest 100-function sample of the shared vSwarm trace, made in `dir`.
fn sample100(sample: &Path, dir: &Path) -> PathBuf {
    let status = Command::new(LOADGEN)
        .args(["sample", "-t", path(sample), "-o", path(dir)])
        .args(["--min", "100", "--max", "100", "--step", "100"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("start loadgen sample");
    assert!(status.success(), "loadgen sample failed");
    dir.join("sample-100")
}

fn main() {
    let mut out = Output::new(
        "cargo bench -p loadgen --bench predict",
        &output_path("predict"),
    );
    let scratch = tempfile::tempdir().expect("temp dir");
    let n = repeats();
    let mut loads: Vec<(&str, Vec<String>)> = vec![("default", Vec::new())];
    match trace::testing::vswarm_sample() {
        Some(sample) => {
            let trace = sample100(&sample, &scratch.path().join("samples"));
            let profile = sample.join("profile.json");
            let args = [
                "-t",
                path(&trace),
                "-p",
                path(&profile),
                "-d",
                "10",
                "-w",
                "0",
            ];
            loads.push(("sample100", args.map(str::to_owned).to_vec()));
        }
        None => out.line("sample100: skipped, needs ../shared/data/vswarm-sample"),
    }
    let rps = [
        "--rps",
        "2",
        "--rps-step",
        "4",
        "--rps-every",
        "20",
        "-m",
        "false",
        "-d",
        "120",
        "-w",
        "0",
        "--rps-duration-ms",
        "500",
        "--local-scale",
        "1",
    ];
    loads.push(("rps-step", rps.map(str::to_owned).to_vec()));
    out.line(&format!(
        "# {n} runs per load; values median [min–max]; relative error = (predicted − measured) / measured"
    ));
    for (name, args) in &loads {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut runs = Vec::new();
        for k in 0..n {
            if let Some(r) = run(&args, &scratch.path().join(format!("{name}-{k}"))) {
                runs.push(r);
            }
        }
        if runs.is_empty() {
            out.line(&format!("{name:<10} no run succeeded"));
            continue;
        }
        let steal: Vec<f64> = runs.iter().map(|r| r.1).collect();
        out.line(&format!(
            "{name:<10} {} runs, steal {} ms per run (both CPUs)",
            runs.len(),
            spread(&steal, 0)
        ));
        for (i, figure) in FIGURES.iter().enumerate() {
            let measured: Vec<f64> = runs.iter().map(|r| r.0[i].0).collect();
            let predicted: Vec<f64> = runs.iter().map(|r| r.0[i].1).collect();
            let error: Vec<f64> = runs
                .iter()
                .map(|r| 100.0 * (r.0[i].1 - r.0[i].0) / r.0[i].0)
                .collect();
            out.line(&format!(
                "  {figure:<18} measured {}  predicted {}  error {} %",
                spread(&measured, 1),
                spread(&predicted, 1),
                spread(&error, 1)
            ));
        }
    }
    out.finish();
}
