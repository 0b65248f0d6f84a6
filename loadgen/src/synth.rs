//! A synthetic trace with the Azure Functions 2019 dataset's known shape, in its schema, from a seed.
//!
//! The shape (Shahrad et al., "Serverless in the Wild", ATC'20): per-function rates spanning many orders of
//! magnitude (most functions invoked less than once a minute, a few thousands of times), timer-triggered
//! functions firing on a fixed schedule, a diurnal swing, log-normal execution times (median under a second,
//! a long tail) and log-normal app memory (median ~150 MB). Functions are grouped in apps, apps in owners.

use std::path::Path;

use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Poisson};
use trace::{
    DurationRow, FunctionId, Granularity, Layout, MemoryRow, TraceError, TraceFiles, TraceWriter,
};

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
/// Standard normal quantiles of [`trace::DURATION_PERCENTILES`] (0 and 100 stand at ±3σ).
const DURATION_Z: [f64; 7] = [-3.0, -2.326, -0.674, 0.0, 0.674, 2.326, 3.0];
/// Memory percentiles as multiples of the app's average, for [`trace::MEMORY_PERCENTILES`].
const MEMORY_FACTORS: [f64; 8] = [0.80, 0.85, 0.92, 0.98, 1.04, 1.15, 1.25, 1.35];

/// Writes a synthetic trace into `dir`.
pub fn synthesize(dir: &Path, options: &SynthOptions) -> Result<SynthStats, TraceError> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let per_app_memory = matches!(options.layout, Layout::Raw { .. });
    let mut writer = TraceWriter::create(dir, options.layout, 1, options.periods, per_app_memory)?;
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
        for _ in 0..size {
            let id = FunctionId {
                owner: owner.clone(),
                app: app.clone(),
                function: hash(&mut rng),
            };
            let trigger = pick_trigger(&mut rng);
            let log10_rate = log_rate.sample(&mut rng);
            fill_counts(&mut rng, trigger, log10_rate, period_s, &mut counts);
            let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
            invocations += total;
            writer.invocations(&id, trigger, &counts)?;

            let median = duration_median.sample(&mut rng).clamp(1.0, 300_000.0);
            let spread: f64 = rng.random_range(0.1..0.9);
            let at = |z: f64| (median * (spread * z).exp()).round();
            writer.durations(
                &id,
                &DurationRow {
                    average: (median * (spread * spread / 2.0).exp()).round(),
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
                    &id.owner,
                    &id.app,
                    Some(&id.function),
                    &memory_row(memory_mb / size as f64, sample_count),
                )?;
            }
        }
        if per_app_memory {
            writer.memory(&owner, &app, None, &memory_row(memory_mb, sample_count))?;
        }
        written += size;
        apps += 1;
    }
    Ok(SynthStats {
        files: writer.finish()?,
        functions: written,
        apps,
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
