//! What each subcommand does: wiring the library steps together and reporting on them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use profiles::{Catalogue, MappingSummary};
use trace::{Layout, MemoryLevel, ReadOptions, ReadReport, Trace};

use crate::cli::{CatalogueArgs, Cli, Command, GenerateArgs, LayoutArg, SynthArgs};
use crate::generate::{generate, GenerateOptions, GenerateStats};
use crate::map::map_trace;
use crate::synth::{synthesize, SynthOptions};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate(args) => run_generate(&args).map(|report| print!("{report}")),
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
    /// Generation figures.
    pub stats: GenerateStats,
    /// Seed used.
    pub seed: u64,
    /// Time to read the trace.
    pub ingest: Duration,
    /// Time to map.
    pub map: Duration,
}

/// `loadgen generate`: read, map, write `mapping.json` and the load.
pub fn run_generate(args: &GenerateArgs) -> Result<GenerateReport> {
    let started = Instant::now();
    if args.duration == 0 {
        bail!("--duration must be at least 1 period");
    }
    let Some(periods) = args.warmup_duration.checked_add(args.duration) else {
        bail!("--warmup-duration + --duration is too large");
    };
    let options = ReadOptions {
        granularity: Some(args.trace.granularity()),
        start: args.trace.start,
        periods: Some(periods),
        app_memory: args.trace.app_memory.into(),
        strict: args.trace.strict,
        day: args.trace.day,
    };
    let mut trace = trace::read(&args.trace.trace, &options).with_context(|| {
        format!(
            "reading the trace in {} (warm-up {} + duration {} periods)",
            args.trace.trace.display(),
            args.warmup_duration,
            args.duration
        )
    })?;
    let idle = drop_idle(&mut trace, args.keep_idle);
    let ingest = started.elapsed();
    log::debug!("read {} functions in {:?}", trace.functions.len(), ingest);

    let catalogue = load_catalogue(&args.profile)?;
    let mapped = map_trace(
        &trace,
        &catalogue,
        &args.profile,
        args.percentile,
        args.unique,
    )?;
    let mapping_path = args.mapping.clone().unwrap_or_else(|| {
        args.output
            .parent()
            .unwrap_or(Path::new(""))
            .join("mapping.json")
    });
    create_parent(&args.output)?;
    create_parent(&mapping_path)?;
    mapped.file.write(&mapping_path)?;
    let map = started.elapsed() - ingest;

    let endpoints = mapped.endpoints(|p| catalogue.proxies[p].name.clone());
    let seed = args.seed.unwrap_or_else(rand::random);
    let progress = progress_bar(trace.periods as u64, trace.granularity.unit());
    let stats = generate(
        &trace,
        &endpoints,
        GenerateOptions {
            distribution: args.iat_distribution,
            seed,
            workers: args.workers as usize,
        },
        &args.output,
        &progress,
    )
    .context("writing the load")?;
    progress.finish_and_clear();

    Ok(GenerateReport {
        trace_dir: args.trace.trace.clone(),
        read: trace.report.clone(),
        unit: trace.granularity.unit(),
        window: (trace.first_period, trace.periods),
        warmup: args.warmup_duration,
        idle,
        keep_idle: args.keep_idle,
        mapping: mapped.file.summary(),
        mapping_note: format!(
            "{} at p{}, {} proxies in {}",
            mapped.file.method.describe(),
            args.percentile,
            catalogue.proxies.len(),
            args.profile
        ),
        mapping_path,
        stats,
        seed,
        ingest,
        map,
    })
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
            r.missing_durations + r.missing_memory + if self.keep_idle { 0 } else { self.idle };
        let _ = writeln!(
            s,
            "functions  {} read, {} mapped, {} left out ({} without durations, {} without memory, {})",
            r.functions_read, mapped, left_out, r.missing_durations, r.missing_memory, idle_note
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
