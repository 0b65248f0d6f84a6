//! The invoker's command line: vSwarm's Go invoker flags (single-dash, `-flag=value` or `-flag value`,
//! bare booleans), with its defaults, plus what honest measurement needs.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{ArgAction, Parser};
use cmdline::values::{parse_bool, parse_instant, seconds_up_to, whole_in, DAY_SECONDS};

/// Replays load.json over gRPC or HTTP, firing each call at its scheduled microsecond and recording every one.
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

    /// Experiment periods replayed after the warm-up (0 to 1,000,000).
    #[arg(long, value_name = "INT", default_value_t = 8, value_parser = whole_in::<u32>(0, MAX_PERIODS))]
    pub duration: u32,

    /// Warm-up periods replayed first and left out of statistics (0 to 1,000,000).
    #[arg(long, value_name = "INT", default_value_t = 2, value_parser = whole_in::<u32>(0, MAX_PERIODS))]
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

    /// Timeout of each call, seconds (above 0, at most a day).
    #[arg(
        long = "grpcTimeout",
        alias = "grpc-timeout",
        value_name = "SECONDS",
        default_value = "30",
        value_parser = seconds_up_to(DAY_SECONDS)
    )]
    pub grpc_timeout: Duration,

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

    /// Write the records zstd-compressed (`none` or `zstd`): --records gets `.zst` appended, and a worker
    /// sends its records back compressed. A --records path ending in `.zst` is compressed either way.
    #[arg(long, value_name = "HOW", default_value = "none", value_parser = formats::compressed::Compression::parse)]
    pub compress: formats::compressed::Compression,

    /// Start at this wall-clock instant (RFC 3339, e.g. 2026-11-23T10:00:00Z, or Unix seconds; at most
    /// 7 days ahead), so the invokers of several workers start together.
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    pub start_at: Option<SystemTime>,

    /// What each call sends to HTTP endpoints, and how their connections are held.
    #[command(flatten)]
    pub request: crate::request::RequestArgs,

    /// Connections per endpoint opened before the run: gRPC and HTTP/2 calls go round-robin over them;
    /// HTTP/1.1 opens more as calls need them (up to --max-connections).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub connections: u32,

    /// Calls outstanding beyond which a due call is recorded as not sent rather than sent (1 to 10,000,000).
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = whole_in::<usize>(1, 10_000_000))]
    pub max_in_flight: usize,

    /// Go on when an endpoint is unreachable at start; its calls are recorded as failures.
    #[arg(long)]
    pub allow_unreachable: bool,

    /// Who calls a workflow load's nodes: `client` (the invoker, once a node's predecessors answered) or
    /// `chained` (the invoker sends each instance's entry call, carrying the instance's plan, and the
    /// functions call the rest).
    #[arg(long, value_name = "MODE", value_enum, default_value_t = crate::options::Orchestration::Client)]
    pub orchestration: crate::options::Orchestration,

    /// Move a workflow load's data through this store (`redis://HOST:PORT`, which the functions reach):
    /// each function reads its inputs there and writes its outputs, and requests carry none. Default:
    /// inline, in the requests.
    #[arg(long, value_name = "URL", value_parser = store_url)]
    pub store: Option<String>,

    /// The share of a workflow load's instances traced (0 to 1): their calls' spans go to spans.json
    /// beside the records (OTLP JSON), and to --otlp-endpoint. Every call carries a W3C `traceparent`,
    /// sampled or not.
    #[arg(long, value_name = "P", default_value_t = 1.0, value_parser = share)]
    pub span_sample: f64,

    /// Send a workflow load's spans to this OTLP/HTTP receiver as calls end (`http://HOST:PORT[/PATH]`,
    /// the path `/v1/traces` when none is given), OTLP JSON.
    #[arg(long, value_name = "URL", value_parser = otlp_endpoint)]
    pub otlp_endpoint: Option<String>,

    /// Run the dispatcher thread as SCHED_FIFO (needs root). It removes preemption by other processes,
    /// but the kernel throttles a real-time thread that never sleeps (~50 ms per second): use it for rates
    /// where the dispatcher parks between calls (well under 1,000 calls/s).
    #[arg(long)]
    pub realtime: bool,

    /// The dispatcher shares its CPU with other busy ones (several invokers on a machine with fewer CPUs):
    /// park through every gap over 80 µs instead of spinning through gaps under 3 ms, so each mostly
    /// sleeps and is woken on time rather than waiting for a scheduler slice.
    #[arg(long)]
    pub shared_cpu: bool,

    /// Serve the replay's metrics in Prometheus' format at http://HOST:PORT/metrics while it runs
    /// (calls due, sent, finished by outcome, in flight, send lag and latency histograms, the busiest
    /// endpoints).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,

    /// Pin the dispatcher thread to this CPU and the invoker's other threads to the rest; give the
    /// function servers on the same machine the rest too (e.g. `taskset -c 0`), so nothing preempts it.
    #[arg(long, value_name = "CPU", value_parser = whole_in::<usize>(0, 4095))]
    pub dispatcher_cpu: Option<usize>,

    /// Work for a `loadgen` coordinator at this address (http://HOST:PORT), as `loadgen run --workers N`
    /// starts its invokers: fetch this worker's shard of the load from it, measure the clock against it,
    /// replay, and send the records and summary back. --start-at is then on the coordinator's clock, and
    /// --traceFile, --records, --summary and --latf are files in --work-dir.
    #[arg(long, value_name = "URL", requires = "worker")]
    pub coordinator: Option<String>,

    /// This invoker replays worker K's share of a load (0-based; needs --workers): its records carry K and
    /// each call's index in the whole load.
    #[arg(long, value_name = "K", requires = "workers", value_parser = whole_in::<u32>(0, 4095))]
    pub worker: Option<u32>,

    /// Workers sharing the load (1 to 4,096).
    #[arg(long, value_name = "N", requires = "worker", value_parser = whole_in::<u32>(1, 4096))]
    pub workers: Option<u32>,

    /// With --coordinator: stop sending when the coordinator has not answered for SECONDS (it is asked
    /// every few seconds while the replay runs): a worker whose coordinator is gone sends load nobody
    /// records. The records so far are kept in --work-dir, and sent back if the coordinator returns.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = seconds_up_to(86400.0))]
    pub coordinator_timeout: Duration,

    /// With --coordinator: send the records to the coordinator in chunks of N calls while replaying (each
    /// once its calls have all ended), so a worker lost mid-run loses at most the chunk it was writing.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = whole_in::<u64>(1, 1_000_000_000))]
    pub records_chunk: u64,

    /// With --coordinator: send the coordinator a live report every SECONDS while replaying (what its
    /// live view and `/metrics` show of this worker); without it, none.
    #[arg(long, value_name = "SECONDS", requires = "coordinator", value_parser = seconds_up_to(3600.0))]
    pub live_interval: Option<Duration>,

    /// With --coordinator: read this worker's shard straight from the coordinator, as the replay goes
    /// (its head asked for first), instead of fetching it whole into --work-dir before the start: no
    /// copy on this machine's disk, and no wait for one.
    #[arg(long, requires = "coordinator")]
    pub stream_shard: bool,

    /// Continue a cut replay (`loadgen run --resume`): the load's time, µs, that is this replay's time 0
    /// (each call is sent its due time less this after the start). Needs --resume-first.
    #[arg(long, value_name = "US", requires = "resume_first")]
    pub resume_from_us: Option<u64>,

    /// With --resume-from-us: the first call to send, as a position in this invoker's share (its calls
    /// before it were recorded by the earlier session, and are neither sent nor recorded); with
    /// --workers, one position per worker, comma-separated, worker K taking the K-th.
    #[arg(
        long,
        value_name = "P[,P...]",
        value_delimiter = ',',
        requires = "resume_from_us"
    )]
    pub resume_first: Vec<u64>,

    /// With --coordinator: where the shard and the results are kept (default: a temporary directory,
    /// removed once the results are sent).
    #[arg(long, value_name = "DIR", requires = "coordinator")]
    pub work_dir: Option<PathBuf>,
}

/// Most periods a flag may ask for: the load format's own bound.
pub use formats::load::MAX_PERIODS;

impl InvokerArgs {
    /// Period length, µs.
    pub fn period_us(&self) -> u64 {
        formats::Granularity::from_minute_flag(self.min).period_us()
    }

    /// Parses the binary's command line: Go-style flags normalised first (see `cmdline::goflags`).
    pub fn parse_command_line(
        args: impl IntoIterator<Item = std::ffi::OsString>,
    ) -> Result<InvokerArgs, clap::Error> {
        use clap::CommandFactory;
        let args = cmdline::goflags::parse_args(&InvokerArgs::command(), args)?;
        InvokerArgs::try_parse_from(args)
    }
}

/// What every worker's invoker is told, besides where the coordinator is and which worker it is.
#[derive(Debug, Clone)]
pub struct InvokerSettings {
    /// Periods are minutes.
    pub minute: bool,
    /// Warm-up periods.
    pub warmup: u32,
    /// Measured periods.
    pub duration: u32,
    /// Per-call timeout.
    pub grpc_timeout: Duration,
    /// Connections per endpoint.
    pub connections: u32,
    /// Calls outstanding beyond which a due call is not sent.
    pub max_in_flight: usize,
    /// SCHED_FIFO dispatchers.
    pub realtime: bool,
    /// The dispatchers share CPUs (`invoker --shared-cpu`): they park through short gaps.
    pub shared_cpu: bool,
    /// How often each worker reports what it has done to the coordinator's live view and `/metrics`
    /// (`invoker --live-interval`); none: not at all.
    pub live_interval: Option<Duration>,
    /// What each call sends, and how HTTP connections are held.
    pub request: crate::request::RequestArgs,
    /// How each worker writes, and sends back, its records.
    pub compress: formats::compressed::Compression,
    /// How long a worker goes on sending while its coordinator does not answer.
    pub coordinator_timeout: Duration,
    /// Calls in each chunk of records a worker sends while it replays.
    pub records_chunk: u64,
    /// A resumed replay: the load's time that is time 0, and each worker's first position to send.
    pub resume: Option<crate::options::ResumedShares>,
    /// Each worker reads its shard straight from the coordinator (`invoker --stream-shard`).
    pub stream_shard: bool,
}

/// The arguments of worker `worker` (a number, or `$(JOB_COMPLETION_INDEX)` in a Job).
pub fn invoker_args(
    coordinator: &str,
    worker: &str,
    workers: u32,
    start_at: SystemTime,
    settings: &InvokerSettings,
    work_dir: &str,
    cpu: Option<usize>,
) -> Vec<String> {
    let at = start_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut args = vec![
        "--coordinator".to_owned(),
        coordinator.to_owned(),
        "--worker".to_owned(),
        worker.to_owned(),
        "--workers".to_owned(),
        workers.to_string(),
        "--start-at".to_owned(),
        format!("{}.{:06}", at.as_secs(), at.subsec_micros()),
        format!("--min={}", settings.minute),
        "--warmup".to_owned(),
        settings.warmup.to_string(),
        "--duration".to_owned(),
        settings.duration.to_string(),
        "--grpcTimeout".to_owned(),
        format!("{}", settings.grpc_timeout.as_secs_f64()),
        "--connections".to_owned(),
        settings.connections.to_string(),
        "--max-in-flight".to_owned(),
        settings.max_in_flight.to_string(),
        "--work-dir".to_owned(),
        work_dir.to_owned(),
    ];
    if let Some(cpu) = cpu {
        args.extend(["--dispatcher-cpu".to_owned(), cpu.to_string()]);
    }
    if settings.realtime {
        args.push("--realtime".to_owned());
    }
    if settings.shared_cpu {
        args.push("--shared-cpu".to_owned());
    }
    args.extend([
        "--coordinator-timeout".to_owned(),
        format!("{}", settings.coordinator_timeout.as_secs_f64()),
        "--records-chunk".to_owned(),
        settings.records_chunk.to_string(),
    ]);
    if settings.compress != formats::compressed::Compression::None {
        args.extend(["--compress".to_owned(), settings.compress.name().to_owned()]);
    }
    if let Some(interval) = settings.live_interval {
        args.extend([
            "--live-interval".to_owned(),
            format!("{}", interval.as_secs_f64()),
        ]);
    }
    if settings.stream_shard {
        args.push("--stream-shard".to_owned());
    }
    if let Some(resumed) = &settings.resume {
        let first: Vec<String> = resumed.first.iter().map(u64::to_string).collect();
        args.extend([
            "--resume-from-us".to_owned(),
            resumed.from_us.to_string(),
            "--resume-first".to_owned(),
            first.join(","),
        ]);
    }
    args.extend(settings.request.to_args());
    args
}

impl InvokerArgs {
    /// `--resume-from-us` and `--resume-first` as this invoker's [`crate::options::Resumed`]: worker K
    /// takes the K-th position (one invoker, the only one).
    pub fn resumed(&self) -> Result<Option<crate::options::Resumed>, String> {
        let Some(from_us) = self.resume_from_us else {
            return Ok(None);
        };
        let (k, n) = (self.worker.unwrap_or(0), self.workers.unwrap_or(1));
        if self.resume_first.len() != n as usize {
            return Err(format!(
                "--resume-first: {} position(s) for {n} worker(s); give one per worker",
                self.resume_first.len()
            ));
        }
        Ok(crate::options::ResumedShares {
            from_us,
            first: self.resume_first.clone(),
        }
        .of(k))
    }
}

/// A share from 0 to 1.
pub fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("`{text}` is not a share from 0 to 1")),
    }
}

/// An `--otlp-endpoint` URL, checked (`crate::spans::otlp_url`).
pub fn otlp_endpoint(text: &str) -> Result<String, String> {
    crate::spans::otlp_url(text).map(|_| text.to_owned())
}

/// A `--store` URL, checked (`proto::store::check_url`).
pub fn store_url(text: &str) -> Result<String, String> {
    proto::store::check_url(text).map(|()| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<InvokerArgs, String> {
        InvokerArgs::parse_command_line(
            std::iter::once("invoker")
                .chain(args.iter().copied())
                .map(std::ffi::OsString::from),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn go_style_flags_parse_with_vswarm_defaults() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.trace_file, PathBuf::from("load.json"));
        assert_eq!((a.duration, a.warmup, a.port), (8, 2, 80));
        assert!(a.min && !a.dbg);
        assert_eq!(a.latf, PathBuf::from("lat.csv"));
        assert_eq!(a.grpc_timeout, Duration::from_secs(30));

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
        assert_eq!(a.grpc_timeout, Duration::from_secs(2));
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
    fn bad_flags_are_refused_with_the_flag_named() {
        let e = parse(&["-min", "maybe"]).unwrap_err();
        assert!(e.contains("`maybe` is not a boolean"), "{e}");
        let e = parse(&["-duration", "x"]).unwrap_err();
        assert!(e.contains("--duration"), "{e}");
        let e = parse(&["--start-at", "tomorrow"]).unwrap_err();
        assert!(e.contains("neither RFC 3339"), "{e}");
        let e = parse(&["--start-at", "9999-01-01T00:00:00Z"]).unwrap_err();
        assert!(e.contains("at most 7 days ahead"), "{e}");
        for bad in ["0", "1e20", "NaN", "-1"] {
            let e = parse(&["-grpcTimeout", bad]).unwrap_err();
            assert!(e.contains("--grpcTimeout"), "{bad}: {e}");
        }
        let e = parse(&["-duration", "-1"]).unwrap_err();
        assert!(e.contains("invalid value '-1' for '--duration"), "{e}");
        let e = parse(&["-tracefile", "x"]).unwrap_err();
        assert!(e.contains("did you mean `-traceFile`"), "{e}");
        assert!(parse(&["--max-in-flight", "0"]).is_err());
        let e = parse(&["--coordinator", "http://h:1"]).unwrap_err();
        assert!(e.contains("--worker"), "{e}");
        assert!(parse(&["--worker", "1"]).is_err());
        let a = parse(&[
            "--coordinator",
            "http://h:1",
            "--worker",
            "2",
            "--workers",
            "3",
        ])
        .unwrap();
        assert_eq!((a.worker, a.workers), (Some(2), Some(3)));
        assert!(parse(&["-nonsense"]).is_err());
    }

    #[test]
    fn every_worker_setting_survives_build_then_parse() {
        let settings = InvokerSettings {
            minute: false,
            warmup: 3,
            duration: 17,
            grpc_timeout: Duration::from_millis(2500),
            connections: 4,
            max_in_flight: 1234,
            realtime: true,
            shared_cpu: true,
            live_interval: Some(Duration::from_millis(250)),
            request: crate::request::RequestArgs {
                method: "POST".into(),
                headers: vec![("Authorization".into(), "Bearer $TOKEN".into())],
                payload_bytes: Some(512),
                max_connections: 7,
                connection_per_call: true,
                ca_cert: Some(PathBuf::from("/ca.pem")),
                aws_sigv4: Some("execute-api:us-west-1".into()),
                endpoint_requests: Some(PathBuf::from("/run/endpoints.json")),
            },
            compress: formats::compressed::Compression::Zstd,
            coordinator_timeout: Duration::from_millis(7500),
            records_chunk: 12_345,
            resume: Some(crate::options::ResumedShares {
                from_us: 1_500_000,
                first: vec![3, 4, 5, 6, 7],
            }),
            stream_shard: true,
        };
        let start = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_000_000_123_456);
        let built = invoker_args(
            "http://10.0.0.1:8080",
            "2",
            5,
            start,
            &settings,
            "/work",
            Some(1),
        );
        let a = InvokerArgs::parse_command_line(
            std::iter::once("invoker".to_owned())
                .chain(built)
                .map(std::ffi::OsString::from),
        )
        .unwrap();
        assert_eq!(a.coordinator.as_deref(), Some("http://10.0.0.1:8080"));
        assert_eq!((a.worker, a.workers), (Some(2), Some(5)));
        assert_eq!(a.start_at, Some(start));
        assert_eq!((a.min, a.warmup, a.duration), (false, 3, 17));
        assert_eq!(a.grpc_timeout, settings.grpc_timeout);
        assert_eq!((a.connections, a.max_in_flight), (4, 1234));
        assert!(a.realtime && a.shared_cpu);
        assert_eq!(a.live_interval, settings.live_interval);
        assert_eq!(a.work_dir, Some(PathBuf::from("/work")));
        assert_eq!(a.dispatcher_cpu, Some(1));
        assert_eq!(a.request, settings.request);
        assert_eq!(a.compress, settings.compress);
        assert_eq!(a.coordinator_timeout, settings.coordinator_timeout);
        assert!(a.stream_shard);
        assert_eq!(
            a.resumed().unwrap(),
            Some(crate::options::Resumed {
                from_us: 1_500_000,
                first: 5
            })
        );
        assert_eq!(a.records_chunk, settings.records_chunk);
        // The defaults, left out, come back as the defaults.
        let quiet = InvokerSettings {
            realtime: false,
            shared_cpu: false,
            live_interval: None,
            request: crate::request::RequestArgs::default(),
            compress: formats::compressed::Compression::None,
            ..settings
        };
        let built = invoker_args("http://h:1", "0", 1, start, &quiet, "w", None);
        let a = InvokerArgs::parse_command_line(
            std::iter::once("invoker".to_owned())
                .chain(built)
                .map(std::ffi::OsString::from),
        )
        .unwrap();
        assert!(!a.realtime && !a.shared_cpu);
        assert_eq!((a.live_interval, a.dispatcher_cpu), (None, None));
        assert_eq!(a.request, crate::request::RequestArgs::default());
    }
}
