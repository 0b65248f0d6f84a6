//! Whether the invoker holds its timing next to a noisy neighbour: the README's default run (`loadgen
//! run`: the synthetic 100-function trace, one minute replayed on the local fleet, its dispatcher pinned
//! to CPU 1) with CPU interference over the whole replay at 0, 50 and 100 % of one core
//! (`--interference cpu:threads=1,load=L,start=0,stop=60`: stress-ng, kept off the dispatcher's CPU by
//! its affinity, so it competes with the local fleet on CPU 0). The levels alternate run by run,
//! `BENCH_REPEATS` runs of each (3).
//!
//! Prints, as median [min–max] over the runs of a level: the latency p50 and p99 from the due time of
//! the measured calls (what the functions' slowdown shows in), the invoker's send-lag p99 (which must
//! not grow with the level), stress-ng's bogo-ops per second (that it really worked), and the
//! hypervisor's steal over the run beside them. Written to `bench-results/interference.txt`.
//! `cargo bench -p loadgen --bench interference`.

use std::process::{Command, Stdio};

use host::bench::{spread, Output};

mod common;
use common::{output_path, path};

/// The levels, % of one core.
const LEVELS: [u32; 3] = [0, 50, 100];

/// One run: (latency p50 ms, latency p99 ms, send-lag p99 µs, bogo-ops/s, steal ms all CPUs).
type Measured = (f64, f64, f64, f64, f64);

fn run(dir: &std::path::Path, level: u32) -> Measured {
    let out = dir.join("run");
    let interference = format!("cpu:threads=1,load={level},start=0,stop=60");
    let steal_before = host::steal_ms();
    let o = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "run",
            "-o",
            path(&out),
            "--force",
            "--quiet",
            "--interference",
            &interference,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("start loadgen run");
    assert!(
        o.status.success(),
        "loadgen run failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let steal: f64 = host::steal_between(&steal_before, &host::steal_ms())
        .iter()
        .map(|(_, ms)| ms)
        .sum();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let dispatcher = summary["dispatcher"].as_str().unwrap_or_default();
    assert!(dispatcher.contains("pinned to CPU 1"), "{dispatcher}");
    let interference_csv = std::fs::read_to_string(out.join("collect/interference.csv")).unwrap();
    let row: Vec<&str> = interference_csv
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .collect();
    let bogo_ops = row[9].parse().unwrap_or(0.0);
    let latency = &summary["latency_from_scheduled_us"];
    (
        latency["p50"].as_f64().unwrap() / 1e3,
        latency["p99"].as_f64().unwrap() / 1e3,
        summary["send_lag_us"]["p99"].as_f64().unwrap(),
        bogo_ops,
        steal,
    )
}

fn main() {
    let mut out = Output::new(
        "cargo bench -p loadgen --bench interference",
        &output_path("interference"),
    );
    let runs: usize = std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    out.line(&format!(
        "# loadgen run (the default: 100 synthetic functions, 1 minute, local fleet, dispatcher on CPU 1) --interference cpu:threads=1,load=L,start=0,stop=60 (stress-ng on CPU 0); {runs} runs of each level, alternating; median [min–max]"
    ));
    let mut results: Vec<Vec<Measured>> = vec![Vec::new(); LEVELS.len()];
    for _ in 0..runs {
        for (k, level) in LEVELS.iter().enumerate() {
            results[k].push(run(dir.path(), *level));
        }
    }
    out.line("| CPU interference | latency p50, ms | latency p99, ms | send-lag p99, µs | stress-ng bogo-ops/s | steal, ms |");
    out.line("|---:|---:|---:|---:|---:|---:|");
    for (level, r) in LEVELS.iter().zip(&results) {
        let of = |f: fn(&Measured) -> f64| r.iter().map(f).collect::<Vec<f64>>();
        out.line(&format!(
            "| {level} % of one core | {} | {} | {} | {} | {} |",
            spread(&of(|m| m.0), 1),
            spread(&of(|m| m.1), 1),
            spread(&of(|m| m.2), 1),
            spread(&of(|m| m.3), 0),
            spread(&of(|m| m.4), 0),
        ));
    }
    for (level, r) in LEVELS.iter().zip(&results) {
        let per_run: Vec<String> = r
            .iter()
            .map(|m| format!("({:.1}, {:.1}, {:.0})", m.1, m.2, m.4))
            .collect();
        out.line(&format!(
            "  {level} %: per run (latency p99 ms, send-lag p99 µs, steal ms): [{}]",
            per_run.join(", ")
        ));
    }
    out.finish();
}
