//! `loadgen predict`: what Knative's autoscaler would make of a run's load, simulated with no call sent
//! (`crate::predict`): `scale.csv` (per function and tick) and `summary.json` (cold starts,
//! instance-seconds, memory-seconds, peak instances, the activator's queueing).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use autoscaler::simulate::Revision;
use profiles::{Catalogue, Metric};
use serde_json::json;

use crate::cli::PredictArgs;
use crate::predict::{predict as predict_load, FunctionPrediction, FunctionSpec};

/// The header of `scale.csv`.
pub const SCALE_HEADER: &str = "function,time_s,desired,ready,instances,queued";

/// Runs the prediction and writes its files; the summary's JSON.
pub fn predict(args: &PredictArgs) -> Result<serde_json::Value> {
    let settings = args
        .knative
        .settings()
        .context("the autoscaler's settings (--knative-*)")?;
    let dir = &args.run_dir;
    let load_path = dir.join(formats::files::LOAD);
    let load = formats::read(&load_path)
        .with_context(|| format!("reading the load to predict ({})", load_path.display()))?;
    let minute = minute_periods(dir, args.minute)?;
    let granularity = formats::Granularity::from_minute_flag(minute);
    let period_us = granularity.period_us();
    load.check_offsets(&load_path, period_us).with_context(|| {
        format!(
            "its calls do not fit periods of a {} (is -m {minute} right?)",
            granularity.unit()
        )
    })?;
    let functions = function_specs(dir, &load, args.profile.as_deref())?;
    let revision = Revision {
        settings,
        container_concurrency: args.container_concurrency,
    };
    let predictions = predict_load(
        &load,
        period_us,
        &functions,
        &revision,
        (&args.cold_start_ms, args.seed),
    );
    let summary = summary(&predictions, &revision.settings, args);
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let scale = args.output.join("scale.csv");
    formats::output::write_atomic(&scale, scale_csv(&predictions).as_bytes())
        .with_context(|| format!("writing {}", scale.display()))?;
    let path = args.output.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).expect("JSON serialises");
    formats::output::write_atomic(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    let figure = scale_figure(&predictions, &load, period_us);
    let figure = plots::render(&args.output, "predict_scale", figure)
        .with_context(|| format!("drawing the figure into {}", args.output.display()))?;
    println!(
        "predict    {} functions, {} calls: {} cold starts, {:.0} instance-seconds, peak {} instances -> {}",
        predictions.len(),
        summary["calls"],
        summary["cold_starts"],
        summary["instance_seconds"].as_f64().unwrap_or(0.0),
        summary["peak_instances"],
        args.output.display()
    );
    log::debug!("drew {}", figure.png.display());
    Ok(summary)
}

/// Whether the load in `dir` has minute periods: as `given`, checked against the run's records when it
/// has them (a call of period k ≥ 1 was due at k periods or later); else what they show, or minutes.
fn minute_periods(dir: &Path, given: Option<bool>) -> Result<bool> {
    let records = dir.join(formats::files::RECORDS);
    let mut shown = None;
    if records.exists() {
        let mut first_later = None;
        formats::records::read_records(&records, |r, _| {
            if first_later.is_none() && r.period >= 1 {
                first_later = Some((u64::from(r.period), r.scheduled_us));
            }
        })
        .with_context(|| format!("reading {}", records.display()))?;
        shown = first_later.map(|(period, due_us)| due_us >= period * 60_000_000);
    }
    match (given, shown) {
        (Some(m), Some(s)) if m != s => bail!(
            "-m {m}: {} shows periods of a {} (its calls are due accordingly)",
            records.display(),
            formats::Granularity::from_minute_flag(s).unit()
        ),
        (Some(m), _) | (None, Some(m)) => Ok(m),
        (None, None) => Ok(true),
    }
}

/// Each endpoint of `load` as a function: its proxy (endpoints.json) in the catalogue (`profile`, or
/// the one mapping.json names). A proxy the catalogue lacks is refused unless every call asks its time.
fn function_specs(
    dir: &Path,
    load: &formats::Load,
    profile: Option<&str>,
) -> Result<Vec<FunctionSpec>> {
    let endpoints_path = dir.join(formats::files::ENDPOINTS);
    // `generate` with no deployer writes none: its load names each endpoint by its proxy.
    let deployed = if endpoints_path.exists() {
        formats::endpoints::read(&endpoints_path)
            .with_context(|| format!("reading {}", endpoints_path.display()))?
    } else {
        load.endpoints
            .iter()
            .map(|e| formats::endpoints::EndpointEntry::deployed(e, e.clone(), None))
            .collect()
    };
    let mapping_path = dir.join("mapping.json");
    let mapping = mapping::MappingFile::read(&mapping_path)
        .with_context(|| format!("reading {}", mapping_path.display()))?;
    let catalogue_name = profile.map_or_else(|| mapping.catalogue.clone(), str::to_owned);
    // A load shape's functions are renamed copies of one proxy (mapping.json's `hash_app`).
    let copied_from = |name: &str| {
        (mapping.method == mapping::Method::Copies)
            .then(|| mapping.functions.iter().find(|f| f.proxy == name))
            .flatten()
            .map(|f| f.hash_app.as_str())
    };
    let catalogue = Catalogue::load(&catalogue_name)
        .with_context(|| format!("reading the catalogue `{catalogue_name}` (-p)"))?;
    let mut asks_all: Vec<bool> = vec![true; load.endpoints.len()];
    for period in &load.periods {
        for (i, call) in period.calls.iter().enumerate() {
            if period.asks.get(i).and_then(|a| a.asked()).is_none() {
                asks_all[call.endpoint as usize] = false;
            }
        }
    }
    load.endpoints
        .iter()
        .zip(asks_all)
        .map(|(endpoint, asks)| {
            let proxy_name = deployed
                .iter()
                .find(|d| d.endpoint == *endpoint)
                .map(|d| d.proxy.as_str())
                .with_context(|| {
                    format!(
                        "{}: no entry for the load's endpoint `{endpoint}`",
                        endpoints_path.display()
                    )
                })?;
            let proxy = catalogue
                .get(proxy_name)
                .or_else(|| copied_from(proxy_name).and_then(|from| catalogue.get(from)));
            match proxy {
                Some(proxy) => Ok(FunctionSpec {
                    name: proxy_name.to_owned(),
                    duration_ms: Some(proxy.metric(Metric::Duration).clone()),
                    memory_mb: proxy.at(Metric::Memory, 50).unwrap_or(0.0),
                }),
                None if asks => Ok(FunctionSpec {
                    name: proxy_name.to_owned(),
                    duration_ms: None,
                    memory_mb: 0.0,
                }),
                None => bail!(
                    "{}: proxy `{proxy_name}` (endpoint `{endpoint}`) is not in the catalogue `{catalogue_name}`, \
                     and the load does not ask its calls' durations",
                    endpoints_path.display()
                ),
            }
        })
        .collect()
}

/// `scale.csv`: each function's ticks, functions in the load's order.
fn scale_csv(predictions: &[FunctionPrediction]) -> String {
    let mut text = String::from(SCALE_HEADER);
    text.push('\n');
    for p in predictions {
        for t in &p.ticks {
            let _ = writeln!(
                text,
                "{},{},{},{},{},{}",
                p.name, t.time_s, t.desired, t.ready, t.instances, t.queued
            );
        }
    }
    text
}

/// The figure: the calls due per second (left axis) and, at each tick, the instances desired, ready
/// and alive and the calls queued, summed over the functions (right axis).
fn scale_figure(
    predictions: &[FunctionPrediction],
    load: &formats::Load,
    period_us: u64,
) -> plots::FigureData {
    let mut due: BTreeMap<u64, f64> = BTreeMap::new();
    for (k, period) in load.periods.iter().enumerate() {
        for call in &period.calls {
            *due.entry((k as u64 * period_us + call.offset_us) / 1_000_000)
                .or_default() += 1.0;
        }
    }
    let at_tick = summed_ticks(predictions);
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
    })
}

/// Per tick, the functions' instances desired, ready and alive and calls queued, summed.
fn summed_ticks(predictions: &[FunctionPrediction]) -> BTreeMap<u64, [f64; 4]> {
    let mut at_tick: BTreeMap<u64, [f64; 4]> = BTreeMap::new();
    for p in predictions {
        for t in &p.ticks {
            let sums = at_tick.entry(t.time_s).or_default();
            for (sum, v) in sums
                .iter_mut()
                .zip([t.desired, t.ready, t.instances, t.queued])
            {
                *sum += f64::from(v);
            }
        }
    }
    at_tick
}

/// `summary.json`: the totals, overall and per function, and the settings they came from.
fn summary(
    predictions: &[FunctionPrediction],
    s: &autoscaler::KpaSettings,
    args: &PredictArgs,
) -> serde_json::Value {
    let peak_instances = summed_ticks(predictions)
        .values()
        .map(|sums| sums[2] as u64)
        .max()
        .unwrap_or(0);
    let quantile = formats::nearest_rank::<u64>;
    let mut all: Vec<u64> = predictions
        .iter()
        .flat_map(|p| p.queued_us.iter().copied())
        .collect();
    all.sort_unstable();
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
                "queue_delay_us": {"p50": quantile(&p.queued_us, 0.5), "p99": quantile(&p.queued_us, 0.99)},
            })
        })
        .collect();
    json!({
        "calls": predictions.iter().map(|p| p.totals.calls).sum::<u64>(),
        "cold_starts": predictions.iter().map(|p| p.totals.cold_starts).sum::<u64>(),
        "instances_created": predictions.iter().map(|p| p.totals.instances_created).sum::<u64>(),
        "instance_seconds": predictions.iter().map(|p| p.totals.instance_seconds).sum::<f64>(),
        "memory_mb_seconds": predictions.iter().map(|p| p.memory_mb_seconds).sum::<f64>(),
        "peak_instances": peak_instances,
        "queue_delay_us": {"p50": quantile(&all, 0.5), "p99": quantile(&all, 0.99)},
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
            "container_concurrency": args.container_concurrency,
            "cold_start_ms": args.cold_start_ms.points(),
        },
        "functions": functions,
    })
}
