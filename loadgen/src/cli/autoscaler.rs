//! The flags of the commands that run Knative's autoscaler model: `autoscaler` (the decider alone on an
//! observed metric) and `predict` (a run's load simulated offline).

use std::path::PathBuf;

use clap::Args;
use cmdline::values::{number_in, whole_in};

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
    /// Without it, the load is made from the trace (or shape) flags below, as `generate` makes it, and
    /// streamed period by period: no load.json is written or read.
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: Option<PathBuf>,

    /// Where to write scale.csv, summary.json and the figure (and, from a trace, mapping.json).
    #[arg(short = 'o', long, value_name = "DIR", default_value = "predict")]
    pub output: PathBuf,

    /// Every call's duration multiplied by this: a local run's `--local-scale` (its report states it), for
    /// a prediction of what its fleet did; 1 for the proxies' real durations, as on a cluster.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = number_in(1e-9, 1e6))]
    pub duration_scale: f64,

    /// The load: the trace, profile, window and shape flags of `generate`; the autoscaler's knobs
    /// (`--knative-*`), `--container-concurrency` and `--cold-start-ms` (1,000 ms by default, an
    /// assumption: vSwarm's profiles give none). With RUN_DIR, `-m` and `-p` default to the run's
    /// (its records' periods, mapping.json's catalogue), and `--seed` (default 42) seeds the draws of
    /// durations and cold starts only.
    #[command(flatten)]
    pub load: super::LoadArgs,

    /// Which of `-m` and `-p` the command line gave (set by [`super::parse_command_line`]).
    #[arg(skip)]
    pub given: PredictGiven,
}

/// Which flags of `predict` were given, where their defaults are the run directory's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PredictGiven {
    /// `-m`.
    pub minute: bool,
    /// `-p`.
    pub profile: bool,
}
