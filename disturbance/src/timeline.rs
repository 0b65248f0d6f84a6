//! The run's timeline of disturbances: a thread that waits for the replay's time 0, then starts and
//! ends each interference and injects each fault at its second, and ends everything still running at
//! the end of the replay, on error and on a stop request. What happened is its [`Log`].

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use cmdline::Stop;

use crate::local::{self, Report};
use crate::process::signal_process;
use crate::spec::{Fault, FaultAction, Interference, Place, PodSelection, Share};

/// What faults act on, given by the run: its local fleet, its local workers, its cluster.
pub trait Targets: Send {
    /// Kills `share` of the instances of `function` (of every function, when none); says how many.
    fn kill_instances(&self, function: Option<&str>, share: Share) -> Result<String, String>;
    /// The process id of local worker `worker`, while it runs.
    fn worker_pid(&self, worker: u32) -> Option<u32>;
    /// Deletes the pods `selection` holds; their `namespace/name`s.
    fn delete_pods(&self, selection: &PodSelection) -> Result<Vec<String>, String>;
    /// Told that local worker `worker` was killed at `at` (its calls after its last upload are lost).
    fn worker_killed(&self, worker: u32, at: SystemTime);
    /// Starts `interference` (entry `entry`) on the Kubernetes nodes it names, until it is ended with
    /// [`Targets::end_on_nodes`]; a description of what was made.
    fn start_on_nodes(&self, entry: usize, interference: &Interference) -> Result<String, String>;
    /// Ends what [`Targets::start_on_nodes`] made for entry `entry`.
    fn end_on_nodes(&self, entry: usize) -> Result<(), String>;
}

/// What ran of one interference entry.
#[derive(Debug, Clone, PartialEq)]
pub struct InterferenceRow {
    /// Its index in the run's list.
    pub entry: usize,
    /// As written.
    pub spec: String,
    /// Its kind.
    pub kind: String,
    /// `local`, or the nodes' selector.
    pub place: String,
    /// Its window, seconds from time 0.
    pub window: (f64, f64),
    /// When it started and ended, seconds from time 0 (none if it never started).
    pub ran: Option<(f64, f64)>,
    /// Its processes (local), leader first.
    pub pids: Vec<u32>,
    /// What the tool said it did.
    pub report: Report,
    /// Why it did not run, if it did not.
    pub error: String,
}

/// One fault, as injected.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRow {
    /// Its index in the run's list.
    pub entry: usize,
    /// As written.
    pub spec: String,
    /// Its action.
    pub action: String,
    /// When it was due, seconds from time 0.
    pub at_s: f64,
    /// When it was done, seconds from time 0 (none if the run ended first).
    pub done_s: Option<f64>,
    /// What it touched (instances killed, the worker's pid, pods deleted, the command's status).
    pub touched: String,
    /// Why it failed, if it did.
    pub error: String,
}

/// What the timeline did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Log {
    /// Each interference entry.
    pub interference: Vec<InterferenceRow>,
    /// Each fault.
    pub faults: Vec<FaultRow>,
}

/// The disturbances of a run, and how to start them here.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// The interference windows.
    pub interference: Vec<Interference>,
    /// The faults.
    pub faults: Vec<Fault>,
    /// The dispatchers' CPUs, kept out of local CPU interference.
    pub avoid_cpus: Vec<usize>,
    /// Where the generators' files go.
    pub dir: PathBuf,
}

/// A timeline running on its own thread.
pub struct Running {
    done: Arc<(Mutex<bool>, Condvar)>,
    thread: std::thread::JoinHandle<Log>,
}

impl Running {
    /// Ends what still runs (the replay is over) and returns what happened.
    pub fn finish(self) -> Log {
        let (lock, wake) = &*self.done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        self.thread.join().unwrap_or_default()
    }
}

enum Event {
    Start(usize),
    End(usize),
    Fault(usize),
    Resume(u32, u32),
}

impl Timeline {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.interference.is_empty() && self.faults.is_empty()
    }

    /// Every local generator's program is on PATH, or the error says how to install it.
    pub fn check_programs(&self) -> Result<(), crate::spec::SpecError> {
        for i in self.interference.iter().filter(|i| i.place == Place::Local) {
            for program in local::programs(i) {
                local::require(program)?;
            }
        }
        Ok(())
    }

    /// Starts the timeline's thread: it waits for time 0 (sent on `zero` when the replay fixes it),
    /// then follows the timeline until [`Running::finish`] or `stop`.
    pub fn start(
        self,
        zero: Receiver<SystemTime>,
        stop: Stop,
        targets: Box<dyn Targets>,
    ) -> Running {
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let seen = Arc::clone(&done);
        let thread = std::thread::Builder::new()
            .name("disturbance".into())
            // The generators die with this thread (their parent-death signal): it lives until they end.
            .spawn(move || self.follow(zero, &stop, &seen, targets.as_ref()))
            .expect("starting the disturbance thread");
        Running { done, thread }
    }

    fn follow(
        self,
        zero: Receiver<SystemTime>,
        stop: &Stop,
        done: &(Mutex<bool>, Condvar),
        targets: &dyn Targets,
    ) -> Log {
        let over = || *done.0.lock().unwrap_or_else(|e| e.into_inner()) || stop.requested();
        let time_zero = loop {
            match zero.recv_timeout(Duration::from_millis(20)) {
                Ok(t) => break Some(t),
                Err(RecvTimeoutError::Disconnected) => break None,
                Err(RecvTimeoutError::Timeout) if over() => break None,
                Err(RecvTimeoutError::Timeout) => {}
            }
        };
        let mut follower = Follower::new(&self, targets);
        let Some(time_zero) = time_zero else {
            return follower.log;
        };
        follower.time_zero = time_zero;
        let mut events: Vec<(f64, Event)> = Vec::new();
        for (k, i) in self.interference.iter().enumerate() {
            events.push((i.start_s, Event::Start(k)));
            events.push((i.stop_s, Event::End(k)));
        }
        for (k, f) in self.faults.iter().enumerate() {
            events.push((f.at_s, Event::Fault(k)));
        }
        while !events.is_empty() {
            // The next event (ends before starts at the same second, so a window never overlaps the next).
            let next = (0..events.len())
                .min_by(|&a, &b| {
                    let key = |e: &(f64, Event)| (e.0, !matches!(e.1, Event::End(_)));
                    key(&events[a])
                        .partial_cmp(&key(&events[b]))
                        .expect("finite")
                })
                .expect("not empty");
            let due = time_zero + Duration::from_secs_f64(events[next].0);
            if !wait_until(done, stop, due) {
                break;
            }
            let (_, event) = events.swap_remove(next);
            follower.reap(false);
            match event {
                Event::Start(k) => follower.start(k),
                Event::End(k) => follower.end(k),
                Event::Fault(k) => events.extend(follower.fault(k)),
                Event::Resume(worker, pid) => {
                    if let Err(e) = signal_process(pid, libc::SIGCONT) {
                        log::warn!("resuming worker {worker} (pid {pid}): {e}");
                    }
                }
            }
        }
        // The end of the replay, an error or a stop: what still runs ends now.
        for (_, event) in events {
            if let Event::Resume(_, pid) = event {
                let _ = signal_process(pid, libc::SIGCONT);
            }
        }
        for k in 0..self.interference.len() {
            follower.end(k);
        }
        follower.reap(true);
        follower.log
    }
}

/// The timeline's state as it is followed.
struct Follower<'a> {
    timeline: &'a Timeline,
    targets: &'a dyn Targets,
    time_zero: SystemTime,
    log: Log,
    /// Each local entry's generator, while it runs.
    running: Vec<Option<local::Running>>,
    /// Whether each entry runs on Kubernetes nodes now.
    on_nodes: Vec<bool>,
    /// Fault commands still running, by fault.
    commands: Vec<(usize, crate::process::Group)>,
}

impl<'a> Follower<'a> {
    fn new(timeline: &'a Timeline, targets: &'a dyn Targets) -> Follower<'a> {
        let entries = timeline.interference.len();
        Follower {
            timeline,
            targets,
            time_zero: SystemTime::UNIX_EPOCH,
            log: Log {
                interference: timeline
                    .interference
                    .iter()
                    .enumerate()
                    .map(|(k, i)| row_of(k, i))
                    .collect(),
                faults: timeline
                    .faults
                    .iter()
                    .enumerate()
                    .map(|(k, f)| fault_row(k, f))
                    .collect(),
            },
            running: (0..entries).map(|_| None).collect(),
            on_nodes: vec![false; entries],
            commands: Vec::new(),
        }
    }

    /// Seconds from time 0 to `t`.
    fn since_zero(&self, t: SystemTime) -> f64 {
        t.duration_since(self.time_zero)
            .map_or_else(|e| -e.duration().as_secs_f64(), |d| d.as_secs_f64())
    }

    /// Starts entry `k`.
    fn start(&mut self, k: usize) {
        let (i, t) = (&self.timeline.interference[k], self.timeline);
        let started = match &i.place {
            Place::Local => local::start(i, k, i.stop_s - i.start_s, &t.dir, &t.avoid_cpus)
                .map(|r| {
                    self.log.interference[k].pids = r.groups.iter().map(|g| g.pid()).collect();
                    self.running[k] = Some(r);
                })
                .map_err(|e| format!("starting it: {e}")),
            Place::Nodes(_) => self.targets.start_on_nodes(k, i).map(|made| {
                self.on_nodes[k] = true;
                self.log.interference[k].report.name = made;
            }),
        };
        match started {
            Ok(()) => {
                let now = self.since_zero(SystemTime::now());
                self.log.interference[k].ran = Some((now, now));
            }
            Err(e) => {
                log::warn!("interference `{}`: {e}", i.text);
                self.log.interference[k].error = e;
            }
        }
    }

    /// Ends entry `k` if it runs, filling its row.
    fn end(&mut self, k: usize) {
        let ended = SystemTime::now();
        if let Some(mut r) = self.running[k].take() {
            let report = r.end();
            let started = r.groups.first().map(|g| self.since_zero(g.started));
            let ended = r.groups.iter().filter_map(|g| g.ended).max();
            let ended = ended.map(|e| self.since_zero(e));
            let row = &mut self.log.interference[k];
            row.report = report;
            // An iperf3 ended at its window's stop says it was interrupted: that is no error.
            let interrupted = |e: &str| e.contains("interrupt");
            if let Some(e) = row.report.error.take().filter(|e| !interrupted(e)) {
                log::warn!("interference `{}`: {e}", row.spec);
                row.error = e;
            }
            if let (Some(s), Some(e)) = (started, ended) {
                row.ran = Some((s, e));
            }
        }
        if std::mem::take(&mut self.on_nodes[k]) {
            let now = self.since_zero(ended);
            let row = &mut self.log.interference[k];
            if let Err(e) = self.targets.end_on_nodes(k) {
                row.error = e;
            }
            if let Some((s, _)) = row.ran {
                row.ran = Some((s, now));
            }
        }
    }

    /// Injects fault `k`; a worker to resume later, for a pause.
    fn fault(&mut self, k: usize) -> Option<(f64, Event)> {
        let f = &self.timeline.faults[k];
        let (touched, error, resume) = match &f.action {
            FaultAction::Command { run } => match self.command(k, run) {
                Ok(pid) => (format!("command started (pid {pid})"), String::new(), None),
                Err(e) => (String::new(), format!("starting the command: {e}"), None),
            },
            _ => inject(f, self.targets),
        };
        let done = self.since_zero(SystemTime::now());
        let row = &mut self.log.faults[k];
        row.done_s = Some(done);
        (row.touched, row.error) = (touched, error);
        log::info!("fault `{}`: {}{}", f.text, row.touched, row.error);
        resume
    }
}

impl Follower<'_> {
    /// Starts fault `k`'s command in a process group of its own (its output in `fault-K.log`), so a slow
    /// one delays no other fault and a hung one is ended with the run.
    fn command(&mut self, k: usize, run: &str) -> std::io::Result<u32> {
        let log = std::fs::File::create(self.timeline.dir.join(format!("fault-{k}.log")))?;
        let mut command = std::process::Command::new("sh");
        command
            .args(["-c", run])
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let group = crate::process::Group::spawn(&mut command)?;
        let pid = group.pid();
        self.commands.push((k, group));
        Ok(pid)
    }

    /// Records the fault commands that have ended; with `end`, ends those still running first (the
    /// replay is over).
    fn reap(&mut self, end: bool) {
        let mut running = Vec::new();
        for (k, mut group) in std::mem::take(&mut self.commands) {
            let status = if end {
                let ran_on = !group.finished();
                group.end(Duration::from_secs(2)).map(|s| (s, ran_on))
            } else if group.finished() {
                group.end(Duration::ZERO).map(|s| (s, false))
            } else {
                running.push((k, group));
                continue;
            };
            let row = &mut self.log.faults[k];
            match status {
                Some((_, true)) => row.error = "still running when the replay ended: ended".into(),
                Some((s, false)) if s.success() => row.touched.push_str(&format!("; {s}")),
                Some((s, false)) => {
                    row.error = format!("the command failed ({s}); see fault-{k}.log")
                }
                None => row.error = "its status is unknown".into(),
            }
        }
        self.commands = running;
    }
}

/// Waits until `due`; false when the timeline is over first (the replay ended, or a stop).
fn wait_until(done: &(Mutex<bool>, Condvar), stop: &Stop, due: SystemTime) -> bool {
    let (lock, wake) = done;
    let mut over = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if *over || stop.requested() {
            return false;
        }
        let Ok(left) = due.duration_since(SystemTime::now()) else {
            return true;
        };
        // Bounded waits, so a stop request (a signal, which cannot notify) is seen within 20 ms.
        over = wake
            .wait_timeout(over, left.min(Duration::from_millis(20)))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Does fault `f`: what it touched, its error, and a worker to resume later.
fn inject(f: &Fault, targets: &dyn Targets) -> (String, String, Option<(f64, Event)>) {
    let worker = |worker: u32| {
        targets
            .worker_pid(worker)
            .ok_or_else(|| format!("worker {worker} is not running"))
    };
    let done = match &f.action {
        FaultAction::KillInstances { function, share } => targets
            .kill_instances(function.as_deref(), *share)
            .map(|t| (t, None)),
        FaultAction::PauseWorker { worker: w, seconds } => worker(*w).and_then(|pid| {
            signal_process(pid, libc::SIGSTOP).map_err(|e| e.to_string())?;
            Ok((
                format!("worker {w} (pid {pid}) stopped for {seconds} s"),
                Some((f.at_s + seconds, Event::Resume(*w, pid))),
            ))
        }),
        FaultAction::KillWorker { worker: w } => worker(*w).and_then(|pid| {
            signal_process(pid, libc::SIGKILL).map_err(|e| e.to_string())?;
            targets.worker_killed(*w, SystemTime::now());
            Ok((format!("worker {w} (pid {pid}) killed"), None))
        }),
        FaultAction::DeletePods { selections } => {
            let mut deleted = Vec::new();
            let mut failed = None;
            for s in selections {
                match targets.delete_pods(s) {
                    Ok(names) => deleted.extend(names),
                    Err(e) => failed = Some(e),
                }
            }
            match failed {
                Some(e) => Err(e),
                None => Ok((format!("pods deleted: {}", deleted.join(" ")), None)),
            }
        }
        FaultAction::Command { .. } => unreachable!("a command fault is started by the follower"),
    };
    match done {
        Ok((touched, resume)) => (touched, String::new(), resume),
        Err(e) => (String::new(), e, None),
    }
}

fn row_of(entry: usize, i: &Interference) -> InterferenceRow {
    InterferenceRow {
        entry,
        spec: i.text.clone(),
        kind: i.kind.name().to_owned(),
        place: match &i.place {
            Place::Local => "local".to_owned(),
            Place::Nodes(labels) => labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        },
        window: (i.start_s, i.stop_s),
        ran: None,
        pids: Vec::new(),
        report: Report::default(),
        error: String::new(),
    }
}

fn fault_row(entry: usize, f: &Fault) -> FaultRow {
    FaultRow {
        entry,
        spec: f.text.clone(),
        action: f.action.name().to_owned(),
        at_s: f.at_s,
        done_s: None,
        touched: String::new(),
        error: String::new(),
    }
}
