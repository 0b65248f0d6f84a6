//! `loadgen run`: the whole job in one directory — trace (synthetic unless given), mapping, deployment,
//! load, replay with the invoker, figures, and a report a person can read.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use cmdline::Stop;
use formats::output::write_atomic;
use formats::summary::Summary;
use invoker::schedule::LoadHead;
use trace::Layout;

use crate::cli::{RunArgs, Scale};
use crate::collect::Collected;
use crate::commands::plot::{draw, Inputs};
use crate::commands::predict;
use crate::commands::replay::{read_back, replay_load};
use crate::commands::watch::{Cluster, Watch};
use crate::output::{Staged, MARKER};
use crate::pipeline::{
    deploy_proxies, local_fleet, prepare, write_load, Deployment, Generated, LocalFleet, Prepared,
};
use crate::plan::{Input, RunPlan, Source};
use crate::report::run::RunReport;
use crate::resume::{Resume, RunRecord};
use coordinator::{self, Launcher};
use deploy::knative;
use deploy::Deployer;
use emulated::LocalServers;
use formats::files::RunFiles;
use trace::synth::{synthesize, SynthOptions, SynthStats};

/// What a run did.
#[derive(Debug)]
pub struct RunOutcome {
    /// Its files.
    pub files: RunFiles,
    /// The generation summary (none for a STeLLAR step, which writes no load).
    pub generated: Option<Generated>,
    /// The replay summary.
    pub summary: Summary,
}

/// What makes two deployments the same: the deployer, the proxies, and how they are deployed.
#[derive(Debug, Clone, PartialEq)]
struct DeploymentKey {
    deployer: Deployer,
    proxies: Vec<String>,
    knative_annotations: Vec<(String, String)>,
    local: Option<deploy::local::LocalOptions>,
    config_proxy: PathBuf,
    build: PathBuf,
}

/// A deployment kept after a run for the next one (an experiment's steps): the next run that needs the
/// same proxies, deployed the same way, reuses it instead of deploying again.
#[derive(Default)]
pub struct KeptDeployment {
    kept: Option<(DeploymentKey, Deployment)>,
}

impl KeptDeployment {
    /// The kept deployment, if it is the one `key` describes; otherwise the kept one is released.
    fn take(&mut self, key: &DeploymentKey) -> Result<Option<Deployment>> {
        match self.kept.take() {
            Some((k, d)) if k == *key => Ok(Some(d)),
            other => {
                self.kept = other;
                self.release()?;
                Ok(None)
            }
        }
    }

    /// Whether a deployment is kept.
    pub fn is_kept(&self) -> bool {
        self.kept.is_some()
    }

    /// Removes what is kept: local servers stop, Knative services this tool made are deleted.
    pub fn release(&mut self) -> Result<()> {
        if let Some((_, mut deployment)) = self.kept.take() {
            if let Some(mut servers) = deployment.servers.take() {
                servers.stop();
            }
            let services: Vec<String> = deployment
                .deployed
                .iter()
                .filter_map(|d| d.service.clone())
                .collect();
            if !services.is_empty() {
                knative::delete(&deploy::kube::Kubectl::default(), &services)
                    .context("deleting the Knative services of the kept deployment")?;
            }
        }
        Ok(())
    }
}

/// Runs the whole pipeline; prints progress lines and the report's path. Everything deployed is removed
/// at the end. The run is written into a staging directory beside `-o` and put in its place only when it
/// completes (interrupted included): a run that fails leaves the earlier run there byte for byte, and
/// what it recorded, if its replay had begun, in a sibling directory its error names.
///
/// With `--resume DIR`, the cut run in DIR is continued (see [`crate::resume`]) and put in DIR's place
/// the same way: a resume that fails leaves DIR as it was.
pub fn run(args: &RunArgs, stop: &Stop) -> Result<RunOutcome> {
    if args.load.deploy.dry_run {
        bail!("{}", crate::plan::dry_run_refusal(args));
    }
    if let Some(dir) = &args.resume {
        let (args, record) = crate::resume::resumed_args(args, dir)?;
        let plan = RunPlan::check(&args)?;
        let resume = Resume::find(&plan, dir, record)?;
        println!(
            "resume     {}: {} calls to send, from period {} ({:.3} s into the load)",
            dir.display(),
            resume.calls,
            resume.from_period,
            resume.from_us as f64 / 1e6
        );
        return run_staged(&args, &plan, Some(&resume), stop);
    }
    let plan = RunPlan::check(args)?;
    run_staged(args, &plan, None, stop)
}

/// [`run`] of a checked plan (continuing `resume`, if given) into a staging directory beside `-o`,
/// put in its place when it completes.
fn run_staged(
    args: &RunArgs,
    plan: &RunPlan,
    resume: Option<&Resume>,
    stop: &Stop,
) -> Result<RunOutcome> {
    let run_id = deploy::kube::new_run_id();
    let workers = plan.invokers;
    let owned = RunFiles::for_workers(&args.output_dir, workers).owned_names();
    // A resume writes into the cut run's directory: the one case a run replaces files it did not write.
    let force = args.force || resume.is_some();
    let staged = Staged::begin(&args.output_dir, MARKER, &owned, force, &run_id)?;
    let files =
        RunFiles::staged(&staged.work, &args.output_dir, workers).compressed(plan.replay.compress);
    let mut kept = KeptDeployment::default();
    let outcome = run_stages(plan, stop, &mut kept, files, (&run_id, resume));
    let released = kept.release();
    match outcome {
        Ok(outcome) => {
            staged.commit()?;
            released?;
            Ok(RunOutcome {
                files: RunFiles::for_workers(&args.output_dir, workers),
                ..outcome
            })
        }
        Err(e) if RunFiles::in_dir(&staged.work).hold_measurements() => {
            let failed = staged.keep_failed()?;
            Err(e.context(format!(
                "the run failed; {} is as it was, and what this run recorded is kept in {}",
                args.output_dir.display(),
                failed.display()
            )))
        }
        Err(e) => Err(e),
    }
}

/// The local fleet `plan` would deploy for `prepared`: placed off the dispatchers' CPUs, its scale
/// resolved (`auto` by default). None on another deployer; an error when its instances' memory cannot
/// fit the budget at the scale asked for.
pub(crate) fn fleet_of(plan: &RunPlan, prepared: &Prepared) -> Result<Option<LocalFleet>> {
    if plan.deployer != Deployer::Local {
        return Ok(None);
    }
    let reserved: Vec<usize> = plan.dispatcher_cpus.iter().flatten().copied().collect();
    // Dispatchers on this machine without a CPU of their own (pods run elsewhere).
    let unpinned = match plan.launcher {
        Some(Launcher::Kubernetes) => 0,
        _ => plan.dispatcher_cpus.iter().filter(|c| c.is_none()).count(),
    };
    local_fleet(&plan.load, prepared, &reserved, unpinned, Scale::Auto).map(Some)
}

/// [`run`], writing into `files` (a new, empty directory), reusing the deployment `kept` holds if it fits,
/// and keeping this run's deployment there afterwards (the caller releases it). `run_id` labels what it
/// makes in a cluster.
pub fn run_keeping(
    plan: &RunPlan,
    stop: &Stop,
    kept: &mut KeptDeployment,
    files: RunFiles,
    run_id: &str,
) -> Result<RunOutcome> {
    run_stages(plan, stop, kept, files, (run_id, None))
}

/// [`run_keeping`], continuing `resume` when given: the local servers listen where the cut run's did,
/// the load made must be the cut run's, only the calls it did not send are sent, and the records are
/// the two sessions' together.
fn run_stages(
    plan: &RunPlan,
    stop: &Stop,
    kept: &mut KeptDeployment,
    files: RunFiles,
    (run_id, resume): (&str, Option<&Resume>),
) -> Result<RunOutcome> {
    if let Some(step) = &plan.stellar {
        kept.release()?;
        return stellar_run(plan, step, stop, files);
    }
    let (kind, launcher) = (plan.deployer, plan.launcher);
    if launcher == Some(Launcher::Kubernetes) && kind == Deployer::Local {
        log::warn!(
            "--deployer local serves on this machine's loopback: the workers' pods reach it only if they \
             share this machine's network (hostNetwork on this node)"
        );
    }
    // Every flag is checked; only now is anything written (into the staging directory).

    // 1-2. The trace, and its mapping.
    let (trace_dir, prepared) = trace_and_mapping(plan, &files)?;

    stopped_before_replay(stop, "reading and mapping the trace")?;

    // 3. Deploy: a local fleet is sized and placed so each dispatcher keeps a CPU to itself.
    let dispatcher_cpus = &plan.dispatcher_cpus;
    let dispatcher_cpu = dispatcher_cpus.first().copied().flatten();
    let mut fleet = fleet_of(plan, &prepared)?;
    if let (Some(fleet), Some(resume)) = (fleet.as_mut(), resume) {
        fleet.options.bind = Some(resume.addresses(&prepared.proxies())?);
    }
    let deployment = deploy_or_reuse(plan, &prepared, fleet.as_ref(), kept, run_id, stop)?;
    stopped_before_replay(stop, "deploying")?;

    // 4. The load.
    let generated = write_load(
        &prepared,
        &plan.load,
        deployment,
        &files.load,
        Some(&files.endpoints),
        true,
    )?;
    print!("{}", files.show_in(&generated.to_string()));
    if let Some(resume) = resume {
        resume.check_same_load(&files.load)?;
    }
    stopped_before_replay(stop, "writing the load")?;

    // 5. Replay.
    let (head, here) = read_back(plan, &files)?;
    print_replay(plan, &head);
    let started_at = SystemTime::now();
    let cluster = (kind == Deployer::Knative).then(|| cluster_of(deployment));
    let names = endpoint_names(&deployment.deployed);
    let fleet_metrics = deployment.servers.as_ref().map(|s| s.metrics());
    let watch = Watch::start(
        &plan.observe,
        &head,
        &names,
        fleet_metrics.clone(),
        cluster,
        &files.dir,
        dispatcher_cpu,
    )?;
    let observer = watch.observer();
    let killer = deployment.servers.as_ref().map(LocalServers::killer);
    let (mut summary, disturbed) =
        crate::disturb::during(plan, &files, killer, (run_id, stop), |hooks| {
            replay_session(
                plan,
                (&head, here),
                &files,
                (observer, hooks),
                (run_id, resume),
                stop,
            )
        })?;
    summary.endpoint_names = names;
    summary.disturbed = disturbed.as_ref().map(|(_, around)| around.clone());
    summary.local_platform = fleet_metrics.and_then(|m| m.scaled_totals());
    let collected = watch.finish();
    print_collected(&collected, &files);
    print!("{summary}");
    formats::summary::write(&files.summary, &summary)?;
    // What the offline model makes of the same load, beside what the platform did.
    let prediction = predict::beside_run(
        plan,
        &prepared,
        fleet.as_ref(),
        &files,
        (&summary, &collected),
    );

    // 6. Figures: a run is worth keeping even if one cannot be drawn, so a failure is reported, not fatal.
    let figures = figures(plan, &prepared, &generated, &files, &summary, &collected);

    // 7. Report.
    write_report(&RunReport {
        plan,
        trace_dir: &files.show(&trace_dir),
        scale_note: fleet.as_ref().map(|f| f.note.as_str()),
        generated: &generated,
        summary: &summary,
        files: &files,
        started_at,
        figures: &figures,
        run_id,
        collected: &collected,
        prediction: prediction.as_ref(),
        disturbed: disturbed.as_ref(),
    })?;
    Ok(RunOutcome {
        files,
        generated: Some(generated),
        summary,
    })
}

/// Step 5's first line: what is replayed, and from where.
fn print_replay(plan: &RunPlan, head: &LoadHead) {
    let (launcher, workers, cpus) = (plan.launcher, plan.invokers, &plan.dispatcher_cpus);
    println!(
        "replay     {} calls to {} endpoints over {} {}s{}",
        head.calls,
        head.schedule.endpoints.len(),
        head.schedule.periods,
        plan.load.settings.trace.granularity().unit(),
        match (launcher, &cpus[..]) {
            (Some(_), cpus) if cpus.iter().any(Option::is_some) => format!(
                ", {workers} workers, dispatchers on CPUs {:?}",
                cpus.iter().flatten().collect::<Vec<_>>()
            ),
            (Some(_), _) => format!(", {workers} workers"),
            (None, _) => cpus
                .first()
                .copied()
                .flatten()
                .map(|c| format!(", dispatcher on CPU {c}"))
                .unwrap_or_default(),
        }
    );
}

/// Step 5's replay session: run.json written (a run cut from then on can be resumed), the load
/// replayed, and a resumed run's records made one with the cut run's.
fn replay_session(
    plan: &RunPlan,
    (head, here): (&LoadHead, Option<invoker::lookahead::LoadToReplay>),
    files: &RunFiles,
    (observer, hooks): (
        Option<std::sync::Arc<invoker::observe::Observer>>,
        coordinator::ReplayHooks,
    ),
    (run_id, resume): (&str, Option<&Resume>),
    stop: &Stop,
) -> Result<Summary> {
    RunRecord::new(
        plan,
        resume.map(Resume::earlier_sessions).unwrap_or_default(),
        run_id,
        resume.map_or(0, |r| r.from_us),
    )
    .write(&files.plan)?;
    let resumed = resume.map(Resume::invoker_settings);
    let summary = replay_load(
        plan,
        (head, here),
        files,
        (observer, resumed, hooks),
        run_id,
        stop,
    )?;
    match resume {
        Some(resume) => resume.combine(files, head, plan.invokers, summary),
        None => Ok(summary),
    }
}

/// The cluster a Knative deployment's services run in, for the Kubernetes collector.
fn cluster_of(deployment: &Deployment) -> Cluster {
    Cluster {
        kubectl: deploy::kube::Kubectl::default(),
        services: deployment
            .deployed
            .iter()
            .filter_map(|d| d.service.clone())
            .collect(),
    }
}

/// Step 7: `report.md`.
fn write_report(r: &RunReport) -> Result<()> {
    let report = crate::report::run::markdown(r);
    write_atomic(&r.files.report, report.as_bytes())
        .with_context(|| format!("writing {}", r.files.report.display()))?;
    println!("report     {}", r.files.show(&r.files.report).display());
    Ok(())
}

/// A STeLLAR step's run: its sub-experiments replace the trace, the load and the deployment.
fn stellar_run(
    plan: &RunPlan,
    step: &crate::stellar_step::plan::StellarPlan,
    stop: &Stop,
    files: RunFiles,
) -> Result<RunOutcome> {
    let summary = crate::stellar_step::run(plan, step, stop, &files)?;
    Ok(RunOutcome {
        files,
        generated: None,
        summary,
    })
}

/// Step 3: the deployment `kept` holds when it is the same (same proxies, deployed the same way), else a
/// new one; kept from then on, so that whatever happens next, the caller's release removes it.
fn deploy_or_reuse<'k>(
    plan: &RunPlan,
    prepared: &Prepared,
    fleet: Option<&LocalFleet>,
    kept: &'k mut KeptDeployment,
    run_id: &str,
    stop: &Stop,
) -> Result<&'k Deployment> {
    let load = &plan.load.settings;
    let kind = plan.deployer;
    let key = DeploymentKey {
        deployer: kind,
        proxies: prepared.proxies().iter().map(|p| p.name.clone()).collect(),
        knative_annotations: load.deploy.knative_annotations(),
        local: fleet.map(|f| f.options.clone()),
        config_proxy: load.config_proxy.clone(),
        build: load.build.clone(),
    };
    let deployment = match kept.take(&key)? {
        Some(deployment) => {
            println!(
                "deployment reused from the previous step: the same proxies, deployed the same way"
            );
            deployment
        }
        None => deploy_proxies(prepared, &plan.load, kind, fleet, run_id, stop)?,
    };
    // Kept from now on, so that whatever happens next, the caller's release removes it.
    Ok(&kept.kept.insert((key, deployment)).1)
}

/// Says what each collector gathered, or why it failed (the run goes on without it).
fn print_collected(collected: &[Collected], files: &RunFiles) {
    for c in collected {
        match &c.error {
            None => println!(
                "collected  {}: {} rows in {}",
                c.name,
                c.rows,
                c.file
                    .as_ref()
                    .map_or_else(String::new, |f| files.show(f).display().to_string())
            ),
            Some(e) => log::warn!("collector {} failed (the run goes on): {e}", c.name),
        }
    }
}

/// Step 6: the run's figures, drawn into `files.plots`, as the report's markdown; a failure to draw is
/// said there, not fatal.
fn figures(
    plan: &RunPlan,
    prepared: &Prepared,
    generated: &Generated,
    files: &RunFiles,
    summary: &formats::summary::Summary,
    collected: &[Collected],
) -> String {
    let load = &plan.load.settings;
    let drawn = draw(
        &files.plots,
        &Inputs {
            catalogue: &prepared.catalogue,
            percentile: load.percentile,
            trace: Some(&prepared.trace),
            mapping: Some(&prepared.mapped.file),
            load_per_period: Some(&generated.stats.per_period),
            records: Some(&files.records),
            endpoint_names: &summary.endpoint_names,
            collected: &collected
                .iter()
                .filter(|c| c.rows > 0)
                .filter_map(|c| c.file.clone())
                .collect::<Vec<_>>(),
            start_unix_s: summary.start_unix_us as f64 / 1e6,
            marks: crate::disturb::time_marks(&plan.disturb),
        },
    );
    match drawn {
        Ok(drawn) => {
            println!(
                "figures    {} in {}",
                drawn.figures.len(),
                files.show(&files.plots).display()
            );
            crate::report::figures_markdown(&files.dir, &drawn)
        }
        Err(e) => {
            log::warn!("figures not drawn: {e:#}");
            format!("Figures could not be drawn: {e:#}\n")
        }
    }
}

/// What every worker's invoker is told of the replay (its flags); `shared_cpu` when the workers share
/// CPUs and must park rather than spin. The live interval is set exactly when the run's watch has an
/// observer to fold the workers' reports into.
/// Endpoint → the proxy deployed there, for every endpoint not already named by it.
fn endpoint_names(
    deployed: &[deploy::EndpointEntry],
) -> std::collections::BTreeMap<String, String> {
    deployed
        .iter()
        .filter(|d| d.endpoint != d.proxy)
        .map(|d| (d.endpoint.clone(), d.proxy.clone()))
        .collect()
}

/// Steps 1 and 2 of a run: the trace (synthetic unless given, written into the run's directory) and its
/// mapping. Returns the trace's directory and the prepared load.
pub(crate) fn trace_and_mapping(plan: &RunPlan, files: &RunFiles) -> Result<(PathBuf, Prepared)> {
    let load = &plan.load.settings;
    // 1. The trace.
    let input = match &plan.source {
        Source::Given(input) => input.clone(),
        Source::Synthetic { functions } => {
            let dir = files.trace.clone();
            let stats = synthetic_trace(plan, *functions, &dir)?;
            println!(
                "synth      {} functions, {} {}s, {} invocations -> {}",
                stats.functions,
                load.warmup_duration + load.duration,
                load.trace.granularity().unit(),
                stats.invocations,
                files.show(&dir).display()
            );
            Input::find(load, &dir)?
        }
    };

    // 2. Map.
    let prepared = prepare_calls(plan, &input, &files.mapping)?;
    Ok((input.path(), prepared))
}

/// The synthetic trace of `functions` functions (over the plan's periods, with its seed) in `dir`.
pub(crate) fn synthetic_trace(plan: &RunPlan, functions: usize, dir: &Path) -> Result<SynthStats> {
    let load = &plan.load.settings;
    synthesize(
        dir,
        &SynthOptions {
            functions,
            periods: load.warmup_duration + load.duration,
            granularity: load.trace.granularity(),
            seed: plan.load.seed,
            layout: Layout::Sampled,
        },
    )
    .with_context(|| format!("writing a synthetic trace to {}", dir.display()))
}

/// `input` read and mapped onto the plan's catalogue (the mapping written to `mapping`), refused when no
/// function has a call in the window: a run needs something to send.
pub(crate) fn prepare_calls(plan: &RunPlan, input: &Input, mapping: &Path) -> Result<Prepared> {
    let prepared = prepare(&plan.load, input, mapping)?;
    if prepared.trace.functions.is_empty() {
        bail!(
            "no function of {} has a call in the window: nothing to run",
            prepared.source
        );
    }
    Ok(prepared)
}

/// Ends a run stopped (Ctrl-C) before its replay: the files it completed stay, and the error says so
/// (the binary then exits with 130 or 143). What it deployed is kept by the caller's `KeptDeployment`,
/// whose release removes it (local servers stop; Knative services it made are deleted).
fn stopped_before_replay(stop: &Stop, stage: &str) -> Result<()> {
    if stop.requested() {
        bail!("interrupted while {stage}, before the replay: nothing was sent; what was deployed is removed");
    }
    Ok(())
}
