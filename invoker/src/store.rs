//! Client orchestration's store (`--store`, `proto::store`): what each call of a workflow load reads
//! from the store and writes there, carried in its `x-workflow-store` header (in chained orchestration
//! the functions derive theirs from the plan).

use proto::store::{StoreObject, StoreOps};

use crate::schedule::Dependencies;

/// Client orchestration's store (`--store`): what each call of a workflow load reads there (what the
/// calls it waits for hand it) and writes (what it hands the calls waiting for it), under a prefix
/// unique to the run.
pub(crate) struct ClientStore<'a> {
    url: String,
    prefix: String,
    dependencies: &'a Dependencies,
}

impl<'a> ClientStore<'a> {
    /// The store at `url` for `dependencies`' calls, in the run that started `start_unix_us`.
    pub(crate) fn new(url: &str, dependencies: &'a Dependencies, start_unix_us: u64) -> Self {
        ClientStore {
            url: url.to_owned(),
            prefix: format!("loadgen:{start_unix_us}"),
            dependencies,
        }
    }

    /// Call `index`'s store operations, as its header's value.
    pub(crate) fn ops(&self, index: usize) -> std::rc::Rc<str> {
        let object = |from: usize, to: usize, bytes: u64| StoreObject {
            key: proto::store::key(&self.prefix, from as u64, to as u64),
            bytes,
        };
        let ops = StoreOps {
            url: self.url.clone(),
            get: self
                .dependencies
                .inputs_of(index)
                .iter()
                .map(|&(from, bytes)| object(from as usize, index, bytes))
                .collect(),
            put: self
                .dependencies
                .outputs_of(index)
                .map(|(to, bytes)| object(index, to as usize, bytes))
                .collect(),
        };
        ops.to_header().into()
    }
}
