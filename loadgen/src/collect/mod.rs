//! What the platform did during a run, beside what the invoker measured: each collector writes a CSV in
//! the run's `collect/` directory, timed in Unix seconds (so each lines up with the calls per second of
//! the records, whose start is in summary.json), and the report draws it on the run's time axis.
//!
//! - [`local`]: the local fleet's scale from the emulated functions' own state, sampled every
//!   `--scale-interval`: per function, instances desired, ready and pending and calls in flight and
//!   queued (`local-scale.csv`), and the whole fleet's gauges (`local-fleet.csv`);
//! - [`kubernetes`]: desired, ready and pending pods of each Knative service deployed, and the ready
//!   replicas of the activator and autoscaler, one `kubectl` call per interval;
//! - [`prometheus`]: named PromQL range queries over the run's window, asked once the run has ended so
//!   they add no load while it runs.
//!
//! A collector that fails never stops the run: what it got is kept, and the report names its error.

pub mod kubernetes;
pub mod local;
pub mod prometheus;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use observe::ticker::Ticker;

/// What one collector left.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    /// Its name (`local-scale`, `local-fleet`, `kubernetes-scale`, `prometheus-NAME`).
    pub name: String,
    /// What it measures, in words.
    pub what: String,
    /// Its CSV, when one was written.
    pub file: Option<PathBuf>,
    /// Data rows written.
    pub rows: usize,
    /// Why it failed (part-way or at once), if it did.
    pub error: Option<String>,
}

/// Unix time in seconds, to the microsecond.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A sampler: `sample` called now and every `interval` until stopped, then once more.
pub struct Sampler {
    ticker: Ticker<Collected>,
}

impl Sampler {
    /// Starts calling `sample` on a thread of its own; `finish` is called with the samples' count when
    /// stopped and says what was collected.
    pub fn start(
        name: &str,
        interval: Duration,
        mut sample: impl FnMut() -> Result<usize, String> + Send + 'static,
        finish: impl FnOnce(usize, Option<String>) -> Collected + Send + 'static,
    ) -> Sampler {
        let ticker = Ticker::start(&format!("collect-{name}"), interval, move |ticks| {
            let mut rows = 0;
            let mut error = None;
            let mut stopping = false;
            loop {
                match sample() {
                    Ok(n) => rows += n,
                    // One failed sample is kept as the error; sampling goes on.
                    Err(e) => {
                        error.get_or_insert(e);
                    }
                }
                if stopping {
                    break;
                }
                stopping = ticks.wait();
            }
            finish(rows, error)
        })
        .expect("spawn a collector");
        Sampler { ticker }
    }

    /// Takes a last sample and says what was collected.
    pub fn finish(self) -> Collected {
        self.ticker.finish().unwrap_or_else(|| Collected {
            name: "collector".into(),
            what: String::new(),
            file: None,
            rows: 0,
            error: Some("the collector panicked".into()),
        })
    }
}

/// A CSV file written a row at a time and flushed after each sample, so a run cut short keeps what
/// was collected.
pub struct CsvOut {
    path: PathBuf,
    out: csv::Writer<std::fs::File>,
}

impl CsvOut {
    /// Creates `path` (and its directory) with `header`.
    pub fn create(path: &Path, header: &[&str]) -> Result<CsvOut, String> {
        let describe = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| describe(&e))?;
        }
        let mut out = csv::Writer::from_path(path).map_err(|e| describe(&e))?;
        out.write_record(header).map_err(|e| describe(&e))?;
        Ok(CsvOut {
            path: path.to_owned(),
            out,
        })
    }

    /// One row.
    pub fn row<I, T>(&mut self, fields: I) -> Result<(), String>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.out
            .write_record(fields)
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }

    /// Flushes what was written.
    pub fn flush(&mut self) -> Result<(), String> {
        self.out
            .flush()
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
