//! The run summary (`summary.json`, and the lines the invoker prints): what was scheduled, sent and
//! answered, at what rate, with lag and latency statistics overall, per endpoint and per period.

mod disturbed;

pub use disturbed::{Disturbed, DisturbedPhase, PhaseFigures};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Statistics of one time measurement (lag or latency), in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct TimeStats {
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

/// Calls of one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeriodTally {
    /// Scheduled.
    pub scheduled: u64,
    /// Sent.
    pub sent: u64,
    /// Answered successfully.
    pub ok: u64,
    /// Cold starts, as the functions reported them.
    #[serde(default)]
    pub cold: u64,
    /// Latency (answer − send) of its answered calls, µs: median and 99th percentile (two significant
    /// digits: one histogram per period keeps a day's periods small). `None` without an answered call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_us: Option<u64>,
    /// See [`PeriodTally::latency_p50_us`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_us: Option<u64>,
    /// Send lag (send − due) of its sent calls, 99th percentile, ns (two significant digits): when in
    /// the run the invoker fell behind. `None` without a sent call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag_p99_ns: Option<u64>,
}

fn first_records_schema() -> u32 {
    1
}

/// Summary of a run, as printed and as written to `summary.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// The schema the run's records follow ([`crate::records::RECORDS_SCHEMA`]); files written before
    /// it was stated follow the first.
    #[serde(default = "first_records_schema")]
    pub records_schema: u32,
    /// Scheduled calls in the replayed periods, warm-up included.
    pub scheduled_total: u64,
    /// Records written (equal to `scheduled_total` unless something was lost).
    pub records: u64,
    /// Measured (post-warm-up) calls scheduled.
    pub scheduled: u64,
    /// Measured calls sent.
    pub sent: u64,
    /// Measured calls answered successfully.
    pub ok: u64,
    /// Measured calls per outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Nominal length of the measured window, s.
    pub measured_seconds: f64,
    /// Measured calls scheduled per second: scheduled calls over the measured window's length (periods ×
    /// period).
    pub scheduled_rate: f64,
    /// Measured calls sent per second, measured: calls sent over the span from the window's start to its
    /// end or to the last real send, whichever is later. A late or slow tail lengthens the span and lowers
    /// the rate; on time, it equals `scheduled_rate`. An interrupted run divides by the time it ran, from
    /// the window's start to the interrupt (or its last send, if later). Several workers: the whole
    /// load's sends over the whole window.
    pub achieved_rate: f64,
    /// The span `achieved_rate` divides by, s.
    #[serde(default)]
    pub achieved_seconds: f64,
    /// Dispatcher release minus due, µs.
    pub dispatch_lag_us: TimeStats,
    /// Hand-off to the gRPC client minus due, µs: the honest lag.
    pub send_lag_us: TimeStats,
    /// Successful calls: answer minus send, µs.
    pub latency_us: TimeStats,
    /// Successful calls: answer minus due, µs (coordinated omission cannot hide here).
    pub latency_from_scheduled_us: TimeStats,
    /// Successful calls per endpoint: answer minus send, µs.
    pub latency_by_endpoint_us: BTreeMap<String, TimeStats>,
    /// Per period (warm-up included), what was scheduled, sent and answered: the run's fidelity.
    #[serde(default)]
    pub per_period: Vec<PeriodTally>,
    /// Answered calls whose function said its execution time: latency minus it, µs (the platform's
    /// overhead: network, queueing before the function, cold-start delays outside it).
    #[serde(default)]
    pub overhead_us: TimeStats,
    /// Measured calls the functions reported as cold starts.
    #[serde(default)]
    pub cold_starts: u64,
    /// Distinct instances seen per endpoint (warm-up included), when the functions say.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub instances_by_endpoint: BTreeMap<String, u64>,
    /// What each endpoint is, for people: endpoint → the proxy (or function) deployed there, as
    /// `loadgen` deployed it. Figures, reports and the printed summary name endpoints by it; an endpoint
    /// missing here is named by its address.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_names: BTreeMap<String, String>,
    /// Hypervisor steal during the run, ms, per CPU (`/proc/stat`; 10 ms resolution): time a virtual
    /// CPU was taken away. Lag in the milliseconds on a CPU with steal is the VM's, not the invoker's.
    #[serde(default)]
    pub steal_ms: BTreeMap<usize, f64>,
    /// How the dispatcher thread was scheduled.
    pub dispatcher: String,
    /// Interrupted by a signal.
    pub interrupted: bool,
    /// Per endpoint whose calls failed, the first failure's cause (what a run in which calls fail says
    /// once, not once per call).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, String>,
    /// A second stop request cut the wait for calls in flight short: those are recorded as `cancelled`.
    #[serde(default)]
    pub incomplete: bool,
    /// Wall-clock time of the run's time 0 (the records' times count from it), µs since the Unix epoch.
    #[serde(default)]
    pub start_unix_us: u64,
    /// A worker's own summary: which one it is, how it started and how its clock compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerInfo>,
    /// A run of several workers: one block per worker (the figures above are all of them together).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerReport>,
    /// A workflow load: its instances after warm-up (from `workflows.csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflows: Option<WorkflowFigures>,
    /// The local fleet scaled like Knative (`--local-platform knative`): what its instances did, warm-up
    /// included (the platform's own count, where `cold_starts` above is the functions' after warm-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_platform: Option<PlatformTotals>,
    /// A run continued after it was cut (`loadgen run --resume`): one block per resumed session, in
    /// order. The figures above are of every session's records together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumed: Vec<ResumedSession>,
    /// Interference and faults (`--interference`, `--fault`): the run before, during and after each,
    /// and each fault's recovery time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disturbed: Option<Disturbed>,
    /// A worker's figures as it collected them, to be merged (sent with its results; the run's
    /// summary.json does not keep them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected: Option<Box<Collected>>,
}

/// What an invoker's statistics hold, mergeable: its counts and its HdrHistograms, each serialized
/// (HdrHistogram's V2 format, deflated, base64), so the coordinator computes a many-worker run's
/// percentiles from the workers' merged histograms, as exact as each worker's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Collected {
    /// Records counted.
    pub records: u64,
    /// Measured calls scheduled, sent and answered.
    pub scheduled: u64,
    /// See [`Collected::scheduled`].
    pub sent: u64,
    /// See [`Collected::scheduled`].
    pub ok: u64,
    /// Measured calls by outcome name.
    pub outcomes: BTreeMap<String, u64>,
    /// Measured cold starts.
    pub cold_starts: u64,
    /// The last real send of a measured call, µs from time 0.
    pub last_sent_us: Option<u64>,
    /// The first call sent (warm-up included): its index in the whole load and its send lag, ns.
    pub first_sent: Option<(u64, u64)>,
    /// Dispatch lag, ns.
    pub dispatch_lag_ns: String,
    /// Send lag, ns.
    pub send_lag_ns: String,
    /// Latency, µs.
    pub latency_us: String,
    /// Latency from the due time, µs.
    pub latency_from_scheduled_us: String,
    /// Latency less the function's own time, µs.
    pub overhead_us: String,
    /// Latency by endpoint, µs (endpoints with answered calls).
    pub latency_by_endpoint_us: BTreeMap<String, String>,
    /// Per period: its counts, and its latency (µs) and send-lag (ns) histograms.
    pub per_period: Vec<(PeriodTally, String, String)>,
    /// The instances seen (warm-up included): endpoint and instance id.
    pub instances: Vec<(String, u64)>,
}

/// A session that continued a cut run: where it took up the load, and the gap before it. The calls
/// before each worker's first call here were recorded by the sessions before; the platform idled
/// between the sessions, so the first calls after a resume meet it as the gap left it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResumedSession {
    /// Wall-clock time of this session's time 0, µs since the Unix epoch.
    pub start_unix_us: u64,
    /// The load's time (µs from the run's time 0) that this session's time 0 stands for.
    pub from_us: u64,
    /// The period of the load it took up at.
    pub from_period: u32,
    /// Calls sent (or due to be) in this session.
    pub calls: u64,
    /// Per worker (one, without workers), the index in the whole load of its first call in this
    /// session; none when it had every call recorded already.
    pub first_index: Vec<Option<u64>>,
    /// Seconds between the load's time `from_us` in the first session and this session's start: how
    /// long the load stood still (none when the first session's start is not known).
    pub gap_s: Option<f64>,
}

/// What the instances of functions scaled like Knative did: the local fleet's measurement, and
/// `loadgen predict`'s figures for the same load.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PlatformTotals {
    /// Instances made.
    pub instances_created: u64,
    /// Calls that waited for their instance to start.
    pub cold_starts: u64,
    /// Instance lifetimes summed, seconds (from creation, its cold start included, to removal or to the
    /// end).
    pub instance_seconds: f64,
    /// The most instances alive at once (ready or starting), over all functions.
    pub peak_instances: u32,
}

/// A workflow load's instances after warm-up, from their rows in `workflows.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct WorkflowFigures {
    /// Instances.
    pub instances: u64,
    /// Of them, with a call that did not succeed (they have no end to end).
    pub failed: u64,
    /// End to end, from the instance's due time to its last call's end.
    pub end_to_end_us: TimeStats,
    /// End to end minus the critical path of the functions' own times.
    pub overhead_us: TimeStats,
}

impl TimeStats {
    /// The statistics of a sample (percentiles by nearest rank; all zero when it is empty).
    pub fn of_sample(mut values: Vec<f64>) -> TimeStats {
        if values.is_empty() {
            return TimeStats::default();
        }
        values.sort_by(f64::total_cmp);
        let q = |q: f64| crate::nearest_rank(&values, q);
        TimeStats {
            count: values.len() as u64,
            mean: values.iter().sum::<f64>() / values.len() as f64,
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: values[values.len() - 1],
        }
    }
}

/// How one worker of a run shared by several started and kept time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Its index (0-based): it replayed the calls `index`, `index + workers`, … of the whole load.
    pub index: u32,
    /// Workers in the run.
    pub workers: u32,
    /// The coordinator's clock minus this worker's, µs, measured before the run (NTP-style, the exchange
    /// with the shortest round trip of several); `None` when it could not be measured.
    pub clock_offset_before_us: Option<f64>,
    /// The same, measured after the run.
    pub clock_offset_after_us: Option<f64>,
    /// Round trip of the exchange the offset before the run came from, µs: the offset's uncertainty is
    /// at most half of it.
    pub clock_round_trip_us: Option<f64>,
    /// When the worker was ready to send, µs after the run's time 0, if it was late; its calls due before
    /// then are recorded as `not_sent:late_start`.
    pub ready_late_us: Option<u64>,
    /// Its first call that was sent: real send time minus due time, µs. Time 0 is the agreed start placed on
    /// this worker's clock by the measured offset, so against the coordinator's clock it is uncertain by
    /// half the clock round trip more.
    pub start_skew_us: Option<f64>,
}

/// One worker's block in the summary of a run shared by several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    /// Its index.
    pub index: u32,
    /// Calls of the whole load dealt to it.
    pub calls: u64,
    /// Why no records came back from it, if none did (its calls are `not_sent:worker_lost`).
    pub lost: Option<String>,
    /// Its own summary, as it sent it.
    pub summary: Option<Box<Summary>>,
}

/// The `n` busiest of `items` by `count`, busiest first; equal counts in key order. The one definition of
/// "busiest endpoints" for summaries, reports and figures.
pub fn busiest<K: Ord, V>(
    items: impl IntoIterator<Item = (K, V)>,
    count: impl Fn(&V) -> u64,
    n: usize,
) -> Vec<(K, V)> {
    let mut all: Vec<(K, V)> = items.into_iter().collect();
    all.sort_by(|a, b| count(&b.1).cmp(&count(&a.1)).then(a.0.cmp(&b.0)));
    all.truncate(n);
    all
}

impl Summary {
    /// When calls were sent and none was answered: what to say, one line per endpoint with its first
    /// failure's cause. Such a run is complete (its files are written) but measured nothing.
    pub fn every_call_failed(&self) -> Option<String> {
        if self.sent == 0 || self.ok > 0 || self.outcomes.get("ok").is_some_and(|n| *n > 0) {
            return None;
        }
        let mut text = format!(
            "every call failed ({} sent, none answered successfully); the first cause per endpoint:",
            self.sent
        );
        for (endpoint, cause) in &self.failures {
            text.push_str(&format!("\n  {endpoint}: {cause}"));
        }
        if self.failures.is_empty() {
            let outcomes: Vec<String> = self
                .outcomes
                .iter()
                .map(|(o, n)| format!("{o} {n}"))
                .collect();
            text.push_str(&format!(
                " not recorded (outcomes: {})",
                outcomes.join(", ")
            ));
        }
        Some(text)
    }

    /// The `n` endpoints with the most successful calls, with their latency.
    pub fn busiest_endpoints(&self, n: usize) -> Vec<(&str, &TimeStats)> {
        busiest(
            self.latency_by_endpoint_us
                .iter()
                .map(|(e, s)| (e.as_str(), s)),
            |s| s.count,
            n,
        )
    }

    /// What `endpoint` is called: its proxy's name when known, else the endpoint itself.
    pub fn endpoint_name<'a>(&'a self, endpoint: &'a str) -> &'a str {
        self.endpoint_names
            .get(endpoint)
            .map_or(endpoint, String::as_str)
    }

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

/// Why a `summary.json` could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not a summary.
    #[error("{}: not a run summary: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
}

/// Reads the `summary.json` at `path`: the one place a summary file is read.
pub fn read(path: &Path) -> Result<Summary, SummaryError> {
    let text = std::fs::read_to_string(path).map_err(|source| SummaryError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| SummaryError::Parse {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Writes `summary` to `path` (pretty JSON, replaced whole): the one place a summary file is written.
pub fn write(path: &Path, summary: &Summary) -> Result<(), SummaryError> {
    let json = serde_json::to_string_pretty(summary).expect("a summary serialises");
    crate::output::write_atomic(path, json.as_bytes()).map_err(|source| SummaryError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Endpoints the printed summary lists.
const PRINTED_ENDPOINTS: usize = 5;

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
            match (self.interrupted, self.incomplete) {
                (_, true) => " (interrupted; calls in flight were not awaited)",
                (true, false) => " (interrupted)",
                _ => "",
            }
        );
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(s, "outcomes   {}", outcomes.join(", "));
        let _ = writeln!(
            s,
            "rate       {:.1}/s achieved (sent over {:.2} s, window start to its end or the last send) of {:.1}/s scheduled",
            self.achieved_rate, self.achieved_seconds, self.scheduled_rate
        );
        let row = |s: &mut String, name: &str, p: &TimeStats| {
            if p.count == 0 {
                // Nothing measured: a dash, never a 0.00 that reads like a figure.
                let _ = writeln!(s, "{name:<10} p50 – p90 – p99 – p99.9 – max – (µs, n=0)");
                return;
            }
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
        if self.overhead_us.count > 0 {
            row(&mut s, "overhead", &self.overhead_us);
        }
        for (endpoint, p) in self.busiest_endpoints(PRINTED_ENDPOINTS) {
            row(&mut s, &format!("  {}", self.endpoint_name(endpoint)), p);
        }
        let more = self
            .latency_by_endpoint_us
            .len()
            .saturating_sub(PRINTED_ENDPOINTS);
        if more > 0 {
            let _ = writeln!(s, "  ({more} more endpoints in the summary file)");
        }
        if !self.instances_by_endpoint.is_empty() {
            let _ = writeln!(
                s,
                "functions  {} cold starts after warm-up; {} instances over {} endpoints",
                self.cold_starts,
                self.instances_by_endpoint.values().sum::<u64>(),
                self.instances_by_endpoint.len()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_in_which_every_call_failed_says_why_per_endpoint() {
        let mut s = Summary {
            sent: 200,
            ..Summary::default()
        };
        s.outcomes.insert("error:unavailable".into(), 200);
        s.failures
            .insert("http://127.0.0.1:9".into(), "connection refused".into());
        let text = s.every_call_failed().unwrap();
        assert!(text.contains("200 sent"), "{text}");
        assert!(
            text.ends_with("\n  http://127.0.0.1:9: connection refused"),
            "{text}"
        );
        s.ok = 1;
        assert_eq!(s.every_call_failed(), None);
        assert_eq!(Summary::default().every_call_failed(), None);
    }

    #[test]
    fn a_summary_states_its_records_schema_and_an_older_one_reads_as_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        let s = Summary {
            records_schema: crate::records::RECORDS_SCHEMA,
            ..Summary::default()
        };
        write(&path, &s).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"records_schema\": 1"), "{text}");
        let mut older: serde_json::Value = serde_json::from_str(&text).unwrap();
        older.as_object_mut().unwrap().remove("records_schema");
        std::fs::write(&path, older.to_string()).unwrap();
        assert_eq!(read(&path).unwrap().records_schema, 1);
    }

    #[test]
    fn busiest_sorts_by_count_then_key() {
        let items = [("b", 3u64), ("a", 3), ("c", 9), ("d", 1)];
        let top = busiest(items, |n| *n, 3);
        assert_eq!(top, vec![("c", 9), ("a", 3), ("b", 3)]);
        assert!(busiest(Vec::<(u8, u64)>::new(), |n| *n, 3).is_empty());
    }

    #[test]
    fn nothing_measured_prints_a_dash_not_a_zero() {
        let text = Summary::default().to_string();
        assert!(
            text.contains("latency    p50 – p90 – p99 – p99.9 – max – (µs, n=0)"),
            "{text}"
        );
        assert!(
            !text.contains("0.00 (n=0)") && !text.contains("p50 0.00"),
            "{text}"
        );
    }

    #[test]
    fn endpoints_are_printed_by_the_proxy_deployed_there() {
        let stats = TimeStats {
            count: 3,
            ..Default::default()
        };
        let mut s = Summary::default();
        s.latency_by_endpoint_us
            .insert("127.0.0.1:40801".into(), stats);
        s.latency_by_endpoint_us.insert("other:80".into(), stats);
        s.endpoint_names
            .insert("127.0.0.1:40801".into(), "emu-155ms-32mi".into());
        let text = s.to_string();
        assert!(text.contains("  emu-155ms-32mi p50"), "{text}");
        assert!(!text.contains("40801"), "{text}");
        // An endpoint nobody named keeps its address.
        assert!(text.contains("  other:80"), "{text}");
    }
}
