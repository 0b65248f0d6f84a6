//! Mapping trace functions onto the proxies of a catalogue: Euclidean distance in (ln memory,
//! ln duration) at one percentile, optimal one-to-one (Kuhn–Munkres) or nearest per function;
//! [`MappingFile`] is `mapping.json`, the record of a mapping. [`own_catalogue`] is the other way: a
//! catalogue of the trace's own functions (`-p trace`), whose mapping is the identity.
//!
//! Apart from `profiles` so that the function server, which reads catalogues, never builds the trace
//! engine.

use std::path::Path;

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use trace::{Function, FunctionId, Trace, DURATION_PERCENTILES, MEMORY_PERCENTILES};

use profiles::{Catalogue, Metric, ProfileError, Proxy, BUILTIN_CPU_PERCENT};
use trace::Percentiles;

/// Memory below this (MB) counts as this much: the trace has zeros, and ln 0 is −∞.
pub const MEMORY_FLOOR_MB: f64 = 1.0;
/// Durations below this (ms) count as this much (1 µs): the trace has zero-duration functions.
pub const DURATION_FLOOR_MS: f64 = 0.001;
/// Costs are scaled to integers for Kuhn–Munkres; 1e-6 in log space is far below any real difference.
const COST_SCALE: f64 = 1e6;

/// A function's or proxy's position for mapping.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Memory, MB.
    pub memory_mb: f64,
    /// Execution time, ms.
    pub duration_ms: f64,
}

impl Point {
    fn log(self) -> (f64, f64) {
        (
            self.memory_mb.max(MEMORY_FLOOR_MB).ln(),
            self.duration_ms.max(DURATION_FLOOR_MS).ln(),
        )
    }
}

/// Distance between two points: Euclidean in (ln memory, ln duration), with the floors applied.
pub fn cost(a: Point, b: Point) -> f64 {
    log_distance(a.log(), b.log())
}

/// Euclidean distance between two points already in log space ([`Point::log`]).
fn log_distance((am, ad): (f64, f64), (bm, bd): (f64, f64)) -> f64 {
    ((am - bm).powi(2) + (ad - bd).powi(2)).sqrt()
}

/// Percentiles both trace files give (and so the ones a mapping can use).
pub fn mapping_percentiles() -> Vec<u8> {
    DURATION_PERCENTILES
        .iter()
        .copied()
        .filter(|p| MEMORY_PERCENTILES.contains(p))
        .collect()
}

/// Checks that `percentile` is one the trace gives.
pub fn check_percentile(percentile: u8) -> Result<(), ProfileError> {
    let available = mapping_percentiles();
    if available.contains(&percentile) {
        Ok(())
    } else {
        Err(ProfileError::UnsupportedPercentile {
            percentile,
            available,
        })
    }
}

/// A trace function's point at `percentile` (which [`check_percentile`] accepts).
pub fn function_point(function: &Function, percentile: u8) -> Point {
    let p = f64::from(percentile);
    Point {
        memory_mb: function.memory_mb.at(p).expect("percentile checked"),
        duration_ms: function.duration_ms.at(p).expect("percentile checked"),
    }
}

/// Every proxy's point at `percentile`, in catalogue order.
pub fn proxy_points(catalogue: &Catalogue, percentile: u8) -> Result<Vec<Point>, ProfileError> {
    catalogue
        .proxies
        .iter()
        .map(|p| {
            Ok(Point {
                memory_mb: p.at(Metric::Memory, percentile)?,
                duration_ms: p.at(Metric::Duration, percentile)?,
            })
        })
        .collect()
}

/// How the assignment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Optimal one-to-one assignment (minimum total cost).
    Unique,
    /// Nearest proxy per function.
    Nearest,
    /// One-to-one was asked for, but there are more functions than proxies.
    NearestTooFewProxies,
    /// Every function has its own emulated function, with its own profile (`--profile trace`): no error.
    Own,
    /// The load has no trace (RPS, bursts): its functions are distinct deployments of one chosen proxy,
    /// with that proxy's profile, so there is no error.
    Copies,
}

impl Method {
    /// How a person would say it.
    pub fn describe(self) -> &'static str {
        match self {
            Method::Unique => "one-to-one (optimal assignment)",
            Method::Nearest => "nearest proxy per function",
            Method::NearestTooFewProxies => {
                "nearest proxy per function (one-to-one impossible: more functions than proxies)"
            }
            Method::Own => "each function its own emulated function (no mapping error)",
            Method::Copies => {
                "distinct deployments of one chosen proxy (no trace, no mapping error)"
            }
        }
    }
}

/// The proxy chosen for each function.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Index of the chosen proxy, per function.
    pub proxy_of: Vec<usize>,
    /// Cost of each function's pairing.
    pub costs: Vec<f64>,
    /// How it was made.
    pub method: Method,
}

impl Assignment {
    /// Sum of the pairings' costs.
    pub fn total_cost(&self) -> f64 {
        self.costs.iter().sum()
    }
}

/// Assigns each function a proxy: one-to-one with minimum total cost when `unique` and there are no more
/// functions than proxies, else the nearest proxy per function. Ties go to the lowest proxy index, so the
/// result depends only on the inputs.
pub fn assign(
    functions: &[Point],
    proxies: &[Point],
    unique: bool,
) -> Result<Assignment, ProfileError> {
    if proxies.is_empty() && !functions.is_empty() {
        return Err(ProfileError::NoProxies {
            functions: functions.len(),
        });
    }
    let proxy_logs: Vec<(f64, f64)> = proxies.iter().map(|p| p.log()).collect();
    if unique && functions.len() <= proxies.len() && !functions.is_empty() {
        let function_logs: Vec<(f64, f64)> = functions.iter().map(|p| p.log()).collect();
        // Kuhn–Munkres maximises, so weights are negated scaled costs.
        let weights = Matrix::from_fn(functions.len(), proxies.len(), |(f, p)| {
            -(log_distance(function_logs[f], proxy_logs[p]) * COST_SCALE).round() as i64
        });
        let (_, proxy_of) = kuhn_munkres(&weights);
        let costs = proxy_of
            .iter()
            .zip(&function_logs)
            .map(|(&p, &f)| log_distance(f, proxy_logs[p]))
            .collect();
        return Ok(Assignment {
            proxy_of,
            costs,
            method: Method::Unique,
        });
    }
    let (proxy_of, costs) = functions
        .par_iter()
        .map(|f| {
            let f = f.log();
            let mut best = (0, f64::INFINITY);
            for (i, &p) in proxy_logs.iter().enumerate() {
                let c = log_distance(f, p);
                if c < best.1 {
                    best = (i, c);
                }
            }
            best
        })
        .unzip();
    Ok(Assignment {
        proxy_of,
        costs,
        method: if unique {
            Method::NearestTooFewProxies
        } else {
            Method::Nearest
        },
    })
}

/// One function's line of `mapping.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingEntry {
    /// `HashOwner`.
    pub hash_owner: String,
    /// `HashApp`.
    pub hash_app: String,
    /// `HashFunction`.
    pub hash_function: String,
    /// Chosen proxy's name.
    pub proxy: String,
    /// The function's point at the mapping percentile.
    pub trace: Point,
    /// The proxy's point at the mapping percentile.
    pub proxy_profile: Point,
    /// Distance between them.
    pub cost: f64,
    /// |proxy − trace| / trace memory (trace floored as in [`cost`]).
    pub memory_rel_error: f64,
    /// |proxy − trace| / trace duration (trace floored as in [`cost`]).
    pub duration_rel_error: f64,
}

impl MappingEntry {
    /// The entry for `function` emulated by its own function named `name`: the same point, no error.
    pub fn own(function: &Function, name: &str, point: Point) -> Self {
        MappingEntry {
            hash_owner: function.id.owner.clone(),
            hash_app: function.id.app.clone(),
            hash_function: function.id.function.clone(),
            proxy: name.to_owned(),
            trace: point,
            proxy_profile: point,
            cost: 0.0,
            memory_rel_error: 0.0,
            duration_rel_error: 0.0,
        }
    }

    /// The entry for `function` mapped to a proxy.
    pub fn new(function: &Function, proxy: &str, trace: Point, proxy_profile: Point) -> Self {
        let rel = |t: f64, p: f64, floor: f64| (p - t.max(floor)).abs() / t.max(floor);
        MappingEntry {
            hash_owner: function.id.owner.clone(),
            hash_app: function.id.app.clone(),
            hash_function: function.id.function.clone(),
            proxy: proxy.to_owned(),
            trace,
            proxy_profile,
            cost: cost(trace, proxy_profile),
            memory_rel_error: rel(trace.memory_mb, proxy_profile.memory_mb, MEMORY_FLOOR_MB),
            duration_rel_error: rel(
                trace.duration_ms,
                proxy_profile.duration_ms,
                DURATION_FLOOR_MS,
            ),
        }
    }
}

/// `mapping.json`: how every trace function was mapped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingFile {
    /// Percentile the points were taken at.
    pub percentile: u8,
    /// How the assignment was made.
    pub method: Method,
    /// The catalogue mapped to (`builtin` or a path).
    pub catalogue: String,
    /// One entry per mapped function, in trace order.
    pub functions: Vec<MappingEntry>,
}

impl MappingFile {
    /// Writes the file as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<(), ProfileError> {
        let io = |source| ProfileError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = formats::output::AtomicFile::create(path).map_err(io)?;
        serde_json::to_writer_pretty(&mut file, self).map_err(|e| io(e.into()))?;
        file.commit().map_err(io)
    }

    /// Reads a file written by [`MappingFile::write`].
    pub fn read(path: &Path) -> Result<MappingFile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| ProfileError::Json {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }

    /// Summary figures of the mapping's fidelity.
    pub fn summary(&self) -> MappingSummary {
        let mut proxies: Vec<&str> = self.functions.iter().map(|e| e.proxy.as_str()).collect();
        proxies.sort_unstable();
        proxies.dedup();
        MappingSummary {
            functions: self.functions.len(),
            distinct_proxies: proxies.len(),
            memory: ErrorStats::of(self.functions.iter().map(|e| e.memory_rel_error)),
            duration: ErrorStats::of(self.functions.iter().map(|e| e.duration_rel_error)),
        }
    }
}

/// Mean, 95th percentile and maximum of a set of relative errors.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ErrorStats {
    /// Mean.
    pub mean: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
    /// Maximum.
    pub max: f64,
}

impl ErrorStats {
    fn of(values: impl Iterator<Item = f64>) -> ErrorStats {
        let mut v: Vec<f64> = values.collect();
        if v.is_empty() {
            return ErrorStats::default();
        }
        v.sort_by(f64::total_cmp);
        ErrorStats {
            mean: v.iter().sum::<f64>() / v.len() as f64,
            p95: formats::nearest_rank(&v, 0.95),
            max: v[v.len() - 1],
        }
    }
}

/// What the mapping summary prints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MappingSummary {
    /// Functions mapped.
    pub functions: usize,
    /// Distinct proxies used.
    pub distinct_proxies: usize,
    /// Relative memory error.
    pub memory: ErrorStats,
    /// Relative duration error.
    pub duration: ErrorStats,
}

/// A catalogue of the trace's own functions (`--profile trace`): one emulated function per trace
/// function, named by [`own_name`], with its duration and memory percentiles and a CPU utilisation of
/// [`BUILTIN_CPU_PERCENT`], in trace order (not sorted: the mapping is the identity).
pub fn own_catalogue(trace: &Trace) -> Catalogue {
    let cpu = Percentiles::new(vec![
        (0.0, BUILTIN_CPU_PERCENT),
        (100.0, BUILTIN_CPU_PERCENT),
    ]);
    Catalogue {
        source: None,
        proxies: trace
            .functions
            .iter()
            .map(|f| Proxy {
                name: own_name(&f.id),
                yaml: None,
                cpu: cpu.clone(),
                memory_mb: f.memory_mb.clone(),
                duration_ms: f.duration_ms.clone(),
            })
            .collect(),
    }
}

/// The name of a trace function's own emulated function: `tf-` and 16 hex digits (a valid DNS label).
pub fn own_name(id: &FunctionId) -> String {
    format!("tf-{:016x}", id.stable_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_log_euclidean_with_floors() {
        let a = Point {
            memory_mb: 100.0,
            duration_ms: 10.0,
        };
        let b = Point {
            memory_mb: 100.0 * std::f64::consts::E,
            duration_ms: 10.0,
        };
        assert!((cost(a, b) - 1.0).abs() < 1e-12);
        let zero = Point {
            memory_mb: 0.0,
            duration_ms: 0.0,
        };
        assert!(cost(zero, a).is_finite());
        assert_eq!(
            cost(
                zero,
                Point {
                    memory_mb: MEMORY_FLOOR_MB,
                    duration_ms: DURATION_FLOOR_MS
                }
            ),
            0.0
        );
    }

    #[test]
    fn percentiles_available_are_the_common_ones() {
        assert_eq!(mapping_percentiles(), vec![1, 25, 50, 75, 99, 100]);
        assert!(check_percentile(75).is_ok());
        assert!(matches!(
            check_percentile(95),
            Err(ProfileError::UnsupportedPercentile { .. })
        ));
    }

    #[test]
    fn ties_go_to_the_lowest_proxy_index() {
        let p = Point {
            memory_mb: 10.0,
            duration_ms: 10.0,
        };
        let a = assign(&[p], &[p, p, p], false).unwrap();
        assert_eq!(a.proxy_of, vec![0]);
    }

    #[test]
    fn error_stats_nearest_rank() {
        let s = ErrorStats::of((1..=100).map(f64::from));
        assert_eq!(s.p95, 95.0);
        assert_eq!(s.max, 100.0);
        assert_eq!(s.mean, 50.5);
    }
}
