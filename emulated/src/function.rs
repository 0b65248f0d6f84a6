//! What one emulated function does per call, and what it says about it.
//!
//! **The time model.** A call's duration is wall time, drawn from the function's duration percentiles (or
//! asked for by the call, see `proto::function::CallRequest`). Of it, the CPU share is busy computation:
//! the call touches its working set and spins on one of the server's busy threads (at most `threads` calls
//! compute at once, the others queue for a thread); the rest it waits, holding no thread, as a function
//! waiting on storage or another service does. So many calls can be in flight in one instance, and at low
//! load latency ≈ duration; when the busy threads are all taken, calls queue and their latency shows it.
//!
//! **The memory model.** A function's memory is its instance's footprint: the median of its memory
//! profile, allocated and touched once, when the instance starts (its cold call pays for that), and held
//! for the instance's life. A call that asks for a larger working set (`CallRequest::memory_mb`) touches
//! the difference for its duration, as computation within its CPU share. Footprints and these extras
//! are drawn from one budget (MiB) shared by the server's functions; an instance idle past its
//! keep-alive gives its footprint back.
//!
//! **The instance.** By default (`--local-platform knative`) a function scales like Knative: the
//! autoscaler keeps as many instances as its decider wants, a call that finds none with room waits in
//! the activator's queue (a cold call when it waited for its instance to start), and its wait is part
//! of its latency but not of its `exec_us` (see `crate::pool`). With `--local-platform simple` (and in
//! the `emulated-function` binary, where the cluster does the scaling) each function is one instance
//! with an id (16 hex digits): a call is cold when it is the instance's first, or the first after the
//! instance sat idle (no call in flight) longer than its keep-alive; then the instance is replaced, as a
//! platform that scales an idle function to zero and back does (a new id), and the call waits the
//! cold-start delay first, inside its `exec_us`.
//!
//! The reply's message is a `proto::function::FunctionReport` (JSON).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use profiles::Percentiles;
use profiles::{Metric, Proxy};
use proto::function::{instance_text, CallRequest, FunctionReport};
use proto::greeter_server::Greeter;
use proto::store::{StoreObject, StoreOps, STORE_HEADER};
use proto::trace::{now_unix_ns, Span, SpanKind, TraceContext, TRACEPARENT};
use proto::workflow::{Plan, PLAN_HEADER, STEP_HEADER};
use proto::{HelloReply, HelloRequest};
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use crate::footprint::{budget_for, touch};
use crate::instance::{Instance, Instances};
use crate::kill::{Abandoned, Kills};
use crate::metrics::FleetMetrics;
use crate::pool::{Lease, Pool, Scaling};
use observe::Held;

/// Default memory budget, MiB.
pub const DEFAULT_BUDGET_MB: u32 = 2048;
/// Default keep-alive: how long an idle instance lives (like a platform's scale-to-zero grace).
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(600);

/// What each call does.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Name reported in replies.
    pub name: String,
    /// Wall time per call, ms (sampled per call from these percentiles).
    pub duration_ms: Percentiles,
    /// Memory, MiB: its median is each instance's footprint (see [`Behaviour::footprint_mb`]).
    pub memory_mb: Percentiles,
    /// Memory all instances' footprints and calls' extra working sets may hold together, MiB.
    pub memory_budget_mb: u32,
    /// Fraction of a call's wall time spent computing (0 to 1); the rest is waiting.
    pub cpu_share: f64,
    /// How long the instance may sit idle before the next call is a cold start.
    pub keep_alive: Duration,
    /// Extra wait of a cold call, before it runs (0: cold calls are only marked).
    pub cold_start: Duration,
    /// What a call asks for is multiplied by this (the fleet's scale: see [`Behaviour::scaled`]).
    pub ask_scale: f64,
    /// When given, the function scales like Knative (see `crate::pool`), and `keep_alive` and
    /// `cold_start` do not apply; otherwise it is one instance kept alive while in use.
    pub scaling: Option<Arc<Scaling>>,
}

impl Behaviour {
    /// Fixed duration and memory, all of it computation.
    pub fn fixed(name: &str, duration_ms: f64, memory_mb: f64) -> Behaviour {
        Behaviour {
            name: name.to_owned(),
            duration_ms: Percentiles::constant(duration_ms),
            memory_mb: Percentiles::constant(memory_mb),
            memory_budget_mb: DEFAULT_BUDGET_MB,
            cpu_share: 1.0,
            keep_alive: DEFAULT_KEEP_ALIVE,
            cold_start: Duration::ZERO,
            ask_scale: 1.0,
            scaling: None,
        }
    }

    /// Emulates `proxy`: durations and memory drawn from its percentiles, its CPU share from its profile.
    pub fn of_proxy(proxy: &Proxy) -> Behaviour {
        Behaviour {
            name: proxy.name.clone(),
            duration_ms: proxy.metric(Metric::Duration).clone(),
            memory_mb: proxy.metric(Metric::Memory).clone(),
            memory_budget_mb: DEFAULT_BUDGET_MB,
            cpu_share: proxy.cpu_share(),
            keep_alive: DEFAULT_KEEP_ALIVE,
            cold_start: Duration::ZERO,
            ask_scale: 1.0,
            scaling: None,
        }
    }

    /// The same function with wall time and working set multiplied by `factor` (a local machine too small
    /// for the real profile runs the load's shape at a fraction of its cost), what calls ask for included.
    pub fn scaled(&self, factor: f64) -> Behaviour {
        Behaviour {
            duration_ms: self.duration_ms.scaled(factor),
            memory_mb: self.memory_mb.scaled(factor),
            ask_scale: self.ask_scale * factor,
            ..self.clone()
        }
    }

    /// Expected wall time of one call, ms (the mean of the sampled distribution).
    pub fn mean_duration_ms(&self) -> f64 {
        mean_of(&self.duration_ms)
    }

    /// Expected CPU time of one call, ms.
    pub fn mean_cpu_ms(&self) -> f64 {
        self.mean_duration_ms() * self.cpu_share
    }

    /// Expected memory of one instance, MiB (the mean of its memory distribution).
    pub fn mean_memory_mb(&self) -> f64 {
        mean_of(&self.memory_mb)
    }

    /// What each instance allocates when it starts and holds for its life, MiB: the median of its
    /// memory distribution, within the budget.
    pub fn footprint_mb(&self) -> u32 {
        let mib = self.memory_mb.quantile(0.5).unwrap_or(0.0).round().max(0.0);
        (mib as u32).min(self.memory_budget_mb)
    }

    /// A call's wall time and working set: what it asked for, else its duration drawn and its
    /// instance's footprint.
    fn for_call(&self, asked: Option<CallRequest>) -> (Duration, u32) {
        let asked = asked.unwrap_or_default();
        let duration = match asked.duration_us {
            Some(us) => Duration::from_secs_f64(us as f64 * self.ask_scale / 1e6),
            None => {
                let ms = self
                    .duration_ms
                    .quantile(rand::random::<f64>())
                    .unwrap_or(0.0);
                Duration::from_secs_f64(ms.max(0.0) / 1e3)
            }
        };
        let mib = match asked.memory_mb {
            Some(mb) => (f64::from(mb) * self.ask_scale).round() as u32,
            None => self.footprint_mb(),
        };
        (duration, mib.min(self.memory_budget_mb))
    }
}

/// Mean of the distribution `sample` draws from (quantile at uniform u), by the midpoint rule.
fn mean_of(p: &Percentiles) -> f64 {
    const STEPS: usize = 1000;
    (0..STEPS)
        .map(|i| p.quantile((i as f64 + 0.5) / STEPS as f64).unwrap_or(0.0))
        .sum::<f64>()
        / STEPS as f64
}

/// One function's gRPC service.
pub(crate) struct Service {
    behaviour: Arc<Behaviour>,
    budget: Arc<Semaphore>,
    instances: Instances,
    metrics: Arc<FleetMetrics>,
    stores: crate::store::Stores,
    kills: Arc<Kills>,
}

/// The instance a call runs on, held until the call ends (its drop tells the instance).
#[allow(dead_code, reason = "held for its drop")]
enum Placed<'a> {
    KeepAlive(Departure<'a>),
    Scaled(Lease),
}

impl Service {
    pub(crate) fn new(
        behaviour: Behaviour,
        budget: Arc<Semaphore>,
        metrics: Arc<FleetMetrics>,
        kills: Arc<Kills>,
    ) -> Service {
        let instances = match &behaviour.scaling {
            Some(scaling) => Instances::Scaled(Pool::start(
                Arc::clone(scaling),
                behaviour.footprint_mb(),
                Arc::clone(&budget),
                Arc::clone(&metrics),
            )),
            None => Instances::KeepAlive(
                Arc::new(Mutex::new(Instance::new(rand::random()))),
                behaviour.keep_alive,
            ),
        };
        metrics.add_function(&behaviour.name, Box::new(instances.clone()));
        kills.attach(instances.clone());
        Service {
            kills,
            behaviour: Arc::new(behaviour),
            budget,
            instances,
            metrics,
            stores: Default::default(),
        }
    }

    /// One call, from arrival to report, and the time it waited for an instance (in the activator's
    /// queue, when the function scales like Knative), which the report's `exec_us` leaves out. With
    /// `spin`, the call's work is that many increments of a busy-spin (STeLLAR's `IncrementLimit`)
    /// instead of a duration drawn or asked for.
    pub(crate) async fn call(
        &self,
        asked: Option<CallRequest>,
        spin: Option<u64>,
    ) -> Result<(FunctionReport, Duration), Status> {
        // The instance counts the call in flight until `_placed` goes, whatever ends the call.
        let (id, cold, waited, _placed) = match &self.instances {
            Instances::KeepAlive(instance, keep_alive) => {
                let (id, cold) = instance
                    .lock()
                    .expect("instance lock")
                    .arrive(Instant::now(), *keep_alive);
                let departure = Departure(instance, *keep_alive, id);
                (id, cold, Duration::ZERO, Placed::KeepAlive(departure))
            }
            Instances::Scaled(pool) => {
                let lease = pool.lease().await?;
                (lease.id, lease.cold, lease.waited, Placed::Scaled(lease))
            }
        };
        // A call on an instance that is killed ends with the kill's error (see `crate::kill`).
        tokio::select! {
            biased;
            killed = self.kills.killed(id) => Err(killed),
            served = self.serve_on((id, cold, waited), asked, spin) => served,
        }
    }

    /// [`Service::call`] on instance `id` (`cold`: started for it, after `waited`).
    async fn serve_on(
        &self,
        (id, cold, waited): (u64, bool, Duration),
        asked: Option<CallRequest>,
        spin: Option<u64>,
    ) -> Result<(FunctionReport, Duration), Status> {
        let b = &self.behaviour;
        let arrival = Instant::now();
        let m = &self.metrics;
        m.requests.inc();
        if cold {
            m.cold_starts.inc();
        }
        let _serving = Held::new(&m.in_flight, 1);
        let footprint = b.footprint_mb();
        if let (true, Instances::KeepAlive(instance, _)) = (cold, &self.instances) {
            // A new instance: its cold start, then its memory allocated and touched, on this call's
            // time (a scaled function's instances start, and hold theirs, before their calls).
            if !b.cold_start.is_zero() {
                tokio::time::sleep(b.cold_start).await;
            }
            let held = crate::footprint::footprint(&self.budget, m, footprint).await?;
            instance.lock().expect("instance lock").footprint = Some(held);
        }
        let (drawn, mib) = b.for_call(asked);
        let duration = if spin.is_some() {
            Duration::ZERO
        } else {
            drawn
        };
        // What the call needs beyond the footprint it runs in.
        let extra = mib.saturating_sub(footprint);
        let cpu = duration.mul_f64(b.cpu_share.clamp(0.0, 1.0));
        let queued = Held::new(&m.queued, 1);
        let permit = budget_for(&self.budget, extra).await?;
        let _held = Held::new(&m.working_set_bytes, i64::from(extra) << 20);
        // Computation holds a busy thread (queueing for one when all are taken); waiting holds none.
        let busy = m.busy.clone();
        let (started, working_set, spun) = if cpu.is_zero() && extra == 0 && spin.is_none() {
            drop(queued);
            (Instant::now(), Vec::new(), Duration::ZERO)
        } else {
            // A call whose instance is killed is dropped here: its computation stops with it.
            let abandoned = Abandoned::default();
            let dropped = Arc::clone(&abandoned.0);
            tokio::task::spawn_blocking(move || {
                drop(queued);
                let _busy = Held::new(&busy, 1);
                let started = Instant::now();
                let working_set = touch(extra as usize);
                match spin {
                    Some(n) => spin_increments(n),
                    None => {
                        while started.elapsed() < cpu && !dropped.load(Ordering::Relaxed) {
                            std::hint::spin_loop();
                        }
                    }
                }
                (started, working_set, started.elapsed())
            })
            .await
            .map_err(|e| Status::internal(e.to_string()))?
        };
        let (duration, cpu) = if spin.is_some() {
            (spun, spun)
        } else {
            (duration, cpu)
        };
        tokio::time::sleep_until((started + duration).into()).await;
        drop(working_set);
        drop(permit);
        let report = FunctionReport {
            function: b.name.clone(),
            exec_us: arrival.elapsed().as_micros() as u64,
            instance: instance_text(id),
            cold,
            memory_mb: mib.max(footprint),
            duration_us: duration.as_micros() as u64,
            cpu_us: cpu.as_micros() as u64,
            own_us: None,
            transfer_us: None,
            nodes: Vec::new(),
            spans: Vec::new(),
        };
        Ok((report, waited))
    }
}

/// What a call of a workflow carries besides its ask: a chained workflow's plan, and what it reads
/// from and writes to a store.
#[derive(Debug, Default)]
pub(crate) struct Carried {
    /// The plan (chained orchestration).
    pub(crate) plan: Option<Plan>,
    /// The store operations (client orchestration; chained calls derive theirs from the plan).
    pub(crate) store: Option<StoreOps>,
    /// The caller's trace context, when the call is traced (a sampled `traceparent`).
    pub(crate) trace: Option<TraceContext>,
    /// Whether it says it is a workflow's step (`proto::workflow::STEP_HEADER`).
    pub(crate) step: bool,
    /// When the request arrived and how long its body took (`crate::receive`), when it carried input.
    pub(crate) received: Option<crate::receive::Received>,
}

impl Carried {
    /// From a request's headers (or gRPC metadata), each found by `header`; a malformed one is refused.
    pub(crate) fn of<'a>(header: impl Fn(&str) -> Option<&'a [u8]>) -> Result<Carried, String> {
        let plan = header(PLAN_HEADER)
            .map(Plan::from_header)
            .transpose()
            .map_err(|e| e.to_string())?;
        let store = match header(STORE_HEADER) {
            Some(text) => Some(StoreOps::from_header(text)?),
            None => plan.as_ref().and_then(|p| p.store_ops(p.at)),
        };
        let trace = header(TRACEPARENT).and_then(TraceContext::from_header);
        Ok(Carried {
            plan,
            store,
            trace,
            step: header(STEP_HEADER).is_some(),
            received: None,
        })
    }

    /// With `received`, the arrival of a request that carried input (a payload, a workflow's edge).
    pub(crate) fn received(self, received: Option<&crate::receive::Received>) -> Carried {
        Carried {
            received: received.cloned(),
            ..self
        }
    }

    /// Whether the call is a step of a workflow: it carries a plan, store operations or the step's
    /// header, or a trace context (every call of a workflow load does one of these).
    fn is_workflow_step(&self) -> bool {
        self.step || self.plan.is_some() || self.store.is_some() || self.trace.is_some()
    }
}

impl Service {
    /// One call with what it `carried`: its inputs read from the store, the call, its outputs written
    /// there, and, when it carries a chained workflow's plan, the calls of the nodes it orchestrates
    /// (`crate::orchestrate`). The report's `exec_us` then covers all of it, `own_us` all but the nodes
    /// called, `transfer_us` the store's part, and `nodes` tells of the nodes called. A traced call
    /// reports its spans: its own (a server span), its store accesses', and its calls of nodes'.
    pub(crate) async fn call_and_follow(
        &self,
        asked: Option<CallRequest>,
        spin: Option<u64>,
        carried: Carried,
    ) -> Result<FunctionReport, Status> {
        // A workflow step's inline input is timed from its headers to its body's last frame (gRPC and
        // HTTP alike), and counted as transfer inside its execution time, as the store's is.
        let inline = carried
            .received
            .as_ref()
            .filter(|_| carried.is_workflow_step())
            .and_then(|r| Some((r.at, r.transfer()?)));
        let arrival = inline.map_or_else(Instant::now, |(at, _)| at);
        let mut trace = Spans::new(carried.trace);
        let store_failed = |e: String| Status::failed_precondition(e);
        let mut moved = inline.map_or(Duration::ZERO, |(_, took)| took);
        if let Some(ops) = carried.store.as_ref().filter(|o| !o.get.is_empty()) {
            let started = now_unix_ns();
            let read = crate::store::read_inputs(&self.stores, ops).await;
            trace.store("store.get", started, (ops.get.iter(), &read));
            moved += read.map_err(store_failed)?;
        }
        let (mut report, waited) = self.call(asked, spin).await?;
        // Its time inside the function leaves out its wait for an instance.
        let exec_since =
            |arrival: Instant| arrival.elapsed().saturating_sub(waited).as_micros() as u64;
        if let Some(ops) = carried.store.as_ref() {
            let started = now_unix_ns();
            let written = crate::store::write_outputs(&self.stores, ops).await;
            if !ops.put.is_empty() {
                trace.store("store.put", started, (ops.put.iter(), &written));
            }
            moved += written.map_err(store_failed)?;
        }
        if carried.store.is_some() || inline.is_some() {
            report.transfer_us = Some(moved.as_micros() as u64);
            report.exec_us = exec_since(arrival);
        }
        if let Some(plan) = carried.plan {
            report.own_us = Some(exec_since(arrival));
            report.nodes =
                crate::orchestrate::follow(&plan, trace.context(), &mut trace.spans).await;
            report.exec_us = exec_since(arrival);
        }
        report.spans = trace.finish(&report);
        Ok(report)
    }
}

/// The spans of one traced call: its server span's context (a child of the caller's), and the spans
/// under it so far.
struct Spans {
    parent: Option<TraceContext>,
    own: Option<TraceContext>,
    started_unix_ns: u64,
    spans: Vec<Span>,
}

impl Spans {
    /// For a call under `parent` (none: not traced; unsampled: passed on, no span made).
    fn new(parent: Option<TraceContext>) -> Spans {
        Spans {
            parent,
            own: parent.map(TraceContext::child),
            started_unix_ns: now_unix_ns(),
            spans: Vec::new(),
        }
    }

    /// The call's own span's context, for the calls it makes.
    fn context(&self) -> Option<TraceContext> {
        self.own
    }

    /// A store access from `started` to now, of the `objects` it moved, ending as `result` did.
    fn store<'a, T>(
        &mut self,
        name: &str,
        started: u64,
        (objects, result): (impl Iterator<Item = &'a StoreObject>, &Result<T, String>),
    ) {
        let Some(own) = self.own.filter(|o| o.sampled) else {
            return;
        };
        let bytes: u64 = objects.map(|o| o.bytes).sum();
        let mut attributes = vec![("store.bytes".to_owned(), bytes.to_string())];
        if let Err(e) = result {
            attributes.push(("error".to_owned(), e.clone()));
        }
        self.spans.push(own.child().span(
            Some(own.span_id),
            (name.to_owned(), SpanKind::Internal),
            (started, now_unix_ns()),
            attributes,
        ));
    }

    /// Every span of the call, its own (the server span, ending now) first.
    fn finish(mut self, report: &FunctionReport) -> Vec<Span> {
        let (Some(parent), Some(own)) = (self.parent, self.own.filter(|o| o.sampled)) else {
            return Vec::new();
        };
        let server = own.span(
            Some(parent.span_id),
            (report.function.clone(), SpanKind::Server),
            (self.started_unix_ns, now_unix_ns()),
            vec![
                ("faas.instance".to_owned(), report.instance.clone()),
                ("faas.coldstart".to_owned(), report.cold.to_string()),
            ],
        );
        self.spans.insert(0, server);
        self.spans
    }
}

/// Marks a call's end in its instance when dropped; the last call out sets a timer that gives the
/// footprint back if the instance is still idle when its keep-alive has passed.
/// A call leaving instance `.2` of a function kept alive for `.1`.
struct Departure<'a>(&'a Arc<Mutex<Instance>>, Duration, u64);

impl Drop for Departure<'_> {
    fn drop(&mut self) {
        let Ok(mut instance) = self.0.lock() else {
            return;
        };
        instance.depart(self.2, Instant::now());
        if instance.in_flight > 0 || instance.footprint.is_none() {
            return;
        }
        let (instance, keep_alive) = (Arc::clone(self.0), self.1);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                // Just past the keep-alive, so an instance idle exactly that long is dead.
                tokio::time::sleep(keep_alive + Duration::from_millis(1)).await;
                if let Ok(mut instance) = instance.lock() {
                    instance.release_if_dead(Instant::now(), keep_alive);
                }
            });
        }
    }
}

#[tonic::async_trait]
impl Greeter for Service {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let asked = CallRequest::from_metadata(&request.get_ref().v_hive_metadata);
        let metadata = request.metadata();
        // Its input is the `name` field (a payload, a workflow's edge).
        let received = request
            .extensions()
            .get::<crate::receive::Received>()
            .filter(|_| !request.get_ref().name.is_empty());
        let carried = Carried::of(|key| metadata.get(key).map(|v| v.as_bytes()))
            .map_err(Status::invalid_argument)?
            .received(received);
        let report = self.call_and_follow(asked, None, carried).await?;
        Ok(Response::new(HelloReply {
            message: report.to_message(),
        }))
    }
}

/// Counts to `n` in a busy-spin the optimiser cannot remove: STeLLAR's `for i := 0; i < n; i++ {}`.
fn spin_increments(n: u64) {
    let mut i = 0u64;
    while std::hint::black_box(i) < n {
        i += 1;
    }
}

/// How many busy-spin increments this machine does per µs, measured once (over ~20 ms of spinning):
/// what turns a service time into STeLLAR's `IncrementLimit`, and back.
pub fn spin_rate_per_us() -> f64 {
    static RATE: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *RATE.get_or_init(|| {
        let mut n = 1_000_000u64;
        loop {
            let started = Instant::now();
            spin_increments(n);
            let took = started.elapsed();
            if took >= Duration::from_millis(20) || n >= 1 << 40 {
                return n as f64 / took.as_secs_f64().max(1e-9) / 1e6;
            }
            n *= 2;
        }
    })
}
