//! A load from a target rate: constant, stepped or ramped, with a share of cold-start calls.

use std::collections::VecDeque;

use trace::{Arrival, CallSource, CallStream, TraceError};

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

/// The calls of `seconds` seconds at `rate`, made second by second on each pass: function 0 is the warm
/// function, 1… the cold ones. Its passes hold one second's calls and the cold functions' pool.
#[derive(Debug, Clone, Copy)]
pub struct RpsCalls {
    /// The rate.
    pub rate: Rate,
    /// Seconds of load.
    pub seconds: u64,
    /// Spread of each second's calls.
    pub distribution: IatDistribution,
    /// The cold-start side, if any.
    pub cold: Option<Cold>,
    /// Seed of each second's offsets.
    pub seed: u64,
}

impl RpsCalls {
    /// Functions the load calls (the warm one and every cold one), in one pass; refuses a load that needs
    /// too many cold functions.
    pub fn functions(&self) -> Result<usize, RpsError> {
        let mut pass = RpsPass::new(*self);
        let mut calls = Vec::new();
        while pass.second < self.seconds {
            calls.clear();
            pass.next_second(&mut calls)?;
        }
        Ok(pass.functions)
    }
}

impl CallSource for RpsCalls {
    fn pass(&self) -> Result<Box<dyn CallStream + Send + '_>, TraceError> {
        Ok(Box::new(RpsPass::new(*self)))
    }
}

/// One pass over an RPS load, a second at a time.
struct RpsPass {
    calls: RpsCalls,
    /// The next second to make.
    second: u64,
    /// Calls made so far (what the cold share counts).
    made: u64,
    /// Cold functions, the one silent longest first: (last call, function).
    pool: VecDeque<(u64, u32)>,
    /// Functions so far, the warm one included.
    functions: usize,
    scratch: Vec<u64>,
    /// The latest second's calls, in order, and how many of them were given.
    pending: (Vec<Arrival>, usize),
}

impl RpsPass {
    fn new(calls: RpsCalls) -> RpsPass {
        RpsPass {
            calls,
            second: 0,
            made: 0,
            pool: VecDeque::new(),
            functions: 1,
            scratch: Vec::new(),
            pending: (Vec::new(), 0),
        }
    }

    /// Appends the next second's calls to `out`, in order (equal microseconds in function order).
    fn next_second(&mut self, out: &mut Vec<Arrival>) -> Result<(), RpsError> {
        let s = self.second;
        self.second += 1;
        let count = self.calls.rate.calls_in_second(s);
        self.scratch.clear();
        let mut rng = stream(self.calls.seed, RPS_STREAM, s);
        offsets(
            self.calls.distribution,
            u32::try_from(count).unwrap_or(u32::MAX),
            1_000_000,
            &mut rng,
            &mut self.scratch,
        );
        let first = out.len();
        for i in 0..self.scratch.len() {
            let t = s * 1_000_000 + self.scratch[i];
            let function = match self.calls.cold {
                Some(c) => self.cold_or_warm(c, t)?,
                None => 0,
            };
            out.push(Arrival {
                time_us: t,
                function,
                duration_us: 0,
            });
            self.made += 1;
        }
        out[first..].sort_unstable();
        Ok(())
    }

    /// The function of the next call, at `t`: a cold one silent for the cooldown (or a new one) when the
    /// call is due to be cold, else the warm one.
    fn cold_or_warm(&mut self, c: Cold, t: u64) -> Result<u32, RpsError> {
        // Bresenham: the k-th call is cold when it takes the cold count to its next whole number, so
        // after any number of calls the cold ones are within one of the share asked.
        let due = |n: u64| (n as f64 * c.percent / 100.0 + 1e-9).floor() as u64;
        if due(self.made + 1) == due(self.made) {
            return Ok(0);
        }
        let function = match self.pool.front() {
            Some(&(last, f)) if last + c.cooldown_us <= t => {
                self.pool.pop_front();
                f
            }
            _ => {
                if self.functions > MAX_COLD_FUNCTIONS {
                    return Err(RpsError::TooManyColdFunctions {
                        percent: c.percent,
                        cooldown_s: c.cooldown_us as f64 / 1e6,
                        at_s: t as f64 / 1e6,
                    });
                }
                self.functions += 1;
                (self.functions - 1) as u32
            }
        };
        self.pool.push_back((t, function));
        Ok(function)
    }
}

impl CallStream for RpsPass {
    fn calls_before(&mut self, end_us: u64, out: &mut Vec<Arrival>) -> Result<(), TraceError> {
        loop {
            let (calls, given) = &mut self.pending;
            let due = calls[*given..].partition_point(|c| c.time_us < end_us);
            out.extend_from_slice(&calls[*given..*given + due]);
            *given += due;
            if *given < calls.len()
                || self.second >= self.calls.seconds
                || self.second * 1_000_000 >= end_us
            {
                return Ok(());
            }
            let mut next = std::mem::take(&mut self.pending.0);
            next.clear();
            let made = self.next_second(&mut next);
            self.pending = (next, 0);
            made.map_err(|e| TraceError::Shape(Box::new(e)))?;
        }
    }
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
        let calls = |rate, seconds, distribution| RpsCalls {
            rate,
            seconds,
            distribution,
            cold: Some(cold),
            seed: 7,
        };
        let load = calls(r, 20, IatDistribution::Uniform);
        let functions = load.functions().expect("schedule");
        let mut all = Vec::new();
        let mut pass = load.pass().unwrap();
        for end in [500_000, 7_000_000, 7_000_000, 20_000_000, 30_000_000] {
            pass.calls_before(end, &mut all).unwrap();
            assert!(all.iter().all(|c| c.time_us < end));
        }
        assert_eq!(all.len(), 200);
        assert!(all.is_sorted());
        let cold_calls = all.iter().filter(|c| c.function != 0).count();
        assert_eq!(cold_calls, 60);
        let cold_functions = all.iter().map(|c| c.function).max().unwrap() as usize;
        assert_eq!(cold_functions, functions - 1);
        // Three cold calls a second, each function silent 2 s: about 6-9 functions.
        assert!((6..=10).contains(&(functions - 1)), "{functions}");
        let too_many = calls(
            rate(20_000.0, 0.0, 1.0, f64::INFINITY, false),
            3,
            IatDistribution::Equidistant,
        )
        .functions();
        assert!(matches!(
            too_many,
            Err(RpsError::TooManyColdFunctions { .. })
        ));
    }
}
