//! The flags of the commands that run Knative's autoscaler model: `autoscaler` (the decider alone on an
//! observed metric) and `predict` (a run's load simulated offline).

use std::path::PathBuf;

use clap::{ArgAction, Args};
use cmdline::values::{number_in, parse_bool, whole_in};

use super::KnativeArgs;

/// `loadgen autoscaler`.
#[derive(Debug, Clone, Args)]
pub struct AutoscalerArgs {
    /// The revision's metric: a CSV with the header `second,value` and one row per second from 0, the
    /// average concurrency (or requests/s with `--knative-metric rps`) during that second.
    #[arg(long, value_name = "FILE.csv")]
    pub observed: PathBuf,

    /// Where to write the ticks (`time_s,stable,panic,ready,desired,pods,panic_mode,
    /// excess_burst_capacity`); standard output when not given.
    #[arg(short = 'o', long, value_name = "FILE.csv")]
    pub output: Option<PathBuf>,

    /// Seconds from the tick that decides pods to their being ready (0: ready at the next tick).
    #[arg(long, value_name = "SECONDS", default_value_t = 0, value_parser = whole_in::<u64>(0, 3600))]
    pub ready_delay: u64,

    /// The autoscaler's knobs.
    #[command(flatten)]
    pub knative: KnativeArgs,
}

/// `loadgen predict`.
#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// A directory `run`, `generate` or `deploy` wrote: its load.json, endpoints.json (without one, as
    /// `generate` with no deployer leaves it, each endpoint is named by its proxy) and mapping.json.
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,

    /// Where to write scale.csv and summary.json.
    #[arg(short = 'o', long, value_name = "DIR", default_value = "predict")]
    pub output: PathBuf,

    /// The load's periods are minutes (true) or seconds (false), as it was generated. Default: what the
    /// run's records.csv shows, or else minutes (vSwarm's default); a value its records contradict is
    /// refused.
    #[arg(short = 'm', long, value_name = "BOOL", value_parser = parse_bool,
          num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub minute: Option<bool>,

    /// The proxies' catalogue (a profile.json or `builtin`); default: the one mapping.json names.
    #[arg(short = 'p', long, value_name = "PATH|builtin")]
    pub profile: Option<String>,

    /// Calls one instance serves at once (`containerConcurrency`); 0: no limit.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = whole_in::<u32>(0, 1000))]
    pub container_concurrency: u32,

    /// Time a new instance takes to be ready, ms: `N`, or percentiles drawn per instance
    /// (`p50:N,p99:M,…`). The default, 1,000 ms, is an assumption: vSwarm's profiles give none.
    #[arg(long, value_name = "MS|pP:MS,…", default_value = "1000", value_parser = super::knative::parse_cold_start)]
    pub cold_start_ms: formats::Percentiles,

    /// Every call's duration multiplied by this: a local run's `--local-scale` (its report states it), for
    /// a prediction of what its fleet did; 1 for the proxies' real durations, as on a cluster.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = number_in(1e-9, 1e6))]
    pub duration_scale: f64,

    /// Seed of the calls' durations (drawn from their proxies' percentiles where the load asks none) and
    /// of the cold starts.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,

    /// The autoscaler's knobs.
    #[command(flatten)]
    pub knative: KnativeArgs,
}
