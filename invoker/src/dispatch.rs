//! Replaying a schedule: connections, the dispatcher thread, and the records writer thread.
//!
//! The dispatcher is one dedicated OS thread (timer slack 1 ns, optionally `SCHED_FIFO`) that owns a
//! current-thread tokio runtime, and with it the gRPC connections. For each call it waits for the exact
//! microsecond (parked, then yielding, then spinning: see `wait`), polls the call once inline (handing the
//! request to the gRPC client) and leaves the rest of the call to a task on the same runtime. Because the
//! connection is driven by the thread that released the call, no sleeping thread has to be woken for the
//! bytes to leave: crossing threads costs 10–25 µs at the median on this kind of machine (`timing.md`).
//! Calls never wait for earlier ones: a slow or dead endpoint delays nothing but its own calls.
//!
//! Records go in batches to a writer thread that writes the CSV files and fills the histograms, so memory
//! stays bounded on long runs (see `sink`).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::path::Path;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use formats::output::AtomicFile;
use formats::records::{Outcome, Record};
use formats::summary::{Summary, WorkerInfo};
use host::{all_cpus_but, online_cpus, pin_to};

use crate::call::{FirstFailures, Sending};
use crate::chained::Chaining;
pub use crate::error::{error_chain, ReplayError};
use crate::lookahead::{read_ahead_from, CallFeed, CallsFrom, LoadToReplay, LookAhead, Reader};
pub use crate::options::{Orchestration, Pacing, ReplayOptions, Round, Shard};
use crate::request::{EndpointRequests, RequestTemplate};
use crate::schedule::{LoadHead, Schedule};
use crate::sink::{write_records, Sink};
use crate::target::Target;
use crate::wait::{tune_thread, Waiter};

/// A call due this long before the invoker is ready is recorded as `not_sent:late_start`; one due
/// less long before is sent, late, and its lag says by how much.
pub const LATE_START_GRACE: Duration = Duration::from_millis(1);

/// Replays `load` (a [`Schedule`] held whole, or a [`LoadToReplay`] whose calls are read ahead of the
/// dispatcher); returns the summary once every call has a record.
pub fn replay(
    load: impl Into<LoadToReplay>,
    options: ReplayOptions,
) -> Result<Summary, ReplayError> {
    let (schedule, scheduled_total, read_from) = calls_of(load.into(), &options)?;
    crate::orchestrate::check(&schedule, &options)?;
    let schedule = Arc::new(schedule);
    let targets = schedule
        .endpoints
        .iter()
        .map(|e| Target::parse(e, options.default_port))
        .collect::<Result<Vec<_>, _>>()?;
    // `$VAR`s are read before anything is written, so a missing token fails the run at once.
    let requests = options
        .request
        .resolve_for(&schedule.endpoints, |name| std::env::var(name).ok())
        .map_err(ReplayError::Header)?;
    // Output files are opened before anything is sent, so a bad path fails the run before it starts.
    let records = options.records.as_deref().map(create).transpose()?;
    let latencies = options.latency_file.as_deref().map(create).transpose()?;
    check_cpu(options.dispatcher_cpu)?;
    let options_cpu = options.dispatcher_cpu;
    // The reader starts first, so the first calls are at hand by time 0.
    let (read, reader) = start_reading(read_from.as_ref(), options_cpu)?;
    let (tx, rx) = mpsc::channel::<Vec<Record>>();
    let writer = {
        let schedule = Arc::clone(&schedule);
        let paths = (options.records.clone(), options.latency_file.clone());
        let observer = options.observer.clone();
        let chunks = options.record_chunks.clone();
        let workers = options.shard.map_or(1, |s| s.workers);
        let first = options.resume.map_or(0, |r| r.first);
        std::thread::Builder::new()
            .name("records".into())
            .spawn(move || {
                if let Some(cpu) = options_cpu {
                    pin_to(&all_cpus_but(cpu));
                }
                write_records(
                    (&schedule, scheduled_total, (workers, first)),
                    rx,
                    (records, latencies, chunks),
                    paths,
                    observer.as_deref(),
                )
            })
            .map_err(ReplayError::Start)?
    };
    let steal_before = host::steal_ms();
    let dispatcher = {
        let schedule = Arc::clone(&schedule);
        let options = options.clone();
        std::thread::Builder::new()
            .name("dispatcher".into())
            .spawn(move || run_dispatcher((&schedule, read), &targets, requests, &options, tx))
            .map_err(ReplayError::Start)?
    };
    let dispatched = dispatcher.join().expect("dispatcher thread panicked");
    let written = writer.join().expect("records thread panicked");
    let read = reader.map(|r| r.join().expect("load reader thread panicked"));
    // A replay that could not run leaves no file behind: the partial ones are dropped (removed), and
    // whatever the paths held before stays as it was.
    let Dispatched {
        mode,
        interrupted,
        start,
        ready_late,
        failures,
    } = dispatched?;
    // A load that could not be read to its end was not replayed whole: no summary claims it was.
    read.transpose()?;
    let (mut collector, records, latencies) = written?;
    commit_all([records, latencies])?;
    let workflows = crate::instances::write_rows(&schedule, &options)?;
    if let Some(at) = interrupted {
        collector.interrupted_at(at);
    }
    let interrupted = interrupted.is_some();
    let mut summary = collector.summary(mode, interrupted);
    summary.workflows = workflows;
    summary.failures = schedule
        .endpoints
        .iter()
        .zip(failures)
        .filter_map(|(endpoint, cause)| Some((endpoint.clone(), cause?)))
        .collect();
    summary.incomplete = interrupted && options.stop.abandon();
    summary.start_unix_us = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    summary.steal_ms = host::steal_between(&steal_before, &host::steal_ms())
        .into_iter()
        .collect();
    if let Some(late) = ready_late {
        warn_late(late, &summary);
    }
    if let Some(shard) = options.shard {
        // A worker's histograms go back with its results, for the coordinator to merge.
        summary.collected = Some(Box::new(collector.collected()));
        summary.worker = Some(WorkerInfo {
            index: shard.worker,
            workers: shard.workers,
            ready_late_us: ready_late.map(|d| d.as_micros() as u64),
            start_skew_us: collector.first_send_lag_ns().map(|lag| lag as f64 / 1e3),
            ..WorkerInfo::default()
        });
    }
    Ok(summary)
}

/// Puts each written file in its place.
fn commit_all(files: [Option<AtomicFile>; 2]) -> Result<(), ReplayError> {
    for file in files.into_iter().flatten() {
        let path = file.path().to_owned();
        file.commit()
            .map_err(|source| ReplayError::Io { path, source })?;
    }
    Ok(())
}

/// A load read ahead: its head, and its file or stream.
type ReadFrom = (LoadHead, CallsFrom);

/// The schedule the dispatcher works from (held whole, or only the head of a load read ahead), its
/// number of calls, and for a load read ahead, its head and file. Rounds send the calls again and
/// again, so they need every one at hand: their load is read whole.
fn calls_of(
    load: LoadToReplay,
    options: &ReplayOptions,
) -> Result<(Schedule, u64, Option<ReadFrom>), ReplayError> {
    let load = match (&options.pacing, &load.calls) {
        (Pacing::Loops(_), CallsFrom::File(_) | CallsFrom::Stream(_)) => {
            LoadToReplay::from(load.read_whole()?)
        }
        _ => load,
    };
    let total = load.head.calls;
    let calls = match load.calls {
        CallsFrom::Held(schedule) => (schedule, total, None),
        read @ (CallsFrom::File(_) | CallsFrom::Stream(_)) => {
            (load.head.schedule.clone(), total, Some((load.head, read)))
        }
    };
    check_resume(&calls.0, options)?;
    Ok(calls)
}

/// Starts the reader thread of a load read ahead (off the dispatcher's CPU); nothing for a held one.
fn start_reading(
    from: Option<&ReadFrom>,
    dispatcher_cpu: Option<usize>,
) -> Result<(Option<LookAhead>, Option<Reader>), ReplayError> {
    let Some((head, calls)) = from else {
        return Ok((None, None));
    };
    let (read, reader) = read_ahead_from(head, calls, dispatcher_cpu.map(all_cpus_but))
        .map_err(ReplayError::Start)?;
    Ok((Some(read), Some(reader)))
}

/// Refuses to resume a replay whose calls are not released each at its own due time: a workflow load's
/// calls wait for one another (an instance cut in two cannot go on), and rounds repeat theirs.
fn check_resume(schedule: &Schedule, options: &ReplayOptions) -> Result<(), ReplayError> {
    if options.resume.is_none() {
        return Ok(());
    }
    if schedule.dependencies.is_some() {
        return Err(ReplayError::Unsupported(
            "a workflow load cannot be resumed: its instances' calls wait for one another".into(),
        ));
    }
    if matches!(options.pacing, Pacing::Loops(_)) {
        return Err(ReplayError::Unsupported(
            "closed-loop rounds cannot be resumed: they are not a schedule in time".into(),
        ));
    }
    Ok(())
}

/// Refuses a `--dispatcher-cpu` this machine does not have.
fn check_cpu(cpu: Option<usize>) -> Result<(), ReplayError> {
    let cpus = online_cpus();
    match cpu {
        Some(cpu) if cpu >= cpus => Err(ReplayError::Start(std::io::Error::other(format!(
            "--dispatcher-cpu {cpu}: this machine has CPUs 0..{}",
            cpus.saturating_sub(1)
        )))),
        _ => Ok(()),
    }
}

/// Says how late the invoker was ready, and what that cost.
fn warn_late(late: Duration, summary: &Summary) {
    log::warn!(
        "ready {:.1} ms after the start time: {} call(s) due before then are recorded as {}",
        late.as_secs_f64() * 1e3,
        summary
            .outcomes
            .get(Outcome::NotSentLateStart.name())
            .copied()
            .unwrap_or(0),
        Outcome::NotSentLateStart.name()
    );
}

fn create(path: &Path) -> Result<AtomicFile, ReplayError> {
    AtomicFile::create(path).map_err(ReplayError::io_on(path))
}

/// What the dispatcher thread reports.
struct Dispatched {
    /// How it was scheduled.
    mode: String,
    /// Stopped by a signal.
    interrupted: Option<u64>,
    /// Wall-clock instant of time 0.
    start: SystemTime,
    /// How long after time 0 it was ready, if later than [`LATE_START_GRACE`].
    ready_late: Option<Duration>,
    /// Per endpoint, the first failed call's cause.
    failures: Vec<Option<String>>,
}

/// The dispatcher thread's body.
fn run_dispatcher(
    (schedule, read): (&Schedule, Option<LookAhead>),
    targets: &[Target],
    requests: EndpointRequests,
    options: &ReplayOptions,
    tx: mpsc::Sender<Vec<Record>>,
) -> Result<Dispatched, ReplayError> {
    let (mut mode, realtime) = tune_thread(options.realtime);
    if options.shared_cpu && !realtime {
        mode.push_str(", parks through gaps over 80 us (CPU shared)");
    }
    if let Some(cpu) = options.dispatcher_cpu {
        if pin_to(&[cpu]) {
            mode.push_str(&format!(
                ", pinned to CPU {cpu} (other invoker threads off it)"
            ));
        } else {
            mode.push_str(&format!(", pinning to CPU {cpu} refused"));
        }
    }
    // The dispatcher yields between calls; with tokio's default, sockets are polled only every 61 of those
    // ticks, so answers (and freed HTTP/1.1 connections) wait for it: polling at each tick (one
    // non-blocking epoll_wait) took HTTP/1.1's latency p99 at 20k calls/s from ~0.8-2 ms to ~0.2 ms here.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .event_interval(1)
        .build()
        .map_err(ReplayError::Start)?;
    let sink = Sink::new(tx);
    let local = tokio::task::LocalSet::new();
    let preempted_before = host::thread_preemptions();
    let failures: FirstFailures = Rc::new(RefCell::new(vec![None; targets.len()]));
    // One shared request per distinct template, so a large payload is held once however many endpoints
    // send it.
    let templates: Vec<Rc<RequestTemplate>> = requests.templates.into_iter().map(Rc::new).collect();
    let per_endpoint: Vec<Rc<RequestTemplate>> = requests
        .of_endpoint
        .iter()
        .map(|&k| Rc::clone(&templates[k]))
        .collect();
    let result = match &options.pacing {
        Pacing::Scheduled => local.block_on(
            &runtime,
            dispatch(
                (schedule, read),
                (targets, &per_endpoint),
                options,
                (&sink, &failures),
                realtime,
            ),
        ),
        Pacing::Loops(loops) => local.block_on(
            &runtime,
            crate::rounds::dispatch_loops(
                schedule,
                loops,
                (targets, &per_endpoint),
                options,
                (&sink, &failures),
            ),
        ),
    };
    // How often something else took the dispatcher's CPU: what explains a lag spike that steal does not.
    mode.push_str(&format!(
        ", preempted {} time(s) while dispatching",
        host::thread_preemptions().saturating_sub(preempted_before)
    ));
    // Dropping the LocalSet drops any call still pending; its guard records it as cancelled.
    drop(local);
    sink.flush();
    let failures = failures.take();
    result.map(|(interrupted, start, ready_late)| Dispatched {
        mode,
        interrupted,
        start,
        ready_late,
        failures,
    })
}

/// Time 0 of the replay, as an instant and on the wall clock: the agreed `start_at`, even if it has
/// passed (then the calls already due are late starts); otherwise a short lead from now.
fn time_zero(
    start_at: Option<SystemTime>,
    now: Instant,
    now_wall: SystemTime,
) -> (Instant, SystemTime) {
    let lead = Duration::from_millis(20);
    match start_at {
        Some(at) => match at.duration_since(now_wall) {
            Ok(wait) => {
                if wait > Duration::from_secs(1) {
                    log::info!(
                        "waiting {:.1} s for --start-at {} before the first call",
                        wait.as_secs_f64(),
                        humantime::format_rfc3339_millis(at)
                    );
                }
                (now + wait, at)
            }
            Err(past) => {
                let past = past.duration();
                (now.checked_sub(past).unwrap_or(now), at)
            }
        },
        None => (now + lead, now_wall + lead),
    }
}

/// Once dispatch is over (the last call sent, or a stop request): waits for the calls in flight to end.
/// Every call has its own timeout, so waiting that long (plus a margin) lets each one end on its own; a
/// second stop request ends the wait, and what is still in flight is recorded as cancelled.
async fn wait_for_in_flight(
    in_flight: &Cell<usize>,
    interrupted: bool,
    options: &ReplayOptions,
    sink: &Rc<Sink>,
) {
    let until = Instant::now() + options.grpc_timeout + Duration::from_millis(200);
    if interrupted && in_flight.get() > 0 {
        log::warn!(
            "stopping: waiting up to {:.1} s for {} call(s) in flight to end; Ctrl-C again to stop waiting \
             (every call keeps its record)",
            options.grpc_timeout.as_secs_f64(),
            in_flight.get()
        );
    }
    while in_flight.get() > 0 && Instant::now() < until && !options.stop.abandon() {
        tokio::time::sleep(Duration::from_millis(1)).await;
        sink.flush_if_due();
    }
}

/// The dispatch loop; returns when it was interrupted (µs from time 0), the wall-clock instant of time
/// 0, and how late it was ready.
async fn dispatch(
    (schedule, read): (&Schedule, Option<LookAhead>),
    (targets, requests): (&[Target], &[Rc<RequestTemplate>]),
    options: &ReplayOptions,
    (sink, failures): (&Rc<Sink>, &FirstFailures),
    realtime: bool,
) -> Result<(Option<u64>, SystemTime, Option<Duration>), ReplayError> {
    let clients = crate::client::connect(targets, &schedule.endpoints, options, requests).await?;
    let (now, now_wall) = (Instant::now(), SystemTime::now());
    let (start, start_wall) = time_zero(options.start_at, now, now_wall);
    let _ = options.time_zero.as_ref().map(|told| told.send(start_wall));
    let ready_late = now
        .checked_duration_since(start)
        .filter(|late| *late > LATE_START_GRACE);
    let late_before = ready_late.map(|_| now - LATE_START_GRACE);
    let mut waiter = Waiter::new(realtime, options.shared_cpu).map_err(ReplayError::Start)?;
    let mut sending = Sending::new(&clients, (sink, failures), options);
    // A chained workflow load: the open loop sends the instances' entry calls with their plans, and the
    // functions call the rest.
    let start_unix_us = start_wall
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64;
    let chaining = match options.orchestration {
        Orchestration::Chained => Some(Chaining::new(
            schedule,
            (start_unix_us, options.grpc_timeout),
            options.store.as_deref(),
        )?),
        Orchestration::Client => None,
    };
    sending.chaining = chaining.as_ref();
    let tracing = (options.spans_file.is_some() || options.otlp_endpoint.is_some())
        .then(|| {
            crate::spans::Tracing::new(
                schedule,
                (options.span_sample, options.otlp_endpoint.as_deref()),
                chaining.is_none(),
                (start, start_unix_us),
            )
        })
        .flatten();
    sending.tracing = tracing.as_ref();
    if chaining.is_none() {
        sending.store = options
            .store
            .as_deref()
            .zip(schedule.dependencies.as_ref())
            .map(|(url, d)| crate::store::ClientStore::new(url, d, start_unix_us));
    }
    // A workflow load orchestrated here: the calls that wait for others go as those end, beside the
    // open loop.
    let client_orchestrated = chaining.is_none();
    let waiting = schedule
        .dependencies
        .as_ref()
        .filter(|_| client_orchestrated)
        .map(|dependencies| {
            let (ended, ends) = tokio::sync::mpsc::unbounded_channel();
            sending.ended = Some(ended);
            (dependencies, ends)
        });
    let feed = match read {
        Some(read) => CallFeed::Read(read),
        None => CallFeed::Held(&schedule.calls, 0),
    };
    let on_time = release_on_time(
        (schedule, feed),
        &sending,
        (start, late_before),
        &mut waiter,
        options,
    );
    let interrupted_at = match waiting {
        None => on_time.await,
        Some((dependencies, ends)) => {
            let waiting = crate::orchestrate::release_waiting(
                schedule,
                dependencies,
                &sending,
                ends,
                start,
                options,
            );
            futures_util::future::join(on_time, waiting).await.0
        }
    };

    wait_for_in_flight(&sending.in_flight, interrupted_at.is_some(), options, sink).await;
    drop(sending);
    if let Some(tracing) = tracing {
        let path = options.spans_file.as_deref();
        tracing.finish(path).map_err(|source| ReplayError::Io {
            path: path.map(Path::to_owned).unwrap_or_default(),
            source,
        })?;
    }
    Ok((interrupted_at, start_wall, ready_late))
}

/// The open loop: releases each call that waits for nothing at its due time (`start` is time 0; a call
/// due before `late_before` is not sent, its invoker was not ready). Returns when a stop request came,
/// µs from time 0, if one did.
async fn release_on_time(
    (schedule, mut feed): (&Schedule, CallFeed<'_>),
    sending: &Sending<'_>,
    (start, late_before): (Instant, Option<Instant>),
    waiter: &mut Waiter,
    options: &ReplayOptions,
) -> Option<u64> {
    let sink = sending.sink;
    let waits = |index: usize| {
        schedule
            .dependencies
            .as_ref()
            .is_some_and(|d| d.waits_for[index] > 0)
    };
    // When a stop request came, µs from time 0; from then on no call is sent.
    let mut interrupted_at: Option<u64> = None;
    // A resumed replay: the calls an earlier session recorded are skipped, and time 0 is `from_us`.
    let (first, from_us) = options
        .resume
        .map_or((0, 0), |r| (r.first as usize, r.from_us));
    let due = |due_us: u64| start + Duration::from_micros(due_us.saturating_sub(from_us));
    let mut index = 0usize;
    while let Some(call) = feed.next_call() {
        index += 1;
        let index = index - 1;
        if index < first || waits(index) {
            continue;
        }
        let deadline = due(call.due_us);
        let (worker, whole_index) = match options.shard {
            Some(shard) => (
                shard.worker,
                formats::whole_index(shard.worker, index as u64, shard.workers),
            ),
            None => (0, index as u64),
        };
        let mut record =
            schedule.unsent_record(&call, whole_index, worker, Outcome::NotSentInterrupted);
        if late_before.is_some_and(|ready| deadline < ready) {
            if let Some(o) = &options.observer {
                o.call_due();
            }
            record.outcome = Outcome::NotSentLateStart;
            sink.push(record);
            sending.not_sent(index);
            sink.flush_if_due();
            continue;
        }
        if interrupted_at.is_none() && !waiter.wait_until(deadline, &options.stop).await {
            interrupted_at =
                Some(Instant::now().saturating_duration_since(start).as_micros() as u64);
        }
        if interrupted_at.is_some() {
            sink.push(record);
            sending.not_sent(index);
            continue;
        }
        let released = Instant::now();
        if let Some(o) = &options.observer {
            o.call_due();
        }
        record.dispatch_lag_ns =
            Some(released.saturating_duration_since(deadline).as_nanos() as u64);
        if sending.in_flight.get() >= options.max_in_flight {
            record.outcome = Outcome::NotSentBackPressure;
            sink.push(record);
            sending.not_sent(index);
            sink.flush_if_due();
            continue;
        }
        // First poll inline: the request is handed to the client now, not after whatever tasks are
        // queued ahead of a new one; the task then carries the call to its end.
        let mut call = Box::pin(sending.send(&call, record, deadline));
        let done = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx).is_ready())).await;
        if !done {
            tokio::task::spawn_local(call);
        }
        // Release every call already due first (a burst's release times stay exact), then let the call
        // tasks run at once: they write their requests before the dispatcher looks at the clock again.
        let next_due = feed
            .ahead()
            .iter()
            .enumerate()
            .find(|&(k, _)| !waits(index + 1 + k))
            .map(|(_, c)| due(c.due_us));
        if next_due.is_none_or(|due| due > Instant::now()) {
            tokio::task::yield_now().await;
            sink.flush_if_due();
        }
    }

    interrupted_at
}
