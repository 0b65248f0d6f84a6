//! Reading records files, plain or zstd-compressed: [`RecordsReader`] yields them one at a time in file
//! order (what a merge of sorted streams needs), and [`read_records`] calls a closure per record.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::{Column, Layout, Outcome, Protocol, Record, RecordsError, Wire, WorkflowCall};
use crate::Interner;

/// Reads a records CSV (plain or zstd-compressed), calling `each(record, endpoint name)` per record in
/// file order.
pub fn read_records(path: &Path, mut each: impl FnMut(&Record, &str)) -> Result<(), RecordsError> {
    read_workflow_records(path, |r, endpoint, _| each(r, endpoint))
}

/// [`read_records`], with each record's workflow node by name (`None` outside a workflow load).
pub fn read_workflow_records(
    path: &Path,
    mut each: impl FnMut(&Record, &str, Option<&str>),
) -> Result<(), RecordsError> {
    let mut reader = RecordsReader::open(path)?;
    while let Some(record) = reader.next_record()? {
        each(
            &record,
            reader.endpoint(&record),
            record.workflow.map(|w| reader.node(w)),
        );
    }
    Ok(())
}

/// A records file read one record at a time: each record's endpoint and node are numbered in this
/// reader's own tables, which [`RecordsReader::endpoint`] and [`RecordsReader::node`] name.
pub struct RecordsReader {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    layout: Layout,
    endpoints: Interner,
    nodes: Interner,
    bytes: Vec<u8>,
    /// Lines read so far (the header is line 1).
    line: u64,
}

impl RecordsReader {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<RecordsReader, RecordsError> {
        let io_error = |source| RecordsError::Io {
            path: path.to_owned(),
            source,
        };
        let mut reader = crate::compressed::open(path).map_err(io_error)?;
        let mut bytes = Vec::with_capacity(256);
        let bad = |reason: String| RecordsError::Bad {
            path: path.to_owned(),
            line: 1,
            reason,
        };
        if reader.read_until(b'\n', &mut bytes).map_err(io_error)? == 0 {
            return Err(bad("empty file: no header".into()));
        }
        let header = line_text(&bytes).map_err(bad)?;
        let layout = Layout::of_header(header.trim_start_matches('\u{feff}')).map_err(bad)?;
        Ok(RecordsReader {
            path: path.to_owned(),
            reader,
            layout,
            endpoints: Interner::default(),
            nodes: Interner::default(),
            bytes,
            line: 1,
        })
    }

    /// The next record, or none at the end of the file; a bad line is an error naming it.
    pub fn next_record(&mut self) -> Result<Option<Record>, RecordsError> {
        loop {
            self.bytes.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut self.bytes)
                .map_err(|source| RecordsError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            let bad = |line: u64, reason: String| RecordsError::Bad {
                path: self.path.clone(),
                line,
                reason,
            };
            let line = line_text(&self.bytes).map_err(|r| bad(self.line, r))?;
            if line.is_empty() {
                continue;
            }
            return parse_line(line, &self.layout, (&mut self.endpoints, &mut self.nodes))
                .map(Some)
                .map_err(|r| bad(self.line, r));
        }
    }

    /// The name of `record`'s endpoint (a record this reader returned).
    pub fn endpoint(&self, record: &Record) -> &str {
        &self.endpoints.names[record.endpoint as usize]
    }

    /// The name of a workflow call's node (of a record this reader returned).
    pub fn node(&self, call: WorkflowCall) -> &str {
        &self.nodes.names[call.node as usize]
    }
}

/// A line's text without its line end; an error says where it is not UTF-8.
fn line_text(bytes: &[u8]) -> Result<&str, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (byte {} of the line is invalid)",
            e.valid_up_to() + 1
        )
    })?;
    Ok(text.trim_end_matches(['\n', '\r']))
}

/// `name`'s number among `names`; `column` names it in an error (an empty field, or one name too many).
fn numbered(names: &mut Interner, name: &str, column: Column) -> Result<u32, String> {
    if let Some(k) = names.get(name) {
        return Ok(k);
    }
    if name.is_empty() {
        return Err(format!("field `{}` is empty", column.name()));
    }
    u32::try_from(names.names.len())
        .map_err(|_| format!("too many distinct `{}` values", column.name()))?;
    Ok(names.intern(name))
}

fn parse_line(
    line: &str,
    layout: &Layout,
    (endpoints, nodes): (&mut Interner, &mut Interner),
) -> Result<Record, String> {
    // An endpoint holds no comma (it is a host:port or URL), so fields split plainly.
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != layout.fields {
        return Err(format!(
            "{} fields, expected {} (one per column of the header)",
            f.len(),
            layout.fields
        ));
    }
    let field = |c: Column| layout.get(&f, c);
    let number = |c: Column| -> Result<Option<u64>, String> {
        match field(c) {
            "" => Ok(None),
            v => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("field `{}` (`{v}`) is not a whole number ≥ 0", c.name())),
        }
    };
    let required = |c: Column| -> Result<u64, String> {
        number(c)?.ok_or_else(|| format!("field `{}` is empty", c.name()))
    };
    let small = |c: Column| -> Result<u32, String> {
        u32::try_from(required(c)?)
            .map_err(|_| format!("field `{}` (`{}`) is too large", c.name(), field(c)))
    };
    let endpoint = numbered(endpoints, field(Column::Endpoint), Column::Endpoint)?;
    let workflow = match number(Column::WorkflowInstance)? {
        None => None,
        Some(instance) => Some(WorkflowCall {
            instance,
            node: numbered(nodes, field(Column::Node), Column::Node)?,
        }),
    };
    let flag = |c: Column| -> Result<Option<bool>, String> {
        match field(c) {
            "" => Ok(None),
            "1" => Ok(Some(true)),
            "0" => Ok(Some(false)),
            other => Err(format!(
                "field `{}` (`{other}`) is not 0, 1 or empty",
                c.name()
            )),
        }
    };
    Ok(Record {
        index: required(Column::Index)?,
        worker: small(Column::Worker)?,
        period: small(Column::Period)?,
        endpoint,
        warmup: flag(Column::Warmup)?
            .ok_or_else(|| "field `warmup` is empty, not 0 or 1".to_owned())?,
        scheduled_us: required(Column::ScheduledUs)?,
        dispatch_lag_ns: number(Column::DispatchLagNs)?,
        send_lag_ns: number(Column::SendLagNs)?,
        latency_us: number(Column::LatencyUs)?,
        latency_from_scheduled_us: number(Column::LatencyFromScheduledUs)?,
        outcome: Outcome::parse(field(Column::Outcome)).ok_or_else(|| {
            format!(
                "field `outcome` (`{}`) is not an outcome",
                field(Column::Outcome)
            )
        })?,
        exec_us: number(Column::ExecUs)?,
        instance: match field(Column::Instance) {
            "" => None,
            hex => Some(
                u64::from_str_radix(hex, 16)
                    .map_err(|_| format!("field `instance` (`{hex}`) is not 16 hex digits"))?,
            ),
        },
        cold: flag(Column::Cold)?,
        wire: Wire {
            protocol: match field(Column::Protocol) {
                "" => None,
                p => Some(Protocol::parse(p).ok_or_else(|| {
                    format!("field `protocol` (`{p}`) is not grpc, http/1.1 or h2")
                })?),
            },
            status: number(Column::Status)?
                .map(|s| {
                    u16::try_from(s).map_err(|_| format!("field `status` (`{s}`) is too large"))
                })
                .transpose()?,
            request_bytes: number(Column::RequestBytes)?,
            transfer_us: number(Column::TransferUs)?,
            response_bytes: number(Column::ResponseBytes)?,
        },
        workflow,
    })
}
