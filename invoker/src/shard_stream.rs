//! A worker's shard read straight from its coordinator (`invoker --stream-shard`, `loadgen run
//! --stream-shards`): the worker asks for the shard's head ([`head`]: its endpoints and calls per period,
//! which the coordinator reads from the shard), then reads the shard itself as one HTTP stream
//! ([`open`]) at the pace of its look-ahead, a period at a time: what it has not read yet waits in the
//! coordinator's file, not in the worker's memory or on its disk, and the replay starts without the
//! shard having been fetched first.
//!
//! The stream's SHA-256 is checked as it is read: at its end, a hash other than the coordinator's fails
//! the replay, naming both. (The look-ahead checks each period's calls against the head as it goes,
//! so a stream that lost or gained calls is named at that period.) A stream cut off fails the replay
//! too; the records already sent are kept, and `loadgen run --resume` continues the run.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use formats::transfer::{self, Sha256Writer, HASH_HEADER};

use crate::error::error_chain;
use crate::lookahead::CallStream;
use crate::schedule::{HeadOnWire, LoadHead};
use crate::worker::{Coordinator, TransferError};

/// The head of worker `k`'s shard over `warmup + duration` periods of `period_us`, as the coordinator
/// reads it.
pub fn head(
    coordinator: &Coordinator,
    k: u32,
    period_us: u64,
    (warmup, duration): (u32, u32),
) -> Result<LoadHead, TransferError> {
    let path = transfer::shard_head_path(k, period_us, warmup, duration);
    let response = coordinator.get(&path)?;
    let url = coordinator.url(&path);
    let text = coordinator
        .runtime
        .block_on(response.text())
        .map_err(|e| TransferError::Http {
            url: url.clone(),
            reason: error_chain(&e),
        })?;
    let wire: HeadOnWire = serde_json::from_str(&text).map_err(|e| TransferError::Http {
        url,
        reason: format!("not a shard's head: {e}"),
    })?;
    Ok(wire.into())
}

/// Worker `k`'s shard as a stream of its text (decompressed if the coordinator serves it zstd), read
/// through a client of its own; the reading checks its hash.
pub fn open(coordinator: &Coordinator, k: u32) -> Result<CallStream, TransferError> {
    let coordinator = coordinator.fork()?;
    let path = transfer::shard_path(k);
    let url = coordinator.url(&path);
    let response = coordinator.get(&path)?;
    let expected = response
        .headers()
        .get(HASH_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| TransferError::Http {
            url: url.clone(),
            reason: format!("the answer has no {HASH_HEADER} header"),
        })?;
    let stream = ShardStream {
        coordinator,
        response,
        pending: Vec::new(),
        at: 0,
        hash: Some(Sha256Writer::new(io::sink())),
        expected,
        url: url.clone(),
    };
    let text = formats::compressed::reader(Box::new(stream)).map_err(|e| TransferError::Http {
        url: url.clone(),
        reason: e.to_string(),
    })?;
    Ok(CallStream::new(PathBuf::from(url), Box::new(text)))
}

/// The shard's HTTP body as bytes, hashed as they pass.
struct ShardStream {
    coordinator: Coordinator,
    response: reqwest::Response,
    /// The last chunk received, and how much of it was read.
    pending: Vec<u8>,
    at: usize,
    /// The hash so far; taken once the stream has ended and been checked.
    hash: Option<Sha256Writer<io::Sink>>,
    expected: String,
    url: String,
}

impl Read for ShardStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.pending.len() {
            let Some(hash) = self.hash.as_mut() else {
                return Ok(0);
            };
            let chunk = self
                .coordinator
                .runtime
                .block_on(self.response.chunk())
                .map_err(|e| {
                    io::Error::other(format!("{}: cut off ({})", self.url, error_chain(&e)))
                })?;
            match chunk {
                Some(chunk) => {
                    hash.write_all(&chunk)?;
                    self.pending = chunk.to_vec();
                    self.at = 0;
                }
                None => {
                    let (_, received) = self.hash.take().expect("checked above").finish();
                    transfer::check_hash(&self.expected, &received).map_err(|why| {
                        io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}", self.url))
                    })?;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
