//! `loadgen run`'s disturbances: interference windows and faults on the replay's timeline (see the
//! `disturbance` crate and docs/disturbance.md).

use clap::Args;
use disturbance::{Fault, Interference};

/// Interference and faults.
#[derive(Debug, Clone, Default, Args)]
pub struct DisturbArgs {
    /// Interference during the replay, repeatable: `KIND:key=value,…` with KIND cpu (threads, load %
    /// per thread), memory (mib held), memory-bandwidth (mib streamed), network (bitrate, to) or
    /// command (run, last); every kind takes start and stop (seconds from the replay's start) and where
    /// (local, or nodes:LABEL=VALUE). Example: cpu:threads=1,load=100,start=2,stop=4.
    #[arg(long, value_name = "KIND:KEY=VALUE,…", help_heading = "Disturbances")]
    pub interference: Vec<Interference>,

    /// A fault during the replay, repeatable: `AT:ACTION[:key=value,…]` with ACTION kill-instances
    /// (function, count or percent), pause-worker (worker, seconds), kill-worker (worker), delete-pods
    /// (control_plane, data_plane, or namespace and selector) or command (run). Example:
    /// 3:kill-worker:worker=1.
    #[arg(
        long,
        value_name = "AT:ACTION[:KEY=VALUE,…]",
        help_heading = "Disturbances"
    )]
    pub fault: Vec<Fault>,
}

impl DisturbArgs {
    /// Whether none is asked for.
    pub fn is_empty(&self) -> bool {
        self.interference.is_empty() && self.fault.is_empty()
    }
}
