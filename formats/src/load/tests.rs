//! Tests of the load format: round trips, positions in errors, shards, per-call asks.
use super::*;

fn written(periods: &[&[Invocation]], endpoints: &[&str]) -> (Vec<u8>, WriteStats) {
    let endpoints: Vec<String> = endpoints.iter().map(|s| s.to_string()).collect();
    let mut buf = Vec::new();
    let mut w = LoadWriter::new(&mut buf, &endpoints).unwrap();
    for p in periods {
        w.write_period(p).unwrap();
    }
    let (_, stats) = w.finish().unwrap();
    (buf, stats)
}

#[test]
fn layout_is_python_indent_2() {
    let calls = [
        Invocation {
            offset_us: 5,
            endpoint: 0,
        },
        Invocation {
            offset_us: 9,
            endpoint: 1,
        },
    ];
    let (bytes, stats) = written(&[&calls, &[]], &["a", "b\"q"]);
    let expected = "[\n  {\n    \"timestamp\": [\n      5,\n      9\n    ],\n    \"endpoint\": [\n      \"a\",\n      \"b\\\"q\"\n    ]\n  },\n  {\n    \"timestamp\": [],\n    \"endpoint\": []\n  }\n]\n";
    assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    assert_eq!(stats.invocations, 2);
    assert_eq!(stats.periods, 2);
    assert_eq!(stats.bytes as usize, expected.len());
}

#[test]
fn empty_load_is_an_empty_list() {
    let mut buf = Vec::new();
    let (_, stats) = LoadWriter::new(&mut buf, &[]).unwrap().finish().unwrap();
    assert_eq!(buf, b"[]\n");
    assert_eq!(stats.bytes, 3);
}

#[test]
fn read_round_trips_and_interns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.json");
    let endpoints = vec!["x:1".to_string(), "y:2".to_string()];
    let mut w = LoadWriter::create(&path, &endpoints).unwrap();
    let p0 = vec![
        Invocation {
            offset_us: 1,
            endpoint: 1,
        },
        Invocation {
            offset_us: 1,
            endpoint: 0,
        },
    ];
    w.write_period(&p0).unwrap();
    w.write_period(&[]).unwrap();
    w.commit().unwrap();
    let load = read(&path).unwrap();
    // Interned in order of first appearance: y first.
    assert_eq!(load.endpoints, vec!["y:2", "x:1"]);
    assert_eq!(load.periods.len(), 2);
    assert_eq!(load.invocations(), 2);
    assert_eq!(load.periods[0].calls[0].endpoint, 0);
    assert_eq!(load.periods[0].calls[1].endpoint, 1);
}

#[test]
fn read_errors_name_the_position_and_period() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, "[{\"timestamp\": [1, 2], \"endpoint\": [\"a\"]}]").unwrap();
    let e = read(&path).unwrap_err().to_string();
    assert!(
        e.contains("bad.json")
            && e.contains("period 1")
            && e.contains("2 timestamps but 1 endpoints"),
        "{e}"
    );
    std::fs::write(
        &path,
        "[{\"timestamp\": [1, -2], \"endpoint\": [\"a\", \"b\"]}]",
    )
    .unwrap();
    let e = read(&path).unwrap_err().to_string();
    assert!(e.contains("line 1, column"), "{e}");
    std::fs::write(&path, "[{\"endpoint\": []}]").unwrap();
    assert!(read(&path)
        .unwrap_err()
        .to_string()
        .contains("missing `timestamp`"));
    let missing = dir.path().join("none.json");
    assert!(matches!(read(&missing), Err(LoadError::Io { .. })));
}

#[test]
fn offsets_past_their_period_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.json");
    std::fs::write(
        &path,
        r#"[{"timestamp": [0, 1000000], "endpoint": ["a", "a"]},
            {"timestamp": [5, 1000001], "endpoint": ["a", "b"]}]"#,
    )
    .unwrap();
    let load = read(&path).unwrap();
    assert!(load.check_offsets(&path, 2_000_000).is_ok());
    let e = load
        .check_offsets(&path, 1_000_000)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("load.json: period 2, call 1: timestamp 1000001"),
        "{e}"
    );
}

#[test]
fn per_call_asks_round_trip_and_must_match_the_calls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.json");
    let endpoints = vec!["a:1".to_owned()];
    let calls = [
        Invocation {
            offset_us: 5,
            endpoint: 0,
        },
        Invocation {
            offset_us: 9,
            endpoint: 0,
        },
    ];
    let asks = [
        CallAsk {
            duration_us: 1500,
            memory_mb: 64,
        },
        CallAsk {
            duration_us: 2500,
            memory_mb: 32,
        },
    ];
    let mut w = LoadWriter::create(&path, &endpoints).unwrap();
    w.write_period_with(&calls, &asks, &[]).unwrap();
    w.write_period(&calls).unwrap();
    w.write_period_with(&calls, &[], &[0, 70_000]).unwrap();
    w.commit().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"duration_us\": [\n      1500,\n      2500\n    ]"),
        "{text}"
    );
    let load = read(&path).unwrap();
    assert_eq!(load.periods[0].asks, asks);
    assert!(load.periods[1].asks.is_empty());
    assert!(load.periods[0].payloads.is_empty());
    assert_eq!(load.periods[2].payloads, [0, 70_000]);
    assert!(
        text.contains("\"payload_bytes\": [\n      0,\n      70000\n    ]"),
        "{text}"
    );
    // Still vSwarm's shape: any JSON reader sees the two arrays it knows.
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v[0]["timestamp"][1], 9);
    std::fs::write(
        &path,
        r#"[{"timestamp":[1,2],"endpoint":["a","a"],"duration_us":[5]}]"#,
    )
    .unwrap();
    let e = read(&path).unwrap_err().to_string();
    assert!(e.contains("both be there or neither"), "{e}");
    std::fs::write(
        &path,
        r#"[{"timestamp":[1,2],"endpoint":["a","a"],"payload_bytes":[5]}]"#,
    )
    .unwrap();
    let e = read(&path).unwrap_err().to_string();
    assert!(e.contains("2 timestamps but 1 payload sizes"), "{e}");

    // A call that asks nothing beside calls that ask: null in both arrays.
    let mixed = [asks[0], CallAsk::NOTHING];
    let mut w = LoadWriter::create(&path, &endpoints).unwrap();
    w.write_period_with(&calls, &mixed, &[]).unwrap();
    w.commit().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"memory_mb\": [\n      64,\n      null\n    ]"),
        "{text}"
    );
    let load = read(&path).unwrap();
    assert_eq!(load.periods[0].asks, mixed);
    assert_eq!(load.periods[0].asks[1].asked(), None);
    std::fs::write(
        &path,
        r#"[{"timestamp":[1,2],"endpoint":["a","a"],"duration_us":[5,null],"memory_mb":[1,2]}]"#,
    )
    .unwrap();
    let e = read(&path).unwrap_err().to_string();
    assert!(
        e.contains("period 1, call 1: `duration_us` and `memory_mb` are both null"),
        "{e}"
    );
}

#[test]
fn workflow_steps_round_trip_and_bad_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.json");
    let endpoints = vec!["a:1".to_owned(), "b:1".to_owned()];
    let nodes = vec![
        "A".to_owned(),
        "B".to_owned(),
        "C".to_owned(),
        "D".to_owned(),
    ];
    let at = |offset_us, endpoint| Invocation {
        offset_us,
        endpoint,
    };
    // A diamond, instance 7: A; B and C after A; D after B and C.
    let calls = [at(10, 0), at(10, 1), at(10, 1), at(10, 0)];
    let step = |node, after: &[u32], sizes: &[u64]| WorkflowStep {
        instance: 7,
        node,
        after: after.to_vec(),
        after_bytes: sizes.to_vec(),
    };
    let steps = [
        step(0, &[], &[]),
        step(1, &[0], &[1024]),
        step(2, &[0], &[1024]),
        step(3, &[1, 2], &[1000, 1048]),
    ];
    let mut w = LoadWriter::create(&path, &endpoints)
        .unwrap()
        .with_nodes(&nodes);
    w.write_workflow_period(&calls, &[], &[0, 1024, 1024, 2048], &steps)
        .unwrap();
    w.write_period(&calls[..1]).unwrap();
    w.commit().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"after\": [\n      [],\n      [0],\n      [0],\n      [1, 2]\n    ]"),
        "{text}"
    );
    assert!(
        text.contains("\"after_bytes\": [\n      [],\n      [1024],\n      [1024],\n      [1000, 1048]\n    ]"),
        "{text}"
    );
    let load = read(&path).unwrap();
    assert_eq!(load.periods[0].steps, steps);
    assert_eq!(load.nodes, nodes);
    assert!(load.periods[1].steps.is_empty());

    for (json, says) in [
        (
            r#"[{"timestamp":[1],"endpoint":["a"],"workflow_instance":[1],"node":["A"]}]"#,
            "must all be there or none",
        ),
        (
            r#"[{"timestamp":[1,1],"endpoint":["a","a"],"workflow_instance":[1,1],"node":["A","B"],"after":[[],[1]]}]"#,
            "period 1, call 1: `after` names call 1 of workflow instance 1",
        ),
        (
            r#"[{"timestamp":[1,2],"endpoint":["a","a"],"workflow_instance":[1,1],"node":["A","B"],"after":[[],[0]]}]"#,
            "has calls at 1 µs and at 2 µs",
        ),
        (
            r#"[{"timestamp":[1],"endpoint":["a"],"workflow_instance":[1],"node":["A"],"after":[[]]},
                {"timestamp":[1],"endpoint":["a"],"workflow_instance":[1],"node":["B"],"after":[[]]}]"#,
            "period 2, call 0: workflow instance 1 has calls in an earlier period",
        ),
        (
            r#"[{"timestamp":[1,1],"endpoint":["a","a"],"workflow_instance":[1,1],"node":["A","B"],"after":[[],[0]],"after_bytes":[[],[]]}]"#,
            "period 1, call 1: `after_bytes` has 0 sizes for 1 calls in `after`",
        ),
    ] {
        std::fs::write(&path, json).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains(says) && e.contains("load.json"), "{e}");
    }
}

#[test]
fn shards_deal_calls_round_robin() {
    for workers in [1, 2, 3, 7] {
        for g in 0..50 {
            let (w, local) = shard_of(g, workers);
            assert!(w < workers);
            assert_eq!(whole_index(w, local, workers), g);
        }
    }
    assert_eq!(shard_of(7, 3), (1, 2));
}

#[test]
fn shard_names() {
    assert_eq!(
        shard_path(Path::new("out/load.json"), 3),
        Path::new("out/load-3.json")
    );
    assert_eq!(shard_path(Path::new("load"), 0), Path::new("load-0"));
}
