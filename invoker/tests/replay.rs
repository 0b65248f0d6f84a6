//! Replays against a gRPC server on 127.0.0.1 (`proto::testing`, answering after a set delay): one record
//! per scheduled call, whatever the server does (answers, dies, is too slow), and nothing lost on Ctrl-C.
//!
//! The file is long because each way a replay can go (on time, read ahead, resumed, a dying server,
//! timeouts, back-pressure, signals, bad input) is one test over the same helpers.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use formats::records::read_records;
use formats::summary::Summary;
use invoker::dispatch::{replay, ReplayOptions};
use invoker::lookahead::{CallsFrom, LoadToReplay};
use invoker::schedule::Schedule;
use proto::testing::TestServer;

mod common;
use common::{constant_load, spawn_invoker};
use testkit::{wait_bounded, Lines};

/// Each test runs a spinning dispatcher: they take turns so they do not preempt one another.
use testkit::turn as serial;

fn options(dir: &Path, timeout: Duration) -> ReplayOptions {
    ReplayOptions {
        grpc_timeout: timeout,
        connect_timeout: Duration::from_secs(2),
        records: Some(dir.join("records.csv")),
        latency_file: Some(dir.join("lat.txt")),
        ..ReplayOptions::default()
    }
}

#[derive(Debug)]
struct Row {
    index: u64,
    endpoint: String,
    warmup: bool,
    scheduled_us: u64,
    dispatch_lag_ns: Option<u64>,
    outcome: String,
}

fn rows(path: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    read_records(path, |r, endpoint| {
        rows.push(Row {
            index: r.index,
            endpoint: endpoint.to_owned(),
            warmup: r.warmup,
            scheduled_us: r.scheduled_us,
            dispatch_lag_ns: r.dispatch_lag_ns,
            outcome: r.outcome.name().to_owned(),
        })
    })
    .unwrap();
    rows
}

/// A loopback port that was free a moment ago: nothing listens there.
fn unreachable_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// Every scheduled call has exactly one record, and the file holds them in scheduled order, whatever
/// order the calls ended in.
fn assert_one_record_each(rows: &[Row], scheduled: usize) {
    let indices: Vec<u64> = rows.iter().map(|r| r.index).collect();
    assert_eq!(indices, (0..scheduled as u64).collect::<Vec<_>>());
}

fn lag_quantile_us(rows: &[&Row], q: f64) -> f64 {
    let mut lags: Vec<u64> = rows.iter().filter_map(|r| r.dispatch_lag_ns).collect();
    lags.sort_unstable();
    assert!(!lags.is_empty());
    lags[((lags.len() - 1) as f64 * q) as usize] as f64 / 1e3
}

#[test]
fn every_call_is_recorded_and_leaves_on_time() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(Duration::ZERO).unwrap();
    let load = constant_load(dir.path(), &[server.endpoint()], 500, 3);
    let schedule = Schedule::from_file(&load, 1_000_000, 1, 2).unwrap();
    assert_eq!(schedule.calls.len(), 1500);
    let summary = replay(schedule, options(dir.path(), Duration::from_secs(2))).unwrap();
    assert_eq!(summary.records, 1500);
    assert_eq!(
        (summary.scheduled, summary.sent, summary.ok),
        (1000, 1000, 1000)
    );
    // Measured from real sends: never above the scheduled rate, and close to it when on time.
    assert!(
        summary.achieved_rate <= summary.scheduled_rate + 1e-9,
        "{summary:?}"
    );
    assert!(
        summary.achieved_rate > 0.9 * summary.scheduled_rate,
        "{summary:?}"
    );
    let rows = rows(&dir.path().join("records.csv"));
    assert_one_record_each(&rows, 1500);
    assert_eq!(rows.iter().filter(|r| r.warmup).count(), 500);
    assert!(rows.iter().all(|r| r.outcome == "ok"));
    // A loose bound (a shared CI machine): the benchmark measures the real figures.
    let all: Vec<&Row> = rows.iter().collect();
    assert!(lag_quantile_us(&all, 0.5) < 1000.0);
    let lat = std::fs::read_to_string(dir.path().join("lat.txt")).unwrap();
    assert_eq!(
        lat.lines().count(),
        1000,
        "one latency per measured successful call"
    );
    assert!(lat.lines().all(|l| l.parse::<u64>().is_ok()));
}

/// A load read ahead of the dispatcher (as the invoker binary and `loadgen run` replay it) is replayed
/// call for call as the same load held whole: same calls, same order, every call on time.
#[test]
fn a_load_read_ahead_is_replayed_call_for_call_as_one_held_whole() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(Duration::ZERO).unwrap();
    // 20,000 calls: more than two of the reader's batches of 8,192.
    let load = constant_load(dir.path(), &[server.endpoint()], 10_000, 2);
    let held = Schedule::from_file(&load, 1_000_000, 0, 2).unwrap();
    let read_ahead = LoadToReplay::open(&load, 1_000_000, 0, 2).unwrap();
    assert!(matches!(read_ahead.calls, CallsFrom::File(_)));
    let summary = replay(read_ahead, options(dir.path(), Duration::from_secs(2))).unwrap();
    assert_eq!((summary.records, summary.ok), (20_000, 20_000));
    let rows = rows(&dir.path().join("records.csv"));
    assert_one_record_each(&rows, 20_000);
    let due: Vec<u64> = rows.iter().map(|r| r.scheduled_us).collect();
    assert_eq!(due, held.calls.iter().map(|c| c.due_us).collect::<Vec<_>>());
    let all: Vec<&Row> = rows.iter().collect();
    assert!(lag_quantile_us(&all, 0.5) < 1000.0);
}

/// A resumed replay (`loadgen run --resume`) sends only the calls from its first position on, records
/// only those (in order, with their due times in the load), and starts with them: time 0 is `from_us`,
/// so the first resumed call, due 2 s into the load, leaves at once and on time, not 2 s late.
#[test]
fn a_resumed_replay_sends_and_records_only_the_calls_from_its_first_position() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(Duration::ZERO).unwrap();
    let load = constant_load(dir.path(), &[server.endpoint()], 400, 3);
    let held = Schedule::from_file(&load, 1_000_000, 0, 3).unwrap();
    let first = 850u64;
    let from_us = held.calls[first as usize].due_us;
    assert!((2_000_000..2_200_000).contains(&from_us), "{from_us}");
    let read_ahead = LoadToReplay::open(&load, 1_000_000, 0, 3).unwrap();
    let began = Instant::now();
    let summary = replay(
        read_ahead,
        ReplayOptions {
            resume: Some(invoker::options::Resumed { from_us, first }),
            ..options(dir.path(), Duration::from_secs(2))
        },
    )
    .unwrap();
    // Only the last second's 350 calls were sent: the run took about one second, not three.
    assert_eq!((summary.records, summary.sent, summary.ok), (350, 350, 350));
    assert!(
        began.elapsed() < Duration::from_millis(2500),
        "{:?}",
        began.elapsed()
    );
    let rows = rows(&dir.path().join("records.csv"));
    let indices: Vec<u64> = rows.iter().map(|r| r.index).collect();
    assert_eq!(indices, (first..1200).collect::<Vec<_>>());
    let due: Vec<u64> = rows.iter().map(|r| r.scheduled_us).collect();
    let expected: Vec<u64> = held.calls[first as usize..]
        .iter()
        .map(|c| c.due_us)
        .collect();
    assert_eq!(due, expected);
    // Each left at its due time less from_us after the start: lags stay small, none near 2 s.
    let all: Vec<&Row> = rows.iter().collect();
    assert!(lag_quantile_us(&all, 0.5) < 1000.0);
    assert!(rows
        .iter()
        .all(|r| r.dispatch_lag_ns.unwrap() < 500_000_000));
}

/// A workflow load, or closed-loop rounds, cannot be resumed: the replay says so before sending.
#[test]
fn only_a_schedule_in_time_can_be_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let load = constant_load(dir.path(), &["127.0.0.1:9".to_owned()], 10, 1);
    let schedule = Schedule::from_file(&load, 1_000_000, 0, 1).unwrap();
    let e = replay(
        schedule,
        ReplayOptions {
            resume: Some(invoker::options::Resumed {
                from_us: 0,
                first: 1,
            }),
            pacing: invoker::dispatch::Pacing::Loops(Vec::new()),
            ..options(dir.path(), Duration::from_secs(1))
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("rounds cannot be resumed"), "{e}");
}

/// A load file changed between its first reading and its replay fails the replay, naming the file and
/// the period, and leaves no records file claiming a whole run.
#[test]
fn a_load_changed_before_its_replay_fails_it_naming_the_period() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(Duration::ZERO).unwrap();
    let load = constant_load(dir.path(), &[server.endpoint()], 100, 2);
    let read_ahead = LoadToReplay::open(&load, 1_000_000, 0, 2).unwrap();
    constant_load(dir.path(), &[server.endpoint()], 90, 2);
    let e = replay(read_ahead, options(dir.path(), Duration::from_secs(2))).unwrap_err();
    let e = invoker::dispatch::error_chain(&e);
    assert!(
        e.contains("load.json")
            && e.contains("changed while it was being replayed: period 1 holds 90 calls, 100"),
        "{e}"
    );
    assert!(!dir.path().join("records.csv").exists());
}

#[test]
fn a_server_that_dies_mid_run_gives_errors_and_later_calls_still_leave_on_time() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut dying = TestServer::start(Duration::ZERO).unwrap();
    let healthy = TestServer::start(Duration::ZERO).unwrap();
    let endpoints = [dying.endpoint(), healthy.endpoint()];
    let load = constant_load(dir.path(), &endpoints, 200, 3);
    let schedule = Schedule::from_file(&load, 1_000_000, 0, 3).unwrap();
    let options = options(dir.path(), Duration::from_secs(1));
    let run = std::thread::spawn(move || replay(schedule, options).unwrap());
    // Past the first second of the run (200 calls a second to it), the server dies.
    assert!(dying.wait_for_calls(240, Duration::from_secs(20)));
    dying.stop();
    let summary: Summary = run.join().unwrap();
    assert_eq!(summary.records, 1200);
    let rows = rows(&dir.path().join("records.csv"));
    assert_one_record_each(&rows, 1200);
    let late_dying: Vec<&Row> = rows
        .iter()
        .filter(|r| r.endpoint == endpoints[0] && r.scheduled_us > 2_000_000)
        .collect();
    assert!(!late_dying.is_empty());
    assert!(
        late_dying.iter().all(|r| r.outcome.starts_with("error:")),
        "calls to a dead server are errors: {:?}",
        late_dying
            .iter()
            .map(|r| &r.outcome)
            .collect::<std::collections::BTreeSet<_>>()
    );
    let late_healthy: Vec<&Row> = rows
        .iter()
        .filter(|r| r.endpoint == endpoints[1] && r.scheduled_us > 2_000_000)
        .collect();
    assert!(late_healthy.iter().all(|r| r.outcome == "ok"));
    assert!(
        lag_quantile_us(&late_healthy, 0.5) < 1000.0,
        "schedule unaffected"
    );
}

#[test]
fn calls_slower_than_the_timeout_time_out_without_delaying_the_others() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let slow = TestServer::start(Duration::from_millis(1500)).unwrap();
    let fast = TestServer::start(Duration::ZERO).unwrap();
    let endpoints = [slow.endpoint(), fast.endpoint()];
    let load = constant_load(dir.path(), &endpoints, 20, 2);
    let schedule = Schedule::from_file(&load, 1_000_000, 0, 2).unwrap();
    let started = Instant::now();
    let summary = replay(schedule, options(dir.path(), Duration::from_millis(300))).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by schedule + timeout"
    );
    assert_eq!(summary.records, 80);
    let rows = rows(&dir.path().join("records.csv"));
    assert_one_record_each(&rows, 80);
    let by_endpoint: HashMap<&str, Vec<&Row>> = rows.iter().fold(HashMap::new(), |mut m, r| {
        m.entry(r.endpoint.as_str()).or_default().push(r);
        m
    });
    assert!(by_endpoint[endpoints[0].as_str()]
        .iter()
        .all(|r| r.outcome == "timeout"));
    let fast_rows = &by_endpoint[endpoints[1].as_str()];
    assert!(fast_rows.iter().all(|r| r.outcome == "ok"));
    assert!(lag_quantile_us(fast_rows, 0.5) < 1000.0);
    assert_eq!(summary.outcomes["timeout"], 40);
}

#[test]
fn back_pressure_is_recorded_not_hidden() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let slow = TestServer::start(Duration::from_millis(200)).unwrap();
    let load = constant_load(dir.path(), &[slow.endpoint()], 100, 1);
    let schedule = Schedule::from_file(&load, 1_000_000, 0, 1).unwrap();
    let mut o = options(dir.path(), Duration::from_secs(2));
    o.max_in_flight = 3;
    let summary = replay(schedule, o).unwrap();
    assert_eq!(summary.records, 100);
    let not_sent = summary
        .outcomes
        .get("not_sent:max_in_flight")
        .copied()
        .unwrap_or(0);
    assert!(not_sent > 50, "{:?}", summary.outcomes);
    assert_eq!(summary.sent + not_sent, 100);
}

#[test]
fn unreachable_endpoints_stop_the_run_unless_allowed() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = unreachable_endpoint();
    let load = constant_load(dir.path(), std::slice::from_ref(&endpoint), 10, 1);
    let schedule = Schedule::from_file(&load, 1_000_000, 0, 1).unwrap();
    let e = replay(
        schedule.clone(),
        options(dir.path(), Duration::from_secs(1)),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&endpoint) && e.contains("unreachable") && e.contains("--allow-unreachable"),
        "{e}"
    );
    let mut o = options(dir.path(), Duration::from_secs(1));
    o.allow_unreachable = true;
    let summary = replay(schedule, o).unwrap();
    assert_eq!(summary.records, 10);
    assert_eq!(summary.ok, 0);
    assert_eq!(
        summary.outcomes.get("error:unavailable"),
        Some(&10),
        "{:?}",
        summary.outcomes
    );
}

#[test]
fn sigint_loses_no_record() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(Duration::ZERO).unwrap();
    let load = constant_load(dir.path(), &[server.endpoint()], 200, 10);
    let records = dir.path().join("records.csv");
    let summary_path = dir.path().join("summary.json");
    let latf = dir.path().join("nested-name.lat");
    let child = Command::new(env!("CARGO_BIN_EXE_invoker"))
        .args([
            "-traceFile",
            load.to_str().unwrap(),
            "-min=false",
            "-warmup",
            "0",
            "-duration",
            "10",
        ])
        .args(["-latf", latf.to_str().unwrap(), "-grpcTimeout=2"])
        .args([
            "--records",
            records.to_str().unwrap(),
            "--summary",
            summary_path.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted once a good part of the run has been sent (200 calls a second).
    assert!(server.wait_for_calls(300, Duration::from_secs(20)));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = wait_bounded(child, Duration::from_secs(15));
    // Everything was written, and the status says the run was interrupted (128 + SIGINT).
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("(interrupted)"), "{stdout}");
    let rows = rows(&records);
    assert_one_record_each(&rows, 2000);
    let sent = rows.iter().filter(|r| r.outcome == "ok").count();
    let interrupted = rows
        .iter()
        .filter(|r| r.outcome == "not_sent:interrupted")
        .count();
    assert_eq!(sent + interrupted, 2000);
    assert!(
        sent > 100 && interrupted > 100,
        "sent {sent}, interrupted {interrupted}"
    );
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.records, 2000);
    assert_eq!(
        std::fs::read_to_string(&latf).unwrap().lines().count(),
        sent
    );
}

#[test]
fn a_bad_load_file_is_named_with_its_position() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let load = dir.path().join("load.json");
    std::fs::write(
        &load,
        "[\n  {\"timestamp\": [1, 2],\n   \"endpoint\": [\"a\", 3]}\n]",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_invoker"))
        .args([
            "-traceFile",
            load.to_str().unwrap(),
            "-latf",
            dir.path().join("l").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("load.json: line 3, column"), "{stderr}");
}

#[test]
fn a_pinned_dispatcher_says_so_and_a_bad_cpu_is_refused() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(Duration::ZERO).unwrap();
    let load = constant_load(dir.path(), &[server.endpoint()], 50, 1);
    let schedule = Schedule::from_file(&load, 1_000_000, 0, 1).unwrap();
    let mut o = options(dir.path(), Duration::from_secs(1));
    o.dispatcher_cpu = Some(0);
    let summary = replay(schedule.clone(), o).unwrap();
    assert_eq!(summary.ok, 50);
    assert!(
        summary.dispatcher.contains("pinned to CPU 0")
            && summary.dispatcher.contains(" time(s) while dispatching"),
        "{}",
        summary.dispatcher
    );
    let mut o = options(dir.path(), Duration::from_secs(1));
    o.dispatcher_cpu = Some(4096);
    let e = replay(schedule, o).unwrap_err().to_string();
    assert!(e.contains("--dispatcher-cpu 4096"), "{e}");
}

#[test]
fn a_run_that_cannot_start_leaves_earlier_files_as_they_were() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let load = constant_load(dir.path(), &[unreachable_endpoint()], 10, 1);
    for name in ["lat.csv", "records.csv", "summary.json"] {
        std::fs::write(dir.path().join(name), format!("earlier {name}\n")).unwrap();
    }
    let o = wait_bounded(
        spawn_invoker(&load, dir.path(), &["-duration", "1", "-grpcTimeout", "1"]),
        Duration::from_secs(30),
    );
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("unreachable"), "{e}");
    assert!(!e.contains("stack backtrace"), "{e}");
    for name in ["lat.csv", "records.csv", "summary.json"] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            format!("earlier {name}\n")
        );
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".partial")), "{names:?}");
}

#[test]
fn sigterm_exits_143_and_a_second_sigint_stops_waiting_for_calls_in_flight() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    // Answers come after 20 s: calls are in flight when the signals come.
    let slow = TestServer::start(Duration::from_secs(20)).unwrap();
    let load = constant_load(dir.path(), &[slow.endpoint()], 20, 5);
    let mut child = spawn_invoker(&load, dir.path(), &["-duration", "5", "-grpcTimeout", "60"]);
    let mut stderr = Lines::of(child.stderr.take().unwrap());
    assert!(slow.wait_for_calls(10, Duration::from_secs(20)));
    let pid = child.id() as i32;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGINT) };
    // The first stop says what it waits for; then the second stops the wait.
    stderr.wait_for("Ctrl-C again", Duration::from_secs(20));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let started = Instant::now();
    let o = wait_bounded(child, Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(o.status.code(), Some(130));
    let e = stderr.finish();
    assert!(
        e.contains("call(s) in flight") && e.contains("Ctrl-C again"),
        "{e}"
    );
    let slow_rows = rows(&dir.path().join("records.csv"));
    assert_one_record_each(&slow_rows, 100);
    assert!(slow_rows.iter().any(|r| r.outcome == "cancelled"));
    assert!(slow_rows
        .iter()
        .any(|r| r.outcome == "not_sent:interrupted"));
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    assert!(summary.interrupted && summary.incomplete);

    // SIGTERM: the same, with 143.
    let fast = TestServer::start(Duration::ZERO).unwrap();
    let load = constant_load(dir.path(), &[fast.endpoint()], 50, 20);
    let child = spawn_invoker(&load, dir.path(), &["-duration", "20"]);
    assert!(fast.wait_for_calls(20, Duration::from_secs(20)));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = wait_bounded(child, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(143));
    assert_one_record_each(&rows(&dir.path().join("records.csv")), 1000);
}

#[test]
fn a_start_in_the_future_says_when_the_replay_begins() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(Duration::ZERO).unwrap();
    let load = constant_load(dir.path(), &[server.endpoint()], 10, 1);
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + 2.5;
    let started = Instant::now();
    let o = wait_bounded(
        spawn_invoker(
            &load,
            dir.path(),
            &["-duration", "1", "--start-at", &format!("{at:.3}")],
        ),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("waiting") && e.contains("for --start-at"), "{e}");
    // It did wait: the run ends after the start instant plus its one second.
    assert!(
        started.elapsed() >= Duration::from_millis(3000),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn output_paths_it_cannot_write_fail_at_once_and_leave_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = TestServer::start(Duration::ZERO).unwrap();
    let load = constant_load(dir.path(), &[server.endpoint()], 10, 1);
    std::fs::set_permissions(&load, std::fs::Permissions::from_mode(0o644)).unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    // Run as `nobody`: CI runs as root, which ignores permission bits.
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_invoker"))
        .args([
            "-traceFile",
            load.to_str().unwrap(),
            "-min=false",
            "-duration",
            "1",
        ])
        .args(["-latf", locked.join("lat.csv").to_str().unwrap()])
        .args(["--records", locked.join("records.csv").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("locked") && e.contains("Permission denied"),
        "{e}"
    );
    assert_eq!(
        server.received(),
        0,
        "nothing is sent when the output cannot be written"
    );
    assert_eq!(std::fs::read_dir(&locked).unwrap().count(), 0);
}
