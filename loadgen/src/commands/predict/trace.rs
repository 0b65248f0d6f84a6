//! `loadgen predict` from a trace (or a load shape): the load `generate` would write for the same flags
//! and seed, placed period by period (`crate::generate::Placer`) and fed to the model as it is placed,
//! never written. Memory holds the trace, one period's calls and each function's state.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::{output, PredictOptions, Predicted};
use crate::cli::LoadArgs;
use crate::generate::{GenerateOptions, Placer};
use crate::pipeline::prepare;
use crate::plan::{Input, LoadPlan};
use crate::predict::{FunctionSpec, PeriodCall};
use crate::progress::progress_bar;

/// Predicts the load `args` describe (its mapping.json written beside the prediction); the summary.
pub fn predict_trace(args: &LoadArgs, o: &PredictOptions) -> Result<Predicted> {
    let plan = LoadPlan::check(args, rand::random)?;
    if plan.workflow.is_some() {
        bail!(
            "--workflow: predict a workflow load from the directory `generate` or `run` wrote for it \
             (loadgen predict RUN_DIR)"
        );
    }
    let trace_dir = args
        .trace
        .trace
        .clone()
        .unwrap_or_else(|| PathBuf::from("trace"));
    let input = Input::find(args, &trace_dir)?;
    std::fs::create_dir_all(o.output)
        .with_context(|| format!("creating {}", o.output.display()))?;
    let prepared = prepare(&plan, &input, &o.output.join("mapping.json"))?;
    // One revision per proxy used: the functions mapped onto one proxy share its deployment.
    let used = prepared.proxies_used();
    let endpoints = prepared
        .mapped
        .endpoints(|p| prepared.catalogue.proxies[p].name.clone());
    let functions: Vec<FunctionSpec> = used
        .iter()
        .map(|&p| {
            let proxy = &prepared.catalogue.proxies[p];
            FunctionSpec::of_proxy(&proxy.name, proxy, o.duration_scale)
        })
        .collect();
    let trace = &prepared.trace;
    let period_us = trace.granularity.period_us();
    let mut placer = Placer::new(
        trace,
        GenerateOptions {
            distribution: args.iat_distribution,
            seed: prepared.seed,
            workers: 1,
            whole: false,
            per_call: args.per_call,
            shift: args.shift,
            payload: None,
            workflow: None,
        },
    );
    let progress = progress_bar(trace.periods as u64, trace.granularity.unit());
    let end_us = trace.periods as u64 * period_us;
    let summary = output::predict_periods(o, &functions, end_us, |feed| {
        // Periods are placed on a thread of their own, a period or two ahead of the model: the two
        // overlap, and memory holds at most three periods' calls.
        let (placed, periods) = std::sync::mpsc::sync_channel::<(Vec<PeriodCall>, u64)>(1);
        let of_function = &endpoints.of_function;
        std::thread::scope(|scope| {
            let placing = scope.spawn(move || -> Result<(), trace::TraceError> {
                for p in 0..trace.periods {
                    let start = p as u64 * period_us;
                    let (keys, asks) = placer.place(p)?;
                    let calls = keys
                        .iter()
                        .enumerate()
                        .map(|(n, &key)| {
                            let function = (key & 0xffff_ffff) as usize;
                            let asked = asks.get(n).map(|(_, ask)| ask.duration_us);
                            (of_function[function], start + (key >> 32), asked)
                        })
                        .collect();
                    if placed.send((calls, start + period_us)).is_err() {
                        break;
                    }
                }
                Ok(())
            });
            for (calls, until_us) in periods {
                feed(&calls, until_us);
                progress.inc(1);
            }
            match placing.join() {
                Ok(placed) => placed.context("placing the trace's calls"),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    })?;
    progress.finish_and_clear();
    Ok(summary)
}
