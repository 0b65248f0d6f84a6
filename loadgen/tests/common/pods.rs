//! The fake cluster's pods: a thread that runs each Job the fake `kubectl` was given as local processes,
//! as a kubelet would (one per completion index, `JOB_COMPLETION_INDEX` set, `$(VAR)` in the arguments
//! expanded, the image's binaries mapped to the built ones, the pod's work dir mapped under the state
//! directory), writes the Job's status for `kubectl get job`, and stops the pods (SIGTERM) when the Job
//! is deleted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the runner does besides running the pods.
#[derive(Debug, Clone, Default)]
pub struct PodFaults {
    /// Start pod K this much later.
    pub delay: Option<(u32, Duration)>,
}

/// The running pod runner; it stops (killing any pod left) when dropped.
pub struct PodRunner {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for PodRunner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

struct Pod {
    child: Option<Child>,
    due: Instant,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    exit: Option<bool>,
    terminated: bool,
}

struct RunningJob {
    key: String,
    program: PathBuf,
    pods: Vec<Pod>,
}

/// Starts the runner over the fake `kubectl`'s `state` directory; `/usr/local/bin/X` runs `bin_dir/X`.
pub fn start(state: &Path, bin_dir: &Path, faults: PodFaults) -> PodRunner {
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (stop, state, bin_dir) = (Arc::clone(&stop), state.to_owned(), bin_dir.to_owned());
        std::thread::spawn(move || run(&state, &bin_dir, &faults, &stop))
    };
    PodRunner {
        stop,
        thread: Some(thread),
    }
}

fn run(state: &Path, bin_dir: &Path, faults: &PodFaults, stop: &AtomicBool) {
    let jobs_dir = state.join("jobs");
    let mut jobs: HashMap<String, RunningJob> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        if let Ok(entries) = std::fs::read_dir(&jobs_dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(key) = name.strip_suffix(".yaml") {
                    if !jobs.contains_key(key) {
                        let job = start_job(key, &entry.path(), state, bin_dir, faults);
                        jobs.insert(key.to_owned(), job);
                    }
                }
            }
        }
        for job in jobs.values_mut() {
            let deleted = jobs_dir.join(format!("{}.deleted", job.key)).exists();
            for pod in &mut job.pods {
                if pod.child.is_none() && pod.exit.is_none() && Instant::now() >= pod.due {
                    if deleted {
                        pod.exit = Some(false);
                        continue;
                    }
                    let log = std::fs::File::create(&pod.log).unwrap();
                    pod.child = Some(
                        Command::new(&job.program)
                            .args(&pod.args)
                            .envs(pod.env.iter().map(|(k, v)| (k, v)))
                            .stdin(Stdio::null())
                            .stdout(log.try_clone().unwrap())
                            .stderr(log)
                            .spawn()
                            .unwrap(),
                    );
                }
                if let Some(child) = pod.child.as_mut() {
                    if pod.exit.is_none() {
                        if let Some(status) = child.try_wait().unwrap() {
                            pod.exit = Some(status.success());
                        } else if deleted && !pod.terminated {
                            pod.terminated = true;
                            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                        }
                    }
                }
            }
            write_status(&jobs_dir, job);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for job in jobs.values_mut() {
        for pod in &mut job.pods {
            if let Some(child) = pod.child.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn start_job(
    key: &str,
    manifest: &Path,
    state: &Path,
    bin_dir: &Path,
    faults: &PodFaults,
) -> RunningJob {
    let text = std::fs::read_to_string(manifest).unwrap();
    let job: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed", "{text}");
    let completions = spec["completions"].as_u64().unwrap() as u32;
    let container = &spec["template"]["spec"]["containers"][0];
    let command = container["command"][0].as_str().unwrap();
    let binary = command
        .strip_prefix("/usr/local/bin/")
        .unwrap_or_else(|| panic!("the command `{command}` is not one of the image's binaries"));
    let mount = container["volumeMounts"][0]["mountPath"]
        .as_str()
        .unwrap_or("/work")
        .to_owned();
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    // The environment from the Job's Secret, as the kubelet gives it (the Secret was applied first).
    let mut env: Vec<(String, String)> = Vec::new();
    if let Some(secret) = container["envFrom"][0]["secretRef"]["name"].as_str() {
        let ns = job["metadata"]["namespace"].as_str().unwrap_or("default");
        let path = state.join("secrets").join(format!("{ns}.{secret}.yaml"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the Job's Secret {}: {e}", path.display()));
        let secret: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        for (k, v) in secret["stringData"].as_object().unwrap() {
            env.push((k.clone(), v.as_str().unwrap().to_owned()));
        }
    }
    let pods = (0..completions)
        .map(|k| {
            let dir = state.join("pods").join(format!("{key}-{k}"));
            std::fs::create_dir_all(&dir).unwrap();
            let expand = |a: &String| {
                let a = a.replace("$(JOB_COMPLETION_INDEX)", &k.to_string());
                match a.strip_prefix(&mount) {
                    Some(rest) => format!("{}{rest}", dir.join("work").display()),
                    None => a,
                }
            };
            let delay = match faults.delay {
                Some((w, d)) if w == k => d,
                _ => Duration::ZERO,
            };
            Pod {
                child: None,
                due: Instant::now() + delay,
                args: args.iter().map(expand).collect(),
                env: [("JOB_COMPLETION_INDEX".to_owned(), k.to_string())]
                    .into_iter()
                    .chain(env.iter().cloned())
                    .collect(),
                log: dir.join("log"),
                exit: None,
                terminated: false,
            }
        })
        .collect();
    RunningJob {
        key: key.to_owned(),
        program: bin_dir.join(binary),
        pods,
    }
}

fn write_status(jobs_dir: &Path, job: &RunningJob) {
    let list = |ok: bool| {
        job.pods
            .iter()
            .enumerate()
            .filter(|(_, p)| p.exit == Some(ok))
            .map(|(k, _)| k.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let status = serde_json::json!({
        "status": {
            "active": job.pods.iter().filter(|p| p.child.is_some() && p.exit.is_none()).count(),
            "completedIndexes": list(true),
            "failedIndexes": list(false),
        }
    });
    let path = jobs_dir.join(format!("{}.status", job.key));
    let tmp = path.with_extension("status.tmp");
    std::fs::write(&tmp, status.to_string()).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

/// The pid of the process one of whose arguments is `arg` exactly (bounded by the caller's wait).
pub fn pid_with_arg(arg: &str) -> Option<i32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline
            .split(|b| *b == 0)
            .any(|a| unstaged(&String::from_utf8_lossy(a)) == arg)
        {
            return Some(pid);
        }
    }
    None
}

/// `text` with a run's staging directory (`DIR.staging-ID`) read as the run's directory `DIR`: where a
/// run's paths point while it runs, and where they point once it is swapped in.
pub fn unstaged(text: &str) -> String {
    match text.find(".staging-") {
        Some(at) => {
            let rest = &text[at + ".staging-".len()..];
            let end = rest.find('/').unwrap_or(rest.len());
            format!("{}{}", &text[..at], &rest[end..])
        }
        None => text.to_owned(),
    }
}

/// The value following `flag` in process `pid`'s arguments.
pub fn arg_of(pid: i32, flag: &str) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let at = args.iter().position(|a| *a == flag.as_bytes())?;
    Some(String::from_utf8_lossy(args.get(at + 1)?).into_owned())
}

/// Waits (at most `limit`) for the process one of whose arguments is `arg`, then until `after` seconds
/// past the start time its `--start-at` names; returns its pid. What a fault test waits on: the worker
/// exists and the run has been going that long.
pub fn worker_running_for(arg: &str, after: f64, limit: Duration) -> i32 {
    let began = Instant::now();
    let pid = testkit::wait_until(limit, &format!("a process with argument {arg}"), || {
        pid_with_arg(arg)
    });
    let start: f64 = arg_of(pid, "--start-at")
        .expect("a worker has --start-at")
        .parse()
        .expect("--start-at in seconds");
    let until = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs_f64(start + after);
    let left = limit.saturating_sub(began.elapsed());
    testkit::wait_until(left, &format!("the run {after} s past its start"), || {
        (std::time::SystemTime::now() >= until).then_some(())
    });
    pid
}
