//! The local fleet's scale, from the emulated functions' own state: what a cluster's pod counts would
//! show, with no cluster.
//!
//! - `local-scale.csv`: per function, as the Kubernetes collector writes per service, the instances
//!   its autoscaler wants (desired), those ready and those starting (pending), and its calls in flight
//!   and queued in the activator. A function appears from its first sample with anything in it to the
//!   first sample after it fell back to nothing, so an idle fleet of thousands writes little; a sample
//!   in which every function is idle writes the first function's row of zeros, so the time axis has no
//!   gap.
//! - `local-fleet.csv`: the whole fleet's gauges: instances alive, functions, calls in flight, busy
//!   threads, queue, memory held.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use emulated::FleetMetrics;

use super::{unix_seconds, Collected, CsvOut, Sampler};

/// `local-scale.csv`'s columns.
pub const HEADER: [&str; 7] = [
    "time",
    "function",
    "desired",
    "ready",
    "pending",
    "in_flight",
    "queued",
];

/// `local-fleet.csv`'s columns.
pub const FLEET_HEADER: [&str; 7] = [
    "time",
    "instances",
    "functions",
    "in_flight",
    "busy_threads",
    "queue_length",
    "memory_mb",
];

/// Samples `fleet` into `dir/local-scale.csv` (per function) and `dir/local-fleet.csv` (the whole
/// fleet) every `interval` until finished.
pub fn start(dir: &Path, fleet: Arc<FleetMetrics>, interval: Duration) -> Vec<Sampler> {
    vec![
        start_functions(dir, Arc::clone(&fleet), interval),
        start_fleet(dir, fleet, interval),
    ]
}

/// A sampler of `name` into `dir/NAME.csv` with `header`, each sample's rows from `sample`.
fn sampler(
    dir: &Path,
    (name, what, header): (&'static str, &'static str, &[&str]),
    interval: Duration,
    mut sample: impl FnMut(&str) -> Vec<Vec<String>> + Send + 'static,
) -> Sampler {
    let path = dir.join(format!("{name}.csv"));
    let mut out = CsvOut::create(&path, header);
    let error = out.as_ref().err().cloned();
    let file = out.as_ref().ok().map(|o| o.path().to_owned());
    Sampler::start(
        name,
        interval,
        move || {
            let out = out.as_mut().map_err(|e| e.clone())?;
            let time = format!("{:.6}", unix_seconds(SystemTime::now()));
            let rows = sample(&time);
            for row in &rows {
                out.row(row)?;
            }
            out.flush()?;
            Ok(rows.len())
        },
        move |rows, sample_error| Collected {
            name: name.into(),
            what: what.into(),
            file,
            rows,
            error: error.or(sample_error),
        },
    )
}

fn start_functions(dir: &Path, fleet: Arc<FleetMetrics>, interval: Duration) -> Sampler {
    let what = "local fleet: instances desired, ready and pending, calls in flight and queued, per function";
    let mut shown: HashSet<String> = HashSet::new();
    sampler(dir, ("local-scale", what, &HEADER), interval, move |time| {
        let functions = fleet.functions_scale();
        let mut rows = Vec::new();
        let mut now_shown = HashSet::new();
        for (name, s) in &functions {
            let busy = s.desired + s.ready + s.pending + s.in_flight + s.queued > 0;
            if busy {
                now_shown.insert(name.clone());
            }
            if busy || shown.contains(name) {
                rows.push(vec![
                    time.to_owned(),
                    name.clone(),
                    s.desired.to_string(),
                    s.ready.to_string(),
                    s.pending.to_string(),
                    s.in_flight.to_string(),
                    s.queued.to_string(),
                ]);
            }
        }
        if rows.is_empty() {
            if let Some((name, _)) = functions.first() {
                let zeros = ["0"; 5].map(str::to_owned);
                rows.push([vec![time.to_owned(), name.clone()], zeros.to_vec()].concat());
            }
        }
        shown = now_shown;
        rows
    })
}

fn start_fleet(dir: &Path, fleet: Arc<FleetMetrics>, interval: Duration) -> Sampler {
    let what = "local fleet: instances alive, calls in flight, busy threads, queue, memory held";
    sampler(
        dir,
        ("local-fleet", what, &FLEET_HEADER),
        interval,
        move |time| {
            let s = fleet.scale();
            vec![vec![
                time.to_owned(),
                s.instances.to_string(),
                s.functions.to_string(),
                s.in_flight.to_string(),
                s.busy.to_string(),
                s.queued.to_string(),
                s.memory_mb.to_string(),
            ]]
        },
    )
}
