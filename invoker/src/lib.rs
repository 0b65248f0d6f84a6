//! `invoker`: replays a `load.json` over gRPC with microsecond timing, and the emulated function server.
//!
//! The data path, one module per step: [`schedule`] (the load flattened into absolute due times),
//! [`dispatch`] (connections, the busy-wait dispatcher thread, the records thread), [`record`] (what is
//! kept per invocation, and its CSV), [`stats`] (histograms and the summary). [`emulated`] is the server the
//! tests, benchmarks and local deployer run; [`proto`] is the one wire contract both sides are built from.

pub mod cli;
pub mod cpu;
pub mod dispatch;
pub mod emulated;
pub mod record;
pub mod schedule;
pub mod stats;

/// The `helloworld.Greeter` contract vSwarm proxies speak, generated from `proto/helloworld.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("helloworld");
}
