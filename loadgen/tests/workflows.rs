//! `loadgen run --workflow`: every arrival an instance of the workflow, its nodes called as their
//! predecessors answer, by the invoker or by the functions (`--orchestration`); and what a workflow load
//! refuses.

use std::collections::BTreeMap;

mod common;
use common::{loadgen, ok, s, write_file};
use formats::records::{read_workflow_records, Outcome, Record};

const DIAMOND: &str = "name: diamond
nodes:
  - name: A
    function: {duration_ms: 10, memory_mb: 16}
    next: {to: [{node: B, size: 1KB}, {node: C, size: 100KB}]}
  - name: B
    function: {duration_ms: 20, memory_mb: 16}
    next: {to: [{node: D, size: 1KB}]}
  - name: C
    function: {duration_ms: 5, memory_mb: 16}
    next: {to: [{node: D, size: 1MB}]}
  - name: D
    function: {duration_ms: 5, memory_mb: 16}
";

/// `loadgen run` of 20 diamonds (10 a second for 2 s) orchestrated by `orchestration`, their data inline
/// or through a real redis-server (`store`): every node of every instance called once, after its
/// predecessors, and the instances' rows and report.
fn run_diamonds(orchestration: &str, store: bool) {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "diamond.yaml", DIAMOND);
    let out = dir.path().join("run");
    let redis = store.then(testkit::redis::Redis::start);
    let url = redis.as_ref().map(|r| r.url());
    let mut store_args = Vec::new();
    if let Some(url) = &url {
        store_args = vec!["--store", url.as_str()];
    }
    ok(&loadgen(
        &[
            "run",
            "-o",
            s(&out),
            "--workflow",
            s(&file),
            "--orchestration",
            orchestration,
            "--rps",
            "10",
            "-m",
            "false",
            "-d",
            "2",
            "-w",
            "0",
            "--seed",
            "3",
        ]
        .into_iter()
        .chain(store_args)
        .collect::<Vec<_>>(),
    ));
    let mut instances: BTreeMap<u64, BTreeMap<String, Record>> = BTreeMap::new();
    read_workflow_records(&out.join("records.csv"), |r, _, node| {
        let w = r.workflow.expect("a workflow step");
        let previous = instances
            .entry(w.instance)
            .or_default()
            .insert(node.unwrap().to_owned(), *r);
        assert!(previous.is_none(), "a node recorded twice");
    })
    .unwrap();
    assert_eq!(instances.len(), 20, "10 instances a second for 2 s");
    for calls in instances.values() {
        assert_eq!(calls.len(), 4, "{calls:?}");
        let r = |n: &str| &calls[n];
        assert!(
            calls.values().all(|c| c.outcome == Outcome::Ok),
            "{calls:?}"
        );
        let ended = |n: &str| r(n).ended_us().unwrap();
        let sent = |n: &str| r(n).sent_us().unwrap();
        if orchestration == "chained" {
            // A calls B once its own work is done (the function's clock: 1 ms of slack).
            assert!(
                sent("B") + 1000 >= sent("A") + r("A").exec_us.unwrap(),
                "{calls:?}"
            );
            assert_eq!(r("B").send_lag_ns, None);
        } else {
            assert!(sent("B") >= ended("A"));
        }
        assert!(sent("D") >= ended("B").max(ended("C")));
        // The function was asked each node's time.
        assert!(r("B").exec_us.unwrap() >= 20_000, "{calls:?}");
        // Each function timed its data's move: its inline input as it arrived, or its reads and writes
        // in the store, where the requests after the entry's carried none (a gRPC entry's count is its
        // encoded message).
        for (node, call) in calls {
            if store || node != "A" {
                assert!(call.wire.transfer_us.is_some(), "{node}: {calls:?}");
            }
            if store && node != "A" {
                assert_eq!(call.wire.request_bytes, Some(0), "{calls:?}");
            }
        }
    }
    if !store {
        // Inline, D's 2 MB take longer to arrive than B's 1 KB.
        let median = |node: &str| {
            let mut t: Vec<u64> = instances
                .values()
                .map(|c| c[node].wire.transfer_us.unwrap())
                .collect();
            t.sort_unstable();
            t[t.len() / 2]
        };
        assert!(
            median("D") > median("B"),
            "D {} B {}",
            median("D"),
            median("B")
        );
    }
    // One row per instance, each with its end to end, critical path and data transfers.
    let rows = std::fs::read_to_string(out.join("workflows.csv")).unwrap();
    assert_eq!(rows.lines().count(), 21, "{rows}");
    assert!(
        rows.lines()
            .skip(1)
            .all(|l| !l.split(',').any(str::is_empty)),
        "{rows}"
    );
    if let Some(redis) = &redis {
        assert_eq!(redis.keys(), 0, "every input was deleted once read");
    }
    // Every instance traced (OTLP JSON): one trace each, the invoker's spans and the functions'.
    let spans: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("spans.json")).unwrap()).unwrap();
    let mut traces = std::collections::BTreeSet::new();
    let mut services = std::collections::BTreeSet::new();
    for resource in spans["resourceSpans"].as_array().unwrap() {
        services.insert(resource["resource"]["attributes"][0]["value"]["stringValue"].to_string());
        for scope in resource["scopeSpans"].as_array().unwrap() {
            for span in scope["spans"].as_array().unwrap() {
                traces.insert(span["traceId"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(traces.len(), 20, "{services:?}");
    assert!(services.len() >= 2, "{services:?}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("## Workflows\n\n20 instances after warm-up (0 in it), 0 with a call that did not succeed"),
        "{report}"
    );
    // The instances' end to end, critical path and overhead, drawn.
    assert!(out.join("plots/workflow_cdf.png").exists());
    assert!(report.contains("workflow_cdf"), "{report}");
    // Where each node's time went, stacked.
    assert!(out.join("plots/workflow_nodes.png").exists());
    assert!(report.contains("workflow_nodes"), "{report}");
    // The load says it all, and replays the same calls with the same seed.
    let load = std::fs::read_to_string(out.join("load.json")).unwrap();
    assert!(
        load.contains("\"after\": [\n      [],\n      [0],\n      [0],\n      [1, 2]"),
        "{load}"
    );
    // And what each edge carries, which a store moves edge by edge.
    assert!(
        load.contains("\"after_bytes\": [\n      [],\n      [1"),
        "{load}"
    );
}

#[test]
fn a_run_calls_every_node_of_every_instance_after_its_predecessors() {
    run_diamonds("client", false);
}

#[test]
fn a_chained_run_has_the_functions_call_every_node_after_its_predecessors() {
    run_diamonds("chained", false);
}

#[test]
fn a_chained_run_moves_its_data_through_a_store() {
    run_diamonds("chained", true);
}

#[test]
fn an_experiment_sweeps_workflow_files_given_relative_to_it_and_their_orchestration() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "diamond.yaml", DIAMOND);
    write_file(
        dir.path(),
        "chain.yaml",
        "nodes:\n  - name: A\n    function: {duration_ms: 1, memory_mb: 8}\n    next: {to: [{node: B, size: 10}]}\n  - name: B\n    function: {duration_ms: 1, memory_mb: 8}\n",
    );
    let file = write_file(
        dir.path(),
        "experiment.toml",
        "[run]\nrps = 5\nminute = false\nduration = 1\nwarmup-duration = 0\n[sweep]\nworkflow = [\"diamond.yaml\", \"chain.yaml\"]\norchestration = [\"client\", \"chained\"]\n",
    );
    let out = dir.path().join("exp");
    ok(&common::experiment(&file, &out, &[]));
    // The first key varies slowest.
    for (step, nodes) in [("000", 4), ("001", 4), ("002", 2), ("003", 2)] {
        let mut calls = 0;
        read_workflow_records(&out.join(format!("steps/{step}/records.csv")), |r, _, _| {
            assert_eq!(r.outcome, Outcome::Ok);
            calls += 1;
        })
        .unwrap();
        assert_eq!(calls, 5 * nodes, "step {step}");
    }
    // The report draws the steps' instances side by side.
    assert!(out.join("figures/workflow_e2e_per_step.png").exists());
    // results.csv sets the orchestrations side by side: each step's instances' end to end.
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut lines = results.lines().map(|l| l.split(',').collect::<Vec<_>>());
    let header = lines.next().unwrap();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.collect();
    assert_eq!(rows.len(), 4, "{results}");
    for row in &rows {
        let e2e: f64 = row[at("workflow_e2e_p50_us")].parse().unwrap();
        // The diamond's critical path is 10 + 20 + 5 ms; the chain's 2 ms.
        let floor = if row[at("workflow")] == "diamond.yaml" {
            35_000.0
        } else {
            2_000.0
        };
        assert!(e2e >= floor, "{results}");
        assert!(["client", "chained"].contains(&row[at("orchestration")]));
    }
}

#[test]
fn what_a_workflow_load_cannot_do_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let diamond = write_file(dir.path(), "diamond.yaml", DIAMOND);
    let proxy = write_file(
        dir.path(),
        "proxy.yaml",
        "nodes:\n  - name: A\n    function: {proxy: no-such-proxy}\n",
    );
    let out = dir.path().join("run");
    for (args, says) in [
        (
            vec!["--workflow", s(&diamond), "--workers", "2"],
            "replayed by one invoker",
        ),
        (
            vec!["--workflow", s(&proxy)],
            "line 2: node `A` calls proxy `no-such-proxy`, which the profile `builtin` does not have",
        ),
        (
            vec!["--workflow", s(&proxy), "-p", "trace"],
            "with -p trace each function is its own emulated function",
        ),
        (
            vec!["--workflow", s(&diamond), "--per-call"],
            "cannot be used with",
        ),
        (vec!["--foreach-width", "3"], "--workflow"),
        (vec!["--orchestration", "chained"], "needs --workflow FILE"),
        (
            vec!["--store", "redis://127.0.0.1:1"],
            "needs --workflow FILE",
        ),
        (
            vec!["--workflow", s(&diamond), "--store", "s3://bucket"],
            "give redis://HOST:PORT",
        ),
    ] {
        let mut all = vec!["run", "-o", s(&out), "--rps", "5", "-m", "false", "-d", "1"];
        all.extend(args);
        let o = loadgen(&all);
        assert!(!o.status.success());
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(says), "{e}");
        assert!(!out.exists());
    }
}

#[test]
fn a_chained_instance_that_starts_with_several_calls_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let fan = write_file(
        dir.path(),
        "fan.yaml",
        "nodes:\n  - name: V\n    virtual: true\n    next: {to: [{node: B, size: 10}, {node: C, size: 10}]}\n  - name: B\n    function: {duration_ms: 1, memory_mb: 8}\n  - name: C\n    function: {duration_ms: 1, memory_mb: 8}\n",
    );
    let out = dir.path().join("run");
    let run = |orchestration: &str| {
        loadgen(&[
            "run",
            "-o",
            s(&out),
            "--workflow",
            s(&fan),
            "--orchestration",
            orchestration,
            "--rps",
            "2",
            "-m",
            "false",
            "-d",
            "1",
            "-w",
            "0",
        ])
    };
    let o = run("chained");
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("workflow instance 0: a chained workflow instance has one entry node")
            && e.contains("--orchestration client"),
        "{e}"
    );
    // The same file replays under client orchestration.
    ok(&run("client"));
}

/// FaaSFlow's own layout: a VIRTUAL switch between `split` (a foreach over `transcode`) and `simple`.
const FAASFLOW: &str = "\
functions:
- name: upload
  source: upload
  runtime: 0.01
  output:
    prefix: {type: normal, size: 16}
  next: {type: pass, nodes: [route]}
- name: route
  source: VIRTUAL
  runtime: 0
  next: {type: switch, conditions: [INPUT.split, default], nodes: [split, simple]}
- name: simple
  source: simple
  runtime: 0.01
- name: split
  source: split
  runtime: 0.02
  output:
    content: {type: pass, size: 800}
  next: {type: foreach, nodes: [transcode]}
- name: transcode
  source: transcode
  runtime: 0.01
  input:
    content: {type: pass, value: {function: split, parameter: content}, size: 8}
  next: {type: pass, nodes: [merge]}
- name: merge
  source: merge
  runtime: 0.01
  input:
    prefix: {type: pass, value: {function: upload, parameter: prefix}}
";

#[test]
fn faasflows_file_makes_a_load_whose_branches_follow_their_draws() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("video")).unwrap();
    let file = write_file(&dir.path().join("video"), "flat_workflow.yaml", FAASFLOW);
    let out = dir.path().join("load.json");
    ok(&loadgen(&[
        "generate",
        "-o",
        s(&out),
        "-p",
        "builtin",
        "--workflow",
        s(&file),
        "--foreach-width",
        "5",
        "--rps",
        "100",
        "-m",
        "false",
        "-d",
        "10",
        "-w",
        "0",
        "--seed",
        "7",
    ]));
    let load = formats::read(&out).unwrap();
    // Per instance, the names of its calls, and for merge what it waits for.
    let mut instances: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for period in &load.periods {
        let mut position: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for step in &period.steps {
            let name = load.nodes[step.node as usize].clone();
            let mine = position.entry(step.instance).or_default();
            if name == "merge" {
                let waits: Vec<&str> = step
                    .after
                    .iter()
                    .map(|&a| mine[a as usize].as_str())
                    .collect();
                assert_eq!(waits[0], "upload", "merge reads upload's prefix: {waits:?}");
                assert_eq!(waits.len(), 6, "and waits for the 5 transcodes: {waits:?}");
            }
            mine.push(name);
        }
        instances.extend(position);
    }
    assert_eq!(instances.len(), 1000);
    let split = instances
        .values()
        .filter(|c| c.contains(&"split".to_owned()))
        .count();
    // The switch is even (FaaSFlow's conditions are not evaluated): 1,000 draws of p = 0.5 lie within
    // four standard deviations (±63) of 500.
    assert!((437..=563).contains(&split), "{split} of 1000 took split");
    for calls in instances.values() {
        let expected: Vec<String> = if calls.contains(&"split".to_owned()) {
            ["upload", "split"]
                .into_iter()
                .map(String::from)
                .chain((0..5).map(|k| format!("transcode[{k}]")))
                .chain(["merge".to_owned()])
                .collect()
        } else {
            vec!["upload".into(), "simple".into()]
        };
        assert_eq!(calls, &expected, "the VIRTUAL route makes no call");
    }
}

/// A node may call a proxy of the profile (deployed beside the instances' functions, its own endpoint,
/// its own durations), or, `trace`, the instance's function with its own percentiles (no ask); a node of
/// fixed duration and memory is an emulated function of its own.
#[test]
fn a_node_calls_the_proxy_it_names_its_own_function_or_its_instance_s() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "mixed.yaml",
        "name: mixed
nodes:
  - name: A
    function: {duration_ms: 5, memory_mb: 16}
    next: {to: [{node: B, size: 1KB}, {node: C, size: 1KB}]}
  - name: B
    function: {proxy: emu-1ms-16mi}
  - name: C
    function: trace
",
    );
    let out = dir.path().join("run");
    ok(&loadgen(&[
        "run",
        "-o",
        s(&out),
        "--workflow",
        s(&file),
        "--rps",
        "10",
        "-m",
        "false",
        "-d",
        "1",
        "-w",
        "0",
    ]));
    let mut endpoint_of: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut asked: Vec<(String, Record)> = Vec::new();
    read_workflow_records(&out.join("records.csv"), |r, endpoint, node| {
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        let node = node.unwrap().to_owned();
        endpoint_of
            .entry(node.clone())
            .or_default()
            .insert(endpoint.to_owned());
        asked.push((node, *r));
    })
    .unwrap();
    assert_eq!(asked.len(), 30, "10 instances of 3 nodes");
    // A calls its own function, B the proxy it names, C the instance's function: three servers.
    let all: std::collections::BTreeSet<&String> = endpoint_of.values().flatten().collect();
    assert_eq!(all.len(), 3, "{endpoint_of:?}");
    assert!(
        endpoint_of.values().all(|e| e.len() == 1),
        "{endpoint_of:?}"
    );
    let endpoints = std::fs::read_to_string(out.join("endpoints.json")).unwrap();
    assert!(
        endpoints.contains("emu-1ms-16mi") && endpoints.contains("wf-mixed-A"),
        "{endpoints}"
    );
    // A asks its 5 ms; B and C ask nothing: their requests carry only their 1,000-byte payload (a gRPC
    // `name` of 1,003 bytes encoded, no ask in the metadata field). C (`trace`) runs what its instance's
    // function draws (the load shape's proxy, 98 ms nominal, 0.8 to 1.5 times that); B its own proxy's
    // 1 ms, plus any wait for a thread another call's computing holds on this one-CPU fleet: its fastest
    // call is faster than C's fastest.
    let of = |node: &'static str| asked.iter().filter(move |(n, _)| n == node).map(|(_, r)| r);
    let exec = |node: &'static str| -> Vec<u64> { of(node).map(|r| r.exec_us.unwrap()).collect() };
    for node in ["B", "C"] {
        assert!(
            of(node).all(|r| r.wire.request_bytes == Some(1003)),
            "{node} asks nothing: {:?}",
            of(node).collect::<Vec<_>>()
        );
    }
    assert!(exec("A").iter().all(|&e| e >= 5_000), "{:?}", exec("A"));
    assert!(exec("C").iter().all(|&e| e >= 78_000), "{:?}", exec("C"));
    let fastest = |node: &'static str| exec(node).into_iter().min().unwrap();
    assert!(
        fastest("B") < fastest("C"),
        "B {:?} C {:?}",
        exec("B"),
        exec("C")
    );
}
