//! Workflows: functions called in a graph, with data moving along its edges.
//!
//! A [`Workflow`] is one checked graph, whichever file it came from: our own YAML ([`own`]) or
//! FaaSFlow's `flat_workflow.yaml` ([`faasflow`]). Each node does some work ([`Work`]: a function, or
//! nothing for a routing node) and routes to its successors ([`Routing`]): all of them, one of them drawn
//! by probability (a switch), or each of them once per key of a drawn width, in parallel (a foreach). A
//! node with several predecessors is a join: it waits for all of them. Each edge carries a payload whose
//! size is fixed or drawn ([`cmdline::sizes::SizeDistribution`]).
//!
//! [`instance::expand`] draws one instance of a workflow: its switch choices, foreach widths and edge
//! sizes, and so the calls it makes and what each waits for.
//!
//! [`Workflow::check`] refuses what cannot run, naming the node, the file and the line: a cycle, a
//! successor that is not a node, a workflow with no single entry, and a join that can never complete
//! (it waits for two branches of one switch, of which only one is ever taken).

pub mod faasflow;
pub mod instance;
pub mod own;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use cmdline::sizes::SizeDistribution;

/// What a node does when called.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Nothing: a routing node (FaaSFlow's `source: VIRTUAL`).
    Virtual,
    /// A fixed wall time, ms, and working set, MiB.
    Fixed {
        /// Wall time, ms.
        duration_ms: f64,
        /// Working set, MiB.
        memory_mb: f64,
    },
    /// A proxy of the profile catalogue, by name.
    Proxy(String),
    /// The trace function the workflow is mapped to: its duration and memory percentiles.
    Trace,
}

/// How many parallel instances a foreach starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// Always this many.
    Fixed(u32),
    /// Uniform over `min..=max`.
    Uniform {
        /// Fewest.
        min: u32,
        /// Most.
        max: u32,
    },
}

/// Most parallel instances a foreach may start.
pub const MAX_WIDTH: u32 = 10_000;

impl std::str::FromStr for Width {
    type Err = String;

    /// `N` or `uniform:MIN:MAX`, 1 to [`MAX_WIDTH`].
    fn from_str(text: &str) -> Result<Width, String> {
        let count = |t: &str| match t.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_WIDTH).contains(&n) => Ok(n),
            _ => Err(format!(
                "width `{t}` is not a whole number from 1 to {MAX_WIDTH}"
            )),
        };
        match text.split(':').collect::<Vec<_>>().as_slice() {
            [n] => count(n).map(Width::Fixed),
            ["uniform", min, max] => {
                let (min, max) = (count(min)?, count(max)?);
                if min > max {
                    return Err(format!("width `{text}`: the minimum is above the maximum"));
                }
                Ok(Width::Uniform { min, max })
            }
            _ => Err(format!("width `{text}` is N or uniform:MIN:MAX")),
        }
    }
}

/// Where a node's call leads.
#[derive(Debug, Clone, PartialEq)]
pub enum Routing {
    /// Every successor (fan-out; none: the node ends its branch).
    All,
    /// One successor, drawn with these probabilities (one per outgoing control edge, in order, summing
    /// to 1).
    Switch(Vec<f64>),
    /// Every successor, once per key, `width` keys in parallel.
    Foreach(Width),
}

/// One node of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its name, unique in the workflow.
    pub name: String,
    /// What it does.
    pub work: Work,
    /// Where it leads.
    pub routing: Routing,
    /// The line of the file it is defined on (1-based).
    pub line: usize,
}

/// An edge: `to` runs after `from` (a control edge) and/or reads data `from` produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Producer (index into [`Workflow::nodes`]).
    pub from: usize,
    /// Consumer.
    pub to: usize,
    /// Bytes carried.
    pub size: SizeDistribution,
    /// Whether `from` routes to `to` (its `next`); a data-only edge is a dependency too, but routing
    /// (switch probabilities, foreach) follows control edges only.
    pub control: bool,
}

/// A checked workflow graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// Its name.
    pub name: String,
    /// Nodes, in the file's order.
    pub nodes: Vec<Node>,
    /// Edges, each pair at most once, in the file's order.
    pub edges: Vec<Edge>,
    /// The one node with no predecessor.
    pub entry: usize,
    /// Nodes in an order where every edge goes forward.
    pub topological: Vec<usize>,
}

/// Why a workflow file was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file says something that cannot run.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where, when known (1-based).
        line: Option<usize>,
        /// What is wrong, naming the node.
        reason: String,
    },
}

impl WorkflowError {
    fn invalid(path: &Path, line: Option<usize>, reason: String) -> WorkflowError {
        WorkflowError::Invalid {
            path: path.to_owned(),
            line,
            reason,
        }
    }
}

/// An edge as a reader has it: (from, to, size, control, line).
pub(crate) type DraftEdge = (String, String, SizeDistribution, bool, usize);

/// A workflow as a reader has it, before the graph is checked: nodes, and edges by node name with the
/// line each was written on.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub(crate) name: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<DraftEdge>,
}

/// Reads a workflow file, ours or FaaSFlow's (told apart by its top-level `functions` list); FaaSFlow's
/// foreach nodes start `foreach_width` instances (`--foreach-width`; ours say their own).
pub fn read(path: &Path, foreach_width: Width) -> Result<Workflow, WorkflowError> {
    let text = std::fs::read_to_string(path).map_err(|source| WorkflowError::Io {
        path: path.to_owned(),
        source,
    })?;
    if text.lines().any(|l| l.starts_with("functions:")) {
        faasflow::parse_with(&text, path, foreach_width)
    } else {
        own::parse(&text, path)
    }
}

/// The 1-based line of the first line of `text`, from line `from` on, that `matches`.
pub(crate) fn line_where(text: &str, from: usize, matches: impl Fn(&str) -> bool) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| matches(l))
        .map(|(i, _)| i + 1)
}

/// Whether `line`, trimmed and without a list's leading `- `, is `item` (a YAML key and value, or a list
/// entry) exactly, so that `name: A` is not found on `name: AB`.
pub(crate) fn is_item(line: &str, item: &str) -> bool {
    line.trim().trim_start_matches("- ").trim() == item
}

impl Workflow {
    /// Checks `draft` into a workflow: node names unique, every edge between nodes, one entry, no
    /// cycle, switch probabilities one per branch, and no join that waits for two branches of a switch.
    pub(crate) fn check(draft: Draft, path: &Path) -> Result<Workflow, WorkflowError> {
        let Draft { name, nodes, edges } = draft;
        let mut index = BTreeMap::new();
        for (i, node) in nodes.iter().enumerate() {
            if index.insert(node.name.clone(), i).is_some() {
                return Err(WorkflowError::invalid(
                    path,
                    Some(node.line),
                    format!("node `{}` is defined twice", node.name),
                ));
            }
        }
        if nodes.is_empty() {
            return Err(WorkflowError::invalid(path, None, "no node".into()));
        }
        let mut checked: Vec<Edge> = Vec::with_capacity(edges.len());
        for (from, to, size, control, line) in edges {
            let Some(&f) = index.get(&from) else {
                return Err(WorkflowError::invalid(
                    path,
                    Some(line),
                    format!("`{to}` reads from `{from}`, which is not a node"),
                ));
            };
            let Some(&t) = index.get(&to) else {
                return Err(WorkflowError::invalid(
                    path,
                    Some(line),
                    format!("node `{from}` leads to `{to}`, which is not a node"),
                ));
            };
            match checked.iter_mut().find(|e| e.from == f && e.to == t) {
                // A control edge and data along it, or two data items: one edge, control if either is.
                Some(e) => {
                    e.control |= control;
                    if e.size == SizeDistribution::Fixed(0) {
                        e.size = size;
                    }
                }
                None => checked.push(Edge {
                    from: f,
                    to: t,
                    size,
                    control,
                }),
            }
        }
        let workflow = Workflow {
            name,
            nodes,
            edges: checked,
            entry: 0,
            topological: Vec::new(),
        };
        workflow.ordered(path)
    }

    /// Successors of node `n` along control edges, in order.
    pub fn next_of(&self, n: usize) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.from == n && e.control)
    }

    /// Predecessors of node `n` (control and data).
    pub fn inputs_of(&self, n: usize) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.to == n)
    }

    /// The entry, the topological order, and the checks that need them.
    fn ordered(mut self, path: &Path) -> Result<Workflow, WorkflowError> {
        let n = self.nodes.len();
        let entries: Vec<usize> = (0..n)
            .filter(|&i| self.inputs_of(i).next().is_none())
            .collect();
        let order = pathfinding::directed::topological_sort::topological_sort(
            &(0..n).collect::<Vec<_>>(),
            |&i| {
                self.edges
                    .iter()
                    .filter(move |e| e.from == i)
                    .map(|e| e.to)
                    .collect::<Vec<_>>()
            },
        )
        .map_err(|at| {
            let node = &self.nodes[at];
            WorkflowError::invalid(
                path,
                Some(node.line),
                format!("node `{}` is on a cycle: a workflow is a DAG", node.name),
            )
        })?;
        match entries.as_slice() {
            [one] => self.entry = *one,
            [] => unreachable!("a DAG has a node with no predecessor"),
            several => {
                let names: Vec<&str> = several
                    .iter()
                    .map(|&i| self.nodes[i].name.as_str())
                    .collect();
                return Err(WorkflowError::invalid(
                    path,
                    Some(self.nodes[several[1]].line),
                    format!(
                        "{} nodes have no predecessor ({}): a workflow has one entry",
                        names.len(),
                        names.join(", ")
                    ),
                ));
            }
        }
        self.topological = order;
        self.check_switches(path)?;
        self.check_joins(path)?;
        Ok(self)
    }

    /// A switch has one probability per branch, each in 0..=1, summing to 1.
    fn check_switches(&self, path: &Path) -> Result<(), WorkflowError> {
        for (i, node) in self.nodes.iter().enumerate() {
            if let Routing::Switch(p) = &node.routing {
                let branches = self.next_of(i).count();
                let bad = |reason: String| {
                    Err(WorkflowError::invalid(
                        path,
                        Some(node.line),
                        format!("switch `{}`: {reason}", node.name),
                    ))
                };
                if p.len() != branches {
                    return bad(format!("{} probabilities for {branches} branches", p.len()));
                }
                if p.iter().any(|x| !(0.0..=1.0).contains(x))
                    || (p.iter().sum::<f64>() - 1.0).abs() > 1e-6
                {
                    return bad(format!(
                        "probabilities {p:?} are not each 0 to 1 summing to 1"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Each node's switch choices (switch node → branch taken) that it needs to run; a join whose inputs
    /// need two branches of one switch can never complete.
    fn check_joins(&self, path: &Path) -> Result<(), WorkflowError> {
        let mut needs: Vec<BTreeMap<usize, usize>> = vec![BTreeMap::new(); self.nodes.len()];
        for &n in &self.topological {
            let mut need: BTreeMap<usize, usize> = BTreeMap::new();
            for e in self.inputs_of(n) {
                let mut from = needs[e.from].clone();
                if let (Routing::Switch(_), true) = (&self.nodes[e.from].routing, e.control) {
                    let branch = self.next_of(e.from).position(|x| x.to == n).unwrap_or(0);
                    from.insert(e.from, branch);
                }
                for (switch, branch) in from {
                    if let Some(&other) = need.get(&switch) {
                        if other != branch {
                            let node = &self.nodes[n];
                            return Err(WorkflowError::invalid(
                                path,
                                Some(node.line),
                                format!(
                                    "node `{}` waits for two branches of switch `{}`, of which only one runs: it would never run",
                                    node.name, self.nodes[switch].name
                                ),
                            ));
                        }
                    }
                    need.insert(switch, branch);
                }
            }
            needs[n] = need;
        }
        Ok(())
    }

    /// A node's index by name.
    pub fn node(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}
