//! The decider, the simplified scale-to-zero step and the ready pods' delay (see the crate's docs).

use std::collections::VecDeque;

use crate::KpaSettings;

/// What the decider made of one tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The stable window's average.
    pub stable: f64,
    /// The panic window's average.
    pub panic: f64,
    /// The pods wanted, after the min-scale and max-scale clamps.
    pub desired: u32,
    /// Whether the revision is in panic mode after this tick.
    pub panic_mode: bool,
    /// Spare capacity beyond the target-burst-capacity; negative: the activator is in the path.
    pub excess_burst_capacity: f64,
}

/// One tick of [`crate::replay`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    /// Seconds from the first observation.
    pub time_s: u64,
    /// Pods ready at the tick (before `max(1, …)`).
    pub ready: u32,
    /// Pods after the scale-to-zero grace.
    pub pods: u32,
    /// The decider's output.
    pub decision: Decision,
}

/// One revision's KPA decider: it keeps the last stable window of 1-second observations and its panic
/// state.
#[derive(Debug, Clone)]
pub struct Decider {
    settings: KpaSettings,
    /// `(second, value)`, ascending, the last stable window of them.
    seconds: VecDeque<(u64, f64)>,
    /// The first second observed.
    first: Option<u64>,
    /// The last tick that was over the panic threshold, while in panic.
    panic_since: Option<u64>,
    /// The most pods desired since panic began.
    max_panic_pods: u32,
}

impl Decider {
    /// A decider with no observation yet.
    pub fn new(settings: KpaSettings) -> Decider {
        Decider {
            settings,
            seconds: VecDeque::new(),
            first: None,
            panic_since: None,
            max_panic_pods: 0,
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &KpaSettings {
        &self.settings
    }

    /// The revision's average concurrency (or requests/s) during `second`; seconds ascend, and a second
    /// given again replaces its value.
    pub fn observe(&mut self, second: u64, value: f64) {
        self.first.get_or_insert(second);
        match self.seconds.back_mut() {
            Some((s, v)) if *s == second => *v = value,
            _ => self.seconds.push_back((second, value)),
        }
        self.forget_before(second);
    }

    /// Drops the seconds no window ending at `now` or later can hold.
    fn forget_before(&mut self, now: u64) {
        let oldest = (now + 1).saturating_sub(self.settings.stable_window_s);
        while self.seconds.front().is_some_and(|&(s, _)| s < oldest) {
            self.seconds.pop_front();
        }
    }

    /// The mean of seconds `max(first, now − window + 1) ..= now`, missing ones as 0 (0 before any data).
    fn average(&self, now: u64, window: u64) -> f64 {
        let Some(first) = self.first.filter(|&f| f <= now) else {
            return 0.0;
        };
        let from = first.max((now + 1).saturating_sub(window));
        let sum: f64 = self
            .seconds
            .iter()
            .filter(|&&(s, _)| (from..=now).contains(&s))
            .map(|&(_, v)| v)
            .sum();
        sum / (now - from + 1) as f64
    }

    /// The decision at tick `now` (seconds) with `ready_pods` ready.
    pub fn decide(&mut self, now: u64, ready_pods: u32) -> Decision {
        self.forget_before(now);
        let s = &self.settings;
        let ready = f64::from(ready_pods.max(1));
        let stable = self.average(now, s.stable_window_s);
        let panic = self.average(now, s.panic_window_s());
        let target = s.target_value();
        let max_up = (s.max_scale_up_rate * ready).ceil();
        let max_down = (ready / s.max_scale_down_rate).floor();
        let dspc = (stable / target).ceil();
        let dppc = (panic / target).ceil();
        let clamp = |pods: f64| pods.max(max_down).min(max_up) as u32;
        let (stable_pods, panic_pods) = (clamp(dspc), clamp(dppc));
        let over = dppc / ready >= s.panic_threshold_percentage / 100.0;
        if over {
            // Panic begins, or is extended from now.
            self.panic_since = Some(now);
        } else if self
            .panic_since
            .is_some_and(|since| since + s.stable_window_s < now)
        {
            // The surge has made its way into the stable average.
            self.panic_since = None;
            self.max_panic_pods = 0;
        }
        let mut desired = stable_pods;
        if self.panic_since.is_some() {
            // Provision for the larger of the two, and never scale down in panic.
            desired = desired.max(panic_pods).max(self.max_panic_pods);
            self.max_panic_pods = desired;
        }
        desired = desired.max(s.min_scale);
        if s.max_scale > 0 {
            desired = desired.min(s.max_scale);
        }
        let tbc = s.target_burst_capacity;
        let excess_burst_capacity = if tbc == 0.0 {
            0.0
        } else if tbc < 0.0 {
            -1.0
        } else {
            (f64::from(ready_pods) * s.total_target() - tbc - panic).floor()
        };
        Decision {
            stable,
            panic,
            desired,
            panic_mode: self.panic_since.is_some(),
            excess_burst_capacity,
        }
    }
}

/// A simplified version of Knative's reconciler step that scales to zero: the pods follow the decider,
/// except that they go to 0 only once it has wanted 0 for the grace period; until then they stay as they
/// were.
#[derive(Debug, Clone)]
pub struct ScaleToZero {
    grace_s: u64,
    zero_since: Option<u64>,
    pods: u32,
}

impl ScaleToZero {
    /// No pods yet, with a grace period of `grace_s` seconds.
    pub fn new(grace_s: u64) -> ScaleToZero {
        ScaleToZero {
            grace_s,
            zero_since: None,
            pods: 0,
        }
    }

    /// The pods at tick `now` when the decider wants `desired`.
    pub fn pods(&mut self, now: u64, desired: u32) -> u32 {
        if desired > 0 {
            self.zero_since = None;
            self.pods = desired;
        } else if now - *self.zero_since.get_or_insert(now) >= self.grace_s {
            self.pods = 0;
        }
        self.pods
    }
}

/// Pods become ready a fixed delay after they are decided: at tick `t`, the pods decided at the latest
/// earlier tick `t′ < t` with `t′ + delay ≤ t`, or 0 if there is none (with no delay, the previous
/// tick's).
#[derive(Debug, Clone)]
pub struct ReadyAfter {
    delay_s: u64,
    decided: VecDeque<(u64, u32)>,
}

impl ReadyAfter {
    /// Nothing decided yet.
    pub fn new(delay_s: u64) -> ReadyAfter {
        ReadyAfter {
            delay_s,
            decided: VecDeque::new(),
        }
    }

    /// The pods ready at tick `t` (ticks ascend).
    pub fn at(&mut self, t: u64) -> u32 {
        let ripe = |&(d, _): &(u64, u32)| d < t && d + self.delay_s <= t;
        let Some(latest) = self.decided.iter().rposition(ripe) else {
            return 0;
        };
        // Older decisions can never be the latest ripe one again.
        self.decided.drain(..latest);
        self.decided[0].1
    }

    /// Records the pods decided at tick `t`.
    pub fn decided(&mut self, t: u64, pods: u32) {
        self.decided.push_back((t, pods));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A revision first seen at second 10 averages over the seconds since then, missing ones as 0.
    #[test]
    fn windows_start_at_the_first_data_point_and_count_gaps_as_zero() {
        let mut d = Decider::new(KpaSettings::default());
        assert_eq!(d.decide(4, 0).stable, 0.0, "no data yet");
        d.observe(10, 6.0);
        d.observe(13, 6.0);
        let at14 = d.decide(14, 1);
        assert_eq!(at14.stable, 12.0 / 5.0, "seconds 10..=14");
        assert_eq!(
            at14.panic,
            12.0 / 5.0,
            "the 6 s panic window is not full either"
        );
        // Second 13 given again replaces its value.
        d.observe(13, 1.0);
        assert_eq!(d.decide(14, 1).stable, 7.0 / 5.0);
        // Long after, only the last minute counts: the window is past both points.
        assert_eq!(d.decide(200, 1).stable, 0.0);
    }

    #[test]
    fn ready_pods_lag_their_decision_by_the_delay() {
        let mut r = ReadyAfter::new(3);
        assert_eq!(r.at(2), 0);
        r.decided(2, 4);
        assert_eq!(r.at(4), 0, "2 + 3 > 4");
        r.decided(4, 7);
        assert_eq!(r.at(6), 4);
        r.decided(6, 9);
        assert_eq!(r.at(8), 7);
        let mut now = ReadyAfter::new(0);
        now.decided(2, 5);
        assert_eq!(now.at(2), 0, "not before the tick after");
        assert_eq!(now.at(4), 5);
    }

    #[test]
    fn scale_to_zero_waits_out_the_grace_period() {
        let mut z = ScaleToZero::new(30);
        assert_eq!(z.pods(2, 0), 0, "nothing to keep");
        assert_eq!(z.pods(4, 3), 3);
        assert_eq!(z.pods(6, 0), 3);
        assert_eq!(z.pods(34, 0), 3);
        assert_eq!(z.pods(36, 0), 0);
        assert_eq!(z.pods(38, 2), 2);
    }
}
