//! The records' way from the dispatcher to the files: the dispatcher thread collects them in a [`Sink`]
//! (a sent call's record travels in a [`Pending`] until its call ends) and hands them over in batches to
//! the records thread ([`write_records`]), which writes the CSV files and fills the histograms.

use std::cell::{Cell, RefCell};
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
use crate::schedule::Schedule;
use crate::stats::Collector;

/// Records are handed to the writer thread in batches of this size, or at least this often.
const BATCH: usize = 2048;
const BATCH_INTERVAL: Duration = Duration::from_millis(50);

/// What the records thread leaves: the statistics, and the files, complete but not yet in place.
pub(crate) type Written = (Collector, Option<AtomicFile>, Option<AtomicFile>);

/// The records thread: CSV files and histograms.
pub(crate) fn write_records(
    schedule: &Schedule,
    rx: mpsc::Receiver<Vec<Record>>,
    records: Option<AtomicFile>,
    latencies: Option<AtomicFile>,
    (records_path, latency_path): (Option<PathBuf>, Option<PathBuf>),
    observer: Option<&Observer>,
) -> Result<Written, ReplayError> {
    let io = |path: &Option<PathBuf>| {
        let path = path.clone().unwrap_or_default();
        move |source| ReplayError::Io { path, source }
    };
    let mut collector = Collector::new(
        schedule.endpoints.clone(),
        schedule.calls.len() as u64,
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
    let mut digits = itoa::Buffer::new();
    for batch in rx {
        if let Some(o) = observer {
            o.records(&batch);
        }
        for r in &batch {
            collector.add(r);
            if let Some(w) = records.as_mut() {
                w.write(r, &schedule.endpoints).map_err(io(&records_path))?;
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
    let records = records
        .map(|w| w.finish().and_then(Compressed::finish))
        .transpose()
        .map_err(io(&records_path))?;
    if let Some(w) = latencies.as_mut() {
        w.flush().map_err(io(&latency_path))?;
    }
    Ok((collector, records, latencies))
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
