//! `loadgen predict`'s model run over a load: each function (endpoint) of the load a Knative revision
//! simulated in time ([`autoscaler::simulate`]), in parallel, with no call sent.

use autoscaler::simulate::{simulate, Call, ScaleTick, Totals};
use autoscaler::Revision;
use formats::{Load, Percentiles};
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

/// One function's prediction.
#[derive(Debug, Clone)]
pub struct FunctionPrediction {
    /// Its name.
    pub name: String,
    /// The simulation's totals.
    pub totals: Totals,
    /// Instance-seconds × its memory, MiB·s.
    pub memory_mb_seconds: f64,
    /// Every tick it was not idle at zero.
    pub ticks: Vec<ScaleTick>,
    /// Each call's wait in the activator, µs, ascending.
    pub queued_us: Vec<u64>,
}

/// Predicts each endpoint of `load` (periods of `period_us`) as `functions[endpoint]` under `revision`,
/// until the load's end; durations the load does not ask are drawn from the function's percentiles, and
/// cold starts from `cold_start_ms`, both seeded by `seed` and the endpoint; those it asks are multiplied
/// by `duration_scale` (the function's percentiles come scaled already, as the local fleet scales both).
pub fn predict(
    load: &Load,
    period_us: u64,
    functions: &[FunctionSpec],
    revision: &Revision,
    (cold_start_ms, seed, duration_scale): (&Percentiles, u64, f64),
) -> Vec<FunctionPrediction> {
    let end_us = load.periods.len() as u64 * period_us;
    let mut calls: Vec<Vec<(u64, Option<u64>)>> = vec![Vec::new(); functions.len()];
    for (k, period) in load.periods.iter().enumerate() {
        for (i, call) in period.calls.iter().enumerate() {
            let asked = period
                .asks
                .get(i)
                .and_then(|a| a.asked())
                .map(|a| (a.duration_us as f64 * duration_scale) as u64);
            calls[call.endpoint as usize].push((k as u64 * period_us + call.offset_us, asked));
        }
    }
    calls
        .into_par_iter()
        .zip(functions.par_iter())
        .enumerate()
        .map(|(endpoint, (mut arrivals, spec))| {
            arrivals.sort_unstable_by_key(|&(at, _)| at);
            let mut durations =
                ChaCha8Rng::seed_from_u64(seed ^ (endpoint as u64).wrapping_mul(0x9E37_79B9));
            let mut colds =
                ChaCha8Rng::seed_from_u64(!seed ^ (endpoint as u64).wrapping_mul(0x85EB_CA6B));
            let draw_ms = |p: &Percentiles, rng: &mut ChaCha8Rng| {
                p.quantile(rng.random::<f64>()).unwrap_or(0.0)
            };
            let stream = arrivals.into_iter().map(|(arrival_us, asked)| Call {
                arrival_us,
                duration_us: asked.unwrap_or_else(|| {
                    spec.duration_ms
                        .as_ref()
                        .map_or(0, |p| (draw_ms(p, &mut durations) * 1000.0) as u64)
                }),
            });
            let (mut ticks, mut queued_us) = (Vec::new(), Vec::new());
            let totals = simulate(
                revision,
                stream,
                end_us,
                || (draw_ms(cold_start_ms, &mut colds) * 1000.0) as u64,
                |t| ticks.push(t),
                |c| queued_us.push(c.queued_us),
            );
            queued_us.sort_unstable();
            FunctionPrediction {
                name: spec.name.clone(),
                totals,
                memory_mb_seconds: totals.instance_seconds * spec.memory_mb,
                ticks,
                queued_us,
            }
        })
        .collect()
}
