//! Interference and faults on a run's timeline (`--interference`, `--fault`): stress-ng and iperf3
//! (Debian's, which `.ci/run` installs) run only in their windows and never outlive the run, even a
//! third Ctrl-C; killed instances and workers and deleted pods are recorded as what they did to the
//! calls; bad input is refused before anything starts. The file is long because each test runs a
//! whole run (or experiment) and reads its files back through the helpers above them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{loadgen, run_loadgen, s, text, wait_bounded, FakeCluster, LIMIT, LOADGEN};
use formats::records::{read_records, Outcome, Record};

/// A short per-second `--rps` run into `out`: `seconds` measured after `warmup`, and `extra` flags;
/// each call of the one function 100 ms of 16 MiB (as `extra` does not say otherwise).
fn rps_run(out: &Path, (rps, seconds, warmup): (&str, &str, &str), extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["run", "-o", s(out), "--rps", rps]
        .iter()
        .map(|a| a.to_string())
        .collect();
    if !extra
        .iter()
        .any(|a| ["--rps-duration-ms", "--deployer"].contains(a))
    {
        args.extend(["--rps-duration-ms", "100", "--rps-memory-mb", "16"].map(String::from));
    }
    args.extend(
        [
            "--minute", "false", "-d", seconds, "-w", warmup, "--seed", "3",
        ]
        .map(String::from),
    );
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn ok_run(args: &[String], env: &[(&str, String)]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run_loadgen(&args, env, LIMIT);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    t
}

/// `collect/NAME`'s rows, as header → value maps.
fn rows(out: &Path, name: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(out.join("collect").join(name)).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .map(str::to_owned)
                .zip(r.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn records(out: &Path) -> Vec<Record> {
    let mut all = Vec::new();
    read_records(&out.join("records.csv"), |r, _| all.push(*r)).unwrap();
    all
}

fn alive(pid: u32) -> bool {
    // A zombie is dead: its state letter says so.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn cpu_interference_runs_only_in_its_window_and_the_report_compares_it() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let t = ok_run(
        &rps_run(
            &out,
            ("20", "6", "0"),
            &["--interference", "cpu:threads=1,load=100,start=2,stop=4"],
        ),
        &[],
    );
    let row = &rows(&out, "interference.csv")[0];
    let (started, ended): (f64, f64) = (
        row["started_s"].parse().unwrap(),
        row["ended_s"].parse().unwrap(),
    );
    // Started at its second and ended at its stop (a generator that outlived it would end later).
    assert!((2.0..2.5).contains(&started), "started at {started} s: {t}");
    assert!((4.0..4.6).contains(&ended), "ended at {ended} s: {t}");
    assert_eq!(row["report"], "bogo_ops_per_s");
    assert!(row["value"].parse::<f64>().unwrap() > 0.0, "{row:?}");
    for pid in row["pids"].split(' ') {
        assert!(
            !alive(pid.parse().unwrap()),
            "stress-ng {pid} outlived its window"
        );
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for phase in ["| before | 0–2 |", "| during | 2–4 |", "| after | 4–6 |"] {
        assert!(report.contains(phase), "{phase}: {report}");
    }
    // The figures on the run's time axis shade the window (labelled in their legends); the others not.
    for (figure, marked) in [
        ("calls_per_second", true),
        ("collect_local_scale", true),
        ("latency_over_run", true),
        ("latency_cdf", false),
    ] {
        let svg = std::fs::read_to_string(out.join("plots").join(format!("{figure}.svg"))).unwrap();
        assert_eq!(
            svg.contains("cpu:threads=1,load=100,start=2,stop=4"),
            marked,
            "{figure}"
        );
    }
}

#[test]
fn network_interference_records_iperf3_s_achieved_bitrate() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok_run(
        &rps_run(
            &out,
            ("10", "4", "0"),
            &["--interference", "network:bitrate=8M,start=1,stop=3"],
        ),
        &[],
    );
    let row = &rows(&out, "interference.csv")[0];
    assert_eq!(row["report"], "bits_per_s", "{row:?}");
    let bitrate: f64 = row["value"].parse().unwrap();
    // Capped at 8 Mbit/s: loopback would carry far more.
    assert!((4e6..=9e6).contains(&bitrate), "{bitrate} bit/s: {row:?}");
}

#[test]
fn killed_instances_end_their_calls_and_the_restarted_server_serves_the_rest() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let t = ok_run(
        &rps_run(
            &out,
            ("40", "8", "2"),
            &[
                "--rps-duration-ms",
                "400",
                "--rps-memory-mb",
                "16",
                "--fault",
                "5:kill-instances",
            ],
        ),
        &[],
    );
    let fault = &rows(&out, "faults.csv")[0];
    let done: f64 = fault["done_s"].parse().unwrap();
    assert!((5.0..5.5).contains(&done), "{fault:?}");
    assert!(
        fault["touched"].contains("instances killed") && fault["error"].is_empty(),
        "{fault:?}"
    );
    let all = records(&out);
    // Calls in flight at the kill (due within the 400 ms before it) ended with an error at once.
    let failed: Vec<&Record> = all.iter().filter(|r| r.outcome != Outcome::Ok).collect();
    assert!(!failed.is_empty(), "no call was in flight at the kill: {t}");
    for r in &failed {
        assert_eq!(r.outcome, Outcome::status(14), "{r:?}"); // UNAVAILABLE
        assert!((4_000_000..5_500_000).contains(&r.scheduled_us), "{r:?}");
    }
    // Later calls were served by the restarted server, its first one cold.
    let later: Vec<&Record> = all.iter().filter(|r| r.scheduled_us >= 5_500_000).collect();
    assert!(later.iter().all(|r| r.outcome == Outcome::Ok));
    assert!(all
        .iter()
        .any(|r| r.scheduled_us >= 5_000_000 && r.cold == Some(true)));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("Recovery from `5:kill-instances`: "),
        "{report}"
    );
}

#[test]
fn a_killed_worker_s_calls_are_kept_lost_or_unknown_by_when_they_were_due() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = rps_run(
        &out,
        ("100", "6", "0"),
        &[
            "--workers",
            "2",
            "--records-chunk",
            "50",
            "--fault",
            "3:kill-worker:worker=1",
        ],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run_loadgen(&args, &[], LIMIT);
    let t = text(&o);
    assert!(t.contains("worker 1   lost"), "{t}");
    let all = records(&out);
    assert_eq!(all.len(), 600);
    // The other worker completed.
    assert!(
        all.iter()
            .filter(|r| r.worker == 0)
            .all(|r| r.outcome == Outcome::Ok),
        "{t}"
    );
    let of_1: Vec<&Record> = all.iter().filter(|r| r.worker == 1).collect();
    let kept = of_1.iter().take_while(|r| r.outcome == Outcome::Ok).count();
    assert!(
        kept >= 50 && kept % 50 == 0,
        "kept {kept}: its uploaded chunks, whole"
    );
    let rest = &of_1[kept..];
    let unknown = rest
        .iter()
        .take_while(|r| r.outcome == Outcome::WorkerLostUnknown)
        .count();
    let not_sent = &rest[unknown..];
    assert!(!not_sent.is_empty());
    // Due before it was seen gone: maybe sent; due after the kill: never sent.
    assert!(
        rest[..unknown].iter().all(|r| r.scheduled_us < 3_600_000),
        "{:?}",
        &rest[..unknown]
    );
    assert!(not_sent
        .iter()
        .all(|r| r.outcome == Outcome::WorkerLost && r.scheduled_us >= 3_000_000));
    let fault = &rows(&out, "faults.csv")[0];
    assert!(fault["touched"].starts_with("worker 1 (pid "), "{fault:?}");
}

#[test]
fn delete_pods_deletes_exactly_the_selected_pods_at_its_second() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let (profile, config) = (sample.join("profile.json"), sample.join("config.json"));
    let cluster = FakeCluster::new();
    let pods = cluster.state.join("pods");
    std::fs::create_dir_all(&pods).unwrap();
    for (name, labels) in [
        ("knative-serving.autoscaler-7d", "app=autoscaler"),
        ("knative-serving.controller-5f", "app=controller"),
        ("knative-serving.webhook-9c", "app=webhook"),
        ("knative-serving.activator-2b", "app=activator"),
        ("default.mine", "app=autoscaler"),
    ] {
        std::fs::write(pods.join(name), format!("{labels}\n")).unwrap();
    }
    let server =
        emulated::LocalServer::start(emulated::Behaviour::fixed("ksvc", 0.0, 0.0), 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let build = dir.path().join("build");
    let args = rps_run(
        &out,
        ("10", "4", "0"),
        &[
            "--deployer",
            "knative",
            "-p",
            s(&profile),
            "-c",
            s(&config),
            "-b",
            s(&build),
            "--fault",
            "2:delete-pods:control_plane",
        ],
    );
    // A server that ignores the selector lists every pod of the namespace: only the selected go.
    let env = cluster.env(&[
        ("FAKE_KSVC_URL", &format!("http://{}", server.endpoint())),
        ("FAKE_PODS_IGNORE_SELECTOR", "1"),
    ]);
    let t = ok_run(&args, &env);
    let deleted = std::fs::read_to_string(cluster.state.join("pods-deleted")).unwrap();
    let mut names: Vec<&str> = deleted
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "knative-serving/autoscaler-7d",
            "knative-serving/controller-5f",
            "knative-serving/webhook-9c"
        ],
        "{t}"
    );
    assert!(
        pods.join("knative-serving.activator-2b").exists() && pods.join("default.mine").exists()
    );
    let fault = &rows(&out, "faults.csv")[0];
    let done: f64 = fault["done_s"].parse().unwrap();
    assert!((2.0..2.8).contains(&done), "{fault:?}");
}

/// The processes descended from `pid` whose command is `name`.
fn descendants_named(pid: u32, name: &str) -> Vec<u32> {
    let mut parents = vec![pid];
    let mut found = Vec::new();
    let mut grew = true;
    while grew {
        grew = false;
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            let Some((head, tail)) = stat.rsplit_once(')') else {
                continue;
            };
            let ppid: u32 = tail
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if parents.contains(&ppid) && !parents.contains(&p) {
                parents.push(p);
                grew = true;
                let comm = head.split_once('(').map_or("", |(_, c)| c);
                if comm.starts_with(name) {
                    found.push(p);
                }
            }
        }
    }
    found
}

fn interrupted_during_interference(signals: usize) {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = rps_run(
        &out,
        ("10", "30", "0"),
        &[
            "--interference",
            "cpu:threads=1,load=20,start=0,stop=30",
            "--interference",
            "network:bitrate=1M,start=0,stop=30",
        ],
    );
    let child = Command::new(LOADGEN)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Every generator running: stress-ng's parent and worker, iperf3's server and client.
    let generators =
        testkit::wait_until(Duration::from_secs(60), "the generators to start", || {
            let stress = descendants_named(pid, "stress-ng");
            let iperf = descendants_named(pid, "iperf3");
            (stress.len() >= 2 && iperf.len() >= 2).then(|| [stress, iperf].concat())
        });
    for _ in 0..signals {
        unsafe { libc::kill(pid as i32, libc::SIGINT) };
    }
    let o = wait_bounded(child, LIMIT);
    assert!(!o.status.success());
    testkit::wait_until(Duration::from_secs(10), "every generator to end", || {
        generators.iter().all(|&g| !alive(g)).then_some(())
    });
}

#[test]
fn one_ctrl_c_during_interference_leaves_no_generator() {
    interrupted_during_interference(1);
}

#[test]
fn three_ctrl_c_end_loadgen_at_once_and_leave_no_generator() {
    interrupted_during_interference(3);
}

#[test]
fn bad_interference_and_faults_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    for (flags, says) in [
        (
            vec!["--interference", "cpu:start=4,stop=2"],
            "ends (stop = 2 s) before it starts",
        ),
        (
            vec!["--interference", "cpu:start=9,stop=10"],
            "after the run",
        ),
        (
            vec!["--interference", "gpu:stop=2"],
            "unknown interference kind `gpu`",
        ),
        (
            vec!["--interference", "network:bitrate=lots,stop=2"],
            "bitrate `lots` cannot be parsed",
        ),
        (
            vec!["--fault", "2:kill-worker:worker=0"],
            "needs local workers",
        ),
        (
            vec!["--fault", "2:delete-pods:control_plane"],
            "needs Kubernetes",
        ),
        (vec!["--fault", "9:kill-instances"], "after the run"),
        (
            vec!["--interference", "cpu:stop=2,where=nodes:role=x"],
            "needs Kubernetes",
        ),
    ] {
        let args = rps_run(&out, ("10", "4", "0"), &flags);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = loadgen(&args);
        let t = text(&o);
        assert!(!o.status.success() && t.contains(says), "{flags:?}: {t}");
        assert!(!out.exists(), "{flags:?} wrote {}", out.display());
    }
    // On a cluster, a selection that matches no pod is refused too (asked once, before anything).
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let (profile, config) = (sample.join("profile.json"), sample.join("config.json"));
    let cluster = FakeCluster::new();
    let args = rps_run(
        &out,
        ("10", "4", "0"),
        &[
            "--deployer",
            "knative",
            "-p",
            s(&profile),
            "-c",
            s(&config),
            "-b",
            s(&dir.path().join("b")),
            "--fault",
            "2:delete-pods:data_plane",
        ],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let t = text(&run_loadgen(&args, &cluster.env(&[]), LIMIT));
    assert!(
        t.contains("no pod in namespace knative-serving has labels app=activator"),
        "{t}"
    );
    let _ = PathBuf::new();
}

#[test]
fn an_experiment_sweeps_an_interference_level_and_results_csv_compares_it() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let file = common::write_file(
        dir.path(),
        "exp.toml",
        r#"[run]
rps = 10
rps-duration-ms = 50
rps-memory-mb = 16
minute = false
duration = 4
warmup-duration = 0
seed = 3

[[interference]]
kind = "cpu"
threads = 1
load = 0
start = 1
stop = 3

[[faults]]
at = 2
action = "command"
run = "true"

[sweep]
"interference.0.load" = [0, 100]
"#,
    );
    let out = dir.path().join("out");
    let o = common::experiment(&file, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let mut reader = csv::Reader::from_path(out.join("results.csv")).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    for column in [
        "interference.0.load",
        "interference.0.before.p99_us",
        "interference.0.during.p50_us",
        "interference.0.during.p99_us",
        "interference.0.after.rate",
        "faults.0.after.errors",
        "faults.0.recovery_s",
    ] {
        assert!(header.iter().any(|h| h == column), "{column}: {header:?}");
    }
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let load = header
        .iter()
        .position(|h| h == "interference.0.load")
        .unwrap();
    assert_eq!((&rows[0][load], &rows[1][load]), ("0", "100"));
    // Each step's interference ran at its own level (stress-ng's --cpu-load, recorded as given).
    for (step, level) in [(0, "load=0"), (1, "load=100")] {
        let csv =
            std::fs::read_to_string(out.join(format!("steps/{step:03}/collect/interference.csv")))
                .unwrap();
        assert!(csv.contains(level), "step {step}: {csv}");
    }
}

#[test]
fn an_experiment_file_s_bad_entry_is_refused_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    for (entry, line, says) in [
        (
            "[[interference]]\nkind = \"gpu\"\nstop = 2\n",
            4,
            "unknown interference kind `gpu`",
        ),
        (
            "[[interference]]\nkind = \"cpu\"\nstart = 3\nstop = 1\n",
            4,
            "before it starts",
        ),
        ("[[faults]]\naction = \"kill-worker\"\n", 4, "needs `at`"),
        (
            "[[faults]]\nat = 1\naction = \"reboot\"\n",
            4,
            "unknown fault action `reboot`",
        ),
    ] {
        let file = common::write_file(
            dir.path(),
            "bad.toml",
            &format!("[run]\nrps = 10\n\n{entry}"),
        );
        let o = common::experiment(&file, &dir.path().join("out"), &[]);
        let t = text(&o);
        let at = format!("{}: line {line}", file.display());
        assert!(
            !o.status.success() && t.contains(&at) && t.contains(says),
            "{entry}: {t}"
        );
    }
    // A swept value that makes a bad entry is refused with the sweep's line.
    let file = common::write_file(
        dir.path(),
        "bad.toml",
        "[run]\nrps = 10\n\n[[interference]]\nkind = \"cpu\"\nstop = 2\n\n[sweep]\n\"interference.0.load\" = [50, 150]\n",
    );
    let t = text(&common::experiment(&file, &dir.path().join("out"), &[]));
    assert!(
        t.contains(&format!("{}: line 9", file.display())) && t.contains("`load` = `150`"),
        "{t}"
    );
}

#[test]
fn a_paused_worker_sends_late_and_goes_on_while_the_other_keeps_time() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = rps_run(
        &out,
        ("40", "6", "0"),
        &[
            "--workers",
            "2",
            "--fault",
            "2:pause-worker:worker=1,seconds=1.5",
        ],
    );
    let t = ok_run(&args, &[]);
    let fault = &rows(&out, "faults.csv")[0];
    assert!(
        fault["touched"].contains("stopped for 1.5 s"),
        "{fault:?}: {t}"
    );
    let all = records(&out);
    assert!(all.iter().all(|r| r.outcome == Outcome::Ok), "{t}");
    // Calls due early in the pause left when the worker went on (about 3.5 s); the other worker's
    // calls of the same seconds left on time.
    let lag_ms = |worker: u32| {
        all.iter()
            .filter(|r| r.worker == worker && (2_100_000..2_600_000).contains(&r.scheduled_us))
            .filter_map(|r| r.send_lag_ns)
            .max()
            .unwrap() as f64
            / 1e6
    };
    assert!(lag_ms(1) > 800.0, "worker 1: {} ms", lag_ms(1));
    assert!(lag_ms(0) < 300.0, "worker 0: {} ms", lag_ms(0));
}

#[test]
fn a_command_interference_runs_in_its_window_and_is_ended_at_its_stop() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mark = dir.path().join("started");
    let run = format!("command:start=1,stop=2,run=echo x > {}; sleep 60", s(&mark));
    let faults = [
        "1:command:run=exit 3",
        "1:command:run=sleep 60",
        "1:command:run=true",
    ];
    let mut flags = vec!["--interference", run.as_str()];
    for f in &faults {
        flags.extend(["--fault", f]);
    }
    ok_run(&rps_run(&out, ("10", "3", "0"), &flags), &[]);
    assert!(mark.exists());
    // Fault commands run beside one another: a failure and a hung one are recorded, the hung one ended.
    let faults = rows(&out, "faults.csv");
    assert!(
        faults[0]["error"].contains("failed (exit status: 3)"),
        "{faults:?}"
    );
    assert!(
        faults[1]["error"].contains("still running when the replay ended"),
        "{faults:?}"
    );
    assert!(
        faults[2]["error"].is_empty() && faults[2]["touched"].contains("exit status: 0"),
        "{faults:?}"
    );
    for f in &faults {
        let done: f64 = f["done_s"].parse().unwrap();
        assert!((1.0..1.5).contains(&done), "{f:?}");
    }
    let row = &rows(&out, "interference.csv")[0];
    let ended: f64 = row["ended_s"].parse().unwrap();
    assert!((2.0..2.6).contains(&ended), "{row:?}");
    assert!(!alive(row["pids"].parse().unwrap()));
}

#[test]
fn node_interference_is_a_labelled_job_on_the_selected_nodes_deleted_at_its_stop() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let (profile, config) = (sample.join("profile.json"), sample.join("config.json"));
    let cluster = FakeCluster::new();
    std::fs::create_dir_all(cluster.state.join("nodes")).unwrap();
    std::fs::write(cluster.state.join("nodes/n1"), "role=worker\n").unwrap();
    let server =
        emulated::LocalServer::start(emulated::Behaviour::fixed("ksvc", 0.0, 0.0), 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let build = dir.path().join("build");
    let knative = |interference: &str| {
        rps_run(
            &out,
            ("10", "4", "0"),
            &[
                "--deployer",
                "knative",
                "-p",
                s(&profile),
                "-c",
                s(&config),
                "-b",
                s(&build),
                "--interference",
                interference,
            ],
        )
    };
    let env = cluster.env(&[("FAKE_KSVC_URL", &format!("http://{}", server.endpoint()))]);
    // No node has the labels: refused before anything starts.
    let args = knative("cpu:start=1,stop=3,where=nodes:role=none");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let t = text(&run_loadgen(&args, &env, LIMIT));
    assert!(t.contains("no node has those labels"), "{t}");
    assert!(!out.exists());

    let t = ok_run(
        &knative("cpu:threads=2,load=50,start=1,stop=3,where=nodes:role=worker"),
        &env,
    );
    let row = &rows(&out, "interference.csv")[0];
    assert_eq!(row["where"], "role=worker", "{row:?}");
    let ended: f64 = row["ended_s"].parse().unwrap();
    assert!((3.0..3.8).contains(&ended), "{row:?}: {t}");
    let calls = cluster.calls();
    let deleted: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("kubectl delete job -n default loadgen-interference-"))
        .collect();
    assert_eq!(deleted.len(), 1, "{calls:?}");
    let job = deleted[0].rsplit(' ').next().unwrap();
    let labels =
        std::fs::read_to_string(cluster.state.join(format!("jobs/default.{job}.labels"))).unwrap();
    assert!(
        labels.contains("app.kubernetes.io/managed-by=serverless-loadgen"),
        "{labels}"
    );
    assert!(cluster
        .state
        .join(format!("jobs/default.{job}.deleted"))
        .exists());
}

#[test]
fn memory_and_memory_bandwidth_interference_report_their_bogo_ops() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok_run(
        &rps_run(
            &out,
            ("10", "3", "0"),
            &[
                "--interference",
                "memory:mib=64,start=0,stop=2",
                "--interference",
                "memory-bandwidth:mib=32,start=1,stop=3",
            ],
        ),
        &[],
    );
    let rows = rows(&out, "interference.csv");
    assert_eq!(rows.len(), 2);
    for (row, kind) in rows.iter().zip(["memory", "memory-bandwidth"]) {
        assert_eq!(row["kind"], kind);
        assert!(row["error"].is_empty(), "{row:?}");
        assert!(row["value"].parse::<f64>().unwrap() > 0.0, "{row:?}");
    }
}
