//! Traces of workflow loads: every call carries a `traceparent`, one trace per instance; spans.json is
//! OTLP JSON whose parent links follow the graph (client orchestration) or who called whom (chained),
//! and an OTLP/HTTP receiver on loopback gets the same spans; a sampled share of instances is traced.

use std::collections::BTreeMap;

use invoker::dispatch::{replay, Orchestration, ReplayOptions};
use invoker::schedule::Schedule;
use testkit::turn;

mod common;
use common::diamonds::{diamond_options, diamonds, waiting_function};

/// An OTLP/HTTP receiver on loopback: answers every POST 200 and keeps its body.
struct Receiver {
    port: u16,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = std::sync::Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let mut reader = std::io::BufReader::new(stream);
                let mut length = 0usize;
                let mut line = String::new();
                while std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) > 0 {
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                std::io::Read::read_exact(&mut reader, &mut body).unwrap();
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                let _ = std::io::Write::write_all(
                    reader.get_mut(),
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Receiver { port, bodies }
    }
}

/// One span as the test reads it from OTLP JSON: (trace, id, parent, kind, workflow node).
type SeenSpan = (String, String, String, u64, String);

/// Every span of OTLP JSON `TracesData` (or an export request: the same shape).
fn spans_of(data: &serde_json::Value) -> Vec<SeenSpan> {
    let mut spans = Vec::new();
    for resource in data["resourceSpans"].as_array().unwrap() {
        for scope in resource["scopeSpans"].as_array().unwrap() {
            for s in scope["spans"].as_array().unwrap() {
                let attribute = |key: &str| {
                    s["attributes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|a| a["key"] == key)
                        .map(|a| a["value"]["stringValue"].as_str().unwrap().to_owned())
                        .unwrap_or_default()
                };
                let text = |key: &str| s[key].as_str().unwrap_or_default().to_owned();
                assert_eq!(text("traceId").len(), 32, "{s}");
                assert_eq!(text("spanId").len(), 16, "{s}");
                assert!(s["startTimeUnixNano"].as_str().is_some(), "{s}");
                spans.push((
                    text("traceId"),
                    text("spanId"),
                    text("parentSpanId"),
                    s["kind"].as_u64().unwrap(),
                    attribute("workflow.node"),
                ));
            }
        }
    }
    spans
}

/// Replays `instances` diamonds traced (`sample`), orchestrated as asked, spans to a file and to a
/// receiver; the spans the file holds, checked against the receiver's.
fn traced_diamonds(orchestration: Orchestration, instances: u64, sample: f64) -> Vec<SeenSpan> {
    let _turn = turn();
    let receiver = Receiver::start();
    let server = waiting_function();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.json");
    diamonds(&path, &[server.endpoint()], instances, 900_000 / instances);
    let schedule = Schedule::from_file(&path, 1_000_000, 0, 1).unwrap();
    replay(
        schedule,
        ReplayOptions {
            spans_file: Some(dir.path().join("spans.json")),
            span_sample: sample,
            otlp_endpoint: Some(format!("http://127.0.0.1:{}", receiver.port)),
            ..diamond_options(dir.path(), orchestration)
        },
    )
    .unwrap();
    let text = std::fs::read_to_string(dir.path().join("spans.json")).unwrap();
    let spans = spans_of(&serde_json::from_str(&text).unwrap());
    // The receiver got the same spans, as the calls ended.
    let mut exported: Vec<SeenSpan> = receiver
        .bodies
        .lock()
        .unwrap()
        .iter()
        .flat_map(spans_of)
        .collect();
    let mut written = spans.clone();
    exported.sort();
    written.sort();
    assert_eq!(exported, written);
    spans
}

/// The spans by trace, each trace's spans by id.
fn traces(spans: &[SeenSpan]) -> BTreeMap<String, BTreeMap<String, SeenSpan>> {
    let mut traces: BTreeMap<String, BTreeMap<String, SeenSpan>> = BTreeMap::new();
    for s in spans {
        traces
            .entry(s.0.clone())
            .or_default()
            .insert(s.1.clone(), s.clone());
    }
    for trace in traces.values() {
        // One root per trace, and every parent in the trace.
        assert_eq!(
            trace.values().filter(|s| s.2.is_empty()).count(),
            1,
            "{trace:?}"
        );
        assert!(
            trace
                .values()
                .all(|s| s.2.is_empty() || trace.contains_key(&s.2)),
            "{trace:?}"
        );
    }
    traces
}

#[test]
fn client_orchestrated_traces_follow_the_graph_one_per_instance() {
    let spans = traced_diamonds(Orchestration::Client, 10, 1.0);
    let traces = traces(&spans);
    assert_eq!(traces.len(), 10);
    for trace in traces.values() {
        // Per node, the invoker's client span (3) and the function's server span (2) under it.
        assert_eq!(trace.len(), 8, "{trace:?}");
        for s in trace.values().filter(|s| s.3 == 2) {
            assert_eq!(trace[&s.2].3, 3, "{trace:?}");
        }
        let client = |node: &str| trace.values().find(|s| s.3 == 3 && s.4 == node).unwrap();
        // Each call's span is under the span of the first call it waited for.
        assert!(client("A").2.is_empty());
        assert_eq!(client("B").2, client("A").1);
        assert_eq!(client("C").2, client("A").1);
        assert_eq!(client("D").2, client("B").1);
    }
}

#[test]
fn chained_traces_follow_who_called_whom() {
    let spans = traced_diamonds(Orchestration::Chained, 10, 1.0);
    let traces = traces(&spans);
    assert_eq!(traces.len(), 10);
    for trace in traces.values() {
        // The invoker's call of A; a server span per node; A's calls of B, C and D.
        assert_eq!(trace.len(), 1 + 4 + 3, "{trace:?}");
        let servers: Vec<&SeenSpan> = trace.values().filter(|s| s.3 == 2).collect();
        assert_eq!(servers.len(), 4);
        let root = trace.values().find(|s| s.2.is_empty()).unwrap();
        // Every server span but the entry's is under a client span made by A's server span.
        let entry = servers
            .iter()
            .find(|s| s.2 == root.1)
            .expect("A's server span");
        for s in servers.iter().filter(|s| s.1 != entry.1) {
            let caller = &trace[&s.2];
            assert_eq!((caller.3, &caller.2), (3, &entry.1), "{trace:?}");
        }
    }
}

#[test]
fn a_sampled_share_of_the_instances_is_traced() {
    let spans = traced_diamonds(Orchestration::Client, 60, 0.5);
    let traced = traces(&spans).len();
    // Binomial(60, 0.5): 30 ± 15 is beyond 3.8 standard deviations.
    assert!((15..=45).contains(&traced), "{traced} of 60");
}
