//! Chained orchestration (FaaSFlow's WorkerSP): the invoker sends a workflow instance's entry call only,
//! carrying the instance's whole graph as a [`Plan`]; each function, once its own work is done, calls
//! the nodes it orchestrates and waits for them, and returns their [`NodeReport`]s with its own.
//!
//! **Who calls whom.** A node orchestrates the nodes it immediately dominates (every path from the entry
//! to them passes through it, and through no later node that does too). A chain's node calls the next; a
//! fan-out's source calls every branch; a join is called by the node that dominates all its inputs (a
//! diamond's source calls the join once both branches answered). So every node is called exactly once,
//! only after all its predecessors ended, by a function that was alive when they did.
//!
//! **Data.** A node's request carries its `payload_bytes` (the sum of its input edges), from whichever
//! function calls it, as in client orchestration, where the invoker sends it. With a [`PlanStore`], the
//! data goes through the store instead, edge by edge ([`Plan::store_ops`], `crate::store`), and requests
//! carry none.
//!
//! The plan travels in [`PLAN_HEADER`] (gRPC metadata or HTTP header), JSON; the reports in the
//! function's report (`crate::function::FunctionReport::nodes`, each a `crate::function::NodeReport`).

use serde::{Deserialize, Serialize};

use crate::function::CallRequest;
use crate::store::{StoreObject, StoreOps};

/// The header (HTTP) or metadata key (gRPC) carrying a chained call's [`Plan`].
pub const PLAN_HEADER: &str = "x-workflow-plan";

/// The header (HTTP) or metadata key (gRPC) saying which step of a workflow instance a call is
/// (`INSTANCE/NODE`), on a client-orchestrated call whose data travels inline: so the function knows its
/// body is the step's input and times its arrival, as the plan or the store's header tell it otherwise.
pub const STEP_HEADER: &str = "x-workflow-step";

/// A workflow instance's graph, as one of its calls carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The node this call is (an index into `nodes`).
    pub at: u32,
    /// Every node of the instance, each after the nodes it waits for.
    pub nodes: Vec<PlanNode>,
    /// When the function at `at` must have answered its caller, µs since the Unix epoch: it stops waiting
    /// for the nodes it calls [`DEADLINE_MARGIN_US`] before, and gives them that as their own deadline,
    /// so the invoker's call timeout ends the instance's calls from the leaves up and every report still
    /// reaches it. None: the function's own default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_unix_us: Option<u64>,
    /// Where the data goes when not inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<PlanStore>,
}

/// The store a chained instance's data goes through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStore {
    /// The store, `redis://host:port`.
    pub url: String,
    /// The instance's key prefix (unique per run and instance): node `i`'s data for node `j` is at
    /// `crate::store::key(prefix, i, j)`.
    pub prefix: String,
}

/// What each function keeps of its deadline to answer its caller once the nodes it called have answered
/// or been given up, µs.
pub const DEADLINE_MARGIN_US: u64 = 20_000;

/// One node of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanNode {
    /// Where it is called, as a load names an endpoint (`host:port` for gRPC, `http://…`, `h2c://…`).
    pub endpoint: String,
    /// What its call asks of the function.
    #[serde(default)]
    pub ask: CallRequest,
    /// What its request carries, bytes.
    #[serde(default)]
    pub payload_bytes: u64,
    /// The nodes it waits for (indices into the plan's nodes, each lower than its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<u32>,
    /// What it receives from each of them, bytes (one per `after`; empty: not said, the payload shared
    /// evenly).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after_bytes: Vec<u64>,
}

impl PlanNode {
    /// What it receives from its `k`-th input, bytes.
    pub fn input_bytes(&self, k: usize) -> u64 {
        match self.after_bytes.get(k) {
            Some(&b) => b,
            None => even_share(self.payload_bytes, self.after.len(), k),
        }
    }

    /// What its request carries: nothing when the data goes through a store.
    pub fn inline_bytes(&self, plan: &Plan) -> u64 {
        if plan.store.is_some() {
            0
        } else {
            self.payload_bytes
        }
    }
}

/// Why a plan cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(pub String);

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanError {}

impl Plan {
    /// Refuses a plan no function could follow: no node, a node out of range, a node waiting for one not
    /// before it, or more than one entry (a node waiting for nothing).
    pub fn check(&self) -> Result<(), PlanError> {
        let n = self.nodes.len();
        if n == 0 || self.at as usize >= n {
            return Err(PlanError(format!(
                "node {} of a plan of {n} nodes",
                self.at
            )));
        }
        let entries = self.nodes.iter().filter(|v| v.after.is_empty()).count();
        if entries != 1 {
            return Err(PlanError(format!(
                "a chained workflow instance has one entry node (waiting for nothing); this one has {entries}"
            )));
        }
        if let Some(bad) = self
            .nodes
            .iter()
            .position(|v| !v.after_bytes.is_empty() && v.after_bytes.len() != v.after.len())
        {
            return Err(PlanError(format!(
                "node {bad} has {} input sizes for {} inputs",
                self.nodes[bad].after_bytes.len(),
                self.nodes[bad].after.len()
            )));
        }
        if !self.nodes[0].after.is_empty() {
            return Err(PlanError("the entry node comes first".into()));
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(bad) = node.after.iter().find(|&&p| p as usize >= i) {
                return Err(PlanError(format!(
                    "node {i} waits for node {bad}, which does not come before it"
                )));
            }
        }
        Ok(())
    }

    /// Each node's immediate dominator (the entry's is itself). Nodes come after their predecessors, so
    /// one pass folds each node's predecessors into their nearest common dominator.
    pub fn dominators(&self) -> Vec<u32> {
        let n = self.nodes.len();
        let mut idom = vec![0u32; n];
        let mut depth = vec![0u32; n];
        for v in 1..n {
            let mut preds = self.nodes[v].after.iter().copied();
            let Some(first) = preds.next() else { continue };
            let mut d = first;
            for p in preds {
                d = common(d, p, &idom, &depth);
            }
            idom[v] = d;
            depth[v] = depth[d as usize] + 1;
        }
        idom
    }

    /// The nodes the call at `at` orchestrates (those it immediately dominates), in plan order, each with
    /// the nodes among them it must wait for: a node is called once every one of them whose dominator
    /// subtree holds one of its predecessors has answered.
    pub fn orchestrated(&self, at: u32) -> Vec<(u32, Vec<u32>)> {
        let idom = self.dominators();
        // The node among `at`'s children whose subtree holds `v` (or `at` itself).
        let child_of = |mut v: u32| {
            while v != at && idom[v as usize] != at {
                if v == 0 {
                    return at;
                }
                v = idom[v as usize];
            }
            v
        };
        (0..self.nodes.len() as u32)
            .filter(|&v| v != at && idom[v as usize] == at)
            .map(|v| {
                let mut waits: Vec<u32> = self.nodes[v as usize]
                    .after
                    .iter()
                    .map(|&p| child_of(p))
                    .filter(|&c| c != at)
                    .collect();
                waits.sort_unstable();
                waits.dedup();
                (v, waits)
            })
            .collect()
    }

    /// The plan the call to node `at` carries: this one, its deadline [`DEADLINE_MARGIN_US`] earlier.
    pub fn for_node(&self, at: u32) -> Plan {
        Plan {
            deadline_unix_us: self
                .deadline_unix_us
                .map(|d| d.saturating_sub(DEADLINE_MARGIN_US)),
            ..self.at(at)
        }
    }

    /// The same plan, carried by the call to node `at`.
    pub fn at(&self, at: u32) -> Plan {
        Plan {
            at,
            nodes: self.nodes.clone(),
            deadline_unix_us: self.deadline_unix_us,
            store: self.store.clone(),
        }
    }

    /// What the call at `at` reads from the store (its inputs) and writes there (what the nodes after it
    /// receive from it), when the plan's data goes through one.
    pub fn store_ops(&self, at: u32) -> Option<StoreOps> {
        let store = self.store.as_ref()?;
        let key = |from: u32, to: u32| crate::store::key(&store.prefix, from.into(), to.into());
        let node = &self.nodes[at as usize];
        let get = node
            .after
            .iter()
            .enumerate()
            .map(|(k, &from)| StoreObject {
                key: key(from, at),
                bytes: node.input_bytes(k),
            })
            .collect();
        let put = self
            .nodes
            .iter()
            .enumerate()
            .skip(at as usize + 1)
            .filter_map(|(to, v)| {
                let k = v.after.iter().position(|&p| p == at)?;
                Some(StoreObject {
                    key: key(at, to as u32),
                    bytes: v.input_bytes(k),
                })
            })
            .collect();
        Some(StoreOps {
            url: store.url.clone(),
            get,
            put,
        })
    }

    /// The plan as its header's value.
    pub fn to_header(&self) -> String {
        serde_json::to_string(self).expect("a plan serialises")
    }

    /// A plan from its header's value, checked.
    pub fn from_header(text: &[u8]) -> Result<Plan, PlanError> {
        let plan: Plan =
            serde_json::from_slice(text).map_err(|e| PlanError(format!("{PLAN_HEADER}: {e}")))?;
        plan.check()?;
        Ok(plan)
    }
}

/// The `k`-th of `parts` even shares of `total` bytes, the remainder on the first: what each input
/// carries when only their sum is known.
pub fn even_share(total: u64, parts: usize, k: usize) -> u64 {
    let n = parts.max(1) as u64;
    total / n + u64::from(k == 0) * (total % n)
}

/// The nearest common dominator of `a` and `b`.
fn common(mut a: u32, mut b: u32, idom: &[u32], depth: &[u32]) -> u32 {
    while a != b {
        if depth[a as usize] >= depth[b as usize] {
            a = idom[a as usize];
        } else {
            b = idom[b as usize];
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(after: &[&[u32]]) -> Plan {
        Plan {
            deadline_unix_us: None,
            store: None,
            at: 0,
            nodes: after
                .iter()
                .map(|a| PlanNode {
                    endpoint: "f:80".into(),
                    ask: CallRequest::default(),
                    payload_bytes: 0,
                    after: a.to_vec(),
                    after_bytes: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_chain_calls_the_next_a_fan_calls_every_branch_and_a_diamond_s_source_calls_its_join() {
        let chain = plan(&[&[], &[0], &[1]]);
        assert_eq!(chain.orchestrated(0), vec![(1, vec![])]);
        assert_eq!(chain.orchestrated(1), vec![(2, vec![])]);
        assert!(chain.orchestrated(2).is_empty());
        // A → B, C → D: A calls B and C, then D once both answered.
        let diamond = plan(&[&[], &[0], &[0], &[1, 2]]);
        assert_eq!(diamond.dominators(), vec![0, 0, 0, 0]);
        assert_eq!(
            diamond.orchestrated(0),
            vec![(1, vec![]), (2, vec![]), (3, vec![1, 2])]
        );
        assert!(diamond.orchestrated(1).is_empty());
        // A → B → E → D, A → C → D: D waits for E, inside B's subtree, so for B's answer.
        let deep = plan(&[&[], &[0], &[0], &[1], &[3, 2]]);
        assert_eq!(
            deep.orchestrated(0),
            vec![(1, vec![]), (2, vec![]), (4, vec![1, 2])]
        );
        assert_eq!(deep.orchestrated(1), vec![(3, vec![])]);
    }

    #[test]
    fn every_node_is_orchestrated_by_exactly_one_other() {
        // Two diamonds in a row, a skip edge, a fan of three.
        let p = plan(&[&[], &[0], &[0], &[1, 2], &[3], &[3], &[3], &[4, 5, 6, 0]]);
        let mut called = vec![0; p.nodes.len()];
        for at in 0..p.nodes.len() as u32 {
            for (v, waits) in p.orchestrated(at) {
                called[v as usize] += 1;
                // It waits only for siblings, before it in the plan.
                assert!(waits.iter().all(|&w| w < v), "{v} waits for {waits:?}");
            }
        }
        assert_eq!(called, vec![0, 1, 1, 1, 1, 1, 1, 1]);
        assert_eq!(
            p.orchestrated(3),
            vec![(4, vec![]), (5, vec![]), (6, vec![])]
        );
        assert_eq!(p.orchestrated(0).last(), Some(&(7, vec![3])));
    }

    #[test]
    fn plans_no_function_could_follow_are_refused() {
        assert!(plan(&[&[], &[0]]).check().is_ok());
        let two_entries = plan(&[&[], &[]]).check().unwrap_err();
        assert!(two_entries.0.contains("this one has 2"), "{two_entries}");
        let forward = plan(&[&[], &[2], &[0]]).check().unwrap_err();
        assert!(forward.0.contains("node 1 waits for node 2"), "{forward}");
        let p = plan(&[&[], &[0]]);
        assert_eq!(Plan::from_header(p.to_header().as_bytes()), Ok(p));
        assert!(Plan::from_header(b"{").is_err());
        let mut sizes = plan(&[&[], &[0]]);
        sizes.nodes[1].after_bytes = vec![1, 2];
        let e = sizes.check().unwrap_err();
        assert!(e.0.contains("node 1 has 2 input sizes for 1 inputs"), "{e}");
    }

    #[test]
    fn through_a_store_each_node_reads_its_inputs_and_writes_what_its_successors_read() {
        // A diamond: B gets 100 from A, C 200, D 10 from B and 20 from C.
        let mut p = plan(&[&[], &[0], &[0], &[1, 2]]);
        p.nodes[1].after_bytes = vec![100];
        p.nodes[2].after_bytes = vec![200];
        p.nodes[3].after_bytes = vec![10, 20];
        assert_eq!(p.store_ops(0), None);
        p.store = Some(PlanStore {
            url: "redis://127.0.0.1:1".into(),
            prefix: "r:7".into(),
        });
        let object = |key: &str, bytes| StoreObject {
            key: key.into(),
            bytes,
        };
        let a = p.store_ops(0).unwrap();
        assert!(a.get.is_empty());
        assert_eq!(a.put, vec![object("r:7:0:1", 100), object("r:7:0:2", 200)]);
        let d = p.store_ops(3).unwrap();
        assert_eq!(d.get, vec![object("r:7:1:3", 10), object("r:7:2:3", 20)]);
        assert!(d.put.is_empty());
        assert_eq!(p.store_ops(1).unwrap().put, vec![object("r:7:1:3", 10)]);
        // Sizes not said: the payload shared evenly, the remainder on the first input.
        let mut even = plan(&[&[], &[0], &[0], &[1, 2]]);
        even.nodes[3].payload_bytes = 7;
        assert_eq!(
            (even.nodes[3].input_bytes(0), even.nodes[3].input_bytes(1)),
            (4, 3)
        );
        assert_eq!(p.nodes[3].inline_bytes(&p), 0);
    }
}
