//! The JSON inside the gRPC messages, defined once for both sides:
//!
//! - [`CallRequest`], in `HelloRequest.vHiveMetadata`: what this call asks of the function (its own duration
//!   and memory, invitro's per-call model). vSwarm's proxies already receive JSON there and ignore keys
//!   they do not know.
//! - [`FunctionReport`], as `HelloReply.message`: what the function did (its execution time, its instance,
//!   whether the call was a cold start, the memory it touched). vSwarm's invoker ignores the message; ours
//!   records it, so platform overhead = latency − execution time.
//!
//! Over HTTP the same JSON travels in headers ([`REQUEST_HEADER`], [`REPORT_HEADER`]), so a reply's body
//! is free to be the payload a call asked for.

use serde::{Deserialize, Serialize};

/// Over HTTP, the header carrying a [`CallRequest`] (the same JSON as gRPC's metadata).
pub const REQUEST_HEADER: &str = "x-function-request";

/// Over HTTP, the reply header carrying a [`FunctionReport`] (the body is the call's payload).
pub const REPORT_HEADER: &str = "x-function-report";

/// What a call asks of the function; either field may be absent (the function then draws it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CallRequest {
    /// Wall time the call should take inside the function, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    /// Working set the call should touch, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
}

impl CallRequest {
    /// The metadata bytes for a request (empty when the call asks for nothing).
    pub fn to_metadata(self) -> Vec<u8> {
        if self == CallRequest::default() {
            Vec::new()
        } else {
            serde_json::to_vec(&self).expect("a call request serialises")
        }
    }

    /// The request in metadata bytes, if they hold one (anything else, vSwarm's own metadata included, is
    /// no request: the function draws its own).
    pub fn from_metadata(bytes: &[u8]) -> Option<CallRequest> {
        if bytes.is_empty() {
            return None;
        }
        serde_json::from_slice(bytes).ok()
    }
}

/// What the function did for one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionReport {
    /// The function's name.
    pub function: String,
    /// Time inside the function, from the request's arrival to its reply (queueing inside the instance
    /// included), µs.
    pub exec_us: u64,
    /// The instance that served it: 16 hex digits, fixed per instance.
    pub instance: String,
    /// The instance's first call, or its first after sitting idle longer than its keep-alive.
    pub cold: bool,
    /// Working set touched, MiB.
    pub memory_mb: u32,
    /// Wall time the call was to take (drawn or requested), µs.
    #[serde(default)]
    pub duration_us: u64,
    /// Of it, busy computation, µs.
    #[serde(default)]
    pub cpu_us: u64,
    /// In a chained workflow, the call's own time, µs: `exec_us` without the wait for the nodes it
    /// orchestrated (see `crate::workflow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_us: Option<u64>,
    /// Of `exec_us`, the time spent moving the call's data through a store (`crate::store`), µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_us: Option<u64>,
    /// In a chained workflow, the reports of the nodes it orchestrated and of those they did, in the order
    /// they answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeReport>,
    /// When the call was traced, its spans: its own, its store accesses' and its calls of nodes'
    /// (`crate::trace`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<crate::trace::Span>,
}

/// What a function says of a node of a chained workflow it called (or of one called further down; see
/// `crate::workflow`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    /// The node (an index into the plan's nodes).
    pub node: u32,
    /// When its request was sent, µs since the Unix epoch, on the calling function's clock.
    pub sent_unix_us: u64,
    /// From then to its answer (or failure), µs.
    pub latency_us: u64,
    /// Why it failed; none when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// What it said it did (its `nodes` moved up into the caller's list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<FunctionReport>,
    /// What its request carried, bytes.
    #[serde(default)]
    pub request_bytes: u64,
}

impl FunctionReport {
    /// The report in a reply's message, if it holds one.
    pub fn parse(message: &str) -> Option<FunctionReport> {
        if !message.starts_with('{') {
            return None;
        }
        serde_json::from_str(message).ok()
    }

    /// The reply's message.
    pub fn to_message(&self) -> String {
        serde_json::to_string(self).expect("a report serialises")
    }

    /// The instance as a number: its 16 hex digits, or (another function's id of another form) a hash of
    /// it, so records stay fixed-width.
    pub fn instance_number(&self) -> u64 {
        instance_number(&self.instance)
    }
}

/// An instance id as a number (see [`FunctionReport::instance_number`]).
pub fn instance_number(id: &str) -> u64 {
    if id.len() == 16 {
        if let Ok(n) = u64::from_str_radix(id, 16) {
            return n;
        }
    }
    // FNV-1a: any string to 64 bits, the same everywhere.
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// An instance id as records write it: 16 hex digits.
pub fn instance_text(n: u64) -> String {
    format!("{n:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_and_requests_round_trip() {
        let r = FunctionReport {
            function: "emu".into(),
            exec_us: 201_345,
            instance: "00ab00cd00ef0012".into(),
            cold: true,
            memory_mb: 64,
            duration_us: 200_000,
            cpu_us: 400,
            own_us: None,
            transfer_us: Some(12),
            nodes: Vec::new(),
            spans: Vec::new(),
        };
        assert_eq!(FunctionReport::parse(&r.to_message()), Some(r.clone()));
        assert_eq!(r.instance_number(), 0x00ab00cd00ef0012);
        assert_eq!(instance_text(r.instance_number()), r.instance);
        assert_eq!(FunctionReport::parse("aes: busy 3 us"), None);
        assert_ne!(instance_number("pod-abc"), instance_number("pod-abd"));

        let q = CallRequest {
            duration_us: Some(1500),
            memory_mb: None,
        };
        let bytes = q.to_metadata();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"duration_us":1500}"#
        );
        assert_eq!(CallRequest::from_metadata(&bytes), Some(q));
        assert!(CallRequest::default().to_metadata().is_empty());
        assert_eq!(CallRequest::from_metadata(b"not json"), None);
        // vSwarm's own metadata (other keys) asks for nothing.
        assert_eq!(
            CallRequest::from_metadata(br#"{"trace":"x"}"#),
            Some(CallRequest::default())
        );
    }
}
