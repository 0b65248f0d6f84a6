//! What a run's latency did around each disturbance: latency p50 and p99, errors and the achieved rate
//! before, during and after each interference window and fault, and each fault's recovery time.
//!
//! Latency counts from each call's due time (wrk2's rule: a stalled sender cannot hide a stall), and a
//! call belongs to the second it was due in. Warm-up seconds are left out of every phase.

/// One second of the replay.
#[derive(Debug, Clone, Default)]
struct Second {
    latencies_us: Vec<u64>,
    calls: u64,
    sent: u64,
    errors: u64,
}

/// A run's calls, second by second.
#[derive(Debug, Clone, Default)]
pub struct PerSecond {
    seconds: Vec<Second>,
    /// Seconds of warm-up, left out.
    warmup_s: usize,
}

/// One call, as the analysis needs it.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    /// When it was due, µs from time 0.
    pub due_us: u64,
    /// Its latency from its due time, µs, when it was answered.
    pub latency_us: Option<u64>,
    /// Whether it was sent.
    pub sent: bool,
    /// Whether it failed (sent and not answered successfully, or lost).
    pub error: bool,
}

impl PerSecond {
    /// An empty series over `run_s` seconds, the first `warmup_s` of them warm-up.
    pub fn new(run_s: usize, warmup_s: usize) -> PerSecond {
        PerSecond {
            seconds: vec![Second::default(); run_s.max(1)],
            warmup_s,
        }
    }

    /// Counts `call`.
    pub fn add(&mut self, call: Call) {
        let s = (call.due_us / 1_000_000) as usize;
        if s >= self.seconds.len() {
            self.seconds.resize(s + 1, Second::default());
        }
        let second = &mut self.seconds[s];
        second.calls += 1;
        second.sent += u64::from(call.sent);
        second.errors += u64::from(call.error);
        if let (Some(l), false) = (call.latency_us, call.error) {
            second.latencies_us.push(l);
        }
    }

    /// The figures of seconds `from..to` (clamped to the run, warm-up left out).
    pub fn phase(&self, from: f64, to: f64) -> Phase {
        let first = (from.max(0.0).floor() as usize).max(self.warmup_s);
        let last = (to.max(0.0).ceil() as usize).min(self.seconds.len());
        let mut latencies: Vec<u64> = Vec::new();
        let (mut calls, mut sent, mut errors) = (0, 0, 0);
        for s in self.seconds.get(first..last.max(first)).unwrap_or(&[]) {
            latencies.extend(&s.latencies_us);
            calls += s.calls;
            sent += s.sent;
            errors += s.errors;
        }
        let span = last.saturating_sub(first);
        Phase {
            seconds: (first as f64, last.max(first) as f64),
            calls,
            errors,
            p50_us: quantile(&mut latencies, 0.50),
            p99_us: quantile(&mut latencies, 0.99),
            rate: (span > 0).then(|| sent as f64 / span as f64),
        }
    }

    /// Seconds from `at` until the run is back to `before`: the first second from which, for at least
    /// `RECOVERY_RUN` seconds in a row, p99 stays within 10 % (or 1 ms) of `before`'s and the error
    /// rate within 1 percentage point of it. None: not recovered before the run ended.
    pub fn recovery(&self, at: f64, before: &Phase) -> Option<f64> {
        let start = at.max(0.0).floor() as usize;
        let base_p99 = before.p99_us? as f64;
        let base_errors = before.error_rate();
        let within = |s: &Second| {
            let mut l = s.latencies_us.clone();
            let p99_ok = match quantile(&mut l, 0.99) {
                Some(p99) => (p99 as f64 - base_p99).abs() <= (0.1 * base_p99).max(1000.0),
                None => s.calls == 0,
            };
            let rate = if s.calls == 0 {
                0.0
            } else {
                s.errors as f64 / s.calls as f64
            };
            p99_ok && rate <= base_errors + 0.01
        };
        let mut run = 0;
        for s in start..self.seconds.len() {
            if within(&self.seconds[s]) {
                run += 1;
                if run == RECOVERY_RUN {
                    let from = s + 1 - RECOVERY_RUN;
                    return Some((from as f64 - at).max(0.0));
                }
            } else {
                run = 0;
            }
        }
        None
    }
}

/// Seconds in a row a recovery must hold.
pub const RECOVERY_RUN: usize = 5;

/// The figures of one phase (defined with summary.json's).
pub use formats::summary::PhaseFigures as Phase;

/// The `q` quantile (nearest rank) of `values`, reordering them.
fn quantile(values: &mut [u64], q: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    Some(*values.select_nth_unstable(rank).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(p99_ms: &[u64]) -> PerSecond {
        let mut s = PerSecond::new(p99_ms.len(), 0);
        for (second, &ms) in p99_ms.iter().enumerate() {
            for k in 0..100u64 {
                s.add(Call {
                    due_us: second as u64 * 1_000_000 + k * 10_000,
                    latency_us: Some(ms * 1000),
                    sent: true,
                    error: false,
                });
            }
        }
        s
    }

    #[test]
    fn phases_hold_their_seconds() {
        let s = series(&[10, 10, 50, 50, 10, 10]);
        let during = s.phase(2.0, 4.0);
        assert_eq!(
            (during.calls, during.p99_us, during.rate),
            (200, Some(50_000), Some(100.0))
        );
        assert_eq!(s.phase(0.0, 2.0).p50_us, Some(10_000));
    }

    #[test]
    fn recovery_is_the_first_of_five_good_seconds_in_a_row() {
        // Fault at 3 s: bad until second 6, then good (a 10.5 ms second is within 1 ms).
        let s = series(&[10, 10, 10, 80, 80, 80, 10, 11, 10, 10, 10, 10]);
        let before = s.phase(0.0, 3.0);
        assert_eq!(s.recovery(3.0, &before), Some(3.0));
        // Never five good seconds in a row after the fault: not recovered.
        let s = series(&[10, 10, 10, 80, 10, 10, 10, 10, 80, 10]);
        assert_eq!(s.recovery(3.0, &s.phase(0.0, 3.0)), None);
    }

    #[test]
    fn errors_beyond_a_point_delay_recovery() {
        let mut s = series(&[10; 10]);
        // Second 3 has 5 % errors: not within 1 pp of none.
        for k in 0..5 {
            s.add(Call {
                due_us: 3_000_000 + k,
                latency_us: None,
                sent: true,
                error: true,
            });
        }
        assert_eq!(s.recovery(3.0, &s.phase(0.0, 3.0)), Some(1.0));
    }
}
