//! Command-line surface. Flags mirror vSwarm's `main.py loadgen` (long and short forms, its defaults, its
//! `true`/`True` booleans and its underscore spellings), plus what a reproducible experiment needs.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use trace::{AppMemory, Duplicates, Granularity, ReadOptions};

use crate::deploy::Deployer;
use crate::iat::IatDistribution;

/// Turns serverless traces into reproducible load: synthesis, mapping to proxy functions, load.json.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about, long_about = None)]
pub struct Cli {
    /// Show debug messages (`-dbg` is accepted as in vSwarm).
    #[arg(long, global = true, value_name = "BOOL", value_parser = parse_bool,
          num_args = 0..=1, default_value = "false", default_missing_value = "true", action = ArgAction::Set)]
    pub dbg: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Map a trace's functions to proxies and write load.json (vSwarm's `main.py loadgen`).
    #[command(alias = "loadgen")]
    Generate(GenerateArgs),
    /// Write a synthetic trace with the Azure 2019 dataset's shape and schema.
    Synth(SynthArgs),
    /// Map, deploy the proxies (local emulated servers by default, or Knative) and write load.json with
    /// their endpoints; local servers keep serving until Ctrl-C.
    Deploy(GenerateArgs),
    /// The whole job: trace (synthetic unless -t), map, deploy, generate, replay, report, in one directory.
    #[command(
        mut_arg("profile", |a| a.default_value("builtin")),
        mut_arg("duration", |a| a.default_value("1")),
        mut_arg("warmup_duration", |a| a.default_value("0")),
        mut_arg("deployer", |a| a.default_value("local"))
    )]
    Run(RunArgs),
    /// Delete the Knative services loadgen deployed (those carrying its label), and nothing else.
    Clean(CleanArgs),
    /// Clean an excerpt out of the raw Azure day files: functions present in all three files, no
    /// duplicates, no idle or zero-duration functions; written in the sampled layout.
    Preprocess(PreprocessArgs),
    /// Draw representative, nested samples of a trace's functions (Wasserstein distance to the original).
    Sample(SampleArgs),
    /// Draw the trace's and proxies' distributions (vSwarm's `main.py plot`), the mapping error and the
    /// load with --mapping/--load, or a run's results with `plot results DIR`.
    #[command(mut_arg("trace", |a| a.help(
        "Trace directory (figures 4–6 and 8). Without it only the proxies are drawn."
    )))]
    Plot(PlotArgs),
    /// Write the built-in catalogue of emulated proxies as a profile.json.
    Catalogue(CatalogueArgs),
}

/// `loadgen plot`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PlotArgs {
    /// Plot an invoker run instead.
    #[command(subcommand)]
    pub results: Option<PlotResults>,

    /// The trace (figures 4–6 and 8) and its window (figure 8: as given to generate).
    #[command(flatten)]
    pub trace: TraceArgs,

    /// Proxy profiles: a vSwarm profile.json, or `builtin`.
    #[arg(
        short = 'p',
        long,
        value_name = "PATH|builtin",
        default_value = "profile.json"
    )]
    pub profile: String,

    /// Directory for the figures (PNG and SVG each).
    #[arg(
        short = 'o',
        long,
        alias = "png_folder",
        value_name = "PATH",
        default_value = "png"
    )]
    pub png_folder: PathBuf,

    /// Percentile of memory, duration and CPU drawn (as mapped).
    #[arg(long, default_value_t = 75)]
    pub percentile: u8,

    /// mapping.json: adds the mapping-error figure.
    #[arg(long, value_name = "PATH")]
    pub mapping: Option<PathBuf>,

    /// load.json (with --trace and --mapping): adds invocations per period, trace vs load.
    #[arg(long, value_name = "PATH", requires_all = ["trace", "mapping"])]
    pub load: Option<PathBuf>,
}

/// `loadgen plot results`.
#[derive(Debug, Clone, Subcommand)]
pub enum PlotResults {
    /// Latency CDF, dispatch lag and calls per second of an invoker run.
    Results {
        /// A `loadgen run` directory (records.csv inside), or an invoker records CSV.
        #[arg(value_name = "DIR|RECORDS")]
        input: PathBuf,
        /// Directory for the figures. Default: plots/ in the run directory, or beside the records.
        #[arg(short = 'o', long, value_name = "PATH")]
        output: Option<PathBuf>,
    },
}

/// `loadgen preprocess`.
#[derive(Debug, Clone, Args)]
pub struct PreprocessArgs {
    /// Directory of raw day files (invocations_per_function_md.anon.dNN.csv,
    /// function_durations_percentiles.anon.dNN.csv, app_memory_percentiles.anon.dNN.csv), one or more days.
    #[arg(short = 't', long, value_name = "PATH")]
    pub trace: PathBuf,

    /// Directory to write the clean trace into (invocations.csv, durations.csv, memory.csv).
    #[arg(short = 'o', long, value_name = "PATH", default_value = "preprocessed")]
    pub output: PathBuf,

    /// Start of the excerpt, dd:hh:mm; day 0 is the first day file present.
    #[arg(long, value_name = "DD:HH:MM", default_value = "0:00:00")]
    pub start: crate::preprocess::ExcerptStart,

    /// Length of the excerpt, minutes (it may cross into the following days).
    #[arg(short = 'd', long, value_name = "MINUTES", default_value_t = 1440)]
    pub duration: u32,
}

/// `loadgen sample`.
#[derive(Debug, Clone, Args)]
pub struct SampleArgs {
    /// The clean trace to sample functions from (e.g. `loadgen preprocess` output).
    #[arg(short = 't', long, value_name = "PATH")]
    pub trace: PathBuf,

    /// The trace to judge representativity against (same minutes); default: the source itself.
    #[arg(long, value_name = "PATH")]
    pub original: Option<PathBuf>,

    /// Output directory: sample-SIZE/ per size and samples.csv.
    #[arg(short = 'o', long, value_name = "PATH", default_value = "samples")]
    pub output: PathBuf,

    /// Smallest sample, functions.
    #[arg(long, default_value_t = 100)]
    pub min: usize,

    /// Step between sizes.
    #[arg(long, default_value_t = 100)]
    pub step: usize,

    /// Largest sample (sizes are min, min+step, … up to it).
    #[arg(long, default_value_t = 1000)]
    pub max: usize,

    /// Random subsets tried per size; the closest to the original wins.
    #[arg(long, default_value_t = 16)]
    pub trials: usize,

    /// Seed: the same seed gives the same samples whatever the number of threads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Which trace to read and how.
#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    /// Directory holding the trace: invocations.csv, durations.csv, memory.csv, or the raw Azure day files
    /// (invocations_per_function_md.anon.dNN.csv, function_durations_percentiles.anon.dNN.csv,
    /// app_memory_percentiles.anon.dNN.csv).
    /// Default: `trace` (`run`: a synthetic trace written into the output directory).
    #[arg(short = 't', long, value_name = "PATH")]
    pub trace: Option<PathBuf>,

    /// The trace counts invocations per minute (true) or per second (false).
    #[arg(short = 'm', long, value_name = "BOOL", value_parser = parse_bool, default_value = "true",
          action = ArgAction::Set)]
    pub minute: bool,

    /// First period to use, by its column name (e.g. 540 in a trace whose columns are 540..689).
    /// Default: the first period column.
    #[arg(long, value_name = "PERIOD")]
    pub start: Option<u32>,

    /// Raw layout with several days in the directory: which day (the NN of dNN).
    #[arg(long, value_name = "NN")]
    pub day: Option<u32>,

    /// Raw layout only, where memory is given per application: `split` divides an app's memory equally
    /// among its functions in the invocations file; `share` gives each function the whole app figure.
    #[arg(long, value_enum, default_value = "split")]
    pub app_memory: AppMemoryArg,

    /// Fail when a function of the invocations file has no durations or memory row (default: leave it out
    /// and count it in the summary).
    #[arg(long)]
    pub strict: bool,
}

impl TraceArgs {
    /// The trace's period length.
    pub fn granularity(&self) -> Granularity {
        Granularity::from_minute_flag(self.minute)
    }

    /// How to read the trace: these flags, `periods` from `--start` (all when `None`).
    pub fn read_options(&self, periods: Option<usize>) -> ReadOptions {
        ReadOptions {
            granularity: Some(self.granularity()),
            start: self.start,
            periods,
            app_memory: self.app_memory.into(),
            strict: self.strict,
            day: self.day,
            duplicates: Duplicates::Error,
        }
    }
}

/// `--app-memory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppMemoryArg {
    /// Divide the app's memory equally among its functions.
    Split,
    /// Give each function the whole app figure.
    Share,
}

impl From<AppMemoryArg> for AppMemory {
    fn from(a: AppMemoryArg) -> AppMemory {
        match a {
            AppMemoryArg::Split => AppMemory::Split,
            AppMemoryArg::Share => AppMemory::Share,
        }
    }
}

/// `loadgen generate` and `loadgen deploy`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// Output JSON file with the timestamps and endpoints of the load.
    #[arg(short = 'o', long, value_name = "PATH", default_value = "load.json")]
    pub output: PathBuf,

    /// Where to write the mapping. Default: mapping.json beside the output.
    #[arg(long, value_name = "PATH")]
    pub mapping: Option<PathBuf>,

    /// Where to write proxy → endpoint when proxies are deployed. Default: endpoints.json beside the output.
    #[arg(long, value_name = "PATH")]
    pub endpoints: Option<PathBuf>,

    #[command(flatten)]
    pub load: LoadArgs,
}

/// What load to make and where its proxies run: shared by `generate`, `deploy` and `run`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub trace: TraceArgs,

    /// Proxy profiles: a vSwarm profiler profile.json, or `builtin` for the built-in emulated proxies.
    #[arg(
        short = 'p',
        long,
        value_name = "PATH|builtin",
        default_value = "profile.json"
    )]
    pub profile: String,

    /// Deployment details of the proxies (vSwarm config.json); read when proxies are deployed on Knative.
    #[arg(
        short = 'c',
        long,
        alias = "config_proxy",
        value_name = "PATH",
        default_value = "config.json"
    )]
    pub config_proxy: PathBuf,

    /// Directory for deployment build files (generated Knative YAMLs).
    #[arg(short = 'b', long, value_name = "PATH", default_value = "build")]
    pub build: PathBuf,

    /// Map trace functions to proxies one-to-one (optimal assignment) when there are at least as many
    /// proxies as functions; otherwise each function gets its nearest proxy.
    #[arg(short = 'u', long, value_name = "BOOL", value_parser = parse_bool, default_value = "false",
          action = ArgAction::Set)]
    pub unique: bool,

    /// How invocations are spread inside each period.
    #[arg(
        short = 'i',
        long,
        alias = "iat_distribution",
        value_enum,
        default_value = "uniform"
    )]
    pub iat_distribution: IatDistribution,

    /// Experiment duration, in periods, after the warm-up.
    #[arg(short = 'd', long, value_name = "INT", default_value_t = 20)]
    pub duration: usize,

    /// Warm-up periods before the experiment; the load covers warm-up + duration periods.
    #[arg(
        short = 'w',
        long,
        alias = "warmup_duration",
        value_name = "INT",
        default_value_t = 2
    )]
    pub warmup_duration: usize,

    /// Seed of every random choice; the same seed gives byte-identical files. Default: a random seed,
    /// printed in the summary.
    #[arg(long)]
    pub seed: Option<u64>,

    /// Percentile of memory and duration used to compare functions with proxies (75 as vSwarm; 50 as
    /// invitro). One of 1, 25, 50, 75, 99, 100.
    #[arg(long, default_value_t = 75)]
    pub percentile: u8,

    /// Split the load over N workers: writes load-0.json … load-(N-1).json (named after --output), calls
    /// dealt round-robin in time order so every worker gets the same share of every period.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub workers: u32,

    /// Keep functions that have no invocation in the window (they are mapped, and deployed, too).
    #[arg(long)]
    pub keep_idle: bool,

    #[command(flatten)]
    pub deploy: DeployArgs,
}

/// Where and how the proxies are deployed.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Deployment")]
pub struct DeployArgs {
    /// Where the proxies run: `none` writes proxy names as endpoints; `local` starts emulated servers on
    /// 127.0.0.1 (deploy, run); `knative` applies the proxies' YAMLs from -c/--config-proxy with kubectl.
    /// Default: none (generate), local (deploy, run). Knative config commands run through `sh -c`: only
    /// use a config.json you trust.
    #[arg(long, value_enum)]
    pub deployer: Option<Deployer>,

    /// Knative: write the build directory (-b) and its deploy.sh, touch nothing; load.json then names the
    /// services as `name.namespace`.
    #[arg(long)]
    pub dry_run: bool,

    /// Knative: how long the services together may take to become Ready, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    pub ready_timeout: f64,

    /// Knative: how often readiness is polled, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub poll_interval: f64,

    /// Local: threads serving all emulated functions (the most calls busy at once). Default: one per CPU
    /// not used by the invoker's dispatcher.
    #[arg(long, value_name = "N")]
    pub local_threads: Option<usize>,

    /// Local: multiply the proxies' busy time and working set by this, or `auto`: as much of the real
    /// profile as this machine can serve at half load (`run`; `deploy` uses 1).
    #[arg(long, value_name = "FACTOR|auto", value_parser = parse_scale)]
    pub local_scale: Option<Scale>,

    /// Local: memory all emulated calls may hold at once, MiB.
    #[arg(long, value_name = "MIB", default_value_t = invoker::emulated::DEFAULT_BUDGET_MB)]
    pub local_memory_mb: u32,
}

/// `--local-scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// Fit the load to this machine.
    Auto,
    /// This factor.
    Factor(f64),
}

fn parse_scale(s: &str) -> Result<Scale, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Scale::Auto);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(Scale::Factor(f)),
        _ => Err(format!("`{s}` is not `auto` or a positive number")),
    }
}

/// `loadgen run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Output directory: load.json, mapping.json, endpoints.json, records.csv, lat.csv, summary.json,
    /// report.md (and trace/ when the trace is synthetic).
    #[arg(short = 'o', long, value_name = "DIR", default_value = "run")]
    pub output_dir: PathBuf,

    /// Synthetic trace (no -t): number of functions.
    #[arg(short = 'n', long, default_value_t = 100)]
    pub functions: usize,

    #[command(flatten)]
    pub load: LoadArgs,

    #[command(flatten)]
    pub replay: ReplayArgs,
}

/// How `run` replays the load.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Replay")]
pub struct ReplayArgs {
    /// Timeout of each call, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub grpc_timeout: f64,

    /// Connections per endpoint.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub connections: u32,

    /// Calls outstanding beyond which a due call is recorded as not sent.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_in_flight: usize,

    /// Pin the invoker's dispatcher to this CPU (local servers get the others). Default with the local
    /// deployer on a machine of 2+ CPUs: the last CPU.
    #[arg(long, value_name = "CPU", conflicts_with = "no_pin")]
    pub dispatcher_cpu: Option<usize>,

    /// Do not pin the dispatcher or the local servers.
    #[arg(long)]
    pub no_pin: bool,

    /// Run the dispatcher as SCHED_FIFO (needs root; see `invoker --help`).
    #[arg(long)]
    pub realtime: bool,
}

/// `loadgen clean`.
#[derive(Debug, Clone, Args)]
pub struct CleanArgs {
    /// List the services that would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Layout of a synthetic trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// invocations.csv, durations.csv, memory.csv with per-function memory.
    Sampled,
    /// The raw Azure day files (dNN), with per-app memory.
    Raw,
}

/// `loadgen synth`.
#[derive(Debug, Clone, Args)]
pub struct SynthArgs {
    /// Directory to write the trace into (created if needed).
    #[arg(short = 'o', long, value_name = "PATH", default_value = "trace")]
    pub output: PathBuf,

    /// Number of functions.
    #[arg(short = 'n', long, default_value_t = 200)]
    pub functions: usize,

    /// Number of periods (columns 1..=N).
    #[arg(long, default_value_t = 30)]
    pub periods: usize,

    /// Periods are minutes (true) or seconds (false); rates are scaled to match.
    #[arg(short = 'm', long, value_name = "BOOL", value_parser = parse_bool, default_value = "true",
          action = ArgAction::Set)]
    pub minute: bool,

    /// File layout.
    #[arg(long, value_enum, default_value = "sampled")]
    pub layout: LayoutArg,

    /// Day number in raw-layout file names.
    #[arg(long, default_value_t = 1)]
    pub day: u32,

    /// Seed: the same seed writes the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `loadgen catalogue`.
#[derive(Debug, Clone, Args)]
pub struct CatalogueArgs {
    /// Where to write the built-in catalogue.
    #[arg(short = 'o', long, value_name = "PATH", default_value = "profile.json")]
    pub output: PathBuf,
}

/// Booleans as vSwarm's scripts write them (`true`, `True`, `1`, `yes`, …): the invoker's definition.
pub use invoker::cli::parse_bool;

/// vSwarm's single-dash long flag `-dbg` becomes `--dbg`; everything else is left alone.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| match a.to_str() {
            Some("-dbg") => OsString::from("--dbg"),
            Some(s) if s.starts_with("-dbg=") => OsString::from(format!("-{s}")),
            _ => a,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(normalize_args(args.iter().map(OsString::from)))
    }

    #[test]
    fn vswarm_flags_parse_with_its_defaults() {
        let cli = parse(&["loadgen", "generate"]).unwrap();
        let Command::Generate(g) = cli.command else {
            panic!()
        };
        assert_eq!(g.output, PathBuf::from("load.json"));
        let g = g.load;
        assert_eq!(g.trace.trace, None);
        assert_eq!(g.deploy.deployer, None);
        assert_eq!(g.profile, "profile.json");
        assert_eq!(g.config_proxy, PathBuf::from("config.json"));
        assert_eq!(g.build, PathBuf::from("build"));
        assert!(g.trace.minute);
        assert!(!g.unique);
        assert_eq!(g.iat_distribution, IatDistribution::Uniform);
        assert_eq!((g.duration, g.warmup_duration), (20, 2));

        let cli = parse(&[
            "loadgen",
            "loadgen",
            "-o",
            "x.json",
            "-t",
            "tr",
            "-p",
            "p.json",
            "-c",
            "c.json",
            "-b",
            "bd",
            "-m",
            "False",
            "-u",
            "True",
            "-i",
            "exponential",
            "-d",
            "5",
            "-w",
            "0",
            "-dbg",
        ])
        .unwrap();
        assert!(cli.dbg);
        let Command::Generate(g) = cli.command else {
            panic!()
        };
        let g = g.load;
        assert!(!g.trace.minute && g.unique);
        assert_eq!(g.iat_distribution, IatDistribution::Exponential);
        assert_eq!((g.duration, g.warmup_duration), (5, 0));

        let cli = parse(&[
            "loadgen",
            "generate",
            "--config_proxy",
            "c",
            "--iat_distribution",
            "equidistant",
            "--warmup_duration",
            "1",
            "--minute",
            "true",
            "-dbg",
            "false",
        ])
        .unwrap();
        assert!(!cli.dbg);
        let Command::Generate(g) = cli.command else {
            panic!()
        };
        let g = g.load;
        assert_eq!(g.iat_distribution, IatDistribution::Equidistant);
        assert_eq!(g.warmup_duration, 1);
    }

    #[test]
    fn run_has_its_own_defaults() {
        let Command::Run(r) = parse(&["loadgen", "run"]).unwrap().command else {
            panic!()
        };
        assert_eq!(r.output_dir, PathBuf::from("run"));
        assert_eq!(r.load.profile, "builtin");
        assert_eq!((r.load.duration, r.load.warmup_duration), (1, 0));
        assert_eq!(r.load.deploy.deployer, Some(Deployer::Local));
        assert_eq!(r.load.trace.trace, None);
        let Command::Run(r) = parse(&[
            "loadgen",
            "run",
            "-m",
            "false",
            "-d",
            "20",
            "--local-scale",
            "0.5",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        assert!(!r.load.trace.minute);
        assert_eq!(r.load.duration, 20);
        assert_eq!(r.load.deploy.local_scale, Some(Scale::Factor(0.5)));
        // generate keeps vSwarm's defaults.
        let Command::Generate(g) = parse(&["loadgen", "generate"]).unwrap().command else {
            panic!()
        };
        assert_eq!(g.load.profile, "profile.json");
        assert_eq!(g.load.duration, 20);
    }

    #[test]
    fn bad_flags_are_refused_with_a_reason() {
        let e = parse(&["loadgen", "run", "--local-scale=0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not `auto` or a positive number"), "{e}");
        assert!(parse(&["loadgen", "deploy", "--deployer", "swarm"]).is_err());
        let e = parse(&["loadgen", "generate", "-m", "maybe"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`maybe` is not a boolean"), "{e}");
        let e = parse(&["loadgen", "generate", "-i", "gaussian"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("gaussian"), "{e}");
        assert!(parse(&["loadgen", "generate", "--workers", "0"]).is_err());
        assert!(parse(&["loadgen", "generate", "-d", "-3"]).is_err());
    }
}
