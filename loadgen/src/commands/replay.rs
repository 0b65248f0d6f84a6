//! Step 5 of a run: the load read back and replayed, from this process or from workers, with what the
//! workers are told. A run never holds the load's calls here: this process's dispatcher reads them
//! ahead of itself (`invoker::lookahead`; a workflow load is read whole), workers read their shards
//! the same way, and the coordinator's merge reads the load again a period at a time.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use cmdline::Stop;
use coordinator::kubernetes::KubernetesOptions;
use coordinator::{InvokerSettings, Launch, Launcher, ReplayHooks};
use deploy::Deployer;
use formats::files::RunFiles;
use invoker::dispatch::{replay, ReplayOptions};
use invoker::lookahead::LoadToReplay;
use invoker::observe::Observer;
use invoker::options::ResumedShares;
use invoker::schedule::{LoadHead, Schedule};
use std::sync::Arc;

use crate::cli::ReplayArgs;
use crate::plan::RunPlan;

/// The load of `files` as step 5 needs it: its head (one pass, a period at a time), and when this
/// process replays it, the load ready to be read ahead of the dispatcher.
pub(crate) fn read_back(
    plan: &RunPlan,
    files: &RunFiles,
) -> Result<(LoadHead, Option<LoadToReplay>)> {
    let load = &plan.load.settings;
    let (period_us, warmup, duration) = (
        load.trace.granularity().period_us(),
        load.warmup_duration as u32,
        load.duration as u32,
    );
    Ok(if plan.launcher.is_some() {
        let head = Schedule::head_of_file(&files.load, period_us, warmup, duration)
            .context("reading the load back")?;
        (head, None)
    } else {
        let load = LoadToReplay::open(&files.load, period_us, warmup, duration)
            .context("reading the load back")?;
        (load.head.clone(), Some(load))
    })
}

/// Step 5: replays the load from this process (`here`), or from the plan's workers (which read their
/// shards; `head` is all this process holds of it); records go to `files`.
pub(crate) fn replay_load(
    plan: &RunPlan,
    (head, here): (&LoadHead, Option<LoadToReplay>),
    files: &RunFiles,
    (observer, resume, hooks): (Option<Arc<Observer>>, Option<ResumedShares>, ReplayHooks),
    run_id: &str,
    stop: &Stop,
) -> Result<formats::summary::Summary> {
    let (launcher, workers) = (plan.launcher, plan.invokers);
    let grpc_timeout = plan.replay.grpc_timeout;
    let dispatcher_cpus = &plan.dispatcher_cpus;
    let dispatcher_cpu = dispatcher_cpus.first().copied().flatten();
    let reserved = dispatcher_cpus.iter().flatten().count();
    Ok(if let Some(launcher) = launcher {
        coordinator::replay(&Launch {
            workers,
            launcher,
            files,
            load: head,
            // Local workers that could not each have a CPU share them: they park, not spin.
            settings: InvokerSettings {
                resume: resume.clone(),
                ..invoker_settings(
                    plan,
                    launcher == Launcher::Local && reserved < workers as usize,
                    &files.endpoints,
                )
            },
            cpus: dispatcher_cpus.clone(),
            start_lead: plan.replay.start_lead,
            advertise: plan.replay.advertise_addr.clone(),
            kubernetes: kubernetes_options(&plan.replay),
            run_id,
            stop: stop.clone(),
            launch_delays: plan.replay.launch_delay.clone(),
            observer,
            token: coordinator::new_token(),
            tls: plan
                .replay
                .coordinator_tls
                .as_ref()
                .map(coordinator::tls::CoordinatorTls::load)
                .transpose()?,
            hooks,
        })
        .context("replaying the load from the workers")?
    } else {
        let load = here.context("the load was not read back for this process to replay")?;
        replay(
            load,
            ReplayOptions {
                grpc_timeout,
                connect_timeout: grpc_timeout.min(Duration::from_secs(5)),
                connections: plan.replay.connections as usize,
                max_in_flight: plan.replay.max_in_flight,
                realtime: plan.replay.realtime,
                dispatcher_cpu,
                records: Some(files.records.clone()),
                latency_file: Some(files.latencies.clone()),
                workflows_file: Some(files.workflows.clone()),
                stop: stop.clone(),
                observer,
                request: request_args(plan, &files.endpoints),
                orchestration: plan.replay.orchestration,
                store: plan.replay.store.clone(),
                spans_file: Some(files.spans.clone()),
                span_sample: plan.replay.span_sample,
                otlp_endpoint: plan.replay.otlp_endpoint.clone(),
                resume: resume.and_then(|r| r.of(0)),
                time_zero: hooks.time_zero,
                ..ReplayOptions::default()
            },
        )
        .context("replaying the load")?
    })
}

/// What each call sends: the request flags, and with `--use-endpoints` the entries' own requests, read
/// from the run's `endpoints` file (the entries of the proxies the load calls).
fn request_args(plan: &RunPlan, endpoints: &Path) -> invoker::request::RequestArgs {
    let mut request = plan.replay.request.clone();
    if plan.deployer == Deployer::Given {
        request.endpoint_requests = Some(endpoints.to_owned());
    }
    request
}

/// What the workers' invokers are told (`endpoints`: the run's endpoints file).
pub(crate) fn invoker_settings(
    plan: &RunPlan,
    shared_cpu: bool,
    endpoints: &Path,
) -> InvokerSettings {
    let load = &plan.load.settings;
    InvokerSettings {
        minute: load.trace.granularity() == trace::Granularity::Minute,
        warmup: load.warmup_duration as u32,
        duration: load.duration as u32,
        grpc_timeout: plan.replay.grpc_timeout,
        connections: plan.replay.connections,
        max_in_flight: plan.replay.max_in_flight,
        realtime: plan.replay.realtime,
        shared_cpu,
        live_interval: plan.observe.followed_every(),
        request: request_args(plan, endpoints),
        compress: plan.replay.compress,
        coordinator_timeout: plan.replay.coordinator_timeout,
        records_chunk: plan.replay.records_chunk,
        resume: None,
        stream_shard: plan.replay.stream_shards,
    }
}

/// How the workers' Job is made.
pub(crate) fn kubernetes_options(replay: &ReplayArgs) -> KubernetesOptions {
    KubernetesOptions {
        kubectl: deploy::kube::Kubectl::default(),
        namespace: replay.namespace.clone(),
        node_selector: replay.node_selector.clone(),
        image: replay.invoker_image.clone(),
        resources: replay.invoker_resources.clone(),
    }
}
