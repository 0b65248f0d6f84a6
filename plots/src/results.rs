//! Figures 9–12, from the invoker's records: latency CDF, dispatch lag, calls per second and the
//! platform's overhead, gathered from a records file in one pass.
//!
//! Memory does not grow with the records: latency and lag go into HdrHistograms (3 significant digits,
//! 2 per endpoint), calls per second into counters, and the per-call overhead points are thinned evenly
//! as they come. So a day's records (hundreds of millions of calls) draw in the memory of a minute's.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use formats::nearest_rank;
use formats::records::Outcome;
use formats::summary::busiest;

use hdrhistogram::Histogram as Hdr;

use crate::bins::{compact, Bins};
use crate::data::{cdf, histogram_cdf, Plan, MAX_BINS, MAX_MARKED_POINTS};
use crate::spec::{FigureData, Histogram, Marker, Series, XyPlot};
use crate::PlotError;

/// What figures 9–11 are made of, gathered from a records file in one pass.
#[derive(Debug)]
pub struct Results {
    /// Latency (answer − send) of successful calls after warm-up, µs, all of them (3 significant
    /// digits).
    pub latency_us: Hdr<u64>,
    /// The same per endpoint (2 significant digits: an endpoint's curve is drawn, not quoted).
    pub latency_by_endpoint_us: HashMap<String, Hdr<u64>>,
    /// Dispatch lag of calls sent after warm-up, ns (3 significant digits).
    pub dispatch_lag_ns: Hdr<u64>,
    /// Per second of the run that saw any: scheduled (by due time), sent (by send time), answered (by
    /// answer time). Sparse, so a record's time, whatever it says, never sizes memory.
    pub per_second: BTreeMap<u64, [u64; 3]>,
    /// Platform overhead (latency − the function's own time) of answered calls after warm-up whose
    /// function said its time, as (second of the run, ms): warm calls (thinned evenly to at most
    /// [`MAX_OVERHEAD_POINTS`]), and every cold start.
    pub overhead_warm: Vec<(f64, f64)>,
    /// See [`Results::overhead_warm`].
    pub overhead_cold: Vec<(f64, f64)>,
    /// The last call's due time, µs from the run's start.
    pub last_due_us: u64,
    /// Latency from the due time of answered calls after warm-up, over the run.
    pub latency_over_run: OverRun,
    /// Keep every this-many-th warm overhead point (doubles whenever they grow past the limit).
    overhead_stride: u64,
    overhead_seen: u64,
}

/// Most warm calls the overhead figure marks: beyond, every second one is dropped, evenly over the run.
pub const MAX_OVERHEAD_POINTS: usize = 5000;

/// Longest run the calls-per-second figure draws: 31 days of seconds.
pub const MAX_RUN_SECONDS: u64 = 31 * 86_400;

/// An auto-resizing histogram keeping `digits` significant digits.
fn hdr(digits: u8) -> Hdr<u64> {
    Hdr::new(digits).expect("1 to 5 significant digits are valid")
}

/// Records `v` (an auto-resizing histogram takes any u64).
fn record(h: &mut Hdr<u64>, v: u64) {
    h.record(v).expect("an auto-resizing histogram");
}

impl Default for Results {
    fn default() -> Results {
        Results {
            latency_us: hdr(3),
            latency_by_endpoint_us: HashMap::new(),
            dispatch_lag_ns: hdr(3),
            per_second: BTreeMap::new(),
            overhead_warm: Vec::new(),
            overhead_cold: Vec::new(),
            last_due_us: 0,
            latency_over_run: OverRun::default(),
            overhead_stride: 0,
            overhead_seen: 0,
        }
    }
}

impl Results {
    /// Reads `records` (the invoker's `--records` CSV).
    pub fn read(records: &Path) -> Result<Results, PlotError> {
        let mut r = Results::default();
        let bump = |per_second: &mut BTreeMap<u64, [u64; 3]>, us: u64, k: usize| {
            per_second.entry(us / 1_000_000).or_default()[k] += 1;
        };
        formats::records::read_records(records, |row, endpoint| {
            let ok = row.outcome == Outcome::Ok;
            bump(&mut r.per_second, row.scheduled_us, 0);
            r.last_due_us = r.last_due_us.max(row.scheduled_us);
            if let Some(sent) = row.sent_us() {
                bump(&mut r.per_second, sent, 1);
            }
            if let (true, Some(ended)) = (ok, row.ended_us()) {
                bump(&mut r.per_second, ended, 2);
            }
            if row.warmup {
                return;
            }
            if let Some(lag) = row.dispatch_lag_ns {
                record(&mut r.dispatch_lag_ns, lag);
            }
            if let (true, Some(l), Some(exec)) = (ok, row.latency_us, row.exec_us) {
                let point = (
                    row.scheduled_us as f64 / 1e6,
                    l.saturating_sub(exec) as f64 / 1e3,
                );
                if row.cold == Some(true) {
                    r.overhead_cold.push(point);
                } else {
                    if r.overhead_seen % r.overhead_stride.max(1) == 0 {
                        r.overhead_warm.push(point);
                    }
                    r.overhead_seen += 1;
                    if r.overhead_warm.len() > MAX_OVERHEAD_POINTS {
                        let mut k = 0;
                        r.overhead_warm.retain(|_| {
                            k += 1;
                            k % 2 == 1
                        });
                        r.overhead_stride = r.overhead_stride.max(1) * 2;
                    }
                }
            }
            if let (true, Some(l)) = (ok, row.latency_from_scheduled_us) {
                r.latency_over_run.add(row.scheduled_us, l);
            }
            if let (true, Some(l)) = (ok, row.latency_us) {
                record(&mut r.latency_us, l);
                match r.latency_by_endpoint_us.get_mut(endpoint) {
                    Some(h) => record(h, l),
                    None => {
                        let mut h = hdr(2);
                        record(&mut h, l);
                        r.latency_by_endpoint_us.insert(endpoint.to_owned(), h);
                    }
                }
            }
        })?;
        Ok(r)
    }

    /// The seconds the calls-per-second figure draws: those of the load, up to the last call's due
    /// second. Sends and answers after it are the tail of a load that has ended: drawn as a last,
    /// partial second they would read as a plunge in the rate.
    pub fn load_seconds(&self) -> u64 {
        self.last_due_us / 1_000_000 + 1
    }
}

/// Most bins the latency-over-the-run figure keeps: past it, its bins double in width (two merged).
pub const MAX_LATENCY_BINS: usize = 600;

/// A value's histograms over the run, in bins of whole seconds by due time, as many as
/// [`MAX_LATENCY_BINS`] at most (a day-long run's bins are minutes), so memory stays bounded.
#[derive(Debug, Clone)]
pub struct OverRun {
    /// Seconds per bin.
    pub bin_s: u64,
    /// Per bin (its first second / `bin_s`), the values, µs (2 significant digits).
    pub bins: BTreeMap<u64, Hdr<u64>>,
}

impl Default for OverRun {
    fn default() -> OverRun {
        OverRun {
            bin_s: 1,
            bins: BTreeMap::new(),
        }
    }
}

impl OverRun {
    fn add(&mut self, due_us: u64, value: u64) {
        let bin = due_us / 1_000_000 / self.bin_s;
        record(self.bins.entry(bin).or_insert_with(|| hdr(2)), value);
        if self.bins.len() > MAX_LATENCY_BINS {
            self.bin_s *= 2;
            let mut wider: BTreeMap<u64, Hdr<u64>> = BTreeMap::new();
            for (b, h) in std::mem::take(&mut self.bins) {
                match wider.get_mut(&(b / 2)) {
                    Some(w) => w.add(&h).expect("an auto-resizing histogram"),
                    None => {
                        wider.insert(b / 2, h);
                    }
                }
            }
            self.bins = wider;
        }
    }

    /// (first second of the bin, value at quantile `q`, ms) of each bin.
    fn quantile_ms(&self, q: f64) -> Vec<(f64, f64)> {
        self.bins
            .iter()
            .map(|(b, h)| {
                let v = h.value_at_quantile(q) as f64 / 1e3;
                ((b * self.bin_s) as f64, v.max(1e-3))
            })
            .collect()
    }
}

/// Latency from the due time over the run: p50, p99 and the largest of each bin.
fn latency_over_run(r: &Results) -> Result<FigureData, String> {
    let over = &r.latency_over_run;
    if over.bins.is_empty() {
        return Err("no call after warm-up was answered".to_owned());
    }
    let series = [("p50", 0.5), ("p99", 0.99), ("max", 1.0)]
        .into_iter()
        .map(|(name, q)| Series {
            name: name.to_owned(),
            values: over.quantile_ms(q),
        })
        .collect();
    Ok(FigureData::Xy(XyPlot {
        title: format!(
            "Latency from the due time over the run, per {} s, after warm-up",
            over.bin_s
        ),
        x_label: "second of the run (due time)".into(),
        y_label: "latency from the due time, ms (log)".into(),
        series,
        log_x: false,
        log_y: true,
        points: true,
        lines: true,
        x_ticks: Vec::new(),
        error_bars: Vec::new(),
        marks: Default::default(),
    }))
}

/// Figures 9–12 from a records file; endpoints named by `endpoint_names` (endpoint → proxy) where it
/// names them.
pub fn results_figures(
    records: &Path,
    endpoint_names: &BTreeMap<String, String>,
    plan: &mut Plan,
) -> Result<(), PlotError> {
    let r = Results::read(records)?;
    let name = |e: &str| {
        endpoint_names
            .get(e)
            .cloned()
            .unwrap_or_else(|| e.to_owned())
    };

    plan.add("latency_cdf", latency_cdf(&r, &name));
    plan.add("dispatch_lag", dispatch_lag(&r));
    plan.add("calls_per_second", calls_per_second(&r));
    plan.add("overhead", overhead(&r));
    plan.add("latency_over_run", latency_over_run(&r));
    // A workflow load's instances, from `workflows.csv` beside the records.
    let instances = records.with_file_name(formats::workflows::WORKFLOWS);
    if instances.exists() {
        plan.add("workflow_cdf", workflow_cdf(&instances));
        plan.add("workflow_nodes", workflow_nodes(records));
    }
    Ok(())
}

/// Most nodes the per-node figure draws (a foreach's copies each count), in the load's order.
pub const MAX_NODES_DRAWN: usize = 40;

/// A workflow load's calls after warm-up, per node: where each node's time went, medians stacked: the
/// function's computing (`exec_us` less its store transfers), its store transfers, the call's overhead
/// (latency − `exec_us`: the network, the platform, queueing), and its release delay (the send lag: in
/// client orchestration, from its last predecessor's end to its send; empty in chained).
fn workflow_nodes(records: &Path) -> Result<FigureData, String> {
    // Per node, in order of first appearance (the load's: its instances' graph order), its components.
    let mut nodes: Vec<(String, [Vec<f64>; 4])> = Vec::new();
    let mut seen = 0usize;
    formats::records::read_workflow_records(records, |r, _, node| {
        let (Some(node), false, Outcome::Ok) = (node, r.warmup, r.outcome) else {
            return;
        };
        let (Some(latency), Some(exec)) = (r.latency_us, r.exec_us) else {
            return;
        };
        let k = match nodes.iter().position(|(n, _)| n == node) {
            Some(k) => k,
            None if nodes.len() < MAX_NODES_DRAWN => {
                nodes.push((node.to_owned(), Default::default()));
                nodes.len() - 1
            }
            None => return,
        };
        seen += 1;
        let moved = r.wire.transfer_us.unwrap_or(0);
        let parts = &mut nodes[k].1;
        parts[0].push(exec.saturating_sub(moved) as f64 / 1e3);
        parts[1].push(moved as f64 / 1e3);
        parts[2].push(latency.saturating_sub(exec) as f64 / 1e3);
        parts[3].push(r.send_lag_ns.unwrap_or(0) as f64 / 1e6);
    })
    .map_err(|e| e.to_string())?;
    if nodes.is_empty() {
        return Err("no workflow call answered after the warm-up: nothing to draw".to_owned());
    }
    let names = [
        "computing (exec − store)",
        "store transfer",
        "call overhead (latency − exec)",
        "release delay (send lag)",
    ];
    let series = names
        .iter()
        .enumerate()
        .map(|(c, name)| Series {
            name: (*name).to_owned(),
            values: nodes
                .iter_mut()
                .map(|(_, parts)| {
                    let v = &mut parts[c];
                    v.sort_unstable_by(f64::total_cmp);
                    if v.is_empty() {
                        0.0
                    } else {
                        nearest_rank(v, 0.5)
                    }
                })
                .collect(),
        })
        // A component no node has (no store; chained: no release delay) is left out of the legend.
        .filter(|s| s.values.iter().any(|&v| v > 0.0))
        .collect();
    Ok(FigureData::Histogram(Histogram {
        title: format!("Where each node's time went: medians of {seen} calls after warm-up"),
        x_label: "node".into(),
        y_label: "ms (medians, stacked)".into(),
        bins: nodes.into_iter().map(|(name, _)| name).collect(),
        series,
        log_y: false,
        markers: Vec::new(),
        stacked: true,
    }))
}

/// A workflow load's instances after warm-up: the CDFs of their end to end (from the instance's due
/// time), of the critical path of their functions' own times, and of the overhead between the two.
fn workflow_cdf(path: &Path) -> Result<FigureData, String> {
    let rows = formats::workflows::read(path).map_err(|e| e.to_string())?;
    let measured: Vec<_> = rows.iter().filter(|r| !r.warmup).collect();
    let ms = |pick: &dyn Fn(&formats::workflows::InstanceRow) -> Option<u64>| -> Vec<f64> {
        measured
            .iter()
            .filter_map(|r| pick(r))
            .map(|us| us as f64 / 1e3)
            .collect()
    };
    let groups = [
        ("end to end".to_owned(), ms(&|r| r.end_to_end_us)),
        ("critical path".to_owned(), ms(&|r| r.critical_path_us)),
        ("overhead".to_owned(), ms(&|r| r.overhead_us())),
    ];
    latency_cdf_of("Workflow instances after warm-up, per instance", &groups)
        .map_err(|_| "no workflow instance ended after the warm-up: nothing to draw".to_owned())
}

/// Figure 9: the latency CDF, all calls and the four busiest endpoints.
fn latency_cdf(r: &Results, name: &dyn Fn(&str) -> String) -> Result<FigureData, String> {
    if r.latency_us.is_empty() {
        return Err("no successful call after the warm-up: no latency to draw".to_owned());
    }
    let series_of = |name: String, h: &Hdr<u64>| Series {
        name: format!("{name} ({})", h.len()),
        values: histogram_cdf(h, 1e-3, 1000),
    };
    let mut series = vec![series_of("all".to_owned(), &r.latency_us)];
    let busiest = busiest(r.latency_by_endpoint_us.iter(), |h| h.len(), 4);
    if busiest.len() > 1 {
        series.extend(busiest.iter().map(|(e, h)| series_of(name(e), h)));
    }
    Ok(latency_cdf_plot(
        "Latency (answer − send), after warm-up",
        series,
    ))
}

/// A latency CDF of named groups of latencies (ms, in any order), one series each, on a log axis.
pub fn latency_cdf_of(title: &str, groups: &[(String, Vec<f64>)]) -> Result<FigureData, String> {
    let series: Vec<Series<(f64, f64)>> = groups
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(name, values)| {
            let mut v = values.clone();
            v.sort_unstable_by(f64::total_cmp);
            Series {
                name: format!("{name} ({})", v.len()),
                values: cdf(&v, 1000),
            }
        })
        .collect();
    if series.is_empty() {
        return Err("no answered call: no latency to draw".to_owned());
    }
    Ok(latency_cdf_plot(title, series))
}

/// A latency CDF figure of `series` (ms, fraction at or below), on a log axis.
fn latency_cdf_plot(title: &str, series: Vec<Series<(f64, f64)>>) -> FigureData {
    FigureData::Xy(XyPlot {
        title: title.to_owned(),
        x_label: "latency, ms (log)".into(),
        y_label: "fraction of calls ≤ latency".into(),
        series,
        log_x: true,
        log_y: false,
        points: false,
        lines: true,
        x_ticks: Vec::new(),
        error_bars: Vec::new(),
        marks: Default::default(),
    })
}

/// Figure 10: the dispatch lag histogram, its percentiles marked (each within the histogram's 0.1 %).
fn dispatch_lag(r: &Results) -> Result<FigureData, String> {
    let h = &r.dispatch_lag_ns;
    let us = |ns: u64| ns as f64 / 1e3;
    let span = if h.is_empty() {
        Vec::new()
    } else {
        vec![us(h.min()), us(h.max())]
    };
    match Bins::log_spanning(&span, 0.01, MAX_BINS) {
        None => Err("no call was dispatched after the warm-up: no lag to draw".to_owned()),
        Some(bins) => {
            let markers = [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)]
                .iter()
                .map(|&(name, q)| {
                    let v = us(h.value_at_quantile(q));
                    Marker {
                        label: format!("{name} {} µs", compact(v)),
                        bin: bins.index(v),
                    }
                })
                .collect();
            let mut counts = vec![0.0; bins.len()];
            for v in h.iter_recorded() {
                counts[bins.index(us(v.value_iterated_to()))] += v.count_at_value() as f64;
            }
            Ok(FigureData::Histogram(Histogram {
                title: format!("Dispatch lag (release − due) of {} calls", h.len()),
                x_label: "lag, µs (log bins; below 0.01 counted in the first)".into(),
                y_label: "calls (log)".into(),
                series: vec![Series {
                    name: "calls".into(),
                    values: counts,
                }],
                bins: bins.labels,
                log_y: true,
                markers,
                stacked: false,
            }))
        }
    }
}

/// Figure 11: calls per second over the run.
fn calls_per_second(r: &Results) -> Result<FigureData, String> {
    let last_second = r.per_second.keys().next_back().copied();
    match last_second {
        None => Err("the records file holds no call".to_owned()),
        Some(last) if last > MAX_RUN_SECONDS => Err(format!(
            "the records span {last} seconds, more than the {MAX_RUN_SECONDS} this figure draws"
        )),
        Some(last) => {
            let seconds = r.load_seconds().min(last + 1) as usize;
            let left_out: [u64; 3] = r
                .per_second
                .range(seconds as u64..)
                .fold([0; 3], |a, (_, c)| [a[0] + c[0], a[1] + c[1], a[2] + c[2]]);
            let series = ["scheduled", "sent", "answered"]
                .iter()
                .enumerate()
                .map(|(k, name)| Series {
                    name: (*name).to_owned(),
                    values: (0..seconds as u64)
                        .map(|s| (s as f64, r.per_second.get(&s).map_or(0, |c| c[k]) as f64))
                        .collect(),
                })
                .collect();
            Ok(FigureData::Xy(XyPlot {
                title: if left_out.iter().any(|&n| n > 0) {
                    format!(
                        "Calls per second ({} sent, {} answered after the last due second, not drawn)",
                        left_out[1], left_out[2]
                    )
                } else {
                    "Calls per second: scheduled, sent, answered".into()
                },
                x_label: "second of the run".into(),
                y_label: "calls per second".into(),
                points: seconds <= MAX_MARKED_POINTS,
                series,
                log_x: false,
                log_y: false,
                lines: true,
                x_ticks: Vec::new(),
                error_bars: Vec::new(),
                marks: Default::default(),
            }))
        }
    }
}

/// Figure 12: the platform's overhead over the run, cold starts marked (when the functions say their own time).
fn overhead(r: &Results) -> Result<FigureData, String> {
    if r.overhead_warm.is_empty() && r.overhead_cold.is_empty() {
        Err(
            "no function reported its own execution time (the emulated function does; vSwarm's \
             proxies do not): no overhead to draw"
                .to_owned(),
        )
    } else {
        // A log axis cannot show 0: overheads under a microsecond are drawn at 1 µs.
        let floor = |v: &Vec<(f64, f64)>| v.iter().map(|&(x, y)| (x, y.max(1e-3))).collect();
        Ok(FigureData::Xy(XyPlot {
            title: "Platform overhead (latency − the function's own time), after warm-up".into(),
            x_label: "second of the run (due time)".into(),
            y_label: "overhead, ms (log)".into(),
            series: vec![
                Series {
                    name: format!("warm calls ({} shown)", r.overhead_warm.len()),
                    values: floor(&r.overhead_warm),
                },
                Series {
                    name: format!("cold starts ({})", r.overhead_cold.len()),
                    values: floor(&r.overhead_cold),
                },
            ],
            log_x: false,
            log_y: true,
            points: true,
            lines: false,
            x_ticks: Vec::new(),
            error_bars: Vec::new(),
            marks: Default::default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_s_bins_widen_and_keep_every_value() {
        let mut over = OverRun::default();
        // An hour, one value a second: 3600 seconds fold into at most 600 bins of 8 s.
        for s in 0..3600u64 {
            over.add(s * 1_000_000 + 1, 1000 + s);
        }
        assert_eq!(over.bin_s, 8);
        assert!(over.bins.len() <= MAX_LATENCY_BINS);
        let total: u64 = over.bins.values().map(|h| h.len()).sum();
        assert_eq!(total, 3600);
        // Each bin holds the values of its own seconds.
        let first = &over.bins[&0];
        assert_eq!(
            (first.len(), first.max()),
            (8, first.highest_equivalent(1007))
        );
    }
}
