//! `--profile trace` (every function its own emulated function) and `--per-call` (every call its own
//! duration and memory, drawn between its function's percentiles), on the shared vSwarm sample and end to
//! end on the local fleet.

mod common;

use std::collections::HashMap;

use common::{ok, run_loadgen, s, LIMIT};
use formats::records::{read_records, Outcome};
use mapping::{MappingFile, Method};
use trace::{read, ReadOptions};

#[test]
fn profile_trace_on_the_sample_has_no_mapping_error_and_per_call_asks_stay_in_range() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let load = out.path().join("load.json");
    let mapping = out.path().join("mapping.json");
    let t = ok(&run_loadgen(
        &[
            "generate",
            "-t",
            s(&sample),
            "-p",
            "trace",
            "--per-call",
            "-d",
            "3",
            "-w",
            "0",
            "-o",
            s(&load),
            "--mapping",
            s(&mapping),
            "--seed",
            "5",
        ],
        &[],
        LIMIT,
    ));
    let m = MappingFile::read(&mapping).unwrap();
    assert_eq!(m.method, Method::Own, "{t}");
    assert!(m
        .functions
        .iter()
        .all(|e| e.memory_rel_error == 0.0 && e.duration_rel_error == 0.0 && e.cost == 0.0));

    // One endpoint per active function, and it is that function's own.
    let window = ReadOptions {
        start: Some(540),
        periods: Some(3),
        ..Default::default()
    };
    let trace = read(&sample, &window).unwrap();
    let active: Vec<usize> = (0..trace.functions.len())
        .filter(|&f| trace.total(f) > 0)
        .collect();
    let l = formats::read(&load).unwrap();
    assert_eq!(l.endpoints.len(), active.len());
    assert_eq!(m.functions.len(), active.len());
    let function_of: HashMap<String, usize> = active
        .iter()
        .map(|&f| (mapping::own_name(&trace.functions[f].id), f))
        .collect();

    // Every call asks for a duration and memory between its function's p0 and p100.
    let mut asked = 0;
    let mut distinct = std::collections::HashSet::new();
    for period in &l.periods {
        assert_eq!(period.asks.len(), period.calls.len());
        for (call, ask) in period.calls.iter().zip(&period.asks) {
            let f = &trace.functions[function_of[&l.endpoints[call.endpoint as usize]]];
            let (lo, hi) = (
                f.duration_ms.quantile(0.0).unwrap(),
                f.duration_ms.quantile(1.0).unwrap(),
            );
            let ms = ask.duration_us as f64 / 1e3;
            assert!(ms >= lo - 1e-3 && ms <= hi + 1e-3, "{ms} not in {lo}..{hi}");
            let (lo, hi) = (
                f.memory_mb.quantile(0.0).unwrap(),
                f.memory_mb.quantile(1.0).unwrap(),
            );
            let mb = f64::from(ask.memory_mb);
            assert!(
                mb >= lo.round() - 1.0 && mb <= hi.round() + 1.0,
                "{mb} not in {lo}..{hi}"
            );
            distinct.insert(ask.duration_us);
            asked += 1;
        }
    }
    assert!(asked > 1000, "{asked}");
    assert!(
        distinct.len() > asked / 10,
        "drawn per call, not one per function"
    );

    // The same seed, the same draws.
    let again = out.path().join("again.json");
    ok(&run_loadgen(
        &[
            "generate",
            "-t",
            s(&sample),
            "-p",
            "trace",
            "--per-call",
            "-d",
            "3",
            "-w",
            "0",
            "-o",
            s(&again),
            "--mapping",
            s(&out.path().join("m2.json")),
            "--seed",
            "5",
        ],
        &[],
        LIMIT,
    ));
    assert_eq!(
        std::fs::read(&load).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

#[test]
fn per_call_durations_are_honoured_end_to_end_on_the_local_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // Own functions for a synthetic per-second trace; every call asks for its duration, at scale 1.
    let t = ok(&run_loadgen(
        &[
            "run",
            "-o",
            s(&out),
            "-n",
            "30",
            "--minute",
            "false",
            "-d",
            "3",
            "-w",
            "0",
            "--seed",
            "3",
            "-p",
            "trace",
            "--per-call",
            "--local-scale",
            "1",
            "--cpu-share",
            "0.01",
            // Touching a working set takes CPU time of its own (~0.25 ms per MiB): a small budget caps
            // it, so each call's time is its asked duration.
            "--local-memory-mb",
            "8",
        ],
        &[],
        LIMIT,
    ));
    let l = formats::read(&out.join("load.json")).unwrap();
    let mut asks = Vec::new();
    for (p, period) in l.periods.iter().enumerate() {
        for (call, ask) in period.calls.iter().zip(&period.asks) {
            asks.push((p as u64 * 1_000_000 + call.offset_us, *ask));
        }
    }
    // Records are in scheduled order, as the load is (ties keep file order).
    asks.sort_by_key(|(due, _)| *due);
    let mut n = 0;
    read_records(&out.join("records.csv"), |r, _| {
        let (due, ask) = asks[r.index as usize];
        assert_eq!(r.scheduled_us, due);
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        let exec = r.exec_us.expect("the emulated function says its time");
        // Its own duration, plus the timer's millisecond, touching at most 8 MiB, and a loaded machine's
        // scheduling.
        assert!(exec >= ask.duration_us, "{exec} < {}", ask.duration_us);
        assert!(
            exec <= ask.duration_us + 50_000,
            "{exec} vs {}",
            ask.duration_us
        );
        n += 1;
    })
    .unwrap();
    assert_eq!(n, asks.len(), "{t}");
    assert!(t.contains("each function its own emulated function"), "{t}");
}

#[test]
fn loads_without_asks_replay_as_before() {
    // A vSwarm-format load (no per-call arrays) to the emulated function: calls draw from the profile.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&run_loadgen(
        &[
            "run",
            "-o",
            s(&out),
            "-n",
            "20",
            "--minute",
            "false",
            "-d",
            "2",
            "-w",
            "0",
            "--seed",
            "9",
        ],
        &[],
        LIMIT,
    ));
    let text = std::fs::read_to_string(out.join("load.json")).unwrap();
    assert!(!text.contains("duration_us"));
    let l = formats::read(&out.join("load.json")).unwrap();
    assert!(l.periods.iter().all(|p| p.asks.is_empty()));
    let mut answered = 0;
    read_records(&out.join("records.csv"), |r, _| {
        answered += u64::from(r.outcome == Outcome::Ok && r.exec_us.is_some());
    })
    .unwrap();
    assert_eq!(answered as usize, l.invocations());
}

#[test]
fn profile_trace_on_knative_deploys_one_emulated_service_per_function() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let cluster = common::FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("build");
    let t = ok(&run_loadgen(
        &[
            "deploy",
            "--deployer",
            "knative",
            "-t",
            s(&sample),
            "-p",
            "trace",
            "-b",
            s(&build),
            "-o",
            s(&dir.path().join("load.json")),
            "-w",
            "0",
            "-d",
            "1",
            "--poll-interval",
            "0.02",
            "--container-concurrency",
            "8",
            "--function-image",
            "registry.example/loadgen:1",
            "--function-image-size-mb",
            "100",
        ],
        &cluster.env(&[]),
        LIMIT,
    ));
    let load = formats::read(&dir.path().join("load.json")).unwrap();
    let applied: Vec<String> = cluster
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("kubectl apply"))
        .collect();
    assert_eq!(applied.len(), load.endpoints.len(), "{t}");
    // Each applied YAML runs the emulated function with its own function's profile.
    let file = applied[0].rsplit(' ').next().unwrap();
    let v: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let spec = &v["spec"]["template"]["spec"];
    assert_eq!(spec["containerConcurrency"], 8);
    // The image padded with a 100 MiB filler layer, as the Dockerfile's FUNCTION_IMAGE_SIZE_MB builds it.
    assert_eq!(
        spec["containers"][0]["image"],
        "registry.example/loadgen:1-filler-100mb"
    );
    assert_eq!(
        spec["containers"][0]["command"][0],
        "/usr/local/bin/emulated-function"
    );
    assert!(v["metadata"]["name"].as_str().unwrap().starts_with("tf-"));
    assert_eq!(
        v["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "serverless-loadgen"
    );
}
