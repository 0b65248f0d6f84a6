//! What a run is checked against before it runs, and the run that only shows what it would do:
//! its inputs opened (profile parsed, trace read and mapped) in a scratch directory, and
//! `run --launcher kubernetes --dry-run`, which writes the workers' Job and applies nothing.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use cmdline::Stop;
use formats::output::write_atomic;

use crate::cli::RunArgs;
use crate::commands::run::{
    dry_run_refusal, fleet_of, kubernetes_options, prepare_calls, synthetic_trace,
    trace_and_mapping,
};
use crate::deploy::Deployer;
use crate::output::{RunFiles, Staged, MARKER};
use crate::pipeline::{deploy_proxies, write_load, LocalFleet};
use crate::workers::kubernetes;
use crate::workers::{self, InvokerSettings, Launcher};

/// What of the run's inputs can be checked before anything is made: the profile parses, a given trace is
/// there. (The trace itself is read once, by the run.)
pub(crate) fn check_inputs(args: &RunArgs) -> Result<()> {
    if args.load.profile != "trace" {
        crate::pipeline::load_catalogue(&args.load.profile)?;
    }
    if let Some(trace) = &args.load.trace.trace {
        if !trace.exists() {
            bail!("-t {}: no such trace file or directory", trace.display());
        }
    }
    Ok(())
}

/// A run's settings checked with its files opened, writing only into `scratch`: the profile parsed, the
/// trace read (a synthetic one made there, quietly) and mapped. Returns the local fleet it would deploy.
/// `args` must have its seed set, so that the trace and fleet are the run's own.
pub(crate) fn check_with_files(args: &RunArgs, scratch: &Path) -> Result<Option<LocalFleet>> {
    let load = &args.load;
    let seed = load
        .seed
        .context("a run is checked with its seed resolved")?;
    check_inputs(args)?;
    let trace = match (&load.trace.trace, load.shape.is_set()) {
        (Some(trace), _) => trace.clone(),
        (None, true) => PathBuf::new(),
        (None, false) => {
            let dir = scratch.join("trace");
            let _ = std::fs::remove_dir_all(&dir);
            synthetic_trace(args, load, &dir, seed)?;
            dir
        }
    };
    let prepared = prepare_calls(load, &trace, &scratch.join("mapping.json"))?;
    fleet_of(args, load, &prepared)
}

/// `run --launcher kubernetes --dry-run`: the trace, the mapping, the load and its shards, and the
/// workers' Job manifest, with the `kubectl` commands a run would give; nothing is deployed, applied or
/// sent. The proxies' endpoints are their names (or, with `--deployer knative`, the services' planned
/// `name.namespace`, their YAMLs written to the build directory), and the start time in the manifest is
/// the one a run starting now would use.
pub fn dry_run(args: &RunArgs, stop: &Stop) -> Result<()> {
    if args.replay.launcher != Some(Launcher::Kubernetes) {
        bail!("{}", dry_run_refusal(args));
    }
    let mut load = args.load.clone();
    let kind = load.deploy.deployer.unwrap_or(Deployer::Local);
    let seed = *load.seed.get_or_insert_with(rand::random);
    let workers = load.workers;
    // A dry run writes only into a directory that does not exist yet: it never replaces a run.
    if args.output_dir.exists() {
        bail!(
            "--dry-run: -o {} exists; a dry run writes only into a new directory (it never replaces a \
             run): choose one that does not exist yet",
            args.output_dir.display()
        );
    }
    let run_id = kubernetes::new_run_id();
    let owned = RunFiles::for_workers(&args.output_dir, workers).owned_names();
    let staged = Staged::begin(&args.output_dir, MARKER, &owned, false, &run_id)?;
    let files = RunFiles::staged(&staged.work, &args.output_dir, workers);
    let (_, _, prepared) = trace_and_mapping(args, &load, &files, seed)?;
    let named = if kind == Deployer::Knative {
        Deployer::Knative
    } else {
        Deployer::None
    };
    let deployment = deploy_proxies(&prepared, &load, named, None, &run_id, stop)?;
    let generated = write_load(
        &prepared,
        &load,
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
        .unwrap_or_else(|| workers::default_lead(Launcher::Kubernetes, largest));
    let bind = workers::bind_address(Launcher::Kubernetes, args.replay.advertise_addr.as_deref())?;
    let granularity = load.trace.granularity();
    let settings = InvokerSettings {
        minute: granularity == trace::Granularity::Minute,
        warmup: load.warmup_duration as u32,
        duration: load.duration as u32,
        grpc_timeout: args.replay.grpc_timeout,
        connections: args.replay.connections,
        max_in_flight: args.replay.max_in_flight,
        realtime: args.replay.realtime,
        shared_cpu: false,
        live_interval: args.observe.followed_every(),
    };
    let invoker_args = workers::invoker_args(
        &format!("http://{bind}"),
        "$(JOB_COMPLETION_INDEX)",
        workers,
        SystemTime::now() + lead,
        &settings,
        kubernetes::POD_WORK_DIR,
        None,
    );
    let span = (load.warmup_duration + load.duration) as u64 * granularity.period_us() / 1_000_000;
    let manifest = kubernetes::manifest(
        &run_id,
        workers,
        &invoker_args,
        &kubernetes_options(args),
        lead.as_secs() + span + args.replay.grpc_timeout.as_secs() + 120,
        args.replay.grpc_timeout.as_secs() + 60,
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
    for command in kubernetes::commands("kubectl", &job, &run_id, &args.replay.namespace) {
        println!("           {command}");
    }
    Ok(())
}
