//! Calls placed one by one: the exact start times an invocation trace records (Azure 2021), or those a
//! load shape makes (RPS, bursts). Where a [`crate::Trace`] has them, they, not its counts and an IAT
//! distribution, say when each call is made; the counts are derived from them.
//!
//! They are never all held: a [`CallSource`] makes them again on each pass, in time order, and a pass is
//! read period by period ([`ArrivalStream::calls_before`]). Memory is what the source keeps between two
//! periods (for a file ordered by end time, the calls of its reorder window) plus the period being read.

use std::sync::Arc;

use crate::error::TraceError;

/// One call: 16 bytes, so that a busy period's calls fit and sort in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arrival {
    /// Microseconds from the start of the window's first period.
    pub time_us: u64,
    /// Index of the call's function in the trace.
    pub function: u32,
    /// What the call ran for, µs (at most `u32::MAX`, 71 minutes), when the trace records it; else 0.
    pub duration_us: u32,
}

/// One pass over a source's calls.
pub trait CallStream {
    /// Appends to `out` every call before `end_us` that this pass has not given yet, in time order (ties
    /// by function, then duration). Called with growing `end_us`.
    fn calls_before(&mut self, end_us: u64, out: &mut Vec<Arrival>) -> Result<(), TraceError>;
}

/// Where calls placed one by one come from. Every pass yields the same calls: a load is made in two
/// (one counts, one places) without holding them.
pub trait CallSource: Send + Sync + std::fmt::Debug {
    /// A new pass from the first call.
    fn pass(&self) -> Result<Box<dyn CallStream + Send + '_>, TraceError>;
}

/// Every call of a window, in time order (ties by function, then duration), made again on each pass.
#[derive(Debug, Clone)]
pub struct Arrivals {
    source: Arc<dyn CallSource>,
    /// The index each of the source's functions now has (`None`: left out), once functions are retained.
    renumber: Option<Arc<[Option<u32>]>>,
    /// Whether `duration_us` is a recorded duration (Azure 2021) rather than unknown.
    pub recorded_durations: bool,
}

impl Arrivals {
    /// The calls of `source`.
    pub fn new(source: impl CallSource + 'static, recorded_durations: bool) -> Arrivals {
        Arrivals {
            source: Arc::new(source),
            renumber: None,
            recorded_durations,
        }
    }

    /// A new pass over the calls, from the first.
    pub fn stream(&self) -> Result<ArrivalStream<'_>, TraceError> {
        Ok(ArrivalStream {
            inner: self.source.pass()?,
            renumber: self.renumber.as_deref(),
        })
    }

    /// Calls per function and period in one pass: a row-major `functions × periods` matrix, as
    /// [`crate::Trace`] keeps; calls after the last period are not counted.
    pub fn counts(
        &self,
        functions: usize,
        periods: usize,
        period_us: u64,
    ) -> Result<Vec<u32>, TraceError> {
        let mut counts = vec![0u32; functions * periods];
        let mut stream = self.stream()?;
        let mut calls = Vec::new();
        for p in 0..periods {
            calls.clear();
            stream.calls_before((p as u64 + 1) * period_us, &mut calls)?;
            for c in &calls {
                counts[c.function as usize * periods + p] += 1;
            }
        }
        Ok(counts)
    }

    /// Keeps the calls whose function `new_index` maps to `Some`, renumbered; order is kept (renumbering
    /// keeps the functions' relative order, so ties stay in order too).
    pub fn retain_functions(&mut self, new_index: &[Option<u32>]) {
        let composed: Arc<[Option<u32>]> = match &self.renumber {
            Some(before) => before
                .iter()
                .map(|&f| f.and_then(|f| new_index[f as usize]))
                .collect(),
            None => new_index.into(),
        };
        self.renumber = Some(composed);
    }
}

/// A pass over [`Arrivals`], read period by period.
pub struct ArrivalStream<'a> {
    inner: Box<dyn CallStream + Send + 'a>,
    renumber: Option<&'a [Option<u32>]>,
}

impl ArrivalStream<'_> {
    /// Appends to `out` every call before `end_us` not given yet, in time order, numbered as the trace's
    /// functions now are.
    pub fn calls_before(&mut self, end_us: u64, out: &mut Vec<Arrival>) -> Result<(), TraceError> {
        let from = out.len();
        self.inner.calls_before(end_us, out)?;
        if let Some(renumber) = self.renumber {
            let mut kept = from;
            for i in from..out.len() {
                if let Some(f) = renumber[out[i].function as usize] {
                    out[kept] = Arrival {
                        function: f,
                        ..out[i]
                    };
                    kept += 1;
                }
            }
            out.truncate(kept);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls held in memory, in order: the source the tests give.
    #[derive(Debug)]
    struct Held(Vec<Arrival>);

    impl CallSource for Held {
        fn pass(&self) -> Result<Box<dyn CallStream + Send + '_>, TraceError> {
            Ok(Box::new(HeldPass {
                calls: &self.0,
                next: 0,
            }))
        }
    }

    struct HeldPass<'a> {
        calls: &'a [Arrival],
        next: usize,
    }

    impl CallStream for HeldPass<'_> {
        fn calls_before(&mut self, end_us: u64, out: &mut Vec<Arrival>) -> Result<(), TraceError> {
            let rest = &self.calls[self.next..];
            let n = rest.partition_point(|c| c.time_us < end_us);
            out.extend_from_slice(&rest[..n]);
            self.next += n;
            Ok(())
        }
    }

    /// `calls`, put in order, as arrivals.
    fn held(mut calls: Vec<Arrival>) -> Arrivals {
        calls.sort_unstable();
        Arrivals::new(Held(calls), true)
    }

    #[test]
    fn streamed_by_period_counted_and_renumbered() {
        let call = |time_us, function, duration_us| Arrival {
            time_us,
            function,
            duration_us,
        };
        let mut a = held(
            [(5, 1, 7), (0, 0, 3), (5, 0, 9), (12, 1, 1), (10, 2, 2)]
                .map(|(t, f, d)| call(t, f, d))
                .to_vec(),
        );
        let flat = |a: &Arrivals, ends: &[u64]| -> Vec<Vec<(u64, u32, u32)>> {
            let mut stream = a.stream().unwrap();
            ends.iter()
                .map(|&end| {
                    let mut out = Vec::new();
                    stream.calls_before(end, &mut out).unwrap();
                    out.iter()
                        .map(|c| (c.time_us, c.function, c.duration_us))
                        .collect()
                })
                .collect()
        };
        assert_eq!(
            flat(&a, &[10, 20, 30]),
            [
                vec![(0, 0, 3), (5, 0, 9), (5, 1, 7)],
                vec![(10, 2, 2), (12, 1, 1)],
                vec![]
            ]
        );
        assert_eq!(a.counts(3, 2, 10).unwrap(), [2, 0, 1, 1, 0, 1]);
        a.retain_functions(&[Some(0), None, Some(1)]);
        assert_eq!(
            flat(&a, &[10, 20]),
            [vec![(0, 0, 3), (5, 0, 9)], vec![(10, 1, 2)]]
        );
        // Retaining again composes with the first renumbering.
        a.retain_functions(&[None, Some(0)]);
        assert_eq!(flat(&a, &[20]), [vec![(10, 0, 2)]]);
    }
}
