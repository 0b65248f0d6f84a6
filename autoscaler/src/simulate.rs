//! One Knative revision simulated in time, with no call sent: each call occupies an instance for its
//! duration; instances are created by the KPA decider's count (or at once when a call finds none, as the
//! activator pokes the autoscaler), become ready after a cold-start delay, and are removed as the count
//! falls (idle ones; those not ready yet first). A call that finds no instance with room waits in the
//! activator's queue, first come first served. This is `loadgen predict`'s model; the local fleet runs
//! the same [`Scaler`] in real time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::scaler::{to_remove, Revision, Scaler};

const SECOND_US: u64 = 1_000_000;

/// One call: when it arrives and how long it runs, µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    /// Arrival, µs from the start.
    pub arrival_us: u64,
    /// Time it occupies its instance, µs.
    pub duration_us: u64,
}

/// What became of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallOutcome {
    /// Time it waited in the activator's queue, µs.
    pub queued_us: u64,
    /// Whether it waited for its instance to start (a cold start).
    pub cold: bool,
}

/// The revision at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleTick {
    /// The tick, seconds from the start.
    pub time_s: u64,
    /// The decider's count (after min/max and the scale-to-zero grace).
    pub desired: u32,
    /// Instances ready.
    pub ready: u32,
    /// Instances created and not removed (ready or starting).
    pub instances: u32,
    /// Calls waiting in the activator's queue.
    pub queued: u32,
}

/// The revision's totals.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    /// Calls simulated.
    pub calls: u64,
    /// Calls that waited for their instance to start.
    pub cold_starts: u64,
    /// Instances created.
    pub instances_created: u64,
    /// Instance lifetimes summed, seconds (from creation to removal, or to the end: `end_us` or the
    /// last call's end, whichever is later).
    pub instance_seconds: f64,
    /// The most instances at once (ready or starting).
    pub peak_instances: u32,
}

#[derive(Debug, Clone, Copy)]
struct Instance {
    created_us: u64,
    ready_us: u64,
    busy: u32,
    live: bool,
    generation: u32,
}

/// Simulates `calls` (in order of arrival) until they have all ended and `end_us` has passed, each new
/// instance taking `cold_start_us()` to start. `on_tick` sees the revision at every tick it was not
/// idle at zero (no instance, nothing running or queued), `on_call` each call's fate as it starts.
pub fn simulate(
    revision: &Revision,
    calls: impl IntoIterator<Item = Call>,
    end_us: u64,
    mut cold_start_us: impl FnMut() -> u64,
    mut on_tick: impl FnMut(ScaleTick),
    mut on_call: impl FnMut(CallOutcome),
) -> Totals {
    let mut simulation = Simulation::new(revision);
    let hooks = (&mut cold_start_us, &mut on_tick, &mut on_call);
    simulation.drive(calls, Stop::End(end_us), hooks);
    simulation.sim.finish(end_us)
}

/// Where [`Simulation::drive`] stops.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// Before the first event at or after this time.
    Before(u64),
    /// Once every call has ended and this time has passed.
    End(u64),
}

/// A revision simulated a stretch of time at a time: the calls of each stretch given as they come, so
/// a load of any length streams through it in the memory of its busiest stretch. [`simulate`] is one
/// stretch to the end.
pub struct Simulation {
    sim: Sim,
    next_tick: u64,
}

impl Simulation {
    /// A revision with no instance, at time 0.
    pub fn new(revision: &Revision) -> Simulation {
        let sim = Sim::new(revision);
        let next_tick = sim.scaler.tick_us();
        Simulation { sim, next_tick }
    }

    /// Runs every event before `until_us`: `calls` (each arriving before it, in order, after those of
    /// earlier stretches) and the ends, readies and ticks among them (see [`simulate`] for the hooks).
    pub fn run_until(
        &mut self,
        calls: impl IntoIterator<Item = Call>,
        until_us: u64,
        mut cold_start_us: impl FnMut() -> u64,
        mut on_tick: impl FnMut(ScaleTick),
        mut on_call: impl FnMut(CallOutcome),
    ) {
        let hooks = (&mut cold_start_us, &mut on_tick, &mut on_call);
        self.drive(calls, Stop::Before(until_us), hooks);
    }

    /// Runs until every call has ended and `end_us` has passed; the totals.
    pub fn finish(
        mut self,
        end_us: u64,
        mut cold_start_us: impl FnMut() -> u64,
        mut on_tick: impl FnMut(ScaleTick),
        mut on_call: impl FnMut(CallOutcome),
    ) -> Totals {
        let hooks = (&mut cold_start_us, &mut on_tick, &mut on_call);
        self.drive(std::iter::empty(), Stop::End(end_us), hooks);
        self.sim.finish(end_us)
    }

    /// The event loop: at equal times, a call's end, then an instance ready, then an arrival, then a tick.
    fn drive(
        &mut self,
        calls: impl IntoIterator<Item = Call>,
        stop: Stop,
        (cold_start_us, on_tick, on_call): (
            &mut impl FnMut() -> u64,
            &mut impl FnMut(ScaleTick),
            &mut impl FnMut(CallOutcome),
        ),
    ) {
        let sim = &mut self.sim;
        let mut calls = calls.into_iter().peekable();
        let tick_us = sim.scaler.tick_us();
        loop {
            let arrival = calls.peek().map(|c| c.arrival_us);
            if sim.idle() {
                // Nothing to decide until the next call: skip the ticks in between.
                match (arrival, stop) {
                    (Some(a), _) => {
                        self.next_tick = self.next_tick.max(a.div_ceil(tick_us) * tick_us)
                    }
                    (None, Stop::Before(until)) => {
                        self.next_tick = self.next_tick.max(until.div_ceil(tick_us) * tick_us);
                        return;
                    }
                    (None, Stop::End(end)) if self.next_tick > end => return,
                    (None, Stop::End(_)) => {}
                }
            }
            let next_end = sim.ends.peek().map(|Reverse((t, _))| *t);
            let next_ready = sim.readies.peek().map(|Reverse((t, _, _))| *t);
            let now = [next_end, next_ready, arrival, Some(self.next_tick)]
                .into_iter()
                .flatten()
                .min()
                .expect("a tick is always next");
            match stop {
                Stop::Before(until) if now >= until => return,
                Stop::End(end)
                    if arrival.is_none()
                        && sim.in_flight() == 0
                        && now > end
                        && now == self.next_tick =>
                {
                    return
                }
                _ => {}
            }
            sim.advance(now);
            if next_end == Some(now) {
                let Reverse((_, slot)) = sim.ends.pop().expect("peeked");
                sim.instances[slot].busy -= 1;
                sim.running -= 1;
                sim.dispatch(now, false, on_call);
            } else if next_ready == Some(now) {
                let Reverse((_, slot, generation)) = sim.readies.pop().expect("peeked");
                if sim.instances[slot].live && sim.instances[slot].generation == generation {
                    sim.dispatch(now, true, on_call);
                }
            } else if arrival == Some(now) {
                let call = calls.next().expect("peeked");
                sim.totals.calls += 1;
                sim.scaler.arrive();
                sim.queue.push_back(call);
                if sim.live == 0 {
                    // The activator pokes the autoscaler: an instance is made at once.
                    sim.create(now, cold_start_us());
                }
                sim.dispatch(now, false, on_call);
            } else {
                let tick = sim.tick(now, cold_start_us);
                on_tick(tick);
                self.next_tick += tick_us;
            }
        }
    }
}

/// The simulation's state.
struct Sim {
    scaler: Scaler,
    revision: Revision,
    instances: Vec<Instance>,
    free: Vec<usize>,
    live: u32,
    queue: VecDeque<Call>,
    running: u32,
    /// `(end, slot)` of running calls.
    ends: BinaryHeap<Reverse<(u64, usize)>>,
    /// `(ready, slot, generation)` of starting instances.
    readies: BinaryHeap<Reverse<(u64, usize, u32)>>,
    totals: Totals,
    now_us: u64,
}

impl Sim {
    fn new(revision: &Revision) -> Sim {
        Sim {
            scaler: Scaler::new(revision),
            revision: revision.clone(),
            instances: Vec::new(),
            free: Vec::new(),
            live: 0,
            queue: VecDeque::new(),
            running: 0,
            ends: BinaryHeap::new(),
            readies: BinaryHeap::new(),
            totals: Totals::default(),
            now_us: 0,
        }
    }

    fn in_flight(&self) -> u32 {
        self.running + self.queue.len() as u32
    }

    fn idle(&self) -> bool {
        self.live == 0 && self.in_flight() == 0 && self.scaler.quiet()
    }

    /// Moves the clock to `now`.
    fn advance(&mut self, now: u64) {
        self.scaler.advance(now, self.in_flight());
        self.now_us = now;
    }

    /// A new instance, ready `cold_us` from `now`.
    fn create(&mut self, now: u64, cold_us: u64) {
        let generation = self.totals.instances_created as u32;
        let instance = Instance {
            created_us: now,
            ready_us: now + cold_us,
            busy: 0,
            live: true,
            generation,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.instances[slot] = instance;
                slot
            }
            None => {
                self.instances.push(instance);
                self.instances.len() - 1
            }
        };
        self.readies
            .push(Reverse((now + cold_us, slot, generation)));
        self.live += 1;
        self.totals.instances_created += 1;
        self.totals.peak_instances = self.totals.peak_instances.max(self.live);
    }

    fn remove(&mut self, slot: usize, now: u64) {
        let i = &mut self.instances[slot];
        i.live = false;
        self.totals.instance_seconds += (now - i.created_us) as f64 / SECOND_US as f64;
        self.live -= 1;
        self.free.push(slot);
    }

    /// Starts queued calls on ready instances with room (the least busy first); `readied`: an instance
    /// just became ready, so calls waiting then waited for it to start.
    fn dispatch(&mut self, now: u64, readied: bool, on_call: &mut impl FnMut(CallOutcome)) {
        while let Some(&call) = self.queue.front() {
            let room = |i: &Instance| i.live && i.ready_us <= now && self.revision.has_room(i.busy);
            let Some(slot) = (0..self.instances.len())
                .filter(|&k| room(&self.instances[k]))
                .min_by_key(|&k| (self.instances[k].busy, k))
            else {
                return;
            };
            self.queue.pop_front();
            self.instances[slot].busy += 1;
            self.running += 1;
            self.ends.push(Reverse((now + call.duration_us, slot)));
            let queued_us = now - call.arrival_us;
            let cold = readied && queued_us > 0;
            self.totals.cold_starts += u64::from(cold);
            on_call(CallOutcome { queued_us, cold });
        }
    }

    /// The decider's tick at `now`: instances made or removed to its count.
    fn tick(&mut self, now: u64, cold_start_us: &mut impl FnMut() -> u64) -> ScaleTick {
        let ready = self
            .instances
            .iter()
            .filter(|i| i.live && i.ready_us <= now)
            .count() as u32;
        let pods = self.scaler.tick(now, ready, self.in_flight());
        while self.live < pods {
            self.create(now, cold_start_us());
        }
        if self.live > pods {
            let idle = (0..self.instances.len())
                .filter(|&k| self.instances[k].live && self.instances[k].busy == 0)
                .map(|k| {
                    (
                        k,
                        self.instances[k].ready_us <= now,
                        self.instances[k].created_us,
                    )
                })
                .collect();
            for slot in to_remove(idle, (self.live - pods) as usize) {
                self.remove(slot, now);
            }
        }
        ScaleTick {
            time_s: now / SECOND_US,
            desired: pods,
            ready,
            instances: self.live,
            queued: self.queue.len() as u32,
        }
    }

    /// The totals, with the instances still live counted to `end_us` (or the last event, if later).
    fn finish(mut self, end_us: u64) -> Totals {
        let now = self.now_us.max(end_us);
        for slot in 0..self.instances.len() {
            if self.instances[slot].live {
                self.remove(slot, now);
            }
        }
        self.totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KpaSettings;

    const S: u64 = SECOND_US;

    fn run(
        container_concurrency: u32,
        calls: &[Call],
        end_us: u64,
    ) -> (Totals, Vec<CallOutcome>, Vec<ScaleTick>) {
        let revision = Revision {
            settings: KpaSettings::default(),
            container_concurrency,
        };
        let (mut outcomes, mut ticks) = (Vec::new(), Vec::new());
        let totals = simulate(
            &revision,
            calls.iter().copied(),
            end_us,
            || S,
            |t| ticks.push(t),
            |c| outcomes.push(c),
        );
        (totals, outcomes, ticks)
    }

    /// A call finding no instance makes one at once, and waits its 1 s cold start in the activator.
    #[test]
    fn a_call_at_zero_waits_for_the_instance_it_makes() {
        let call = Call {
            arrival_us: S / 2,
            duration_us: S,
        };
        let (totals, outcomes, ticks) = run(0, &[call], 3 * S);
        assert_eq!(
            outcomes,
            vec![CallOutcome {
                queued_us: S,
                cold: true
            }]
        );
        assert_eq!(
            (
                totals.calls,
                totals.cold_starts,
                totals.instances_created,
                totals.peak_instances
            ),
            (1, 1, 1, 1)
        );
        // Alive from 0.5 s to the end at 3 s (the decider still wants it: the stable window remembers).
        assert_eq!(totals.instance_seconds, 2.5);
        // The tick at 2 s: one instance, ready since 1.5 s, the call running.
        assert_eq!(
            ticks[0],
            ScaleTick {
                time_s: 2,
                desired: 1,
                ready: 1,
                instances: 1,
                queued: 0
            }
        );
    }

    /// With one call per instance, a second call waits for the decider: two in flight over a target of
    /// 1 × 70 % want ceil(2 / 0.7) = 3 instances at the tick at 2 s, ready at 3 s.
    #[test]
    fn a_container_concurrency_of_one_queues_until_the_decider_adds_instances() {
        let calls = [
            Call {
                arrival_us: 0,
                duration_us: 10 * S,
            },
            Call {
                arrival_us: 0,
                duration_us: 10 * S,
            },
        ];
        let (totals, outcomes, ticks) = run(1, &calls, 14 * S);
        let queued: Vec<u64> = outcomes.iter().map(|o| o.queued_us).collect();
        assert_eq!(queued, vec![S, 3 * S]);
        assert!(outcomes.iter().all(|o| o.cold));
        assert_eq!(ticks[0].desired, 3);
        assert_eq!((ticks[0].ready, ticks[0].queued), (1, 1));
        assert_eq!((totals.instances_created, totals.peak_instances), (3, 3));
        // The first from 0 s, the two others from 2 s, all to the end at 14 s.
        assert_eq!(totals.instance_seconds, 14.0 + 2.0 * 12.0);
    }

    /// A revision idle at zero is not ticked, and an instance left idle goes once the decider has wanted
    /// 0 for the grace period.
    #[test]
    fn idle_revisions_are_skipped_and_scaled_to_zero() {
        let calls = [
            Call {
                arrival_us: 0,
                duration_us: S / 10,
            },
            Call {
                arrival_us: 1000 * S,
                duration_us: S / 10,
            },
        ];
        let (totals, _, ticks) = run(0, &calls, 1001 * S);
        // The decider wants 1 while the stable window holds the first call's second (ticks to 60 s),
        // 0 from 62 s, and the instance goes 30 s later, at 92 s; nothing is ticked from then to 1000 s.
        let last_with_one = ticks
            .iter()
            .rev()
            .find(|t| t.instances == 1 && t.time_s < 1000);
        assert_eq!(last_with_one.map(|t| t.time_s), Some(90), "{ticks:?}");
        assert!(
            ticks.iter().all(|t| t.time_s <= 92 || t.time_s >= 1000),
            "{ticks:?}"
        );
        assert_eq!(totals.instances_created, 2);
        assert_eq!(totals.cold_starts, 2);
        // 92 s, then from 1000 s to the second call's end at 1001.1 s (its cold start is 1 s).
        assert!((totals.instance_seconds - 93.1).abs() < 1e-9, "{totals:?}");
    }

    /// A load given a second at a time runs exactly as when given whole: ticks, calls and totals.
    #[test]
    fn stretches_give_what_one_run_gives() {
        // Bursts and gaps: 300 calls over 200 s, 50 ms to 3 s long, on instances of 4 calls.
        let calls: Vec<Call> = (0..300u64)
            .map(|k| Call {
                arrival_us: (k * k * 7_919) % (200 * S),
                duration_us: 50_000 + (k * 104_729) % (3 * S),
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let revision = Revision {
            settings: KpaSettings::default(),
            container_concurrency: 4,
        };
        let colds = |seed: u64| {
            let mut n = seed;
            move || {
                n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                S / 2 + (n >> 40) % S
            }
        };
        let (mut ticks, mut outcomes) = (Vec::new(), Vec::new());
        let whole = simulate(
            &revision,
            calls.iter().copied(),
            250 * S,
            colds(7),
            |t| ticks.push(t),
            |c| outcomes.push(c),
        );
        let (mut streamed_ticks, mut streamed_outcomes) = (Vec::new(), Vec::new());
        let mut simulation = Simulation::new(&revision);
        let mut cold = colds(7);
        for second in 0..200 {
            let stretch = calls.iter().copied().filter(|c| c.arrival_us / S == second);
            simulation.run_until(
                stretch,
                (second + 1) * S,
                &mut cold,
                |t| streamed_ticks.push(t),
                |c| streamed_outcomes.push(c),
            );
        }
        let streamed = simulation.finish(
            250 * S,
            &mut cold,
            |t| streamed_ticks.push(t),
            |c| streamed_outcomes.push(c),
        );
        assert_eq!(streamed, whole);
        assert_eq!(streamed_ticks, ticks);
        assert_eq!(streamed_outcomes, outcomes);
        assert!(
            whole.cold_starts > 1 && whole.instances_created > 2,
            "{whole:?}"
        );
    }
}
