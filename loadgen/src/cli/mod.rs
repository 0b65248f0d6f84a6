//! Command-line surface. Flags mirror vSwarm's `main.py loadgen` (long and short forms, its defaults, its
//! `true`/`True` booleans and its underscore spellings), plus what a reproducible experiment needs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use cmdline::values::{parse_bool, whole_in};

mod autoscaler;
mod checks;
mod disturb;
mod experiment;
mod knative;
mod load;
mod observe;
mod shape;
mod stellar;

pub use autoscaler::{AutoscalerArgs, PredictArgs, PredictGiven};
pub use disturb::DisturbArgs;
pub use experiment::ExperimentArgs;
pub use knative::KnativeArgs;
pub use load::{
    parse_percentile, AppMemoryArg, DeployArgs, LoadArgs, LocalPlatform, ReplayArgs, Scale,
    TraceArgs, MAX_PERIODS, MAX_SCALE,
};
pub use observe::ObserveArgs;
pub use shape::{ShapeArgs, MAX_RPS};
pub use stellar::StellarArgs;

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
    Run(Box<RunArgs>),
    /// A whole experiment from one TOML file: sweeps and repeats of `run`, lifecycle hooks, and one
    /// comparison of all steps (results.csv, report.md). `--example` prints a commented file.
    Experiment(ExperimentArgs),
    /// Delete the Knative services, workers' Jobs and their Secrets loadgen made (those carrying its
    /// label), and nothing else.
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
    /// Run Knative's autoscaler (the KPA decider) alone on one revision's observed concurrency or
    /// requests/s: one CSV row per tick.
    Autoscaler(AutoscalerArgs),
    /// Predict, with no call sent, what Knative's autoscaler makes of a run's load: instances, cold
    /// starts, instance-seconds and the activator's queueing, per function.
    Predict(PredictArgs),
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
    #[arg(long, default_value_t = 75, value_parser = parse_percentile)]
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
    pub start: trace::preprocess::ExcerptStart,

    /// Length of the excerpt, minutes (it may cross into the following days; at most the dataset's 14
    /// days).
    #[arg(short = 'd', long, value_name = "MINUTES", default_value_t = 1440,
          value_parser = whole_in::<u32>(1, 14 * 1440))]
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
    #[arg(long, default_value_t = 100, value_parser = whole_in::<usize>(1, MAX_FUNCTIONS))]
    pub min: usize,

    /// Step between sizes.
    #[arg(long, default_value_t = 100, value_parser = whole_in::<usize>(1, MAX_FUNCTIONS))]
    pub step: usize,

    /// Largest sample (sizes are min, min+step, … up to it).
    #[arg(long, default_value_t = 1000, value_parser = whole_in::<usize>(1, MAX_FUNCTIONS))]
    pub max: usize,

    /// Random subsets tried per size; the closest to the original wins (1 to 100,000).
    #[arg(long, default_value_t = 16, value_parser = whole_in::<usize>(1, 100_000))]
    pub trials: usize,

    /// Seed: the same seed gives the same samples whatever the number of threads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
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

/// `loadgen run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Output directory: load.json, mapping.json, endpoints.json, records.csv, lat.csv, summary.json,
    /// report.md, plots/ (and trace/ when the trace is synthetic). An earlier run's files there are
    /// removed first; other files make the run refuse, unless --force.
    #[arg(short = 'o', long, value_name = "DIR", default_value = "run")]
    pub output_dir: PathBuf,

    /// Synthetic trace (no -t): number of functions (1 to 1,000,000).
    #[arg(short = 'n', long, default_value_t = 100, value_parser = whole_in::<usize>(1, MAX_FUNCTIONS))]
    pub functions: usize,

    #[command(flatten)]
    pub load: LoadArgs,

    #[command(flatten)]
    pub replay: ReplayArgs,

    #[command(flatten)]
    pub observe: ObserveArgs,

    #[command(flatten)]
    pub stellar: StellarArgs,

    #[command(flatten)]
    pub disturb: DisturbArgs,

    /// Write into an output directory that holds files an earlier run did not write (they are left
    /// there). An earlier run's own files are always removed first, so runs never mix.
    #[arg(long)]
    pub force: bool,

    /// Continue the cut run in DIR (interrupted, a worker lost, or its loadgen killed: the run's
    /// directory, or the `.failed-ID` or `.staging-ID` one it left) with the flags it was run with: each
    /// worker sends its calls from the first after its last record, and the records of both sessions
    /// become one run in DIR. The gap between them is recorded (summary.json `resumed`, report.md).
    #[arg(long, value_name = "DIR", conflicts_with = "force")]
    pub resume: Option<PathBuf>,
}

/// `loadgen clean`.
#[derive(Debug, Clone, Args)]
pub struct CleanArgs {
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Only what this run made (its id is in its report and on its objects' `serverless-loadgen/run`
    /// label).
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
}

/// Layout of a synthetic trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// invocations.csv, durations.csv, memory.csv with per-function memory.
    Sampled,
    /// The raw Azure day files (dNN), with per-app memory.
    Raw,
    /// The Azure 2021 invocation trace: one row per invocation (`app,func,end_timestamp,duration`), in
    /// AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt; `-t` takes that file.
    Azure2021,
}

/// `loadgen synth`.
#[derive(Debug, Clone, Args)]
pub struct SynthArgs {
    /// Directory to write the trace into (created if needed).
    #[arg(short = 'o', long, value_name = "PATH", default_value = "trace")]
    pub output: PathBuf,

    /// Number of functions (1 to 1,000,000).
    #[arg(short = 'n', long, default_value_t = 200, value_parser = whole_in::<usize>(1, MAX_FUNCTIONS))]
    pub functions: usize,

    /// Number of periods (columns 1..=N; 1 to 1,000,000).
    #[arg(long, default_value_t = 30, value_parser = whole_in::<usize>(1, MAX_PERIODS))]
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

    /// Refuses an `-o` that is a directory, before anything is written (the load is one file).
    pub fn check_output(&self) -> anyhow::Result<()> {
        if self.output.is_dir() {
            anyhow::bail!(
                "-o {}: is a directory; give the path of the load file to write (e.g. {}/load.json)",
                self.output.display(),
                self.output.display()
            );
        }
        Ok(())
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

/// Most functions a trace or sample may be asked to hold (the Azure dataset has about 46,000 a day).
pub const MAX_FUNCTIONS: u64 = 1_000_000;

/// Parses `loadgen`'s command line: vSwarm's Go-style spellings normalised first (`-dbg`, `-d20`), an
/// unknown single-dash flag named with the nearest known one.
pub fn parse_command_line(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let mut command = Cli::command();
    let args = cmdline::goflags::parse_args(&command, args)?;
    let matches = command.try_get_matches_from_mut(args)?;
    if let Some((name, sub)) = matches.subcommand() {
        if let Some(why) = checks::changes_nothing(name, sub) {
            let mut sub = command
                .find_subcommand_mut(name)
                .cloned()
                .unwrap_or(command);
            return Err(sub.error(clap::error::ErrorKind::ArgumentConflict, why));
        }
    }
    let mut cli = Cli::from_arg_matches(&matches)?;
    if let (Command::Predict(args), Some(("predict", sub))) =
        (&mut cli.command, matches.subcommand())
    {
        let given = |id: &str| sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        args.given = autoscaler::PredictGiven {
            minute: given("minute"),
            profile: given("profile"),
        };
    }
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iat::IatDistribution;
    use deploy::Deployer;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        parse_command_line(args.iter().map(OsString::from))
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
        assert!(e.contains("not `auto` or a number above 0"), "{e}");
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
        let e = parse(&["loadgen", "generate", "-d", "-3"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid value '-3' for '--duration"), "{e}");
        let e = parse(&["loadgen", "run", "-d", "0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("from 1 to 1000000"), "{e}");
        let e = parse(&["loadgen", "run", "--grpc-timeout", "1e20"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--grpc-timeout") && e.contains("at most 86400"),
            "{e}"
        );
        let e = parse(&["loadgen", "deploy", "--ready-timeout", "1e20"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--ready-timeout"), "{e}");
        let e = parse(&["loadgen", "generate", "--percentile", "42"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--percentile"), "{e}");
        let e = parse(&["loadgen", "run", "-dgb"]).unwrap_err().to_string();
        assert!(
            e.contains("unknown flag `-dgb`") && e.contains("-dbg"),
            "{e}"
        );
        let Command::Run(r) = parse(&["loadgen", "run", "-d20", "-w", "1"])
            .unwrap()
            .command
        else {
            panic!()
        };
        assert_eq!((r.load.duration, r.load.warmup_duration), (20, 1));
        for bad in [
            &["loadgen", "synth", "--periods", "0"][..],
            &["loadgen", "run", "--local-threads", "0"],
            &["loadgen", "run", "--local-scale", "1e300"],
            &["loadgen", "run", "--max-in-flight", "0"],
            &["loadgen", "sample", "-t", "x", "--trials", "0"],
            &["loadgen", "preprocess", "-t", "x", "-d", "99999999"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
