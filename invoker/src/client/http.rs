//! Calls to HTTP endpoints (`http://`, `h2c://`, `https://`), on connections whose behaviour is ours to
//! say:
//!
//! - HTTP/1.1 carries one call at a time per connection, written and read by the call's own task
//!   ([`super::h1`]). Connections are kept alive in a pool; the wait for one (and an opening) comes before
//!   the send time, so it shows in the send lag.
//! - HTTP/2 (h2c, or h2 chosen by ALPN) multiplexes, on hyper's connection-level client: calls go
//!   round-robin over `--connections` connections.
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
use hyper::client::conn::http2;
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use formats::records::{Outcome, Protocol, Wire};
use proto::function::{FunctionReport, REPORT_HEADER, REQUEST_HEADER};

use super::h1::{self, Answer, Failure};
use super::{no_answer, Reply};
use crate::request::RequestTemplate;
use crate::schedule::ScheduledCall;
use crate::target::{with_query, Scheme, Target};

/// A new connection.
enum Dialled {
    H1(h1::Connection),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// One HTTP endpoint: how to dial it, what to send, and its connections.
pub(crate) struct HttpEndpoint {
    target: Target,
    request: Rc<RequestTemplate>,
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    /// The request target of an HTTP/1.1 call (origin form) and of an HTTP/2 one (absolute, also what a
    /// signature covers).
    origin: String,
    uri_h2: Uri,
    host: HeaderValue,
    /// The header lines of every HTTP/1.1 request: `Host` (unless the request names one) and the
    /// request's headers, rendered once.
    h1_headers: Vec<u8>,
    /// Whether the endpoint speaks HTTP/2 (known once the first connection is made: ALPN decides https).
    h2: Cell<bool>,
    pool: h1::Pool,
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
        let origin = with_query(&target.path_and_query, query);
        // Checked as hyper would check it, so both protocols refuse the same targets.
        uri(origin.clone())?;
        let host = HeaderValue::from_str(&target.host_header()).map_err(|e| e.to_string())?;
        Ok(HttpEndpoint {
            origin,
            uri_h2: uri(with_query(&target.http_uri(), query))?,
            h1_headers: h1_headers(&request.headers, &host),
            host,
            h2: Cell::new(target.scheme == Scheme::H2c),
            pool: h1::Pool::new(request.max_connections),
            target,
            request,
            tls,
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
            let dialled = Box::pin(self.dial()).await?;
            if !per_call {
                match dialled {
                    Dialled::H1(connection) => self.pool.keep(connection),
                    Dialled::H2(sender) => self.multiplexed.borrow_mut().push(sender),
                }
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

    /// A new connection (an HTTP/2 one's driver spawned on this thread).
    async fn dial(&self) -> Result<Dialled, String> {
        let t = &self.target;
        let tcp = TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| format!("connecting to {}: {e}", t.authority))?;
        let _ = tcp.set_nodelay(true);
        let dialled = match &self.tls {
            None if self.h2.get() => handshake_h2(TokioIo::new(tcp)).await,
            None => Ok(Dialled::H1(h1::Connection::new(Box::new(tcp)))),
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| super::tls::handshake_failure(&t.host, &e))?;
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                self.h2.set(h2);
                if h2 {
                    handshake_h2(TokioIo::new(stream)).await
                } else {
                    Ok(Dialled::H1(h1::Connection::new(Box::new(stream))))
                }
            }
        };
        dialled.map_err(|e| format!("HTTP/2 handshake with {}: {e}", t.authority))
    }

    /// A new HTTP/1.1 connection.
    async fn dial_h1(&self) -> Result<h1::Connection, String> {
        // Boxed, as every dial: a connect and TLS handshake future is kilobytes, and inline it would make
        // every call's task that large (copied and allocated per call).
        match Box::pin(self.dial()).await? {
            Dialled::H1(connection) => Ok(connection),
            // ALPN may choose differently on another connection; keep it rather than fail.
            Dialled::H2(sender) => {
                self.multiplexed.borrow_mut().push(sender);
                Err("the server switched to HTTP/2 on a new connection".into())
            }
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
            Some(n) if self.request.method == Method::POST => self.filler(n as usize),
            Some(_) => Bytes::new(),
            None => self.request.body.clone(),
        }
    }

    /// The query of a GET that sends the call's payload size, if it does.
    fn payload_query(&self, call: &ScheduledCall) -> Option<String> {
        match call.payload_bytes {
            Some(n) if self.request.method == Method::GET => {
                Some(format!("PayloadLengthBytes={n}"))
            }
            _ => None,
        }
    }

    /// The HTTP/2 request of one call, sending `body` (see [`HttpEndpoint::body`]).
    fn build_h2(
        &self,
        call: &ScheduledCall,
        body: &Bytes,
        carried: &[(&'static str, Rc<str>)],
    ) -> Request<Full<Bytes>> {
        let t = &*self.request;
        let uri = self
            .payload_query(call)
            .and_then(|q| {
                with_query(&self.target.http_uri(), Some(&q))
                    .parse::<Uri>()
                    .ok()
            })
            .unwrap_or_else(|| self.uri_h2.clone());
        let mut request = Request::new(Full::new(body.clone()));
        *request.method_mut() = t.method.clone();
        *request.headers_mut() = t.headers.clone();
        if let Some(signer) = &t.signer {
            let signature = self.signature(signer, &uri.to_string(), body);
            request.headers_mut().extend(signature);
        }
        if call.ask.is_some() {
            if let Ok(value) = HeaderValue::from_bytes(&super::ask_json(call.ask)) {
                request.headers_mut().insert(REQUEST_HEADER, value);
            }
        }
        for (name, value) in carried {
            if let Ok(value) = HeaderValue::from_str(value) {
                request.headers_mut().insert(*name, value);
            }
        }
        *request.uri_mut() = uri;
        request
    }

    /// Renders the HTTP/1.1 request head of one call, sending `body`, into `out`.
    fn render_h1(
        &self,
        call: &ScheduledCall,
        body: &Bytes,
        carried: &[(&'static str, Rc<str>)],
        out: &mut Vec<u8>,
    ) {
        let t = &*self.request;
        let query = self.payload_query(call);
        out.extend_from_slice(t.method.as_str().as_bytes());
        out.push(b' ');
        match &query {
            Some(q) => {
                out.extend_from_slice(with_query(&self.target.path_and_query, Some(q)).as_bytes())
            }
            None => out.extend_from_slice(self.origin.as_bytes()),
        }
        out.extend_from_slice(b" HTTP/1.1\r\n");
        out.extend_from_slice(&self.h1_headers);
        if let Some(signer) = &t.signer {
            let absolute = match &query {
                Some(q) => with_query(&self.target.http_uri(), Some(q)),
                None => self.uri_h2.to_string(),
            };
            for (name, value) in self.signature(signer, &absolute, body) {
                header_line(out, name.as_str().as_bytes(), value.as_bytes());
            }
        }
        if call.ask.is_some() {
            header_line(out, REQUEST_HEADER.as_bytes(), &super::ask_json(call.ask));
        }
        for (name, value) in carried {
            header_line(out, name.as_bytes(), value.as_bytes());
        }
        // A body, or a method that expects one, says its length (as hyper did: not for an empty GET).
        if !body.is_empty() || !matches!(t.method, Method::GET | Method::HEAD) {
            header_line(
                out,
                b"content-length",
                itoa::Buffer::new().format(body.len()).as_bytes(),
            );
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The AWS Signature V4 headers of a request to `absolute`, signed now over its host, method and
    /// `body`. A request that cannot be signed goes unsigned, and its endpoint answers 403.
    fn signature(
        &self,
        signer: &super::aws::AwsSigner,
        absolute: &str,
        body: &[u8],
    ) -> Vec<(HeaderName, HeaderValue)> {
        let host = self.host.to_str().unwrap_or_default();
        let method = self.request.method.as_str();
        signer
            .headers(
                method,
                absolute,
                &[("host", host)],
                body,
                std::time::SystemTime::now(),
            )
            .unwrap_or_else(|e| {
                log::warn!("signing a call to {}: {e}", self.target.authority);
                Vec::new()
            })
    }

    /// One HTTP/1.1 call on `connection`: `sent` is set when its request is written.
    async fn exchange_h1(
        &self,
        connection: &mut h1::Connection,
        (call, body, carried): (&ScheduledCall, &Bytes, &[(&'static str, Rc<str>)]),
        sent: &Cell<Option<Instant>>,
    ) -> Result<(Answer, bool), Failure> {
        self.render_h1(call, body, carried, connection.request_head());
        sent.set(Some(Instant::now()));
        let head_request = self.request.method == Method::HEAD;
        connection.exchange(body, head_request).await
    }

    /// One call: a connection, the request, the whole reply. `sent` is set when the request is handed to
    /// the connection.
    async fn exchange(
        &self,
        (call, body, carried): (&ScheduledCall, &Bytes, &[(&'static str, Rc<str>)]),
        sent: &Cell<Option<Instant>>,
    ) -> Result<Answer, String> {
        if self.request.connection_per_call {
            return match Box::pin(self.dial()).await? {
                Dialled::H1(mut connection) => self
                    .exchange_h1(&mut connection, (call, body, carried), sent)
                    .await
                    .map(|(answer, _)| answer)
                    .map_err(Failure::into_cause),
                Dialled::H2(mut sender) => {
                    let request = self.build_h2(call, body, carried);
                    sent.set(Some(Instant::now()));
                    read_h2(sender.send_request(request).await).await
                }
            };
        }
        if self.h2.get() {
            let mut sender = {
                let senders = self.multiplexed.borrow();
                let k = self.next.get();
                self.next.set(k.wrapping_add(1));
                senders[k % senders.len()].clone()
            };
            let request = self.build_h2(call, body, carried);
            sent.set(Some(Instant::now()));
            return read_h2(sender.send_request(request).await).await;
        }
        // A kept-alive connection the server closed while idle fails before any answer: the call goes on
        // another (each such connection is dropped, so this ends).
        loop {
            let mut lease = self.pool.lease(|| self.dial_h1()).await?;
            match self
                .exchange_h1(lease.connection(), (call, body, carried), sent)
                .await
            {
                Ok((answer, reusable)) => {
                    if reusable {
                        lease.give_back();
                    }
                    return Ok(answer);
                }
                Err(Failure::Stale(cause)) => log::debug!("{cause}; sending again"),
                Err(Failure::Broken(cause)) => return Err(cause),
            }
        }
    }

    /// Makes one call, within `timeout` of `start` (the wait for a connection included).
    pub(crate) async fn call(
        self: Rc<Self>,
        call: ScheduledCall,
        carried: super::Carried,
        timeout: Duration,
    ) -> Reply {
        let start = Instant::now();
        let sent = Cell::new(None);
        // Made once: sent (and signed) by the exchange, counted in the record.
        let body = self.body(&call);
        let exchange = self.exchange((&call, &body, &carried), &sent);
        let result = tokio::time::timeout(timeout, exchange).await;
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

/// The header lines every HTTP/1.1 request to an endpoint carries: `Host` first (unless `headers` name
/// one), then `headers`. Framing headers are the call's to set, from its body.
fn h1_headers(headers: &hyper::HeaderMap, host: &HeaderValue) -> Vec<u8> {
    let mut out = Vec::new();
    if !headers.contains_key(HOST) {
        header_line(&mut out, b"host", host.as_bytes());
    }
    for (name, value) in headers {
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING {
            header_line(&mut out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    out
}

/// Appends `name: value\r\n`.
fn header_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Reads an HTTP/2 reply to its end (counting its bytes, keeping none of them).
async fn read_h2(
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

/// The HTTP/2 handshake over an open stream; the connection's driver runs as a task of this thread.
async fn handshake_h2<T>(io: T) -> Result<Dialled, hyper::Error>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http2::handshake(super::LocalExecutor, io).await?;
    tokio::task::spawn_local(async move {
        let _ = connection.await;
    });
    Ok(Dialled::H2(sender))
}
