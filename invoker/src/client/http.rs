//! Calls to HTTP endpoints (`http://`, `h2c://`, `https://`), on hyper's connection-level client, so
//! that what a connection does is ours to say:
//!
//! - HTTP/1.1 carries one call at a time per connection. Connections are kept alive in a pool: a call
//!   takes an idle one, or opens another while fewer than `--max-connections` are open (one opening at a
//!   time), or waits for one to be freed. The wait (and an opening) comes before the send time, so it
//!   shows in the send lag.
//! - HTTP/2 (h2c, or h2 chosen by ALPN) multiplexes: calls go round-robin over `--connections`
//!   connections.
//! - `--connection-per-call` dials (and, for https, shakes hands) afresh for every call, as STeLLAR does.
//!
//! Everything runs on the dispatcher's thread (`Rc`, `Cell`): the connections are driven by the thread
//! that releases the calls.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper::header::{HeaderValue, HOST};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;

use formats::records::{Outcome, Protocol, Wire};
use proto::function::{FunctionReport, REPORT_HEADER, REQUEST_HEADER};

use super::{no_answer, Reply};
use crate::request::RequestTemplate;
use crate::schedule::ScheduledCall;
use crate::target::{with_query, Scheme, Target};

/// A connection's sending half.
enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// One HTTP endpoint: how to dial it, what to send, and its connections.
pub(crate) struct HttpEndpoint {
    target: Target,
    request: Rc<RequestTemplate>,
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    /// The request target of an HTTP/1.1 call (origin form) and of an HTTP/2 one (absolute, also what a
    /// signature covers).
    uri_h1: Uri,
    uri_h2: Uri,
    host: HeaderValue,
    /// Whether the endpoint speaks HTTP/2 (known once the first connection is made: ALPN decides https).
    h2: Cell<bool>,
    idle: RefCell<Vec<http1::SendRequest<Full<Bytes>>>>,
    open: Cell<usize>,
    /// Whether a connection is being opened: one at a time, so that a burst of calls arriving while every
    /// connection is busy opens connections as fast as answers do not free them, not one per call.
    opening: Cell<bool>,
    freed: Notify,
    multiplexed: RefCell<Vec<http2::SendRequest<Full<Bytes>>>>,
    next: Cell<usize>,
    /// Bytes that bodies of sizes the load gives are sliced from (no copy per call); grown on demand.
    filler: RefCell<Bytes>,
}

impl HttpEndpoint {
    /// The endpoint, with no connection yet; the error says what of it cannot be sent to.
    pub(crate) fn new(
        target: Target,
        request: Rc<RequestTemplate>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<HttpEndpoint, String> {
        let tls = match tls {
            Some(config) => Some((
                TlsConnector::from(config),
                rustls::pki_types::ServerName::try_from(target.host.clone())
                    .map_err(|e| format!("`{}` is not a TLS server name: {e}", target.host))?,
            )),
            None => None,
        };
        let query = request.query.as_deref();
        let uri = |text: String| text.parse::<Uri>().map_err(|e| format!("`{text}`: {e}"));
        Ok(HttpEndpoint {
            uri_h1: uri(with_query(&target.path_and_query, query))?,
            uri_h2: uri(with_query(&target.http_uri(), query))?,
            host: HeaderValue::from_str(&target.host_header()).map_err(|e| e.to_string())?,
            h2: Cell::new(target.scheme == Scheme::H2c),
            target,
            request,
            tls,
            idle: RefCell::new(Vec::new()),
            open: Cell::new(0),
            opening: Cell::new(false),
            freed: Notify::new(),
            multiplexed: RefCell::new(Vec::new()),
            next: Cell::new(0),
            filler: RefCell::new(Bytes::new()),
        })
    }

    /// Opens `connections` connections before the run (one for `--connection-per-call`, only to check
    /// that the endpoint answers); the error says why one could not be opened.
    pub(crate) async fn open(&self, connections: usize) -> Result<(), String> {
        let per_call = self.request.connection_per_call;
        for _ in 0..if per_call { 1 } else { connections.max(1) } {
            let sender = Box::pin(self.dial()).await?;
            if !per_call {
                self.keep(sender);
            }
        }
        Ok(())
    }

    /// The protocol its calls travel with.
    pub(crate) fn protocol(&self) -> Protocol {
        if self.h2.get() {
            Protocol::H2
        } else {
            Protocol::Http1
        }
    }

    fn keep(&self, sender: Sender) {
        match sender {
            Sender::H1(s) => {
                self.open.set(self.open.get() + 1);
                self.idle.borrow_mut().push(s);
            }
            Sender::H2(s) => self.multiplexed.borrow_mut().push(s),
        }
    }

    /// A new connection, its driver spawned on this thread.
    async fn dial(&self) -> Result<Sender, String> {
        let t = &self.target;
        let tcp = TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| format!("connecting to {}: {e}", t.authority))?;
        let _ = tcp.set_nodelay(true);
        let sender = match &self.tls {
            None => handshake(TokioIo::new(tcp), self.h2.get()).await,
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| super::tls::handshake_failure(&t.host, &e))?;
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                self.h2.set(h2);
                handshake(TokioIo::new(stream), h2).await
            }
        };
        sender.map_err(|e| format!("HTTP handshake with {}: {e}", t.authority))
    }

    /// An HTTP/1.1 connection free for one call: an idle one, a new one, or the next one freed.
    async fn lease(&self) -> Result<Lease<'_>, String> {
        loop {
            let idle = self.idle.borrow_mut().pop();
            if let Some(mut sender) = idle {
                if sender.ready().await.is_ok() {
                    return Ok(Lease {
                        endpoint: self,
                        sender: Some(sender),
                    });
                }
                self.open.set(self.open.get() - 1);
                continue;
            }
            if self.open.get() < self.request.max_connections && !self.opening.get() {
                self.open.set(self.open.get() + 1);
                self.opening.set(true);
                let mut lease = Lease {
                    endpoint: self,
                    sender: None,
                };
                // Boxed, as every dial: a connect and TLS handshake future is kilobytes, and inline it would
                // make every call's task that large (10 KB with gRPC's, copied and allocated per call).
                let dialled = Box::pin(self.dial()).await;
                self.opening.set(false);
                // A caller waiting may open the next one, if answers have not freed one by then.
                self.freed.notify_one();
                return match dialled? {
                    Sender::H1(s) => {
                        lease.sender = Some(s);
                        Ok(lease)
                    }
                    // ALPN may choose differently on another connection; keep it rather than fail.
                    Sender::H2(s) => {
                        self.multiplexed.borrow_mut().push(s);
                        Err("the server switched to HTTP/2 on a new connection".into())
                    }
                };
            }
            self.freed.notified().await;
        }
    }

    /// `n` bytes of filler.
    fn filler(&self, n: usize) -> Bytes {
        let mut filler = self.filler.borrow_mut();
        if filler.len() < n {
            *filler = Bytes::from(vec![b'x'; n.next_power_of_two()]);
        }
        filler.slice(..n)
    }

    /// The body `call` sends: its own payload size when the load gives one (a POST's body; a GET sends
    /// its size in the query), otherwise the request's.
    fn body(&self, call: &ScheduledCall) -> Bytes {
        match call.payload_bytes {
            Some(n) if self.request.method == hyper::Method::POST => self.filler(n as usize),
            Some(_) => Bytes::new(),
            None => self.request.body.clone(),
        }
    }

    /// The request of one call, sending `body` (see [`HttpEndpoint::body`]).
    fn build(&self, call: &ScheduledCall, body: &Bytes, h2: bool) -> Request<Full<Bytes>> {
        let t = &*self.request;
        // The absolute URI (HTTP/2's request target, and what a signature covers) and the origin form.
        let (absolute, origin) = match call.payload_bytes {
            Some(n) if t.method == hyper::Method::GET => {
                let query = format!("PayloadLengthBytes={n}");
                let uri = |base: &str| with_query(base, Some(&query)).parse::<Uri>().ok();
                match (
                    uri(&self.target.http_uri()),
                    uri(&self.target.path_and_query),
                ) {
                    (Some(a), Some(o)) => (a, o),
                    _ => (self.uri_h2.clone(), self.uri_h1.clone()),
                }
            }
            _ => (self.uri_h2.clone(), self.uri_h1.clone()),
        };
        let mut request = Request::new(Full::new(body.clone()));
        *request.method_mut() = t.method.clone();
        *request.uri_mut() = if h2 { absolute.clone() } else { origin };
        *request.headers_mut() = t.headers.clone();
        if !h2 && !request.headers().contains_key(HOST) {
            request.headers_mut().insert(HOST, self.host.clone());
        }
        if let Some(signer) = &t.signer {
            self.sign(signer, &mut request, &absolute, body);
        }
        if call.ask.is_some() {
            if let Ok(value) = HeaderValue::from_bytes(&super::ask_json(call.ask)) {
                request.headers_mut().insert(REQUEST_HEADER, value);
            }
        }
        request
    }

    /// Adds the AWS Signature V4 headers of `request`, signed now over its host, method, `absolute` URI
    /// and `body`.
    /// A request that cannot be signed goes unsigned, and its endpoint answers 403.
    fn sign(
        &self,
        signer: &super::aws::AwsSigner,
        request: &mut Request<Full<Bytes>>,
        absolute: &Uri,
        body: &[u8],
    ) {
        let host = self.host.to_str().unwrap_or_default();
        let method = request.method().as_str().to_owned();
        match signer.headers(
            &method,
            &absolute.to_string(),
            &[("host", host)],
            body,
            std::time::SystemTime::now(),
        ) {
            Ok(headers) => request.headers_mut().extend(headers),
            Err(e) => log::warn!("signing a call to {}: {e}", self.target.authority),
        }
    }

    /// One call: a connection, the request, the whole reply. `sent` is set when the request is handed to
    /// the connection.
    async fn exchange(
        &self,
        call: &ScheduledCall,
        body: &Bytes,
        sent: &Cell<Option<Instant>>,
    ) -> Result<Answer, String> {
        if self.request.connection_per_call {
            let sender = Box::pin(self.dial()).await?;
            let h2 = matches!(sender, Sender::H2(_));
            let request = self.build(call, body, h2);
            sent.set(Some(Instant::now()));
            return match sender {
                Sender::H1(mut s) => read(s.send_request(request).await).await,
                Sender::H2(mut s) => read(s.send_request(request).await).await,
            };
        }
        if self.h2.get() {
            let mut sender = {
                let senders = self.multiplexed.borrow();
                let k = self.next.get();
                self.next.set(k.wrapping_add(1));
                senders[k % senders.len()].clone()
            };
            let request = self.build(call, body, true);
            sent.set(Some(Instant::now()));
            return read(sender.send_request(request).await).await;
        }
        let mut lease = self.lease().await?;
        let request = self.build(call, body, false);
        sent.set(Some(Instant::now()));
        let sender = lease.sender.as_mut().expect("a lease holds its connection");
        let answer = read(sender.send_request(request).await).await;
        if answer.is_ok() {
            lease.give_back();
        }
        answer
    }

    /// Makes one call, within `timeout` of `start` (the wait for a connection included).
    pub(crate) async fn call(self: Rc<Self>, call: ScheduledCall, timeout: Duration) -> Reply {
        let start = Instant::now();
        let sent = Cell::new(None);
        // Made once: sent (and signed) by the exchange, counted in the record.
        let body = self.body(&call);
        let result = tokio::time::timeout(timeout, self.exchange(&call, &body, &sent)).await;
        let mut wire = Wire {
            protocol: Some(self.protocol()),
            request_bytes: Some(body.len() as u64),
            ..Wire::default()
        };
        let sent = sent.get().unwrap_or(start);
        match result {
            Err(_) => Reply::failed(sent, Outcome::Timeout, wire, Some(no_answer(timeout))),
            Ok(Err(cause)) => Reply::failed(sent, Outcome::status(14), wire, Some(cause)),
            Ok(Ok(answer)) => {
                wire.status = Some(answer.status);
                wire.response_bytes = Some(answer.bytes);
                let outcome = Outcome::http(answer.status).unwrap_or(Outcome::status(2));
                let failure = (outcome != Outcome::Ok)
                    .then(|| format!("{} answered HTTP {}", self.target.authority, answer.status));
                Reply {
                    sent,
                    outcome,
                    wire,
                    report: answer.report,
                    failure,
                }
            }
        }
    }
}

/// An HTTP/1.1 connection lent to one call: given back when the call is answered; dropped (and no longer
/// counted as open) when the call failed or was abandoned, so a broken connection is never reused.
struct Lease<'a> {
    endpoint: &'a HttpEndpoint,
    /// The connection (none while it is being opened).
    sender: Option<http1::SendRequest<Full<Bytes>>>,
}

impl Lease<'_> {
    fn give_back(mut self) {
        if let Some(sender) = self.sender.take() {
            self.endpoint.idle.borrow_mut().push(sender);
            self.endpoint.freed.notify_one();
        }
        std::mem::forget(self);
    }
}

impl Drop for Lease<'_> {
    /// Not given back: the connection failed, or never opened, so one more may be opened.
    fn drop(&mut self) {
        let open = &self.endpoint.open;
        open.set(open.get().saturating_sub(1));
        self.endpoint.freed.notify_one();
    }
}

/// What came back.
struct Answer {
    status: u16,
    bytes: u64,
    report: Option<FunctionReport>,
}

/// Reads a reply to its end (counting its bytes, keeping none of them).
async fn read(
    response: Result<hyper::Response<hyper::body::Incoming>, hyper::Error>,
) -> Result<Answer, String> {
    let response = response.map_err(|e| crate::error::error_chain(&e))?;
    let status = response.status().as_u16();
    let report = response
        .headers()
        .get(REPORT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(FunctionReport::parse);
    let mut body = response.into_body();
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| crate::error::error_chain(&e))?;
        if let Some(data) = frame.data_ref() {
            bytes += data.len() as u64;
        }
    }
    Ok(Answer {
        status,
        bytes,
        report,
    })
}

/// The HTTP handshake over an open stream; the connection's driver runs as a task of this thread.
async fn handshake<T>(io: T, h2: bool) -> Result<Sender, hyper::Error>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    if h2 {
        let (sender, connection) = http2::handshake(super::LocalExecutor, io).await?;
        tokio::task::spawn_local(async move {
            let _ = connection.await;
        });
        Ok(Sender::H2(sender))
    } else {
        let (sender, connection) = http1::handshake(io).await?;
        tokio::task::spawn_local(async move {
            let _ = connection.await;
        });
        Ok(Sender::H1(sender))
    }
}
