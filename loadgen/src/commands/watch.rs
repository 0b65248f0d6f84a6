//! Watching a run's replay: the observer the invoker feeds, the `/metrics` server, the live view, and
//! the collectors, started just before the replay and finished just after it, in that order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use emulated::FleetMetrics;
use invoker::observe::Observer;
use invoker::schedule::LoadHead;
use observe::MetricsServer;

use crate::cli::ObserveArgs;
use crate::collect::{self, Collected, Sampler};
use crate::report::live::{self, LiveView};

/// What watches one replay.
pub struct Watch {
    observer: Option<Arc<Observer>>,
    server: Option<MetricsServer>,
    live: Option<LiveView>,
    samplers: Vec<Sampler>,
    started: SystemTime,
    linger: Duration,
    prometheus: Option<(String, Vec<(String, String)>)>,
    step: Duration,
    dir: PathBuf,
}

/// Refuses a `--metrics-addr` that cannot be bound, before anything is written (the server binds it
/// for real just before the replay).
pub fn check_metrics_addr(addr: &str) -> Result<()> {
    std::net::TcpListener::bind(addr)
        .map(drop)
        .with_context(|| format!("--metrics-addr {addr}: cannot serve metrics there"))
}

/// The Knative services a run deployed, for the scale collector.
pub struct Cluster {
    /// The `kubectl` to call.
    pub kubectl: deploy::kube::Kubectl,
    /// `namespace/name` of each service.
    pub services: Vec<String>,
}

impl Watch {
    /// Starts watching a replay of the load `head` describes into `run_dir`'s `collect/`: its observer (fed by the
    /// replay here, or by the workers' live reports) feeds the live view and `/metrics`; `fleet` is the
    /// local fleet's metrics, `cluster` the Knative services. Every thread it starts keeps off
    /// `dispatcher_cpu`. The live view names endpoints as `endpoint_names` (endpoint → proxy) does.
    /// Fails only when `--metrics-addr` cannot be bound (before anything is sent).
    pub fn start(
        args: &ObserveArgs,
        head: &LoadHead,
        endpoint_names: &BTreeMap<String, String>,
        fleet: Option<Arc<FleetMetrics>>,
        cluster: Option<Cluster>,
        run_dir: &Path,
        dispatcher_cpu: Option<usize>,
    ) -> Result<Watch> {
        // Threads inherit their creator's CPUs: started from a thread kept off the dispatcher's CPU,
        // the live view, the metrics server and the samplers never preempt the dispatcher.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    if let Some(cpu) = dispatcher_cpu {
                        host::pin_to(&host::all_cpus_but(cpu));
                    }
                    Self::start_here(args, head, endpoint_names, fleet, cluster, run_dir)
                })
                .join()
                .expect("the watch's starter thread panicked")
        })
    }

    fn start_here(
        args: &ObserveArgs,
        head: &LoadHead,
        endpoint_names: &BTreeMap<String, String>,
        fleet: Option<Arc<FleetMetrics>>,
        cluster: Option<Cluster>,
        run_dir: &Path,
    ) -> Result<Watch> {
        let observer = args
            .followed_every()
            .map(|_| Arc::new(Observer::for_head(head)));
        let server = match &args.metrics_addr {
            Some(addr) => {
                let mut registries = Vec::new();
                registries.extend(observer.as_ref().map(|o| o.registry()));
                registries.extend(fleet.as_ref().map(|f| f.registry()));
                let sampled = fleet.clone();
                let server = MetricsServer::start_refreshing(
                    addr,
                    registries,
                    Arc::new(move || {
                        if let Some(f) = &sampled {
                            f.scale();
                        }
                    }),
                )
                .with_context(|| format!("--metrics-addr {addr}: cannot serve metrics there"))?;
                println!("metrics    http://{}/metrics", server.addr());
                Some(server)
            }
            None => None,
        };
        let live = match (&observer, args.quiet) {
            (Some(o), false) => Some(LiveView::start(
                Arc::clone(o),
                args.live_interval,
                live::labels(o, endpoint_names),
            )),
            _ => None,
        };
        let dir = formats::files::RunFiles::in_dir(run_dir).collect;
        let mut samplers = Vec::new();
        if !args.scale_interval.is_zero() {
            if let Some(fleet) = fleet {
                samplers.extend(collect::local::start(&dir, fleet, args.scale_interval));
            }
            if let Some(cluster) = cluster.filter(|c| !c.services.is_empty()) {
                samplers.push(collect::kubernetes::start(
                    &dir,
                    &cluster.kubectl,
                    cluster.services,
                    args.scale_interval,
                ));
            }
        }
        let prometheus = args.prometheus.as_ref().map(|url| {
            let mut queries: Vec<(String, String)> = collect::prometheus::DEFAULT_QUERIES
                .iter()
                .map(|(n, q)| ((*n).to_owned(), (*q).to_owned()))
                .collect();
            for (name, query) in &args.prometheus_query {
                queries.retain(|(n, _)| n != name);
                queries.push((name.clone(), query.clone()));
            }
            (url.clone(), queries)
        });
        Ok(Watch {
            observer,
            server,
            live,
            samplers,
            started: SystemTime::now(),
            linger: args.metrics_linger,
            prometheus,
            step: if args.scale_interval.is_zero() {
                Duration::from_secs(5)
            } else {
                args.scale_interval
            },
            dir,
        })
    }

    /// The observer the replay (or the workers' live reports) feeds, when there is a live view or
    /// `/metrics`.
    pub fn observer(&self) -> Option<Arc<Observer>> {
        self.observer.clone()
    }

    /// Stops watching: the live view's last interval, `/metrics` for `--metrics-linger` more, the
    /// samplers' last samples, then the Prometheus queries over the whole window. Returns what each
    /// collector left.
    pub fn finish(mut self) -> Vec<Collected> {
        if let Some(live) = self.live.take() {
            live.finish();
        }
        if let Some(server) = self.server.take() {
            if !self.linger.is_zero() {
                println!(
                    "metrics    served {:.1} s more at http://{}/metrics",
                    self.linger.as_secs_f64(),
                    server.addr()
                );
                std::thread::sleep(self.linger);
            }
            drop(server);
        }
        let mut collected: Vec<Collected> = self.samplers.drain(..).map(Sampler::finish).collect();
        if let Some((url, queries)) = &self.prometheus {
            collected.extend(collect::prometheus::collect(
                &self.dir,
                url,
                queries,
                (self.started, SystemTime::now()),
                self.step,
            ));
        }
        collected
    }
}
