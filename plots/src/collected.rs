//! Figures of a run's collectors: each CSV of its `collect/` directory beside the calls answered per
//! second, on the run's time axis (seconds from the replay's start).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::data::Plan;
use crate::results::Results;
use crate::spec::Timeline;
use crate::spec::{FigureData, Series};
use crate::PlotError;

/// Most series one Prometheus figure draws (the largest by their peak).
pub const MAX_SERIES: usize = 5;

/// A CSV row: its time (seconds of the run) and its other fields.
type Row = (f64, Vec<String>);

/// A figure's right-axis label and its series.
pub type Collected = (String, Vec<Series<(f64, f64)>>);

/// The rows of a collector's CSV (its header left out), times made seconds of the run.
fn rows(path: &Path, start_unix_s: f64) -> Result<Vec<Row>, String> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("{}: {e}", path.display()))?;
        let time: f64 = record
            .get(0)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("{}: line {}: no time", path.display(), i + 2))?;
        out.push((
            time - start_unix_s,
            record.iter().skip(1).map(str::to_owned).collect(),
        ));
    }
    Ok(out)
}

fn number(s: &str) -> f64 {
    s.parse().unwrap_or(f64::NAN)
}

/// The series a collector's CSV holds, by its name: `local-fleet` (one per column), `local-scale`
/// (desired, ready and pending instances and calls in flight and queued, summed over the functions),
/// `kubernetes-scale` (desired, ready and pending summed over the services; the activator's and
/// autoscaler's ready replicas), `prometheus-NAME` (one per series, the [`MAX_SERIES`] largest).
pub fn series_of(path: &Path, start_unix_s: f64) -> Result<Collected, String> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rows = rows(path, start_unix_s)?;
    let series = |name: &str, values: Vec<(f64, f64)>| Series {
        name: name.to_owned(),
        values,
    };
    if stem == "local-fleet" {
        let columns = [
            (0, "instances alive"),
            (2, "in flight"),
            (3, "busy threads"),
            (4, "queued"),
        ];
        let out = columns
            .iter()
            .map(|&(c, name)| {
                series(
                    name,
                    rows.iter()
                        .map(|(t, r)| (*t, r.get(c).map_or(f64::NAN, |v| number(v))))
                        .collect(),
                )
            })
            .collect();
        return Ok(("instances, calls".into(), out));
    }
    if stem == "local-scale" {
        let names = [
            "desired instances",
            "ready instances",
            "pending instances",
            "calls in flight",
            "calls queued",
        ];
        let (summed, _) = summed_per_time(&rows, &names, |_| false);
        return Ok(("instances, calls (functions summed)".into(), summed));
    }
    if stem == "kubernetes-scale" {
        let names = ["desired pods", "ready pods", "pending pods"];
        let (mut out, components) =
            summed_per_time(&rows, &names, |name| name.starts_with("knative-serving/"));
        // Knative's own components apart: their ready replicas.
        let mut apart: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for (t, name, values) in components {
            let component = name.trim_start_matches("knative-serving/");
            apart
                .entry(format!("{component} ready"))
                .or_default()
                .push((t, values[1]));
        }
        out.extend(apart.into_iter().map(|(n, v)| series(&n, v)));
        return Ok(("pods (services summed)".into(), out));
    }
    let mut by_series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (t, r) in rows {
        let v = r.get(1).map_or(f64::NAN, |v| number(v));
        by_series.entry(r[0].clone()).or_default().push((t, v));
    }
    let mut out: Vec<Series<(f64, f64)>> =
        by_series.into_iter().map(|(n, v)| series(&n, v)).collect();
    let peak = |s: &Series<(f64, f64)>| s.values.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    out.sort_by(|a, b| peak(b).total_cmp(&peak(a)));
    out.truncate(MAX_SERIES);
    Ok(("value".into(), out))
}

/// Rows of `(time, name, values…)` summed per time over the names, one series per value column named
/// by `names`; rows whose name is `apart` are left out of the sums and returned as they are.
#[allow(clippy::type_complexity)]
fn summed_per_time(
    rows: &[Row],
    names: &[&str],
    apart: impl Fn(&str) -> bool,
) -> (Vec<Series<(f64, f64)>>, Vec<(f64, String, Vec<f64>)>) {
    let mut sums: BTreeMap<u64, (f64, Vec<f64>)> = BTreeMap::new();
    let mut left = Vec::new();
    for (t, r) in rows {
        let name = r.first().map_or("", String::as_str);
        let values: Vec<f64> = (1..=names.len())
            .map(|k| r.get(k).map_or(f64::NAN, |v| number(v)))
            .collect();
        if apart(name) {
            left.push((*t, name.to_owned(), values));
            continue;
        }
        let sum = sums
            .entry((t * 1e3).round() as u64)
            .or_insert_with(|| (*t, vec![0.0; names.len()]));
        for (s, v) in sum.1.iter_mut().zip(values) {
            *s += v;
        }
    }
    let series = names
        .iter()
        .enumerate()
        .map(|(k, name)| Series {
            name: (*name).to_owned(),
            values: sums.values().map(|(t, v)| (*t, v[k])).collect(),
        })
        .collect();
    (series, left)
}

/// One timeline figure per CSV in `files`, named `collect_<stem>`; a CSV that cannot be read is a
/// skipped figure with its reason.
pub fn collected_figures(
    records: &Path,
    start_unix_s: f64,
    files: &[PathBuf],
    plan: &mut Plan,
) -> Result<(), PlotError> {
    if files.is_empty() {
        return Ok(());
    }
    let per_second = Results::read(records)?.per_second;
    let calls = Series {
        name: "calls answered per second".into(),
        values: per_second
            .iter()
            .map(|(&s, counts)| (s as f64 + 0.5, counts[2] as f64))
            .collect(),
    };
    for path in files {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = format!("collect_{}", stem.replace('-', "_"));
        let figure = series_of(path, start_unix_s).and_then(|(y_label, series)| {
            if series.iter().all(|s| s.values.is_empty()) {
                return Err(format!("{}: no samples", path.display()));
            }
            Ok(FigureData::Timeline(Timeline {
                title: format!("{stem} over the run"),
                calls: calls.clone(),
                series,
                y_label,
                marks: Default::default(),
            }))
        });
        plan.add_figure(&name, figure);
    }
    Ok(())
}
