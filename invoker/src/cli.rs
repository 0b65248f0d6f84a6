//! The invoker's command line: vSwarm's Go invoker flags (single-dash, `-flag=value` or `-flag value`,
//! bare booleans), with its defaults, plus what honest measurement needs.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{ArgAction, Parser};

/// Replays load.json over gRPC, firing each call at its scheduled microsecond and recording every one.
#[derive(Debug, Clone, Parser)]
#[command(name = "invoker", version, about, long_about = None)]
pub struct InvokerArgs {
    /// Load file (vSwarm load.json, or a worker's load-K.json).
    #[arg(
        long = "traceFile",
        alias = "trace-file",
        value_name = "PATH",
        default_value = "load.json"
    )]
    pub trace_file: PathBuf,

    /// Experiment periods replayed after the warm-up.
    #[arg(long, value_name = "INT", default_value_t = 8)]
    pub duration: u32,

    /// Warm-up periods replayed first and left out of statistics.
    #[arg(long, value_name = "INT", default_value_t = 2)]
    pub warmup: u32,

    /// Periods are minutes (true) or seconds (false).
    #[arg(long, value_name = "BOOL", value_parser = parse_bool, num_args = 0..=1,
          default_value = "true", default_missing_value = "true", action = ArgAction::Set)]
    pub min: bool,

    /// Latency file: one latency in µs per line (successful calls after warm-up), at exactly this path.
    #[arg(long, value_name = "PATH", default_value = "lat.csv")]
    pub latf: PathBuf,

    /// Port for endpoints that name none.
    #[arg(long, default_value_t = 80)]
    pub port: u16,

    /// Timeout of each call, seconds.
    #[arg(
        long = "grpcTimeout",
        alias = "grpc-timeout",
        value_name = "SECONDS",
        default_value_t = 30.0
    )]
    pub grpc_timeout: f64,

    /// Debug messages.
    #[arg(long, value_name = "BOOL", value_parser = parse_bool, num_args = 0..=1,
          default_value = "false", default_missing_value = "true", action = ArgAction::Set)]
    pub dbg: bool,

    /// vSwarm's client tracing (Zipkin): accepted for compatibility, not supported.
    #[arg(long, value_name = "BOOL", value_parser = parse_bool, num_args = 0..=1,
          default_value = "false", default_missing_value = "true", action = ArgAction::Set)]
    pub trace: bool,

    /// vSwarm's Zipkin URL: accepted for compatibility, unused.
    #[arg(long, value_name = "URL")]
    pub zipkin: Option<String>,

    /// Per-invocation CSV: scheduled time, dispatch and send lag, latency, outcome.
    #[arg(long, value_name = "PATH")]
    pub records: Option<PathBuf>,

    /// Summary as JSON.
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,

    /// Start at this wall-clock instant (RFC 3339, e.g. 2026-11-23T10:00:00Z, or Unix seconds), so the
    /// invokers of several workers start together.
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    pub start_at: Option<SystemTime>,

    /// Connections per endpoint (calls go round-robin over them).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub connections: u32,

    /// Calls outstanding beyond which a due call is recorded as not sent rather than sent.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_in_flight: usize,

    /// Go on when an endpoint is unreachable at start; its calls are recorded as failures.
    #[arg(long)]
    pub allow_unreachable: bool,

    /// Run the dispatcher thread as SCHED_FIFO (needs root). It removes preemption by other processes,
    /// but the kernel throttles a real-time thread that never sleeps (~50 ms per second): use it for rates
    /// where the dispatcher parks between calls (well under 1,000 calls/s).
    #[arg(long)]
    pub realtime: bool,

    /// Pin the dispatcher thread to this CPU and the invoker's other threads to the rest; give the
    /// function servers on the same machine the rest too (e.g. `taskset -c 0`), so nothing preempts it.
    #[arg(long, value_name = "CPU")]
    pub dispatcher_cpu: Option<usize>,
}

impl InvokerArgs {
    /// Period length, µs.
    pub fn period_us(&self) -> u64 {
        trace::Granularity::from_minute_flag(self.min).period_us()
    }

    /// `-grpcTimeout` as a duration (validated positive).
    pub fn timeout(&self) -> Result<Duration, String> {
        positive_seconds(self.grpc_timeout, "-grpcTimeout")
    }
}

/// `value` seconds as a duration when it is a positive finite number; otherwise an error naming `flag`.
pub fn positive_seconds(value: f64, flag: &str) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "{flag} must be a positive number of seconds, not {value}"
        ))
    }
}

const GO_FLAGS: [&str; 10] = [
    "traceFile",
    "duration",
    "warmup",
    "min",
    "latf",
    "port",
    "grpcTimeout",
    "dbg",
    "trace",
    "zipkin",
];

/// Go's single-dash long flags (`-min=false`, `-duration 15`) become clap's double-dash ones.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| match a.to_str() {
            Some(s) if s.starts_with('-') && !s.starts_with("--") => {
                let name = s[1..].split('=').next().unwrap_or("");
                if GO_FLAGS.contains(&name) {
                    OsString::from(format!("-{s}"))
                } else {
                    a
                }
            }
            _ => a,
        })
        .collect()
}

/// Booleans as Go and Python (vSwarm) scripts write them: `true`, `True`, `1`, `yes`, and their opposites.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "t" | "y" | "yes" => Ok(true),
        "false" | "0" | "f" | "n" | "no" => Ok(false),
        _ => Err(format!("`{s}` is not a boolean (use true or false)")),
    }
}

fn parse_instant(s: &str) -> Result<SystemTime, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("`{s}` is neither RFC 3339 nor Unix seconds: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<InvokerArgs, clap::Error> {
        InvokerArgs::try_parse_from(normalize_args(
            std::iter::once("invoker")
                .chain(args.iter().copied())
                .map(OsString::from),
        ))
    }

    #[test]
    fn go_style_flags_parse_with_vswarm_defaults() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.trace_file, PathBuf::from("load.json"));
        assert_eq!((a.duration, a.warmup, a.port), (8, 2, 80));
        assert!(a.min && !a.dbg);
        assert_eq!(a.latf, PathBuf::from("lat.csv"));
        assert_eq!(a.grpc_timeout, 30.0);

        let a = parse(&[
            "-duration",
            "15",
            "-min=false",
            "-traceFile",
            "x.json",
            "-dbg",
            "-grpcTimeout=2",
        ])
        .unwrap();
        assert_eq!(a.duration, 15);
        assert!(!a.min && a.dbg);
        assert_eq!(a.trace_file, PathBuf::from("x.json"));
        assert_eq!(a.timeout().unwrap(), Duration::from_secs(2));
        assert_eq!(a.period_us(), 1_000_000);

        let a = parse(&[
            "-min",
            "false",
            "-warmup",
            "0",
            "-latf",
            "l.txt",
            "-port=8080",
            "-trace",
            "-zipkin",
            "http://z",
        ])
        .unwrap();
        assert!(!a.min);
        assert_eq!((a.warmup, a.port), (0, 8080));
        let a = parse(&["-min", "-duration", "3"]).unwrap();
        assert!(a.min);
        assert_eq!(a.duration, 3);

        let a = parse(&[
            "--records",
            "r.csv",
            "--start-at",
            "1700000000.5",
            "--connections",
            "4",
        ])
        .unwrap();
        assert_eq!(
            a.start_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500))
        );
        assert_eq!(a.connections, 4);
        assert!(parse(&["--start-at", "2026-11-23T10:00:00Z"])
            .unwrap()
            .start_at
            .is_some());
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(parse(&["-min", "maybe"])
            .unwrap_err()
            .to_string()
            .contains("`maybe` is not a boolean"));
        assert!(parse(&["-duration", "x"]).is_err());
        assert!(parse(&["--start-at", "tomorrow"])
            .unwrap_err()
            .to_string()
            .contains("neither RFC 3339"));
        assert!(parse(&["-grpcTimeout", "0"]).unwrap().timeout().is_err());
        assert!(parse(&["-nonsense"]).is_err());
    }
}
