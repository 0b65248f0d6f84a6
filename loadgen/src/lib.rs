//! `loadgen`: from a serverless trace to a vSwarm-compatible `load.json`.
//!
//! The data path, one module per step: [`synth`] (a synthetic trace when there is no real one), the
//! `trace` crate (reading), [`map`] (functions to proxies, via the `profiles` crate), [`iat`] (where in a
//! period each call lands) and [`generate`] (periods merged in time order and streamed to `load.json`).
//! [`cli`] and [`commands`] are the command-line surface over them.

pub mod cli;
pub mod commands;
pub mod deploy;
pub mod generate;
pub mod iat;
pub mod map;
pub mod plot;
pub mod preprocess;
pub mod run;
pub mod sample;
pub mod synth;
