//! `loadgen predict`'s model run over a load given period by period: each function (endpoint) of the
//! load a Knative revision simulated in time ([`autoscaler::simulate::Simulation`]), in parallel, with
//! no call sent. Memory holds one period's calls and each function's state, never the whole load; each
//! period's ticks go to the caller as the period ends.

use std::collections::BTreeMap;

use autoscaler::simulate::{Call, ScaleTick, Simulation, Totals};
use autoscaler::Revision;
use formats::Percentiles;
use profiles::{Metric, Proxy};
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// What a function's calls are: its name, and its durations when the load asks none.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function's name (its proxy's).
    pub name: String,
    /// Its proxy's duration percentiles, ms; `None` when every call asks its own.
    pub duration_ms: Option<Percentiles>,
    /// Its instances' memory, MiB (the proxy's median).
    pub memory_mb: f64,
}

impl FunctionSpec {
    /// `proxy`, deployed as `name`: its duration percentiles × `duration_scale`, and its median memory
    /// (what each emulated instance holds).
    pub fn of_proxy(name: &str, proxy: &Proxy, duration_scale: f64) -> FunctionSpec {
        FunctionSpec {
            name: name.to_owned(),
            duration_ms: Some(proxy.metric(Metric::Duration).scaled(duration_scale)),
            memory_mb: proxy.at(Metric::Memory, 50).unwrap_or(0.0),
        }
    }
}

/// The calls' waits in the activator: how many did not wait, and each wait of those that did (most
/// calls wait for nothing, so a day's calls cost only their waits).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Waits {
    /// Calls that did not wait.
    pub none: u64,
    /// The waits, µs, ascending once [`Waits::sorted`].
    pub waited: Vec<u64>,
}

impl Waits {
    fn add(&mut self, queued_us: u64) {
        if queued_us == 0 {
            self.none += 1;
        } else {
            self.waited.push(queued_us);
        }
    }

    /// With its waits in order.
    pub fn sorted(mut self) -> Waits {
        self.waited.sort_unstable();
        self
    }

    /// Every wait of `all` together, in order.
    pub fn merged<'a>(all: impl IntoIterator<Item = &'a Waits>) -> Waits {
        let mut merged = Waits::default();
        for w in all {
            merged.none += w.none;
            merged.waited.extend_from_slice(&w.waited);
        }
        merged.sorted()
    }

    /// The nearest-rank `q` quantile of every call's wait (0 for none), µs; 0 with no call.
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.none + self.waited.len() as u64;
        if n == 0 {
            return 0;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        match rank.checked_sub(self.none + 1) {
            Some(k) => self.waited[k as usize],
            None => 0,
        }
    }
}

/// One function's prediction.
#[derive(Debug, Clone)]
pub struct FunctionPrediction {
    /// Its name.
    pub name: String,
    /// The simulation's totals.
    pub totals: Totals,
    /// Instance-seconds × its memory, MiB·s.
    pub memory_mb_seconds: f64,
    /// Its calls' waits in the activator.
    pub waits: Waits,
}

/// A call of a period: its endpoint, its arrival (µs from the load's start) and the duration it asks
/// (µs), if it asks one.
pub type PeriodCall = (u32, u64, Option<u64>);

/// One function being simulated.
struct Function {
    /// Taken when it finishes.
    simulation: Option<Simulation>,
    durations: ChaCha8Rng,
    colds: ChaCha8Rng,
    waits: Waits,
    /// Its ticks in the period being run.
    ticks: Vec<ScaleTick>,
}

/// The functions' instances at one tick, summed: desired, ready, alive, queued.
pub type SummedTick = [f64; 4];

/// The model over a load given period by period: [`Predictor::period`] for each, then
/// [`Predictor::finish`].
pub struct Predictor<'a> {
    specs: &'a [FunctionSpec],
    functions: Vec<Function>,
    cold_start_ms: &'a Percentiles,
    duration_scale: f64,
    /// Per tick (seconds), the functions' instances summed.
    summed: BTreeMap<u64, SummedTick>,
}

fn draw_ms(p: &Percentiles, rng: &mut ChaCha8Rng) -> f64 {
    p.quantile(rng.random::<f64>()).unwrap_or(0.0)
}

impl<'a> Predictor<'a> {
    /// Each of `specs` (one per endpoint) a revision of `revision`; durations the load does not ask are
    /// drawn from its percentiles, and cold starts from `cold_start_ms`, both seeded by `seed` and the
    /// endpoint; those it asks are multiplied by `duration_scale` (the percentiles come scaled already,
    /// as the local fleet scales both).
    pub fn new(
        specs: &'a [FunctionSpec],
        revision: &Revision,
        (cold_start_ms, seed, duration_scale): (&'a Percentiles, u64, f64),
    ) -> Predictor<'a> {
        let functions = (0..specs.len() as u64)
            .map(|endpoint| Function {
                simulation: Some(Simulation::new(revision)),
                durations: ChaCha8Rng::seed_from_u64(seed ^ endpoint.wrapping_mul(0x9E37_79B9)),
                colds: ChaCha8Rng::seed_from_u64(!seed ^ endpoint.wrapping_mul(0x85EB_CA6B)),
                waits: Waits::default(),
                ticks: Vec::new(),
            })
            .collect();
        Predictor {
            specs,
            functions,
            cold_start_ms,
            duration_scale,
            summed: BTreeMap::new(),
        }
    }

    /// Runs every function to `until_us` with `calls` (in order of arrival, all before it, after those
    /// given before); `on_tick(function, tick)` sees each function's ticks of the stretch, functions in
    /// order.
    pub fn period(
        &mut self,
        calls: &[PeriodCall],
        until_us: u64,
        mut on_tick: impl FnMut(usize, &ScaleTick),
    ) {
        // The calls by endpoint, each endpoint's in order (a counting sort).
        let mut starts = vec![0usize; self.functions.len() + 1];
        for &(endpoint, _, _) in calls {
            starts[endpoint as usize + 1] += 1;
        }
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let mut next = starts.clone();
        let mut grouped = vec![(0u64, None); calls.len()];
        for &(endpoint, arrival, asked) in calls {
            grouped[next[endpoint as usize]] = (arrival, asked);
            next[endpoint as usize] += 1;
        }
        let (specs, cold_start_ms, scale) = (self.specs, self.cold_start_ms, self.duration_scale);
        self.functions
            .par_iter_mut()
            .enumerate()
            .for_each(|(e, f)| {
                let spec = &specs[e];
                let Function {
                    simulation,
                    durations,
                    colds,
                    waits,
                    ticks,
                } = f;
                let arrivals = grouped[starts[e]..starts[e + 1]]
                    .iter()
                    .map(|&(at, asked)| Call {
                        arrival_us: at,
                        duration_us: match asked {
                            Some(us) => (us as f64 * scale) as u64,
                            None => spec
                                .duration_ms
                                .as_ref()
                                .map_or(0, |p| (draw_ms(p, durations) * 1000.0) as u64),
                        },
                    });
                let Some(simulation) = simulation.as_mut() else {
                    return;
                };
                simulation.run_until(
                    arrivals,
                    until_us,
                    || (draw_ms(cold_start_ms, colds) * 1000.0) as u64,
                    |t| ticks.push(t),
                    |c| waits.add(c.queued_us),
                );
            });
        self.take_ticks(&mut on_tick);
    }

    /// Hands each function's ticks of the stretch just run to `on_tick`, and sums them.
    fn take_ticks(&mut self, on_tick: &mut impl FnMut(usize, &ScaleTick)) {
        for (e, f) in self.functions.iter_mut().enumerate() {
            for t in f.ticks.drain(..) {
                on_tick(e, &t);
                let sums = self.summed.entry(t.time_s).or_default();
                for (sum, v) in sums
                    .iter_mut()
                    .zip([t.desired, t.ready, t.instances, t.queued])
                {
                    *sum += f64::from(v);
                }
            }
        }
    }

    /// Runs every function until its calls have ended and `end_us` has passed (`on_tick` as in
    /// [`Predictor::period`]); each function's prediction, and the instances summed per tick.
    pub fn finish(
        mut self,
        end_us: u64,
        mut on_tick: impl FnMut(usize, &ScaleTick),
    ) -> (Vec<FunctionPrediction>, BTreeMap<u64, SummedTick>) {
        let cold_start_ms = self.cold_start_ms;
        let totals: Vec<Totals> = self
            .functions
            .par_iter_mut()
            .map(|f| {
                let simulation = f.simulation.take().expect("finished once");
                let Function {
                    colds,
                    waits,
                    ticks,
                    ..
                } = f;
                simulation.finish(
                    end_us,
                    || (draw_ms(cold_start_ms, colds) * 1000.0) as u64,
                    |t| ticks.push(t),
                    |c| waits.add(c.queued_us),
                )
            })
            .collect();
        self.take_ticks(&mut on_tick);
        let predictions = std::mem::take(&mut self.functions)
            .into_iter()
            .zip(totals)
            .zip(self.specs)
            .map(|((f, totals), spec)| FunctionPrediction {
                name: spec.name.clone(),
                totals,
                memory_mb_seconds: totals.instance_seconds * spec.memory_mb,
                waits: f.waits.sorted(),
            })
            .collect();
        (predictions, self.summed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_quantiles_count_the_calls_that_did_not_wait() {
        let mut w = Waits::default();
        for us in [0, 0, 0, 0, 0, 0, 0, 0, 500, 1000] {
            w.add(us);
        }
        let w = w.sorted();
        assert_eq!(
            (w.quantile(0.5), w.quantile(0.9), w.quantile(1.0)),
            (0, 500, 1000)
        );
        assert_eq!(Waits::default().quantile(0.99), 0);
        let both = Waits::merged([&w, &w]);
        assert_eq!(
            (both.none, both.waited.len(), both.quantile(0.95)),
            (16, 4, 1000)
        );
    }
}
