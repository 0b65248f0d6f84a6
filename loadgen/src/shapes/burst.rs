//! STeLLAR's bursts: `size` calls at once to each of several endpoints, the gaps between two bursts to
//! one endpoint drawn from a shifted exponential (`iat` plus an exponential of mean `jitter`).

use rand_distr::{Distribution, Exp1};
use trace::{Arrival, Arrivals};

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
    /// each of its own gaps. Returns them in time order.
    pub fn schedule(&self, total_us: u64, seed: u64) -> Arrivals {
        let mut arrivals = Arrivals::default();
        for e in 0..self.endpoints {
            let mut rng = stream(seed, BURST_STREAM, u64::from(e));
            let mut t = 0;
            while t < total_us {
                let call = Arrival {
                    time_us: t,
                    function: e,
                    duration_us: 0,
                };
                arrivals
                    .calls
                    .extend(std::iter::repeat_n(call, self.size as usize));
                t = t.saturating_add(self.gap(&mut rng).max(1));
            }
        }
        arrivals.sort();
        arrivals
    }
}
