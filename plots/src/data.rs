//! The numbers behind each figure, computed from the project's own formats (trace, catalogue,
//! mapping.json, load.json, the invoker's records).

use mapping::{
    check_percentile, function_point, proxy_points, MappingFile, DURATION_FLOOR_MS, MEMORY_FLOOR_MB,
};
use profiles::{Catalogue, Metric};
use trace::Trace;

use crate::bins::{compact, Bins};
use crate::spec::{FigureData, Histogram, Series, XyPlot};
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
    /// Marks `marks` (a run's interference windows and faults) on every figure on the run's time axis:
    /// the timelines and the plots over the second of the run.
    pub fn mark_time_axis(&mut self, marks: &crate::spec::TimeMarks) {
        for (_, figure) in &mut self.figures {
            match figure {
                FigureData::Timeline(t) => t.marks = marks.clone(),
                FigureData::Xy(p) if p.x_label.starts_with("second of the run") => {
                    p.marks = marks.clone();
                }
                _ => {}
            }
        }
    }

    /// Adds a figure to draw, or the reason it cannot be.
    pub fn add_figure(&mut self, name: &str, data: Result<FigureData, String>) {
        self.add(name, data);
    }

    pub(crate) fn add(&mut self, name: &str, data: Result<FigureData, String>) {
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
        stacked: false,
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
    // A catalogue made from a trace (`-p trace`) has no CPU profile: its figure says so.
    let cpu: Vec<f64> = catalogue
        .proxies
        .iter()
        .filter_map(|p| p.at(Metric::Cpu, percentile).ok())
        .collect();
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
        if cpu.is_empty() {
            Err(format!("no proxy has a CPU utilisation at p{percentile}"))
        } else {
            log_histogram(
                &if cpu.len() == n {
                    format!("CPU utilisation of the {n} proxy functions (p{percentile})")
                } else {
                    format!(
                        "CPU utilisation of the {} of {n} proxy functions with one (p{percentile})",
                        cpu.len()
                    )
                },
                "CPU utilisation, % of one core",
                &[("proxies", &cpu)],
                CPU_FLOOR_PERCENT,
            )
        },
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
            marks: Default::default(),
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
            stacked: false,
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
            marks: Default::default(),
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

/// [`cdf`] of the values a histogram holds, times `scale`: at most `points` steps, each at the value
/// (the highest its bucket stands for) where the running count reaches the next `1/points` of the
/// whole, so the curve is the records' own within the histogram's precision.
pub fn histogram_cdf(
    h: &hdrhistogram::Histogram<u64>,
    scale: f64,
    points: usize,
) -> Vec<(f64, f64)> {
    let n = h.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(points.max(1) as u64).max(1);
    let (mut out, mut seen, mut below, mut next) = (Vec::new(), 0u64, 0.0, step);
    for v in h.iter_recorded() {
        seen += v.count_at_value();
        if seen >= next || seen == n {
            let (value, fraction) = (v.value_iterated_to() as f64 * scale, seen as f64 / n as f64);
            out.push((value, below));
            out.push((value, fraction));
            below = fraction;
            next = (seen / step + 1) * step;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_cdf_steps_on_the_values_own_cdf_where_the_histogram_is_exact() {
        // Below 2,048 a histogram of 3 significant digits holds every value exactly: each step must sit
        // on the values' empirical CDF (the fraction of them at or below it), thinned to `points`.
        let values: Vec<u64> = (0..5000u64).map(|i| 1 + (i * 7919) % 2000).collect();
        let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        for &v in &values {
            h.record(v).unwrap();
        }
        let n = values.len() as f64;
        let at_or_below = |x: f64| values.iter().filter(|&&v| v as f64 <= x).count() as f64 / n;
        for points in [10, 1000, 10_000] {
            let curve = histogram_cdf(&h, 1.0, points);
            assert_eq!(curve.last(), Some(&(2000.0, 1.0)));
            let steps = curve.len() / 2;
            assert!(
                steps <= points.min(2000) + 1 && steps >= points.min(2000) / 2,
                "{steps}"
            );
            let mut below = 0.0;
            for step in curve.chunks(2) {
                assert_eq!(step[0], (step[1].0, below), "a rise at its value");
                assert_eq!(
                    step[1].1,
                    at_or_below(step[1].0),
                    "{points} points at {}",
                    step[1].0
                );
                below = step[1].1;
            }
        }
        // Scaled: µs to ms.
        assert_eq!(histogram_cdf(&h, 1e-3, 10).last(), Some(&(2.0, 1.0)));
        assert!(
            histogram_cdf(&hdrhistogram::Histogram::<u64>::new(3).unwrap(), 1.0, 10).is_empty()
        );
    }
}
