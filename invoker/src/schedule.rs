//! The replay plan: a load file flattened into absolute, time-ordered calls (32 bytes each).

use std::path::Path;

use formats::records::{Outcome, Record};
use formats::{CallAsk, LoadError};

/// One call to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledCall {
    /// Microseconds from the start of the run.
    pub due_us: u64,
    /// Period (0-based) the call belongs to.
    pub period: u32,
    /// Index into [`Schedule::endpoints`].
    pub endpoint: u32,
    /// What the call asks of its function, when the load says (sent in the request's metadata).
    pub ask: Option<CallAsk>,
    /// The size of what the call sends, bytes, when the load says (`payload_bytes`); otherwise the
    /// request's own (`--payload-bytes`).
    pub payload_bytes: Option<u32>,
}

/// Every call of a run, in the order they are due.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    /// Distinct endpoints, as written in the load.
    pub endpoints: Vec<String>,
    /// Calls sorted by due time (ties keep file order).
    pub calls: Vec<ScheduledCall>,
    /// Periods replayed.
    pub periods: u32,
    /// The first `warmup_periods` are excluded from statistics.
    pub warmup_periods: u32,
    /// Length of a period, µs.
    pub period_us: u64,
    /// Periods the file held.
    pub periods_in_file: u32,
}

impl Schedule {
    /// Reads `path` and keeps its first `warmup + duration` periods (all of them if it holds fewer).
    /// An offset past its period's length is an error naming the period and the call.
    pub fn from_file(
        path: &Path,
        period_us: u64,
        warmup: u32,
        duration: u32,
    ) -> Result<Schedule, LoadError> {
        let load = formats::read(path)?;
        load.check_offsets(path, period_us)?;
        let periods_in_file = u32::try_from(load.periods.len()).unwrap_or(u32::MAX);
        let periods = warmup.saturating_add(duration).min(periods_in_file);
        let wanted: usize = load
            .periods
            .iter()
            .take(periods as usize)
            .map(|p| p.calls.len())
            .sum();
        let mut calls = Vec::new();
        // The load itself is already in memory; refuse rather than abort if its copy does not fit.
        calls.try_reserve_exact(wanted).map_err(|_| LoadError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(format!(
                "{wanted} calls do not fit in memory ({} bytes)",
                wanted.saturating_mul(std::mem::size_of::<ScheduledCall>())
            )),
        })?;
        for (p, period) in load.periods.iter().take(periods as usize).enumerate() {
            let base = p as u64 * period_us;
            calls.extend(period.calls.iter().enumerate().map(|(i, c)| ScheduledCall {
                due_us: base + c.offset_us,
                period: p as u32,
                endpoint: c.endpoint,
                ask: period.asks.get(i).copied(),
                payload_bytes: period.payloads.get(i).copied(),
            }));
        }
        // vSwarm's own files are not always sorted; a stable sort keeps file order among equal times.
        calls.sort_by_key(|c| c.due_us);
        Ok(Schedule {
            endpoints: load.endpoints,
            calls,
            periods,
            warmup_periods: warmup.min(periods),
            period_us,
            periods_in_file,
        })
    }

    /// Whether call `c` falls in the warm-up.
    pub fn is_warmup(&self, c: &ScheduledCall) -> bool {
        c.period < self.warmup_periods
    }

    /// The record of `call` (the `index`-th of the whole load, dealt to `worker`) before anything happened
    /// to it: no lag, no latency, `outcome`.
    pub fn unsent_record(
        &self,
        call: &ScheduledCall,
        index: u64,
        worker: u32,
        outcome: Outcome,
    ) -> Record {
        Record {
            index,
            worker,
            period: call.period,
            endpoint: call.endpoint,
            warmup: self.is_warmup(call),
            scheduled_us: call.due_us,
            dispatch_lag_ns: None,
            send_lag_ns: None,
            latency_us: None,
            latency_from_scheduled_us: None,
            outcome,
            exec_us: None,
            instance: None,
            cold: None,
            wire: formats::records::Wire::default(),
        }
    }

    /// Length of the measured (post-warm-up) part, µs.
    pub fn measured_us(&self) -> u64 {
        u64::from(self.periods - self.warmup_periods) * self.period_us
    }

    /// The measured window (warm-up excluded), µs from time 0: what the rates divide by.
    pub fn measured_window(&self) -> crate::stats::MeasuredWindow {
        crate::stats::MeasuredWindow {
            start_us: u64::from(self.warmup_periods) * self.period_us,
            end_us: u64::from(self.periods) * self.period_us,
        }
    }
}
