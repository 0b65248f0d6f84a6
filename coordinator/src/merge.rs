//! The workers' records brought together: one `records.csv` in scheduled order (each call's `index` in the
//! whole load, and the `worker` that replayed it), the vSwarm latency file, and the run's summary, with
//! the overall figures and one block per worker.
//!
//! Lag and latency were each measured on their worker's own clock, and merging only reorders records, so
//! no time taken on one machine is ever subtracted from a time taken on another. A call with no record
//! (its worker died, or never reported) is recorded as `not_sent:worker_lost`, or as
//! `unknown:worker_lost` when it was due before its worker was seen gone (it may have been sent).
//!
//! The run's figures are the workers' own, merged: each worker sends its HdrHistograms and counts with
//! its summary (`formats::summary::Collected`), so the percentiles are as exact as each worker's; the
//! records stream adds only what no worker's figures hold (a lost worker's records, and the calls
//! nobody recorded).
//!
//! Memory: every worker writes its records in scheduled order (the invoker's reorder buffer), so the
//! merge reads the workers' files as streams and interleaves them as the calls were dealt (call g from
//! worker g mod N): one record per worker is held, never the run's. The load is read again from its file
//! a period at a time, so neither are its calls held: memory is one period and the workers' readers.
//! Each worker's records (the chunks it sent, in order) are first checked whole, in one streaming pass
//! (every record in its worker's shard, in order, once, with an endpoint of the load); records that fail
//! are not used at all, and their worker's calls are recorded as lost.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use formats::records::{Outcome, Record, RecordsReader, RunRecordsWriter};
use formats::summary::{Summary, WorkerReport};
use formats::{shard_of, whole_index};
use invoker::schedule::{LoadHead, Schedule};
use invoker::stats::Collector;

/// Calls of the load taken at a time.
const MERGE_BATCH: usize = 65_536;

/// What came back from one worker.
#[derive(Debug, Clone, Default)]
pub struct WorkerResult {
    /// Its records, in the chunks that arrived, in order (a lost worker's too: what it sent is kept).
    pub records: Vec<PathBuf>,
    /// Its summary, if it arrived.
    pub summary: Option<Summary>,
    /// Why it is counted as lost, if it is.
    pub lost: Option<String>,
    /// When a lost worker was seen gone (its process exited, its pod failed), µs from time 0: its
    /// unrecorded calls due before then are `unknown:worker_lost` (they may have been sent), the rest
    /// `not_sent:worker_lost`. None: all are `not_sent:worker_lost`.
    pub lost_at_us: Option<u64>,
}

/// The load whose calls are merged: its file, read again a period at a time (the calls are never all
/// held), and what [`Schedule::head_of_file`] says of it.
#[derive(Debug, Clone, Copy)]
pub struct MergedLoad<'a> {
    /// The load file (the whole load, not a shard).
    pub path: &'a Path,
    /// Its endpoints, periods, warm-up and calls.
    pub head: &'a LoadHead,
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
/// whose records cannot be read is counted as lost, with the reason, and none of its records are used;
/// a lost worker's chunks that did arrive are used, and its calls beyond them recorded as lost.
pub fn merge(
    load: MergedLoad<'_>,
    results: &mut [WorkerResult],
    records_out: &Path,
    latencies_out: &Path,
    dispatcher: String,
    interrupted: bool,
) -> Result<Summary> {
    let workers = results.len() as u32;
    let (schedule, total) = (&load.head.schedule, load.head.calls);
    let endpoint_of: HashMap<&str, u32> = schedule
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| (e.as_str(), i as u32))
        .collect();
    for (k, result) in results.iter_mut().enumerate() {
        if let Err(e) = check_sorted(&result.records, k as u32, workers, &endpoint_of) {
            let why = format!("its records could not be read: {e:#}");
            result.lost = Some(match result.lost.take() {
                Some(lost) => format!("{lost}; {why}"),
                None => why,
            });
            result.records.clear();
        }
    }
    let mut streams = results
        .iter()
        .map(|r| Stream::open(&r.records))
        .collect::<Result<Vec<_>>>()?;

    let mut collector = Collector::new(
        schedule.endpoints.clone(),
        total,
        schedule.measured_window(),
    );
    // The figures of each worker that reported come from its own histograms and counts, merged; the
    // records of the others (what a lost worker sent, and the calls nobody recorded) are counted here.
    let merged = merge_collected(&mut collector, results);
    let mut out = RunRecordsWriter::create(records_out, latencies_out)?;
    let mut g = 0u64;
    schedule.stream_calls(load.path, MERGE_BATCH, |_, _, calls| -> Result<()> {
        for call in calls {
            let (w, _) = shard_of(g, workers);
            let record = match streams[w as usize].take(g, &endpoint_of)? {
                Some(record) if merged[w as usize] => record,
                Some(record) => {
                    collector.add(&record);
                    record
                }
                None => {
                    let mut record = schedule.unsent_record(call, g, w, Outcome::WorkerLost);
                    if results[w as usize]
                        .lost_at_us
                        .is_some_and(|gone| record.scheduled_us < gone)
                    {
                        record.outcome = Outcome::WorkerLostUnknown;
                    }
                    collector.add(&record);
                    record
                }
            };
            out.write(&record, &schedule.endpoints)?;
            g += 1;
        }
        Ok(())
    })?;
    if g != total {
        bail!(
            "{}: holds {g} calls now, {total} when the run began: it changed",
            load.path.display()
        );
    }
    out.commit()?;

    Ok(summarize(
        collector,
        results,
        (schedule, total),
        dispatcher,
        interrupted,
    ))
}

/// Merges into `collector` what each worker that reported collected (its histograms and counts, sent
/// with its summary); returns, per worker, whether its figures are in. A worker that is lost, sent
/// none, or sent some that cannot be read is counted from its records instead.
fn merge_collected(collector: &mut Collector, results: &[WorkerResult]) -> Vec<bool> {
    results
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let Some(collected) = r.summary.as_ref().and_then(|s| s.collected.as_deref()) else {
                return false;
            };
            if r.lost.is_some() {
                return false;
            }
            match collector.merge(collected) {
                Ok(()) => true,
                Err(e) => {
                    log::warn!(
                        "worker {k}: its figures cannot be merged ({e}); counted from its records"
                    );
                    false
                }
            }
        })
        .collect()
}

/// The run's summary from the merged records' `collector` and what each worker sent.
fn summarize(
    mut collector: Collector,
    results: &[WorkerResult],
    (schedule, total): (&Schedule, u64),
    dispatcher: String,
    interrupted: bool,
) -> Summary {
    let workers = results.len() as u32;
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
            // Its figures are in the run's; its block keeps its own summary without them.
            summary: r.summary.clone().map(|s| {
                Box::new(Summary {
                    collected: None,
                    ..s
                })
            }),
        })
        .collect();
    summary
}

/// Checks worker `k`'s records (its chunks, in order) in one streaming pass: each in `k`'s shard, after
/// the one before it in the shard (so none twice), with an endpoint the load holds.
fn check_sorted(
    chunks: &[PathBuf],
    k: u32,
    workers: u32,
    endpoint_of: &HashMap<&str, u32>,
) -> Result<()> {
    let mut reader = Chunks::new(chunks);
    let mut last: Option<u64> = None;
    while let Some(r) = reader.next_record()? {
        let path = reader.path().display();
        let (w, local) = shard_of(r.index, workers);
        if w != k || r.worker != k {
            bail!(
                "{path}: call {} (worker {}) is not in worker {k}'s shard (calls {k}, {}, …)",
                r.index,
                r.worker,
                whole_index(k, 1, workers)
            );
        }
        match last {
            Some(l) if l == local => {
                bail!("{path}: call {} is recorded twice", r.index)
            }
            Some(l) if l > local => bail!(
                "{path}: call {} comes after call {}: the records are not in scheduled order",
                r.index,
                whole_index(k, l, workers)
            ),
            _ => {}
        }
        last = Some(local);
        let endpoint = reader.endpoint(&r);
        if !endpoint_of.contains_key(endpoint) {
            bail!(
                "{path}: call {} names endpoint `{endpoint}`, which the load does not hold",
                r.index
            );
        }
    }
    Ok(())
}

/// A worker's chunks read as one stream of records.
struct Chunks<'a> {
    paths: &'a [PathBuf],
    /// The chunk being read: its index in `paths` and its reader.
    current: Option<(usize, RecordsReader)>,
}

impl<'a> Chunks<'a> {
    fn new(paths: &'a [PathBuf]) -> Chunks<'a> {
        Chunks {
            paths,
            current: None,
        }
    }

    /// The next record, from the next chunk when one ends.
    fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            if let Some((_, reader)) = self.current.as_mut() {
                if let Some(r) = reader.next_record()? {
                    return Ok(Some(r));
                }
            }
            let next = self.current.as_ref().map_or(0, |(i, _)| i + 1);
            let Some(path) = self.paths.get(next) else {
                return Ok(None);
            };
            self.current = Some((next, RecordsReader::open(path)?));
        }
    }

    /// The endpoint of `record`, the last one read.
    fn endpoint(&self, record: &Record) -> &str {
        self.current
            .as_ref()
            .map_or("", |(_, reader)| reader.endpoint(record))
    }

    /// The chunk being read.
    fn path(&self) -> &Path {
        self.current
            .as_ref()
            .map_or(Path::new(""), |(i, _)| &self.paths[*i])
    }
}

/// One worker's records as a stream: the next record not yet merged.
struct Stream<'a> {
    chunks: Chunks<'a>,
    next: Option<Record>,
}

impl<'a> Stream<'a> {
    fn open(paths: &'a [PathBuf]) -> Result<Stream<'a>> {
        let mut chunks = Chunks::new(paths);
        let next = chunks.next_record()?;
        Ok(Stream { chunks, next })
    }

    /// Call `g`'s record (its endpoint numbered as the load's), if this stream has it next.
    fn take(&mut self, g: u64, endpoint_of: &HashMap<&str, u32>) -> Result<Option<Record>> {
        let Some(next) = self.next else {
            return Ok(None);
        };
        if next.index != g {
            return Ok(None);
        }
        let endpoint = endpoint_of[self.chunks.endpoint(&next)];
        self.next = self.chunks.next_record()?;
        Ok(Some(Record { endpoint, ..next }))
    }
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
