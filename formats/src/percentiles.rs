//! A distribution known by a few of its percentiles: what a trace gives of a function's durations and
//! memory, and what a profile gives of a proxy's. Shared here so the function server reads profiles
//! without the trace engine.

/// A distribution known by a few of its percentiles, sorted by percentile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Percentiles {
    points: Vec<(f64, f64)>,
}

impl Percentiles {
    /// Builds from `(percentile, value)` pairs; percentiles in 0..=100, in any order.
    pub fn new(mut points: Vec<(f64, f64)>) -> Self {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        Percentiles { points }
    }

    /// One value at every percentile: a fixed quantity (a cold start of N ms, a fixed duration).
    pub fn constant(value: f64) -> Self {
        Percentiles::new(vec![(0.0, value), (100.0, value)])
    }

    /// The one value of a distribution that has a single value at every percentile it gives.
    pub fn as_constant(&self) -> Option<f64> {
        let (first, rest) = self.points.split_first()?;
        rest.iter().all(|p| p.1 == first.1).then_some(first.1)
    }

    /// The value given for percentile `p` exactly, if the distribution has it.
    pub fn at(&self, p: f64) -> Option<f64> {
        self.points.iter().find(|(q, _)| *q == p).map(|&(_, v)| v)
    }

    /// The `(percentile, value)` pairs, sorted by percentile.
    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }

    /// Inverse CDF by linear interpolation between the known percentiles: `u` in [0, 1].
    ///
    /// Below the lowest known percentile the lowest value is returned, above the highest the highest:
    /// nothing is extrapolated, so a sample never leaves the range the profile states.
    pub fn quantile(&self, u: f64) -> Option<f64> {
        let p = u.clamp(0.0, 1.0) * 100.0;
        let (first, last) = (self.points.first()?, self.points.last()?);
        if p <= first.0 {
            return Some(first.1);
        }
        if p >= last.0 {
            return Some(last.1);
        }
        let i = self.points.partition_point(|(q, _)| *q <= p);
        let ((p0, v0), (p1, v1)) = (self.points[i - 1], self.points[i]);
        Some(v0 + (v1 - v0) * (p - p0) / (p1 - p0))
    }

    /// Multiplies every value by `factor` (app memory divided among its functions).
    pub fn scaled(&self, factor: f64) -> Self {
        Percentiles {
            points: self.points.iter().map(|&(p, v)| (p, v * factor)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_is_one_value_everywhere() {
        let c = Percentiles::constant(7.0);
        assert_eq!(
            (c.quantile(0.0), c.quantile(0.5), c.as_constant()),
            (Some(7.0), Some(7.0), Some(7.0))
        );
        let spread = Percentiles::new(vec![(50.0, 1.0), (99.0, 2.0)]);
        assert_eq!(spread.as_constant(), None);
        assert_eq!(Percentiles::default().as_constant(), None);
    }

    #[test]
    fn quantile_interpolates_and_clamps() {
        let p = Percentiles::new(vec![(50.0, 10.0), (0.0, 0.0), (100.0, 20.0)]);
        assert_eq!(p.quantile(0.25), Some(5.0));
        assert_eq!(p.quantile(0.75), Some(15.0));
        assert_eq!(p.quantile(-1.0), Some(0.0));
        assert_eq!(p.quantile(2.0), Some(20.0));
        assert_eq!(p.at(50.0), Some(10.0));
        assert_eq!(p.at(75.0), None);
        let partial = Percentiles::new(vec![(25.0, 1.0), (75.0, 3.0)]);
        assert_eq!(partial.quantile(0.1), Some(1.0));
        assert_eq!(partial.quantile(0.5), Some(2.0));
        assert_eq!(Percentiles::default().quantile(0.5), None);
    }
}
