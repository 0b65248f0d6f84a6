//! Chained orchestration inside the function (FaaSFlow's WorkerSP; who calls whom is
//! `proto::workflow`'s): once its own work is done, a call that carries a plan calls the nodes it
//! orchestrates, each as soon as the nodes it waits for answered, and waits for them all. Their reports,
//! and those of the nodes they called, come back in its own.
//!
//! A node is called where its plan says: over gRPC (`host:port`, `grpc://`), carrying the plan in the
//! request's metadata and its payload as the request's `name`, or over HTTP (`http://` for HTTP/1.1,
//! `h2c://`) as a POST whose body is its payload, the plan in a header. Connections are shared by every
//! function of the process.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};

use proto::function::{FunctionReport, NodeReport, REPORT_HEADER, REQUEST_HEADER};
use proto::greeter_client::GreeterClient;
use proto::trace::{now_unix_ns, Span, SpanKind, TraceContext, TRACEPARENT};
use proto::workflow::{Plan, PLAN_HEADER};
use proto::HelloRequest;

/// How long a node's call may take before it counts as failed when the plan has no deadline (the
/// invoker's plans carry one, from its call timeout): this bounds a hung one.
const NODE_TIMEOUT: Duration = Duration::from_secs(120);

/// Calls the nodes `plan.at` orchestrates; their reports and those they carried, in the order the calls
/// answered. A node whose inputs did not all answer is not called (and so not reported). Under a
/// `trace` (the calling function's server span), each call carries its own client span's context, and
/// the client spans come back in `spans`.
pub(crate) async fn follow(
    plan: &Plan,
    trace: Option<TraceContext>,
    spans: &mut Vec<Span>,
) -> Vec<NodeReport> {
    let children = plan.orchestrated(plan.at);
    let mut started = vec![false; children.len()];
    let mut answered: Vec<u32> = Vec::new();
    let mut running = JoinSet::new();
    let mut reports = Vec::new();
    loop {
        for (k, (node, waits)) in children.iter().enumerate() {
            if !started[k] && waits.iter().all(|w| answered.contains(w)) {
                started[k] = true;
                running.spawn(call_node(plan.for_node(*node), trace));
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let Ok((mut report, span)) = joined else {
            continue;
        };
        spans.extend(span);
        if report.failure.is_none() {
            answered.push(report.node);
        }
        let below = report
            .report
            .as_mut()
            .map(|r| std::mem::take(&mut r.nodes))
            .unwrap_or_default();
        reports.push(report);
        reports.extend(below);
    }
    reports
}

/// Calls node `plan.at`, carrying `plan`; under a `trace`, its client span too.
async fn call_node(plan: Plan, trace: Option<TraceContext>) -> (NodeReport, Option<Span>) {
    let node = &plan.nodes[plan.at as usize];
    let sent_unix_ns = now_unix_ns();
    let sent_unix_us = sent_unix_ns / 1000;
    let sent = Instant::now();
    // The call's own span, under the caller's (an unsampled context passed on as it came).
    let context = trace.map(TraceContext::child);
    let carried = Carried {
        plan: &plan,
        traceparent: context.map(TraceContext::to_header),
    };
    let call = async {
        match node.endpoint.split_once("://") {
            None => grpc(&node.endpoint, &carried).await,
            Some(("grpc", authority)) => grpc(authority, &carried).await,
            Some(("http", _)) => http(&node.endpoint, false, &carried).await,
            Some(("h2c", rest)) => http(&format!("http://{rest}"), true, &carried).await,
            Some((scheme, _)) => Err(format!(
                "`{}`: a chained node is called over gRPC, http:// or h2c://, not {scheme}://",
                node.endpoint
            )),
        }
    };
    // The node must answer by its own deadline (what it was given).
    let timeout = plan.deadline_unix_us.map_or(NODE_TIMEOUT, |d| {
        Duration::from_micros(d.saturating_sub(sent_unix_us))
    });
    let result = tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {:.3} s", timeout.as_secs_f64())));
    let latency_us = sent.elapsed().as_micros() as u64;
    let (failure, report) = match result {
        Ok(report) => (None, report),
        Err(cause) => (Some(format!("{}: {cause}", node.endpoint)), None),
    };
    let span = trace
        .zip(context.filter(|c| c.sampled))
        .map(|(parent, own)| {
            own.span(
                Some(parent.span_id),
                (format!("call node {}", plan.at), SpanKind::Client),
                (sent_unix_ns, sent_unix_ns + latency_us * 1000),
                [
                    ("workflow.node_index", plan.at.to_string()),
                    ("server.address", node.endpoint.clone()),
                ]
                .into_iter()
                .chain(failure.clone().map(|f| ("error", f)))
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            )
        });
    let report = NodeReport {
        node: plan.at,
        sent_unix_us,
        latency_us,
        failure,
        report,
        request_bytes: node.inline_bytes(&plan),
    };
    (report, span)
}

/// What a node's call carries besides its payload: the plan, and the trace context when traced.
struct Carried<'a> {
    plan: &'a Plan,
    traceparent: Option<String>,
}

/// A channel to `authority`, shared by every call to it.
fn channel(authority: &str) -> Result<Channel, String> {
    static CHANNELS: OnceLock<Mutex<HashMap<String, Channel>>> = OnceLock::new();
    let mut channels = CHANNELS
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| "the channel table is poisoned".to_owned())?;
    if let Some(channel) = channels.get(authority) {
        return Ok(channel.clone());
    }
    let channel = Endpoint::from_shared(format!("http://{authority}"))
        .map_err(|e| format!("`{authority}`: {e}"))?
        .connect_lazy();
    channels.insert(authority.to_owned(), channel.clone());
    Ok(channel)
}

/// The node's call over gRPC (`helloworld.Greeter`).
async fn grpc(authority: &str, carried: &Carried<'_>) -> Result<Option<FunctionReport>, String> {
    let plan = carried.plan;
    let node = &plan.nodes[plan.at as usize];
    let mut request = tonic::Request::new(HelloRequest {
        name: "x".repeat(node.inline_bytes(plan) as usize),
        v_hive_metadata: node.ask.to_metadata(),
    });
    let value = plan
        .to_header()
        .parse()
        .map_err(|_| "the plan is not ASCII".to_owned())?;
    request.metadata_mut().insert(PLAN_HEADER, value);
    if let Some(value) = carried.traceparent.as_ref().and_then(|t| t.parse().ok()) {
        request.metadata_mut().insert(TRACEPARENT, value);
    }
    let reply = GreeterClient::new(channel(authority)?)
        .max_decoding_message_size(crate::MAX_REQUEST_BYTES)
        .max_encoding_message_size(crate::MAX_REQUEST_BYTES)
        .say_hello(request)
        .await
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))?;
    Ok(FunctionReport::parse(&reply.into_inner().message))
}

/// The node's call over HTTP/1.1, or h2c with `h2`.
async fn http(
    url: &str,
    h2: bool,
    carried: &Carried<'_>,
) -> Result<Option<FunctionReport>, String> {
    let plan = carried.plan;
    type HttpClient = Client<HttpConnector, Full<Bytes>>;
    static CLIENTS: OnceLock<(HttpClient, HttpClient)> = OnceLock::new();
    let (h1_client, h2_client) = CLIENTS.get_or_init(|| {
        (
            Client::builder(TokioExecutor::new()).build_http(),
            Client::builder(TokioExecutor::new())
                .http2_only(true)
                .build_http(),
        )
    });
    let node = &plan.nodes[plan.at as usize];
    let mut request = hyper::Request::post(url)
        .header(PLAN_HEADER, plan.to_header())
        .body(Full::new(Bytes::from(vec![
            b'x';
            node.inline_bytes(plan) as usize
        ])))
        .map_err(|e| e.to_string())?;
    if let Some(t) = &carried.traceparent {
        let value = hyper::header::HeaderValue::from_str(t).map_err(|e| e.to_string())?;
        request.headers_mut().insert(TRACEPARENT, value);
    }
    let ask = node.ask.to_metadata();
    if !ask.is_empty() {
        let value = hyper::header::HeaderValue::from_bytes(&ask).map_err(|e| e.to_string())?;
        request.headers_mut().insert(REQUEST_HEADER, value);
    }
    let client = if h2 { h2_client } else { h1_client };
    let response = client.request(request).await.map_err(|e| {
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            cause.push_str(&format!(": {s}"));
            source = s.source();
        }
        cause
    })?;
    let status = response.status();
    let report = response
        .headers()
        .get(REPORT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(FunctionReport::parse);
    // Read to its end (the connection is then free for the next call).
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    if !status.is_success() {
        return Err(format!("answered HTTP {}", status.as_u16()));
    }
    Ok(report)
}
