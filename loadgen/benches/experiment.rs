//! Experiment benchmark: the time between one step's last call and the next step's first call, on the
//! local fleet with no `between-steps` pause — what an experiment adds between measurements (the step's
//! records, summary, figures and report, the hooks, the next step's trace, mapping, deployment and load).
//!
//! Runs `loadgen experiment` on a plan of 8 per-second steps (a 60-function synthetic trace, 0 + 3 s
//! each, two IAT distributions alternating, so every step needs the same deployment), `BENCH_REPEATS`
//! times (3) in each of two modes: `reuse-deployment = true` (a step keeps the previous step's servers)
//! and the default, where every step starts from fresh instances (servers stopped and started again).
//! It takes each gap from the steps' own records: the next step's first send minus this step's last send,
//! both on the wall clock (`summary.json`'s start time plus the records' offsets). Written to
//! `bench-results/experiment.txt`. `cargo bench -p loadgen --bench experiment`.

use std::path::Path;
use std::process::Command;

use formats::records::read_records;
use formats::summary::Summary;
use host::bench::{spread, Output};

mod common;
use common::{output_path, path, repeats};

const STEPS: usize = 8;

fn main() {
    let mut out = Output::new(
        "cargo bench -p loadgen --bench experiment",
        &output_path("experiment"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let runs = repeats();
    for (mode, reuse) in [
        ("deployment reused (reuse-deployment = true)", true),
        ("fresh instances every step (the default)", false),
    ] {
        let file = dir.path().join(format!("bench-{reuse}.toml"));
        let distributions = ["\"uniform\", \"exponential\""; STEPS / 2].join(", ");
        std::fs::write(
            &file,
            format!(
                "[run]\nprofile = \"builtin\"\nminute = false\nwarmup-duration = 0\nduration = 3\nseed = 1\n\
                 reuse-deployment = {reuse}\nlocal-platform = \"simple\"\n\
                 [sweep]\nmode = \"zip\"\nfunctions = [{}]\niat-distribution = [{distributions}]\n",
                ["60"; STEPS].join(", ")
            ),
        )
        .expect("plan");
        let mut gaps_ms: Vec<f64> = Vec::new();
        let mut per_run_max: Vec<f64> = Vec::new();
        for run in 0..runs {
            let target = dir.path().join(format!("out-{reuse}-{run}"));
            let status = Command::new(env!("CARGO_BIN_EXE_loadgen"))
                .args(["experiment", path(&file), "-o", path(&target), "-q"])
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run loadgen experiment");
            assert!(status.success(), "the experiment failed");
            let sends: Vec<(u64, u64)> = (0..STEPS)
                .map(|k| sends(&target.join(format!("steps/{k:03}"))))
                .collect();
            let gaps: Vec<f64> = sends
                .windows(2)
                .map(|w| (w[1].0 as f64 - w[0].1 as f64) / 1e3)
                .collect();
            per_run_max.push(gaps.iter().copied().fold(0.0, f64::max));
            gaps_ms.extend(gaps);
        }
        out.line(&format!(
            "# {mode}: {runs} experiments of {STEPS} steps (60 functions, 0 + 3 s per step); {} gaps",
            gaps_ms.len()
        ));
        out.line(&format!(
            "gap between steps (last call of one to first call of the next): {} ms, median [min–max]",
            spread(&gaps_ms, 0)
        ));
        out.line(&format!(
            "largest gap of each experiment: {} ms, median [min–max]",
            spread(&per_run_max, 0)
        ));
    }
    out.finish();
}

/// A step's first and last send, µs since the Unix epoch.
fn sends(step: &Path) -> (u64, u64) {
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(step.join("summary.json")).expect("summary"))
            .expect("summary json");
    let (mut first, mut last) = (u64::MAX, 0);
    read_records(&step.join("records.csv"), |r, _| {
        if let Some(sent) = r.sent_us() {
            first = first.min(sent);
            last = last.max(sent);
        }
    })
    .expect("records");
    (summary.start_unix_us + first, summary.start_unix_us + last)
}
