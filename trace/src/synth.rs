//! A synthetic trace with the Azure Functions 2019 dataset's known shape, in its schema, from a seed.
//!
//! The shape (Shahrad et al., "Serverless in the Wild", ATC'20): per-function rates spanning many orders of
//! magnitude (most functions invoked less than once a minute, a few thousands of times), timer-triggered
//! functions firing on a fixed schedule, a diurnal swing, log-normal execution times (median under a second,
//! a long tail) and log-normal app memory (median ~150 MB). Functions are grouped in apps, apps in owners.

use std::path::Path;

use crate::{
    DurationRow, FunctionId, Granularity, Layout, MemoryRow, TraceError, TraceFiles, TraceWriter,
};
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Poisson};

/// What to synthesise.
#[derive(Debug, Clone, Copy)]
pub struct SynthOptions {
    /// Number of functions.
    pub functions: usize,
    /// Number of periods (columns `1..=periods`).
    pub periods: usize,
    /// Whether a period is a minute or a second.
    pub granularity: Granularity,
    /// Seed: the same seed gives the same files, byte for byte.
    pub seed: u64,
    /// File names; the raw layout also writes memory per app.
    pub layout: Layout,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct SynthStats {
    /// The three files.
    pub files: TraceFiles,
    /// Functions written.
    pub functions: usize,
    /// Apps written.
    pub apps: usize,
    /// All invocations over all periods.
    pub invocations: u64,
}

const TRIGGERS: [(&str, f64); 6] = [
    ("http", 0.45),
    ("timer", 0.15),
    ("queue", 0.15),
    ("event", 0.10),
    ("storage", 0.08),
    ("orchestration", 0.07),
];
/// Standard normal quantiles of [`crate::DURATION_PERCENTILES`] (0 and 100 stand at ±3σ).
const DURATION_Z: [f64; 7] = [-3.0, -2.326, -0.674, 0.0, 0.674, 2.326, 3.0];
/// Memory percentiles as multiples of the app's average, for [`crate::MEMORY_PERCENTILES`].
const MEMORY_FACTORS: [f64; 8] = [0.80, 0.85, 0.92, 0.98, 1.04, 1.15, 1.25, 1.35];

/// One function as the model draws it.
struct Drawn<'a> {
    id: FunctionId,
    trigger: &'static str,
    /// Invocations per period.
    counts: &'a [u32],
    /// Median execution time, ms, and the log-normal spread around it.
    median_ms: f64,
    spread: f64,
    /// Its app's memory, MB, the app's function count, and how many samples the memory row claims.
    app_memory_mb: f64,
    app_size: usize,
    sample_count: u64,
    /// Whether it is its app's last function (the app's memory row follows it in the raw layout).
    last_of_app: bool,
}

/// Draws `options.functions` functions in apps and owners and hands each to `each`.
/// Returns (functions, apps, invocations).
fn draw_functions(
    options: &SynthOptions,
    mut each: impl FnMut(&Drawn) -> Result<(), TraceError>,
) -> Result<(usize, usize, u64), TraceError> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let period_s = options.granularity.period_us() as f64 / 1e6;
    let log_rate = Normal::new(-0.7, 1.4).expect("valid normal");
    let duration_median = LogNormal::new(400f64.ln(), 1.8).expect("valid log-normal");
    let app_memory = LogNormal::new(150f64.ln(), 0.6).expect("valid log-normal");

    let mut written = 0;
    let mut apps = 0;
    let mut invocations = 0u64;
    let mut counts = vec![0u32; options.periods];
    let mut owner = hash(&mut rng);
    while written < options.functions {
        if rng.random_bool(0.4) {
            owner = hash(&mut rng);
        }
        let app = hash(&mut rng);
        // App sizes: mostly one or two functions, a few large apps.
        let size = (1 + (rng.random::<f64>().ln() / 0.5f64.ln()) as usize)
            .min(8)
            .min(options.functions - written);
        let memory_mb = app_memory.sample(&mut rng).clamp(16.0, 4096.0);
        let sample_count = rng.random_range(100..30_000u64);
        for k in 0..size {
            let id = FunctionId {
                owner: owner.clone(),
                app: app.clone(),
                function: hash(&mut rng),
            };
            let trigger = pick_trigger(&mut rng);
            let log10_rate = log_rate.sample(&mut rng);
            fill_counts(&mut rng, trigger, log10_rate, period_s, &mut counts);
            invocations += counts.iter().map(|&c| u64::from(c)).sum::<u64>();
            let median_ms = duration_median.sample(&mut rng).clamp(1.0, 300_000.0);
            let spread: f64 = rng.random_range(0.1..0.9);
            let drawn = Drawn {
                id,
                trigger,
                counts: &counts,
                median_ms,
                spread,
                app_memory_mb: memory_mb,
                app_size: size,
                sample_count,
                last_of_app: k + 1 == size,
            };
            each(&drawn)?;
        }
        written += size;
        apps += 1;
    }
    Ok((written, apps, invocations))
}

/// Writes a synthetic trace into `dir`.
pub fn synthesize(dir: &Path, options: &SynthOptions) -> Result<SynthStats, TraceError> {
    let per_app_memory = matches!(options.layout, Layout::Raw { .. });
    let mut writer = TraceWriter::create(dir, options.layout, 1, options.periods, per_app_memory)?;
    let (functions, apps, invocations) = draw_functions(options, |f| {
        let total: u64 = f.counts.iter().map(|&c| u64::from(c)).sum();
        writer.invocations(&f.id, f.trigger, f.counts)?;
        let at = |z: f64| (f.median_ms * (f.spread * z).exp()).round();
        writer.durations(
            &f.id,
            &DurationRow {
                average: (f.median_ms * (f.spread * f.spread / 2.0).exp()).round(),
                count: total,
                minimum: (at(-3.0) * 0.9).floor(),
                maximum: (at(3.0) * 1.1).ceil(),
                percentiles: DURATION_Z.map(at),
            },
        )?;
        if !per_app_memory {
            // Sampled traces carry each function's share of its app's memory (as invitro's sampler
            // writes them), so this layout and the raw one read with `--app-memory split` agree.
            writer.memory(
                &f.id.owner,
                &f.id.app,
                Some(&f.id.function),
                &memory_row(f.app_memory_mb / f.app_size as f64, f.sample_count),
            )?;
        } else if f.last_of_app {
            writer.memory(
                &f.id.owner,
                &f.id.app,
                None,
                &memory_row(f.app_memory_mb, f.sample_count),
            )?;
        }
        Ok(())
    })?;
    Ok(SynthStats {
        files: writer.finish()?,
        functions,
        apps,
        invocations,
    })
}

/// Writes a synthetic Azure 2021 invocation trace, `dir`/[`crate::AZURE2021_FILE`]: the same functions
/// as [`synthesize`] draws (`layout` aside), each invocation at a uniform microsecond of its period with
/// a log-normal duration around its function's median, rows in order of end time as in the dataset.
/// Returns the file and the stats (`files` holds the file in every slot; functions and apps count those
/// with a call, the only ones the file can hold).
pub fn synthesize_azure2021(dir: &Path, options: &SynthOptions) -> Result<SynthStats, TraceError> {
    let period_us = options.granularity.period_us();
    let unit = Normal::new(0.0, 1.0).expect("valid normal");
    let mut names: Vec<(String, String)> = Vec::new();
    // (end, duration, function): 24 bytes per invocation, sorted by end before writing.
    let mut rows: Vec<(u64, u64, u32)> = Vec::new();
    // The calls' own draws come from a stream of their own: the functions are those `synthesize` draws.
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x3230_3231); // "2021"
                                                                         // A per-call trace has no row for a function that drew no call: the summary counts what the file holds.
    let mut apps_with_calls = std::collections::HashSet::new();
    let (_, _, invocations) = draw_functions(options, |f| {
        if f.counts.iter().all(|&c| c == 0) {
            return Ok(());
        }
        apps_with_calls.insert(f.id.app.clone());
        let index = names.len() as u32;
        names.push((f.id.app.clone(), f.id.function.clone()));
        for (p, &count) in f.counts.iter().enumerate() {
            for _ in 0..count {
                let start = p as u64 * period_us + rng.random_range(0..period_us);
                let ms = f.median_ms * (f.spread * unit.sample(&mut rng)).exp();
                let duration = ((ms * 1e3).round() as u64).clamp(1, formats::MAX_ASK_US);
                rows.push((start + duration, duration, index));
            }
        }
        Ok(())
    })?;
    rows.sort_unstable();
    let path = dir.join(crate::AZURE2021_FILE);
    let mut writer = crate::Azure2021Writer::create(&path)?;
    for (end, duration, f) in rows {
        let (app, func) = &names[f as usize];
        writer.row(app, func, end, duration)?;
    }
    writer.finish()?;
    Ok(SynthStats {
        files: TraceFiles {
            layout: Layout::Sampled,
            invocations: path.clone(),
            durations: path.clone(),
            memory: path,
        },
        functions: names.len(),
        apps: apps_with_calls.len(),
        invocations,
    })
}

fn memory_row(average: f64, sample_count: u64) -> MemoryRow {
    MemoryRow {
        sample_count,
        average,
        percentiles: MEMORY_FACTORS.map(|f| average * f),
    }
}

/// Per-period counts: timers fire on a fixed schedule; others are Poisson around a diurnal mean.
fn fill_counts(
    rng: &mut ChaCha8Rng,
    trigger: &str,
    log10_rate_per_minute: f64,
    period_s: f64,
    counts: &mut [u32],
) {
    if trigger == "timer" {
        let every_s = [60.0, 300.0, 900.0, 3600.0][rng.random_range(0..4)];
        let every = (every_s / period_s).max(1.0) as usize;
        let phase = rng.random_range(0..every);
        for (p, c) in counts.iter_mut().enumerate() {
            *c = u32::from(p % every == phase);
        }
        return;
    }
    let rate_per_s = 10f64.powf(log10_rate_per_minute.clamp(-3.0, 4.3)) / 60.0;
    let phase: f64 = rng.random_range(-0.1..0.1);
    for (p, c) in counts.iter_mut().enumerate() {
        // Period labels start at 1, at midnight: a day-long sine with its peak in the afternoon.
        let day_fraction = ((p as f64 + 0.5) * period_s / 86_400.0) + phase;
        let diurnal = 1.0 + 0.5 * (std::f64::consts::TAU * (day_fraction - 0.375)).sin();
        let mean = rate_per_s * period_s * diurnal;
        *c = if mean > 0.0 {
            Poisson::new(mean).map_or(0, |d| d.sample(rng) as u32)
        } else {
            0
        };
    }
}

fn pick_trigger(rng: &mut ChaCha8Rng) -> &'static str {
    let mut u: f64 = rng.random();
    for (name, weight) in TRIGGERS {
        if u < weight {
            return name;
        }
        u -= weight;
    }
    TRIGGERS[0].0
}

/// 64 hex digits, like the dataset's SHA-256 hashes.
fn hash(rng: &mut ChaCha8Rng) -> String {
    let mut s = String::with_capacity(64);
    for _ in 0..4 {
        s.push_str(&format!("{:016x}", rng.random::<u64>()));
    }
    s
}
