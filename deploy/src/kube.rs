//! The only code that runs `kubectl`: one runner with one error type, the labels that mark what a run
//! made, and labelled lists and bulk deletes that never touch what carries no label of ours.
//!
//! Everything the tool creates on a cluster (Knative services, the workers' Job) carries
//! [`MANAGED_BY_LABEL`]`=`[`MANAGED_BY`]; a run's Job also carries [`RUN_LABEL`]`=`its id. Lists ask
//! `kubectl` for a label selector and check each item's labels again, so a `kubectl` that ignored the
//! selector cannot make us delete others' objects.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The label key marking objects as ours.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Its value.
pub const MANAGED_BY: &str = "serverless-loadgen";
/// The label key naming the run that made an object.
pub const RUN_LABEL: &str = "serverless-loadgen/run";
/// The label Kubernetes gives each pod of an Indexed Job: its index.
pub const INDEX_LABEL: &str = "batch.kubernetes.io/job-completion-index";

/// A new run's id, for the label on what it creates: UTC time and a random suffix (`20261125-201000-3f2a`),
/// a valid label value and DNS name part.
pub fn new_run_id() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let digits: String = now.chars().filter(char::is_ascii_digit).collect();
    let (date, time) = digits.split_at(8.min(digits.len()));
    format!("{date}-{time}-{:04x}", rand::random::<u16>())
}

/// The selector of what the tool made, or of what one run made.
pub fn ours(run: Option<&str>) -> String {
    match run {
        Some(id) => format!("{MANAGED_BY_LABEL}={MANAGED_BY},{RUN_LABEL}={id}"),
        None => format!("{MANAGED_BY_LABEL}={MANAGED_BY}"),
    }
}

/// A command that failed: what it was, at which stage, and what it said.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{stage}: `{command}` failed ({status}){}{}",
        if stderr.trim().is_empty() { "" } else { ": " },
        stderr.trim().lines().next().unwrap_or(""))]
pub struct KubeError {
    /// What was being done: `apply`, `checking readiness`, `deleting the workers' Job`, …
    pub stage: String,
    /// The command line, as a person would type it.
    pub command: String,
    /// Exit status, spawn error or unreadable answer.
    pub status: String,
    /// Its standard error (the message shows its first line).
    pub stderr: String,
}

/// Runs `command` (shown as `shown`) and returns its standard output.
pub fn run(command: &mut Command, stage: &str, shown: &str) -> Result<String, KubeError> {
    run_with_input(command, None, stage, shown)
}

/// [`run`], with `input` on the command's standard input (kept off the command line and out of files).
fn run_with_input(
    command: &mut Command,
    input: Option<&str>,
    stage: &str,
    shown: &str,
) -> Result<String, KubeError> {
    let failed = |status: String, stderr: String| KubeError {
        stage: stage.to_owned(),
        command: shown.to_owned(),
        status,
        stderr,
    };
    let program = command.get_program().to_string_lossy().into_owned();
    let start_error = |e: std::io::Error| {
        failed(
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("`{program}` is not on PATH")
            } else {
                format!("`{program}` could not start: {e}")
            },
            String::new(),
        )
    };
    let output = match input {
        None => command.stdin(Stdio::null()).output().map_err(start_error)?,
        Some(text) => {
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(start_error)?;
            let mut stdin = child.stdin.take().expect("stdin is piped");
            // Written whole, then closed, before the output is read: kubectl reads all of it first.
            std::io::Write::write_all(&mut stdin, text.as_bytes())
                .map_err(|e| failed(format!("writing its input: {e}"), String::new()))?;
            drop(stdin);
            child.wait_with_output().map_err(start_error)?
        }
    };
    if !output.status.success() {
        return Err(failed(
            output.status.to_string(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The `kubectl` to run (a path or a name on PATH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubectl {
    program: String,
}

impl Default for Kubectl {
    /// The `kubectl` on PATH.
    fn default() -> Kubectl {
        Kubectl::new("kubectl")
    }
}

impl Kubectl {
    /// `program` is run for every call.
    pub fn new(program: impl Into<String>) -> Kubectl {
        Kubectl {
            program: program.into(),
        }
    }

    /// The program, as given.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The command line of `args`, as a person would type it (messages and `--dry-run`).
    pub fn shown(&self, args: &[&str]) -> String {
        format!("{} {}", self.program, args.join(" "))
    }

    /// Runs `kubectl ARGS` and returns what it printed.
    pub fn run(&self, args: &[&str], stage: &str) -> Result<String, KubeError> {
        run(
            Command::new(&self.program).args(args),
            stage,
            &self.shown(args),
        )
    }

    /// Runs `kubectl ARGS` with `input` on its standard input (`apply -f -` of a Secret: its values
    /// never on a command line or in a file).
    pub fn run_with_input(
        &self,
        args: &[&str],
        input: &str,
        stage: &str,
    ) -> Result<String, KubeError> {
        run_with_input(
            Command::new(&self.program).args(args),
            Some(input),
            stage,
            &self.shown(args),
        )
    }

    /// Runs `kubectl ARGS`, which prints JSON, and parses it.
    pub fn json(&self, args: &[&str], stage: &str) -> Result<Value, KubeError> {
        let text = self.run(args, stage)?;
        serde_json::from_str(&text).map_err(|e| KubeError {
            stage: stage.to_owned(),
            command: self.shown(args),
            status: format!("unreadable output: {e}"),
            stderr: String::new(),
        })
    }

    /// Every object of `kind` in all namespaces whose labels hold all of `selector` (`k=v,k=v`): one
    /// call, whatever their number. Each item's labels are checked again.
    pub fn list(&self, kind: &str, selector: &str, stage: &str) -> Result<Vec<Value>, KubeError> {
        let args = [
            "get",
            kind,
            "--all-namespaces",
            "-l",
            selector,
            "-o",
            "json",
        ];
        let mut list = self.json(&args, stage)?;
        let items = match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        Ok(items
            .into_iter()
            .filter(|item| labels_hold(item, selector))
            .collect())
    }

    /// Every object of `kind` in `namespace` whose labels hold all of `selector` (`k=v,k=v`), each
    /// item's labels checked again (a fake or an old kubectl that ignores `-l` selects nothing more).
    pub fn list_in(
        &self,
        kind: &str,
        namespace: &str,
        selector: &str,
        stage: &str,
    ) -> Result<Vec<Value>, KubeError> {
        let args = ["get", kind, "-n", namespace, "-l", selector, "-o", "json"];
        let mut list = self.json(&args, stage)?;
        let items = match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        Ok(items
            .into_iter()
            .filter(|item| {
                item["metadata"]["namespace"] == namespace && labels_hold(item, selector)
            })
            .collect())
    }

    /// [`Kubectl::list`], as `namespace/name` of each object.
    pub fn list_names(
        &self,
        kind: &str,
        selector: &str,
        stage: &str,
    ) -> Result<Vec<String>, KubeError> {
        Ok(self
            .list(kind, selector, stage)?
            .iter()
            .filter_map(qualified_name)
            .collect())
    }

    /// Deletes the objects of `kind` named `namespace/name`: one call per namespace, naming them all.
    pub fn delete(&self, kind: &str, objects: &[String], stage: &str) -> Result<(), KubeError> {
        let mut by_namespace: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for object in objects {
            let (ns, name) = object.split_once('/').unwrap_or(("default", object));
            by_namespace.entry(ns).or_default().push(name);
        }
        for (ns, names) in by_namespace {
            let mut args = vec!["delete", kind, "-n", ns];
            args.extend(names);
            self.run(&args, stage)?;
        }
        Ok(())
    }
}

/// Whether `item`'s labels hold every `k=v` of `selector`.
fn labels_hold(item: &Value, selector: &str) -> bool {
    let labels = &item["metadata"]["labels"];
    selector
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .all(|(k, v)| labels[k] == v)
}

/// `namespace/name` of a listed object.
pub fn qualified_name(item: &Value) -> Option<String> {
    let m = &item["metadata"];
    Some(format!(
        "{}/{}",
        m["namespace"].as_str()?,
        m["name"].as_str()?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_name_ours_and_one_runs() {
        assert_eq!(
            ours(None),
            "app.kubernetes.io/managed-by=serverless-loadgen"
        );
        assert_eq!(
            ours(Some("r1")),
            "app.kubernetes.io/managed-by=serverless-loadgen,serverless-loadgen/run=r1"
        );
        let id = new_run_id();
        assert!(
            id.len() <= 63
                && id
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '-' || c.is_ascii_hexdigit()),
            "{id}"
        );
    }

    #[test]
    fn failures_name_the_command_and_its_first_error_line() {
        let e = Kubectl::new("/nonexistent/kubectl")
            .run(&["get", "ksvc"], "listing")
            .unwrap_err();
        assert_eq!(e.command, "/nonexistent/kubectl get ksvc");
        assert!(e.to_string().contains("is not on PATH"), "{e}");
        let e = run(
            Command::new("sh").args(["-c", "echo first >&2; echo second >&2; exit 3"]),
            "apply",
            "sh -c …",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("apply: `sh -c …` failed (exit status: 3): first"),
            "{text}"
        );
        assert!(!text.contains("second"), "{text}");
    }
}
