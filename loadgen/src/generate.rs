//! From a mapped trace window to `load.json`: per period, every function's invocations placed at microsecond
//! offsets, merged in time order, and streamed to one file or round-robin to several workers' files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cmdline::sizes::SizeDistribution;
use formats::compressed::Compressed;
use formats::output::{partial_path, with_path, AtomicFile};
use formats::{shard_path, CallAsk, Invocation, LoadWriter, WorkflowStep};
use indicatif::ProgressBar;
use trace::Trace;

use crate::iat::{offsets, rotate, stream, IatDistribution};
pub use crate::workflow_load::WorkflowLoad;
use rand::Rng;

/// Where each trace function's calls go.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The distinct endpoints (proxy names until deployment, then addresses).
    pub names: Vec<String>,
    /// Index into `names`, per trace function.
    pub of_function: Vec<u32>,
    /// In a workflow load, per node: index into `names` of the proxy it calls (`function: {proxy}`);
    /// none for a node that calls its instance's function (empty without a workflow).
    pub of_node: Vec<Option<u32>>,
}

/// How to generate.
#[derive(Debug, Clone, Copy)]
pub struct GenerateOptions<'w> {
    /// Spread of calls inside a period.
    pub distribution: IatDistribution,
    /// Seed of every random stream.
    pub seed: u64,
    /// Number of output files the load is split over (1: a single `load.json`).
    pub workers: usize,
    /// With several workers, also write the whole load to the output path (a run keeps it beside the
    /// shards: one load, however many invoked it).
    pub whole: bool,
    /// Give every call its own duration and memory, drawn between its function's trace percentiles
    /// (invitro's model), in the `duration_us` and `memory_mb` arrays.
    pub per_call: bool,
    /// Rotate each function's offsets in each period by a random phase (see [`crate::iat::rotate`]).
    pub shift: bool,
    /// Payload sizes of the calls' own, in the `payload_bytes` array; `None` leaves them to the invoker.
    pub payload: Option<(SizeDistribution, PayloadPer)>,
    /// A workflow: each call becomes an instance of it (see [`WorkflowLoad`]).
    pub workflow: Option<&'w WorkflowLoad>,
}

/// Mixed into the seed of the workflow draws, so they never disturb the other streams.
const WORKFLOW_STREAM: u64 = 0x0077_6f72_6b66_6c6f; // "workflo"

/// What a `--payload` size is drawn for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PayloadPer {
    /// Once per function: all its calls send that size.
    Function,
    /// Once per call.
    Call,
}

/// Mixed into the seed of the payload draws, so they never disturb the other streams.
const PAYLOAD_STREAM: u64 = 0x0070_6179_6c6f_6164; // "payload"

/// Mixed into the seed of the shift phases, so they never disturb the offsets' streams.
const SHIFT_STREAM: u64 = 0x0073_6869_6674; // "shift"

/// Mixed into the seed of the per-call draws, so they never disturb the offsets' streams.
const ASK_STREAM: u64 = 0x6173_6b73; // "asks"

/// The per-call draws of calls placed one by one come from one stream per period, keyed by this.
const ARRIVALS_STREAM: u64 = 0x6172_7269_7661_6c73; // "arrivals"

/// What was generated.
#[derive(Debug, Clone)]
pub struct GenerateStats {
    /// Files written (with several workers, their shards).
    pub files: Vec<PathBuf>,
    /// The whole load, when written beside the shards.
    pub whole: Option<PathBuf>,
    /// Invocations per period.
    pub per_period: Vec<u64>,
    /// Invocations per output file (the shards; the whole load, when written too, is not among them).
    pub per_file: Vec<u64>,
    /// Bytes written, all files together.
    pub bytes: u64,
    /// Wall time of generation and writing.
    pub elapsed: Duration,
}

impl GenerateStats {
    /// All invocations.
    pub fn total(&self) -> u64 {
        self.per_period.iter().sum()
    }
}

/// The files `output` stands for with `workers` workers: itself, or `load-0.json …` (see
/// [`formats::shard_of`] for which calls each holds).
pub fn output_files(output: &Path, workers: usize) -> Vec<PathBuf> {
    if workers <= 1 {
        vec![output.to_owned()]
    } else {
        (0..workers).map(|k| shard_path(output, k)).collect()
    }
}

/// How big a load is, counted from the trace before anything is placed: what sizes memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSize {
    /// Calls in the whole window.
    pub total: u64,
    /// The busiest period (0-based) and its calls.
    pub busiest_period: (usize, u64),
    /// The most calls one function makes in one period.
    pub largest_count: u32,
}

impl LoadSize {
    /// Counts `trace`'s calls.
    pub fn of(trace: &Trace) -> LoadSize {
        let mut per_period = vec![0u64; trace.periods];
        let mut largest_count = 0;
        for f in 0..trace.functions.len() {
            for (p, &c) in trace.counts(f).iter().enumerate() {
                per_period[p] += u64::from(c);
                largest_count = largest_count.max(c);
            }
        }
        let busiest_period = per_period
            .iter()
            .copied()
            .enumerate()
            .max_by_key(|&(p, n)| (n, std::cmp::Reverse(p)))
            .unwrap_or((0, 0));
        LoadSize {
            total: per_period.iter().sum(),
            busiest_period,
            largest_count,
        }
    }

    /// Memory [`generate`] holds at once, bytes: the busiest period's calls, each sorted as a key and
    /// written as an invocation, and one function's offsets being placed.
    pub fn peak_bytes(&self) -> u64 {
        self.busiest_period.1.saturating_mul(8 + 16) + u64::from(self.largest_count) * (8 + 8)
    }
}

/// A period's calls as sort keys, and with `--per-call` each one's ask (see [`Placer::place`]).
pub type PlacedPeriod<'a> = (&'a [u64], &'a [(u64, CallAsk)]);

/// Places each period's calls of a trace: what `generate` writes and `predict` simulates, the same
/// calls for the same seed.
pub struct Placer<'t> {
    trace: &'t Trace,
    options: GenerateOptions<'t>,
    function_keys: Vec<u64>,
    keys: Vec<u64>,
    asks: Vec<(u64, CallAsk)>,
    /// A pass over calls placed one by one, and the next period it gives.
    arrivals: Option<(trace::ArrivalStream<'t>, usize)>,
    /// The period's calls placed one by one.
    calls: Vec<trace::Arrival>,
}

impl<'t> Placer<'t> {
    /// For `trace`'s periods, drawn as `options` say.
    pub fn new(trace: &'t Trace, options: GenerateOptions<'t>) -> Placer<'t> {
        Placer {
            trace,
            options,
            function_keys: trace.functions.iter().map(|f| f.id.stable_key()).collect(),
            keys: Vec::new(),
            asks: Vec::new(),
            arrivals: None,
            calls: Vec::new(),
        }
    }

    /// Period `p`'s calls in time order (ties by function) as sort keys (offset in the period, µs, in the
    /// high half; the trace function in the low half) and, with `--per-call`, each call's ask, in the
    /// keys' order. Calls placed one by one are read from one pass over them, so periods are best asked
    /// in order (an earlier one starts a new pass).
    pub fn place(&mut self, p: usize) -> Result<PlacedPeriod<'_>, trace::TraceError> {
        let trace = self.trace;
        self.keys.clear();
        self.asks.clear();
        if let Some(arrivals) = &trace.arrivals {
            // Calls placed one by one (Azure 2021, load shapes): taken as they are, already in order.
            self.arrivals_of(arrivals, p)?;
            place_arrivals(
                trace,
                (arrivals, &self.calls),
                p,
                self.options,
                &mut self.keys,
                &mut self.asks,
            );
        } else {
            let period = Counted {
                index: p,
                label: u64::from(trace.first_period) + p as u64,
                length_us: trace.granularity.period_us(),
            };
            let (keys, asks) = (&mut self.keys, &mut self.asks);
            place_counted(trace, &self.function_keys, period, self.options, keys, asks);
        }
        self.keys.sort_unstable();
        // Equal keys (one function, one microsecond) hold draws of one stream: any order is the same.
        self.asks.sort_unstable_by_key(|(k, _)| *k);
        Ok((&self.keys, &self.asks))
    }

    /// Reads period `p`'s calls of `arrivals` into `self.calls`.
    fn arrivals_of(
        &mut self,
        arrivals: &'t trace::Arrivals,
        p: usize,
    ) -> Result<(), trace::TraceError> {
        let period_us = self.trace.granularity.period_us();
        if self.arrivals.as_ref().is_none_or(|(_, next)| *next > p) {
            self.arrivals = Some((arrivals.stream()?, 0));
        }
        let (stream, next) = self.arrivals.as_mut().expect("a pass was just made");
        while *next <= p {
            self.calls.clear();
            stream.calls_before((*next as u64 + 1) * period_us, &mut self.calls)?;
            *next += 1;
        }
        Ok(())
    }
}

/// A period of a trace given as counts per function.
#[derive(Debug, Clone, Copy)]
struct Counted {
    /// Its index in the trace's window.
    index: usize,
    /// Its label (the trace's period number), which keys every draw.
    label: u64,
    /// Its length, µs.
    length_us: u64,
}

/// Places the calls of `period`, counted per function, as sort keys (offset in the high half, function
/// in the low half: one sort orders by time, ties by function) and, with `--per-call`, each call's ask.
fn place_counted(
    trace: &Trace,
    function_keys: &[u64],
    period: Counted,
    options: GenerateOptions,
    keys: &mut Vec<u64>,
    asks: &mut Vec<(u64, CallAsk)>,
) {
    let mut offsets_us: Vec<u64> = Vec::new();
    let Counted {
        index: p,
        label,
        length_us,
    } = period;
    for (f, &key) in function_keys.iter().enumerate() {
        let count = trace.counts(f)[p];
        if count == 0 {
            continue;
        }
        offsets_us.clear();
        let mut rng = stream(options.seed, key, label);
        offsets(
            options.distribution,
            count,
            length_us,
            &mut rng,
            &mut offsets_us,
        );
        if options.shift {
            let phase = stream(options.seed ^ SHIFT_STREAM, key, label).random_range(0..length_us);
            rotate(&mut offsets_us, length_us, phase);
        }
        let first = keys.len();
        keys.extend(offsets_us.iter().map(|&o| (o << 32) | f as u64));
        if options.per_call {
            let function = &trace.functions[f];
            let mut rng = stream(options.seed ^ ASK_STREAM, key, label);
            for &k in &keys[first..] {
                asks.push((k, draw_ask(function, &mut rng)));
            }
        }
    }
}

/// One period's calls for one file, with their asks, payload sizes and workflow steps when the load has
/// them.
#[derive(Debug, Clone, Default)]
struct PeriodColumns {
    calls: Vec<Invocation>,
    asks: Vec<CallAsk>,
    payloads: Vec<u32>,
    steps: Vec<WorkflowStep>,
}

impl PeriodColumns {
    fn clear(&mut self) {
        self.calls.clear();
        self.asks.clear();
        self.payloads.clear();
        self.steps.clear();
    }

    /// The calls of one instance of `load`'s workflow, arriving as `call` (instance number `instance`).
    fn push_instance(
        &mut self,
        (load, of_node): (&WorkflowLoad, &[Option<u32>]),
        (call, instance): (Invocation, u64),
        rng: &mut impl Rng,
    ) {
        let expanded = workflow::instance::expand(&load.workflow, rng);
        for step in expanded.steps(&load.workflow, &load.names) {
            // A node that names a proxy calls it; the others, the instance's function.
            let endpoint = of_node
                .get(step.node)
                .copied()
                .flatten()
                .unwrap_or(call.endpoint);
            self.calls.push(Invocation { endpoint, ..call });
            // In a workflow whose nodes ask, one that does not (a proxy, `trace`) asks nothing.
            if load.asks {
                self.asks
                    .push(load.ask(step.node).unwrap_or(CallAsk::NOTHING));
            }
            self.payloads
                .push(step.bytes.min(u64::from(u32::MAX)) as u32);
            self.steps.push(WorkflowStep {
                instance,
                node: step.name,
                after: step.after,
                after_bytes: step.after_bytes,
            });
        }
    }

    fn push(&mut self, call: Invocation, ask: Option<CallAsk>, payload: Option<u32>) {
        self.calls.push(call);
        self.asks.extend(ask);
        self.payloads.extend(payload);
    }

    fn write<W: std::io::Write>(&self, writer: &mut LoadWriter<W>) -> std::io::Result<()> {
        writer.write_workflow_period(&self.calls, &self.asks, &self.payloads, &self.steps)
    }
}

/// The calls' payload sizes (`--payload`): drawn once per function, or per call from one stream per
/// period in time order.
struct Payloads {
    size: Option<(SizeDistribution, PayloadPer)>,
    seed: u64,
    /// Per function, with `--payload-per function`.
    of_function: Vec<u32>,
}

/// The payload draws of one period.
struct PayloadDraws<'a> {
    payloads: &'a Payloads,
    rng: Option<rand_chacha::ChaCha8Rng>,
}

impl Payloads {
    fn new(options: GenerateOptions, function_keys: &[u64]) -> Payloads {
        let seed = options.seed ^ PAYLOAD_STREAM;
        let of_function = match options.payload {
            Some((size, PayloadPer::Function)) => function_keys
                .iter()
                .map(|&key| size.sample(&mut stream(seed, key, 0)) as u32)
                .collect(),
            _ => Vec::new(),
        };
        Payloads {
            size: options.payload,
            seed,
            of_function,
        }
    }

    fn period(&self, label: u64) -> PayloadDraws<'_> {
        PayloadDraws {
            payloads: self,
            rng: matches!(self.size, Some((_, PayloadPer::Call)))
                .then(|| stream(self.seed, PAYLOAD_STREAM, label)),
        }
    }
}

impl PayloadDraws<'_> {
    /// The size of the next call, to function `f`.
    fn next(&mut self, f: usize) -> Option<u32> {
        let (size, per) = self.payloads.size?;
        Some(match (per, self.rng.as_mut()) {
            (PayloadPer::Call, Some(rng)) => size.sample(rng) as u32,
            _ => self.payloads.of_function[f],
        })
    }
}

/// Writes the load for every period of `trace`.
///
/// Files are written beside their final names and renamed only once all are complete, so a failure never
/// leaves a truncated `load.json` in place of a previous good one, nor a partial file. Memory holds one
/// period at a time.
pub fn generate(
    trace: &Trace,
    endpoints: &Endpoints,
    options: GenerateOptions,
    output: &Path,
    progress: &ProgressBar,
) -> std::io::Result<GenerateStats> {
    assert_eq!(endpoints.of_function.len(), trace.functions.len());
    let started = Instant::now();
    let files = output_files(output, options.workers);
    let mut whole = if options.whole && options.workers > 1 {
        Some(LoadWriter::create(output, &endpoints.names)?)
    } else {
        None
    };
    // Each file is written beside its final name and renamed when all are complete; on an error they
    // are dropped, which removes them, and any earlier load stays as it was.
    let nodes = options.workflow.map_or(&[][..], |w| &w.names.names[..]);
    let mut writers = files
        .iter()
        .map(|p| LoadWriter::create(p, &endpoints.names).map(|w| w.with_nodes(nodes)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut instances = 0u64;

    let workers = writers.len();
    let mut per_period = Vec::with_capacity(trace.periods);
    let mut per_file = vec![0u64; workers];
    let mut placer = Placer::new(trace, options);
    let mut shares: Vec<PeriodColumns> = vec![PeriodColumns::default(); workers];
    let mut all = PeriodColumns::default();
    let payloads = Payloads::new(options, &placer.function_keys);
    let mut dealt = 0u64;

    for p in 0..trace.periods {
        let label = u64::from(trace.first_period) + p as u64;
        let (keys, asks) = placer.place(p).map_err(std::io::Error::other)?;

        for share in &mut shares {
            share.clear();
        }
        all.clear();
        let mut payload_draws = payloads.period(label);
        let mut instance_draws = stream(options.seed ^ WORKFLOW_STREAM, WORKFLOW_STREAM, label);
        for (n, &k) in keys.iter().enumerate() {
            let f = (k & 0xffff_ffff) as usize;
            let call = Invocation {
                offset_us: k >> 32,
                endpoint: endpoints.of_function[f],
            };
            if let Some(load) = options.workflow {
                // One writer: a workflow load is replayed by one invoker (its calls wait for each other).
                shares[0].push_instance(
                    (load, &endpoints.of_node),
                    (call, instances),
                    &mut instance_draws,
                );
                instances += 1;
                continue;
            }
            let ask = asks.get(n).map(|(_, a)| *a);
            let payload = payload_draws.next(f);
            let (worker, _) = formats::shard_of(dealt, workers as u32);
            shares[worker as usize].push(call, ask, payload);
            if whole.is_some() {
                all.push(call, ask, payload);
            }
            dealt += 1;
        }
        if let Some(writer) = whole.as_mut() {
            all.write(writer)
                .map_err(|e| with_path(&partial_path(output), e))?;
        }
        for (w, (writer, share)) in writers.iter_mut().zip(&shares).enumerate() {
            share
                .write(writer)
                .map_err(|e| with_path(&partial_path(&files[w]), e))?;
            per_file[w] += share.calls.len() as u64;
        }
        per_period.push(shares.iter().map(|s| s.calls.len() as u64).sum());
        progress.inc(1);
    }

    let bytes = finish_all(
        writers
            .into_iter()
            .zip(files.iter().cloned())
            .chain(whole.map(|w| (w, output.to_owned()))),
    )?;
    Ok(GenerateStats {
        whole: (options.whole && options.workers > 1).then(|| output.to_owned()),
        files,
        per_period,
        per_file,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Finishes every file (`writer`, final path), then puts them all in place: none is renamed unless all
/// were written whole. Returns the bytes written.
fn finish_all(
    files: impl Iterator<Item = (LoadWriter<Compressed<AtomicFile>>, PathBuf)>,
) -> std::io::Result<u64> {
    let mut finished = Vec::new();
    for (writer, path) in files {
        finished.push(
            writer
                .finish()
                .map_err(|e| with_path(&partial_path(&path), e))?,
        );
    }
    let mut bytes = 0;
    for (file, stats) in finished {
        file.finish()?.commit()?;
        bytes += stats.bytes;
    }
    Ok(bytes)
}

/// Period `p`'s `calls` of `arrivals` as sort keys (offset in the high half, function in the low), and
/// with `--per-call` what each asks: its recorded duration when the trace has one, else a draw between its
/// function's percentiles (one stream per period, drawn in time order).
fn place_arrivals(
    trace: &Trace,
    (arrivals, calls): (&trace::Arrivals, &[trace::Arrival]),
    p: usize,
    options: GenerateOptions<'_>,
    keys: &mut Vec<u64>,
    asks: &mut Vec<(u64, CallAsk)>,
) {
    let start = p as u64 * trace.granularity.period_us();
    let label = u64::from(trace.first_period) + p as u64;
    let mut rng = stream(options.seed ^ ASK_STREAM, ARRIVALS_STREAM, label);
    for call in calls {
        let f = call.function as usize;
        let key = ((call.time_us - start) << 32) | f as u64;
        keys.push(key);
        if options.per_call {
            let function = &trace.functions[f];
            let ask = if arrivals.recorded_durations {
                CallAsk {
                    duration_us: u64::from(call.duration_us).min(formats::MAX_ASK_US),
                    memory_mb: whole_mib(function.memory_mb.quantile(0.5).unwrap_or(0.0)),
                }
            } else {
                draw_ask(function, &mut rng)
            };
            asks.push((key, ask));
        }
    }
}

/// One call's duration and memory, drawn between `function`'s trace percentiles (its quantile at a
/// uniform draw, linear between the given percentiles, as the emulated function samples a profile).
pub fn draw_ask(function: &trace::Function, rng: &mut impl rand::Rng) -> CallAsk {
    let duration_ms = function
        .duration_ms
        .quantile(rng.random::<f64>())
        .unwrap_or(0.0);
    let memory_mb = function
        .memory_mb
        .quantile(rng.random::<f64>())
        .unwrap_or(0.0);
    ask_of(duration_ms, memory_mb)
}

/// A duration (ms) and a working set (MiB) as a call's ask: whole µs up to the longest ask, whole MiB.
pub(crate) fn ask_of(duration_ms: f64, memory_mb: f64) -> CallAsk {
    CallAsk {
        duration_us: ((duration_ms.max(0.0) * 1e3).round() as u64).min(formats::MAX_ASK_US),
        memory_mb: whole_mib(memory_mb),
    }
}

/// MiB rounded to a whole number, 0 to `u32::MAX`.
fn whole_mib(memory_mb: f64) -> u32 {
    memory_mb.max(0.0).round().min(f64::from(u32::MAX)) as u32
}
