//! A workflow load's plan: the workflow read and checked, its calls' names, and where each node's calls
//! go (the instance's function, asked a duration and memory or nothing, or a proxy of the profile).

use formats::CallAsk;

use crate::generate::ask_of;

/// A workflow load: every call the load would make becomes one instance of `workflow`, its draws (switch
/// branches, foreach widths, edge sizes) made with the seed, one stream per period in time order. Each
/// working node's call goes to the arrival's endpoint, asking the node's duration and memory, and receives
/// its input edges' bytes (`payload_bytes`); the load says what each waits for, so the invoker releases it
/// when those have answered.
#[derive(Debug, Clone)]
pub struct WorkflowLoad {
    /// The graph.
    pub workflow: workflow::Workflow,
    /// Its calls' names in the load and the records.
    pub names: workflow::instance::CallNames,
    /// The file it was read from.
    pub file: std::path::PathBuf,
    /// Whether any node asks its function a duration and memory (the load then has the arrays).
    pub asks: bool,
}

impl WorkflowLoad {
    /// The load of `workflow`. A node calls the function its instance's arrival was mapped to (asking
    /// it its fixed duration and memory, or, `trace`, asking nothing: the function's own percentiles),
    /// or the proxy it names, deployed with the others (`crate::map::Mapped::node_proxy`).
    pub fn new(workflow: workflow::Workflow, file: &std::path::Path) -> WorkflowLoad {
        let names = workflow::instance::CallNames::new(&workflow);
        let asks = workflow
            .nodes
            .iter()
            .any(|n| matches!(n.work, workflow::Work::Fixed { .. }));
        WorkflowLoad {
            workflow,
            names,
            file: file.to_owned(),
            asks,
        }
    }

    /// The names of the proxies its nodes call (`function: {proxy}`), with each node's name and line.
    pub fn proxies_named(&self) -> impl Iterator<Item = (&str, &workflow::Node)> {
        self.workflow.nodes.iter().filter_map(|n| match &n.work {
            workflow::Work::Proxy(name) => Some((name.as_str(), n)),
            _ => None,
        })
    }

    /// Refuses, naming the file, the node and its line, a node that calls a proxy `catalogue` (the
    /// profile `profile`) does not have.
    pub fn check_proxies(
        &self,
        catalogue: &profiles::Catalogue,
        profile: &str,
    ) -> Result<(), String> {
        for (name, node) in self.proxies_named() {
            if !catalogue.proxies.iter().any(|p| p.name == name) {
                return Err(format!(
                    "{}, line {}: node `{}` calls proxy `{name}`, which the profile `{profile}` does not have \
                     ({} proxies, e.g. `{}`)",
                    self.file.display(),
                    node.line,
                    node.name,
                    catalogue.proxies.len(),
                    catalogue.proxies.first().map_or("", |p| p.name.as_str())
                ));
            }
        }
        Ok(())
    }

    /// Per node, the index in `catalogue` of the service its calls go to, so each node that is not its
    /// instance's function (`trace`) is a service of its own. A proxy node calls its proxy: `catalogue`'s
    /// own, or (a load shape's catalogue holds only the copies it made) `profile`'s, added to `catalogue`
    /// to be deployed too (none without a profile: `-p trace`, where a proxy node is refused with the
    /// plan). A node with a fixed duration and memory gets an emulated proxy of its own
    /// ([`fixed_node_proxy`]), added to `catalogue`.
    pub fn node_proxies(
        &self,
        catalogue: &mut profiles::Catalogue,
        profile: Option<&profiles::Catalogue>,
    ) -> Vec<Option<usize>> {
        self.workflow
            .nodes
            .iter()
            .map(|node| match &node.work {
                workflow::Work::Proxy(name) => {
                    if let Some(k) = catalogue.proxies.iter().position(|p| p.name == *name) {
                        return Some(k);
                    }
                    let proxy = profile?.proxies.iter().find(|p| p.name == *name)?;
                    catalogue.proxies.push(proxy.clone());
                    Some(catalogue.proxies.len() - 1)
                }
                workflow::Work::Fixed {
                    duration_ms,
                    memory_mb,
                } => {
                    let proxy = fixed_node_proxy(
                        &self.workflow.name,
                        &node.name,
                        (*duration_ms, *memory_mb),
                        catalogue,
                    );
                    catalogue.proxies.push(proxy);
                    Some(catalogue.proxies.len() - 1)
                }
                workflow::Work::Virtual | workflow::Work::Trace => None,
            })
            .collect()
    }

    /// What node `node` asks of its function.
    pub(crate) fn ask(&self, node: usize) -> Option<CallAsk> {
        match self.workflow.nodes[node].work {
            workflow::Work::Fixed {
                duration_ms,
                memory_mb,
            } => Some(ask_of(duration_ms, memory_mb)),
            _ => None,
        }
    }
}

/// The emulated proxy serving a workflow's node of fixed `(duration_ms, memory_mb)`: named
/// `wf-<workflow>-<node>` (with a number added if `catalogue` has the name already), its one duration and
/// memory at each percentile the built-in proxies give (its calls ask them anyway), computing like the built-in catalogue's
/// proxies ([`profiles::BUILTIN_CPU_PERCENT`] of its wall time; `--cpu-share` overrides it). With no
/// `yaml`, Knative deploys it as an emulated function Service of its own.
pub fn fixed_node_proxy(
    workflow: &str,
    node: &str,
    (duration_ms, memory_mb): (f64, f64),
    catalogue: &profiles::Catalogue,
) -> profiles::Proxy {
    let base = format!("wf-{workflow}-{node}");
    let name = std::iter::once(base.clone())
        .chain((2..).map(|k| format!("{base}-{k}")))
        .find(|n| catalogue.get(n).is_none())
        .expect("some numbered name is free");
    let one = |v: f64| {
        formats::Percentiles::new(
            profiles::SPREAD_PERCENTILES
                .iter()
                .map(|&p| (p, v))
                .collect(),
        )
    };
    profiles::Proxy {
        name,
        yaml: None,
        cpu: one(profiles::BUILTIN_CPU_PERCENT),
        memory_mb: one(memory_mb),
        duration_ms: one(duration_ms),
    }
}
