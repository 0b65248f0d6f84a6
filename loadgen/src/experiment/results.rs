//! What each step gave, and `results.csv`: one row per step and repeat, the swept values as written in
//! `[sweep]`, then the step's figures, then one column per outcome any step saw.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use formats::summary::Summary;

use super::plan::{Plan, Step};

/// One step's result: its summary, or why it failed.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// The step.
    pub step: Step,
    /// Its summary, or its error.
    pub outcome: Result<Summary, String>,
}

impl StepResult {
    /// A step that ran.
    pub fn done(step: &Step, summary: Summary) -> StepResult {
        StepResult {
            step: step.clone(),
            outcome: Ok(summary),
        }
    }

    /// A step that failed, with why.
    pub fn failed(step: &Step, error: String) -> StepResult {
        StepResult {
            step: step.clone(),
            outcome: Err(error),
        }
    }

    /// Sent calls not answered successfully (timeouts, errors, cancelled).
    pub fn errors(summary: &Summary) -> u64 {
        summary.sent.saturating_sub(summary.ok)
    }
}

/// The figures columns, in order, after the swept keys. A failed step's are empty (its error is in its
/// directory's `error.txt` and in the report). `local_scale` is the local fleet's scale the step ran at
/// (empty off the local fleet), `cold_starts` the measured calls the functions said were cold; the
/// `workflow_` ones are a workflow load's instances after warm-up (empty for other loads), so steps that
/// sweep `orchestration` compare side by side.
pub const FIGURES: [&str; 17] = [
    "scheduled",
    "sent",
    "answered",
    "errors",
    "send_lag_p50_us",
    "send_lag_p99_us",
    "send_lag_p999_us",
    "latency_p50_us",
    "latency_p90_us",
    "latency_p99_us",
    "latency_p999_us",
    "achieved_rate",
    "local_scale",
    "cold_starts",
    "workflow_e2e_p50_us",
    "workflow_e2e_p99_us",
    "workflow_overhead_p50_us",
];

/// The figures of `s`, run as `step` says, in [`FIGURES`] order.
fn figures(step: &Step, s: &Summary) -> Vec<String> {
    let us = |v: f64| format!("{v:.3}");
    vec![
        s.scheduled.to_string(),
        s.sent.to_string(),
        s.ok.to_string(),
        StepResult::errors(s).to_string(),
        us(s.send_lag_us.p50),
        us(s.send_lag_us.p99),
        us(s.send_lag_us.p999),
        us(s.latency_us.p50),
        us(s.latency_us.p90),
        us(s.latency_us.p99),
        us(s.latency_us.p999),
        format!("{:.3}", s.achieved_rate),
        local_scale(step).map_or_else(String::new, |f| format!("{f:.4}")),
        s.cold_starts.to_string(),
        s.workflows
            .map_or_else(String::new, |w| us(w.end_to_end_us.p50)),
        s.workflows
            .map_or_else(String::new, |w| us(w.end_to_end_us.p99)),
        s.workflows
            .map_or_else(String::new, |w| us(w.overhead_us.p50)),
    ]
}

/// The local fleet's scale a step was given (`--local-scale`, as the experiment or its file set it).
pub fn local_scale(step: &Step) -> Option<f64> {
    step.args
        .iter()
        .find_map(|a| a.strip_prefix("--local-scale=")?.parse().ok())
}

/// Writes `results.csv` (whole or not at all).
pub fn write_csv(path: &Path, plan: &Plan, results: &[StepResult]) -> Result<()> {
    let outcomes: BTreeSet<&str> = results
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok())
        .flat_map(|s| s.outcomes.keys().map(String::as_str))
        .collect();
    let disturbed = DisturbedColumns::of(results);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = vec!["step".into(), "repeat".into()];
    header.extend(plan.swept.iter().map(|(s, _)| s.key.clone()));
    header.extend(FIGURES.iter().map(|f| f.to_string()));
    header.extend(disturbed.header());
    header.extend(outcomes.iter().map(|o| format!("outcome:{o}")));
    w.write_record(&header)?;
    for r in results {
        let mut row: Vec<String> = vec![r.step.index.to_string(), r.step.repeat.to_string()];
        row.extend(r.step.params.iter().map(|(_, v)| v.clone()));
        match &r.outcome {
            Ok(s) => {
                row.extend(figures(&r.step, s));
                row.extend(disturbed.values(s));
                row.extend(
                    outcomes
                        .iter()
                        .map(|o| s.outcomes.get(*o).copied().unwrap_or(0).to_string()),
                );
            }
            Err(_) => {
                row.extend(FIGURES.iter().map(|_| String::new()));
                row.extend(disturbed.header().iter().map(|_| String::new()));
                row.extend(outcomes.iter().map(|_| String::new()));
            }
        }
        w.write_record(&row)?;
    }
    let bytes = w.into_inner().context("writing results.csv")?;
    formats::output::write_atomic(path, &bytes)
        .with_context(|| format!("writing {}", path.display()))
}

/// The columns of the runs' interference windows and faults (an experiment that sweeps their levels
/// compares them): per entry and phase its latency p50 and p99 from the due time (µs), errors and
/// achieved rate, and per fault its recovery time (empty: not recovered).
struct DisturbedColumns {
    /// (entry, phase), in the order the steps first gave them.
    phases: Vec<(String, String)>,
    /// Faults with a recovery time.
    faults: Vec<String>,
}

/// The figures of each phase, in column order.
const PHASE_FIGURES: [&str; 4] = ["p50_us", "p99_us", "errors", "rate"];

impl DisturbedColumns {
    fn of(results: &[StepResult]) -> DisturbedColumns {
        let mut columns = DisturbedColumns {
            phases: Vec::new(),
            faults: Vec::new(),
        };
        let summaries = results.iter().filter_map(|r| r.outcome.as_ref().ok());
        for d in summaries.filter_map(|s| s.disturbed.as_ref()) {
            for p in &d.phases {
                let key = (p.entry.clone(), p.phase.clone());
                if !columns.phases.contains(&key) {
                    columns.phases.push(key);
                }
            }
            for (fault, _) in &d.recovery_s {
                if !columns.faults.contains(fault) {
                    columns.faults.push(fault.clone());
                }
            }
        }
        columns
    }

    fn header(&self) -> Vec<String> {
        let phases = self
            .phases
            .iter()
            .flat_map(|(entry, phase)| PHASE_FIGURES.map(|f| format!("{entry}.{phase}.{f}")));
        let faults = self.faults.iter().map(|f| format!("{f}.recovery_s"));
        phases.chain(faults).collect()
    }

    fn values(&self, s: &Summary) -> Vec<String> {
        let none = formats::summary::Disturbed::default();
        let d = s.disturbed.as_ref().unwrap_or(&none);
        let text = |v: Option<String>| v.unwrap_or_default();
        let mut out = Vec::new();
        for (entry, phase) in &self.phases {
            let p = d
                .phases
                .iter()
                .find(|p| &p.entry == entry && &p.phase == phase)
                .map(|p| &p.figures);
            out.push(text(p.and_then(|p| p.p50_us).map(|v| v.to_string())));
            out.push(text(p.and_then(|p| p.p99_us).map(|v| v.to_string())));
            out.push(text(p.map(|p| p.errors.to_string())));
            out.push(text(p.and_then(|p| p.rate).map(|r| format!("{r:.3}"))));
        }
        for fault in &self.faults {
            let recovery = d.recovery_s.iter().find(|(f, _)| f == fault);
            out.push(text(
                recovery.and_then(|(_, r)| r.map(|r| format!("{r:.0}"))),
            ));
        }
        out
    }
}
