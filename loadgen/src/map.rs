//! The mapping step: each trace function's point at the chosen percentile, assigned to a proxy.

use mapping::{assign, check_percentile, function_point, proxy_points, MappingEntry, MappingFile};
use profiles::{Catalogue, ProfileError};
use trace::Trace;

use crate::generate::Endpoints;

/// A trace mapped onto a catalogue.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// `mapping.json`'s content.
    pub file: MappingFile,
    /// Catalogue index of each trace function's proxy.
    pub proxy_of: Vec<usize>,
    /// In a workflow load, per node: the catalogue index of the proxy it names (`function: {proxy}`),
    /// deployed beside the functions' own; none for the other nodes (or no workflow).
    pub node_proxy: Vec<Option<usize>>,
}

impl Mapped {
    /// Catalogue indices of the proxies used, ascending.
    pub fn proxies_used(&self) -> Vec<usize> {
        let mut used = self.proxy_of.clone();
        used.extend(self.node_proxy.iter().flatten());
        used.sort_unstable();
        used.dedup();
        used
    }

    /// One endpoint per proxy used (`endpoint_of(catalogue index)`), and each function's index into them.
    pub fn endpoints(&self, mut endpoint_of: impl FnMut(usize) -> String) -> Endpoints {
        let used = self.proxies_used();
        let names = used.iter().map(|&p| endpoint_of(p)).collect();
        let of_function = self
            .proxy_of
            .iter()
            .map(|p| used.binary_search(p).expect("proxy is in the used set") as u32)
            .collect();
        let of_node = self
            .node_proxy
            .iter()
            .map(|p| p.map(|p| used.binary_search(&p).expect("proxy is in the used set") as u32))
            .collect();
        Endpoints {
            names,
            of_function,
            of_node,
        }
    }
}

/// Maps every function of `trace` to a proxy of `catalogue` at `percentile`.
pub fn map_trace(
    trace: &Trace,
    catalogue: &Catalogue,
    catalogue_name: &str,
    percentile: u8,
    unique: bool,
) -> Result<Mapped, ProfileError> {
    check_percentile(percentile)?;
    let points: Vec<_> = trace
        .functions
        .iter()
        .map(|f| function_point(f, percentile))
        .collect();
    let proxy_points = proxy_points(catalogue, percentile)?;
    let assignment = assign(&points, &proxy_points, unique)?;
    let functions = trace
        .functions
        .iter()
        .zip(&points)
        .zip(&assignment.proxy_of)
        .map(|((function, &point), &p)| {
            MappingEntry::new(function, &catalogue.proxies[p].name, point, proxy_points[p])
        })
        .collect();
    Ok(Mapped {
        file: MappingFile {
            percentile,
            method: assignment.method,
            catalogue: catalogue_name.to_owned(),
            functions,
        },
        proxy_of: assignment.proxy_of,
        node_proxy: Vec::new(),
    })
}

/// Maps every function of `trace` to its own emulated function in `catalogue` (made by
/// `Catalogue::of_trace`, in trace order): the identity, with no error.
pub fn map_to_own(
    trace: &Trace,
    catalogue: &Catalogue,
    percentile: u8,
) -> Result<Mapped, ProfileError> {
    check_percentile(percentile)?;
    let functions = trace
        .functions
        .iter()
        .zip(&catalogue.proxies)
        .map(|(function, own)| {
            MappingEntry::own(function, &own.name, function_point(function, percentile))
        })
        .collect();
    Ok(Mapped {
        file: MappingFile {
            percentile,
            method: mapping::Method::Own,
            catalogue: "trace".to_owned(),
            functions,
        },
        proxy_of: (0..trace.functions.len()).collect(),
        node_proxy: Vec::new(),
    })
}
