//! An experiment file, read and expanded into its steps. Each step is a `loadgen run` command line: the
//! `[run]` base settings and the step's swept values become run flags, so every run flag, its bounds and
//! its checks apply unchanged. Every error names the file and the line. The format is shown, commented,
//! in `example.toml` (`loadgen experiment --example`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::CommandFactory;
use serde::{Deserialize, Serialize};

use super::disturbances;
pub use super::keys::{OnFailure, Setting, HOOKS, KNATIVE_KEYS};
use super::sections::{self, Reader, RunSection, Sweep};
use super::text::{header_line, line_at, line_of};
use crate::cli::Cli;

/// Steps above which a plan needs `--yes`.
pub const LARGE_PLAN: usize = 1000;

/// One step of the plan: one combination of swept values, one repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// 0-based, in plan order.
    pub index: usize,
    /// 0-based repeat of its combination.
    pub repeat: usize,
    /// Swept key → value, in `[sweep]` order.
    pub params: Vec<(String, String)>,
    /// The `loadgen run` arguments (after `run`; `-o` is added when the step runs).
    pub args: Vec<String>,
}

/// An experiment file, read.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The file.
    pub file: PathBuf,
    /// `[run]` base settings (experiment-only keys removed).
    pub base: Vec<Setting>,
    /// Swept keys and their values, in file order.
    pub swept: Vec<(Setting, Vec<String>)>,
    /// `grid` or `zip`.
    pub zip: bool,
    /// Each combination this many times.
    pub repeats: usize,
    /// Hook commands by event.
    pub hooks: BTreeMap<String, String>,
    /// Seconds between steps.
    pub between_steps: f64,
    /// What a failure does.
    pub on_failure: OnFailure,
    /// Whether a step may reuse the previous step's deployment (warm instances and all) when it needs the
    /// same one; by default every step starts from fresh instances.
    pub reuse_deployment: bool,
    /// The steps.
    pub steps: Vec<Step>,
}

/// The long names of `loadgen run`'s flags.
fn run_flags() -> Vec<String> {
    let cli = Cli::command();
    let run = cli.find_subcommand("run").expect("run is a subcommand");
    run.get_arguments()
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect()
}

/// The run flags that take no value (`--keep-idle`): `true` sets them, `false` leaves them out.
fn switches() -> &'static [String] {
    static SWITCHES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SWITCHES.get_or_init(|| {
        let cli = Cli::command();
        let run = cli.find_subcommand("run").expect("run is a subcommand");
        run.get_arguments()
            .filter(|a| !a.get_action().takes_values())
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect()
    })
}

impl Plan {
    /// Reads and expands `file`.
    pub fn read(file: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        Plan::parse(file, &text)
    }

    /// Expands `text`, the content of `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Plan> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_at(text, s.start));
            anyhow::anyhow!("{}: {}", sections::at(file, line), e.message())
        })?;
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let reader = Reader {
            file,
            text,
            dir,
            table,
            flags: run_flags(),
        };
        let at = |line: usize| reader.at(line);
        for section in reader.table.keys() {
            let tables = [
                "run",
                "sweep",
                "hooks",
                "knative",
                "collect",
                "interference",
                "faults",
            ];
            if !tables.contains(&section.as_str()) {
                bail!(
                    "{}: unknown table `[{section}]` (the tables are [run], [sweep], [hooks], [knative], [collect], [[interference]], [[faults]])",
                    at(line_of(text, "", section).max(header_line(text, section)))
                );
            }
        }
        let RunSection {
            mut base,
            between_steps,
            on_failure,
            reuse_deployment,
        } = reader.run()?;
        base.extend(reader.knative()?);
        base.extend(disturbances::entries((&reader.table, text), &at)?);
        // [collect]: the collectors of every step.
        for (key, value, line) in super::collect::settings(&reader.section("collect")?, text, &at)?
        {
            base.push(Setting { key, value, line });
        }
        let hooks = reader.hooks()?;
        let Sweep {
            zip,
            repeats,
            swept,
        } = reader.sweep()?;

        // Each setting alone must be a valid run flag value: refused here, with its line.
        let trace = base
            .iter()
            .find(|s| s.key == "trace")
            .map(|s| PathBuf::from(&s.value));
        check_each_setting(&at, &base, &swept, trace.as_deref())?;

        let mut plan = Plan {
            file: file.to_owned(),
            base,
            swept,
            zip,
            repeats,
            hooks,
            between_steps,
            on_failure,
            reuse_deployment,
            steps: Vec::new(),
        };
        plan.steps = plan.expand(trace.as_deref());
        if plan.steps.is_empty() {
            bail!("{}: the plan has zero steps", file.display());
        }
        // Every step's whole command line must parse too (flags that conflict only together).
        for step in &plan.steps {
            let argv = ["loadgen", "run"]
                .iter()
                .map(|s| s.to_string())
                .chain(step.args.iter().cloned())
                .map(std::ffi::OsString::from);
            if let Err(e) = crate::cli::parse_command_line(argv) {
                bail!(
                    "{}: step {}: {}",
                    file.display(),
                    step.index,
                    first_line(&e.to_string())
                );
            }
        }
        Ok(plan)
    }

    /// The combinations (grid: every one, the first key slowest; zip: the i-th values together), each
    /// repeated.
    pub(crate) fn expand(&self, trace: Option<&Path>) -> Vec<Step> {
        let combinations: Vec<Vec<(String, String)>> = if self.swept.is_empty() {
            vec![Vec::new()]
        } else if self.zip {
            (0..self.swept[0].1.len())
                .map(|i| {
                    self.swept
                        .iter()
                        .map(|(s, vs)| (s.key.clone(), vs[i].clone()))
                        .collect()
                })
                .collect()
        } else {
            let mut all: Vec<Vec<(String, String)>> = vec![Vec::new()];
            for (s, values) in &self.swept {
                all = all
                    .into_iter()
                    .flat_map(|prefix| {
                        values.iter().map(move |v| {
                            let mut c = prefix.clone();
                            c.push((s.key.clone(), v.clone()));
                            c
                        })
                    })
                    .collect();
            }
            all
        };
        let mut steps = Vec::with_capacity(combinations.len() * self.repeats);
        for params in combinations {
            for repeat in 0..self.repeats {
                let mut args: Vec<String> = Vec::new();
                // `functions` under a trace picks that trace's `sample-N`: it stands for `--trace`.
                let picks_sample = trace.is_some() && params.iter().any(|(k, _)| k == "functions");
                for s in &self.base {
                    if picks_sample && s.key == "trace" {
                        continue;
                    }
                    if !params.iter().any(|(k, _)| *k == s.key) {
                        // An entry's swept keys set its text (checked with the file).
                        let value = match disturbances::flag_of(&s.key) {
                            Some(_) => disturbances::with_swept(&s.key, &s.value, &params)
                                .unwrap_or_else(|_| s.value.clone()),
                            None => s.value.clone(),
                        };
                        args.extend(setting_args(&s.key, &value, trace));
                    }
                }
                for (k, v) in &params {
                    if disturbances::swept_key(k).is_none() {
                        args.extend(setting_args(k, v, trace));
                    }
                }
                steps.push(Step {
                    index: steps.len(),
                    repeat,
                    params: params.clone(),
                    args,
                });
            }
        }
        steps
    }
}

/// The run flags a setting stands for, each one `--flag=value` token (or a bare switch): `functions`
/// picks `sample-N` under the trace (or sizes a synthetic trace), `knative.X` is `--knative-X`,
/// Each setting alone must be a valid `loadgen run` flag value (a flag that needs another is judged
/// with its step); `functions` must name a sample of `trace`.
fn check_each_setting(
    at: &dyn Fn(usize) -> String,
    base: &[Setting],
    swept: &[(Setting, Vec<String>)],
    trace: Option<&Path>,
) -> Result<()> {
    for (setting, value) in base.iter().map(|s| (s, s.value.clone())).chain(
        swept
            .iter()
            .flat_map(|(s, vs)| vs.iter().map(move |v| (s, v.clone()))),
    ) {
        if let Some((entry, _)) = disturbances::swept_key(&setting.key) {
            // A swept key of an entry: the entry with that value must parse.
            let Some(base) = base.iter().find(|b| b.key == entry) else {
                bail!(
                    "{}: [sweep] `{}`: no such entry",
                    at(setting.line),
                    setting.key
                );
            };
            let swept = [(setting.key.clone(), value.clone())];
            if let Err(e) = disturbances::with_swept(entry, &base.value, &swept) {
                bail!("{}: `{}` = `{value}`: {e}", at(setting.line), setting.key);
            }
            continue;
        }
        let args = setting_args(&setting.key, &value, trace);
        if setting.key == "functions" {
            if let Some(t) = trace {
                let dir = t.join(format!("sample-{value}"));
                if !dir.is_dir() {
                    bail!(
                        "{}: [sweep] `functions`: no sample of {value} functions: {} is not a directory (make it with `loadgen sample`)",
                        at(setting.line),
                        dir.display()
                    );
                }
            }
        }
        let argv = ["loadgen", "run"]
            .iter()
            .map(|s| s.to_string())
            .chain(args)
            .map(std::ffi::OsString::from);
        // A flag that needs another (`cold-ratio` needs `rps`) is judged with its step, below.
        let needs_another = clap::error::ErrorKind::MissingRequiredArgument;
        if let Err(e) = crate::cli::parse_command_line(argv) {
            if e.kind() == needs_another {
                continue;
            }
            bail!(
                "{}: `{}` = `{value}`: {}",
                at(setting.line),
                setting.key,
                first_line(&e.to_string())
            );
        }
    }
    Ok(())
}

/// anything else `--key`.
fn setting_args(key: &str, value: &str, trace: Option<&Path>) -> Vec<String> {
    if key == "functions" {
        return match trace {
            Some(t) => vec![format!(
                "--trace={}",
                t.join(format!("sample-{value}")).display()
            )],
            None => vec![format!("--functions={value}")],
        };
    }
    if let Some(flag) = disturbances::flag_of(key) {
        return vec![format!("--{flag}={value}")];
    }
    let flag = match key.strip_prefix("knative.") {
        Some(k) => format!("--knative-{k}"),
        None => format!("--{key}"),
    };
    if switches().iter().any(|s| s == key) {
        return match value {
            "true" => vec![flag],
            "false" => Vec::new(),
            // Passed on as written, so the parser refuses it with the flag's name.
            other => vec![format!("{flag}={other}")],
        };
    }
    vec![format!("{flag}={value}")]
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim_start_matches("error: ")
}
