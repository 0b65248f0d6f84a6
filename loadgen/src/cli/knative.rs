//! `--knative-*`: the Knative Pod Autoscaler's knobs, with Knative's defaults. On a cluster those that are
//! revision annotations go on the generated services; every one drives the KPA model
//! ([`autoscaler`]) of `loadgen autoscaler`.

use clap::Args;
use cmdline::values::{number_in, whole_in};

/// The KPA's knobs. Unset ones keep Knative's defaults ([`autoscaler::KpaSettings::default`]) and add no
/// annotation.
#[derive(Debug, Clone, Default, Args)]
pub struct KnativeArgs {
    /// Knative: the services' autoscaling metric (`autoscaling.knative.dev/metric`).
    #[arg(long = "knative-metric", value_name = "METRIC", value_parser = ["concurrency", "rps"])]
    pub metric: Option<String>,

    /// Knative: the autoscaling target per instance (`autoscaling.knative.dev/target`; default 100
    /// in flight, or 200 requests/s).
    #[arg(long = "knative-target", value_name = "N", value_parser = number_in(0.01, 1e9))]
    pub target: Option<f64>,

    /// Knative: share of the target aimed at, % (`…/target-utilization-percentage`, 70).
    #[arg(long = "knative-target-utilization-percentage", value_name = "PERCENT",
          value_parser = number_in(1.0, 100.0))]
    pub target_utilization_percentage: Option<f64>,

    /// Knative: the stable window, seconds, 6 to 3600 (`autoscaling.knative.dev/window`, 60).
    #[arg(long = "knative-window", value_name = "SECONDS", value_parser = whole_in::<u64>(6, 3600))]
    pub window: Option<u64>,

    /// Knative: panic window, % of the stable window, 1 to 100 (`…/panic-window-percentage`, 10).
    #[arg(long = "knative-panic-window-percentage", value_name = "PERCENT",
          value_parser = number_in(1.0, 100.0))]
    pub panic_window_percentage: Option<f64>,

    /// Knative: panic threshold, % of the ready instances, 110 to 1000 (`…/panic-threshold-percentage`,
    /// 200).
    #[arg(long = "knative-panic-threshold-percentage", value_name = "PERCENT",
          value_parser = number_in(110.0, 1000.0))]
    pub panic_threshold_percentage: Option<f64>,

    /// Knative: fewest instances of each service (`autoscaling.knative.dev/min-scale`, 0).
    #[arg(long = "knative-min-scale", value_name = "N", value_parser = whole_in::<u32>(0, 100_000))]
    pub min_scale: Option<u32>,

    /// Knative: most instances of each service, 0 for no limit (`autoscaling.knative.dev/max-scale`).
    #[arg(long = "knative-max-scale", value_name = "N", value_parser = whole_in::<u32>(0, 100_000))]
    pub max_scale: Option<u32>,

    /// Knative: spare capacity kept before the activator leaves the path; −1 keeps it always in the
    /// path, 0 never (`…/target-burst-capacity`, 211).
    #[arg(long = "knative-target-burst-capacity", value_name = "N", allow_negative_numbers = true,
          value_parser = number_in(-1.0, 1e9))]
    pub target_burst_capacity: Option<f64>,

    /// Knative: most a tick may multiply the ready instances by (config-autoscaler's
    /// `max-scale-up-rate`, 1000; a cluster-wide setting, not an annotation).
    #[arg(long = "knative-max-scale-up-rate", value_name = "RATE", value_parser = number_in(1.000_001, 1e9))]
    pub max_scale_up_rate: Option<f64>,

    /// Knative: most a tick may divide the ready instances by (config-autoscaler's
    /// `max-scale-down-rate`, 2; cluster-wide).
    #[arg(long = "knative-max-scale-down-rate", value_name = "RATE",
          value_parser = number_in(1.000_001, 1e9))]
    pub max_scale_down_rate: Option<f64>,

    /// Knative: seconds the autoscaler must want 0 instances before they go (config-autoscaler's
    /// `scale-to-zero-grace-period`, 30; cluster-wide).
    #[arg(long = "knative-scale-to-zero-grace-period", value_name = "SECONDS",
          value_parser = whole_in::<u64>(0, 3600))]
    pub scale_to_zero_grace_period: Option<u64>,

    /// Knative: seconds between the autoscaler's decisions (config-autoscaler's `tick-interval`, 2;
    /// cluster-wide).
    #[arg(long = "knative-tick-interval", value_name = "SECONDS", value_parser = whole_in::<u64>(1, 3600))]
    pub tick_interval: Option<u64>,
}

impl KnativeArgs {
    /// The knobs that are revision annotations, as given, for the generated services' template.
    pub fn annotations(&self) -> Vec<(String, String)> {
        let key = |k: &str| format!("autoscaling.knative.dev/{k}");
        let number = |v: f64| {
            if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                v.to_string()
            }
        };
        let mut out = Vec::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push((key(k), v));
            }
        };
        put("metric", self.metric.clone());
        put("target", self.target.map(number));
        put(
            "target-utilization-percentage",
            self.target_utilization_percentage.map(number),
        );
        put("window", self.window.map(|w| format!("{w}s")));
        put(
            "panic-window-percentage",
            self.panic_window_percentage.map(number),
        );
        put(
            "panic-threshold-percentage",
            self.panic_threshold_percentage.map(number),
        );
        put("min-scale", self.min_scale.map(|v| v.to_string()));
        put("max-scale", self.max_scale.map(|v| v.to_string()));
        put(
            "target-burst-capacity",
            self.target_burst_capacity.map(number),
        );
        out
    }

    /// The cluster-wide knobs given (config-autoscaler's), which no annotation carries, by flag.
    pub fn cluster_wide_given(&self) -> Vec<&'static str> {
        [
            (
                "--knative-max-scale-up-rate",
                self.max_scale_up_rate.is_some(),
            ),
            (
                "--knative-max-scale-down-rate",
                self.max_scale_down_rate.is_some(),
            ),
            (
                "--knative-scale-to-zero-grace-period",
                self.scale_to_zero_grace_period.is_some(),
            ),
            ("--knative-tick-interval", self.tick_interval.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }

    /// The warning due when cluster-wide knobs are given for a cluster, which keeps its own.
    pub fn cluster_wide_note(&self) -> Option<String> {
        let given = self.cluster_wide_given();
        (!given.is_empty()).then(|| {
            format!(
                "{} set Knative's cluster-wide config-autoscaler, which no service annotation carries: \
                 the cluster keeps its own (only the KPA model reads them)",
                given.join(", ")
            )
        })
    }

    /// The KPA's settings: Knative's defaults, with what was given.
    pub fn settings(&self) -> Result<autoscaler::KpaSettings, autoscaler::SettingsError> {
        let d = autoscaler::KpaSettings::default();
        let settings = autoscaler::KpaSettings {
            metric: self.metric.as_deref().map_or(Ok(d.metric), str::parse)?,
            target: self.target,
            target_utilization_percentage: self
                .target_utilization_percentage
                .unwrap_or(d.target_utilization_percentage),
            stable_window_s: self.window.unwrap_or(d.stable_window_s),
            panic_window_percentage: self
                .panic_window_percentage
                .unwrap_or(d.panic_window_percentage),
            panic_threshold_percentage: self
                .panic_threshold_percentage
                .unwrap_or(d.panic_threshold_percentage),
            max_scale_up_rate: self.max_scale_up_rate.unwrap_or(d.max_scale_up_rate),
            max_scale_down_rate: self.max_scale_down_rate.unwrap_or(d.max_scale_down_rate),
            min_scale: self.min_scale.unwrap_or(d.min_scale),
            max_scale: self.max_scale.unwrap_or(d.max_scale),
            scale_to_zero_grace_s: self
                .scale_to_zero_grace_period
                .unwrap_or(d.scale_to_zero_grace_s),
            target_burst_capacity: self
                .target_burst_capacity
                .unwrap_or(d.target_burst_capacity),
            tick_s: self.tick_interval.unwrap_or(d.tick_s),
        };
        settings.check()?;
        Ok(settings)
    }
}

/// `--cold-start-ms`: `N` (every instance), or `pP:N,…` percentiles drawn per instance.
pub fn parse_cold_start(text: &str) -> Result<formats::Percentiles, String> {
    let value = |v: &str| -> Result<f64, String> {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && (0.0..=600_000.0).contains(v))
            .ok_or_else(|| format!("`{v}` is not a time of 0 to 600,000 ms"))
    };
    if !text.contains(':') {
        let v = value(text)?;
        return Ok(formats::Percentiles::constant(v));
    }
    let mut points = Vec::new();
    for part in text.split(',') {
        let (p, v) = part
            .split_once(':')
            .ok_or_else(|| format!("`{part}`: expected pP:MS (e.g. p50:800)"))?;
        let p: f64 = p
            .trim()
            .strip_prefix('p')
            .and_then(|p| p.parse().ok())
            .filter(|p| (0.0..=100.0).contains(p))
            .ok_or_else(|| format!("`{p}`: expected a percentile p0 to p100"))?;
        points.push((p, value(v)?));
    }
    Ok(formats::Percentiles::new(points))
}
