//! Traces of workflow calls: the W3C `traceparent` every traced call carries, and the spans the invoker
//! and the functions make, in a compact form of their own that the invoker writes out as OTLP.
//!
//! A traced workflow instance is one trace. The invoker's call of a node is a client span; the function
//! that answers makes a server span, its child, and a span per store access (`store.get`, `store.put`)
//! under that; a function that calls nodes itself (chained orchestration) makes a client span per call,
//! under its server span, and sends the call's `traceparent` with it. A function returns its spans in its
//! report (`crate::function::FunctionReport::spans`), so they all reach the invoker.

use serde::{Deserialize, Serialize};

/// The header (HTTP) or metadata key (gRPC) carrying the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// A span's kind, as OTLP numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// Work inside a process (a store access).
    Internal,
    /// A call as its server saw it.
    Server,
    /// A call as its caller saw it.
    Client,
}

impl SpanKind {
    /// OTLP's number for it (`SPAN_KIND_INTERNAL` = 1, `SERVER` = 2, `CLIENT` = 3).
    pub fn otlp(self) -> i32 {
        match self {
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
        }
    }
}

/// One span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Its trace, 32 hex digits.
    pub trace_id: String,
    /// It, 16 hex digits.
    pub span_id: String,
    /// Its parent, 16 hex digits (none: the trace's root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    /// What it is: the node's name for calls, `store.get` / `store.put` for store accesses.
    pub name: String,
    /// Its kind.
    pub kind: SpanKind,
    /// Its start, ns since the Unix epoch.
    pub start_unix_ns: u64,
    /// Its end, ns since the Unix epoch.
    pub end_unix_ns: u64,
    /// What else it says (`workflow.instance`, `workflow.node`, `store.bytes`, `error`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<(String, String)>,
}

/// A trace context: the trace and the span a call is made under, and whether spans are made for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace.
    pub trace_id: u128,
    /// The caller's span.
    pub span_id: u64,
    /// Whether the trace is sampled (its spans made and kept).
    pub sampled: bool,
}

impl TraceContext {
    /// The `traceparent` value: version 00, and the sampled flag.
    pub fn to_header(self) -> String {
        format!(
            "00-{:032x}-{:016x}-0{}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }

    /// The context a call made under this one carries: a new span of its own when sampled (the same
    /// context passed on otherwise).
    pub fn child(self) -> TraceContext {
        if self.sampled {
            TraceContext {
                span_id: new_span_id(),
                ..self
            }
        } else {
            self
        }
    }

    /// A context from a `traceparent` value; none when it is not one.
    pub fn from_header(text: &[u8]) -> Option<TraceContext> {
        let text = std::str::from_utf8(text).ok()?;
        let mut parts = text.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let span_id = u64::from_str_radix(span, 16).ok()?;
        let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
        (trace_id != 0 && span_id != 0).then_some(TraceContext {
            trace_id,
            span_id,
            sampled,
        })
    }

    /// The trace, as spans name it.
    pub fn trace_hex(self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span this context names (its trace and span id), under the span `parent` (none: the trace's
    /// root), from `start_unix_ns` to `end_unix_ns`.
    pub fn span(
        self,
        parent: Option<u64>,
        (name, kind): (String, SpanKind),
        (start_unix_ns, end_unix_ns): (u64, u64),
        attributes: Vec<(String, String)>,
    ) -> Span {
        Span {
            trace_id: self.trace_hex(),
            span_id: span_hex(self.span_id),
            parent_span_id: parent.map(span_hex),
            name,
            kind,
            start_unix_ns,
            end_unix_ns,
            attributes,
        }
    }
}

/// A span id as spans name it.
pub fn span_hex(id: u64) -> String {
    format!("{id:016x}")
}

/// A fresh span id (never 0).
pub fn new_span_id() -> u64 {
    rand::random::<u64>() | 1
}

/// Now, ns since the Unix epoch.
pub fn now_unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_what_is_not_one_is_none() {
        let c = TraceContext {
            trace_id: 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
            span_id: 0x00f0_67aa_0ba9_02b7,
            sampled: true,
        };
        let header = c.to_header();
        assert_eq!(
            header,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(TraceContext::from_header(header.as_bytes()), Some(c));
        let unsampled = TraceContext {
            sampled: false,
            ..c
        };
        assert!(unsampled.to_header().ends_with("-00"));
        assert_eq!(
            TraceContext::from_header(unsampled.to_header().as_bytes()),
            Some(unsampled)
        );
        // A sampled call's calls get spans of their own, under it; an unsampled one's pass it on.
        assert_ne!(c.child().span_id, c.span_id);
        assert_eq!(unsampled.child(), unsampled);
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "zz",
        ] {
            assert_eq!(TraceContext::from_header(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(SpanKind::Client.otlp(), 3);
    }
}
