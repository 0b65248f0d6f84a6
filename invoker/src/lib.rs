//! `invoker`: replays a `load.json` over gRPC or HTTP with microsecond timing, recording every scheduled
//! call.
//!
//! The data path, one module per step: [`schedule`] (the load flattened into absolute due times),
//! [`lookahead`] (its calls read period by period ahead of the dispatcher, so memory holds about one
//! period, not the load),
//! [`target`] (an endpoint read as a URL: gRPC, HTTP/1.1, h2c, https) and [`request`] (what each call
//! sends), [`dispatch`] (the dispatcher thread and the records thread; `wait` holds how it waits for
//! each microsecond, `client` how a call goes out over each protocol), [`stats`] (the
//! records folded into histograms and the run summary), [`worker`] (fetching a shard from `loadgen` and
//! sending the records back, when several invokers share a load). The files it reads and writes (load.json, the
//! records CSV, summary.json) are defined in the `formats` crate; [`cli`] is the `invoker` binary's
//! command line (vSwarm's Go invoker flags).

mod call;
mod chained;
pub mod cli;
pub mod client;
pub mod dispatch;
pub mod error;
pub mod instances;
pub mod lookahead;
pub mod observe;
pub mod options;
mod orchestrate;
pub mod request;
pub mod rounds;
pub mod schedule;
pub mod shard_stream;
mod sink;
pub mod spans;
pub mod stats;
mod store;
pub mod target;
pub mod upload;
mod wait;
pub mod worker;
