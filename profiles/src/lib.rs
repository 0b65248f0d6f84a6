//! Proxy functions and mapping trace functions onto them.
//!
//! A [`Catalogue`] is a set of proxies with CPU, memory and duration percentiles: either a vSwarm profiler
//! `profile.json` ([`Catalogue::from_profile_json`]) or the built-in grid of emulated proxies
//! ([`Catalogue::builtin`]) that the local deployer serves. [`assign`] maps each trace function to a proxy by
//! Euclidean distance in (ln memory, ln duration) at one percentile, optimally one-to-one (Kuhn–Munkres) or
//! nearest-per-function; [`MappingFile`] is `mapping.json`, the record of that mapping.

mod catalogue;
mod error;
mod mapping;

pub use catalogue::{
    own_name, Catalogue, Metric, Proxy, BUILTIN_CPU_PERCENT, BUILTIN_DURATIONS, BUILTIN_MEMORY,
    DURATION_SPREAD, MEMORY_SPREAD, SPREAD_PERCENTILES,
};
pub use error::ProfileError;
pub use mapping::{
    assign, check_percentile, cost, function_point, mapping_percentiles, proxy_points, Assignment,
    ErrorStats, MappingEntry, MappingFile, MappingSummary, Method, Point, DURATION_FLOOR_MS,
    MEMORY_FLOOR_MB,
};
