//! A STeLLAR file as an experiment: its plan (a step per sub-experiment, or one for all at once), and the
//! latency CDF of all its sub-experiments for the experiment's report.

use std::path::{Path, PathBuf};

use ::stellar::Experiment;
use anyhow::Result;

use super::figure::{draw_cdf, figure_markdown, CDF, CDF_TITLE};
use crate::experiment::plan::{OnFailure, Plan, Setting};

/// The experiment plan of a STeLLAR file: a step per sub-experiment (one step for all when
/// `"Sequential": false`), with the endpoints, timing and store given.
pub fn experiment_plan(
    file: &Path,
    endpoints: Option<&Path>,
    (timing, store): (Option<&str>, Option<&str>),
) -> Result<Plan> {
    let experiment = Experiment::read(file)?;
    let setting = |key: &str, value: String| Setting {
        key: key.to_owned(),
        value,
        line: 1,
    };
    let mut base = vec![setting("stellar", file.display().to_string())];
    if let Some(e) = endpoints {
        base.push(setting("stellar-endpoints", e.display().to_string()));
    }
    base.push(setting(
        "stellar-timing",
        timing.unwrap_or("stellar").to_owned(),
    ));
    if let Some(url) = store {
        base.push(setting("store", url.to_owned()));
    }
    let subs: Vec<String> = if experiment.sequential {
        (0..experiment.sub_experiments.len())
            .map(|i| i.to_string())
            .collect()
    } else {
        vec!["all".to_owned()]
    };
    let mut plan = Plan {
        file: file.to_owned(),
        base,
        swept: vec![(setting("stellar-sub", String::new()), subs)],
        zip: false,
        repeats: 1,
        hooks: Default::default(),
        between_steps: 0.0,
        on_failure: OnFailure::Stop,
        reuse_deployment: false,
        steps: Vec::new(),
    };
    plan.steps = plan.expand(None);
    Ok(plan)
}

/// For a STeLLAR experiment (its steps run with `--stellar`), the latency CDF of all its
/// sub-experiments as a report section, from the steps in `dir`: drawn into `figures/` from each step's
/// records when each step is one sub-experiment, or the one step's own when they ran at once.
pub fn experiment_figure(
    dir: &Path,
    plan: &Plan,
    step_dir: impl Fn(usize) -> PathBuf,
) -> Option<String> {
    let file = plan.base.iter().find(|s| s.key == "stellar")?;
    let experiment = Experiment::read(Path::new(&file.value)).ok()?;
    let mut groups = Vec::new();
    for step in &plan.steps {
        let sub = step
            .params
            .iter()
            .find(|(k, _)| k == "stellar-sub")?
            .1
            .parse::<usize>();
        let step_dir = step_dir(step.index);
        let Ok(sub) = sub else {
            // All at once: the step's figure covers them all.
            let png = step_dir.join("plots").join(format!("{CDF}.png"));
            return png.is_file().then(|| {
                format!(
                    "\n## Latency of each sub-experiment\n\n![Latency CDF]({})\n",
                    png.strip_prefix(dir).unwrap_or(&png).display()
                )
            });
        };
        let mut latencies = Vec::new();
        let read = formats::records::read_records(&step_dir.join("records.csv"), |r, _| {
            if let (formats::records::Outcome::Ok, Some(l)) = (r.outcome, r.latency_us) {
                latencies.push(l as f64 / 1e3);
            }
        });
        if read.is_ok() {
            groups.push((
                experiment.sub_experiments.get(sub)?.title.clone(),
                latencies,
            ));
        }
    }
    let figure = draw_cdf(&dir.join("figures"), CDF_TITLE, groups);
    Some(format!(
        "\n## Latency of each sub-experiment\n{}",
        figure_markdown(&figure, dir)
    ))
}
