//! Where a run's output goes: the files of a run directory, each named once.

use std::path::{Path, PathBuf};

/// The files a run leaves in its directory.
#[derive(Debug, Clone)]
pub struct RunFiles {
    /// The output directory.
    pub dir: PathBuf,
    /// load.json.
    pub load: PathBuf,
    /// mapping.json.
    pub mapping: PathBuf,
    /// endpoints.json.
    pub endpoints: PathBuf,
    /// records.csv (one line per scheduled call).
    pub records: PathBuf,
    /// lat.csv (vSwarm's latency file).
    pub latencies: PathBuf,
    /// summary.json.
    pub summary: PathBuf,
    /// report.md.
    pub report: PathBuf,
    /// plots/: the figures.
    pub plots: PathBuf,
}

impl RunFiles {
    /// The files of a run in `dir`.
    pub fn in_dir(dir: &Path) -> RunFiles {
        RunFiles {
            dir: dir.to_owned(),
            load: dir.join("load.json"),
            mapping: dir.join("mapping.json"),
            endpoints: dir.join("endpoints.json"),
            records: dir.join("records.csv"),
            latencies: dir.join("lat.csv"),
            summary: dir.join("summary.json"),
            report: dir.join("report.md"),
            plots: dir.join("plots"),
        }
    }
}
