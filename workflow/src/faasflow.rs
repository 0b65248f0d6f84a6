//! FaaSFlow's `flat_workflow.yaml`, read as it is.
//!
//! - Each of `functions` is a node; `runtime` (seconds) is its duration, and `source: VIRTUAL` a routing
//!   node that does no work. FaaSFlow's flat file gives no memory (its `function_info.yaml` does, and is
//!   not read): nodes hold none beyond the instance's own.
//! - Control flow comes from `next`: `pass` (every one of `nodes`), `switch` (one of them, equally likely
//!   unless `probabilities` is given beside `conditions`, which are FaaSFlow's expressions and are not
//!   evaluated), `foreach` (each of them once per key, in parallel; the width is `--foreach-width`).
//! - Data flow comes from each `input` entry whose `value.function` names a function (not `INPUT`, the
//!   workflow's own input): it may skip levels, as video's `merge` reads `upload.output_prefix`. Its size
//!   is the entry's own `size` where given, otherwise the producer's `output` entry's `size` (the two
//!   differ in FaaSFlow's own files, e.g. a foreach's 800000000 against 8). A function that reads several
//!   items from one producer gets one edge of their total size.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::{
    is_item, line_where, Draft, DraftEdge, Node, Routing, SizeDistribution, Width, Work, Workflow,
    WorkflowError,
};

#[derive(Deserialize)]
struct File {
    functions: Vec<Function>,
    #[serde(default)]
    #[allow(dead_code)]
    global_input: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    global_output: Option<serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
struct Function {
    name: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    runtime: f64,
    #[serde(default)]
    input: BTreeMap<String, Item>,
    #[serde(default)]
    output: BTreeMap<String, Item>,
    #[serde(default)]
    next: Option<Next>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    value: Option<Source>,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Deserialize)]
struct Source {
    function: String,
    #[serde(default)]
    parameter: String,
}

#[derive(Deserialize)]
struct Next {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    nodes: Vec<String>,
    #[serde(default)]
    probabilities: Option<Vec<f64>>,
}

/// Parses a `flat_workflow.yaml`; foreach nodes start `foreach_width` instances.
pub fn parse_with(
    text: &str,
    path: &Path,
    foreach_width: Width,
) -> Result<Workflow, WorkflowError> {
    let file: File = serde_yaml_ng::from_str(text).map_err(|e| WorkflowError::Invalid {
        path: path.to_owned(),
        line: e.location().map(|l| l.line()),
        reason: e.to_string(),
    })?;
    let name = path.parent().and_then(Path::file_name).map_or_else(
        || "workflow".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut draft = Draft {
        name,
        ..Draft::default()
    };
    let lines: BTreeMap<&str, usize> = file
        .functions
        .iter()
        .map(|f| {
            let line =
                line_where(text, 1, |l| is_item(l, &format!("name: {}", f.name))).unwrap_or(1);
            (f.name.as_str(), line)
        })
        .collect();
    let outputs: BTreeMap<&str, &BTreeMap<String, Item>> = file
        .functions
        .iter()
        .map(|f| (f.name.as_str(), &f.output))
        .collect();
    for f in &file.functions {
        let line = lines[f.name.as_str()];
        let bad = |reason: String| WorkflowError::Invalid {
            path: path.to_owned(),
            line: Some(line),
            reason: format!("function `{}`: {reason}", f.name),
        };
        if !f.runtime.is_finite() || !(0.0..=3600.0).contains(&f.runtime) {
            return Err(bad(format!("runtime {} s is not 0 to an hour", f.runtime)));
        }
        let work = if f.source == "VIRTUAL" {
            Work::Virtual
        } else {
            Work::Fixed {
                duration_ms: f.runtime * 1e3,
                memory_mb: 0.0,
            }
        };
        let next = f.next.as_ref();
        let targets: &[String] = next.map_or(&[], |n| n.nodes.as_slice());
        let routing = match next.map(|n| n.kind.as_str()) {
            None | Some("pass") => Routing::All,
            Some("switch") => Routing::Switch(match next.and_then(|n| n.probabilities.clone()) {
                Some(p) => p,
                None => vec![1.0 / targets.len().max(1) as f64; targets.len()],
            }),
            Some("foreach") => Routing::Foreach(foreach_width),
            Some(other) => {
                return Err(bad(format!(
                    "next type `{other}` is not pass, switch or foreach"
                )))
            }
        };
        for target in targets {
            let at = line_where(text, line, |l| is_item(l, target)).unwrap_or(line);
            draft.edges.push((
                f.name.clone(),
                target.clone(),
                SizeDistribution::Fixed(0),
                true,
                at,
            ));
        }
        draft
            .edges
            .extend(data_edges(f, &outputs, text, line, path)?);
        draft.nodes.push(Node {
            name: f.name.clone(),
            work,
            routing,
            line,
        });
    }
    Workflow::check(draft, path)
}

/// The data edges into `f` (defined on `line`): one per producer its `input` reads from, of the summed
/// size of what it reads (the input's `size`, else the producer's output's).
fn data_edges(
    f: &Function,
    outputs: &BTreeMap<&str, &BTreeMap<String, Item>>,
    text: &str,
    line: usize,
    path: &Path,
) -> Result<Vec<DraftEdge>, WorkflowError> {
    let mut read: BTreeMap<&str, (u64, usize)> = BTreeMap::new();
    for (key, item) in &f.input {
        let Some(source) = item.value.as_ref().filter(|s| s.function != "INPUT") else {
            continue;
        };
        let at = line_where(text, line, |l| {
            is_item(l, &format!("function: {}", source.function))
        })
        .unwrap_or(line);
        let size = match item.size {
            Some(size) => size,
            None => outputs
                .get(source.function.as_str())
                .and_then(|o| o.get(&source.parameter))
                .and_then(|o| o.size)
                .ok_or_else(|| WorkflowError::Invalid {
                    path: path.to_owned(),
                    line: Some(at),
                    reason: format!(
                        "function `{}`: input `{key}` from `{}.{}` has no size, nor has that output",
                        f.name, source.function, source.parameter
                    ),
                })?,
        };
        let entry = read.entry(source.function.as_str()).or_insert((0, at));
        entry.0 = entry.0.saturating_add(size);
    }
    Ok(read
        .into_iter()
        .map(|(producer, (bytes, at))| {
            (
                producer.to_owned(),
                f.name.clone(),
                SizeDistribution::Fixed(bytes),
                false,
                at,
            )
        })
        .collect())
}
