//! The vocabulary of an experiment file, shared by the reading of its tables (`sections`) and the plan
//! they make (`plan`): the hooks, the Knative keys, the run flags an experiment treats apart, what a
//! failure does, and one setting with its line.

use anyhow::Result;
use serde::{Deserialize, Serialize};

/// The hooks, by lifecycle event.
pub const HOOKS: [&str; 4] = [
    "before-experiment",
    "before-step",
    "after-step",
    "after-experiment",
];

/// Keys of `[knative]`: Knative's autoscaler knobs (`--knative-KEY`). The first nine are annotations on
/// the generated services; the rest are cluster-wide, read by the KPA model only (docs/autoscaler.md).
pub const KNATIVE_KEYS: [&str; 13] = [
    "metric",
    "target",
    "target-utilization-percentage",
    "window",
    "panic-window-percentage",
    "panic-threshold-percentage",
    "min-scale",
    "max-scale",
    "target-burst-capacity",
    "max-scale-up-rate",
    "max-scale-down-rate",
    "scale-to-zero-grace-period",
    "tick-interval",
];

/// Run flags whose value is a path, taken relative to the experiment file's directory.
pub(super) const PATH_KEYS: [&str; 6] = [
    "trace",
    "profile",
    "config-proxy",
    "build",
    "workflow",
    "use-endpoints",
];

/// Run flags the experiment sets itself.
pub(super) const RESERVED: [&str; 3] = ["output-dir", "force", "help"];

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

pub(super) fn unknown_key(key: &str, flags: &[String]) -> String {
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

pub(super) fn parse_on_failure(v: &str) -> Result<OnFailure, String> {
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
