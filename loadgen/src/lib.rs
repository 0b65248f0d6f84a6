//! `loadgen`: from a serverless trace to load on a cluster, and a report of how it went.
//!
//! Read it as its data path. [`pipeline`] is the path every load takes: the `trace` crate reads the trace,
//! [`map`] assigns proxies (via the `profiles` crate), the `deploy` crate makes them callable, [`iat`] and
//! [`generate`] place every call and write `load.json`; the `coordinator` crate replays it from many
//! workers. [`commands`] holds one module per subcommand, wiring those steps; [`experiment`] runs many of
//! them from one file; [`report`] words every result for a person (terminal summaries and `report.md`);
//! [`output`] keeps finished work safe; [`cli`] is the command line, where every flag is checked.
//! The trace-to-trace commands (`synth`, `preprocess`, `sample`) wire steps of the `trace` crate.

pub mod cli;
pub mod collect;
pub mod commands;
pub mod disturb;
pub mod experiment;
pub mod generate;
pub mod iat;
pub mod map;
pub mod output;
pub mod pipeline;
pub mod plan;
pub mod predict;
pub mod progress;
pub mod report;
pub mod resume;
pub mod shapes;
pub mod stellar_step;
pub mod workflow_load;
