//! Traces of a workflow load (`proto::trace`): every call of a workflow instance carries a W3C
//! `traceparent`, one trace per instance, sampled per instance (`--span-sample`). The invoker makes a
//! client span per call it sends; the functions return theirs in their reports (a server span per call,
//! one per store access, and, chained, a client span per call they make). Spans go to the run's
//! `spans.json` (OTLP JSON, `TracesData`), and with `--otlp-endpoint` to an OTLP/HTTP receiver as each
//! call ends (`export`).
//!
//! A call's client span has its trace and id drawn from the run, the instance and the call's place
//! in the load, so the spans of a client-orchestrated instance follow its graph: each call's span is
//! under the span of the first call it waited for (the entry's is the trace's root). In chained
//! orchestration the invoker sends the entry only, and the functions' spans follow who called whom.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span as OtlpSpan, TracesData,
};
use proto::function::FunctionReport;
use proto::trace::{Span, SpanKind, TraceContext};

use crate::schedule::Schedule;

mod export;
pub use export::otlp_url;

/// Spans, each with the service it is under.
pub(crate) type ServiceSpans = Vec<(String, Span)>;

/// The service the invoker's own spans are under.
const INVOKER_SERVICE: &str = "loadgen-invoker";

/// The spans of a run: gathered as calls end, and sent on to an OTLP receiver when there is one.
pub(crate) struct SpanSink {
    /// Time 0, and the same instant in ns since the Unix epoch.
    start: (Instant, u64),
    /// Each span with the service it is under.
    spans: RefCell<ServiceSpans>,
    exporter: Option<export::Exporter>,
}

/// How a workflow load's calls are traced.
pub(crate) struct Tracing<'a> {
    schedule: &'a Schedule,
    /// Client orchestration: a call's span is under the span of the first call it waited for.
    client_orchestrated: bool,
    /// The share of instances traced (0 to 1).
    sample: f64,
    /// What makes this run's trace ids its own.
    run: u64,
    sink: Rc<SpanSink>,
}

/// What a call's span needs once the call ended (owned, as the call's task is).
pub(crate) struct TracedCall {
    context: TraceContext,
    parent: Option<u64>,
    name: String,
    attributes: Vec<(String, String)>,
    sink: Rc<SpanSink>,
}

impl<'a> Tracing<'a> {
    /// The tracing of `schedule`'s workflow instances, `sample` of them traced; spans are sent to
    /// `otlp_endpoint` as they come when given. None for a load without workflows. `start` is time 0
    /// and `start_unix_us` the same instant on the wall clock.
    pub(crate) fn new(
        schedule: &'a Schedule,
        (sample, otlp_endpoint): (f64, Option<&str>),
        client_orchestrated: bool,
        (start, start_unix_us): (Instant, u64),
    ) -> Option<Tracing<'a>> {
        schedule.dependencies.as_ref()?;
        Some(Tracing {
            schedule,
            client_orchestrated,
            sample: sample.clamp(0.0, 1.0),
            run: start_unix_us,
            sink: Rc::new(SpanSink {
                start: (start, start_unix_us * 1000),
                spans: RefCell::new(Vec::new()),
                exporter: otlp_endpoint.map(export::Exporter::start),
            }),
        })
    }

    /// The trace of workflow instance `instance`, and whether it is sampled.
    fn trace_of(&self, instance: u64) -> (u128, bool) {
        let h = mix(self.run ^ mix(instance));
        let sampled = (h as f64) < self.sample * 18_446_744_073_709_551_616.0;
        ((u128::from(mix(h)) << 64 | u128::from(h)) | 1, sampled)
    }

    /// The context call `index` is sent under (its own client span), and what its span will need.
    pub(crate) fn call(&self, index: usize) -> Option<TracedCall> {
        let call = self.schedule.calls.get(index)?;
        let step = call.workflow?;
        let (trace_id, sampled) = self.trace_of(step.instance);
        let context = TraceContext {
            trace_id,
            span_id: span_id(trace_id, index),
            sampled,
        };
        let parent = self
            .schedule
            .dependencies
            .as_ref()
            .filter(|_| self.client_orchestrated)
            .and_then(|d| d.inputs_of(index).first())
            .map(|&(p, _)| span_id(trace_id, p as usize));
        let node = self
            .schedule
            .nodes
            .get(step.node as usize)
            .cloned()
            .unwrap_or_default();
        let attributes = vec![
            ("workflow.instance".to_owned(), step.instance.to_string()),
            ("workflow.node".to_owned(), node.clone()),
            ("loadgen.index".to_owned(), index.to_string()),
            (
                "server.address".to_owned(),
                self.schedule.endpoints[call.endpoint as usize].clone(),
            ),
        ];
        Some(TracedCall {
            context,
            parent,
            name: node,
            attributes,
            sink: Rc::clone(&self.sink),
        })
    }

    /// Every span of the run, once every call ended: written to `spans_file` as OTLP JSON (whole or not
    /// at all), and the exporter drained. The spans written.
    pub(crate) fn finish(self, spans_file: Option<&Path>) -> std::io::Result<usize> {
        let sink = &self.sink;
        if let Some(exporter) = &sink.exporter {
            exporter.finish();
        }
        let spans = sink.spans.take();
        let n = spans.len();
        if let Some(path) = spans_file {
            let text = serde_json::to_vec(&traces_data(spans)).map_err(std::io::Error::other)?;
            formats::output::write_atomic(path, &text)
                .map_err(|e| formats::output::with_path(path, e))?;
        }
        Ok(n)
    }
}

impl TracedCall {
    /// The `traceparent` the call carries.
    pub(crate) fn traceparent(&self) -> String {
        self.context.to_header()
    }

    /// The call's client span, sent at `sent` and ended at `ended` (failed with `failure`), and the spans
    /// its function reported (chained: those of the nodes it called too), when its instance is sampled.
    pub(crate) fn ended(
        self,
        (sent, ended): (Instant, Instant),
        report: Option<&FunctionReport>,
        failure: Option<&str>,
    ) {
        if !self.context.sampled {
            return;
        }
        let (start, start_ns) = self.sink.start;
        let at = |t: Instant| start_ns + t.saturating_duration_since(start).as_nanos() as u64;
        let mut attributes = self.attributes;
        if let Some(f) = failure {
            attributes.push(("error".to_owned(), f.to_owned()));
        }
        let mut spans = vec![(
            INVOKER_SERVICE.to_owned(),
            self.context.span(
                self.parent,
                (self.name, SpanKind::Client),
                (at(sent), at(ended)),
                attributes,
            ),
        )];
        if let Some(report) = report {
            reported(report, &mut spans);
        }
        if let Some(exporter) = &self.sink.exporter {
            exporter.send(spans.clone());
        }
        self.sink.spans.borrow_mut().extend(spans);
    }
}

/// The spans `report` carries and those of the nodes it tells of, each under its function's service.
fn reported(report: &FunctionReport, out: &mut ServiceSpans) {
    out.extend(
        report
            .spans
            .iter()
            .map(|s| (report.function.clone(), s.clone())),
    );
    for node in &report.nodes {
        if let Some(r) = &node.report {
            reported(r, out);
        }
    }
}

/// Spans as OTLP's `TracesData`: one resource per service, one scope.
pub(crate) fn traces_data(spans: ServiceSpans) -> TracesData {
    let mut by_service: BTreeMap<String, Vec<OtlpSpan>> = BTreeMap::new();
    for (service, span) in spans {
        by_service.entry(service).or_default().push(otlp_span(span));
    }
    TracesData {
        resource_spans: by_service
            .into_iter()
            .map(|(service, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![key_value("service.name", service)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "loadgen".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

fn key_value(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

/// Hex digits as bytes (OTLP's ids); what is not hex is left out.
fn id_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn otlp_span(span: Span) -> OtlpSpan {
    OtlpSpan {
        trace_id: id_bytes(&span.trace_id),
        span_id: id_bytes(&span.span_id),
        parent_span_id: span
            .parent_span_id
            .as_deref()
            .map(id_bytes)
            .unwrap_or_default(),
        name: span.name,
        kind: span.kind.otlp(),
        start_time_unix_nano: span.start_unix_ns,
        end_time_unix_nano: span.end_unix_ns,
        attributes: span
            .attributes
            .into_iter()
            .map(|(k, v)| key_value(&k, v))
            .collect(),
        ..Default::default()
    }
}

/// A call's span id: drawn from its trace and its place in the load (never 0).
fn span_id(trace_id: u128, index: usize) -> u64 {
    mix(trace_id as u64 ^ mix(index as u64)) | 1
}

/// splitmix64's finaliser: a well-spread 64-bit hash.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
