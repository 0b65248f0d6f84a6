//! Replay from many workers: the load is dealt into shards (`formats::shard_of`), N invokers fetch them
//! from this process over HTTP, start together at one agreed instant, and send back their records, which
//! are merged into the run's one output directory.
//!
//! The data path: [`serve`] (the coordinator's HTTP server: shards out, clock, results in), a launcher
//! ([`local`] processes or a [`kubernetes`] Indexed Job), the wait for every worker's results (a worker
//! that dies, or never reports, is counted as lost), and [`merge`].

pub mod kubernetes;
pub mod live;
pub mod local;
pub mod merge;
pub mod serve;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use cmdline::Stop;
use formats::summary::Summary;
use formats::transfer::TOKEN_ENV;
use invoker::observe::Observer;
use invoker::schedule::LoadHead;

use formats::files::RunFiles;
use kubernetes::{Job, KubernetesOptions};
use local::LocalWorkers;
use merge::WorkerResult;
use serve::Event;

/// Where the workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Launcher {
    /// `invoker` processes on this machine.
    Local,
    /// The pods of a Kubernetes Indexed Job.
    Kubernetes,
}

/// What each worker's invoker is told, defined beside the invoker's own parser.
pub use invoker::cli::{invoker_args, InvokerSettings};

/// A replay from several workers.
pub struct Launch<'a> {
    /// Workers.
    pub workers: u32,
    /// Where they run.
    pub launcher: Launcher,
    /// The run's files (load.json, the shards, where the records go).
    pub files: &'a RunFiles,
    /// What the whole load holds (its calls are not: the workers read their shards, and the merge reads
    /// the load again a period at a time).
    pub load: &'a LoadHead,
    /// What the invokers are told.
    pub settings: InvokerSettings,
    /// Local workers: the CPU each one's dispatcher is pinned to, if any.
    pub cpus: Vec<Option<usize>>,
    /// Time from now to the agreed start; default: see [`default_lead`].
    pub start_lead: Option<Duration>,
    /// Address the HTTP server binds and the workers are given.
    pub advertise: Option<String>,
    /// The Job's settings.
    pub kubernetes: KubernetesOptions,
    /// This run's id (the label on what it creates in a cluster).
    pub run_id: &'a str,
    /// Ctrl-C: the workers are told to stop, and what they send back is still merged.
    pub stop: Stop,
    /// Start these local workers this much later (to test a late start).
    pub launch_delays: Vec<(u32, Duration)>,
    /// The observer of the whole load that the workers' live reports are folded into (needs
    /// `settings.live_interval`).
    pub observer: Option<Arc<Observer>>,
    /// The run's token ([`new_token`]): the coordinator serves only requests that carry it, and the
    /// workers get it through their environment (local) or the run's Secret (Kubernetes).
    pub token: String,
    /// `--coordinator-tls`: the coordinator serves HTTPS, and the workers trust its certificates only
    /// (given to them as the token is).
    pub tls: Option<tls::LoadedTls>,
    /// What the run's disturbance timeline learns from the replay.
    pub hooks: ReplayHooks,
}

/// The local workers' process ids, by worker (none before it starts and after it exits).
pub type WorkerPids = Arc<std::sync::Mutex<Vec<Option<u32>>>>;

/// What a run's disturbance timeline learns from a replay from workers: its time 0, and the local
/// workers' process ids (a fault pauses or kills one).
#[derive(Debug, Clone, Default)]
pub struct ReplayHooks {
    /// Told the agreed start once it is fixed.
    pub time_zero: Option<std::sync::mpsc::Sender<SystemTime>>,
    /// Kept up to date with the local workers' pids.
    pub worker_pids: Option<WorkerPids>,
}

/// What each worker finds in its environment: the run's token and, when the coordinator serves HTTPS,
/// the certificates to trust.
fn worker_env(launch: &Launch) -> Vec<(String, String)> {
    let mut env = vec![(TOKEN_ENV.to_owned(), launch.token.clone())];
    if let Some(tls) = &launch.tls {
        env.push((
            formats::transfer::CA_ENV.to_owned(),
            tls.trusted_pem.clone(),
        ));
    }
    env
}

/// A new run token: 256 random bits from the operating system's generator, as hex. It is kept in memory
/// only: no file the run writes holds it.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The default time from now to the agreed start: enough to start the workers and for each to fetch its
/// shard (local: 2 s + 1 s per 100 MB of the largest shard; Kubernetes, where pods are scheduled and
/// images pulled: 60 s + 1 s per 20 MB).
pub fn default_lead(launcher: Launcher, largest_shard_bytes: u64) -> Duration {
    let mb = largest_shard_bytes as f64 / 1e6;
    Duration::from_secs_f64(match launcher {
        Launcher::Local => 2.0 + mb / 100.0,
        Launcher::Kubernetes => 60.0 + mb / 20.0,
    })
}

/// The address the HTTP server binds: `--advertise-addr`, or for local workers 127.0.0.1 on a free port,
/// or for pods this machine's address on its default route.
pub fn bind_address(launcher: Launcher, advertise: Option<&str>) -> Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    match advertise {
        Some(text) => text
            .to_socket_addrs()
            .with_context(|| format!("--advertise-addr {text}: not a HOST:PORT"))?
            .next()
            .with_context(|| format!("--advertise-addr {text}: resolves to no address")),
        None => Ok(match launcher {
            Launcher::Local => SocketAddr::from(([127, 0, 0, 1], 0)),
            Launcher::Kubernetes => SocketAddr::new(serve::default_route_ip()?, 0),
        }),
    }
}

/// Where each worker is in the run.
#[derive(Debug, Default)]
struct Progress {
    /// Its records chunks so far, by number.
    chunks: std::collections::BTreeMap<u64, PathBuf>,
    summary: Option<PathBuf>,
    lost: Option<String>,
    /// When its process or pod was seen to end (its results may still be arriving).
    ended: Option<(Instant, String)>,
}

impl Progress {
    fn done(&self) -> bool {
        self.summary.is_some() || self.lost.is_some()
    }
}

/// The launched workers.
enum Launched {
    Local(LocalWorkers),
    Kubernetes(Job),
}

/// How long after a worker ended its results may still arrive.
const RESULTS_GRACE: Duration = Duration::from_secs(3);
/// How often a Job's state is asked for.
const JOB_POLL: Duration = Duration::from_secs(2);

/// The files the workers' flags name, served for workers that do not share this machine's paths.
fn flag_files(launch: &Launch) -> Result<Vec<(&'static str, serve::ServedShard)>> {
    let mut files = Vec::new();
    for (flag, path) in launch.settings.request.files() {
        if let Some(path) = path {
            let served = serve::describe_shards(std::slice::from_ref(path))
                .with_context(|| format!("--{flag}"))?;
            files.extend(served.into_iter().map(|s| (flag, s)));
        }
    }
    Ok(files)
}

/// Replays the load from `launch.workers` workers; writes the merged records.csv and lat.csv and returns
/// the run's summary (overall, and one block per worker).
pub fn replay(launch: &Launch) -> Result<Summary> {
    let files = launch.files;
    let n = launch.workers;
    let shards = serve::describe_shards(&files.shards)?;
    let largest = shards.iter().map(|s| s.bytes).max().unwrap_or(0);
    let bind = bind_address(launch.launcher, launch.advertise.as_deref())?;
    let (events_tx, events) = mpsc::channel();
    let live = launch
        .observer
        .as_ref()
        .map(|o| Arc::new(live::WorkersLive::new(Arc::clone(o), n)));
    let server = serve::start(
        bind,
        (shards, flag_files(launch)?),
        &files.workers,
        events_tx,
        live,
        (
            &launch.token,
            launch.tls.as_ref().map(|t| Arc::clone(&t.config)),
        ),
    )?;
    let scheme = if launch.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let coordinator = format!("{scheme}://{}", server.addr);
    let (lead, start_at) = agreed_start(launch, largest);
    let span = Duration::from_micros(launch.load.last_due_us);
    // Results are awaited until every call could have ended, plus time to send them back.
    let records_mb = launch.load.calls as f64 * 80.0 / 1e6;
    let deadline = Instant::now()
        + lead
        + span
        + launch.settings.grpc_timeout
        + Duration::from_secs_f64(30.0 + records_mb / 20.0);
    println!(
        "workers    {n} {} serving shards at {coordinator}; start in {:.1} s at {}",
        match launch.launcher {
            Launcher::Local => "local invoker processes,",
            Launcher::Kubernetes => "pods of a Kubernetes Job,",
        },
        lead.as_secs_f64(),
        humantime::format_rfc3339_millis(start_at)
    );
    let steal_before = host::steal_ms();
    let launched = launch_workers(launch, &coordinator, start_at, deadline)?;
    let progress = wait_for_workers(launch, launched, &events, deadline)?;
    drop(server);
    let mut results = worker_results(progress, start_at);
    for (k, r) in results.iter().enumerate() {
        if let Some(why) = &r.lost {
            println!("worker {k}   lost: {why}");
        }
    }
    let interrupted = launch.stop.requested()
        || results
            .iter()
            .filter_map(|r| r.summary.as_ref())
            .any(|s| s.interrupted);
    let first_mode = results
        .iter()
        .filter_map(|r| r.summary.as_ref())
        .map(|s| s.dispatcher.clone())
        .next()
        .unwrap_or_default();
    let load = merge::MergedLoad {
        path: &files.load,
        head: launch.load,
    };
    let mut summary = merge::merge(
        load,
        &mut results,
        &files.records,
        &files.latencies,
        format!(
            "{n} workers ({}); worker 0: {first_mode}",
            match launch.launcher {
                Launcher::Local => "local processes".to_owned(),
                Launcher::Kubernetes =>
                    format!("Kubernetes Job {}", kubernetes::job_name(launch.run_id)),
            }
        ),
        interrupted,
    )?;
    summary.start_unix_us = start_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    if launch.launcher == Launcher::Local {
        summary.steal_ms = host::steal_between(&steal_before, &host::steal_ms())
            .into_iter()
            .collect();
    }
    // The records are merged into the run's records.csv; each worker keeps its summary (and log).
    for k in 0..n {
        remove_merged(&files.workers.join(k.to_string()));
    }
    Ok(summary)
}

/// The time from now to the workers' agreed start, and that start (told to the run's hooks).
fn agreed_start(launch: &Launch, largest_shard_bytes: u64) -> (Duration, SystemTime) {
    let lead = launch
        .start_lead
        .unwrap_or_else(|| default_lead(launch.launcher, largest_shard_bytes));
    let start_at = SystemTime::now() + lead;
    if let Some(told) = &launch.hooks.time_zero {
        let _ = told.send(start_at);
    }
    (lead, start_at)
}

/// Removes what a worker's directory holds that is now in the run's files: its records chunks and its
/// work directory.
fn remove_merged(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        if formats::transfer::parse_chunk_name(&name.to_string_lossy()).is_some() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let _ = std::fs::remove_dir_all(dir.join("invoker"));
}

/// Starts the workers: local invoker processes, or the pods of a Kubernetes Job (its manifest written
/// beside the run) that must be done by `deadline`.
fn launch_workers(
    launch: &Launch,
    coordinator: &str,
    start_at: SystemTime,
    deadline: Instant,
) -> Result<Launched> {
    let files = launch.files;
    let n = launch.workers;
    let coordinator = coordinator.to_owned();
    Ok(match launch.launcher {
        Launcher::Local => {
            let binary = local::invoker_binary()?;
            let mut args = Vec::new();
            let mut logs = Vec::new();
            for k in 0..n {
                let dir = files.workers.join(k.to_string());
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                args.push(invoker_args(
                    &coordinator,
                    &k.to_string(),
                    n,
                    start_at,
                    &launch.settings,
                    &dir.join("invoker").display().to_string(),
                    launch.cpus.get(k as usize).copied().flatten(),
                ));
                logs.push(dir.join("invoker.log"));
            }
            Launched::Local(LocalWorkers::launch(
                &binary,
                (args, logs),
                worker_env(launch),
                (&launch.launch_delays, launch.hooks.worker_pids.clone()),
            )?)
        }
        Launcher::Kubernetes => {
            let args = invoker_args(
                &coordinator,
                "$(JOB_COMPLETION_INDEX)",
                n,
                start_at,
                &launch.settings,
                kubernetes::POD_WORK_DIR,
                None,
            );
            let mut values =
                kubernetes::secret_values(&launch.settings.request.variables(), |name| {
                    std::env::var(name).ok()
                })?;
            values.extend(worker_env(launch));
            let manifest = kubernetes::manifest(
                launch.run_id,
                n,
                &args,
                &launch.kubernetes,
                (
                    (deadline - Instant::now()).as_secs() + 60,
                    launch.settings.grpc_timeout.as_secs() + 60,
                ),
            );
            formats::output::write_atomic(&files.job, kubernetes::to_yaml(&manifest).as_bytes())
                .with_context(|| format!("writing {}", files.job.display()))?;
            let secret =
                kubernetes::secret_manifest(launch.run_id, &launch.kubernetes.namespace, &values);
            Launched::Kubernetes(Job::apply(
                &launch.kubernetes,
                launch.run_id,
                &files.job,
                &secret,
            )?)
        }
    })
}

/// Follows the workers until each has sent its results or is counted lost (it ended without sending
/// them, or the deadline passed); Ctrl-C tells them to stop and send what they have.
fn wait_for_workers(
    launch: &Launch,
    mut launched: Launched,
    events: &mpsc::Receiver<Event>,
    deadline: Instant,
) -> Result<Vec<Progress>> {
    let n = launch.workers;
    let mut progress: Vec<Progress> = (0..n).map(|_| Progress::default()).collect();
    let mut deadline = deadline;
    let mut stopping = false;
    let mut next_job_poll = Instant::now();
    while !progress.iter().all(Progress::done) {
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(event) => record_event(&mut progress, event),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the workers' HTTP server stopped"),
        }
        let now = Instant::now();
        match &mut launched {
            Launched::Local(workers) => {
                for (k, status) in workers.poll()? {
                    let p = &mut progress[k as usize];
                    p.ended
                        .get_or_insert((now, format!("its process exited ({status})")));
                }
            }
            Launched::Kubernetes(job) if now >= next_job_poll => {
                next_job_poll = now + JOB_POLL;
                match job.status() {
                    Ok(status) => {
                        for k in status.failed {
                            if let Some(p) = progress.get_mut(k as usize) {
                                p.ended.get_or_insert((now, "its pod failed".into()));
                            }
                        }
                        if let Some(why) = status.job_failed {
                            for p in progress.iter_mut() {
                                p.ended
                                    .get_or_insert((now, format!("the Job failed ({why})")));
                            }
                        }
                    }
                    Err(e) => log::warn!("{e:#}"),
                }
            }
            Launched::Kubernetes(_) => {}
        }
        for (k, p) in progress.iter_mut().enumerate() {
            if p.done() {
                continue;
            }
            if let Some((at, why)) = &p.ended {
                if now.duration_since(*at) >= RESULTS_GRACE {
                    let tail = match &launched {
                        Launched::Local(w) => w.log_tail(k as u32),
                        Launched::Kubernetes(job) => job.logs(k as u32),
                    };
                    p.lost = Some(format!(
                        "{why} before sending its results; its last output: {}",
                        tail.trim().replace('\n', " / ")
                    ));
                }
            }
        }
        if launch.stop.requested() && !stopping {
            stopping = true;
            println!("stopping   the workers are told to stop; they send back what they recorded");
            match &mut launched {
                Launched::Local(w) => w.terminate(),
                Launched::Kubernetes(job) => job.delete()?,
            }
            deadline = deadline.min(now + launch.settings.grpc_timeout + Duration::from_secs(30));
        }
        if now >= deadline || launch.stop.abandon() {
            for p in progress.iter_mut().filter(|p| !p.done()) {
                p.lost = Some("no results by the time the run had to end".into());
            }
        }
    }
    drop(launched);
    Ok(progress)
}

/// What each worker left: its records and summary, or why it is lost.
fn worker_results(progress: Vec<Progress>, start_at: SystemTime) -> Vec<WorkerResult> {
    let (now, now_wall) = (Instant::now(), SystemTime::now());
    // When a lost worker was seen gone, µs from time 0: its calls due before then may have been sent.
    let seen_gone = |at: Instant| {
        let wall = now_wall - now.saturating_duration_since(at);
        wall.duration_since(start_at)
            .map_or(0, |d| d.as_micros() as u64)
    };
    progress
        .into_iter()
        .map(|p| {
            let lost_at_us = p.ended.as_ref().map(|(at, _)| seen_gone(*at));
            let summary = p
                .summary
                .as_deref()
                .and_then(|path| formats::summary::read(path).ok());
            let lost = p.lost.or_else(|| {
                summary
                    .is_none()
                    .then(|| "its summary could not be read".to_owned())
            });
            WorkerResult {
                records: p.chunks.into_values().collect(),
                summary,
                lost_at_us: lost.as_ref().and(lost_at_us),
                lost,
            }
        })
        .collect()
}

fn record_event(progress: &mut [Progress], event: Event) {
    match event {
        // Progress worth seeing only when debugging: a worker that never fetches is reported as lost.
        Event::ShardRequested(k) => log::debug!("worker {k}: fetching its shard"),
        Event::Received(k, _summary, path) => {
            if let Some(p) = progress.get_mut(k as usize) {
                if p.lost.is_none() {
                    p.summary = Some(path);
                }
            }
        }
        Event::Chunk(k, c, path) => {
            if let Some(p) = progress.get_mut(k as usize) {
                p.chunks.insert(c, path);
            }
        }
        Event::Corrupted(k, name, why) => log::warn!("worker {k}: {name}: {why}"),
        Event::Failed(k, why) => {
            if let Some(p) = progress.get_mut(k as usize) {
                if !p.done() {
                    p.lost = Some(format!("it reported: {}", why.trim()));
                }
            }
        }
    }
}
