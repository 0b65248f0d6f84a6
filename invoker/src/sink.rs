//! The records' way from the dispatcher to the files: the dispatcher thread collects them in a [`Sink`]
//! (a sent call's record travels in a [`Pending`] until its call ends) and hands them over in batches to
//! the records thread ([`write_records`]), which writes the CSV files and fills the histograms.
//!
//! Records come in the order calls end; [`Reorder`] writes them in the order the calls were scheduled,
//! so every records file, from one invoker or one worker, is sorted by call and a coordinator merges
//! workers' files as streams.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use formats::compressed::Compressed;
use formats::output::AtomicFile;
use formats::records::{Outcome, Record, RecordsWriter};

use crate::error::ReplayError;
use crate::observe::Observer;
use crate::options::{RecordChunks, RecordsChunk};
use crate::schedule::Schedule;
use crate::stats::Collector;

/// Records are handed to the writer thread in batches of this size, or at least this often.
const BATCH: usize = 2048;
const BATCH_INTERVAL: Duration = Duration::from_millis(50);

/// What the records thread leaves: the statistics, and the files, complete but not yet in place.
pub(crate) type Written = (Collector, Option<AtomicFile>, Option<AtomicFile>);

/// The records thread: CSV files (and chunks, if asked) and histograms, for `schedule` and its
/// `scheduled_total` calls (one worker's of `workers`).
pub(crate) fn write_records(
    (schedule, scheduled_total, (workers, first)): (&Schedule, u64, (u32, u64)),
    rx: mpsc::Receiver<Vec<Record>>,
    (records, latencies, chunks): (Option<AtomicFile>, Option<AtomicFile>, Option<RecordChunks>),
    (records_path, latency_path): (Option<PathBuf>, Option<PathBuf>),
    observer: Option<&Observer>,
) -> Result<Written, ReplayError> {
    let io = |path: &Option<PathBuf>| {
        let path = path.clone().unwrap_or_default();
        move |source| ReplayError::Io { path, source }
    };
    let mut collector = Collector::new(
        schedule.endpoints.clone(),
        scheduled_total.saturating_sub(first),
        schedule.measured_window(),
    );
    // A records path ending in .zst is written zstd-compressed.
    let mut records = records
        .map(|file| {
            let out = Compressed::for_path(
                file,
                records_path.as_deref().unwrap_or(std::path::Path::new("")),
            )?;
            RecordsWriter::new(out).map(|w| w.with_nodes(&schedule.nodes))
        })
        .transpose()
        .map_err(io(&records_path))?;
    let mut latencies = latencies;
    let mut chunks = chunks.map(|c| ChunkWriter::new(c, &schedule.nodes));
    let mut digits = itoa::Buffer::new();
    // A resumed replay records its share from `first` on.
    let mut in_order = Reorder::starting_at(workers, first);
    let ordered = records.is_some() || chunks.is_some();
    // Every record in scheduled order, to the records file and the current chunk; an error names the file.
    let mut write = |r: &Record| -> Result<(), ReplayError> {
        if let Some(w) = records.as_mut() {
            w.write(r, &schedule.endpoints).map_err(io(&records_path))?;
        }
        if let Some(c) = chunks.as_mut() {
            c.write(r, &schedule.endpoints)?;
        }
        Ok(())
    };
    for batch in rx {
        if let Some(o) = observer {
            o.records(&batch);
        }
        for r in &batch {
            collector.add(r);
            if ordered {
                in_order.push(*r, &mut write)?;
            }
            if let (Some(w), Outcome::Ok, false, Some(l)) =
                (latencies.as_mut(), r.outcome, r.warmup, r.latency_us)
            {
                w.write_all(digits.format(l).as_bytes())
                    .and_then(|_| w.write_all(b"\n"))
                    .map_err(io(&latency_path))?;
            }
        }
    }
    in_order.finish(&mut write)?;
    if let Some(c) = chunks.as_mut() {
        c.close()?;
    }
    let records = records
        .map(|w| w.finish().and_then(Compressed::finish))
        .transpose()
        .map_err(io(&records_path))?;
    if let Some(w) = latencies.as_mut() {
        w.flush().map_err(io(&latency_path))?;
    }
    Ok((collector, records, latencies))
}

/// Writes records in chunk files of `every` records, announcing each once complete.
struct ChunkWriter<'a> {
    chunks: RecordChunks,
    nodes: &'a [String],
    /// The chunk being written, its path and its records so far.
    current: Option<(RecordsWriter<Compressed<std::fs::File>>, PathBuf, u64)>,
    /// The number of the chunk being written (or the next one).
    index: u64,
}

impl<'a> ChunkWriter<'a> {
    fn new(chunks: RecordChunks, nodes: &'a [String]) -> ChunkWriter<'a> {
        ChunkWriter {
            chunks,
            nodes,
            current: None,
            index: 0,
        }
    }

    fn write(&mut self, r: &Record, endpoints: &[String]) -> Result<(), ReplayError> {
        if self.current.is_none() {
            let name = formats::transfer::chunk_name(self.index, self.chunks.compression);
            let path = self.chunks.dir.join(name);
            let writer = std::fs::create_dir_all(&self.chunks.dir)
                .and_then(|()| std::fs::File::create(&path))
                .and_then(|file| Compressed::for_path(file, &path))
                .and_then(RecordsWriter::new)
                .map_err(ReplayError::io_on(&path))?;
            self.current = Some((writer.with_nodes(self.nodes), path, 0));
        }
        let (writer, path, written) = self.current.as_mut().expect("a chunk is open");
        writer
            .write(r, endpoints)
            .map_err(ReplayError::io_on(path))?;
        *written += 1;
        if *written >= self.chunks.every {
            self.close()?;
        }
        Ok(())
    }

    /// Completes the chunk being written, if any, and announces it.
    fn close(&mut self) -> Result<(), ReplayError> {
        let Some((writer, path, records)) = self.current.take() else {
            return Ok(());
        };
        writer
            .finish()
            .and_then(Compressed::finish)
            .map_err(ReplayError::io_on(&path))?;
        // Nobody listening (the worker gave up sending) leaves the chunk on disk, where it is kept.
        let _ = self.chunks.ready.send(RecordsChunk {
            index: self.index,
            path,
            records,
        });
        self.index += 1;
        Ok(())
    }
}

/// Puts records back in scheduled order: a record waits until the records of every call scheduled
/// before it (in this invoker's share) have come. It holds only the calls still in flight and those
/// behind them, so its size is bounded by the calls of one timeout window, never the run's.
pub(crate) struct Reorder {
    workers: u32,
    /// The position (in this invoker's share) of the next record to write.
    next: u64,
    /// The records from `next` on, by position; a gap is a call still in flight.
    waiting: VecDeque<Option<Record>>,
}

impl Reorder {
    #[cfg(test)]
    pub(crate) fn new(workers: u32) -> Reorder {
        Reorder::starting_at(workers, 0)
    }

    /// Records of a share whose first record is at `next` (0, unless the replay was resumed).
    pub(crate) fn starting_at(workers: u32, next: u64) -> Reorder {
        Reorder {
            workers: workers.max(1),
            next,
            waiting: VecDeque::new(),
        }
    }

    /// Takes `record`, and hands `out` every record now in order.
    pub(crate) fn push<E>(
        &mut self,
        record: Record,
        mut out: impl FnMut(&Record) -> Result<(), E>,
    ) -> Result<(), E> {
        let position = formats::shard_of(record.index, self.workers).1;
        let Some(slot) = position.checked_sub(self.next) else {
            // Behind the cursor: a second record of one call, which a bug would make. Written, not lost.
            return out(&record);
        };
        let slot = slot as usize;
        if slot >= self.waiting.len() {
            self.waiting.resize(slot + 1, None);
        }
        self.waiting[slot] = Some(record);
        while let Some(Some(_)) = self.waiting.front() {
            let record = self
                .waiting
                .pop_front()
                .flatten()
                .expect("the front is there");
            self.next += 1;
            out(&record)?;
        }
        Ok(())
    }

    /// Hands `out` the records still waiting, in order (none when every call had its record).
    pub(crate) fn finish<E>(
        &mut self,
        mut out: impl FnMut(&Record) -> Result<(), E>,
    ) -> Result<(), E> {
        for record in self.waiting.drain(..).flatten() {
            out(&record)?;
        }
        Ok(())
    }

    /// Records waiting for an earlier call's.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.waiting.iter().flatten().count()
    }
}

/// Records produced on the dispatcher thread, handed over in batches.
pub(crate) struct Sink {
    pending: RefCell<Vec<Record>>,
    last: Cell<Instant>,
    tx: mpsc::Sender<Vec<Record>>,
}

impl Sink {
    pub(crate) fn new(tx: mpsc::Sender<Vec<Record>>) -> Rc<Sink> {
        Rc::new(Sink {
            pending: RefCell::new(Vec::with_capacity(BATCH)),
            last: Cell::new(Instant::now()),
            tx,
        })
    }

    pub(crate) fn push(&self, r: Record) {
        self.pending.borrow_mut().push(r);
    }

    pub(crate) fn flush_if_due(&self) {
        if self.pending.borrow().len() >= BATCH || self.last.get().elapsed() >= BATCH_INTERVAL {
            self.flush();
        }
    }

    pub(crate) fn flush(&self) {
        let batch = std::mem::replace(&mut *self.pending.borrow_mut(), Vec::with_capacity(BATCH));
        self.last.set(Instant::now());
        if !batch.is_empty() {
            // The records thread only stops after this sender is dropped.
            let _ = self.tx.send(batch);
        }
    }
}

/// A sent call's record, completed by its task or, if the task is dropped first, recorded as cancelled.
pub(crate) struct Pending {
    pub(crate) record: Option<Record>,
    pub(crate) sink: Rc<Sink>,
    pub(crate) in_flight: Rc<Cell<usize>>,
}

impl Pending {
    pub(crate) fn complete(
        mut self,
        outcome: Outcome,
        latency: Duration,
        from_scheduled: Duration,
    ) {
        if let Some(mut r) = self.record.take() {
            r.outcome = outcome;
            r.latency_us = Some(latency.as_micros() as u64);
            r.latency_from_scheduled_us = Some(from_scheduled.as_micros() as u64);
            self.sink.push(r);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut r) = self.record.take() {
            r.outcome = Outcome::Cancelled;
            self.sink.push(r);
        }
        self.in_flight.set(self.in_flight.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u64) -> Record {
        Record {
            index,
            worker: 0,
            period: 0,
            endpoint: 0,
            warmup: false,
            scheduled_us: index,
            dispatch_lag_ns: None,
            send_lag_ns: None,
            latency_us: None,
            latency_from_scheduled_us: None,
            outcome: Outcome::Ok,
            exec_us: None,
            instance: None,
            cold: None,
            wire: formats::records::Wire::default(),
            workflow: None,
        }
    }

    /// Pushes records of `indexes` (in that order) through a reorder of `workers`; what it wrote, and the
    /// most it held at once.
    fn reordered(workers: u32, indexes: &[u64]) -> (Vec<u64>, usize) {
        let mut reorder = Reorder::new(workers);
        let mut written = Vec::new();
        let mut most = 0;
        for &i in indexes {
            reorder
                .push(record(i), |r| {
                    written.push(r.index);
                    Ok::<(), ()>(())
                })
                .unwrap();
            most = most.max(reorder.held());
        }
        reorder
            .finish(|r| {
                written.push(r.index);
                Ok::<(), ()>(())
            })
            .unwrap();
        (written, most)
    }

    #[test]
    fn records_come_out_in_scheduled_order_holding_only_what_waits() {
        // Call 1 is slow: 2..5 wait for it, then all go.
        let (written, most) = reordered(1, &[0, 2, 3, 4, 1, 5]);
        assert_eq!(written, [0, 1, 2, 3, 4, 5]);
        assert_eq!(most, 3);
        // In order already: nothing is held.
        let (written, most) = reordered(1, &(0..1000).collect::<Vec<_>>());
        assert_eq!(written, (0..1000).collect::<Vec<_>>());
        assert_eq!(most, 0);
        // Worker 1 of 3 holds calls 1, 4, 7, …: ordered by their place in its share.
        let (written, most) = reordered(3, &[4, 1, 10, 7]);
        assert_eq!(written, [1, 4, 7, 10]);
        assert_eq!(most, 1);
        // A call that never got a record does not keep the others back at the end.
        let (written, _) = reordered(1, &[0, 2, 3]);
        assert_eq!(written, [0, 2, 3]);
    }
}
