//! Workflow loads against emulated functions on loopback, orchestrated by the invoker (client) or by
//! the functions (chained): a diamond (A → B, C → D) per instance, each node called once, only after the
//! nodes it waits for answered, bytes as sized, and a failed node's successors not called.

use std::collections::BTreeMap;
use std::time::Duration;

use formats::records::{read_workflow_records, Outcome, Record};
use formats::{CallAsk, Invocation, LoadWriter, WorkflowStep};
use invoker::dispatch::{replay, Orchestration, ReplayOptions};
use invoker::schedule::Schedule;
use testkit::turn;

mod common;
use common::diamonds::{diamond_options, diamonds, waiting_function, NODES};

/// Replays 10 diamonds, instance 3's B sent where nothing listens, orchestrated as asked, over HTTP/1.1
/// or gRPC; checks what each node's record says and the instances' rows.
fn diamonds_run(orchestration: Orchestration, grpc: bool) {
    let _turn = turn();
    let server = waiting_function();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.json");
    let endpoints = if grpc {
        vec![server.endpoint(), "127.0.0.1:1".to_owned()]
    } else {
        vec![
            server.endpoint().replace("127.0.0.1", "http://127.0.0.1"),
            // Nothing listens here: the calls sent to it fail at once.
            "http://127.0.0.1:1/".to_owned(),
        ]
    };
    let instances = 10u64;
    diamonds(&path, &endpoints, instances, 50_000);

    let schedule = Schedule::from_file(&path, 1_000_000, 0, 1).unwrap();
    let summary = replay(
        schedule,
        ReplayOptions {
            allow_unreachable: true,
            ..diamond_options(dir.path(), orchestration)
        },
    )
    .unwrap();
    assert_eq!(summary.scheduled, instances * 4, "{summary:?}");
    // The failed call's cause is the run's, once; in chained orchestration in the calling function's words.
    let cause = &summary.failures[&endpoints[1]];
    if orchestration == Orchestration::Chained {
        assert!(cause.starts_with("called by a function: "), "{cause}");
    }
    assert!(cause.contains("127.0.0.1:1"), "{cause}");
    // Every node but instance 3's B (sent where nothing listens) and D (after it) was called exactly
    // once: the function counted them.
    assert_eq!(
        server.metrics().requests(),
        instances * 4 - 2,
        "{orchestration:?}"
    );

    let mut by_instance: BTreeMap<u64, BTreeMap<String, Record>> = BTreeMap::new();
    // The records come in the load's order (each instance's calls in its graph's order), whichever way
    // and whenever the calls ended.
    let mut last_index = None;
    read_workflow_records(&dir.path().join("records.csv"), |r, endpoint, node| {
        assert!(
            last_index < Some(r.index),
            "{} after {last_index:?}",
            r.index
        );
        last_index = Some(r.index);
        // Each record names the endpoint its call went to (instance 3's B: nowhere).
        let unreachable = r.workflow.is_some_and(|w| w.instance == 103) && node == Some("B");
        assert_eq!(endpoint, endpoints[usize::from(unreachable)], "{r:?}");
        let w = r.workflow.expect("every call is a workflow step");
        let previous = by_instance
            .entry(w.instance)
            .or_default()
            .insert(node.unwrap().to_owned(), *r);
        assert!(
            previous.is_none(),
            "instance {} node {node:?} twice",
            w.instance
        );
    })
    .unwrap();
    assert_eq!(by_instance.len(), instances as usize);
    let chained = orchestration == Orchestration::Chained;
    for (instance, calls) in &by_instance {
        let node = |n: &str| &calls[n];
        if *instance == 103 {
            assert_eq!(node("B").outcome, Outcome::status(14), "{calls:?}");
            assert_eq!(node("C").outcome, Outcome::Ok);
            assert_eq!(node("D").outcome, Outcome::NotSentUpstreamFailed);
            assert_eq!(node("D").send_lag_ns, None);
            continue;
        }
        assert!(
            calls.values().all(|r| r.outcome == Outcome::Ok),
            "{calls:?}"
        );
        let (sent, ended) = (
            |n: &str| node(n).sent_us().unwrap(),
            |n: &str| node(n).ended_us().unwrap(),
        );
        let exec = |n: &str| node(n).exec_us.unwrap();
        if chained {
            // A calls B and C after its own work (the function's clock against the invoker's: 1 ms of
            // slack), and answers only once they all did; the nodes it called have no send lag.
            assert!(
                sent("B") + 1000 >= sent("A") + exec("A")
                    && sent("C") + 1000 >= sent("A") + exec("A"),
                "{calls:?}"
            );
            assert!(ended("A") + 1000 >= ended("D"), "{calls:?}");
            assert!(["B", "C", "D"]
                .iter()
                .all(|n| node(n).send_lag_ns.is_none()));
        } else {
            assert!(
                sent("B") >= ended("A") && sent("C") >= ended("A"),
                "{calls:?}"
            );
        }
        // Each node goes only once every node it waits for has answered.
        assert!(sent("D") >= ended("B").max(ended("C")), "{calls:?}");
        // Bytes as sized (a gRPC entry's count is its encoded message).
        for (name, _, bytes) in NODES {
            let sent_bytes = node(name).wire.request_bytes.unwrap();
            if grpc && !(chained && name != "A") {
                assert!(sent_bytes >= u64::from(bytes), "{name}: {sent_bytes}");
            } else {
                assert_eq!(sent_bytes, u64::from(bytes), "{name}");
            }
        }
        // End to end (from the entry's due time) is at least the critical path of the functions' own
        // times (in chained orchestration, A's own time does not hold its wait for the others).
        let critical = exec("A") + exec("B").max(exec("C")) + exec("D");
        assert!(critical >= 55_000, "{calls:?}");
        let end = calls.values().filter_map(Record::ended_us).max().unwrap();
        assert!(end - node("A").scheduled_us >= critical, "{calls:?}");
    }

    // One row per instance: end to end from its due time, its critical path, what it sent.
    let text = std::fs::read_to_string(dir.path().join("workflows.csv")).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), instances as usize, "{text}");
    for row in &rows {
        let number = |k: usize| row[k].parse::<u64>().ok();
        let instance = number(0).unwrap();
        let calls = &by_instance[&instance];
        assert_eq!(number(1), Some(0), "{text}");
        let row = &row[1..];
        let number = |k: usize| row[k].parse::<u64>().ok();
        assert_eq!(number(1), Some(calls["A"].scheduled_us), "{text}");
        assert_eq!(number(2), Some(4));
        if instance == 103 {
            // B failed and D was not sent: no end-to-end figure.
            assert_eq!((number(3), row[5], row[7]), (Some(2), "", ""), "{text}");
            continue;
        }
        assert_eq!(number(3), Some(0), "{text}");
        let sent: u64 = calls.values().map(|r| r.wire.request_bytes.unwrap()).sum();
        assert_eq!(number(4), Some(sent), "{text}");
        // The longest path by execution time (which holds each function's data transfer, here its
        // inline input's arrival), split into computing and transfer.
        let exec = |n: &str| calls[n].exec_us.unwrap();
        let moved = |n: &str| calls[n].wire.transfer_us.unwrap_or(0);
        let branch = if (exec("B"), moved("B")) >= (exec("C"), moved("C")) {
            "B"
        } else {
            "C"
        };
        let path = ["A", branch, "D"];
        let longest: u64 = path.iter().map(|n| exec(n)).sum();
        let transfer: u64 = path.iter().map(|n| moved(n)).sum();
        assert!(moved("D") > 0, "D's input arrived, timed: {calls:?}");
        let end =
            calls.values().filter_map(Record::ended_us).max().unwrap() - calls["A"].scheduled_us;
        assert_eq!(
            (number(5), number(6), number(8)),
            (Some(end), Some(longest - transfer), Some(transfer)),
            "{text}"
        );
        assert_eq!(number(7), Some(end - longest));
    }
}

#[test]
fn client_orchestration_sends_each_node_once_its_predecessors_answered_and_stops_at_a_failure() {
    diamonds_run(Orchestration::Client, false);
}

#[test]
fn chained_orchestration_over_http_has_the_functions_call_each_node_once_and_report_it() {
    diamonds_run(Orchestration::Chained, false);
}

#[test]
fn chained_orchestration_over_grpc_has_the_functions_call_each_node_once_and_report_it() {
    diamonds_run(Orchestration::Chained, true);
}

#[test]
fn a_stop_leaves_every_call_of_every_instance_with_its_record() {
    let _turn = turn();
    let server = waiting_function();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.json");
    let endpoints = vec![server.endpoint()];
    // 200 instances over the first 0.8 s of a 1 s period: a stop lands among them.
    diamonds(&path, &endpoints, 200, 4_000);
    let schedule = Schedule::from_file(&path, 1_000_000, 0, 1).unwrap();
    let observer = std::sync::Arc::new(invoker::observe::Observer::for_schedule(&schedule));
    let stop = cmdline::Stop::new();
    let stopper = {
        let (observer, stop) = (std::sync::Arc::clone(&observer), stop.clone());
        std::thread::spawn(move || {
            // Once the first instances have gone: stop.
            testkit::wait_until(Duration::from_secs(10), "calls sent", || {
                (observer.counts().1 >= 40).then_some(())
            });
            stop.request();
        })
    };
    let summary = replay(
        schedule,
        ReplayOptions {
            grpc_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            shared_cpu: true,
            records: Some(dir.path().join("records.csv")),
            latency_file: Some(dir.path().join("lat.txt")),
            workflows_file: Some(dir.path().join("workflows.csv")),
            observer: Some(observer),
            stop,
            ..ReplayOptions::default()
        },
    )
    .unwrap();
    stopper.join().unwrap();
    let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
    let mut calls = 0;
    read_workflow_records(&dir.path().join("records.csv"), |r, _, _| {
        calls += 1;
        *outcomes.entry(r.outcome.name()).or_default() += 1;
    })
    .unwrap();
    // Every call has its record, sent or not; the unreleased ones say the run was interrupted.
    assert_eq!(calls, 800, "{outcomes:?}");
    assert!(
        outcomes.get("ok").copied().unwrap_or(0) >= 40,
        "{outcomes:?}"
    );
    assert!(
        outcomes.get("not_sent:interrupted").copied().unwrap_or(0) > 0,
        "{outcomes:?}"
    );
    assert_eq!(summary.scheduled, 800);
    let rows = std::fs::read_to_string(dir.path().join("workflows.csv")).unwrap();
    assert_eq!(rows.lines().count(), 201, "{rows}");
}

#[test]
fn a_chained_node_too_slow_for_the_call_timeout_is_given_up_in_time_for_the_entry_to_report_it() {
    let _turn = turn();
    let server = waiting_function();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.json");
    // One instance of A (5 ms) → B (3 s), under a 1 s call timeout.
    let nodes = vec!["A".to_owned(), "B".to_owned()];
    let mut writer = LoadWriter::create(&path, &[server.endpoint()])
        .unwrap()
        .with_nodes(&nodes);
    let call = Invocation {
        offset_us: 0,
        endpoint: 0,
    };
    let ask = |ms: u64| CallAsk {
        duration_us: ms * 1000,
        memory_mb: 0,
    };
    let step = |node: u32, after: Vec<u32>| WorkflowStep {
        instance: 7,
        node,
        after,
        after_bytes: Vec::new(),
    };
    writer
        .write_workflow_period(
            &[call, call],
            &[ask(5), ask(3000)],
            &[0, 10],
            &[step(0, vec![]), step(1, vec![0])],
        )
        .unwrap();
    writer.commit().unwrap();
    let schedule = Schedule::from_file(&path, 1_000_000, 0, 1).unwrap();
    let summary = replay(
        schedule,
        ReplayOptions {
            grpc_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(2),
            shared_cpu: true,
            records: Some(dir.path().join("records.csv")),
            latency_file: Some(dir.path().join("lat.txt")),
            orchestration: Orchestration::Chained,
            ..ReplayOptions::default()
        },
    )
    .unwrap();
    let mut calls: BTreeMap<String, Record> = BTreeMap::new();
    read_workflow_records(&dir.path().join("records.csv"), |r, _, node| {
        calls.insert(node.unwrap().to_owned(), *r);
    })
    .unwrap();
    // A answered within the timeout, having given B up 20 ms before its own deadline; B's record says so.
    assert_eq!(calls["A"].outcome, Outcome::Ok, "{calls:?}");
    let latency = calls["A"].latency_us.unwrap();
    assert!((900_000..1_000_000).contains(&latency), "{calls:?}");
    assert_eq!(calls["B"].outcome, Outcome::status(14), "{calls:?}");
    let cause = &summary.failures[&server.endpoint()];
    assert!(cause.contains("no answer within"), "{cause}");
}
