//! `loadgen experiment`'s flags.

use std::path::PathBuf;

use clap::Args;

/// `loadgen experiment`.
#[derive(Debug, Clone, Args)]
pub struct ExperimentArgs {
    /// The experiment file (TOML); `loadgen experiment --example` prints a commented one.
    #[arg(value_name = "FILE", required_unless_present = "example")]
    pub file: Option<PathBuf>,

    /// Output directory: steps/NNN/ (one `loadgen run` each, with params.json), results.csv, report.md,
    /// figures/, hooks.log. An earlier experiment's files there are removed first; other files make
    /// it refuse, unless --force.
    #[arg(short = 'o', long, value_name = "DIR", default_value = "experiment")]
    pub output_dir: PathBuf,

    /// Print the plan, check every setting, write each step's settings (and Knative YAMLs); deploy
    /// and send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Skip the steps whose results exist in DIR with the same settings.
    #[arg(long)]
    pub resume: bool,

    /// Run a plan of more than 1,000 steps.
    #[arg(long)]
    pub yes: bool,

    /// No live view while each step replays.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Serve each step's metrics in Prometheus' format at http://HOST:PORT/metrics while it replays
    /// (the same address for every step; see `loadgen run --help`).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,

    /// Print a commented example file (it runs here in about two minutes, no cluster) and exit.
    #[arg(long)]
    pub example: bool,

    /// A STeLLAR experiment (JSON): its endpoints JSON, the gateways called. Without it, each gateway is
    /// an emulated function on loopback.
    #[arg(long, value_name = "FILE")]
    pub endpoints: Option<PathBuf>,

    /// A STeLLAR experiment (JSON): `stellar` (its own closed loop, the default) or `scheduled` (every
    /// burst at its nominal instant, open loop).
    #[arg(long, value_name = "TIMING", value_parser = ["stellar", "scheduled"])]
    pub timing: Option<String>,

    /// A STeLLAR experiment (JSON) whose chains say `StorageTransfer`: the store their data goes through
    /// (`redis://HOST:PORT`).
    #[arg(long, value_name = "URL", value_parser = invoker::cli::store_url)]
    pub store: Option<String>,

    /// Write into a directory that holds files an earlier experiment did not write.
    #[arg(long)]
    pub force: bool,
}
