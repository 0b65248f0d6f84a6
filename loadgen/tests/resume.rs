//! `loadgen run --resume DIR`: a cut run (interrupted, or its loadgen killed with its workers) continued
//! into one whole run: every call recorded once, the records from before the cut kept as they were, the
//! gap recorded; refused for another plan, a directory no run wrote, and a run with nothing left to send.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{loadgen, ok, s, text, wait_bounded, LIMIT, LOADGEN};
use formats::records::read_records;
use formats::summary::Summary;

/// A per-second run of 200 synthetic functions (about 30 calls a second) for `seconds` seconds.
fn run_args<'a>(out: &'a str, seconds: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run", "-o", out, "-n", "200", "--minute", "false", "-d", seconds, "-w", "0", "--seed", "7",
    ];
    args.extend_from_slice(extra);
    args
}

/// Each record's line, by call index, and the outcomes counted.
fn records(dir: &Path) -> (BTreeMap<u64, String>, BTreeMap<String, u64>) {
    let mut lines = BTreeMap::new();
    let mut outcomes = BTreeMap::new();
    read_records(&dir.join("records.csv"), |r, endpoint| {
        let line = format!(
            "{} {} {endpoint} {} {:?} {:?} {}",
            r.index,
            r.worker,
            r.scheduled_us,
            r.send_lag_ns,
            r.latency_us,
            r.outcome.name()
        );
        assert!(
            lines.insert(r.index, line).is_none(),
            "call {} twice",
            r.index
        );
        *outcomes.entry(r.outcome.name().to_owned()).or_insert(0) += 1;
    })
    .unwrap();
    (lines, outcomes)
}

/// One record per call, in order, each answered: no call is left cut off.
fn assert_whole(records: &BTreeMap<u64, String>, outcomes: &BTreeMap<String, u64>, said: &str) {
    let calls = records.len() as u64;
    assert_eq!(
        records.keys().copied().collect::<Vec<_>>(),
        (0..calls).collect::<Vec<_>>()
    );
    assert_eq!(
        outcomes.get("ok").copied().unwrap_or(0),
        calls,
        "{outcomes:?}\n{said}"
    );
}

fn summary(dir: &Path) -> Summary {
    formats::summary::read(&dir.join("summary.json")).unwrap()
}

/// Starts `loadgen args`; returns it once its replay has begun (run.json is written just before the
/// first call, in the staging directory beside `out`) and run `after` seconds.
fn start_and_wait(args: &[&str], out: &Path, after: Duration) -> std::process::Child {
    let child = Command::new(LOADGEN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let began = testkit::wait_until(LIMIT, "the replay to begin (run.json written)", || {
        common::siblings(out, "staging")
            .iter()
            .any(|d| d.join("run.json").exists())
            .then(Instant::now)
    });
    testkit::wait_until(LIMIT, "the replay to have run a while", || {
        (began.elapsed() >= after).then_some(())
    });
    child
}

fn md5(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn an_interrupted_run_is_resumed_into_one_whole_run_and_only_by_its_own_plan() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = run_args(s(&out), "6", &[]);
    let child = start_and_wait(&args, &out, Duration::from_millis(2500));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let cut = wait_bounded(child, LIMIT);
    assert_eq!(cut.status.code(), Some(130), "{}", text(&cut));
    let (before, outcomes) = records(&out);
    let interrupted = outcomes["not_sent:interrupted"];
    assert!(interrupted > 20 && outcomes["ok"] > 20, "{outcomes:?}");
    let calls = before.len() as u64;

    // Refused, leaving the cut run as it was: another plan, and a directory no run wrote.
    let kept = md5(&out.join("records.csv"));
    let mut other = run_args(s(&out), "6", &["--resume", s(&out)]);
    let seed = other.iter().position(|a| *a == "7").unwrap();
    other[seed] = "8";
    let refused = loadgen(&other);
    assert!(!refused.status.success());
    let said = text(&refused);
    assert!(
        said.contains("made by another plan") && said.contains("seed"),
        "{said}"
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let refused = loadgen(&run_args(s(&out), "6", &["--resume", s(&empty)]));
    assert!(
        text(&refused).contains("no run.json there"),
        "{}",
        text(&refused)
    );
    assert_eq!(md5(&out.join("records.csv")), kept);

    // Resumed with its own flags: -o is where it is, whatever -o says.
    let resumed = loadgen(&run_args("elsewhere", "6", &["--resume", s(&out)]));
    let said = ok(&resumed);
    assert!(
        said.contains(&format!("{interrupted} calls to send")),
        "{said}"
    );
    let (after, outcomes) = records(&out);
    assert_eq!(after.len() as u64, calls, "one record per call");
    assert_whole(&after, &outcomes, &said);
    // Every record from before the cut is kept as it was.
    for (index, line) in &before {
        if !line.ends_with("not_sent:interrupted") {
            assert_eq!(&after[index], line);
        }
    }
    let s2 = summary(&out);
    assert_eq!((s2.records, s2.ok, s2.interrupted), (calls, calls, false));
    assert_eq!(s2.resumed.len(), 1);
    let session = &s2.resumed[0];
    assert_eq!(session.calls, interrupted);
    let first = calls - interrupted;
    assert_eq!(session.first_index, vec![Some(first)]);
    assert!(session.gap_s.unwrap() > 0.0, "{session:?}");
    assert!(!Path::new("elsewhere").exists());
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("**Resumed** (session 2"), "{report}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["sessions"].as_array().unwrap().len(), 2);

    // Whole now: nothing left to resume, and the run stays as it is.
    let whole = md5(&out.join("records.csv"));
    let again = loadgen(&run_args(s(&out), "6", &["--resume", s(&out)]));
    assert!(
        text(&again).contains("nothing to resume"),
        "{}",
        text(&again)
    );
    assert_eq!(md5(&out.join("records.csv")), whole);
}

#[test]
fn a_run_whose_loadgen_was_killed_is_resumed_from_its_workers_chunks() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let extra = [
        "--workers",
        "3",
        "--records-chunk",
        "5",
        "--start-lead",
        "1",
    ];
    let args = run_args(s(&out), "8", &extra);
    let child = start_and_wait(&args, &out, Duration::from_secs(4));
    // Killed: its workers die with it, and it leaves its staging directory with the chunks received.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    wait_bounded(child, LIMIT);
    let staging = common::siblings(&out, "staging");
    assert_eq!(staging.len(), 1, "{staging:?}");
    let cut = &staging[0];
    let received: usize = (0..3)
        .map(|k| {
            std::fs::read_dir(cut.join(format!("workers/{k}"))).map_or(0, |d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("records-"))
                    .count()
            })
        })
        .sum();
    assert!(received >= 3, "chunks arrived before the kill: {received}");
    let killed_at = SystemTime::now();

    let mut resume = run_args(s(&out), "8", &extra);
    resume.extend_from_slice(&["--resume", s(cut)]);
    let said = ok(&loadgen(&resume));
    let (after, outcomes) = records(cut);
    let calls = after.len() as u64;
    assert!(calls > 100, "{calls}");
    assert_whole(&after, &outcomes, &said);
    // Each call was recorded by the worker it was dealt to, in either session.
    for line in after.values() {
        let mut fields = line.split(' ');
        let index: u64 = fields.next().unwrap().parse().unwrap();
        let worker: u64 = fields.next().unwrap().parse().unwrap();
        assert_eq!(index % 3, worker, "{line}");
    }
    let s2 = summary(cut);
    assert_eq!((s2.records, s2.ok), (calls, calls));
    let session = &s2.resumed[0];
    // Every worker had sent chunks: each takes up after what arrived, and only the rest is sent.
    assert_eq!(session.first_index.len(), 3);
    assert!(
        session
            .first_index
            .iter()
            .all(|f| f.is_some_and(|i| i >= 15)),
        "{session:?}"
    );
    assert!(session.calls < calls, "{session:?}");
    // The load stood still from the point it took up at (before the kill) to the resumed start.
    let gap = session.gap_s.unwrap();
    let resumed_at = SystemTime::UNIX_EPOCH + Duration::from_micros(session.start_unix_us);
    let after_kill = resumed_at.duration_since(killed_at).unwrap().as_secs_f64();
    assert!(
        gap >= after_kill && gap < after_kill + 8.0,
        "gap {gap} s; the resumed session began {after_kill} s after the kill"
    );
}
