//! A function's instances: one kept alive while it is busy or idle for less than its keep-alive
//! ([`Instance`], `--local-platform simple`), or as many as Knative's autoscaler wants
//! ([`crate::pool`]); what the fleet's metrics read of either (`crate::metrics::FunctionState`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::footprint::Footprint;
use crate::metrics::{FunctionScale, FunctionState};
use crate::pool::Pool;
use formats::summary::PlatformTotals;

/// A function's instances, as its platform keeps them.
#[derive(Clone)]
pub(crate) enum Instances {
    /// One instance, replaced after it sat idle longer than the keep-alive.
    KeepAlive(Arc<Mutex<Instance>>, Duration),
    /// Scaled like Knative.
    Scaled(Arc<Pool>),
}

impl FunctionState for Instances {
    fn scale(&self, now: Instant) -> FunctionScale {
        match self {
            Instances::KeepAlive(instance, keep_alive) => {
                let i = instance.lock().unwrap_or_else(|e| e.into_inner());
                let alive = u32::from(i.alive(now, *keep_alive));
                FunctionScale {
                    desired: alive,
                    ready: alive,
                    pending: 0,
                    in_flight: i.in_flight as u32,
                    queued: 0,
                }
            }
            Instances::Scaled(pool) => pool.scale(),
        }
    }

    fn totals(&self) -> Option<PlatformTotals> {
        match self {
            Instances::KeepAlive(..) => None,
            Instances::Scaled(pool) => Some(pool.totals()),
        }
    }
}

/// The instance's life: its id, the calls in it, when it was last busy, the memory it holds.
#[derive(Debug)]
pub(crate) struct Instance {
    id: u64,
    pub(crate) in_flight: usize,
    last_active: Option<Instant>,
    /// The memory it holds from its cold call on.
    pub(crate) footprint: Option<Footprint>,
}

impl Instance {
    /// An instance not started yet: its first call is cold.
    pub(crate) fn new(id: u64) -> Instance {
        Instance {
            id,
            in_flight: 0,
            last_active: None,
            footprint: None,
        }
    }

    /// A call arrives: whether it is cold (a new instance, then, with a new id).
    pub(crate) fn arrive(&mut self, now: Instant, keep_alive: Duration) -> (u64, bool) {
        let cold = match self.last_active {
            None => true,
            Some(last) => self.in_flight == 0 && now.duration_since(last) > keep_alive,
        };
        if cold && self.last_active.is_some() {
            // A new instance: the old one's memory goes with it.
            self.id = rand::random();
            self.footprint = None;
        }
        self.in_flight += 1;
        self.last_active = Some(now);
        (self.id, cold)
    }

    /// Whether the instance is alive at `now`: serving, or idle for no longer than `keep_alive`.
    pub(crate) fn alive(&self, now: Instant, keep_alive: Duration) -> bool {
        self.in_flight > 0
            || self
                .last_active
                .is_some_and(|last| now.saturating_duration_since(last) <= keep_alive)
    }

    /// The instance is killed: its id is returned, and the next call starts a new one (cold).
    pub(crate) fn restart(&mut self) -> u64 {
        let killed = self.id;
        self.id = rand::random();
        self.last_active = None;
        self.footprint = None;
        killed
    }

    /// A call on instance `id` ends at `now` (one on an instance since killed leaves no trace of
    /// activity on the new one).
    pub(crate) fn depart(&mut self, id: u64, now: Instant) {
        self.in_flight -= 1;
        if id == self.id {
            self.last_active = Some(now);
        }
    }

    /// Gives the footprint back if the instance has died (idle past `keep_alive` at `now`).
    pub(crate) fn release_if_dead(&mut self, now: Instant, keep_alive: Duration) {
        if !self.alive(now, keep_alive) {
            self.footprint = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_cold_first_and_after_an_idle_gap() {
        let mut i = Instance::new(7);
        let t0 = Instant::now();
        let keep = Duration::from_secs(10);
        assert_eq!(i.arrive(t0, keep), (7, true));
        // A second call while the first runs, and one soon after: warm, same instance.
        assert_eq!(i.arrive(t0 + Duration::from_secs(1), keep), (7, false));
        i.depart(7, t0 + Duration::from_secs(2));
        i.depart(7, t0 + Duration::from_secs(3));
        assert_eq!(i.arrive(t0 + Duration::from_secs(12), keep), (7, false));
        i.depart(7, t0 + Duration::from_secs(12));
        // Idle longer than the keep-alive: cold, on a new instance.
        let (id, cold) = i.arrive(t0 + Duration::from_secs(23), keep);
        assert!(cold);
        assert_ne!(id, 7);
    }

    #[test]
    fn a_restarted_instance_is_cold_even_when_its_killed_calls_leave_after() {
        let mut i = Instance::new(7);
        let (t0, keep) = (Instant::now(), Duration::from_secs(10));
        i.arrive(t0, keep);
        assert_eq!(i.restart(), 7);
        i.depart(7, t0 + Duration::from_secs(1));
        let (id, cold) = i.arrive(t0 + Duration::from_secs(2), keep);
        assert!(cold);
        assert_ne!(id, 7);
    }
}
