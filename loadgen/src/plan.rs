//! A run's plan: its flags checked, and every decision that follows from them made once, before anything
//! is written or deployed (in ripgrep's terms, low-level args become high-level args). The seed is
//! resolved, the source of the calls decided, the profile parsed, the deployer, launcher and dispatcher
//! CPUs chosen, and the ports it will bind checked. `run`, its checks and each step of an experiment
//! start from a [`RunPlan`]; what needs the files opened (the trace read and mapped, the local fleet
//! sized) follows from it in `commands::check` and `commands::run`.

use anyhow::{bail, Context, Result};
use profiles::Catalogue;

use crate::cli::{LoadArgs, RunArgs};
use crate::deploy::Deployer;
use crate::pipeline::Input;
use crate::workers::{self, Launcher};

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

/// A run's settings, checked, with every decision made once.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The flags, with the seed resolved (`args.load.seed` is set).
    pub args: RunArgs,
    /// The seed of everything drawn: the synthetic trace, the inter-arrival times, the shapes.
    pub seed: u64,
    /// Where the calls come from.
    pub source: Source,
    /// The proxies' catalogue, parsed (none with `-p trace`: each function gets its own).
    pub catalogue: Option<Catalogue>,
    /// Where the proxies run.
    pub deployer: Deployer,
    /// What starts the invokers: none for one invoker in this process.
    pub launcher: Option<Launcher>,
    /// Invokers replaying the load.
    pub invokers: u32,
    /// The CPU each invoker's dispatcher is pinned to, if any (one entry per invoker).
    pub dispatcher_cpus: Vec<Option<usize>>,
}

impl RunPlan {
    /// Checks `args` and makes the run's decisions, on a machine of `host::online_cpus()` CPUs. Nothing
    /// is written; the ports the run will serve on are bound and let go, so a taken one is named now
    /// (not for `--launcher kubernetes --dry-run`, which only writes the workers' Job).
    pub fn check(args: &RunArgs) -> Result<RunPlan> {
        let mut args = args.clone();
        let load = &args.load;
        let deployer = load.deploy.deployer.unwrap_or(Deployer::Local);
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
            bail!("{}", dry_run_refusal(&args));
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
            let addr = workers::bind_address(launcher, args.replay.advertise_addr.as_deref())?;
            std::net::TcpListener::bind(addr)
                .map(drop)
                .with_context(|| {
                    format!("--advertise-addr {addr}: cannot serve the workers there")
                })?;
        }
        let catalogue = (load.profile != "trace")
            .then(|| crate::pipeline::load_catalogue(&load.profile))
            .transpose()?;
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
        let seed = *args.load.seed.get_or_insert_with(|| match source {
            Source::Synthetic { .. } => DEFAULT_SEED,
            _ => rand::random(),
        });
        let invokers = launcher.map_or(1, |_| args.load.workers);
        let dispatcher_cpus = dispatcher_cpus(&args, deployer, launcher, cpus);
        Ok(RunPlan {
            args,
            seed,
            source,
            catalogue,
            deployer,
            launcher,
            invokers,
            dispatcher_cpus,
        })
    }

    /// The load's settings (seed resolved).
    pub fn load(&self) -> &LoadArgs {
        &self.args.load
    }
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
            (p.seed, p.args.load.seed),
            (DEFAULT_SEED, Some(DEFAULT_SEED))
        );
        assert!(p.catalogue.as_ref().is_some_and(|c| !c.proxies.is_empty()));
        assert_eq!(
            (p.deployer, p.launcher, p.invokers),
            (Deployer::Local, None, 1)
        );
        // A shape draws its own seed once, and the plan carries it to every stage.
        let p = plan(&["--rps", "5"]).unwrap();
        assert_eq!(p.source, Source::Given(Input::Shape));
        assert_eq!(p.args.load.seed, Some(p.seed));
        let p = plan(&["--rps", "5", "--seed", "42"]).unwrap();
        assert_eq!(p.seed, 42);
        // Several workers: a local launcher, one dispatcher entry each; `-p trace` parses no catalogue.
        let p = plan(&["--workers", "3", "--no-pin", "-p", "trace"]).unwrap();
        assert_eq!((p.launcher, p.invokers), (Some(Launcher::Local), 3));
        assert_eq!(p.dispatcher_cpus, vec![None; 3]);
        assert!(p.catalogue.is_none());
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
