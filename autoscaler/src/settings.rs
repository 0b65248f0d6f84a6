//! The KPA's knobs, with Knative's defaults (`config-autoscaler` and the revision's annotations).

/// What the autoscaler scales on (`autoscaling.knative.dev/metric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Metric {
    /// Calls in flight per pod.
    #[default]
    Concurrency,
    /// Requests per second per pod.
    Rps,
}

impl Metric {
    /// Knative's per-pod target when the revision gives none: 100 in flight, or 200 requests/s.
    pub fn default_target(self) -> f64 {
        match self {
            Metric::Concurrency => 100.0,
            Metric::Rps => 200.0,
        }
    }

    /// Its name in the annotation.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Concurrency => "concurrency",
            Metric::Rps => "rps",
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = SettingsError;

    fn from_str(s: &str) -> Result<Metric, SettingsError> {
        match s {
            "concurrency" => Ok(Metric::Concurrency),
            "rps" => Ok(Metric::Rps),
            other => Err(SettingsError::Metric(other.to_owned())),
        }
    }
}

/// A knob out of the range Knative accepts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// An unknown metric.
    #[error("unknown autoscaling metric `{0}` (expected concurrency or rps)")]
    Metric(String),
    /// A value out of its range.
    #[error("{name} = {value}: expected {range}")]
    OutOfRange {
        /// The knob, as its flag names it.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What it may be.
        range: &'static str,
    },
}

/// Every knob of one revision's KPA. [`KpaSettings::default`] is Knative's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct KpaSettings {
    /// What is scaled on.
    pub metric: Metric,
    /// Per-pod target (`autoscaling.knative.dev/target`); `None`: [`Metric::default_target`].
    pub target: Option<f64>,
    /// Share of the target aimed at, percent (`target-utilization-percentage`, 70).
    pub target_utilization_percentage: f64,
    /// Stable window, whole seconds (`window`, 60; Knative allows 6 s to 1 h).
    pub stable_window_s: u64,
    /// Panic window, percent of the stable window (`panic-window-percentage`, 10; 1 to 100).
    pub panic_window_percentage: f64,
    /// Panic threshold, percent of the ready pods (`panic-threshold-percentage`, 200; 110 to 1000).
    pub panic_threshold_percentage: f64,
    /// Most a tick may multiply the ready pods by (`max-scale-up-rate`, 1000).
    pub max_scale_up_rate: f64,
    /// Most a tick may divide the ready pods by (`max-scale-down-rate`, 2).
    pub max_scale_down_rate: f64,
    /// Fewest pods (`min-scale`, 0).
    pub min_scale: u32,
    /// Most pods, 0 for no limit (`max-scale`, 0).
    pub max_scale: u32,
    /// Seconds the decider must want 0 before the pods go (`scale-to-zero-grace-period`, 30).
    pub scale_to_zero_grace_s: u64,
    /// Spare capacity kept before the activator leaves the path (`target-burst-capacity`, 211; −1:
    /// always in it, 0: never).
    pub target_burst_capacity: f64,
    /// Seconds between decisions (`tick-interval`, 2).
    pub tick_s: u64,
}

impl Default for KpaSettings {
    fn default() -> KpaSettings {
        KpaSettings {
            metric: Metric::Concurrency,
            target: None,
            target_utilization_percentage: 70.0,
            stable_window_s: 60,
            panic_window_percentage: 10.0,
            panic_threshold_percentage: 200.0,
            max_scale_up_rate: 1000.0,
            max_scale_down_rate: 2.0,
            min_scale: 0,
            max_scale: 0,
            scale_to_zero_grace_s: 30,
            target_burst_capacity: 211.0,
            tick_s: 2,
        }
    }
}

impl KpaSettings {
    /// The per-pod target before utilisation (Knative's `TotalValue`).
    pub fn total_target(&self) -> f64 {
        self.target.unwrap_or(self.metric.default_target())
    }

    /// The per-pod value aimed at: the target × utilisation, at least 0.01 (Knative's `TargetValue`).
    pub fn target_value(&self) -> f64 {
        (self.total_target() * self.target_utilization_percentage / 100.0).max(0.01)
    }

    /// The panic window in whole seconds: the stable window × its percentage, rounded, at least 1.
    pub fn panic_window_s(&self) -> u64 {
        ((self.stable_window_s as f64 * self.panic_window_percentage / 100.0).round() as u64).max(1)
    }

    /// Refuses a knob Knative would refuse, naming it.
    pub fn check(&self) -> Result<(), SettingsError> {
        let within = |name, value: f64, low: f64, high: f64, range| {
            if value.is_finite() && (low..=high).contains(&value) {
                Ok(())
            } else {
                Err(SettingsError::OutOfRange { name, value, range })
            }
        };
        if let Some(t) = self.target {
            within("target", t, 0.01, f64::MAX, "at least 0.01")?;
        }
        within(
            "target-utilization-percentage",
            self.target_utilization_percentage,
            1.0,
            100.0,
            "1 to 100",
        )?;
        within(
            "window",
            self.stable_window_s as f64,
            6.0,
            3600.0,
            "6 to 3600 seconds",
        )?;
        within(
            "panic-window-percentage",
            self.panic_window_percentage,
            1.0,
            100.0,
            "1 to 100",
        )?;
        within(
            "panic-threshold-percentage",
            self.panic_threshold_percentage,
            110.0,
            1000.0,
            "110 to 1000",
        )?;
        within(
            "max-scale-up-rate",
            self.max_scale_up_rate,
            1.0 + f64::EPSILON,
            f64::MAX,
            "above 1",
        )?;
        within(
            "max-scale-down-rate",
            self.max_scale_down_rate,
            1.0 + f64::EPSILON,
            f64::MAX,
            "above 1",
        )?;
        if self.max_scale > 0 && self.min_scale > self.max_scale {
            return Err(SettingsError::OutOfRange {
                name: "min-scale",
                value: f64::from(self.min_scale),
                range: "at most max-scale",
            });
        }
        within(
            "target-burst-capacity",
            self.target_burst_capacity,
            -1.0,
            f64::MAX,
            "-1, 0 or more",
        )?;
        if self.target_burst_capacity < 0.0 && self.target_burst_capacity != -1.0 {
            return Err(SettingsError::OutOfRange {
                name: "target-burst-capacity",
                value: self.target_burst_capacity,
                range: "-1, 0 or more",
            });
        }
        within(
            "tick-interval",
            self.tick_s as f64,
            1.0,
            3600.0,
            "1 to 3600 seconds",
        )
    }
}
