//! `loadgen experiment`: a whole experiment from one TOML file — a plan of steps (sweeps, repeats), each a
//! `loadgen run` in its own directory, with lifecycle hooks around them, then one comparison of all steps
//! (`results.csv`, `report.md` and its figures).
//!
//! The lifecycle of each step: prepare (read or pick the trace), deploy (or reuse the previous step's
//! deployment when it needs the same proxies deployed the same way), warm-up, measure, collect (records,
//! summary, report), clean up (what the next step no longer needs). The hooks run around them:
//! `before-experiment`, `before-step`, `after-step`, `after-experiment`.

mod collect;
pub mod conditions;
mod disturbances;
mod keys;
pub mod plan;
pub mod results;
mod sections;
mod text;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cmdline::Stop;
use formats::summary::Summary;

use crate::cli::ExperimentArgs;
use crate::commands::run::{run_keeping, KeptDeployment};
use crate::output::Staged;
use crate::plan::RunPlan;
use conditions::fix_conditions;
pub use conditions::Conditions;
use formats::files::RunFiles;
pub use plan::{OnFailure, Plan, Step};
pub use results::StepResult;

/// The marker an experiment leaves in its directory.
pub const MARKER: &str = ".loadgen-experiment";

/// What an experiment writes in its directory (what a later one into the same directory removes).
const OWNED: [&str; 5] = ["steps", "results.csv", "report.md", "hooks.log", "figures"];

/// A commented example that runs on this machine in about two minutes, with no cluster.
pub const EXAMPLE: &str = include_str!("example.toml");

/// Runs `args`' experiment.
pub fn experiment(args: &ExperimentArgs, stop: &Stop) -> Result<()> {
    if args.example {
        print!("{EXAMPLE}");
        return Ok(());
    }
    let Some(file) = &args.file else {
        bail!("which experiment? give its TOML file (`loadgen experiment --example` prints one)");
    };
    let mut plan = read_plan(file, args)?;
    print!("{}", crate::report::experiment::plan_table(&plan));
    if let Some(addr) = &args.metrics_addr {
        crate::commands::watch::check_metrics_addr(addr)?;
    }
    let target = &args.output_dir;
    // Refused at once, before every step's trace is read (a dry run writes nothing there anyway).
    if !args.dry_run {
        refuse_finished(target, args)?;
    }
    // Every step checked with its files opened, and its conditions fixed, before anything is touched.
    let (conditions, step_plans) =
        fix_conditions(&mut plan, args.resume.then_some(target.as_path()))?;
    println!("conditions {}", conditions.text());
    if args.dry_run {
        return dry_run(&plan, target);
    }
    // Written out of sight, beside the target, and put in its place only when the experiment completes.
    let id = deploy::kube::new_run_id();
    let staged = Staged::begin(target, MARKER, &OWNED, args.force || args.resume, &id)?;
    if args.resume {
        keep_earlier_steps(target, &staged.work)?;
    }
    let dir = &staged.work.clone();
    let shown = |p: &Path| target.join(p.strip_prefix(dir).unwrap_or(p));

    let started = Instant::now();
    let experiment_log = dir.join("hooks.log");
    let base_env = vec![(
        "LOADGEN_EXPERIMENT_DIR".to_owned(),
        absolute(dir).display().to_string(),
    )];
    let mut failures: Vec<String> = Vec::new();
    if let Err(e) = hook(&plan, "before-experiment", dir, &experiment_log, &base_env) {
        failures.push(format!("before-experiment hook: {e:#}"));
    }
    let results = run_steps(
        &plan,
        &step_plans,
        dir,
        args,
        &base_env,
        stop,
        &mut failures,
    )?;
    if let Err(e) = hook(&plan, "after-experiment", dir, &experiment_log, &base_env) {
        failures.push(format!("after-experiment hook: {e:#}"));
    }
    write_outputs(dir, &plan, &conditions, &results, started.elapsed())?;
    // Complete: every step attempted (a failed one under `continue` included), or interrupted, which
    // keeps what it did. A failure that stopped the plan leaves the earlier experiment in place.
    let complete = results.len() == plan.steps.len() || stop.requested();
    if !complete {
        let failed = staged.keep_failed()?;
        bail!(
            "{} failure(s): {}; {} of {} steps run. {} is as it was; this experiment's steps, results.csv \
             and report.md are in {}",
            failures.len(),
            failures.join("; "),
            results.len(),
            plan.steps.len(),
            target.display(),
            failed.display()
        );
    }
    staged.commit()?;
    println!(
        "experiment {} of {} steps run in {:.1} s -> {}, {}",
        results.len(),
        plan.steps.len(),
        started.elapsed().as_secs_f64(),
        shown(&dir.join("results.csv")).display(),
        shown(&dir.join("report.md")).display()
    );
    if stop.requested() {
        bail!(
            "interrupted after {} of {} steps; results.csv and report.md hold the steps done",
            results.len(),
            plan.steps.len()
        );
    }
    if !failures.is_empty() {
        bail!("{} failure(s): {}", failures.len(), failures.join("; "));
    }
    Ok(())
}

/// Runs one step's plan into its (new) directory; its summary.
fn run_step(
    plan: &RunPlan,
    step_dir: &Path,
    stop: &Stop,
    kept: &mut KeptDeployment,
) -> Result<Summary> {
    let files = RunFiles::for_workers(step_dir, plan.invokers).compressed(plan.replay.compress);
    let run_id = deploy::kube::new_run_id();
    Ok(run_keeping(plan, stop, kept, files, &run_id)?.summary)
}

/// A step's checked plan as it runs: into `step_dir`, watched as the experiment says.
fn step_plan(checked: &RunPlan, step_dir: &Path, args: &ExperimentArgs) -> RunPlan {
    let mut plan = checked.clone();
    plan.output_dir = step_dir.to_owned();
    plan.observe.quiet = args.quiet;
    plan.observe.metrics_addr = args.metrics_addr.clone();
    plan
}

/// Runs the plan's steps in order (each from fresh instances unless `reuse-deployment`), until one
/// fails under `on-failure = "stop"` or Ctrl-C; `--resume` keeps the steps already done.
fn run_steps(
    plan: &Plan,
    step_plans: &[RunPlan],
    dir: &Path,
    args: &ExperimentArgs,
    base_env: &[(String, String)],
    stop: &Stop,
    failures: &mut Vec<String>,
) -> Result<Vec<StepResult>> {
    let bar = crate::progress::progress_bar(plan.steps.len() as u64, "step");
    let mut kept = KeptDeployment::default();
    let mut results: Vec<StepResult> = Vec::new();
    let mut last_end: Option<Instant> = None;
    let stop_on_failure = plan.on_failure != OnFailure::Continue;
    for step in &plan.steps {
        if stop.requested() || (stop_on_failure && !failures.is_empty()) {
            break;
        }
        let step_dir = step_dir(dir, step.index);
        let params = serde_json::to_string_pretty(step).expect("a step serialises");
        let params_path = step_dir.join("params.json");
        if args.resume {
            if let Some(done) = kept_step(step, &step_dir, &params)? {
                results.push(StepResult::done(step, done));
                bar.inc(1);
                continue;
            }
        }
        std::fs::create_dir_all(&step_dir)
            .with_context(|| format!("creating {}", step_dir.display()))?;
        formats::output::write_atomic(&params_path, params.as_bytes())
            .with_context(|| format!("writing {}", params_path.display()))?;
        if let Some(end) = last_end {
            pause_between_steps(end, plan.between_steps, stop);
        }
        println!(
            "step {:>3}  {} of {}: {}",
            step.index,
            step.index + 1,
            plan.steps.len(),
            params_text(step)
        );
        if !plan.reuse_deployment {
            // Every step starts from the same platform state: fresh instances, not the last step's warm
            // ones (local servers restarted; Knative services deleted, then applied again).
            kept.release()
                .context("removing the previous step's deployment")?;
        }
        let step_plan = step_plan(&step_plans[step.index], &step_dir, args);
        let outcome = run_with_hooks(plan, step, &step_plan, dir, base_env, stop, &mut kept);
        last_end = Some(Instant::now());
        match outcome {
            Ok(summary) => results.push(StepResult::done(step, summary)),
            Err(e) => {
                let text = step_failed(step, &step_dir, &e);
                failures.push(format!("step {}: {text}", step.index));
                results.push(StepResult::failed(step, text));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    // What the last step deployed goes with the experiment.
    if let Err(e) = kept.release() {
        failures.push(format!("cleaning up: {e:#}"));
    }
    Ok(results)
}

/// The experiment file's plan (ours, or STeLLAR's JSON); one of more than [`plan::LARGE_PLAN`] steps
/// only with `--yes`.
fn read_plan(file: &Path, args: &ExperimentArgs) -> Result<Plan> {
    let yes = args.yes;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let plan = if ::stellar::experiment::is_stellar_experiment(&text) {
        crate::stellar_step::experiment_plan(
            file,
            args.endpoints.as_deref(),
            (args.timing.as_deref(), args.store.as_deref()),
        )?
    } else if args.endpoints.is_some() || args.timing.is_some() || args.store.is_some() {
        bail!("--endpoints, --timing and --store are for STeLLAR experiment files (JSON with `SubExperiments`; a TOML experiment sets `store` in [run] or [sweep]); {} is not one", file.display())
    } else {
        Plan::read(file)?
    };
    if plan.steps.len() > plan::LARGE_PLAN && !yes {
        bail!(
            "{}: the plan has {} steps, more than {}: pass --yes to run them all",
            file.display(),
            plan.steps.len(),
            plan::LARGE_PLAN
        );
    }
    Ok(plan)
}

/// Waits until `between_steps` seconds have passed since the last step ended, or Ctrl-C.
fn pause_between_steps(last_end: Instant, between_steps: f64, stop: &Stop) {
    let pause = Duration::from_secs_f64(between_steps);
    while last_end.elapsed() < pause && !stop.requested() {
        std::thread::sleep(Duration::from_millis(20).min(pause));
    }
}

/// Says why a step failed, and keeps it beside the step as `error.txt`; returns the words.
fn step_failed(step: &Step, step_dir: &Path, e: &anyhow::Error) -> String {
    let text = cmdline::error_text(e);
    eprintln!("step {:>3}  failed: {text}", step.index);
    let _ = formats::output::write_atomic(
        &step_dir.join("error.txt"),
        (text.clone() + "\n").as_bytes(),
    );
    text
}

/// A step `--resume` keeps: its summary, when its directory holds it whole with the same settings;
/// otherwise the directory is emptied, and the step runs again.
fn kept_step(step: &Step, step_dir: &Path, params: &str) -> Result<Option<Summary>> {
    match finished(step_dir, params) {
        Ok(done) => {
            println!(
                "step {:>3}  already done (--resume): {}",
                step.index,
                params_text(step)
            );
            return Ok(Some(done));
        }
        Err(why) if step_dir.exists() => {
            println!("step {:>3}  run again (--resume): {why}", step.index);
        }
        Err(_) => {}
    }
    if step_dir.exists() {
        std::fs::remove_dir_all(step_dir)
            .with_context(|| format!("removing {}", step_dir.display()))?;
    }
    Ok(None)
}

/// Runs one step between its hooks, tried again as `on-failure = "retry:N"` says.
fn run_with_hooks(
    plan: &Plan,
    step: &Step,
    step_plan: &RunPlan,
    dir: &Path,
    base_env: &[(String, String)],
    stop: &Stop,
    kept: &mut KeptDeployment,
) -> Result<Summary> {
    let step_dir = step_plan.output_dir.as_path();
    let attempts = match plan.on_failure {
        OnFailure::Retry(n) => n as usize + 1,
        _ => 1,
    };
    let log = step_dir.join("hooks.log");
    let env = step_env(base_env, step, step_dir);
    let mut outcome = Err(anyhow::anyhow!("not run"));
    for attempt in 0..attempts {
        if attempt > 0 {
            println!(
                "step {:>3}  retry {attempt} of {}",
                step.index,
                attempts - 1
            );
        }
        outcome = hook(plan, "before-step", dir, &log, &env)
            .context("before-step hook")
            .and_then(|()| run_step(step_plan, step_dir, stop, kept));
        let after = hook(plan, "after-step", dir, &log, &env).context("after-step hook");
        outcome = outcome.and_then(|summary| after.map(|()| summary));
        if outcome.is_ok() || stop.requested() {
            break;
        }
    }
    outcome
}

/// results.csv, the figures and report.md of the steps run.
fn write_outputs(
    dir: &Path,
    plan: &Plan,
    conditions: &Conditions,
    results: &[StepResult],
    elapsed: Duration,
) -> Result<()> {
    results::write_csv(&dir.join("results.csv"), plan, results)?;
    let figures = crate::report::experiment::figures(dir, plan, results);
    let mut report =
        crate::report::experiment::markdown(plan, conditions, results, &figures, elapsed);
    if let Some(section) =
        crate::stellar_step::experiment_figure(dir, plan, |index| step_dir(dir, index))
    {
        report.push_str(&section);
    }
    formats::output::write_atomic(&dir.join("report.md"), report.as_bytes())
        .with_context(|| format!("writing {}", dir.join("report.md").display()))?;
    Ok(())
}

/// Refuses to replace a finished experiment unless told: `--resume` goes on with it, `--force` replaces it.
fn refuse_finished(target: &Path, args: &ExperimentArgs) -> Result<()> {
    let finished = target.join(MARKER).exists() && target.join("results.csv").exists();
    if finished && !args.resume && !args.force {
        bail!(
            "-o {}: holds a finished experiment (results.csv, report.md, steps/); pass --resume to go on \
             with it (steps done with the same settings are kept), --force to replace it, or choose another \
             directory",
            target.display()
        );
    }
    Ok(())
}

/// `--resume`: the earlier experiment's steps (and hooks log), linked into the staging directory (no
/// copy of the records; every file is replaced, never rewritten in place, so the earlier ones stay as
/// they are until the swap).
fn keep_earlier_steps(target: &Path, work: &Path) -> Result<()> {
    let steps = target.join("steps");
    if steps.is_dir() {
        link_tree(&steps, &work.join("steps"))?;
    }
    let log = target.join("hooks.log");
    if log.is_file() {
        std::fs::copy(&log, work.join("hooks.log"))
            .with_context(|| format!("copying {}", log.display()))?;
    }
    Ok(())
}

/// Recreates the tree `from` at `to`, each file a hard link (a copy where links are not possible).
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            link_tree(&src, &dst)?;
        } else if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

/// A step's directory.
pub fn step_dir(dir: &Path, index: usize) -> PathBuf {
    dir.join("steps").join(format!("{index:03}"))
}

/// The summary of a step already done with these settings, or why it does not count as done: other
/// settings, an interrupted run, or records that do not match its summary (a header that is not ours, or
/// not one row per scheduled call: a truncated file).
fn finished(step_dir: &Path, params: &str) -> std::result::Result<Summary, String> {
    let written = std::fs::read_to_string(step_dir.join("params.json"))
        .map_err(|_| "no params.json".to_owned())?;
    if written != params {
        return Err("its settings changed".into());
    }
    let files = RunFiles::in_dir(step_dir);
    let summary =
        formats::summary::read(&files.summary).map_err(|e| format!("no readable summary ({e})"))?;
    if summary.interrupted {
        return Err("it was interrupted".into());
    }
    let records = files.records;
    // Read whole: the header and every row are checked, so a file cut inside a row is refused too.
    let mut rows = 0u64;
    formats::records::read_records(&records, |_, _| rows += 1)
        .map_err(|e| format!("its records cannot be read: {e}"))?;
    if rows != summary.scheduled_total {
        return Err(format!(
            "{} holds {rows} rows for {} scheduled calls",
            records.display(),
            summary.scheduled_total
        ));
    }
    Ok(summary)
}

fn params_text(step: &Step) -> String {
    let params: Vec<String> = step
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "{}repeat {}",
        if params.is_empty() {
            String::new()
        } else {
            format!("{}, ", params.join(", "))
        },
        step.repeat
    )
}

/// The hooks' environment for a step: its number, repeat and directory, and one `LOADGEN_PARAM_<KEY>`
/// per swept key (upper case, `-` and `.` as `_`).
fn step_env(base: &[(String, String)], step: &Step, step_dir: &Path) -> Vec<(String, String)> {
    let mut env = base.to_vec();
    env.push(("LOADGEN_STEP".into(), step.index.to_string()));
    env.push(("LOADGEN_REPEAT".into(), step.repeat.to_string()));
    env.push((
        "LOADGEN_STEP_DIR".into(),
        absolute(step_dir).display().to_string(),
    ));
    for (k, v) in &step.params {
        env.push((
            format!(
                "LOADGEN_PARAM_{}",
                k.to_uppercase().replace(['-', '.'], "_")
            ),
            v.clone(),
        ));
    }
    env
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// Runs hook `name` (if the plan has it) with `sh -c` in `dir`, its output appended to `log`.
fn hook(plan: &Plan, name: &str, dir: &Path, log: &Path, env: &[(String, String)]) -> Result<()> {
    let Some(command) = plan.hooks.get(name) else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let _ = writeln!(file, "# {name}: {command}");
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting the {name} hook"))?;
    file.write_all(&output.stdout)
        .and_then(|()| file.write_all(&output.stderr))
        .with_context(|| format!("writing {}", log.display()))?;
    if !output.status.success() {
        bail!(
            "`{command}` failed ({}); its output is in {}",
            output.status,
            log.display()
        );
    }
    Ok(())
}

/// `--dry-run`: every step's settings checked as its run would take them, with its files opened (the
/// profile parsed, the trace read and mapped); nothing deployed or sent. The settings (and, on Knative,
/// the YAMLs) are written only into a directory that does not exist yet, never into an existing one.
fn dry_run(plan: &Plan, target: &Path) -> Result<()> {
    if target.exists() {
        println!(
            "dry run    {} steps planned and checked (settings, profile, trace and mapping); nothing written: \
             -o {} exists, and a dry run writes only into a new directory",
            plan.steps.len(),
            target.display()
        );
        return Ok(());
    }
    let id = deploy::kube::new_run_id();
    let staged = Staged::begin(target, MARKER, &OWNED, false, &id)?;
    let mut yamls = 0;
    for step in &plan.steps {
        let step_dir = step_dir(&staged.work, step.index);
        std::fs::create_dir_all(&step_dir)
            .with_context(|| format!("creating {}", step_dir.display()))?;
        let params = serde_json::to_string_pretty(step).expect("a step serialises");
        formats::output::write_atomic(&step_dir.join("params.json"), params.as_bytes())?;
        let knative = step.args.iter().any(|a| a == "--deployer=knative");
        if knative {
            // The step's YAMLs, as `loadgen deploy --dry-run` writes them (nothing is applied).
            let argv: Vec<std::ffi::OsString> = ["loadgen", "deploy", "--dry-run", "-o"]
                .into_iter()
                .map(String::from)
                .chain([RunFiles::in_dir(&step_dir).load.display().to_string()])
                .chain(step.args.iter().filter(|a| for_deploy(a)).cloned())
                .chain(["-b".into(), step_dir.join("build").display().to_string()])
                .map(Into::into)
                .collect();
            let cli = crate::cli::parse_command_line(argv)
                .map_err(|e| anyhow::anyhow!("step {}: {}", step.index, e.to_string().trim()))?;
            crate::commands::run(cli, &Stop::new())?;
            yamls += 1;
        }
    }
    staged.commit()?;
    println!(
        "dry run    {} steps planned and checked; settings in {}/NNN/params.json{}; nothing deployed or sent",
        plan.steps.len(),
        target.join("steps").display(),
        if yamls > 0 {
            format!(", Knative YAMLs in {}/NNN/build", target.join("steps").display())
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Whether a step argument (`--name=value`, or a bare `--name`) is one `loadgen deploy` takes, as its
/// own definition says. `--build` is left out: the dry run writes each step's YAMLs into the step's
/// directory.
fn for_deploy(arg: &str) -> bool {
    static FLAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let flags = FLAGS.get_or_init(|| {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        let deploy = cli
            .find_subcommand("deploy")
            .expect("deploy is a subcommand");
        deploy
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect()
    });
    let name = arg.trim_start_matches('-').split('=').next().unwrap_or("");
    name != "build" && flags.iter().any(|f| f == name)
}
