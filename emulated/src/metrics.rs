//! What emulated functions are doing, for Prometheus (`emulated_…`, served by `observe::MetricsServer`)
//! and for a run's scale collector ([`FleetMetrics::scale`]): requests and cold starts, calls in flight,
//! calls computing on a busy thread and calls queued for one (or for memory), the working set held, and
//! instances alive (the scale a platform would show: per function, one that is busy or idle for less
//! than its keep-alive, or as many as Knative's autoscaler keeps: see `crate::pool`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use observe::prometheus_client::metrics::counter::Counter;
use observe::prometheus_client::metrics::gauge::Gauge;
use observe::prometheus_client::registry::Registry;

use formats::summary::PlatformTotals;

/// One function's scale at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FunctionScale {
    /// Instances the autoscaler wants (as of its last tick).
    pub desired: u32,
    /// Instances ready.
    pub ready: u32,
    /// Instances starting (made, not ready yet).
    pub pending: u32,
    /// Calls being served.
    pub in_flight: u32,
    /// Calls waiting in the activator's queue.
    pub queued: u32,
}

/// What the metrics read of a function's instances, however its platform keeps them.
pub(crate) trait FunctionState: Send + Sync {
    /// The function's scale at `now`.
    fn scale(&self, now: Instant) -> FunctionScale;
    /// What its instances did so far, when it scales like Knative.
    fn totals(&self) -> Option<PlatformTotals>;
}

/// The metrics of every server of a fleet (or of one server), together.
pub struct FleetMetrics {
    registry: Arc<Registry>,
    pub(crate) requests: Counter,
    pub(crate) cold_starts: Counter,
    pub(crate) in_flight: Gauge,
    pub(crate) busy: Gauge,
    pub(crate) queued: Gauge,
    pub(crate) working_set_bytes: Gauge,
    instances_alive: Gauge,
    functions: Mutex<Vec<(String, Box<dyn FunctionState>)>>,
    /// Instances of the scaled functions alive now, and the most at once.
    scaled_alive: AtomicU64,
    scaled_peak: AtomicU64,
}

/// A fleet's scale at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scale {
    /// Instances alive (busy, idle for less than their keep-alive, or kept by the autoscaler; starting
    /// ones included).
    pub instances: u64,
    /// Functions.
    pub functions: u64,
    /// Calls being served.
    pub in_flight: i64,
    /// Calls computing on a busy thread.
    pub busy: i64,
    /// Calls waiting for a busy thread or for memory.
    pub queued: i64,
    /// Memory held, MiB: the live instances' footprints and the calls' extra working sets.
    pub memory_mb: i64,
}

impl Default for FleetMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for FleetMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetMetrics").finish_non_exhaustive()
    }
}

impl FleetMetrics {
    /// Empty metrics, registered under `emulated_`.
    pub fn new() -> FleetMetrics {
        let mut registry = Registry::default();
        let metrics = FleetMetrics {
            registry: Arc::new(Registry::default()),
            requests: Counter::default(),
            cold_starts: Counter::default(),
            in_flight: Gauge::default(),
            busy: Gauge::default(),
            queued: Gauge::default(),
            working_set_bytes: Gauge::default(),
            instances_alive: Gauge::default(),
            functions: Mutex::new(Vec::new()),
            scaled_alive: AtomicU64::new(0),
            scaled_peak: AtomicU64::new(0),
        };
        registry.register(
            "emulated_requests",
            "Calls received by the emulated functions",
            metrics.requests.clone(),
        );
        registry.register(
            "emulated_cold_starts",
            "Calls that met no live instance",
            metrics.cold_starts.clone(),
        );
        registry.register(
            "emulated_in_flight",
            "Calls being served",
            metrics.in_flight.clone(),
        );
        registry.register(
            "emulated_busy_threads",
            "Calls computing on a busy thread",
            metrics.busy.clone(),
        );
        registry.register(
            "emulated_queue_length",
            "Calls waiting for a busy thread or for memory",
            metrics.queued.clone(),
        );
        registry.register(
            "emulated_working_set_bytes",
            "Memory held: the live instances' footprints and the calls' extra working sets",
            metrics.working_set_bytes.clone(),
        );
        registry.register(
            "emulated_instances",
            "Functions with an instance alive (as of the last scale sample or scrape)",
            metrics.instances_alive.clone(),
        );
        FleetMetrics {
            registry: Arc::new(registry),
            ..metrics
        }
    }

    /// The registry to serve.
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    pub(crate) fn add_function(&self, name: &str, instances: Box<dyn FunctionState>) {
        self.functions
            .lock()
            .expect("functions lock")
            .push((name.to_owned(), instances));
    }

    /// A scaled function's instance was made (`true`) or removed.
    pub(crate) fn scaled_instance(&self, made: bool) {
        if made {
            let alive = self.scaled_alive.fetch_add(1, Ordering::Relaxed) + 1;
            self.scaled_peak.fetch_max(alive, Ordering::Relaxed);
        } else {
            self.scaled_alive.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Calls the fleet has taken so far.
    pub fn requests(&self) -> u64 {
        self.requests.get()
    }

    /// The scale now; also sets the `emulated_instances` gauge.
    pub fn scale(&self) -> Scale {
        let per_function = self.functions_scale();
        let alive: u64 = per_function
            .iter()
            .map(|(_, s)| u64::from(s.ready + s.pending))
            .sum();
        self.instances_alive.set(alive as i64);
        Scale {
            instances: alive,
            functions: per_function.len() as u64,
            in_flight: self.in_flight.get(),
            busy: self.busy.get(),
            queued: self.queued.get(),
            memory_mb: self.working_set_bytes.get() >> 20,
        }
    }

    /// Each function's scale now, in the order they started.
    pub fn functions_scale(&self) -> Vec<(String, FunctionScale)> {
        let now = Instant::now();
        self.functions
            .lock()
            .expect("functions lock")
            .iter()
            .map(|(name, instances)| (name.clone(), instances.scale(now)))
            .collect()
    }

    /// What the instances of the functions that scale like Knative did so far, summed, with the most
    /// instances alive at once over all of them (`None` when no function scales).
    pub fn scaled_totals(&self) -> Option<PlatformTotals> {
        let functions = self.functions.lock().expect("functions lock");
        let mut all = functions.iter().filter_map(|(_, i)| i.totals()).peekable();
        all.peek()?;
        let fleet = PlatformTotals {
            peak_instances: self.scaled_peak.load(Ordering::Relaxed) as u32,
            ..PlatformTotals::default()
        };
        Some(all.fold(fleet, |sum, t| PlatformTotals {
            instances_created: sum.instances_created + t.instances_created,
            cold_starts: sum.cold_starts + t.cold_starts,
            instance_seconds: sum.instance_seconds + t.instance_seconds,
            ..sum
        }))
    }
}
