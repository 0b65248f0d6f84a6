//! Calls placed one by one: the exact start times an invocation trace records (Azure 2021), or those a
//! load shape makes (RPS, bursts). Where a [`crate::Trace`] has them, they, not its counts and an IAT
//! distribution, say when each call is made; the counts are derived from them.

/// One call: 16 bytes, so that tens of millions fit and sort in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arrival {
    /// Microseconds from the start of the window's first period.
    pub time_us: u64,
    /// Index of the call's function in the trace.
    pub function: u32,
    /// What the call ran for, µs (at most `u32::MAX`, 71 minutes), when the trace records it; else 0.
    pub duration_us: u32,
}

/// Every call of a window, in time order (ties by function, then duration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Arrivals {
    /// The calls.
    pub calls: Vec<Arrival>,
    /// Whether `duration_us` is a recorded duration (Azure 2021) rather than unknown.
    pub recorded_durations: bool,
}

impl Arrivals {
    /// Calls held.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether there is no call.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Puts the calls in order, in place; a no-op (one pass) when they already are.
    pub fn sort(&mut self) {
        if !self.calls.is_sorted() {
            self.calls.sort_unstable();
        }
    }

    /// The index range of the calls in period `p` (`period_us` long), found by binary search.
    pub fn period(&self, p: usize, period_us: u64) -> std::ops::Range<usize> {
        let start = p as u64 * period_us;
        let from = self.calls.partition_point(|c| c.time_us < start);
        let to = self
            .calls
            .partition_point(|c| c.time_us < start + period_us);
        from..to
    }

    /// Calls per function and period: a row-major `functions × periods` matrix, as [`crate::Trace`] keeps.
    pub fn counts(&self, functions: usize, periods: usize, period_us: u64) -> Vec<u32> {
        let mut counts = vec![0u32; functions * periods];
        for c in &self.calls {
            let p = (c.time_us / period_us) as usize;
            if p < periods {
                counts[c.function as usize * periods + p] += 1;
            }
        }
        counts
    }

    /// Keeps the calls whose function `new_index` maps to `Some`, renumbered; order is kept (renumbering
    /// keeps the functions' relative order, so ties stay in order too).
    pub fn retain_functions(&mut self, new_index: &[Option<u32>]) {
        self.calls
            .retain_mut(|c| match new_index[c.function as usize] {
                Some(f) => {
                    c.function = f;
                    true
                }
                None => false,
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_sliced_counted_and_renumbered() {
        let call = |time_us, function, duration_us| Arrival {
            time_us,
            function,
            duration_us,
        };
        let mut a = Arrivals {
            calls: [(5, 1, 7), (0, 0, 3), (5, 0, 9), (12, 1, 1), (10, 2, 2)]
                .map(|(t, f, d)| call(t, f, d))
                .to_vec(),
            recorded_durations: true,
        };
        a.sort();
        let flat = |a: &Arrivals| -> Vec<(u64, u32, u32)> {
            a.calls
                .iter()
                .map(|c| (c.time_us, c.function, c.duration_us))
                .collect()
        };
        assert_eq!(
            flat(&a),
            [(0, 0, 3), (5, 0, 9), (5, 1, 7), (10, 2, 2), (12, 1, 1)]
        );
        assert_eq!(a.period(0, 10), 0..3);
        assert_eq!(a.period(1, 10), 3..5);
        assert_eq!(a.period(2, 10), 5..5);
        assert_eq!(a.counts(3, 2, 10), [2, 0, 1, 1, 0, 1]);
        a.retain_functions(&[Some(0), None, Some(1)]);
        assert_eq!(flat(&a), [(0, 0, 3), (5, 0, 9), (10, 1, 2)]);
    }
}
