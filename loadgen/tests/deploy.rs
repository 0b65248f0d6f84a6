//! Deployment and the whole pipeline, through the `loadgen` binary: `run` end to end with local servers
//! and `deploy` serving until SIGINT (the Knative deployer is in `knative.rs`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{run_loadgen, s, text, wait_bounded, LOADGEN};

use formats::endpoints::read as read_endpoints;

/// Starts loadgen with `args` and reads its stdout until a line starts with `prefix`.
fn spawn_until(args: &[&str], prefix: &str) -> Child {
    let mut child = Command::new(LOADGEN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let started = Instant::now();
    let mut line = String::new();
    while !line.starts_with(prefix) {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "loadgen ended before printing `{prefix}`"
        );
        assert!(started.elapsed() < Duration::from_secs(30));
    }
    // Keep draining stdout, or loadgen's next print would hit a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    child
}

fn port_closed(endpoint: &str) -> bool {
    std::net::TcpStream::connect_timeout(&endpoint.parse().unwrap(), Duration::from_millis(200))
        .is_err()
}

/// Once loadgen has exited, no endpoint it deployed (endpoints.json) accepts a connection.
fn assert_nothing_serves(endpoints_json: &Path) {
    let endpoints = read_endpoints(endpoints_json).unwrap();
    assert!(!endpoints.is_empty());
    for e in &endpoints {
        assert!(port_closed(&e.endpoint), "{} still serving", e.endpoint);
    }
}

#[test]
fn run_end_to_end_with_local_servers() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = run_loadgen(
        &[
            "run",
            "-o",
            s(&out_dir),
            "-m",
            "false",
            "-w",
            "1",
            "-d",
            "3",
            "-n",
            "60",
            "--seed",
            "7",
        ],
        &[],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out));
    for f in [
        "load.json",
        "mapping.json",
        "endpoints.json",
        "records.csv",
        "lat.csv",
        "summary.json",
        "report.md",
        "trace/invocations.csv",
        "plots/proxy_memory.png",
        "plots/trace_duration.svg",
        "plots/mapping_error.png",
        "plots/invocations_per_second.png",
        "plots/latency_cdf.png",
        "plots/dispatch_lag.png",
        "plots/calls_per_second.png",
    ] {
        assert!(out_dir.join(f).is_file(), "{f} missing\n{}", text(&out));
    }

    // Every generated call was sent and answered, and the records match load.json one to one.
    let load = formats::read(&out_dir.join("load.json")).unwrap();
    let mut scheduled: HashMap<(u64, String), i64> = HashMap::new();
    let mut total = 0;
    for (p, period) in load.periods.iter().enumerate() {
        for c in &period.calls {
            let key = (
                p as u64 * 1_000_000 + c.offset_us,
                load.endpoints[c.endpoint as usize].clone(),
            );
            *scheduled.entry(key).or_default() += 1;
            total += 1;
        }
    }
    assert!(total > 0, "the run scheduled nothing");
    let records = std::fs::read_to_string(out_dir.join("records.csv")).unwrap();
    let mut lines = records.lines();
    assert_eq!(lines.next(), Some(formats::records::RECORDS_HEADER));
    let mut seen = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[10], "ok", "{line}");
        let key = (f[5].parse::<u64>().unwrap(), f[3].to_owned());
        let n = scheduled
            .get_mut(&key)
            .unwrap_or_else(|| panic!("unscheduled record {line}"));
        *n -= 1;
        assert!(*n >= 0, "two records for one call: {line}");
        seen += 1;
    }
    assert_eq!(seen, total);
    let summary: formats::summary::Summary =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary.records, total as u64);
    assert_eq!(summary.sent, summary.scheduled);
    assert_eq!(summary.ok, summary.scheduled);
    assert_eq!(summary.per_period.len(), 4);
    assert_eq!(
        summary.per_period.iter().map(|t| t.ok).sum::<u64>(),
        total as u64
    );

    // The report says what ran and how faithfully.
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    for needle in [
        "## What ran",
        "## Fidelity",
        "| second | scheduled | sent | answered | answered % |",
        "| 1 (warm-up) |",
        "send lag",
        "emulated function servers on 127.0.0.1",
        "[`records.csv`](records.csv)",
        "## Figures",
        "](plots/latency_cdf.png)",
        "](plots/invocations_per_second.png)",
    ] {
        assert!(report.contains(needle), "report lacks {needle}:\n{report}");
    }

    assert_nothing_serves(&out_dir.join("endpoints.json"));
}

#[test]
fn run_interrupted_by_sigint_keeps_every_record_and_stops_its_servers() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let child = spawn_until(
        &[
            "run",
            "-o",
            s(&out_dir),
            "-m",
            "false",
            "-w",
            "0",
            "-d",
            "30",
            "-n",
            "60",
            "--seed",
            "7",
        ],
        "replay",
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = wait_bounded(child, Duration::from_secs(40));
    // Everything written, and the status says the run was interrupted (128 + SIGINT).
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    let summary: formats::summary::Summary =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.records, summary.scheduled_total);
    assert!(
        summary.outcomes.contains_key("not_sent:interrupted"),
        "{:?}",
        summary.outcomes
    );
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(report.contains("**Interrupted**"), "{report}");
    assert_nothing_serves(&out_dir.join("endpoints.json"));
}

#[test]
fn run_refuses_what_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_loadgen(
        &["run", "-o", s(&dir.path().join("o")), "--deployer", "none"],
        &[],
        Duration::from_secs(20),
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("needs proxies to call"),
        "{}",
        text(&out)
    );
    let out = run_loadgen(
        &[
            "run",
            "-o",
            s(&dir.path().join("o")),
            "-t",
            s(&dir.path().join("nope")),
        ],
        &[],
        Duration::from_secs(20),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("nope"), "{}", text(&out));
}

#[test]
fn deploy_local_serves_until_sigint_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let synth = run_loadgen(
        &[
            "synth",
            "-o",
            s(&trace),
            "-n",
            "40",
            "--periods",
            "3",
            "-m",
            "false",
        ],
        &[],
        Duration::from_secs(20),
    );
    assert!(synth.status.success(), "{}", text(&synth));
    let load = dir.path().join("load.json");
    let child = spawn_until(
        &[
            "deploy",
            "-t",
            s(&trace),
            "-p",
            "builtin",
            "-o",
            s(&load),
            "-m",
            "false",
            "-w",
            "0",
            "-d",
            "3",
        ],
        "serving",
    );
    let endpoints = read_endpoints(&dir.path().join("endpoints.json")).unwrap();
    assert!(!endpoints.is_empty());
    let written = formats::read(&load).unwrap();
    let deployed: Vec<&str> = endpoints.iter().map(|e| e.endpoint.as_str()).collect();
    for e in &written.endpoints {
        assert!(deployed.contains(&e.as_str()), "{e} not deployed");
    }
    for e in &endpoints {
        assert!(!port_closed(&e.endpoint), "{} not serving", e.endpoint);
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = wait_bounded(child, Duration::from_secs(10));
    // Ctrl-C is how `deploy` is meant to end: a success.
    assert!(out.status.success(), "{}", text(&out));
    assert_nothing_serves(&dir.path().join("endpoints.json"));
}

#[test]
fn generate_refuses_the_local_deployer() {
    let out = run_loadgen(
        &["generate", "--deployer", "local"],
        &[],
        Duration::from_secs(20),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("loadgen deploy"), "{}", text(&out));
}
