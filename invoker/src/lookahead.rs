//! A load read ahead of the dispatcher, so a replay holds a bounded part of its load, never the whole
//! of it: a reader thread reads the load period by period (each period's calls sorted by due time, as
//! [`Schedule::from_file`] sorts them) and hands the dispatcher batches of [`BATCH_CALLS`] calls through
//! a channel of [`BATCHES_AHEAD`] batches. While the dispatcher works through them, the reader holds
//! one period as parsed (16 bytes a call, and 4 for its order), not as scheduled calls (72); once the
//! channel is full it waits. So a replay's calls take less than one busiest period's worth of scheduled
//! calls and the batches ahead, however long the load (`cargo bench -p loadgen --bench lookahead`).
//!
//! A workflow load, or one replayed in closed-loop rounds, is read whole: its calls wait for one another
//! or are sent again and again, so the dispatcher needs all of them at hand (those loads are small).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use formats::LoadError;

use crate::schedule::{LoadHead, Schedule, ScheduledCall};

/// Calls the reader hands over at a time.
pub const BATCH_CALLS: usize = 8192;
/// Batches the reader may be ahead of the dispatcher.
pub const BATCHES_AHEAD: usize = 16;

/// A load to replay: what a run knows of it (its [`LoadHead`]) and where its calls come from.
#[derive(Debug, Clone)]
pub struct LoadToReplay {
    /// The load's endpoints, periods and counts.
    pub head: LoadHead,
    /// Its calls: held, or read from the file as the replay goes.
    pub calls: CallsFrom,
}

/// Where a replay's calls come from.
#[derive(Debug, Clone)]
pub enum CallsFrom {
    /// The schedule, read whole.
    Held(Schedule),
    /// The load file (whose head is [`LoadToReplay::head`]), read ahead of the dispatcher.
    File(PathBuf),
    /// The load's text as a stream (a worker's shard, as its coordinator sends it), read ahead of the
    /// dispatcher once.
    Stream(CallStream),
}

/// A load's text as a stream, read once: a worker's shard as its coordinator sends it, read at the
/// dispatcher's pace (what is not read yet waits on the network, not in memory or on disk).
#[derive(Clone)]
pub struct CallStream {
    /// What errors name it: where it comes from.
    pub name: PathBuf,
    text: Arc<Mutex<Option<Box<dyn Read + Send>>>>,
}

impl CallStream {
    /// The stream `text` (the load's plain text), named `name`.
    pub fn new(name: PathBuf, text: Box<dyn Read + Send>) -> CallStream {
        CallStream {
            name,
            text: Arc::new(Mutex::new(Some(text))),
        }
    }

    /// The stream, the first time it is asked for.
    fn take(&self) -> Result<Box<dyn Read + Send>, LoadError> {
        self.text
            .lock()
            .expect("the stream's lock")
            .take()
            .ok_or_else(|| LoadError::Io {
                path: self.name.clone(),
                source: std::io::Error::other("a stream is read once, and it was read already"),
            })
    }
}

impl std::fmt::Debug for CallStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallStream({})", self.name.display())
    }
}

impl From<Schedule> for LoadToReplay {
    fn from(schedule: Schedule) -> LoadToReplay {
        LoadToReplay {
            head: LoadHead::of(&schedule),
            calls: CallsFrom::Held(schedule),
        }
    }
}

impl LoadToReplay {
    /// `path` made ready to replay its first `warmup + duration` periods: its head is read (one pass,
    /// a period at a time, offsets checked); a workflow load is then read whole, any other is left to be
    /// read ahead of the dispatcher.
    pub fn open(
        path: &Path,
        period_us: u64,
        warmup: u32,
        duration: u32,
    ) -> Result<LoadToReplay, LoadError> {
        let head = Schedule::head_of_file(path, period_us, warmup, duration)?;
        if head.schedule.nodes.is_empty() {
            return Ok(LoadToReplay {
                head,
                calls: CallsFrom::File(path.to_owned()),
            });
        }
        Schedule::from_file(path, period_us, warmup, duration).map(LoadToReplay::from)
    }

    /// The whole schedule: the held one, or the file read whole now (for a replay that needs every call
    /// at hand).
    pub fn read_whole(self) -> Result<Schedule, LoadError> {
        match self.calls {
            CallsFrom::Held(schedule) => Ok(schedule),
            CallsFrom::Stream(stream) => Err(LoadError::Io {
                path: stream.name,
                source: std::io::Error::other(
                    "a streamed load is read ahead of the dispatcher, never whole",
                ),
            }),
            CallsFrom::File(path) => {
                let s = &self.head.schedule;
                Schedule::from_file(
                    &path,
                    s.period_us,
                    s.warmup_periods,
                    s.periods - s.warmup_periods,
                )
            }
        }
    }
}

/// The calls of a load, as the dispatcher takes them: from a held schedule, or read ahead.
pub(crate) enum CallFeed<'a> {
    /// A held schedule's calls and the position of the next one.
    Held(&'a [ScheduledCall], usize),
    /// Calls read ahead.
    Read(LookAhead),
}

impl CallFeed<'_> {
    /// The calls not yet taken, as far as the feed holds them (empty only once every call was taken).
    pub(crate) fn ahead(&mut self) -> &[ScheduledCall] {
        match self {
            CallFeed::Held(calls, next) => &calls[*next..],
            CallFeed::Read(read) => read.ahead(),
        }
    }

    /// The next call.
    pub(crate) fn next_call(&mut self) -> Option<ScheduledCall> {
        match self {
            CallFeed::Held(calls, next) => {
                let call = *calls.get(*next)?;
                *next += 1;
                Some(call)
            }
            CallFeed::Read(read) => read.next(),
        }
    }
}

/// The dispatcher's end of a reader thread: calls in due-time order, one batch at a time.
pub struct LookAhead {
    batches: Receiver<Vec<ScheduledCall>>,
    batch: Vec<ScheduledCall>,
    next: usize,
}

impl LookAhead {
    /// The rest of the current batch, the next batch taken first if this one is used up (waiting for the
    /// reader if it is behind); empty once the reader has handed over every call, or stopped.
    pub fn ahead(&mut self) -> &[ScheduledCall] {
        if self.next == self.batch.len() {
            if let Ok(batch) = self.batches.recv() {
                self.batch = batch;
                self.next = 0;
            }
        }
        &self.batch[self.next..]
    }
}

impl Iterator for LookAhead {
    type Item = ScheduledCall;

    fn next(&mut self) -> Option<ScheduledCall> {
        let call = *self.ahead().first()?;
        self.next += 1;
        Some(call)
    }
}

/// The reader thread: it ends with the load read to its end, or why it could not be.
pub type Reader = JoinHandle<Result<(), LoadError>>;

/// Why the reader stopped early.
enum Halt {
    Load(LoadError),
    /// The dispatcher stopped taking calls (it ended on an error of its own).
    Unwanted,
}

impl From<LoadError> for Halt {
    fn from(e: LoadError) -> Halt {
        Halt::Load(e)
    }
}

/// Starts a thread (on `cpus`, when given) reading `path`, whose head is `head`, ahead of the
/// dispatcher. The thread ends with an error if the file cannot be read or no longer holds the calls
/// its head counted (it changed since), or once the [`LookAhead`] is dropped.
pub fn read_ahead(
    head: &LoadHead,
    path: &Path,
    cpus: Option<Vec<usize>>,
) -> std::io::Result<(LookAhead, Reader)> {
    read_ahead_from(head, &CallsFrom::File(path.to_owned()), cpus)
}

/// [`read_ahead`] from a file or a stream (`calls`; a held schedule has nothing to read: its reader
/// ends at once, handing over no call).
pub fn read_ahead_from(
    head: &LoadHead,
    calls: &CallsFrom,
    cpus: Option<Vec<usize>>,
) -> std::io::Result<(LookAhead, Reader)> {
    let (tx, batches) = sync_channel(BATCHES_AHEAD);
    let (schedule, counted, calls) = (
        head.schedule.clone(),
        head.calls_by_period.clone(),
        calls.clone(),
    );
    let reader = std::thread::Builder::new()
        .name("load-reader".into())
        .spawn(move || {
            if let Some(cpus) = cpus {
                host::pin_to(&cpus);
            }
            let read = match &calls {
                CallsFrom::Held(_) => Ok(()),
                CallsFrom::File(path) => formats::compressed::open(path)
                    .map_err(|source| {
                        Halt::Load(LoadError::Io {
                            path: path.clone(),
                            source,
                        })
                    })
                    .and_then(|file| read_into(&schedule, &counted, (file, path), &tx)),
                CallsFrom::Stream(stream) => stream
                    .take()
                    .map_err(Halt::Load)
                    .and_then(|text| read_into(&schedule, &counted, (text, &stream.name), &tx)),
            };
            match read {
                Ok(()) | Err(Halt::Unwanted) => Ok(()),
                Err(Halt::Load(e)) => Err(e),
            }
        })?;
    let look_ahead = LookAhead {
        batches,
        batch: Vec::new(),
        next: 0,
    };
    Ok((look_ahead, reader))
}

/// The reader thread's body: every kept period's calls, in batches, checked against the head's counts.
fn read_into(
    schedule: &Schedule,
    counted: &[u64],
    (text, path): (impl Read, &Path),
    tx: &SyncSender<Vec<ScheduledCall>>,
) -> Result<(), Halt> {
    let changed = |what: String| {
        Halt::Load(LoadError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(format!("changed while it was being replayed: {what}")),
        })
    };
    let mut periods = 0usize;
    schedule.stream_calls_from(text, path, BATCH_CALLS, |p, n, calls| {
        if p == periods {
            // A period's first batch: does it hold what the head counted?
            let first_read = counted.get(p).copied().unwrap_or(0);
            if n as u64 != first_read {
                return Err(changed(format!(
                    "period {} holds {n} calls, {first_read} when it was first read",
                    p + 1
                )));
            }
            periods += 1;
        }
        if !calls.is_empty() {
            tx.send(calls.to_vec()).map_err(|_| Halt::Unwanted)?;
        }
        Ok(())
    })?;
    if periods != counted.len() {
        return Err(changed(format!(
            "it holds {periods} of the {} periods first read",
            counted.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A load of `periods` periods of `each` calls over 3 endpoints, in reverse time order within each
    /// period (as vSwarm's own files can be; our writer writes them sorted, so it is written here).
    fn write_load(path: &Path, periods: u64, each: u64) {
        let period = serde_json::json!({
            "timestamp": (0..each).rev().map(|i| i * 10).collect::<Vec<_>>(),
            "endpoint": (0..each).rev().map(|i| format!("e{}.local:80", i % 3)).collect::<Vec<_>>(),
        });
        let load = serde_json::Value::Array(vec![period; periods as usize]);
        std::fs::write(path, serde_json::to_vec(&load).unwrap()).unwrap();
    }

    #[test]
    fn calls_read_ahead_are_the_schedule_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("load.json");
        // Periods larger than a batch, so calls cross batch boundaries.
        write_load(&path, 5, 20_000);
        let whole = Schedule::from_file(&path, 1_000_000, 1, 3).unwrap();
        let load = LoadToReplay::open(&path, 1_000_000, 1, 3).unwrap();
        assert!(matches!(load.calls, CallsFrom::File(_)));
        assert_eq!(load.head.calls_by_period, vec![20_000; 4]);
        let (read, reader) = read_ahead(&load.head, &path, None).unwrap();
        let calls: Vec<ScheduledCall> = read.collect();
        reader.join().unwrap().unwrap();
        assert_eq!(calls, whole.calls);
        assert_eq!(load.read_whole().unwrap().calls, whole.calls);
    }

    #[test]
    fn a_load_changed_under_the_reader_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("load.json");
        write_load(&path, 3, 100);
        let load = LoadToReplay::open(&path, 1_000_000, 0, 3).unwrap();
        write_load(&path, 3, 99);
        let (read, reader) = read_ahead(&load.head, &path, None).unwrap();
        assert_eq!(
            read.count(),
            0,
            "no call of a changed period is handed over"
        );
        let e = reader.join().unwrap().unwrap_err().to_string();
        assert!(
            e.contains("load.json")
                && e.contains("changed while it was being replayed: period 1 holds 99 calls, 100"),
            "{e}"
        );
        // A shorter file: its missing periods are named.
        write_load(&path, 2, 100);
        let (read, reader) = read_ahead(&load.head, &path, None).unwrap();
        assert_eq!(read.count(), 200);
        let e = reader.join().unwrap().unwrap_err().to_string();
        assert!(e.contains("it holds 2 of the 3 periods first read"), "{e}");
    }

    #[test]
    fn the_reader_stops_once_the_dispatcher_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("load.json");
        write_load(&path, 40, 10_000);
        let load = LoadToReplay::open(&path, 1_000_000, 0, 40).unwrap();
        let (mut read, reader) = read_ahead(&load.head, &path, None).unwrap();
        assert!(read.next().is_some());
        drop(read);
        // It ends (with no error) rather than blocking on a full channel for ever.
        reader.join().unwrap().unwrap();
    }

    #[test]
    fn a_workflow_load_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("load.json");
        std::fs::write(
            &path,
            r#"[{"timestamp":[1,1],"endpoint":["a:80","b:80"],"workflow_instance":[1,1],"node":["A","B"],"after":[[],[0]]}]"#,
        )
        .unwrap();
        let load = LoadToReplay::open(&path, 1_000_000, 0, 1).unwrap();
        assert!(matches!(&load.calls, CallsFrom::Held(s) if s.dependencies.is_some()));
    }
}
