//! Where inside a period a function's invocations land: exactly the trace's count, at microsecond offsets.

use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1};

/// How invocations are spread inside a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IatDistribution {
    /// Sorted independent uniform offsets.
    #[value(alias = "unique")]
    Uniform,
    /// Evenly spaced: the k-th of n at k·P/n.
    Equidistant,
    /// A Poisson process conditioned on the period's count: exponential gaps, scaled so that the n calls
    /// and the gap after the last fill the period exactly.
    Exponential,
}

impl IatDistribution {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            IatDistribution::Uniform => "uniform",
            IatDistribution::Equidistant => "equidistant",
            IatDistribution::Exponential => "exponential",
        }
    }
}

/// Rotates one function's sorted offsets in a period by `phase` µs around the period (invitro's `_shift`):
/// the count and the spacing stay exactly as they were (circularly), the offsets stay sorted and inside
/// `0..period_us`, and the function no longer fires at the period's start.
pub fn rotate(out: &mut [u64], period_us: u64, phase: u64) {
    if out.is_empty() || period_us == 0 {
        return;
    }
    let phase = phase % period_us;
    // The offsets that wrap past the period's end are the last ones; they come first afterwards.
    let wrapped = out.partition_point(|&o| o % period_us + phase < period_us);
    for o in out.iter_mut() {
        *o = (*o % period_us + phase) % period_us;
    }
    out.rotate_left(wrapped);
}

/// The random stream for one function in one period: independent of every other pair, so the result does
/// not depend on the order (or the thread) in which pairs are generated.
pub fn stream(seed: u64, function: u64, period: u64) -> ChaCha8Rng {
    let key = splitmix64(seed ^ splitmix64(function ^ splitmix64(period)));
    ChaCha8Rng::seed_from_u64(key)
}

/// Appends `count` offsets in `0..period_us` to `out`, sorted ascending. Nothing is ever dropped: two
/// invocations may share a microsecond.
pub fn offsets(
    distribution: IatDistribution,
    count: u32,
    period_us: u64,
    rng: &mut impl Rng,
    out: &mut Vec<u64>,
) {
    let n = u64::from(count);
    if n == 0 {
        return;
    }
    let start = out.len();
    match distribution {
        IatDistribution::Equidistant => {
            out.extend(
                (0..n).map(|k| (u128::from(k) * u128::from(period_us) / u128::from(n)) as u64),
            );
        }
        IatDistribution::Uniform => {
            out.extend((0..n).map(|_| rng.random_range(0..period_us)));
            out[start..].sort_unstable();
        }
        IatDistribution::Exponential => {
            // n + 1 gaps: the last one runs from the final call to the end of the period.
            let mut sums = Vec::with_capacity(count as usize);
            let mut total = 0.0f64;
            for _ in 0..n {
                let gap: f64 = Exp1.sample(rng);
                total += gap;
                sums.push(total);
            }
            let sample: f64 = Exp1.sample(rng);
            total += sample;
            let last = period_us - 1;
            out.extend(
                sums.iter()
                    .map(|s| ((s / total * period_us as f64) as u64).min(last)),
            );
        }
    }
}

/// SplitMix64's finaliser: a fast bijective mix, so nearby (seed, function, period) give unrelated streams.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [IatDistribution; 3] = [
        IatDistribution::Uniform,
        IatDistribution::Equidistant,
        IatDistribution::Exponential,
    ];

    #[test]
    fn exact_count_sorted_and_in_range() {
        for d in ALL {
            for &(n, period) in &[
                (0u32, 60_000_000u64),
                (1, 60_000_000),
                (1000, 1_000_000),
                (5000, 1000),
            ] {
                let mut out = vec![];
                offsets(d, n, period, &mut stream(7, 1, 2), &mut out);
                assert_eq!(out.len(), n as usize, "{d:?}");
                assert!(out.windows(2).all(|w| w[0] <= w[1]), "{d:?} sorted");
                assert!(out.iter().all(|&o| o < period), "{d:?} in range");
            }
        }
    }

    #[test]
    fn rotation_keeps_count_spacing_and_order() {
        let mut out = vec![0, 15_000_000, 30_000_000, 45_000_000];
        rotate(&mut out, 60_000_000, 50_000_000);
        assert_eq!(out, vec![5_000_000, 20_000_000, 35_000_000, 50_000_000]);
        let mut out = vec![0, 15_000_000, 30_000_000, 45_000_000];
        rotate(&mut out, 60_000_000, 10_000_000);
        assert_eq!(out, vec![10_000_000, 25_000_000, 40_000_000, 55_000_000]);
        let mut out = vec![7, 7, 59_999_999];
        rotate(&mut out, 60_000_000, 1);
        assert_eq!(out, vec![0, 8, 8]);
        let mut none: Vec<u64> = vec![];
        rotate(&mut none, 60_000_000, 5);
        assert!(none.is_empty());
    }

    #[test]
    fn equidistant_is_evenly_spaced() {
        let mut out = vec![];
        offsets(
            IatDistribution::Equidistant,
            4,
            60_000_000,
            &mut stream(0, 0, 0),
            &mut out,
        );
        assert_eq!(out, vec![0, 15_000_000, 30_000_000, 45_000_000]);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |s, f, p| {
            let mut out = vec![];
            offsets(
                IatDistribution::Uniform,
                10,
                1_000_000,
                &mut stream(s, f, p),
                &mut out,
            );
            out
        };
        assert_eq!(draw(1, 2, 3), draw(1, 2, 3));
        assert_ne!(draw(1, 2, 3), draw(1, 3, 2));
        assert_ne!(draw(1, 2, 3), draw(2, 2, 3));
    }

    #[test]
    fn exponential_gaps_have_the_poisson_mean() {
        // Conditioned on n arrivals in P, the mean gap is P/(n+1).
        let mut out = vec![];
        offsets(
            IatDistribution::Exponential,
            100_000,
            60_000_000,
            &mut stream(3, 0, 0),
            &mut out,
        );
        let mean_gap = (out[out.len() - 1] - out[0]) as f64 / (out.len() - 1) as f64;
        assert!((mean_gap - 600.0).abs() < 12.0, "mean gap {mean_gap}");
        let mean_first = out[0] as f64;
        assert!(mean_first < 6000.0);
    }
}
