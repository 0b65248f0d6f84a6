//! Flags shared by the commands that make a load: which trace and window (`TraceArgs`), how it is mapped
//! and spread (`LoadArgs`), where the proxies run (`DeployArgs`), and how `run` replays it (`ReplayArgs`).
//! Every number has its bounds here, checked when the command line is parsed.
//!
//! The file is long because it holds every load and replay flag with the help text users read.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};
use cmdline::values::{number_in, parse_bool, seconds_up_to, whole_in, DAY_SECONDS};
use trace::{AppMemory, Azure2021Options, Duplicates, Granularity, ReadOptions};

use super::shape::ShapeArgs;
use crate::iat::IatDistribution;
use coordinator::Launcher;
use deploy::Deployer;

/// Most periods any flag asks for: the load format's own bound.
pub use formats::load::MAX_PERIODS;

/// A percentile the mapping can compare at (one every trace and profile gives).
pub fn parse_percentile(s: &str) -> Result<u8, String> {
    let p: u8 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a percentile"))?;
    mapping::check_percentile(p).map_err(|e| e.to_string())?;
    Ok(p)
}

/// Which trace to read and how.
#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    /// The trace: a directory holding invocations.csv, durations.csv, memory.csv, or the raw Azure 2019 day
    /// files (invocations_per_function_md.anon.dNN.csv, function_durations_percentiles.anon.dNN.csv,
    /// app_memory_percentiles.anon.dNN.csv); or an Azure 2021 invocation file (header
    /// `app,func,end_timestamp,duration`), each invocation replayed at its own microsecond.
    /// Default: `trace` (`run`: a synthetic trace written into the output directory).
    #[arg(short = 't', long, value_name = "PATH")]
    pub trace: Option<PathBuf>,

    /// The trace counts invocations per minute (true) or per second (false).
    #[arg(short = 'm', long, value_name = "BOOL", value_parser = parse_bool, default_value = "true",
          action = ArgAction::Set)]
    pub minute: bool,

    /// First period to use, by its column name (e.g. 540 in a trace whose columns are 540..689); in an
    /// Azure 2021 trace, the period number from the trace's beginning (period 0 starts at time 0).
    /// Default: the first period column (Azure 2021: 0).
    #[arg(long, value_name = "PERIOD")]
    pub start: Option<u32>,

    /// Raw layout with several days in the directory: which day (the NN of dNN).
    #[arg(long, value_name = "NN")]
    pub day: Option<u32>,

    /// Raw layout only, where memory is given per application: `split` divides an app's memory equally
    /// among its functions in the invocations file; `share` gives each function the whole app figure.
    #[arg(long, value_enum, default_value = "split")]
    pub app_memory: AppMemoryArg,

    /// Fail when a function of the invocations file has no durations or memory row (default: leave it out
    /// and count it in the summary).
    #[arg(long)]
    pub strict: bool,

    /// Azure 2021 trace (no memory recorded): every function's memory, MB.
    #[arg(long, value_name = "MB", default_value_t = 256.0, value_parser = number_in(1.0, 1_048_576.0))]
    pub memory_mb: f64,
}

impl TraceArgs {
    /// The trace's period length.
    pub fn granularity(&self) -> Granularity {
        Granularity::from_minute_flag(self.minute)
    }

    /// How to read the trace: these flags, `periods` from `--start` (all when `None`).
    pub fn read_options(&self, periods: Option<usize>) -> ReadOptions {
        ReadOptions {
            granularity: Some(self.granularity()),
            start: self.start,
            periods,
            app_memory: self.app_memory.into(),
            strict: self.strict,
            day: self.day,
            duplicates: Duplicates::Error,
        }
    }

    /// How to read an Azure 2021 trace: `--start` counts periods from the trace's beginning (default 0).
    pub fn azure2021_options(&self, periods: Option<usize>) -> Azure2021Options {
        Azure2021Options {
            granularity: self.granularity(),
            start: self.start.unwrap_or(0),
            periods,
            memory_mb: self.memory_mb,
        }
    }
}

/// `--local-platform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LocalPlatform {
    /// Scaled like Knative: its autoscaler's decider, cold starts, an activator's queue.
    Knative,
    /// One instance per function, replaced after `--keep-alive` idle.
    Simple,
}

/// The cold start assumed on the local fleet's Knative platform (and by `predict`) when none is given,
/// ms.
pub const DEFAULT_COLD_START_MS: f64 = 1000.0;

/// `--app-memory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppMemoryArg {
    /// Divide the app's memory equally among its functions.
    Split,
    /// Give each function the whole app figure.
    Share,
}

impl From<AppMemoryArg> for AppMemory {
    fn from(a: AppMemoryArg) -> AppMemory {
        match a {
            AppMemoryArg::Split => AppMemory::Split,
            AppMemoryArg::Share => AppMemory::Share,
        }
    }
}

/// What load to make and where its proxies run: shared by `generate`, `deploy` and `run`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub trace: TraceArgs,

    /// Proxy profiles: a vSwarm profiler profile.json, `builtin` for the built-in emulated proxies, or
    /// `trace`: every trace function its own emulated function with its own percentiles (no mapping error).
    #[arg(
        short = 'p',
        long,
        value_name = "PATH|builtin",
        default_value = "profile.json"
    )]
    pub profile: String,

    /// Deployment details of the proxies (vSwarm config.json); read when proxies are deployed on Knative.
    #[arg(
        short = 'c',
        long,
        alias = "config_proxy",
        value_name = "PATH",
        default_value = "config.json"
    )]
    pub config_proxy: PathBuf,

    /// Directory for deployment build files (generated Knative YAMLs).
    #[arg(short = 'b', long, value_name = "PATH", default_value = "build")]
    pub build: PathBuf,

    /// Map trace functions to proxies one-to-one (optimal assignment) when there are at least as many
    /// proxies as functions; otherwise each function gets its nearest proxy.
    #[arg(short = 'u', long, value_name = "BOOL", value_parser = parse_bool, default_value = "false",
          action = ArgAction::Set)]
    pub unique: bool,

    /// How invocations are spread inside each period.
    #[arg(
        short = 'i',
        long,
        alias = "iat_distribution",
        value_enum,
        default_value = "uniform"
    )]
    pub iat_distribution: IatDistribution,

    /// Experiment duration, in periods, after the warm-up (1 to 1,000,000).
    #[arg(short = 'd', long, value_name = "INT", default_value_t = 20,
          value_parser = whole_in::<usize>(1, MAX_PERIODS))]
    pub duration: usize,

    /// Warm-up periods before the experiment; the load covers warm-up + duration periods.
    #[arg(short = 'w', long, alias = "warmup_duration", value_name = "INT", default_value_t = 2,
          value_parser = whole_in::<usize>(0, MAX_PERIODS))]
    pub warmup_duration: usize,

    /// Seed of every random choice; the same seed gives byte-identical files. Default: a random seed,
    /// printed in the summary.
    #[arg(long, value_parser = cmdline::values::parse_seed)]
    pub seed: Option<u64>,

    /// Percentile of memory and duration used to compare functions with proxies (75 as vSwarm; 50 as
    /// invitro). One of 1, 25, 50, 75, 99, 100.
    #[arg(long, default_value_t = 75, value_parser = parse_percentile)]
    pub percentile: u8,

    /// Split the load over N workers: writes load-0.json … load-(N-1).json (named after --output), calls
    /// dealt round-robin in time order so every worker gets the same share of every period. `run` and
    /// `experiment` then replay it from N invokers (see --launcher), and keep the whole load.json too.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub workers: u32,

    /// Rotate each function's arrivals within each period by a random phase, drawn per function and period
    /// from that pair's own stream (invitro's `_shift`), for every distribution: counts and spacing stay
    /// exact, and functions no longer all fire at the start of each period (which inflates cold starts).
    #[arg(long, conflicts_with_all = ["rps", "burst_size"])]
    pub shift: bool,

    /// Give every call its own duration and memory, drawn (with the seed) between its trace function's
    /// percentiles, as invitro does: written as `duration_us` and `memory_mb` arrays beside `timestamp`
    /// and `endpoint` (vSwarm's invoker ignores them), sent in each request's metadata, honoured by the
    /// emulated function.
    #[arg(long)]
    pub per_call: bool,

    /// Give calls payloads of their own size, fixed or drawn with the seed: BYTES (`64KiB`),
    /// `uniform:MIN:MAX`, `exponential:MEAN` or `lognormal:MEDIAN:SIGMA`. Written as a `payload_bytes`
    /// array beside `timestamp` (vSwarm's invoker ignores it); our invoker sends each call's size as a
    /// POST body, a GET's `PayloadLengthBytes` query, or a gRPC name, in place of `--payload-bytes`.
    #[arg(long, value_name = "SIZE")]
    pub payload: Option<cmdline::sizes::SizeDistribution>,

    /// Draw `--payload` once per function (each function always sends one size) or per call.
    #[arg(long, value_enum, default_value = "call", requires = "payload")]
    pub payload_per: crate::generate::PayloadPer,

    /// A workflow (our YAML, or FaaSFlow's flat_workflow.yaml; see docs/workflows.md): every call the load
    /// would make becomes an instance of it, whose nodes are called as their predecessors answer (by the
    /// invoker or by the functions: --orchestration), each receiving its input edges' bytes.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["payload", "per_call"])]
    pub workflow: Option<PathBuf>,

    /// The width of a FaaSFlow `foreach` (its file gives none): N, or uniform:MIN:MAX drawn per instance.
    #[arg(long, value_name = "N", default_value = "4", requires = "workflow")]
    pub foreach_width: workflow::Width,

    /// Refuse a window of more calls than this (counted before anything is placed or written; a whole
    /// Azure day has about 600 million).
    #[arg(long, value_name = "N", default_value_t = 1_000_000_000,
          value_parser = whole_in::<u64>(1, 1_000_000_000_000))]
    pub max_calls: u64,

    /// Keep functions that have no invocation in the window (they are mapped, and deployed, too).
    #[arg(long)]
    pub keep_idle: bool,

    #[command(flatten)]
    pub shape: ShapeArgs,

    #[command(flatten)]
    pub deploy: DeployArgs,
}

impl DeployArgs {
    /// The deployer: `--deployer`, given endpoints with `--use-endpoints`, else `default`.
    pub fn deployer_or(&self, default: Deployer) -> Deployer {
        match (&self.use_endpoints, self.deployer) {
            (Some(_), _) => Deployer::Given,
            (None, Some(asked)) => asked,
            (None, None) => default,
        }
    }
}

/// Where and how the proxies are deployed.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Deployment")]
pub struct DeployArgs {
    /// Where the proxies run: `none` writes proxy names as endpoints; `local` starts emulated servers on
    /// 127.0.0.1 (deploy, run); `knative` applies the proxies' YAMLs from -c/--config-proxy with kubectl.
    /// Default: none (generate), local (deploy, run). Knative config commands run through `sh -c`: only
    /// use a config.json you trust.
    #[arg(long, value_enum)]
    pub deployer: Option<Deployer>,

    /// The proxies are deployed already: FILE (an endpoints.json, as `deploy` and `run` write it, or by
    /// hand) says where each mapped proxy is called, and an entry may give its calls their own `method`,
    /// `headers` and `payload_bytes`. Nothing is deployed.
    #[arg(long, value_name = "FILE", conflicts_with = "deployer")]
    pub use_endpoints: Option<PathBuf>,

    /// Knative: write the build directory (-b) and its deploy.sh, touch nothing; load.json then names the
    /// services as `name.namespace`.
    #[arg(long)]
    pub dry_run: bool,

    /// Knative: how long the services together may take to become Ready, seconds (at most a day).
    #[arg(long, value_name = "SECONDS", default_value = "600", value_parser = seconds_up_to(DAY_SECONDS))]
    pub ready_timeout: Duration,

    /// Knative: how often readiness is polled, seconds (at most an hour).
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = seconds_up_to(3600.0))]
    pub poll_interval: Duration,

    /// Knative's autoscaler: its knobs (`--knative-*`).
    #[command(flatten)]
    pub knative: super::knative::KnativeArgs,

    /// Local: threads computing for all emulated functions (the most calls computing at once; waiting
    /// holds none), 1 to 1024. Default: one per CPU not used by the invoker's dispatchers.
    #[arg(long, value_name = "N", value_parser = whole_in::<usize>(1, 1024))]
    pub local_threads: Option<usize>,

    /// Local: multiply the proxies' wall time and working set by this, or `auto`: as much of the real
    /// profile as this machine can serve with its threads half busy (`run`; `deploy` uses 1).
    #[arg(long, value_name = "FACTOR|auto", value_parser = parse_scale)]
    pub local_scale: Option<Scale>,

    /// Local: memory all emulated calls may hold at once, MiB (1 to 1,048,576).
    #[arg(long, value_name = "MIB", default_value_t = emulated::DEFAULT_BUDGET_MB,
          value_parser = whole_in::<u32>(1, 1 << 20))]
    pub local_memory_mb: u32,

    /// Knative, `-p trace`: the image of each function's own emulated function (holding
    /// /usr/local/bin/emulated-function; see the Dockerfile).
    #[arg(long, value_name = "IMAGE", default_value = coordinator::kubernetes::DEFAULT_IMAGE)]
    pub function_image: String,

    /// Knative, `-p trace`: run the functions from the image padded with a filler layer of this many
    /// MiB, as STeLLAR varies `FunctionImageSizeMB`, so cold starts can be studied against image size.
    /// It is named `IMAGE-filler-Nmb` (tag `latest` when IMAGE has none), which the Dockerfile builds
    /// with `--build-arg FUNCTION_IMAGE_SIZE_MB=N`; 0: the image itself.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = whole_in::<u32>(0, 100_000))]
    pub function_image_size_mb: u32,

    /// Calls one instance of a function serves at once (`containerConcurrency`; 0: as many as arrive): on
    /// the local fleet's Knative platform, and on Knative with `-p trace`.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = whole_in::<u32>(0, 1000))]
    pub container_concurrency: u32,

    /// Local: how the emulated functions scale. `knative`: as Knative's autoscaler decides (the
    /// `--knative-*` knobs), each new instance ready after its cold start, calls finding no room waiting
    /// in an activator's queue; `simple`: one instance per function, replaced after `--keep-alive` idle.
    #[arg(long, value_enum, value_name = "PLATFORM", default_value = "knative")]
    pub local_platform: LocalPlatform,
    /// Emulated functions: the fraction of a call's wall time spent computing, 0 to 1 (the rest waits,
    /// holding no thread). Default: each proxy's CPU utilisation from its profile (built-in: 0.25).
    #[arg(long, value_name = "FRACTION", value_parser = number_in(0.0, 1.0))]
    pub cpu_share: Option<f64>,

    /// Emulated functions, `--local-platform simple` (and the `emulated-function` image): seconds an
    /// instance may sit idle before its next call is a cold start (and a new instance), 0 to a day.
    #[arg(long, value_name = "SECONDS", default_value = "600", value_parser = seconds_up_to(DAY_SECONDS))]
    pub keep_alive: Duration,

    /// Emulated functions: a new instance's cold start, ms: `N`, or percentiles `pP:N,…` drawn per
    /// instance (`--local-platform knative`: the time until it is ready, default 1,000, an assumption:
    /// vSwarm's profiles have none; `simple`: a fixed extra wait of each cold call, default 0).
    #[arg(long, value_name = "MS|pP:MS,…", value_parser = super::knative::parse_cold_start)]
    pub cold_start_ms: Option<formats::Percentiles>,

    /// Emulated functions: what the calls speak to them (they answer all three on one port): vSwarm's
    /// gRPC, HTTP/1.1, or HTTP/2 with prior knowledge. On Knative, it names the Services' port (h2c or
    /// http1) and needs `-p trace` (vSwarm's proxies speak gRPC only).
    #[arg(long, value_enum, value_name = "PROTOCOL", default_value = "grpc")]
    pub function_protocol: deploy::FunctionProtocol,
}

impl DeployArgs {
    /// The Knative settings given, as annotations on the generated services' revision template.
    pub fn knative_annotations(&self) -> Vec<(String, String)> {
        self.knative.annotations()
    }

    /// `--cold-start-ms`, or the platform's default.
    pub fn cold_start_ms(&self) -> formats::Percentiles {
        self.cold_start_ms.clone().unwrap_or_else(|| {
            let ms = match self.local_platform {
                LocalPlatform::Knative => DEFAULT_COLD_START_MS,
                LocalPlatform::Simple => 0.0,
            };
            formats::Percentiles::constant(ms)
        })
    }

    /// `--cold-start-ms` on the simple platform: one fixed wait (none on the Knative platform, whose
    /// instances take it to start instead).
    pub fn simple_cold_start(&self) -> anyhow::Result<Duration> {
        if self.local_platform == LocalPlatform::Knative {
            return Ok(Duration::ZERO);
        }
        match self.cold_start_ms().as_constant() {
            Some(ms) => Ok(Duration::from_secs_f64(ms / 1e3)),
            None => anyhow::bail!(
                "--cold-start-ms: --local-platform simple takes one fixed wait (N ms), not percentiles; \
                 percentiles are the Knative platform's (--local-platform knative)"
            ),
        }
    }

    /// Knative's scaling of the local fleet (`--local-platform knative`), its knobs checked.
    pub fn local_scaling(&self) -> anyhow::Result<Option<std::sync::Arc<emulated::Scaling>>> {
        use anyhow::Context as _;
        if self.local_platform == LocalPlatform::Simple {
            return Ok(None);
        }
        let settings = self.knative.settings().context("--knative-*")?;
        settings.check().context("--knative-*")?;
        let revision = autoscaler::Revision {
            settings,
            container_concurrency: self.container_concurrency,
        };
        Ok(Some(std::sync::Arc::new(emulated::Scaling::new(
            revision,
            self.cold_start_ms(),
        ))))
    }

    /// How long a function must go without calls before its next call is cold: past its keep-alive
    /// (`simple`), or (`knative`) until the stable window has forgotten its last call and the
    /// scale-to-zero grace and a tick have passed.
    pub fn idle_until_cold(&self) -> Result<Duration, autoscaler::SettingsError> {
        Ok(match self.local_platform {
            LocalPlatform::Simple => self.keep_alive,
            LocalPlatform::Knative => {
                let s = self.knative.settings()?;
                Duration::from_secs(s.stable_window_s + s.scale_to_zero_grace_s + 2 * s.tick_s)
            }
        })
    }
}

/// `--local-scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// Fit the load to this machine.
    Auto,
    /// This factor.
    Factor(f64),
}

/// Largest `--local-scale` factor.
pub const MAX_SCALE: f64 = 1e6;

fn parse_scale(s: &str) -> Result<Scale, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Scale::Auto);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 && f <= MAX_SCALE => Ok(Scale::Factor(f)),
        _ => Err(format!(
            "`{s}` is not `auto` or a number above 0 and at most {MAX_SCALE}"
        )),
    }
}

/// How `run` replays the load.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Replay")]
pub struct ReplayArgs {
    /// Timeout of each call, seconds (at most a day).
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = seconds_up_to(DAY_SECONDS))]
    pub grpc_timeout: Duration,

    /// Connections per endpoint opened before the run (gRPC and HTTP/2 calls go round-robin over
    /// them; HTTP/1.1 opens more as calls need them, up to --max-connections).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub connections: u32,

    /// What each call sends to HTTP endpoints (http://, h2c://, https://), and how their connections are
    /// held.
    #[command(flatten)]
    pub request: invoker::request::RequestArgs,

    /// With --workers: a worker stops sending when this process (its coordinator) has not answered it for
    /// SECONDS, so a lost coordinator does not leave pods sending load nobody records; it keeps its
    /// records. (Local workers also die with this process.)
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = seconds_up_to(DAY_SECONDS))]
    pub coordinator_timeout: Duration,

    /// With --workers: the coordinator serves its workers over HTTPS with this certificate chain and its
    /// key (PEM files), for a pod network that is not trusted; the workers trust these certificates only.
    /// The chain must name the address the workers dial (--advertise-addr).
    #[arg(long, value_name = "CERT,KEY", value_parser = coordinator::tls::CoordinatorTls::parse)]
    pub coordinator_tls: Option<coordinator::tls::CoordinatorTls>,

    /// With --workers: each worker sends its records back in chunks of N calls while it replays (each once
    /// its calls have ended), so a worker lost mid-run loses at most its last chunk's calls.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = whole_in::<u64>(1, 1_000_000_000))]
    pub records_chunk: u64,

    /// With --workers: each worker reads its shard straight from this process as its replay goes (a
    /// period at a time, its hash checked), instead of fetching it whole before the start: no copy on the
    /// workers' disks, and no wait for one.
    #[arg(long)]
    pub stream_shards: bool,

    /// Write the run's load and records zstd-compressed (`none` or `zstd`): load.json.zst (and its shards),
    /// records.csv.zst, and workers send their records back compressed. Our invoker, report, plots and
    /// experiment read either form; vSwarm's invoker reads only the plain load.json, the default.
    #[arg(long, value_name = "HOW", default_value = "none", value_parser = formats::compressed::Compression::parse)]
    pub compress: formats::compressed::Compression,

    /// Calls outstanding beyond which a due call is recorded as not sent (1 to 10,000,000).
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = whole_in::<usize>(1, 10_000_000))]
    pub max_in_flight: usize,

    /// Who calls a --workflow load's nodes: `client` (the invoker, each once its predecessors answered:
    /// FaaSFlow's MasterSP) or `chained` (the invoker sends each instance's entry call with the instance's
    /// plan, and the functions call the rest: WorkerSP). See docs/workflows.md.
    #[arg(long, value_name = "MODE", value_enum, default_value = "client")]
    pub orchestration: invoker::dispatch::Orchestration,

    /// Move a --workflow load's data through this store (`redis://HOST:PORT`, which the functions reach):
    /// each function reads its inputs there (deleting them) and writes its outputs, and requests carry
    /// none, as FaaSFlow's remote store and STeLLAR's StorageTransfer. Default: inline, in the requests.
    #[arg(long, value_name = "URL", value_parser = invoker::cli::store_url)]
    pub store: Option<String>,

    /// The share of a --workflow load's instances traced (0 to 1): every call carries a W3C
    /// `traceparent`; the sampled instances' spans (the invoker's calls, the functions' work, their store
    /// accesses and, chained, their calls) go to spans.json (OTLP JSON) and to --otlp-endpoint.
    #[arg(long, value_name = "P", default_value_t = 1.0, value_parser = invoker::cli::share)]
    pub span_sample: f64,

    /// Send a --workflow load's spans to this OTLP/HTTP receiver as calls end (`http://HOST:PORT[/PATH]`;
    /// `/v1/traces` when no path is given), e.g. a Jaeger or an OpenTelemetry Collector.
    #[arg(long, value_name = "URL", value_parser = invoker::cli::otlp_endpoint)]
    pub otlp_endpoint: Option<String>,

    /// Pin the invoker's dispatcher to this CPU (local servers get the others). Default with the local
    /// deployer on a machine of 2+ CPUs: the last CPU.
    #[arg(long, value_name = "CPU", conflicts_with = "no_pin", value_parser = whole_in::<usize>(0, 4095))]
    pub dispatcher_cpu: Option<usize>,

    /// Do not pin the dispatcher or the local servers.
    #[arg(long)]
    pub no_pin: bool,

    /// Run the dispatcher as SCHED_FIFO (needs root; see `invoker --help`).
    #[arg(long)]
    pub realtime: bool,

    /// Where the workers run when --workers is above 1: `invoker` processes on this machine (local, the
    /// default; one dispatcher CPU each while the CPUs last) or the pods of a Kubernetes Indexed Job.
    #[arg(long, value_enum, value_name = "WHERE")]
    pub launcher: Option<Launcher>,

    /// Seconds from launching the workers to their common start. Default: local 2 s, Kubernetes 60 s,
    /// plus time to fetch the largest shard. A worker not ready by then records the calls it could not
    /// send on time as not_sent:late_start.
    #[arg(long, value_name = "SECONDS", value_parser = seconds_up_to(DAY_SECONDS))]
    pub start_lead: Option<Duration>,

    /// HOST:PORT that the workers' HTTP server (shards out, results in) binds and gives the workers; port
    /// 0 binds a free port. Default: 127.0.0.1:0 for local workers, this machine's address on its
    /// default route for pods.
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise_addr: Option<String>,

    /// Kubernetes namespace of the workers' Job.
    #[arg(long, value_name = "NS", default_value = "default")]
    pub namespace: String,

    /// Run the workers' pods only on nodes with this label (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub node_selector: Vec<(String, String)>,

    /// The image of the workers' pods (holding /usr/local/bin/invoker; see the Dockerfile).
    #[arg(long, value_name = "IMAGE", default_value = coordinator::kubernetes::DEFAULT_IMAGE)]
    pub invoker_image: String,

    /// What each worker's pod asks for and is limited to, e.g. `cpu=2,memory=1Gi`.
    #[arg(long, value_name = "RESOURCES", value_delimiter = ',', value_parser = parse_resource)]
    pub invoker_resources: Vec<(String, String)>,

    /// Start worker K this many seconds late (fault injection: its late start is then recorded).
    #[arg(long, value_name = "K=SECONDS", hide = true, value_parser = parse_launch_delay)]
    pub launch_delay: Vec<(u32, Duration)>,
}

/// `KEY=VALUE`.
fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// `cpu=2`: only cpu, memory and ephemeral-storage are taken.
fn parse_resource(s: &str) -> Result<(String, String), String> {
    let (k, v) = parse_key_value(s)?;
    if !["cpu", "memory", "ephemeral-storage"].contains(&k.as_str()) {
        return Err(format!(
            "`{k}` is not a resource (cpu, memory, ephemeral-storage)"
        ));
    }
    if v.is_empty() {
        return Err(format!("`{k}` has no quantity"));
    }
    Ok((k, v))
}

fn parse_launch_delay(s: &str) -> Result<(u32, Duration), String> {
    let (k, v) = parse_key_value(s)?;
    let k = k
        .parse::<u32>()
        .map_err(|_| format!("`{k}` is not a worker index"))?;
    Ok((k, seconds_up_to(DAY_SECONDS)(&v)?))
}
