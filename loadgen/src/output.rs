//! Where a run's output goes: the files of a run directory, each named once, and the rule that keeps
//! runs from mixing. A run claims its directory before writing anything: it leaves a marker
//! ([`MARKER`]) naming what it writes, so the next run into the same directory removes exactly the earlier
//! run's files first; a directory holding anything else is refused unless `--force`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The file naming what a run writes in its directory.
pub const MARKER: &str = ".loadgen-run";

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
            trace: dir.join("trace"),
            shards: Vec::new(),
            workers: dir.join("workers"),
            job: dir.join("invokers-job.yaml"),
            collect: dir.join("collect"),
        }
    }

    /// The files of a run in `dir` replayed by `workers` workers (one: no shards).
    pub fn for_workers(dir: &Path, workers: u32) -> RunFiles {
        let mut files = RunFiles::in_dir(dir);
        if workers > 1 {
            files.shards = (0..workers as usize)
                .map(|k| formats::shard_path(&files.load, k))
                .collect();
        }
        files
    }

    /// Every path a run may write in its directory, the marker's content.
    fn owned(&self) -> Vec<&Path> {
        let mut owned: Vec<&Path> = [
            &self.load,
            &self.mapping,
            &self.endpoints,
            &self.records,
            &self.latencies,
            &self.summary,
            &self.report,
            &self.plots,
            &self.trace,
            &self.workers,
            &self.job,
            &self.collect,
        ]
        .into_iter()
        .map(PathBuf::as_path)
        .collect();
        owned.extend(self.shards.iter().map(PathBuf::as_path));
        owned
    }

    /// Makes the directory ready for this run, before anything else is written (see [`claim_dir`]).
    pub fn claim(&self, force: bool) -> Result<()> {
        let names: Vec<String> = self
            .owned()
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        claim_dir(&self.dir, MARKER, &names, force)
    }
}

/// Makes `dir` ready for a run or an experiment that writes `owned` in it: created if missing; an
/// earlier one's files (as its `marker` names them) removed, so outputs never mix; anything else there
/// refused, before anything is removed, unless `force` (then left beside). Writes the new marker.
pub fn claim_dir(dir: &Path, marker: &str, owned: &[&str], force: bool) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("-o {}: is a file, not a directory", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let marker = dir.join(marker);
    // The earlier output's files, as its marker names them (with their partial forms).
    let earlier: Vec<String> = std::fs::read_to_string(&marker)
        .unwrap_or_default()
        .lines()
        .filter(|l| is_plain_name(l))
        .flat_map(|name| [name.to_owned(), format!("{name}.partial")])
        .collect();
    let marker_name = marker
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let others: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| *n != marker_name && !earlier.contains(n))
        .collect();
    if !others.is_empty() && !force {
        let mut shown: Vec<&str> = others.iter().map(String::as_str).collect();
        shown.sort_unstable();
        shown.truncate(5);
        bail!(
            "-o {}: holds {} file(s) an earlier loadgen output did not write ({}{}); choose another \
             directory, or pass --force to write beside them",
            dir.display(),
            others.len(),
            shown.join(", "),
            if others.len() > 5 { ", …" } else { "" }
        );
    }
    for name in &earlier {
        remove(&dir.join(name))?;
    }
    formats::output::write_atomic(&marker, (owned.join("\n") + "\n").as_bytes())
        .with_context(|| format!("writing {}", marker.display()))
}

/// A marker line is a plain file name: never a path that could reach outside the directory.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\'])
}

/// Removes a file or a directory tree, if there.
fn remove(path: &Path) -> Result<()> {
    let removed = match std::fs::symlink_metadata(path) {
        Err(_) => return Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    removed.with_context(|| format!("removing the earlier run's {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_clears_the_last_run_and_refuses_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunFiles::in_dir(&dir.path().join("run"));
        run.claim(false).unwrap();
        std::fs::write(&run.report, "old").unwrap();
        std::fs::create_dir_all(run.plots.join("x")).unwrap();
        std::fs::write(formats::output::partial_path(&run.records), "half").unwrap();
        run.claim(false).unwrap();
        let left: Vec<String> = std::fs::read_dir(&run.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec![MARKER.to_owned()]);

        std::fs::write(run.dir.join("notes.txt"), "mine").unwrap();
        let e = run.claim(false).unwrap_err().to_string();
        assert!(e.contains("notes.txt") && e.contains("--force"), "{e}");
        run.claim(true).unwrap();
        assert_eq!(
            std::fs::read_to_string(run.dir.join("notes.txt")).unwrap(),
            "mine"
        );

        // A directory that was never a run's is refused, and left as it was.
        let other = RunFiles::in_dir(dir.path());
        let e = other.claim(false).unwrap_err().to_string();
        assert!(e.contains("did not write") && e.contains("--force"), "{e}");
        assert!(!dir.path().join(MARKER).exists());
        // A marker naming paths outside the directory removes nothing outside it.
        std::fs::write(run.dir.join(MARKER), "../escape\n/etc\n..\n").unwrap();
        std::fs::write(dir.path().join("escape"), "x").unwrap();
        run.claim(true).unwrap();
        assert!(dir.path().join("escape").exists());
    }
}
