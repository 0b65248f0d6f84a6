//! Statistics over the records (warm-up excluded): rates, lag and latency percentiles, outcomes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::record::Record;

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Values counted.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

impl Percentiles {
    /// From a histogram whose unit is `unit_us` microseconds.
    fn of(h: &Histogram<u64>, unit_us: f64) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let q = |q: f64| h.value_at_quantile(q) as f64 * unit_us;
        Percentiles {
            count: h.len(),
            mean: h.mean() * unit_us,
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: h.max() as f64 * unit_us,
        }
    }
}

/// Summary of a run, as printed and as written by `--summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Scheduled calls in the replayed periods, warm-up included.
    pub scheduled_total: u64,
    /// Records written (must equal `scheduled_total`).
    pub records: u64,
    /// Measured (post-warm-up) calls scheduled.
    pub scheduled: u64,
    /// Measured calls sent.
    pub sent: u64,
    /// Measured calls answered successfully.
    pub ok: u64,
    /// Measured calls per outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Length of the measured window, s.
    pub measured_seconds: f64,
    /// Scheduled calls per second in the measured window.
    pub scheduled_rate: f64,
    /// Sent calls per second in the measured window.
    pub achieved_rate: f64,
    /// Dispatcher release minus due, µs.
    pub dispatch_lag_us: Percentiles,
    /// Hand-off to the gRPC client minus due, µs: the honest lag.
    pub send_lag_us: Percentiles,
    /// Successful calls: answer minus send, µs.
    pub latency_us: Percentiles,
    /// Successful calls: answer minus due, µs (coordinated omission cannot hide here).
    pub latency_from_scheduled_us: Percentiles,
    /// Successful calls per endpoint: answer minus send, µs.
    pub latency_by_endpoint_us: BTreeMap<String, Percentiles>,
    /// Per period (warm-up included), what was scheduled, sent and answered: the run's fidelity.
    #[serde(default)]
    pub per_period: Vec<PeriodTally>,
    /// Hypervisor steal during the run, ms, per CPU (`/proc/stat`; 10 ms resolution): time a virtual
    /// CPU was taken away. Lag in the milliseconds on a CPU with steal is the VM's, not the invoker's.
    #[serde(default)]
    pub steal_ms: BTreeMap<usize, f64>,
    /// How the dispatcher thread was scheduled.
    pub dispatcher: String,
    /// Interrupted by a signal.
    pub interrupted: bool,
}

/// Calls of one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeriodTally {
    /// Scheduled.
    pub scheduled: u64,
    /// Sent.
    pub sent: u64,
    /// Answered successfully.
    pub ok: u64,
}

/// Accumulates records into histograms.
pub struct Collector {
    endpoints: Vec<String>,
    measured_seconds: f64,
    scheduled_total: u64,
    records: u64,
    scheduled: u64,
    sent: u64,
    ok: u64,
    outcomes: BTreeMap<String, u64>,
    dispatch_lag_ns: Histogram<u64>,
    send_lag_ns: Histogram<u64>,
    latency_us: Histogram<u64>,
    latency_from_scheduled_us: Histogram<u64>,
    by_endpoint: Vec<Histogram<u64>>,
    per_period: Vec<PeriodTally>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is valid")
}

/// Records into an auto-resizing histogram. (`saturating_record` would clamp to the initial range, 2,048.)
fn record(h: &mut Histogram<u64>, v: u64) {
    h.record(v)
        .expect("an auto-resizing histogram takes any u64");
}

impl Collector {
    /// A collector for a run over `endpoints` with `scheduled_total` calls and a measured window of
    /// `measured_seconds`.
    pub fn new(endpoints: Vec<String>, scheduled_total: u64, measured_seconds: f64) -> Self {
        let by_endpoint = endpoints.iter().map(|_| histogram()).collect();
        Collector {
            endpoints,
            measured_seconds,
            scheduled_total,
            records: 0,
            scheduled: 0,
            sent: 0,
            ok: 0,
            outcomes: BTreeMap::new(),
            dispatch_lag_ns: histogram(),
            send_lag_ns: histogram(),
            latency_us: histogram(),
            latency_from_scheduled_us: histogram(),
            by_endpoint,
            per_period: Vec::new(),
        }
    }

    /// Counts one record.
    pub fn add(&mut self, r: &Record) {
        self.records += 1;
        let period = r.period as usize;
        if self.per_period.len() <= period {
            self.per_period.resize(period + 1, PeriodTally::default());
        }
        let tally = &mut self.per_period[period];
        tally.scheduled += 1;
        tally.sent += u64::from(r.outcome.was_sent());
        tally.ok += u64::from(r.outcome == crate::record::Outcome::Ok);
        if r.warmup {
            return;
        }
        self.scheduled += 1;
        *self.outcomes.entry(r.outcome.name()).or_default() += 1;
        if r.outcome.was_sent() {
            self.sent += 1;
        }
        if let Some(v) = r.dispatch_lag_ns {
            record(&mut self.dispatch_lag_ns, v);
        }
        if let Some(v) = r.send_lag_ns {
            record(&mut self.send_lag_ns, v);
        }
        if r.outcome == crate::record::Outcome::Ok {
            self.ok += 1;
            if let Some(v) = r.latency_us {
                record(&mut self.latency_us, v);
                record(&mut self.by_endpoint[r.endpoint as usize], v);
            }
            if let Some(v) = r.latency_from_scheduled_us {
                record(&mut self.latency_from_scheduled_us, v);
            }
        }
    }

    /// The summary of everything added.
    pub fn summary(&self, dispatcher: String, interrupted: bool) -> Summary {
        let per_s = |n: u64| {
            if self.measured_seconds > 0.0 {
                n as f64 / self.measured_seconds
            } else {
                0.0
            }
        };
        Summary {
            scheduled_total: self.scheduled_total,
            records: self.records,
            scheduled: self.scheduled,
            sent: self.sent,
            ok: self.ok,
            outcomes: self.outcomes.clone(),
            measured_seconds: self.measured_seconds,
            scheduled_rate: per_s(self.scheduled),
            achieved_rate: per_s(self.sent),
            dispatch_lag_us: Percentiles::of(&self.dispatch_lag_ns, 1e-3),
            send_lag_us: Percentiles::of(&self.send_lag_ns, 1e-3),
            latency_us: Percentiles::of(&self.latency_us, 1.0),
            latency_from_scheduled_us: Percentiles::of(&self.latency_from_scheduled_us, 1.0),
            latency_by_endpoint_us: self
                .endpoints
                .iter()
                .zip(&self.by_endpoint)
                .filter(|(_, h)| !h.is_empty())
                .map(|(e, h)| (e.clone(), Percentiles::of(h, 1.0)))
                .collect(),
            per_period: self.per_period.clone(),
            steal_ms: BTreeMap::new(),
            dispatcher,
            interrupted,
        }
    }
}

impl Summary {
    /// Steal per CPU as text (`CPU0 10 ms, CPU1 0 ms`), if the kernel reported it.
    pub fn steal_text(&self) -> Option<String> {
        if self.steal_ms.is_empty() {
            return None;
        }
        let per_cpu: Vec<String> = self
            .steal_ms
            .iter()
            .map(|(cpu, ms)| format!("CPU{cpu} {ms:.0} ms"))
            .collect();
        Some(per_cpu.join(", "))
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "calls      {} scheduled after warm-up, {} sent, {} ok; {} records for {} scheduled in all{}",
            self.scheduled,
            self.sent,
            self.ok,
            self.records,
            self.scheduled_total,
            if self.interrupted { " (interrupted)" } else { "" }
        );
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(s, "outcomes   {}", outcomes.join(", "));
        let _ = writeln!(
            s,
            "rate       {:.1}/s achieved of {:.1}/s scheduled over {:.1} s",
            self.achieved_rate, self.scheduled_rate, self.measured_seconds
        );
        let row = |s: &mut String, name: &str, p: &Percentiles| {
            let _ = writeln!(
                s,
                "{name:<10} p50 {:.2} p90 {:.2} p99 {:.2} p99.9 {:.2} max {:.2} (µs, n={})",
                p.p50, p.p90, p.p99, p.p999, p.max, p.count
            );
        };
        row(&mut s, "lag", &self.dispatch_lag_us);
        row(&mut s, "send lag", &self.send_lag_us);
        row(&mut s, "latency", &self.latency_us);
        row(&mut s, "from due", &self.latency_from_scheduled_us);
        let mut busiest: Vec<(&String, &Percentiles)> =
            self.latency_by_endpoint_us.iter().collect();
        busiest.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        for (endpoint, p) in busiest.iter().take(5) {
            row(&mut s, &format!("  {endpoint}"), p);
        }
        if busiest.len() > 5 {
            let _ = writeln!(
                s,
                "  ({} more endpoints in the summary file)",
                busiest.len() - 5
            );
        }
        if let Some(steal) = self.steal_text() {
            let _ = writeln!(
                s,
                "steal      {steal} (time the hypervisor took each CPU away during the run)"
            );
        }
        let _ = writeln!(s, "dispatcher {}", self.dispatcher);
        f.write_str(&s)
    }
}
