//! STeLLAR's bursts: `size` calls at once to each of several endpoints, the gaps between two bursts to
//! one endpoint drawn from a shifted exponential (`iat` plus an exponential of mean `jitter`).

use rand_distr::{Distribution, Exp1};
use trace::{Arrival, CallSource, CallStream, TraceError};

use crate::iat::stream;

/// Mixed into the seed of each endpoint's gaps.
const BURST_STREAM: u64 = 0x0062_7572_7374; // "burst"

/// A burst schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bursts {
    /// Calls in each burst.
    pub size: u32,
    /// The least gap between two bursts to one endpoint, µs.
    pub iat_us: u64,
    /// Mean of the exponential part of each gap, µs.
    pub jitter_us: u64,
    /// Endpoints bursting in parallel (function `e` for endpoint `e`).
    pub endpoints: u32,
}

impl Bursts {
    /// One gap: `iat` plus an exponential draw of mean `jitter`, to the microsecond.
    fn gap(&self, rng: &mut impl rand::Rng) -> u64 {
        let exp: f64 = Exp1.sample(rng);
        self.iat_us + (exp * self.jitter_us as f64).round() as u64
    }

    /// The calls of the first `total_us` µs: every endpoint bursts at 0 (as STeLLAR starts), then after
    /// each of its own gaps. Made again on each pass, endpoint by endpoint up to each period's end.
    pub fn calls(&self, total_us: u64, seed: u64) -> BurstCalls {
        BurstCalls {
            bursts: *self,
            total_us,
            seed,
        }
    }
}

/// The calls of a burst schedule over a window (see [`Bursts::calls`]).
#[derive(Debug, Clone, Copy)]
pub struct BurstCalls {
    bursts: Bursts,
    total_us: u64,
    seed: u64,
}

impl CallSource for BurstCalls {
    fn pass(&self) -> Result<Box<dyn CallStream + Send + '_>, TraceError> {
        let endpoints = (0..self.bursts.endpoints)
            .map(|e| (0, stream(self.seed, BURST_STREAM, u64::from(e))))
            .collect();
        Ok(Box::new(BurstPass {
            calls: *self,
            endpoints,
        }))
    }
}

/// One pass over a burst schedule: each endpoint's next burst and its stream of gaps.
struct BurstPass {
    calls: BurstCalls,
    endpoints: Vec<(u64, rand_chacha::ChaCha8Rng)>,
}

impl CallStream for BurstPass {
    fn calls_before(&mut self, end_us: u64, out: &mut Vec<Arrival>) -> Result<(), TraceError> {
        let first = out.len();
        let until = end_us.min(self.calls.total_us);
        for (e, (t, rng)) in self.endpoints.iter_mut().enumerate() {
            while *t < until {
                let call = Arrival {
                    time_us: *t,
                    function: e as u32,
                    duration_us: 0,
                };
                out.extend(std::iter::repeat_n(call, self.calls.bursts.size as usize));
                *t = t.saturating_add(self.calls.bursts.gap(rng).max(1));
            }
        }
        out[first..].sort_unstable();
        Ok(())
    }
}
