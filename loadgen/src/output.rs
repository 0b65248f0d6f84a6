//! Where a run's output goes, and the rule that keeps finished work safe (the files of a run directory
//! are named once, in [`formats::files::RunFiles`]). A run or an experiment never writes into its output
//! directory: it writes into a staging directory beside it ([`Staged`]) and swaps that in only when it is
//! complete, so a command that fails, at any stage, leaves the earlier output byte for byte. Each output leaves a marker ([`MARKER`])
//! naming what it wrote, so the swap replaces exactly the earlier output's files; a directory holding
//! anything else is refused unless `--force` (those files are then kept, moved into the new output).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The file naming what a run writes in its directory.
pub const MARKER: &str = ".loadgen-run";

/// An output directory being written out of sight: a staging directory beside the target, put in the
/// target's place by [`Staged::commit`] when the command completes. Until then the target is never
/// touched; dropped without a commit, the staging directory is removed, or kept as a sibling by
/// [`Staged::keep_failed`] when it holds measurements.
#[derive(Debug)]
pub struct Staged {
    /// Where the output goes.
    pub target: PathBuf,
    /// Where it is written meanwhile (beside the target).
    pub work: PathBuf,
    /// The marker naming the earlier output's files in the target.
    marker: String,
    /// What happened to the work directory: still open (removed on drop) or handed over.
    open: bool,
    id: String,
}

/// What `dir` holds that an earlier output (as its `marker` names its files) did not write; read without
/// changing anything.
fn others(dir: &Path, marker: &str) -> Result<Vec<String>> {
    let earlier: Vec<String> = std::fs::read_to_string(dir.join(marker))
        .unwrap_or_default()
        .lines()
        .filter(|l| is_plain_name(l))
        .flat_map(|name| [name.to_owned(), format!("{name}.partial")])
        .collect();
    let mut others: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != marker && !earlier.contains(n))
        .collect();
    others.sort_unstable();
    Ok(others)
}

/// A sibling of `target`: `NAME.<what>-<id>` in the same directory (so renames stay on one file system).
fn sibling(target: &Path, what: &str, id: &str) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    target.with_file_name(format!("{name}.{what}-{id}"))
}

impl Staged {
    /// Checks `target` for an output that writes `owned` (marker `marker`) and opens a staging directory
    /// beside it, with the new marker in it. Refused, with nothing written: a target that is a file, or
    /// one holding files an earlier output did not write, unless `force`. `id` names the staging and
    /// failed directories (a run's id).
    pub fn begin(
        target: &Path,
        marker: &str,
        owned: &[impl AsRef<str>],
        force: bool,
        id: &str,
    ) -> Result<Staged> {
        // An absolute path of its own, so that `-o .` has a name and a parent to stage beside.
        let target = if target.file_name().is_some() {
            std::path::absolute(target).unwrap_or_else(|_| target.to_owned())
        } else {
            std::fs::canonicalize(target).unwrap_or_else(|_| target.to_owned())
        };
        if target.exists() && !target.is_dir() {
            bail!("-o {}: is a file, not a directory", target.display());
        }
        if target.is_dir() {
            let found = others(&target, marker)?;
            if !found.is_empty() && !force {
                let shown: Vec<&str> = found.iter().take(5).map(String::as_str).collect();
                bail!(
                    "-o {}: holds {} file(s) an earlier loadgen output did not write ({}{}); choose another \
                     directory, or pass --force to write beside them",
                    target.display(),
                    found.len(),
                    shown.join(", "),
                    if found.len() > 5 { ", …" } else { "" }
                );
            }
        }
        let work = sibling(&target, "staging", id);
        if let Some(parent) = work.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::create_dir(&work).with_context(|| format!("creating {}", work.display()))?;
        let staged = Staged {
            target,
            work,
            marker: marker.to_owned(),
            open: true,
            id: id.to_owned(),
        };
        let marker = staged.work.join(marker);
        let names: Vec<&str> = owned.iter().map(AsRef::as_ref).collect();
        formats::output::write_atomic(&marker, (names.join("\n") + "\n").as_bytes())
            .with_context(|| format!("writing {}", marker.display()))?;
        Ok(staged)
    }

    /// Puts the finished output in the target's place: the earlier output's files go, files that were
    /// not an output's (allowed by `--force`) stay, and the new output takes the name in one rename.
    pub fn commit(mut self) -> Result<()> {
        self.open = false;
        if !self.target.exists() {
            return std::fs::rename(&self.work, &self.target).with_context(|| {
                format!(
                    "moving {} to {}",
                    self.work.display(),
                    self.target.display()
                )
            });
        }
        // Files that were not an earlier output's are the user's: they move into the new output.
        for other in others(&self.target, &self.marker)? {
            let (from, to) = (self.target.join(&other), self.work.join(&other));
            if !to.exists() {
                std::fs::rename(&from, &to)
                    .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
            }
        }
        let replaced = sibling(&self.target, "replaced", &self.id);
        std::fs::rename(&self.target, &replaced).with_context(|| {
            format!("moving the earlier output {} aside", self.target.display())
        })?;
        if let Err(e) = std::fs::rename(&self.work, &self.target) {
            let _ = std::fs::rename(&replaced, &self.target);
            return Err(e).with_context(|| {
                format!(
                    "moving {} to {}",
                    self.work.display(),
                    self.target.display()
                )
            });
        }
        if let Err(e) = std::fs::remove_dir_all(&replaced) {
            log::warn!(
                "the earlier output, replaced, could not be removed from {}: {e}",
                replaced.display()
            );
        }
        Ok(())
    }

    /// Keeps what was written, which the target must not receive (the command failed), as a sibling
    /// directory of the target; returns its path.
    pub fn keep_failed(mut self) -> Result<PathBuf> {
        self.open = false;
        let failed = sibling(&self.target, "failed", &self.id);
        std::fs::rename(&self.work, &failed)
            .with_context(|| format!("moving {} to {}", self.work.display(), failed.display()))?;
        Ok(failed)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.open {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}

/// A marker line is a plain file name: never a path that could reach outside the directory.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::files::RunFiles;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn owned() -> Vec<String> {
        RunFiles::in_dir(Path::new("x")).owned_names()
    }

    #[test]
    fn a_staged_run_replaces_the_last_run_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("run");
        let first = Staged::begin(&target, MARKER, &owned(), false, "1").unwrap();
        std::fs::write(first.work.join("report.md"), "first").unwrap();
        std::fs::create_dir_all(first.work.join("plots")).unwrap();
        assert!(!target.exists(), "nothing is in place before the commit");
        first.commit().unwrap();
        assert_eq!(names(&target), [MARKER, "plots", "report.md"]);

        // A second run that fails leaves the first byte for byte, and no staging directory.
        let second = Staged::begin(&target, MARKER, &owned(), false, "2").unwrap();
        std::fs::write(second.work.join("report.md"), "second").unwrap();
        drop(second);
        assert_eq!(
            std::fs::read_to_string(target.join("report.md")).unwrap(),
            "first"
        );
        assert_eq!(names(dir.path()), ["run"]);

        // One with measurements is kept beside it, named.
        let third = Staged::begin(&target, MARKER, &owned(), false, "3").unwrap();
        std::fs::write(third.work.join("records.csv"), "x").unwrap();
        let failed = third.keep_failed().unwrap();
        assert_eq!(failed, dir.path().join("run.failed-3"));
        assert_eq!(
            std::fs::read_to_string(failed.join("records.csv")).unwrap(),
            "x"
        );
        assert_eq!(
            std::fs::read_to_string(target.join("report.md")).unwrap(),
            "first"
        );

        // A completed one replaces the earlier output's files, nothing else.
        let fourth = Staged::begin(&target, MARKER, &owned(), false, "4").unwrap();
        std::fs::write(fourth.work.join("summary.json"), "{}").unwrap();
        fourth.commit().unwrap();
        assert_eq!(names(&target), [MARKER, "summary.json"]);
        assert_eq!(names(dir.path()), ["run", "run.failed-3"]);
    }

    #[test]
    fn other_files_are_refused_or_kept_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("run");
        Staged::begin(&target, MARKER, &owned(), false, "1")
            .unwrap()
            .commit()
            .unwrap();
        std::fs::write(target.join("notes.txt"), "mine").unwrap();
        let e = Staged::begin(&target, MARKER, &owned(), false, "2").unwrap_err();
        let e = e.to_string();
        assert!(e.contains("notes.txt") && e.contains("--force"), "{e}");
        assert_eq!(names(dir.path()), ["run"], "a refusal writes nothing");
        let forced = Staged::begin(&target, MARKER, &owned(), true, "3").unwrap();
        std::fs::write(forced.work.join("report.md"), "new").unwrap();
        forced.commit().unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join("notes.txt")).unwrap(),
            "mine"
        );
        assert_eq!(names(&target), [MARKER, "notes.txt", "report.md"]);

        // A directory that was never an output's is refused, and left as it was.
        let e = Staged::begin(dir.path(), MARKER, &owned(), false, "4").unwrap_err();
        assert!(e.to_string().contains("did not write"), "{e}");
        // A file is not a directory.
        std::fs::write(dir.path().join("f"), "").unwrap();
        assert!(Staged::begin(&dir.path().join("f"), MARKER, &owned(), false, "5").is_err());
        // A marker naming paths outside the directory counts nothing outside it as the earlier output's.
        std::fs::write(target.join(MARKER), "../escape\n/etc\n..\n").unwrap();
        std::fs::write(dir.path().join("escape"), "x").unwrap();
        let e = Staged::begin(&target, MARKER, &owned(), false, "6").unwrap_err();
        assert!(e.to_string().contains("did not write"), "{e}");
        assert!(dir.path().join("escape").exists());
    }

    #[test]
    fn paths_are_shown_under_the_output_directory() {
        let files = RunFiles::staged(Path::new("/x/run.staging-1"), Path::new("run"), 1);
        assert_eq!(files.show(&files.report), Path::new("run/report.md"));
        assert_eq!(files.show(Path::new("/elsewhere")), Path::new("/elsewhere"));
    }
}
