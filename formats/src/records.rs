//! The records CSV: one line per scheduled call, saying what happened to it.
//!
//! ```text
//! index,worker,period,endpoint,warmup,scheduled_us,dispatch_lag_ns,send_lag_ns,latency_us,latency_from_scheduled_us,outcome,exec_us,instance,cold
//! 0,0,0,127.0.0.1:50051,1,1234,80,510,97,98,ok,61,3f2a00c1d9e4b710,1
//! ```
//!
//! `exec_us`, `instance` and `cold` are what the function said of the call (its own execution time, the
//! instance that served it, whether it was a cold start), empty when it said nothing.
//!
//! `index` is the call's position in the whole load, `worker` the invoker that replayed it (0 when one
//! did). Times are from the start of the run, each measured on its worker's own clock. An empty field is "did not happen" (a call never sent has no lag).
//! [`RecordsWriter`] writes it, [`read_records`] reads it back into the same [`Record`] type; endpoints are
//! interned on both sides (a record holds an index into a table of names).

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

/// The header of the records CSV.
pub const RECORDS_HEADER: &str = "index,worker,period,endpoint,warmup,scheduled_us,dispatch_lag_ns,send_lag_ns,latency_us,latency_from_scheduled_us,outcome,exec_us,instance,cold";

/// Fields per line.
const FIELDS: usize = 14;

/// gRPC status codes by number, as named in the records (`error:<name>`): the canonical codes, lowercased.
const STATUS_NAMES: [&str; 17] = [
    "error:ok",
    "error:cancelled",
    "error:unknown",
    "error:invalidargument",
    "error:deadlineexceeded",
    "error:notfound",
    "error:alreadyexists",
    "error:permissiondenied",
    "error:resourceexhausted",
    "error:failedprecondition",
    "error:aborted",
    "error:outofrange",
    "error:unimplemented",
    "error:internal",
    "error:unavailable",
    "error:dataloss",
    "error:unauthenticated",
];

/// gRPC's code for "unknown", which any code outside the canonical ones is read as (as gRPC does).
const UNKNOWN: u8 = 2;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Answered successfully.
    Ok,
    /// No answer within the call's timeout.
    Timeout,
    /// Answered with a gRPC error status (its canonical code), or failed to connect (`unavailable`).
    Status(u8),
    /// Not sent: `--max-in-flight` calls were already outstanding.
    NotSentBackPressure,
    /// Not sent: the run was interrupted before it was due.
    NotSentInterrupted,
    /// Sent, but the run ended before it was answered or timed out (a second Ctrl-C).
    Cancelled,
    /// Not sent: its worker was not ready until after it was due (it started late).
    NotSentLateStart,
    /// No record came back: its worker died (or was lost) before reporting, so it was never sent or its
    /// fate is unknown.
    WorkerLost,
}

impl Outcome {
    /// A gRPC status code as an outcome; codes outside the canonical 0..=16 count as `unknown`.
    pub fn status(code: i32) -> Outcome {
        match u8::try_from(code) {
            Ok(c) if usize::from(c) < STATUS_NAMES.len() => Outcome::Status(c),
            _ => Outcome::Status(UNKNOWN),
        }
    }

    /// Name in the records file and the summary.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Timeout => "timeout",
            Outcome::Status(code) => STATUS_NAMES
                .get(usize::from(code))
                .copied()
                .unwrap_or(STATUS_NAMES[usize::from(UNKNOWN)]),
            Outcome::NotSentBackPressure => "not_sent:max_in_flight",
            Outcome::NotSentInterrupted => "not_sent:interrupted",
            Outcome::Cancelled => "cancelled",
            Outcome::NotSentLateStart => "not_sent:late_start",
            Outcome::WorkerLost => "not_sent:worker_lost",
        }
    }

    /// The outcome a [`Outcome::name`] stands for.
    pub fn parse(name: &str) -> Option<Outcome> {
        Some(match name {
            "ok" => Outcome::Ok,
            "timeout" => Outcome::Timeout,
            "not_sent:max_in_flight" => Outcome::NotSentBackPressure,
            "not_sent:interrupted" => Outcome::NotSentInterrupted,
            "cancelled" => Outcome::Cancelled,
            "not_sent:late_start" => Outcome::NotSentLateStart,
            "not_sent:worker_lost" => Outcome::WorkerLost,
            _ => Outcome::Status(STATUS_NAMES.iter().position(|n| *n == name)? as u8),
        })
    }

    /// Whether the request left.
    pub fn was_sent(self) -> bool {
        !matches!(
            self,
            Outcome::NotSentBackPressure
                | Outcome::NotSentInterrupted
                | Outcome::NotSentLateStart
                | Outcome::WorkerLost
        )
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
}

impl Record {
    /// When the request left, µs from the start of the run, if it did.
    pub fn sent_us(&self) -> Option<u64> {
        self.send_lag_ns
            .map(|lag| self.scheduled_us.saturating_add(lag / 1000))
    }

    /// When the answer (or failure) came, µs from the start of the run, if the call ended.
    pub fn ended_us(&self) -> Option<u64> {
        self.latency_from_scheduled_us
            .map(|l| self.scheduled_us.saturating_add(l))
    }
}

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
        l.push(b'\n');
        self.out.write_all(l)
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
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

/// Reads a records CSV, calling `each(record, endpoint name)` per record in file order.
pub fn read_records(path: &Path, mut each: impl FnMut(&Record, &str)) -> Result<(), RecordsError> {
    let io_error = |source| RecordsError::Io {
        path: path.to_owned(),
        source,
    };
    let bad = |line: u64, reason: String| RecordsError::Bad {
        path: path.to_owned(),
        line,
        reason,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut reader = io::BufReader::with_capacity(1 << 20, file);
    let mut endpoints: Vec<String> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut bytes = Vec::with_capacity(256);
    let mut n = 0u64;
    loop {
        bytes.clear();
        if reader.read_until(b'\n', &mut bytes).map_err(io_error)? == 0 {
            break;
        }
        n += 1;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            bad(
                n,
                format!(
                    "not UTF-8 text (byte {} of the line is invalid)",
                    e.valid_up_to() + 1
                ),
            )
        })?;
        let line = text.trim_end_matches(['\n', '\r']);
        if n == 1 {
            if line.trim_start_matches('\u{feff}') != RECORDS_HEADER {
                return Err(bad(
                    1,
                    format!("header is `{line}`, expected `{RECORDS_HEADER}`"),
                ));
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let record = parse_line(line, &mut endpoints, &mut index).map_err(|r| bad(n, r))?;
        each(&record, &endpoints[record.endpoint as usize]);
    }
    if n == 0 {
        return Err(bad(1, "empty file: no header".into()));
    }
    Ok(())
}

fn parse_line(
    line: &str,
    endpoints: &mut Vec<String>,
    index: &mut HashMap<String, u32>,
) -> Result<Record, String> {
    // An endpoint holds no comma (it is a host:port or URL), so fields split plainly.
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != FIELDS {
        return Err(format!("{} fields, expected {FIELDS}", f.len()));
    }
    let number = |k: usize, name: &str| -> Result<Option<u64>, String> {
        if f[k].is_empty() {
            return Ok(None);
        }
        f[k].parse::<u64>().map(Some).map_err(|_| {
            format!(
                "field {} ({name}) `{}` is not a whole number ≥ 0",
                k + 1,
                f[k]
            )
        })
    };
    let required = |k: usize, name: &str| -> Result<u64, String> {
        number(k, name)?.ok_or_else(|| format!("field {} ({name}) is empty", k + 1))
    };
    let small = |k: usize, name: &str| -> Result<u32, String> {
        u32::try_from(required(k, name)?)
            .map_err(|_| format!("field {} ({name}) `{}` is too large", k + 1, f[k]))
    };
    let worker = small(1, "worker")?;
    let period = small(2, "period")?;
    let endpoint = match index.get(f[3]) {
        Some(&e) => e,
        None => {
            if f[3].is_empty() {
                return Err("field 4 (endpoint) is empty".into());
            }
            let e = u32::try_from(endpoints.len()).map_err(|_| "too many endpoints".to_owned())?;
            endpoints.push(f[3].to_owned());
            index.insert(f[3].to_owned(), e);
            e
        }
    };
    let warmup = match f[4] {
        "1" => true,
        "0" => false,
        other => return Err(format!("field 5 (warmup) `{other}` is not 0 or 1")),
    };
    Ok(Record {
        index: required(0, "index")?,
        worker,
        period,
        endpoint,
        warmup,
        scheduled_us: required(5, "scheduled_us")?,
        dispatch_lag_ns: number(6, "dispatch_lag_ns")?,
        send_lag_ns: number(7, "send_lag_ns")?,
        latency_us: number(8, "latency_us")?,
        latency_from_scheduled_us: number(9, "latency_from_scheduled_us")?,
        outcome: Outcome::parse(f[10])
            .ok_or_else(|| format!("field 11 (outcome) `{}` is not an outcome", f[10]))?,
        exec_us: number(11, "exec_us")?,
        instance: match f[12] {
            "" => None,
            hex => Some(
                u64::from_str_radix(hex, 16)
                    .map_err(|_| format!("field 13 (instance) `{hex}` is not 16 hex digits"))?,
            ),
        },
        cold: match f[13] {
            "" => None,
            "1" => Some(true),
            "0" => Some(false),
            other => return Err(format!("field 14 (cold) `{other}` is not 0, 1 or empty")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            index: 0,
            worker: 3,
            period: 1,
            endpoint: 0,
            warmup: false,
            scheduled_us: 1_000_005,
            dispatch_lag_ns: Some(80),
            send_lag_ns: Some(5_500),
            latency_us: Some(70),
            latency_from_scheduled_us: Some(76),
            outcome: Outcome::Ok,
            exec_us: Some(60),
            instance: Some(0x3f2a_00c1_d9e4_b710),
            cold: Some(true),
        }
    }

    #[test]
    fn records_round_trip_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut w = RecordsWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
        let endpoints = vec!["127.0.0.1:1".to_owned(), "127.0.0.1:2".to_owned()];
        let r = sample();
        let not_sent = Record {
            index: 1,
            endpoint: 1,
            outcome: Outcome::NotSentBackPressure,
            dispatch_lag_ns: None,
            send_lag_ns: None,
            latency_us: None,
            latency_from_scheduled_us: None,
            warmup: true,
            exec_us: None,
            instance: None,
            cold: None,
            ..r
        };
        let failed = Record {
            index: 2,
            outcome: Outcome::status(14),
            ..r
        };
        for x in [&r, &not_sent, &failed] {
            w.write(x, &endpoints).unwrap();
        }
        w.finish().unwrap();
        let mut rows = Vec::new();
        read_records(&path, |row, e| rows.push((*row, e.to_owned()))).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].0, r);
        assert_eq!(rows[1].0.outcome, Outcome::NotSentBackPressure);
        assert_eq!(rows[1].1, "127.0.0.1:2");
        assert_eq!(rows[1].0.endpoint, 1);
        assert_eq!(rows[2].0.outcome.name(), "error:unavailable");
        assert_eq!(r.sent_us(), Some(1_000_010));
        assert_eq!(r.ended_us(), Some(1_000_081));

        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("3,0,0,x,0,abc,,,,,ok,,,\n");
        std::fs::write(&path, &text).unwrap();
        let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
        assert!(
            e.contains("r.csv: line 5") && e.contains("scheduled_us"),
            "{e}"
        );
        std::fs::write(
            &path,
            format!("{RECORDS_HEADER}\n0,0,99999999999,x,0,1,,,,,ok,,,\n"),
        )
        .unwrap();
        let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("(period)") && e.contains("too large"),
            "{e}"
        );
        std::fs::write(
            &path,
            format!("{RECORDS_HEADER}\n0,0,0,x,0,1,,,,,maybe,,,\n"),
        )
        .unwrap();
        let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("`maybe` is not an outcome"),
            "{e}"
        );
        std::fs::write(
            &path,
            format!("{RECORDS_HEADER}\n0,0,0,x,0,1,,,,,ok,5,xyz,1\n"),
        )
        .unwrap();
        let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
        assert!(e.contains("(instance) `xyz`"), "{e}");
        std::fs::write(&path, b"index\xff\n").unwrap();
        let e = read_records(&path, |_, _| {}).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn every_outcome_name_parses_back() {
        let mut all = vec![
            Outcome::Ok,
            Outcome::Timeout,
            Outcome::NotSentBackPressure,
            Outcome::NotSentInterrupted,
            Outcome::Cancelled,
            Outcome::NotSentLateStart,
            Outcome::WorkerLost,
        ];
        all.extend((0..17).map(Outcome::status));
        for o in all {
            assert_eq!(Outcome::parse(o.name()), Some(o), "{}", o.name());
        }
        assert_eq!(Outcome::status(99).name(), "error:unknown");
        assert_eq!(Outcome::status(-1).name(), "error:unknown");
    }
}
