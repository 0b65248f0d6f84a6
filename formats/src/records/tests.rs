//! The records CSV, written and read back: round trips, the schema read by name, bad lines named.

use super::*;

fn sample() -> Record {
    Record {
        workflow: None,
        index: 0,
        worker: 3,
        period: 1,
        endpoint: 0,
        warmup: false,
        scheduled_us: 1_000_005,
        dispatch_lag_ns: Some(80),
        send_lag_ns: Some(5_500),
        latency_us: Some(70),
        latency_from_scheduled_us: Some(76),
        outcome: Outcome::Ok,
        exec_us: Some(60),
        instance: Some(0x3f2a_00c1_d9e4_b710),
        cold: Some(true),
        wire: Wire {
            protocol: Some(Protocol::Grpc),
            status: Some(0),
            request_bytes: Some(29),
            response_bytes: Some(161),
            transfer_us: Some(42),
        },
    }
}

#[test]
fn records_round_trip_and_bad_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let mut w = RecordsWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    let endpoints = vec!["127.0.0.1:1".to_owned(), "127.0.0.1:2".to_owned()];
    let r = sample();
    let not_sent = Record {
        workflow: None,
        index: 1,
        endpoint: 1,
        outcome: Outcome::NotSentBackPressure,
        dispatch_lag_ns: None,
        send_lag_ns: None,
        latency_us: None,
        latency_from_scheduled_us: None,
        warmup: true,
        exec_us: None,
        instance: None,
        cold: None,
        ..r
    };
    let failed = Record {
        workflow: None,
        index: 2,
        outcome: Outcome::status(14),
        ..r
    };
    for x in [&r, &not_sent, &failed] {
        w.write(x, &endpoints).unwrap();
    }
    w.finish().unwrap();
    let mut rows = Vec::new();
    read_records(&path, |row, e| rows.push((*row, e.to_owned()))).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].0, r);
    assert_eq!(rows[1].0.outcome, Outcome::NotSentBackPressure);
    assert_eq!(rows[1].1, "127.0.0.1:2");
    assert_eq!(rows[1].0.endpoint, 1);
    assert_eq!(rows[2].0.outcome.name(), "error:unavailable");
    assert_eq!(r.sent_us(), Some(1_000_010));
    assert_eq!(r.ended_us(), Some(1_000_081));

    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("3,0,0,x,0,abc,,,,,ok,,,,,,,,,,\n");
    std::fs::write(&path, &text).unwrap();
    let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
    assert!(
        e.contains("r.csv: line 5") && e.contains("`scheduled_us` (`abc`)"),
        "{e}"
    );
    std::fs::write(
        &path,
        format!("{RECORDS_HEADER}\n0,0,99999999999,x,0,1,,,,,ok,,,,,,,,,,\n"),
    )
    .unwrap();
    let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
    assert!(
        e.contains("line 2") && e.contains("`period`") && e.contains("too large"),
        "{e}"
    );
    std::fs::write(
        &path,
        format!("{RECORDS_HEADER}\n0,0,0,x,0,1,,,,,maybe,,,,,,,,,,\n"),
    )
    .unwrap();
    let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
    assert!(
        e.contains("line 2") && e.contains("(`maybe`) is not an outcome"),
        "{e}"
    );
    std::fs::write(
        &path,
        format!("{RECORDS_HEADER}\n0,0,0,x,0,1,,,,,ok,5,xyz,1,,,,,,,\n"),
    )
    .unwrap();
    let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("`instance` (`xyz`)"), "{e}");
    std::fs::write(
        &path,
        format!("{RECORDS_HEADER}\n0,0,0,x,0,1,,,,,ok,,,,spdy,70000,,,,,\n"),
    )
    .unwrap();
    let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("`protocol` (`spdy`)"), "{e}");
    std::fs::write(&path, b"index\xff\n").unwrap();
    let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("line 1") && e.contains("not UTF-8"), "{e}");
}

#[test]
fn the_header_names_every_column_in_order() {
    let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(RECORDS_HEADER, names.join(","));
    for (k, c) in Column::ALL.iter().enumerate() {
        assert_eq!(*c as usize, k, "{c:?}");
    }
}

#[test]
fn readers_find_columns_by_name_skip_new_ones_and_name_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    // Reordered, with a column a newer writer appended, and without what the function said.
    std::fs::write(
        &path,
        "outcome,index,worker,period,endpoint,warmup,scheduled_us,dispatch_lag_ns,send_lag_ns,\
         latency_us,latency_from_scheduled_us,tcp_rtt_us\n\
         ok,7,0,2,127.0.0.1:1,0,1000,1,2,30,31,200\n",
    )
    .unwrap();
    let mut rows = Vec::new();
    read_records(&path, |r, e| rows.push((*r, e.to_owned()))).unwrap();
    assert_eq!(rows.len(), 1);
    let (r, e) = &rows[0];
    assert_eq!((r.index, r.period, r.scheduled_us), (7, 2, 1000));
    assert_eq!(
        (r.latency_us, r.latency_from_scheduled_us),
        (Some(30), Some(31))
    );
    assert_eq!((r.outcome, r.exec_us, r.cold), (Outcome::Ok, None, None));
    assert_eq!(r.wire, Wire::default());
    assert_eq!(e, "127.0.0.1:1");

    std::fs::write(&path, "index,worker,period,endpoint,warmup,scheduled_us\n").unwrap();
    let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
    assert!(
        e.contains("line 1") && e.contains("no `dispatch_lag_ns` column"),
        "{e}"
    );
    std::fs::write(&path, format!("{RECORDS_HEADER}\n0,0,0,x,0,1,,,,,ok,,\n")).unwrap();
    let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("line 2: 13 fields, expected 21"), "{e}");
}

#[test]
fn every_outcome_name_parses_back() {
    let mut all = vec![
        Outcome::Ok,
        Outcome::Timeout,
        Outcome::NotSentBackPressure,
        Outcome::NotSentInterrupted,
        Outcome::Cancelled,
        Outcome::NotSentLateStart,
        Outcome::NotSentUpstreamFailed,
        Outcome::WorkerLost,
        Outcome::WorkerLostUnknown,
    ];
    all.extend((0..17).map(Outcome::status));
    all.extend([100, 404, 503, 599].map(|c| Outcome::http(c).unwrap()));
    assert_eq!(Outcome::http(204), Some(Outcome::Ok));
    assert_eq!(Outcome::http(600), None);
    assert_eq!(Outcome::http(404).unwrap().name(), "http_404");
    for o in all {
        assert_eq!(Outcome::parse(o.name()), Some(o), "{}", o.name());
    }
    assert_eq!(Outcome::status(99).name(), "error:unknown");
    assert_eq!(Outcome::status(-1).name(), "error:unknown");
}

#[test]
fn workflow_calls_round_trip_with_their_node_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.csv");
    let nodes = vec!["A".to_owned(), "B".to_owned()];
    let endpoints = vec!["e:1".to_owned()];
    let mut w = RecordsWriter::new(std::fs::File::create(&path).unwrap())
        .unwrap()
        .with_nodes(&nodes);
    let in_workflow = Record {
        workflow: Some(WorkflowCall {
            instance: 42,
            node: 1,
        }),
        ..sample()
    };
    w.write(&in_workflow, &endpoints).unwrap();
    w.write(&sample(), &endpoints).unwrap();
    w.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].ends_with(",workflow_instance,node,transfer_us"),
        "{text}"
    );
    assert!(lines[1].ends_with(",42,B,42"), "{text}");
    assert!(lines[2].ends_with(",,,42"), "{text}");
    let mut read = Vec::new();
    read_workflow_records(&path, |r, _, node| read.push((*r, node.map(str::to_owned)))).unwrap();
    // Nodes are numbered in the order the reader meets them; the name is what stays.
    let (first, node) = &read[0];
    assert_eq!(node.as_deref(), Some("B"));
    assert_eq!(first.workflow.map(|w| w.instance), Some(42));
    assert_eq!(
        Record {
            workflow: None,
            ..*first
        },
        sample()
    );
    assert_eq!(read[1], (sample(), None));
    // A workflow instance without its node is refused, with the line.
    std::fs::write(&path, text.replace(",42,B", ",42,")).unwrap();
    let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("`node` is empty"), "{e}");
}
