//! The files of a run directory, each named once here: every tool that writes or reads one (loadgen, the
//! invoker, the workers' coordinator, the experiment runner, the plots) takes its path from [`RunFiles`].

use std::path::{Path, PathBuf};

use crate::compressed::{zstd_path, Compression};

/// records.csv: one line per scheduled call.
pub const RECORDS: &str = "records.csv";
/// summary.json.
pub const SUMMARY: &str = "summary.json";
/// lat.csv: vSwarm's latency file.
pub const LATENCIES: &str = "lat.csv";
/// load.json.
pub const LOAD: &str = "load.json";
/// endpoints.json: where each proxy ran (see [`crate::endpoints`]).
pub const ENDPOINTS: &str = "endpoints.json";
/// spans.json: a workflow load's traces, OTLP JSON.
pub const SPANS: &str = "spans.json";
/// run.json: the run's plan and its sessions, what `loadgen run --resume` checks.
pub const RUN: &str = "run.json";

/// The shards of `load` for `workers` workers: `load-0.json`, `load-1.json`, …
fn shards_of(load: &Path, workers: usize) -> Vec<PathBuf> {
    (0..workers).map(|k| crate::shard_path(load, k)).collect()
}

/// The files a run leaves in its directory.
#[derive(Debug, Clone)]
pub struct RunFiles {
    /// The output directory.
    pub dir: PathBuf,
    /// load.json (load.json.zst, compressed).
    pub load: PathBuf,
    /// mapping.json.
    pub mapping: PathBuf,
    /// endpoints.json.
    pub endpoints: PathBuf,
    /// records.csv (one line per scheduled call; records.csv.zst, compressed).
    pub records: PathBuf,
    /// workflows.csv (one line per workflow instance, in a workflow load).
    pub workflows: PathBuf,
    /// spans.json (a workflow load's traces, OTLP JSON).
    pub spans: PathBuf,
    /// lat.csv (vSwarm's latency file).
    pub latencies: PathBuf,
    /// summary.json.
    pub summary: PathBuf,
    /// report.md.
    pub report: PathBuf,
    /// plots/: the figures.
    pub plots: PathBuf,
    /// trace/: the synthetic trace, when there is no real one.
    pub trace: PathBuf,
    /// With several workers, their shards of the load: load-0.json, load-1.json, …
    pub shards: Vec<PathBuf>,
    /// workers/K/: what worker K sent back (its summary.json) and, for local workers, its output.
    pub workers: PathBuf,
    /// invokers-job.yaml: the Kubernetes Job of the workers.
    pub job: PathBuf,
    /// collect/: what the collectors gathered (scale, Prometheus queries).
    pub collect: PathBuf,
    /// predict/: `loadgen predict`'s figures for the run's load, beside what the local fleet measured.
    pub predict: PathBuf,
    /// run.json: the plan the run was made by, and its sessions (`loadgen run --resume`).
    pub plan: PathBuf,
    /// The output directory as the user names it, when these files are written in a staging directory.
    shown: Option<PathBuf>,
}

impl RunFiles {
    /// The files of a run in `dir`: its load and records compressed if they are there that way only (a
    /// run of `--compress zstd`).
    pub fn in_dir(dir: &Path) -> RunFiles {
        let found = |name: &str| {
            let plain = dir.join(name);
            let packed = zstd_path(&plain);
            if !plain.exists() && packed.exists() {
                packed
            } else {
                plain
            }
        };
        RunFiles {
            dir: dir.to_owned(),
            load: found(LOAD),
            mapping: dir.join("mapping.json"),
            endpoints: dir.join(ENDPOINTS),
            records: found(RECORDS),
            workflows: dir.join(crate::workflows::WORKFLOWS),
            spans: dir.join(SPANS),
            latencies: dir.join(LATENCIES),
            summary: dir.join(SUMMARY),
            report: dir.join("report.md"),
            plots: dir.join("plots"),
            trace: dir.join("trace"),
            shards: Vec::new(),
            workers: dir.join("workers"),
            job: dir.join("invokers-job.yaml"),
            collect: dir.join("collect"),
            predict: dir.join("predict"),
            plan: dir.join(RUN),
            shown: None,
        }
    }

    /// The files of a run in `dir` replayed by `workers` workers (one: no shards).
    pub fn for_workers(dir: &Path, workers: u32) -> RunFiles {
        let mut files = RunFiles::in_dir(dir);
        if workers > 1 {
            files.shards = shards_of(&files.load, workers as usize);
        }
        files
    }

    /// These files with the load and records (and shards) written as `compression` says.
    pub fn compressed(mut self, compression: Compression) -> RunFiles {
        self.load = compression.path(&self.dir.join(LOAD));
        self.records = compression.path(&self.dir.join(RECORDS));
        self.shards = shards_of(&self.load, self.shards.len());
        self
    }

    /// Every path a run may write in its directory, the marker's content: the load, records and shards
    /// in both forms, so a run replaced by one written the other way leaves nothing behind.
    fn owned(&self) -> Vec<PathBuf> {
        let mut owned: Vec<PathBuf> = [
            &self.load,
            &self.mapping,
            &self.endpoints,
            &self.records,
            &self.workflows,
            &self.latencies,
            &self.summary,
            &self.report,
            &self.plots,
            &self.trace,
            &self.workers,
            &self.job,
            &self.collect,
            &self.predict,
            &self.plan,
        ]
        .into_iter()
        .cloned()
        .collect();
        for form in [Compression::None, Compression::Zstd] {
            let load = form.path(&self.dir.join(LOAD));
            owned.extend(shards_of(&load, self.shards.len()));
            owned.push(load);
            owned.push(form.path(&self.dir.join(RECORDS)));
        }
        let mut seen = std::collections::HashSet::new();
        owned.retain(|p| seen.insert(p.clone()));
        owned
    }

    /// The names a run writes in its directory (the marker's content).
    pub fn owned_names(&self) -> Vec<String> {
        self.owned()
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect()
    }

    /// Whether any of these files holds what a replay recorded: records (whole or being written), or a
    /// worker's files. Such a directory is kept when its run fails.
    pub fn hold_measurements(&self) -> bool {
        [
            self.records.clone(),
            crate::output::partial_path(&self.records),
            self.workers.clone(),
        ]
        .iter()
        .any(|p| p.exists())
    }

    /// `path` (one of these files) as the user will find it: under the output directory, not the
    /// staging directory it is written in.
    pub fn show(&self, path: &Path) -> PathBuf {
        match (&self.shown, path.strip_prefix(&self.dir)) {
            (Some(shown), Ok(rest)) => shown.join(rest),
            _ => path.to_owned(),
        }
    }

    /// `text` (a progress message) with every path under the staging directory as the user will find it.
    pub fn show_in(&self, text: &str) -> String {
        match &self.shown {
            Some(shown) => text.replace(
                &self.dir.display().to_string(),
                &shown.display().to_string(),
            ),
            None => text.to_owned(),
        }
    }

    /// The files of a run written in `work` (a staging directory), shown in messages under `shown`.
    pub fn staged(work: &Path, shown: &Path, workers: u32) -> RunFiles {
        let mut files = RunFiles::for_workers(work, workers);
        files.shown = Some(shown.to_owned());
        files
    }
}
