//! Errors of catalogue reading and mapping.

use std::path::PathBuf;

/// Why a catalogue could not be read or a mapping made.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("{}: line {line}, column {column}: {message}", path.display())]
    Json {
        /// File concerned.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Parser message.
        message: String,
    },
    /// The catalogue holds no proxy.
    #[error("{}: the catalogue holds no proxy", path.display())]
    Empty {
        /// File concerned.
        path: PathBuf,
    },
    /// A percentile key or value of a proxy is malformed.
    #[error("{}: proxy `{proxy}`, {metric} `{key}`: {reason}", path.display())]
    BadValue {
        /// File concerned.
        path: PathBuf,
        /// Proxy name.
        proxy: String,
        /// `cpu`, `memory` or `duration`.
        metric: &'static str,
        /// The offending key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A proxy lacks the percentile the mapping uses.
    #[error("proxy `{proxy}` has no {metric} value at the {percentile}th percentile")]
    MissingPercentile {
        /// Proxy name.
        proxy: String,
        /// `cpu`, `memory` or `duration`.
        metric: &'static str,
        /// Percentile asked for.
        percentile: u8,
    },
    /// The mapping percentile is not one every source gives.
    #[error("percentile {percentile} is not available in the trace; choose one of {available:?}")]
    UnsupportedPercentile {
        /// Percentile asked for.
        percentile: u8,
        /// Percentiles both trace files and profiles give.
        available: Vec<u8>,
    },
    /// Nothing to map to.
    #[error("the catalogue holds no proxy to map {functions} functions to")]
    NoProxies {
        /// Functions waiting for a proxy.
        functions: usize,
    },
}
