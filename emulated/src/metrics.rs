//! What emulated functions are doing, for Prometheus (`emulated_…`, served by `observe::MetricsServer`)
//! and for a run's scale collector ([`FleetMetrics::scale`]): requests and cold starts, calls in flight,
//! calls computing on a busy thread and calls queued for one (or for memory), the working set held, and
//! instances alive (the scale a platform would show: one per function that is busy or idle for less
//! than its keep-alive).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use observe::prometheus_client::metrics::counter::Counter;
use observe::prometheus_client::metrics::gauge::Gauge;
use observe::prometheus_client::registry::Registry;

use crate::instance::Instance;

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
    instances: Mutex<Vec<(Arc<Mutex<Instance>>, Duration)>>,
}

/// A fleet's scale at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scale {
    /// Functions with an instance alive (busy, or idle for less than their keep-alive).
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
            instances: Mutex::new(Vec::new()),
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

    pub(crate) fn add_instance(&self, instance: Arc<Mutex<Instance>>, keep_alive: Duration) {
        self.instances
            .lock()
            .expect("instances lock")
            .push((instance, keep_alive));
    }

    /// Calls the fleet has taken so far.
    pub fn requests(&self) -> u64 {
        self.requests.get()
    }

    /// The scale now; also sets the `emulated_instances` gauge.
    pub fn scale(&self) -> Scale {
        let now = Instant::now();
        let instances = self.instances.lock().expect("instances lock");
        let alive = instances
            .iter()
            .filter(|(i, keep_alive)| i.lock().is_ok_and(|i| i.alive(now, *keep_alive)))
            .count() as u64;
        self.instances_alive.set(alive as i64);
        Scale {
            instances: alive,
            functions: instances.len() as u64,
            in_flight: self.in_flight.get(),
            busy: self.busy.get(),
            queued: self.queued.get(),
            memory_mb: self.working_set_bytes.get() >> 20,
        }
    }
}
