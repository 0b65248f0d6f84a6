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
