//! What each subcommand does: wiring the library steps together and reporting on them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use profiles::{Catalogue, MappingSummary};
use trace::{Layout, MemoryLevel, ReadOptions, ReadReport, Trace};

use invoker::emulated::LocalServers;
use profiles::Proxy;

use crate::cli::{
    CatalogueArgs, CleanArgs, Cli, Command, GenerateArgs, LayoutArg, LoadArgs, PreprocessArgs,
    SampleArgs, Scale, SynthArgs,
};
use crate::deploy::knative::{self, KnativeOptions, ProxyConfig, MANAGED_BY, MANAGED_BY_LABEL};
use crate::deploy::local::{fitting_scale, LocalOptions};
use crate::deploy::{self, DeployedProxy, Deployer};
use crate::generate::{generate, GenerateOptions, GenerateStats};
use crate::map::{map_trace, Mapped};
use crate::preprocess::PreprocessReport;
use crate::synth::{synthesize, SynthOptions};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate(args) => run_generate(&args).map(|report| print!("{report}")),
        Command::Deploy(args) => run_deploy(&args),
        Command::Run(args) => crate::run::run(&args).map(|_| ()),
        Command::Clean(args) => run_clean(&args),
        Command::Preprocess(args) => run_preprocess(&args).map(|_| ()),
        Command::Sample(args) => run_sample(&args).map(|_| ()),
        Command::Plot(args) => crate::plot::run_plot(&args).map(|_| ()),
        Command::Synth(args) => run_synth(&args),
        Command::Catalogue(args) => run_catalogue(&args),
    }
}

/// Everything `generate` did, for the summary.
#[derive(Debug)]
pub struct GenerateReport {
    /// Trace directory.
    pub trace_dir: PathBuf,
    /// What reading left out.
    pub read: ReadReport,
    /// Period length name.
    pub unit: &'static str,
    /// First period label and number of periods.
    pub window: (u32, usize),
    /// Warm-up periods among them.
    pub warmup: usize,
    /// Functions without invocations in the window (left out unless `--keep-idle`).
    pub idle: usize,
    /// Whether idle functions were kept.
    pub keep_idle: bool,
    /// Mapping figures.
    pub mapping: MappingSummary,
    /// Mapping method and catalogue.
    pub mapping_note: String,
    /// Where the mapping went.
    pub mapping_path: PathBuf,
    /// What was deployed where, if anything.
    pub deployment_note: Option<String>,
    /// Generation figures.
    pub stats: GenerateStats,
    /// Seed used.
    pub seed: u64,
    /// Time to read the trace.
    pub ingest: Duration,
    /// Time to map.
    pub map: Duration,
}

/// A trace read and mapped, ready to be deployed and generated.
pub struct Prepared {
    /// The trace window (idle functions dropped unless `--keep-idle`).
    pub trace: Trace,
    /// Its directory.
    pub trace_dir: PathBuf,
    /// The proxies.
    pub catalogue: Catalogue,
    /// Each function's proxy.
    pub mapped: Mapped,
    /// Functions with no call in the window.
    pub idle: usize,
    /// Where mapping.json was written.
    pub mapping_path: PathBuf,
    /// Time to read.
    pub ingest: Duration,
    /// Time to map.
    pub map: Duration,
}

impl Prepared {
    /// Catalogue indices of the proxies to deploy, ascending.
    pub fn proxies_used(&self) -> Vec<usize> {
        self.mapped.proxies_used()
    }

    /// The proxies of [`Prepared::proxies_used`].
    pub fn proxies(&self) -> Vec<&Proxy> {
        self.proxies_used()
            .iter()
            .map(|&p| &self.catalogue.proxies[p])
            .collect()
    }

    /// Calls in the window per proxy of [`Prepared::proxies_used`].
    pub fn calls_per_proxy(&self) -> Vec<u64> {
        let used = self.proxies_used();
        let mut calls = vec![0u64; used.len()];
        for (f, p) in self.mapped.proxy_of.iter().enumerate() {
            let i = used.binary_search(p).expect("proxy is in the used set");
            calls[i] += self.trace.total(f);
        }
        calls
    }
}

/// Reads the trace window `load` asks for and maps it, writing `mapping_path`.
pub fn prepare(load: &LoadArgs, trace_dir: &Path, mapping_path: &Path) -> Result<Prepared> {
    let started = Instant::now();
    if load.duration == 0 {
        bail!("--duration must be at least 1 period");
    }
    let Some(periods) = load.warmup_duration.checked_add(load.duration) else {
        bail!("--warmup-duration + --duration is too large");
    };
    let mut trace =
        trace::read(trace_dir, &load.trace.read_options(Some(periods))).with_context(|| {
            format!(
                "reading the trace in {} (warm-up {} + duration {} periods)",
                trace_dir.display(),
                load.warmup_duration,
                load.duration
            )
        })?;
    let idle = drop_idle(&mut trace, load.keep_idle);
    let ingest = started.elapsed();
    log::debug!("read {} functions in {:?}", trace.functions.len(), ingest);

    let catalogue = load_catalogue(&load.profile)?;
    let mapped = map_trace(
        &trace,
        &catalogue,
        &load.profile,
        load.percentile,
        load.unique,
    )?;
    create_parent(mapping_path)?;
    mapped.file.write(mapping_path)?;
    Ok(Prepared {
        trace,
        trace_dir: trace_dir.to_owned(),
        catalogue,
        mapped,
        idle,
        mapping_path: mapping_path.to_owned(),
        ingest,
        map: started.elapsed() - ingest,
    })
}

/// The proxies of a load, deployed (or named).
pub struct Deployment {
    /// Proxy and endpoint, in the order of [`Prepared::proxies_used`].
    pub deployed: Vec<DeployedProxy>,
    /// The local servers, alive as long as this is.
    pub servers: Option<LocalServers>,
    /// One line on what was deployed.
    pub note: Option<String>,
}

/// Deploys the proxies `prepared` uses with `kind`. `local` says how the local fleet runs.
pub fn deploy_proxies(
    prepared: &Prepared,
    load: &LoadArgs,
    kind: Deployer,
    local: Option<LocalOptions>,
) -> Result<Deployment> {
    let proxies = prepared.proxies();
    let d = &load.deploy;
    match kind {
        Deployer::None => Ok(Deployment {
            deployed: proxies
                .iter()
                .map(|p| DeployedProxy {
                    proxy: p.name.clone(),
                    endpoint: p.name.clone(),
                    service: None,
                })
                .collect(),
            servers: None,
            note: None,
        }),
        Deployer::Local => {
            let options = local.expect("local options are given for the local deployer");
            let (servers, deployed) = deploy::local::deploy(&proxies, &options)?;
            let note = format!(
                "local: {} emulated function servers on 127.0.0.1, {} thread(s){}, busy time and memory x{}",
                deployed.len(),
                options.threads,
                options
                    .cpus
                    .as_ref()
                    .map(|c| format!(" on CPU {c:?}"))
                    .unwrap_or_default(),
                format_scale(options.scale)
            );
            Ok(Deployment {
                deployed,
                servers: Some(servers),
                note: Some(note),
            })
        }
        Deployer::Knative => {
            let config = ProxyConfig::read(&load.config_proxy)
                .context("reading the proxies' deployment config (-c/--config-proxy)")?;
            let planned = knative::plan(&config, &proxies, &load.build)?;
            let ready_timeout = seconds(d.ready_timeout, "--ready-timeout")?;
            if d.dry_run {
                let script = knative::write_script(&planned, &load.build, ready_timeout)?;
                return Ok(Deployment {
                    deployed: planned
                        .iter()
                        .map(|p| DeployedProxy {
                            proxy: p.proxy.clone(),
                            endpoint: format!("{}.{}", p.name, p.namespace),
                            service: Some(p.qualified()),
                        })
                        .collect(),
                    servers: None,
                    note: Some(format!(
                        "knative dry run: {} YAMLs and {} written, nothing deployed; endpoints are `name.namespace`",
                        planned.len(),
                        script.display()
                    )),
                });
            }
            let options = KnativeOptions {
                kubectl: "kubectl".into(),
                ready_timeout,
                poll_interval: seconds(d.poll_interval, "--poll-interval")?,
            };
            let progress = progress_bar(planned.len() as u64, "service");
            let deployed = knative::deploy(&planned, &options, &progress)?;
            progress.finish_and_clear();
            Ok(Deployment {
                note: Some(format!(
                    "knative: {} services Ready, YAMLs in {}",
                    deployed.len(),
                    load.build.display()
                )),
                deployed,
                servers: None,
            })
        }
    }
}

/// A seconds flag as a duration, refused unless positive.
pub fn seconds(v: f64, flag: &str) -> Result<Duration> {
    invoker::cli::positive_seconds(v, flag).map_err(anyhow::Error::msg)
}

/// A scale factor as printed: `1`, `0.5`, `0.0123`.
pub fn format_scale(f: f64) -> String {
    if f >= 1.0 {
        format!("{f}")
    } else {
        format!("{f:.3e}")
    }
}

/// Writes the load of `prepared` with `deployment`'s endpoints to `output` (and endpoints.json to
/// `endpoints_path` unless nothing was deployed).
pub fn write_load(
    prepared: &Prepared,
    load: &LoadArgs,
    deployment: &Deployment,
    output: &Path,
    endpoints_path: Option<&Path>,
) -> Result<GenerateReport> {
    let used = prepared.proxies_used();
    let endpoints = prepared.mapped.endpoints(|p| {
        let i = used.binary_search(&p).expect("proxy is in the used set");
        deployment.deployed[i].endpoint.clone()
    });
    create_parent(output)?;
    if let Some(path) = endpoints_path {
        create_parent(path)?;
        deploy::write_endpoints(path, &deployment.deployed)?;
    }
    let trace = &prepared.trace;
    let seed = load.seed.unwrap_or_else(rand::random);
    let progress = progress_bar(trace.periods as u64, trace.granularity.unit());
    let stats = generate(
        trace,
        &endpoints,
        GenerateOptions {
            distribution: load.iat_distribution,
            seed,
            workers: load.workers as usize,
        },
        output,
        &progress,
    )
    .context("writing the load")?;
    progress.finish_and_clear();

    Ok(GenerateReport {
        trace_dir: prepared.trace_dir.clone(),
        read: trace.report.clone(),
        unit: trace.granularity.unit(),
        window: (trace.first_period, trace.periods),
        warmup: load.warmup_duration,
        idle: prepared.idle,
        keep_idle: load.keep_idle,
        mapping: prepared.mapped.file.summary(),
        mapping_note: format!(
            "{} at p{}, {} proxies in {}",
            prepared.mapped.file.method.describe(),
            load.percentile,
            prepared.catalogue.proxies.len(),
            load.profile
        ),
        mapping_path: prepared.mapping_path.clone(),
        deployment_note: deployment.note.clone(),
        stats,
        seed,
        ingest: prepared.ingest,
        map: prepared.map,
    })
}

fn beside(output: &Path, name: &str) -> PathBuf {
    output.parent().unwrap_or(Path::new("")).join(name)
}

impl GenerateArgs {
    /// `-t`, or `trace` as vSwarm.
    pub fn trace_dir(&self) -> PathBuf {
        self.load
            .trace
            .trace
            .clone()
            .unwrap_or_else(|| "trace".into())
    }

    /// `--mapping`, or mapping.json beside the output.
    pub fn mapping_path(&self) -> PathBuf {
        self.mapping
            .clone()
            .unwrap_or_else(|| beside(&self.output, "mapping.json"))
    }

    /// `--endpoints`, or endpoints.json beside the output.
    pub fn endpoints_path(&self) -> PathBuf {
        self.endpoints
            .clone()
            .unwrap_or_else(|| beside(&self.output, "endpoints.json"))
    }
}

/// `loadgen generate`: read, map, write `mapping.json`, deploy on Knative if asked, write the load.
pub fn run_generate(args: &GenerateArgs) -> Result<GenerateReport> {
    let kind = args.load.deploy.deployer.unwrap_or(Deployer::None);
    if kind == Deployer::Local {
        bail!("--deployer local: local servers live only as long as loadgen; use `loadgen deploy` (serves until Ctrl-C) or `loadgen run`");
    }
    let prepared = prepare(&args.load, &args.trace_dir(), &args.mapping_path())?;
    let deployment = deploy_proxies(&prepared, &args.load, kind, None)?;
    let endpoints_path = (kind != Deployer::None).then(|| args.endpoints_path());
    write_load(
        &prepared,
        &args.load,
        &deployment,
        &args.output,
        endpoints_path.as_deref(),
    )
}

/// The local fleet's placement, at scale 1: with a pinned dispatcher, the servers get every other CPU.
fn local_options(load: &LoadArgs, dispatcher_cpu: Option<usize>) -> LocalOptions {
    let cpus = dispatcher_cpu.map(invoker::cpu::all_cpus_but);
    let threads = load.deploy.local_threads.unwrap_or_else(|| {
        cpus.as_ref()
            .map_or_else(invoker::cpu::online_cpus, |c| c.len())
    });
    LocalOptions {
        threads: threads.max(1),
        cpus,
        scale: 1.0,
        memory_budget_mb: load.deploy.local_memory_mb,
    }
}

/// `loadgen deploy`: like generate, then (local) serve until Ctrl-C.
fn run_deploy(args: &GenerateArgs) -> Result<()> {
    let kind = args.load.deploy.deployer.unwrap_or(Deployer::Local);
    let endpoints_path = args.endpoints_path();
    let stop = stop_flag()?;
    let prepared = prepare(&args.load, &args.trace_dir(), &args.mapping_path())?;
    let local = (kind == Deployer::Local).then(|| {
        let (options, note) = local_fleet(&args.load, &prepared, None, Scale::Factor(1.0));
        println!("scale      {note}");
        options
    });
    let mut deployment = deploy_proxies(&prepared, &args.load, kind, local)?;
    let report = write_load(
        &prepared,
        &args.load,
        &deployment,
        &args.output,
        (kind != Deployer::None).then_some(endpoints_path.as_path()),
    )?;
    print!("{report}");
    if let Some(mut servers) = deployment.servers.take() {
        println!(
            "serving    {} emulated functions (endpoints in {}); Ctrl-C stops them",
            servers.addrs.len(),
            endpoints_path.display()
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        servers.stop();
        println!("stopped    all emulated function servers");
    }
    Ok(())
}

/// The local fleet for `prepared`'s load: placed off `dispatcher_cpu`, with `--local-scale` resolved
/// (`default` when not given), and a sentence saying what the scale means for this load.
pub fn local_fleet(
    load: &LoadArgs,
    prepared: &Prepared,
    dispatcher_cpu: Option<usize>,
    default: Scale,
) -> (LocalOptions, String) {
    let mut options = local_options(load, dispatcher_cpu);
    let threads = options.threads as f64;
    let trace = &prepared.trace;
    let run_seconds = trace.periods as f64 * trace.granularity.period_us() as f64 / 1e6;
    let demand = local_demand(prepared, run_seconds);
    let scale = match load.deploy.local_scale.unwrap_or(default) {
        Scale::Factor(f) => f,
        Scale::Auto => fitting_scale(demand, options.threads, AUTO_UTILISATION),
    };
    let note = format!(
        "At scale 1 the emulated proxies would need {demand:.2} cores for this load; {} thread(s) serve \
         it, so busy time and working set are multiplied by {} (expected use {:.0}% of them).{}",
        options.threads,
        format_scale(scale),
        100.0 * demand * scale / threads,
        if scale < 1.0 {
            " This run checks the pipeline and the timing, not the functions' real cost: \
             use `--local-scale 1` for the real profile, or a cluster."
        } else if demand * scale > threads {
            " The machine is too small for this load: expect queueing and timeouts."
        } else {
            ""
        }
    );
    options.scale = scale;
    (options, note)
}

/// Share of the local threads `--local-scale auto` aims to keep busy.
pub const AUTO_UTILISATION: f64 = 0.5;

/// The emulated proxies' CPU demand of `prepared`'s load at scale 1, cores.
pub fn local_demand(prepared: &Prepared, run_seconds: f64) -> f64 {
    deploy::local::demand_cores(
        &prepared.proxies(),
        &prepared.calls_per_proxy(),
        run_seconds,
    )
}

/// A flag set by SIGINT or SIGTERM; a second signal ends the process at once.
pub fn stop_flag() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, std::sync::Arc::clone(&stop))
            .context("installing signal handlers")?;
        signal_hook::flag::register(signal, std::sync::Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    Ok(stop)
}

fn run_clean(args: &CleanArgs) -> Result<()> {
    let services = knative::clean("kubectl", args.dry_run)?;
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    if services.is_empty() {
        println!("clean      no Knative service carries {MANAGED_BY_LABEL}={MANAGED_BY}; nothing to delete");
    } else {
        println!(
            "clean      {verb} {} Knative service(s) labelled {MANAGED_BY_LABEL}={MANAGED_BY}: {}",
            services.len(),
            services.join(", ")
        );
    }
    Ok(())
}

/// Removes functions with no invocation in the window unless `keep`; returns how many had none.
pub fn drop_idle(trace: &mut Trace, keep: bool) -> usize {
    let active: Vec<bool> = (0..trace.functions.len())
        .map(|f| trace.total(f) > 0)
        .collect();
    let idle = active.iter().filter(|a| !**a).count();
    if !keep {
        trace.retain(|f| active[f]);
    }
    idle
}

/// `builtin` or a profile.json, with a hint when the default file is absent.
pub fn load_catalogue(spec: &str) -> Result<Catalogue> {
    Catalogue::load(spec).with_context(|| {
        if spec != "builtin" && !Path::new(spec).exists() {
            format!("reading proxy profiles {spec} (or pass --profile builtin for the built-in emulated proxies)")
        } else {
            format!("reading proxy profiles {spec}")
        }
    })
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating directory {}", parent.display()))?;
    }
    Ok(())
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
pub fn progress_bar(len: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {unit}s ({{eta}} left)"
        ))
        .expect("valid template"),
    );
    bar
}

impl std::fmt::Display for GenerateReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.read;
        let (first, periods) = self.window;
        let mapped = self.mapping.functions;
        let memory = match r.memory_level {
            MemoryLevel::Function => "per function".to_owned(),
            MemoryLevel::App(mode) => format!("per app, {mode:?}").to_lowercase(),
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "trace      {}: {}s {}..={} ({} warm-up + {}), memory {}",
            self.trace_dir.display(),
            self.unit,
            first,
            first as usize + periods - 1,
            self.warmup,
            periods - self.warmup,
            memory
        );
        let idle_note = if self.keep_idle {
            format!("{} idle in the window, kept", self.idle)
        } else {
            format!("{} idle in the window", self.idle)
        };
        let left_out =
            r.missing_durations() + r.missing_memory() + if self.keep_idle { 0 } else { self.idle };
        let _ = writeln!(
            s,
            "functions  {} read, {} mapped, {} left out ({} without durations, {} without memory, {})",
            r.functions_read, mapped, left_out, r.missing_durations(), r.missing_memory(), idle_note
        );
        let m = &self.mapping;
        let _ = writeln!(
            s,
            "mapping    {}: {} distinct proxies used -> {}",
            self.mapping_note,
            m.distinct_proxies,
            self.mapping_path.display()
        );
        let _ = writeln!(
            s,
            "           relative error   memory mean {:.3} p95 {:.3} max {:.3}   duration mean {:.3} p95 {:.3} max {:.3}",
            m.memory.mean, m.memory.p95, m.memory.max, m.duration.mean, m.duration.p95, m.duration.max
        );
        if let Some(note) = &self.deployment_note {
            let _ = writeln!(s, "deployment {note}");
        }
        let st = &self.stats;
        let total = st.total();
        let (min, max) = (
            st.per_period.iter().min().copied().unwrap_or(0),
            st.per_period.iter().max().copied().unwrap_or(0),
        );
        let mean = total as f64 / st.per_period.len().max(1) as f64;
        let _ = writeln!(
            s,
            "load       {} invocations over {} {}s: per {} min {} mean {:.1} max {}",
            total,
            st.per_period.len(),
            self.unit,
            self.unit,
            min,
            mean,
            max
        );
        let files: Vec<String> = st
            .files
            .iter()
            .zip(&st.per_file)
            .map(|(p, n)| format!("{} ({n})", p.display()))
            .collect();
        let _ = writeln!(
            s,
            "output     {}, {} in all",
            files.join(", "),
            HumanBytes(st.bytes)
        );
        let rate = total as f64 / st.elapsed.as_secs_f64().max(1e-9);
        let _ = writeln!(
            s,
            "time       read {:.3} s, map {:.3} s, generate {:.3} s ({:.2} M invocations/s)",
            self.ingest.as_secs_f64(),
            self.map.as_secs_f64(),
            st.elapsed.as_secs_f64(),
            rate / 1e6
        );
        let _ = writeln!(
            s,
            "seed       {} (--seed {} reproduces this load)",
            self.seed, self.seed
        );
        f.write_str(&s)
    }
}

/// `loadgen preprocess`: prints what was kept and dropped, and why.
pub fn run_preprocess(args: &PreprocessArgs) -> Result<PreprocessReport> {
    let started = Instant::now();
    let (trace, kept, report) =
        crate::preprocess::preprocess(&args.trace, args.start, args.duration)
            .with_context(|| format!("preprocessing {}", args.trace.display()))?;
    let read = started.elapsed();
    trace::write_trace(&args.output, &trace, Some(&kept))
        .with_context(|| format!("writing the clean trace to {}", args.output.display()))?;
    let days: Vec<String> = report.days.iter().map(|d| format!("d{d:02}")).collect();
    println!(
        "excerpt    {} minutes from day {} {:02}:{:02} ({})",
        args.duration,
        args.start.day,
        args.start.minute / 60,
        args.start.minute % 60,
        days.join(", ")
    );
    println!(
        "functions  {} read; dropped: {} duplicate rows, {} without durations, {} without memory, {} never invoked in the excerpt, {} with zero duration",
        report.functions_read,
        report.duplicate_rows,
        report.missing_durations,
        report.missing_memory,
        report.idle,
        report.zero_duration
    );
    println!(
        "kept       {} functions, {} invocations -> {} ({:.2} s read, {:.2} s in all)",
        report.kept,
        report.invocations,
        args.output.display(),
        read.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(report)
}

/// `loadgen sample`: the sweep, one trace directory per size and samples.csv.
pub fn run_sample(args: &SampleArgs) -> Result<Vec<crate::sample::SizeResult>> {
    use crate::sample::{sweep, Reference, SampleOptions};
    let started = Instant::now();
    let source = trace::read(&args.trace, &ReadOptions::default())
        .with_context(|| format!("reading the source trace {}", args.trace.display()))?;
    let reference = match &args.original {
        Some(dir) => {
            let options = ReadOptions {
                duplicates: trace::Duplicates::KeepFirst,
                ..ReadOptions::default()
            };
            let original = trace::read(dir, &options)
                .with_context(|| format!("reading the original trace {}", dir.display()))?;
            Reference::of(&original)
        }
        None => Reference::of(&source),
    };
    let options = SampleOptions {
        min: args.min,
        step: args.step,
        max: args.max,
        trials: args.trials,
        seed: args.seed,
    };
    let sizes = options
        .sizes(source.functions.len())
        .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let progress = progress_bar(sizes.len() as u64, "size");
    let mut written: Result<()> = Ok(());
    let results = sweep(&source, &reference, &options, |r| {
        progress.inc(1);
        if written.is_ok() {
            let dir = args.output.join(format!("sample-{}", r.size));
            written = trace::write_trace(&dir, &source, Some(&r.chosen))
                .map(|_| ())
                .with_context(|| format!("writing {}", dir.display()));
        }
    })
    .map_err(anyhow::Error::msg)?;
    progress.finish_and_clear();
    written?;
    let csv_path = args.output.join("samples.csv");
    let mut csv = String::from("size,best_trial,best_distance");
    for t in 0..args.trials {
        let _ = write!(csv, ",trial_{t}");
    }
    csv.push('\n');
    for r in &results {
        let _ = write!(csv, "{},{},{}", r.size, r.best_trial, r.best_distance());
        for d in &r.distances {
            let _ = write!(csv, ",{d}");
        }
        csv.push('\n');
    }
    std::fs::write(&csv_path, csv).with_context(|| format!("writing {}", csv_path.display()))?;
    let elapsed = started.elapsed().as_secs_f64();
    let trials = results.len() * args.trials;
    println!(
        "source     {} functions x {} minutes ({}){}",
        source.functions.len(),
        source.periods,
        args.trace.display(),
        args.original
            .as_ref()
            .map(|o| format!(", judged against {}", o.display()))
            .unwrap_or_default()
    );
    for r in &results {
        println!(
            "sample     {:>6} functions: distance {:.4} (trial {} of {})",
            r.size,
            r.best_distance(),
            r.best_trial,
            args.trials
        );
    }
    println!(
        "output     {} sample traces and {} in {}; {} trials in {:.2} s ({:.1} trials/s)",
        results.len(),
        csv_path.display(),
        args.output.display(),
        trials,
        elapsed,
        trials as f64 / elapsed.max(1e-9)
    );
    Ok(results)
}

fn run_synth(args: &SynthArgs) -> Result<()> {
    if args.functions == 0 || args.periods == 0 {
        bail!("--functions and --periods must be at least 1");
    }
    let stats = synthesize(
        &args.output,
        &SynthOptions {
            functions: args.functions,
            periods: args.periods,
            granularity: trace::Granularity::from_minute_flag(args.minute),
            seed: args.seed,
            layout: match args.layout {
                LayoutArg::Sampled => Layout::Sampled,
                LayoutArg::Raw => Layout::Raw { day: args.day },
            },
        },
    )
    .with_context(|| format!("writing a synthetic trace to {}", args.output.display()))?;
    println!(
        "synth      {} functions in {} apps, {} {}s, {} invocations -> {}, {}, {}",
        stats.functions,
        stats.apps,
        args.periods,
        trace::Granularity::from_minute_flag(args.minute).unit(),
        stats.invocations,
        stats.files.invocations.display(),
        stats.files.durations.display(),
        stats.files.memory.display()
    );
    Ok(())
}

fn run_catalogue(args: &CatalogueArgs) -> Result<()> {
    let catalogue = Catalogue::builtin();
    create_parent(&args.output)?;
    std::fs::write(&args.output, catalogue.to_profile_json())
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "catalogue  {} built-in emulated proxies -> {}",
        catalogue.proxies.len(),
        args.output.display()
    );
    Ok(())
}
