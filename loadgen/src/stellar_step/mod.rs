//! STeLLAR's experiments as ours: `loadgen experiment FILE.json` makes each sub-experiment a step (all of
//! them one step when `"Sequential": false`), so results.csv, report.md, resume, hooks and dry run are
//! the experiment machinery's; each step's `run` replays its sub-experiment(s) at gateways (emulated
//! functions on loopback, or an endpoints file's) and writes STeLLAR's latency CSV beside our records.
//! The reading of STeLLAR's files and the rounds of bursts are the `stellar` crate's.

mod experiment;
mod figure;
pub mod plan;

pub use experiment::{experiment_figure, experiment_plan};
pub use plan::StellarPlan;

use figure::{draw_cdf, figure_markdown, CDF_TITLE};
use plan::aws_region;

use std::path::PathBuf;
use std::time::Duration;

use ::stellar::SubExperiment;
use anyhow::{Context, Result};
use cmdline::Stop;
use formats::files::RunFiles;
use invoker::dispatch::ReplayOptions;

use crate::plan::RunPlan;

/// Runs a STeLLAR step into `files`: its gateways up (emulated functions unless an endpoints file gave
/// them), its sub-experiments replayed, our records and summary, STeLLAR's latency CSVs, a report;
/// returns the summary.
pub fn run(
    plan: &RunPlan,
    step: &StellarPlan,
    stop: &Stop,
    files: &RunFiles,
) -> Result<formats::summary::Summary> {
    let subs: Vec<&SubExperiment> = step
        .subs
        .iter()
        .map(|&i| &step.experiment.sub_experiments[i])
        .collect();
    let mut servers = None;
    let gateways = match &step.gateways {
        Some(given) => given.clone(),
        None => {
            let (fleet, urls) = local_gateways(&subs, &step.experiment.provider)?;
            servers = Some(fleet);
            urls
        }
    };
    let pairs: Vec<(SubExperiment, Vec<String>)> =
        subs.iter().map(|s| (*s).clone()).zip(gateways).collect();
    let rate = emulated::function::spin_rate_per_us();
    let planned = ::stellar::step::step_plan(&pairs, plan.load.seed, rate);
    let planned = if step.scheduled {
        planned.scheduled()
    } else {
        planned
    };
    println!(
        "stellar    {} sub-experiment(s) of {}, {} calls, {} timing",
        subs.len(),
        step.experiment.file.display(),
        planned.schedule.calls.len(),
        if step.scheduled {
            "scheduled (open loop)"
        } else {
            "STeLLAR's closed loop"
        }
    );
    let replayed = planned.replay(replay_options(plan, step, files, stop), &files.dir)?;
    drop(servers);
    let summary = replayed.summary;
    print!("{summary}");
    formats::summary::write(&files.summary, &summary)?;
    let mut per_part: Vec<Vec<f64>> = vec![Vec::new(); subs.len()];
    formats::records::read_records(&files.records, |r, _| {
        // A chain's followers (called by the functions) are no sub-experiment's requests.
        let part = replayed.part_of_call.get(r.index as usize).copied();
        if let (Some(own), formats::records::Outcome::Ok, Some(l)) = (
            part.and_then(|p| per_part.get_mut(p as usize)),
            r.outcome,
            r.latency_us,
        ) {
            own.push(l as f64 / 1e3);
        }
    })?;
    let titles = subs.iter().map(|s| s.title.clone());
    let figure = draw_cdf(&files.plots, CDF_TITLE, titles.zip(per_part).collect());
    let mut report = report(
        step,
        &subs,
        &replayed.latencies,
        &replayed.drift,
        files,
        rate,
    );
    report.push_str(&figure_markdown(&figure, &files.dir));
    formats::output::write_atomic(&files.report, report.as_bytes())
        .with_context(|| format!("writing {}", files.report.display()))?;
    println!("report     {}", files.show(&files.report).display());
    Ok(summary)
}

/// One emulated function per gateway of every sub-experiment: STeLLAR's measurement function (no work
/// but the spin each call asks for), on loopback, called over HTTP/1.1, or for provider `vhive` as
/// STeLLAR's producer-consumer gRPC service.
fn local_gateways(
    subs: &[&SubExperiment],
    provider: &str,
) -> Result<(emulated::LocalServers, Vec<Vec<String>>)> {
    let total: usize = subs.iter().map(|s| s.parallelism as usize).sum();
    let behaviour = emulated::Behaviour {
        cpu_share: 0.0,
        ..emulated::Behaviour::fixed("stellar-gateway", 0.0, 0.0)
    };
    let threads = host::online_cpus().max(1);
    let fleet = emulated::LocalServers::start(vec![behaviour; total], threads, None)
        .context("starting the gateways' emulated functions")?;
    let mut urls = fleet.endpoints().into_iter().map(|e| match provider {
        "vhive" => format!("vhive://{e}"),
        _ => format!("http://{e}/"),
    });
    let per_sub = subs
        .iter()
        .map(|s| urls.by_ref().take(s.parallelism as usize).collect())
        .collect();
    Ok((fleet, per_sub))
}

fn replay_options(
    plan: &RunPlan,
    step: &StellarPlan,
    files: &RunFiles,
    stop: &Stop,
) -> ReplayOptions {
    let timeout = plan.replay.grpc_timeout;
    let mut request = plan.replay.request.clone();
    if step.gateways.is_some() && step.experiment.provider == "aws" {
        // STeLLAR's API Gateway calls: POSTs signed for execute-api.
        request.method = "POST".into();
        request.aws_sigv4 = Some(format!("execute-api:{}", aws_region()));
    }
    ReplayOptions {
        grpc_timeout: timeout,
        connect_timeout: timeout.min(Duration::from_secs(5)),
        connections: plan.replay.connections as usize,
        max_in_flight: plan.replay.max_in_flight,
        realtime: plan.replay.realtime,
        shared_cpu: true,
        records: Some(files.records.clone()),
        latency_file: Some(files.latencies.clone()),
        stop: stop.clone(),
        request,
        // Chains (DataTransferChainLength > 1): the functions call one another, the data through the
        // store when StorageTransfer says (`StellarPlan::store`).
        orchestration: if step.chained() {
            invoker::dispatch::Orchestration::Chained
        } else {
            invoker::dispatch::Orchestration::Client
        },
        store: step.store.clone(),
        ..ReplayOptions::default()
    }
}

/// The step's report: each sub-experiment, its STeLLAR file, its loop's drift, and what was read but
/// does not apply here.
fn report(
    step: &StellarPlan,
    subs: &[&SubExperiment],
    latencies: &[(PathBuf, u64)],
    drift: &[Option<::stellar::step::Drift>],
    files: &RunFiles,
    rate: f64,
) -> String {
    let mut md = format!(
        "# STeLLAR step\n\nExperiment `{}` (provider `{}`), timing: {}.\n\n\
         | sub-experiment | bursts | burst sizes | IAT (s) | IAT type | answered | loop drift max / last (ms) | STeLLAR latencies |\n\
         |---|---:|---|---:|---|---:|---|---|\n",
        step.experiment.file.display(),
        step.experiment.provider,
        if step.scheduled { "scheduled (every burst at its instant, open loop)" } else { "STeLLAR's closed loop" },
    );
    for ((sub, (csv, rows)), drift) in subs.iter().zip(latencies).zip(drift) {
        md.push_str(&format!(
            "| {} | {} | {:?} | {} | {:?} | {rows} | {} | `{}` |\n",
            sub.title,
            sub.bursts,
            sub.burst_sizes,
            sub.iat_seconds,
            sub.iat_type,
            drift.map_or("(open loop)".into(), |d| format!(
                "{:.1} / {:.1}",
                d.max_ms, d.last_ms
            )),
            csv.strip_prefix(&files.dir).unwrap_or(csv).display()
        ));
    }
    md.push_str(&format!(
        "\nService times are sent as STeLLAR's `IncrementLimit`, at {rate:.0} increments/µs (this machine's \
         busy-spin rate). Loop drift: how late each round started against the sum of the sleeps, as the \
         closed loop waits for every answer.\n"
    ));
    if subs.iter().any(|s| {
        s.iat_type == ::stellar::experiment::IatType::Deterministic && s.iat_seconds.fract() != 0.0
    }) {
        md.push_str("\nSTeLLAR truncates a deterministic IAT to whole seconds; this run keeps its fraction.\n");
    }
    if !step.experiment.not_applicable.is_empty() {
        md.push_str(&format!(
            "\nRead but not applicable here (cloud deployment fields): {}.\n",
            step.experiment
                .not_applicable
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    md
}
