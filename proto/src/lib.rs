//! The `helloworld.Greeter` contract vSwarm proxies speak, generated from `proto/helloworld.proto`: the one
//! wire definition the invoker's client and the emulated function's server are both built from.
//!
//! [`chain`] is STeLLAR's producer-consumer contract, which its vHive provider speaks.
//! [`function`] defines what travels inside those messages between the invoker and the emulated function
//! (what a call asks for, what the function says it did), as JSON, so other functions stay compatible.
//! [`workflow`] is the plan a chained workflow's calls carry, and the reports they return.
//! [`testing`] holds a minimal server for tests and benchmarks of the client side.

#[allow(missing_docs, clippy::all)]
mod generated {
    tonic::include_proto!("helloworld");
}

pub use generated::*;

/// STeLLAR's producer-consumer contract (`proto_gen.ProducerConsumer/InvokeNext`), generated from
/// `proto/chainfunction.proto`: what its vHive provider calls, served by the emulated function and
/// called by the invoker's `vhive://` endpoints.
#[allow(missing_docs, clippy::all)]
pub mod chain {
    tonic::include_proto!("proto_gen");

    /// Go's `%v` of a list of strings, as STeLLAR writes `DataTransferChainIDs` and `TimestampChain`:
    /// `[a b c]`.
    pub fn go_list<S: AsRef<str>>(items: &[S]) -> String {
        let joined: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
        format!("[{}]", joined.join(" "))
    }

    /// The items of a Go `%v` list (`[a b]`, or `[]`); `None` when it is not one.
    pub fn parse_go_list(text: &str) -> Option<Vec<String>> {
        let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
        Some(inner.split_whitespace().map(str::to_owned).collect())
    }
}

pub mod function;
pub mod store;
pub mod trace;
pub mod workflow;

/// A minimal `Greeter` server for tests and benchmarks of callers: it answers every call after a fixed
/// delay (a timer, so it holds no thread), and can be stopped to play a server that dies.
#[doc(hidden)]
pub mod testing {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use tokio::net::TcpListener;
    use tonic::{Request, Response, Status};

    use crate::greeter_server::{Greeter, GreeterServer};
    use crate::{HelloReply, HelloRequest};

    struct Delayed {
        delay: Duration,
        received: Arc<AtomicU64>,
    }

    #[tonic::async_trait]
    impl Greeter for Delayed {
        async fn say_hello(
            &self,
            _request: Request<HelloRequest>,
        ) -> Result<Response<HelloReply>, Status> {
            self.received.fetch_add(1, Ordering::SeqCst);
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            Ok(Response::new(HelloReply {
                message: String::new(),
            }))
        }
    }

    /// Serves on `listener`, answering after `delay`, until `shutdown` completes; counts the calls it
    /// receives in `received`.
    pub async fn serve(
        listener: TcpListener,
        delay: Duration,
        received: Arc<AtomicU64>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), tonic::transport::Error> {
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        tonic::transport::Server::builder()
            .add_service(GreeterServer::new(Delayed { delay, received }))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
    }

    /// A server on its own thread and runtime, on an ephemeral loopback port; stops when dropped.
    pub struct TestServer {
        /// Where it listens.
        pub addr: SocketAddr,
        received: Arc<AtomicU64>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl TestServer {
        /// Starts a server answering after `delay`.
        pub fn start(delay: Duration) -> std::io::Result<TestServer> {
            TestServer::start_on(delay, || {})
        }

        /// Starts a server answering after `delay`, its thread first running `on_thread` (to pin it to a
        /// CPU, in benchmarks).
        pub fn start_on(
            delay: Duration,
            on_thread: impl FnOnce() + Send + 'static,
        ) -> std::io::Result<TestServer> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
            let addr = listener.local_addr()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let received = Arc::new(AtomicU64::new(0));
            let counter = Arc::clone(&received);
            let thread = std::thread::spawn(move || {
                on_thread();
                runtime.block_on(async move {
                    let _ = serve(listener, delay, counter, async {
                        let _ = stopped.await;
                    })
                    .await;
                });
                // Drop calls in flight rather than finishing them: a server that dies.
                runtime.shutdown_timeout(Duration::ZERO);
            });
            Ok(TestServer {
                addr,
                received,
                stop: Some(stop),
                thread: Some(thread),
            })
        }

        /// `host:port`, as a load file names it.
        pub fn endpoint(&self) -> String {
            self.addr.to_string()
        }

        /// Calls received so far.
        pub fn received(&self) -> u64 {
            self.received.load(Ordering::SeqCst)
        }

        /// Waits until at least `n` calls were received; `false` if `limit` passed first.
        pub fn wait_for_calls(&self, n: u64, limit: Duration) -> bool {
            let started = Instant::now();
            while self.received() < n {
                if started.elapsed() > limit {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            true
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

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.stop();
        }
    }
}
