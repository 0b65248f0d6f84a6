//! Knative's Pod Autoscaler (KPA), the part that decides how many pods a revision wants, as Knative
//! documents it ("Configuring the autoscaler", "Autoscale sample") and implements it
//! (`pkg/autoscaler/scaling/autoscaler.go`), so the local fleet, `loadgen autoscaler` and `loadgen
//! predict` scale as a cluster would.
//!
//! Per revision, every tick (2 s, [`KpaSettings::tick_s`]):
//!
//! - **Inputs.** `ready = max(1, ready pods)`. The observed concurrency (or requests/s with
//!   [`Metric::Rps`]) arrives in 1-second buckets ([`Decider::observe`]).
//! - **Averages.** `stable` is the mean over the stable window (60 s) and `panic` the mean over the panic
//!   window (stable × panic-window-percentage, 10 %, in whole seconds, at least 1). Each averages the
//!   seconds `max(first, t − W + 1) ..= t`, where `first` is the revision's first data point, so a window
//!   not yet full is averaged over the seconds since then; seconds with no data count as 0.
//! - **Target.** `target` = the per-pod target (the annotation, otherwise 100 for concurrency, 200 for
//!   rps) × target utilisation (70 %), at least 0.01.
//! - **Desired counts.** `dspc = ceil(stable / target)`, `dppc = ceil(panic / target)`, each clamped to
//!   `[floor(ready / max-scale-down-rate (2)), ceil(max-scale-up-rate (1000) × ready)]`.
//! - **Panic mode.** It starts when `dppc / ready ≥ panic threshold` (200 %), is extended (its start
//!   moved to now) while the revision stays over the threshold, and ends at the first tick that is not
//!   over it when its last start is more than a stable window ago. In panic, desired = max(stable, panic)
//!   and never decreases.
//! - **Final count.** It is clamped to min-scale and max-scale (0: no limit).
//! - **Excess burst capacity** = `floor(actual ready pods (which may be 0) × the per-pod target before
//!   utilisation − target-burst-capacity (211) − panic)`; −1 always with a target-burst-capacity of −1
//!   (the activator stays in the path), 0 always with 0 (it never is). While it is negative, requests go
//!   through the activator, which buffers them.
//!
//! Scaling to zero belongs to Knative's reconciler, not to the decider. [`ScaleToZero`] is a simplified
//! version of it: a revision keeps its pods until the decider has wanted 0 for the scale-to-zero grace
//! period (30 s).

mod decider;
mod scaler;
mod settings;
pub mod simulate;

pub use decider::{Decider, Decision, ReadyAfter, ScaleToZero, Tick};
pub use scaler::{to_remove, Revision, Scaler};
pub use settings::{KpaSettings, Metric, SettingsError};

/// The decider alone on one revision whose average metric in second `s` is `observed[s]`: a row per tick
/// `t = tick, 2 × tick, …` up to the last second, with the pods decided `ready_delay_s` seconds before
/// (see [`ReadyAfter`]) as the ready ones. This is `loadgen autoscaler`.
pub fn replay(observed: &[f64], settings: &KpaSettings, ready_delay_s: u64) -> Vec<Tick> {
    let mut decider = Decider::new(settings.clone());
    let mut zero = ScaleToZero::new(settings.scale_to_zero_grace_s);
    let mut ready = ReadyAfter::new(ready_delay_s);
    let mut ticks = Vec::new();
    let mut fed = 0;
    let last = observed.len().saturating_sub(1) as u64;
    let mut t = settings.tick_s;
    while t <= last {
        while fed <= t as usize {
            decider.observe(fed as u64, observed[fed]);
            fed += 1;
        }
        let ready_pods = ready.at(t);
        let decision = decider.decide(t, ready_pods);
        let pods = zero.pods(t, decision.desired);
        ready.decided(t, pods);
        ticks.push(Tick {
            time_s: t,
            ready: ready_pods,
            pods,
            decision,
        });
        t += settings.tick_s;
    }
    ticks
}
