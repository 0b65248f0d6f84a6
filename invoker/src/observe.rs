//! What a replay shows while it runs: Prometheus metrics (`loadgen_…`, served by `observe::MetricsServer`)
//! and a [`Snapshot`] for a live view, both fed off the dispatcher's hot path.
//!
//! The dispatcher only bumps two atomic counters (calls due, calls sent); everything else is folded in
//! by the records thread, a batch at a time, as the records it writes arrive. Per-endpoint series exist for
//! the [`BUSIEST`] endpoints of the schedule only, the rest counted as `endpoint="other"`, so a load of
//! thousands of functions still makes a bounded number of series.
//!
//! A worker of a run shared by several ([`Observer::forwarding`]) also keeps the calls it folds in, for
//! its `formats::transfer::LiveReport`s; the coordinator folds those into an observer of the whole load
//! ([`Observer::fold_report`]), so its live view and `/metrics` count every worker's calls.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use formats::records::{Outcome, Record};
use formats::transfer::FinishedCall;
use hdrhistogram::Histogram as Hdr;
use observe::prometheus_client::metrics::counter::Counter;
use observe::prometheus_client::metrics::family::Family;
use observe::prometheus_client::metrics::gauge::Gauge;
use observe::prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use observe::prometheus_client::registry::Registry;

/// Endpoints with series of their own.
pub const BUSIEST: usize = 10;
/// The window the live view's percentiles cover, seconds.
pub const WINDOW_S: u64 = 10;

type Labels = Vec<(&'static str, String)>;

fn lag_buckets() -> Histogram {
    // 1 µs to about 0.5 s.
    Histogram::new(exponential_buckets(1e-6, 2.0, 20))
}

fn latency_buckets() -> Histogram {
    // 100 µs to about 52 s.
    Histogram::new(exponential_buckets(1e-4, 2.0, 20))
}

/// One second of the live window.
struct Second {
    at: u64,
    send_lag_us: Hdr<u64>,
    latency_us: Hdr<u64>,
}

/// A replay's metrics: created for a schedule's endpoints, shared by the dispatcher, the records thread
/// and whoever serves or shows them.
pub struct Observer {
    registry: Arc<Registry>,
    started: Instant,
    due: Counter,
    sent: Counter,
    finished: Family<Labels, Counter>,
    in_flight: Gauge,
    send_lag: Histogram,
    latency: Histogram,
    /// Per endpoint index, its series (shared by all the `other` endpoints): looked up once, so a
    /// record costs a few atomic adds.
    endpoint_calls: Vec<Counter>,
    endpoint_latency: Vec<Histogram>,
    endpoints: Arc<[String]>,
    /// Finished calls per endpoint index (all endpoints), for the live view's busiest.
    finished_per_endpoint: Vec<AtomicU64>,
    /// Sent calls whose record has come back.
    sent_finished: AtomicU64,
    outcomes: Mutex<Vec<(&'static str, Counter)>>,
    window: Mutex<VecDeque<Second>>,
    /// A worker's calls finished since they were last taken ([`Observer::take_finished`]).
    forward: Option<Mutex<Vec<FinishedCall>>>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("endpoints", &self.endpoints.len())
            .finish_non_exhaustive()
    }
}

/// What the live view shows at one instant; counts are cumulative since the start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Seconds since the observer was made.
    pub elapsed_s: f64,
    /// Calls whose due time the dispatcher reached.
    pub due: u64,
    /// Calls sent.
    pub sent: u64,
    /// Calls with a record (answered, failed, not sent).
    pub finished: u64,
    /// Finished calls by outcome name.
    pub outcomes: Vec<(&'static str, u64)>,
    /// Calls sent and not yet finished.
    pub in_flight: u64,
    /// Send-lag p99 over the last [`WINDOW_S`] seconds, µs.
    pub send_lag_p99_us: Option<u64>,
    /// Latency p50 and p99 of answered calls over the last [`WINDOW_S`] seconds, µs.
    pub latency_p50_us: Option<u64>,
    /// See `latency_p50_us`.
    pub latency_p99_us: Option<u64>,
    /// Finished calls per endpoint (index into the schedule's endpoints).
    pub per_endpoint: Vec<u64>,
}

impl Observer {
    /// Metrics for a schedule with these endpoints and these calls per endpoint (which picks the busiest).
    pub fn new(endpoints: &[String], calls_per_endpoint: &[u64]) -> Observer {
        let mut order: Vec<usize> = (0..endpoints.len()).collect();
        order.sort_by_key(|&e| std::cmp::Reverse(calls_per_endpoint.get(e).copied().unwrap_or(0)));
        let mut endpoint_label = vec!["other".to_owned(); endpoints.len()];
        for &e in order.iter().take(BUSIEST) {
            endpoint_label[e] = endpoints[e].clone();
        }
        let mut registry = Registry::default();
        let due = Counter::default();
        let sent = Counter::default();
        let finished = Family::<Labels, Counter>::default();
        let in_flight = Gauge::default();
        let send_lag = lag_buckets();
        let latency = latency_buckets();
        let endpoint_calls = Family::<Labels, Counter>::default();
        let endpoint_latency =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_buckets);
        registry.register(
            "loadgen_calls_scheduled",
            "Calls whose due time has come",
            due.clone(),
        );
        registry.register("loadgen_calls_sent", "Calls sent", sent.clone());
        registry.register(
            "loadgen_calls",
            "Calls finished (one per record), by outcome",
            finished.clone(),
        );
        registry.register(
            "loadgen_calls_in_flight",
            "Calls sent and not yet finished",
            in_flight.clone(),
        );
        registry.register(
            "loadgen_send_lag_seconds",
            "Time from a call's due time to its send",
            send_lag.clone(),
        );
        registry.register(
            "loadgen_latency_seconds",
            "Time from a call's send to its answer, answered calls",
            latency.clone(),
        );
        registry.register(
            "loadgen_endpoint_calls",
            "Calls finished per endpoint (the busiest; the rest as endpoint=\"other\")",
            endpoint_calls.clone(),
        );
        registry.register(
            "loadgen_endpoint_latency_seconds",
            "Latency of answered calls per endpoint (the busiest; the rest as endpoint=\"other\")",
            endpoint_latency.clone(),
        );
        let label = |e: usize| vec![("endpoint", endpoint_label[e].clone())];
        Observer {
            registry: Arc::new(registry),
            started: Instant::now(),
            due,
            sent,
            finished,
            in_flight,
            send_lag,
            latency,
            endpoint_calls: (0..endpoints.len())
                .map(|e| endpoint_calls.get_or_create(&label(e)).clone())
                .collect(),
            endpoint_latency: (0..endpoints.len())
                .map(|e| endpoint_latency.get_or_create(&label(e)).clone())
                .collect(),
            endpoints: endpoints.to_vec().into(),
            finished_per_endpoint: (0..endpoints.len()).map(|_| AtomicU64::new(0)).collect(),
            sent_finished: AtomicU64::new(0),
            outcomes: Mutex::new(Vec::new()),
            window: Mutex::new(VecDeque::new()),
            forward: None,
        }
    }

    /// The same observer, also keeping every call it folds in until [`Observer::take_finished`] (a
    /// worker's, for its live reports).
    pub fn forwarding(mut self) -> Observer {
        self.forward = Some(Mutex::new(Vec::new()));
        self
    }

    /// The calls folded in since the last call (none unless [`Observer::forwarding`]).
    pub fn take_finished(&self) -> Vec<FinishedCall> {
        self.forward.as_ref().map_or_else(Vec::new, |f| {
            std::mem::take(&mut *f.lock().expect("forward lock"))
        })
    }

    /// Metrics for `schedule`: its endpoints, the busiest by their calls in it.
    pub fn for_schedule(schedule: &crate::schedule::Schedule) -> Observer {
        Observer::for_head(&crate::schedule::LoadHead::of(schedule))
    }

    /// Metrics for the load `head` describes (its calls need not be held).
    pub fn for_head(head: &crate::schedule::LoadHead) -> Observer {
        Observer::new(&head.schedule.endpoints, &head.calls_by_endpoint)
    }

    /// The registry to serve.
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// The schedule's endpoints, in index order.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Calls due and calls sent so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.due.get(), self.sent.get())
    }

    /// The dispatcher reached a call's due time (one relaxed atomic add).
    pub(crate) fn call_due(&self) {
        self.due.inc();
    }

    /// The dispatcher sent a call (one relaxed atomic add).
    pub(crate) fn call_sent(&self) {
        self.sent.inc();
    }

    /// The records thread folds in a batch of records.
    pub(crate) fn records(&self, batch: &[Record]) {
        if let Some(forward) = &self.forward {
            forward
                .lock()
                .expect("forward lock")
                .extend(batch.iter().map(|r| FinishedCall {
                    endpoint: r.endpoint,
                    outcome: r.outcome,
                    send_lag_ns: r.send_lag_ns,
                    latency_us: r.latency_us,
                }));
        }
        self.fold(
            batch
                .iter()
                .map(|r| (r.endpoint as usize, r.outcome, r.send_lag_ns, r.latency_us)),
        );
    }

    /// Folds in a worker's report: `due` and `sent` are what the worker counted since its previous
    /// report; `endpoints` maps the worker's endpoint indices to this observer's. Fails on a call whose
    /// endpoint is unknown (nothing of the report is counted then).
    pub fn fold_report(
        &self,
        due: u64,
        sent: u64,
        calls: &[FinishedCall],
        endpoints: &[u32],
    ) -> Result<(), String> {
        let mut folded = Vec::with_capacity(calls.len());
        for c in calls {
            let endpoint = endpoints.get(c.endpoint as usize).ok_or_else(|| {
                format!(
                    "endpoint {} is not among the worker's {} endpoints",
                    c.endpoint,
                    endpoints.len()
                )
            })?;
            folded.push((*endpoint as usize, c.outcome, c.send_lag_ns, c.latency_us));
        }
        self.due.inc_by(due);
        self.sent.inc_by(sent);
        self.fold(folded.into_iter());
        Ok(())
    }

    /// Folds in finished calls: (endpoint index, outcome, send lag ns, latency µs).
    fn fold(&self, calls: impl Iterator<Item = (usize, Outcome, Option<u64>, Option<u64>)>) {
        let second = self.started.elapsed().as_secs();
        let mut window = self.window.lock().expect("window lock");
        while window.front().is_some_and(|s| s.at + WINDOW_S <= second) {
            window.pop_front();
        }
        if window.back().is_none_or(|s| s.at != second) {
            window.push_back(Second {
                at: second,
                send_lag_us: Hdr::new(3).expect("histogram"),
                latency_us: Hdr::new(3).expect("histogram"),
            });
        }
        let now = window.back_mut().expect("pushed");
        let mut outcomes = self.outcomes.lock().expect("outcomes lock");
        for (e, outcome, send_lag_ns, latency_us) in calls {
            let name = outcome.name();
            match outcomes.iter().find(|(n, _)| *n == name) {
                Some((_, c)) => {
                    c.inc();
                }
                None => {
                    let c = self
                        .finished
                        .get_or_create(&vec![("outcome", name.to_owned())])
                        .clone();
                    c.inc();
                    outcomes.push((name, c));
                }
            };
            if let Some(n) = self.finished_per_endpoint.get(e) {
                n.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(c) = self.endpoint_calls.get(e) {
                c.inc();
            }
            if let Some(lag) = send_lag_ns {
                self.sent_finished.fetch_add(1, Ordering::Relaxed);
                self.send_lag.observe(lag as f64 / 1e9);
                let _ = now.send_lag_us.record((lag / 1000).max(1));
            }
            if let (Outcome::Ok, Some(l)) = (outcome, latency_us) {
                self.latency.observe(l as f64 / 1e6);
                if let Some(h) = self.endpoint_latency.get(e) {
                    h.observe(l as f64 / 1e6);
                }
                let _ = now.latency_us.record(l.max(1));
            }
        }
        let in_flight = self
            .sent
            .get()
            .saturating_sub(self.sent_finished.load(Ordering::Relaxed));
        self.in_flight.set(in_flight as i64);
    }

    /// The live view's figures now.
    pub fn snapshot(&self) -> Snapshot {
        let mut lag = Hdr::<u64>::new(3).expect("histogram");
        let mut latency = Hdr::<u64>::new(3).expect("histogram");
        let second = self.started.elapsed().as_secs();
        for s in self.window.lock().expect("window lock").iter() {
            if s.at + WINDOW_S > second {
                let _ = lag.add(&s.send_lag_us);
                let _ = latency.add(&s.latency_us);
            }
        }
        let quantile = |h: &Hdr<u64>, q: f64| (!h.is_empty()).then(|| h.value_at_quantile(q));
        let outcomes: Vec<(&'static str, u64)> = self
            .outcomes
            .lock()
            .expect("outcomes lock")
            .iter()
            .map(|(n, c)| (*n, c.get()))
            .collect();
        let sent = self.sent.get();
        Snapshot {
            elapsed_s: self.started.elapsed().as_secs_f64(),
            due: self.due.get(),
            sent,
            finished: outcomes.iter().map(|(_, n)| n).sum(),
            outcomes,
            in_flight: sent.saturating_sub(self.sent_finished.load(Ordering::Relaxed)),
            send_lag_p99_us: quantile(&lag, 0.99),
            latency_p50_us: quantile(&latency, 0.5),
            latency_p99_us: quantile(&latency, 0.99),
            per_endpoint: self
                .finished_per_endpoint
                .iter()
                .map(|n| n.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record of a call to `endpoint` that ended with `outcome` (sent `lag_ns` late unless held back;
    /// answered in `latency_us` if ok); the crate's other tests build theirs with it too.
    pub(crate) fn record(endpoint: u32, outcome: Outcome, lag_ns: u64, latency_us: u64) -> Record {
        Record {
            workflow: None,
            index: 0,
            worker: 0,
            period: 0,
            endpoint,
            warmup: false,
            scheduled_us: 0,
            dispatch_lag_ns: Some(lag_ns),
            send_lag_ns: (outcome != Outcome::NotSentBackPressure).then_some(lag_ns),
            latency_us: (outcome == Outcome::Ok).then_some(latency_us),
            latency_from_scheduled_us: None,
            outcome,
            exec_us: None,
            instance: None,
            cold: None,
            wire: formats::records::Wire::default(),
        }
    }

    #[test]
    fn counts_series_and_window_follow_the_records() {
        let endpoints: Vec<String> = (0..12).map(|i| format!("e{i}")).collect();
        let calls: Vec<u64> = (0..12).map(|i| 100 - i).collect();
        let o = Observer::new(&endpoints, &calls);
        for _ in 0..4 {
            o.call_due();
            o.call_sent();
        }
        o.call_due();
        o.records(&[
            record(0, Outcome::Ok, 2_000, 1_000),
            record(11, Outcome::Ok, 4_000, 3_000),
            record(11, Outcome::Timeout, 1_000, 0),
            record(5, Outcome::NotSentBackPressure, 0, 0),
        ]);
        let s = o.snapshot();
        assert_eq!((s.due, s.sent, s.finished, s.in_flight), (5, 4, 4, 1));
        assert_eq!(s.per_endpoint[11], 2);
        assert!(s.outcomes.contains(&("ok", 2)) && s.outcomes.contains(&("timeout", 1)));
        // HdrHistogram at 3 significant digits: within 0.1 %.
        assert!(
            s.latency_p99_us
                .is_some_and(|p| (2_997..=3_003).contains(&p)),
            "{s:?}"
        );
        let text = observe::encode(&[o.registry()]);
        assert!(
            text.contains("loadgen_calls_total{outcome=\"ok\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("loadgen_calls_scheduled_total 5\n"), "{text}");
        assert!(text.contains("loadgen_calls_in_flight 1\n"), "{text}");
        // e11 is not among the ten busiest: it counts as `other`.
        assert!(
            text.contains("loadgen_endpoint_calls_total{endpoint=\"other\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("loadgen_endpoint_calls_total{endpoint=\"e0\"} 1\n"),
            "{text}"
        );
    }
}
