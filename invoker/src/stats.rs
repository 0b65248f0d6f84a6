//! Statistics over the records (warm-up excluded): rates, lag and latency percentiles, outcomes, folded
//! into the run [`Summary`] that `formats` defines, and serialized ([`Collector::collected`]) for a
//! coordinator to merge workers' ([`Collector::merge`]).
//!
//! The file is long because its tests build records for each figure and check it against them.

use std::collections::BTreeMap;

use formats::records::{Outcome, Record};
use formats::summary::{Collected, PeriodTally, Summary, TimeStats};
use hdrhistogram::Histogram;

/// Accumulates records, in any order, into histograms and counts.
#[derive(Clone)]
pub struct Collector {
    endpoints: Vec<String>,
    window: MeasuredWindow,
    /// When the run was interrupted, µs from time 0 (it ran until then, not to the window's end).
    interrupted_at_us: Option<u64>,
    scheduled_total: u64,
    records: u64,
    scheduled: u64,
    sent: u64,
    ok: u64,
    outcomes: BTreeMap<&'static str, u64>,
    dispatch_lag_ns: Histogram<u64>,
    send_lag_ns: Histogram<u64>,
    latency_us: Histogram<u64>,
    latency_from_scheduled_us: Histogram<u64>,
    by_endpoint: Vec<Histogram<u64>>,
    per_period: Vec<PeriodCollector>,
    /// Last real send of a measured call, µs.
    last_sent_us: Option<u64>,
    /// The first call (warm-up included) that was sent: its index and send lag, ns.
    first_sent: Option<(u64, u64)>,
    /// Latency minus the function's own execution time, µs (answered measured calls that said it).
    overhead_us: Histogram<u64>,
    /// Measured calls that were cold starts.
    cold_starts: u64,
    /// Instances seen (warm-up included), per endpoint.
    instances: std::collections::HashSet<(u32, u64)>,
}

/// The measured window (warm-up excluded), µs from time 0: what the rates divide by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasuredWindow {
    /// Its start: the end of the warm-up.
    pub start_us: u64,
    /// Its end: the end of the last period.
    pub end_us: u64,
}

impl MeasuredWindow {
    /// Its length, s.
    pub fn seconds(&self) -> f64 {
        self.end_us.saturating_sub(self.start_us) as f64 / 1e6
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is valid")
}

/// One period's counts, and the latency of its answered calls (µs) and the send lag of its sent calls
/// (ns), at two significant digits: a day of minutes takes about 40 MB of them, at three it would take
/// 250.
#[derive(Clone)]
struct PeriodCollector {
    tally: PeriodTally,
    latency_us: Histogram<u64>,
    send_lag_ns: Histogram<u64>,
}

impl PeriodCollector {
    fn new() -> PeriodCollector {
        let two_digits = || Histogram::new(2).expect("2 significant digits is valid");
        PeriodCollector {
            tally: PeriodTally::default(),
            latency_us: two_digits(),
            send_lag_ns: two_digits(),
        }
    }

    /// Its counts, with its latency and send-lag percentiles.
    fn tally(&self) -> PeriodTally {
        let at = |h: &Histogram<u64>, q: f64| (!h.is_empty()).then(|| h.value_at_quantile(q));
        PeriodTally {
            latency_p50_us: at(&self.latency_us, 0.5),
            latency_p99_us: at(&self.latency_us, 0.99),
            send_lag_p99_ns: at(&self.send_lag_ns, 0.99),
            ..self.tally
        }
    }
}

/// Records into an auto-resizing histogram. (`saturating_record` would clamp to the initial range, 2,048.)
fn record(h: &mut Histogram<u64>, v: u64) {
    h.record(v)
        .expect("an auto-resizing histogram takes any u64");
}

/// A histogram in HdrHistogram's V2 format, deflated, as base64.
fn serialized(h: &Histogram<u64>) -> String {
    use base64::Engine as _;
    use hdrhistogram::serialization::Serializer as _;
    let mut bytes = Vec::new();
    hdrhistogram::serialization::V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("a histogram serializes into memory");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Adds the histogram `text` ([`serialized`]) to `h`; `what` names it in an error.
fn add_serialized(h: &mut Histogram<u64>, text: &str, what: &str) -> Result<(), String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("{what}: not base64 ({e})"))?;
    let other: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("{what}: not an HdrHistogram ({e:?})"))?;
    h.add(&other).map_err(|e| format!("{what}: {e:?}"))
}

fn stats(h: &Histogram<u64>, unit_us: f64) -> TimeStats {
    if h.is_empty() {
        return TimeStats::default();
    }
    let q = |q: f64| h.value_at_quantile(q) as f64 * unit_us;
    TimeStats {
        count: h.len(),
        mean: h.mean() * unit_us,
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        p999: q(0.999),
        max: h.max() as f64 * unit_us,
    }
}

impl Collector {
    /// A collector for a run over `endpoints` (the table records index) with `scheduled_total` calls and
    /// the measured `window`.
    pub fn new(endpoints: Vec<String>, scheduled_total: u64, window: MeasuredWindow) -> Self {
        let by_endpoint = endpoints.iter().map(|_| histogram()).collect();
        Collector {
            endpoints,
            window,
            interrupted_at_us: None,
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
            last_sent_us: None,
            first_sent: None,
            overhead_us: histogram(),
            cold_starts: 0,
            instances: std::collections::HashSet::new(),
        }
    }

    /// Counts one record.
    pub fn add(&mut self, r: &Record) {
        self.records += 1;
        let period = r.period as usize;
        if self.per_period.len() <= period {
            self.per_period.resize(period + 1, PeriodCollector::new());
        }
        let of_period = &mut self.per_period[period];
        let tally = &mut of_period.tally;
        tally.scheduled += 1;
        tally.sent += u64::from(r.outcome.was_sent());
        tally.ok += u64::from(r.outcome == Outcome::Ok);
        tally.cold += u64::from(r.cold == Some(true));
        if let (Outcome::Ok, Some(v)) = (r.outcome, r.latency_us) {
            record(&mut of_period.latency_us, v);
        }
        if let Some(v) = r.send_lag_ns {
            record(&mut of_period.send_lag_ns, v);
        }
        if let Some(instance) = r.instance {
            self.instances.insert((r.endpoint, instance));
        }
        if let Some(lag) = r.send_lag_ns {
            if self.first_sent.is_none_or(|(index, _)| r.index < index) {
                self.first_sent = Some((r.index, lag));
            }
        }
        if r.warmup {
            return;
        }
        self.scheduled += 1;
        *self.outcomes.entry(r.outcome.name()).or_default() += 1;
        if r.outcome.was_sent() {
            self.sent += 1;
            if let Some(at) = r.sent_us() {
                self.last_sent_us = Some(self.last_sent_us.map_or(at, |l| l.max(at)));
            }
        }
        if let Some(v) = r.dispatch_lag_ns {
            record(&mut self.dispatch_lag_ns, v);
        }
        if let Some(v) = r.send_lag_ns {
            record(&mut self.send_lag_ns, v);
        }
        self.cold_starts += u64::from(r.cold == Some(true));
        if r.outcome == Outcome::Ok {
            self.ok += 1;
            if let (Some(latency), Some(exec)) = (r.latency_us, r.exec_us) {
                record(&mut self.overhead_us, latency.saturating_sub(exec));
            }
            if let Some(v) = r.latency_us {
                record(&mut self.latency_us, v);
                if let Some(h) = self.by_endpoint.get_mut(r.endpoint as usize) {
                    record(h, v);
                }
            }
            if let Some(v) = r.latency_from_scheduled_us {
                record(&mut self.latency_from_scheduled_us, v);
            }
        }
    }

    /// Measured calls by outcome name.
    fn outcome_counts(&self) -> BTreeMap<String, u64> {
        self.outcomes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect()
    }

    /// Everything collected, serialized to be merged elsewhere ([`Collector::merge`]).
    pub fn collected(&self) -> Collected {
        let name = |e: u32| self.endpoints.get(e as usize).cloned().unwrap_or_default();
        Collected {
            records: self.records,
            scheduled: self.scheduled,
            sent: self.sent,
            ok: self.ok,
            outcomes: self.outcome_counts(),
            cold_starts: self.cold_starts,
            last_sent_us: self.last_sent_us,
            first_sent: self.first_sent,
            dispatch_lag_ns: serialized(&self.dispatch_lag_ns),
            send_lag_ns: serialized(&self.send_lag_ns),
            latency_us: serialized(&self.latency_us),
            latency_from_scheduled_us: serialized(&self.latency_from_scheduled_us),
            overhead_us: serialized(&self.overhead_us),
            latency_by_endpoint_us: self
                .endpoints
                .iter()
                .zip(&self.by_endpoint)
                .filter(|(_, h)| !h.is_empty())
                .map(|(e, h)| (e.clone(), serialized(h)))
                .collect(),
            per_period: self
                .per_period
                .iter()
                .map(|p| {
                    (
                        p.tally,
                        serialized(&p.latency_us),
                        serialized(&p.send_lag_ns),
                    )
                })
                .collect(),
            instances: self.instances.iter().map(|&(e, i)| (name(e), i)).collect(),
        }
    }

    /// Adds what another collector collected (a worker's, over the same load): counts summed,
    /// histograms merged. Refused, naming the histogram, when one cannot be read, or names an endpoint
    /// this collector does not know; this collector is then as it was.
    pub fn merge(&mut self, other: &Collected) -> Result<(), String> {
        let mut merged = self.clone();
        merged.merge_in_place(other)?;
        *self = merged;
        Ok(())
    }

    fn merge_in_place(&mut self, other: &Collected) -> Result<(), String> {
        self.records += other.records;
        self.scheduled += other.scheduled;
        self.sent += other.sent;
        self.ok += other.ok;
        for (name, n) in &other.outcomes {
            let name = formats::records::Outcome::parse(name)
                .ok_or_else(|| format!("outcome `{name}` is unknown"))?
                .name();
            *self.outcomes.entry(name).or_default() += n;
        }
        self.cold_starts += other.cold_starts;
        if let Some(at) = other.last_sent_us {
            self.last_sent_us = Some(self.last_sent_us.map_or(at, |l| l.max(at)));
        }
        if let Some((index, lag)) = other.first_sent {
            if self.first_sent.is_none_or(|(i, _)| index < i) {
                self.first_sent = Some((index, lag));
            }
        }
        add_serialized(
            &mut self.dispatch_lag_ns,
            &other.dispatch_lag_ns,
            "dispatch_lag_ns",
        )?;
        add_serialized(&mut self.send_lag_ns, &other.send_lag_ns, "send_lag_ns")?;
        add_serialized(&mut self.latency_us, &other.latency_us, "latency_us")?;
        add_serialized(
            &mut self.latency_from_scheduled_us,
            &other.latency_from_scheduled_us,
            "latency_from_scheduled_us",
        )?;
        add_serialized(&mut self.overhead_us, &other.overhead_us, "overhead_us")?;
        let index_of = |name: &str| {
            self.endpoints
                .iter()
                .position(|e| e == name)
                .ok_or_else(|| format!("endpoint `{name}` is not the load's"))
        };
        for (name, h) in &other.latency_by_endpoint_us {
            let e = index_of(name)?;
            add_serialized(&mut self.by_endpoint[e], h, "latency_by_endpoint_us")?;
        }
        for (name, instance) in &other.instances {
            let e = index_of(name)? as u32;
            self.instances.insert((e, *instance));
        }
        if self.per_period.len() < other.per_period.len() {
            self.per_period
                .resize(other.per_period.len(), PeriodCollector::new());
        }
        for (mine, (tally, latency, lag)) in self.per_period.iter_mut().zip(&other.per_period) {
            let t = &mut mine.tally;
            t.scheduled += tally.scheduled;
            t.sent += tally.sent;
            t.ok += tally.ok;
            t.cold += tally.cold;
            add_serialized(&mut mine.latency_us, latency, "per_period latency")?;
            add_serialized(&mut mine.send_lag_ns, lag, "per_period send lag")?;
        }
        Ok(())
    }

    /// Send lag of the earliest call (warm-up included) that was sent, ns: how late the run really began.
    pub fn first_send_lag_ns(&self) -> Option<u64> {
        self.first_sent.map(|(_, lag)| lag)
    }

    /// The run was interrupted `at_us` from time 0: the achieved rate counts the time it really ran.
    pub fn interrupted_at(&mut self, at_us: u64) {
        self.interrupted_at_us = Some(at_us);
    }

    /// The summary of everything added. Rates: scheduled calls over the measured window's length, and
    /// sent calls over the span from the window's start to its end or the last real send, whichever is
    /// later (to the interrupt, if it came first), so a late tail shows as a lower achieved rate and on
    /// time the two are equal.
    pub fn summary(&self, dispatcher: String, interrupted: bool) -> Summary {
        let nominal = self.window.seconds();
        let rate = |n: u64, seconds: f64| {
            if seconds > 0.0 {
                n as f64 / seconds
            } else {
                0.0
            }
        };
        let ran_until = self.interrupted_at_us.unwrap_or(self.window.end_us);
        let achieved_seconds = ran_until
            .max(self.last_sent_us.unwrap_or(0))
            .saturating_sub(self.window.start_us) as f64
            / 1e6;
        Summary {
            records_schema: formats::records::RECORDS_SCHEMA,
            scheduled_total: self.scheduled_total,
            records: self.records,
            scheduled: self.scheduled,
            sent: self.sent,
            ok: self.ok,
            outcomes: self.outcome_counts(),
            measured_seconds: nominal,
            scheduled_rate: rate(self.scheduled, nominal),
            achieved_rate: rate(self.sent, achieved_seconds),
            achieved_seconds,
            dispatch_lag_us: stats(&self.dispatch_lag_ns, 1e-3),
            send_lag_us: stats(&self.send_lag_ns, 1e-3),
            latency_us: stats(&self.latency_us, 1.0),
            latency_from_scheduled_us: stats(&self.latency_from_scheduled_us, 1.0),
            latency_by_endpoint_us: self
                .endpoints
                .iter()
                .zip(&self.by_endpoint)
                .filter(|(_, h)| !h.is_empty())
                .map(|(e, h)| (e.clone(), stats(h, 1.0)))
                .collect(),
            per_period: self.per_period.iter().map(PeriodCollector::tally).collect(),
            overhead_us: stats(&self.overhead_us, 1.0),
            cold_starts: self.cold_starts,
            instances_by_endpoint: {
                let mut counts: BTreeMap<String, u64> = BTreeMap::new();
                for (e, _) in &self.instances {
                    if let Some(name) = self.endpoints.get(*e as usize) {
                        *counts.entry(name.clone()).or_default() += 1;
                    }
                }
                counts
            },
            endpoint_names: BTreeMap::new(),
            steal_ms: BTreeMap::new(),
            dispatcher,
            interrupted,
            failures: BTreeMap::new(),
            incomplete: false,
            start_unix_us: 0,
            worker: None,
            workers: Vec::new(),
            workflows: None,
            local_platform: None,
            resumed: Vec::new(),
            disturbed: None,
            collected: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` calls evenly spaced over one second after a one-second warm-up, each sent `lag_us(k)` late and
    /// answered 100 µs later.
    fn records(n: u64, lag_us: impl Fn(u64) -> u64) -> Vec<Record> {
        (0..n)
            .map(|k| {
                let lag = lag_us(k);
                Record {
                    workflow: None,
                    index: k,
                    worker: 0,
                    period: 1,
                    endpoint: (k % 2) as u32,
                    warmup: false,
                    scheduled_us: 1_000_000 + k * 1_000_000 / n,
                    dispatch_lag_ns: Some(lag * 1000),
                    send_lag_ns: Some(lag * 1000),
                    latency_us: Some(100),
                    latency_from_scheduled_us: Some(lag + 100),
                    outcome: Outcome::Ok,
                    exec_us: None,
                    instance: None,
                    cold: None,
                    wire: formats::records::Wire::default(),
                }
            })
            .collect()
    }

    /// One warm-up second, then one measured second.
    const WINDOW: MeasuredWindow = MeasuredWindow {
        start_us: 1_000_000,
        end_us: 2_000_000,
    };

    fn collector(rs: &[Record]) -> Collector {
        let mut c = Collector::new(vec!["a".into(), "b".into()], rs.len() as u64 + 1, WINDOW);
        // A warm-up call counts in its period only.
        c.add(&Record {
            workflow: None,
            period: 0,
            warmup: true,
            scheduled_us: 5,
            ..rs[0]
        });
        for r in rs.iter().rev() {
            c.add(r);
        }
        c
    }

    fn summarise(rs: &[Record]) -> Summary {
        collector(rs).summary("test".into(), false)
    }

    /// Workers' collectors, serialized and merged, give the summary one collector of all the records
    /// gives: the histograms merge exactly, the counts add up.
    #[test]
    fn collectors_merged_from_their_serialized_form_equal_one_over_every_record() {
        let mut rs = records(3000, |k| (k * 37) % 5000);
        for (k, r) in rs.iter_mut().enumerate() {
            r.period = 1 + (k % 3) as u32;
            r.latency_us = Some(50 + (k as u64 * 7919) % 100_000);
            r.exec_us = Some(10);
            r.instance = Some(k as u64 % 7);
            if k % 11 == 0 {
                r.outcome = Outcome::Timeout;
            }
        }
        let endpoints = vec!["a".to_owned(), "b".to_owned()];
        let mut whole = Collector::new(endpoints.clone(), 3000, WINDOW);
        let mut parts: Vec<Collector> = (0..3)
            .map(|_| Collector::new(endpoints.clone(), 1000, WINDOW))
            .collect();
        for r in &rs {
            whole.add(r);
            parts[(r.index % 3) as usize].add(r);
        }
        let mut merged = Collector::new(endpoints, 3000, WINDOW);
        for part in &parts {
            let sent = serde_json::to_string(&part.collected()).unwrap();
            merged.merge(&serde_json::from_str(&sent).unwrap()).unwrap();
        }
        assert_eq!(
            merged.summary("test".into(), false),
            whole.summary("test".into(), false)
        );
        let mut broken = parts[0].collected();
        broken.latency_us = "not a histogram".into();
        let before = merged.summary("test".into(), false);
        let e = merged.merge(&broken).unwrap_err();
        assert!(e.starts_with("latency_us: not base64"), "{e}");
        assert_eq!(
            merged.summary("test".into(), false),
            before,
            "nothing of it merged"
        );
    }

    #[test]
    fn each_period_has_its_latency_and_send_lag_percentiles() {
        // Period 1: latencies 1..=1000 ms and lags 1..=1000 µs; period 2: ten times both; period 3: no
        // call answered or sent.
        let mut rs = Vec::new();
        for (period, scale) in [(1u32, 1u64), (2, 10)] {
            for k in 1..=1000u64 {
                rs.push(Record {
                    period,
                    latency_us: Some(k * 1000 * scale),
                    send_lag_ns: Some(k * 1000 * scale),
                    ..records(1, |_| 0)[0]
                });
            }
        }
        rs.push(Record {
            period: 3,
            outcome: Outcome::NotSentBackPressure,
            latency_us: None,
            send_lag_ns: None,
            ..records(1, |_| 0)[0]
        });
        let s = summarise(&rs);
        let within = |got: Option<u64>, exact: u64| {
            let got = got.unwrap() as f64;
            (got - exact as f64).abs() <= exact as f64 * 0.01
        };
        for (period, scale) in [(1usize, 1u64), (2, 10)] {
            let t = &s.per_period[period];
            // Nearest rank: the 500th and the 990th of 1..=1000, within two significant digits.
            assert!(within(t.latency_p50_us, 500_000 * scale), "{t:?}");
            assert!(within(t.latency_p99_us, 990_000 * scale), "{t:?}");
            assert!(within(t.send_lag_p99_ns, 990_000 * scale), "{t:?}");
        }
        let quiet = &s.per_period[3];
        assert_eq!(
            (quiet.scheduled, quiet.latency_p99_us, quiet.send_lag_p99_ns),
            (1, None, None)
        );
        // A period's figures are its own: the second's p50 is not the run's.
        assert!(s.per_period[2].latency_p50_us > s.per_period[1].latency_p99_us);
    }

    #[test]
    fn on_time_the_achieved_rate_is_the_scheduled_rate() {
        let s = summarise(&records(1000, |_| 0));
        assert_eq!(
            (s.records, s.scheduled, s.sent, s.ok),
            (1001, 1000, 1000, 1000)
        );
        // Both over the window's whole second, not the 0.999 s between the first and last due call.
        assert_eq!(
            (s.scheduled_rate, s.achieved_rate),
            (1000.0, 1000.0),
            "{s:?}"
        );
        assert_eq!(s.achieved_seconds, 1.0);
        assert_eq!(s.per_period.len(), 2);
        assert_eq!(s.per_period[0].scheduled, 1);
        assert_eq!(s.per_period[1].ok, 1000);
        assert_eq!(s.latency_by_endpoint_us["a"].count, 500);
        assert_eq!(s.outcomes["ok"], 1000);
    }

    #[test]
    fn a_late_tail_lowers_the_achieved_rate() {
        // The last tenth of the calls leave up to half a second late.
        let s = summarise(&records(
            1000,
            |k| if k >= 900 { (k - 899) * 5_000 } else { 0 },
        ));
        assert!(
            s.achieved_rate < 0.7 * s.scheduled_rate,
            "achieved {} scheduled {}",
            s.achieved_rate,
            s.scheduled_rate
        );
        // From the window's start to the last send, 0.999 s + 0.5 s late.
        assert!(
            (s.achieved_seconds - 1.499).abs() < 1e-9,
            "{}",
            s.achieved_seconds
        );
        assert!(s.send_lag_us.max >= 499_000.0);
        assert!(s.send_lag_us.p50 < 1.0);
    }

    #[test]
    fn calls_not_sent_count_as_scheduled_only() {
        let mut rs = records(10, |_| 0);
        for r in &mut rs[5..] {
            r.outcome = Outcome::NotSentInterrupted;
            r.send_lag_ns = None;
            r.dispatch_lag_ns = None;
            r.latency_us = None;
            r.latency_from_scheduled_us = None;
        }
        let mut c = collector(&rs);
        c.interrupted_at(1_450_000);
        let s = c.summary("test".into(), true);
        assert_eq!((s.scheduled, s.sent, s.ok), (10, 5, 5));
        assert_eq!(s.outcomes["not_sent:interrupted"], 5);
        // Scheduled over the whole window; sent over the time it really ran, window start to interrupt.
        assert_eq!(s.scheduled_rate, 10.0);
        assert!(
            (s.achieved_seconds - 0.45).abs() < 1e-9,
            "{}",
            s.achieved_seconds
        );
        assert!(
            (s.achieved_rate - 5.0 / 0.45).abs() < 1e-9,
            "{}",
            s.achieved_rate
        );
    }

    #[test]
    fn no_measured_call_gives_zero_rates() {
        let c = Collector::new(vec![], 0, WINDOW);
        let s = c.summary("x".into(), true);
        assert_eq!((s.scheduled_rate, s.achieved_rate), (0.0, 0.0));
        assert!(s.interrupted);
    }

    #[test]
    fn what_the_functions_say_is_summed_up() {
        let mut rs = records(10, |_| 5);
        for (k, r) in rs.iter_mut().enumerate() {
            r.exec_us = Some(100 - 10 * (k as u64 % 2)); // overhead 0 or 10 µs
            r.instance = Some(k as u64 % 3);
            r.cold = Some(k < 3);
        }
        let s = summarise(&rs);
        assert_eq!(s.overhead_us.count, 10);
        assert_eq!((s.overhead_us.p50, s.overhead_us.max), (0.0, 10.0));
        assert_eq!(s.cold_starts, 3);
        assert_eq!(s.per_period[1].cold, 3);
        // Endpoints 0 and 1 (k % 2) each saw instances 0, 1 and 2 (k % 3), warm-up call included.
        assert_eq!(s.instances_by_endpoint.get("a"), Some(&3));
        assert_eq!(s.instances_by_endpoint.get("b"), Some(&3));
        // Functions that say nothing leave these empty.
        let quiet = summarise(&records(10, |_| 5));
        assert_eq!(quiet.overhead_us.count, 0);
        assert!(quiet.instances_by_endpoint.is_empty());
    }
}
