//! `loadgen predict`: what Knative's autoscaler would make of a load, simulated with no call sent
//! (`crate::predict`), from a run directory's load or from a trace streamed period by period (`trace`);
//! `output` writes `scale.csv` (per function and tick), `summary.json` (cold starts, instance-seconds,
//! memory-seconds, peak instances, the activator's queueing) and the figure.

mod output;
mod trace;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use autoscaler::Revision;
use profiles::Catalogue;

use crate::cli::PredictArgs;
use crate::predict::{FunctionSpec, PeriodCall};
use formats::summary::{PlatformTotals, Summary};

pub use output::{Predicted, SCALE_HEADER};

/// What every prediction runs with.
pub struct PredictOptions<'a> {
    /// Where its files go.
    pub output: &'a Path,
    /// The revision every function is.
    pub revision: Revision,
    /// A new instance's cold start, ms.
    pub cold_start_ms: &'a formats::Percentiles,
    /// The seed of the draws of durations and cold starts.
    pub seed: u64,
    /// Every call's duration multiplied by this (a local run's `--local-scale`).
    pub duration_scale: f64,
}

/// A run directory's load, as `predict_dir` reads it.
pub struct RunDir<'a> {
    /// The directory with the load (load.json, endpoints.json, mapping.json).
    pub dir: &'a Path,
    /// Whether the load's periods are minutes (`None`: as the records show, else minutes).
    pub minute: Option<bool>,
    /// The proxies' catalogue: given (a run's own), or read by name (`None`: mapping.json's).
    pub catalogue: Option<&'a Catalogue>,
    /// The catalogue's name, when it is read.
    pub profile: Option<&'a str>,
}

/// `loadgen predict`: runs the prediction and writes its files; the summary's JSON.
pub fn predict(args: &PredictArgs) -> Result<serde_json::Value> {
    let deploy = &args.load.deploy;
    let settings = deploy
        .knative
        .settings()
        .context("the autoscaler's settings (--knative-*)")?;
    settings
        .check()
        .context("the autoscaler's settings (--knative-*)")?;
    let cold_start_ms = deploy.cold_start_ms();
    let options = PredictOptions {
        output: &args.output,
        revision: Revision {
            settings,
            container_concurrency: deploy.container_concurrency,
        },
        cold_start_ms: &cold_start_ms,
        seed: args.load.seed.unwrap_or(DEFAULT_SEED),
        duration_scale: args.duration_scale,
    };
    let Predicted { summary, totals } = match &args.run_dir {
        Some(dir) => {
            let run = RunDir {
                dir,
                minute: args.given.minute.then_some(args.load.trace.minute),
                catalogue: None,
                profile: args.given.profile.then_some(args.load.profile.as_str()),
            };
            predict_dir(&run, &options)?
        }
        None => trace::predict_trace(&args.load, &options)?,
    };
    println!(
        "predict    {} functions, {} calls: {} cold starts, {:.0} instance-seconds, peak {} instances -> {}",
        summary["functions"].as_array().map_or(0, Vec::len),
        summary["calls"],
        totals.cold_starts,
        totals.instance_seconds,
        totals.peak_instances,
        args.output.display()
    );
    Ok(summary)
}

/// The seed of the draws when none is given.
pub const DEFAULT_SEED: u64 = 42;

/// The prediction of the load in `run.dir`, its files written into `o.output`.
pub fn predict_dir(run: &RunDir, o: &PredictOptions) -> Result<Predicted> {
    let dir = run.dir;
    let load_path = formats::files::RunFiles::in_dir(dir).load;
    let load = formats::read(&load_path)
        .with_context(|| format!("reading the load to predict ({})", load_path.display()))?;
    let minute = minute_periods(dir, run.minute)?;
    let granularity = formats::Granularity::from_minute_flag(minute);
    let period_us = granularity.period_us();
    load.check_offsets(&load_path, period_us).with_context(|| {
        format!(
            "its calls do not fit periods of a {} (is -m {minute} right?)",
            granularity.unit()
        )
    })?;
    let functions = function_specs(dir, &load, (run.catalogue, run.profile), o.duration_scale)?;
    let end_us = load.periods.len() as u64 * period_us;
    output::predict_periods(o, &functions, end_us, |feed| {
        let mut calls: Vec<PeriodCall> = Vec::new();
        for (k, period) in load.periods.iter().enumerate() {
            let start = k as u64 * period_us;
            calls.clear();
            calls.extend(period.calls.iter().enumerate().map(|(i, call)| {
                let asked = period
                    .asks
                    .get(i)
                    .and_then(|a| a.asked())
                    .map(|a| a.duration_us);
                (call.endpoint, start + call.offset_us, asked)
            }));
            // In order of arrival (the load keeps them so; a hand-made one may not).
            calls.sort_by_key(|&(_, at, _)| at);
            feed(&calls, start + period_us);
        }
        Ok(())
    })
}

/// What a run measured of its platform beside what `loadgen predict` makes of its load.
#[derive(Debug, Clone)]
pub struct Beside {
    /// What the platform did.
    pub measured: PlatformTotals,
    /// Where `measured` comes from, in words.
    pub source: &'static str,
    /// The prediction's totals, or why there are none.
    pub predicted: std::result::Result<PlatformTotals, String>,
}

/// Where the local fleet's figures come from.
const FROM_FLEET: &str =
    "the local fleet scaled like Knative (`--local-platform knative`): its own count";

/// Where a cluster's figures come from.
const FROM_CLUSTER: &str = "the cluster: instances created and cold starts as the functions reported them \
    (distinct instances; cold calls after warm-up), instance-seconds and the peak from the Kubernetes \
    collector's pods (ready and pending, per sample)";

/// `loadgen predict` over a run's load, with the run's knobs (and the local fleet's scale) into
/// `predict/`, beside what the platform measured: the local fleet's Knative platform (its own count,
/// `summary.local_platform`) or a Knative cluster (its `kubernetes-scale.csv` and the functions'
/// reports). `None` where nothing was measured (the simple platform; a cluster run with no collector).
pub fn beside_run(
    plan: &crate::plan::RunPlan,
    prepared: &crate::pipeline::Prepared,
    fleet: Option<&crate::pipeline::LocalFleet>,
    files: &formats::files::RunFiles,
    (summary, collected): (&Summary, &[crate::collect::Collected]),
) -> Option<Beside> {
    let (measured, source, scale) = match (summary.local_platform, fleet) {
        (Some(measured), Some(fleet)) => (measured, FROM_FLEET, fleet.options.scale),
        _ => {
            let scale_csv = collected
                .iter()
                .find(|c| c.name == "kubernetes-scale")?
                .file
                .as_ref()?;
            (cluster_totals(scale_csv, summary).ok()?, FROM_CLUSTER, 1.0)
        }
    };
    let predicted = predict_run(plan, prepared, files, scale);
    if let Ok(p) = &predicted {
        println!(
            "platform   measured {} cold starts, {} instances, {:.0} instance-seconds; predicted {}, {}, {:.0} ({})",
            measured.cold_starts,
            measured.instances_created,
            measured.instance_seconds,
            p.cold_starts,
            p.instances_created,
            p.instance_seconds,
            files.show(&files.predict).display()
        );
    }
    Some(Beside {
        measured,
        source,
        predicted,
    })
}

/// A cluster run's platform figures: instances and cold starts as its functions reported them, and from
/// `scale_csv` (`kubernetes-scale.csv`) the pods ready or pending of its services (not Knative's own)
/// summed per sample: their integral over the samples (instance-seconds) and their most (peak).
pub fn cluster_totals(scale_csv: &Path, summary: &Summary) -> Result<PlatformTotals> {
    let mut reader = csv::Reader::from_path(scale_csv)
        .with_context(|| format!("reading {}", scale_csv.display()))?;
    let mut pods_at: BTreeMap<u64, (f64, u64)> = BTreeMap::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{}: line {}", scale_csv.display(), i + 2))?;
        let field = |k: usize| -> Result<&str> {
            row.get(k).with_context(|| {
                format!("{}: line {}: field {}", scale_csv.display(), i + 2, k + 1)
            })
        };
        if field(1)?.starts_with("knative-serving/") {
            continue;
        }
        let time: f64 = field(0)?
            .parse()
            .with_context(|| format!("{}: line {}: time", scale_csv.display(), i + 2))?;
        let count = |k: usize| -> Result<u64> {
            field(k)?.parse().with_context(|| {
                format!("{}: line {}: field {}", scale_csv.display(), i + 2, k + 1)
            })
        };
        let pods = count(3)? + count(4)?;
        let at = pods_at.entry((time * 1e6) as u64).or_insert((time, 0));
        at.1 += pods;
    }
    let samples: Vec<(f64, u64)> = pods_at.into_values().collect();
    let instance_seconds = samples
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * w[0].1 as f64)
        .sum();
    Ok(PlatformTotals {
        instances_created: summary.instances_by_endpoint.values().sum(),
        cold_starts: summary.cold_starts,
        instance_seconds,
        peak_instances: samples.iter().map(|s| s.1).max().unwrap_or(0) as u32,
    })
}

/// The prediction of a run's load into its `predict/`, durations × `duration_scale`.
fn predict_run(
    plan: &crate::plan::RunPlan,
    prepared: &crate::pipeline::Prepared,
    files: &formats::files::RunFiles,
    duration_scale: f64,
) -> std::result::Result<PlatformTotals, String> {
    let deploy = &plan.load.settings.deploy;
    let settings = deploy.knative.settings().map_err(|e| e.to_string())?;
    let minute = plan.load.settings.trace.granularity().period_us() == 60_000_000;
    let run = RunDir {
        dir: &files.dir,
        minute: Some(minute),
        catalogue: Some(&prepared.catalogue),
        profile: None,
    };
    let options = PredictOptions {
        output: &files.predict,
        revision: autoscaler::Revision {
            settings,
            container_concurrency: deploy.container_concurrency,
        },
        cold_start_ms: &deploy.cold_start_ms(),
        seed: prepared.seed,
        duration_scale,
    };
    let predicted = predict_dir(&run, &options).map_err(|e| format!("{e:#}"))?;
    Ok(predicted.totals)
}

/// Whether the load in `dir` has minute periods: as `given`, checked against the run's records when it
/// has them (a call of period k ≥ 1 was due at k periods or later); else what they show, or minutes.
fn minute_periods(dir: &Path, given: Option<bool>) -> Result<bool> {
    let records = formats::files::RunFiles::in_dir(dir).records;
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
                Some(proxy) => Ok(FunctionSpec::of_proxy(proxy_name, proxy, duration_scale)),
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
