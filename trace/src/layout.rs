//! Where the three files of a trace directory are: the sampled layout (`invocations.csv`, `durations.csv`,
//! `memory.csv`) or the raw Azure 2019 day files (`…anon.dNN.csv`).

use std::path::{Path, PathBuf};

use crate::error::TraceError;

/// The file naming convention of a trace directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `invocations.csv`, `durations.csv`, `memory.csv` (vSwarm, invitro samples).
    Sampled,
    /// The Azure Functions 2019 release's day files, for day `NN`.
    Raw {
        /// Day number as in the file names (1-based in the dataset).
        day: u32,
    },
}

/// Raw-layout invocations file name prefix.
pub const RAW_INVOCATIONS: &str = "invocations_per_function_md.anon.d";
/// Raw-layout durations file name prefix.
pub const RAW_DURATIONS: &str = "function_durations_percentiles.anon.d";
/// Raw-layout memory file name prefix.
pub const RAW_MEMORY: &str = "app_memory_percentiles.anon.d";

/// The three files of one trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceFiles {
    /// Naming convention found.
    pub layout: Layout,
    /// Invocation counts per function and period.
    pub invocations: PathBuf,
    /// Execution time percentiles per function.
    pub durations: PathBuf,
    /// Allocated memory percentiles per function or per app.
    pub memory: PathBuf,
}

impl TraceFiles {
    /// The file names a layout uses inside `dir`.
    pub fn in_dir(dir: &Path, layout: Layout) -> TraceFiles {
        let (inv, dur, mem) = match layout {
            Layout::Sampled => (
                "invocations.csv".to_owned(),
                "durations.csv".to_owned(),
                "memory.csv".to_owned(),
            ),
            Layout::Raw { day } => (
                format!("{RAW_INVOCATIONS}{day:02}.csv"),
                format!("{RAW_DURATIONS}{day:02}.csv"),
                format!("{RAW_MEMORY}{day:02}.csv"),
            ),
        };
        TraceFiles {
            layout,
            invocations: dir.join(inv),
            durations: dir.join(dur),
            memory: dir.join(mem),
        }
    }

    /// Finds the trace in `dir`: the sampled layout if `invocations.csv` exists, else the raw day files
    /// (`day` chooses among several days). All three files must exist.
    pub fn locate(dir: &Path, day: Option<u32>) -> Result<TraceFiles, TraceError> {
        if !dir.is_dir() {
            return Err(TraceError::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "trace directory not found"),
            ));
        }
        let layout = if day.is_none() && dir.join("invocations.csv").exists() {
            Layout::Sampled
        } else {
            let days = raw_days(dir)?;
            match (day, days.as_slice()) {
                (Some(d), _) => Layout::Raw { day: d },
                (None, [d]) => Layout::Raw { day: *d },
                (None, []) => {
                    return Err(TraceError::MissingFile {
                        dir: dir.to_owned(),
                        what: "invocations",
                        expected: format!("invocations.csv or {RAW_INVOCATIONS}NN.csv"),
                    })
                }
                (None, _) => {
                    return Err(TraceError::AmbiguousDay {
                        dir: dir.to_owned(),
                        days,
                    })
                }
            }
        };
        let files = TraceFiles::in_dir(dir, layout);
        for (what, path) in [
            ("invocations", &files.invocations),
            ("durations", &files.durations),
            ("memory", &files.memory),
        ] {
            if !path.is_file() {
                return Err(TraceError::MissingFile {
                    dir: dir.to_owned(),
                    what,
                    expected: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                });
            }
        }
        Ok(files)
    }
}

/// Days for which `dir` holds a raw invocations file, sorted.
pub fn raw_days(dir: &Path) -> Result<Vec<u32>, TraceError> {
    let mut days = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| TraceError::io(dir, e))? {
        let entry = entry.map_err(|e| TraceError::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(day) = name
            .strip_prefix(RAW_INVOCATIONS)
            .and_then(|rest| rest.strip_suffix(".csv"))
            .and_then(|d| d.parse::<u32>().ok())
        {
            days.push(day);
        }
    }
    days.sort_unstable();
    Ok(days)
}
