//! vSwarm's `load.json`: what to call and when, written by the generator and replayed by the invoker.
//!
//! A load is a JSON list with one object per period (minute or second); each object holds two arrays of equal
//! length, `timestamp` (microseconds from the start of the period) and `endpoint` (where to send that call):
//!
//! ```json
//! [
//!   {
//!     "timestamp": [
//!       1365552,
//!       2418429
//!     ],
//!     "endpoint": [
//!       "aes-nodejs.default.example.io",
//!       "aes-nodejs.default.example.io"
//!     ]
//!   }
//! ]
//! ```
//!
//! A workflow load (calls that belong to workflow instances) has three more arrays per period, which
//! vSwarm's invoker ignores: `workflow_instance` (the instance of each call), `node` (its node's name) and
//! `after` (for each call, the calls of its instance it waits for, by their position among the
//! instance's calls; see [`WorkflowStep`]). An instance's calls are all in one period, at its entry's
//! timestamp, each after the calls it waits for.
//!
//! [`LoadWriter`] streams that layout (two-space indent, one value per line, as Python's `json.dump` with
//! `indent=2` writes it) period by period, so memory never grows with the length of a load. [`read`] parses
//! any valid JSON of that shape into a compact [`Load`]: endpoints interned once, 12 bytes per invocation.

use std::io::{self, Write};

use crate::compressed::Compressed;
use crate::output::AtomicFile;
use std::path::{Path, PathBuf};

/// Most periods a load may span, and any flag ask for: a million (almost two years of minutes).
pub const MAX_PERIODS: u64 = 1_000_000;

/// Longest wall time a call may ask for, µs (an hour, as the emulated function allows).
pub const MAX_ASK_US: u64 = 3_600_000_000;

/// What one call asks of its function (invitro's per-call model): its own wall time and working set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallAsk {
    /// Wall time, µs.
    pub duration_us: u64,
    /// Working set, MiB.
    pub memory_mb: u32,
}

impl CallAsk {
    /// A call that asks nothing in a load whose other calls ask (a workflow node that calls a proxy,
    /// or its instance's function with that function's own percentiles): `null` in both arrays.
    pub const NOTHING: CallAsk = CallAsk {
        duration_us: u64::MAX,
        memory_mb: u32::MAX,
    };

    /// The ask, unless it is [`CallAsk::NOTHING`].
    pub fn asked(self) -> Option<CallAsk> {
        (self != CallAsk::NOTHING).then_some(self)
    }
}

/// One call within a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Invocation {
    /// Microseconds from the start of the period.
    pub offset_us: u64,
    /// Index into the endpoint table.
    pub endpoint: u32,
}

/// Where a call stands in a workflow instance (the `workflow_instance`, `node` and `after` arrays).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkflowStep {
    /// The instance, unique in the load.
    pub instance: u64,
    /// The node, an index into the load's node names ([`Load::nodes`]).
    pub node: u32,
    /// The calls of the same instance this one waits for, each by its position among the instance's
    /// calls in file order (0: the instance's first); every one comes before this call.
    pub after: Vec<u32>,
    /// The bytes it receives from each of them, one per `after` entry (the `after_bytes` array), which a
    /// store transfer writes and reads edge by edge; empty when the load does not say.
    pub after_bytes: Vec<u64>,
}

/// Streams a `load.json` period by period.
pub struct LoadWriter<W: Write> {
    out: W,
    /// Each endpoint as a JSON string literal, escaped once.
    endpoints: Vec<Vec<u8>>,
    /// Each workflow node's name as a JSON string literal (a workflow load's `node` array).
    nodes: Vec<Vec<u8>>,
    periods: u64,
    invocations: u64,
    bytes: u64,
    line: Vec<u8>,
}

impl LoadWriter<Compressed<AtomicFile>> {
    /// Starts writing `path` (beside it, as `path.partial`, until [`LoadWriter::commit`]), zstd-compressed
    /// if it ends in `.zst`; `endpoints` is the table [`Invocation::endpoint`] indexes.
    pub fn create(path: &Path, endpoints: &[String]) -> io::Result<Self> {
        LoadWriter::new(
            Compressed::for_path(AtomicFile::create(path)?, path)?,
            endpoints,
        )
    }

    /// Closes the list and renames the file into place; returns what was written. Dropped before this,
    /// the partial file is removed and any earlier file at the path stays as it was.
    pub fn commit(self) -> io::Result<WriteStats> {
        let (file, stats) = self.finish()?;
        file.finish()?.commit()?;
        Ok(stats)
    }
}

impl<W: Write> LoadWriter<W> {
    /// Starts a load on `out`.
    pub fn new(mut out: W, endpoints: &[String]) -> io::Result<Self> {
        out.write_all(b"[")?;
        let endpoints = endpoints
            .iter()
            .map(|e| serde_json::to_vec(e).expect("a string serialises"))
            .collect();
        Ok(LoadWriter {
            out,
            endpoints,
            nodes: Vec::new(),
            periods: 0,
            invocations: 0,
            bytes: 1,
            line: Vec::with_capacity(1 << 16),
        })
    }

    /// The node names a workflow load's [`WorkflowStep::node`] indexes.
    pub fn with_nodes(mut self, nodes: &[String]) -> Self {
        self.nodes = nodes
            .iter()
            .map(|n| serde_json::to_vec(n).expect("a string serialises"))
            .collect();
        self
    }

    /// Appends one period. `calls` must be sorted by offset (the order they will be sent in).
    pub fn write_period(&mut self, calls: &[Invocation]) -> io::Result<()> {
        self.write_period_with(calls, &[], &[])
    }

    /// Appends one period whose calls each ask for a duration and memory (`asks`, one per call, or none)
    /// and each send a payload of their own size (`payloads`, bytes, one per call, or none); with neither,
    /// the period is vSwarm's two arrays only. The asks go in two more arrays, `duration_us` and
    /// `memory_mb`, the payloads in `payload_bytes`; vSwarm's invoker ignores them.
    pub fn write_period_with(
        &mut self,
        calls: &[Invocation],
        asks: &[CallAsk],
        payloads: &[u32],
    ) -> io::Result<()> {
        self.write_workflow_period(calls, asks, payloads, &[])
    }

    /// [`LoadWriter::write_period_with`], the calls each a step of a workflow instance (`steps`, one per
    /// call, or none): in the `workflow_instance`, `node` and `after` arrays, and `after_bytes` when a step
    /// says what its edges carry (each step's list as long as its `after`).
    pub fn write_workflow_period(
        &mut self,
        calls: &[Invocation],
        asks: &[CallAsk],
        payloads: &[u32],
        steps: &[WorkflowStep],
    ) -> io::Result<()> {
        assert!(
            steps.is_empty() || steps.len() == calls.len(),
            "one workflow step per call"
        );
        assert!(
            asks.is_empty() || asks.len() == calls.len(),
            "one ask per call"
        );
        assert!(
            payloads.is_empty() || payloads.len() == calls.len(),
            "one payload per call"
        );
        debug_assert!(calls.windows(2).all(|w| w[0].offset_us <= w[1].offset_us));
        let buf = &mut self.line;
        buf.clear();
        buf.extend_from_slice(if self.periods == 0 { b"\n" } else { b",\n" });
        buf.extend_from_slice(b"  {\n    \"timestamp\": [");
        let mut digits = itoa::Buffer::new();
        for (i, call) in calls.iter().enumerate() {
            buf.extend_from_slice(if i == 0 { b"\n      " } else { b",\n      " });
            buf.extend_from_slice(digits.format(call.offset_us).as_bytes());
        }
        if !calls.is_empty() {
            buf.extend_from_slice(b"\n    ");
        }
        buf.extend_from_slice(b"],\n    \"endpoint\": [");
        for (i, call) in calls.iter().enumerate() {
            buf.extend_from_slice(if i == 0 { b"\n      " } else { b",\n      " });
            buf.extend_from_slice(&self.endpoints[call.endpoint as usize]);
        }
        if !calls.is_empty() {
            buf.extend_from_slice(b"\n    ");
        }
        buf.extend_from_slice(b"]");
        // A value left out is `null` (a call that asks nothing).
        let mut array =
            |buf: &mut Vec<u8>, key: &[u8], values: &mut dyn Iterator<Item = Option<u64>>| {
                buf.extend_from_slice(b",\n    \"");
                buf.extend_from_slice(key);
                buf.extend_from_slice(b"\": [");
                for (i, value) in values.enumerate() {
                    buf.extend_from_slice(if i == 0 { b"\n      " } else { b",\n      " });
                    match value {
                        Some(v) => buf.extend_from_slice(digits.format(v).as_bytes()),
                        None => buf.extend_from_slice(b"null"),
                    }
                }
                buf.extend_from_slice(b"\n    ]");
            };
        if !asks.is_empty() {
            let asked = |a: &CallAsk| a.asked();
            array(
                buf,
                b"duration_us",
                &mut asks.iter().map(|a| asked(a).map(|a| a.duration_us)),
            );
            array(
                buf,
                b"memory_mb",
                &mut asks
                    .iter()
                    .map(|a| asked(a).map(|a| u64::from(a.memory_mb))),
            );
        }
        if !payloads.is_empty() {
            array(
                buf,
                b"payload_bytes",
                &mut payloads.iter().map(|&p| Some(u64::from(p))),
            );
        }
        if !steps.is_empty() {
            array(
                buf,
                b"workflow_instance",
                &mut steps.iter().map(|s| Some(s.instance)),
            );
            let mut nodes = steps.iter().map(|s| &self.nodes[s.node as usize]);
            buf.extend_from_slice(b",\n    \"node\": [\n      ");
            buf.extend_from_slice(nodes.next().map_or(&b""[..], Vec::as_slice));
            nodes.for_each(|n| buf.extend([&b",\n      "[..], n].concat()));
            buf.extend_from_slice(b"\n    ]");
            nested(
                buf,
                b"after",
                steps.iter().map(|s| s.after.iter().map(|&a| u64::from(a))),
            );
            if steps.iter().any(|s| !s.after_bytes.is_empty()) {
                nested(
                    buf,
                    b"after_bytes",
                    steps.iter().map(|s| s.after_bytes.iter().copied()),
                );
            }
        }
        buf.extend_from_slice(b"\n  }");
        self.out.write_all(buf)?;
        self.bytes += buf.len() as u64;
        self.periods += 1;
        self.invocations += calls.len() as u64;
        Ok(())
    }

    /// Closes the list and flushes; returns the writer and what was written.
    pub fn finish(mut self) -> io::Result<(W, WriteStats)> {
        let tail: &[u8] = if self.periods == 0 { b"]\n" } else { b"\n]\n" };
        self.out.write_all(tail)?;
        self.out.flush()?;
        let stats = WriteStats {
            periods: self.periods,
            invocations: self.invocations,
            bytes: self.bytes + tail.len() as u64,
        };
        Ok((self.out, stats))
    }
}

/// What a [`LoadWriter`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteStats {
    /// Periods written.
    pub periods: u64,
    /// Invocations written.
    pub invocations: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// The path of worker `k`'s share of a load: `load.json` → `load-k.json`, `load.json.zst` →
/// `load-k.json.zst`.
pub fn shard_path(path: &Path, k: usize) -> PathBuf {
    // load.json.zst: load-K.json.zst.
    if crate::compressed::is_zstd_path(path) {
        return crate::compressed::zstd_path(&shard_path(&path.with_extension(""), k));
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "load".into());
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{k}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{k}"),
    };
    path.with_file_name(name)
}

/// Where call `index` of a whole load goes when `workers` invokers share it: calls are dealt round-robin
/// in time order (call `g` to worker `g mod workers`), so shards differ by at most one call in every
/// stretch of time. Returns the worker and the call's position in that worker's shard.
pub fn shard_of(index: u64, workers: u32) -> (u32, u64) {
    let n = u64::from(workers.max(1));
    ((index % n) as u32, index / n)
}

/// The inverse of [`shard_of`]: the position in the whole load of call `local` of worker `worker`'s shard.
pub fn whole_index(worker: u32, local: u64, workers: u32) -> u64 {
    local * u64::from(workers.max(1)) + u64::from(worker)
}

/// A load in memory: endpoints interned, one compact period per element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Load {
    /// Distinct endpoints, in order of first appearance.
    pub endpoints: Vec<String>,
    /// Distinct workflow node names, in order of first appearance (none in a load without workflows).
    pub nodes: Vec<String>,
    /// The periods, in file order.
    pub periods: Vec<Period>,
}

/// One period of a [`Load`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Period {
    /// Calls in file order.
    pub calls: Vec<Invocation>,
    /// What each call asks of its function, when the file says (`duration_us` and `memory_mb` arrays):
    /// one per call, or empty.
    pub asks: Vec<CallAsk>,
    /// What each call sends, bytes, when the file says (a `payload_bytes` array): one per call, or empty.
    pub payloads: Vec<u32>,
    /// Where each call stands in its workflow instance, in a workflow load: one per call, or empty.
    pub steps: Vec<WorkflowStep>,
}

impl Load {
    /// Total number of invocations.
    pub fn invocations(&self) -> usize {
        self.periods.iter().map(|p| p.calls.len()).sum()
    }

    /// Invocations in each period.
    pub fn per_period(&self) -> Vec<u64> {
        self.periods.iter().map(|p| p.calls.len() as u64).collect()
    }

    /// Checks that every offset lies in its period: `0..=period_us`. Exactly the period's length is valid
    /// (vSwarm's own exponential generator writes it); anything past it would be replayed in the next
    /// period, so it is refused, naming the period and the call. `path` is the file, for the message.
    pub fn check_offsets(&self, path: &Path, period_us: u64) -> Result<(), LoadError> {
        for (p, period) in self.periods.iter().enumerate() {
            period.check_offsets(path, p, period_us)?;
        }
        Ok(())
    }
}

impl Period {
    /// Refuses an offset past the period's length, naming the period (`p`, 0-based, of the file at `path`)
    /// and the call.
    pub fn check_offsets(&self, path: &Path, p: usize, period_us: u64) -> Result<(), LoadError> {
        match self.calls.iter().position(|c| c.offset_us > period_us) {
            Some(index) => Err(LoadError::Offset {
                path: path.to_owned(),
                period: p + 1,
                index,
                offset_us: self.calls[index].offset_us,
                period_us,
            }),
            None => Ok(()),
        }
    }
}

/// Why a load could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: io::Error,
    },
    /// An offset outside its period (below 0 is refused by the parser; above the period's length here).
    #[error("{}: period {period}, call {index}: timestamp {offset_us} µs is past the period's length ({period_us} µs)", path.display())]
    Offset {
        /// File concerned.
        path: PathBuf,
        /// 1-based period, as counted in the file.
        period: usize,
        /// 0-based position of the call in its period's arrays.
        index: usize,
        /// The offending offset.
        offset_us: u64,
        /// The period's length.
        period_us: u64,
    },
    /// Not JSON of the load shape; position as the parser reports it.
    #[error("{}: line {line}, column {column}: {message}", path.display())]
    Format {
        /// File concerned.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

mod parse;
pub use parse::{read, read_periods, read_periods_from, LoadNames};

#[cfg(test)]
mod tests;

/// Writes `,\n    "key": [[a, b], [], …]`, one inner list per call.
fn nested<I: Iterator<Item = u64>>(buf: &mut Vec<u8>, key: &[u8], lists: impl Iterator<Item = I>) {
    buf.extend_from_slice(b",\n    \"");
    buf.extend_from_slice(key);
    buf.extend_from_slice(b"\": [");
    let mut digits = itoa::Buffer::new();
    for (i, list) in lists.enumerate() {
        buf.extend_from_slice(if i == 0 { b"\n      [" } else { b",\n      [" });
        for (k, value) in list.enumerate() {
            if k > 0 {
                buf.extend_from_slice(b", ");
            }
            buf.extend_from_slice(digits.format(value).as_bytes());
        }
        buf.extend_from_slice(b"]");
    }
    buf.extend_from_slice(b"\n    ]");
}
