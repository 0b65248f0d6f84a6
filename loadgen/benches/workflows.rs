//! Workflow benchmark, client and chained orchestration with data inline or through a store (a
//! redis-server the bench starts on loopback, `--store`): on the local fleet (an emulated function per
//! node, which only waits, `--cpu-share 0`, so the two cores measure orchestration, not computing), a
//! 10-node chain and a width-8 fan-out/fan-in (A → B0..B7 → Z) of 10 ms functions, with 1 KB edges at 50
//! instances/s and 1 MB edges at 10 instances/s, each run `BENCH_REPEATS` times (3) for
//! `WORKFLOW_SECONDS` (10) after a 1 s warm-up, with `--orchestration client` and `chained`, inline and
//! through the store.
//!
//! From each run's `workflows.csv` (instances after warm-up): end to end p50/p99 (from the instance's due
//! time to its last call's end), the critical path of the functions' computing, the data transfers the
//! functions timed on it (inline inputs as they arrived, store reads and writes), and the overhead per hop along the critical path (chain: 9 hops; fan: 2). The overhead
//! here is end to end − computing: orchestration and moving the data, whichever way it moves, so inline
//! and store compare. Data transfer per MB is the overhead that 1 MB edges add over 1 KB ones, divided by
//! the megabytes the critical path's calls receive with 1 MB edges (chain: 9 × 1 MB; fan: 1 MB into a
//! branch, then 8 MB into the join). Last, how
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
    transfer_p50: f64,
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
    (orchestration, store): (&str, Option<&str>),
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
        // Its figures were measured on one instance per node: the simple platform, no cold starts.
        .args(["--local-platform", "simple"])
        .args(store.map(|url| ["--store", url]).into_iter().flatten())
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
        transfer_p50: percentile(ms(|r| r.transfer_us), 0.5),
        overhead_p50: percentile(ms(orchestration_and_data), 0.5),
        overhead_p99: percentile(ms(orchestration_and_data), 0.99),
        instances: rows.len(),
        failed: rows.iter().filter(|r| r.failed > 0).count(),
        steal_ms: summary.steal_ms.values().sum::<f64>(),
    }
}

/// An instance's end to end less its functions' computing: what orchestration and moving the data took
/// (inline, the transfer is in the overhead; through the store, it is counted apart, and added back).
fn orchestration_and_data(r: &formats::workflows::InstanceRow) -> Option<u64> {
    Some(r.overhead_us()? + r.transfer_us.unwrap_or(0))
}

/// Per run of a workflow, edge size and orchestration (with the way the data went): its overhead p50, ms.
type Overheads<'a> = Vec<((&'a str, &'a str, String), Vec<f64>)>;

/// Per workflow and orchestration (with the way the data went): its runs' data transfer per MB, ms.
type Transfers<'a> = Vec<((&'a str, &'a str), Vec<f64>)>;

/// The runs' figures of `name` with `size` edges, orchestrated by `by`.
fn of(figures: &Overheads<'_>, name: &str, size: &str, by: &str) -> Vec<f64> {
    figures
        .iter()
        .find(|((n, s, o), _)| *n == name && *s == size && o == by)
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
    let redis = testkit::redis::Redis::start();
    let url = redis.url();
    out.line(&format!(
        "# client and chained orchestration, data inline (gRPC requests) or through a redis-server on loopback (store), local fleet of waiting emulated functions, one per node (--cpu-share 0); \
         10 ms per node; 1 s warm-up + {seconds} s measured; {runs} run(s) each; figures per instance after warm-up, ms; \
         overhead = end to end − the critical path's computing (orchestration and data, either way)"
    ));
    out.line(&format!(
        "{:>8} {:>4} {:>13} {:>6} | {:>15} | {:>13} | {:>12} | {:>15} | {:>13} | {:>9} | {:>8}",
        "workflow",
        "edge",
        "orch",
        "inst/s",
        "e2e p50/p99",
        "computing p50",
        "transfer p50",
        "overhead p50/p99",
        "per hop p50",
        "instances",
        "steal ms"
    ));
    let orchestrations = ["client", "chained", "client+store", "chained+store"];
    let mut overheads: Overheads<'_> = Vec::new();
    for shape in &shapes {
        for (size, rate) in loads {
            let file = dir.path().join(format!("{}-{size}.yaml", shape.name));
            std::fs::write(&file, (shape.yaml)(size)).expect("workflow file");
            for by in orchestrations {
                let (orchestration, store) = match by.split_once('+') {
                    Some((o, _)) => (o, Some(url.as_str())),
                    None => (by, None),
                };
                let mut overhead = Vec::new();
                for k in 0..runs {
                    let f = run_once(
                        dir.path(),
                        &file,
                        (rate, seconds),
                        (orchestration, store),
                        k,
                    );
                    let hop = f.overhead_p50 / f64::from(shape.hops);
                    // No function timed a transfer: none to show.
                    let transfer_p50 = if f.transfer_p50.is_nan() {
                        "none".to_owned()
                    } else {
                        format!("{:.1}", f.transfer_p50)
                    };
                    out.line(&format!(
                        "{:>8} {:>4} {:>13} {:>6} | {:>7.1} {:>7.1} | {:>13.1} | {:>12} | {:>7.2} {:>7.2} | {:>13.2} | {:>5} ({}) | {:>8.0}",
                        shape.name, size, by, rate, f.e2e_p50, f.e2e_p99, f.critical_p50, transfer_p50,
                        f.overhead_p50, f.overhead_p99, hop, f.instances, f.failed, f.steal_ms
                    ));
                    overhead.push(f.overhead_p50);
                }
                overheads.push(((shape.name, size, by.to_owned()), overhead));
            }
        }
    }
    assert_eq!(
        redis.keys(),
        0,
        "every input read from the store was deleted"
    );
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
                    "{:>8} {size:>4} {by:>13}: {}",
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
    let mut transfer: Transfers<'_> = Vec::new();
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
                "{:>8} {by:>13} ({} MB on the path): {}",
                shape.name,
                shape.megabytes,
                spread(&per_mb, 2)
            ));
            transfer.push(((shape.name, by), per_mb));
        }
    }
    out.line("");
    out.line("# chained against client, 1 − chained / client of the medians (FaaSFlow: WorkerSP cuts scheduling overhead 74.6 % on average, data transfer up to 95 %)");
    compare(
        &mut out,
        &shapes,
        (&overheads, &transfer),
        ("client", "chained"),
    );
    compare(
        &mut out,
        &shapes,
        (&overheads, &transfer),
        ("client+store", "chained+store"),
    );
    out.line("# inline against the store, 1 − inline / store of the medians (FaaSFlow: in-memory hand-over cuts data transfer up to 95 % against its remote store)");
    compare(
        &mut out,
        &shapes,
        (&overheads, &transfer),
        ("client+store", "client"),
    );
    compare(
        &mut out,
        &shapes,
        (&overheads, &transfer),
        ("chained+store", "chained"),
    );
    out.finish();
}

/// How much `other` cuts `base`'s scheduling overhead (1 KB edges) and data transfer per MB, per shape.
fn compare(
    out: &mut Output,
    shapes: &[Shape],
    (overheads, transfer): (&Overheads<'_>, &Transfers<'_>),
    (base, other): (&str, &str),
) {
    for shape in shapes {
        let cut = |base: &[f64], other: &[f64]| 100.0 * (1.0 - median(other) / median(base));
        let overhead = cut(
            &of(overheads, shape.name, "1KB", base),
            &of(overheads, shape.name, "1KB", other),
        );
        let pick = |by: &str| {
            transfer
                .iter()
                .find(|((n, o), _)| *n == shape.name && *o == by)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let data = cut(&pick(base), &pick(other));
        out.line(&format!(
            "{:>8} {other} against {base}: scheduling overhead (1 KB edges) {overhead:+.1} %, data transfer per MB {data:+.1} % (negative: {other} costs more)",
            shape.name
        ));
    }
}
