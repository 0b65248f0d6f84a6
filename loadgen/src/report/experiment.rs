//! An experiment in words and figures: the plan as a table (printed before it runs), and `report.md`
//! with the results of every step and the figures comparing them.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use plots::{FigureData, Histogram, Plan as FigurePlan, Series, XyPlot};

use crate::experiment::conditions::Conditions;
use crate::experiment::plan::{OnFailure, Plan};
use crate::experiment::results::StepResult;

/// The plan, one line per step.
pub fn plan_table(plan: &Plan) -> String {
    let keys: Vec<&str> = plan.swept.iter().map(|(s, _)| s.key.as_str()).collect();
    let mut out = format!(
        "plan       {} step(s) from {} ({}, {} repeat(s){})\n",
        plan.steps.len(),
        plan.file.display(),
        if plan.zip { "zip" } else { "grid" },
        plan.repeats,
        if plan.between_steps > 0.0 {
            format!(", {} s between steps", plan.between_steps)
        } else {
            String::new()
        }
    );
    let widths: Vec<usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            plan.steps
                .iter()
                .map(|s| s.params[i].1.len())
                .chain([k.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let _ = write!(out, "           {:>4} {:>6}", "step", "repeat");
    for (k, w) in keys.iter().zip(&widths) {
        let _ = write!(out, "  {k:<w$}");
    }
    out.push('\n');
    for step in &plan.steps {
        let _ = write!(out, "           {:>4} {:>6}", step.index, step.repeat);
        for ((_, v), w) in step.params.iter().zip(&widths) {
            let _ = write!(out, "  {v:<w$}");
        }
        out.push('\n');
    }
    out
}

/// The swept values of a step, as one label.
fn label(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Draws the comparison figures into `dir/figures`; markdown showing them (or saying why not).
pub fn figures(dir: &Path, plan: &Plan, results: &[StepResult]) -> String {
    let mut figures = FigurePlan::default();
    let done: Vec<(&StepResult, &formats::summary::Summary)> = results
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok().map(|s| (r, s)))
        .collect();
    if done.is_empty() {
        return "No step finished: no figure to draw.\n".into();
    }
    if let Some((first, values)) = plan.swept.first() {
        for (name, pick, title) in [
            (
                "latency_p50",
                (|s: &formats::summary::Summary| s.latency_us.p50) as fn(&_) -> f64,
                "median",
            ),
            ("latency_p99", |s| s.latency_us.p99, "p99"),
        ] {
            figures.figures.push((
                name.into(),
                latency_against(plan, &first.key, values, &done, pick, title),
            ));
        }
    }
    let steps: Vec<String> = results.iter().map(|r| r.step.index.to_string()).collect();
    let per_step = |pick: &dyn Fn(&formats::summary::Summary) -> f64| -> Vec<f64> {
        results
            .iter()
            .map(|r| r.outcome.as_ref().map_or(0.0, pick))
            .collect()
    };
    figures.figures.push((
        "answered_per_step".into(),
        FigureData::Histogram(Histogram {
            title: "Calls answered, per step (after warm-up)".into(),
            x_label: "step".into(),
            y_label: "answered, % of scheduled".into(),
            series: vec![Series {
                name: "answered %".into(),
                values: per_step(&|s| {
                    if s.scheduled > 0 {
                        100.0 * s.ok as f64 / s.scheduled as f64
                    } else {
                        0.0
                    }
                }),
            }],
            bins: steps.clone(),
            log_y: false,
            markers: Vec::new(),
            stacked: false,
        }),
    ));
    figures.figures.push((
        "send_lag_p99_per_step".into(),
        FigureData::Histogram(Histogram {
            title: "Send lag p99, per step".into(),
            x_label: "step".into(),
            y_label: "send lag p99, µs".into(),
            series: vec![Series {
                name: "send lag p99".into(),
                values: per_step(&|s| s.send_lag_us.p99),
            }],
            bins: steps,
            log_y: false,
            markers: Vec::new(),
            stacked: false,
        }),
    ));
    if let Some(figure) = workflows_per_step(results) {
        figures
            .figures
            .push(("workflow_e2e_per_step".into(), figure));
    }
    match plots::draw_plan(&dir.join("figures"), figures) {
        Ok(drawn) => crate::report::figures_markdown(dir, &drawn),
        Err(e) => format!("Figures could not be drawn: {e}\n"),
    }
}

/// Workflow loads: their instances' end to end and overhead per step, so a sweep of `orchestration` (or
/// of anything else) sets them side by side; none when no step ran one.
fn workflows_per_step(results: &[StepResult]) -> Option<FigureData> {
    let ran = |r: &StepResult| r.outcome.as_ref().ok().and_then(|s| s.workflows);
    results.iter().find_map(ran)?;
    let of = |name: &str, pick: fn(&formats::summary::WorkflowFigures) -> f64| Series {
        name: name.to_owned(),
        values: results
            .iter()
            .map(|r| ran(r).map_or(0.0, |w| pick(&w) / 1e3))
            .collect(),
    };
    Some(FigureData::Histogram(Histogram {
        title: "Workflow instances' end to end, per step (after warm-up)".into(),
        x_label: "step".into(),
        y_label: "end to end, ms".into(),
        series: vec![
            of("p50", |w| w.end_to_end_us.p50),
            of("p99", |w| w.end_to_end_us.p99),
            of("overhead p50", |w| w.overhead_us.p50),
        ],
        bins: results.iter().map(|r| r.step.index.to_string()).collect(),
        log_y: false,
        markers: Vec::new(),
        stacked: false,
    }))
}

/// Latency against the first swept key: one series per combination of the other swept keys, each point
/// the mean over repeats, with the range over repeats as an error bar.
fn latency_against(
    plan: &Plan,
    key: &str,
    values: &[String],
    done: &[(&StepResult, &formats::summary::Summary)],
    pick: fn(&formats::summary::Summary) -> f64,
    title: &str,
) -> FigureData {
    let numeric: Option<Vec<f64>> = values.iter().map(|v| v.parse::<f64>().ok()).collect();
    let x_of = |v: &str| -> f64 {
        let i = values.iter().position(|x| x == v).unwrap_or(0);
        numeric.as_ref().map_or(i as f64, |n| n[i])
    };
    // Series: the other swept keys' values.
    let mut groups: Vec<(String, Vec<(&str, f64)>)> = Vec::new();
    for (r, s) in done {
        let others = label(&r.step.params[1..]);
        let x = r.step.params.first().map_or("", |(_, v)| v.as_str());
        match groups.iter_mut().find(|(g, _)| *g == others) {
            Some((_, points)) => points.push((x, pick(s) / 1e3)),
            None => groups.push((others, vec![(x, pick(s) / 1e3)])),
        }
    }
    let mut series = Vec::new();
    let mut error_bars = Vec::new();
    for (name, points) in groups {
        let mut xs: Vec<&str> = points.iter().map(|p| p.0).collect();
        xs.dedup();
        xs.sort_by(|a, b| x_of(a).total_cmp(&x_of(b)));
        xs.dedup();
        let mut line = Vec::new();
        let mut bars = Vec::new();
        for x in xs {
            let ys: Vec<f64> = points.iter().filter(|p| p.0 == x).map(|p| p.1).collect();
            let mean = ys.iter().sum::<f64>() / ys.len() as f64;
            let (lo, hi) = ys
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &y| {
                    (l.min(y), h.max(y))
                });
            line.push((x_of(x), mean));
            bars.push((x_of(x), lo, hi));
        }
        series.push(Series {
            name: if name.is_empty() {
                title.to_owned()
            } else {
                name
            },
            values: line,
        });
        error_bars.push(bars);
    }
    FigureData::Xy(XyPlot {
        title: format!(
            "Latency {title} against {key}{}",
            if plan.repeats > 1 {
                format!(" (mean of {} repeats, range as bars)", plan.repeats)
            } else {
                String::new()
            }
        ),
        x_label: key.to_owned(),
        y_label: format!("latency {title}, ms"),
        series,
        log_x: false,
        log_y: false,
        points: true,
        lines: true,
        x_ticks: if numeric.is_some() {
            Vec::new()
        } else {
            values.to_vec()
        },
        error_bars,
        marks: Default::default(),
    })
}

/// `report.md`: the plan, a results table, the figures, and what failed.
pub fn markdown(
    plan: &Plan,
    conditions: &Conditions,
    results: &[StepResult],
    figures: &str,
    elapsed: Duration,
) -> String {
    let mut out = String::from("# loadgen experiment\n\n");
    let _ = writeln!(
        out,
        "From `{}`: {} step(s) ({} sweep, {} repeat(s) each), {} run in {:.0} s. On failure: {}.\n",
        plan.file.display(),
        plan.steps.len(),
        if plan.zip { "zip" } else { "grid" },
        plan.repeats,
        results.len(),
        elapsed.as_secs_f64(),
        match plan.on_failure {
            OnFailure::Stop => "stop".to_owned(),
            OnFailure::Continue => "continue".to_owned(),
            OnFailure::Retry(n) => format!("retry up to {n} times"),
        }
    );
    if !plan.base.is_empty() {
        let base: Vec<String> = plan
            .base
            .iter()
            .map(|s| format!("`{}={}`", s.key, s.value))
            .collect();
        let _ = writeln!(out, "Every step: {}.\n", base.join(", "));
    }
    // What every step shares, so a comparison of steps compares what was swept and nothing else.
    let _ = writeln!(out, "Conditions: {}.\n", conditions.text());
    for (name, command) in &plan.hooks {
        let _ = writeln!(out, "- hook `{name}`: `{command}`");
    }
    let _ = writeln!(out, "\n## Results\n");
    let keys: Vec<&str> = plan.swept.iter().map(|(s, _)| s.key.as_str()).collect();
    let _ = write!(out, "| step | repeat |");
    for k in &keys {
        let _ = write!(out, " {k} |");
    }
    let _ = writeln!(
        out,
        " answered % | achieved / scheduled per s | send lag p99 µs | latency p50 ms | latency p99 ms | |"
    );
    let _ = writeln!(out, "|{}", "---|".repeat(keys.len() + 8));
    for r in results {
        let _ = write!(
            out,
            "| [{}](steps/{:03}/report.md) | {} |",
            r.step.index, r.step.index, r.step.repeat
        );
        for (_, v) in &r.step.params {
            let _ = write!(out, " {v} |");
        }
        match &r.outcome {
            Ok(s) => {
                let answered = if s.scheduled > 0 {
                    100.0 * s.ok as f64 / s.scheduled as f64
                } else {
                    0.0
                };
                let _ = writeln!(
                    out,
                    " {answered:.1} | {:.1} / {:.1} | {:.1} | {:.2} | {:.2} | {} |",
                    s.achieved_rate,
                    s.scheduled_rate,
                    s.send_lag_us.p99,
                    s.latency_us.p50 / 1e3,
                    s.latency_us.p99 / 1e3,
                    if s.interrupted { "interrupted" } else { "" }
                );
            }
            Err(e) => {
                let _ = writeln!(out, " | | | | | failed: {} |", e.replace('|', "/"));
            }
        }
    }
    if results.len() < plan.steps.len() {
        let _ = writeln!(
            out,
            "\n{} step(s) of the plan did not run (stopped).",
            plan.steps.len() - results.len()
        );
    }
    let _ = writeln!(
        out,
        "\nAll figures of every step: `results.csv`.\n\n## Figures\n"
    );
    out.push_str(figures);
    out
}
