//! An experiment file, read and expanded into its steps. Each step is a `loadgen run` command line: the
//! `[run]` base settings and the step's swept values become run flags, so every run flag, its bounds and
//! its checks apply unchanged. Every error names the file and the line. The format is shown, commented,
//! in `example.toml` (`loadgen experiment --example`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::CommandFactory;
use serde::{Deserialize, Serialize};

use super::text::{header_line, line_at, line_of, scalar};
use crate::cli::Cli;

/// Steps above which a plan needs `--yes`.
pub const LARGE_PLAN: usize = 1000;

/// The hooks, by lifecycle event.
pub const HOOKS: [&str; 4] = [
    "before-experiment",
    "before-step",
    "after-step",
    "after-experiment",
];

/// Keys of `[knative]`: Knative's autoscaling annotations on the generated services.
pub const KNATIVE_KEYS: [&str; 6] = [
    "metric",
    "target",
    "panic-window-percentage",
    "panic-threshold-percentage",
    "min-scale",
    "max-scale",
];

/// Run flags whose value is a path, taken relative to the experiment file's directory.
const PATH_KEYS: [&str; 4] = ["trace", "profile", "config-proxy", "build"];

/// Run flags the experiment sets itself.
const RESERVED: [&str; 3] = ["output-dir", "force", "help"];

/// What a failed hook or step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnFailure {
    /// Stop the experiment.
    Stop,
    /// Go on with the next step.
    Continue,
    /// Try the step again, up to this many more times, then stop.
    Retry(u32),
}

/// One setting and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The key as written (`duration`, `knative.metric`, `functions`).
    pub key: String,
    /// Its value, as a command line would write it.
    pub value: String,
    /// Its 1-based line in the file.
    pub line: usize,
}

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
        let at = |line: usize| {
            if line == 0 {
                format!("{}", file.display())
            } else {
                format!("{}: line {line}", file.display())
            }
        };
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_at(text, s.start));
            anyhow::anyhow!("{}: {}", at(line), e.message())
        })?;
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        for section in table.keys() {
            if !["run", "sweep", "hooks", "knative", "collect"].contains(&section.as_str()) {
                bail!(
                    "{}: unknown table `[{section}]` (the tables are [run], [sweep], [hooks], [knative], [collect])",
                    at(line_of(text, "", section).max(header_line(text, section)))
                );
            }
        }
        let section = |name: &str| -> Result<toml::Table> {
            match table.get(name) {
                None => Ok(toml::Table::new()),
                Some(toml::Value::Table(t)) => Ok(t.clone()),
                Some(_) => bail!("{}: `{name}` must be a table", at(header_line(text, name))),
            }
        };
        let flags = run_flags();
        let known = |key: &str| -> bool {
            key == "functions"
                || key
                    .strip_prefix("knative.")
                    .is_some_and(|k| KNATIVE_KEYS.contains(&k))
                || (flags.iter().any(|f| f == key) && !RESERVED.contains(&key))
        };
        let path_value = |key: &str, value: String| -> String {
            if PATH_KEYS.contains(&key) && value != "builtin" && Path::new(&value).is_relative() {
                dir.join(&value).display().to_string()
            } else {
                value
            }
        };

        // [run]: base settings, and the experiment's own keys.
        let mut base = Vec::new();
        let mut between_steps = 0.0;
        let mut on_failure = OnFailure::Stop;
        let mut reuse_deployment = false;
        for (key, value) in section("run")? {
            let line = line_of(text, "run", &key);
            let Some(v) = scalar(&value) else {
                bail!(
                    "{}: [run] `{key}`: expected a single value, not {}",
                    at(line),
                    value.type_str()
                );
            };
            match key.as_str() {
                "between-steps" => {
                    between_steps = match value {
                        toml::Value::Integer(i) if i >= 0 => i as f64,
                        toml::Value::Float(f) if f.is_finite() && f >= 0.0 => f,
                        _ => bail!("{}: [run] `between-steps`: expected seconds ≥ 0, not `{v}`", at(line)),
                    };
                    if between_steps > cmdline::values::DAY_SECONDS {
                        bail!("{}: [run] `between-steps`: at most a day (86400 s)", at(line));
                    }
                }
                "reuse-deployment" => {
                    reuse_deployment = value.as_bool().ok_or_else(|| {
                        anyhow::anyhow!(
                            "{}: [run] `reuse-deployment`: expected true or false, not `{v}`",
                            at(line)
                        )
                    })?
                }
                "on-failure" => {
                    on_failure = parse_on_failure(&v)
                        .map_err(|e| anyhow::anyhow!("{}: [run] `on-failure`: {e}", at(line)))?
                }
                "functions" => bail!(
                    "{}: [run] `functions`: a size picks a sample, so it belongs in [sweep] (a list of one is fine)",
                    at(line)
                ),
                _ if !known(&key) => bail!("{}: [run] `{key}`: {}", at(line), unknown_key(&key, &flags)),
                _ if key.starts_with("knative.") => {
                    bail!("{}: [run] `{key}`: Knative settings go in [knative]", at(line))
                }
                _ => base.push(Setting {
                    value: path_value(&key, v),
                    key,
                    line,
                }),
            }
        }
        for (key, value) in section("knative")? {
            let line = line_of(text, "knative", &key);
            if !KNATIVE_KEYS.contains(&key.as_str()) {
                bail!(
                    "{}: [knative] `{key}`: not a Knative setting (one of {})",
                    at(line),
                    KNATIVE_KEYS.join(", ")
                );
            }
            let Some(v) = scalar(&value) else {
                bail!(
                    "{}: [knative] `{key}`: expected a single value, not {}",
                    at(line),
                    value.type_str()
                );
            };
            base.push(Setting {
                key: format!("knative.{key}"),
                value: v,
                line,
            });
        }

        // [collect]: the collectors of every step.
        for (key, value, line) in super::collect::settings(&section("collect")?, text, &at)? {
            base.push(Setting { key, value, line });
        }

        // [hooks].
        let mut hooks = BTreeMap::new();
        for (key, value) in section("hooks")? {
            let line = line_of(text, "hooks", &key);
            if !HOOKS.contains(&key.as_str()) {
                bail!(
                    "{}: [hooks] `{key}`: not a hook (one of {})",
                    at(line),
                    HOOKS.join(", ")
                );
            }
            let toml::Value::String(command) = value else {
                bail!(
                    "{}: [hooks] `{key}`: expected a shell command (a string), not {}",
                    at(line),
                    value.type_str()
                );
            };
            hooks.insert(key, command);
        }

        // [sweep].
        let mut zip = false;
        let mut repeats = 1usize;
        let mut swept: Vec<(Setting, Vec<String>)> = Vec::new();
        let sweep = section("sweep")?;
        // Keys in file order, so the plan and results.csv follow the file.
        let mut keys: Vec<(usize, String)> = sweep
            .keys()
            .map(|k| (line_of(text, "sweep", k), k.clone()))
            .collect();
        keys.sort();
        for (line, key) in keys {
            let value = &sweep[&key];
            match key.as_str() {
                "mode" => {
                    zip = match value.as_str() {
                        Some("grid") => false,
                        Some("zip") => true,
                        _ => bail!("{}: [sweep] `mode`: expected \"grid\" or \"zip\"", at(line)),
                    }
                }
                "repeats" => {
                    repeats = match value.as_integer() {
                        Some(n) if (1..=1000).contains(&n) => n as usize,
                        _ => bail!(
                            "{}: [sweep] `repeats`: expected a whole number from 1 to 1000",
                            at(line)
                        ),
                    }
                }
                _ if !known(&key) => bail!(
                    "{}: [sweep] `{key}`: {}",
                    at(line),
                    unknown_key(&key, &flags)
                ),
                _ => {
                    let toml::Value::Array(values) = value else {
                        bail!(
                            "{}: [sweep] `{key}`: expected a list of values, not {}",
                            at(line),
                            value.type_str()
                        );
                    };
                    if values.is_empty() {
                        bail!(
                            "{}: [sweep] `{key}`: an empty list makes zero steps",
                            at(line)
                        );
                    }
                    let mut strings = Vec::with_capacity(values.len());
                    for v in values {
                        let s = scalar(v).ok_or_else(|| {
                            anyhow::anyhow!(
                                "{}: [sweep] `{key}`: expected single values in the list, not {}",
                                at(line),
                                v.type_str()
                            )
                        })?;
                        if key == "functions" && !matches!(v.as_integer(), Some(n) if n >= 1) {
                            bail!(
                                "{}: [sweep] `functions`: expected whole numbers ≥ 1, not `{s}`",
                                at(line)
                            );
                        }
                        strings.push(path_value(&key, s));
                    }
                    swept.push((
                        Setting {
                            key,
                            value: String::new(),
                            line,
                        },
                        strings,
                    ));
                }
            }
        }
        if zip {
            if let Some(((first, a), (other, b))) = swept
                .first()
                .and_then(|f| {
                    swept
                        .iter()
                        .find(|o| o.1.len() != f.1.len())
                        .map(|o| (f, o))
                })
                .map(|(f, o)| ((&f.0, f.1.len()), (&o.0, o.1.len())))
            {
                bail!(
                    "{}: [sweep] `{}` has {b} values but `{}` has {a}: zip needs lists of one length",
                    at(other.line),
                    other.key,
                    first.key
                );
            }
        }

        // Each setting alone must be a valid run flag value: refused here, with its line.
        let trace = base
            .iter()
            .find(|s| s.key == "trace")
            .map(|s| PathBuf::from(&s.value));
        for (setting, value) in base.iter().map(|s| (s, s.value.clone())).chain(
            swept
                .iter()
                .flat_map(|(s, vs)| vs.iter().map(move |v| (s, v.clone()))),
        ) {
            let args = setting_args(&setting.key, &value, trace.as_deref());
            if setting.key == "functions" {
                if let Some(t) = &trace {
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
    fn expand(&self, trace: Option<&Path>) -> Vec<Step> {
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
                        args.extend(setting_args(&s.key, &s.value, trace));
                    }
                }
                for (k, v) in &params {
                    args.extend(setting_args(k, v, trace));
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

fn unknown_key(key: &str, flags: &[String]) -> String {
    match key {
        "output-dir" => {
            return "the experiment writes each step into its own directory under \
                    `loadgen experiment -o DIR`; leave it out of the file"
                .to_owned()
        }
        "force" => {
            return "an experiment file cannot set it; pass `loadgen experiment --force` to replace \
                    a finished experiment (or `--resume` to finish one)"
                .to_owned()
        }
        "help" => return "not a setting; see `loadgen run --help` for the settings".to_owned(),
        _ => {}
    }
    let distance = |f: &str| cmdline::goflags::edit_distance(key, f);
    let near = flags
        .iter()
        .filter(|f| !RESERVED.contains(&f.as_str()))
        .min_by_key(|f| distance(f));
    match near {
        Some(f) if distance(f) <= 3 => {
            format!("not a `loadgen run` flag; did you mean `{f}`?")
        }
        _ => "not a `loadgen run` flag (see `loadgen run --help`)".to_owned(),
    }
}

fn parse_on_failure(v: &str) -> Result<OnFailure, String> {
    match v {
        "stop" => Ok(OnFailure::Stop),
        "continue" => Ok(OnFailure::Continue),
        _ => match v.strip_prefix("retry:").map(str::parse::<u32>) {
            Some(Ok(n)) if (1..=100).contains(&n) => Ok(OnFailure::Retry(n)),
            _ => Err(format!(
                "expected \"stop\", \"continue\" or \"retry:N\" (N from 1 to 100), not `{v}`"
            )),
        },
    }
}
