//! Output integrity and the first minutes of use, through the `loadgen` binary: outputs appear whole or
//! not at all, runs never mix in one directory, flags are checked before anything is written, interrupts
//! say what happened (exit status 130), and every refusal is one clear line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::{loadgen, ok, run_loadgen, s, text, wait_bounded, FakeCluster, LIMIT, LOADGEN};
use testkit::Lines;

/// Every entry under `dir`, relative, sorted: what a failed command must leave unchanged.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A 6-function, 3-period synthetic trace in `dir/name`, with `extra` synth flags.
fn synth(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let trace = dir.join(name);
    let mut args = vec!["synth", "-o", s(&trace), "-n", "6", "--periods", "3"];
    args.extend_from_slice(extra);
    ok(&loadgen(&args));
    trace
}

/// A small per-second run: `-m false -w 0 --seed 3` (100 synthetic functions unless `extra` gives a
/// trace), plus `extra` (`-d` among them).
fn small_run(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", "-o", s(out), "-m", "false", "-w", "0", "--seed", "3"];
    args.extend_from_slice(extra);
    loadgen(&args)
}

#[test]
fn a_second_run_into_the_same_directory_replaces_the_first_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&small_run(&out, &["-d", "2"]));
    assert!(out.join("trace").is_dir() && out.join("report.md").is_file());
    // The same directory again, with a real trace this time: no synthetic trace/ is written, and the
    // first run's is gone, so the directory holds one run only.
    let trace = out.join("trace");
    let kept = dir.path().join("kept-trace");
    std::fs::rename(&trace, &kept).unwrap();
    ok(&small_run(&out, &["-d", "2", "-t", s(&kept)]));
    assert!(!out.join("trace").exists(), "{:?}", listing(&out));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains(&kept.display().to_string()), "{report}");
    let names = listing(&out);
    assert!(names.iter().all(|n| !n.ends_with(".partial")), "{names:?}");
    // Files loadgen did not write: refused, untouched; with --force, kept beside the run.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let before = listing(&out);
    let o = small_run(&out, &["-d", "2", "-t", s(&kept)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("notes.txt") && stderr(&o).contains("--force"),
        "{}",
        text(&o)
    );
    assert_eq!(listing(&out), before);
    ok(&small_run(&out, &["-d", "2", "-t", s(&kept), "--force"]));
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn flags_are_checked_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    for (flags, message) in [
        (&["-d", "0"][..], "invalid value '0' for '--duration"),
        (&["-d", "1", "--grpc-timeout", "1e20"], "--grpc-timeout"),
        (
            &["-d", "1", "--dispatcher-cpu", "4000"],
            "--dispatcher-cpu 4000",
        ),
        (&["-d", "1", "--local-threads", "0"], "--local-threads"),
    ] {
        let o = small_run(&out, flags);
        assert!(!o.status.success(), "{flags:?}");
        assert!(stderr(&o).contains(message), "{flags:?}: {}", text(&o));
        assert!(!out.exists(), "{flags:?} wrote {:?}", listing(&out));
    }
    // generate -o DIR: refused, and nothing written beside it.
    let trace = synth(dir.path(), "trace", &[]);
    let target = dir.path().join("a-dir");
    std::fs::create_dir(&target).unwrap();
    let before = listing(dir.path());
    let o = loadgen(&[
        "generate",
        "-t",
        s(&trace),
        "-p",
        "builtin",
        "-d",
        "1",
        "-w",
        "0",
        "-o",
        s(&target),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is a directory"), "{}", text(&o));
    assert_eq!(listing(dir.path()), before);
}

#[test]
fn input_edge_cases_give_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let trace = synth(dir.path(), "trace", &["-m", "false"]);
    let generate = |extra: &[&str]| {
        let out = dir.path().join("out/load.json");
        let mut args = vec![
            "generate",
            "-t",
            s(&trace),
            "-p",
            "builtin",
            "-m",
            "false",
            "-w",
            "0",
            "-d",
            "3",
            "-o",
            s(&out),
        ];
        args.extend_from_slice(extra);
        loadgen(&args)
    };
    let invocations = trace.join("invocations.csv");
    let original = std::fs::read(&invocations).unwrap();

    // Blank lines (at the end, as an editor leaves them, and inside) are ignored.
    let mut blank = original.clone();
    blank.extend_from_slice(b"\n\n");
    std::fs::write(&invocations, &blank).unwrap();
    let with_blanks = ok(&generate(&[]));
    assert!(
        with_blanks.contains("6 read")
            && with_blanks.contains("(0 without durations, 0 without memory"),
        "{with_blanks}"
    );

    // A byte that is not UTF-8: the line and column, in words.
    let mut bad = original.clone();
    let second_line = bad.iter().position(|&b| b == b'\n').unwrap() + 1;
    bad[second_line + 2] = 0xff;
    std::fs::write(&invocations, &bad).unwrap();
    let o = generate(&[]);
    let e = stderr(&o);
    assert!(
        e.contains(
            "invocations.csv: line 2: column 1 (`HashOwner`): not UTF-8 text (invalid byte 3"
        ),
        "{e}"
    );
    assert!(!e.contains("Utf8") && !e.contains("pos:"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");

    // A window with no call: the empty load is written, with one warning line.
    let mut zero = String::from_utf8(original).unwrap();
    zero = zero
        .lines()
        .enumerate()
        .map(|(i, line)| {
            if i == 0 {
                return line.to_owned();
            }
            let f: Vec<&str> = line.split(',').collect();
            let mut f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
            for v in f.iter_mut().skip(4) {
                *v = "0".into();
            }
            f.join(",")
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&invocations, zero + "\n").unwrap();
    let o = generate(&["--keep-idle"]);
    let t = ok(&o);
    assert!(t.contains("sends nothing"), "{t}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/load.json"))
            .unwrap()
            .matches("timestamp")
            .count(),
        3
    );
}

#[test]
fn go_style_typos_are_named_with_the_nearest_flag() {
    let o = loadgen(&["run", "-dgb"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown flag `-dgb`") && stderr(&o).contains("`-dbg`"),
        "{}",
        text(&o)
    );
    let o = loadgen(&["generate", "-duration", "-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("invalid value '-1' for '--duration"),
        "{}",
        text(&o)
    );
    let o = loadgen(&["generate", "-tracefile", "x"]);
    assert!(
        stderr(&o).contains("unknown flag `-tracefile`") && stderr(&o).contains("-trace"),
        "{}",
        text(&o)
    );
}

#[test]
fn messages_give_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let o = loadgen(&[
        "generate",
        "-t",
        s(&dir.path().join("missing")),
        "-p",
        "builtin",
    ]);
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    for cause in ["No such file or directory", "no invocations"] {
        assert!(e.matches(cause).count() <= 1, "{e}");
    }
    // clean with no cluster: what failed, and kubectl's own first line.
    let cluster = FakeCluster::new();
    let o = run_loadgen(
        &["clean"],
        &cluster.env(&[("FAKE_KUBE_UNREACHABLE", "1")]),
        Duration::from_secs(20),
    );
    let e = stderr(&o);
    assert!(!o.status.success());
    assert!(
        e.contains("listing loadgen's Knative services") && e.contains("connection to the server"),
        "{e}"
    );
    assert!(!e.contains("proxy `clean`"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn sigint_twice_leaves_valid_files_marked_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // Every call takes 38 s (mostly waiting), so calls are in flight when Ctrl-C comes.
    let mut child = Command::new(LOADGEN)
        .args([
            "run",
            "-o",
            s(&out),
            "-m",
            "false",
            "-w",
            "0",
            "-d",
            "20",
            "--rps",
            "2",
            "--rps-proxy",
            "emu-37p9s-16mi",
            "--cpu-share",
            "0.01",
            "--seed",
            "5",
            "--local-scale",
            "1",
            "--grpc-timeout",
            "120",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The live view, printed as lines when stdout is not a terminal, says when calls are in flight; the
    // first Ctrl-C then says it waits for them, and the second ends that wait.
    let mut stdout = Lines::of(child.stdout.take().unwrap());
    let mut stderr = Lines::of(child.stderr.take().unwrap());
    let in_flight = |line: &str| {
        line.starts_with("live t=")
            && line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("in_flight="))
                .is_some_and(|n| n.parse::<u64>().unwrap_or(0) > 0)
    };
    stdout.wait_for_line("a live line with calls in flight", LIMIT, in_flight);
    let pid = child.id() as i32;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGINT) };
    stderr.wait_for("Ctrl-C again", Duration::from_secs(30));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let stopping = std::time::Instant::now();
    let o = wait_bounded(child, Duration::from_secs(60));
    assert!(
        stopping.elapsed() < Duration::from_secs(30),
        "the second Ctrl-C did not stop the wait"
    );
    let (stdout, stderr) = (stdout.finish(), stderr.finish());
    assert_eq!(o.status.code(), Some(130), "{stdout}\n{stderr}");
    let records = std::fs::read_to_string(out.join("records.csv")).unwrap();
    assert!(
        records.starts_with(formats::records::RECORDS_HEADER),
        "{records}"
    );
    let summary = formats::summary::read(&out.join("summary.json")).unwrap();
    assert_eq!(records.lines().count() as u64 - 1, summary.scheduled_total);
    assert_eq!(summary.records_schema, formats::records::RECORDS_SCHEMA);
    assert!(summary.interrupted && summary.incomplete, "{summary:?}");
    assert!(
        summary.outcomes.get("cancelled").copied().unwrap_or(0) > 0,
        "{:?}",
        summary.outcomes
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("**Incomplete**"), "{report}");
    // vSwarm's latency file: one line per call answered after the warm-up, as the summary counts them.
    let latencies = std::fs::read_to_string(out.join("lat.csv")).unwrap();
    assert_eq!(latencies.lines().count() as u64, summary.ok, "{latencies}");
}

/// Runs `loadgen args` as the unprivileged `nobody` (CI runs as root, which ignores permission bits).
fn as_nobody(args: &[&str]) -> Output {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", LOADGEN])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    wait_bounded(c.spawn().unwrap(), Duration::from_secs(120))
}

/// World-readable traces (sampled, per second; raw, per minute) and a directory `nobody` cannot write.
fn readable_inputs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let open = |p: &Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    open(dir, 0o755);
    let trace = synth(dir, "trace", &["-m", "false"]);
    let raw = synth(dir, "raw", &["--layout", "raw"]);
    for d in [&trace, &raw] {
        open(d, 0o755);
        for f in std::fs::read_dir(d).unwrap() {
            open(&f.unwrap().path(), 0o644);
        }
    }
    let locked = dir.join("locked");
    std::fs::create_dir(&locked).unwrap();
    open(&locked, 0o755);
    (trace, raw, locked)
}

#[test]
fn no_command_leaves_anything_partial_where_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let (trace, raw, locked) = readable_inputs(dir.path());
    let t = s(&trace);
    let out = |name: &str| locked.join(name).display().to_string();
    let (load, run, synth, catalogue, clean, samples, png) = (
        out("load.json"),
        out("run"),
        out("synth"),
        out("profile.json"),
        out("clean"),
        out("samples"),
        out("png"),
    );
    let base = [
        "-t", t, "-p", "builtin", "-m", "false", "-w", "0", "-d", "3",
    ];
    let commands: Vec<Vec<&str>> = vec![
        [&["generate"][..], &base, &["-o", &load]].concat(),
        [&["run"][..], &base, &["-o", &run]].concat(),
        vec!["synth", "-o", &synth, "-n", "3", "--periods", "2"],
        vec!["catalogue", "-o", &catalogue],
        vec!["preprocess", "-t", s(&raw), "-o", &clean, "-d", "3"],
        vec![
            "sample", "-t", t, "-o", &samples, "--min", "2", "--step", "1", "--max", "3",
            "--trials", "2",
        ],
        vec!["plot", "-p", "builtin", "-o", &png],
    ];
    for args in commands {
        let o = as_nobody(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let e = stderr(&o);
        assert!(
            e.contains(s(&locked)) || e.contains("Permission denied"),
            "{args:?}: {e}"
        );
        assert!(
            listing(&locked).is_empty(),
            "{args:?} left {:?}",
            listing(&locked)
        );
    }
}
