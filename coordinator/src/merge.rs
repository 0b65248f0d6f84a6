//! The workers' records brought together: one `records.csv` in scheduled order (each call's `index` in the
//! whole load, and the `worker` that replayed it), the vSwarm latency file, and the run's summary, with
//! the overall figures and one block per worker.
//!
//! Lag and latency were each measured on their worker's own clock, and merging only reorders records, so
//! no time taken on one machine is ever subtracted from a time taken on another. A call with no record
//! (its worker died, or never reported) is recorded as `not_sent:worker_lost`.
//!
//! Memory: each worker's records are placed by index before they are written in order, about 100 bytes
//! per call (a million-call run takes ~100 MB).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use formats::output::AtomicFile;
use formats::records::{read_records, Outcome, Record, RecordsWriter};
use formats::summary::{Summary, WorkerReport};
use formats::{shard_of, whole_index};
use invoker::schedule::Schedule;
use invoker::stats::Collector;

/// What came back from one worker.
#[derive(Debug, Clone, Default)]
pub struct WorkerResult {
    /// Its records file, if it arrived.
    pub records: Option<PathBuf>,
    /// Its summary, if it arrived.
    pub summary: Option<Summary>,
    /// Why it is counted as lost, if it is.
    pub lost: Option<String>,
}

/// Calls of a load of `total` calls dealt to `worker` of `workers`.
pub fn calls_of(worker: u32, workers: u32, total: u64) -> u64 {
    let (n, k) = (u64::from(workers.max(1)), u64::from(worker));
    if total > k {
        (total - k).div_ceil(n)
    } else {
        0
    }
}

/// Merges `results` (one per worker, in worker order) over the whole load's `schedule` into
/// `records_out` and `latencies_out`; returns the overall summary with one block per worker. A worker
/// whose records cannot be read is counted as lost, with the reason.
pub fn merge(
    schedule: &Schedule,
    results: &mut [WorkerResult],
    records_out: &Path,
    latencies_out: &Path,
    dispatcher: String,
    interrupted: bool,
) -> Result<Summary> {
    let workers = results.len() as u32;
    let total = schedule.calls.len() as u64;
    let endpoint_of: HashMap<&str, u32> = schedule
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| (e.as_str(), i as u32))
        .collect();
    let mut placed: Vec<Vec<Option<Record>>> = Vec::with_capacity(results.len());
    for (k, result) in results.iter_mut().enumerate() {
        let k = k as u32;
        let mut slots = vec![None; calls_of(k, workers, total) as usize];
        if let (Some(path), None) = (&result.records, &result.lost) {
            if let Err(e) = place(path, k, workers, &endpoint_of, &mut slots) {
                // What was placed came from a file that cannot be trusted whole: none of it is kept.
                slots.iter_mut().for_each(|s| *s = None);
                result.lost = Some(format!("its records could not be read: {e:#}"));
            }
        }
        placed.push(slots);
    }

    let mut collector = Collector::new(
        schedule.endpoints.clone(),
        total,
        schedule.measured_window(),
    );
    let records_file =
        formats::compressed::Compressed::for_path(AtomicFile::create(records_out)?, records_out)?;
    let mut records = RecordsWriter::new(records_file)
        .with_context(|| format!("writing {}", records_out.display()))?;
    let mut latencies = AtomicFile::create(latencies_out)?;
    let mut digits = itoa::Buffer::new();
    for (g, call) in schedule.calls.iter().enumerate() {
        let (w, local) = shard_of(g as u64, workers);
        let record = placed[w as usize][local as usize]
            .unwrap_or_else(|| schedule.unsent_record(call, g as u64, w, Outcome::WorkerLost));
        collector.add(&record);
        records
            .write(&record, &schedule.endpoints)
            .with_context(|| format!("writing {}", records_out.display()))?;
        if let (Outcome::Ok, false, Some(l)) = (record.outcome, record.warmup, record.latency_us) {
            latencies
                .write_all(digits.format(l).as_bytes())
                .and_then(|_| latencies.write_all(b"\n"))
                .with_context(|| format!("writing {}", latencies_out.display()))?;
        }
    }
    records
        .finish()
        .and_then(|f| f.finish())
        .and_then(|f| f.commit())
        .with_context(|| format!("writing {}", records_out.display()))?;
    latencies
        .commit()
        .with_context(|| format!("writing {}", latencies_out.display()))?;

    // The whole load is judged on the whole window, not as a sum of per-worker rates: every call sent,
    // over the window or to the last send of any worker (each on its own clock from the common start),
    // which the merged records give. Interrupted, it ran until the latest of the workers' interrupts:
    // each worker's span from the window's start says how long it ran.
    if interrupted {
        let ran_us = results
            .iter()
            .filter_map(|r| r.summary.as_ref())
            .map(|s| (s.achieved_seconds * 1e6).round() as u64)
            .max()
            .filter(|&us| us > 0);
        if let Some(us) = ran_us {
            collector.interrupted_at(schedule.measured_window().start_us + us);
        }
    }
    let mut summary = collector.summary(dispatcher, interrupted);
    summary.incomplete = results
        .iter()
        .filter_map(|r| r.summary.as_ref())
        .any(|s| s.incomplete);
    // Each endpoint's first cause, from the first worker that saw one.
    for worker in results.iter().filter_map(|r| r.summary.as_ref()) {
        for (endpoint, cause) in &worker.failures {
            summary
                .failures
                .entry(endpoint.clone())
                .or_insert_with(|| cause.clone());
        }
    }
    summary.workers = results
        .iter()
        .enumerate()
        .map(|(k, r)| WorkerReport {
            index: k as u32,
            calls: calls_of(k as u32, workers, total),
            lost: r.lost.clone(),
            summary: r.summary.clone().map(Box::new),
        })
        .collect();
    Ok(summary)
}

/// Reads worker `k`'s records into `slots` by their place in its shard.
fn place(
    path: &Path,
    k: u32,
    workers: u32,
    endpoint_of: &HashMap<&str, u32>,
    slots: &mut [Option<Record>],
) -> Result<()> {
    let mut wrong: Option<String> = None;
    read_records(path, |r, endpoint| {
        if wrong.is_some() {
            return;
        }
        let (w, local) = shard_of(r.index, workers);
        let Some(&e) = endpoint_of.get(endpoint) else {
            wrong = Some(format!(
                "call {} names endpoint `{endpoint}`, which the load does not hold",
                r.index
            ));
            return;
        };
        match slots.get_mut(local as usize) {
            Some(slot) if w == k && r.worker == k && slot.is_none() => {
                *slot = Some(Record { endpoint: e, ..*r })
            }
            Some(Some(_)) if w == k => {
                wrong = Some(format!("call {} is recorded twice", r.index));
            }
            _ => {
                wrong = Some(format!(
                    "call {} (worker {}) is not in worker {k}'s shard (calls {k}, {}, …)",
                    r.index,
                    r.worker,
                    whole_index(k, 1, workers)
                ))
            }
        }
    })?;
    if let Some(wrong) = wrong {
        bail!("{}: {wrong}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_per_worker() {
        assert_eq!(
            (0..3).map(|k| calls_of(k, 3, 10)).collect::<Vec<_>>(),
            [4, 3, 3]
        );
        assert_eq!(calls_of(5, 8, 3), 0);
        assert_eq!(calls_of(0, 1, 7), 7);
    }
}
