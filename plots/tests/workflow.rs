//! A workflow load's figure of where each node's time went: medians per node, stacked, from the
//! records (failed and warm-up calls left out).

use formats::records::{Outcome, Record, RecordsWriter};
use plots::{draw_plan, results_figures, FigureData, Plan};

#[test]
fn a_workflow_s_nodes_show_where_their_time_went_stacked() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let records = dir.join("records.csv");
    let nodes: Vec<String> = vec!["A".into(), "B".into()];
    let mut w = RecordsWriter::new(std::fs::File::create(&records).unwrap())
        .unwrap()
        .with_nodes(&nodes);
    // 10 instances of A → B. A: 10 ms computing, 2 ms on the store, 1 ms of call overhead, 50 µs of
    // release delay; B: 20 ms computing, 3 ms store, 4 ms overhead, 2 ms release delay. One failed B,
    // and a warm-up instance whose odd times must not count.
    for instance in 0..11u64 {
        for (node, (compute, store, overhead, lag_us)) in [
            (10_000u64, 2_000u64, 1_000u64, 50u64),
            (20_000, 3_000, 4_000, 2_000),
        ]
        .into_iter()
        .enumerate()
        {
            let warmup = instance == 10;
            let scale = if warmup { 9 } else { 1 };
            let exec = (compute + store) * scale;
            w.write(
                &Record {
                    workflow: Some(formats::records::WorkflowCall {
                        instance,
                        node: node as u32,
                    }),
                    index: instance * 2 + node as u64,
                    worker: 0,
                    period: 0,
                    endpoint: 0,
                    warmup,
                    scheduled_us: instance * 100_000,
                    dispatch_lag_ns: None,
                    send_lag_ns: Some(lag_us * 1000),
                    latency_us: Some(exec + overhead),
                    latency_from_scheduled_us: Some(exec + overhead),
                    outcome: if instance == 3 && node == 1 {
                        Outcome::Timeout
                    } else {
                        Outcome::Ok
                    },
                    exec_us: Some(exec),
                    instance: Some(1),
                    cold: Some(false),
                    wire: formats::records::Wire {
                        transfer_us: Some(store * scale),
                        ..Default::default()
                    },
                },
                &["f:1".to_owned()],
            )
            .unwrap();
        }
    }
    w.finish().unwrap();
    // The instances' file beside the records says it is a workflow load.
    let rows = [formats::workflows::InstanceRow::default()];
    formats::workflows::write(&dir.join(formats::workflows::WORKFLOWS), &rows).unwrap();
    let mut plan = Plan::default();
    results_figures(&records, &Default::default(), &mut plan).unwrap();
    let figures = draw_plan(dir, plan).unwrap().figures;
    let figure = figures.iter().find(|f| f.name == "workflow_nodes").unwrap();
    assert!(figure.png.is_file() && figure.svg.is_file());
    let FigureData::Histogram(h) = &figure.data else {
        panic!("{:?}", figure.data)
    };
    assert!(h.stacked);
    assert_eq!(h.bins, ["A", "B"]);
    let medians: Vec<(&str, Vec<f64>)> = h
        .series
        .iter()
        .map(|s| (s.name.as_str(), s.values.clone()))
        .collect();
    assert_eq!(
        medians,
        [
            ("computing (exec − store)", vec![10.0, 20.0]),
            ("store transfer", vec![2.0, 3.0]),
            ("call overhead (latency − exec)", vec![1.0, 4.0]),
            ("release delay (send lag)", vec![0.05, 2.0]),
        ]
    );
    assert!(h.title.contains("19 calls"), "{}", h.title);
}
