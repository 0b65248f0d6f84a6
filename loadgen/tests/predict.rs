//! `loadgen predict`: a run's load through Knative's autoscaler model, with no call sent. Its figures
//! are worked out here from the run's own records: one function at 5 calls/s of ~98 ms stays on one
//! instance, which the first call makes (1 s cold start).

mod common;
use common::{loadgen, ok, s, text};
use formats::records::read_records;

/// A 10 s run at 5 calls/s on the local fleet, in `dir/run`, its load drawn with seed 3.
fn run(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("run");
    ok(&loadgen(&[
        "run",
        "-o",
        s(&out),
        "--rps",
        "5",
        "-m",
        "false",
        "-d",
        "10",
        "-w",
        "0",
        // One load for every run of the test: what predict makes of it is then fixed too.
        "--seed",
        "3",
    ]));
    out
}

fn summary(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn a_run_s_load_is_predicted_from_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = run(dir.path());
    let mut due = Vec::new();
    read_records(&run_dir.join("records.csv"), |r, _| {
        due.push(r.scheduled_us)
    })
    .unwrap();
    due.sort_unstable();
    let first = due[0];
    let predicted = dir.path().join("predict");
    // Its periods are seconds: the records say so, so no `-m false` is needed.
    let said = ok(&loadgen(&["predict", s(&run_dir), "-o", s(&predicted)]));
    assert!(said.contains("predict    1 functions, 50 calls"), "{said}");
    let p = summary(&predicted);
    assert_eq!(p["calls"], due.len() as u64);
    // The first call makes the one instance; every call due before it is ready (1 s later) waits for it.
    let waited = due.iter().filter(|&&d| d < first + 1_000_000).count() as u64;
    assert_eq!(p["cold_starts"], waited, "{p}");
    assert_eq!(
        (
            p["instances_created"].as_u64(),
            p["peak_instances"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        p["queue_delay_us"]["p99"], 1_000_000,
        "the first call waits the whole cold start"
    );
    // Alive from the first call to the end of the load, or of its last call if later (the stable window
    // still holds its calls): a call due before 10 s lasts 98 ms or so, well under half a second.
    let seconds = p["instance_seconds"].as_f64().unwrap();
    let to_the_end = 10.0 - first as f64 / 1e6;
    assert!(
        (to_the_end..to_the_end + 0.5).contains(&seconds),
        "{to_the_end} {p}"
    );
    // Its memory: the proxy's median, 128 MiB.
    let mb_s = p["memory_mb_seconds"].as_f64().unwrap();
    assert!((mb_s - seconds * 128.0).abs() < 1e-6, "{p}");
    // scale.csv: a row per tick (2 s) of the 10 s, one instance desired and ready from the first.
    let scale = std::fs::read_to_string(predicted.join("scale.csv")).unwrap();
    let rows: Vec<&str> = scale.lines().collect();
    assert_eq!(rows[0], "function,time_s,desired,ready,instances,queued");
    let ticks: Vec<Vec<&str>> = rows[1..].iter().map(|r| r.split(',').collect()).collect();
    assert_eq!(
        ticks.iter().map(|t| t[1]).collect::<Vec<_>>(),
        ["2", "4", "6", "8", "10"]
    );
    assert!(ticks.iter().all(|t| t[2..5] == ["1", "1", "1"]), "{scale}");
    // And drawn.
    for file in ["predict_scale.png", "predict_scale.svg"] {
        assert!(
            predicted.join(file).metadata().unwrap().len() > 1000,
            "{file}"
        );
    }
}

#[test]
fn the_autoscaler_s_knobs_and_the_platform_s_change_the_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = run(dir.path());
    let predict = |name: &str, flags: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec!["predict", s(&run_dir), "-m", "false", "-o", s(&out)];
        args.extend_from_slice(flags);
        ok(&loadgen(&args));
        summary(&out)
    };
    // min-scale 3: three instances from the first tick on.
    let floor = predict("floor", &["--knative-min-scale", "3"]);
    assert_eq!(floor["peak_instances"], 3, "{floor}");
    assert_eq!(floor["instances_created"], 3, "{floor}");
    // Cold starts of 200 to 300 ms: no call waits longer.
    let quick = predict("quick", &["--cold-start-ms", "p0:200,p100:300"]);
    let p99 = quick["queue_delay_us"]["p99"].as_u64().unwrap();
    assert!((200_000..=300_000).contains(&p99), "{quick}");
    assert_eq!(
        quick["settings"]["cold_start_ms"],
        serde_json::json!([[0.0, 200.0], [100.0, 300.0]])
    );
    // One call per instance with a target of 1: more instances than the unlimited default's one.
    let single = predict("single", &["--container-concurrency", "1"]);
    assert!(
        single["instances_created"].as_u64().unwrap() > 1,
        "{single}"
    );
}

/// `generate` with no deployer leaves a load whose endpoints are its proxies' names, and no
/// endpoints.json: predict reads it as it is.
#[test]
fn a_generated_load_with_no_deployment_is_predicted() {
    let dir = tempfile::tempdir().unwrap();
    let load = dir.path().join("load.json");
    ok(&loadgen(&[
        "generate",
        "-p",
        "builtin",
        "--rps",
        "5",
        "-m",
        "false",
        "-d",
        "10",
        "-w",
        "0",
        "-o",
        s(&load),
    ]));
    assert!(!dir.path().join("endpoints.json").exists());
    let out = dir.path().join("predict");
    ok(&loadgen(&[
        "predict",
        s(dir.path()),
        "-m",
        "false",
        "-o",
        s(&out),
    ]));
    let p = summary(&out);
    assert_eq!(
        (p["calls"].as_u64(), p["instances_created"].as_u64()),
        (Some(50), Some(1)),
        "{p}"
    );
}

/// From the trace (or shape) flags, predict makes the load `generate` would write, never writing it, and
/// predicts exactly what it predicts of the written load.
#[test]
fn a_load_made_from_the_flags_is_predicted_as_the_written_one() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [
        "-p",
        "builtin",
        "--rps",
        "20",
        "--rps-step",
        "20",
        "--rps-every",
        "10",
        "-m",
        "false",
        "-d",
        "30",
        "-w",
        "0",
        "--seed",
        "3",
    ];
    let load = dir.path().join("written/load.json");
    let mut generate = vec!["generate", "-o", s(&load)];
    generate.extend(shape);
    let mapping = dir.path().join("written/mapping.json");
    generate.extend(["--mapping", s(&mapping)]);
    ok(&loadgen(&generate));
    let from_file = dir.path().join("from-file");
    ok(&loadgen(&[
        "predict",
        s(&dir.path().join("written")),
        "-o",
        s(&from_file),
        "-m",
        "false",
        "--seed",
        "3",
    ]));
    let streamed = dir.path().join("streamed");
    let mut predict = vec!["predict", "-o", s(&streamed)];
    predict.extend(shape);
    let said = ok(&loadgen(&predict));
    assert!(
        said.contains("predict    1 functions, 1200 calls"),
        "{said}"
    );
    assert!(!streamed.join("load.json").exists());
    assert!(streamed.join("mapping.json").is_file());
    let (a, b) = (summary(&from_file), summary(&streamed));
    assert_eq!(a["functions"], b["functions"], "{a}\n{b}");
    assert_eq!(
        std::fs::read_to_string(from_file.join("scale.csv")).unwrap(),
        std::fs::read_to_string(streamed.join("scale.csv")).unwrap(),
    );
    // A workflow load is predicted from its directory only.
    let out = loadgen(&[
        "predict",
        "--rps",
        "1",
        "-p",
        "builtin",
        "--workflow",
        "w.yaml",
    ]);
    assert!(!out.status.success());
}

#[test]
fn what_predict_cannot_read_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = loadgen(&["predict", s(dir.path()), "-o", s(&dir.path().join("p"))]);
    assert!(!out.status.success());
    assert!(text(&out).contains("load.json"), "{}", text(&out));
    let run_dir = run(dir.path());
    // Minutes, where the records show seconds.
    let out = loadgen(&["predict", s(&run_dir), "-m", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("records.csv shows periods of a second"),
        "{}",
        text(&out)
    );
    for (flag, value) in [("--cold-start-ms", "p50:x"), ("--cold-start-ms", "-5")] {
        let out = loadgen(&["predict", s(&run_dir), "-m", "false", flag, value]);
        assert!(
            !out.status.success() && text(&out).contains(flag),
            "{}",
            text(&out)
        );
    }
    // A proxy the catalogue does not have, in a load that asks no durations.
    let endpoints = run_dir.join("endpoints.json");
    let text_of = std::fs::read_to_string(&endpoints).unwrap();
    std::fs::write(
        &endpoints,
        text_of.replace("emu-97p9ms-128mi-warm", "nowhere"),
    )
    .unwrap();
    let out = loadgen(&[
        "predict",
        s(&run_dir),
        "-m",
        "false",
        "-o",
        s(&dir.path().join("p")),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("endpoints.json") && text(&out).contains("`nowhere`"),
        "{}",
        text(&out)
    );
    assert!(!dir.path().join("p").exists(), "nothing is written");
}
