//! The emulated function server: `helloworld.Greeter/SayHello` that, per call, takes a duration of wall
//! time (part computing, part waiting) and touches a working set, both drawn from a proxy's profile (or
//! asked for by the call, or fixed), and says what it did: see [`function`] for the model and the reply.
//! The same function answers plain HTTP/1.1 and h2c on the same port (see `http`: STeLLAR's
//! measurement-function contract), and STeLLAR's producer-consumer gRPC service (see `chain`: its vHive
//! provider).
//!
//! Memory is each instance's footprint, allocated when it starts and held for its life, and what a call
//! asks beyond it, for the call's duration: all under a server-wide budget (a semaphore of MiB), so
//! concurrent calls of a large proxy queue for memory instead of exhausting the machine. Computation
//! runs on at most `threads` threads, so a slow function uses as many cores as it was given, not one per
//! call in flight; waiting holds no thread.

mod chain;
mod footprint;
pub mod function;
mod http;
mod instance;
mod kill;
pub mod metrics;
mod orchestrate;
mod pool;
mod receive;
mod store;

pub use function::{Behaviour, DEFAULT_BUDGET_MB, DEFAULT_KEEP_ALIVE};
pub use kill::KillWhich;
pub use metrics::{FleetMetrics, FunctionScale, Scale};
pub use pool::Scaling;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use function::Service;
use host::pin_to;
use kill::Kills;
use proto::chain::producer_consumer_server::ProducerConsumerServer;
use proto::greeter_server::GreeterServer;

/// Serves `behaviour` on `listener` until `shutdown` completes, with the standard gRPC health service
/// (`grpc.health.v1.Health`) beside it, so a deployer can tell "up" without running the function.
pub async fn serve(
    listener: TcpListener,
    behaviour: Behaviour,
    metrics: Arc<FleetMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let budget = Arc::new(Semaphore::new(behaviour.memory_budget_mb as usize));
    serve_with_budget(
        listener,
        behaviour,
        (budget, Kills::new()),
        metrics,
        shutdown,
    )
    .await
}

/// The largest request the function takes over gRPC, bytes: a payload as large as the invoker sends
/// (1 GiB), not tonic's 4 MiB default, which refused a workflow's join of eight 1 MB edges.
pub const MAX_REQUEST_BYTES: usize = (1 << 30) + (1 << 20);

/// [`serve`] drawing working sets from a `budget` (MiB) shared with other servers.
async fn serve_with_budget(
    listener: TcpListener,
    behaviour: Behaviour,
    (budget, kills): (Arc<Semaphore>, Arc<Kills>),
    metrics: Arc<FleetMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let service = Arc::new(Service::new(behaviour, budget, metrics, kills));
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<GreeterServer<Service>>().await;
    let grpc = tonic::service::Routes::new(health_service)
        .add_service(
            GreeterServer::from_arc(Arc::clone(&service))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            ProducerConsumerServer::from_arc(Arc::clone(&service))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        );
    // Every path that is not a gRPC method is the function over plain HTTP.
    // Every request's body is timed on its way in (`receive`).
    let routes = tonic::service::Routes::from(
        grpc.into_axum_router()
            .fallback(move |request: axum::extract::Request| {
                http::answer(Arc::clone(&service), request)
            })
            .layer(axum::middleware::map_request(receive::time_body)),
    );
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .accept_http1(true)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Asks the server at `addr` whether it serves (gRPC health check); `Err` says why not.
pub async fn health_check(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let check = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        let reply = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|s| format!("health check: {}", s.message()))?;
        match reply.into_inner().status() {
            ServingStatus::Serving => Ok(()),
            other => Err(format!("health check: {}", other.as_str_name())),
        }
    };
    tokio::time::timeout(timeout, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

/// The runtime emulated servers run on: `threads` worker threads and as many for busy requests, so at
/// most `threads` requests spin at once (the rest queue, using no CPU); pinned to `cpus` when given.
pub fn server_runtime(
    threads: usize,
    cpus: Option<Vec<usize>>,
) -> std::io::Result<tokio::runtime::Runtime> {
    let threads = threads.max(1);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .worker_threads(threads)
        .max_blocking_threads(threads)
        .thread_name("emulated-function")
        .enable_all();
    if let Some(cpus) = cpus {
        builder.on_thread_start(move || {
            if !pin_to(&cpus) {
                log::warn!("could not pin an emulated function thread to CPUs {cpus:?}");
            }
        });
    }
    builder.build()
}

/// Servers per loopback address: well within the ephemeral port range, so a fleet of any size never runs
/// out of ports (all of 127.0.0.0/8 is this machine on Linux).
pub const SERVERS_PER_ADDRESS: usize = 4000;

/// The loopback address of the `k`-th server of a fleet: 127.0.0.1 for the first
/// [`SERVERS_PER_ADDRESS`], then 127.0.0.2, and so on (over 127.0.0.0/8).
pub fn loopback_address(k: usize) -> std::net::Ipv4Addr {
    let n = (k / SERVERS_PER_ADDRESS + 1) as u32;
    std::net::Ipv4Addr::from(0x7f00_0000 | (n & 0x00ff_ffff))
}

/// Emulated servers running in this process, one loopback port per behaviour, sharing one runtime: the
/// local deployer's fleet, and the tests' and benchmarks' server. Stops (ports closed, threads joined)
/// on [`LocalServers::stop`] or when dropped, so nothing outlives its owner.
pub struct LocalServers {
    /// `127.0.0.1:port` of each behaviour, in the order given.
    pub addrs: Vec<SocketAddr>,
    metrics: Arc<FleetMetrics>,
    /// Each server's function name and kill switch, in the order of the behaviours.
    kills: Vec<(String, Arc<Kills>)>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalServers {
    /// Starts one server per behaviour on ephemeral loopback ports, on a runtime of `threads` worker
    /// threads (pinned to `cpus` when given); at most `threads` requests are busy at once, whichever
    /// server they came to (the rest queue, using no CPU), and their working sets share one budget: the
    /// largest `memory_budget_mb` of the behaviours. Returns once every server answers its health check.
    pub fn start(
        behaviours: Vec<Behaviour>,
        threads: usize,
        cpus: Option<Vec<usize>>,
    ) -> std::io::Result<LocalServers> {
        LocalServers::start_at(behaviours, threads, cpus, None)
    }

    /// [`LocalServers::start`], each server on the address given (a resumed run's servers where its
    /// load sends the calls) instead of an ephemeral port; one address per behaviour.
    pub fn start_at(
        behaviours: Vec<Behaviour>,
        threads: usize,
        cpus: Option<Vec<usize>>,
        addresses: Option<&[SocketAddr]>,
    ) -> std::io::Result<LocalServers> {
        let budget_mb = behaviours
            .iter()
            .map(|b| b.memory_budget_mb)
            .max()
            .unwrap_or(DEFAULT_BUDGET_MB);
        let budget = Arc::new(Semaphore::new(budget_mb as usize));
        let metrics = Arc::new(FleetMetrics::new());
        let fleet_metrics = Arc::clone(&metrics);
        let runtime = server_runtime(threads, cpus)?;
        let listeners = runtime.block_on(async {
            let mut listeners = Vec::with_capacity(behaviours.len());
            for k in 0..behaviours.len() {
                let listener = match addresses.and_then(|a| a.get(k)) {
                    Some(addr) => TcpListener::bind(addr).await.map_err(|e| {
                        std::io::Error::new(e.kind(), format!("binding {addr}: {e}"))
                    })?,
                    None => TcpListener::bind((loopback_address(k), 0)).await?,
                };
                listeners.push(listener);
            }
            Ok::<_, std::io::Error>(listeners)
        })?;
        let addrs = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<std::io::Result<Vec<_>>>()?;
        let kills: Vec<(String, Arc<Kills>)> = behaviours
            .iter()
            .map(|b| (b.name.clone(), Kills::new()))
            .collect();
        let switches: Vec<Arc<Kills>> = kills.iter().map(|(_, k)| Arc::clone(k)).collect();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let check_addrs = addrs.clone();
        let thread = std::thread::Builder::new()
            .name("emulated-functions".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut servers = tokio::task::JoinSet::new();
                    let served = listeners.into_iter().zip(behaviours).zip(switches);
                    for ((listener, behaviour), kills) in served {
                        let mut stopped = stopped.clone();
                        let shutdown = async move {
                            let _ = stopped.wait_for(|s| *s).await;
                        };
                        let budget = Arc::clone(&budget);
                        let metrics = Arc::clone(&fleet_metrics);
                        servers.spawn(async move {
                            if let Err(e) = serve_with_budget(
                                listener,
                                behaviour,
                                (budget, kills),
                                metrics,
                                shutdown,
                            )
                            .await
                            {
                                log::error!("emulated function server: {e}");
                            }
                        });
                    }
                    let mut health = Ok(());
                    for addr in check_addrs {
                        if let Err(e) = health_check(addr, Duration::from_secs(10)).await {
                            health = Err(std::io::Error::other(format!("{addr}: {e}")));
                            break;
                        }
                    }
                    let _ = ready_tx.send(health);
                    while servers.join_next().await.is_some() {}
                });
                // Drop in-flight requests (a "dead" server) rather than waiting for them.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        let mut servers = LocalServers {
            addrs,
            metrics,
            kills,
            stop: Some(stop),
            thread: Some(thread),
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(servers),
            Ok(Err(e)) => {
                servers.stop();
                Err(e)
            }
            Err(_) => {
                servers.stop();
                Err(std::io::Error::other("emulated function servers exited"))
            }
        }
    }

    /// The fleet's metrics: every server's, together.
    pub fn metrics(&self) -> Arc<FleetMetrics> {
        Arc::clone(&self.metrics)
    }

    /// A handle that kills instances of the fleet's functions (a fault a run injects), usable from
    /// another thread while the fleet serves.
    pub fn killer(&self) -> Killer {
        Killer(self.kills.clone())
    }

    /// The `host:port` endpoint strings for a load file, in the order of the behaviours.
    pub fn endpoints(&self) -> Vec<String> {
        self.addrs.iter().map(|a| a.to_string()).collect()
    }

    /// Stops serving and closes every port; returns once the runtime is gone.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LocalServers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Kills instances of a fleet's functions: see [`LocalServers::killer`].
#[derive(Clone)]
pub struct Killer(Vec<(String, Arc<Kills>)>);

impl Killer {
    /// Kills `which` of the instances of the function named `function` (of every function, when none)
    /// now: their calls in flight end with an error, later calls go to other or new instances. Returns
    /// how many were killed, or an error naming the functions there are when none is named so.
    pub fn kill_instances(
        &self,
        function: Option<&str>,
        which: KillWhich,
    ) -> Result<usize, String> {
        let switches: Vec<&Arc<Kills>> = self
            .0
            .iter()
            .filter(|(name, _)| function.is_none_or(|f| f == name))
            .map(|(_, k)| k)
            .collect();
        if let (true, Some(function)) = (switches.is_empty(), function) {
            let names: Vec<&str> = self.0.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!(
                "no local function is named {function:?} (the fleet serves: {})",
                names.join(", ")
            ));
        }
        Ok(switches.iter().map(|k| k.kill(which)).sum())
    }
}

/// One emulated server in this process (a fleet of one), for tests and benchmarks; stops when dropped.
pub struct LocalServer {
    /// `127.0.0.1:port` it listens on.
    pub addr: SocketAddr,
    servers: LocalServers,
}

impl LocalServer {
    /// Starts `behaviour` on an ephemeral loopback port with `threads` worker threads; at most `threads`
    /// requests are busy at once (the rest queue, using no CPU).
    pub fn start(behaviour: Behaviour, threads: usize) -> std::io::Result<LocalServer> {
        let servers = LocalServers::start(vec![behaviour], threads, None)?;
        Ok(LocalServer {
            addr: servers.addrs[0],
            servers,
        })
    }

    /// The `host:port` endpoint string for a load file.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// What the server is doing (its scale, the memory it holds).
    pub fn metrics(&self) -> Arc<FleetMetrics> {
        self.servers.metrics()
    }

    /// Stops serving and closes the port.
    pub fn stop(&mut self) {
        self.servers.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleets_spread_over_loopback_addresses() {
        assert_eq!(loopback_address(0), std::net::Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(
            loopback_address(3999),
            std::net::Ipv4Addr::new(127, 0, 0, 1)
        );
        assert_eq!(
            loopback_address(4000),
            std::net::Ipv4Addr::new(127, 0, 0, 2)
        );
        assert_eq!(
            loopback_address(4000 * 256),
            std::net::Ipv4Addr::new(127, 0, 1, 1)
        );
        assert!(loopback_address(usize::MAX / 2).is_loopback());
    }
}
