//! The files the tools exchange, each defined once, so that the generator, the invoker, the plots and the
//! reports can never disagree on them:
//!
//! - [`load`]: vSwarm's `load.json` (what to call, when), written by `loadgen`, replayed by `invoker`;
//! - [`records`]: the records CSV, one line per scheduled call (what happened to it);
//! - [`summary`]: the run summary JSON (rates, lag and latency statistics, per period and per endpoint);
//! - [`transfer`]: how shards and results travel between `loadgen` and its workers (paths, content
//!   hashes, the clock exchange);
//! - [`endpoints`]: `endpoints.json`, where each proxy is called and what its calls send;
//! - [`workflows`]: `workflows.csv`, one line per workflow instance of a workflow load;
//! - [`files`]: the names of a run directory's files;
//! - [`Granularity`]: the length of a period, which gives every per-period offset above its meaning.
//!
//! [`output`] writes any of them whole or not at all. [`nearest_rank`] is the one definition of a percentile over a sorted sample used by every output.
//!
//! This crate depends on nothing heavier than serde, so every tool that reads these files (the plots
//! among them) can do so without the gRPC or CSV-engine stacks.

pub mod compressed;
pub mod endpoints;
pub mod files;
pub mod load;
pub mod output;
pub mod percentiles;
pub mod records;
pub mod summary;
pub mod transfer;
pub mod workflows;

pub use load::{
    read, read_periods, read_periods_from, shard_of, shard_path, whole_index, CallAsk, Invocation,
    Load, LoadError, LoadNames, LoadWriter, Period, WorkflowStep, WriteStats, MAX_ASK_US,
};
pub use percentiles::Percentiles;

/// Names met while reading a file (endpoints, workflow nodes), each numbered once, in order of first
/// appearance: what a load's and a records file's readers keep instead of a string per call.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    /// The names, by number.
    pub(crate) names: Vec<String>,
    index: std::collections::HashMap<String, u32>,
}

impl Interner {
    /// `name`'s number, if it was met.
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// `name`'s number, numbering it if it is new.
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), id);
        id
    }
}

/// Length of one period of a trace or a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// Counts per minute (the Azure dataset).
    Minute,
    /// Counts per second.
    Second,
}

impl Granularity {
    /// From vSwarm's `minute` flag: minutes when true, seconds when false.
    pub fn from_minute_flag(minute: bool) -> Granularity {
        if minute {
            Granularity::Minute
        } else {
            Granularity::Second
        }
    }

    /// Length of a period in microseconds.
    pub fn period_us(self) -> u64 {
        match self {
            Granularity::Minute => 60_000_000,
            Granularity::Second => 1_000_000,
        }
    }

    /// `minute` or `second`.
    pub fn unit(self) -> &'static str {
        match self {
            Granularity::Minute => "minute",
            Granularity::Second => "second",
        }
    }
}

/// The `q`-quantile (0..=1) of `sorted` values by the nearest-rank method: the smallest value with at least
/// a share `q` of the sample at or below it. Zero (`T::default()`) for an empty sample.
pub fn nearest_rank<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_is_the_smallest_value_covering_q() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 0.99), 198.0);
        assert_eq!(nearest_rank(&v, 0.5), 100.0);
        assert_eq!(nearest_rank(&v, 0.0), 1.0);
        assert_eq!(nearest_rank(&v, 1.0), 200.0);
        assert_eq!(nearest_rank(&[7.0], 0.95), 7.0);
        assert_eq!(nearest_rank::<f64>(&[], 0.5), 0.0);
    }

    #[test]
    fn periods() {
        assert_eq!(Granularity::from_minute_flag(true).period_us(), 60_000_000);
        assert_eq!(Granularity::from_minute_flag(false).unit(), "second");
    }
}
