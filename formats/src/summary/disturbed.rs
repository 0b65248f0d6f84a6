//! `summary.json`'s `disturbed`: what a run did before, during and after its interference windows and
//! faults (`loadgen run --interference`, `--fault`), and each fault's recovery time.

use serde::{Deserialize, Serialize};

/// What a run did around its interference windows and faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Disturbed {
    /// Each window's and fault's phases, in the order given (interference first).
    pub phases: Vec<DisturbedPhase>,
    /// Each fault (`faults.K`) and its recovery time, seconds; none: not recovered before the run ended.
    pub recovery_s: Vec<(String, Option<f64>)>,
}

/// The run in one phase (`before`, `during`, `after`) of an interference window or a fault. Calls
/// belong to the second they were due in; warm-up seconds are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DisturbedPhase {
    /// The entry: `interference.K` or `faults.K` (K from 0, in the order given), as an experiment
    /// file's tables name them.
    pub entry: String,
    /// The entry as written.
    pub spec: String,
    /// `before`, `during` or `after`.
    pub phase: String,
    /// What the run did in it.
    #[serde(flatten)]
    pub figures: PhaseFigures,
}

/// The run over some seconds: its calls, errors, latency and rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseFigures {
    /// Its seconds from time 0, `from..to`.
    pub seconds: (f64, f64),
    /// Calls due in it.
    pub calls: u64,
    /// Of them, failed.
    pub errors: u64,
    /// Latency from the due time of its successful calls, µs: median.
    pub p50_us: Option<u64>,
    /// 99th percentile.
    pub p99_us: Option<u64>,
    /// Calls sent per second.
    pub rate: Option<f64>,
}

impl PhaseFigures {
    /// Its failed share.
    pub fn error_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.errors as f64 / self.calls as f64
        }
    }
}
