//! `loadgen run`: the whole job in one directory — trace (synthetic unless given), mapping, deployment,
//! load, replay with the invoker, and a report a person can read.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use invoker::dispatch::{replay, ReplayOptions};
use invoker::schedule::Schedule;
use invoker::stats::{Percentiles, Summary};
use trace::Layout;

use crate::cli::{RunArgs, Scale};
use crate::commands::{
    deploy_proxies, local_fleet, prepare, seconds, stop_flag, write_load, GenerateReport,
};
use crate::deploy::{DeployedProxy, Deployer};
use crate::synth::{synthesize, SynthOptions};

/// The files a run leaves in its directory.
#[derive(Debug, Clone)]
pub struct RunFiles {
    /// The output directory.
    pub dir: PathBuf,
    /// load.json.
    pub load: PathBuf,
    /// mapping.json.
    pub mapping: PathBuf,
    /// endpoints.json.
    pub endpoints: PathBuf,
    /// records.csv (one line per scheduled call).
    pub records: PathBuf,
    /// lat.csv (vSwarm's latency file).
    pub latencies: PathBuf,
    /// summary.json.
    pub summary: PathBuf,
    /// report.md.
    pub report: PathBuf,
    /// plots/: the figures.
    pub plots: PathBuf,
}

impl RunFiles {
    /// The files of a run in `dir`.
    pub fn in_dir(dir: &Path) -> RunFiles {
        RunFiles {
            dir: dir.to_owned(),
            load: dir.join("load.json"),
            mapping: dir.join("mapping.json"),
            endpoints: dir.join("endpoints.json"),
            records: dir.join("records.csv"),
            latencies: dir.join("lat.csv"),
            summary: dir.join("summary.json"),
            report: dir.join("report.md"),
            plots: dir.join("plots"),
        }
    }
}

/// What a run did.
#[derive(Debug)]
pub struct RunOutcome {
    /// Its files.
    pub files: RunFiles,
    /// The generation summary.
    pub generated: GenerateReport,
    /// The replay summary.
    pub summary: Summary,
}

/// Runs the whole pipeline; prints progress lines and the report's path.
pub fn run(args: &RunArgs) -> Result<RunOutcome> {
    let mut load = args.load.clone();
    let kind = load.deploy.deployer.unwrap_or(Deployer::Local);
    if kind == Deployer::None {
        bail!("loadgen run replays the load, so it needs proxies to call: --deployer local or knative");
    }
    if kind == Deployer::Knative && load.deploy.dry_run {
        bail!("--dry-run deploys nothing, so there is nothing to replay: use `loadgen deploy --deployer knative --dry-run`");
    }
    // Flags are checked before anything is deployed or written.
    let grpc_timeout = seconds(args.replay.grpc_timeout, "--grpc-timeout")?;
    let seed = *load.seed.get_or_insert_with(rand::random);
    let files = RunFiles::in_dir(&args.output_dir);
    std::fs::create_dir_all(&files.dir)
        .with_context(|| format!("creating {}", files.dir.display()))?;
    let stop = stop_flag()?;

    // 1. The trace.
    let granularity = load.trace.granularity();
    let (trace_dir, synthetic) = match &load.trace.trace {
        Some(dir) => (dir.clone(), None),
        None => {
            if args.functions == 0 {
                bail!("--functions must be at least 1");
            }
            let dir = files.dir.join("trace");
            let periods = load.warmup_duration + load.duration;
            let stats = synthesize(
                &dir,
                &SynthOptions {
                    functions: args.functions,
                    periods,
                    granularity,
                    seed,
                    layout: Layout::Sampled,
                },
            )
            .with_context(|| format!("writing a synthetic trace to {}", dir.display()))?;
            println!(
                "synth      {} functions, {} {}s, {} invocations -> {}",
                stats.functions,
                periods,
                granularity.unit(),
                stats.invocations,
                dir.display()
            );
            (dir, Some(stats.functions))
        }
    };

    // 2. Map.
    let prepared = prepare(&load, &trace_dir, &files.mapping)?;
    if prepared.trace.functions.is_empty() {
        bail!(
            "no function of {} has a call in the window: nothing to run",
            trace_dir.display()
        );
    }

    // 3. Deploy: a local fleet is sized and placed so the dispatcher keeps a CPU to itself.
    let cpus = invoker::cpu::online_cpus();
    let dispatcher_cpu = match (args.replay.dispatcher_cpu, args.replay.no_pin) {
        (_, true) => None,
        (Some(cpu), false) => Some(cpu),
        (None, false) if kind == Deployer::Local && cpus >= 2 => Some(cpus - 1),
        (None, false) => None,
    };
    let mut scale_note = None;
    let local = (kind == Deployer::Local).then(|| {
        let (options, note) = local_fleet(&load, &prepared, dispatcher_cpu, Scale::Auto);
        scale_note = Some(note);
        options
    });
    let mut deployment = deploy_proxies(&prepared, &load, kind, local)?;

    // 4. The load.
    let generated = write_load(
        &prepared,
        &load,
        &deployment,
        &files.load,
        Some(&files.endpoints),
    )?;
    print!("{generated}");

    // 5. Replay.
    let schedule = Schedule::from_file(
        &files.load,
        granularity.period_us(),
        load.warmup_duration as u32,
        load.duration as u32,
    )
    .context("reading the load back")?;
    println!(
        "replay     {} calls to {} endpoints over {} {}s{}",
        schedule.calls.len(),
        schedule.endpoints.len(),
        schedule.periods,
        granularity.unit(),
        dispatcher_cpu
            .map(|c| format!(", dispatcher on CPU {c}"))
            .unwrap_or_default()
    );
    let started_at = SystemTime::now();
    let summary = replay(
        schedule,
        ReplayOptions {
            default_port: 80,
            grpc_timeout,
            connect_timeout: grpc_timeout.min(Duration::from_secs(5)),
            connections: args.replay.connections as usize,
            max_in_flight: args.replay.max_in_flight,
            start_at: None,
            allow_unreachable: false,
            realtime: args.replay.realtime,
            dispatcher_cpu,
            records: Some(files.records.clone()),
            latency_file: Some(files.latencies.clone()),
            stop,
        },
    )
    .context("replaying the load")?;
    if let Some(mut servers) = deployment.servers.take() {
        servers.stop();
    }
    print!("{summary}");
    let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
    std::fs::write(&files.summary, json)
        .with_context(|| format!("writing {}", files.summary.display()))?;

    // 6. Figures: a run is worth keeping even if one cannot be drawn, so a failure is reported, not fatal.
    let figures = {
        let drawn = crate::plot::draw(
            &files.plots,
            &crate::plot::Inputs {
                catalogue: &prepared.catalogue,
                percentile: load.percentile,
                trace: Some(&prepared.trace),
                mapping: Some(&prepared.mapped.file),
                load_per_period: Some(&generated.stats.per_period),
                records: Some(&files.records),
            },
        );
        match drawn {
            Ok(drawn) => {
                println!(
                    "figures    {} in {}",
                    drawn.figures.len(),
                    files.plots.display()
                );
                crate::plot::markdown(&files.dir, &drawn)
            }
            Err(e) => {
                log::warn!("figures not drawn: {e:#}");
                format!("Figures could not be drawn: {e:#}\n")
            }
        }
    };

    // 7. Report.
    let report = report_markdown(&ReportInput {
        args,
        seed,
        synthetic,
        trace_dir: &trace_dir,
        deployer: kind,
        scale_note: scale_note.as_deref(),
        generated: &generated,
        summary: &summary,
        files: &files,
        deployed: &deployment.deployed,
        started_at,
        figures: &figures,
    });
    std::fs::write(&files.report, report)
        .with_context(|| format!("writing {}", files.report.display()))?;
    println!("report     {}", files.report.display());
    Ok(RunOutcome {
        files,
        generated,
        summary,
    })
}

/// What the report is made of.
struct ReportInput<'a> {
    args: &'a RunArgs,
    seed: u64,
    synthetic: Option<usize>,
    trace_dir: &'a Path,
    deployer: Deployer,
    scale_note: Option<&'a str>,
    generated: &'a GenerateReport,
    summary: &'a Summary,
    files: &'a RunFiles,
    deployed: &'a [DeployedProxy],
    started_at: SystemTime,
    figures: &'a str,
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

fn report_markdown(r: &ReportInput) -> String {
    let g = r.generated;
    let s = r.summary;
    let load = &r.args.load;
    let unit = g.unit;
    let mut out = String::new();
    let _ = writeln!(out, "# loadgen run\n");
    let _ = writeln!(
        out,
        "Started {} (UTC). Command: `{}`.\n",
        humantime::format_rfc3339_seconds(r.started_at),
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    let _ = writeln!(out, "## What ran\n");
    let trace = match r.synthetic {
        Some(n) => format!(
            "synthetic, {n} functions with the Azure 2019 dataset's shape (seed {}), in `{}`",
            r.seed,
            r.trace_dir.display()
        ),
        None => format!("`{}`", r.trace_dir.display()),
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
    let deployer = match r.deployer {
        Deployer::Local => "local",
        Deployer::Knative => "knative",
        Deployer::None => "none",
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
            "- **Interrupted** (Ctrl-C): calls not yet due are recorded as `not_sent:interrupted`."
        );
    }

    let _ = writeln!(out, "\n## Fidelity\n");
    let _ = writeln!(
        out,
        "Every scheduled call has one record: {} records for {} scheduled. Measured window: {} scheduled, {} sent, {} answered ({:.1}/s achieved of {:.1}/s scheduled).\n",
        s.records, s.scheduled_total, s.scheduled, s.sent, s.ok, s.achieved_rate, s.scheduled_rate
    );
    let _ = writeln!(out, "| {unit} | scheduled | sent | answered | answered % |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
    for (i, t) in s.per_period.iter().enumerate() {
        let label = first as usize + i;
        let warm = if i < g.warmup { " (warm-up)" } else { "" };
        let _ = writeln!(
            out,
            "| {label}{warm} | {} | {} | {} | {:.1} |",
            t.scheduled,
            t.sent,
            t.ok,
            if t.scheduled > 0 {
                100.0 * t.ok as f64 / t.scheduled as f64
            } else {
                100.0
            }
        );
    }
    let outcomes: Vec<String> = s
        .outcomes
        .iter()
        .map(|(k, v)| format!("`{k}` {v}"))
        .collect();
    let _ = writeln!(out, "\nOutcomes after warm-up: {}.", outcomes.join(", "));

    let _ = writeln!(out, "\n## Timing (µs, after warm-up)\n");
    let _ = writeln!(out, "| | n | p50 | p90 | p99 | p99.9 | max |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let row = |out: &mut String, name: &str, p: &Percentiles| {
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
    row(&mut out, "send lag (sent − due)", &s.send_lag_us);
    row(&mut out, "dispatch lag", &s.dispatch_lag_us);
    row(&mut out, "latency (answer − sent)", &s.latency_us);
    row(&mut out, "latency from due", &s.latency_from_scheduled_us);
    let mut busiest: Vec<_> = s.latency_by_endpoint_us.iter().collect();
    busiest.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    if !busiest.is_empty() {
        let _ = writeln!(out, "\nLatency of the busiest endpoints (answer − sent):\n");
        let _ = writeln!(out, "| endpoint | n | p50 | p90 | p99 | p99.9 | max |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        let proxy_of: std::collections::HashMap<&str, &str> = r
            .deployed
            .iter()
            .map(|d| (d.endpoint.as_str(), d.proxy.as_str()))
            .collect();
        for (e, p) in busiest.iter().take(10) {
            let name = match proxy_of.get(e.as_str()) {
                Some(proxy) => format!("`{proxy}` ({e})"),
                None => format!("`{e}`"),
            };
            row(&mut out, &name, p);
        }
    }

    let _ = writeln!(out, "\n## Figures\n");
    out.push_str(r.figures);
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
    ] {
        let _ = writeln!(
            out,
            "- [`{}`]({}): {what}",
            file_name(path),
            file_name(path)
        );
    }
    out
}
