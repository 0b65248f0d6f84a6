//! A diamond workflow (A → B, C → D) as a load, and the emulated function its nodes run on.

use std::path::Path;
use std::time::Duration;

use formats::{CallAsk, Invocation, LoadWriter, WorkflowStep};
use invoker::dispatch::{Orchestration, ReplayOptions};
use invoker::request::RequestArgs;

/// Writes a load of `instances` diamonds, one every `gap_us`, all to `endpoints[0]` except instance 3's B
/// (to `endpoints[1]`).
pub fn diamonds(path: &std::path::Path, endpoints: &[String], instances: u64, gap_us: u64) {
    let nodes: Vec<String> = NODES.iter().map(|n| n.0.to_owned()).collect();
    let mut writer = LoadWriter::create(path, endpoints)
        .unwrap()
        .with_nodes(&nodes);
    let (mut calls, mut asks, mut payloads, mut steps) = (vec![], vec![], vec![], vec![]);
    for instance in 0..instances {
        for (k, (_, ms, bytes)) in NODES.iter().enumerate() {
            calls.push(Invocation {
                offset_us: instance * gap_us,
                endpoint: u32::from(instance == 3 && k == 1 && endpoints.len() > 1),
            });
            asks.push(CallAsk {
                duration_us: ms * 1000,
                memory_mb: 0,
            });
            payloads.push(*bytes);
            steps.push(WorkflowStep {
                instance: 100 + instance,
                node: k as u32,
                after: AFTER[k].to_vec(),
                after_bytes: Vec::new(),
            });
        }
    }
    writer
        .write_workflow_period(&calls, &asks, &payloads, &steps)
        .unwrap();
    writer.commit().unwrap();
}

/// An emulated function that only waits the time each call asks (1 ms when it asks none).
pub fn waiting_function() -> emulated::LocalServer {
    let behaviour = emulated::Behaviour {
        cpu_share: 0.0,
        ..emulated::Behaviour::fixed("f", 1.0, 0.0)
    };
    emulated::LocalServer::start(behaviour, 1).unwrap()
}

/// The diamond's nodes: name, wall time asked of the function (ms), bytes it receives.
pub const NODES: [(&str, u64, u32); 4] = [
    ("A", 20, 0),
    ("B", 10, 1024),
    ("C", 30, 100 * 1024),
    ("D", 5, 1024 * 1024),
];
/// What each node waits for, by its position in the instance.
pub const AFTER: [&[u32]; 4] = [&[], &[0], &[0], &[1, 2]];

/// How the diamonds' tests replay them: orchestrated as asked, a 5 s call timeout, each node a POST of
/// its bytes, the records, latencies and instances' rows written into `dir`.
pub fn diamond_options(dir: &Path, orchestration: Orchestration) -> ReplayOptions {
    ReplayOptions {
        grpc_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        shared_cpu: true,
        records: Some(dir.join("records.csv")),
        latency_file: Some(dir.join("lat.txt")),
        workflows_file: Some(dir.join("workflows.csv")),
        request: RequestArgs {
            method: "POST".into(),
            ..RequestArgs::default()
        },
        orchestration,
        ..ReplayOptions::default()
    }
}
