//! The calls' way out: one [`Client`] per endpoint, speaking its protocol (see [`crate::target`]). A
//! call ends in a [`Reply`]: when it was sent, its outcome, what went over the wire, what the function
//! said of it, and for a failure its cause.

pub mod aws;
mod grpc;
pub(crate) mod h1;
mod http;
pub(crate) mod tls;

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use formats::records::{Outcome, Wire};
use formats::CallAsk;
use proto::function::FunctionReport;

use crate::error::ReplayError;
use crate::options::ReplayOptions;
use crate::request::RequestTemplate;
use crate::schedule::ScheduledCall;
use crate::target::{Scheme, Target};

/// How one call ended.
pub(crate) struct Reply {
    /// When the request was handed to its connection (after any wait for one).
    pub(crate) sent: Instant,
    pub(crate) outcome: Outcome,
    pub(crate) wire: Wire,
    /// What the function said it did, if it said.
    pub(crate) report: Option<FunctionReport>,
    /// Why it failed, for the run's one-line diagnosis.
    pub(crate) failure: Option<String>,
}

impl Reply {
    fn failed(sent: Instant, outcome: Outcome, wire: Wire, failure: Option<String>) -> Reply {
        Reply {
            sent,
            outcome,
            wire,
            report: None,
            failure,
        }
    }
}

/// What a call asks of the function, as the JSON both protocols carry (gRPC's `vHiveMetadata`, HTTP's
/// `x-function-request`); empty when the load asks nothing.
fn ask_json(ask: Option<CallAsk>) -> Vec<u8> {
    call_request(ask).to_metadata()
}

/// What a call asks of the function, as `proto` defines it (nothing when the load asks nothing).
pub(crate) fn call_request(ask: Option<CallAsk>) -> proto::function::CallRequest {
    ask.map_or_else(Default::default, |ask| proto::function::CallRequest {
        duration_us: Some(ask.duration_us),
        memory_mb: Some(ask.memory_mb),
    })
}

/// Runs the tasks that hyper's HTTP/2 connections and tonic's channels spawn on the dispatcher's
/// `LocalSet`. With tokio's executor they would go to the runtime's queue, of which the dispatcher's
/// current-thread runtime polls one task per yield: an h2c connection's reads and writes then fell behind
/// from 30,000 calls/s (latency p99 of seconds, with the dispatcher's CPU a third idle); on the
/// `LocalSet` they run with the calls' tasks at every yield.
#[derive(Clone, Copy)]
pub(crate) struct LocalExecutor;

impl<F> hyper::rt::Executor<F> for LocalExecutor
where
    F: std::future::Future + 'static,
{
    fn execute(&self, future: F) {
        tokio::task::spawn_local(future);
    }
}

/// A timed-out call's cause.
fn no_answer(timeout: Duration) -> String {
    format!(
        "no answer within the call timeout of {:.3} s",
        timeout.as_secs_f64()
    )
}

/// The connections to one endpoint.
pub(crate) enum Client {
    Grpc(Box<grpc::GrpcEndpoint>),
    Http(Rc<http::HttpEndpoint>),
}

/// The headers (or gRPC metadata entries) a workflow's call carries, each its name and value: a chained
/// instance's plan (`proto::workflow::PLAN_HEADER`), a call's store operations
/// (`proto::store::STORE_HEADER`), its `traceparent` (`proto::trace::TRACEPARENT`).
pub(crate) type Carried = Vec<(&'static str, Rc<str>)>;

/// One call, ready to go: owns what it needs, so it can run as a task of its own.
pub(crate) enum Call {
    Grpc(grpc::GrpcCall),
    Http(Rc<http::HttpEndpoint>, ScheduledCall, Carried),
}

impl Call {
    /// Makes the call.
    pub(crate) async fn run(self, timeout: Duration) -> Reply {
        match self {
            // Boxed: tonic's call future is kilobytes, and inline it would make every call's task (HTTP's
            // too) that large, copied and allocated per call.
            Call::Grpc(call) => Box::pin(call.run(timeout)).await,
            Call::Http(endpoint, call, carried) => endpoint.call(call, carried, timeout).await,
        }
    }
}

impl Client {
    /// The next call to this endpoint: `call`'s ask and payload on the endpoint's request, and a chained
    /// workflow's plan or store operations (`carried`) when it is one's.
    pub(crate) fn call(&self, call: &ScheduledCall, carried: Carried) -> Call {
        match self {
            Client::Grpc(endpoint) => Call::Grpc(endpoint.call(call, carried)),
            Client::Http(endpoint) => Call::Http(Rc::clone(endpoint), *call, carried),
        }
    }

    /// The protocol its calls travel with.
    pub(crate) fn protocol(&self) -> formats::records::Protocol {
        match self {
            Client::Grpc(_) => formats::records::Protocol::Grpc,
            Client::Http(endpoint) => endpoint.protocol(),
        }
    }
}

/// Connects to every endpoint before the run. An endpoint that cannot be reached fails the run, unless
/// `--allow-unreachable`: then its calls are made anyway, and fail on their own. `requests` holds each
/// endpoint's request.
pub(crate) async fn connect(
    targets: &[Target],
    endpoints: &[String],
    options: &ReplayOptions,
    requests: &[Rc<RequestTemplate>],
) -> Result<Vec<Client>, ReplayError> {
    let tls = if targets.iter().any(|t| t.scheme == Scheme::Https) {
        Some(tls::config(options.request.ca_cert.as_deref())?)
    } else {
        None
    };
    let mut clients = Vec::with_capacity(targets.len());
    for ((target, endpoint), request) in targets.iter().zip(endpoints).zip(requests) {
        let unreachable = |reason: String| {
            if options.allow_unreachable {
                log::warn!("endpoint {endpoint} unreachable at start ({reason}); its calls will be recorded as failures");
                Ok(())
            } else {
                Err(ReplayError::Unreachable {
                    endpoint: endpoint.clone(),
                    uri: match target.scheme {
                        Scheme::Grpc | Scheme::Vhive => target.grpc_uri(),
                        _ => target.http_uri(),
                    },
                    reason,
                })
            }
        };
        let client = match target.scheme {
            Scheme::Grpc | Scheme::Vhive => Client::Grpc(Box::new(
                grpc::GrpcEndpoint::connect(target, options, request, unreachable).await?,
            )),
            _ => {
                let tls = (target.scheme == Scheme::Https)
                    .then(|| Arc::clone(tls.as_ref().expect("made above")));
                let http = http::HttpEndpoint::new(target.clone(), Rc::clone(request), tls)
                    .map_err(|reason| ReplayError::BadEndpoint {
                        endpoint: endpoint.clone(),
                        reason,
                    })?;
                let opened =
                    tokio::time::timeout(options.connect_timeout, http.open(options.connections))
                        .await
                        .unwrap_or_else(|_| {
                            Err(format!(
                                "no connection within {:?}",
                                options.connect_timeout
                            ))
                        });
                if let Err(reason) = opened {
                    // Calls dial on their own, and fail, or succeed once it is up.
                    unreachable(reason)?;
                }
                Client::Http(Rc::new(http))
            }
        };
        clients.push(client);
    }
    Ok(clients)
}
