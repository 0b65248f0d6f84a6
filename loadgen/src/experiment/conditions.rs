//! The conditions every step of an experiment shares, fixed before anything runs: each step's plan
//! checked with its files opened, one seed, and one local scale (the most demanding step's).

use std::path::Path;

use anyhow::{Context, Result};

use super::plan::{Plan, Step};
use super::{params_text, step_dir};
use crate::cli::{Command as CliCommand, RunArgs, Scale};
use crate::plan::RunPlan;
use deploy::Deployer;

/// The conditions every step of an experiment shares, decided once.
#[derive(Debug, Clone, PartialEq)]
pub struct Conditions {
    /// The seed given to every step that had none.
    pub seed: Option<u64>,
    /// The local fleet's scale given to every local step with `--local-scale auto`, and the step that
    /// decided it (the most demanding).
    pub local_scale: Option<(f64, usize)>,
    /// Whether a step may reuse the previous step's deployment.
    pub reuse_deployment: bool,
}

impl Conditions {
    /// The conditions in words, for the terminal and report.md.
    pub fn text(&self) -> String {
        let mut out = String::new();
        match self.local_scale {
            Some((scale, step)) => out.push_str(&format!(
                "local scale ×{scale:.3} for every step (decided once, from the most demanding, step {step}); "
            )),
            None => out.push_str("no local scale decided (none of the steps scales it automatically); "),
        }
        if self.reuse_deployment {
            out.push_str("a step reuses the previous step's deployment, warm instances and all, when it needs the same one (reuse-deployment = true)");
        } else {
            out.push_str("every step starts from fresh instances (local servers restarted; Knative services deleted and applied again)");
        }
        if let Some(seed) = self.seed {
            out.push_str(&format!("; seed {seed} for every step"));
        }
        out
    }
}

/// Checks every step with its files opened (profile parsed, trace read and mapped; a synthetic trace made
/// in a scratch directory) and fixes what the steps must share: one seed (the earlier experiment's, with
/// `resume_from`), and one local scale, the most demanding step's, for the steps that left it `auto`.
/// Both go into each step's settings, so its `params.json` records them. Returns the conditions and each
/// step's plan, checked once here and run as it is (no step is parsed again).
pub(super) fn fix_conditions(
    plan: &mut Plan,
    resume_from: Option<&Path>,
) -> Result<(Conditions, Vec<RunPlan>)> {
    let scratch = tempfile::tempdir().context("making a scratch directory")?;
    let seeded = |step: &Step| step.args.iter().any(|a| a.starts_with("--seed="));
    let seed = if plan.steps.iter().all(seeded) {
        None
    } else {
        Some(earlier_seed(resume_from).unwrap_or_else(rand::random))
    };
    let mut scale: Option<(f64, usize)> = None;
    let mut plans = Vec::with_capacity(plan.steps.len());
    for step in &mut plan.steps {
        if let Some(seed) = seed.filter(|_| !seeded(step)) {
            step.args.push(format!("--seed={seed}"));
        }
        let in_step = || format!("step {} ({})", step.index, params_text(step));
        let checked = RunPlan::check(&*step_args(step, &scratch.path().join("run"))?)
            .with_context(in_step)?;
        let fleet = crate::commands::check::check_with_files(&checked, scratch.path())
            .with_context(in_step)?;
        if let (Some(fleet), None) = (fleet, checked.load.settings.deploy.local_scale) {
            if scale.is_none_or(|(s, _)| fleet.options.scale < s) {
                scale = Some((fleet.options.scale, step.index));
            }
        }
        plans.push(checked);
    }
    if let Some((factor, _)) = scale {
        for (step, checked) in plan.steps.iter_mut().zip(&mut plans) {
            if checked.load.settings.deploy.local_scale.is_none()
                && checked.deployer == Deployer::Local
            {
                // Recorded as the flag's parser reads it back, exactly; set on the plan that runs.
                step.args.push(format!("--local-scale={factor}"));
                checked.load.settings.deploy.local_scale = Some(Scale::Factor(factor));
            }
        }
    }
    let conditions = Conditions {
        seed,
        local_scale: scale,
        reuse_deployment: plan.reuse_deployment,
    };
    Ok((conditions, plans))
}

/// The seed the earlier experiment in `dir` gave its steps, if it gave one (so `--resume` keeps it).
fn earlier_seed(dir: Option<&Path>) -> Option<u64> {
    let text = std::fs::read_to_string(step_dir(dir?, 0).join("params.json")).ok()?;
    let step: Step = serde_json::from_str(&text).ok()?;
    step.args
        .iter()
        .find_map(|a| a.strip_prefix("--seed=")?.parse().ok())
}

/// A step's `loadgen run` command line (its settings, `-o` the scratch directory it is checked in),
/// parsed by the run's own parser: its flags, their bounds and their conflicts are the run's.
fn step_args(step: &Step, scratch: &Path) -> Result<Box<RunArgs>> {
    let argv = ["loadgen", "run", "-o"]
        .into_iter()
        .map(String::from)
        .chain([scratch.display().to_string()])
        .chain(step.args.iter().cloned())
        .map(std::ffi::OsString::from);
    let cli = crate::cli::parse_command_line(argv)
        .map_err(|e| anyhow::anyhow!("step {}: {}", step.index, e.to_string().trim()))?;
    let CliCommand::Run(args) = cli.command else {
        unreachable!("the step's command is `run`")
    };
    Ok(args)
}
