//! Flags that watch a run: the live view, the `/metrics` endpoint, and the collectors of what the
//! platform did (scale, Prometheus queries).

use std::time::Duration;

use clap::Args;
use cmdline::values::{seconds_from_zero_up_to, seconds_up_to, DAY_SECONDS};

/// How a run is watched.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Observing")]
pub struct ObserveArgs {
    /// No live view while the load replays (it shows one screen on a terminal, one line per interval
    /// elsewhere).
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Seconds between two updates of the live view.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = seconds_up_to(3600.0))]
    pub live_interval: Duration,

    /// Serve the replay's metrics in Prometheus' format at http://HOST:PORT/metrics while it runs:
    /// `loadgen_…` (calls due, sent, finished by outcome, in flight, send lag and latency, the busiest
    /// endpoints) and, with the local deployer, the emulated functions' `emulated_…`.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,

    /// Keep serving /metrics this many seconds after the replay, so a scraper sees the final counts.
    #[arg(long, value_name = "SECONDS", default_value = "0",
          value_parser = seconds_from_zero_up_to(3600.0), requires = "metrics_addr")]
    pub metrics_linger: Duration,

    /// Seconds between two samples of the platform's scale (Knative: pods of each service deployed, and
    /// the activator and autoscaler, by one kubectl call; local: the emulated functions' instances,
    /// calls in flight, busy threads, queue), and the step of the Prometheus queries. 0: no scale
    /// sampling.
    #[arg(long, value_name = "SECONDS", default_value = "5",
          value_parser = seconds_from_zero_up_to(DAY_SECONDS))]
    pub scale_interval: Duration,

    /// A Prometheus server (http://HOST:PORT) to ask, when the run ends, for the run's window of node
    /// CPU and memory and Knative's autoscaler and activator metrics, and of every --prometheus-query.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,

    /// A named PromQL query to run over the run's window as well (repeatable): NAME=PROMQL.
    #[arg(long, value_name = "NAME=PROMQL", value_parser = parse_query, requires = "prometheus")]
    pub prometheus_query: Vec<(String, String)>,
}

impl ObserveArgs {
    /// How often the replay's calls are followed while it runs: the live view's interval, when there is
    /// a live view or `/metrics` to feed (workers then report this often too).
    pub fn followed_every(&self) -> Option<Duration> {
        (!self.quiet || self.metrics_addr.is_some()).then_some(self.live_interval)
    }
}

/// `NAME=PROMQL`, the name usable in a file name.
fn parse_query(s: &str) -> Result<(String, String), String> {
    let Some((name, query)) = s.split_once('=') else {
        return Err(format!("`{s}` is not NAME=PROMQL"));
    };
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "query name `{name}`: use letters, digits, `-` and `_` (it names the CSV file)"
        ));
    }
    if query.trim().is_empty() {
        return Err(format!("query `{name}` is empty"));
    }
    Ok((name.to_owned(), query.trim().to_owned()))
}
