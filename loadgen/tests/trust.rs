//! Results a user can trust, through the binaries: a command that fails at any stage leaves the earlier
//! run or experiment byte for byte, a dry run never writes into an existing directory, a finished
//! experiment is replaced only when asked, `--resume` reruns a step whose records do not hold up, rates
//! divide by the window, flags that change nothing are refused, and the first commands a newcomer types
//! (`-h`, `-V`, a typo) get a straight answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod common;
use common::{failed_sibling, loadgen, ok, s, siblings, text, write_file};

/// Every file under `dir` with its bytes: what a failed command must leave as it was.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
                out.insert(p.strip_prefix(dir).unwrap().to_owned(), Vec::new());
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(p.strip_prefix(dir).unwrap().to_owned(), bytes);
            }
        }
    }
    out
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A per-second run of 2 s (on 100 synthetic functions, unless `extra` gives a trace) into `out`.
fn small_run(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        "-o",
        s(out),
        "-m",
        "false",
        "-w",
        "0",
        "-d",
        "2",
        "--seed",
        "5",
        "-q",
    ];
    args.extend_from_slice(extra);
    loadgen(&args)
}

#[test]
fn a_run_that_fails_at_any_stage_leaves_the_earlier_run_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let said = ok(&small_run(&out, &[]));
    // Progress lines name the files where the user will find them, not where they were staged.
    assert!(!said.contains(".staging-"), "{said}");
    let before = snapshot(&out);
    assert!(before.contains_key(Path::new("records.csv")), "{before:?}");
    let not_json = dir.path().join("profile.json");
    std::fs::write(&not_json, "not json").unwrap();
    // A port another process holds, for the workers' address.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().to_string();
    // Each fails at another stage: reading the trace, the profile, the window, a taken port, an empty
    // shaped load.
    for (extra, cause) in [
        (&["-t", "/nonexistent"][..], "/nonexistent"),
        (&["-p", s(&not_json)], "profile.json"),
        (&["--start", "9999"], "start period 9999"),
        (
            &["--workers", "2", "--advertise-addr", &taken],
            "cannot serve the workers there",
        ),
        (
            &["--rps", "0.001", "--rps-proxy", "emu-1ms-16mi"],
            "no function",
        ),
    ] {
        let o = small_run(&out, extra);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", text(&o));
        assert!(stderr(&o).contains(cause), "{extra:?}: {}", text(&o));
        assert!(
            snapshot(&out) == before,
            "{extra:?} changed the earlier run: {}",
            text(&o)
        );
        // Nothing was replayed, so nothing is kept beside it either.
        assert_eq!(siblings(&out, "staging"), Vec::<PathBuf>::new());
        assert_eq!(siblings(&out, "failed"), Vec::<PathBuf>::new());
    }
    // A run that completes replaces it whole.
    ok(&small_run(&out, &["-i", "equidistant"]));
    assert!(snapshot(&out) != before);
}

#[test]
fn a_dry_run_never_writes_into_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&small_run(&out, &[]));
    let before = snapshot(&out);
    let o = small_run(
        &out,
        &["--workers", "2", "--launcher", "kubernetes", "--dry-run"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(stderr(&o).contains("does not exist yet"), "{}", text(&o));
    assert!(snapshot(&out) == before);
    // Into a new directory it writes the Job.
    let fresh = dir.path().join("fresh");
    ok(&small_run(
        &fresh,
        &["--workers", "2", "--launcher", "kubernetes", "--dry-run"],
    ));
    assert!(fresh.join("invokers-job.yaml").is_file());
}

/// A per-second experiment base on the local fleet.
const BASE: &str =
    "[run]\nprofile = \"builtin\"\nminute = false\nwarmup-duration = 0\nduration = 1\nseed = 4\n";

/// An experiment, quiet: no live view in the tests' output.
fn experiment(file: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    common::experiment(file, out, &[&["-q"], extra].concat())
}

#[test]
fn a_finished_experiment_is_kept_unless_resumed_or_forced() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "exp.toml",
        &format!("{BASE}[sweep]\nfunctions = [40, 50]\n"),
    );
    let out = dir.path().join("exp");
    ok(&experiment(&file, &out, &[]));
    let before = snapshot(&out);
    // Run again without a word: refused.
    let o = experiment(&file, &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("finished experiment") && stderr(&o).contains("--resume"),
        "{}",
        text(&o)
    );
    assert!(snapshot(&out) == before);
    // A dry run checks and prints, and writes nothing into it.
    let t = ok(&experiment(&file, &out, &["--dry-run"]));
    assert!(t.contains("nothing written"), "{t}");
    assert!(snapshot(&out) == before);
    // A real experiment that fails at step 0 leaves it byte for byte, and keeps its own work beside it.
    let failing = write_file(
        dir.path(),
        "fail.toml",
        &format!("{BASE}[sweep]\nfunctions = [40, 50]\n[hooks]\nafter-step = \"exit 3\"\n"),
    );
    let o = experiment(&failing, &out, &["--force"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(snapshot(&out) == before, "{}", text(&o));
    let failed = failed_sibling(&out, &o);
    assert!(failed.join("steps/000/records.csv").is_file());
    assert!(failed.join("results.csv").is_file());

    // --resume: a step whose records were cut short is run again; the other is kept.
    let records = out.join("steps/001/records.csv");
    let text_before = std::fs::read_to_string(&records).unwrap();
    let lines: Vec<&str> = text_before.lines().collect();
    std::fs::write(&records, lines[..lines.len() / 2].join("\n") + "\n").unwrap();
    let t = ok(&experiment(&file, &out, &["--resume"]));
    assert_eq!(t.matches("already done (--resume)").count(), 1, "{t}");
    assert!(t.contains("step   1  run again (--resume)"), "{t}");
    assert!(t.contains("rows for"), "{t}");
    let rerun = std::fs::read_to_string(out.join("steps/001/records.csv")).unwrap();
    assert_eq!(rerun.lines().count(), lines.len(), "{t}");
    // The kept step is the earlier one, byte for byte.
    assert_eq!(
        std::fs::read(out.join("steps/000/records.csv")).unwrap(),
        before[Path::new("steps/000/records.csv")]
    );
}

#[test]
fn a_dry_run_opens_every_steps_files_and_settings_that_change_nothing_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "exp.toml",
        "[run]\nprofile = \"nonexist.json\"\nminute = false\nduration = 1\n[sweep]\nfunctions = [10]\n",
    );
    let out = dir.path().join("exp");
    let o = experiment(&file, &out, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(stderr(&o).contains("nonexist.json"), "{}", text(&o));
    assert!(!out.exists());
    // `functions` sizes a synthetic trace; with `rps` the steps would be identical, labelled apart.
    let file = write_file(
        dir.path(),
        "same.toml",
        &format!("{BASE}[sweep]\nfunctions = [10, 20]\nrps = [5]\n"),
    );
    let o = experiment(&file, &out, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(stderr(&o).contains("leave -n out"), "{}", text(&o));
    let o = loadgen(&["run", "--rps", "5", "-n", "10"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(stderr(&o).contains("leave -n out"), "{}", text(&o));
}

#[test]
fn functions_under_a_run_trace_pick_its_samples() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    for n in ["40", "60"] {
        let sample = trace.join(format!("sample-{n}"));
        ok(&loadgen(&[
            "synth",
            "-o",
            s(&sample),
            "-n",
            n,
            "--periods",
            "2",
            "-m",
            "false",
            "--seed",
            "4",
        ]));
    }
    // As the README documents it: `trace` in [run], `functions` in [sweep].
    let file = write_file(
        dir.path(),
        "exp.toml",
        &format!("{BASE}trace = \"trace\"\n[sweep]\nfunctions = [40, 60]\n"),
    );
    let out = dir.path().join("exp");
    ok(&experiment(&file, &out, &[]));
    for (step, n) in [("000", "40"), ("001", "60")] {
        let params =
            std::fs::read_to_string(out.join(format!("steps/{step}/params.json"))).unwrap();
        assert!(params.contains(&format!("sample-{n}")), "{params}");
        let report = std::fs::read_to_string(out.join(format!("steps/{step}/report.md"))).unwrap();
        assert!(report.contains(&format!("sample-{n}")), "{report}");
    }
}

#[test]
fn instances_footprints_must_fit_the_fleets_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // Every function its own emulated function, each instance holding its median memory: at scale 1,
    // far more than 64 MiB. Refused before anything is deployed, with the numbers and the way out.
    let o = small_run(
        &out,
        &[
            "-p",
            "trace",
            "--local-memory-mb",
            "64",
            "--local-scale",
            "1",
        ],
    );
    let e = stderr(&o);
    assert!(!o.status.success(), "{e}");
    for needed in ["MiB of memory at --local-scale 1", "--local-memory-mb 64"] {
        assert!(e.contains(needed), "`{needed}` not in: {e}");
    }
    assert!(!out.exists(), "nothing deployed, nothing written");
    // The scale it names fits.
    let fitting = e
        .split("shrink the footprints with --local-scale ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no scale named: {e}"));
    assert!(fitting.parse::<f64>().is_ok_and(|f| f < 1.0), "{e}");
    let pass = [
        "-p",
        "trace",
        "--local-memory-mb",
        "64",
        "--local-scale",
        fitting,
    ];
    ok(&small_run(&out, &pass));
    // `auto` shrinks the footprints to fit, and the report says how much they hold.
    ok(&small_run(
        &out,
        &["-p", "trace", "--local-memory-mb", "64"],
    ));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let held: u64 = report
        .split("the instances' footprints hold ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no footprint figure in {report}"));
    assert!(held > 0 && held <= 64, "{report}");
    assert!(report.contains("of the 64 MiB memory budget"), "{report}");
}

#[test]
fn rates_divide_by_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // Exactly 2 calls a second for 5 s: once reported as 2.2/s (4 s between the first and last due call).
    ok(&loadgen(&[
        "run",
        "-o",
        s(&out),
        "--rps",
        "2",
        "-i",
        "equidistant",
        "-m",
        "false",
        "-d",
        "5",
        "-w",
        "0",
        "-q",
    ]));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["scheduled"], 10);
    assert_eq!(summary["scheduled_rate"], 2.0, "{summary}");
    let achieved = summary["achieved_rate"].as_f64().unwrap();
    // Sent over the window's 5 s (or a little more, had the last call left late): never above 2/s.
    assert!(achieved <= 2.0 && achieved > 1.9, "{summary}");
}

#[test]
fn help_version_and_typos_get_straight_answers() {
    for binary in [
        common::LOADGEN.to_owned(),
        sibling_binary("invoker"),
        sibling_binary("emulated-function"),
    ] {
        for flag in ["-h", "--help", "-V", "--version"] {
            let o = std::process::Command::new(&binary)
                .arg(flag)
                .output()
                .unwrap();
            assert!(o.status.success(), "{binary} {flag}: {}", text(&o));
            assert!(!o.stdout.is_empty(), "{binary} {flag}");
        }
    }
    let o = loadgen(&["run", "-h"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = loadgen(&["runn", "-d", "5"]);
    assert!(
        stderr(&o).contains("unknown subcommand `runn`") && stderr(&o).contains("`run`"),
        "{}",
        text(&o)
    );
    let o = loadgen(&["run", "--rsp", "5"]);
    assert!(stderr(&o).contains("did you mean `--rps`"), "{}", text(&o));
    let o = loadgen(&["run", "--seed", "-1"]);
    assert!(stderr(&o).contains("is not a seed"), "{}", text(&o));
}

/// A binary of this workspace built beside `loadgen`.
fn sibling_binary(name: &str) -> String {
    let path = Path::new(common::LOADGEN).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is not built (cargo test --workspace builds it)",
        path.display()
    );
    path.display().to_string()
}
