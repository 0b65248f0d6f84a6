//! A workflow load's data through a real redis-server (`--store`), in both orchestrations: every edge
//! written by its producer and read (and deleted) by its consumer, the store's time split out of the
//! instances' overhead, and an input that is not there failing its call by name.

use std::time::Duration;

use formats::records::{read_workflow_records, Outcome};
use invoker::dispatch::{replay, Orchestration, ReplayOptions};
use invoker::schedule::Schedule;
use testkit::turn;

mod common;
use common::diamonds::{diamond_options, diamonds, waiting_function};

/// Replays 10 diamonds over HTTP with their data through a real redis-server, orchestrated as asked:
/// every node answers, its request carries nothing, its function says how long it spent on the store,
/// the instances' rows split that out of their overhead, and the store is left empty.
fn diamonds_through_a_store(orchestration: Orchestration) {
    let _turn = turn();
    let redis = testkit::redis::Redis::start();
    let server = waiting_function();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.json");
    let endpoints = vec![server.endpoint().replace("127.0.0.1", "http://127.0.0.1")];
    let instances = 10u64;
    diamonds(&path, &endpoints, instances, 50_000);
    let schedule = Schedule::from_file(&path, 1_000_000, 0, 1).unwrap();
    let summary = replay(
        schedule,
        ReplayOptions {
            store: Some(redis.url()),
            ..diamond_options(dir.path(), orchestration)
        },
    )
    .unwrap();
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(server.metrics().requests(), instances * 4);
    let mut records = Vec::new();
    read_workflow_records(&dir.path().join("records.csv"), |r, _, node| {
        records.push((node.unwrap().to_owned(), *r));
    })
    .unwrap();
    assert_eq!(records.len(), 40);
    for (node, r) in &records {
        assert_eq!(r.outcome, Outcome::Ok, "{node}: {r:?}");
        // The data went through the store, not the request.
        assert_eq!(r.wire.request_bytes, Some(0), "{node}: {r:?}");
        // Every node reads or writes there (A writes B's and C's inputs, D reads its own).
        let moved = r
            .wire
            .transfer_us
            .expect("the function timed its store transfers");
        assert!(moved > 0 && moved < r.exec_us.unwrap(), "{node}: {r:?}");
    }
    let text = std::fs::read_to_string(dir.path().join("workflows.csv")).unwrap();
    for line in text.lines().skip(1) {
        let f: Vec<u64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        let (end_to_end, critical, overhead, transfer) = (f[6], f[7], f[8], f[9]);
        // The longest path (by execution time, transfers in it) split in two: computing and moving.
        assert!(transfer > 0 && critical + transfer >= 55_000, "{text}");
        assert_eq!(overhead, end_to_end - critical - transfer, "{text}");
    }
    // Each consumer deleted what it read: nothing of the run is left.
    assert_eq!(redis.keys(), 0);
}

#[test]
fn client_orchestration_moves_each_edge_through_a_store_and_leaves_it_empty() {
    diamonds_through_a_store(Orchestration::Client);
}

#[test]
fn chained_orchestration_moves_each_edge_through_a_store_and_leaves_it_empty() {
    diamonds_through_a_store(Orchestration::Chained);
}

#[test]
fn a_function_whose_input_is_not_in_the_store_fails_naming_it() {
    let _turn = turn();
    let redis = testkit::redis::Redis::start();
    let server = waiting_function();
    let ops = proto::store::StoreOps {
        url: redis.url(),
        get: vec![proto::store::StoreObject {
            key: "loadgen:test:0:1".into(),
            bytes: 10,
        }],
        put: vec![],
    };
    let mut stream = std::net::TcpStream::connect(server.endpoint()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nhost: f\r\n{}: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        proto::store::STORE_HEADER,
        ops.to_header()
    );
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("input `loadgen:test:0:1` is not there"),
        "{answer}"
    );
}
