//! `--launcher local`: the workers are `invoker` processes on this machine, each told where the
//! coordinator is; their output goes to `workers/K/invoker.log`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The `invoker` binary: beside this `loadgen` (as cargo builds and the image installs them), else on PATH.
pub fn invoker_binary() -> Result<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("invoker"));
    if let Some(path) = beside.filter(|p| p.is_file()) {
        return Ok(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("invoker"))
            .find(|p| p.is_file())
    });
    match on_path {
        Some(path) => Ok(path),
        None => bail!(
            "the `invoker` binary is neither beside loadgen nor on PATH: build it (cargo build --release) \
             or put it on PATH"
        ),
    }
}

/// Makes the process `command` starts die (SIGKILL) when this thread's process dies, even by `kill -9`:
/// a local worker that outlived its loadgen would go on sending load that nobody records.
fn die_with_this_process(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe calls are made: prctl(2) and getppid(2).
    unsafe {
        let parent = libc::getpid();
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then nobody would send the signal.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// One worker process, or one still to be started.
struct Worker {
    child: Option<Child>,
    /// Not started yet: when it is due (a test's late worker).
    due: Option<Instant>,
    exited: Option<String>,
}

/// The worker processes of a run.
pub struct LocalWorkers {
    binary: PathBuf,
    /// What each worker finds in its environment (the run's token; the certificates it trusts).
    env: Vec<(String, String)>,
    args: Vec<Vec<String>>,
    logs: Vec<PathBuf>,
    workers: Vec<Worker>,
    pids: Option<crate::WorkerPids>,
}

impl LocalWorkers {
    /// Starts one process per argument list (worker K gets `args[K]`), its output in `logs[K]`, `env`
    /// (the run's token, and the certificates it trusts) in its environment; worker K is started
    /// `delays[K]` later when given; `pids`, when given, is kept up to date with their process ids.
    pub fn launch(
        binary: &Path,
        (args, logs): (Vec<Vec<String>>, Vec<PathBuf>),
        env: Vec<(String, String)>,
        (delays, pids): (&[(u32, Duration)], Option<crate::WorkerPids>),
    ) -> Result<LocalWorkers> {
        if let Some(pids) = &pids {
            *pids.lock().unwrap_or_else(|e| e.into_inner()) = vec![None; args.len()];
        }
        let now = Instant::now();
        let mut launched = LocalWorkers {
            binary: binary.to_owned(),
            env,
            workers: (0..args.len())
                .map(|k| Worker {
                    child: None,
                    due: Some(
                        now + delays
                            .iter()
                            .find(|(w, _)| *w as usize == k)
                            .map_or(Duration::ZERO, |d| d.1),
                    ),
                    exited: None,
                })
                .collect(),
            args,
            logs,
            pids,
        };
        launched.start_due()?;
        Ok(launched)
    }

    fn start_due(&mut self) -> Result<()> {
        for (k, worker) in self.workers.iter_mut().enumerate() {
            if worker.due.is_none_or(|due| due > Instant::now()) {
                continue;
            }
            worker.due = None;
            let log = std::fs::File::create(&self.logs[k])
                .with_context(|| format!("creating {}", self.logs[k].display()))?;
            let mut command = Command::new(&self.binary);
            command
                .args(&self.args[k])
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            die_with_this_process(&mut command);
            let child = command
                .spawn()
                .with_context(|| format!("starting worker {k} ({})", self.binary.display()))?;
            self.pids.set(k, Some(child.id()));
            worker.child = Some(child);
        }
        Ok(())
    }

    /// Starts the workers now due, and returns those that exited since the last call, with their status.
    pub fn poll(&mut self) -> Result<Vec<(u32, String)>> {
        self.start_due()?;
        let mut exited = Vec::new();
        for (k, worker) in self.workers.iter_mut().enumerate() {
            if worker.exited.is_some() {
                continue;
            }
            if let Some(child) = worker.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    let text = status.to_string();
                    worker.exited = Some(text.clone());
                    self.pids.set(k, None);
                    exited.push((k as u32, text));
                }
            }
        }
        Ok(exited)
    }

    /// Asks every running worker to stop (SIGTERM): it stops sending, then sends back what it has.
    pub fn terminate(&mut self) {
        for worker in &mut self.workers {
            worker.due = None;
            if let (Some(child), None) = (&worker.child, &worker.exited) {
                // SAFETY: kill(2) on a child we own and have not reaped.
                unsafe {
                    libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
                }
            }
        }
    }

    /// The last lines of worker K's output.
    pub fn log_tail(&self, k: u32) -> String {
        let text = std::fs::read_to_string(&self.logs[k as usize]).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }
}

impl Drop for LocalWorkers {
    /// No worker outlives the run: the ones still running are killed and reaped.
    fn drop(&mut self) {
        for worker in &mut self.workers {
            if let Some(child) = worker.child.as_mut() {
                if worker.exited.is_none() {
                    let _ = child.kill();
                }
                let _ = child.wait();
            }
        }
    }
}

/// Worker K's pid, kept where the disturbance timeline reads it.
trait SetPid {
    fn set(&self, k: usize, pid: Option<u32>);
}

impl SetPid for Option<crate::WorkerPids> {
    fn set(&self, k: usize, pid: Option<u32>) {
        if let Some(pids) = self {
            if let Some(slot) = pids.lock().unwrap_or_else(|e| e.into_inner()).get_mut(k) {
                *slot = pid;
            }
        }
    }
}
