//! Proxy functions: the catalogue a load's functions are mapped onto (the mapping itself is the `mapping`
//! crate, so the function server reads catalogues without the trace engine).
//!
//! A [`Catalogue`] is a set of proxies with CPU, memory and duration percentiles: either a vSwarm profiler
//! `profile.json` ([`Catalogue::from_profile_json`]) or the built-in grid of emulated proxies
//! ([`Catalogue::builtin`]) that the local deployer serves.

mod catalogue;
mod error;

pub use catalogue::{
    Catalogue, Metric, Proxy, BUILTIN_CPU_PERCENT, BUILTIN_DURATIONS, BUILTIN_MEMORY,
    DURATION_SPREAD, MEMORY_SPREAD, SPREAD_PERCENTILES,
};
pub use error::ProfileError;
pub use formats::Percentiles;
