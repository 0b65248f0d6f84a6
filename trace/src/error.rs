//! Errors of trace reading: every one names the file and, where it comes from a row, the line and column.

use std::path::PathBuf;

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },

    /// A trace directory lacks one of the three files.
    #[error("{}: no {what} file found (looked for {expected})", dir.display())]
    MissingFile {
        /// Trace directory.
        dir: PathBuf,
        /// Which file (invocations, durations, memory).
        what: &'static str,
        /// The names that were looked for.
        expected: String,
    },

    /// A raw-layout directory holds several days and none was chosen.
    #[error("{}: holds days {days:?} of the raw Azure trace; choose one with --day", dir.display())]
    AmbiguousDay {
        /// Trace directory.
        dir: PathBuf,
        /// Days found.
        days: Vec<u32>,
    },

    /// A directory holds several Azure 2021 trace files and no other trace.
    #[error("{}: holds several Azure 2021 traces ({}); pass one of them with -t", dir.display(), files.join(", "))]
    AmbiguousTrace {
        /// Trace directory.
        dir: PathBuf,
        /// The files' names.
        files: Vec<String>,
    },

    /// A required column is absent from the header.
    #[error("{}: line 1: missing column `{column}`", path.display())]
    MissingColumn {
        /// File concerned.
        path: PathBuf,
        /// Column name.
        column: String,
    },

    /// The header itself is malformed (duplicate name, period columns not contiguous, none at all).
    #[error("{}: line 1: column {column} (`{name}`): {reason}", path.display())]
    BadHeader {
        /// File concerned.
        path: PathBuf,
        /// 1-based column number.
        column: usize,
        /// Column name.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// A row has a different number of fields than the header.
    #[error("{}: line {line}: ragged row: {found} fields where the header has {expected}", path.display())]
    Ragged {
        /// File concerned.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },

    /// A field that must be a number is not an acceptable one.
    #[error("{}: line {line}: column {column} (`{name}`): {reason}: `{value}`", path.display())]
    BadValue {
        /// File concerned.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// 1-based column number.
        column: usize,
        /// Column name.
        name: String,
        /// The field as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The same function (or app, in an app-level memory file) appears twice.
    #[error("{}: line {line}: duplicate row for {key} (first at line {first_line})", path.display())]
    Duplicate {
        /// File concerned.
        path: PathBuf,
        /// 1-based line of the repetition.
        line: u64,
        /// 1-based line of the first occurrence.
        first_line: u64,
        /// The repeated key, human-readable.
        key: String,
    },

    /// `--strict`: a function of the invocations file is missing from another file.
    #[error("{}: line {line}: function {key} has no row in {}", path.display(), missing_from.display())]
    MissingFunction {
        /// The invocations file.
        path: PathBuf,
        /// 1-based line of the function in the invocations file.
        line: u64,
        /// The function, human-readable.
        key: String,
        /// The file that lacks it.
        missing_from: PathBuf,
    },

    /// The requested window of periods is not inside the file (whose periods its header, line 1, names).
    #[error("{}: line 1: {reason}", path.display())]
    Window {
        /// The invocations file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A file read in several passes differs from what the first pass read.
    #[error("{}: changed while it was being read ({reason}); read it again", path.display())]
    Changed {
        /// File concerned.
        path: PathBuf,
        /// What differs.
        reason: String,
    },

    /// Calls made by a load shape cannot be placed (the shape's own error, in words).
    #[error("{0}")]
    Shape(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// The CSV parser failed where the row-by-row check found nothing to blame (should not happen).
    #[error("{}: {message}", path.display())]
    Csv {
        /// File concerned.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
}

impl TraceError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TraceError::Io {
            path: path.into(),
            source,
        }
    }
}
