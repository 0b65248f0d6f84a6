//! `loadgen predict`: what Knative's autoscaler would make of a run's load, simulated with no call sent
//! (`crate::predict`): `scale.csv` (per function and tick) and `summary.json` (cold starts,
//! instance-seconds, memory-seconds, peak instances, the activator's queueing).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use autoscaler::Revision;
use profiles::{Catalogue, Metric};
use serde_json::json;

use crate::cli::PredictArgs;
use crate::predict::{
    predict as predict_load, FunctionPrediction, FunctionSpec, SummedTick, Waits,
};

/// The header of `scale.csv`.
pub const SCALE_HEADER: &str = "function,time_s,desired,ready,instances,queued";

/// What one prediction runs on and with.
pub struct PredictOptions<'a> {
    /// The directory with the load (load.json, endpoints.json, mapping.json).
    pub run_dir: &'a Path,
    /// Where its files go.
    pub output: &'a Path,
    /// Whether the load's periods are minutes (`None`: as the records show, else minutes).
    pub minute: Option<bool>,
    /// The proxies' catalogue: given (a run's own), or read by name (`None`: mapping.json's).
    pub catalogue: Option<&'a Catalogue>,
    /// The catalogue's name, when it is read.
    pub profile: Option<&'a str>,
    /// The revision every function is.
    pub revision: Revision,
    /// A new instance's cold start, ms.
    pub cold_start_ms: &'a formats::Percentiles,
    /// The seed of the draws.
    pub seed: u64,
    /// Every call's duration multiplied by this (a local run's `--local-scale`).
    pub duration_scale: f64,
}

/// `loadgen predict`: runs the prediction and writes its files; the summary's JSON.
pub fn predict(args: &PredictArgs) -> Result<serde_json::Value> {
    let settings = args
        .knative
        .settings()
        .context("the autoscaler's settings (--knative-*)")?;
    let summary = predict_dir(&PredictOptions {
        run_dir: &args.run_dir,
        output: &args.output,
        minute: args.minute,
        catalogue: None,
        profile: args.profile.as_deref(),
        revision: Revision {
            settings,
            container_concurrency: args.container_concurrency,
        },
        cold_start_ms: &args.cold_start_ms,
        seed: args.seed,
        duration_scale: args.duration_scale,
    })?;
    println!(
        "predict    {} functions, {} calls: {} cold starts, {:.0} instance-seconds, peak {} instances -> {}",
        summary["functions"].as_array().map_or(0, Vec::len),
        summary["calls"],
        summary["cold_starts"],
        summary["instance_seconds"].as_f64().unwrap_or(0.0),
        summary["peak_instances"],
        args.output.display()
    );
    Ok(summary)
}

/// The prediction of the load in `o.run_dir`, its files written into `o.output`; the summary's JSON.
pub fn predict_dir(o: &PredictOptions) -> Result<serde_json::Value> {
    let dir = o.run_dir;
    let load_path = dir.join(formats::files::LOAD);
    let load = formats::read(&load_path)
        .with_context(|| format!("reading the load to predict ({})", load_path.display()))?;
    let minute = minute_periods(dir, o.minute)?;
    let granularity = formats::Granularity::from_minute_flag(minute);
    let period_us = granularity.period_us();
    load.check_offsets(&load_path, period_us).with_context(|| {
        format!(
            "its calls do not fit periods of a {} (is -m {minute} right?)",
            granularity.unit()
        )
    })?;
    let functions = function_specs(dir, &load, (o.catalogue, o.profile), o.duration_scale)?;
    std::fs::create_dir_all(o.output)
        .with_context(|| format!("creating {}", o.output.display()))?;
    // scale.csv is written as each period's ticks are known: tick rows by period, then function.
    let scale_path = o.output.join("scale.csv");
    let mut scale = formats::output::AtomicFile::create(&scale_path)
        .with_context(|| format!("writing {}", scale_path.display()))?;
    let mut written = writeln!(scale, "{SCALE_HEADER}");
    let (predictions, summed) = predict_load(
        &load,
        period_us,
        &functions,
        &o.revision,
        (o.cold_start_ms, o.seed, o.duration_scale),
        |e, t| {
            if written.is_ok() {
                written = writeln!(
                    scale,
                    "{},{},{},{},{},{}",
                    functions[e].name, t.time_s, t.desired, t.ready, t.instances, t.queued
                );
            }
        },
    );
    written
        .and_then(|()| scale.commit())
        .with_context(|| format!("writing {}", scale_path.display()))?;
    let summary = summary(&predictions, &summed, o);
    let path = o.output.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).expect("JSON serialises");
    formats::output::write_atomic(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    let figure = scale_figure(&summed, &load, period_us);
    let figure = plots::render(o.output, "predict_scale", figure)
        .with_context(|| format!("drawing the figure into {}", o.output.display()))?;
    log::debug!("drew {}", figure.png.display());
    Ok(summary)
}

/// On the local fleet's Knative platform, `loadgen predict` over the run's load, with the fleet's
/// settings and scale, into `predict/`: its totals (printed beside those measured, `summary`'s), or why
/// it failed (a run is kept either way). `None` on any other platform.
pub fn beside_run(
    plan: &crate::plan::RunPlan,
    prepared: &crate::pipeline::Prepared,
    fleet: Option<&crate::pipeline::LocalFleet>,
    files: &formats::files::RunFiles,
    summary: &formats::summary::Summary,
) -> Option<std::result::Result<formats::summary::PlatformTotals, String>> {
    let (measured, fleet) = summary.local_platform.zip(fleet)?;
    Some(predict_measured(plan, prepared, fleet, files, measured))
}

fn predict_measured(
    plan: &crate::plan::RunPlan,
    prepared: &crate::pipeline::Prepared,
    fleet: &crate::pipeline::LocalFleet,
    files: &formats::files::RunFiles,
    measured: formats::summary::PlatformTotals,
) -> std::result::Result<formats::summary::PlatformTotals, String> {
    let deploy = &plan.load.settings.deploy;
    let settings = deploy.knative.settings().map_err(|e| e.to_string())?;
    let minute = plan.load.settings.trace.granularity().period_us() == 60_000_000;
    let predicted = predict_dir(&PredictOptions {
        run_dir: &files.dir,
        output: &files.predict,
        minute: Some(minute),
        catalogue: Some(&prepared.catalogue),
        profile: None,
        revision: autoscaler::Revision {
            settings,
            container_concurrency: deploy.container_concurrency,
        },
        cold_start_ms: &deploy.cold_start_ms(),
        seed: prepared.seed,
        duration_scale: fleet.options.scale,
    })
    .map_err(|e| format!("{e:#}"))?;
    let number = |key: &str| summary_number(&predicted, key);
    let totals = formats::summary::PlatformTotals {
        instances_created: number("instances_created") as u64,
        cold_starts: number("cold_starts") as u64,
        instance_seconds: number("instance_seconds"),
        peak_instances: number("peak_instances") as u32,
    };
    println!(
        "platform   measured {} cold starts, {} instances, {:.0} instance-seconds; predicted {}, {}, {:.0} ({})",
        measured.cold_starts,
        measured.instances_created,
        measured.instance_seconds,
        totals.cold_starts,
        totals.instances_created,
        totals.instance_seconds,
        files.show(&files.predict).display()
    );
    Ok(totals)
}

fn summary_number(summary: &serde_json::Value, key: &str) -> f64 {
    summary[key].as_f64().unwrap_or(0.0)
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

/// Each endpoint of `load` as a function: its proxy (endpoints.json) in the catalogue (given, or read:
/// `profile`, or the one mapping.json names), its durations × `duration_scale`. A proxy the catalogue
/// lacks is refused unless every call asks its time.
fn function_specs(
    dir: &Path,
    load: &formats::Load,
    (given, profile): (Option<&Catalogue>, Option<&str>),
    duration_scale: f64,
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
    let read;
    let catalogue = match given {
        Some(catalogue) => catalogue,
        None => {
            read = Catalogue::load(&catalogue_name)
                .with_context(|| format!("reading the catalogue `{catalogue_name}` (-p)"))?;
            &read
        }
    };
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
                    duration_ms: Some(proxy.metric(Metric::Duration).scaled(duration_scale)),
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

/// The figure: the calls due per second (left axis) and, at each tick, the instances desired, ready
/// and alive and the calls queued, summed over the functions (right axis).
fn scale_figure(
    at_tick: &BTreeMap<u64, SummedTick>,
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

/// `summary.json`: the totals, overall and per function, and the settings they came from.
fn summary(
    predictions: &[FunctionPrediction],
    at_tick: &BTreeMap<u64, SummedTick>,
    o: &PredictOptions,
) -> serde_json::Value {
    let s = &o.revision.settings;
    let peak_instances = at_tick
        .values()
        .map(|sums| sums[2] as u64)
        .max()
        .unwrap_or(0);
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
        "cold_starts": predictions.iter().map(|p| p.totals.cold_starts).sum::<u64>(),
        "instances_created": predictions.iter().map(|p| p.totals.instances_created).sum::<u64>(),
        "instance_seconds": predictions.iter().map(|p| p.totals.instance_seconds).sum::<f64>(),
        "memory_mb_seconds": predictions.iter().map(|p| p.memory_mb_seconds).sum::<f64>(),
        "peak_instances": peak_instances,
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
