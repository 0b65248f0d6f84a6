//! How to replay: [`ReplayOptions`] (with the invoker's defaults), which share of a load ([`Shard`]),
//! and how calls are released ([`Pacing`]: at their due times, or in closed-loop rounds).

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cmdline::Stop;

use crate::observe::Observer;
use crate::request::RequestArgs;

/// Records cut into chunk files in scheduled order, each announced once complete: a worker sends them to
/// its coordinator while it replays, so a lost worker loses at most the chunk it was writing.
#[derive(Debug, Clone)]
pub struct RecordChunks {
    /// Records per chunk (the last one may hold fewer).
    pub every: u64,
    /// Where the chunk files are written (`formats::transfer::chunk_name`).
    pub dir: PathBuf,
    /// How they are written.
    pub compression: formats::compressed::Compression,
    /// Where each complete chunk is announced, in order.
    pub ready: std::sync::mpsc::Sender<RecordsChunk>,
}

/// A complete chunk of records, in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordsChunk {
    /// Its number (0: the first records of the share).
    pub index: u64,
    /// Its file.
    pub path: PathBuf,
    /// Records in it.
    pub records: u64,
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Port used for endpoints that name none.
    pub default_port: u16,
    /// Per-call timeout; also how long in-flight calls are awaited at the end.
    pub grpc_timeout: Duration,
    /// How long to try to open each connection before the run.
    pub connect_timeout: Duration,
    /// Connections per endpoint; calls go round-robin over them.
    pub connections: usize,
    /// Calls outstanding beyond which a due call is recorded as not sent.
    pub max_in_flight: usize,
    /// Wall-clock instant (on this machine's clock) of the run's time 0, so several invokers start
    /// together; default: as soon as connected. Calls due before the invoker is ready (connected) are
    /// recorded as `not_sent:late_start`, so a late invoker never shifts its share of the load.
    pub start_at: Option<SystemTime>,
    /// Told the wall-clock instant of time 0 once it is fixed (a run's disturbance timeline follows it).
    pub time_zero: Option<std::sync::mpsc::Sender<SystemTime>>,
    /// This invoker replays one worker's share of a load: records carry the worker and each call's index
    /// in the whole load (see `formats::shard_of`).
    pub shard: Option<Shard>,
    /// Go on when an endpoint cannot be reached at start (its calls are recorded as failures).
    pub allow_unreachable: bool,
    /// Ask for `SCHED_FIFO` for the dispatcher thread.
    pub realtime: bool,
    /// The dispatcher shares its CPU with other busy ones: it parks through short gaps instead of
    /// spinning (see `wait`).
    pub shared_cpu: bool,
    /// Pin the dispatcher thread to this CPU, and the invoker's other threads to the others.
    pub dispatcher_cpu: Option<usize>,
    /// Per-invocation CSV.
    pub records: Option<PathBuf>,
    /// Records also cut into chunk files as they are written (a worker sends them to its coordinator
    /// while it replays); none: not cut.
    pub record_chunks: Option<RecordChunks>,
    /// vSwarm latency file: one latency (µs) per line, successful measured calls.
    pub latency_file: Option<PathBuf>,
    /// In a workflow load, where one row per instance goes (`formats::workflows`; needs `records`).
    pub workflows_file: Option<PathBuf>,
    /// Stop dispatching when requested (Ctrl-C); a second request stops waiting for calls in flight.
    pub stop: Stop,
    /// Metrics and the live view's figures, fed as the replay goes (see [`crate::observe`]).
    pub observer: Option<Arc<Observer>>,
    /// What each call sends (HTTP method, headers, payload) and how HTTP connections are held.
    pub request: RequestArgs,
    /// How calls are released: at their due times (the default), or in closed-loop rounds.
    pub pacing: Pacing,
    /// Who calls a workflow load's nodes: the invoker, or the functions.
    pub orchestration: Orchestration,
    /// Where a workflow load's data goes between its functions (`redis://host:port`, `proto::store`);
    /// none: inline, in the requests.
    pub store: Option<String>,
    /// In a workflow load, where its instances' spans go (OTLP JSON, `crate::spans`); none: not traced
    /// unless `otlp_endpoint` is given.
    pub spans_file: Option<PathBuf>,
    /// The share of a workflow load's instances traced (0 to 1).
    pub span_sample: f64,
    /// An OTLP/HTTP receiver the spans are sent to as calls end (`http://HOST:PORT[/PATH]`).
    pub otlp_endpoint: Option<String>,
    /// This replay continues one that was cut (`loadgen run --resume`): see [`Resumed`].
    pub resume: Option<Resumed>,
}

/// A replay that continues a cut one. The calls of this invoker's share before `first` were recorded by
/// the earlier session: they are neither sent nor recorded again. Time 0 is the load's `from_us`: each
/// call from `first` on is due `due_us - from_us` after the start, so the calls keep their spacing and
/// the resumed session begins with the earliest call any worker resumes at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resumed {
    /// The load's time (µs) that is the resumed session's time 0 (at most the due time of the call at
    /// `first`).
    pub from_us: u64,
    /// The position, in this invoker's share, of its first call to send.
    pub first: u64,
}

/// A resumed replay of every worker's share: time 0's load time, and each worker's first position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumedShares {
    /// The load's time that is the resumed session's time 0.
    pub from_us: u64,
    /// Per worker (one without workers), the position in its share of its first call to send.
    pub first: Vec<u64>,
}

impl ResumedShares {
    /// Worker `worker`'s part (none if there is no such worker).
    pub fn of(&self, worker: u32) -> Option<Resumed> {
        Some(Resumed {
            from_us: self.from_us,
            first: *self.first.get(worker as usize)?,
        })
    }
}

/// Who calls the nodes of a workflow load's instances (FaaSFlow's MasterSP and WorkerSP).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Orchestration {
    /// The invoker sends each node's call once its predecessors answered (`crate::orchestrate`).
    #[default]
    Client,
    /// The invoker sends each instance's entry call with the instance's plan; the functions call the
    /// rest (`proto::workflow`).
    Chained,
}

impl Default for ReplayOptions {
    /// The invoker's defaults: port 80, a 30 s call timeout (5 s to connect), one connection per endpoint,
    /// 100,000 calls in flight at most, no records file, every call at its due time.
    fn default() -> Self {
        ReplayOptions {
            default_port: 80,
            grpc_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            connections: 1,
            max_in_flight: 100_000,
            start_at: None,
            time_zero: None,
            shard: None,
            allow_unreachable: false,
            realtime: false,
            shared_cpu: false,
            dispatcher_cpu: None,
            records: None,
            record_chunks: None,
            latency_file: None,
            workflows_file: None,
            stop: Stop::new(),
            observer: None,
            request: RequestArgs::default(),
            pacing: Pacing::Scheduled,
            orchestration: Orchestration::Client,
            store: None,
            spans_file: None,
            span_sample: 1.0,
            otlp_endpoint: None,
            resume: None,
        }
    }
}

/// Which share of a load an invoker replays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shard {
    /// This worker's index.
    pub worker: u32,
    /// Workers sharing the load.
    pub workers: u32,
}

/// How calls are released.
#[derive(Debug, Clone, Default)]
pub enum Pacing {
    /// Each call at its due time (open loop): the invoker's dispatcher.
    #[default]
    Scheduled,
    /// Closed loops of rounds, run at once (STeLLAR's concurrent sub-experiments), every call of the
    /// schedule in exactly one burst of one loop.
    Loops(Vec<Vec<Round>>),
}

/// One round of a closed loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// Slept before the round, from the end of the previous one (or the start).
    pub sleep_before: Duration,
    /// The bursts, in turn: ranges of the schedule's calls.
    pub bursts: Vec<Range<usize>>,
}
