//! A size in bytes as a user writes it, fixed or drawn: `4096`, `64KiB`, `uniform:1KiB:1MiB`,
//! `exponential:16KiB`, `lognormal:8KiB:1.5` (median and σ of the log). Payloads and, later, the data
//! between a workflow's functions are sized with it.

use std::fmt;
use std::str::FromStr;

use rand_distr::Distribution;

/// The largest size any spec may give or draw: 64 MiB (a request body the emulated function holds whole).
pub const MAX_SIZE_BYTES: u64 = 64 << 20;

/// A size, fixed or drawn from a distribution (each draw clamped to `0..=`[`MAX_SIZE_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeDistribution {
    /// Always this many bytes.
    Fixed(u64),
    /// Uniform over `min..=max` bytes.
    Uniform {
        /// Smallest.
        min: u64,
        /// Largest.
        max: u64,
    },
    /// Exponential with this mean, bytes.
    Exponential {
        /// Mean.
        mean: f64,
    },
    /// Log-normal with this median (bytes) and σ of the natural log.
    LogNormal {
        /// Median.
        median: f64,
        /// σ of `ln(size)`.
        sigma: f64,
    },
}

impl SizeDistribution {
    /// One size.
    pub fn sample(&self, rng: &mut impl rand::Rng) -> u64 {
        let drawn = match *self {
            SizeDistribution::Fixed(n) => return n,
            SizeDistribution::Uniform { min, max } => return rng.random_range(min..=max),
            SizeDistribution::Exponential { mean } => {
                rand_distr::Exp::new(1.0 / mean).map_or(mean, |d| d.sample(rng))
            }
            SizeDistribution::LogNormal { median, sigma } => {
                rand_distr::LogNormal::new(median.ln(), sigma).map_or(median, |d| d.sample(rng))
            }
        };
        (drawn.round() as u64).min(MAX_SIZE_BYTES)
    }

    /// The mean size, bytes (before the clamp to [`MAX_SIZE_BYTES`]).
    pub fn mean(&self) -> f64 {
        match *self {
            SizeDistribution::Fixed(n) => n as f64,
            SizeDistribution::Uniform { min, max } => (min as f64 + max as f64) / 2.0,
            SizeDistribution::Exponential { mean } => mean,
            SizeDistribution::LogNormal { median, sigma } => median * (sigma * sigma / 2.0).exp(),
        }
    }
}

/// A byte count: digits with an optional `B`, `KiB`, `MiB` (or `k`/`KB` = 1000, `MB` = 10⁶) suffix.
fn parse_bytes(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "k" | "KB" | "kB" => 1e3,
        "MB" => 1e6,
        other => {
            return Err(format!(
                "`{other}` is not a unit of size (B, KiB, MiB, KB, MB)"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size in bytes"))?;
    let bytes = value * scale;
    if !bytes.is_finite() || bytes > MAX_SIZE_BYTES as f64 {
        return Err(format!(
            "`{text}` is more than the largest size, {MAX_SIZE_BYTES} bytes (64 MiB)"
        ));
    }
    Ok(bytes)
}

fn whole(text: &str) -> Result<u64, String> {
    let bytes = parse_bytes(text)?;
    if bytes.fract() != 0.0 {
        return Err(format!("`{text}` is not a whole number of bytes"));
    }
    Ok(bytes as u64)
}

impl FromStr for SizeDistribution {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let parts: Vec<&str> = spec.split(':').collect();
        let positive = |text: &str| -> Result<f64, String> {
            let v = parse_bytes(text)?;
            if v > 0.0 {
                Ok(v)
            } else {
                Err(format!("`{text}` must be above 0"))
            }
        };
        let usage = || {
            format!(
                "`{spec}`: a size is BYTES, uniform:MIN:MAX, exponential:MEAN or lognormal:MEDIAN:SIGMA \
                 (bytes with an optional KiB or MiB)"
            )
        };
        let with = |e: String| format!("`{spec}`: {e}");
        match parts.as_slice() {
            [n] => whole(n).map(SizeDistribution::Fixed).map_err(with),
            ["uniform", min, max] => {
                let (min, max) = (whole(min).map_err(with)?, whole(max).map_err(with)?);
                if min > max {
                    return Err(with(format!(
                        "the minimum {min} is above the maximum {max}"
                    )));
                }
                Ok(SizeDistribution::Uniform { min, max })
            }
            ["exponential", mean] => Ok(SizeDistribution::Exponential {
                mean: positive(mean).map_err(with)?,
            }),
            ["lognormal", median, sigma] => {
                let sigma: f64 = sigma
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 10.0)
                    .ok_or_else(|| with(format!("σ `{sigma}` is not a number from 0 to 10")))?;
                Ok(SizeDistribution::LogNormal {
                    median: positive(median).map_err(with)?,
                    sigma,
                })
            }
            _ => Err(usage()),
        }
    }
}

impl fmt::Display for SizeDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeDistribution::Fixed(n) => write!(f, "{n}"),
            SizeDistribution::Uniform { min, max } => write!(f, "uniform:{min}:{max}"),
            SizeDistribution::Exponential { mean } => write!(f, "exponential:{mean}"),
            SizeDistribution::LogNormal { median, sigma } => {
                write!(f, "lognormal:{median}:{sigma}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn specs_parse_with_units_and_bad_ones_say_why() {
        assert_eq!("4096".parse(), Ok(SizeDistribution::Fixed(4096)));
        assert_eq!("64KiB".parse(), Ok(SizeDistribution::Fixed(65536)));
        assert_eq!(
            "uniform:1KiB:1MiB".parse(),
            Ok(SizeDistribution::Uniform {
                min: 1024,
                max: 1 << 20
            })
        );
        assert_eq!(
            "lognormal:8KiB:1.5".parse(),
            Ok(SizeDistribution::LogNormal {
                median: 8192.0,
                sigma: 1.5
            })
        );
        for (bad, says) in [
            ("12x", "not a unit"),
            ("uniform:9:3", "above the maximum"),
            ("exponential:0", "above 0"),
            ("lognormal:1KiB:-1", "σ"),
            ("65MiB", "largest size"),
            ("normal:3", "a size is BYTES"),
            ("1.5", "whole number"),
        ] {
            let e = bad.parse::<SizeDistribution>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn draws_follow_their_distribution() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 20_000;
        for spec in [
            "uniform:1000:3000",
            "exponential:5000",
            "lognormal:4096:0.5",
        ] {
            let d: SizeDistribution = spec.parse().unwrap();
            let mean = (0..n).map(|_| d.sample(&mut rng) as f64).sum::<f64>() / n as f64;
            let want = d.mean();
            assert!(
                (mean - want).abs() / want < 0.03,
                "{spec}: mean {mean}, expected {want}"
            );
        }
        let d: SizeDistribution = "uniform:10:12".parse().unwrap();
        assert!((0..1000).all(|_| (10..=12).contains(&d.sample(&mut rng))));
    }
}
