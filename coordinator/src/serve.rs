//! The coordinator's HTTP server: it hands out the shards, answers clock requests, takes the workers'
//! live reports (folded into the run's observer by [`WorkersLive`]) and their results (the protocol of
//! `formats::transfer`). Shards are streamed from disk and results streamed to disk, each checked
//! against its SHA-256 on the way, so a full day's load never sits in memory.
//!
//! Only the run's own workers get in: every request must carry the run's token as a bearer header, and
//! any other is answered 401 before its body is read, so nobody else can read the load (with its
//! endpoints) or plant results, failures or live reports.
//!
//! The server runs on its own small tokio runtime; what happens is reported to the coordinator (a plain
//! thread) as [`Event`]s on a channel.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use formats::output::AtomicFile;
use formats::transfer::{
    carries_token, check_hash, now_unix_us, ClockReply, LiveReport, Sha256Writer, HASH_HEADER,
    RESULT_FILES,
};
use http_body_util::BodyExt;
use std::io::Write;

use super::live::{Refused, WorkersLive};

/// What the workers did, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Worker K started downloading its shard.
    ShardRequested(u32),
    /// Worker K's result file (one of `RESULT_FILES`) arrived whole, at this path.
    Received(u32, &'static str, PathBuf),
    /// Worker K's records chunk C arrived whole, at this path.
    Chunk(u32, u64, PathBuf),
    /// Worker K sent a file (named) whose hash did not match (it may send it again).
    Corrupted(u32, String, String),
    /// Worker K reported that it cannot run.
    Failed(u32, String),
}

/// One shard to serve.
#[derive(Debug, Clone)]
pub struct ServedShard {
    /// The file.
    pub path: PathBuf,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its size, bytes.
    pub bytes: u64,
}

struct Shared {
    shards: Vec<ServedShard>,
    /// The files the workers' flags name, by flag (`ca-cert`, `endpoint-requests`).
    flag_files: Vec<(&'static str, ServedShard)>,
    /// Where worker K's results go: `results/K/NAME`.
    results: PathBuf,
    events: Mutex<mpsc::Sender<Event>>,
    /// Where live reports go; none: they are refused (nobody shows them).
    live: Option<Arc<WorkersLive>>,
    /// The run's token, which every request must carry.
    token: String,
}

impl Shared {
    fn send(&self, event: Event) {
        // The coordinator may have stopped listening (it gave up on the run); nothing to do then.
        let _ = self.events.lock().expect("event lock").send(event);
    }
}

/// The running server; it stops when dropped.
pub struct Server {
    /// The address it is bound to.
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Hashes the shards (in parallel) so each can be served with its hash.
pub fn describe_shards(paths: &[PathBuf]) -> Result<Vec<ServedShard>> {
    use rayon::prelude::*;
    paths
        .par_iter()
        .map(|path| {
            let sha256 = formats::transfer::sha256_file(path)
                .with_context(|| format!("hashing {}", path.display()))?;
            let bytes = std::fs::metadata(path)
                .with_context(|| format!("reading {}", path.display()))?
                .len();
            Ok(ServedShard {
                path: path.clone(),
                sha256,
                bytes,
            })
        })
        .collect()
}

/// Binds `bind` (port 0: a free port) and serves `shards` (and `flag_files`, the files the workers'
/// flags name, by flag) to the requests that carry `token`, over TLS when `tls` is given; results go
/// under `results`, events to `events`, live reports to `live`.
pub fn start(
    bind: SocketAddr,
    (shards, flag_files): (Vec<ServedShard>, Vec<(&'static str, ServedShard)>),
    results: &Path,
    events: mpsc::Sender<Event>,
    live: Option<Arc<WorkersLive>>,
    (token, tls): (&str, Option<Arc<rustls::ServerConfig>>),
) -> Result<Server> {
    if token.is_empty() {
        bail!("the workers' HTTP server needs a token: with none, nobody could be told apart");
    }
    let listener = TcpListener::bind(bind).with_context(|| {
        format!("binding the workers' HTTP server to {bind} (--advertise-addr)")
    })?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    std::fs::create_dir_all(results).with_context(|| format!("creating {}", results.display()))?;
    let shared = Arc::new(Shared {
        shards,
        flag_files,
        results: results.to_owned(),
        events: Mutex::new(events),
        live,
        token: token.to_owned(),
    });
    let app = Router::new()
        .route("/v1/shards/{k}", get(shard))
        .route(
            "/v1/shards/{k}/head/{period_us}/{warmup}/{duration}",
            get(shard_head),
        )
        .route(formats::transfer::CLOCK_PATH, get(clock))
        .route(
            &formats::transfer::worker_file_path("{flag}"),
            get(flag_file),
        )
        .route("/v1/results/{k}/{name}", put(result))
        .route("/v1/records/{k}/{name}", put(records_chunk))
        .route("/v1/failed/{k}", put(failed))
        .route("/v1/live/{k}", put(live_report))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            only_the_runs_workers,
        ))
        .layer(DefaultBodyLimit::disable())
        .with_state(shared);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("workers-http")
        .enable_all()
        .build()
        .context("starting the workers' HTTP server")?;
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let listener = runtime.block_on(async { tokio::net::TcpListener::from_std(listener) })?;
    let thread = std::thread::Builder::new()
        .name("workers-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                let stopped = async {
                    let _ = stopped.await;
                };
                let served = match tls {
                    Some(config) => match crate::tls::TlsListener::new(listener, config) {
                        Ok(tls) => axum::serve(tls, app).with_graceful_shutdown(stopped).await,
                        Err(e) => Err(e),
                    },
                    None => {
                        axum::serve(listener, app)
                            .with_graceful_shutdown(stopped)
                            .await
                    }
                };
                if let Err(e) = served {
                    log::warn!("workers' HTTP server: {e}");
                }
            });
            // Transfers still open when the run is over are cut.
            runtime.shutdown_background();
        })?;
    Ok(Server {
        addr,
        shutdown: Some(shutdown),
        thread: Some(thread),
    })
}

/// Lets through the requests that carry the run's token; the others get 401 and nothing of them is read.
async fn only_the_runs_workers(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let authorized = request
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|value| carries_token(value.as_bytes(), &shared.token));
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "this run's token is missing or wrong: only the run's own workers are served",
        )
            .into_response();
    }
    next.run(request).await
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    (status, text.into()).into_response()
}

async fn shard(State(shared): State<Arc<Shared>>, UrlPath(k): UrlPath<u32>) -> Response {
    let Some(shard) = shared.shards.get(k as usize) else {
        return plain(
            StatusCode::NOT_FOUND,
            format!("no worker {k}: this run has {}", shared.shards.len()),
        );
    };
    shared.send(Event::ShardRequested(k));
    served(shard).await
}

/// The head of worker `k`'s shard, read from the shard now (a worker that streams its shard asks for
/// it instead of reading the shard twice).
async fn shard_head(
    State(shared): State<Arc<Shared>>,
    UrlPath((k, period_us, warmup, duration)): UrlPath<(u32, u64, u32, u32)>,
) -> Response {
    let Some(shard) = shared.shards.get(k as usize) else {
        return plain(
            StatusCode::NOT_FOUND,
            format!("no worker {k}: this run has {}", shared.shards.len()),
        );
    };
    let path = shard.path.clone();
    let head = tokio::task::spawn_blocking(move || {
        invoker::schedule::Schedule::head_of_file(&path, period_us.max(1), warmup, duration)
    })
    .await;
    match head {
        Ok(Ok(head)) => {
            let wire = invoker::schedule::HeadOnWire::from(&head);
            (
                [("content-type", "application/json")],
                serde_json::to_string(&wire).expect("a head serialises"),
            )
                .into_response()
        }
        Ok(Err(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn flag_file(State(shared): State<Arc<Shared>>, UrlPath(flag): UrlPath<String>) -> Response {
    match shared.flag_files.iter().find(|(f, _)| *f == flag) {
        Some((_, file)) => served(file).await,
        None => plain(
            StatusCode::NOT_FOUND,
            format!("this run's workers were given no --{flag}"),
        ),
    }
}

/// `file`, streamed with its hash.
async fn served(shard: &ServedShard) -> Response {
    let file = match tokio::fs::File::open(&shard.path).await {
        Ok(f) => f,
        Err(e) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{}: {e}", shard.path.display()),
            )
        }
    };
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
    (
        [
            (HASH_HEADER, shard.sha256.clone()),
            ("content-length", shard.bytes.to_string()),
            ("content-type", "application/json".into()),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn clock() -> Response {
    let received_us = now_unix_us();
    let reply = ClockReply {
        received_us,
        sent_us: now_unix_us(),
    };
    (
        [("content-type", "application/json")],
        serde_json::to_string(&reply).expect("a clock reply serialises"),
    )
        .into_response()
}

async fn result(
    State(shared): State<Arc<Shared>>,
    UrlPath((k, name)): UrlPath<(u32, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(&name) = RESULT_FILES.iter().find(|n| **n == name) else {
        return plain(
            StatusCode::NOT_FOUND,
            format!(
                "`{name}` is not a result file ({}; records go to /v1/records/K/records-NNNNNN.csv)",
                RESULT_FILES.join(", ")
            ),
        );
    };
    keep_checked(&shared, (k, name), &headers, body, |path| {
        Event::Received(k, name, path)
    })
    .await
}

async fn records_chunk(
    State(shared): State<Arc<Shared>>,
    UrlPath((k, name)): UrlPath<(u32, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(c) = formats::transfer::parse_chunk_name(&name) else {
        return plain(
            StatusCode::NOT_FOUND,
            format!("`{name}` is not a records chunk (records-NNNNNN.csv or .csv.zst)"),
        );
    };
    keep_checked(&shared, (k, &name), &headers, body, |path| {
        Event::Chunk(k, c, path)
    })
    .await
}

/// Keeps worker `k`'s file `name` (a name checked by the caller) under the results if its body matches
/// the hash it was sent with, and tells the coordinator (`arrived`: the event, from the file's path);
/// else answers why it was refused.
async fn keep_checked(
    shared: &Shared,
    (k, name): (u32, &str),
    headers: &HeaderMap,
    body: Body,
    arrived: impl FnOnce(PathBuf) -> Event,
) -> Response {
    if k as usize >= shared.shards.len() {
        return plain(StatusCode::NOT_FOUND, format!("no worker {k}"));
    }
    let Some(expected) = headers.get(HASH_HEADER).and_then(|v| v.to_str().ok()) else {
        return plain(
            StatusCode::BAD_REQUEST,
            format!("no {HASH_HEADER} header: an unchecked result is refused"),
        );
    };
    let dir = shared.results.join(k.to_string());
    let path = dir.join(name);
    let (file, received) = match receive(&dir, &path, body).await {
        Ok(done) => done,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    // A mismatch drops the file (its partial copy is removed); a match puts it in place.
    if let Err(reason) = check_hash(expected, &received) {
        shared.send(Event::Corrupted(k, name.to_owned(), reason.clone()));
        return plain(StatusCode::UNPROCESSABLE_ENTITY, reason);
    }
    if let Err(e) = file.commit() {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    shared.send(arrived(path));
    StatusCode::NO_CONTENT.into_response()
}

/// Streams a body to `path` (beside it until committed), hashing it; returns the file and the hash.
async fn receive(dir: &Path, path: &Path, mut body: Body) -> Result<(AtomicFile, String), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = AtomicFile::create(path).map_err(|e| e.to_string())?;
    let mut out = Sha256Writer::new(file);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("the upload broke off: {e}"))?;
        if let Some(data) = frame.data_ref() {
            out.write_all(data)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(out.finish())
}

async fn failed(
    State(shared): State<Arc<Shared>>,
    UrlPath(k): UrlPath<u32>,
    reason: String,
) -> Response {
    if k as usize >= shared.shards.len() {
        return plain(StatusCode::NOT_FOUND, format!("no worker {k}"));
    }
    shared.send(Event::Failed(k, reason));
    StatusCode::NO_CONTENT.into_response()
}

async fn live_report(
    State(shared): State<Arc<Shared>>,
    UrlPath(k): UrlPath<u32>,
    body: axum::body::Bytes,
) -> Response {
    let Some(live) = &shared.live else {
        return plain(
            StatusCode::NOT_FOUND,
            "this run shows no live view and serves no metrics: no live reports are taken",
        );
    };
    let report: LiveReport = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("not a live report: {e}")),
    };
    match live.apply(k, &report) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e @ Refused::NoWorker(_)) => plain(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ Refused::OutOfOrder { .. }) => plain(StatusCode::CONFLICT, e.to_string()),
        Err(e @ Refused::Invalid(_)) => plain(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// This machine's address on its default route (what a pod elsewhere can reach), found without sending
/// anything: a UDP socket "connected" to a public address only picks the route.
pub fn default_route_ip() -> Result<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0")?;
    if socket.connect("192.0.2.1:9").is_err() {
        bail!("this machine has no default route: give --advertise-addr HOST:PORT, an address the workers can reach");
    }
    let ip = socket.local_addr()?.ip();
    if ip.is_unspecified() {
        bail!("this machine has no default route: give --advertise-addr HOST:PORT, an address the workers can reach");
    }
    Ok(ip)
}

/// Elapsed seconds since `t`, for messages.
pub fn since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}
