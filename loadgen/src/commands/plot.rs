//! `loadgen plot`, and the figures `loadgen run` leaves beside its report: gathering the inputs and
//! handing them to the `plots` crate.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use formats::files::RunFiles;
use mapping::MappingFile;
use plots::{Drawn, Figure, Plan};
use profiles::Catalogue;
use trace::{FunctionId, Trace};

use crate::cli::{PlotArgs, PlotResults};
use crate::plan::load_catalogue;

/// What to draw; every input but the catalogue is optional and adds its figures.
pub struct Inputs<'a> {
    /// The proxies (figures 1–3).
    pub catalogue: &'a Catalogue,
    /// Percentile drawn.
    pub percentile: u8,
    /// The trace (figures 4–6), already cut to the load's window for figure 8.
    pub trace: Option<&'a Trace>,
    /// The mapping (figure 7).
    pub mapping: Option<&'a MappingFile>,
    /// Calls in each period of the load (figure 8, with the trace and mapping).
    pub load_per_period: Option<&'a [u64]>,
    /// The invoker's records (figures 9–12).
    pub records: Option<&'a Path>,
    /// Endpoint → the proxy deployed there: the figures' names for endpoints.
    pub endpoint_names: &'a BTreeMap<String, String>,
    /// The collectors' CSVs, each drawn beside the calls per second (with `records`).
    pub collected: &'a [std::path::PathBuf],
    /// Unix time of the replay's start, seconds: where the collectors' times begin.
    pub start_unix_s: f64,
    /// The run's interference windows and faults, marked on every figure on its time axis.
    pub marks: plots::spec::TimeMarks,
}

/// Draws every figure the inputs allow into `dir`; returns them and the ones skipped, with why.
pub fn draw(dir: &Path, inputs: &Inputs) -> Result<Drawn> {
    let mut plan = Plan::default();
    plots::catalogue_figures(inputs.catalogue, inputs.percentile, &mut plan)?;
    if let Some(trace) = inputs.trace {
        plots::trace_figures(trace, inputs.catalogue, inputs.percentile, &mut plan)?;
    }
    if let Some(mapping) = inputs.mapping {
        plots::mapping_figure(mapping, &mut plan);
        if let (Some(trace), Some(load)) = (inputs.trace, inputs.load_per_period) {
            // The load holds the mapped functions only: compare it with those.
            let mapped: HashSet<FunctionId> = mapping
                .functions
                .iter()
                .map(|e| FunctionId {
                    owner: e.hash_owner.clone(),
                    app: e.hash_app.clone(),
                    function: e.hash_function.clone(),
                })
                .collect();
            let mut window = trace.clone();
            window.retain(|f| mapped.contains(&trace.functions[f].id));
            plots::load_figure(&window, load, &mut plan);
        }
    }
    if let Some(records) = inputs.records {
        plots::results_figures(records, inputs.endpoint_names, &mut plan)
            .with_context(|| format!("reading {}", records.display()))?;
        plots::collected::collected_figures(
            records,
            inputs.start_unix_s,
            inputs.collected,
            &mut plan,
        )
        .with_context(|| format!("reading {}", records.display()))?;
    }
    plan.mark_time_axis(&inputs.marks);
    Ok(plots::draw_plan(dir, plan)?)
}

/// `loadgen plot`.
pub fn plot(args: &PlotArgs) -> Result<Vec<Figure>> {
    if let Some(PlotResults::Results { input, output }) = &args.results {
        let (records, default_dir) = if input.is_dir() {
            let files = RunFiles::in_dir(input);
            (files.records, files.plots)
        } else {
            let parent = input.parent().unwrap_or(Path::new("")).to_owned();
            (input.clone(), parent.join("plots"))
        };
        let dir = output.clone().unwrap_or(default_dir);
        let mut plan = Plan::default();
        let names = endpoint_names_beside(&records);
        plots::results_figures(&records, &names, &mut plan)
            .with_context(|| format!("reading the invoker's records {}", records.display()))?;
        let drawn = plots::draw_plan(&dir, plan)?;
        print!("{}", crate::report::figures_summary(&dir, &drawn));
        return Ok(drawn.figures);
    }
    let catalogue = load_catalogue(&args.profile)?;
    let mapping = args
        .mapping
        .as_deref()
        .map(MappingFile::read)
        .transpose()
        .context("reading the mapping")?;
    let load_per_period = args
        .load
        .as_deref()
        .map(formats::read)
        .transpose()
        .context("reading the load")?
        .map(|l| l.per_period());
    let trace = args
        .trace
        .trace
        .as_deref()
        .map(|dir| {
            let options = args
                .trace
                .read_options(load_per_period.as_ref().map(Vec::len));
            trace::read(dir, &options)
                .with_context(|| format!("reading the trace in {}", dir.display()))
        })
        .transpose()?;
    let drawn = draw(
        &args.png_folder,
        &Inputs {
            catalogue: &catalogue,
            percentile: args.percentile,
            trace: trace.as_ref(),
            mapping: mapping.as_ref(),
            load_per_period: load_per_period.as_deref(),
            records: None,
            endpoint_names: &BTreeMap::new(),
            collected: &[],
            start_unix_s: 0.0,
            marks: Default::default(),
        },
    )?;
    print!(
        "{}",
        crate::report::figures_summary(&args.png_folder, &drawn)
    );
    Ok(drawn.figures)
}

/// The endpoint names of the run whose records are `records`: those of the `summary.json` beside them,
/// if there is one that reads (a records file alone names endpoints by address).
fn endpoint_names_beside(records: &Path) -> BTreeMap<String, String> {
    formats::summary::read(&records.with_file_name(formats::files::SUMMARY))
        .map(|s| s.endpoint_names)
        .unwrap_or_default()
}
