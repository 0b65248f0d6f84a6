//! Flags of the load shapes that need no trace: a target rate (`--rps`, with steps, ramps and cold
//! starts) and STeLLAR's bursts (`--burst-size`), and the proxy they call.

use std::time::Duration;

use clap::Args;
use cmdline::values::{number_in, seconds_up_to, whole_in, DAY_SECONDS};

/// Highest rate `--rps` and `--rps-max` accept, calls/s.
pub const MAX_RPS: f64 = 1_000_000.0;

/// A load made from a rate or bursts instead of a trace.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Load shapes (no trace)")]
pub struct ShapeArgs {
    /// Make a load of R calls per second, with no trace (a fraction: one call every 1/R s). The calls of
    /// each second are spread by -i/--iat-distribution; -d and -w count periods (-m false: seconds).
    #[arg(long, value_name = "R", value_parser = number_in(0.001, MAX_RPS),
          conflicts_with_all = ["trace", "burst_size"])]
    pub rps: Option<f64>,

    /// Raise the rate by S calls/s every --rps-every seconds (up to --rps-max).
    #[arg(long, value_name = "S", default_value_t = 0.0, value_parser = number_in(0.0, MAX_RPS),
          requires = "rps")]
    pub rps_step: f64,

    /// Seconds between two raises of --rps-step.
    #[arg(long, value_name = "SECONDS", default_value = "60",
          value_parser = seconds_up_to(DAY_SECONDS), requires = "rps")]
    pub rps_every: Duration,

    /// Highest rate the steps or the ramp reach, calls/s.
    #[arg(long, value_name = "M", value_parser = number_in(0.001, MAX_RPS), requires = "rps")]
    pub rps_max: Option<f64>,

    /// Raise the rate linearly (--rps-step per --rps-every, continuously) rather than in steps.
    #[arg(long, requires = "rps")]
    pub rps_ramp: bool,

    /// Percentage of the calls sent to functions that are each called only after --cooldown seconds of
    /// silence (cold starts); as many such functions are deployed as that takes. The rest go to one warm
    /// function. Every function is a distinct deployment of the same proxy.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = number_in(0.0, 100.0),
          requires = "rps")]
    pub cold_ratio: f64,

    /// Time between two calls of one cold function, seconds. For each call to meet an instance scaled to
    /// zero it must exceed the idle time that scales one down plus the longest call. Default: --keep-alive
    /// plus the proxy's longest duration (p100) plus one second (on Knative, set it past the
    /// scale-to-zero delay).
    #[arg(long, value_name = "SECONDS", value_parser = seconds_up_to(DAY_SECONDS),
          requires = "rps")]
    pub cooldown: Option<Duration>,

    /// Bursts (STeLLAR): B calls at once to each endpoint, no trace needed.
    #[arg(long, value_name = "B", value_parser = whole_in::<u32>(1, 100_000),
          conflicts_with = "trace", requires = "burst_iat")]
    pub burst_size: Option<u32>,

    /// Bursts: the least time between two bursts to one endpoint, seconds; each gap adds an exponential
    /// draw of mean --burst-jitter (a shifted exponential, as STeLLAR).
    #[arg(long, value_name = "SECONDS", value_parser = seconds_up_to(DAY_SECONDS),
          requires = "burst_size")]
    pub burst_iat: Option<Duration>,

    /// Bursts: mean of the exponential part of each gap, seconds. Default: a tenth of --burst-iat.
    #[arg(long, value_name = "SECONDS", value_parser = seconds_up_to(DAY_SECONDS),
          requires = "burst_size")]
    pub burst_jitter: Option<Duration>,

    /// Bursts: endpoints bursting in parallel, each a distinct deployment of the proxy.
    #[arg(long, value_name = "E", default_value_t = 1, value_parser = whole_in::<u32>(1, 10_000),
          requires = "burst_size")]
    pub burst_endpoints: u32,

    /// RPS and bursts: the proxy called, by name in the catalogue (-p).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["rps_duration_ms", "rps_memory_mb"])]
    pub rps_proxy: Option<String>,

    /// RPS and bursts: call the catalogue's proxy nearest to this duration, ms (default 100).
    #[arg(long, value_name = "MS", value_parser = number_in(0.001, 3_600_000.0))]
    pub rps_duration_ms: Option<f64>,

    /// RPS and bursts: call the catalogue's proxy nearest to this memory, MB (default 128).
    #[arg(long, value_name = "MB", value_parser = number_in(1.0, 1_048_576.0))]
    pub rps_memory_mb: Option<f64>,
}

impl ShapeArgs {
    /// Whether a shape, not a trace, makes the load.
    pub fn is_set(&self) -> bool {
        self.rps.is_some() || self.burst_size.is_some()
    }
}
