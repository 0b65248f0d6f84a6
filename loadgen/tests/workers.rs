//! `loadgen run --workers N`: invokers as local processes or as the pods of a (fake) Kubernetes Job,
//! started together, their records merged one to one with the load; a killed worker and a late one are
//! named, and their calls recorded as such; a corrupted transfer is refused; the run's token stays in
//! memory; workers stop with a killed or silent coordinator. (`clean`: tests/clean.rs.)
//!
//! The file is long because its tests share the helpers that read a many-worker run back (records one
//! to one with the load, the faults, the token), and each fault is one run through them.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::pods::{self, worker_running_for, PodFaults};
use common::{ok, run_loadgen, s, wait_bounded, FakeCluster, LIMIT, LOADGEN};
use formats::records::{read_records, Outcome, Record};
use formats::summary::Summary;
use invoker::schedule::Schedule;

const WORKERS: u32 = 3;

/// A short per-second run from 3 workers: 1 warm-up + 3 measured seconds, about 25 calls a second.
fn run_args<'a>(out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = one_invoker_args(out);
    args.extend_from_slice(&["--workers", "3"]);
    args.extend_from_slice(extra);
    args
}

/// The same run from one invoker.
fn one_invoker_args(out: &Path) -> Vec<&str> {
    vec![
        "run",
        "-o",
        s(out),
        "-n",
        "60",
        "--minute",
        "false",
        "-d",
        "3",
        "-w",
        "1",
        "--seed",
        "7",
    ]
}

/// What a run left: every record with its endpoint, in file order, and the summary.
struct Outputs {
    records: Vec<(Record, String)>,
    summary: Summary,
    report: String,
}

/// Reads a run's outputs and checks its records match the load one to one: the call's index in the whole
/// load, the worker it was dealt to, its due time and endpoint.
fn read_one_to_one(out: &Path) -> Outputs {
    read_one_to_one_of(out, 3)
}

/// [`read_one_to_one`] for a run of `duration` measured seconds.
fn read_one_to_one_of(out: &Path, duration: u32) -> Outputs {
    let schedule = Schedule::from_file(&out.join("load.json"), 1_000_000, 1, duration).unwrap();
    assert!(schedule.calls.len() > 30, "too few calls to test with");
    let mut records = Vec::new();
    read_records(&out.join("records.csv"), |r, e| {
        records.push((*r, e.to_owned()))
    })
    .unwrap();
    assert_eq!(records.len(), schedule.calls.len());
    for (g, ((r, endpoint), call)) in records.iter().zip(&schedule.calls).enumerate() {
        assert_eq!(r.index, g as u64);
        assert_eq!(r.worker, g as u32 % WORKERS, "call {g}");
        assert_eq!(r.scheduled_us, call.due_us, "call {g}");
        assert_eq!(
            endpoint, &schedule.endpoints[call.endpoint as usize],
            "call {g}"
        );
    }
    for k in 0..WORKERS as usize {
        let shard = formats::read(&out.join(format!("load-{k}.json"))).unwrap();
        let expected = records.iter().filter(|(r, _)| r.worker == k as u32).count();
        assert_eq!(shard.invocations(), expected, "shard {k}");
    }
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary.workers.len(), WORKERS as usize);
    assert_eq!(summary.records, records.len() as u64);
    Outputs {
        records,
        summary,
        report: std::fs::read_to_string(out.join("report.md")).unwrap(),
    }
}

/// Every record answered, every worker present with its own summary, lat.csv merged.
fn check_all_answered(out: &Path, o: &Outputs) {
    for (r, _) in &o.records {
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    }
    for w in &o.summary.workers {
        assert!(w.lost.is_none(), "{w:?}");
        let info = w.summary.as_ref().unwrap().worker.clone().unwrap();
        assert_eq!(info.index, w.index);
        assert!(info.ready_late_us.is_none(), "{info:?}");
        assert!(info.clock_offset_before_us.is_some(), "{info:?}");
    }
    let latencies = std::fs::read_to_string(out.join("lat.csv")).unwrap();
    assert_eq!(latencies.lines().count() as u64, o.summary.ok);
    assert!(o.report.contains("## Workers"), "{}", o.report);
    assert!(!o.report.contains("**Warning**"), "{}", o.report);
}

/// Checks the faults of [`run_with_faults`]: worker 1 killed mid-run, worker 2 started late.
fn check_faults(o: &Outputs) {
    let by_worker = |k: u32| o.records.iter().filter(move |(r, _)| r.worker == k);
    for (r, _) in by_worker(0) {
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    }
    // Its calls due before it was seen gone may have been sent (`unknown:worker_lost`), the rest were
    // not: in that order.
    let mut seen_not_sent = false;
    for (r, _) in by_worker(1) {
        match r.outcome {
            Outcome::WorkerLostUnknown => assert!(!seen_not_sent, "{r:?}"),
            Outcome::WorkerLost => seen_not_sent = true,
            other => panic!("{other:?}: {r:?}"),
        }
        assert!(r.send_lag_ns.is_none());
    }
    let lost = o.summary.workers[1].lost.as_deref().unwrap();
    assert!(lost.contains("before sending its results"), "{lost}");
    assert!(
        o.report.contains("worker 1 was lost"),
        "the report names the dead worker: {}",
        o.report
    );

    let late = o.summary.workers[2].summary.as_ref().unwrap();
    let ready_late_us = late.worker.as_ref().unwrap().ready_late_us.unwrap();
    assert!(ready_late_us > 1_000_000, "{ready_late_us}");
    let late_starts: Vec<&Record> = by_worker(2)
        .map(|(r, _)| r)
        .filter(|r| r.outcome == Outcome::NotSentLateStart)
        .collect();
    assert!(!late_starts.is_empty());
    for r in &late_starts {
        assert!(r.scheduled_us < ready_late_us, "{r:?}");
    }
    // What was due once it was ready went out.
    for (r, _) in by_worker(2).filter(|(r, _)| r.scheduled_us > ready_late_us + 10_000) {
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    }
    assert!(
        o.report.contains("worker 2 was ready"),
        "the report says who started late: {}",
        o.report
    );
    assert!(o.report.contains("started late"), "{}", o.report);
}

/// Starts `loadgen args`, kills worker 1 (the process holding `worker_1_arg`) 1.5 s after the common
/// start, and waits for the run to end; returns its output and the run's token, read from the killed
/// worker's environment.
fn run_with_faults(args: &[&str], env: &[(&str, String)], worker_1_arg: &str) -> (String, String) {
    let mut c = Command::new(LOADGEN);
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let child = c.spawn().unwrap();
    let pid = worker_running_for(worker_1_arg, 1.5, LIMIT);
    let token = token_of(pid);
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let out = wait_bounded(child, LIMIT);
    (ok(&out), token)
}

/// The run's token in process `pid`'s environment.
fn token_of(pid: i32) -> String {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let token = environ
        .split(|b| *b == 0)
        .find_map(|v| v.strip_prefix(b"LOADGEN_COORDINATOR_TOKEN="))
        .map(|t| String::from_utf8(t.to_vec()).unwrap())
        .expect("a worker has its run's token in its environment");
    assert!(
        token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "256 random bits: {token}"
    );
    token
}

/// No file under `dir` holds `token`.
fn assert_token_in_no_file(dir: &Path, token: &str) {
    let mut checked = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                    "{} holds the run's token",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 5, "only {checked} files under {}", dir.display());
}

#[test]
fn three_local_workers_replay_the_load_one_to_one() {
    // The runs of this file take turns: each starts several processes on a two-core machine, and a
    // neighbour's start-up could make a worker late that the test expects on time.
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let t = ok(&run_loadgen(&run_args(&out, &["-q"]), &[], LIMIT));
    assert!(t.contains("3 local invoker processes"), "{t}");
    // `-q`: neither a live line nor the workers' progress notes.
    assert!(!t.contains("INFO") && !t.contains("live "), "{t}");
    // The local fleet gets the CPUs the three dispatchers leave, pinned or not (sized for them all, it
    // was overloaded next to dispatchers sharing its CPUs: latencies of seconds for 1 ms calls).
    let threads = host::online_cpus().saturating_sub(WORKERS as usize).max(1);
    assert!(
        t.contains(&format!(
            "emulated function servers on 127.0.0.1, {threads} thread(s)"
        )),
        "{t}"
    );
    let o = read_one_to_one(&out);
    check_all_answered(&out, &o);
    // Three workers on fewer CPUs than four cannot each have one: they share, parking between calls.
    if host::online_cpus() <= WORKERS as usize {
        let mode = &o.summary.workers[0].summary.as_ref().unwrap().dispatcher;
        assert!(mode.contains("CPU shared"), "{mode}");
    }
    // Each worker's summary and output stay; its records are in the merged file only.
    for k in 0..WORKERS {
        let w = out.join("workers").join(k.to_string());
        assert!(w.join("summary.json").exists() && w.join("invoker.log").exists());
        assert!(!w.join("records.csv").exists());
    }
    // The next run into the same directory removes this one's shards and workers first.
    let t = ok(&run_loadgen(&one_invoker_args(&out), &[], LIMIT));
    assert!(
        !out.join("load-0.json").exists() && !out.join("workers").exists(),
        "{t}"
    );
}

/// `--coordinator-tls`: the workers read their shards (streamed, `--stream-shards`) and send their
/// records over HTTPS, trusting the run's certificates only, and the run is the same one-to-one replay. A bad certificate or key, or the
/// flag without workers, is refused before anything is written.
#[test]
fn local_workers_reach_their_coordinator_over_tls() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let certificates = testkit::tls::certificates(&["127.0.0.1"]);
    let (cert, key) = (dir.path().join("chain.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certificates.server.clone() + &certificates.ca).unwrap();
    std::fs::write(&key, &certificates.server_key).unwrap();
    let tls = format!("{},{}", s(&cert), s(&key));
    let out = dir.path().join("run");
    // The workers read their shards as streams (over the same TLS channel) instead of fetching them.
    let t = ok(&run_loadgen(
        &run_args(&out, &["--coordinator-tls", &tls, "--stream-shards"]),
        &[],
        LIMIT,
    ));
    assert!(t.contains("serving shards at https://127.0.0.1:"), "{t}");
    let o = read_one_to_one(&out);
    check_all_answered(&out, &o);
    for k in 0..WORKERS {
        let log = std::fs::read_to_string(out.join(format!("workers/{k}/invoker.log"))).unwrap();
        assert!(
            log.contains(&format!("worker {k}: shard of ")) && log.contains("streamed"),
            "{log}"
        );
    }

    let refused = |extra: &[&str], named: &str| {
        let out = dir.path().join("refused");
        let mut args = one_invoker_args(&out);
        args.extend_from_slice(extra);
        let o = run_loadgen(&args, &[], LIMIT);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success() && err.contains(named), "{err}");
        assert!(!out.join("load.json").exists(), "nothing written: {err}");
    };
    refused(&["--coordinator-tls", &tls], "it needs --workers");
    refused(&["--stream-shards"], "it needs --workers");
    let missing = format!("{},{}", s(&cert), s(&dir.path().join("none.key")));
    refused(
        &["--workers", "2", "--coordinator-tls", &missing],
        "none.key",
    );
    let swapped = format!("{},{}", s(&key), s(&cert));
    refused(
        &["--workers", "2", "--coordinator-tls", &swapped],
        "holds no certificate",
    );
}

#[test]
fn a_killed_local_worker_is_lost_and_a_late_one_starts_late() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let worker_1 = out.join("workers/1/invoker");
    let (t, token) = run_with_faults(
        &run_args(&out, &["--start-lead", "2", "--launch-delay", "2=4"]),
        &[],
        s(&worker_1),
    );
    assert!(t.contains("worker 1   lost"), "{t}");
    assert!(!t.contains(&token), "{t}");
    let cut = read_one_to_one(&out);
    check_faults(&cut);
    assert_token_in_no_file(&out, &token);

    // Resumed (`run --resume`): only the lost worker's calls are sent; the others' records stay.
    ok(&run_loadgen(
        &run_args(&out, &["--resume", s(&out)]),
        &[],
        LIMIT,
    ));
    let resumed = read_one_to_one(&out);
    assert_eq!(resumed.records.len(), cut.records.len());
    for ((before, _), (after, _)) in cut.records.iter().zip(&resumed.records) {
        if before.worker == 1 {
            assert_eq!(after.outcome, Outcome::Ok, "{after:?}");
        } else {
            assert_eq!(before, after);
        }
    }
    let session = &resumed.summary.resumed[0];
    assert_eq!(session.first_index, vec![None, Some(1), None]);
    let lost = cut.records.iter().filter(|(r, _)| r.worker == 1).count() as u64;
    assert_eq!(session.calls, lost);
    assert!(resumed.summary.workers.iter().all(|w| w.lost.is_none()));
}

/// Starts a 20-second run of the local workers into `out` (with `extra` flags), long enough that its
/// workers would still be sending well after a fault, and returns loadgen's process.
fn start_long_run(out: &Path, extra: &[&str]) -> std::process::Child {
    let mut args = run_args(out, &["--start-lead", "1"]);
    args.extend_from_slice(extra);
    let duration = args.iter().position(|a| *a == "-d").unwrap() + 1;
    args[duration] = "20";
    Command::new(LOADGEN)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn local_workers_die_with_a_killed_loadgen() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = start_long_run(&out, &[]);
    let workers: Vec<i32> = (0..WORKERS)
        .map(|k| {
            let arg = out.join(format!("workers/{k}/invoker"));
            worker_running_for(s(&arg), 0.5, LIMIT)
        })
        .collect();
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let killed = wait_bounded(child, LIMIT);
    assert!(!killed.status.success());
    // Each worker gets SIGKILL from the kernel as its parent dies: gone (or a zombie awaiting its new
    // parent's reaping) within seconds, not at the end of its 20-second window.
    let gone = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    };
    testkit::wait_until(
        Duration::from_secs(5),
        "the workers to die with loadgen",
        || workers.iter().all(|&pid| gone(pid)).then_some(()),
    );
}

#[test]
fn workers_stop_sending_when_their_coordinator_stops_answering() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = start_long_run(&out, &["--coordinator-timeout", "1", "--grpc-timeout", "2"]);
    // 2 s into the run, loadgen (the coordinator, and the local fleet) freezes: it answers nothing.
    // Each worker's output is beside its work directory (in the run's staging directory until it ends).
    let logs: Vec<_> = (0..WORKERS)
        .map(|k| {
            let pid = worker_running_for(s(&out.join(format!("workers/{k}/invoker"))), 0.0, LIMIT);
            let work = pods::arg_of(pid, "--work-dir").unwrap();
            Path::new(&work).with_file_name("invoker.log")
        })
        .collect();
    worker_running_for(s(&out.join("workers/0/invoker")), 2.0, LIMIT);
    unsafe { libc::kill(child.id() as i32, libc::SIGSTOP) };
    testkit::wait_until(
        Duration::from_secs(20),
        "every worker to give up on its coordinator",
        || {
            logs.iter()
                .all(|log| {
                    std::fs::read_to_string(log)
                        .is_ok_and(|t| t.contains("the coordinator has not answered"))
                })
                .then_some(())
        },
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
    let ended = wait_bounded(child, LIMIT);
    let t = common::text(&ended);
    // The workers stopped, kept their records and sent them once the coordinator answered again.
    let o = read_one_to_one_of(&out, 20);
    assert!(o.summary.interrupted, "{t}");
    let (mut early, mut late) = (0, 0);
    for (r, _) in &o.records {
        // Warm-up 1 s: the freeze came 3 s into the load; the workers gave up within ~2 s of it.
        if r.scheduled_us > 7_000_000 {
            assert_eq!(r.outcome, Outcome::NotSentInterrupted, "{r:?}");
            late += 1;
        } else if r.scheduled_us < 2_500_000 {
            assert_ne!(r.outcome, Outcome::WorkerLost, "{r:?}");
            assert!(r.send_lag_ns.is_some(), "sent before the freeze: {r:?}");
            early += 1;
        }
    }
    assert!(early > 20 && late > 100, "{early} early, {late} late");
}

/// The fake cluster with its pod runner; `bin` is where the image's binaries are (the built ones).
fn cluster_with_pods(faults: PodFaults) -> (FakeCluster, pods::PodRunner) {
    let cluster = FakeCluster::new();
    let bin = Path::new(LOADGEN).parent().unwrap();
    let runner = pods::start(&cluster.state, bin, faults);
    (cluster, runner)
}

fn job_files(cluster: &FakeCluster) -> BTreeMap<String, Vec<String>> {
    let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in std::fs::read_dir(cluster.state.join("jobs")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        // A status the pod runner is writing right now (written beside, then renamed): not a file of
        // the Job's own.
        if name.ends_with(".tmp") {
            continue;
        }
        if let Some((job, kind)) = name.split_once(".loadgen-invokers-").and_then(|(_, rest)| {
            rest.rsplit_once('.')
                .map(|(id, kind)| (id.to_owned(), kind.to_owned()))
        }) {
            files.entry(job).or_default().push(kind);
        }
    }
    files
}

#[test]
fn kubernetes_workers_replay_the_load_and_their_job_is_deleted() {
    let _turn = testkit::turn();
    let (cluster, _runner) = cluster_with_pods(PodFaults::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = run_args(
        &out,
        &[
            "--launcher",
            "kubernetes",
            "--advertise-addr",
            "127.0.0.1:0",
            "--start-lead",
            "3",
            "--namespace",
            "load",
            "--node-selector",
            "role=invoker",
            "--invoker-resources",
            "cpu=1,memory=256Mi",
        ],
    );
    let t = ok(&run_loadgen(&args, &cluster.env(&[]), LIMIT));
    assert!(t.contains("pods of a Kubernetes Job"), "{t}");
    assert!(t.contains("share this machine's network"), "{t}");
    let o = read_one_to_one(&out);
    check_all_answered(&out, &o);

    // The Job as written: indexed, labelled, its command one of the image's binaries.
    let job: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(out.join("invokers-job.yaml")).unwrap())
            .unwrap();
    assert_eq!(job["metadata"]["namespace"], "load");
    assert_eq!(
        job["spec"]["template"]["spec"]["nodeSelector"]["role"],
        "invoker"
    );
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"][0],
        "/usr/local/bin/invoker"
    );
    let calls = cluster.calls();
    let name = job["metadata"]["name"].as_str().unwrap();
    for expected in [
        format!(
            "kubectl apply -f {}",
            out.join("invokers-job.yaml").display()
        ),
        format!("kubectl get job {name} -n load -o json"),
        format!("kubectl delete job -n load {name}"),
    ] {
        // The run applies its Job while it is written beside -o, in its staging directory.
        let staged = pods::unstaged(&expected);
        assert!(
            calls.iter().any(|c| pods::unstaged(c) == staged),
            "{expected} not in {calls:?}"
        );
    }
    // Deleted: no manifest left in the fake cluster.
    let files = job_files(&cluster);
    assert_eq!(files.len(), 1, "{files:?}");
    let kinds = files.values().next().unwrap();
    assert!(
        kinds.contains(&"deleted".to_owned()) && !kinds.contains(&"yaml".to_owned()),
        "{kinds:?}"
    );
}

#[test]
fn header_variables_reach_kubernetes_workers_in_a_secret_never_in_the_job() {
    let _turn = testkit::turn();
    let (cluster, _runner) = cluster_with_pods(PodFaults::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = run_args(
        &out,
        &[
            "--launcher",
            "kubernetes",
            "--advertise-addr",
            "127.0.0.1:0",
            "--start-lead",
            "3",
            "--namespace",
            "load",
            "--function-protocol",
            "http",
            "--header",
            "x-token: Bearer $LOADGEN_TEST_TOKEN",
        ],
    );
    // Only loadgen has the token: the pods (processes of this test) get it from the Secret alone, and
    // an invoker without it would refuse to start.
    let env = cluster.env(&[("LOADGEN_TEST_TOKEN", "s3cret-42")]);
    let ran = run_loadgen(&args, &env, LIMIT);
    ok(&ran);
    let o = read_one_to_one(&out);
    check_all_answered(&out, &o);
    let job = std::fs::read_to_string(out.join("invokers-job.yaml")).unwrap();
    assert!(
        job.contains("$LOADGEN_TEST_TOKEN") && !job.contains("s3cret-42"),
        "{job}"
    );
    assert!(job.contains("secretRef"), "{job}");
    let calls = cluster.calls();
    assert!(calls.iter().any(|c| c == "kubectl apply -f -"), "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains("s3cret-42")), "{calls:?}");
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("kubectl delete secret -n load loadgen-invokers-")),
        "{calls:?}"
    );
    // Deleted with the Job.
    let secrets: Vec<String> = std::fs::read_dir(cluster.state.join("secrets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".labels") && !name.ends_with(".applied"))
        .collect();
    assert!(
        secrets.len() == 1 && secrets[0].ends_with(".deleted"),
        "{secrets:?}"
    );
    // The run's token went to the pods in that Secret, and nowhere else: not in the Job, a kubectl
    // command line, loadgen's output or any file of the run.
    let applied = secrets[0].replace(".deleted", ".applied");
    let secret: serde_json::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(cluster.state.join("secrets").join(applied)).unwrap(),
    )
    .unwrap();
    let token = secret["stringData"]["LOADGEN_COORDINATOR_TOKEN"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(token.len(), 64, "{token}");
    assert!(!calls.iter().any(|c| c.contains(&token)), "{calls:?}");
    assert!(!common::text(&ran).contains(&token));
    assert_token_in_no_file(&out, &token);

    // Without the token here, refused before a pod starts, naming it.
    let refused = run_loadgen(&args, &cluster.env(&[]), LIMIT);
    assert!(!refused.status.success());
    assert!(
        common::text(&refused).contains("`LOADGEN_TEST_TOKEN` is not set here"),
        "{}",
        common::text(&refused)
    );
}

#[test]
fn a_killed_pod_is_lost_and_a_late_pod_starts_late() {
    let _turn = testkit::turn();
    let (cluster, _runner) = cluster_with_pods(PodFaults {
        delay: Some((2, Duration::from_secs(4))),
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = run_args(
        &out,
        &[
            "--launcher",
            "kubernetes",
            "--advertise-addr",
            "127.0.0.1:0",
            "--start-lead",
            "2",
        ],
    );
    // Pod 1's work dir, as the runner maps it: the only pod of this cluster with index 1.
    let pods_dir = cluster.state.join("pods");
    let env = cluster.env(&[]);
    let mut c = Command::new(LOADGEN);
    c.args(&args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in &env {
        c.env(k, v);
    }
    let child = c.spawn().unwrap();
    let pod_1 = testkit::wait_until(LIMIT, "pod 1 started", || {
        std::fs::read_dir(&pods_dir).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with("-1"))
                .map(|p| p.join("work"))
        })
    });
    let pid = worker_running_for(s(&pod_1), 1.5, LIMIT);
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let t = ok(&wait_bounded(child, LIMIT));
    assert!(t.contains("worker 1   lost"), "{t}");
    check_faults(&read_one_to_one(&out));
    assert!(job_files(&cluster)
        .values()
        .all(|k| !k.contains(&"yaml".to_owned())));
}

#[test]
fn dry_run_writes_the_job_and_prints_the_commands_without_calling_kubectl() {
    let cluster = FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = run_args(
        &out,
        &[
            "--launcher",
            "kubernetes",
            "--dry-run",
            "--advertise-addr",
            "10.1.2.3:8080",
        ],
    );
    let t = ok(&run_loadgen(&args, &cluster.env(&[]), LIMIT));
    assert!(cluster.calls().is_empty(), "{:?}", cluster.calls());
    assert!(
        t.contains("kubectl apply -f") && t.contains("kubectl delete job"),
        "{t}"
    );
    let job: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(out.join("invokers-job.yaml")).unwrap())
            .unwrap();
    let args = &job["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(args[1], "http://10.1.2.3:8080");
    assert_eq!(job["spec"]["completions"], 3);
    assert!(out.join("load.json").exists() && out.join("load-2.json").exists());
    assert!(!out.join("records.csv").exists());
    // A bad workers' address is refused before anything is written: the dry run's files stay.
    let before = std::fs::read(out.join("load.json")).unwrap();
    let refused = run_loadgen(
        &run_args(
            &out,
            &["--launcher", "kubernetes", "--advertise-addr", "nohost"],
        ),
        &cluster.env(&[]),
        LIMIT,
    );
    assert!(common::text(&refused).contains("--advertise-addr nohost"));
    assert_eq!(std::fs::read(out.join("load.json")).unwrap(), before);
    assert!(out.join("invokers-job.yaml").exists());
    // Without --launcher kubernetes there is nothing a dry run could show.
    let other = dir.path().join("other");
    let refused = run_loadgen(&run_args(&other, &["--dry-run"]), &[], LIMIT);
    assert!(!refused.status.success());
    assert!(common::text(&refused).contains("--launcher kubernetes"));
}

#[test]
fn ctrl_c_stops_the_workers_and_keeps_what_they_recorded() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let worker_0 = out.join("workers/0/invoker");
    let child = Command::new(LOADGEN)
        .args(run_args(&out, &["--start-lead", "2"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    worker_running_for(s(&worker_0), 2.0, LIMIT);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let done = wait_bounded(child, LIMIT);
    let t = common::text(&done);
    assert_eq!(done.status.code(), Some(130), "{t}");
    let o = read_one_to_one_of(&out, 20);
    assert!(o.summary.interrupted, "{t}");
    for w in &o.summary.workers {
        assert!(
            w.lost.is_none(),
            "every worker sent back what it had: {w:?}"
        );
        assert!(w.summary.as_ref().unwrap().interrupted);
    }
    // Every worker sent calls before the stop and left the rest unsent, each with its record.
    for k in 0..WORKERS {
        let mine: Vec<&Record> = o
            .records
            .iter()
            .map(|(r, _)| r)
            .filter(|r| r.worker == k)
            .collect();
        assert!(mine.iter().any(|r| r.outcome == Outcome::Ok), "worker {k}");
        assert!(
            mine.iter()
                .any(|r| r.outcome == Outcome::NotSentInterrupted),
            "worker {k}"
        );
    }
}
