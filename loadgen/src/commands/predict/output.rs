//! What a prediction writes: `scale.csv` as each period's ticks are known, `summary.json` and the
//! figure, from periods of calls fed to the model ([`predict_periods`]).

use std::collections::BTreeMap;
use std::io::Write as _;

use anyhow::{Context, Result};
use autoscaler::simulate::{ScaleTick, Totals};
use formats::summary::PlatformTotals;
use serde_json::json;

use super::PredictOptions;
use crate::predict::{FunctionPrediction, FunctionSpec, PeriodCall, Predictor, SummedTick, Waits};

/// The header of `scale.csv`.
pub const SCALE_HEADER: &str = "function,time_s,desired,ready,instances,queued";

/// What a prediction made: `summary.json`, and its overall totals.
#[derive(Debug, Clone)]
pub struct Predicted {
    /// `summary.json`'s JSON.
    pub summary: serde_json::Value,
    /// The totals over every function (the peak: the most instances at one tick, summed).
    pub totals: PlatformTotals,
}

/// Runs the model over the periods `periods` feeds (each period's calls, in order of arrival, and its
/// end, µs) until `end_us`, each of `functions` an endpoint; writes scale.csv, summary.json and the
/// figure into `o.output`; what it predicted.
pub fn predict_periods(
    o: &PredictOptions,
    functions: &[FunctionSpec],
    end_us: u64,
    periods: impl FnOnce(&mut dyn FnMut(&[PeriodCall], u64)) -> Result<()>,
) -> Result<Predicted> {
    std::fs::create_dir_all(o.output)
        .with_context(|| format!("creating {}", o.output.display()))?;
    // scale.csv is written as each period's ticks are known: tick rows by period, then function.
    let scale_path = o.output.join("scale.csv");
    let mut scale = formats::output::AtomicFile::create(&scale_path)
        .with_context(|| format!("writing {}", scale_path.display()))?;
    let mut written = writeln!(scale, "{SCALE_HEADER}");
    let mut write_tick = |e: usize, t: &ScaleTick| {
        if written.is_ok() {
            written = writeln!(
                scale,
                "{},{},{},{},{},{}",
                functions[e].name, t.time_s, t.desired, t.ready, t.instances, t.queued
            );
        }
    };
    let mut predictor = Predictor::new(
        functions,
        &o.revision,
        (o.cold_start_ms, o.seed, o.duration_scale),
    );
    // The calls due per second, for the figure.
    let mut due: BTreeMap<u64, f64> = BTreeMap::new();
    periods(&mut |calls, until_us| {
        for &(_, at, _) in calls {
            *due.entry(at / 1_000_000).or_default() += 1.0;
        }
        predictor.period(calls, until_us, &mut write_tick);
    })?;
    let (predictions, summed) = predictor.finish(end_us, &mut write_tick);
    written
        .and_then(|()| scale.commit())
        .with_context(|| format!("writing {}", scale_path.display()))?;
    let totals = overall(&predictions, &summed);
    let summary = summary(&predictions, &totals, o);
    let path = o.output.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).expect("JSON serialises");
    formats::output::write_atomic(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    let figure = scale_figure(&summed, due);
    let figure = plots::render(o.output, "predict_scale", figure)
        .with_context(|| format!("drawing the figure into {}", o.output.display()))?;
    log::debug!("drew {}", figure.png.display());
    Ok(Predicted { summary, totals })
}

/// The figure: the calls due per second (left axis) and, at each tick, the instances desired, ready
/// and alive and the calls queued, summed over the functions (right axis).
fn scale_figure(at_tick: &BTreeMap<u64, SummedTick>, due: BTreeMap<u64, f64>) -> plots::FigureData {
    let series = ["desired", "ready", "instances", "queued"]
        .iter()
        .enumerate()
        .map(|(k, name)| plots::Series {
            name: (*name).to_owned(),
            values: at_tick.iter().map(|(&t, v)| (t as f64, v[k])).collect(),
        })
        .collect();
    plots::FigureData::Timeline(plots::Timeline {
        title: "predicted instances and queue (Knative's autoscaler model)".into(),
        calls: plots::Series {
            name: "calls due per second".into(),
            values: due.into_iter().map(|(s, n)| (s as f64 + 0.5, n)).collect(),
        },
        series,
        y_label: "instances, calls queued".into(),
        marks: Default::default(),
    })
}

/// The totals over every function; the peak is the most instances at one tick, summed.
fn overall(
    predictions: &[FunctionPrediction],
    at_tick: &BTreeMap<u64, SummedTick>,
) -> PlatformTotals {
    let sum = |pick: fn(&Totals) -> u64| predictions.iter().map(|p| pick(&p.totals)).sum::<u64>();
    PlatformTotals {
        instances_created: sum(|t| t.instances_created),
        cold_starts: sum(|t| t.cold_starts),
        instance_seconds: predictions.iter().map(|p| p.totals.instance_seconds).sum(),
        peak_instances: at_tick
            .values()
            .map(|sums| sums[2] as u32)
            .max()
            .unwrap_or(0),
    }
}

/// `summary.json`: the totals, overall (`totals`) and per function, and the settings they came from.
fn summary(
    predictions: &[FunctionPrediction],
    totals: &PlatformTotals,
    o: &PredictOptions,
) -> serde_json::Value {
    let s = &o.revision.settings;
    let all = Waits::merged(predictions.iter().map(|p| &p.waits));
    let functions: Vec<serde_json::Value> = predictions
        .iter()
        .map(|p| {
            json!({
                "function": p.name,
                "calls": p.totals.calls,
                "cold_starts": p.totals.cold_starts,
                "instances_created": p.totals.instances_created,
                "instance_seconds": p.totals.instance_seconds,
                "memory_mb_seconds": p.memory_mb_seconds,
                "peak_instances": p.totals.peak_instances,
                "queue_delay_us": {"p50": p.waits.quantile(0.5), "p99": p.waits.quantile(0.99)},
            })
        })
        .collect();
    json!({
        "calls": predictions.iter().map(|p| p.totals.calls).sum::<u64>(),
        "cold_starts": totals.cold_starts,
        "instances_created": totals.instances_created,
        "instance_seconds": totals.instance_seconds,
        "memory_mb_seconds": predictions.iter().map(|p| p.memory_mb_seconds).sum::<f64>(),
        "peak_instances": totals.peak_instances,
        "queue_delay_us": {"p50": all.quantile(0.5), "p99": all.quantile(0.99)},
        "settings": {
            "metric": s.metric.name(),
            "target": s.total_target(),
            "target_utilization_percentage": s.target_utilization_percentage,
            "window_s": s.stable_window_s,
            "panic_window_percentage": s.panic_window_percentage,
            "panic_threshold_percentage": s.panic_threshold_percentage,
            "min_scale": s.min_scale,
            "max_scale": s.max_scale,
            "scale_to_zero_grace_period_s": s.scale_to_zero_grace_s,
            "tick_interval_s": s.tick_s,
            "container_concurrency": o.revision.container_concurrency,
            "cold_start_ms": o.cold_start_ms.points(),
            "duration_scale": o.duration_scale,
        },
        "functions": functions,
    })
}
