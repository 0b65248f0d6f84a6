//! A load from a target rate: constant, stepped or ramped, with a share of cold-start calls.

use std::collections::VecDeque;

use trace::{Arrival, Arrivals};

use crate::iat::{offsets, stream, IatDistribution};

/// Mixed into the seed of each second's offsets.
const RPS_STREAM: u64 = 0x0072_7073; // "rps"

/// Most cold functions a load may need (each is a deployment).
pub const MAX_COLD_FUNCTIONS: usize = 10_000;

/// How the rate moves over the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Calls per second at time 0.
    pub start: f64,
    /// Rise per `every_s` seconds.
    pub step: f64,
    /// Seconds between rises.
    pub every_s: f64,
    /// Highest rate (`f64::INFINITY`: none).
    pub max: f64,
    /// Continuous rise rather than steps.
    pub ramp: bool,
}

impl Rate {
    /// The rate at `t` seconds.
    pub fn at(&self, t: f64) -> f64 {
        let rise = if self.ramp {
            self.step * t / self.every_s
        } else {
            self.step * (t / self.every_s).floor()
        };
        (self.start + rise).min(self.max)
    }

    /// Calls due in `0..t` seconds: the integral of the rate, exact for steps and ramps alike.
    pub fn cumulative(&self, t: f64) -> f64 {
        let (r, s, every, max) = (self.start, self.step, self.every_s, self.max);
        if s == 0.0 || r >= max {
            return r.min(max) * t;
        }
        if self.ramp {
            let slope = s / every;
            let t_cap = (max - r) / slope;
            if t <= t_cap {
                r * t + slope * t * t / 2.0
            } else {
                r * t_cap + slope * t_cap * t_cap / 2.0 + max * (t - t_cap)
            }
        } else {
            // Step k (from k·every) runs at min(r + k·s, max); steps from k_cap on are at the cap.
            let k = (t / every).floor();
            let k_cap = ((max - r) / s).ceil();
            let full = k.min(k_cap);
            let below_cap = every * (r * full + s * full * (full - 1.0) / 2.0);
            // Without a cap (max infinite) no step reaches it: 0, not inf × 0 = NaN.
            let at_cap = if k > full {
                max * every * (k - full)
            } else {
                0.0
            };
            below_cap + at_cap + self.at(t) * (t - k * every)
        }
    }

    /// Calls in second `s`: whole calls of the integral, so fractions carry into later seconds.
    pub fn calls_in_second(&self, s: u64) -> u64 {
        let whole = |t: f64| (t + 1e-9).floor() as u64;
        whole(self.cumulative(s as f64 + 1.0)).saturating_sub(whole(self.cumulative(s as f64)))
    }
}

/// The cold-start side of an RPS load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cold {
    /// Percentage of calls that are cold.
    pub percent: f64,
    /// Silence before each call of a cold function, µs.
    pub cooldown_us: u64,
}

/// Why an RPS load cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RpsError {
    /// Too many cold functions would be needed.
    #[error("--cold-ratio {percent} % with --cooldown {cooldown_s} s needs more than {MAX_COLD_FUNCTIONS} \
             cold functions (each a deployment) by {at_s:.0} s into the load; lower --cold-ratio, --cooldown \
             or the rate")]
    TooManyColdFunctions {
        /// The cold share asked.
        percent: f64,
        /// The cooldown, seconds.
        cooldown_s: f64,
        /// When the limit was passed, seconds.
        at_s: f64,
    },
}

/// The calls of `seconds` seconds at `rate`: function 0 is the warm function, 1… the cold ones. Returns
/// the arrivals (in time order) and the number of functions.
pub fn schedule(
    rate: &Rate,
    seconds: u64,
    distribution: IatDistribution,
    cold: Option<Cold>,
    seed: u64,
) -> Result<(Arrivals, usize), RpsError> {
    let mut arrivals = Arrivals::default();
    // The whole count is known: one allocation, no doubling (18 million calls for an hour's ramp).
    let total = (rate.cumulative(seconds as f64) + 1e-9).floor() as usize;
    arrivals.calls.reserve_exact(total);
    let mut scratch = Vec::new();
    // Cold functions, the one silent longest first: (last call, function).
    let mut pool: VecDeque<(u64, u32)> = VecDeque::new();
    let mut functions = 1usize;
    let mut k = 0u64;
    for s in 0..seconds {
        let count = rate.calls_in_second(s);
        scratch.clear();
        let mut rng = stream(seed, RPS_STREAM, s);
        offsets(
            distribution,
            u32::try_from(count).unwrap_or(u32::MAX),
            1_000_000,
            &mut rng,
            &mut scratch,
        );
        for &o in &scratch {
            let t = s * 1_000_000 + o;
            let mut function = 0;
            if let Some(c) = cold {
                // Bresenham: the k-th call is cold when it takes the cold count to its next whole number,
                // so after any number of calls the cold ones are within one of the share asked.
                let due = |n: u64| (n as f64 * c.percent / 100.0 + 1e-9).floor() as u64;
                if due(k + 1) > due(k) {
                    function = match pool.front() {
                        Some(&(last, f)) if last + c.cooldown_us <= t => {
                            pool.pop_front();
                            f
                        }
                        _ => {
                            if functions > MAX_COLD_FUNCTIONS {
                                return Err(RpsError::TooManyColdFunctions {
                                    percent: c.percent,
                                    cooldown_s: c.cooldown_us as f64 / 1e6,
                                    at_s: t as f64 / 1e6,
                                });
                            }
                            functions += 1;
                            (functions - 1) as u32
                        }
                    };
                    pool.push_back((t, function));
                }
            }
            arrivals.calls.push(Arrival {
                time_us: t,
                function,
                duration_us: 0,
            });
            k += 1;
        }
    }
    // Calls of one second are in time order; equal microseconds are put in function order.
    arrivals.sort();
    Ok((arrivals, functions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(start: f64, step: f64, every_s: f64, max: f64, ramp: bool) -> Rate {
        Rate {
            start,
            step,
            every_s,
            max,
            ramp,
        }
    }

    #[test]
    fn steps_and_ramps_integrate_exactly() {
        let steps = rate(10.0, 5.0, 2.0, 22.0, false);
        let per_second: Vec<u64> = (0..10).map(|s| steps.calls_in_second(s)).collect();
        assert_eq!(per_second, [10, 10, 15, 15, 20, 20, 22, 22, 22, 22]);
        let ramp = rate(0.0, 10.0, 1.0, f64::INFINITY, true);
        // 10 t: seconds hold 5, 15, 25, ...
        let per_second: Vec<u64> = (0..4).map(|s| ramp.calls_in_second(s)).collect();
        assert_eq!(per_second, [5, 15, 25, 35]);
        let capped = rate(0.0, 10.0, 1.0, 20.0, true);
        assert_eq!(capped.cumulative(4.0), 20.0 + 40.0);
        let half = rate(0.5, 0.0, 1.0, f64::INFINITY, false);
        let per_second: Vec<u64> = (0..4).map(|s| half.calls_in_second(s)).collect();
        assert_eq!(per_second, [0, 1, 0, 1]);
    }

    #[test]
    fn steps_without_a_cap_rise_for_the_whole_run() {
        // `--rps 5 --rps-step 5 --rps-every 1` with no --rps-max: once an empty load (inf × 0 = NaN).
        let unbounded = rate(5.0, 5.0, 1.0, f64::INFINITY, false);
        let per_second: Vec<u64> = (0..5).map(|s| unbounded.calls_in_second(s)).collect();
        assert_eq!(per_second, [5, 10, 15, 20, 25]);
        assert_eq!(unbounded.cumulative(5.0), 75.0);
    }

    #[test]
    fn cold_calls_wait_out_the_cooldown() {
        let cold = Cold {
            percent: 30.0,
            cooldown_us: 2_000_000,
        };
        let r = rate(10.0, 0.0, 1.0, f64::INFINITY, false);
        let (a, functions) =
            schedule(&r, 20, IatDistribution::Uniform, Some(cold), 7).expect("schedule");
        assert_eq!(a.len(), 200);
        let cold_calls = a.calls.iter().filter(|c| c.function != 0).count();
        assert_eq!(cold_calls, 60);
        // Three cold calls a second, each function silent 2 s: about 6-9 functions.
        assert!((6..=10).contains(&(functions - 1)), "{functions}");
        let too_many = schedule(
            &rate(20_000.0, 0.0, 1.0, f64::INFINITY, false),
            3,
            IatDistribution::Equidistant,
            Some(cold),
            7,
        );
        assert!(matches!(
            too_many,
            Err(RpsError::TooManyColdFunctions { .. })
        ));
    }
}
