//! Histogram bins: log-spaced (memory, duration, CPU, lag) or fixed (relative error), each with a label
//! that names its range.

/// Edges of consecutive bins `[e_i, e_{i+1})` (the last bin also takes its right edge) and their labels.
/// Values below the first edge count in the first bin, above the last in the last.
#[derive(Debug, Clone, PartialEq)]
pub struct Bins {
    /// `n + 1` ascending edges.
    pub edges: Vec<f64>,
    /// `n` labels, one per bin.
    pub labels: Vec<String>,
}

/// Numbers as tick labels: two significant digits, `k`/`M`/`G` for thousands and up.
pub fn compact(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let (scaled, suffix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let digits = (1 - scaled.abs().log10().floor() as i32).max(0) as usize;
    let mut s = format!("{scaled:.digits$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    s + suffix
}

impl Bins {
    /// Number of bins.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Log-spaced bins from the decade below the smallest value (at least `floor`) to the decade above
    /// the largest, with 1, 2 or 5 bins per decade so there are at most `max_bins`; `None` without values.
    pub fn log_spanning(values: &[f64], floor: f64, max_bins: usize) -> Option<Bins> {
        let (min, max) = values.iter().map(|&v| v.max(floor)).fold(
            None,
            |acc: Option<(f64, f64)>, v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            },
        )?;
        let lo = min.log10().floor() as i32;
        let mut hi = max.log10().ceil() as i32;
        if hi <= lo {
            hi = lo + 1;
        }
        // The largest value sits on the upper edge when it is a power of ten: give it its own decade.
        if 10f64.powi(hi) <= max {
            hi += 1;
        }
        let decades = (hi - lo) as usize;
        let per_decade = [5usize, 2, 1]
            .into_iter()
            .find(|k| decades * k <= max_bins)
            .unwrap_or(1);
        let n = decades * per_decade;
        let edges: Vec<f64> = (0..=n)
            .map(|j| 10f64.powf(f64::from(lo) + j as f64 / per_decade as f64))
            .collect();
        let labels = edges
            .windows(2)
            .map(|w| format!("{}–{}", compact(w[0]), compact(w[1])))
            .collect();
        Some(Bins { edges, labels })
    }

    /// The bin of `v`.
    pub fn index(&self, v: f64) -> usize {
        let n = self.len();
        self.edges.partition_point(|&e| e <= v).clamp(1, n) - 1
    }

    /// How many of `values` fall in each bin.
    pub fn counts(&self, values: &[f64]) -> Vec<f64> {
        let mut counts = vec![0.0; self.len()];
        for &v in values {
            counts[self.index(v)] += 1.0;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_labels() {
        assert_eq!(compact(1.0), "1");
        assert_eq!(compact(1.5849), "1.6");
        assert_eq!(compact(10.0), "10");
        assert_eq!(compact(158.49), "158");
        assert_eq!(compact(2511.9), "2.5k");
        assert_eq!(compact(0.0251), "0.025");
        assert_eq!(compact(1e6), "1M");
        assert_eq!(compact(0.0), "0");
    }

    #[test]
    fn log_bins_cover_every_value_once() {
        let values = [0.0, 0.3, 1.0, 9.99, 10.0, 4000.0];
        let b = Bins::log_spanning(&values, 0.01, 12).unwrap();
        assert_eq!(b.edges.first().copied(), Some(0.01));
        assert!(*b.edges.last().unwrap() > 4000.0);
        assert!(b.len() <= 12);
        assert_eq!(b.counts(&values).iter().sum::<f64>(), 6.0);
        assert_eq!(b.index(0.0), 0);
        // One value, a power of ten: a bin of its own, not an empty figure.
        let one = Bins::log_spanning(&[100.0], 1.0, 12).unwrap();
        assert_eq!(one.counts(&[100.0]).iter().sum::<f64>(), 1.0);
        assert!(Bins::log_spanning(&[], 1.0, 12).is_none());
    }
}
