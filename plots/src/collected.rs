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

/// The series a collector's CSV holds, by its name: `local-scale` (one per column), `kubernetes-scale`
/// (desired, ready and pending summed over the services; the activator's and autoscaler's ready
/// replicas), `prometheus-NAME` (one per series, the [`MAX_SERIES`] largest).
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
    if stem == "local-scale" {
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
    if stem == "kubernetes-scale" {
        // Per time: services summed, components apart.
        let mut services: BTreeMap<u64, [f64; 3]> = BTreeMap::new();
        let mut components: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let mut times: BTreeMap<u64, f64> = BTreeMap::new();
        for (t, r) in &rows {
            let key = (t * 1e3).round() as u64;
            times.insert(key, *t);
            let (name, values) = (r[0].as_str(), [number(&r[1]), number(&r[2]), number(&r[3])]);
            if let Some(component) = name.strip_prefix("knative-serving/") {
                components
                    .entry(format!("{component} ready"))
                    .or_default()
                    .push((*t, values[1]));
            } else {
                let sum = services.entry(key).or_default();
                for k in 0..3 {
                    sum[k] += values[k];
                }
            }
        }
        let mut out: Vec<Series<(f64, f64)>> = ["desired pods", "ready pods", "pending pods"]
            .iter()
            .enumerate()
            .map(|(k, name)| {
                series(
                    name,
                    services.iter().map(|(key, v)| (times[key], v[k])).collect(),
                )
            })
            .collect();
        out.extend(components.into_iter().map(|(n, v)| series(&n, v)));
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
            }))
        });
        plan.add_figure(&name, figure);
    }
    Ok(())
}
