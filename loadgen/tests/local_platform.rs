//! The local fleet scaled like Knative (`--local-platform knative`, the default): a burst makes the
//! autoscaler add instances, calls that find none wait in the activator's queue for a cold start (in
//! their latency, not in their execution time), and the instances go again once the burst is over.

mod common;
use common::{ok, run_loadgen, s, LIMIT};
use formats::records::read_records;

/// Azure 2021 rows (`app,func,end_timestamp,duration`): function a/f gets 50 calls a second for 10 s,
/// each of 1 s, so 50 are in flight at once; c/h one short call at 19.5 s, which keeps the run going
/// while a/f scales down.
fn burst_trace() -> String {
    let mut rows = String::from("app,func,end_timestamp,duration\n");
    for k in 0..500 {
        let start = k as f64 / 50.0;
        rows.push_str(&format!("a,f,{:.6},1.0\n", start + 1.0));
    }
    rows.push_str("c,h,19.6,0.1\n");
    rows
}

#[test]
fn a_burst_scales_a_function_out_with_cold_starts_and_back_in() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("invocations.txt");
    std::fs::write(&trace, burst_trace()).unwrap();
    let out = dir.path().join("run");
    let said = ok(&run_loadgen(
        &[
            "run",
            "-o",
            s(&out),
            "-t",
            s(&trace),
            "-p",
            "trace",
            "--per-call",
            "-m",
            "false",
            "-d",
            "20",
            "-w",
            "0",
            // The calls' own 1 s, on no computing thread: 50 at once fit this machine.
            "--local-scale",
            "1",
            "--cpu-share",
            "0",
            "--knative-target",
            "10",
            "--cold-start-ms",
            "500",
            // A short stable window, so the scale-down shows within the run.
            "--knative-window",
            "6",
            "--scale-interval",
            "0.5",
        ],
        &[],
        LIMIT,
    ));
    assert!(said.contains("ok 501"), "{said}");

    // The records: a/f's calls that waited for their instance to start are cold, with the wait in
    // their latency (at least most of the 500 ms cold start) and not in their execution time (1 s).
    let endpoints: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("endpoints.json")).unwrap())
            .unwrap();
    let names: Vec<String> = endpoints
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["proxy"].as_str().unwrap().to_owned())
        .collect();
    let mut all = Vec::new();
    read_records(&out.join("records.csv"), |r, _| all.push(*r)).unwrap();
    let mut per_endpoint = std::collections::HashMap::<u32, usize>::new();
    for r in &all {
        *per_endpoint.entry(r.endpoint).or_default() += 1;
    }
    let busiest = per_endpoint
        .iter()
        .max_by_key(|e| e.1)
        .map(|e| *e.0)
        .unwrap();
    let burst: Vec<_> = all.into_iter().filter(|r| r.endpoint == busiest).collect();
    assert_eq!(burst.len(), 500);
    let cold: Vec<_> = burst.iter().filter(|r| r.cold == Some(true)).collect();
    assert!(!cold.is_empty(), "no cold call");
    let first = burst.iter().min_by_key(|r| r.scheduled_us).unwrap();
    assert_eq!(
        first.cold,
        Some(true),
        "the first call waits for the instance it makes"
    );
    let first_due = first.scheduled_us;
    for r in &cold {
        let (latency, exec) = (r.latency_us.unwrap(), r.exec_us.unwrap());
        assert!(
            exec < 1_400_000 && latency > exec,
            "a cold call's wait is in its latency, not its execution: latency {latency} exec {exec}"
        );
        // Due while the first instance started (500 ms from the first call): it waited the rest of that.
        let rest = (first_due + 500_000).saturating_sub(r.scheduled_us);
        assert!(
            latency + 50_000 >= exec + rest,
            "latency {latency} exec {exec}: waited less than the {rest} µs its instance took to start"
        );
    }
    assert!(
        first.latency_us.unwrap() >= 1_450_000,
        "the first call waits the whole 500 ms cold start: {:?}",
        first.latency_us
    );
    let instances: std::collections::HashSet<u64> =
        burst.iter().filter_map(|r| r.instance).collect();
    assert!(instances.len() >= 5, "{} instances served", instances.len());

    // local-scale.csv: the function's instances desired and ready reach ≥ 5 (50 in flight over a target
    // of 10 × 70 %: 8), then fall once the burst is over.
    let scale = std::fs::read_to_string(out.join("collect/local-scale.csv")).unwrap();
    let mut lines = scale.lines();
    assert_eq!(
        lines.next(),
        Some("time,function,desired,ready,pending,in_flight,queued")
    );
    let busiest = &names[busiest as usize];
    let rows: Vec<(f64, u32, u32, u32)> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[1] == busiest)
        .map(|f| {
            (
                f[0].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect();
    let peak_ready = rows.iter().map(|r| r.2).max().unwrap();
    let peak_desired = rows.iter().map(|r| r.1).max().unwrap();
    assert!(peak_ready >= 5 && peak_desired >= 5, "{rows:?}");
    let peak_at = rows.iter().find(|r| r.2 == peak_ready).unwrap().0;
    let last = rows.last().unwrap();
    assert!(
        last.0 > peak_at && last.2 < peak_ready,
        "ready instances fall after the burst: {rows:?}"
    );
    assert!(out.join("plots/collect_local_scale.png").is_file());

    // What the platform counted, in summary.json, and the prediction of the same load beside it.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let platform = &summary["local_platform"];
    assert!(
        platform["instances_created"].as_u64().unwrap() >= instances.len() as u64,
        "{platform}"
    );
    assert!(platform["cold_starts"].as_u64().unwrap() >= cold.len() as u64);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Measured and predicted"), "{report}");
    assert!(report.contains("| cold starts |"), "{report}");
    assert!(out.join("predict/summary.json").is_file());
    assert!(out.join("predict/predict_scale.png").is_file());
}

/// Within 10 % of `measured`, or `floor` (whichever is larger).
fn agrees(predicted: f64, measured: f64, floor: f64) -> bool {
    (predicted - measured).abs() <= (0.1 * measured).max(floor)
}

#[test]
fn predict_and_the_local_fleet_agree_on_the_same_load() {
    // 100 synthetic functions for 5 minutes on the fleet's Knative platform; `run` predicts the same load
    // beside it.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let said = ok(&run_loadgen(
        &["run", "-o", s(&out), "-d", "5", "-w", "0", "--quiet"],
        &[],
        // Five minutes of load, and the build of the trace, the load and the figures around it.
        std::time::Duration::from_secs(600),
    ));
    let read = |path: std::path::PathBuf| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let measured = read(out.join("summary.json"))["local_platform"].clone();
    let predicted = read(out.join("predict/summary.json"));
    let number = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap();
    let (cold_m, cold_p) = (
        number(&measured, "cold_starts"),
        number(&predicted, "cold_starts"),
    );
    assert!(cold_m > 0.0, "{said}");
    assert!(
        agrees(cold_p, cold_m, 5.0),
        "cold starts: predicted {cold_p}, measured {cold_m}\n{said}"
    );
    let (seconds_m, seconds_p) = (
        number(&measured, "instance_seconds"),
        number(&predicted, "instance_seconds"),
    );
    assert!(
        agrees(seconds_p, seconds_m, 0.0),
        "instance-seconds: predicted {seconds_p}, measured {seconds_m}\n{said}"
    );
}
