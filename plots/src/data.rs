//! The numbers behind each figure, computed from the project's own formats (trace, catalogue,
//! mapping.json, load.json, the invoker's records).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use formats::nearest_rank;
use formats::records::Outcome;
use formats::summary::busiest;
use profiles::{
    check_percentile, function_point, proxy_points, Catalogue, MappingFile, Metric,
    DURATION_FLOOR_MS, MEMORY_FLOOR_MB,
};
use trace::Trace;

use crate::bins::{compact, Bins};
use crate::figure::{FigureData, Histogram, Marker, Series, XyPlot};
use crate::PlotError;

/// CPU utilisation below this (% of one core) counts as this much on log bins.
pub const CPU_FLOOR_PERCENT: f64 = 0.1;

/// Line figures with at most this many points also mark each point.
pub const MAX_MARKED_POINTS: usize = 60;

/// Most bins a histogram gets (so range labels never overlap at the figure's width).
pub const MAX_BINS: usize = 12;

/// Figures ready to draw, and those that could not be made, with why.
#[derive(Debug, Default)]
pub struct Plan {
    /// (file stem, data).
    pub figures: Vec<(String, FigureData)>,
    /// (file stem, reason).
    pub skipped: Vec<(String, String)>,
}

impl Plan {
    /// Adds a figure to draw, or the reason it cannot be.
    pub fn add_figure(&mut self, name: &str, data: Result<FigureData, String>) {
        self.add(name, data);
    }

    fn add(&mut self, name: &str, data: Result<FigureData, String>) {
        match data {
            Ok(d) => self.figures.push((name.to_owned(), d)),
            Err(reason) => self.skipped.push((name.to_owned(), reason)),
        }
    }
}

fn share(counts: &[f64], total: usize) -> Vec<f64> {
    counts
        .iter()
        .map(|c| 100.0 * c / total.max(1) as f64)
        .collect()
}

fn log_histogram(
    title: &str,
    x_label: &str,
    groups: &[(&str, &[f64])],
    floor: f64,
) -> Result<FigureData, String> {
    let all: Vec<f64> = groups.iter().flat_map(|g| g.1.iter().copied()).collect();
    let bins = Bins::log_spanning(&all, floor, MAX_BINS).ok_or("no values to draw")?;
    let as_share = groups.len() > 1;
    Ok(FigureData::Histogram(Histogram {
        title: title.to_owned(),
        x_label: format!(
            "{x_label} (log bins; below {} counted in the first)",
            compact(floor)
        ),
        y_label: if as_share {
            "share of functions (%)".into()
        } else {
            "functions".into()
        },
        series: groups
            .iter()
            .map(|(name, values)| {
                let counts = bins.counts(values);
                Series {
                    name: format!("{name} ({})", values.len()),
                    values: if as_share {
                        share(&counts, values.len())
                    } else {
                        counts
                    },
                }
            })
            .collect(),
        bins: bins.labels,
        log_y: false,
        markers: Vec::new(),
    }))
}

/// Figures 1–3: the proxies' memory, CPU utilisation and duration at `percentile`.
pub fn catalogue_figures(
    catalogue: &Catalogue,
    percentile: u8,
    plan: &mut Plan,
) -> Result<(), PlotError> {
    check_percentile(percentile)?;
    let points = proxy_points(catalogue, percentile)?;
    let memory: Vec<f64> = points.iter().map(|p| p.memory_mb).collect();
    let duration: Vec<f64> = points.iter().map(|p| p.duration_ms).collect();
    let cpu: Vec<f64> = catalogue
        .proxies
        .iter()
        .map(|p| p.at(Metric::Cpu, percentile))
        .collect::<Result<_, _>>()?;
    let n = catalogue.proxies.len();
    plan.add(
        "proxy_memory",
        log_histogram(
            &format!("Memory of the {n} proxy functions (p{percentile})"),
            "memory, MB",
            &[("proxies", &memory)],
            MEMORY_FLOOR_MB,
        ),
    );
    plan.add(
        "proxy_cpu",
        log_histogram(
            &format!("CPU utilisation of the {n} proxy functions (p{percentile})"),
            "CPU utilisation, % of one core",
            &[("proxies", &cpu)],
            CPU_FLOOR_PERCENT,
        ),
    );
    plan.add(
        "proxy_duration",
        log_histogram(
            &format!("Duration of the {n} proxy functions (p{percentile})"),
            "duration, ms",
            &[("proxies", &duration)],
            DURATION_FLOOR_MS,
        ),
    );
    Ok(())
}

/// Figures 4–6: the trace's memory and duration with the proxies' on the same bins, and both in the
/// (memory, duration) plane.
pub fn trace_figures(
    trace: &Trace,
    catalogue: &Catalogue,
    percentile: u8,
    plan: &mut Plan,
) -> Result<(), PlotError> {
    check_percentile(percentile)?;
    let proxies = proxy_points(catalogue, percentile)?;
    let functions: Vec<_> = trace
        .functions
        .iter()
        .map(|f| function_point(f, percentile))
        .collect();
    let tm: Vec<f64> = functions.iter().map(|p| p.memory_mb).collect();
    let td: Vec<f64> = functions.iter().map(|p| p.duration_ms).collect();
    let pm: Vec<f64> = proxies.iter().map(|p| p.memory_mb).collect();
    let pd: Vec<f64> = proxies.iter().map(|p| p.duration_ms).collect();
    let empty = |d: Result<FigureData, String>| {
        if trace.functions.is_empty() {
            Err("the trace has no function".to_owned())
        } else {
            d
        }
    };
    plan.add(
        "trace_memory",
        empty(log_histogram(
            &format!("Memory: trace functions vs proxies (p{percentile})"),
            "memory, MB",
            &[("trace", &tm), ("proxies", &pm)],
            MEMORY_FLOOR_MB,
        )),
    );
    plan.add(
        "trace_duration",
        empty(log_histogram(
            &format!("Duration: trace functions vs proxies (p{percentile})"),
            "duration, ms",
            &[("trace", &td), ("proxies", &pd)],
            DURATION_FLOOR_MS,
        )),
    );
    let floor = |v: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
        v.into_iter()
            .map(|(m, d)| (m.max(MEMORY_FLOOR_MB), d.max(DURATION_FLOOR_MS)))
            .collect()
    };
    plan.add(
        "memory_duration",
        empty(Ok(FigureData::Xy(XyPlot {
            title: format!("Memory and duration (p{percentile}): trace functions and proxies"),
            x_label: "memory, MB".into(),
            y_label: "duration, ms".into(),
            series: vec![
                Series {
                    name: format!("trace ({})", tm.len()),
                    values: floor(tm.iter().copied().zip(td.iter().copied()).collect()),
                },
                Series {
                    name: format!("proxies ({})", pm.len()),
                    values: floor(pm.iter().copied().zip(pd.iter().copied()).collect()),
                },
            ],
            log_x: true,
            log_y: true,
            points: true,
            lines: false,
            x_ticks: Vec::new(),
            error_bars: Vec::new(),
        }))),
    );
    Ok(())
}

/// Edges of the mapping-error histogram, as fractions; the last bin is open.
pub const ERROR_EDGES: [f64; 10] = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0];

/// Figure 7: per function, the relative memory and duration error of its mapping.
pub fn mapping_figure(mapping: &MappingFile, plan: &mut Plan) {
    let mut edges = ERROR_EDGES.to_vec();
    edges.push(f64::INFINITY);
    let pct = |v: f64| format!("{}%", compact(v * 100.0));
    let labels: Vec<String> = edges
        .windows(2)
        .map(|w| {
            if w[1].is_infinite() {
                format!("≥{}", pct(w[0]))
            } else {
                format!("{}–{}", pct(w[0]), pct(w[1]))
            }
        })
        .collect();
    let bins = Bins { edges, labels };
    let memory: Vec<f64> = mapping
        .functions
        .iter()
        .map(|e| e.memory_rel_error)
        .collect();
    let duration: Vec<f64> = mapping
        .functions
        .iter()
        .map(|e| e.duration_rel_error)
        .collect();
    let data = if mapping.functions.is_empty() {
        Err("the mapping has no function".to_owned())
    } else {
        Ok(FigureData::Histogram(Histogram {
            title: format!(
                "Mapping error of {} functions ({}, p{})",
                mapping.functions.len(),
                mapping.method.describe(),
                mapping.percentile
            ),
            x_label: "|proxy − trace| / trace".into(),
            y_label: "functions".into(),
            series: vec![
                Series {
                    name: "memory".into(),
                    values: bins.counts(&memory),
                },
                Series {
                    name: "duration".into(),
                    values: bins.counts(&duration),
                },
            ],
            bins: bins.labels,
            log_y: false,
            markers: Vec::new(),
        }))
    };
    plan.add("mapping_error", data);
}

/// Figure 8: invocations per period, the trace's (its functions in `trace`, over the load's window) and
/// the load's (`load_per_period`: calls in each period of load.json). They must coincide.
pub fn load_figure(trace: &Trace, load_per_period: &[u64], plan: &mut Plan) {
    let unit = trace.granularity.unit();
    let trace_counts: Vec<(f64, f64)> = (0..trace.periods)
        .map(|j| {
            let total: u64 = (0..trace.functions.len())
                .map(|f| u64::from(trace.counts(f)[j]))
                .sum();
            ((trace.first_period as usize + j) as f64, total as f64)
        })
        .collect();
    let load_counts: Vec<(f64, f64)> = load_per_period
        .iter()
        .enumerate()
        .map(|(j, &n)| ((trace.first_period as usize + j) as f64, n as f64))
        .collect();
    let data = if load_per_period.is_empty() {
        Err("load.json has no period".to_owned())
    } else {
        Ok(FigureData::Xy(XyPlot {
            title: format!("Invocations per {unit}: trace vs generated load"),
            x_label: format!("{unit} (trace column)"),
            y_label: format!("invocations per {unit}"),
            series: vec![
                Series {
                    name: "trace".into(),
                    values: trace_counts,
                },
                Series {
                    name: "load.json".into(),
                    values: load_counts,
                },
            ],
            log_x: false,
            log_y: false,
            // Marks show each period, and make a one-period load a visible figure.
            points: load_per_period.len() <= MAX_MARKED_POINTS,
            lines: true,
            x_ticks: Vec::new(),
            error_bars: Vec::new(),
        }))
    };
    plan.add(&format!("invocations_per_{unit}"), data);
}

/// An empirical CDF as a staircase through at most `points` steps: (value, fraction ≤ value) pairs, each
/// step drawn as a rise at its value, so a line plot shows the true step function.
pub fn cdf(sorted: &[f64], points: usize) -> Vec<(f64, f64)> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(points.max(1)).max(1);
    let mut ends: Vec<usize> = (step - 1..n).step_by(step).collect();
    if ends.last() != Some(&(n - 1)) {
        ends.push(n - 1);
    }
    let mut out = Vec::with_capacity(2 * ends.len());
    let mut below = 0.0;
    for i in ends {
        let fraction = (i + 1) as f64 / n as f64;
        out.push((sorted[i], below));
        out.push((sorted[i], fraction));
        below = fraction;
    }
    out
}

/// What figures 9–11 are made of, gathered from a records file in one pass.
#[derive(Debug, Default)]
pub struct Results {
    /// Latency (answer − send) of successful calls after warm-up, ms, per endpoint.
    pub latency_ms: HashMap<String, Vec<f64>>,
    /// Dispatch lag of calls sent after warm-up, µs.
    pub dispatch_lag_us: Vec<f64>,
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
    /// Keep every this-many-th warm overhead point (doubles whenever they grow past the limit).
    overhead_stride: u64,
    overhead_seen: u64,
}

/// Most warm calls the overhead figure marks: beyond, every second one is dropped, evenly over the run.
pub const MAX_OVERHEAD_POINTS: usize = 5000;

/// Longest run the calls-per-second figure draws: 31 days of seconds.
pub const MAX_RUN_SECONDS: u64 = 31 * 86_400;

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
                r.dispatch_lag_us.push(lag as f64 / 1e3);
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
            if let (true, Some(l)) = (ok, row.latency_us) {
                match r.latency_ms.get_mut(endpoint) {
                    Some(v) => v.push(l as f64 / 1e3),
                    None => {
                        r.latency_ms
                            .insert(endpoint.to_owned(), vec![l as f64 / 1e3]);
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

    // 9: latency CDF, all calls and the four busiest endpoints.
    let mut all: Vec<f64> = r.latency_ms.values().flatten().copied().collect();
    all.sort_unstable_by(f64::total_cmp);
    let busiest = busiest(r.latency_ms.iter(), |v| v.len() as u64, 4);
    let latency = if all.is_empty() {
        Err("no successful call after the warm-up: no latency to draw".to_owned())
    } else {
        let mut series = vec![Series {
            name: format!("all ({} calls)", all.len()),
            values: cdf(&all, 2000),
        }];
        if busiest.len() > 1 {
            for (endpoint, values) in &busiest {
                let mut v = (*values).clone();
                v.sort_unstable_by(f64::total_cmp);
                series.push(Series {
                    name: format!("{} ({})", name(endpoint), v.len()),
                    values: cdf(&v, 1000),
                });
            }
        }
        Ok(FigureData::Xy(XyPlot {
            title: "Latency (answer − send), after warm-up".into(),
            x_label: "latency, ms (log)".into(),
            y_label: "fraction of calls ≤ latency".into(),
            series,
            log_x: true,
            log_y: false,
            points: false,
            lines: true,
            x_ticks: Vec::new(),
            error_bars: Vec::new(),
        }))
    };
    plan.add("latency_cdf", latency);

    // 10: dispatch lag histogram with its percentiles marked.
    let mut lag = r.dispatch_lag_us.clone();
    lag.sort_unstable_by(f64::total_cmp);
    let lag_data = match Bins::log_spanning(&lag, 0.01, MAX_BINS) {
        None => Err("no call was dispatched after the warm-up: no lag to draw".to_owned()),
        Some(bins) => {
            let markers = [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)]
                .iter()
                .map(|&(name, q)| {
                    let v = nearest_rank(&lag, q);
                    Marker {
                        label: format!("{name} {} µs", compact(v)),
                        bin: bins.index(v),
                    }
                })
                .collect();
            Ok(FigureData::Histogram(Histogram {
                title: format!("Dispatch lag (release − due) of {} calls", lag.len()),
                x_label: "lag, µs (log bins; below 0.01 counted in the first)".into(),
                y_label: "calls (log)".into(),
                series: vec![Series {
                    name: "calls".into(),
                    values: bins.counts(&lag),
                }],
                bins: bins.labels,
                log_y: true,
                markers,
            }))
        }
    };
    plan.add("dispatch_lag", lag_data);

    // 11: calls per second over the run.
    let last_second = r.per_second.keys().next_back().copied();
    let per_second = match last_second {
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
            }))
        }
    };
    plan.add("calls_per_second", per_second);

    // 12: platform overhead over the run, cold starts marked (when the functions say their own time).
    let overhead = if r.overhead_warm.is_empty() && r.overhead_cold.is_empty() {
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
        }))
    };
    plan.add("overhead", overhead);
    Ok(())
}
