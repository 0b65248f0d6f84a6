//! Loads made from a shape rather than a trace: a target rate ([`rps`]: constant, steps, ramps, cold
//! starts) and STeLLAR's bursts ([`burst`]). Each becomes a trace whose calls are placed one by one, and
//! whose functions are distinct deployments of one proxy chosen from the catalogue, so the rest of the
//! pipeline (deployment, `load.json`, `run`, `experiment`) treats it as any other.

pub mod burst;
pub mod rps;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use mapping::{
    check_percentile, cost, function_point, proxy_points, MappingEntry, MappingFile, Point,
};
use profiles::{Catalogue, Proxy};
use trace::{Arrivals, Function, FunctionId, MemoryLevel, ReadReport, Trace};

use crate::cli::LoadArgs;
use crate::map::Mapped;
use crate::plan::LoadPlan;

/// Duration the proxy of a shaped load is chosen near when none is named, ms.
pub const DEFAULT_DURATION_MS: f64 = 100.0;
/// Memory the proxy of a shaped load is chosen near when none is named, MB.
pub const DEFAULT_MEMORY_MB: f64 = 128.0;

/// A shaped load, ready for deployment and generation.
pub struct ShapedLoad {
    /// Its calls, placed one by one, and its functions.
    pub trace: Trace,
    /// One copy of the chosen proxy per function, named after it.
    pub catalogue: Catalogue,
    /// Function `f` to copy `f`.
    pub mapped: Mapped,
    /// What made it, in words (`rps 100/s, …`).
    pub source: String,
}

/// The proxy a shaped load calls: `--rps-proxy`, else the catalogue's nearest to `--rps-duration-ms` and
/// `--rps-memory-mb` at the mapping percentile (by the mapping's own distance).
pub fn choose_proxy<'c>(load: &LoadArgs, catalogue: &'c Catalogue) -> Result<&'c Proxy> {
    let shape = &load.shape;
    if let Some(name) = &shape.rps_proxy {
        return catalogue
            .proxies
            .iter()
            .find(|p| &p.name == name)
            .with_context(|| {
                let closest = catalogue
                    .proxies
                    .iter()
                    .min_by_key(|p| cmdline::goflags::edit_distance(name, &p.name))
                    .map(|p| format!("; the closest name is `{}`", p.name))
                    .unwrap_or_default();
                format!(
                    "--rps-proxy `{name}` is not in the catalogue {}{closest}",
                    load.profile
                )
            });
    }
    check_percentile(load.percentile)?;
    let target = Point {
        duration_ms: shape.rps_duration_ms.unwrap_or(DEFAULT_DURATION_MS),
        memory_mb: shape.rps_memory_mb.unwrap_or(DEFAULT_MEMORY_MB),
    };
    let points = proxy_points(catalogue, load.percentile)?;
    let best = points
        .iter()
        .enumerate()
        .min_by(|a, b| cost(target, *a.1).total_cmp(&cost(target, *b.1)))
        .map(|(i, _)| i)
        .context("the catalogue holds no proxy")?;
    Ok(&catalogue.proxies[best])
}

/// Makes the load the plan's shape describes over its window, calling copies of a proxy of `catalogue`;
/// the plan's seed keys its random streams (so the load is reproducible).
pub fn shaped_load(plan: &LoadPlan, catalogue: &Catalogue) -> Result<ShapedLoad> {
    let (load, seed) = (&plan.settings, plan.seed);
    let shape = &load.shape;
    let proxy = choose_proxy(load, catalogue)?;
    let granularity = load.trace.granularity();
    let Some(periods) = load.warmup_duration.checked_add(load.duration) else {
        bail!("--warmup-duration + --duration is too large");
    };
    let total_us = periods as u64 * granularity.period_us();

    let (arrivals, names, source) = if let Some(rps) = shape.rps {
        let max = shape.rps_max.unwrap_or(f64::INFINITY);
        if max < rps {
            bail!("--rps-max {max} is below --rps {rps}");
        }
        if shape.rps_step > 0.0 && shape.rps_every.is_zero() {
            bail!("--rps-every must be above 0 s when --rps-step is given");
        }
        let rate = rps::Rate {
            start: rps,
            step: shape.rps_step,
            every_s: shape.rps_every.as_secs_f64(),
            max,
            ramp: shape.rps_ramp,
        };
        // Silence is counted between call times, so by default it also covers the longest call.
        let longest = proxy.duration_ms.quantile(1.0).unwrap_or(0.0).max(0.0);
        let idle = load.deploy.idle_until_cold().context("--knative-*")?;
        let cooldown = shape
            .cooldown
            .unwrap_or(idle + Duration::from_secs_f64(longest / 1e3) + Duration::from_secs(1));
        let cold = (shape.cold_ratio > 0.0).then_some(rps::Cold {
            percent: shape.cold_ratio,
            cooldown_us: cooldown.as_micros() as u64,
        });
        let calls = rps::RpsCalls {
            rate,
            seconds: total_us / 1_000_000,
            distribution: load.iat_distribution,
            cold,
            seed,
        };
        let functions = calls.functions()?;
        let arrivals = Arrivals::new(calls, false);
        let width = (functions - 1).to_string().len();
        let names = std::iter::once(format!("{}-warm", proxy.name))
            .chain((1..functions).map(|i| format!("{}-cold-{i:0width$}", proxy.name)))
            .collect::<Vec<_>>();
        let mut source = format!("rps {rps}/s");
        if shape.rps_step > 0.0 {
            source += &format!(
                ", {} {} per {} s",
                if shape.rps_ramp { "ramp" } else { "step" },
                shape.rps_step,
                shape.rps_every.as_secs_f64()
            );
            if max.is_finite() {
                source += &format!(" up to {max}/s");
            }
        }
        if let Some(c) = cold {
            source += &format!(
                ", {} % cold after {} s of silence ({} cold functions)",
                c.percent,
                cooldown.as_secs_f64(),
                functions - 1
            );
        }
        (arrivals, names, source)
    } else {
        let size = shape
            .burst_size
            .context("a shaped load needs --rps or --burst-size")?;
        let iat = shape.burst_iat.context("--burst-size needs --burst-iat")?;
        let jitter = shape.burst_jitter.unwrap_or(iat / 10);
        let bursts = burst::Bursts {
            size,
            iat_us: iat.as_micros() as u64,
            jitter_us: jitter.as_micros() as u64,
            endpoints: shape.burst_endpoints,
        };
        let width = (bursts.endpoints - 1).to_string().len();
        let names = (0..bursts.endpoints)
            .map(|e| format!("{}-burst-{e:0width$}", proxy.name))
            .collect();
        let source = format!(
            "bursts of {size} to {} endpoint(s), every {} s + Exp(mean {} s)",
            bursts.endpoints,
            iat.as_secs_f64(),
            jitter.as_secs_f64()
        );
        let arrivals = Arrivals::new(bursts.calls(total_us, seed), false);
        (arrivals, names, source)
    };
    let source = format!("{source}; proxy {}", proxy.name);
    let (arrivals, names, counts) =
        counted(arrivals, names, load.keep_idle, (periods, granularity))?;
    let calls = (arrivals, counts);
    Ok(copies_of(proxy, &names, calls, load, source, periods))
}

/// Counts each function's calls per period in one pass (the trace is made with these counts, not by
/// another pass) and, unless `keep_idle`, leaves out the functions that make none.
fn counted(
    arrivals: Arrivals,
    names: Vec<String>,
    keep_idle: bool,
    (periods, granularity): (usize, trace::Granularity),
) -> Result<(Arrivals, Vec<String>, Vec<u32>)> {
    let counts = arrivals.counts(names.len(), periods, granularity.period_us())?;
    Ok(if keep_idle {
        (arrivals, names, counts)
    } else {
        without_idle(arrivals, names, counts, periods)
    })
}

/// Leaves out the functions no call goes to (the warm one when every call is cold), by their `counts`
/// (row-major, `periods` a function); returns the calls, names and counts of the others.
fn without_idle(
    mut arrivals: Arrivals,
    names: Vec<String>,
    mut counts: Vec<u32>,
    periods: usize,
) -> (Arrivals, Vec<String>, Vec<u32>) {
    let used: Vec<bool> = (0..names.len())
        .map(|f| {
            counts[f * periods..(f + 1) * periods]
                .iter()
                .any(|&c| c > 0)
        })
        .collect();
    let mut row = 0;
    counts.retain(|_| {
        row += 1;
        used[(row - 1) / periods.max(1)]
    });
    let mut next = 0;
    let new_index: Vec<Option<u32>> = used
        .iter()
        .map(|&u| {
            u.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    arrivals.retain_functions(&new_index);
    let names = names
        .into_iter()
        .zip(used)
        .filter_map(|(n, u)| u.then_some(n))
        .collect();
    (arrivals, names, counts)
}

/// The shaped load's trace (one function per name, with `proxy`'s profile, its calls and their counts),
/// its catalogue of copies and the identity mapping between them.
fn copies_of(
    proxy: &Proxy,
    names: &[String],
    (arrivals, counts): (Arrivals, Vec<u32>),
    load: &LoadArgs,
    source: String,
    periods: usize,
) -> ShapedLoad {
    let functions: Vec<Function> = names
        .iter()
        .map(|name| Function {
            id: FunctionId {
                owner: "shape".to_owned(),
                app: proxy.name.clone(),
                function: name.clone(),
            },
            trigger: String::new(),
            duration_ms: proxy.duration_ms.clone(),
            duration_avg_ms: proxy.duration_ms.at(50.0).unwrap_or_default(),
            memory_mb: proxy.memory_mb.clone(),
            memory_avg_mb: proxy.memory_mb.at(50.0).unwrap_or_default(),
        })
        .collect();
    let mut proxies: Vec<Proxy> = names
        .iter()
        .map(|name| Proxy {
            name: name.clone(),
            ..proxy.clone()
        })
        .collect();
    proxies.sort_by(|a, b| a.name.cmp(&b.name));
    let proxy_of: Vec<usize> = names
        .iter()
        .map(|n| {
            proxies
                .binary_search_by(|p| p.name.as_str().cmp(n))
                .expect("every copy is in the catalogue")
        })
        .collect();
    let entries = functions
        .iter()
        .zip(names)
        .map(|(f, name)| {
            let point = function_point(f, load.percentile);
            MappingEntry::new(f, name, point, point)
        })
        .collect();
    let report = ReadReport {
        functions_read: functions.len(),
        left_out: Vec::new(),
        memory_level: MemoryLevel::Function,
        duplicate_rows: 0,
    };
    let trace = Trace::with_counted_arrivals(
        (load.trace.granularity(), 0, periods),
        functions,
        arrivals,
        counts,
        report,
    );
    ShapedLoad {
        trace,
        catalogue: Catalogue {
            source: None,
            proxies,
        },
        mapped: Mapped {
            file: MappingFile {
                percentile: load.percentile,
                method: mapping::Method::Copies,
                catalogue: load.profile.clone(),
                functions: entries,
            },
            proxy_of,
            node_proxy: Vec::new(),
        },
        source,
    }
}
