//! `endpoints.json`: where each proxy of a load is called, and, when an entry says, what its calls send.
//!
//! `loadgen deploy` and `loadgen run` write it (the proxies they deployed); `loadgen run --use-endpoints`
//! reads one written by hand or by an earlier deployment, and `invoker --endpoint-requests` reads the
//! entries' own requests:
//!
//! ```json
//! [
//!   { "proxy": "aes-go", "endpoint": "aes-go.default.example.io", "service": "default/aes-go-x1" },
//!   {
//!     "proxy": "thumbnail",
//!     "endpoint": "https://abc.lambda-url.us-east-1.on.aws/thumbnail",
//!     "method": "POST",
//!     "headers": ["Authorization: Bearer $TOKEN"],
//!     "payload_bytes": 4096
//!   }
//! ]
//! ```
//!
//! `method`, `headers` (`Name: value`, as `--header` takes them, `$VAR` from the environment) and
//! `payload_bytes` stand in for the run's `--method`, `--header` and `--payload-bytes` for that endpoint's
//! calls. An unknown field is refused, so a misspelt one cannot be silently ignored.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One entry: a proxy, where it is called, and what its calls send when it says.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointEntry {
    /// Proxy name in the catalogue (may be left out of a file only the invoker reads).
    #[serde(default)]
    pub proxy: String,
    /// What load.json calls it by: a URL (`http://`, `h2c://`, `https://`, `grpc://`, `vhive://`), a
    /// bare `host:port` for gRPC, or a Knative URL without its scheme.
    pub endpoint: String,
    /// Knative service (`namespace/name`), when deployed on Knative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// This endpoint's HTTP method (GET or POST), in place of `--method`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// This endpoint's headers, `Name: value`, besides `--header`'s (one of the same name replaces it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// This endpoint's payload, bytes, in place of `--payload-bytes` (a call's own size in the load still
    /// comes first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_bytes: Option<u64>,
}

impl EndpointEntry {
    /// A deployed proxy: no request of its own.
    pub fn deployed(proxy: &str, endpoint: String, service: Option<String>) -> EndpointEntry {
        EndpointEntry {
            proxy: proxy.to_owned(),
            endpoint,
            service,
            ..EndpointEntry::default()
        }
    }

    /// Whether the entry says anything of its calls' requests.
    pub fn has_own_request(&self) -> bool {
        self.method.is_some() || !self.headers.is_empty() || self.payload_bytes.is_some()
    }
}

/// Why an endpoints file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: io::Error,
    },
    /// The file is not a list of entries (serde's message holds the line and column).
    #[error("{}: {reason}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        reason: String,
    },
}

/// Reads an endpoints file.
pub fn read(path: &Path) -> Result<Vec<EndpointEntry>, EndpointsError> {
    let text = std::fs::read_to_string(path).map_err(|source| EndpointsError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| EndpointsError::Json {
        path: path.to_owned(),
        reason: format!(
            "{} (an endpoints file is a list of {{\"proxy\", \"endpoint\", and optionally \"service\", \"method\", \"headers\", \"payload_bytes\"}})",
            e
        ),
    })
}

/// Writes an endpoints file, whole or not at all.
pub fn write(path: &Path, entries: &[EndpointEntry]) -> io::Result<()> {
    let json = serde_json::to_string_pretty(entries).expect("endpoints serialise");
    crate::output::write_atomic(path, (json + "\n").as_bytes())
        .map_err(|e| crate::output::with_path(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_a_misspelt_field_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("endpoints.json");
        let entries = vec![
            EndpointEntry::deployed("a", "127.0.0.1:1".into(), None),
            EndpointEntry {
                method: Some("POST".into()),
                headers: vec!["x-a: 1".into()],
                payload_bytes: Some(3),
                ..EndpointEntry::deployed("b", "http://h/".into(), Some("ns/b".into()))
            },
        ];
        write(&path, &entries).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        // An entry without a request of its own is written as before: proxy, endpoint (and service).
        assert!(text
            .starts_with("[\n  {\n    \"proxy\": \"a\",\n    \"endpoint\": \"127.0.0.1:1\"\n  },"));
        assert_eq!(read(&path).unwrap(), entries);
        assert!(!entries[0].has_own_request() && entries[1].has_own_request());

        std::fs::write(&path, "[\n  {\"endpoint\": \"x\",\n   \"header\": []}\n]").unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(
            e.contains("endpoints.json")
                && e.contains("unknown field `header`")
                && e.contains("line 3"),
            "{e}"
        );
        let e = read(&dir.path().join("none.json")).unwrap_err().to_string();
        assert!(e.contains("none.json"), "{e}");
    }
}
