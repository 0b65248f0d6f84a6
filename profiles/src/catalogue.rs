//! Proxy catalogues: the vSwarm profiler's `profile.json`, and the built-in grid of emulated proxies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use formats::Percentiles;
use serde::{Deserialize, Serialize};

use crate::error::ProfileError;

/// A proxy function and its measured (or, for emulated proxies, constructed) profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Proxy {
    /// Name, unique in its catalogue (a Knative service name for vSwarm proxies).
    pub name: String,
    /// Knative YAML, relative to the profile's directory as in vSwarm; `None` for emulated proxies.
    pub yaml: Option<String>,
    /// CPU utilisation percentiles (percent of one core).
    pub cpu: Percentiles,
    /// Memory percentiles, MB.
    pub memory_mb: Percentiles,
    /// Execution time percentiles, milliseconds.
    pub duration_ms: Percentiles,
}

/// Which metric of a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// CPU utilisation.
    Cpu,
    /// Memory.
    Memory,
    /// Execution time.
    Duration,
}

impl Metric {
    /// The key used in `profile.json`.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::Memory => "memory",
            Metric::Duration => "duration",
        }
    }
}

impl Proxy {
    /// The fraction of a call's wall time the function computes (the rest it waits, holding no CPU): the
    /// median of the `cpu` metric read as a percentage of one core, within 0..=1. vSwarm does not document
    /// the unit of its profiles' `cpu`; its values (3 to 17,000) read as percent put a median proxy at
    /// 69 % and multi-core ones at 100 %.
    pub fn cpu_share(&self) -> f64 {
        let median = self.cpu.quantile(0.5).unwrap_or(100.0);
        if median.is_finite() {
            (median / 100.0).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }

    /// Percentiles of `metric`.
    pub fn metric(&self, metric: Metric) -> &Percentiles {
        match metric {
            Metric::Cpu => &self.cpu,
            Metric::Memory => &self.memory_mb,
            Metric::Duration => &self.duration_ms,
        }
    }

    /// The value of `metric` at percentile `p`, or an error naming the proxy.
    pub fn at(&self, metric: Metric, p: u8) -> Result<f64, ProfileError> {
        self.metric(metric)
            .at(f64::from(p))
            .ok_or_else(|| ProfileError::MissingPercentile {
                proxy: self.name.clone(),
                metric: metric.key(),
                percentile: p,
            })
    }
}

/// A set of proxies, sorted by name (so ties in mapping always resolve the same way).
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    /// Where it was read from; `None` for the built-in catalogue.
    pub source: Option<PathBuf>,
    /// The proxies, sorted by name.
    pub proxies: Vec<Proxy>,
}

/// The `profile.json` form of a proxy (vSwarm profiler output).
#[derive(Debug, Serialize, Deserialize)]
struct ProfileEntry {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    yaml: Option<String>,
    cpu: BTreeMap<String, f64>,
    memory: BTreeMap<String, f64>,
    duration: BTreeMap<String, f64>,
}

impl Catalogue {
    /// Reads a vSwarm `profile.json`: an object of `name → {name, yaml, cpu, memory, duration}`, each
    /// metric an object of `"N-percentile" → value`.
    pub fn from_profile_json(path: &Path) -> Result<Catalogue, ProfileError> {
        // Bytes, not a String: the JSON parser names the line and column of text that is not UTF-8.
        let bytes = std::fs::read(path).map_err(|source| ProfileError::Io {
            path: path.to_owned(),
            source,
        })?;
        let entries: BTreeMap<String, ProfileEntry> =
            serde_json::from_slice(&bytes).map_err(|e| ProfileError::Json {
                path: path.to_owned(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
        if entries.is_empty() {
            return Err(ProfileError::Empty {
                path: path.to_owned(),
            });
        }
        let mut proxies = Vec::with_capacity(entries.len());
        for (key, entry) in entries {
            let metric =
                |metric: Metric, map: &BTreeMap<String, f64>| parse_metric(path, &key, metric, map);
            proxies.push(Proxy {
                cpu: metric(Metric::Cpu, &entry.cpu)?,
                memory_mb: metric(Metric::Memory, &entry.memory)?,
                duration_ms: metric(Metric::Duration, &entry.duration)?,
                // The map key is what vSwarm deploys and names; `name` repeats it.
                name: key,
                yaml: entry.yaml,
            });
        }
        Ok(Catalogue {
            source: Some(path.to_owned()),
            proxies,
        })
    }

    /// `builtin` selects [`Catalogue::builtin`]; anything else is a `profile.json` path.
    pub fn load(spec: &str) -> Result<Catalogue, ProfileError> {
        if spec == "builtin" {
            Ok(Catalogue::builtin())
        } else {
            Catalogue::from_profile_json(Path::new(spec))
        }
    }

    /// The proxy called `name`.
    pub fn get(&self, name: &str) -> Option<&Proxy> {
        // Read catalogues are sorted by name; a trace's own (`of_trace`) is in trace order.
        match self.proxies.binary_search_by(|p| p.name.as_str().cmp(name)) {
            Ok(i) => Some(&self.proxies[i]),
            Err(_) => self.proxies.iter().find(|p| p.name == name),
        }
    }

    /// The catalogue in `profile.json` form (so the built-in one can be inspected and reused).
    pub fn to_profile_json(&self) -> String {
        let entries: BTreeMap<&str, ProfileEntry> = self
            .proxies
            .iter()
            .map(|p| {
                let metric = |pc: &Percentiles| {
                    pc.points()
                        .iter()
                        .map(|&(q, v)| (format!("{q}-percentile"), v))
                        .collect()
                };
                let entry = ProfileEntry {
                    name: p.name.clone(),
                    yaml: p.yaml.clone(),
                    cpu: metric(&p.cpu),
                    memory: metric(&p.memory_mb),
                    duration: metric(&p.duration_ms),
                };
                (p.name.as_str(), entry)
            })
            .collect();
        serde_json::to_string_pretty(&entries).expect("profile serialises")
    }

    /// The built-in catalogue of emulated proxies: every pair of [`BUILTIN_DURATIONS`] nominal durations
    /// and [`BUILTIN_MEMORY`] nominal memory sizes. Each profile is known by construction: the nominal value
    /// is the median, and the other percentiles are fixed multiples of it ([`DURATION_SPREAD`],
    /// [`MEMORY_SPREAD`]), which is exactly what the emulated function server samples from.
    pub fn builtin() -> Catalogue {
        let mut proxies = Vec::new();
        for &d in BUILTIN_DURATIONS.iter() {
            for &m in BUILTIN_MEMORY.iter() {
                let spread = |nominal: f64, factors: &[f64; 9]| {
                    Percentiles::new(
                        SPREAD_PERCENTILES
                            .iter()
                            .zip(factors)
                            .map(|(&p, &f)| (p, nominal * f))
                            .collect(),
                    )
                };
                proxies.push(Proxy {
                    name: builtin_name(d, m),
                    yaml: None,
                    cpu: spread(BUILTIN_CPU_PERCENT, &[1.0; 9]),
                    memory_mb: spread(m, &MEMORY_SPREAD),
                    duration_ms: spread(d, &DURATION_SPREAD),
                });
            }
        }
        proxies.sort_by(|a, b| a.name.cmp(&b.name));
        Catalogue {
            source: None,
            proxies,
        }
    }
}

/// Nominal durations of the built-in proxies, ms: 25 log-spaced steps from 1 ms to 60 s (×1.58 each).
pub static BUILTIN_DURATIONS: std::sync::LazyLock<Vec<f64>> = std::sync::LazyLock::new(|| {
    let steps = 24;
    (0..=steps)
        .map(|i| round_significant(60_000f64.powf(i as f64 / steps as f64), 3))
        .collect()
});

/// Nominal memory of the built-in proxies, MiB: 16 MiB to 4 GiB in powers of two.
pub const BUILTIN_MEMORY: [f64; 9] = [
    16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

/// CPU utilisation of every built-in proxy, percent of a core: a call computes a quarter of its wall time
/// and waits the rest (as a function calling storage or other services does), so an instance serves
/// several calls at once. `--cpu-share` sets another.
pub const BUILTIN_CPU_PERCENT: f64 = 25.0;

/// The percentiles given for each built-in proxy's metrics.
pub const SPREAD_PERCENTILES: [f64; 9] = [0.0, 1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0, 100.0];
/// Built-in duration percentiles as multiples of the nominal duration (a right-skewed spread, as real
/// function durations have).
pub const DURATION_SPREAD: [f64; 9] = [0.80, 0.85, 0.90, 0.95, 1.0, 1.05, 1.15, 1.25, 1.50];
/// Built-in memory percentiles as multiples of the nominal size.
pub const MEMORY_SPREAD: [f64; 9] = [0.90, 0.92, 0.95, 0.98, 1.0, 1.02, 1.05, 1.08, 1.10];

/// `emu-<duration>-<memory>mi`, e.g. `emu-1p58ms-16mi`, `emu-60s-4096mi`: a valid DNS-1035 label.
fn builtin_name(duration_ms: f64, memory_mib: f64) -> String {
    let duration = if duration_ms < 1000.0 {
        format!("{duration_ms}ms")
    } else {
        format!("{}s", round_significant(duration_ms / 1000.0, 3))
    };
    format!("emu-{}-{}mi", duration.replace('.', "p"), memory_mib)
}

fn round_significant(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits - 1 - x.log10().floor() as i32);
    (x * scale).round() / scale
}

fn parse_metric(
    path: &Path,
    proxy: &str,
    metric: Metric,
    map: &BTreeMap<String, f64>,
) -> Result<Percentiles, ProfileError> {
    let mut points = Vec::with_capacity(map.len());
    for (key, &value) in map {
        let p = key
            .strip_suffix("-percentile")
            .and_then(|p| p.parse::<f64>().ok())
            .filter(|p| (0.0..=100.0).contains(p));
        let bad = |reason: &str| ProfileError::BadValue {
            path: path.to_owned(),
            proxy: proxy.to_owned(),
            metric: metric.key(),
            key: key.clone(),
            reason: reason.to_owned(),
        };
        let p =
            p.ok_or_else(|| bad("key is not of the form \"N-percentile\" with N in 0..=100"))?;
        if !value.is_finite() || value < 0.0 {
            return Err(bad("value must be a finite number ≥ 0"));
        }
        points.push((p, value));
    }
    Ok(Percentiles::new(points))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_grid_spans_the_stated_ranges() {
        let c = Catalogue::builtin();
        assert_eq!(
            c.proxies.len(),
            BUILTIN_DURATIONS.len() * BUILTIN_MEMORY.len()
        );
        assert_eq!(BUILTIN_DURATIONS[0], 1.0);
        assert_eq!(*BUILTIN_DURATIONS.last().unwrap(), 60_000.0);
        let names: std::collections::BTreeSet<_> = c.proxies.iter().map(|p| &p.name).collect();
        assert_eq!(names.len(), c.proxies.len(), "names are unique");
        for p in &c.proxies {
            assert!(p.name.len() <= 63);
            assert!(p
                .name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'));
        }
        let p = c.get("emu-60s-4096mi").expect("largest proxy");
        assert_eq!(p.at(Metric::Duration, 50).unwrap(), 60_000.0);
        assert_eq!(p.at(Metric::Memory, 50).unwrap(), 4096.0);
        assert!(c.get("emu-1p58ms-16mi").is_some());
    }

    #[test]
    fn builtin_round_trips_through_profile_json() {
        let c = Catalogue::builtin();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile.json");
        std::fs::write(&path, c.to_profile_json()).unwrap();
        let back = Catalogue::from_profile_json(&path).unwrap();
        assert_eq!(back.proxies.len(), c.proxies.len());
        for (b, o) in back.proxies.iter().zip(&c.proxies) {
            assert!(b == o, "{} differs after the round trip", o.name);
        }
    }
}
