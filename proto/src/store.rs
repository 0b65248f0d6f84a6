//! Data moved through a store between a workflow's functions (FaaSFlow's remote store, STeLLAR's
//! `StorageTransfer`), instead of inline in the requests: the one definition of what a call asks the
//! store and of the keys, for the invoker (client orchestration) and the functions (chained).
//!
//! A call's [`StoreOps`] name the objects it reads (its input edges, each by key and size) and those it
//! writes (its output edges). The function reads its inputs before its work, deleting each once read
//! (so a run leaves the store as it found it), and writes its outputs after, before it answers: a
//! consumer is only called once its producers answered, so its inputs are there. An input that is
//! missing or not of its size fails the call, naming the key.
//!
//! Keys are `PREFIX:FROM:TO`, where `PREFIX` is unique per run and instance and `FROM`, `TO` name the
//! producer's and the consumer's calls.
//!
//! In client orchestration the ops travel in [`STORE_HEADER`] (gRPC metadata or HTTP header), JSON; in
//! chained orchestration each function derives them from the plan (`crate::workflow::Plan::store_ops`).

use serde::{Deserialize, Serialize};

/// The header (HTTP) or metadata key (gRPC) carrying a call's [`StoreOps`] in client orchestration.
pub const STORE_HEADER: &str = "x-workflow-store";

/// What a call reads from and writes to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreOps {
    /// The store, `redis://host:port`.
    pub url: String,
    /// The objects the call reads (and deletes), its inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub get: Vec<StoreObject>,
    /// The objects it writes, its outputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub put: Vec<StoreObject>,
}

/// One object in the store: an edge's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreObject {
    /// Its key ([`key`]).
    pub key: String,
    /// Its size, bytes.
    pub bytes: u64,
}

/// The key of the data call `from` hands to call `to`, under a run's and instance's `prefix`.
pub fn key(prefix: &str, from: u64, to: u64) -> String {
    format!("{prefix}:{from}:{to}")
}

/// Why a store URL is refused: only `redis://HOST:PORT[/DB]` is a store.
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("redis://").unwrap_or("");
    let (address, db) = rest.split_once('/').unwrap_or((rest, "0"));
    if address.is_empty() || db.is_empty() || !db.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{url}` is not a store: give redis://HOST:PORT (a Redis server the functions reach)"
        ));
    }
    Ok(())
}

impl StoreOps {
    /// The ops as their header's value.
    pub fn to_header(&self) -> String {
        serde_json::to_string(self).expect("store ops serialise")
    }

    /// Ops from their header's value.
    pub fn from_header(text: &[u8]) -> Result<StoreOps, String> {
        let ops: StoreOps =
            serde_json::from_slice(text).map_err(|e| format!("{STORE_HEADER}: {e}"))?;
        check_url(&ops.url).map_err(|e| format!("{STORE_HEADER}: {e}"))?;
        Ok(ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip_and_only_redis_is_a_store() {
        let ops = StoreOps {
            url: "redis://127.0.0.1:6379".into(),
            get: vec![StoreObject {
                key: key("wf-1", 0, 1),
                bytes: 1024,
            }],
            put: vec![],
        };
        assert_eq!(ops.get[0].key, "wf-1:0:1");
        assert_eq!(StoreOps::from_header(ops.to_header().as_bytes()), Ok(ops));
        assert!(check_url("redis://h:1/2").is_ok());
        for bad in ["http://h:1", "redis://", "redis:///x", "h:1"] {
            assert!(
                check_url(bad).unwrap_err().contains("redis://HOST:PORT"),
                "{bad}"
            );
        }
        assert!(StoreOps::from_header(br#"{"url":"s3://b"}"#)
            .unwrap_err()
            .starts_with(STORE_HEADER));
    }
}
