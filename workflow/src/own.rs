//! Our workflow format (YAML, documented in `docs/workflows.md`):
//!
//! ```yaml
//! name: diamond
//! nodes:
//!   - name: A
//!     function: {duration_ms: 10, memory_mb: 64}   # or {proxy: NAME}, or `trace`
//!     next:
//!       type: pass                                 # pass (default), switch or foreach
//!       to:
//!         - {node: B, size: 1KiB}
//!         - {node: C, size: "uniform:1KiB:100KiB"}
//!   - name: route
//!     virtual: true                                # does no work
//!     next:
//!       type: switch
//!       to: [{node: X, size: 8, probability: 0.3}, {node: Y, size: 8, probability: 0.7}]
//!   - name: fan
//!     function: trace
//!     next: {type: foreach, width: "uniform:2:8", to: [{node: W, size: 1KiB}]}
//!   - name: merge
//!     function: {duration_ms: 5}
//!     reads: [{node: A, size: 8}]                  # data from a node further up (no control edge)
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::{
    is_item, line_where, Draft, Node, Routing, SizeDistribution, Width, Work, Workflow,
    WorkflowError,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    name: String,
    nodes: Vec<RawNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: String,
    #[serde(default)]
    function: Option<FunctionSpec>,
    #[serde(default, rename = "virtual")]
    is_virtual: bool,
    #[serde(default)]
    next: Option<Next>,
    #[serde(default)]
    reads: Vec<Target>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FunctionSpec {
    /// `trace`.
    Named(String),
    Spec {
        #[serde(default)]
        duration_ms: Option<f64>,
        #[serde(default)]
        memory_mb: Option<f64>,
        #[serde(default)]
        proxy: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Next {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    width: Option<Scalar>,
    #[serde(default)]
    to: Vec<Target>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    node: String,
    #[serde(default)]
    size: Option<Scalar>,
    #[serde(default)]
    probability: Option<f64>,
}

/// A size or width as YAML has it: a number or a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Number(u64),
    Text(String),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Number(n) => n.to_string(),
            Scalar::Text(t) => t.clone(),
        }
    }
}

/// Parses our format; `path` names the file in errors.
pub fn parse(text: &str, path: &Path) -> Result<Workflow, WorkflowError> {
    let file: File = serde_yaml_ng::from_str(text).map_err(|e| WorkflowError::Invalid {
        path: path.to_owned(),
        line: e.location().map(|l| l.line()),
        reason: e.to_string(),
    })?;
    let mut draft = Draft {
        name: if file.name.is_empty() {
            path.file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
        } else {
            file.name
        },
        ..Draft::default()
    };
    for raw in file.nodes {
        let line = line_where(text, 1, |l| is_item(l, &format!("name: {}", raw.name))).unwrap_or(1);
        let bad = |reason: String| WorkflowError::Invalid {
            path: path.to_owned(),
            line: Some(line),
            reason: format!("node `{}`: {reason}", raw.name),
        };
        let work = work(&raw, &bad)?;
        let next = raw.next.unwrap_or(Next {
            kind: None,
            width: None,
            to: Vec::new(),
        });
        let routing = match next.kind.as_deref().unwrap_or("pass") {
            "pass" => Routing::All,
            "switch" => Routing::Switch(
                next.to
                    .iter()
                    .map(|t| t.probability.unwrap_or(1.0 / next.to.len() as f64))
                    .collect(),
            ),
            "foreach" => Routing::Foreach(
                next.width
                    .as_ref()
                    .ok_or_else(|| bad("a foreach needs a `width` (N or uniform:MIN:MAX)".into()))?
                    .text()
                    .parse::<Width>()
                    .map_err(&bad)?,
            ),
            other => {
                return Err(bad(format!(
                    "next type `{other}` is not pass, switch or foreach"
                )))
            }
        };
        for (target, control) in next
            .to
            .iter()
            .map(|t| (t, true))
            .chain(raw.reads.iter().map(|t| (t, false)))
        {
            let edge_line = line_where(text, line, |l| {
                l.contains(&format!("node: {}", target.node))
            })
            .unwrap_or(line);
            let size = target
                .size
                .as_ref()
                .ok_or_else(|| WorkflowError::Invalid {
                    path: path.to_owned(),
                    line: Some(edge_line),
                    reason: format!(
                        "the edge `{}` → `{}` has no `size` (bytes, or a distribution such as uniform:1KiB:1MiB)",
                        raw.name, target.node
                    ),
                })?
                .text()
                .parse::<SizeDistribution>()
                .map_err(|e| WorkflowError::Invalid {
                    path: path.to_owned(),
                    line: Some(edge_line),
                    reason: format!("the edge `{}` → `{}`: {e}", raw.name, target.node),
                })?;
            let (from, to) = if control {
                (raw.name.clone(), target.node.clone())
            } else {
                // `reads`: the data comes from that node to this one.
                (target.node.clone(), raw.name.clone())
            };
            draft.edges.push((from, to, size, control, edge_line));
        }
        draft.nodes.push(Node {
            name: raw.name.clone(),
            work,
            routing,
            line,
        });
    }
    Workflow::check(draft, path)
}

/// What a node does, from its `function` or `virtual`.
fn work(raw: &RawNode, bad: &dyn Fn(String) -> WorkflowError) -> Result<Work, WorkflowError> {
    match (&raw.function, raw.is_virtual) {
        (Some(_), true) => Err(bad("a virtual node has no `function`".into())),
        (None, true) => Ok(Work::Virtual),
        (None, false) => Err(bad(
            "no `function` ({duration_ms, memory_mb}, {proxy: NAME} or trace) and not `virtual: true`".into(),
        )),
        (Some(FunctionSpec::Named(name)), false) if name == "trace" => Ok(Work::Trace),
        (Some(FunctionSpec::Named(other)), false) => Err(bad(format!(
            "function `{other}`: write {{proxy: {other}}} for a proxy, or `trace`"
        ))),
        (Some(FunctionSpec::Spec { proxy: Some(p), duration_ms: None, memory_mb: None }), false) => {
            Ok(Work::Proxy(p.clone()))
        }
        (Some(FunctionSpec::Spec { proxy: Some(_), .. }), false) => {
            Err(bad("a function is a proxy or a duration and memory, not both".into()))
        }
        (Some(FunctionSpec::Spec { duration_ms, memory_mb, proxy: None }), false) => {
            let duration_ms = duration_ms.ok_or_else(|| bad("the function has no `duration_ms`".into()))?;
            let memory_mb = memory_mb.unwrap_or(0.0);
            if !(0.0..=3_600_000.0).contains(&duration_ms) || !(0.0..=1_048_576.0).contains(&memory_mb) {
                return Err(bad(format!(
                    "duration {duration_ms} ms or memory {memory_mb} MiB out of range (0 to an hour, 0 to 1 TiB)"
                )));
            }
            Ok(Work::Fixed {
                duration_ms,
                memory_mb,
            })
        }
    }
}
