//! The `invoker` binary: parse (Go-style flags accepted), read the schedule, replay, report; or, with
//! `--coordinator`, do the same for one worker's share of a load and send the results back.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use cmdline::Stop;
use formats::summary::Summary;
use formats::transfer::{self, RESULT_FILES};
use invoker::cli::InvokerArgs;
use invoker::dispatch::{replay, ReplayOptions, Shard};
use invoker::lookahead::{CallsFrom, LoadToReplay};
use invoker::observe::Observer;
use invoker::shard_stream;
use invoker::upload::ChunkUploader;
use invoker::worker::{Coordinator, LiveReporter};

/// Clock exchanges before and after a worker's run; the one with the shortest round trip counts.
const CLOCK_SAMPLES: usize = 8;

fn main() -> ExitCode {
    let args = InvokerArgs::parse_command_line(std::env::args_os()).unwrap_or_else(|e| e.exit());
    cmdline::init_logging(args.dbg);
    // Ctrl-C and SIGTERM stop dispatch; calls in flight end (a second signal stops waiting for them) and
    // every record is written (and, for a coordinator, sent) before the process exits with 130 or 143.
    let stop = match Stop::on_signals() {
        Ok(stop) => stop,
        Err(e) => return cmdline::main_result(Err(e).context("installing signal handlers"), None),
    };
    let result = match &args.coordinator {
        Some(url) => run_for_coordinator(&args, url, &stop),
        None => run(&args, &stop),
    };
    cmdline::main_result(result, Some(&stop))
}

/// Where one replay reads and writes.
struct Files<'a> {
    load: &'a Path,
    records: Option<PathBuf>,
    latencies: PathBuf,
    summary: Option<PathBuf>,
    /// A worker's records, cut into chunks sent while it replays.
    chunks: Option<invoker::options::RecordChunks>,
}

fn shard(args: &InvokerArgs) -> Result<Option<Shard>> {
    match (args.worker, args.workers) {
        (Some(worker), Some(workers)) if worker >= workers => {
            bail!("--worker {worker} is not below --workers {workers}")
        }
        (Some(worker), Some(workers)) => Ok(Some(Shard { worker, workers })),
        _ => Ok(None),
    }
}

fn run(args: &InvokerArgs, stop: &Stop) -> Result<()> {
    let files = Files {
        load: &args.trace_file,
        records: args.records.as_deref().map(|p| args.compress.path(p)),
        latencies: args.latf.clone(),
        summary: args.summary.clone(),
        chunks: None,
    };
    let load = LoadToReplay::open(files.load, args.period_us(), args.warmup, args.duration)
        .context("reading the load")?;
    let summary = replay_load(
        args,
        (load, &files),
        shard(args)?,
        args.start_at,
        None,
        stop,
    )?;
    // The files are written: the run is complete, but it measured nothing.
    if let Some(why) = summary.every_call_failed() {
        bail!("{why}");
    }
    Ok(())
}

fn replay_load(
    args: &InvokerArgs,
    (load, files): (LoadToReplay, &Files),
    shard: Option<Shard>,
    start_at: Option<SystemTime>,
    coordinator: Option<((&str, &str), u32)>,
    stop: &Stop,
) -> Result<Summary> {
    if args.trace || args.zipkin.is_some() {
        log::warn!("-trace/-zipkin (Zipkin tracing) are not supported; ignoring them");
    }
    let schedule = &load.head.schedule;
    if schedule.periods < args.warmup.saturating_add(args.duration) {
        log::warn!(
            "{} holds {} periods; replaying all of them (asked for {} warm-up + {})",
            files.load.display(),
            schedule.periods_in_file,
            args.warmup,
            args.duration
        );
    }
    log::info!(
        "replaying {} calls to {} endpoints over {} periods",
        load.head.calls,
        schedule.endpoints.len(),
        schedule.periods
    );
    // Bound before anything is sent, so a taken port fails the run at once.
    let reporting = coordinator.is_some() && args.live_interval.is_some();
    let observer = (args.metrics_addr.is_some() || reporting).then(|| {
        let observer = Observer::for_head(&load.head);
        // A worker keeps its finished calls for its live reports.
        std::sync::Arc::new(if reporting {
            observer.forwarding()
        } else {
            observer
        })
    });
    let _server = match (&args.metrics_addr, &observer) {
        (Some(addr), Some(o)) => Some(
            observe::MetricsServer::start(addr, vec![o.registry()])
                .with_context(|| format!("--metrics-addr {addr}: cannot serve metrics there"))?,
        ),
        _ => None,
    };
    let reporter = match (coordinator, &observer, args.live_interval) {
        (Some((url_token, k)), Some(o), Some(interval)) => Some(LiveReporter::start(
            url_token,
            k,
            std::sync::Arc::clone(o),
            interval,
            args.dispatcher_cpu,
        )?),
        _ => None,
    };
    let summary = replay(
        load,
        ReplayOptions {
            default_port: args.port,
            grpc_timeout: args.grpc_timeout,
            connect_timeout: args.grpc_timeout.min(Duration::from_secs(5)),
            connections: args.connections as usize,
            max_in_flight: args.max_in_flight,
            start_at,
            shard,
            allow_unreachable: args.allow_unreachable,
            realtime: args.realtime,
            shared_cpu: args.shared_cpu,
            dispatcher_cpu: args.dispatcher_cpu,
            records: files.records.clone(),
            record_chunks: files.chunks.clone(),
            latency_file: Some(files.latencies.clone()),
            // A workflow load's instances go beside its records.
            workflows_file: files
                .records
                .as_ref()
                .map(|r| r.with_file_name(formats::workflows::WORKFLOWS)),
            stop: stop.clone(),
            observer,
            request: args.request.clone(),
            pacing: invoker::dispatch::Pacing::Scheduled,
            orchestration: args.orchestration,
            store: args.store.clone(),
            // A workflow load's traces go beside its records.
            spans_file: files
                .records
                .as_ref()
                .map(|r| r.with_file_name(formats::files::SPANS)),
            span_sample: args.span_sample,
            otlp_endpoint: args.otlp_endpoint.clone(),
            resume: args.resumed().map_err(anyhow::Error::msg)?,
            time_zero: None,
        },
    )?;
    // The last report holds every record: sent before the results, so the coordinator's live view ends
    // on the run's counts.
    if let Some(reporter) = reporter {
        reporter.finish();
    }
    print!("{summary}");
    if let Some(path) = &files.summary {
        write_summary(path, &summary)?;
    }
    Ok(summary)
}

fn write_summary(path: &Path, summary: &Summary) -> Result<()> {
    Ok(formats::summary::write(path, summary)?)
}

/// Worker `k`'s load, its head only (the calls are read ahead of the dispatcher as it goes): from the
/// shard fetched whole into `path`, or from the coordinator, the shard then read from it as a stream.
fn worker_load(
    args: &InvokerArgs,
    coordinator: &Coordinator,
    k: u32,
    path: &Path,
) -> Result<LoadToReplay> {
    if args.stream_shard {
        let head = shard_stream::head(
            coordinator,
            k,
            args.period_us(),
            (args.warmup, args.duration),
        )
        .context("asking for this worker's shard's head")?;
        let calls = shard_stream::open(coordinator, k).context("opening this worker's shard")?;
        log::info!("worker {k}: shard of {} calls, streamed", head.calls);
        return Ok(LoadToReplay {
            head,
            calls: CallsFrom::Stream(calls),
        });
    }
    let bytes = coordinator
        .fetch(&transfer::shard_path(k), path)
        .context("fetching this worker's shard")?;
    log::info!("worker {k}: shard of {bytes} bytes received");
    LoadToReplay::open(path, args.period_us(), args.warmup, args.duration)
        .context("reading the load")
}

/// A worker's run: shard in, clock, replay, results out. A failure before the results exist is reported
/// to the coordinator, so it knows at once instead of waiting for this worker.
fn run_for_coordinator(args: &InvokerArgs, url: &str, stop: &Stop) -> Result<()> {
    let shard = shard(args)?.context("--coordinator needs --worker and --workers")?;
    let k = shard.worker;
    let token = invoker::worker::run_token(url)?;
    let coordinator = Coordinator::new(url, &token)?;
    let work = WorkDir::new(args.work_dir.as_deref(), k)?;
    // Records go to the coordinator in chunks as the replay writes them, each sent on its own thread;
    // the chunks stay in the work directory until the run is over.
    let (chunk_ready, chunks) = std::sync::mpsc::channel();
    let uploader = ChunkUploader::start((url, &token), k, chunks, args.dispatcher_cpu)?;
    let files = Files {
        load: &work.path.join(format!("load-{k}.json")),
        records: None,
        latencies: work.path.join(formats::files::LATENCIES),
        summary: None,
        chunks: Some(invoker::options::RecordChunks {
            every: args.records_chunk,
            dir: work.path.join("records"),
            compression: args.compress,
            ready: chunk_ready,
        }),
    };
    let replayed = (|| {
        let load = worker_load(args, &coordinator, k, files.load)?;
        // The files the flags name come from the coordinator too: its paths are not this machine's.
        let mut args = args.clone();
        for (flag, path) in args.request.files_mut() {
            if let Some(path) = path {
                let local = work.path.join(flag);
                coordinator
                    .fetch(&transfer::worker_file_path(flag), &local)
                    .with_context(|| format!("fetching --{flag}"))?;
                *path = local;
            }
        }
        let args = &args;
        let before = measure_clock(&coordinator, "before the run");
        let offset = before.map_or(0.0, |c| c.offset_us);
        // --start-at is the coordinator's instant; on this machine's clock it is that minus the offset.
        let local_start = args.start_at.map(|at| shift(at, -offset));
        let _watchdog = invoker::worker::Watchdog::start(
            (url, &token),
            args.coordinator_timeout,
            stop.clone(),
            args.dispatcher_cpu,
        )?;
        let mut summary = replay_load(
            args,
            (load, &files),
            Some(shard),
            local_start,
            Some(((url, &token), k)),
            stop,
        )?;
        if let Some(info) = summary.worker.as_mut() {
            info.clock_offset_before_us = before.map(|c| c.offset_us);
            info.clock_round_trip_us = before.map(|c| c.round_trip_us);
            info.clock_offset_after_us =
                measure_clock(&coordinator, "after the run").map(|c| c.offset_us);
        }
        Ok::<_, anyhow::Error>(summary)
    })();
    // Every chunk's sender is gone once the replay is over (or could not start): the uploader ends.
    drop(files);
    let uploaded = uploader.finish();
    let summary = match replayed.and_then(|summary| {
        let sent = uploaded.context("sending the records to the coordinator")?;
        log::info!(
            "worker {k}: {} records sent in {} chunk(s)",
            sent.records,
            sent.chunks
        );
        Ok(summary)
    }) {
        Ok(summary) => summary,
        Err(e) => {
            if let Err(report) =
                coordinator.report_failure(&transfer::failure_path(k), &cmdline::error_text(&e))
            {
                log::warn!("could not tell the coordinator: {report}");
            }
            return Err(e);
        }
    };
    let summary_file = work.path.join(formats::files::SUMMARY);
    write_summary(&summary_file, &summary)?;
    // The summary goes last: it tells the coordinator that this worker is done.
    coordinator
        .upload(&summary_file, &transfer::result_path(k, RESULT_FILES[0]))
        .context("sending the summary to the coordinator")?;
    work.done();
    Ok(())
}

fn measure_clock(coordinator: &Coordinator, when: &str) -> Option<transfer::ClockSample> {
    match coordinator.clock(CLOCK_SAMPLES) {
        Ok(sample) => {
            log::info!(
                "clock {when}: coordinator minus this machine {:.0} µs (round trip {:.0} µs)",
                sample.offset_us,
                sample.round_trip_us
            );
            Some(sample)
        }
        Err(e) => {
            log::warn!("clock {when} not measured: {e}");
            None
        }
    }
}

/// `t` moved by `us` microseconds (either way).
fn shift(t: SystemTime, us: f64) -> SystemTime {
    let d = Duration::from_secs_f64(us.abs() / 1e6);
    if us >= 0.0 {
        t + d
    } else {
        t.checked_sub(d).unwrap_or(t)
    }
}

/// A worker's working directory: the one asked for, or a temporary one removed once the results are sent
/// (kept on failure, for a look at what was received).
struct WorkDir {
    path: PathBuf,
    temporary: bool,
}

impl WorkDir {
    fn new(asked: Option<&Path>, k: u32) -> Result<WorkDir> {
        let (path, temporary) = match asked {
            Some(dir) => (dir.to_owned(), false),
            None => (
                std::env::temp_dir().join(format!("invoker-worker-{k}-{}", std::process::id())),
                true,
            ),
        };
        std::fs::create_dir_all(&path)
            .with_context(|| format!("creating the work directory {}", path.display()))?;
        Ok(WorkDir { path, temporary })
    }

    fn done(self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
