//! The emulated function server: `helloworld.Greeter/SayHello` that, per request, touches a working set of
//! memory and busy-spins for a duration, both drawn from a proxy's profile (or fixed), and says what it did.
//!
//! Memory is allocated per request and released after it, under a server-wide budget (a semaphore of
//! MiB), so concurrent requests of a large proxy queue for memory instead of exhausting the machine. Busy
//! requests run on at most `threads` threads, so a slow function uses as many cores as it was given, not
//! one per request in flight.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use profiles::{Metric, Proxy};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};
use trace::Percentiles;

use crate::proto::greeter_server::{Greeter, GreeterServer};
use crate::proto::{HelloReply, HelloRequest};

/// What each request does.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Name reported in replies.
    pub name: String,
    /// Busy time per request, ms (sampled per request from these percentiles).
    pub duration_ms: Percentiles,
    /// Working set per request, MiB (sampled per request).
    pub memory_mb: Percentiles,
    /// Memory all concurrent requests may hold together, MiB.
    pub memory_budget_mb: u32,
}

impl Behaviour {
    /// Fixed duration and memory.
    pub fn fixed(name: &str, duration_ms: f64, memory_mb: f64) -> Behaviour {
        let point = |v: f64| Percentiles::new(vec![(0.0, v), (100.0, v)]);
        Behaviour {
            name: name.to_owned(),
            duration_ms: point(duration_ms),
            memory_mb: point(memory_mb),
            memory_budget_mb: DEFAULT_BUDGET_MB,
        }
    }

    /// Emulates `proxy`: durations and memory drawn from its percentiles.
    pub fn of_proxy(proxy: &Proxy) -> Behaviour {
        Behaviour {
            name: proxy.name.clone(),
            duration_ms: proxy.metric(Metric::Duration).clone(),
            memory_mb: proxy.metric(Metric::Memory).clone(),
            memory_budget_mb: DEFAULT_BUDGET_MB,
        }
    }

    fn sample(&self) -> (Duration, usize) {
        let d = self
            .duration_ms
            .quantile(rand::random::<f64>())
            .unwrap_or(0.0);
        let m = self
            .memory_mb
            .quantile(rand::random::<f64>())
            .unwrap_or(0.0);
        let mib = (m.round() as usize).min(self.memory_budget_mb as usize);
        (Duration::from_secs_f64(d.max(0.0) / 1e3), mib)
    }
}

/// Default memory budget, MiB.
pub const DEFAULT_BUDGET_MB: u32 = 2048;

struct Service {
    behaviour: Arc<Behaviour>,
    budget: Arc<Semaphore>,
}

#[tonic::async_trait]
impl Greeter for Service {
    async fn say_hello(
        &self,
        _request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let (busy, mib) = self.behaviour.sample();
        if busy.is_zero() && mib == 0 {
            return Ok(Response::new(HelloReply {
                message: format!("{}: busy 0 us, touched 0 MiB", self.behaviour.name),
            }));
        }
        let permit = if mib > 0 {
            Some(
                Arc::clone(&self.budget)
                    .acquire_many_owned(mib as u32)
                    .await
                    .map_err(|_| Status::unavailable("server shutting down"))?,
            )
        } else {
            None
        };
        let name = self.behaviour.name.clone();
        let message = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            touch(mib);
            while started.elapsed() < busy {
                std::hint::spin_loop();
            }
            drop(permit);
            format!(
                "{name}: busy {} us, touched {mib} MiB",
                started.elapsed().as_micros()
            )
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(HelloReply { message }))
    }
}

/// Allocates `mib` MiB and writes one byte per page, so the pages are really resident.
fn touch(mib: usize) {
    if mib == 0 {
        return;
    }
    let mut buffer = vec![0u8; mib << 20];
    for i in (0..buffer.len()).step_by(4096) {
        buffer[i] = 1;
    }
    std::hint::black_box(&buffer);
}

/// Serves `behaviour` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    behaviour: Behaviour,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let budget = Arc::new(Semaphore::new(behaviour.memory_budget_mb as usize));
    let service = Service {
        behaviour: Arc::new(behaviour),
        budget,
    };
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(GreeterServer::new(service))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// A server running on its own runtime in this process, for tests and benchmarks; stops when dropped.
pub struct LocalServer {
    /// `127.0.0.1:port` it listens on.
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalServer {
    /// Starts `behaviour` on an ephemeral loopback port with `threads` worker threads; at most `threads`
    /// requests are busy at once (the rest queue, using no CPU).
    pub fn start(behaviour: Behaviour, threads: usize) -> std::io::Result<LocalServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .max_blocking_threads(threads.max(1))
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("emulated-function".into())
            .spawn(move || {
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(e) = runtime.block_on(serve(listener, behaviour, shutdown)) {
                    log::error!("emulated function server: {e}");
                }
                // Drop in-flight requests (a "dead" server) rather than waiting for them.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(LocalServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The `host:port` endpoint string for a load file.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Stops serving and closes the port.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop();
    }
}
