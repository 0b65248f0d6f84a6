//! Calls to gRPC endpoints: vSwarm's `helloworld.Greeter/SayHello` over h2c, on tonic channels
//! (`--connections` per endpoint, round-robin). What a call asks of the function travels in the request's
//! `vHiveMetadata`, its payload in `name`.

use std::cell::Cell;
use std::time::{Duration, Instant};

use prost::Message;
use tonic::transport::{Channel, Endpoint};

use formats::records::{Outcome, Protocol, Wire};
use proto::function::FunctionReport;
use proto::greeter_client::GreeterClient;
use proto::HelloRequest;

use super::{no_answer, Reply};
use crate::error::error_chain;
use crate::error::ReplayError;
use crate::options::ReplayOptions;
use crate::request::RequestTemplate;
use crate::schedule::ScheduledCall;
use crate::target::Target;

/// One gRPC endpoint's channels.
pub(crate) struct GrpcEndpoint {
    channels: Vec<GreeterClient<Channel>>,
    next: Cell<usize>,
}

impl GrpcEndpoint {
    /// Opens `--connections` channels; `unreachable` decides whether a failure ends the run (otherwise
    /// the channel connects lazily, and the calls fail on their own).
    pub(crate) async fn connect(
        target: &Target,
        options: &ReplayOptions,
        unreachable: impl Fn(String) -> Result<(), ReplayError>,
    ) -> Result<GrpcEndpoint, ReplayError> {
        let uri = target.grpc_uri();
        let endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|e| ReplayError::BadEndpoint {
                endpoint: uri.clone(),
                reason: e.to_string(),
            })?
            .tcp_nodelay(true)
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
            channels.push(GreeterClient::new(channel));
        }
        Ok(GrpcEndpoint {
            channels,
            next: Cell::new(0),
        })
    }

    /// The next call, on the next channel.
    pub(crate) fn call(&self, call: &ScheduledCall, request: &RequestTemplate) -> GrpcCall {
        let k = self.next.get();
        self.next.set(k.wrapping_add(1));
        GrpcCall {
            client: self.channels[k % self.channels.len()].clone(),
            request: HelloRequest {
                name: match call.payload_bytes {
                    Some(n) => "x".repeat(n as usize),
                    None => request.grpc_name.clone(),
                },
                v_hive_metadata: super::ask_json(call.ask),
            },
        }
    }
}

/// One gRPC call, ready to go.
pub(crate) struct GrpcCall {
    client: GreeterClient<Channel>,
    request: HelloRequest,
}

impl GrpcCall {
    pub(crate) async fn run(mut self, timeout: Duration) -> Reply {
        let sent = Instant::now();
        let mut wire = Wire {
            protocol: Some(Protocol::Grpc),
            request_bytes: Some(self.request.encoded_len() as u64),
            ..Wire::default()
        };
        match tokio::time::timeout(timeout, self.client.say_hello(self.request)).await {
            Err(_) => Reply::failed(sent, Outcome::Timeout, wire, Some(no_answer(timeout))),
            Ok(Ok(reply)) => {
                let reply = reply.into_inner();
                wire.status = Some(0);
                wire.response_bytes = Some(reply.encoded_len() as u64);
                Reply {
                    sent,
                    outcome: Outcome::Ok,
                    wire,
                    // What the function says it did, if it says (the emulated function does; vSwarm's
                    // proxies not).
                    report: FunctionReport::parse(&reply.message),
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
