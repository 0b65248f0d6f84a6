//! Output written whole or not at all: every file the tools write goes to `NAME.partial` beside its final
//! name and is renamed into place only when complete, so a user's earlier file is replaced only by a whole
//! new one, and a failure (or a drop without [`AtomicFile::commit`]) removes what it started.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where `path` is written until it is complete: `path.partial`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// An error of `path`'s, saying which file (once: the cause's own text follows).
pub fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// A file being written beside its final name; renamed into place by [`AtomicFile::commit`], removed if
/// dropped before.
pub struct AtomicFile {
    path: PathBuf,
    partial: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `path` (as `path.partial`). A directory at `path` is refused at once, before
    /// anything is written: it could never be replaced by a file.
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        if path.is_dir() {
            return Err(with_path(
                path,
                io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "is a directory, not a file to write",
                ),
            ));
        }
        let partial = partial_path(path);
        let file = File::create(&partial).map_err(|e| with_path(&partial, e))?;
        Ok(AtomicFile {
            path: path.to_owned(),
            partial,
            out: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and renames the file into place, replacing any earlier one.
    pub fn commit(mut self) -> io::Result<()> {
        let out = self.out.take().expect("committed once");
        let file = out
            .into_inner()
            .map_err(|e| with_path(&self.partial, e.into_error()))?;
        drop(file);
        std::fs::rename(&self.partial, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&self.partial);
            with_path(&self.path, e)
        })
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.as_mut().expect("not committed").write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.as_mut().expect("not committed").write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

/// Writes `bytes` to `path` whole or not at all.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)
        .map_err(|e| with_path(&partial_path(path), e))?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        std::fs::write(&path, "earlier\n").unwrap();
        {
            let mut f = AtomicFile::create(&path).unwrap();
            f.write_all(b"half").unwrap();
            // Dropped without commit: the earlier file stays, the partial one goes.
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "earlier\n");
        assert!(!partial_path(&path).exists());
        write_atomic(&path, b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = AtomicFile::create(dir.path()).err().unwrap().to_string();
        assert!(e.contains("is a directory"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
