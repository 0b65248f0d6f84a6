//! Calls placed one by one: the exact start times an invocation trace records (Azure 2021), or those a
//! load shape makes (RPS, bursts). Where a [`crate::Trace`] has them, they, not its counts and an IAT
//! distribution, say when each call is made; the counts are derived from them.

/// Every call of a window, in time order, as columns of equal length.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Arrivals {
    /// Microseconds from the start of the window's first period, ascending (ties by function).
    pub times_us: Vec<u64>,
    /// Index of the call's function in the trace.
    pub functions: Vec<u32>,
    /// What each call ran for, µs, when the trace records it (empty otherwise).
    pub durations_us: Vec<u64>,
}

impl Arrivals {
    /// Calls held.
    pub fn len(&self) -> usize {
        self.times_us.len()
    }

    /// Whether there is no call.
    pub fn is_empty(&self) -> bool {
        self.times_us.is_empty()
    }

    /// Appends one call (`duration_us` is kept only when every call has one).
    pub fn push(&mut self, time_us: u64, function: u32, duration_us: Option<u64>) {
        self.times_us.push(time_us);
        self.functions.push(function);
        if let Some(d) = duration_us {
            self.durations_us.push(d);
        }
    }

    /// Puts the calls in time order, ties by function then duration: one order for any input order.
    pub fn sort(&mut self) {
        let n = self.len();
        let with_durations = self.durations_us.len() == n;
        let mut order: Vec<(u64, u32, u64)> = (0..n)
            .map(|i| {
                let d = if with_durations {
                    self.durations_us[i]
                } else {
                    0
                };
                (self.times_us[i], self.functions[i], d)
            })
            .collect();
        order.sort_unstable();
        for (i, (t, f, d)) in order.into_iter().enumerate() {
            self.times_us[i] = t;
            self.functions[i] = f;
            if with_durations {
                self.durations_us[i] = d;
            }
        }
    }

    /// The index range of the calls in period `p` (`period_us` long), found by binary search.
    pub fn period(&self, p: usize, period_us: u64) -> std::ops::Range<usize> {
        let start = p as u64 * period_us;
        let from = self.times_us.partition_point(|&t| t < start);
        let to = self.times_us.partition_point(|&t| t < start + period_us);
        from..to
    }

    /// Calls per function and period: a row-major `functions × periods` matrix, as [`crate::Trace`] keeps.
    pub fn counts(&self, functions: usize, periods: usize, period_us: u64) -> Vec<u32> {
        let mut counts = vec![0u32; functions * periods];
        for (&t, &f) in self.times_us.iter().zip(&self.functions) {
            let p = (t / period_us) as usize;
            if p < periods {
                counts[f as usize * periods + p] += 1;
            }
        }
        counts
    }

    /// Keeps the calls whose function `new_index` maps to `Some`, renumbered; order is kept.
    pub fn retain_functions(&mut self, new_index: &[Option<u32>]) {
        let with_durations = self.durations_us.len() == self.len();
        let mut kept = 0;
        for i in 0..self.len() {
            if let Some(f) = new_index[self.functions[i] as usize] {
                self.times_us[kept] = self.times_us[i];
                self.functions[kept] = f;
                if with_durations {
                    self.durations_us[kept] = self.durations_us[i];
                }
                kept += 1;
            }
        }
        self.times_us.truncate(kept);
        self.functions.truncate(kept);
        if with_durations {
            self.durations_us.truncate(kept);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_sliced_counted_and_renumbered() {
        let mut a = Arrivals::default();
        for (t, f, d) in [(5, 1, 7), (0, 0, 3), (5, 0, 9), (12, 1, 1), (10, 2, 2)] {
            a.push(t, f, Some(d));
        }
        a.sort();
        assert_eq!(a.times_us, [0, 5, 5, 10, 12]);
        assert_eq!(a.functions, [0, 0, 1, 2, 1]);
        assert_eq!(a.durations_us, [3, 9, 7, 2, 1]);
        assert_eq!(a.period(0, 10), 0..3);
        assert_eq!(a.period(1, 10), 3..5);
        assert_eq!(a.period(2, 10), 5..5);
        assert_eq!(a.counts(3, 2, 10), [2, 0, 1, 1, 0, 1]);
        a.retain_functions(&[Some(0), None, Some(1)]);
        assert_eq!(a.times_us, [0, 5, 10]);
        assert_eq!(a.functions, [0, 0, 1]);
        assert_eq!(a.durations_us, [3, 9, 2]);
    }
}
