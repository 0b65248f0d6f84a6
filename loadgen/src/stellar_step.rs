//! STeLLAR's experiments as ours: `loadgen experiment FILE.json` makes each sub-experiment a step (all of
//! them one step when `"Sequential": false`), so results.csv, report.md, resume, hooks and dry run are
//! the experiment machinery's; each step's `run` replays its sub-experiment(s) at gateways (emulated
//! functions on loopback, or an endpoints file's) and writes STeLLAR's latency CSV beside our records.
//! The reading of STeLLAR's files and the rounds of bursts are the `stellar` crate's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ::stellar::{Experiment, SubExperiment};
use anyhow::{bail, Context, Result};
use cmdline::Stop;
use formats::files::RunFiles;
use invoker::dispatch::{Pacing, ReplayOptions};

use crate::cli::StellarArgs;
use crate::commands::run::RunOutcome;
use crate::experiment::plan::Setting;
use crate::experiment::{OnFailure, Plan};
use crate::plan::RunPlan;

/// A STeLLAR step, checked.
#[derive(Debug, Clone)]
pub struct StellarPlan {
    /// The experiment file.
    pub experiment: Experiment,
    /// The sub-experiments this step runs (at once when several).
    pub subs: Vec<usize>,
    /// Per sub-experiment, its gateways' URLs, from an endpoints file; none: emulated functions.
    pub gateways: Option<Vec<Vec<String>>>,
    /// Open loop (`--stellar-timing scheduled`) rather than STeLLAR's closed loop.
    pub scheduled: bool,
}

impl StellarPlan {
    /// Checks the step's flags: the file read, the sub-experiment found, the endpoints read and each
    /// gateway's URL made (enough of them for every sub-experiment's Parallelism).
    pub fn check(args: &StellarArgs, file: &Path) -> Result<StellarPlan> {
        let experiment = Experiment::read(file)?;
        let count = experiment.sub_experiments.len();
        let subs = match args.stellar_sub.as_str() {
            "all" => (0..count).collect(),
            n => match n.parse::<usize>() {
                Ok(i) if i < count => vec![i],
                _ => bail!(
                    "--stellar-sub {n}: {} has sub-experiments 0 to {} (or `all`)",
                    file.display(),
                    count - 1
                ),
            },
        };
        let gateways = match &args.stellar_endpoints {
            None => None,
            Some(path) => Some(assign_gateways(&experiment, &subs, path)?),
        };
        if gateways.is_some() && experiment.provider == "aws" {
            // Checked now, not when the first call is signed.
            for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
                if std::env::var_os(name).is_none() {
                    bail!("provider `aws` signs its calls with AWS Signature V4: the environment variable `{name}` is not set");
                }
            }
        }
        Ok(StellarPlan {
            experiment,
            subs,
            gateways,
            scheduled: args.stellar_timing == "scheduled",
        })
    }
}

/// Each sub-experiment's gateways from an endpoints file, in order: STeLLAR's provider URL shapes.
fn assign_gateways(
    experiment: &Experiment,
    subs: &[usize],
    path: &Path,
) -> Result<Vec<Vec<String>>> {
    let listed = ::stellar::endpoints::read_gateways(path)?;
    let region = aws_region();
    let urls = listed
        .iter()
        .enumerate()
        .map(|(i, g)| {
            ::stellar::endpoints::gateway_url(&experiment.provider, &g.id, &region).map_err(|e| {
                anyhow::anyhow!("{}: [{i}].GatewayID (`{}`): {e}", path.display(), g.id)
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut next = 0;
    let mut assigned = Vec::with_capacity(subs.len());
    for &i in subs {
        let sub = &experiment.sub_experiments[i];
        let wanted = sub.parallelism as usize;
        if next + wanted > urls.len() {
            bail!(
                "{}: {} gateway(s) listed, but sub-experiment {i} (`{}`) needs {wanted} (Parallelism) after the {next} taken before it",
                path.display(),
                urls.len(),
                sub.title
            );
        }
        assigned.push(urls[next..next + wanted].to_vec());
        next += wanted;
    }
    Ok(assigned)
}

/// The experiment plan of a STeLLAR file: a step per sub-experiment (one step for all when
/// `"Sequential": false`), with the endpoints and timing given.
pub fn experiment_plan(
    file: &Path,
    endpoints: Option<&Path>,
    timing: Option<&str>,
) -> Result<Plan> {
    let experiment = Experiment::read(file)?;
    let setting = |key: &str, value: String| Setting {
        key: key.to_owned(),
        value,
        line: 1,
    };
    let mut base = vec![setting("stellar", file.display().to_string())];
    if let Some(e) = endpoints {
        base.push(setting("stellar-endpoints", e.display().to_string()));
    }
    base.push(setting(
        "stellar-timing",
        timing.unwrap_or("stellar").to_owned(),
    ));
    let subs: Vec<String> = if experiment.sequential {
        (0..experiment.sub_experiments.len())
            .map(|i| i.to_string())
            .collect()
    } else {
        vec!["all".to_owned()]
    };
    let mut plan = Plan {
        file: file.to_owned(),
        base,
        swept: vec![(setting("stellar-sub", String::new()), subs)],
        zip: false,
        repeats: 1,
        hooks: Default::default(),
        between_steps: 0.0,
        on_failure: OnFailure::Stop,
        reuse_deployment: false,
        steps: Vec::new(),
    };
    plan.steps = plan.expand(None);
    Ok(plan)
}

/// AWS's region: `AWS_REGION`, or STeLLAR's default.
fn aws_region() -> String {
    std::env::var("AWS_REGION")
        .unwrap_or_else(|_| ::stellar::endpoints::DEFAULT_AWS_REGION.to_owned())
}

/// Runs a STeLLAR step into `files`: its gateways up (emulated functions unless an endpoints file gave
/// them), its sub-experiments replayed, our records and summary, STeLLAR's latency CSVs, a report.
pub fn run(plan: &RunPlan, step: &StellarPlan, stop: &Stop, files: RunFiles) -> Result<RunOutcome> {
    let subs: Vec<&SubExperiment> = step
        .subs
        .iter()
        .map(|&i| &step.experiment.sub_experiments[i])
        .collect();
    let mut servers = None;
    let gateways = match &step.gateways {
        Some(given) => given.clone(),
        None => {
            let (fleet, urls) = local_gateways(&subs)?;
            servers = Some(fleet);
            urls
        }
    };
    let pairs: Vec<(SubExperiment, Vec<String>)> =
        subs.iter().map(|s| (*s).clone()).zip(gateways).collect();
    let rate = emulated::function::spin_rate_per_us();
    let planned = ::stellar::step::step_plan(&pairs, plan.load.seed, rate);
    let planned = if step.scheduled {
        planned.scheduled()
    } else {
        planned
    };
    println!(
        "stellar    {} sub-experiment(s) of {}, {} calls, {} timing",
        subs.len(),
        step.experiment.file.display(),
        planned.schedule.calls.len(),
        if step.scheduled {
            "scheduled (open loop)"
        } else {
            "STeLLAR's closed loop"
        }
    );
    let replayed = planned.replay(replay_options(plan, step, &files, stop), &files.dir)?;
    drop(servers);
    let summary = replayed.summary;
    print!("{summary}");
    formats::summary::write(&files.summary, &summary)?;
    let mut per_part: Vec<Vec<f64>> = vec![Vec::new(); subs.len()];
    formats::records::read_records(&files.records, |r, _| {
        let part = replayed.part_of_call.get(r.index as usize).copied();
        if let (Some(part), formats::records::Outcome::Ok, Some(l)) =
            (part, r.outcome, r.latency_us)
        {
            per_part[part as usize].push(l as f64 / 1e3);
        }
    })?;
    let titles = subs.iter().map(|s| s.title.clone());
    let figure = draw_cdf(&files.plots, CDF_TITLE, titles.zip(per_part).collect());
    let mut report = report(
        step,
        &subs,
        &replayed.latencies,
        &replayed.drift,
        &files,
        rate,
    );
    report.push_str(&figure_markdown(&figure, &files.dir));
    formats::output::write_atomic(&files.report, report.as_bytes())
        .with_context(|| format!("writing {}", files.report.display()))?;
    println!("report     {}", files.show(&files.report).display());
    Ok(RunOutcome {
        files,
        generated: None,
        summary,
    })
}

/// One emulated function per gateway of every sub-experiment: STeLLAR's measurement function (no work
/// but the spin each call asks for), on loopback, called over HTTP/1.1.
fn local_gateways(subs: &[&SubExperiment]) -> Result<(emulated::LocalServers, Vec<Vec<String>>)> {
    let total: usize = subs.iter().map(|s| s.parallelism as usize).sum();
    let behaviour = emulated::Behaviour {
        cpu_share: 0.0,
        ..emulated::Behaviour::fixed("stellar-gateway", 0.0, 0.0)
    };
    let threads = host::online_cpus().max(1);
    let fleet = emulated::LocalServers::start(vec![behaviour; total], threads, None)
        .context("starting the gateways' emulated functions")?;
    let mut urls = fleet
        .endpoints()
        .into_iter()
        .map(|e| format!("http://{e}/"));
    let per_sub = subs
        .iter()
        .map(|s| urls.by_ref().take(s.parallelism as usize).collect())
        .collect();
    Ok((fleet, per_sub))
}

fn replay_options(
    plan: &RunPlan,
    step: &StellarPlan,
    files: &RunFiles,
    stop: &Stop,
) -> ReplayOptions {
    let timeout = plan.replay.grpc_timeout;
    let mut request = plan.replay.request.clone();
    if step.gateways.is_some() && step.experiment.provider == "aws" {
        // STeLLAR's API Gateway calls: POSTs signed for execute-api.
        request.method = "POST".into();
        request.aws_sigv4 = Some(format!("execute-api:{}", aws_region()));
    }
    ReplayOptions {
        default_port: 80,
        grpc_timeout: timeout,
        connect_timeout: timeout.min(Duration::from_secs(5)),
        connections: plan.replay.connections as usize,
        max_in_flight: plan.replay.max_in_flight,
        start_at: None,
        shard: None,
        allow_unreachable: false,
        realtime: plan.replay.realtime,
        shared_cpu: true,
        dispatcher_cpu: None,
        records: Some(files.records.clone()),
        latency_file: Some(files.latencies.clone()),
        stop: stop.clone(),
        observer: None,
        request,
        pacing: Pacing::Scheduled,
    }
}

/// The step's report: each sub-experiment, its STeLLAR file, its loop's drift, and what was read but
/// does not apply here.
fn report(
    step: &StellarPlan,
    subs: &[&SubExperiment],
    latencies: &[(PathBuf, u64)],
    drift: &[Option<::stellar::step::Drift>],
    files: &RunFiles,
    rate: f64,
) -> String {
    let mut md = format!(
        "# STeLLAR step\n\nExperiment `{}` (provider `{}`), timing: {}.\n\n\
         | sub-experiment | bursts | burst sizes | IAT (s) | IAT type | answered | loop drift max / last (ms) | STeLLAR latencies |\n\
         |---|---:|---|---:|---|---:|---|---|\n",
        step.experiment.file.display(),
        step.experiment.provider,
        if step.scheduled { "scheduled (every burst at its instant, open loop)" } else { "STeLLAR's closed loop" },
    );
    for ((sub, (csv, rows)), drift) in subs.iter().zip(latencies).zip(drift) {
        md.push_str(&format!(
            "| {} | {} | {:?} | {} | {:?} | {rows} | {} | `{}` |\n",
            sub.title,
            sub.bursts,
            sub.burst_sizes,
            sub.iat_seconds,
            sub.iat_type,
            drift.map_or("(open loop)".into(), |d| format!(
                "{:.1} / {:.1}",
                d.max_ms, d.last_ms
            )),
            csv.strip_prefix(&files.dir).unwrap_or(csv).display()
        ));
    }
    md.push_str(&format!(
        "\nService times are sent as STeLLAR's `IncrementLimit`, at {rate:.0} increments/µs (this machine's \
         busy-spin rate). Loop drift: how late each round started against the sum of the sleeps, as the \
         closed loop waits for every answer.\n"
    ));
    if subs.iter().any(|s| {
        s.iat_type == ::stellar::experiment::IatType::Deterministic && s.iat_seconds.fract() != 0.0
    }) {
        md.push_str("\nSTeLLAR truncates a deterministic IAT to whole seconds; this run keeps its fraction.\n");
    }
    if !step.experiment.not_applicable.is_empty() {
        md.push_str(&format!(
            "\nRead but not applicable here (cloud deployment fields): {}.\n",
            step.experiment
                .not_applicable
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    md
}

/// The name of the latency CDF figure, in a step's `plots/` and an experiment's `figures/`.
const CDF: &str = "stellar_latency_cdf";

/// Its title.
const CDF_TITLE: &str = "Latency of each sub-experiment (answer − send)";

/// Draws a latency CDF of `groups` (title, latencies in ms) into `dir`, with all warm and all cold
/// sub-experiments together when their titles say which they are; the figure, or why it is not drawn.
fn draw_cdf(
    dir: &Path,
    title: &str,
    mut groups: Vec<(String, Vec<f64>)>,
) -> Result<plots::spec::Figure, String> {
    for kind in ["warm", "cold"] {
        let of_kind: Vec<&(String, Vec<f64>)> = groups
            .iter()
            .filter(|(t, _)| t.to_ascii_lowercase().contains(kind))
            .collect();
        if of_kind.len() > 1 {
            let all = of_kind
                .iter()
                .flat_map(|(_, v)| v.iter().copied())
                .collect();
            groups.push((format!("all {kind}"), all));
        }
    }
    let data = plots::results::latency_cdf_of(title, &groups)?;
    plots::render(dir, CDF, data).map_err(|e| e.to_string())
}

/// The figure as a report section, its path relative to `base`.
fn figure_markdown(figure: &Result<plots::spec::Figure, String>, base: &Path) -> String {
    match figure {
        Ok(f) => format!(
            "\n![Latency CDF]({})\n",
            f.png.strip_prefix(base).unwrap_or(&f.png).display()
        ),
        Err(e) => format!("\nThe latency CDF is not drawn: {e}.\n"),
    }
}

/// For a STeLLAR experiment (its steps run with `--stellar`), the latency CDF of all its
/// sub-experiments as a report section, from the steps in `dir`: drawn into `figures/` from each step's
/// records when each step is one sub-experiment, or the one step's own when they ran at once.
pub fn experiment_figure(dir: &Path, plan: &Plan) -> Option<String> {
    let file = plan.base.iter().find(|s| s.key == "stellar")?;
    let experiment = Experiment::read(Path::new(&file.value)).ok()?;
    let mut groups = Vec::new();
    for step in &plan.steps {
        let sub = step
            .params
            .iter()
            .find(|(k, _)| k == "stellar-sub")?
            .1
            .parse::<usize>();
        let step_dir = crate::experiment::step_dir(dir, step.index);
        let Ok(sub) = sub else {
            // All at once: the step's figure covers them all.
            let png = step_dir.join("plots").join(format!("{CDF}.png"));
            return png.is_file().then(|| {
                format!(
                    "\n## Latency of each sub-experiment\n\n![Latency CDF]({})\n",
                    png.strip_prefix(dir).unwrap_or(&png).display()
                )
            });
        };
        let mut latencies = Vec::new();
        let read = formats::records::read_records(&step_dir.join("records.csv"), |r, _| {
            if let (formats::records::Outcome::Ok, Some(l)) = (r.outcome, r.latency_us) {
                latencies.push(l as f64 / 1e3);
            }
        });
        if read.is_ok() {
            groups.push((
                experiment.sub_experiments.get(sub)?.title.clone(),
                latencies,
            ));
        }
    }
    let figure = draw_cdf(&dir.join("figures"), CDF_TITLE, groups);
    Some(format!(
        "\n## Latency of each sub-experiment\n{}",
        figure_markdown(&figure, dir)
    ))
}
