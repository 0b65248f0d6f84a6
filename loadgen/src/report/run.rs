//! A run's `report.md`: what ran, how faithfully (scheduled, sent and answered per period), with what lag
//! and latency, the figures and the files, for a person to read.
//!
//! The file is long because its test builds one whole summary and checks every section of the report
//! against it.

use std::fmt::Write as _;
use std::path::Path;
use std::time::SystemTime;

use formats::summary::{Summary, TimeStats};

use crate::pipeline::Generated;
use crate::plan::{RunPlan, Source};
use deploy::Deployer;
use formats::files::RunFiles;

/// Endpoints the report lists by latency.
const REPORTED_ENDPOINTS: usize = 10;

/// What the report is made of.
pub struct RunReport<'a> {
    /// The run's plan: its flags, seed, source of calls and deployer.
    pub plan: &'a RunPlan,
    /// Where the trace is.
    pub trace_dir: &'a Path,
    /// What the local fleet's scale means, when local.
    pub scale_note: Option<&'a str>,
    /// What writing the load did.
    pub generated: &'a Generated,
    /// The replay's summary.
    pub summary: &'a Summary,
    /// The run's files.
    pub files: &'a RunFiles,
    /// When the run began.
    pub started_at: SystemTime,
    /// The figures section, as markdown.
    pub figures: &'a str,
    /// The run's id: the `serverless-loadgen/run` label on what it made in a cluster.
    pub run_id: &'a str,
    /// What each collector gathered, or why it failed.
    pub collected: &'a [crate::collect::Collected],
    /// What the platform measured beside `loadgen predict`'s figures for the load, where it measured.
    pub prediction: Option<&'a crate::commands::predict::Beside>,
    /// What the run's interference and faults did, and the run around them.
    pub disturbed: Option<&'a (disturbance::Log, crate::disturb::Around)>,
}

/// Microseconds as a table shows them: two decimals for small values, none from 1,000 on.
fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}

/// The run's `report.md`: what ran, its fidelity, its timing, what the platform did, the figures and
/// the files.
pub fn markdown(r: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# loadgen run\n");
    let _ = writeln!(
        out,
        "Started {} (UTC). Command: `{}`.\n",
        humantime::format_rfc3339_seconds(r.started_at),
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    what_ran(&mut out, r);
    fidelity(&mut out, r);
    timing(&mut out, r.summary);
    cold_starts(&mut out, r.summary);
    platform(&mut out, r);
    super::predicted::section(&mut out, r.prediction);
    super::disturbed::section(&mut out, r.disturbed);
    workflows(&mut out, r);
    let _ = writeln!(out, "\n## Figures\n");
    out.push_str(r.figures);
    files(&mut out, r);
    out
}

/// `## What ran`: the trace, window, mapping, deployment, load, dispatcher, run id and what stopped it.
fn what_ran(out: &mut String, r: &RunReport) {
    let g = r.generated;
    let s = r.summary;
    let load = &r.plan.load.settings;
    let unit = g.unit;
    let _ = writeln!(out, "## What ran\n");
    let trace = match r.plan.source {
        Source::Synthetic { functions } => format!(
            "synthetic, {functions} functions with the Azure 2019 dataset's shape (seed {}), in `{}`",
            r.plan.load.seed,
            r.trace_dir.display()
        ),
        _ => format!("`{}`", g.source),
    };
    let (first, periods) = g.window;
    let _ = writeln!(out, "- Trace: {trace}.");
    let _ = writeln!(
        out,
        "- Window: {unit}s {first}..={} ({} warm-up, left out of statistics, + {} measured).",
        first as usize + periods - 1,
        g.warmup,
        periods - g.warmup
    );
    let m = &g.mapping;
    let _ = writeln!(
        out,
        "- Mapping: {} functions onto {} distinct proxies ({}). Relative error at p{}: memory mean {:.3}, p95 {:.3}; duration mean {:.3}, p95 {:.3}.",
        m.functions, m.distinct_proxies, g.mapping_note, load.percentile, m.memory.mean, m.memory.p95, m.duration.mean, m.duration.p95
    );
    let deployer = match r.plan.deployer {
        Deployer::Local => "local",
        Deployer::Knative => "knative",
        Deployer::None => "none",
        Deployer::Given => "given endpoints",
    };
    let _ = writeln!(
        out,
        "- Deployment: {}.",
        g.deployment_note.as_deref().unwrap_or(deployer)
    );
    if let Some(note) = r.scale_note {
        let _ = writeln!(out, "- {note}");
    }
    let _ = writeln!(
        out,
        "- Load: {} invocations, `{}` spread, seed {} (`--seed {}` reproduces it).",
        g.stats.total(),
        format!("{:?}", load.iat_distribution).to_lowercase(),
        g.seed,
        g.seed
    );
    let _ = writeln!(out, "- Dispatcher: {}.", s.dispatcher);
    let _ = writeln!(
        out,
        "- Run id: `{}`: the `serverless-loadgen/run` label on whatever this run made in a cluster \
         (`loadgen clean --run {}` deletes it, should anything be left).",
        r.run_id, r.run_id
    );
    if let Some(steal) = s.steal_text() {
        let _ = writeln!(
            out,
            "- Hypervisor steal during the replay: {steal} (a virtual CPU taken away stalls everything \
             on it: lag of that size is the VM's)."
        );
    }
    if s.interrupted {
        let _ = writeln!(
            out,
            "- **Interrupted** (Ctrl-C): calls not yet due are recorded as `not_sent:interrupted`; rates \
             are over the time the run really ran."
        );
    }
    for (k, session) in s.resumed.iter().enumerate() {
        let _ = writeln!(
            out,
            "- **Resumed** (session {}, `--resume`): the run was cut and continued from period {} ({:.3} s              into the load) at {}, {}; {} calls sent in it. Each worker's calls before its first one              here were recorded before the cut; the platform idled through the gap, so the calls just              after it meet the platform the gap left (cold starts, scaled down). The calls in flight              at the cut had no record and were sent again.",
            k + 2,
            session.from_period,
            session.from_us as f64 / 1e6,
            humantime::format_rfc3339_millis(
                std::time::UNIX_EPOCH + std::time::Duration::from_micros(session.start_unix_us)
            ),
            session.gap_s.map_or_else(
                || "after a gap of unknown length".to_owned(),
                |g| format!("{g:.1} s after the load stood at that point")
            ),
            session.calls
        );
    }
    if s.incomplete {
        let _ = writeln!(
            out,
            "- **Incomplete**: a second Ctrl-C stopped waiting for the calls in flight; they are recorded \
             as `cancelled`, with no latency."
        );
    }
}

/// `## Fidelity`: one record per scheduled call, the rates, and the calls of each period.
fn fidelity(out: &mut String, r: &RunReport) {
    let g = r.generated;
    let s = r.summary;
    let unit = g.unit;
    let (first, _) = g.window;
    let _ = writeln!(out, "\n## Fidelity\n");
    let _ = writeln!(
        out,
        "Every scheduled call has one record: {} records for {} scheduled. Measured window: {} scheduled, {} sent, {} answered. Rate: {:.1}/s achieved (calls sent over the {:.2} s from the window's start to its end, or to the last send if later) of {:.1}/s scheduled.\n",
        s.records, s.scheduled_total, s.scheduled, s.sent, s.ok, s.achieved_rate, s.achieved_seconds, s.scheduled_rate
    );
    // Cold starts are a column when the functions report them (the emulated function does).
    let reported = !s.instances_by_endpoint.is_empty();
    let (cold_head, cold_rule) = if reported {
        (" cold starts |", "---:|")
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "| {unit} | scheduled | sent | answered | answered % | latency p50 / p99, ms | send lag p99, µs |{cold_head}"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|{cold_rule}");
    let ms = |us: Option<u64>| us.map_or("–".to_owned(), |v| format!("{:.2}", v as f64 / 1e3));
    for (i, t) in s.per_period.iter().enumerate() {
        let label = first as usize + i;
        let warm = if i < g.warmup { " (warm-up)" } else { "" };
        let cold = if reported {
            format!(" {} |", t.cold)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {label}{warm} | {} | {} | {} | {:.1} | {} / {} | {} |{cold}",
            t.scheduled,
            t.sent,
            t.ok,
            if t.scheduled > 0 {
                100.0 * t.ok as f64 / t.scheduled as f64
            } else {
                100.0
            },
            ms(t.latency_p50_us),
            ms(t.latency_p99_us),
            t.send_lag_p99_ns
                .map_or("–".to_owned(), |ns| format!("{:.1}", ns as f64 / 1e3)),
        );
    }
    let outcomes: Vec<String> = s
        .outcomes
        .iter()
        .map(|(k, v)| format!("`{k}` {v}"))
        .collect();
    let _ = writeln!(out, "\nOutcomes after warm-up: {}.", outcomes.join(", "));
    out.push_str(&super::workers::markdown(s));
}

/// `## Timing`: lag and latency percentiles, overall and for the busiest endpoints.
fn timing(out: &mut String, s: &Summary) {
    let _ = writeln!(out, "\n## Timing (µs, after warm-up)\n");
    let _ = writeln!(out, "| | n | p50 | p90 | p99 | p99.9 | max |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let row = |out: &mut String, name: &str, p: &TimeStats| {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            p.count,
            us(p.p50),
            us(p.p90),
            us(p.p99),
            us(p.p999),
            us(p.max)
        );
    };
    row(out, "send lag (sent − due)", &s.send_lag_us);
    row(out, "dispatch lag", &s.dispatch_lag_us);
    row(out, "latency (answer − sent)", &s.latency_us);
    row(out, "latency from due", &s.latency_from_scheduled_us);
    if s.overhead_us.count > 0 {
        row(
            out,
            "overhead (latency − the function's own time)",
            &s.overhead_us,
        );
    }
    let busiest = s.busiest_endpoints(REPORTED_ENDPOINTS);
    if !busiest.is_empty() {
        let _ = writeln!(out, "\nLatency of the busiest endpoints (answer − sent):\n");
        let _ = writeln!(out, "| endpoint | n | p50 | p90 | p99 | p99.9 | max |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        for (e, p) in busiest {
            let name = match s.endpoint_name(e) {
                name if name == e => format!("`{e}`"),
                name => format!("`{name}` ({e})"),
            };
            row(out, &name, p);
        }
    }
}

/// The cold starts and instances the functions reported, when they report them.
fn cold_starts(out: &mut String, s: &Summary) {
    if s.instances_by_endpoint.is_empty() {
        return;
    }
    let listed = formats::summary::busiest(
        s.instances_by_endpoint
            .iter()
            .map(|(e, n)| (e.as_str(), *n)),
        |n: &u64| *n,
        REPORTED_ENDPOINTS,
    );
    let instances: Vec<String> = listed
        .iter()
        .map(|(e, n)| format!("`{}` {n}", s.endpoint_name(e)))
        .collect();
    let _ = writeln!(
            out,
            "\nThe functions reported {} cold starts after warm-up, and {} instances over {} endpoints (a \
             new instance after each scale-to-zero); the most: {}{}.",
            s.cold_starts,
            s.instances_by_endpoint.values().sum::<u64>(),
            s.instances_by_endpoint.len(),
            instances.join(", "),
            if s.instances_by_endpoint.len() > listed.len() {
                " (all in summary.json)"
            } else {
                ""
            }
        );
}

/// `## What the platform did`: each collector, its rows and file.
fn platform(out: &mut String, r: &RunReport) {
    if !r.collected.is_empty() {
        let _ = writeln!(out, "\n## What the platform did\n");
        let _ = writeln!(
            out,
            "| collector | what | rows | file | state |\n|---|---|---:|---|---|"
        );
        for c in r.collected {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                c.name,
                c.what.replace('|', "\\|"),
                c.rows,
                c.file
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |f| format!("`collect/{}`", file_name(f))),
                match &c.error {
                    None => "ok".to_owned(),
                    Some(e) => format!("**failed**: {}", e.replace('|', "\\|")),
                }
            );
        }
    }
}

/// `## Files`: each file of the run, linked, with what it holds.
/// `## Workflows`: the instances of a workflow load, from `workflows.csv`.
fn workflows(out: &mut String, r: &RunReport) {
    let path = &r.files.workflows;
    if !path.exists() {
        return;
    }
    let rows = match formats::workflows::read(path) {
        Ok(rows) => rows,
        Err(e) => {
            let _ = writeln!(out, "\n## Workflows\n\n{e}");
            return;
        }
    };
    let warmup = rows.iter().filter(|r| r.warmup).count();
    let rows: Vec<_> = rows.into_iter().filter(|r| !r.warmup).collect();
    let ms = |pick: &dyn Fn(&formats::workflows::InstanceRow) -> Option<u64>| {
        let mut v: Vec<f64> = rows
            .iter()
            .filter_map(pick)
            .map(|x| x as f64 / 1e3)
            .collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return "–".to_owned();
        }
        format!(
            "{:.1} / {:.1}",
            formats::nearest_rank(&v, 0.5),
            formats::nearest_rank(&v, 0.99)
        )
    };
    let failed = rows.iter().filter(|r| r.failed > 0).count();
    let _ = writeln!(
        out,
        "\n## Workflows\n\n{} instances after warm-up ({warmup} in it), {failed} with a call that did not succeed; per instance, ms (p50 / p99):\n\n\
         | end to end (from its due time) | critical path (functions' own times) | overhead (the rest) |\n|---|---|---|\n| {} | {} | {} |",
        rows.len(),
        ms(&|r| r.end_to_end_us),
        ms(&|r| r.critical_path_us),
        ms(&|r| r.overhead_us()),
    );
}

fn files(out: &mut String, r: &RunReport) {
    let s = r.summary;
    let _ = writeln!(out, "\n## Files\n");
    let f = r.files;
    for (path, what) in [
        (&f.load, "the load (vSwarm format)"),
        (
            &f.mapping,
            "each trace function's proxy and the mapping error",
        ),
        (&f.endpoints, "proxy → endpoint"),
        (
            &f.records,
            "one line per scheduled call: due time, lags, latency, outcome",
        ),
        (
            &f.latencies,
            "vSwarm's latency file (µs, answered calls after warm-up)",
        ),
        (&f.summary, "these statistics as JSON"),
    ]
    .into_iter()
    .chain(f.workflows.exists().then_some((
        &f.workflows,
        "one line per workflow instance: end to end, critical path, overhead",
    )))
    .collect::<Vec<_>>()
    .into_iter()
    .chain(f.shards.iter().map(|p| (p, "a worker's share of the load")))
    .chain((!s.workers.is_empty()).then_some((
        &f.workers,
        "each worker's summary.json (and local workers' output)",
    )))
    .chain(
        f.job
            .exists()
            .then_some((&f.job, "the workers' Kubernetes Job")),
    ) {
        let _ = writeln!(
            out,
            "- [`{}`]({}): {what}",
            file_name(path),
            file_name(path)
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::time::Duration;

    use formats::summary::PeriodTally;
    use mapping::{ErrorStats, MappingSummary};
    use trace::{MemoryLevel, ReadReport};

    use super::*;
    use crate::generate::GenerateStats;

    fn stats(count: u64, p50: f64) -> TimeStats {
        TimeStats {
            count,
            mean: p50,
            p50,
            p90: p50 * 2.0,
            p99: p50 * 3.0,
            p999: p50 * 4.0,
            max: p50 * 5.0,
        }
    }

    #[test]
    fn the_report_says_what_ran_and_how_faithfully() {
        let args = match crate::cli::parse_command_line(
            [
                "loadgen", "run", "-m", "false", "-w", "1", "-d", "2", "-n", "3", "--seed", "7",
            ]
            .map(Into::into),
        )
        .unwrap()
        .command
        {
            crate::cli::Command::Run(r) => r,
            _ => unreachable!(),
        };
        let plan = RunPlan::check(&args).unwrap();
        let generated = Generated {
            source: "trace".to_owned(),
            read: ReadReport {
                functions_read: 3,
                left_out: Vec::new(),
                memory_level: MemoryLevel::Function,
                duplicate_rows: 0,
            },
            unit: "second",
            window: (1, 3),
            warmup: 1,
            idle: 0,
            keep_idle: false,
            mapping: MappingSummary {
                functions: 3,
                distinct_proxies: 2,
                memory: ErrorStats::default(),
                duration: ErrorStats::default(),
            },
            mapping_note: "nearest".into(),
            mapping_path: PathBuf::from("mapping.json"),
            deployment_note: Some("local: 2 servers".into()),
            stats: GenerateStats {
                whole: None,
                files: vec![PathBuf::from("load.json")],
                per_period: vec![10, 20, 30],
                per_file: vec![60],
                bytes: 1000,
                elapsed: Duration::from_millis(1),
            },
            seed: 7,
            ingest: Duration::ZERO,
            map: Duration::ZERO,
        };
        let mut by_endpoint = BTreeMap::new();
        by_endpoint.insert("127.0.0.1:2".to_owned(), stats(30, 90.0));
        by_endpoint.insert("127.0.0.1:1".to_owned(), stats(10, 80.0));
        let summary = Summary {
            records_schema: 1,
            scheduled_total: 60,
            records: 60,
            scheduled: 50,
            sent: 45,
            ok: 40,
            outcomes: [
                ("ok".to_owned(), 40),
                ("not_sent:interrupted".to_owned(), 5),
                ("timeout".to_owned(), 5),
            ]
            .into_iter()
            .collect(),
            measured_seconds: 2.0,
            scheduled_rate: 25.0,
            achieved_rate: 22.5,
            achieved_seconds: 2.0,
            dispatch_lag_us: stats(45, 0.1),
            send_lag_us: stats(45, 0.5),
            latency_us: stats(40, 85.0),
            latency_from_scheduled_us: stats(40, 86.0),
            latency_by_endpoint_us: by_endpoint,
            per_period: vec![
                PeriodTally {
                    scheduled: 10,
                    sent: 10,
                    ok: 10,
                    cold: 2,
                    latency_p50_us: Some(1_250),
                    latency_p99_us: Some(9_900),
                    send_lag_p99_ns: Some(61_000),
                },
                PeriodTally {
                    scheduled: 20,
                    sent: 20,
                    ok: 20,
                    cold: 0,
                    ..PeriodTally::default()
                },
                PeriodTally {
                    scheduled: 30,
                    sent: 25,
                    ok: 20,
                    cold: 1,
                    ..PeriodTally::default()
                },
            ],
            overhead_us: stats(40, 3.5),
            cold_starts: 1,
            instances_by_endpoint: [("127.0.0.1:1".to_owned(), 2), ("127.0.0.1:2".to_owned(), 1)]
                .into_iter()
                .collect(),
            endpoint_names: [("127.0.0.1:1", "emu-a"), ("127.0.0.1:2", "emu-b")]
                .into_iter()
                .map(|(e, n)| (e.to_owned(), n.to_owned()))
                .collect(),
            steal_ms: [(0, 10.0), (1, 30.0)].into_iter().collect(),
            dispatcher: "SCHED_OTHER, pinned to CPU 1".into(),
            interrupted: true,
            ..Summary::default()
        };
        let files = RunFiles::in_dir(Path::new("out"));
        let md = markdown(&RunReport {
            plan: &plan,
            trace_dir: Path::new("out/trace"),
            scale_note: Some("At scale 1 …"),
            generated: &generated,
            summary: &summary,
            files: &files,
            started_at: SystemTime::UNIX_EPOCH,
            figures: "FIGURES\n",
            run_id: "20261125-101500-ab12",
            collected: &[crate::collect::Collected {
                name: "prometheus-cpu".into(),
                what: "Prometheus `up`".into(),
                file: None,
                rows: 0,
                error: Some("connection refused".into()),
            }],
            prediction: None,
            disturbed: None,
        });
        for expected in [
            "Window: seconds 1..=3 (1 warm-up, left out of statistics, + 2 measured)",
            "60 records for 60 scheduled",
            "| prometheus-cpu | Prometheus `up` | 0 | - | **failed**: connection refused |",
            "50 scheduled, 45 sent, 40 answered",
            "22.5/s achieved",
            "25.0/s scheduled",
            "| 1 (warm-up) | 10 | 10 | 10 | 100.0 | 1.25 / 9.90 | 61.0 | 2 |",
            "| 3 | 30 | 25 | 20 | 66.7 | – / – | – | 1 |",
            "| overhead (latency − the function's own time) | 40 | 3.50 |",
            "1 cold starts after warm-up",
            "3 instances over 2 endpoints",
            "the most: `emu-a` 2, `emu-b` 1.",
            "`not_sent:interrupted` 5",
            "**Interrupted**",
            "CPU0 10 ms, CPU1 30 ms",
            "| send lag (sent − due) | 45 | 0.50 | 1.00 | 1.50 | 2.00 | 2.50 |",
            "FIGURES",
            "[`records.csv`](records.csv)",
            "`loadgen clean --run 20261125-101500-ab12`",
        ] {
            assert!(md.contains(expected), "missing `{expected}` in:\n{md}");
        }
        // Busiest endpoint first, named by its proxy.
        let b = md
            .find("`emu-b` (127.0.0.1:2)")
            .expect("busiest endpoint listed");
        let a = md
            .find("`emu-a` (127.0.0.1:1)")
            .expect("second endpoint listed");
        assert!(b < a);
    }
}
