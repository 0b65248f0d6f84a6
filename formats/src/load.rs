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

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};

use crate::output::AtomicFile;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

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

impl LoadWriter<AtomicFile> {
    /// Starts writing `path` (beside it, as `path.partial`, until [`LoadWriter::commit`]); `endpoints` is
    /// the table [`Invocation::endpoint`] indexes.
    pub fn create(path: &Path, endpoints: &[String]) -> io::Result<Self> {
        LoadWriter::new(AtomicFile::create(path)?, endpoints)
    }

    /// Closes the list and renames the file into place; returns what was written. Dropped before this,
    /// the partial file is removed and any earlier file at the path stays as it was.
    pub fn commit(self) -> io::Result<WriteStats> {
        let (file, stats) = self.finish()?;
        file.commit()?;
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
    /// call, or none): in the `workflow_instance`, `node` and `after` arrays.
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
        let mut array = |buf: &mut Vec<u8>, key: &[u8], values: &mut dyn Iterator<Item = u64>| {
            buf.extend_from_slice(b",\n    \"");
            buf.extend_from_slice(key);
            buf.extend_from_slice(b"\": [");
            for (i, value) in values.enumerate() {
                buf.extend_from_slice(if i == 0 { b"\n      " } else { b",\n      " });
                buf.extend_from_slice(digits.format(value).as_bytes());
            }
            buf.extend_from_slice(b"\n    ]");
        };
        if !asks.is_empty() {
            array(buf, b"duration_us", &mut asks.iter().map(|a| a.duration_us));
            array(
                buf,
                b"memory_mb",
                &mut asks.iter().map(|a| u64::from(a.memory_mb)),
            );
        }
        if !payloads.is_empty() {
            array(
                buf,
                b"payload_bytes",
                &mut payloads.iter().map(|&p| u64::from(p)),
            );
        }
        if !steps.is_empty() {
            array(
                buf,
                b"workflow_instance",
                &mut steps.iter().map(|s| s.instance),
            );
            buf.extend_from_slice(b",\n    \"node\": [");
            for (i, step) in steps.iter().enumerate() {
                buf.extend_from_slice(if i == 0 { b"\n      " } else { b",\n      " });
                buf.extend_from_slice(&self.nodes[step.node as usize]);
            }
            buf.extend_from_slice(b"\n    ],\n    \"after\": [");
            for (i, step) in steps.iter().enumerate() {
                buf.extend_from_slice(if i == 0 { b"\n      [" } else { b",\n      [" });
                for (k, at) in step.after.iter().enumerate() {
                    if k > 0 {
                        buf.extend_from_slice(b", ");
                    }
                    buf.extend_from_slice(itoa::Buffer::new().format(*at).as_bytes());
                }
                buf.extend_from_slice(b"]");
            }
            buf.extend_from_slice(b"\n    ]");
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

/// The path of worker `k`'s share of a load: `load.json` → `load-k.json`.
pub fn shard_path(path: &Path, k: usize) -> PathBuf {
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
            if let Some(index) = period.calls.iter().position(|c| c.offset_us > period_us) {
                return Err(LoadError::Offset {
                    path: path.to_owned(),
                    period: p + 1,
                    index,
                    offset_us: period.calls[index].offset_us,
                    period_us,
                });
            }
        }
        Ok(())
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

/// Reads a `load.json` (or a worker's `load-k.json`).
pub fn read(path: &Path) -> Result<Load, LoadError> {
    let file = File::open(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut de = serde_json::Deserializer::from_reader(io::BufReader::with_capacity(1 << 20, file));
    let mut interner = Interner::default();
    let mut nodes = Interner::default();
    let mut instances_before = std::collections::HashSet::new();
    let result = LoadSeed {
        interner: &mut interner,
        nodes: &mut nodes,
        instances_before: &mut instances_before,
    }
    .deserialize(&mut de)
    .and_then(|periods| de.end().map(|_| periods));
    let periods = result.map_err(|e| {
        if e.is_io() {
            LoadError::Io {
                path: path.to_owned(),
                source: e.into(),
            }
        } else {
            LoadError::Format {
                path: path.to_owned(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            }
        }
    })?;
    Ok(Load {
        endpoints: interner.names,
        nodes: nodes.names,
        periods,
    })
}

#[derive(Default)]
struct Interner {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), id);
        id
    }
}

struct LoadSeed<'a> {
    interner: &'a mut Interner,
    nodes: &'a mut Interner,
    /// Workflow instances of the periods read so far (an instance lies in one period).
    instances_before: &'a mut std::collections::HashSet<u64>,
}

impl<'de> DeserializeSeed<'de> for LoadSeed<'_> {
    type Value = Vec<Period>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LoadSeed<'_> {
    type Value = Vec<Period>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of periods")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut periods = Vec::new();
        while let Some(period) = seq.next_element_seed(PeriodSeed {
            interner: &mut *self.interner,
            nodes: &mut *self.nodes,
            instances_before: &mut *self.instances_before,
            index: periods.len(),
        })? {
            periods.push(period);
        }
        Ok(periods)
    }
}

struct PeriodSeed<'a> {
    interner: &'a mut Interner,
    nodes: &'a mut Interner,
    instances_before: &'a mut std::collections::HashSet<u64>,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for PeriodSeed<'_> {
    type Value = Period;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PeriodSeed<'_> {
    type Value = Period;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "period {}: an object with `timestamp` and `endpoint` arrays",
            self.index + 1
        )
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut timestamps: Option<Vec<u64>> = None;
        let mut endpoints: Option<Vec<u32>> = None;
        let mut durations: Option<Vec<u64>> = None;
        let mut memory: Option<Vec<u32>> = None;
        let mut payloads: Option<Vec<u32>> = None;
        let mut instances: Option<Vec<u64>> = None;
        let mut nodes: Option<Vec<u32>> = None;
        let mut after: Option<Vec<Vec<u32>>> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "workflow_instance" => instances = Some(map.next_value()?),
                "after" => after = Some(map.next_value()?),
                "node" => {
                    nodes = Some(map.next_value_seed(EndpointsSeed {
                        interner: &mut *self.nodes,
                    })?)
                }
                "timestamp" => timestamps = Some(map.next_value()?),
                "duration_us" => durations = Some(map.next_value()?),
                "memory_mb" => memory = Some(map.next_value()?),
                "payload_bytes" => payloads = Some(map.next_value()?),
                "endpoint" => {
                    endpoints = Some(map.next_value_seed(EndpointsSeed {
                        interner: &mut *self.interner,
                    })?)
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let period = self.index + 1;
        let timestamps = timestamps.ok_or_else(|| {
            de::Error::custom(format!("period {period}: missing `timestamp` array"))
        })?;
        let endpoints = endpoints.ok_or_else(|| {
            de::Error::custom(format!("period {period}: missing `endpoint` array"))
        })?;
        if timestamps.len() != endpoints.len() {
            return Err(de::Error::custom(format!(
                "period {period}: {} timestamps but {} endpoints",
                timestamps.len(),
                endpoints.len()
            )));
        }
        let asks = match (durations, memory) {
            (None, None) => Vec::new(),
            (Some(d), Some(m)) if d.len() == timestamps.len() && m.len() == timestamps.len() => d
                .into_iter()
                .zip(m)
                .map(|(duration_us, memory_mb)| CallAsk {
                    duration_us,
                    memory_mb,
                })
                .collect(),
            (d, m) => {
                return Err(de::Error::custom(format!(
                    "period {period}: `duration_us` and `memory_mb` must both be there or neither, one per \
                     call ({} calls; {} durations, {} memory sizes)",
                    timestamps.len(),
                    d.map_or(0, |d| d.len()),
                    m.map_or(0, |m| m.len())
                )))
            }
        };
        let payloads = payloads.unwrap_or_default();
        if !payloads.is_empty() && payloads.len() != timestamps.len() {
            return Err(de::Error::custom(format!(
                "period {period}: {} timestamps but {} payload sizes (`payload_bytes` has one per call)",
                timestamps.len(),
                payloads.len()
            )));
        }
        let steps = match (instances, nodes, after) {
            (None, None, None) => Vec::new(),
            (Some(i), Some(n), Some(a)) => {
                workflow_steps(period, &timestamps, (i, n, a), self.instances_before)
                    .map_err(de::Error::custom)?
            }
            _ => {
                return Err(de::Error::custom(format!(
                    "period {period}: `workflow_instance`, `node` and `after` must all be there or none"
                )))
            }
        };
        Ok(Period {
            payloads,
            steps,
            calls: timestamps
                .into_iter()
                .zip(endpoints)
                .map(|(offset_us, endpoint)| Invocation {
                    offset_us,
                    endpoint,
                })
                .collect(),
            asks,
        })
    }
}

/// A period's workflow arrays as steps, checked: one per call; each instance's calls in this period only,
/// at one timestamp, each waiting only for calls before it.
fn workflow_steps(
    period: usize,
    timestamps: &[u64],
    (instances, nodes, after): (Vec<u64>, Vec<u32>, Vec<Vec<u32>>),
    instances_before: &mut std::collections::HashSet<u64>,
) -> Result<Vec<WorkflowStep>, String> {
    let calls = timestamps.len();
    if instances.len() != calls || nodes.len() != calls || after.len() != calls {
        return Err(format!(
            "period {period}: {calls} calls but {} `workflow_instance`, {} `node` and {} `after` entries (one per call)",
            instances.len(),
            nodes.len(),
            after.len()
        ));
    }
    // Per instance of this period: its calls so far, and its timestamp.
    let mut seen: HashMap<u64, (u32, u64)> = HashMap::new();
    let mut steps = Vec::with_capacity(calls);
    for (k, ((instance, node), after)) in instances.into_iter().zip(nodes).zip(after).enumerate() {
        if instances_before.contains(&instance) {
            return Err(format!(
                "period {period}, call {k}: workflow instance {instance} has calls in an earlier period (an instance lies in one period)"
            ));
        }
        let (position, at) = seen.entry(instance).or_insert((0, timestamps[k]));
        if *at != timestamps[k] {
            return Err(format!(
                "period {period}, call {k}: workflow instance {instance} has calls at {at} µs and at {} µs (all at its entry's timestamp)",
                timestamps[k]
            ));
        }
        if let Some(late) = after.iter().find(|&&a| a >= *position) {
            return Err(format!(
                "period {period}, call {k}: `after` names call {late} of workflow instance {instance}, which is not before it (it is call {position})"
            ));
        }
        *position += 1;
        steps.push(WorkflowStep {
            instance,
            node,
            after,
        });
    }
    instances_before.extend(seen.into_keys());
    Ok(steps)
}

struct EndpointsSeed<'a> {
    interner: &'a mut Interner,
}

impl<'de> DeserializeSeed<'de> for EndpointsSeed<'_> {
    type Value = Vec<u32>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EndpointsSeed<'_> {
    type Value = Vec<u32>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of endpoint strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(name) = seq.next_element_seed(EndpointSeed {
            interner: &mut *self.interner,
        })? {
            ids.push(name);
        }
        Ok(ids)
    }
}

struct EndpointSeed<'a> {
    interner: &'a mut Interner,
}

impl<'de> DeserializeSeed<'de> for EndpointSeed<'_> {
    type Value = u32;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for EndpointSeed<'_> {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an endpoint string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u32, E> {
        Ok(self.interner.intern(v))
    }
}

#[cfg(test)]
mod tests;
