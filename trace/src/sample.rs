//! `loadgen sample`: representative, nested samples of a trace's functions (rayon).
//!
//! A sample's distance from the original is, per minute, the 1-Wasserstein distance between the
//! distribution over functions of (a) invocations in that minute and (b) resource use in that minute
//! (invocations × average duration × average memory), each divided by the original's mean that minute
//! so both weigh alike; the two are averaged, then averaged over the minutes in which the original has
//! any invocation. Of `trials` random subsets of a size, the closest wins. Sizes are drawn largest first,
//! each smaller one from the previous winner, so sweeping sizes adds load monotonically. Every trial has
//! its own random stream keyed by (seed, size, trial): results do not depend on the number of threads.

use crate::Trace;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// One minute of a distribution over functions: its positive values sorted, and how many are zero.
/// Values are `f32` (7 significant digits are plenty for a distance) so a full day's reference fits in
/// half the memory.
#[derive(Debug, Clone, Default)]
pub struct MinuteDistribution {
    /// Positive values, ascending.
    pub positive: Vec<f32>,
    /// Values equal to zero.
    pub zeros: usize,
}

impl MinuteDistribution {
    /// From raw values (any order, all ≥ 0).
    pub fn from_values(values: impl IntoIterator<Item = f64>) -> MinuteDistribution {
        let mut d = MinuteDistribution::default();
        for v in values {
            if v > 0.0 {
                d.positive.push(v as f32);
            } else {
                d.zeros += 1;
            }
        }
        d.positive.sort_unstable_by(f32::total_cmp);
        d.positive.shrink_to_fit();
        d
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.positive.len() + self.zeros
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Mean of the values.
    pub fn mean(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.positive.iter().map(|&v| f64::from(v)).sum::<f64>() / self.len() as f64
        }
    }
}

/// The 1-Wasserstein distance between two distributions of non-negative values: the area between their
/// cumulative distribution functions, ∫ |F_a − F_b| dx over x ≥ 0.
pub fn wasserstein(a: &MinuteDistribution, b: &MinuteDistribution) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    let (pa, pb) = (&a.positive, &b.positive);
    let (mut i, mut j) = (0usize, 0usize);
    let mut x = 0.0;
    let mut area = 0.0;
    loop {
        let next = match (pa.get(i), pb.get(j)) {
            (Some(&u), Some(&v)) => u.min(v),
            (Some(&u), None) => u,
            (None, Some(&v)) => v,
            (None, None) => break,
        };
        let fa = (a.zeros + i) as f64 / na;
        let fb = (b.zeros + j) as f64 / nb;
        area += (fa - fb).abs() * (f64::from(next) - x);
        x = f64::from(next);
        while pa.get(i) == Some(&next) {
            i += 1;
        }
        while pb.get(j) == Some(&next) {
            j += 1;
        }
    }
    area
}

/// Per minute, the original's distributions of invocations and of resource use, and their means.
#[derive(Debug, Clone)]
pub struct Reference {
    invocations: Vec<MinuteDistribution>,
    resources: Vec<MinuteDistribution>,
    invocation_means: Vec<f64>,
    resource_means: Vec<f64>,
}

/// Resource use of one invocation of function `f`: average duration (s) × average memory (MB).
fn weight(trace: &Trace, f: usize) -> f64 {
    let function = &trace.functions[f];
    function.duration_avg_ms / 1e3 * function.memory_avg_mb
}

impl Reference {
    /// The distributions of `original`, minute by minute.
    pub fn of(original: &Trace) -> Reference {
        let weights: Vec<f64> = (0..original.functions.len())
            .map(|f| weight(original, f))
            .collect();
        let per_minute: Vec<(MinuteDistribution, MinuteDistribution)> = (0..original.periods)
            .into_par_iter()
            .map(|m| {
                let counts = (0..original.functions.len()).map(|f| original.counts(f)[m]);
                let inv = MinuteDistribution::from_values(counts.clone().map(f64::from));
                let res = MinuteDistribution::from_values(
                    counts.zip(&weights).map(|(c, w)| f64::from(c) * w),
                );
                (inv, res)
            })
            .collect();
        let (invocations, resources): (Vec<_>, Vec<_>) = per_minute.into_iter().unzip();
        Reference {
            invocation_means: invocations.iter().map(MinuteDistribution::mean).collect(),
            resource_means: resources.iter().map(MinuteDistribution::mean).collect(),
            invocations,
            resources,
        }
    }

    /// Minutes covered.
    pub fn minutes(&self) -> usize {
        self.invocations.len()
    }

    /// Distance of the functions `chosen` of `source` (same minutes) from this reference.
    pub fn distance(&self, source: &Trace, chosen: &[usize]) -> f64 {
        let minutes = self.minutes();
        let mut inv: Vec<Vec<f32>> = vec![Vec::new(); minutes];
        let mut res: Vec<Vec<f32>> = vec![Vec::new(); minutes];
        for &f in chosen {
            let w = weight(source, f);
            for (m, &c) in source.counts(f).iter().enumerate().take(minutes) {
                if c > 0 {
                    inv[m].push(c as f32);
                    res[m].push((f64::from(c) * w) as f32);
                }
            }
        }
        let mut total = 0.0;
        let mut counted = 0usize;
        for m in 0..minutes {
            let (mi, mr) = (self.invocation_means[m], self.resource_means[m]);
            if mi == 0.0 {
                continue;
            }
            let zeros = chosen.len() - inv[m].len();
            let sample_inv = sorted(std::mem::take(&mut inv[m]), zeros);
            let sample_res = sorted(std::mem::take(&mut res[m]), zeros);
            let di = wasserstein(&self.invocations[m], &sample_inv) / mi;
            let dr = if mr > 0.0 {
                wasserstein(&self.resources[m], &sample_res) / mr
            } else {
                0.0
            };
            total += (di + dr) / 2.0;
            counted += 1;
        }
        if counted == 0 {
            0.0
        } else {
            total / counted as f64
        }
    }
}

fn sorted(mut positive: Vec<f32>, zeros: usize) -> MinuteDistribution {
    positive.sort_unstable_by(f32::total_cmp);
    MinuteDistribution { positive, zeros }
}

/// Sizes and trials of a sweep.
#[derive(Debug, Clone, Copy)]
pub struct SampleOptions {
    /// Smallest size, functions.
    pub min: usize,
    /// Step between sizes.
    pub step: usize,
    /// Largest size (the sizes are min, min+step, … up to it).
    pub max: usize,
    /// Random subsets tried per size.
    pub trials: usize,
    /// Seed.
    pub seed: u64,
}

impl SampleOptions {
    /// The sizes, ascending; an error says what is wrong with the flags for a source of `available`
    /// functions.
    pub fn sizes(&self, available: usize) -> Result<Vec<usize>, String> {
        if self.min == 0 {
            return Err("--min must be at least 1".into());
        }
        if self.step == 0 {
            return Err("--step must be at least 1".into());
        }
        if self.max < self.min {
            return Err(format!(
                "--max ({}) is below --min ({})",
                self.max, self.min
            ));
        }
        if self.trials == 0 {
            return Err("--trials must be at least 1".into());
        }
        let sizes: Vec<usize> = (self.min..=self.max).step_by(self.step).collect();
        let largest = *sizes.last().expect("min <= max");
        if largest > available {
            return Err(format!(
                "a sample of {largest} functions is asked for, but the source has only {available}"
            ));
        }
        Ok(sizes)
    }
}

/// The winner of one size.
#[derive(Debug, Clone)]
pub struct SizeResult {
    /// Functions in the sample.
    pub size: usize,
    /// Index of the winning trial.
    pub best_trial: usize,
    /// Distance of every trial.
    pub distances: Vec<f64>,
    /// The winning sample: indices into the source, ascending.
    pub chosen: Vec<usize>,
}

impl SizeResult {
    /// The winner's distance.
    pub fn best_distance(&self) -> f64 {
        self.distances[self.best_trial]
    }
}

/// A trial's random stream: independent of thread count and of the other trials.
fn trial_rng(seed: u64, size: usize, trial: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((size as u64) << 32) | trial as u64);
    rng
}

/// Runs the nested sweep; results ascending by size. `on_size` is called after each size (largest first).
pub fn sweep(
    source: &Trace,
    reference: &Reference,
    options: &SampleOptions,
    mut on_size: impl FnMut(&SizeResult),
) -> Result<Vec<SizeResult>, String> {
    if reference.minutes() != source.periods {
        return Err(format!(
            "the original covers {} minutes and the source {}: they must cover the same excerpt",
            reference.minutes(),
            source.periods
        ));
    }
    let sizes = options.sizes(source.functions.len())?;
    let mut pool: Vec<usize> = (0..source.functions.len()).collect();
    let mut results = Vec::with_capacity(sizes.len());
    for &size in sizes.iter().rev() {
        let trials: Vec<(f64, Vec<usize>)> = (0..options.trials)
            .into_par_iter()
            .map(|trial| {
                let mut rng = trial_rng(options.seed, size, trial);
                let mut chosen: Vec<usize> = rand::seq::index::sample(&mut rng, pool.len(), size)
                    .into_iter()
                    .map(|i| pool[i])
                    .collect();
                chosen.sort_unstable();
                (reference.distance(source, &chosen), chosen)
            })
            .collect();
        // The first of equal distances wins, whatever order the threads finished in.
        let best_trial = (0..trials.len())
            .min_by(|&a, &b| trials[a].0.total_cmp(&trials[b].0).then(a.cmp(&b)))
            .expect("at least one trial");
        let distances = trials.iter().map(|t| t.0).collect();
        let chosen = trials.into_iter().nth(best_trial).expect("best exists").1;
        pool.clone_from(&chosen);
        let result = SizeResult {
            size,
            best_trial,
            distances,
            chosen,
        };
        on_size(&result);
        results.push(result);
    }
    results.reverse();
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ∫₀¹ |Q_a(u) − Q_b(u)| du on a grid fine enough to be exact for these sizes: an independent
    /// definition of the same distance.
    fn by_quantiles(a: &[f64], b: &[f64]) -> f64 {
        let mut a = a.to_vec();
        let mut b = b.to_vec();
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let grid = a.len() * b.len();
        (0..grid)
            .map(|k| {
                let u = (k as f64 + 0.5) / grid as f64;
                let qa = a[((u * a.len() as f64) as usize).min(a.len() - 1)];
                let qb = b[((u * b.len() as f64) as usize).min(b.len() - 1)];
                (qa - qb).abs()
            })
            .sum::<f64>()
            / grid as f64
    }

    fn d(v: &[f64]) -> MinuteDistribution {
        MinuteDistribution::from_values(v.iter().copied())
    }

    #[test]
    fn wasserstein_matches_hand_made_cases() {
        // Moving all mass from 0 to 1 costs 1.
        assert_eq!(wasserstein(&d(&[0.0]), &d(&[1.0])), 1.0);
        // Same distribution: 0, whatever the number of points.
        assert_eq!(wasserstein(&d(&[0.0, 2.0]), &d(&[0.0, 0.0, 2.0, 2.0])), 0.0);
        // {0, 0, 3} vs {1}: |F| area = 2/3·1 + 1/3·2 = 4/3.
        assert!((wasserstein(&d(&[0.0, 0.0, 3.0]), &d(&[1.0])) - 4.0 / 3.0).abs() < 1e-12);
        // Symmetric.
        let (a, b) = (d(&[1.0, 5.0, 2.0]), d(&[0.0, 4.0]));
        assert_eq!(wasserstein(&a, &b), wasserstein(&b, &a));
        let cases: [(&[f64], &[f64]); 4] = [
            (&[1.0, 2.0, 3.0], &[2.0, 2.0]),
            (&[0.0, 0.0, 7.0, 1.5], &[3.0, 0.0, 2.5]),
            (&[10.0], &[0.0, 0.0, 0.0, 20.0, 5.0]),
            (&[0.5, 0.5, 0.25, 4.0, 0.0, 9.0], &[1.0, 8.0, 0.0]),
        ];
        for (a, b) in cases {
            let fast = wasserstein(&d(a), &d(b));
            let slow = by_quantiles(a, b);
            assert!((fast - slow).abs() < 1e-9, "{a:?} {b:?}: {fast} vs {slow}");
        }
    }

    #[test]
    fn sizes_are_checked() {
        let o = |min, step, max, trials| SampleOptions {
            min,
            step,
            max,
            trials,
            seed: 1,
        };
        assert_eq!(o(10, 10, 35, 2).sizes(100).unwrap(), vec![10, 20, 30]);
        assert!(o(0, 1, 5, 1).sizes(10).unwrap_err().contains("--min"));
        assert!(o(1, 0, 5, 1).sizes(10).unwrap_err().contains("--step"));
        assert!(o(5, 1, 4, 1).sizes(10).unwrap_err().contains("below --min"));
        assert!(o(1, 1, 5, 0).sizes(10).unwrap_err().contains("--trials"));
        assert!(o(1, 1, 50, 1).sizes(10).unwrap_err().contains("only 10"));
    }
}
