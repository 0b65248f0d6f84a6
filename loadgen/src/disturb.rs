//! Step 5's companion: the run's interference and faults (`--interference`, `--fault`) follow the
//! replay's timeline on their own thread (the `disturbance` crate), acting on this run's local fleet,
//! local workers and cluster; afterwards what happened is written to `collect/interference.csv` and
//! `collect/faults.csv`, and the records are read once for the before/during/after table.

use std::sync::mpsc::channel;
use std::time::SystemTime;

use anyhow::{Context, Result};
use cmdline::Stop;
use coordinator::{ReplayHooks, WorkerPids};
use deploy::kube::Kubectl;
use disturbance::windows::{Call, PerSecond, Phase};
use disturbance::{Interference, Log, PodSelection, Share, Targets, Timeline};
use formats::files::RunFiles;
use formats::records::Outcome;
use formats::summary::DisturbedPhase;

use crate::plan::RunPlan;

/// What faults act on in this run.
struct RunTargets {
    fleet: Option<emulated::Killer>,
    workers: WorkerPids,
    kubectl: Kubectl,
    run_id: String,
    namespace: String,
    image: String,
}

impl Targets for RunTargets {
    fn kill_instances(&self, function: Option<&str>, share: Share) -> Result<String, String> {
        let fleet = self.fleet.as_ref().ok_or("the run has no local fleet")?;
        let which = match share {
            Share::All => emulated::KillWhich::All,
            Share::Count(n) => emulated::KillWhich::Count(n),
            Share::Percent(p) => emulated::KillWhich::Percent(p),
        };
        let killed = fleet.kill_instances(function, which)?;
        Ok(match function {
            Some(f) => format!("{killed} instances of {f} killed"),
            None => format!("{killed} instances killed"),
        })
    }

    fn worker_pid(&self, worker: u32) -> Option<u32> {
        let pids = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        pids.get(worker as usize).copied().flatten()
    }

    fn delete_pods(&self, selection: &PodSelection) -> Result<Vec<String>, String> {
        disturbance::kubernetes::delete_pods(&self.kubectl, selection)
    }

    fn worker_killed(&self, worker: u32, at: SystemTime) {
        log::warn!(
            "worker {worker} killed at {} (a fault): its calls after its last upload are lost",
            humantime::format_rfc3339_millis(at)
        );
    }

    fn start_on_nodes(&self, entry: usize, interference: &Interference) -> Result<String, String> {
        let manifest = disturbance::kubernetes::manifest(
            interference,
            entry,
            (&self.run_id, &self.namespace, &self.image),
        );
        self.kubectl
            .run_with_input(
                &["apply", "-f", "-"],
                &coordinator::kubernetes::to_yaml(&manifest),
                "starting an interference Job",
            )
            .map_err(|e| e.to_string())?;
        Ok(disturbance::kubernetes::job_name(&self.run_id, entry))
    }

    fn end_on_nodes(&self, entry: usize) -> Result<(), String> {
        let job = format!(
            "{}/{}",
            self.namespace,
            disturbance::kubernetes::job_name(&self.run_id, entry)
        );
        self.kubectl
            .delete("job", &[job], "ending an interference Job")
            .map_err(|e| e.to_string())
    }
}

/// The run's timeline, running; ended (everything it started with it) when finished or dropped.
pub struct Disturbing {
    running: Option<disturbance::timeline::Running>,
    /// What the replay tells the timeline.
    pub hooks: ReplayHooks,
}

impl Disturbing {
    /// Ends what still runs and writes what happened into `files.collect`.
    pub fn finish(mut self, files: &RunFiles) -> Result<Log> {
        let log = self.running.take().map(|r| r.finish()).unwrap_or_default();
        std::fs::create_dir_all(&files.collect)?;
        for (name, text) in [
            (
                "interference.csv",
                disturbance::files::interference_csv(&log),
            ),
            ("faults.csv", disturbance::files::faults_csv(&log)),
        ] {
            let path = files.collect.join(name);
            formats::output::write_atomic(&path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(log)
    }
}

impl Drop for Disturbing {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.finish();
        }
    }
}

/// Runs `replay` (told the hooks the timeline follows) with the run's interference and faults, if it
/// has any: then also what they did and what the run did around them.
pub fn during<T>(
    plan: &RunPlan,
    files: &RunFiles,
    fleet: Option<emulated::Killer>,
    (run_id, stop): (&str, &Stop),
    replay: impl FnOnce(ReplayHooks) -> Result<T>,
) -> Result<(T, Option<(Log, Around)>)> {
    let disturbing = start(plan, files, fleet, (run_id, stop))?;
    let hooks = disturbing
        .as_ref()
        .map(|d| d.hooks.clone())
        .unwrap_or_default();
    // An error in the replay drops `disturbing`, which ends everything it started.
    let replayed = replay(hooks)?;
    let Some(disturbing) = disturbing else {
        return Ok((replayed, None));
    };
    let log = disturbing.finish(files)?;
    let around = around(plan, files, &log)?;
    Ok((replayed, Some((log, around))))
}

/// Starts the run's timeline, if it has one: it waits for the replay's time 0.
fn start(
    plan: &RunPlan,
    files: &RunFiles,
    fleet: Option<emulated::Killer>,
    (run_id, stop): (&str, &Stop),
) -> Result<Option<Disturbing>> {
    if plan.disturb.is_empty() {
        return Ok(None);
    }
    std::fs::create_dir_all(&files.collect)
        .with_context(|| format!("creating {}", files.collect.display()))?;
    let timeline = Timeline {
        interference: plan.disturb.interference.clone(),
        faults: plan.disturb.fault.clone(),
        avoid_cpus: plan.dispatcher_cpus.iter().flatten().copied().collect(),
        dir: files.collect.clone(),
    };
    let (told, zero) = channel();
    let workers: WorkerPids = Default::default();
    let targets = RunTargets {
        fleet,
        workers: workers.clone(),
        kubectl: Kubectl::default(),
        run_id: run_id.to_owned(),
        namespace: plan.replay.namespace.clone(),
        image: plan.replay.invoker_image.clone(),
    };
    Ok(Some(Disturbing {
        running: Some(timeline.start(zero, stop.clone(), Box::new(targets))),
        hooks: ReplayHooks {
            time_zero: Some(told),
            worker_pids: Some(workers),
        },
    }))
}

/// What the run did around its disturbances (summary.json's `disturbed`).
pub type Around = formats::summary::Disturbed;

/// Reads the run's records once and measures each window and fault.
pub fn around(plan: &RunPlan, files: &RunFiles, log: &Log) -> Result<Around> {
    let settings = &plan.load.settings;
    let period_s = settings.trace.granularity().period_us() as f64 / 1e6;
    let run_s = ((settings.warmup_duration + settings.duration) as f64 * period_s).ceil() as usize;
    let warmup_s = (settings.warmup_duration as f64 * period_s).ceil() as usize;
    let mut series = PerSecond::new(run_s, warmup_s);
    formats::records::read_records(&files.records, |r, _| {
        let sent = r.outcome.was_sent();
        series.add(Call {
            due_us: r.scheduled_us,
            latency_us: r.latency_from_scheduled_us,
            sent,
            error: r.outcome != Outcome::Ok
                && !matches!(r.outcome, Outcome::NotSentInterrupted | Outcome::Cancelled),
        });
    })
    .with_context(|| format!("reading {}", files.records.display()))?;
    let end = run_s as f64;
    let mut around = Around::default();
    let mut add = |(entry, spec): (String, &str), phase: &str, figures: Phase| {
        around.phases.push(DisturbedPhase {
            entry,
            spec: spec.to_owned(),
            phase: phase.to_owned(),
            figures,
        });
    };
    for (k, i) in log.interference.iter().enumerate() {
        let (start, stop) = i.window;
        let entry = || (format!("interference.{k}"), i.spec.as_str());
        add(entry(), "before", series.phase(0.0, start));
        add(entry(), "during", series.phase(start, stop));
        add(entry(), "after", series.phase(stop, end));
    }
    let mut recovery = Vec::new();
    for (k, f) in log.faults.iter().enumerate() {
        let before = series.phase(0.0, f.at_s);
        recovery.push((format!("faults.{k}"), series.recovery(f.at_s, &before)));
        let entry = || (format!("faults.{k}"), f.spec.as_str());
        add(entry(), "before", before);
        add(entry(), "after", series.phase(f.at_s, end));
    }
    around.recovery_s = recovery;
    Ok(around)
}

/// The run's windows and faults, to mark on the figures on its time axis.
pub fn time_marks(disturb: &crate::cli::DisturbArgs) -> plots::spec::TimeMarks {
    plots::spec::TimeMarks {
        windows: disturb
            .interference
            .iter()
            .map(|i| (i.start_s, i.stop_s, i.text.clone()))
            .collect(),
        instants: disturb
            .fault
            .iter()
            .map(|f| (f.at_s, f.text.clone()))
            .collect(),
    }
}
