//! A workflow's nodes on Knative, through the `loadgen` binary against fake `kubectl`/`kn` put first on
//! PATH (`tests/fake`), with the shared sample's real profile.json, config.json and YAMLs: each node a
//! service of its own.

mod common;
use common::{deploy_knative, s, text, FakeCluster};

use formats::endpoints::read as read_endpoints;

/// A workflow node that names a proxy the trace's mapping does not use is deployed as a service of its
/// own, and so is a node of fixed duration and memory (an emulated function Service made for it beside
/// the profile's YAMLs); every call of each node goes to its service, and the `trace` node's to its
/// instance's function.
#[test]
fn a_workflow_s_proxy_and_fixed_nodes_are_knative_services_of_their_own() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let cluster = FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("w.yaml");
    std::fs::write(
        &workflow,
        "name: w\nnodes:\n  - name: A\n    function: trace\n    next: {to: [{node: B, size: 1KB}, {node: C, size: 1KB}]}\n  - name: B\n    function: {proxy: aes-go-500-505}\n  - name: C\n    function: {duration_ms: 5, memory_mb: 32}\n",
    )
    .unwrap();
    let out = deploy_knative(
        &sample,
        dir.path(),
        &sample.join("config.json"),
        &cluster,
        &["--dry-run", "--workflow", s(&workflow)],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let endpoints = read_endpoints(&dir.path().join("endpoints.json")).unwrap();
    let script = std::fs::read_to_string(dir.path().join("build/deploy.sh")).unwrap();
    let load = formats::read(&dir.path().join("load.json")).unwrap();
    let mut ends = Vec::new();
    for (proxy, node) in [("aes-go-500-505", "B"), ("wf-w-C", "C")] {
        let service = endpoints
            .iter()
            .find(|e| e.proxy == proxy)
            .unwrap_or_else(|| panic!("node {node}'s service {proxy} is deployed: {endpoints:?}"));
        let name = service
            .service
            .as_deref()
            .unwrap()
            .split_once('/')
            .unwrap()
            .1;
        assert!(script.contains(&format!("ksvc/{name}")), "{script}");
        let at = load
            .endpoints
            .iter()
            .position(|e| *e == service.endpoint)
            .unwrap() as u32;
        ends.push((
            load.nodes.iter().position(|n| n == node).unwrap() as u32,
            at,
        ));
    }
    // The fixed node's Service is the emulated function with its one duration and memory.
    let own =
        std::fs::read_to_string(dir.path().join("build/own-functions/kn-wf-w-C.yaml")).unwrap();
    assert!(
        own.contains("0:5,1:5,5:5,25:5,50:5,75:5,95:5,99:5,100:5"),
        "{own}"
    );
    assert!(
        own.contains("0:32,1:32,5:32,25:32,50:32,75:32,95:32,99:32,100:32"),
        "{own}"
    );
    let mut calls = 0;
    for period in &load.periods {
        for (call, step) in period.calls.iter().zip(&period.steps) {
            for &(node, at) in &ends {
                assert_eq!(call.endpoint == at, step.node == node, "{call:?} {step:?}");
            }
            calls += 1;
        }
    }
    assert!(calls > 1000, "{calls}");
}
