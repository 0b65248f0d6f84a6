//! One instance of a workflow: the calls it makes, once its draws are made.
//!
//! A workflow's graph says what may run; an instance says what does. Its switch choices, foreach widths
//! and edge sizes are drawn when the load is generated (from the run's seed), so that every way of
//! orchestrating it replays the same calls:
//!
//! - the entry runs; another node runs when every node it depends on ran and every node that routes to
//!   it chose it (a `pass` always does, a `switch` chose this branch, a `foreach` always does);
//! - a direct successor of a foreach runs once per key (`width` copies, in parallel); the nodes after
//!   those copies run once and wait for all of them;
//! - every call waits for every call of the nodes it depends on, and receives from each an edge's size,
//!   drawn per call.

use rand::Rng;

use crate::{Routing, Width, Work, Workflow};

/// One call of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCall {
    /// The node (index into [`Workflow::nodes`]).
    pub node: usize,
    /// Which copy of a foreach's successor (0 otherwise).
    pub key: u32,
    /// The calls (indices into [`Instance::calls`]) it waits for, each with the bytes it receives from it.
    pub after: Vec<(usize, u64)>,
}

/// The calls of one instance, in an order where every call comes after those it waits for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Instance {
    /// The calls.
    pub calls: Vec<NodeCall>,
}

impl Width {
    /// One width.
    pub fn sample(&self, rng: &mut impl Rng) -> u32 {
        match *self {
            Width::Fixed(n) => n,
            Width::Uniform { min, max } => rng.random_range(min..=max),
        }
    }
}

/// Draws one instance of `workflow`.
pub fn expand(workflow: &Workflow, rng: &mut impl Rng) -> Instance {
    let n = workflow.nodes.len();
    // Per node: whether it routes to each control successor (a switch's one choice), and its width.
    let mut chosen: Vec<Option<usize>> = vec![None; n];
    let mut width: Vec<u32> = vec![1; n];
    for (i, node) in workflow.nodes.iter().enumerate() {
        match &node.routing {
            Routing::Switch(p) => chosen[i] = Some(pick(p, rng)),
            Routing::Foreach(w) => width[i] = w.sample(rng),
            Routing::All => {}
        }
    }
    let mut runs = vec![false; n];
    // Per node, the indices of its calls.
    let mut calls_of: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut instance = Instance::default();
    for &node in &workflow.topological {
        let inputs: Vec<_> = workflow.inputs_of(node).collect();
        let routed = inputs
            .iter()
            .filter(|e| e.control)
            .all(|e| match chosen[e.from] {
                Some(branch) => workflow
                    .next_of(e.from)
                    .nth(branch)
                    .is_some_and(|b| b.to == node),
                None => true,
            });
        runs[node] = node == workflow.entry
            || (!inputs.is_empty() && routed && inputs.iter().all(|e| runs[e.from]));
        if !runs[node] {
            continue;
        }
        let copies = inputs
            .iter()
            .filter(|e| e.control && matches!(workflow.nodes[e.from].routing, Routing::Foreach(_)))
            .map(|e| width[e.from])
            .max()
            .unwrap_or(1);
        for key in 0..copies {
            let after = inputs
                .iter()
                .flat_map(|e| calls_of[e.from].iter().map(move |&c| (c, e)))
                .map(|(c, e)| (c, e.size.sample(rng)))
                .collect();
            calls_of[node].push(instance.calls.len());
            instance.calls.push(NodeCall { node, key, after });
        }
    }
    instance
}

/// An index drawn with probabilities `p` (summing to 1).
fn pick(p: &[f64], rng: &mut impl Rng) -> usize {
    let u: f64 = rng.random();
    let mut sum = 0.0;
    for (i, x) in p.iter().enumerate() {
        sum += x;
        if u < sum {
            return i;
        }
    }
    p.len().saturating_sub(1)
}

/// One call of an instance as a load holds it: the calls of routing nodes (which do no work) left out,
/// each call waiting for the working calls before them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The call's name in the load ([`CallNames`]).
    pub name: u32,
    /// Its node.
    pub node: usize,
    /// The steps (indices into the list) it waits for, ascending.
    pub after: Vec<u32>,
    /// The bytes it receives from each of them (one per `after`): an edge's size, or what comes
    /// through a routing node shared evenly among the steps it stands for.
    pub after_bytes: Vec<u64>,
    /// The bytes it receives: its input edges' sizes, summed.
    pub bytes: u64,
}

impl Instance {
    /// The instance's working calls, in order, as [`Step`]s: a routing node's call is left out, and the
    /// calls after it wait for what it waited for (the bytes on the edges out of it still count).
    pub fn steps(&self, workflow: &Workflow, names: &CallNames) -> Vec<Step> {
        // Per call: the steps it stands for (itself, or for a routing call, what it waits for).
        let mut stands_for: Vec<Vec<u32>> = Vec::with_capacity(self.calls.len());
        let mut steps = Vec::new();
        for call in &self.calls {
            // The bytes from each step, keyed by step: a routing call's edge is shared evenly.
            let mut from: std::collections::BTreeMap<u32, u64> = Default::default();
            for (c, bytes) in &call.after {
                let steps = &stands_for[*c];
                let share = bytes / steps.len().max(1) as u64;
                let mut rest = bytes - share * steps.len() as u64;
                for &s in steps {
                    *from.entry(s).or_default() += share + std::mem::take(&mut rest);
                }
            }
            if workflow.nodes[call.node].work == Work::Virtual {
                stands_for.push(from.into_keys().collect());
                continue;
            }
            stands_for.push(vec![steps.len() as u32]);
            steps.push(Step {
                name: names.of(call.node, call.key),
                node: call.node,
                after: from.keys().copied().collect(),
                after_bytes: from.values().copied().collect(),
                bytes: call.after.iter().map(|(_, b)| b).sum(),
            });
        }
        steps
    }
}

/// The names calls go by in a load and its records: a node's name, or for the copies a foreach makes of
/// its successors, `NAME[key]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallNames {
    /// Every name, in node order.
    pub names: Vec<String>,
    /// Per node, the index of its first name.
    first: Vec<u32>,
}

impl CallNames {
    /// The names of `workflow`'s calls: each node once, a foreach successor once per key up to the
    /// widest its foreach can draw.
    pub fn new(workflow: &Workflow) -> CallNames {
        let mut names = Vec::new();
        let mut first = Vec::with_capacity(workflow.nodes.len());
        for (i, node) in workflow.nodes.iter().enumerate() {
            first.push(names.len() as u32);
            let widest = workflow
                .inputs_of(i)
                .filter(|e| e.control)
                .filter_map(|e| match workflow.nodes[e.from].routing {
                    Routing::Foreach(Width::Fixed(n)) => Some(n),
                    Routing::Foreach(Width::Uniform { max, .. }) => Some(max),
                    _ => None,
                })
                .max();
            match widest {
                None => names.push(node.name.clone()),
                Some(n) => names.extend((0..n).map(|k| format!("{}[{k}]", node.name))),
            }
        }
        CallNames { names, first }
    }

    /// The name of `node`'s copy `key`.
    pub fn of(&self, node: usize, key: u32) -> u32 {
        self.first[node] + key
    }
}
