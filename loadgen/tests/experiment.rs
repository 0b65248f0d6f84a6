//! `loadgen experiment` through the binary, on the local fleet over loopback (and a fake `kubectl` for
//! the Knative settings): steps and rows, hooks and their environment, failure policies, resume, dry run,
//! Ctrl-C, and errors that name the file's line. Every step is a short per-second run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{
    experiment, failed_sibling, ok, run_loadgen, s, siblings, text, wait_bounded, write_file,
    FakeCluster, LOADGEN,
};

/// A per-second base: 40 synthetic functions (unless swept), no warm-up, one measured second.
const BASE: &str = r#"
[run]
profile = "builtin"
minute = false
warmup-duration = 0
duration = 1
seed = 4
"#;

/// results.csv as (header, rows).
fn results(out: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(out.join("results.csv")).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no `{name}` in {header:?}"))
}

#[test]
fn a_grid_makes_a_step_and_a_row_per_combination_with_hooks_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "exp.toml",
        &format!(
            "{BASE}
[sweep]
mode = \"grid\"
functions = [40, 60]
iat-distribution = [\"uniform\", \"equidistant\"]

[hooks]
before-experiment = \"echo before-experiment $LOADGEN_EXPERIMENT_DIR >> order.txt\"
before-step = \"echo before-step $LOADGEN_STEP $LOADGEN_REPEAT $LOADGEN_PARAM_FUNCTIONS $LOADGEN_PARAM_IAT_DISTRIBUTION $LOADGEN_STEP_DIR >> order.txt\"
after-step = \"echo after-step $LOADGEN_STEP >> order.txt; test -s $LOADGEN_STEP_DIR/records.csv\"
after-experiment = \"echo after-experiment >> order.txt\"
"
        ),
    );
    let out = dir.path().join("out");
    let t = ok(&experiment(&file, &out, &[]));
    let (header, rows) = results(&out);
    assert_eq!(
        header[..4],
        ["step", "repeat", "functions", "iat-distribution"].map(String::from),
        "{header:?}"
    );
    let figures = [
        "scheduled",
        "sent",
        "answered",
        "errors",
        "send_lag_p50_us",
        "send_lag_p99_us",
        "send_lag_p999_us",
        "latency_p50_us",
        "latency_p90_us",
        "latency_p99_us",
        "latency_p999_us",
        "achieved_rate",
        "local_scale",
        "cold_starts",
        "workflow_e2e_p50_us",
        "workflow_e2e_p99_us",
        "workflow_overhead_p50_us",
    ];
    assert_eq!(header[4..21], figures.map(String::from), "{header:?}");
    // One scale for every step, the most demanding step's: the steps compare at one scale.
    let scale = column(&header, "local_scale");
    assert!(
        rows.iter()
            .all(|r| r[scale] == rows[0][scale] && !r[scale].is_empty()),
        "{rows:?}"
    );
    assert!(
        header[21..].iter().all(|h| h.starts_with("outcome:")),
        "{header:?}"
    );
    assert_eq!(rows.len(), 4, "{t}");
    let params: Vec<(String, String)> = rows.iter().map(|r| (r[2].clone(), r[3].clone())).collect();
    assert_eq!(
        params,
        [
            ("40", "uniform"),
            ("40", "equidistant"),
            ("60", "uniform"),
            ("60", "equidistant")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let (scheduled, answered) = (column(&header, "scheduled"), column(&header, "answered"));
    for (i, row) in rows.iter().enumerate() {
        assert!(row[scheduled].parse::<u64>().unwrap() > 0, "{row:?}");
        assert_eq!(
            row[scheduled], row[answered],
            "every call answered: {row:?}"
        );
        let step_dir = out.join(format!("steps/{i:03}"));
        for f in [
            "params.json",
            "records.csv",
            "summary.json",
            "report.md",
            "load.json",
        ] {
            assert!(
                step_dir.join(f).is_file(),
                "{} has no {f}",
                step_dir.display()
            );
        }
    }
    let order = std::fs::read_to_string(out.join("order.txt")).unwrap();
    let lines: Vec<&str> = order.lines().collect();
    assert_eq!(lines.len(), 1 + 4 * 2 + 1, "{order}");
    assert!(lines[0].starts_with("before-experiment /"), "{order}");
    // Hooks run while the experiment is written beside its directory, and see where that is.
    let staging = format!("{}.staging-", std::path::absolute(&out).unwrap().display());
    let step_dir = lines[5]
        .strip_prefix("before-step 2 0 60 uniform ")
        .unwrap_or_else(|| panic!("{order}"));
    assert!(
        step_dir.starts_with(&staging) && step_dir.ends_with("/steps/002"),
        "{order}"
    );
    assert_eq!(lines[6], "after-step 2");
    assert_eq!(lines[9], "after-experiment");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for figure in [
        "latency_p50",
        "latency_p99",
        "answered_per_step",
        "send_lag_p99_per_step",
    ] {
        assert!(
            report.contains(&format!("figures/{figure}.png")),
            "{report}"
        );
        assert!(out.join(format!("figures/{figure}.png")).is_file());
    }
    assert!(out.join("steps/000/hooks.log").is_file());
}

#[test]
fn failures_stop_continue_or_retry_as_told() {
    let dir = tempfile::tempdir().unwrap();
    let plan = |policy: &str, hook: &str| {
        format!(
            "{BASE}on-failure = \"{policy}\"
[sweep]
functions = [40]
iat-distribution = [\"uniform\", \"equidistant\", \"exponential\"]
[hooks]
before-step = '{hook}'
"
        )
    };
    let fail_step_1 = "test $LOADGEN_STEP != 1";
    // stop: step 1 fails, step 2 never runs; the status says something failed.
    // The experiment did not complete: nothing is put in place of -o, and what it did is kept beside it,
    // in the directory its error names.
    let file = write_file(dir.path(), "stop.toml", &plan("stop", fail_step_1));
    let out = dir.path().join("stop");
    let o = experiment(&file, &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!out.exists(), "{}", text(&o));
    let out = failed_sibling(&out, &o);
    let (header, rows) = results(&out);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][column(&header, "scheduled")], "");
    assert!(std::fs::read_to_string(out.join("steps/001/error.txt"))
        .unwrap()
        .contains("before-step hook"));
    assert!(!out.join("steps/002").exists());
    // continue: every step has a row, the status is still 1.
    let file = write_file(dir.path(), "continue.toml", &plan("continue", fail_step_1));
    let out = dir.path().join("continue");
    let o = experiment(&file, &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let (header, rows) = results(&out);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][column(&header, "scheduled")], "");
    assert_ne!(rows[2][column(&header, "scheduled")], "");
    // retry: each step's first try fails, its second succeeds.
    let flaky = "if [ ! -e tried-$LOADGEN_STEP ]; then touch tried-$LOADGEN_STEP; exit 3; fi";
    let file = write_file(dir.path(), "retry.toml", &plan("retry:1", flaky));
    let out = dir.path().join("retry");
    let o = experiment(&file, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(results(&out).1.len(), 3);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .matches("retry 1 of 1")
            .count(),
        3
    );
}

#[test]
fn resume_runs_nothing_twice_and_dry_run_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "exp.toml",
        &format!("{BASE}\n[sweep]\nfunctions = [40, 50]\n"),
    );
    let out = dir.path().join("out");
    // Dry run: the plan and every step's settings; no load, no record.
    let t = ok(&experiment(&file, &out, &["--dry-run"]));
    assert!(
        t.contains("2 step(s)") && t.contains("nothing deployed or sent"),
        "{t}"
    );
    for i in 0..2 {
        assert!(out.join(format!("steps/{i:03}/params.json")).is_file());
        assert!(!out.join(format!("steps/{i:03}/records.csv")).exists());
    }
    assert!(!out.join("results.csv").exists());
    ok(&experiment(&file, &out, &[]));
    let records = out.join("steps/001/records.csv");
    let before = std::fs::metadata(&records).unwrap().modified().unwrap();
    let t = ok(&experiment(&file, &out, &["--resume"]));
    assert_eq!(t.matches("already done (--resume)").count(), 2, "{t}");
    assert_eq!(
        std::fs::metadata(&records).unwrap().modified().unwrap(),
        before
    );
    assert_eq!(results(&out).1.len(), 2);
}

#[test]
fn ctrl_c_mid_step_keeps_the_finished_steps_and_leaves_no_port() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "exp.toml",
        &format!(
            "{BASE}\n[sweep]\nfunctions = [40, 50, 60]\nduration = [1, 30, 30]\nmode = \"zip\"\n\
             [hooks]\nafter-experiment = \"echo done > after.txt\"\n"
        ),
    );
    let out = dir.path().join("out");
    let child = Command::new(LOADGEN)
        .args(["experiment", s(&file), "-o", s(&out)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Step 1 is replaying once its records file is open (in the experiment's staging directory).
    let replaying = || {
        siblings(&out, "staging")
            .iter()
            .any(|d| d.join("steps/001/records.csv.partial").exists())
    };
    testkit::wait_until(Duration::from_secs(60), "step 1 replaying", || {
        replaying().then_some(())
    });
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let (header, rows) = results(&out);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0][column(&header, "scheduled")],
        rows[0][column(&header, "answered")]
    );
    assert!(out.join("steps/001/records.csv").is_file());
    assert!(!out.join("steps/002").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("after.txt")).unwrap(),
        "done\n"
    );
    for step in ["000", "001"] {
        let endpoints =
            formats::endpoints::read(&out.join(format!("steps/{step}/endpoints.json"))).unwrap();
        for e in endpoints {
            assert!(
                std::net::TcpStream::connect_timeout(
                    &e.endpoint.parse().unwrap(),
                    Duration::from_millis(200)
                )
                .is_err(),
                "{} still listening",
                e.endpoint
            );
        }
    }
}

#[test]
fn knative_settings_become_annotations_and_unchanged_steps_apply_nothing_new() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let server =
        emulated::LocalServer::start(emulated::Behaviour::fixed("ksvc", 0.0, 0.0), 1).unwrap();
    let cluster = FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "exp.toml",
        &format!(
            r#"
[run]
deployer = "knative"
minute = false
trace = "{}"
profile = "{}"
config-proxy = "{}"
build = "build"
duration = 1
warmup-duration = 0
poll-interval = 0.02
seed = 2
reuse-deployment = true
[sweep]
repeats = 2
[knative]
metric = "rps"
target = 50
panic-window-percentage = 100
panic-threshold-percentage = 1000
"#,
            sample.display(),
            sample.join("profile.json").display(),
            sample.join("config.json").display()
        ),
    );
    // The dry run: each step's YAMLs in its own directory (the file's own `build` aside), nothing applied.
    let dry = dir.path().join("dry");
    let o = run_loadgen(
        &["experiment", s(&file), "-o", s(&dry), "--dry-run"],
        &cluster.env(&[]),
        Duration::from_secs(120),
    );
    ok(&o);
    let dry_yamls = std::fs::read_dir(dry.join("steps/001/build"))
        .unwrap()
        .count();
    assert!(dry_yamls > 0);
    assert!(cluster.calls().is_empty(), "{:?}", cluster.calls());
    let out = dir.path().join("out");
    let o = run_loadgen(
        &["experiment", s(&file), "-o", s(&out)],
        &cluster.env(&[("FAKE_KSVC_URL", &format!("http://{}", server.endpoint()))]),
        Duration::from_secs(300),
    );
    let t = ok(&o);
    assert_eq!(
        t.matches("deployment reused from the previous step")
            .count(),
        1,
        "{t}"
    );
    let applies = cluster
        .calls()
        .iter()
        .filter(|c| c.starts_with("kubectl apply"))
        .count();
    let yamls: Vec<PathBuf> = std::fs::read_dir(dir.path().join("build"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("kn-"))
        .collect();
    // The second step applied nothing: as many applies as the first step's services (and the
    // config's own database YAMLs, applied by its pre-deployment commands).
    assert!(!yamls.is_empty());
    assert!(
        applies >= yamls.len() && applies < 2 * yamls.len(),
        "{applies} applies for {} services",
        yamls.len()
    );
    for y in &yamls {
        let v: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(y).unwrap()).unwrap();
        let a = &v["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(
            a["autoscaling.knative.dev/metric"].as_str(),
            Some("rps"),
            "{}",
            y.display()
        );
        assert_eq!(a["autoscaling.knative.dev/target"].as_str(), Some("50"));
        assert_eq!(
            a["autoscaling.knative.dev/panic-threshold-percentage"].as_str(),
            Some("1000")
        );
    }
    // At the end, what the experiment deployed is deleted.
    assert!(cluster
        .calls()
        .iter()
        .any(|c| c.starts_with("kubectl delete ksvc")));
    let (header, rows) = results(&out);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[1][column(&header, "scheduled")],
        rows[1][column(&header, "answered")]
    );

    // By default every step starts from fresh instances: the first step's services are deleted and
    // the second applies its own again.
    let fresh = write_file(
        dir.path(),
        "fresh.toml",
        &std::fs::read_to_string(&file)
            .unwrap()
            .replace("reuse-deployment = true\n", ""),
    );
    let before = cluster.calls().len();
    let t = ok(&run_loadgen(
        &["experiment", s(&fresh), "-o", s(&dir.path().join("fresh"))],
        &cluster.env(&[("FAKE_KSVC_URL", &format!("http://{}", server.endpoint()))]),
        Duration::from_secs(300),
    ));
    assert!(!t.contains("deployment reused"), "{t}");
    assert!(t.contains("every step starts from fresh instances"), "{t}");
    let calls = cluster.calls()[before..].to_vec();
    let applies = calls
        .iter()
        .filter(|c| c.starts_with("kubectl apply"))
        .count();
    assert!(applies >= 2 * yamls.len(), "{applies} applies: {calls:?}");
    let first_delete = calls
        .iter()
        .position(|c| c.starts_with("kubectl delete ksvc"))
        .expect("the first step's services are deleted");
    assert!(
        calls[first_delete..]
            .iter()
            .any(|c| c.starts_with("kubectl apply")),
        "the second step applied after the first one's services were deleted: {calls:?}"
    );
}

#[test]
fn load_shapes_are_swept_like_any_run_setting() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "exp.toml",
        &format!("{BASE}cold-ratio = 20\ncooldown = 0.5\n\n[sweep]\nrps = [10, 30]\n"),
    );
    let out = dir.path().join("out");
    let t = ok(&experiment(&file, &out, &[]));
    let (header, rows) = results(&out);
    assert_eq!(rows.len(), 2, "{t}");
    let (rps, scheduled) = (column(&header, "rps"), column(&header, "scheduled"));
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[rps].as_str(), r[scheduled].as_str()))
        .collect();
    assert_eq!(got, [("10", "10"), ("30", "30")], "{t}");
    // Each step called the warm function and its cold ones: distinct deployments of one proxy.
    for step in ["000", "001"] {
        let endpoints =
            std::fs::read_to_string(out.join(format!("steps/{step}/endpoints.json"))).unwrap();
        assert!(
            endpoints.contains("-warm") && endpoints.contains("-cold-"),
            "{endpoints}"
        );
    }
}

#[test]
fn the_collect_table_watches_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = write_file(
        dir.path(),
        "exp.toml",
        &format!(
            "{BASE}\n[sweep]\nrps = [50]\n\n[collect]\nscale-interval = 0.5\nprometheus = \"http://127.0.0.1:{port}\"\n\n[collect.queries]\nup = \"up\"\n"
        ),
    );
    let out = dir.path().join("out");
    let t = ok(&experiment(&file, &out, &["--quiet"]));
    assert!(!t.contains("live t="), "--quiet reaches every step: {t}");
    let step = out.join("steps/000");
    let scale = std::fs::read_to_string(step.join("collect/local-scale.csv")).unwrap();
    assert!(scale.lines().count() >= 3, "{scale}");
    let report = std::fs::read_to_string(step.join("report.md")).unwrap();
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("| prometheus-up |") && l.contains("**failed**")),
        "{report}"
    );
    // A key [collect] does not know is refused with its line.
    let bad = write_file(
        dir.path(),
        "bad.toml",
        &format!("{BASE}\n[collect]\nscale-intervall = 1\n"),
    );
    let o = experiment(&bad, &dir.path().join("bad"), &[]);
    let e = text(&o);
    assert!(
        !o.status.success() && e.contains("line 10") && e.contains("scale-intervall"),
        "{e}"
    );
}
