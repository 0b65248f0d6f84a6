//! Spans to an OTLP/HTTP receiver as calls end: a thread of its own posts them (OTLP JSON,
//! `POST /v1/traces`), each post carrying what arrived while the last one was in flight, so a slow or
//! absent receiver never holds up a call. A failed post is logged (the first cause, and a count at the
//! end); the run goes on, and `spans.json` keeps every span.

use std::io::Write;
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use super::ServiceSpans;

use crate::client::h1;

/// How long a post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// The exporting thread.
pub(crate) struct Exporter {
    sender: Mutex<Option<Sender<ServiceSpans>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Where an OTLP/HTTP receiver listens: `http://HOST:PORT[/PATH]`, as the authority and the path
/// (`/v1/traces` when none is given).
pub fn otlp_url(text: &str) -> Result<(String, String), String> {
    let rest = text.strip_prefix("http://").ok_or_else(|| {
        format!("`{text}`: give the OTLP/HTTP receiver as http://HOST:PORT (e.g. http://127.0.0.1:4318)")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(k) => (&rest[..k], &rest[k..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("`{text}`: no host"));
    }
    let path = match path {
        "" | "/" => "/v1/traces",
        p => p,
    };
    Ok((authority.to_owned(), path.to_owned()))
}

impl Exporter {
    /// Starts posting to `url` (checked by [`otlp_url`] when the flag was read).
    pub(crate) fn start(url: &str) -> Exporter {
        let (sender, receiver) = channel::<ServiceSpans>();
        let url = url.to_owned();
        let thread = std::thread::Builder::new()
            .name("otlp-export".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the exporter");
                let (mut posted, mut failed) = (0usize, 0usize);
                while let Ok(first) = receiver.recv() {
                    let mut batch = first;
                    batch.extend(receiver.try_iter().flatten());
                    let n = batch.len();
                    match runtime.block_on(post(&url, batch)) {
                        Ok(()) => posted += n,
                        Err(cause) => {
                            if failed == 0 {
                                log::warn!("exporting spans to {url}: {cause}");
                            }
                            failed += n;
                        }
                    }
                }
                if failed > 0 {
                    log::warn!("{failed} span(s) not exported to {url}; spans.json has them all");
                } else {
                    log::info!("{posted} span(s) exported to {url}");
                }
            })
            .expect("the exporter's thread");
        Exporter {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Queues `spans` for the next post.
    pub(crate) fn send(&self, spans: ServiceSpans) {
        if let Some(sender) = self.sender.lock().ok().and_then(|s| s.clone()) {
            let _ = sender.send(spans);
        }
    }

    /// Posts what is queued, and ends the thread.
    pub(crate) fn finish(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

/// One post of `spans` to `url`.
async fn post(url: &str, spans: ServiceSpans) -> Result<(), String> {
    let (authority, path) = otlp_url(url)?;
    let body = serde_json::to_vec(&super::traces_data(spans)).map_err(|e| e.to_string())?;
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("connecting to {authority}: {e}"))?;
        let mut connection = h1::Connection::new(Box::new(stream));
        let head = connection.request_head();
        let _ = write!(
            head,
            "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let (answer, _) = connection
            .exchange(&body, false)
            .await
            .map_err(h1::Failure::into_cause)?;
        match answer.status {
            200..=299 => Ok(()),
            status => Err(format!("answered HTTP {status}")),
        }
    };
    tokio::time::timeout(POST_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {POST_TIMEOUT:?}")))
}
