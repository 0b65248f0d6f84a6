//! HTTP/1.1 on the calling task: a request is rendered into bytes and written, and its answer read and
//! parsed (`httparse`) by the task of the call that sent it, on the dispatcher's thread. The file is
//! long because its tests (framing, interim answers, closes, malformed answers) sit beside it.
//!
//! Why not hyper's HTTP/1.1 client: its connection is a task of its own, which a call reaches through a
//! channel and whose answer comes back through another: two task wake-ups and two hand-overs per call on
//! the dispatcher's one CPU. Here a call is a write, and a read when the socket wakes its task (what is
//! left of HTTP/1.1's cost is the kernel's: docs/benchmarks.md). HTTP/2 multiplexes, needs a connection
//! task, and stays on hyper. A connection carries one call at a time; [`Pool`] keeps them alive: a call
//! takes an idle one, or opens another while fewer than `--max-connections` are open (one opening at a
//! time), or waits for one to be freed.

use std::cell::{Cell, RefCell};
use std::future::Future;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use proto::function::{FunctionReport, REPORT_HEADER};

/// A byte stream a connection runs over: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

/// Bodies up to this size go in the request's one write; larger ones in a write of their own.
const INLINE_BODY: usize = 16 * 1024;
/// An answer's head larger than this is refused (hyper's limit is about the same).
const MAX_HEAD: usize = 400 * 1024;

/// What came back.
pub(crate) struct Answer {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The body's length, as decoded (chunk framing not counted).
    pub(crate) bytes: u64,
    /// What the function said it did, if it said.
    pub(crate) report: Option<FunctionReport>,
}

/// Why an exchange failed.
pub(crate) enum Failure {
    /// The connection was found closed before any byte of the answer came: a kept-alive connection that
    /// the server closed while idle. The request was not served, so it may be sent on another.
    Stale(String),
    /// Anything else.
    Broken(String),
}

impl Failure {
    /// The cause, for the record.
    pub(crate) fn into_cause(self) -> String {
        match self {
            Failure::Stale(cause) | Failure::Broken(cause) => cause,
        }
    }
}

/// One HTTP/1.1 connection.
pub(crate) struct Connection {
    io: Box<dyn Io>,
    /// Bytes read and not yet parsed.
    input: BytesMut,
    /// The request being written; kept for its capacity.
    output: Vec<u8>,
    /// Whether an answer has come over it (a failure before the first answer is not a stale connection).
    used: bool,
}

/// How an answer's body ends (RFC 9112, 6.3).
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// An answer's head, as far as the call needs it.
struct Head {
    status: u16,
    framing: Framing,
    keep_alive: bool,
    report: Option<FunctionReport>,
}

impl Connection {
    /// A connection over `io`, freshly opened.
    pub(crate) fn new(io: Box<dyn Io>) -> Connection {
        Connection {
            io,
            input: BytesMut::with_capacity(8 * 1024),
            output: Vec::with_capacity(1024),
            used: false,
        }
    }

    /// The buffer to render the next request's head into (emptied).
    pub(crate) fn request_head(&mut self) -> &mut Vec<u8> {
        self.output.clear();
        &mut self.output
    }

    /// Sends the head rendered by [`Connection::request_head`] and `body`, and reads the whole answer
    /// (counting its body's bytes, keeping none). `head_request` is for a `HEAD`, whose answer has no
    /// body. The answer comes with whether the connection may carry another call.
    pub(crate) async fn exchange(
        &mut self,
        body: &[u8],
        head_request: bool,
    ) -> Result<(Answer, bool), Failure> {
        if body.len() <= INLINE_BODY {
            self.output.extend_from_slice(body);
            self.write().await?;
        } else {
            self.write().await?;
            self.io
                .write_all(body)
                .await
                .map_err(|e| Failure::Broken(format!("sending the request's body: {e}")))?;
        }
        let head = self.head(head_request).await?;
        let bytes = match head.framing {
            Framing::None => 0,
            Framing::Length(n) => {
                self.skip(n).await.map_err(Failure::Broken)?;
                n
            }
            Framing::Chunked => self.chunks().await.map_err(Failure::Broken)?,
            Framing::UntilClose => self.until_close().await.map_err(Failure::Broken)?,
        };
        self.used = true;
        // Bytes beyond the answer (none was asked for) leave the connection in an unknown state.
        let reusable = head.keep_alive
            && !matches!(head.framing, Framing::UntilClose)
            && self.input.is_empty();
        Ok((
            Answer {
                status: head.status,
                bytes,
                report: head.report,
            },
            reusable,
        ))
    }

    /// Writes the request's head (and an inlined body).
    async fn write(&mut self) -> Result<(), Failure> {
        let written = self.io.write_all(&self.output).await;
        written.map_err(|e| self.lost(format!("sending the request: {e}")))
    }

    /// A failure before any byte of the answer came.
    fn lost(&self, cause: String) -> Failure {
        if self.used {
            Failure::Stale(cause)
        } else {
            Failure::Broken(cause)
        }
    }

    /// Reads more of the answer; `Ok(false)` at the end of the stream.
    async fn fill(&mut self) -> Result<bool, String> {
        if self.input.capacity() - self.input.len() < 4096 {
            self.input.reserve(16 * 1024);
        }
        match self.io.read_buf(&mut self.input).await {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(format!("reading the answer: {e}")),
        }
    }

    /// Reads more of the answer, which must not end here.
    async fn more(&mut self) -> Result<(), String> {
        if self.fill().await? {
            Ok(())
        } else {
            Err("the connection closed in the middle of the answer".into())
        }
    }

    /// Reads the answer's head, skipping interim (1xx) answers.
    async fn head(&mut self, head_request: bool) -> Result<Head, Failure> {
        let mut first = true;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 100];
            let mut response = httparse::Response::new(&mut headers);
            let parsed = response.parse(&self.input);
            match parsed {
                Ok(httparse::Status::Complete(length)) => {
                    let head = read_head(&response, head_request);
                    self.input.advance(length);
                    first = false;
                    match head {
                        // 101 switches protocols, which no call asked for: its framing is "until close".
                        Some(head) if head.status >= 200 || head.status == 101 => return Ok(head),
                        Some(_) => continue,
                        None => {
                            return Err(Failure::Broken(
                                "the answer's head has a malformed Content-Length".into(),
                            ))
                        }
                    }
                }
                Ok(httparse::Status::Partial) if self.input.len() > MAX_HEAD => {
                    return Err(Failure::Broken(format!(
                        "the answer's head is over {MAX_HEAD} bytes"
                    )))
                }
                Ok(httparse::Status::Partial) => {
                    let nothing_yet = first && self.input.is_empty();
                    match self.fill().await {
                        Ok(true) => {}
                        Ok(false) if nothing_yet => {
                            return Err(self.lost("the connection closed before an answer".into()))
                        }
                        Ok(false) => {
                            return Err(Failure::Broken(
                                "the connection closed in the middle of the answer's head".into(),
                            ))
                        }
                        Err(cause) if nothing_yet => return Err(self.lost(cause)),
                        Err(cause) => return Err(Failure::Broken(cause)),
                    }
                }
                Err(e) => return Err(Failure::Broken(format!("a malformed HTTP answer: {e}"))),
            }
        }
    }

    /// Consumes `n` bytes of the answer.
    async fn skip(&mut self, mut n: u64) -> Result<(), String> {
        loop {
            let take = n.min(self.input.len() as u64);
            self.input.advance(take as usize);
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.more().await?;
        }
    }

    /// Consumes a chunked body and its trailers; the decoded length.
    async fn chunks(&mut self) -> Result<u64, String> {
        let mut bytes = 0u64;
        loop {
            match httparse::parse_chunk_size(&self.input) {
                Ok(httparse::Status::Complete((length, 0))) => {
                    self.input.advance(length);
                    return self.trailers().await.map(|()| bytes);
                }
                Ok(httparse::Status::Complete((length, size))) => {
                    self.input.advance(length);
                    // The chunk and the line end after it.
                    self.skip(size + 2).await?;
                    bytes += size;
                }
                Ok(httparse::Status::Partial) => self.more().await?,
                Err(_) => return Err("a malformed chunk size in the answer".into()),
            }
        }
    }

    /// Consumes the trailer lines after a chunked body, up to the empty line that ends them.
    async fn trailers(&mut self) -> Result<(), String> {
        loop {
            match self.input.windows(2).position(|w| w == b"\r\n") {
                Some(end) => {
                    self.input.advance(end + 2);
                    if end == 0 {
                        return Ok(());
                    }
                }
                None if self.input.len() > MAX_HEAD => {
                    return Err(format!("the answer's trailers are over {MAX_HEAD} bytes"))
                }
                None => self.more().await?,
            }
        }
    }

    /// Consumes a body that ends when the connection closes; its length.
    async fn until_close(&mut self) -> Result<u64, String> {
        let mut bytes = 0u64;
        loop {
            bytes += self.input.len() as u64;
            self.input.clear();
            if !self.fill().await? {
                return Ok(bytes);
            }
        }
    }
}

/// What the call needs of a parsed head; `None` when its `Content-Length` is malformed.
fn read_head(response: &httparse::Response<'_, '_>, head_request: bool) -> Option<Head> {
    let status = response.code.unwrap_or(0);
    let mut length = None;
    let mut chunked = false;
    let mut close = response.version == Some(0);
    let mut report = None;
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(header.value)
                .ok()?
                .trim()
                .parse::<u64>();
            length = Some(n.ok()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked when it is the last coding (anything else ends with the connection).
            chunked = header
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            if !chunked {
                length = None;
                close = true;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case(REPORT_HEADER) {
            report = std::str::from_utf8(header.value)
                .ok()
                .and_then(FunctionReport::parse);
        }
    }
    let no_body = (100..200).contains(&status) && status != 101 || status == 204 || status == 304;
    let framing = if head_request || no_body {
        Framing::None
    } else if status == 101 {
        Framing::UntilClose
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Some(Head {
        status,
        framing,
        keep_alive: !close,
        report,
    })
}

/// The HTTP/1.1 connections to one endpoint.
pub(crate) struct Pool {
    idle: RefCell<Vec<Connection>>,
    open: Cell<usize>,
    /// Whether a connection is being opened: one at a time, so that a burst of calls arriving while every
    /// connection is busy opens connections as fast as answers do not free them, not one per call.
    opening: Cell<bool>,
    freed: Notify,
    max: usize,
}

impl Pool {
    /// An empty pool of at most `max` connections.
    pub(crate) fn new(max: usize) -> Pool {
        Pool {
            idle: RefCell::new(Vec::new()),
            open: Cell::new(0),
            opening: Cell::new(false),
            freed: Notify::new(),
            max: max.max(1),
        }
    }

    /// Keeps a connection opened before the run.
    pub(crate) fn keep(&self, connection: Connection) {
        self.open.set(self.open.get() + 1);
        self.idle.borrow_mut().push(connection);
    }

    /// A connection free for one call: an idle one, one that `dial` opens, or the next one freed.
    pub(crate) async fn lease<F, D>(&self, dial: D) -> Result<Lease<'_>, String>
    where
        D: FnOnce() -> F,
        F: Future<Output = Result<Connection, String>>,
    {
        loop {
            if let Some(connection) = self.idle.borrow_mut().pop() {
                return Ok(Lease {
                    pool: self,
                    connection: Some(connection),
                });
            }
            if self.open.get() < self.max && !self.opening.get() {
                self.open.set(self.open.get() + 1);
                self.opening.set(true);
                let mut lease = Lease {
                    pool: self,
                    connection: None,
                };
                let dialled = dial().await;
                self.opening.set(false);
                // A caller waiting may open the next one, if answers have not freed one by then.
                self.freed.notify_one();
                lease.connection = Some(dialled?);
                return Ok(lease);
            }
            self.freed.notified().await;
        }
    }
}

/// A connection lent to one call: given back when the call is answered and the connection may carry
/// another; dropped (and no longer counted as open) otherwise, so a broken connection is never reused.
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    /// The connection (none while it is being opened).
    connection: Option<Connection>,
}

impl Lease<'_> {
    /// The connection.
    pub(crate) fn connection(&mut self) -> &mut Connection {
        self.connection
            .as_mut()
            .expect("a lease holds its connection")
    }

    /// Gives the connection back for the next call.
    pub(crate) fn give_back(mut self) {
        if let Some(connection) = self.connection.take() {
            self.pool.idle.borrow_mut().push(connection);
            self.pool.freed.notify_one();
        }
        std::mem::forget(self);
    }
}

impl Drop for Lease<'_> {
    /// Not given back: the connection failed, closed, or never opened, so one more may be opened.
    fn drop(&mut self) {
        let open = &self.pool.open;
        open.set(open.get().saturating_sub(1));
        self.pool.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;

    /// A connection and the server's end of it.
    fn pair() -> (Connection, DuplexStream) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        (Connection::new(Box::new(client)), server)
    }

    /// Sends `request` on `connection` while the server answers with `pieces`, one write each, after
    /// reading the request; what the server read comes back too.
    async fn exchange(
        connection: &mut Connection,
        server: &mut DuplexStream,
        request: &[u8],
        body: &[u8],
        pieces: &[&[u8]],
    ) -> (Result<(Answer, bool), Failure>, Vec<u8>) {
        connection.request_head().extend_from_slice(request);
        let expected = request.len() + body.len();
        let serve = async {
            let mut read = vec![0; expected];
            server.read_exact(&mut read).await.unwrap();
            for piece in pieces {
                server.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
            read
        };
        let (result, read) = tokio::join!(connection.exchange(body, false), serve);
        (result, read)
    }

    /// A GET on `connection`, answered with `pieces`.
    async fn get(
        connection: &mut Connection,
        server: &mut DuplexStream,
        pieces: &[&[u8]],
    ) -> Result<(Answer, bool), Failure> {
        let request = b"GET / HTTP/1.1\r\n\r\n";
        exchange(connection, server, request, b"", pieces).await.0
    }

    /// A GET on a fresh connection whose server writes `answer`, then closes.
    async fn get_then_close(answer: &'static [u8]) -> Result<(Answer, bool), Failure> {
        let (mut connection, mut server) = pair();
        connection
            .request_head()
            .extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let serve = async move {
            let mut read = [0; 18];
            server.read_exact(&mut read).await.unwrap();
            server.write_all(answer).await.unwrap();
            // Dropping the server's end closes the stream.
        };
        tokio::join!(connection.exchange(b"", false), serve).0
    }

    fn ok(result: Result<(Answer, bool), Failure>) -> (Answer, bool) {
        match result {
            Ok(answer) => answer,
            Err(failure) => panic!("{}", failure.into_cause()),
        }
    }

    #[tokio::test]
    async fn reads_a_length_framed_answer_and_its_report_and_keeps_the_connection() {
        let (mut connection, mut server) = pair();
        let head = b"POST /f HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\n\r\n";
        let answer: &[u8] =
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Function-Report: REPORT\r\n\r\nhello";
        let report = FunctionReport {
            function: "f".into(),
            exec_us: 7,
            instance: "0123456789abcdef".into(),
            cold: false,
            memory_mb: 1,
            duration_us: 7,
            cpu_us: 7,
            own_us: None,
            transfer_us: None,
            nodes: Vec::new(),
            spans: Vec::new(),
        };
        let answer = String::from_utf8_lossy(answer).replace("REPORT", &report.to_message());
        let (result, read) = exchange(
            &mut connection,
            &mut server,
            head,
            b"abc",
            &[answer.as_bytes()],
        )
        .await;
        let (answer, reusable) = ok(result);
        assert_eq!((answer.status, answer.bytes, reusable), (200, 5, true));
        assert_eq!(
            answer.report.map(|r| r.exec_us),
            Some(7),
            "the report header is read"
        );
        assert_eq!(read, [&head[..], b"abc"].concat(), "head and body in order");
        // The connection carries the next call.
        let answer: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let result = get(&mut connection, &mut server, &[answer]).await;
        assert_eq!(ok(result).0.status, 404);
    }

    #[tokio::test]
    async fn a_large_body_goes_in_a_write_of_its_own() {
        let (mut connection, mut server) = pair();
        let body = vec![b'x'; INLINE_BODY + 1];
        let answer: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let (result, read) = exchange(
            &mut connection,
            &mut server,
            b"POST / HTTP/1.1\r\n\r\n",
            &body,
            &[answer],
        )
        .await;
        assert_eq!(ok(result).0.bytes, 0);
        assert_eq!(read.len(), 19 + body.len());
    }

    #[tokio::test]
    async fn decodes_chunks_split_anywhere_with_trailers_after_an_interim_answer() {
        let (mut connection, mut server) = pair();
        let answer: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\n";
        let pieces: Vec<&[u8]> = answer.chunks(3).collect();
        let result = get(&mut connection, &mut server, &pieces).await;
        let (answer, reusable) = ok(result);
        assert_eq!((answer.status, answer.bytes, reusable), (200, 31, true));
    }

    #[tokio::test]
    async fn connection_close_and_a_body_to_the_end_are_not_reused() {
        let (mut connection, mut server) = pair();
        let answer: &[u8] = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi";
        let result = get(&mut connection, &mut server, &[answer]).await;
        assert!(!ok(result).1, "Connection: close");

        let result = get_then_close(b"HTTP/1.0 200 OK\r\n\r\nto the end").await;
        let (answer, reusable) = ok(result);
        assert_eq!((answer.bytes, reusable), (10, false));
    }

    #[tokio::test]
    async fn a_close_before_any_answer_is_stale_only_on_a_used_connection() {
        let (mut connection, mut server) = pair();
        let answer: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let result = get(&mut connection, &mut server, &[answer]).await;
        assert!(ok(result).1);
        drop(server);
        connection
            .request_head()
            .extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert!(matches!(
            connection.exchange(b"", false).await,
            Err(Failure::Stale(_))
        ));

        let (mut fresh, server) = pair();
        drop(server);
        fresh
            .request_head()
            .extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert!(matches!(
            fresh.exchange(b"", false).await,
            Err(Failure::Broken(_))
        ));
    }

    #[tokio::test]
    async fn malformed_answers_are_refused_with_their_cause() {
        for (answer, cause) in [
            (&b"HTTP/1.1 2x0 OK\r\n\r\n"[..], "malformed HTTP answer"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
                "Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
                "closed in the middle",
            ),
        ] {
            match get_then_close(answer).await {
                Err(Failure::Broken(got)) => assert!(got.contains(cause), "{got} names {cause}"),
                _ => panic!("{} is refused", String::from_utf8_lossy(answer)),
            }
        }
    }
}
