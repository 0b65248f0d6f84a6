//! STeLLAR's files, read as they are, so a STeLLAR user switches without rewriting anything:
//!
//! - [`experiment`]: the experiment JSON (`Sequential`, `Provider`, `SubExperiments`), checked, with
//!   STeLLAR's defaults;
//! - [`endpoints`]: the endpoints JSON (`GatewayID`, …) and each provider's gateway URL;
//! - [`rounds`]: a sub-experiment as STeLLAR runs it, rounds of bursts after sleeps, and the replay of it
//!   (the invoker's schedule, and its closed-loop rounds);
//! - [`step`]: one or several sub-experiments as one replay;
//! - [`latencies`]: STeLLAR's latency CSV, written from our records.

pub mod endpoints;
pub mod experiment;
pub mod latencies;
pub mod rounds;
pub mod step;

pub use experiment::{Experiment, StellarError, SubExperiment};
