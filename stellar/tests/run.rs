//! A STeLLAR experiment of three sub-experiments run against emulated functions on loopback: the calls
//! per burst and per gateway, the gaps, the payload, STeLLAR's latency CSV, and the two timings (STeLLAR's
//! closed loop, which drifts by the answers' time; ours, which fires each burst on time).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use formats::records::{read_records, Outcome, Record};
use invoker::dispatch::ReplayOptions;
use stellar::step::{step_plan, StepPlan};
use stellar::Experiment;

const EXPERIMENT: &str = r#"{
  "Sequential": true,
  "Provider": "gcr",
  "SubExperiments": [
    {"Title": "warm", "Bursts": 6, "BurstSizes": [2, 3], "IATSeconds": 0.2, "IATType": "deterministic",
     "DesiredServiceTimes": ["0ms", "30ms"], "Parallelism": 2},
    {"Title": "cold", "Bursts": 2, "BurstSizes": [1], "IATSeconds": 1.05, "DesiredServiceTimes": ["0ms"]},
    {"Title": "payload", "Bursts": 2, "BurstSizes": [3], "IATSeconds": 0.1, "IATType": "deterministic",
     "PayloadLengthBytes": 3000}
  ]
}"#;

fn options(dir: &Path) -> ReplayOptions {
    ReplayOptions {
        grpc_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        shared_cpu: true,
        records: Some(dir.join("records.csv")),
        ..ReplayOptions::default()
    }
}

/// Gateways: one emulated function each (STeLLAR's measurement function: no work but the spin asked).
fn gateways(n: usize) -> (Vec<emulated::LocalServer>, Vec<String>) {
    let servers: Vec<emulated::LocalServer> = (0..n)
        .map(|_| {
            let b = emulated::Behaviour {
                cpu_share: 0.0,
                ..emulated::Behaviour::fixed("gateway", 0.0, 0.0)
            };
            emulated::LocalServer::start(b, 2).unwrap()
        })
        .collect();
    let urls = servers
        .iter()
        .map(|s| format!("http://{}/", s.endpoint()))
        .collect();
    (servers, urls)
}

fn records(dir: &Path) -> Vec<(Record, String)> {
    let mut rows = Vec::new();
    read_records(&dir.join("records.csv"), |r, e| {
        rows.push((*r, e.to_owned()))
    })
    .unwrap();
    rows.sort_by_key(|(r, _)| r.index);
    rows
}

fn plan(experiment: &Experiment, sub: usize, urls: &[String]) -> StepPlan {
    let sub = experiment.sub_experiments[sub].clone();
    let gateways = urls[..sub.parallelism as usize].to_vec();
    step_plan(
        &[(sub, gateways)],
        5,
        emulated::function::spin_rate_per_us(),
    )
}

#[test]
fn a_stellar_experiment_runs_as_stellar_runs_it_and_writes_its_latency_files() {
    let _turn = testkit::turn();
    let experiment = Experiment::parse(Path::new("exp.json"), EXPERIMENT).unwrap();
    let (_servers, urls) = gateways(2);

    // Sub-experiment 0: 6 bursts over 2 gateways, sizes [2, 3, 2], 30 ms of spin from round 1.
    let dir = tempfile::tempdir().unwrap();
    let replayed = plan(&experiment, 0, &urls)
        .replay(options(dir.path()), dir.path())
        .unwrap();
    assert_eq!(
        (replayed.summary.sent, replayed.summary.ok),
        (14, 14),
        "{:?}",
        replayed.summary
    );
    let rows = records(dir.path());
    let mut per_gateway: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, endpoint) in &rows {
        let port = endpoint.split('/').nth(2).unwrap();
        *per_gateway.entry(port).or_default() += 1;
    }
    assert_eq!(per_gateway.values().copied().collect::<Vec<_>>(), [7, 7]);
    // Rounds at least an IAT apart (the first after a sleep too), each burst whole before the next.
    let starts: Vec<u64> = [0, 4, 10].iter().map(|&i| rows[i].0.scheduled_us).collect();
    assert!(starts[0] >= 200_000, "{starts:?}");
    assert!(
        starts[1] - starts[0] >= 200_000 && starts[2] - starts[1] >= 200_000,
        "{starts:?}"
    );
    let first_burst_end = rows[..2]
        .iter()
        .map(|(r, _)| r.ended_us().unwrap())
        .max()
        .unwrap();
    assert!(
        rows[2].0.scheduled_us >= first_burst_end,
        "the second gateway's burst waits for the first's answers"
    );
    // From round 1, the function spins ~30 ms per call (the IncrementLimit of the service time).
    assert!(rows[0].0.exec_us.unwrap() < 15_000);
    assert!(rows[4].0.exec_us.unwrap() >= 15_000, "{:?}", rows[4].0);
    // STeLLAR's loop drifts by the answers' time: past round 1's 30 ms spins, later rounds start late.
    let drift = replayed.drift[0].unwrap();
    assert!(drift.last_ms >= 30.0, "{drift:?}");

    // STeLLAR's latency CSV: its directory, header, whole ms, burst IDs, seconds-resolution times.
    let (csv, rows_written) = &replayed.latencies[0];
    assert_eq!(*rows_written, 14);
    assert!(
        csv.ends_with("warm-memory128MB-img0MB-IAT0.2s-burst2-st0ms-payload0KB/latencies.csv"),
        "{}",
        csv.display()
    );
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("Request ID,Host,Sent At,Received At,Client Latency (ms),Burst ID")
    );
    let fields: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(fields[1], "127.0.0.1");
    assert!(
        fields[2].len() == 20 && fields[2].ends_with('Z'),
        "{fields:?}"
    );
    assert!(
        fields[4].parse::<u64>().is_ok() && fields[5] == "0",
        "{fields:?}"
    );
    let bursts: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(
        bursts,
        ["0", "0", "1", "1", "2", "2", "2", "3", "3", "3", "4", "4", "5", "5"]
    );

    // Sub-experiment 2: the payload asked for comes back.
    let dir = tempfile::tempdir().unwrap();
    let replayed = plan(&experiment, 2, &urls)
        .replay(options(dir.path()), dir.path())
        .unwrap();
    assert_eq!(replayed.summary.ok, 6);
    assert!(records(dir.path())
        .iter()
        .all(|(r, _)| r.wire.response_bytes == Some(3000)));
}

#[test]
fn scheduled_timing_fires_every_burst_on_time_where_stellars_loop_drifts() {
    let _turn = testkit::turn();
    let experiment = Experiment::parse(Path::new("exp.json"), EXPERIMENT).unwrap();
    let (_servers, urls) = gateways(2);
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&experiment, 0, &urls).scheduled();
    let nominal: Vec<u64> = plan.schedule.calls.iter().map(|c| c.due_us).collect();
    let replayed = plan.replay(options(dir.path()), dir.path()).unwrap();
    assert_eq!(replayed.summary.ok, 14);
    assert_eq!(replayed.drift, vec![None]);
    let rows = records(dir.path());
    for ((r, _), due) in rows.iter().zip(&nominal) {
        // Open loop: each call is due at its round's nominal instant, both gateways at once, and leaves
        // within a loose bound of it (a shared machine); the closed loop drifted ≥ 30 ms above.
        assert_eq!(r.scheduled_us, *due);
        assert!(r.send_lag_ns.unwrap() < 20_000_000, "{r:?}");
    }
    assert_eq!(
        nominal,
        [200_000; 4]
            .into_iter()
            .chain([400_000; 6])
            .chain([600_000; 4])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        rows.iter()
            .filter(|(r, _)| r.outcome == Outcome::Ok)
            .count(),
        14
    );
}
