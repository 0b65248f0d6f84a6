//! The records CSV: one line per scheduled call, saying what happened to it.
//!
//! ```text
//! index,worker,period,endpoint,warmup,scheduled_us,dispatch_lag_ns,send_lag_ns,latency_us,latency_from_scheduled_us,outcome,exec_us,instance,cold,protocol,status,request_bytes,response_bytes,workflow_instance,node,transfer_us
//! 0,0,0,127.0.0.1:50051,1,1234,80,510,97,98,ok,61,3f2a00c1d9e4b710,1,grpc,0,29,161,,,
//! ```
//!
//! `exec_us`, `instance` and `cold` are what the function said of the call (its own execution time, the
//! instance that served it, whether it was a cold start), empty when it said nothing. `protocol`,
//! `status`, `request_bytes` and `response_bytes` are what went over the wire (see [`Wire`]).
//! `workflow_instance` and `node` say where a call of a workflow load stands (see [`WorkflowCall`]), and
//! `transfer_us` how long its function spent reading its inputs from a store and writing its outputs
//! there (`--store`), when it did.
//! In a chained workflow the functions call every node but the entry: such a call's `scheduled_us` is
//! when its caller sent it and its latency is on its caller's clock; it has no lags, and its `exec_us`
//! is the function's own time (without its wait for the nodes it called in turn), as is the entry's.
//!
//! `index` is the call's position in the whole load, `worker` the invoker that replayed it (0 when one
//! did). Times are from the start of the run, each measured on its worker's own clock. An empty field is "did not happen" (a call never sent has no lag).
//! [`Column`] is the one definition of the columns and [`Outcome`] of the outcome names. [`RecordsWriter`]
//! writes them, [`read_records`] reads them back into the same [`Record`] type, finding each column by
//! name (new columns are appended; a reader skips those it does not know), and `summary.json` states
//! the schema's version ([`RECORDS_SCHEMA`]). Endpoints are interned on both sides (a record holds an
//! index into a table of names). vSwarm's `lat.csv` is another file, written as vSwarm writes it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

mod outcome;
mod read;
pub use outcome::Outcome;
pub use read::{read_records, read_workflow_records, RecordsReader};

/// The version of the records schema, stated in `summary.json`. Columns are only ever appended, and
/// readers find them by name and skip those they do not know, so appending keeps the version; a change to
/// what a column means, or to a column's name, raises it.
pub const RECORDS_SCHEMA: u32 = 1;

/// The columns of the records CSV, in the order they are written: the one definition of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `index`: the call's position in the whole load.
    Index,
    /// `worker`: the worker that replayed it.
    Worker,
    /// `period`: its period of the load.
    Period,
    /// `endpoint`: where it was sent.
    Endpoint,
    /// `warmup`: 1 in a warm-up period.
    Warmup,
    /// `scheduled_us`: when it was due.
    ScheduledUs,
    /// `dispatch_lag_ns`: release minus due.
    DispatchLagNs,
    /// `send_lag_ns`: hand-off to the client minus due.
    SendLagNs,
    /// `latency_us`: answer minus send.
    LatencyUs,
    /// `latency_from_scheduled_us`: answer minus due.
    LatencyFromScheduledUs,
    /// `outcome`: an [`Outcome`]'s name.
    Outcome,
    /// `exec_us`: the function's own execution time.
    ExecUs,
    /// `instance`: the instance that served it, 16 hex digits.
    Instance,
    /// `cold`: 1 when it was the instance's cold start.
    Cold,
    /// `protocol`: the [`Protocol`] the call was made with.
    Protocol,
    /// `status`: the HTTP status, or the gRPC status code.
    Status,
    /// `request_bytes`: the request's payload (HTTP body, or the gRPC message), bytes.
    RequestBytes,
    /// `response_bytes`: the reply's payload, bytes.
    ResponseBytes,
    /// `workflow_instance`: the workflow instance the call belongs to, in a workflow load.
    WorkflowInstance,
    /// `node`: its node in that workflow.
    Node,
    /// `transfer_us`: the time the function spent moving the call's data through a store.
    TransferUs,
}

impl Column {
    /// Every column, in the order written.
    pub const ALL: [Column; 21] = [
        Column::Index,
        Column::Worker,
        Column::Period,
        Column::Endpoint,
        Column::Warmup,
        Column::ScheduledUs,
        Column::DispatchLagNs,
        Column::SendLagNs,
        Column::LatencyUs,
        Column::LatencyFromScheduledUs,
        Column::Outcome,
        Column::ExecUs,
        Column::Instance,
        Column::Cold,
        Column::Protocol,
        Column::Status,
        Column::RequestBytes,
        Column::ResponseBytes,
        Column::WorkflowInstance,
        Column::Node,
        Column::TransferUs,
    ];

    /// Its name in the header.
    pub fn name(self) -> &'static str {
        match self {
            Column::Index => "index",
            Column::Worker => "worker",
            Column::Period => "period",
            Column::Endpoint => "endpoint",
            Column::Warmup => "warmup",
            Column::ScheduledUs => "scheduled_us",
            Column::DispatchLagNs => "dispatch_lag_ns",
            Column::SendLagNs => "send_lag_ns",
            Column::LatencyUs => "latency_us",
            Column::LatencyFromScheduledUs => "latency_from_scheduled_us",
            Column::Outcome => "outcome",
            Column::ExecUs => "exec_us",
            Column::Instance => "instance",
            Column::Cold => "cold",
            Column::Protocol => "protocol",
            Column::Status => "status",
            Column::RequestBytes => "request_bytes",
            Column::ResponseBytes => "response_bytes",
            Column::WorkflowInstance => "workflow_instance",
            Column::Node => "node",
            Column::TransferUs => "transfer_us",
        }
    }

    /// Whether a file must have it. What the function said (`exec_us`, `instance`, `cold`) and what
    /// went over the wire came later: a file without those columns reads as if they were empty.
    fn required(self) -> bool {
        (self as usize) < Column::ExecUs as usize
    }
}

/// The header the writer writes: every [`Column`]'s name, in order.
pub const RECORDS_HEADER: &str = "index,worker,period,endpoint,warmup,scheduled_us,dispatch_lag_ns,send_lag_ns,latency_us,latency_from_scheduled_us,outcome,exec_us,instance,cold,protocol,status,request_bytes,response_bytes,workflow_instance,node,transfer_us";

/// Where each column stands in a file's lines, from its header.
#[derive(Debug, Clone)]
struct Layout {
    /// Position of each of [`Column::ALL`], if the file has it.
    at: [Option<usize>; Column::ALL.len()],
    /// Fields per line.
    fields: usize,
}

impl Layout {
    /// From a header line: every column found by name; unknown ones (appended by a newer writer) skipped.
    fn of_header(header: &str) -> Result<Layout, String> {
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        let mut at = [None; Column::ALL.len()];
        for (k, column) in Column::ALL.iter().enumerate() {
            at[k] = names.iter().position(|n| *n == column.name());
            if at[k].is_none() && column.required() {
                return Err(format!(
                    "no `{}` column in the header `{header}` (records have the columns `{RECORDS_HEADER}`)",
                    column.name()
                ));
            }
        }
        Ok(Layout {
            at,
            fields: names.len(),
        })
    }

    /// The field of `column` in `fields`: empty when the file has no such column.
    fn get<'a>(&self, fields: &[&'a str], column: Column) -> &'a str {
        self.at[column as usize].map_or("", |k| fields[k])
    }
}

/// Everything recorded about one scheduled call. Times are from the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Position in the whole schedule (the whole load, when several workers share it).
    pub index: u64,
    /// The worker that replayed it (0 when one did).
    pub worker: u32,
    /// Period (0-based).
    pub period: u32,
    /// Index into the run's endpoint table.
    pub endpoint: u32,
    /// In the warm-up (excluded from statistics).
    pub warmup: bool,
    /// When it was due, µs.
    pub scheduled_us: u64,
    /// When the dispatcher released it, minus due, ns.
    pub dispatch_lag_ns: Option<u64>,
    /// When it was handed to the gRPC client, minus due, ns: the honest lag.
    pub send_lag_ns: Option<u64>,
    /// Answer (or failure) time minus send time, µs.
    pub latency_us: Option<u64>,
    /// Answer (or failure) time minus due time, µs: what the caller of a real system would wait.
    pub latency_from_scheduled_us: Option<u64>,
    /// How it ended.
    pub outcome: Outcome,
    /// The function's own execution time, µs, if it said (latency − this: the platform's overhead).
    pub exec_us: Option<u64>,
    /// The instance that served it, if the function said (see `proto::function`).
    pub instance: Option<u64>,
    /// Whether it was the instance's cold start, if the function said.
    pub cold: Option<bool>,
    /// What went over the wire.
    pub wire: Wire,
    /// Its workflow instance and node, in a workflow load.
    pub workflow: Option<WorkflowCall>,
}

/// Where a call stands in a workflow load: its instance, and its node (an index into the load's node
/// names, `formats::Load::nodes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowCall {
    /// The instance.
    pub instance: u64,
    /// The node.
    pub node: u32,
}

/// What went over the wire for one call; empty (`None`) where nothing did or nothing is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wire {
    /// The protocol the call was made with.
    pub protocol: Option<Protocol>,
    /// The HTTP status, or the gRPC status code (0 for an answer).
    pub status: Option<u16>,
    /// The request's payload, bytes: an HTTP body (a GET's query is not counted), or the gRPC message.
    pub request_bytes: Option<u64>,
    /// The reply's payload, bytes.
    pub response_bytes: Option<u64>,
    /// Time the function spent moving the call's data through a store (its inputs read, its outputs
    /// written), µs, when it moved them there and said so: the data that did not go over this wire.
    pub transfer_us: Option<u64>,
}

/// How a call travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// gRPC (`helloworld.Greeter`) over HTTP/2.
    Grpc,
    /// HTTP/1.1, with or without TLS.
    Http1,
    /// HTTP/2 (h2c, or h2 over TLS).
    H2,
}

impl Protocol {
    /// Its name in the records.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Http1 => "http/1.1",
            Protocol::H2 => "h2",
        }
    }

    /// The protocol a [`Protocol::name`] stands for.
    pub fn parse(name: &str) -> Option<Protocol> {
        [Protocol::Grpc, Protocol::Http1, Protocol::H2]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

impl Record {
    /// When the request left, µs from the start of the run, if it did. A call a function made in a
    /// chained workflow has no send lag: its `scheduled_us` is when the function sent it.
    pub fn sent_us(&self) -> Option<u64> {
        match self.send_lag_ns {
            Some(lag) => Some(self.scheduled_us.saturating_add(lag / 1000)),
            None => self.latency_us.map(|_| self.scheduled_us),
        }
    }

    /// When the answer (or failure) came, µs from the start of the run, if the call ended.
    pub fn ended_us(&self) -> Option<u64> {
        self.latency_from_scheduled_us
            .map(|l| self.scheduled_us.saturating_add(l))
    }
}

/// Writes records as CSV lines; endpoints and workflow nodes by name.
pub struct RecordsWriter<W: Write> {
    out: W,
    line: Vec<u8>,
    nodes: Vec<String>,
}

impl<W: Write> RecordsWriter<W> {
    /// Writes the header.
    pub fn new(mut out: W) -> io::Result<Self> {
        writeln!(out, "{RECORDS_HEADER}")?;
        Ok(RecordsWriter {
            out,
            line: Vec::with_capacity(256),
            nodes: Vec::new(),
        })
    }

    /// The node names [`WorkflowCall::node`] indexes (a workflow load's).
    pub fn with_nodes(mut self, nodes: &[String]) -> Self {
        self.nodes = nodes.to_vec();
        self
    }

    /// Appends one record; `endpoints` is the table `r.endpoint` indexes.
    pub fn write(&mut self, r: &Record, endpoints: &[String]) -> io::Result<()> {
        let l = &mut self.line;
        l.clear();
        let mut b = itoa::Buffer::new();
        let mut num = |l: &mut Vec<u8>, v: Option<u64>| {
            if let Some(v) = v {
                l.extend_from_slice(b.format(v).as_bytes());
            }
            l.push(b',');
        };
        num(l, Some(r.index));
        num(l, Some(u64::from(r.worker)));
        num(l, Some(u64::from(r.period)));
        l.extend_from_slice(endpoints[r.endpoint as usize].as_bytes());
        l.push(b',');
        l.extend_from_slice(if r.warmup { b"1," } else { b"0," });
        num(l, Some(r.scheduled_us));
        num(l, r.dispatch_lag_ns);
        num(l, r.send_lag_ns);
        num(l, r.latency_us);
        num(l, r.latency_from_scheduled_us);
        l.extend_from_slice(r.outcome.name().as_bytes());
        l.push(b',');
        num(l, r.exec_us);
        if let Some(instance) = r.instance {
            let _ = write!(l, "{instance:016x}");
        }
        l.push(b',');
        match r.cold {
            Some(true) => l.push(b'1'),
            Some(false) => l.push(b'0'),
            None => {}
        }
        l.push(b',');
        if let Some(p) = r.wire.protocol {
            l.extend_from_slice(p.name().as_bytes());
        }
        l.push(b',');
        num(l, r.wire.status.map(u64::from));
        num(l, r.wire.request_bytes);
        num(l, r.wire.response_bytes);
        num(l, r.workflow.map(|w| w.instance));
        if let Some(w) = r.workflow {
            l.extend_from_slice(self.nodes[w.node as usize].as_bytes());
        }
        l.push(b',');
        num(l, r.wire.transfer_us);
        // The last field's separator ends the line.
        l.pop();
        l.push(b'\n');
        self.out.write_all(l)
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A run's `records.csv` (zstd when its name ends in `.zst`) and vSwarm's `lat.csv` written together
/// from one stream of records: each record goes to the first, and its latency to the second when the
/// call was measured and answered. Both are written beside their names and put in place by
/// [`RunRecordsWriter::commit`]; dropped before, neither is. Errors name the file.
pub struct RunRecordsWriter {
    records: RecordsWriter<crate::compressed::Compressed<crate::output::AtomicFile>>,
    latencies: crate::output::AtomicFile,
    paths: (PathBuf, PathBuf),
}

impl RunRecordsWriter {
    /// Starts writing `records` and `latencies`.
    pub fn create(records: &Path, latencies: &Path) -> io::Result<RunRecordsWriter> {
        let file = crate::output::AtomicFile::create(records)?;
        let out = crate::compressed::Compressed::for_path(file, records).map_err(named(records))?;
        Ok(RunRecordsWriter {
            records: RecordsWriter::new(out).map_err(named(records))?,
            latencies: crate::output::AtomicFile::create(latencies)?,
            paths: (records.to_owned(), latencies.to_owned()),
        })
    }

    /// Appends `r` (`endpoints`: the table `r.endpoint` indexes).
    pub fn write(&mut self, r: &Record, endpoints: &[String]) -> io::Result<()> {
        self.records
            .write(r, endpoints)
            .map_err(named(&self.paths.0))?;
        if let (Outcome::Ok, false, Some(l)) = (r.outcome, r.warmup, r.latency_us) {
            writeln!(self.latencies, "{l}").map_err(named(&self.paths.1))?;
        }
        Ok(())
    }

    /// Puts both files in place.
    pub fn commit(self) -> io::Result<()> {
        self.records
            .finish()
            .and_then(|f| f.finish())
            .and_then(|f| f.commit())
            .map_err(named(&self.paths.0))?;
        self.latencies.commit().map_err(named(&self.paths.1))
    }
}

/// An error of `path`'s, naming it.
fn named(path: &Path) -> impl Fn(io::Error) -> io::Error + '_ {
    move |e| crate::output::with_path(path, e)
}

/// Why a records file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: io::Error,
    },
    /// A line is not a record.
    #[error("{}: line {line}: {reason}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

#[cfg(test)]
mod tests;
