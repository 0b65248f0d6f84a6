//! Working for a coordinator (`loadgen run --workers N`): this invoker fetches its shard of the load,
//! measures its clock against the coordinator's, replays, and sends its records and summary back, all
//! over the HTTP channel that `formats::transfer` defines. Every body is checked against its content hash,
//! in both directions: a corrupted transfer is retried, never used. While it replays, a [`LiveReporter`]
//! tells the coordinator what it has done so far, for the coordinator's live view and `/metrics`.
//!
//! The file is long because the client, its retries, the watchdog and the live reporter share its
//! transfer helpers.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::error_chain;
use crate::observe::Observer;
use formats::transfer::{
    self, check_hash, live_path, now_unix_us, sha256_file, ClockReply, ClockSample, LiveReport,
    Sha256Writer, CA_ENV, CLOCK_PATH, HASH_HEADER, TOKEN_ENV,
};
use observe::ticker::{Ticker, Ticks};

/// Attempts per transfer (a hash mismatch or a dropped connection is tried again).
const ATTEMPTS: u32 = 3;

/// Why talking to the coordinator failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The coordinator could not be reached, or answered with an error.
    #[error("{url}: {reason}")]
    Http {
        /// What was asked for.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// The run's token from [`TOKEN_ENV`], as `loadgen run` gives it to its workers (coordinator at `base`,
/// for the error).
pub fn run_token(base: &str) -> Result<String, TransferError> {
    match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.is_empty() => Ok(token),
        _ => Err(TransferError::Http {
            url: base.to_owned(),
            reason: format!(
                "${TOKEN_ENV} is not set: a worker needs its run's token, which `loadgen run --workers` \
                 gives it through the environment (a Kubernetes worker: from the run's Secret)"
            ),
        }),
    }
}

/// The coordinator, as this worker talks to it.
pub struct Coordinator {
    base: String,
    client: reqwest::Client,
    pub(crate) runtime: tokio::runtime::Runtime,
    /// The run's token and the certificates trusted, to make another client ([`Coordinator::fork`]).
    token: String,
    trusted: Option<String>,
}

impl Coordinator {
    /// A client for the coordinator at `base` (`http://HOST:PORT`, or `https://` when it serves TLS: then
    /// the certificates in [`CA_ENV`] are the only ones trusted) whose every request carries the run's
    /// `token`.
    pub fn new(base: &str, token: &str) -> Result<Coordinator, TransferError> {
        let trusted = std::env::var(CA_ENV).ok().filter(|pem| !pem.is_empty());
        Coordinator::trusting(base, token, trusted.as_deref())
    }

    /// [`Coordinator::new`] with the certificates to trust given (`trusted`, PEM), not read from
    /// [`CA_ENV`].
    pub fn trusting(
        base: &str,
        token: &str,
        trusted: Option<&str>,
    ) -> Result<Coordinator, TransferError> {
        let http = |reason: String| TransferError::Http {
            url: base.to_owned(),
            reason,
        };
        let tls = match (base.split_once("://").map(|(scheme, _)| scheme), trusted) {
            (Some("http"), _) => None,
            (Some("https"), Some(pem)) => Some(
                crate::client::tls::trusting_only(pem)
                    .map_err(|e| http(format!("${CA_ENV}: {e}")))?,
            ),
            (Some("https"), None) => return Err(http(format!(
                "the coordinator serves https, and ${CA_ENV} does not hold the certificates to trust \
                 (`loadgen run --coordinator-tls` gives them to its workers)"
            ))),
            _ => return Err(http("the coordinator's address must start with http:// (or https://)".into())),
        };
        let mut authorization = reqwest::header::HeaderValue::from_str(&transfer::bearer(token))
            .map_err(|_| {
                http(format!(
                    "the run's token (${TOKEN_ENV}) is not a header value"
                ))
            })?;
        // Kept out of debug output and logs.
        authorization.set_sensitive(true);
        let mut client = reqwest::Client::builder();
        if let Some(tls) = tls {
            client = client.use_preconfigured_tls(tls);
        }
        let client = client
            .no_proxy()
            .default_headers(reqwest::header::HeaderMap::from_iter([(
                reqwest::header::AUTHORIZATION,
                authorization,
            )]))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| http(error_chain(&e)))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| http(format!("starting the HTTP client: {e}")))?;
        Ok(Coordinator {
            base: base.trim_end_matches('/').to_owned(),
            client,
            runtime,
            token: token.to_owned(),
            trusted: trusted.map(str::to_owned),
        })
    }

    /// Another client of the same coordinator, with its own connections and runtime: for a transfer
    /// that lasts the whole run on a thread of its own (a streamed shard).
    pub fn fork(&self) -> Result<Coordinator, TransferError> {
        Coordinator::trusting(&self.base, &self.token, self.trusted.as_deref())
    }

    /// GET `path` (once the coordinator answers: tried again as [`Coordinator::fetch`] is), its answer
    /// not read yet; refused when its status is not success.
    pub(crate) fn get(&self, path: &str) -> Result<reqwest::Response, TransferError> {
        let url = self.url(path);
        retry(&url, || {
            self.runtime.block_on(async {
                let response = self
                    .client
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| Attempt::Retry(error_chain(&e)))?;
                if response.status().is_success() {
                    return Ok(response);
                }
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                Err(Attempt::Fail(format!("{status}: {}", body.trim())))
            })
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Downloads `path` into `dest`, checking its hash; returns the bytes received.
    pub fn fetch(&self, path: &str, dest: &Path) -> Result<u64, TransferError> {
        let url = self.url(path);
        let fetched = retry(&url, || self.runtime.block_on(self.fetch_once(&url, dest)));
        if fetched.is_err() {
            // What arrived is not what was sent: nothing of it is left to be read.
            let _ = std::fs::remove_file(dest);
        }
        fetched
    }

    async fn fetch_once(&self, url: &str, dest: &Path) -> Result<u64, Attempt> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| Attempt::Retry(error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(Attempt::Fail(format!("{status}: {}", body.trim())));
        }
        let expected = response
            .headers()
            .get(HASH_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| Attempt::Fail(format!("the answer has no {HASH_HEADER} header")))?;
        let file = std::fs::File::create(dest).map_err(|e| Attempt::Io(dest.to_owned(), e))?;
        let mut out = Sha256Writer::new(std::io::BufWriter::with_capacity(1 << 20, file));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Attempt::Retry(error_chain(&e)))?
        {
            out.write_all(&chunk)
                .map_err(|e| Attempt::Io(dest.to_owned(), e))?;
        }
        let bytes = out.bytes();
        let (mut file, received) = out.finish();
        file.flush().map_err(|e| Attempt::Io(dest.to_owned(), e))?;
        check_hash(&expected, &received).map_err(Attempt::Retry)?;
        Ok(bytes)
    }

    /// Uploads the file at `source` to `path` with its hash; the coordinator keeps it only if the hash
    /// matches.
    pub fn upload(&self, source: &Path, path: &str) -> Result<(), TransferError> {
        let url = self.url(path);
        let hash = sha256_file(source).map_err(|e| TransferError::Io {
            path: source.to_owned(),
            source: e,
        })?;
        retry(&url, || {
            self.runtime.block_on(async {
                let file = tokio::fs::File::open(source)
                    .await
                    .map_err(|e| Attempt::Io(source.to_owned(), e))?;
                let response = self
                    .client
                    .put(&url)
                    .header(HASH_HEADER, &hash)
                    .body(file)
                    .send()
                    .await
                    .map_err(|e| Attempt::Retry(error_chain(&e)))?;
                answer(response).await
            })
        })
    }

    /// Tells the coordinator that this worker cannot run, and why.
    pub fn report_failure(&self, path: &str, reason: &str) -> Result<(), TransferError> {
        let url = self.url(path);
        retry(&url, || {
            self.runtime.block_on(async {
                let response = self
                    .client
                    .put(&url)
                    .body(reason.to_owned())
                    .send()
                    .await
                    .map_err(|e| Attempt::Retry(error_chain(&e)))?;
                answer(response).await
            })
        })
    }

    /// Sends one live report (one attempt, 5 s at most: the next interval sends it again).
    fn report_live(&self, path: &str, report: &LiveReport) -> Result<(), Attempt> {
        let url = self.url(path);
        let body = serde_json::to_vec(report).expect("a live report serialises");
        self.runtime.block_on(async {
            let response = self
                .client
                .put(&url)
                .header("content-type", "application/json")
                .timeout(Duration::from_secs(5))
                .body(body)
                .send()
                .await
                .map_err(|e| Attempt::Retry(error_chain(&e)))?;
            answer(response).await
        })
    }

    /// Whether the coordinator answers a clock request within `limit`.
    fn answers_within(&self, limit: Duration) -> bool {
        let url = self.url(CLOCK_PATH);
        self.runtime.block_on(async {
            match self.client.get(&url).timeout(limit).send().await {
                Ok(response) => response.status().is_success(),
                Err(_) => false,
            }
        })
    }

    /// The coordinator's clock against this machine's: `samples` NTP-style exchanges, the one with the
    /// shortest round trip kept.
    pub fn clock(&self, samples: usize) -> Result<ClockSample, TransferError> {
        let url = self.url(CLOCK_PATH);
        let mut taken = Vec::with_capacity(samples);
        for _ in 0..samples.max(1) {
            let sample = self.runtime.block_on(async {
                let sent = now_unix_us();
                let body = self
                    .client
                    .get(&url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| error_chain(&e))?
                    .bytes()
                    .await
                    .map_err(|e| error_chain(&e))?;
                let received = now_unix_us();
                let reply: ClockReply = serde_json::from_slice(&body)
                    .map_err(|e| format!("not a clock reading: {e}"))?;
                Ok::<_, String>(ClockSample::new(sent, reply, received))
            });
            taken.push(sample.map_err(|reason| TransferError::Http {
                url: url.clone(),
                reason,
            })?);
        }
        Ok(ClockSample::best(&taken).expect("at least one sample"))
    }
}

/// How one attempt at a transfer ended.
enum Attempt {
    /// Worth trying again (the connection dropped, the content was corrupted).
    Retry(String),
    /// Not worth it (the coordinator refused).
    Fail(String),
    /// A local file failed.
    Io(PathBuf, std::io::Error),
}

async fn answer(response: reqwest::Response) -> Result<(), Attempt> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let reason = format!("{status}: {}", body.trim());
    // 422: the coordinator received other bytes than were sent.
    if status.as_u16() == 422 || status.is_server_error() {
        Err(Attempt::Retry(reason))
    } else {
        Err(Attempt::Fail(reason))
    }
}

fn retry<T>(
    url: &str,
    mut attempt: impl FnMut() -> Result<T, Attempt>,
) -> Result<T, TransferError> {
    let mut last = String::new();
    for k in 0..ATTEMPTS {
        if k > 0 {
            log::warn!("{url}: {last}; trying again");
            std::thread::sleep(Duration::from_millis(250 << k));
        }
        match attempt() {
            Ok(v) => return Ok(v),
            Err(Attempt::Retry(reason)) => last = reason,
            Err(Attempt::Fail(reason)) => {
                return Err(TransferError::Http {
                    url: url.to_owned(),
                    reason,
                })
            }
            Err(Attempt::Io(path, source)) => return Err(TransferError::Io { path, source }),
        }
    }
    Err(TransferError::Http {
        url: url.to_owned(),
        reason: format!("{last} ({ATTEMPTS} attempts)"),
    })
}

/// Stops the replay (as a SIGTERM would: no more calls are sent, every record is written) when the
/// coordinator has not answered for `timeout`. It asks for the coordinator's clock every `timeout / 6`
/// (100 ms to 10 s), each question given that long to be answered, on a thread of its own.
pub struct Watchdog {
    /// Stopped (and joined) when the watchdog is dropped.
    _ticker: Ticker<()>,
}

impl Watchdog {
    /// Starts watching the coordinator at `base` (with the run's `token`); `stop` is the replay's; the
    /// thread keeps off `dispatcher_cpu`.
    pub fn start(
        (base, token): (&str, &str),
        timeout: Duration,
        stop: cmdline::Stop,
        dispatcher_cpu: Option<usize>,
    ) -> Result<Watchdog, TransferError> {
        let coordinator = Coordinator::new(base, token)?;
        let every = (timeout / 6).clamp(Duration::from_millis(100), Duration::from_secs(10));
        let ticker = Ticker::start("coordinator-watchdog", every, move |ticks| {
            if let Some(cpu) = dispatcher_cpu {
                host::pin_to(&host::all_cpus_but(cpu));
            }
            let mut answered = Instant::now();
            loop {
                if coordinator.answers_within(every) {
                    answered = Instant::now();
                } else if answered.elapsed() >= timeout {
                    log::warn!(
                        "the coordinator has not answered for {:.0} s (--coordinator-timeout): this \
                         worker stops sending; its records are kept and sent back if the coordinator \
                         returns",
                        answered.elapsed().as_secs_f64()
                    );
                    stop.request();
                    return;
                }
                if ticks.wait() {
                    return;
                }
            }
        })
        .map_err(|e| TransferError::Http {
            url: base.to_owned(),
            reason: format!("starting the coordinator's watchdog: {e}"),
        })?;
        Ok(Watchdog { _ticker: ticker })
    }
}

/// Live reports not yet acknowledged, in calls, beyond which a worker stops reporting (an unreachable
/// coordinator must not make it hold a whole run's calls in memory).
const MAX_PENDING_CALLS: usize = 1_000_000;

/// A worker's live reports: every interval, the counts and finished calls of a forwarding [`Observer`]
/// go to the coordinator as a numbered `LiveReport`. A report that does not get through is sent again
/// (with the later ones, in order) at the next interval. Reporting is best effort: a coordinator that
/// refuses the reports, or stays unreachable for [`MAX_PENDING_CALLS`], is given up on with a warning,
/// and the replay and its records are not affected.
pub struct LiveReporter {
    ticker: Ticker<()>,
}

impl LiveReporter {
    /// Starts reporting `observer` (made with [`Observer::forwarding`]) as worker `worker` to the
    /// coordinator at `base` (with the run's `token`), every `interval`; its thread keeps off
    /// `dispatcher_cpu`.
    pub fn start(
        (base, token): (&str, &str),
        worker: u32,
        observer: Arc<Observer>,
        interval: Duration,
        dispatcher_cpu: Option<usize>,
    ) -> Result<LiveReporter, TransferError> {
        let coordinator = Coordinator::new(base, token)?;
        let ticker = Ticker::start("live-reports", interval, move |ticks| {
            if let Some(cpu) = dispatcher_cpu {
                host::pin_to(&host::all_cpus_but(cpu));
            }
            report_until_done(&coordinator, worker, &observer, &ticks);
        })
        .map_err(|e| TransferError::Http {
            url: base.to_owned(),
            reason: format!("starting the live reports: {e}"),
        })?;
        Ok(LiveReporter { ticker })
    }

    /// Sends the last report (every call recorded so far) and stops.
    pub fn finish(self) {
        self.ticker.finish();
    }
}

fn report_until_done(coordinator: &Coordinator, worker: u32, observer: &Observer, ticks: &Ticks) {
    let path = live_path(worker);
    let mut pending: VecDeque<LiveReport> = VecDeque::new();
    let mut seq = 0;
    let mut given_up = false;
    let mut finished = false;
    while !finished {
        finished = ticks.wait();
        // Taken even when given up, so the observer holds no calls for nobody.
        let calls = observer.take_finished();
        if given_up {
            continue;
        }
        let (due, sent) = observer.counts();
        pending.push_back(LiveReport {
            seq,
            due,
            sent,
            endpoints: (seq == 0).then(|| observer.endpoints().to_vec()),
            calls,
        });
        seq += 1;
        // The last report gets a few tries: it holds the run's end.
        let attempts = if finished { 3 } else { 1 };
        for attempt in 0..attempts {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(200));
            }
            match send_pending(coordinator, &path, &mut pending) {
                Ok(()) => break,
                Err(Attempt::Fail(reason)) => {
                    log::warn!(
                        "live reports: the coordinator refused them ({reason}); no more are sent"
                    );
                    given_up = true;
                    break;
                }
                Err(Attempt::Retry(reason)) => {
                    log::debug!("live report not through yet: {reason}");
                }
                // Nothing local is read or written for a report.
                Err(Attempt::Io(path, e)) => log::debug!("{}: {e}", path.display()),
            }
        }
        if !given_up && pending.iter().map(|r| r.calls.len()).sum::<usize>() > MAX_PENDING_CALLS {
            log::warn!(
                "live reports: the coordinator has not taken one for too long; no more are sent"
            );
            given_up = true;
        }
        if given_up {
            pending.clear();
        }
    }
}

/// Sends the pending reports in order; each one through leaves the queue.
fn send_pending(
    coordinator: &Coordinator,
    path: &str,
    pending: &mut VecDeque<LiveReport>,
) -> Result<(), Attempt> {
    while let Some(report) = pending.front() {
        coordinator.report_live(path, report)?;
        pending.pop_front();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::tests::record;
    use formats::records::{Outcome, Record};
    use std::io::{BufRead, BufReader, Read};
    use std::sync::mpsc;

    fn answered(endpoint: u32) -> Record {
        record(endpoint, Outcome::Ok, 1_000, 500)
    }

    /// An HTTP server on loopback that answers its first request with 500 and the rest with 204, and
    /// hands over each request's body.
    fn coordinator_failing_once() -> (String, mpsc::Receiver<LiveReport>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().take(100).enumerate() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                // Handed over before the answer, so the reporter never sees an answer for a body
                // the test has not got yet.
                if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                    break;
                }
                let status = if n == 0 {
                    "500 Internal Server Error"
                } else {
                    "204 No Content"
                };
                write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
                .unwrap();
            }
        });
        (format!("http://{addr}"), rx)
    }

    #[test]
    fn a_report_not_acknowledged_is_sent_again_before_the_next_ones() {
        let (url, received) = coordinator_failing_once();
        let observer = Arc::new(Observer::new(&["a".into(), "b".into()], &[1, 1]).forwarding());
        observer.call_due();
        observer.call_sent();
        observer.records(&[answered(1)]);
        let reporter = LiveReporter::start(
            (&url, "t"),
            3,
            Arc::clone(&observer),
            Duration::from_millis(20),
            None,
        )
        .unwrap();
        let wait = Duration::from_secs(10);
        // The first report is refused (500), then sent again with the next.
        let first = received.recv_timeout(wait).unwrap();
        let again = received.recv_timeout(wait).unwrap();
        assert_eq!((first.seq, again.seq), (0, 0));
        assert_eq!(first, again);
        observer.call_due();
        observer.call_sent();
        observer.records(&[answered(0)]);
        reporter.finish();
        let mut reports = vec![again];
        reports.extend(received.try_iter());
        let seqs: Vec<u64> = reports.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (0..reports.len() as u64).collect::<Vec<_>>());
        assert_eq!(
            reports[0].endpoints.as_deref(),
            Some(&["a".to_owned(), "b".to_owned()][..])
        );
        assert!(reports[1..].iter().all(|r| r.endpoints.is_none()));
        let calls: Vec<u32> = reports
            .iter()
            .flat_map(|r| r.calls.iter().map(|c| c.endpoint))
            .collect();
        assert_eq!(calls, vec![1, 0]);
        let last = reports.last().unwrap();
        assert_eq!((last.due, last.sent), (2, 2));
        assert!(observer.take_finished().is_empty());
    }
}
