//! Workers send their records in chunks while they replay (`--records-chunk`): a 4-worker run of 200,000
//! calls in chunks of 10,000 merges into the one-invoker ordering with the summary's percentiles those of
//! its records, and a worker killed after its third chunk keeps those 30,000 calls (and any later chunk it
//! finished), the rest of its calls recorded as `not_sent:worker_lost`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::pods::{self, worker_running_for};
use common::{ok, run_loadgen, s, wait_bounded, LIMIT, LOADGEN};
use formats::records::{read_records, Outcome, Record};
use formats::summary::Summary;
use invoker::schedule::Schedule;

const CHUNK: u64 = 10_000;

/// An RPS run of `rps` calls a second for `seconds` (no warm-up) into `out`, with `extra` flags.
fn rps_args<'a>(out: &'a Path, rps: &'a str, seconds: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "-o",
        s(out),
        "--rps",
        rps,
        "-m",
        "false",
        "-d",
        seconds,
        "-w",
        "0",
        "--seed",
        "11",
        "-q",
    ];
    args.extend_from_slice(extra);
    args
}

/// A run's records, in file order, with their endpoints' places in the run's load (the servers' ports
/// differ between runs).
fn records_by_place(out: &Path) -> Vec<(Record, usize)> {
    let endpoints = formats::read(&out.join("load.json")).unwrap().endpoints;
    records_of(out)
        .into_iter()
        .map(|(r, e)| (r, endpoints.iter().position(|x| *x == e).unwrap()))
        .collect()
}

/// A run's records, in file order, with their endpoints.
fn records_of(out: &Path) -> Vec<(Record, String)> {
    let mut records = Vec::new();
    read_records(&out.join("records.csv"), |r, e| {
        records.push((*r, e.to_owned()))
    })
    .unwrap();
    records
}

fn summary_of(out: &Path) -> Summary {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// Nearest-rank percentile of sorted `values`.
fn percentile(values: &[u64], q: f64) -> f64 {
    formats::nearest_rank(values, q) as f64
}

#[test]
fn four_workers_in_chunks_merge_into_the_one_invoker_order_with_its_percentiles() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let (one, four) = (dir.path().join("one"), dir.path().join("four"));
    ok(&run_loadgen(
        &rps_args(&one, "20000", "10", &[]),
        &[],
        LIMIT,
    ));
    ok(&run_loadgen(
        &rps_args(
            &four,
            "20000",
            "10",
            &["--workers", "4", "--records-chunk", "10000"],
        ),
        &[],
        LIMIT,
    ));
    let (single, merged) = (records_by_place(&one), records_by_place(&four));
    assert_eq!(single.len(), 200_000);
    assert_eq!(merged.len(), single.len());
    for (g, ((a, ea), (b, eb))) in single.iter().zip(&merged).enumerate() {
        assert_eq!(
            (a.index, a.scheduled_us, ea),
            (b.index, b.scheduled_us, eb),
            "call {g}"
        );
        assert_eq!(b.worker, g as u32 % 4, "call {g}");
    }
    // Every worker sent 50,000 records in 5 chunks, all used; none is left in the run directory.
    let summary = summary_of(&four);
    for w in &summary.workers {
        assert!(w.lost.is_none(), "{w:?}");
        assert_eq!(w.calls, 50_000);
    }
    for k in 0..4 {
        let left: Vec<_> = std::fs::read_dir(four.join("workers").join(k.to_string()))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("records"))
            .collect();
        assert!(left.is_empty(), "worker {k} left {left:?}");
    }
    // The run's figures are the workers' histograms merged: each sent them with its summary (kept in
    // workers/K/), and the run's summary does not repeat them.
    for k in 0..4 {
        let sent = formats::summary::read(&four.join(format!("workers/{k}/summary.json"))).unwrap();
        let collected = sent.collected.expect("a worker sends its histograms");
        assert_eq!(collected.records, 50_000);
    }
    assert!(summary
        .workers
        .iter()
        .all(|w| w.summary.as_ref().unwrap().collected.is_none()));
    // The summary's latency percentiles are those of the merged records, within the histogram's
    // precision (three significant digits).
    let mut latencies: Vec<u64> = merged
        .iter()
        .filter(|(r, _)| r.outcome == Outcome::Ok && !r.warmup)
        .filter_map(|(r, _)| r.latency_us)
        .collect();
    latencies.sort_unstable();
    assert_eq!(summary.latency_us.count, latencies.len() as u64);
    assert!(
        latencies.len() > 10_000,
        "too few answered calls to compare: {:?}",
        summary.outcomes
    );
    for (q, got) in [
        (0.5, summary.latency_us.p50),
        (0.9, summary.latency_us.p90),
        (0.99, summary.latency_us.p99),
    ] {
        let exact = percentile(&latencies, q);
        assert!(
            (got - exact).abs() <= exact * 0.002 + 1.0,
            "p{}: summary {got}, records {exact}",
            q * 100.0
        );
    }
    // Each period's latency p50 and p99 and send-lag p99, from the merged histograms, are those of its
    // records within the period histograms' two significant digits; a period with no answered (or no
    // sent) call has none. (This machine does not answer every call of 20,000 a second.)
    let mut compared = 0;
    for (p, tally) in summary.per_period.iter().enumerate() {
        let of_period = |pick: &dyn Fn(&Record) -> Option<u64>| {
            let mut v: Vec<u64> = merged
                .iter()
                .filter(|(r, _)| r.period as usize == p)
                .filter_map(|(r, _)| pick(r))
                .collect();
            v.sort_unstable();
            v
        };
        let latency = of_period(&|r| (r.outcome == Outcome::Ok).then_some(r.latency_us).flatten());
        let send_lag = of_period(&|r| r.send_lag_ns);
        for (got, values, q) in [
            (tally.latency_p50_us, &latency, 0.5),
            (tally.latency_p99_us, &latency, 0.99),
            (tally.send_lag_p99_ns, &send_lag, 0.99),
        ] {
            if values.is_empty() {
                assert_eq!(got, None, "period {p}, q {q}");
                continue;
            }
            let (got, exact) = (got.unwrap() as f64, percentile(values, q));
            assert!(
                (got - exact).abs() <= exact * 0.01 + 1.0,
                "period {p}, q {q}: summary {got}, records {exact}"
            );
            compared += values.len();
        }
    }
    assert!(compared > 10_000, "too few calls compared: {compared}");
}

#[test]
fn a_worker_killed_after_three_chunks_keeps_them_and_loses_the_rest() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = rps_args(
        &out,
        "6000",
        "20",
        &["--workers", "2", "--records-chunk", "10000"],
    );
    let child = Command::new(LOADGEN)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let worker_1 = worker_running_for(s(&out.join("workers/1/invoker")), 0.0, LIMIT);
    // The coordinator keeps worker 1's chunks beside its work directory.
    let work = pods::arg_of(worker_1, "--work-dir").unwrap();
    let received = Path::new(&work).parent().unwrap().to_owned();
    testkit::wait_until(
        Duration::from_secs(60),
        "worker 1's third chunk to reach the coordinator",
        || {
            received
                .join(formats::transfer::chunk_name(
                    2,
                    formats::compressed::Compression::None,
                ))
                .exists()
                .then_some(())
        },
    );
    unsafe { libc::kill(worker_1, libc::SIGKILL) };
    let run = wait_bounded(child, LIMIT);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(text.contains("worker 1   lost"), "{text}");

    let schedule = Schedule::from_file(&out.join("load.json"), 1_000_000, 0, 20).unwrap();
    let records = records_of(&out);
    assert_eq!(records.len(), schedule.calls.len());
    assert_eq!(records.len(), 120_000);
    let of_worker = |k: u32| records.iter().filter(move |(r, _)| r.worker == k);
    // Worker 0 finished: every call of its has its own record.
    let lost = |o: Outcome| matches!(o, Outcome::WorkerLost | Outcome::WorkerLostUnknown);
    assert!(of_worker(0).all(|(r, _)| !lost(r.outcome)));
    // Worker 1's calls: whole chunks kept (at least the three it was killed after), then lost ones.
    let kept = of_worker(1).take_while(|(r, _)| !lost(r.outcome)).count() as u64;
    assert!(
        kept >= 3 * CHUNK && kept.is_multiple_of(CHUNK) && kept < 60_000,
        "kept {kept}"
    );
    assert!(of_worker(1)
        .skip(kept as usize)
        .all(|(r, _)| lost(r.outcome) && r.latency_us.is_none()));
    // Those due before it was seen gone may have been sent; the rest were not: in that order.
    let unknown = of_worker(1)
        .skip(kept as usize)
        .take_while(|(r, _)| r.outcome == Outcome::WorkerLostUnknown)
        .count() as u64;
    assert!(of_worker(1)
        .skip((kept + unknown) as usize)
        .all(|(r, _)| r.outcome == Outcome::WorkerLost));
    let summary = summary_of(&out);
    let count = |name: &str| summary.outcomes.get(name).copied().unwrap_or(0);
    assert_eq!(
        count("not_sent:worker_lost") + count("unknown:worker_lost"),
        60_000 - kept
    );
}
