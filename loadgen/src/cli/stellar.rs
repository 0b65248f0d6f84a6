//! The flags of a STeLLAR step: what `loadgen experiment FILE.json` gives each step's `run`.

use std::path::PathBuf;

use clap::Args;

/// Which STeLLAR sub-experiment a run replays, at which gateways, with which timing.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "STeLLAR")]
pub struct StellarArgs {
    /// Replay a sub-experiment of this STeLLAR experiment file instead of a trace (what
    /// `loadgen experiment FILE.json` runs as each step).
    #[arg(long, value_name = "FILE")]
    pub stellar: Option<PathBuf>,

    /// The sub-experiment: its index in the file, or `all` for all of them at once (`"Sequential":
    /// false`).
    #[arg(long, value_name = "N|all", default_value = "0", requires = "stellar")]
    pub stellar_sub: String,

    /// STeLLAR's endpoints JSON: the gateways called (`GatewayID`s, in the provider's URL shapes).
    /// Default: one emulated function per gateway on loopback, answering STeLLAR's HTTP query.
    #[arg(long, value_name = "FILE", requires = "stellar")]
    pub stellar_endpoints: Option<PathBuf>,

    /// `stellar`: STeLLAR's own closed loop (each burst answered before the next, sleeps between
    /// rounds); `scheduled`: every burst fired at its round's nominal instant by the dispatcher (open
    /// loop), the more precise experiment.
    #[arg(long, value_name = "TIMING", default_value = "stellar", value_parser = ["stellar", "scheduled"], requires = "stellar")]
    pub stellar_timing: String,
}
