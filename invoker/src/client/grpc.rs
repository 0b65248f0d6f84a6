//! Calls to gRPC endpoints over h2c, on tonic channels (`--connections` per endpoint, round-robin):
//!
//! - vSwarm's `helloworld.Greeter/SayHello`: what a call asks of the function travels in the request's
//!   `vHiveMetadata`, its payload in `name`;
//! - STeLLAR's `proto_gen.ProducerConsumer/InvokeNext` (`vhive://`): the endpoint's query gives the
//!   request's fields, a call's payload size its `payloadLengthBytes`; the function's report, if it
//!   gives one, comes in the reply's `x-function-report` metadata.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use prost::Message;
use tonic::transport::{Channel, Endpoint};

use formats::records::{Outcome, Protocol, Wire};
use proto::chain::producer_consumer_client::ProducerConsumerClient;
use proto::chain::InvokeChainRequest;
use proto::function::{FunctionReport, REPORT_HEADER};
use proto::greeter_client::GreeterClient;
use proto::HelloRequest;

use super::{no_answer, Reply};
use crate::error::error_chain;
use crate::error::ReplayError;
use crate::options::ReplayOptions;
use crate::request::RequestTemplate;
use crate::schedule::ScheduledCall;
use crate::target::{Scheme, Target};

/// One gRPC endpoint's channels.
pub(crate) struct GrpcEndpoint {
    channels: Vec<Channel>,
    next: Cell<usize>,
    /// For `vhive://`, the request every call sends (from the endpoint's query).
    chain: Option<InvokeChainRequest>,
    /// What the endpoint's calls send.
    request: Rc<RequestTemplate>,
}

/// The `InvokeNext` request of a `vhive://` endpoint: its query's `IncrementLimit`, `PayloadLengthBytes`
/// and `DataTransferChainIDs` (STeLLAR's HTTP names), `--payload-bytes` when the query names no payload.
fn chain_request(
    target: &Target,
    request: &RequestTemplate,
) -> Result<InvokeChainRequest, ReplayError> {
    let mut chain = InvokeChainRequest {
        increment_limit: "0".into(),
        data_transfer_chain_i_ds: "[]".into(),
        payload_length_bytes: request.payload_bytes.unwrap_or(0).to_string(),
        ..InvokeChainRequest::default()
    };
    let query = target.path_and_query.split_once('?').map_or("", |(_, q)| q);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = || {
            value
                .parse::<u64>()
                .map(|n| n.to_string())
                .map_err(|_| ReplayError::BadEndpoint {
                    endpoint: format!("vhive://{}{}", target.authority, target.path_and_query),
                    reason: format!("`{key}` (`{value}`) is not a whole number"),
                })
        };
        match key {
            "IncrementLimit" => chain.increment_limit = number()?,
            "PayloadLengthBytes" => chain.payload_length_bytes = number()?,
            "DataTransferChainIDs" => chain.data_transfer_chain_i_ds = value.to_owned(),
            _ => {}
        }
    }
    Ok(chain)
}

impl GrpcEndpoint {
    /// Opens `--connections` channels; `unreachable` decides whether a failure ends the run (otherwise
    /// the channel connects lazily, and the calls fail on their own).
    pub(crate) async fn connect(
        target: &Target,
        options: &ReplayOptions,
        request: &Rc<RequestTemplate>,
        unreachable: impl Fn(String) -> Result<(), ReplayError>,
    ) -> Result<GrpcEndpoint, ReplayError> {
        let chain = (target.scheme == Scheme::Vhive)
            .then(|| chain_request(target, request))
            .transpose()?;
        let uri = target.grpc_uri();
        let endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|e| ReplayError::BadEndpoint {
                endpoint: uri.clone(),
                reason: e.to_string(),
            })?
            .tcp_nodelay(true)
            .executor(super::LocalExecutor)
            .connect_timeout(options.connect_timeout);
        let mut channels = Vec::with_capacity(options.connections);
        for _ in 0..options.connections.max(1) {
            let channel =
                match tokio::time::timeout(options.connect_timeout, endpoint.connect()).await {
                    Ok(Ok(channel)) => channel,
                    failure => {
                        unreachable(match failure {
                            Ok(Err(e)) => error_chain(&e),
                            _ => format!("no connection within {:?}", options.connect_timeout),
                        })?;
                        endpoint.connect_lazy()
                    }
                };
            channels.push(channel);
        }
        Ok(GrpcEndpoint {
            channels,
            next: Cell::new(0),
            chain,
            request: Rc::clone(request),
        })
    }

    /// The next call, on the next channel.
    pub(crate) fn call(&self, call: &ScheduledCall, carried: super::Carried) -> GrpcCall {
        let k = self.next.get();
        self.next.set(k.wrapping_add(1));
        let channel = self.channels[k % self.channels.len()].clone();
        let request = match &self.chain {
            Some(chain) => GrpcRequest::Chain(InvokeChainRequest {
                payload_length_bytes: call
                    .payload_bytes
                    .map_or_else(|| chain.payload_length_bytes.clone(), |n| n.to_string()),
                ..chain.clone()
            }),
            None => GrpcRequest::Greeter(HelloRequest {
                name: match call.payload_bytes {
                    Some(n) => "x".repeat(n as usize),
                    None => self.request.grpc_name.clone(),
                },
                v_hive_metadata: super::ask_json(call.ask),
            }),
        };
        GrpcCall {
            channel,
            request,
            carried,
        }
    }
}

/// What a gRPC call sends.
enum GrpcRequest {
    Greeter(HelloRequest),
    Chain(InvokeChainRequest),
}

/// One gRPC call, ready to go.
pub(crate) struct GrpcCall {
    channel: Channel,
    request: GrpcRequest,
    /// What a workflow's call carries, sent in the request's metadata.
    carried: super::Carried,
}

/// A reply's size and what the function said of the call.
type Answered = (usize, Option<FunctionReport>);

impl GrpcCall {
    /// Sends the request; the reply's size and report.
    async fn exchange(self) -> Result<Answered, tonic::Status> {
        match self.request {
            GrpcRequest::Greeter(request) => {
                let mut request = tonic::Request::new(request);
                for (name, value) in &self.carried {
                    let value = value.parse().map_err(|_| {
                        tonic::Status::invalid_argument(format!("`{name}` is not ASCII"))
                    })?;
                    request.metadata_mut().insert(*name, value);
                }
                let reply = GreeterClient::new(self.channel)
                    .say_hello(request)
                    .await?
                    .into_inner();
                // What the function says it did, if it says (the emulated function does; vSwarm's
                // proxies not).
                Ok((reply.encoded_len(), FunctionReport::parse(&reply.message)))
            }
            GrpcRequest::Chain(request) => {
                let reply = ProducerConsumerClient::new(self.channel)
                    .invoke_next(request)
                    .await?;
                let report = reply
                    .metadata()
                    .get(REPORT_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(FunctionReport::parse);
                Ok((reply.into_inner().encoded_len(), report))
            }
        }
    }

    pub(crate) async fn run(self, timeout: Duration) -> Reply {
        let sent = Instant::now();
        let mut wire = Wire {
            protocol: Some(Protocol::Grpc),
            request_bytes: Some(match &self.request {
                GrpcRequest::Greeter(r) => r.encoded_len(),
                GrpcRequest::Chain(r) => r.encoded_len(),
            } as u64),
            ..Wire::default()
        };
        match tokio::time::timeout(timeout, self.exchange()).await {
            Err(_) => Reply::failed(sent, Outcome::Timeout, wire, Some(no_answer(timeout))),
            Ok(Ok((bytes, report))) => {
                wire.status = Some(0);
                wire.response_bytes = Some(bytes as u64);
                Reply {
                    sent,
                    outcome: Outcome::Ok,
                    wire,
                    report,
                    failure: None,
                }
            }
            Ok(Err(status)) => {
                wire.status = Some(status.code() as u16);
                let outcome = if status.code() == tonic::Code::DeadlineExceeded {
                    Outcome::Timeout
                } else {
                    Outcome::status(status.code() as i32)
                };
                Reply::failed(sent, outcome, wire, Some(error_chain(&status)))
            }
        }
    }
}
