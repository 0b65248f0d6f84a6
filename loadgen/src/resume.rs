//! `loadgen run --resume DIR`: a cut run continued, its records kept.
//!
//! A run is cut when it is interrupted (Ctrl-C, or workers whose coordinator stopped answering), when a
//! worker is lost, or when `loadgen` itself is killed. What it recorded is in its directory: whole
//! (`records.csv`, the cut calls `not_sent:interrupted` or `not_sent:worker_lost`), or as the chunks its
//! workers had sent it and the records its own invoker was writing (a killed `loadgen`'s `.staging-ID`
//! directory). [`Resume::find`] reads that back as one record per call, and finds each worker's first
//! call after its last record; the resumed session sends exactly those calls, at their due times less
//! the earliest of them (so it begins at once, and the calls keep their spacing), and [`Resume::combine`]
//! makes the records of both sessions one run.
//!
//! Only a run made by the same plan is continued: `run.json` keeps the plan ([`crate::plan::identity`],
//! its seed included), which the flags given with `--resume` must match, and the load made again must
//! be the cut run's byte for byte. The local servers listen where the load sends the calls: the cut
//! run's addresses, from its `endpoints.json`.

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use formats::files::RunFiles;
use formats::records::{Outcome, Record, RecordsReader, RunRecordsWriter};
use formats::summary::{ResumedSession, Summary};
use formats::{shard_of, whole_index};
use invoker::schedule::LoadHead;
use invoker::stats::Collector;
use serde::{Deserialize, Serialize};

use crate::cli::RunArgs;
use crate::plan::RunPlan;

/// Whether a record says its call was cut off (never tried, or its fate unknown): a resume sends such
/// calls.
fn was_cut(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::WorkerLost | Outcome::WorkerLostUnknown | Outcome::NotSentInterrupted
    )
}

/// `run.json`: the plan a run was made by, and its replay sessions (one, unless it was resumed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The plan, one setting per line ([`crate::plan::identity`]).
    pub plan: Vec<String>,
    /// Its seed (chosen at random when not given: a resume makes the same load with it).
    pub seed: u64,
    /// Each replay session, in order.
    pub sessions: Vec<Session>,
}

/// One replay session of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The id of the command that ran it (labels what it made in a cluster).
    pub run_id: String,
    /// When its replay began, µs since the Unix epoch (its time 0 is a short lead later).
    pub began_unix_us: u64,
    /// The load's time its time 0 stands for (0 for the first session).
    pub from_us: u64,
}

impl RunRecord {
    /// The record of `plan` about to replay as `run_id`, after `earlier` sessions.
    pub fn new(plan: &RunPlan, earlier: Vec<Session>, run_id: &str, from_us: u64) -> RunRecord {
        let mut sessions = earlier;
        sessions.push(Session {
            run_id: run_id.to_owned(),
            began_unix_us: unix_us(SystemTime::now()),
            from_us,
        });
        RunRecord {
            plan: plan.identity.clone(),
            seed: plan.load.seed,
            sessions,
        }
    }

    /// Reads `dir`'s run.json.
    pub fn read(dir: &Path) -> Result<RunRecord> {
        let path = dir.join(formats::files::RUN);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "--resume {}: no {} there: not a run directory `loadgen run` wrote (or one it wrote before \
                 runs could be resumed)",
                dir.display(),
                formats::files::RUN
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
    }

    /// Writes it to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("run.json serialises") + "\n";
        formats::output::write_atomic(path, json.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }
}

fn unix_us(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// `args` (given with `--resume DIR`) as the run in `dir` was made: its seed, unless given, and its
/// output directory; refused, naming the first setting that differs, when its plan is another.
pub fn resumed_args(args: &RunArgs, dir: &Path) -> Result<(RunArgs, RunRecord)> {
    let record = RunRecord::read(dir)?;
    let mut args = args.clone();
    args.resume = None;
    args.output_dir = dir.to_owned();
    let seed = *args.load.seed.get_or_insert(record.seed);
    let here = crate::plan::identity(&args, seed);
    if here != record.plan {
        let at = here
            .iter()
            .zip(&record.plan)
            .position(|(a, b)| a != b)
            .unwrap_or(here.len().min(record.plan.len()));
        let line = |lines: &[String]| {
            lines
                .get(at)
                .map_or_else(|| "(nothing)".to_owned(), |l| l.trim().to_owned())
        };
        bail!(
            "--resume {}: the run there was made by another plan: `{}` there, `{}` here; give the flags \
             it was run with ({} lists its plan)",
            dir.display(),
            line(&record.plan),
            line(&here),
            dir.join(formats::files::RUN).display()
        );
    }
    Ok((args, record))
}

/// A cut run, read back and ready to be continued.
pub struct Resume {
    /// The cut run's directory.
    pub dir: PathBuf,
    /// Its files.
    files: RunFiles,
    /// Its run.json.
    record: RunRecord,
    /// Its records, one per call of the load (put together from what it left, if it left no
    /// records.csv).
    earlier: PathBuf,
    /// Where `earlier` was put together; removed with this.
    _scratch: Option<tempfile::TempDir>,
    /// Per worker (one without workers), the position in its share of its first call to send.
    pub first: Vec<u64>,
    /// The load's time that is the resumed session's time 0: the earliest first call's due time.
    pub from_us: u64,
    /// The period of that call.
    pub from_period: u32,
    /// Calls the resumed session sends.
    pub calls: u64,
    /// The cut run's summary, if it wrote one.
    earlier_summary: Option<Summary>,
}

impl Resume {
    /// Reads the cut run in `dir` (made by `plan`, as `record` says) back: its records, whole or put
    /// together, and where each worker takes up.
    pub fn find(plan: &RunPlan, dir: &Path, record: RunRecord) -> Result<Resume> {
        let shown = dir.display();
        if plan.stellar.is_some() || plan.load.workflow.is_some() {
            bail!("--resume {shown}: a STeLLAR step or a workflow load cannot be resumed: run it again");
        }
        let workers = plan.invokers;
        let files = RunFiles::for_workers(dir, workers);
        if !files.load.exists() {
            bail!(
                "--resume {shown}: holds no {}: the run was cut before its load was written, so nothing \
                 was sent; run it again",
                files.load.display()
            );
        }
        let settings = &plan.load.settings;
        let head = invoker::schedule::Schedule::head_of_file(
            &files.load,
            settings.trace.granularity().period_us(),
            settings.warmup_duration as u32,
            settings.duration as u32,
        )
        .with_context(|| format!("--resume {shown}: reading its load"))?;
        let (earlier, scratch) = if files.records.exists() {
            (files.records.clone(), None)
        } else {
            let scratch = scratch_beside(dir)?;
            let path = put_together(&files, &head, workers, scratch.path())
                .with_context(|| format!("--resume {shown}: reading what the cut run recorded"))?;
            (path, Some(scratch))
        };
        let (first, from_us, from_period) = take_up(&earlier, &head, workers)
            .with_context(|| format!("--resume {shown}: reading {}", earlier.display()))?;
        let calls: u64 = first
            .iter()
            .enumerate()
            .map(|(k, &p)| {
                coordinator::merge::calls_of(k as u32, workers, head.calls).saturating_sub(p)
            })
            .sum();
        if calls == 0 {
            bail!("--resume {shown}: every call of the run has its record: there is nothing to resume");
        }
        let earlier_summary = formats::summary::read(&files.summary).ok();
        Ok(Resume {
            dir: dir.to_owned(),
            files,
            record,
            earlier,
            _scratch: scratch,
            first,
            from_us,
            from_period,
            calls,
            earlier_summary,
        })
    }

    /// What the workers' invokers are told: time 0's load time, and each worker's first position.
    pub fn invoker_settings(&self) -> invoker::options::ResumedShares {
        invoker::options::ResumedShares {
            from_us: self.from_us,
            first: self.first.clone(),
        }
    }

    /// The sessions before this one (run.json's).
    pub fn earlier_sessions(&self) -> Vec<Session> {
        self.record.sessions.clone()
    }

    /// Where each of `proxies` listened in the cut run (its endpoints.json), for the local servers to
    /// listen there again: the load sends the calls there.
    pub fn addresses(&self, proxies: &[&profiles::Proxy]) -> Result<Vec<SocketAddr>> {
        let entries = formats::endpoints::read(&self.files.endpoints)?;
        let by_proxy: HashMap<&str, &str> = entries
            .iter()
            .map(|e| (e.proxy.as_str(), e.endpoint.as_str()))
            .collect();
        proxies
            .iter()
            .map(|p| {
                let endpoint = by_proxy.get(p.name.as_str()).with_context(|| {
                    format!(
                        "{}: names no endpoint for proxy {}, which the plan deploys",
                        self.files.endpoints.display(),
                        p.name
                    )
                })?;
                socket_address(endpoint).with_context(|| {
                    format!(
                        "{}: proxy {}'s endpoint `{endpoint}` is not a HOST:PORT of this machine",
                        self.files.endpoints.display(),
                        p.name
                    )
                })
            })
            .collect()
    }

    /// Refuses to go on when the load made again (`made`) is not the cut run's byte for byte: the plan
    /// would not be the same, whatever its flags say.
    pub fn check_same_load(&self, made: &Path) -> Result<()> {
        let open = |path: &Path| {
            std::fs::File::open(path)
                .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
                .with_context(|| format!("reading {}", path.display()))
        };
        let (mut a, mut b) = (open(&self.files.load)?, open(made)?);
        let mut offset = 0u64;
        loop {
            let (x, y) = (a.fill_buf()?, b.fill_buf()?);
            if x.is_empty() && y.is_empty() {
                return Ok(());
            }
            let n = x.len().min(y.len());
            let differs = x[..n].iter().zip(&y[..n]).position(|(p, q)| p != q);
            if n == 0 || differs.is_some() {
                bail!(
                    "--resume {}: the load this plan makes differs from the cut run's {} at byte {}: the \
                     run cannot be continued (its trace, or a file its plan reads, changed)",
                    self.dir.display(),
                    self.files.load.display(),
                    offset + differs.unwrap_or(n) as u64
                );
            }
            a.consume(n);
            b.consume(n);
            offset += n as u64;
        }
    }

    /// Makes the cut run's records and the resumed session's (`files.records`, as the replay left them)
    /// one run in `files`: one record per call, each worker's calls before its first position from the
    /// cut run, the rest from this session; `lat.csv` written again. Returns the run's summary, computed
    /// from those records, with `session`'s own figures (its workers, steal, failures) and the resumed
    /// session's block.
    pub fn combine(
        &self,
        files: &RunFiles,
        head: &LoadHead,
        workers: u32,
        session: Summary,
    ) -> Result<Summary> {
        let schedule = &head.schedule;
        let endpoint_of: HashMap<&str, u32> = schedule
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (e.as_str(), i as u32))
            .collect();
        let mut earlier = Indexed::open(&self.earlier, &endpoint_of)?;
        let mut resumed = Indexed::open(&files.records, &endpoint_of)?;
        let mut collector = Collector::new(
            schedule.endpoints.clone(),
            head.calls,
            schedule.measured_window(),
        );
        let mut out = RunRecordsWriter::create(&files.records, &files.latencies)?;
        while let Some(kept) = earlier.next()? {
            let (w, position) = shard_of(kept.index, workers);
            let record = if position >= self.first[w as usize] {
                resumed.find(kept.index)?.unwrap_or(kept)
            } else {
                kept
            };
            collector.add(&record);
            out.write(&record, &schedule.endpoints)?;
        }
        drop(resumed);
        out.commit()?;
        let mut summary = collector.summary(session.dispatcher.clone(), session.interrupted);
        summary.incomplete = session.incomplete;
        summary.failures = session.failures.clone();
        summary.steal_ms = session.steal_ms.clone();
        summary.workers = session.workers.clone();
        summary.start_unix_us = self
            .earlier_summary
            .as_ref()
            .map_or(session.start_unix_us, |s| s.start_unix_us);
        summary.resumed = self
            .earlier_summary
            .as_ref()
            .map(|s| s.resumed.clone())
            .unwrap_or_default();
        let gap_s = self.gap_s(session.start_unix_us);
        summary.resumed.push(ResumedSession {
            start_unix_us: session.start_unix_us,
            from_us: self.from_us,
            from_period: self.from_period,
            calls: self.calls,
            first_index: self
                .first
                .iter()
                .enumerate()
                .map(|(k, &p)| {
                    (p < coordinator::merge::calls_of(k as u32, workers, head.calls))
                        .then(|| whole_index(k as u32, p, workers))
                })
                .collect(),
            gap_s,
        });
        Ok(summary)
    }

    /// Seconds from when the cut run was at the load's time `from_us` to `start_unix_us` (this
    /// session's time 0): from its summary's (or the last resumed session's) time 0 when it wrote one,
    /// else from when its replay began (run.json; its lead makes this a little long).
    fn gap_s(&self, start_unix_us: u64) -> Option<f64> {
        let (zero_unix_us, zero_load_us) = match &self.earlier_summary {
            Some(s) => s
                .resumed
                .last()
                .map_or((s.start_unix_us, 0), |r| (r.start_unix_us, r.from_us)),
            None => self
                .record
                .sessions
                .last()
                .map(|s| (s.began_unix_us, s.from_us))?,
        };
        let was_at = zero_unix_us as f64 + (self.from_us as f64 - zero_load_us as f64);
        (zero_unix_us > 0).then(|| (start_unix_us as f64 - was_at) / 1e6)
    }
}

/// A scratch directory beside `dir` (on its file system), removed when dropped.
fn scratch_beside(dir: &Path) -> Result<tempfile::TempDir> {
    let parent = std::path::absolute(dir)?
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    tempfile::Builder::new()
        .prefix(".loadgen-resume-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a scratch directory in {}", parent.display()))
}

/// `HOST:PORT` of an endpoint (`127.0.0.2:41234`, or a URL of one).
fn socket_address(endpoint: &str) -> Option<SocketAddr> {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split('/').next()?;
    authority.parse().ok()
}

/// The records of a run cut before it wrote records.csv, put together in `scratch` (records.csv, one
/// per call): the chunks its workers had sent it, or the records its own invoker had written (up to
/// the last whole line). Calls without a record are
/// `not_sent:worker_lost`.
fn put_together(
    files: &RunFiles,
    head: &LoadHead,
    workers: u32,
    scratch: &Path,
) -> Result<PathBuf> {
    let mut results: Vec<coordinator::merge::WorkerResult> = if workers > 1 {
        (0..workers)
            .map(|k| chunks_of(&files.workers.join(k.to_string())))
            .collect::<Result<_>>()?
    } else {
        vec![salvaged(files, scratch)?]
    };
    for r in &mut results {
        r.lost = Some("the run was cut".into());
    }
    let out = scratch.join(formats::files::RECORDS);
    coordinator::merge::merge(
        coordinator::merge::MergedLoad {
            path: &files.load,
            head,
        },
        &mut results,
        &out,
        &scratch.join(formats::files::LATENCIES),
        String::new(),
        true,
    )?;
    Ok(out)
}

/// A worker's chunks that reached the coordinator (`dir`), in order: each was received whole (its hash
/// checked). A local worker's own directory may hold later ones, but the last of those may have been
/// cut off as it was written: they are not used.
fn chunks_of(dir: &Path) -> Result<coordinator::merge::WorkerResult> {
    let mut chunks = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = formats::transfer::parse_chunk_name(&name) {
            chunks.insert(n, entry.path());
        }
    }
    // Only an unbroken run of chunks from the first: a record after a missing chunk has a gap before it.
    let records = chunks
        .into_iter()
        .enumerate()
        .take_while(|(i, (n, _))| *i as u64 == *n)
        .map(|(_, (_, path))| path)
        .collect();
    Ok(coordinator::merge::WorkerResult {
        records,
        ..Default::default()
    })
}

/// What a one-invoker run cut before its end had written of its records (`records.csv.partial`, plain
/// or zstd), up to its last whole line, as a records file in `scratch`.
fn salvaged(files: &RunFiles, scratch: &Path) -> Result<coordinator::merge::WorkerResult> {
    let partial = [
        formats::output::partial_path(&files.records),
        formats::output::partial_path(&formats::compressed::zstd_path(
            &files.dir.join(formats::files::RECORDS),
        )),
    ]
    .into_iter()
    .find(|p| p.exists());
    let Some(partial) = partial else {
        return Ok(coordinator::merge::WorkerResult::default());
    };
    let mut text = Vec::new();
    // A killed writer leaves a zstd stream cut short: what decodes before the cut is kept.
    let _ = formats::compressed::open(&partial)?.read_to_end(&mut text);
    let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let out = scratch.join("salvaged.csv");
    formats::output::write_atomic(&out, &text[..whole])
        .with_context(|| format!("writing {}", out.display()))?;
    let has_records = text[..whole].iter().filter(|&&b| b == b'\n').count() > 1;
    Ok(coordinator::merge::WorkerResult {
        records: if has_records { vec![out] } else { Vec::new() },
        ..Default::default()
    })
}

/// Where each worker takes up in `records` (one per call, in order): the position after its last call
/// that was not cut off. Returns those positions, the earliest due time among the calls there, and its
/// period.
fn take_up(records: &Path, head: &LoadHead, workers: u32) -> Result<(Vec<u64>, u64, u32)> {
    let mut first = vec![0u64; workers as usize];
    let mut reader = RecordsReader::open(records)?;
    while let Some(r) = reader.next_record()? {
        if !was_cut(r.outcome) {
            let (w, position) = shard_of(r.index, workers);
            first[w as usize] = position + 1;
        }
    }
    let starts: Vec<u64> = (0..workers)
        .filter(|&k| first[k as usize] < coordinator::merge::calls_of(k, workers, head.calls))
        .map(|k| whole_index(k, first[k as usize], workers))
        .collect();
    let (mut from_us, mut from_period) = (u64::MAX, 0);
    let mut reader = RecordsReader::open(records)?;
    while let Some(r) = reader.next_record()? {
        if starts.contains(&r.index) && r.scheduled_us < from_us {
            (from_us, from_period) = (r.scheduled_us, r.period);
        }
    }
    Ok((
        first,
        if from_us == u64::MAX { 0 } else { from_us },
        from_period,
    ))
}

/// A records file read in order, each record's endpoint numbered as the load's.
struct Indexed<'a> {
    reader: RecordsReader,
    path: PathBuf,
    endpoint_of: &'a HashMap<&'a str, u32>,
    ahead: Option<Record>,
}

impl<'a> Indexed<'a> {
    fn open(path: &Path, endpoint_of: &'a HashMap<&'a str, u32>) -> Result<Indexed<'a>> {
        Ok(Indexed {
            reader: RecordsReader::open(path)?,
            path: path.to_owned(),
            endpoint_of,
            ahead: None,
        })
    }

    /// The next record.
    fn next(&mut self) -> Result<Option<Record>> {
        if let Some(r) = self.ahead.take() {
            return Ok(Some(r));
        }
        let Some(r) = self.reader.next_record()? else {
            return Ok(None);
        };
        let name = self.reader.endpoint(&r);
        let endpoint = *self.endpoint_of.get(name).with_context(|| {
            format!(
                "{}: call {} names endpoint `{name}`, which the load does not hold",
                self.path.display(),
                r.index
            )
        })?;
        Ok(Some(Record { endpoint, ..r }))
    }

    /// Call `index`'s record, skipping those before it; none if this file has none.
    fn find(&mut self, index: u64) -> Result<Option<Record>> {
        while let Some(r) = self.next()? {
            if r.index >= index {
                if r.index == index {
                    return Ok(Some(r));
                }
                self.ahead = Some(r);
                return Ok(None);
            }
        }
        Ok(None)
    }
}
