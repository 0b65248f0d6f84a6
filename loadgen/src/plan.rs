//! A command's plan: its flags checked, and every decision that follows from them made once, before
//! anything is written or deployed (in ripgrep's terms, low-level args become high-level args).
//! [`LoadPlan`] is a load's: the seed resolved and the profile parsed; `generate`, `deploy` and `run`
//! give it to the pipeline and the shapes. [`RunPlan`] is a run's: its load plan, the source of the calls
//! (a trace's kind detected and its files found), the deployer, the launcher and the dispatcher CPUs
//! chosen, and the ports it will bind checked. `run`, its checks and each step of an experiment start
//! from a [`RunPlan`]; what needs the files opened (the trace read and mapped, the local fleet sized)
//! follows from it in `commands::check` and `commands::run`.

use anyhow::{bail, Context, Result};
use profiles::Catalogue;
use trace::TraceFiles;

use std::path::{Path, PathBuf};

use crate::cli::{LoadArgs, ObserveArgs, ReplayArgs, RunArgs};
use coordinator::{self, Launcher};
use deploy::Deployer;

/// The seed of a run on the embedded default (a synthetic trace) when none is given: two runs of it
/// compare.
pub const DEFAULT_SEED: u64 = 1;

/// Where a run's calls come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A synthetic trace of this many functions, written into the run's directory (no `-t`).
    Synthetic {
        /// Functions (`-n`).
        functions: usize,
    },
    /// A trace (`-t`: its kind detected and its files found) or a load shape.
    Given(Input),
}

/// A load's settings with the decisions made from them: the seed resolved and the profile parsed. What
/// `generate`, `deploy` and `run` give the pipeline and the shapes.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The load's flags, the seed resolved (`settings.seed` is set).
    pub settings: LoadArgs,
    /// The seed of everything drawn: a synthetic trace, the inter-arrival times, the shapes.
    pub seed: u64,
    /// The proxies' catalogue, parsed (none with `-p trace`: each function gets its own).
    pub catalogue: Option<Catalogue>,
    /// `--workflow`, read and checked.
    pub workflow: Option<crate::generate::WorkflowLoad>,
}

impl LoadPlan {
    /// Checks `settings`: the profile parsed, the seed resolved (`default_seed` when none is given).
    pub fn check(settings: &LoadArgs, default_seed: impl FnOnce() -> u64) -> Result<LoadPlan> {
        let mut settings = settings.clone();
        let protocol = settings.deploy.function_protocol;
        if protocol != deploy::FunctionProtocol::Grpc {
            match settings.deploy.deployer {
                Some(Deployer::Knative) if settings.profile != "trace" => bail!(
                    "--function-protocol {protocol:?} needs functions that speak it: vSwarm's proxies \
                     (-c/--config-proxy) speak gRPC only; use -p trace (each function its own emulated \
                     function) or the local deployer"
                ),
                Some(Deployer::None) => bail!(
                    "--function-protocol {protocol:?} is what the deployed emulated functions speak: \
                     with --deployer none nothing is deployed"
                ),
                _ => {}
            }
        }
        if let Some(path) = &settings.deploy.use_endpoints {
            if protocol != deploy::FunctionProtocol::Grpc {
                bail!(
                    "--function-protocol {protocol:?} is what the deployed emulated functions speak: \
                     with --use-endpoints nothing is deployed (each endpoint's URL says its protocol)"
                );
            }
            // The entries' own requests are checked now, before anything is written.
            invoker::request::RequestArgs::default().own_requests("--use-endpoints", path)?;
        }
        let workflow = settings
            .workflow
            .as_deref()
            .map(|path| -> Result<crate::generate::WorkflowLoad> {
                if settings.workers > 1 {
                    bail!("--workflow: a workflow load is replayed by one invoker (its calls wait for one another); leave out --workers");
                }
                let read = workflow::read(path, settings.foreach_width)?;
                Ok(crate::generate::WorkflowLoad::new(read, path))
            })
            .transpose()?;
        let catalogue = (settings.profile != "trace")
            .then(|| load_catalogue(&settings.profile))
            .transpose()?;
        // A node that calls a proxy names one of the profile's, checked before anything is written.
        if let Some(load) = &workflow {
            match (&catalogue, load.proxies_named().next()) {
                (_, None) => {}
                (Some(c), Some(_)) => load
                    .check_proxies(c, &settings.profile)
                    .map_err(anyhow::Error::msg)?,
                (None, Some((name, node))) => bail!(
                    "{}, line {}: node `{}` calls proxy `{name}`, but with -p trace each function is its own \
                     emulated function and there is no catalogue of proxies: give a profile (-p FILE or the built-in)",
                    load.file.display(),
                    node.line,
                    node.name
                ),
            }
        }
        let seed = *settings.seed.get_or_insert_with(default_seed);
        Ok(LoadPlan {
            settings,
            seed,
            catalogue,
            workflow,
        })
    }
}

/// A run's settings, checked, with every decision made once.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The load: its settings, seed and catalogue.
    pub load: LoadPlan,
    /// How the load is replayed (`--workers`' launcher, connections, timeouts).
    pub replay: ReplayArgs,
    /// How the replay is watched.
    pub observe: ObserveArgs,
    /// Where the run's files go.
    pub output_dir: PathBuf,
    /// Where the calls come from.
    pub source: Source,
    /// Where the proxies run.
    pub deployer: Deployer,
    /// What starts the invokers: none for one invoker in this process.
    pub launcher: Option<Launcher>,
    /// Invokers replaying the load.
    pub invokers: u32,
    /// The CPU each invoker's dispatcher is pinned to, if any (one entry per invoker).
    pub dispatcher_cpus: Vec<Option<usize>>,
    /// A STeLLAR step (`--stellar`): its sub-experiments replace the trace.
    pub stellar: Option<crate::stellar_step::plan::StellarPlan>,
    /// The settings that make the run what it is, one per line, its seed included: what `run.json`
    /// keeps and `--resume` compares ([`identity`]).
    pub identity: Vec<String>,
    /// Interference and faults on the replay's timeline, checked.
    pub disturb: crate::cli::DisturbArgs,
}

/// `args` as `--resume` compares two runs' plans, one setting per line, with `seed` (the one chosen, if
/// it was not given): everything but where the output goes and how the workers are started (the
/// output directory, --force, --resume, --start-lead, --advertise-addr).
pub fn identity(args: &RunArgs, seed: u64) -> Vec<String> {
    let mut args = args.clone();
    args.output_dir = PathBuf::new();
    args.force = false;
    args.resume = None;
    args.load.seed = Some(seed);
    args.replay.start_lead = None;
    args.replay.advertise_addr = None;
    args.replay.launch_delay.clear();
    settings_lines(&format!("{args:#?}"))
}

/// A pretty `Debug` text as one line per value, each named by its path (`load.seed = 7`), so a
/// difference names its setting whatever depth it is at.
fn settings_lines(debug: &str) -> Vec<String> {
    let mut path: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for line in debug.lines().skip(1) {
        let line = line.trim().trim_end_matches(',');
        if matches!(line, "}" | ")" | "]") {
            path.pop();
            continue;
        }
        let (key, value) = match line.split_once(": ") {
            Some((k, v)) if !k.contains(['"', ' ', '(']) => (Some(k), v),
            _ => (None, line),
        };
        let here = || {
            path.iter()
                .map(String::as_str)
                .chain(key)
                .filter(|k| !k.is_empty())
                .collect::<Vec<_>>()
                .join(".")
        };
        if value.ends_with(['{', '(', '[']) {
            path.push(key.unwrap_or_default().to_owned());
        } else {
            lines.push(format!("{} = {value}", here()));
        }
    }
    lines
}

impl RunPlan {
    /// Checks `args` and makes the run's decisions, on a machine of `host::online_cpus()` CPUs. Nothing
    /// is written; the ports the run will serve on are bound and let go, so a taken one is named now
    /// (not for `--launcher kubernetes --dry-run`, which only writes the workers' Job).
    pub fn check(args: &RunArgs) -> Result<RunPlan> {
        let load = &args.load;
        let deployer = load.deploy.deployer_or(Deployer::Local);
        if args.replay.request.endpoint_requests.is_some() {
            bail!("--endpoint-requests is the invoker's: loadgen run gives endpoints requests of their own through --use-endpoints FILE");
        }
        if deployer == Deployer::None {
            bail!("loadgen run replays the load, so it needs proxies to call: --deployer local or knative");
        }
        let launcher = match (args.replay.launcher, load.workers) {
            (Some(l), _) => Some(l),
            (None, 1) => None,
            (None, _) => Some(Launcher::Local),
        };
        // A dry run only writes the workers' Job: the ports are the cluster's to reach, not bound here.
        let dry_run = load.deploy.dry_run;
        if dry_run && launcher != Some(Launcher::Kubernetes) {
            bail!("{}", dry_run_refusal(args));
        }
        if launcher.is_some() && args.replay.dispatcher_cpu.is_some() {
            bail!("--dispatcher-cpu pins one invoker; with --workers each local worker gets its own CPU while they last (--no-pin: none)");
        }
        let cpus = host::online_cpus();
        if let Some(cpu) = args.replay.dispatcher_cpu.filter(|&c| c >= cpus) {
            bail!(
                "--dispatcher-cpu {cpu}: this machine has CPUs 0..{}",
                cpus - 1
            );
        }
        if let Some(addr) = &args.observe.metrics_addr {
            // Checked before anything is written; bound for real just before the replay.
            crate::commands::watch::check_metrics_addr(addr)?;
        }
        if let Some(launcher) = launcher.filter(|_| !dry_run) {
            // Bound and let go (as --metrics-addr), so a taken port is named before the load is written.
            let addr = coordinator::bind_address(launcher, args.replay.advertise_addr.as_deref())?;
            std::net::TcpListener::bind(addr)
                .map(drop)
                .with_context(|| {
                    format!("--advertise-addr {addr}: cannot serve the workers there")
                })?;
        }
        check_worker_flags(args, launcher)?;
        let source = match (&load.trace.trace, load.shape.is_set()) {
            (Some(trace), _) if !trace.exists() => {
                bail!("-t {}: no such trace file or directory", trace.display())
            }
            (Some(trace), _) => Source::Given(Input::find(load, trace)?),
            (None, true) => Source::Given(Input::Shape),
            (None, false) => Source::Synthetic {
                functions: args.functions,
            },
        };
        // The embedded default (a synthetic trace) has a fixed seed, so two runs of it compare; a real
        // trace or a shape gets a random one unless given. Either way the report prints it.
        let synthetic = matches!(source, Source::Synthetic { .. });
        let load = LoadPlan::check(load, || {
            if synthetic {
                DEFAULT_SEED
            } else {
                rand::random()
            }
        })?;
        // An instance that starts with several calls (a virtual entry fanning out) is refused by the
        // invoker, naming it: whether one does depends on its draws.
        if args.replay.orchestration == invoker::dispatch::Orchestration::Chained
            && load.workflow.is_none()
        {
            bail!("--orchestration chained: the functions call a workflow's nodes, so it needs --workflow FILE");
        }
        if let (Some(url), None, None) = (&args.replay.store, &load.workflow, &args.stellar.stellar)
        {
            bail!("--store {url}: the store carries the data between a workflow's functions, so it needs --workflow FILE (or a --stellar file whose chains say StorageTransfer)");
        }
        let invokers = launcher.map_or(1, |_| args.load.workers);
        let dispatcher_cpus = dispatcher_cpus(args, deployer, launcher, cpus);
        let stellar = match &args.stellar.stellar {
            Some(file) if launcher.is_some() || deployer != Deployer::Local => bail!(
                "--stellar {}: a STeLLAR step runs from one invoker with its gateways local or given by \
                 --stellar-endpoints (not --workers, not --deployer knative)",
                file.display()
            ),
            Some(file) => Some(crate::stellar_step::plan::StellarPlan::check(&args.stellar, file, args.replay.store.as_deref())?),
            None => None,
        };
        check_disturbances(args, (&load, deployer, launcher, invokers))?;
        let identity = identity(args, load.seed);
        Ok(RunPlan {
            disturb: args.disturb.clone(),
            identity,
            load,
            replay: args.replay.clone(),
            observe: args.observe.clone(),
            output_dir: args.output_dir.clone(),
            source,
            deployer,
            launcher,
            invokers,
            dispatcher_cpus,
            stellar,
        })
    }
}

/// Refuses interference and faults this run cannot have: after its replay ends, on a deployer or a
/// launcher without what they act on, a generator not installed.
fn check_disturbances(
    args: &RunArgs,
    (load, deployer, launcher, invokers): (&LoadPlan, Deployer, Option<Launcher>, u32),
) -> Result<()> {
    let d = &args.disturb;
    if d.is_empty() {
        return Ok(());
    }
    let settings = &load.settings;
    let period_s = settings.trace.granularity().period_us() as f64 / 1e6;
    let offered = disturbance::Offered {
        run_s: (settings.warmup_duration + settings.duration) as f64 * period_s,
        local_fleet: deployer == Deployer::Local,
        local_workers: (launcher == Some(Launcher::Local)).then_some(invokers),
        kubernetes: deployer == Deployer::Knative || launcher == Some(Launcher::Kubernetes),
    };
    disturbance::spec::check(&d.interference, &d.fault, &offered)
        .context("--interference / --fault")?;
    let timeline = disturbance::Timeline {
        interference: d.interference.clone(),
        faults: d.fault.clone(),
        avoid_cpus: Vec::new(),
        dir: PathBuf::new(),
    };
    timeline.check_programs().context("--interference")?;
    if offered.kubernetes && !args.load.deploy.dry_run {
        check_selectors(d)?;
    }
    Ok(())
}

/// Refuses a node selector or a pod selection that matches nothing in the cluster (each asked once):
/// a typo would otherwise disturb nothing, silently.
fn check_selectors(d: &crate::cli::DisturbArgs) -> Result<()> {
    let kubectl = deploy::kube::Kubectl::default();
    for i in &d.interference {
        if let disturbance::Place::Nodes(labels) = &i.place {
            let nodes = disturbance::kubernetes::nodes_matching(&kubectl, labels)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("--interference {}", i.text))?;
            if nodes.is_empty() {
                bail!("--interference {}: no node has those labels", i.text);
            }
        }
    }
    for f in &d.fault {
        if let disturbance::FaultAction::DeletePods { selections } = &f.action {
            for s in selections {
                let pods = kubectl
                    .list_in("pods", &s.namespace, &s.selector, "checking a fault's pods")
                    .with_context(|| format!("--fault {}", f.text))?;
                if pods.is_empty() {
                    bail!(
                        "--fault {}: no pod in namespace {} has labels {} (name another with namespace= and selector=, or ingress-namespace= and ingress-selector=)",
                        f.text, s.namespace, s.selector
                    );
                }
            }
        }
    }
    Ok(())
}

/// Refuses the flags of a replay from workers (`--stream-shards`, `--coordinator-tls`) without workers;
/// reads and checks `--coordinator-tls`'s files, so a bad one is named before anything is written.
fn check_worker_flags(args: &RunArgs, launcher: Option<Launcher>) -> Result<()> {
    if args.replay.stream_shards && launcher.is_none() {
        bail!("--stream-shards streams each worker's shard from this process: it needs --workers");
    }
    if let Some(tls) = &args.replay.coordinator_tls {
        if launcher.is_none() {
            bail!("--coordinator-tls secures the channel to the workers: it needs --workers");
        }
        // Read and checked now, so a bad file is named before anything is written.
        tls.load()?;
    }
    Ok(())
}

/// What a load is made from: its kind decided and its files found, once.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// An Azure 2019 trace (sampled or raw layout): its three files.
    Azure2019(TraceFiles),
    /// An Azure 2021 invocation file (named by `-t`, or the one file of that kind in its directory).
    Azure2021(PathBuf),
    /// A load shape (`--rps`, `--burst-size`): no trace.
    Shape,
}

impl Input {
    /// What `load` is made from, `trace` being its trace's path: its shape, or the trace's kind
    /// detected (an Azure 2021 file is known by its header) and its files found.
    pub fn find(load: &LoadArgs, trace: &Path) -> Result<Input> {
        if load.shape.is_set() {
            return Ok(Input::Shape);
        }
        let context = || format!("reading the trace in {}", trace.display());
        if let Some(file) = trace::azure2021_file(trace).with_context(context)? {
            if load.shift {
                bail!(
                    "--shift rotates per-period counts, but {} records each call's own time (an Azure \
                     2021 trace is replayed exactly); leave --shift out",
                    file.display()
                );
            }
            return Ok(Input::Azure2021(file));
        }
        let files = TraceFiles::locate(trace, load.trace.day).with_context(context)?;
        Ok(Input::Azure2019(files))
    }

    /// Where the trace is, in messages: its directory, or its file.
    pub fn path(&self) -> PathBuf {
        match self {
            Input::Azure2019(files) => files
                .invocations
                .parent()
                .map_or_else(PathBuf::new, Path::to_owned),
            Input::Azure2021(file) => file.clone(),
            Input::Shape => PathBuf::new(),
        }
    }
}

/// `builtin` or a profile.json, with a hint when the default file is absent.
pub fn load_catalogue(spec: &str) -> Result<Catalogue> {
    Catalogue::load(spec).with_context(|| {
        if spec != "builtin" && !Path::new(spec).exists() {
            format!("reading proxy profiles {spec} (or pass --profile builtin for the built-in emulated proxies)")
        } else {
            format!("reading proxy profiles {spec}")
        }
    })
}

/// Why `--dry-run` does not apply to a run of these flags, and what does.
pub fn dry_run_refusal(args: &RunArgs) -> String {
    if args.replay.launcher == Some(Launcher::Kubernetes) {
        "--dry-run: `loadgen run --launcher kubernetes --dry-run` writes the workers' Job (it does not replay)".into()
    } else {
        "--dry-run deploys nothing, so there is nothing to replay: use `loadgen deploy --deployer knative --dry-run` \
         (or, with --launcher kubernetes, it writes the workers' Job)"
            .into()
    }
}

/// The CPU each invoker's dispatcher is pinned to (one entry per invoker). One invoker: `--dispatcher-cpu`,
/// or with local servers the last CPU. Local workers: the last CPUs, one each, as long as one CPU is left
/// for everything else; otherwise none is pinned.
fn dispatcher_cpus(
    args: &RunArgs,
    deployer: Deployer,
    launcher: Option<Launcher>,
    cpus: usize,
) -> Vec<Option<usize>> {
    let workers = args.load.workers as usize;
    match (launcher, args.replay.no_pin) {
        (_, true) | (Some(Launcher::Kubernetes), _) => vec![None; workers],
        (Some(Launcher::Local), false) if workers < cpus => {
            (0..workers).map(|k| Some(cpus - 1 - k)).collect()
        }
        (Some(Launcher::Local), false) => vec![None; workers],
        (None, false) => vec![match args.replay.dispatcher_cpu {
            Some(cpu) => Some(cpu),
            None if deployer == Deployer::Local && cpus >= 2 => Some(cpus - 1),
            None => None,
        }],
    }
}

#[cfg(test)]
mod identity_tests {
    use super::settings_lines;

    #[test]
    fn each_setting_is_one_line_named_by_its_path() {
        let debug = "RunArgs {\n    functions: 60,\n    load: LoadArgs {\n        seed: Some(\n            7,\n        ),\n        names: [\n            \"a\",\n        ],\n    },\n    force: false,\n}";
        assert_eq!(
            settings_lines(debug),
            [
                "functions = 60",
                "load.seed = 7",
                "load.names = \"a\"",
                "force = false"
            ]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse_command_line, Command};

    fn plan(args: &[&str]) -> Result<RunPlan> {
        let line = ["loadgen", "run"].iter().chain(args).map(|a| a.into());
        let Command::Run(run) = parse_command_line(line).unwrap().command else {
            panic!("not a run")
        };
        RunPlan::check(&run)
    }

    #[test]
    fn each_decision_is_made_once_and_kept() {
        // The embedded default: a synthetic trace, seed 1 so two runs compare, the profile parsed.
        let p = plan(&["-n", "7"]).unwrap();
        assert_eq!(p.source, Source::Synthetic { functions: 7 });
        assert_eq!(
            (p.load.seed, p.load.settings.seed),
            (DEFAULT_SEED, Some(DEFAULT_SEED))
        );
        assert!(p
            .load
            .catalogue
            .as_ref()
            .is_some_and(|c| !c.proxies.is_empty()));
        assert_eq!(
            (p.deployer, p.launcher, p.invokers),
            (Deployer::Local, None, 1)
        );
        // A shape draws its own seed once, and the plan carries it to every stage.
        let p = plan(&["--rps", "5"]).unwrap();
        assert_eq!(p.source, Source::Given(Input::Shape));
        assert_eq!(p.load.settings.seed, Some(p.load.seed));
        let p = plan(&["--rps", "5", "--seed", "42"]).unwrap();
        assert_eq!(p.load.seed, 42);
        // Several workers: a local launcher, one dispatcher entry each; `-p trace` parses no catalogue.
        let p = plan(&["--workers", "3", "--no-pin", "-p", "trace"]).unwrap();
        assert_eq!((p.launcher, p.invokers), (Some(Launcher::Local), 3));
        assert_eq!(p.dispatcher_cpus, vec![None; 3]);
        assert!(p.load.catalogue.is_none());
    }

    #[test]
    fn a_plan_that_cannot_run_is_refused_with_why() {
        let dir = tempfile::tempdir().unwrap();
        let not_json = dir.path().join("profile.json");
        std::fs::write(&not_json, "not json").unwrap();
        let missing = dir.path().join("nothing-here");
        for (args, cause) in [
            (vec!["--deployer", "none"], "needs proxies to call"),
            (
                vec!["-t", missing.to_str().unwrap()],
                "no such trace file or directory",
            ),
            (
                vec!["-p", not_json.to_str().unwrap()],
                "reading proxy profiles",
            ),
            (vec!["--dispatcher-cpu", "4095"], "--dispatcher-cpu 4095"),
            (
                vec!["--workers", "2", "--dispatcher-cpu", "0"],
                "pins one invoker",
            ),
        ] {
            let e = format!("{:#}", plan(&args).unwrap_err());
            assert!(e.contains(cause), "{args:?}: {e}");
        }
    }
}
