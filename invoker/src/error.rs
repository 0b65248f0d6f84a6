//! Why a replay could not run: the one error type of the dispatcher and the records sink.

use std::path::PathBuf;

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// An endpoint is not a valid address.
    #[error("endpoint `{endpoint}`: not a valid address ({reason})")]
    BadEndpoint {
        /// As written in the load.
        endpoint: String,
        /// Parser's reason.
        reason: String,
    },
    /// An endpoint did not accept a connection before the run.
    #[error("endpoint `{endpoint}` ({uri}) is unreachable: {reason} (--allow-unreachable records its calls as failures and goes on)")]
    Unreachable {
        /// As written in the load.
        endpoint: String,
        /// What was dialled.
        uri: String,
        /// Why it failed.
        reason: String,
    },
    /// An output file could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A `--header` names an environment variable that is not set (or makes a value no header can hold).
    #[error(transparent)]
    Header(#[from] crate::request::HeaderError),
    /// `--ca-cert` is not a file of PEM certificates.
    #[error("--ca-cert {}: {reason}", path.display())]
    CaCert {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The load asks for something this replay cannot do (the reason says what, and what can).
    #[error("{0}")]
    Unsupported(String),
    /// The load could not be read (or changed while it was being replayed).
    #[error(transparent)]
    Load(#[from] formats::LoadError),
    /// The runtime or a thread could not be started.
    #[error("starting the dispatcher: {0}")]
    Start(std::io::Error),
}

impl ReplayError {
    /// Turns an I/O error on `path` into a [`ReplayError::Io`] (for `map_err`).
    pub(crate) fn io_on(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ReplayError + '_ {
        move |source| ReplayError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// An error and its sources, `: `-separated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
