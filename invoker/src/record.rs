//! Per-invocation records: what happened to each scheduled call, and the CSV they are written as.

use std::io::{self, Write};

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Answered successfully.
    Ok,
    /// No answer within `-grpcTimeout`.
    Timeout,
    /// Answered with a gRPC error status (code as in the gRPC spec), or failed to connect (Unavailable).
    Status(i32),
    /// Not sent: `--max-in-flight` calls were already outstanding.
    NotSentBackPressure,
    /// Not sent: the run was interrupted (Ctrl-C) before it was due.
    NotSentInterrupted,
    /// Sent, but the run ended before it was answered or timed out (should not happen: every call times out).
    Cancelled,
}

impl Outcome {
    /// Name in the records file and summary.
    pub fn name(self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Timeout => "timeout".into(),
            Outcome::Status(code) => format!("error:{}", code_name(code)),
            Outcome::NotSentBackPressure => "not_sent:max_in_flight".into(),
            Outcome::NotSentInterrupted => "not_sent:interrupted".into(),
            Outcome::Cancelled => "cancelled".into(),
        }
    }

    /// Whether the request left.
    pub fn was_sent(self) -> bool {
        !matches!(
            self,
            Outcome::NotSentBackPressure | Outcome::NotSentInterrupted
        )
    }
}

fn code_name(code: i32) -> String {
    format!("{:?}", tonic::Code::from_i32(code)).to_lowercase()
}

/// Everything recorded about one scheduled call. Times are from the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Position in the schedule.
    pub index: u64,
    /// Period (0-based).
    pub period: u32,
    /// Endpoint index.
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
}

/// The header of the records CSV (`--records`).
pub const RECORDS_HEADER: &str = "index,period,endpoint,warmup,scheduled_us,dispatch_lag_ns,send_lag_ns,latency_us,latency_from_scheduled_us,outcome";

/// Writes records as CSV lines; endpoints by name.
pub struct RecordsWriter<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> RecordsWriter<W> {
    /// Writes the header.
    pub fn new(mut out: W) -> io::Result<Self> {
        writeln!(out, "{RECORDS_HEADER}")?;
        Ok(RecordsWriter {
            out,
            line: Vec::with_capacity(256),
        })
    }

    /// Appends one record.
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
        l.push(b'\n');
        self.out.write_all(l)
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One line of a records CSV, as read back (by plots and reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// Period (0-based).
    pub period: u32,
    /// Endpoint, as in the load.
    pub endpoint: String,
    /// In the warm-up.
    pub warmup: bool,
    /// Due time, µs from the start of the run.
    pub scheduled_us: u64,
    /// Dispatcher release minus due, ns.
    pub dispatch_lag_ns: Option<u64>,
    /// Hand-off to the gRPC client minus due, ns.
    pub send_lag_ns: Option<u64>,
    /// Answer minus send, µs.
    pub latency_us: Option<u64>,
    /// Answer minus due, µs.
    pub latency_from_scheduled_us: Option<u64>,
    /// Outcome name (`ok`, `timeout`, `error:unavailable`, …).
    pub outcome: String,
}

impl RecordRow {
    /// Answered successfully.
    pub fn is_ok(&self) -> bool {
        self.outcome == "ok"
    }
}

/// Why a records file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A line is not a record.
    #[error("{}: line {line}: {reason}", path.display())]
    Bad {
        /// The file.
        path: std::path::PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Reads a records CSV written by the invoker, calling `each` per record in file order.
pub fn read_records(
    path: &std::path::Path,
    mut each: impl FnMut(RecordRow),
) -> Result<(), RecordsError> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|source| RecordsError::Io {
        path: path.to_owned(),
        source,
    })?;
    let bad = |line: u64, reason: String| RecordsError::Bad {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut lines = io::BufReader::with_capacity(1 << 20, file).lines();
    match lines.next() {
        Some(Ok(h)) if h == RECORDS_HEADER => {}
        Some(Ok(h)) => {
            return Err(bad(
                1,
                format!("header is `{h}`, expected `{RECORDS_HEADER}`"),
            ))
        }
        Some(Err(source)) => {
            return Err(RecordsError::Io {
                path: path.to_owned(),
                source,
            })
        }
        None => return Err(bad(1, "empty file: no header".into())),
    }
    for (i, line) in lines.enumerate() {
        let n = i as u64 + 2;
        let line = line.map_err(|source| RecordsError::Io {
            path: path.to_owned(),
            source,
        })?;
        // The endpoint may not contain a comma (it is a host:port or URL), so fields split plainly.
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 10 {
            return Err(bad(n, format!("{} fields, expected 10", f.len())));
        }
        let num = |k: usize, name: &str| -> Result<Option<u64>, RecordsError> {
            if f[k].is_empty() {
                return Ok(None);
            }
            f[k].parse::<u64>().map(Some).map_err(|_| {
                bad(
                    n,
                    format!("field {} ({name}) `{}` is not a number", k + 1, f[k]),
                )
            })
        };
        let required = |k: usize, name: &str| -> Result<u64, RecordsError> {
            num(k, name)?.ok_or_else(|| bad(n, format!("field {} ({name}) is empty", k + 1)))
        };
        each(RecordRow {
            period: required(1, "period")? as u32,
            endpoint: f[2].to_owned(),
            warmup: f[3] == "1",
            scheduled_us: required(4, "scheduled_us")?,
            dispatch_lag_ns: num(5, "dispatch_lag_ns")?,
            send_lag_ns: num(6, "send_lag_ns")?,
            latency_us: num(7, "latency_us")?,
            latency_from_scheduled_us: num(8, "latency_from_scheduled_us")?,
            outcome: f[9].to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut w = RecordsWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
        let endpoints = vec!["127.0.0.1:1".to_owned()];
        let r = Record {
            index: 0,
            period: 1,
            endpoint: 0,
            warmup: false,
            scheduled_us: 1_000_005,
            dispatch_lag_ns: Some(80),
            send_lag_ns: Some(500),
            latency_us: Some(70),
            latency_from_scheduled_us: Some(71),
            outcome: Outcome::Ok,
        };
        w.write(&r, &endpoints).unwrap();
        w.write(
            &Record {
                outcome: Outcome::NotSentBackPressure,
                dispatch_lag_ns: None,
                send_lag_ns: None,
                latency_us: None,
                latency_from_scheduled_us: None,
                warmup: true,
                ..r
            },
            &endpoints,
        )
        .unwrap();
        w.finish().unwrap();
        let mut rows = Vec::new();
        read_records(&path, |row| rows.push(row)).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].scheduled_us, 1_000_005);
        assert_eq!(rows[0].send_lag_ns, Some(500));
        assert!(rows[0].is_ok() && !rows[0].warmup);
        assert_eq!(rows[1].outcome, "not_sent:max_in_flight");
        assert_eq!(rows[1].latency_us, None);
        assert!(rows[1].warmup);

        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("2,0,x,0,abc,,,,,ok\n");
        std::fs::write(&path, text).unwrap();
        let e = read_records(&path, |_| {}).unwrap_err().to_string();
        assert!(e.contains("line 4") && e.contains("scheduled_us"), "{e}");
    }
}
