//! The coordinator's merge: the workers' records, each sent in chunks in scheduled order, interleaved as
//! the calls were dealt into one records file; a worker's records that are not what its shard holds (out
//! of order, a call twice, cut short) are not used at all, and its calls are recorded as lost; a lost
//! worker's chunks that arrived are kept.

use std::path::{Path, PathBuf};

use coordinator::merge::{merge, MergedLoad, WorkerResult};
use formats::records::{read_records, Outcome, Record, RecordsWriter};
use formats::summary::Summary;
use formats::{shard_of, Invocation, LoadWriter};
use invoker::schedule::{LoadHead, Schedule};

const CALLS: u64 = 12;
const WORKERS: u32 = 3;

/// A one-period load of [`CALLS`] calls over two endpoints, and its schedule.
fn schedule(dir: &Path) -> Schedule {
    let path = dir.join("load.json");
    let endpoints = ["127.0.0.1:1".to_owned(), "127.0.0.1:2".to_owned()];
    let mut w = LoadWriter::create(&path, &endpoints).unwrap();
    let calls: Vec<Invocation> = (0..CALLS)
        .map(|i| Invocation {
            offset_us: i * 1000,
            endpoint: (i % 2) as u32,
        })
        .collect();
    w.write_period(&calls).unwrap();
    w.commit().unwrap();
    Schedule::from_file(&path, 1_000_000, 0, 1).unwrap()
}

/// Worker `k`'s records of the calls `order` (by index in the whole load), answered, in `path`.
fn worker_file(schedule: &Schedule, k: u32, order: &[u64], path: &Path) -> PathBuf {
    let out = formats::compressed::Compressed::for_path(std::fs::File::create(path).unwrap(), path)
        .unwrap();
    let mut w = RecordsWriter::new(out).unwrap();
    for &g in order {
        let mut r = schedule.unsent_record(&schedule.calls[g as usize], g, k, Outcome::Ok);
        r.latency_us = Some(100 + g);
        r.send_lag_ns = Some(1000);
        w.write(&r, &schedule.endpoints).unwrap();
    }
    w.finish().unwrap().finish().unwrap();
    path.to_owned()
}

fn shard(k: u32) -> Vec<u64> {
    (0..CALLS)
        .filter(|&g| shard_of(g, WORKERS).0 == k)
        .collect()
}

fn merged(schedule: &Schedule, results: &mut [WorkerResult], dir: &Path) -> Vec<Record> {
    let out = dir.join("records.csv.zst");
    let head = LoadHead::of(schedule);
    let load = MergedLoad {
        path: &dir.join("load.json"),
        head: &head,
    };
    merge(
        load,
        results,
        &out,
        &dir.join("lat.csv"),
        "test".into(),
        false,
    )
    .unwrap();
    let mut rows = Vec::new();
    read_records(&out, |r, _| rows.push(*r)).unwrap();
    rows
}

fn result(records: PathBuf) -> WorkerResult {
    WorkerResult {
        records: vec![records],
        summary: Some(Summary::default()),
        lost: None,
        lost_at_us: None,
    }
}

#[test]
fn sorted_worker_files_merge_into_scheduled_order() {
    let dir = tempfile::tempdir().unwrap();
    let schedule = schedule(dir.path());
    let mut results: Vec<WorkerResult> = (0..WORKERS)
        .map(|k| {
            let path = dir.path().join(format!("w{k}.csv"));
            result(worker_file(&schedule, k, &shard(k), &path))
        })
        .collect();
    let rows = merged(&schedule, &mut results, dir.path());
    assert_eq!(
        rows.iter().map(|r| r.index).collect::<Vec<_>>(),
        (0..CALLS).collect::<Vec<_>>()
    );
    for r in &rows {
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert_eq!(r.worker, shard_of(r.index, WORKERS).0);
        assert_eq!(r.latency_us, Some(100 + r.index));
        assert_eq!(r.scheduled_us, r.index * 1000);
    }
    assert!(results.iter().all(|r| r.lost.is_none()));
}

#[test]
fn a_file_out_of_order_twice_or_cut_short_is_not_used_and_its_calls_are_lost() {
    let dir = tempfile::tempdir().unwrap();
    let schedule = schedule(dir.path());
    let good = worker_file(&schedule, 0, &shard(0), &dir.path().join("w0.csv"));
    let mut swapped = shard(1);
    swapped.swap(1, 2);
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            worker_file(&schedule, 1, &swapped, &dir.path().join("swapped.csv")),
            "not in scheduled order",
        ),
        (
            worker_file(&schedule, 1, &[1, 4, 4, 7], &dir.path().join("twice.csv")),
            "call 4 is recorded twice",
        ),
        (
            worker_file(&schedule, 1, &[1, 2], &dir.path().join("foreign.csv")),
            "call 2 (worker 1) is not in worker 1's shard",
        ),
        (
            {
                let path = worker_file(&schedule, 1, &shard(1), &dir.path().join("cut.csv.zst"));
                let whole = std::fs::read(&path).unwrap();
                std::fs::write(&path, &whole[..whole.len() - 5]).unwrap();
                path
            },
            "the file is truncated",
        ),
    ];
    for (bad, why) in cases {
        let good_2 = worker_file(&schedule, 2, &shard(2), &dir.path().join("w2.csv"));
        let mut results = vec![result(good.clone()), result(bad.clone()), result(good_2)];
        let rows = merged(&schedule, &mut results, dir.path());
        let lost = results[1].lost.as_deref().unwrap_or_default();
        assert!(
            lost.contains(why) && lost.contains(&bad.display().to_string()),
            "{why}: {lost}"
        );
        assert_eq!(rows.len() as u64, CALLS);
        for r in &rows {
            let expected = if r.worker == 1 {
                Outcome::WorkerLost
            } else {
                Outcome::Ok
            };
            assert_eq!(r.outcome, expected, "{why}: {r:?}");
        }
    }
}

#[test]
fn chunks_read_as_one_stream_and_a_lost_workers_chunks_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let schedule = schedule(dir.path());
    // Worker 0 sent its four calls in chunks of 2, 1 and 1 (one compressed); worker 1 was lost after its
    // first chunk of 2; worker 2 sent everything in one.
    let w0 = shard(0);
    let chunks_0 = vec![
        worker_file(&schedule, 0, &w0[..2], &dir.path().join("0-0.csv")),
        worker_file(&schedule, 0, &w0[2..3], &dir.path().join("0-1.csv.zst")),
        worker_file(&schedule, 0, &w0[3..], &dir.path().join("0-2.csv")),
    ];
    let w1 = shard(1);
    let lost = WorkerResult {
        records: vec![worker_file(
            &schedule,
            1,
            &w1[..2],
            &dir.path().join("1-0.csv"),
        )],
        summary: None,
        lost: Some("its process exited".into()),
        // Seen gone just after its third call was due: that one may have been sent, the fourth was not.
        lost_at_us: Some(w1[2] * 1000 + 1),
    };
    let mut results = vec![
        WorkerResult {
            records: chunks_0,
            ..result(PathBuf::new())
        },
        lost,
        result(worker_file(
            &schedule,
            2,
            &shard(2),
            &dir.path().join("2-0.csv"),
        )),
    ];
    let rows = merged(&schedule, &mut results, dir.path());
    assert_eq!(
        rows.iter().map(|r| r.index).collect::<Vec<_>>(),
        (0..CALLS).collect::<Vec<_>>()
    );
    for r in &rows {
        let kept = r.worker != 1 || w1[..2].contains(&r.index);
        let expected = if kept {
            Outcome::Ok
        } else if r.index == w1[2] {
            Outcome::WorkerLostUnknown
        } else {
            Outcome::WorkerLost
        };
        assert_eq!(r.outcome, expected, "{r:?}");
    }
    assert_eq!(results[1].lost.as_deref(), Some("its process exited"));

    // Chunks that repeat a call (a chunk sent twice under two numbers) are refused whole.
    let mut results = vec![
        WorkerResult {
            records: vec![
                worker_file(&schedule, 0, &w0[..2], &dir.path().join("a.csv")),
                worker_file(&schedule, 0, &w0[1..], &dir.path().join("b.csv")),
            ],
            ..result(PathBuf::new())
        },
        result(worker_file(&schedule, 1, &w1, &dir.path().join("1.csv"))),
        result(worker_file(
            &schedule,
            2,
            &shard(2),
            &dir.path().join("2.csv"),
        )),
    ];
    let rows = merged(&schedule, &mut results, dir.path());
    let why = results[0].lost.as_deref().unwrap_or_default();
    assert!(why.contains("b.csv: call 3 is recorded twice"), "{why}");
    assert!(rows
        .iter()
        .filter(|r| r.worker == 0)
        .all(|r| r.outcome == Outcome::WorkerLost));
}
