//! A function's instances on a platform that scales like Knative (`--local-platform knative`): as many
//! instances as the KPA decider wants ([`autoscaler::Scaler`], fed the function's own calls in real
//! time), each serving at most its container concurrency, each ready a cold-start delay after it is
//! made and holding its memory footprint from then until it is removed.
//!
//! A call that finds no ready instance with room waits in the activator's queue (first come, first
//! served) until one has room; a call that finds no instance at all makes one at once, as the activator
//! pokes the autoscaler. A call that waited for its instance to start is cold. Its wait is part of its
//! latency, not of its execution time. Idle instances go as the decider's count falls, and the last one
//! goes once it has wanted none for the scale-to-zero grace period.
//!
//! This is the same model `loadgen predict` runs in simulated time ([`autoscaler::simulate`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use autoscaler::{to_remove, Revision, Scaler};
use formats::summary::PlatformTotals;
use profiles::Percentiles;
use tokio::sync::{oneshot, Semaphore};
use tonic::Status;

use crate::footprint::{footprint, Footprint};
use crate::metrics::{FleetMetrics, FunctionScale};

/// How a fleet's functions scale like Knative.
#[derive(Debug, Clone)]
pub struct Scaling {
    /// The autoscaler's knobs and each instance's container concurrency.
    pub revision: Revision,
    /// Time a new instance takes to become ready, ms: drawn per instance from these percentiles.
    pub cold_start_ms: Percentiles,
    /// The fleet's clock: every function ticks at the same instants from it.
    pub epoch: Instant,
}

/// Two fleets scale alike when their knobs, container concurrency and cold starts are the same,
/// whenever their clocks started (an experiment that reuses a deployment asks this).
impl PartialEq for Scaling {
    fn eq(&self, other: &Scaling) -> bool {
        let (a, b) = (&self.revision, &other.revision);
        a.settings == b.settings
            && a.container_concurrency == b.container_concurrency
            && self.cold_start_ms == other.cold_start_ms
    }
}

impl Scaling {
    /// Knative's scaling of `revision`, each new instance ready after `cold_start_ms`, ticking from now.
    pub fn new(revision: Revision, cold_start_ms: Percentiles) -> Scaling {
        Scaling {
            revision,
            cold_start_ms,
            epoch: Instant::now(),
        }
    }

    fn now_us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64
    }

    fn draw_cold_start(&self) -> Duration {
        let ms = self
            .cold_start_ms
            .quantile(rand::random::<f64>())
            .unwrap_or(0.0);
        Duration::from_secs_f64(ms.max(0.0) / 1e3)
    }
}

struct Slot {
    id: u64,
    created: Instant,
    ready: bool,
    busy: u32,
    _footprint: Option<Footprint>,
}

struct Waiter {
    reply: oneshot::Sender<(u64, bool)>,
}

struct State {
    scaler: Scaler,
    instances: Vec<Slot>,
    queue: VecDeque<Waiter>,
    running: u32,
    totals: PlatformTotals,
    /// Lifetimes of the instances removed, seconds.
    lived_s: f64,
}

impl State {
    fn in_flight(&self) -> u32 {
        self.running + self.queue.len() as u32
    }

    /// Moves the scaler's clock to `now_us`, with the calls in flight until now.
    fn advance(&mut self, now_us: u64) {
        let in_flight = self.in_flight();
        self.scaler.advance(now_us, in_flight);
    }

    /// The ready instance with room serving the fewest calls.
    fn room(&self, revision: &Revision) -> Option<usize> {
        (0..self.instances.len())
            .filter(|&k| self.instances[k].ready && revision.has_room(self.instances[k].busy))
            .min_by_key(|&k| self.instances[k].busy)
    }
}

/// One function's instances, scaled like Knative.
pub(crate) struct Pool {
    scaling: Arc<Scaling>,
    footprint_mb: u32,
    budget: Arc<Semaphore>,
    metrics: Arc<FleetMetrics>,
    state: Mutex<State>,
}

/// A call's place on an instance, given back when dropped.
pub(crate) struct Lease {
    pool: Arc<Pool>,
    /// The instance.
    pub(crate) id: u64,
    /// Whether the call waited for its instance to start.
    pub(crate) cold: bool,
    /// Time it waited in the activator's queue.
    pub(crate) waited: Duration,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.release(self.id);
    }
}

impl Pool {
    /// A function with no instance yet, each to hold `footprint_mb` of `budget`; it ticks (on the
    /// current runtime) for as long as it lives.
    pub(crate) fn start(
        scaling: Arc<Scaling>,
        footprint_mb: u32,
        budget: Arc<Semaphore>,
        metrics: Arc<FleetMetrics>,
    ) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            state: Mutex::new(State {
                scaler: Scaler::new(&scaling.revision),
                instances: Vec::new(),
                queue: VecDeque::new(),
                running: 0,
                totals: PlatformTotals::default(),
                lived_s: 0.0,
            }),
            scaling,
            footprint_mb,
            budget,
            metrics,
        });
        tokio::spawn(tick_while_alive(Arc::downgrade(&pool)));
        pool
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place on an instance for a call arriving now: at once on a ready instance with room, else after
    /// a wait in the activator's queue.
    pub(crate) async fn lease(self: &Arc<Pool>) -> Result<Lease, Status> {
        let arrival = Instant::now();
        let assigned = {
            let mut s = self.lock();
            s.advance(self.scaling.now_us(arrival));
            s.scaler.arrive();
            match s
                .room(&self.scaling.revision)
                .filter(|_| s.queue.is_empty())
            {
                Some(k) => {
                    s.instances[k].busy += 1;
                    s.running += 1;
                    Ok((s.instances[k].id, false))
                }
                None => {
                    let (reply, assigned) = oneshot::channel();
                    s.queue.push_back(Waiter { reply });
                    if s.instances.is_empty() {
                        // The activator pokes the autoscaler: an instance is made at once.
                        self.create(&mut s, arrival);
                    }
                    Err(assigned)
                }
            }
        };
        let (id, cold) = match assigned {
            Ok(placed) => placed,
            Err(waiting) => waiting
                .await
                .map_err(|_| Status::unavailable("the function's instances are gone"))?,
        };
        Ok(Lease {
            pool: Arc::clone(self),
            id,
            cold,
            waited: arrival.elapsed(),
        })
    }

    /// A new instance, starting now: ready after its cold-start delay and its footprint's allocation.
    fn create(self: &Arc<Pool>, s: &mut State, now: Instant) {
        let id = rand::random();
        s.instances.push(Slot {
            id,
            created: now,
            ready: false,
            busy: 0,
            _footprint: None,
        });
        s.totals.instances_created += 1;
        s.totals.peak_instances = s.totals.peak_instances.max(s.instances.len() as u32);
        self.metrics.scaled_instance(true);
        let pool = Arc::clone(self);
        let delay = self.scaling.draw_cold_start();
        tokio::spawn(async move {
            let held = footprint(&pool.budget, &pool.metrics, pool.footprint_mb).await;
            tokio::time::sleep_until((now + delay).into()).await;
            pool.ready(id, held.ok());
        });
    }

    /// Instance `id` has started: calls waiting go to it.
    fn ready(&self, id: u64, held: Option<Footprint>) {
        let mut s = self.lock();
        s.advance(self.scaling.now_us(Instant::now()));
        // It may have been removed while it started: its footprint goes back, then.
        if let Some(slot) = s.instances.iter_mut().find(|i| i.id == id) {
            slot.ready = true;
            slot._footprint = held;
            self.dispatch(&mut s, true);
        }
    }

    /// A call on instance `id` has ended.
    fn release(&self, id: u64) {
        let mut s = self.lock();
        s.advance(self.scaling.now_us(Instant::now()));
        if let Some(slot) = s.instances.iter_mut().find(|i| i.id == id) {
            slot.busy -= 1;
        }
        s.running -= 1;
        self.dispatch(&mut s, false);
    }

    /// Starts queued calls on ready instances with room; `readied`: an instance just became ready, so
    /// the calls placed now waited for it to start.
    fn dispatch(&self, s: &mut State, readied: bool) {
        while !s.queue.is_empty() {
            let Some(k) = s.room(&self.scaling.revision) else {
                return;
            };
            let waiter = s.queue.pop_front().expect("not empty");
            if waiter.reply.send((s.instances[k].id, readied)).is_ok() {
                s.instances[k].busy += 1;
                s.running += 1;
                s.totals.cold_starts += u64::from(readied);
            }
        }
    }

    /// The autoscaler's tick now: instances made or removed to its count.
    fn tick(self: &Arc<Pool>) {
        let mut s = self.lock();
        let now = Instant::now();
        let now_us = self.scaling.now_us(now);
        s.advance(now_us);
        let ready = s.instances.iter().filter(|i| i.ready).count() as u32;
        let in_flight = s.in_flight();
        let pods = s.scaler.tick(now_us, ready, in_flight) as usize;
        while s.instances.len() < pods {
            self.create(&mut s, now);
        }
        if s.instances.len() > pods {
            let idle = s
                .instances
                .iter()
                .filter(|i| i.busy == 0)
                .map(|i| (i.id, i.ready, self.scaling.now_us(i.created)))
                .collect();
            let excess = s.instances.len() - pods;
            for id in to_remove(idle, excess) {
                let k = s.instances.iter().position(|i| i.id == id).expect("idle");
                let gone = s.instances.swap_remove(k);
                s.lived_s += now.duration_since(gone.created).as_secs_f64();
                self.metrics.scaled_instance(false);
            }
        }
    }

    /// Kills `how_many(alive)` of the instances now, the busiest first (a pod that dies takes its calls
    /// with it); returns their ids. Calls waiting for an instance stay queued: if none is left, one is
    /// made at once, as the activator would ask for.
    pub(crate) fn kill(self: &Arc<Pool>, how_many: impl FnOnce(usize) -> usize) -> Vec<u64> {
        let mut s = self.lock();
        let now = Instant::now();
        s.advance(self.scaling.now_us(now));
        let mut order: Vec<usize> = (0..s.instances.len()).collect();
        order.sort_by_key(|&k| std::cmp::Reverse((s.instances[k].busy, s.instances[k].ready)));
        let mut ids: Vec<u64> = order[..how_many(order.len()).min(order.len())]
            .iter()
            .map(|&k| s.instances[k].id)
            .collect();
        ids.sort_unstable();
        let lived: f64 = s
            .instances
            .iter()
            .filter(|slot| ids.binary_search(&slot.id).is_ok())
            .map(|slot| now.duration_since(slot.created).as_secs_f64())
            .sum();
        s.lived_s += lived;
        s.instances
            .retain(|slot| ids.binary_search(&slot.id).is_err());
        for _ in &ids {
            self.metrics.scaled_instance(false);
        }
        if s.instances.is_empty() && !s.queue.is_empty() {
            self.create(&mut s, now);
        }
        ids
    }

    /// The function's scale now.
    pub(crate) fn scale(&self) -> FunctionScale {
        let s = self.lock();
        let ready = s.instances.iter().filter(|i| i.ready).count() as u32;
        FunctionScale {
            desired: s.scaler.pods(),
            ready,
            pending: s.instances.len() as u32 - ready,
            in_flight: s.running,
            queued: s.queue.len() as u32,
        }
    }

    /// What its instances did so far.
    pub(crate) fn totals(&self) -> PlatformTotals {
        let s = self.lock();
        let now = Instant::now();
        let alive: f64 = s
            .instances
            .iter()
            .map(|i| now.duration_since(i.created).as_secs_f64())
            .sum();
        PlatformTotals {
            instance_seconds: s.lived_s + alive,
            ..s.totals
        }
    }
}

/// Ticks `pool` every tick interval of the fleet's clock until it is gone.
async fn tick_while_alive(pool: Weak<Pool>) {
    let (epoch, tick) = match pool.upgrade() {
        Some(p) => (p.scaling.epoch, p.lock().scaler.tick_us()),
        None => return,
    };
    let tick = Duration::from_micros(tick);
    let mut next = epoch + tick;
    while next < Instant::now() {
        next += tick;
    }
    loop {
        tokio::time::sleep_until(next.into()).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        pool.tick();
        next += tick;
    }
}
