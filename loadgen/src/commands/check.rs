//! What a run is checked against before it runs, and the run that only shows what it would do:
//! its plan's inputs opened (trace read and mapped) in a scratch directory, and
//! `run --launcher kubernetes --dry-run`, which writes the workers' Job and applies nothing.

use std::path::Path;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use cmdline::Stop;
use formats::output::write_atomic;

use crate::cli::RunArgs;
use crate::commands::replay::kubernetes_options;
use crate::commands::run::{fleet_of, prepare_calls, synthetic_trace, trace_and_mapping};
use crate::output::{Staged, MARKER};
use crate::pipeline::{deploy_proxies, write_load, LocalFleet};
use crate::plan::{Input, RunPlan, Source};
use coordinator::kubernetes;
use coordinator::{self, Launcher};
use deploy::Deployer;
use formats::files::RunFiles;

/// A run's plan checked with its files opened, writing only into `scratch`: the trace read (a synthetic
/// one made there, quietly) and mapped onto the plan's catalogue. Returns the local fleet it would deploy.
pub(crate) fn check_with_files(plan: &RunPlan, scratch: &Path) -> Result<Option<LocalFleet>> {
    if plan.stellar.is_some() {
        // Its sub-experiments replace the trace: checked with the plan, no fleet to size.
        return Ok(None);
    }
    let input = match &plan.source {
        Source::Given(input) => input.clone(),
        Source::Synthetic { functions } => {
            let dir = scratch.join("trace");
            let _ = std::fs::remove_dir_all(&dir);
            synthetic_trace(plan, *functions, &dir)?;
            Input::find(&plan.load.settings, &dir)?
        }
    };
    let prepared = prepare_calls(plan, &input, &scratch.join("mapping.json"))?;
    fleet_of(plan, &prepared)
}

/// `run --launcher kubernetes --dry-run`: the trace, the mapping, the load and its shards, and the
/// workers' Job manifest, with the `kubectl` commands a run would give; nothing is deployed, applied or
/// sent. The proxies' endpoints are their names (or, with `--deployer knative`, the services' planned
/// `name.namespace`, their YAMLs written to the build directory), and the start time in the manifest is
/// the one a run starting now would use.
pub fn dry_run(args: &RunArgs, stop: &Stop) -> Result<()> {
    // The plan of the run this shows: the same checks and decisions (it refuses a dry run without the
    // Kubernetes launcher).
    let plan = RunPlan::check(args)?;
    let load = &plan.load.settings;
    let kind = plan.deployer;
    let workers = load.workers;
    // A dry run writes only into a directory that does not exist yet: it never replaces a run.
    if args.output_dir.exists() {
        bail!(
            "--dry-run: -o {} exists; a dry run writes only into a new directory (it never replaces a \
             run): choose one that does not exist yet",
            args.output_dir.display()
        );
    }
    let run_id = deploy::kube::new_run_id();
    let owned = RunFiles::for_workers(&args.output_dir, workers).owned_names();
    let staged = Staged::begin(&args.output_dir, MARKER, &owned, false, &run_id)?;
    let files = RunFiles::staged(&staged.work, &args.output_dir, workers);
    let (_, prepared) = trace_and_mapping(&plan, &files)?;
    // Knative's planned names and given endpoints are known without deploying; a local fleet's are not.
    let named = match kind {
        Deployer::Knative | Deployer::Given => kind,
        Deployer::Local | Deployer::None => Deployer::None,
    };
    let deployment = deploy_proxies(&prepared, &plan.load, named, None, &run_id, stop)?;
    let generated = write_load(
        &prepared,
        &plan.load,
        &deployment,
        &files.load,
        Some(&files.endpoints),
        true,
    )?;
    print!("{generated}");
    let shards = if files.shards.is_empty() {
        vec![files.load.clone()]
    } else {
        files.shards.clone()
    };
    let largest = shards
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0);
    let lead = args
        .replay
        .start_lead
        .unwrap_or_else(|| coordinator::default_lead(Launcher::Kubernetes, largest));
    let bind =
        coordinator::bind_address(Launcher::Kubernetes, args.replay.advertise_addr.as_deref())?;
    let granularity = load.trace.granularity();
    let settings = super::replay::invoker_settings(&plan, false, &files.endpoints);
    let invoker_args = coordinator::invoker_args(
        &format!("http://{bind}"),
        "$(JOB_COMPLETION_INDEX)",
        workers,
        SystemTime::now() + lead,
        &settings,
        kubernetes::POD_WORK_DIR,
        None,
    );
    let span = (load.warmup_duration + load.duration) as u64 * granularity.period_us() / 1_000_000;
    let variables = settings.request.variables();
    let manifest = kubernetes::manifest(
        &run_id,
        workers,
        &invoker_args,
        &kubernetes_options(&args.replay),
        (
            lead.as_secs() + span + args.replay.grpc_timeout.as_secs() + 120,
            args.replay.grpc_timeout.as_secs() + 60,
        ),
    );
    write_atomic(&files.job, kubernetes::to_yaml(&manifest).as_bytes())
        .with_context(|| format!("writing {}", files.job.display()))?;
    staged.commit()?;
    let job = files.show(&files.job);
    println!(
        "dry run    the workers' Job ({workers} pods) written to {}; nothing was applied or sent. A run would \
         serve the shards at http://{bind}{}, and give kubectl:",
        job.display(),
        if bind.port() == 0 {
            " (port 0: a free port, chosen when it binds)"
        } else {
            ""
        }
    );
    for command in kubernetes::commands(
        &deploy::kube::Kubectl::default(),
        &job,
        &run_id,
        &args.replay.namespace,
        &variables,
    ) {
        println!("           {command}");
    }
    Ok(())
}
