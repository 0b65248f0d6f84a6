//! Workflow benchmark, client and chained orchestration with data inline: on the local fleet (emulated
//! functions that only wait, `--cpu-share 0`, so the two cores measure orchestration, not computing), a
//! 10-node chain and a width-8 fan-out/fan-in (A → B0..B7 → Z) of 10 ms functions, with 1 KB edges at 50
//! instances/s and 1 MB edges at 10 instances/s, each run `BENCH_REPEATS` times (3) for
//! `WORKFLOW_SECONDS` (10) after a 1 s warm-up, with `--orchestration client` and `chained`.
//!
//! From each run's `workflows.csv` (instances after warm-up): end to end p50/p99 (from the instance's due
//! time to its last call's end), the critical path of the functions' own times, and the overhead (end to
//! end − critical path) per hop along the critical path (chain: 9 hops; fan: 2). Data transfer per MB is
//! the overhead that 1 MB edges add over 1 KB ones, divided by the megabytes the critical path's calls
//! receive with 1 MB edges (chain: 9 × 1 MB; fan: 1 MB into a branch, then 8 MB into the join). Last, how
//! much chained orchestration cuts each against client orchestration (1 − chained / client, of the
//! medians), the figures FaaSFlow reports for WorkerSP against MasterSP. Steal on both CPUs is shown
//! beside each run. Written to `bench-results/workflows.txt`.
//! `cargo bench -p loadgen --bench workflows`.

use std::path::Path;
use std::process::Command;

use formats::summary::Summary;
use host::bench::{spread, Output};

mod common;
use common::{output_path, path, repeats};

/// A workflow in our YAML, the hops along its critical path, and the megabytes its calls receive along
/// it with 1 MB edges.
struct Shape {
    name: &'static str,
    hops: u32,
    megabytes: f64,
    yaml: fn(&str) -> String,
}

fn chain(size: &str) -> String {
    let mut y = String::from("name: chain10\nnodes:\n");
    for k in 0..10 {
        y.push_str(&format!(
            "  - name: n{k}\n    function: {{duration_ms: 10, memory_mb: 16}}\n"
        ));
        if k < 9 {
            y.push_str(&format!(
                "    next: {{to: [{{node: n{}, size: {size}}}]}}\n",
                k + 1
            ));
        }
    }
    y
}

fn fan(size: &str) -> String {
    let branches: Vec<String> = (0..8)
        .map(|k| format!("{{node: B{k}, size: {size}}}"))
        .collect();
    let mut y = format!(
        "name: fan8\nnodes:\n  - name: A\n    function: {{duration_ms: 10, memory_mb: 16}}\n    next: {{to: [{}]}}\n",
        branches.join(", ")
    );
    for k in 0..8 {
        y.push_str(&format!(
            "  - name: B{k}\n    function: {{duration_ms: 10, memory_mb: 16}}\n    next: {{to: [{{node: Z, size: {size}}}]}}\n"
        ));
    }
    y.push_str("  - name: Z\n    function: {duration_ms: 10, memory_mb: 16}\n");
    y
}

/// One run's figures, ms.
struct Figures {
    e2e_p50: f64,
    e2e_p99: f64,
    critical_p50: f64,
    overhead_p50: f64,
    overhead_p99: f64,
    instances: usize,
    failed: usize,
    steal_ms: f64,
}

fn percentile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    formats::nearest_rank(&v, q)
}

fn run_once(
    dir: &Path,
    file: &Path,
    (rate, seconds): (u32, u32),
    orchestration: &str,
    seed: usize,
) -> Figures {
    let out = dir.join(format!("run-{seed}"));
    let status = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "run",
            "-o",
            path(&out),
            "--force",
            "-q",
            "--workflow",
            path(file),
        ])
        .args(["--rps", &rate.to_string(), "-m", "false", "-w", "1"])
        .args([
            "-d",
            &seconds.to_string(),
            "--seed",
            &(seed + 1).to_string(),
        ])
        .args(["--cpu-share", "0", "--orchestration", orchestration])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run loadgen");
    assert!(status.success(), "the run failed");
    let rows = formats::workflows::read(&out.join(formats::workflows::WORKFLOWS)).expect("rows");
    let rows: Vec<_> = rows.into_iter().filter(|r| !r.warmup).collect();
    let ms = |pick: fn(&formats::workflows::InstanceRow) -> Option<u64>| -> Vec<f64> {
        rows.iter()
            .filter_map(pick)
            .map(|v| v as f64 / 1e3)
            .collect()
    };
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("summary json");
    let _ = std::fs::remove_dir_all(&out);
    Figures {
        e2e_p50: percentile(ms(|r| r.end_to_end_us), 0.5),
        e2e_p99: percentile(ms(|r| r.end_to_end_us), 0.99),
        critical_p50: percentile(ms(|r| r.critical_path_us), 0.5),
        overhead_p50: percentile(ms(|r| r.overhead_us()), 0.5),
        overhead_p99: percentile(ms(|r| r.overhead_us()), 0.99),
        instances: rows.len(),
        failed: rows.iter().filter(|r| r.failed > 0).count(),
        steal_ms: summary.steal_ms.values().sum::<f64>(),
    }
}

/// Per run of a workflow, edge size and orchestration: its overhead p50, ms.
type Overheads<'a> = Vec<((&'a str, &'a str, &'a str), Vec<f64>)>;

/// The runs' figures of `name` with `size` edges, orchestrated by `by`.
fn of(figures: &Overheads<'_>, name: &str, size: &str, by: &str) -> Vec<f64> {
    figures
        .iter()
        .find(|((n, s, o), _)| *n == name && *s == size && *o == by)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The median of `v`.
fn median(v: &[f64]) -> f64 {
    percentile(v.to_vec(), 0.5)
}

fn main() {
    let mut out = Output::new(
        "cargo bench -p loadgen --bench workflows",
        &output_path("workflows"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let runs = repeats();
    let seconds: u32 = std::env::var("WORKFLOW_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let shapes = [
        Shape {
            name: "chain10",
            hops: 9,
            megabytes: 9.0,
            yaml: chain,
        },
        Shape {
            name: "fan8",
            hops: 2,
            megabytes: 9.0,
            yaml: fan,
        },
    ];
    let loads = [("1KB", 50u32), ("1MB", 10u32)];
    out.line(&format!(
        "# client and chained orchestration, data inline (gRPC requests), local fleet of waiting emulated functions (--cpu-share 0); \
         10 ms per node; 1 s warm-up + {seconds} s measured; {runs} run(s) each; figures per instance after warm-up, ms"
    ));
    out.line(&format!(
        "{:>8} {:>4} {:>7} {:>6} | {:>15} | {:>13} | {:>15} | {:>13} | {:>9} | {:>8}",
        "workflow",
        "edge",
        "orch",
        "inst/s",
        "e2e p50/p99",
        "critical p50",
        "overhead p50/p99",
        "per hop p50",
        "instances",
        "steal ms"
    ));
    let orchestrations = ["client", "chained"];
    let mut overheads: Overheads<'_> = Vec::new();
    for shape in &shapes {
        for (size, rate) in loads {
            let file = dir.path().join(format!("{}-{size}.yaml", shape.name));
            std::fs::write(&file, (shape.yaml)(size)).expect("workflow file");
            for by in orchestrations {
                let mut overhead = Vec::new();
                for k in 0..runs {
                    let f = run_once(dir.path(), &file, (rate, seconds), by, k);
                    let hop = f.overhead_p50 / f64::from(shape.hops);
                    out.line(&format!(
                        "{:>8} {:>4} {:>7} {:>6} | {:>7.1} {:>7.1} | {:>13.1} | {:>7.2} {:>7.2} | {:>13.2} | {:>5} ({}) | {:>8.0}",
                        shape.name, size, by, rate, f.e2e_p50, f.e2e_p99, f.critical_p50, f.overhead_p50,
                        f.overhead_p99, hop, f.instances, f.failed, f.steal_ms
                    ));
                    overhead.push(f.overhead_p50);
                }
                overheads.push(((shape.name, size, by), overhead));
            }
        }
    }
    out.line("");
    out.line("# overhead p50 per hop along the critical path, ms, median [min–max] over the runs");
    for shape in &shapes {
        for (size, _) in loads {
            for by in orchestrations {
                let per_hop: Vec<f64> = of(&overheads, shape.name, size, by)
                    .iter()
                    .map(|o| o / f64::from(shape.hops))
                    .collect();
                out.line(&format!(
                    "{:>8} {size:>4} {by:>7}: {}",
                    shape.name,
                    spread(&per_hop, 2)
                ));
            }
        }
    }
    out.line("");
    out.line(
        "# data transfer per MB: (overhead p50 with 1 MB edges − with 1 KB edges) / MB received along the critical path, ms, median [min–max]",
    );
    // Per shape and orchestration: the runs' transfer per MB.
    let mut transfer: Vec<((&str, &str), Vec<f64>)> = Vec::new();
    for shape in &shapes {
        for by in orchestrations {
            let (mb, kb) = (
                of(&overheads, shape.name, "1MB", by),
                of(&overheads, shape.name, "1KB", by),
            );
            let per_mb: Vec<f64> = mb
                .iter()
                .zip(&kb)
                .map(|(m, k)| (m - k) / shape.megabytes)
                .collect();
            out.line(&format!(
                "{:>8} {by:>7} ({} MB on the path): {}",
                shape.name,
                shape.megabytes,
                spread(&per_mb, 2)
            ));
            transfer.push(((shape.name, by), per_mb));
        }
    }
    out.line("");
    out.line("# chained against client, 1 − chained / client of the medians (FaaSFlow: WorkerSP cuts scheduling overhead 74.6 % on average, data transfer up to 95 %)");
    for shape in &shapes {
        let cut =
            |client: &[f64], chained: &[f64]| 100.0 * (1.0 - median(chained) / median(client));
        let overhead = cut(
            &of(&overheads, shape.name, "1KB", "client"),
            &of(&overheads, shape.name, "1KB", "chained"),
        );
        let pick = |by: &str| {
            transfer
                .iter()
                .find(|((n, o), _)| *n == shape.name && *o == by)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let data = cut(&pick("client"), &pick("chained"));
        out.line(&format!(
            "{:>8}: scheduling overhead (1 KB edges) {overhead:+.1} %, data transfer per MB {data:+.1} % (negative: chained costs more)",
            shape.name
        ));
    }
    out.finish();
}
