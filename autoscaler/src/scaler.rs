//! One revision's autoscaling as a platform runs it, whether in simulated time ([`crate::simulate`]) or
//! in real time (the local fleet): what the revision observes, fed to the decider second by second, and
//! at each tick the pods it should have.
//!
//! The decider observes, each second, the revision's average concurrency (the calls running and those
//! queued in the activator, which reports them too), or with [`Metric::Rps`] the calls that arrived in
//! it. At a tick at time `T` it decides on the seconds before `T`. Calls in flight keep at least one
//! pod: the activator reports those it holds at once, where the decider's windows would see them only
//! from the next second.

use crate::{Decider, KpaSettings, Metric, ScaleToZero};

const SECOND_US: u64 = 1_000_000;

/// A revision: its autoscaler's knobs and how many calls one instance serves at once.
#[derive(Debug, Clone)]
pub struct Revision {
    /// The autoscaler's knobs.
    pub settings: KpaSettings,
    /// Calls one instance serves at once (`containerConcurrency`); 0: no limit.
    pub container_concurrency: u32,
}

impl Revision {
    /// The decider's settings: with a container concurrency, the per-pod target is at most it (and it,
    /// when none is given), as Knative resolves it.
    pub fn settings(&self) -> KpaSettings {
        let mut settings = self.settings.clone();
        if self.container_concurrency > 0 {
            let cc = f64::from(self.container_concurrency);
            settings.target = Some(settings.target.map_or(cc, |t| t.min(cc)));
        }
        settings
    }

    /// Whether an instance serving `busy` calls has room for one more.
    pub fn has_room(&self, busy: u32) -> bool {
        self.container_concurrency == 0 || busy < self.container_concurrency
    }
}

/// The revision's decider, fed from its calls, and the scale-to-zero step after it.
#[derive(Debug, Clone)]
pub struct Scaler {
    decider: Decider,
    zero: ScaleToZero,
    metric: Metric,
    tick_us: u64,
    /// The second being integrated, its concurrency integral (call-µs) and arrivals.
    second: u64,
    area: f64,
    arrivals: u64,
    last_us: u64,
    /// The pods decided at the last tick.
    pods: u32,
}

impl Scaler {
    /// A revision that has seen nothing yet, at time 0.
    pub fn new(revision: &Revision) -> Scaler {
        Scaler {
            decider: Decider::new(revision.settings()),
            zero: ScaleToZero::new(revision.settings.scale_to_zero_grace_s),
            metric: revision.settings.metric,
            tick_us: revision.settings.tick_s.max(1) * SECOND_US,
            second: 0,
            area: 0.0,
            arrivals: 0,
            last_us: 0,
            pods: 0,
        }
    }

    /// Time between ticks, µs.
    pub fn tick_us(&self) -> u64 {
        self.tick_us
    }

    /// The pods decided at the last tick.
    pub fn pods(&self) -> u32 {
        self.pods
    }

    /// Whether nothing of the current second is left to observe (no call in it so far).
    pub fn quiet(&self) -> bool {
        self.area == 0.0 && self.arrivals == 0
    }

    /// Moves the clock to `now_us`, with `in_flight` calls (running and queued) since the last move,
    /// giving the decider each second completed on the way (seconds with nothing in them are not given:
    /// the decider counts missing ones as 0). Time never goes back: an earlier `now_us` is the last one.
    pub fn advance(&mut self, now_us: u64, in_flight: u32) {
        let now_us = now_us.max(self.last_us);
        let in_flight = f64::from(in_flight);
        while now_us >= (self.second + 1) * SECOND_US {
            let boundary = (self.second + 1) * SECOND_US;
            self.area += in_flight * (boundary - self.last_us) as f64;
            if !self.quiet() {
                let value = match self.metric {
                    Metric::Concurrency => self.area / SECOND_US as f64,
                    Metric::Rps => self.arrivals as f64,
                };
                self.decider.observe(self.second, value);
            }
            self.area = 0.0;
            self.arrivals = 0;
            self.second += 1;
            self.last_us = boundary;
            if in_flight == 0.0 {
                // Nothing more until now.
                self.second = now_us / SECOND_US;
                self.last_us = self.second * SECOND_US;
            }
        }
        self.area += in_flight * (now_us - self.last_us) as f64;
        self.last_us = now_us;
    }

    /// A call arrived now (after [`Scaler::advance`] to its arrival).
    pub fn arrive(&mut self) {
        self.arrivals += 1;
    }

    /// The tick at `now_us` (after [`Scaler::advance`] to it) with `ready` instances ready and
    /// `in_flight` calls running or queued: the pods the revision should have.
    pub fn tick(&mut self, now_us: u64, ready: u32, in_flight: u32) -> u32 {
        let decision = self
            .decider
            .decide((now_us / SECOND_US).saturating_sub(1), ready);
        let wanted = decision.desired.max(u32::from(in_flight > 0));
        self.pods = self.zero.pods(now_us / SECOND_US, wanted);
        self.pods
    }
}

/// Which of a revision's idle instances go when it has `excess` too many: those not ready yet first, then
/// ready ones, the newest first; busy ones stay. `idle` holds `(key, ready, created)` of each idle
/// instance; the keys of those to remove come back.
pub fn to_remove<K: Copy>(mut idle: Vec<(K, bool, u64)>, excess: usize) -> Vec<K> {
    idle.sort_by_key(|&(_, ready, created)| (ready, std::cmp::Reverse(created)));
    idle.into_iter().take(excess).map(|(k, _, _)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(metric: Metric) -> Revision {
        Revision {
            settings: KpaSettings {
                metric,
                target: Some(1.0),
                target_utilization_percentage: 100.0,
                ..KpaSettings::default()
            },
            container_concurrency: 0,
        }
    }

    /// One call in flight from 0.25 s and a second from 0.75 s, both gone then: 0.5 call-seconds in
    /// second 0, averaged with an empty second 1 at the tick at 2 s (0.25 against a target of 1): 1 pod.
    #[test]
    fn concurrency_is_averaged_over_each_second() {
        let mut s = Scaler::new(&revision(Metric::Concurrency));
        s.advance(0, 0);
        s.arrive();
        s.advance(SECOND_US / 4, 1);
        s.arrive();
        s.advance(3 * SECOND_US / 4, 2);
        s.advance(2 * SECOND_US, 0);
        assert_eq!(s.tick(2 * SECOND_US, 1, 0), 1);
    }

    /// With rps, five arrivals in second 0 and none in second 1 average 2.5 a second at the tick at 2 s:
    /// against a target of 1, three pods.
    #[test]
    fn rps_counts_arrivals() {
        let mut s = Scaler::new(&revision(Metric::Rps));
        for k in 0..5 {
            s.advance(k * 1000, 0);
            s.arrive();
        }
        s.advance(2 * SECOND_US, 0);
        assert_eq!(s.tick(2 * SECOND_US, 1, 0), 3);
    }

    #[test]
    fn idle_unready_and_newest_go_first() {
        let idle = vec![("old", true, 1), ("new", true, 5), ("starting", false, 3)];
        assert_eq!(to_remove(idle, 2), vec!["starting", "new"]);
    }
}
