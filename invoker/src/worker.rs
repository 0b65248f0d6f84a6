//! Working for a coordinator (`loadgen run --workers N`): this invoker fetches its shard of the load,
//! measures its clock against the coordinator's, replays, and sends its records and summary back, all
//! over the HTTP channel that `formats::transfer` defines. Every body is checked against its content hash,
//! in both directions: a corrupted transfer is retried, never used.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dispatch::error_chain;
use formats::transfer::{
    check_hash, now_unix_us, sha256_file, ClockReply, ClockSample, Sha256Writer, CLOCK_PATH,
    HASH_HEADER,
};

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

/// The coordinator, as this worker talks to it.
pub struct Coordinator {
    base: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Coordinator {
    /// A client for the coordinator at `base` (`http://HOST:PORT`).
    pub fn new(base: &str) -> Result<Coordinator, TransferError> {
        let http = |reason: String| TransferError::Http {
            url: base.to_owned(),
            reason,
        };
        if !base.starts_with("http://") {
            return Err(http(
                "the coordinator's address must start with http://".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .no_proxy()
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
        })
    }

    fn url(&self, path: &str) -> String {
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
