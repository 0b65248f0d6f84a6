//! A worker's records on their way to the coordinator while it replays: each chunk the records thread
//! completes (`options::RecordChunks`) is sent on a thread of its own, so a worker lost mid-run loses at
//! most the chunk it was writing, and the end of a long run sends one chunk, not the run's records.
//!
//! A chunk that cannot be sent stays in the worker's directory, as do the ones after it (not tried while
//! the coordinator does not answer), and all are tried again, in order, at the end; one that still cannot
//! be sent then fails the worker, naming the directory that keeps them.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use formats::transfer;
use host::{all_cpus_but, pin_to};

use crate::options::RecordsChunk;
use crate::worker::{Coordinator, TransferError};

/// What the uploader did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uploaded {
    /// Chunks the coordinator took.
    pub chunks: u64,
    /// Records in them.
    pub records: u64,
}

/// Sends chunks as they come, until their channel closes.
pub struct ChunkUploader {
    thread: JoinHandle<Result<Uploaded, TransferError>>,
}

impl ChunkUploader {
    /// Starts sending worker `worker`'s chunks from `chunks` to the coordinator at `base` (with the run's
    /// `token`); the thread keeps off `dispatcher_cpu`.
    pub fn start(
        (base, token): (&str, &str),
        worker: u32,
        chunks: mpsc::Receiver<RecordsChunk>,
        dispatcher_cpu: Option<usize>,
    ) -> Result<ChunkUploader, TransferError> {
        let coordinator = Coordinator::new(base, token)?;
        let thread = std::thread::Builder::new()
            .name("records-upload".into())
            .spawn(move || {
                if let Some(cpu) = dispatcher_cpu {
                    pin_to(&all_cpus_but(cpu));
                }
                send_all(&coordinator, worker, chunks)
            })
            .map_err(|source| TransferError::Io {
                path: PathBuf::from("records-upload thread"),
                source,
            })?;
        Ok(ChunkUploader { thread })
    }

    /// Waits until every chunk announced is sent (the channel's senders are gone once the replay has
    /// ended); fails if one could not be sent.
    pub fn finish(self) -> Result<Uploaded, TransferError> {
        self.thread.join().expect("records-upload thread panicked")
    }
}

fn send_all(
    coordinator: &Coordinator,
    worker: u32,
    chunks: mpsc::Receiver<RecordsChunk>,
) -> Result<Uploaded, TransferError> {
    let mut uploaded = Uploaded::default();
    let send = |chunk: &RecordsChunk, uploaded: &mut Uploaded| {
        let name = chunk
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sent = coordinator.upload(&chunk.path, &transfer::chunk_path(worker, &name));
        match &sent {
            Ok(()) => {
                uploaded.chunks += 1;
                uploaded.records += chunk.records;
                log::debug!("worker {worker}: {name} sent ({} records)", chunk.records);
            }
            Err(e) => {
                log::warn!("worker {worker}: {name} not sent ({e}); kept, tried again at the end");
            }
        }
        sent
    };
    // Once one chunk could not be sent, the coordinator is likely gone: the later ones are only kept
    // (each try can wait a minute), and all are tried again, in order, when the replay is over.
    let mut unsent: Vec<RecordsChunk> = Vec::new();
    for chunk in chunks {
        if !unsent.is_empty() || send(&chunk, &mut uploaded).is_err() {
            unsent.push(chunk);
        }
    }
    for chunk in &unsent {
        if let Err(e) = send(chunk, &mut uploaded) {
            return Err(TransferError::Http {
                url: transfer::chunk_path(worker, "…"),
                reason: format!(
                    "records chunk {} could not be sent ({e}); it and any later unsent ones are kept in {}",
                    chunk.index,
                    chunk
                        .path
                        .parent()
                        .map(|d| d.display().to_string())
                        .unwrap_or_default()
                ),
            });
        }
    }
    Ok(uploaded)
}
