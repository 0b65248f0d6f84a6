//! Metrics in Prometheus' exposition format (OpenMetrics text, through the maintained
//! `prometheus-client` crate), and [`MetricsServer`], which serves any number of registries at
//! `GET /metrics` from a thread of its own while a replay runs.
//!
//! The tools fill their own registries: the invoker its calls (`loadgen_…`), the emulated functions theirs
//! (`emulated_…`); whoever serves puts them side by side. [`ticker::Ticker`] is the thread every watcher
//! (live view, collector, a worker's live reports) runs on. [`Held`] adds to a gauge for as long as it
//! lives.

pub mod ticker;

use std::net::SocketAddr;
use std::sync::Arc;

pub use prometheus_client;
use prometheus_client::registry::Registry;

/// The content type of what [`encode`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The exposition of `registries` together, ended by one `# EOF`.
pub fn encode(registries: &[Arc<Registry>]) -> String {
    let mut text = String::new();
    for r in registries {
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut text, r);
    }
    let _ = prometheus_client::encoding::text::encode_eof(&mut text);
    text
}

/// Serves registries at `http://ADDR/metrics` until dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (`HOST:PORT`; port 0 picks a free one) and serves `registries` from a thread of its
    /// own. Fails, before anything is served, when the address cannot be bound.
    pub fn start(addr: &str, registries: Vec<Arc<Registry>>) -> std::io::Result<MetricsServer> {
        Self::start_refreshing(addr, registries, Arc::new(|| {}))
    }

    /// [`MetricsServer::start`], calling `refresh` before each scrape (to set gauges that are sampled
    /// rather than kept up to date).
    pub fn start_refreshing(
        addr: &str,
        registries: Vec<Arc<Registry>>,
        refresh: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<MetricsServer> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let bound = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let registries = Arc::new(registries);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        log::warn!("metrics server: no runtime: {e}");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            log::warn!("metrics server: {e}");
                            return;
                        }
                    };
                    let app = axum::Router::new().route(
                        "/metrics",
                        axum::routing::get(move || {
                            let registries = Arc::clone(&registries);
                            refresh();
                            async move {
                                (
                                    [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
                                    encode(&registries),
                                )
                            }
                        }),
                    );
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                });
            })?;
        Ok(MetricsServer {
            addr: bound,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Adds to a gauge until dropped.
pub struct Held(prometheus_client::metrics::gauge::Gauge, i64);

impl Held {
    /// Adds `by` to `gauge` now, and takes it off when dropped.
    pub fn new(gauge: &prometheus_client::metrics::gauge::Gauge, by: i64) -> Held {
        gauge.inc_by(by);
        Held(gauge.clone(), by)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec_by(self.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;

    #[test]
    fn registries_are_served_together_and_the_port_is_freed() {
        let (mut a, mut b) = (Registry::default(), Registry::default());
        let (x, y): (Counter, Counter) = (Counter::default(), Counter::default());
        a.register("first_calls", "Calls of the first", x.clone());
        b.register("second_calls", "Calls of the second", y.clone());
        x.inc();
        y.inc_by(5);
        let server = MetricsServer::start("127.0.0.1:0", vec![Arc::new(a), Arc::new(b)]).unwrap();
        let url = format!("http://{}/metrics", server.addr());
        let response = reqwest::blocking::get(&url).unwrap();
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            CONTENT_TYPE
        );
        let text = response.text().unwrap();
        assert!(text.contains("first_calls_total 1\n"), "{text}");
        assert!(text.contains("second_calls_total 5\n"), "{text}");
        assert!(text.ends_with("# EOF\n") && text.matches("# EOF").count() == 1);
        let addr = server.addr();
        drop(server);
        std::net::TcpListener::bind(addr).expect("the port is free again");
        assert!(MetricsServer::start("256.0.0.1:80", Vec::new()).is_err());
    }
}
