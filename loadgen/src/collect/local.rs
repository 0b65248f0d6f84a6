//! The local fleet's scale, from the emulated functions' own gauges: what a cluster's pod counts would
//! show, with no cluster.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use emulated::FleetMetrics;

use super::{unix_seconds, Collected, CsvOut, Sampler};

/// The CSV's columns.
pub const HEADER: [&str; 7] = [
    "time",
    "instances",
    "functions",
    "in_flight",
    "busy_threads",
    "queue_length",
    "memory_mb",
];

/// Samples `fleet` into `dir/local-scale.csv` every `interval` until finished.
pub fn start(dir: &Path, fleet: Arc<FleetMetrics>, interval: Duration) -> Sampler {
    let path = dir.join("local-scale.csv");
    let what = "local fleet: instances alive, calls in flight, busy threads, queue, memory held";
    let mut out = CsvOut::create(&path, &HEADER);
    let error = out.as_ref().err().cloned();
    let file = out.as_ref().ok().map(|o| o.path().to_owned());
    Sampler::start(
        "local-scale",
        interval,
        move || {
            let out = out.as_mut().map_err(|e| e.clone())?;
            let s = fleet.scale();
            out.row([
                format!("{:.6}", unix_seconds(SystemTime::now())),
                s.instances.to_string(),
                s.functions.to_string(),
                s.in_flight.to_string(),
                s.busy.to_string(),
                s.queued.to_string(),
                s.memory_mb.to_string(),
            ])?;
            out.flush()?;
            Ok(1)
        },
        move |rows, sample_error| Collected {
            name: "local-scale".into(),
            what: what.into(),
            file,
            rows,
            error: error.or(sample_error),
        },
    )
}
