//! The emulated function over plain HTTP (HTTP/1.1 or h2c, on the gRPC port: the server tells them apart
//! by the connection's preface, and gRPC from HTTP/2 by the request's path). The same time model and the
//! same report as over gRPC, plus STeLLAR's measurement-function contract:
//!
//! - `x-function-request` (header): what the call asks of the function (`proto::function::CallRequest`);
//! - `IncrementLimit=N` (query): the call's work is a busy-spin of N increments, as STeLLAR's functions do
//!   (the rate is measured when the server starts, see [`crate::function::spin_rate_per_us`]);
//! - `PayloadLengthBytes=B` (query): the reply's body is B bytes;
//! - `DataTransferChainIDs=[...]` (query): accepted; a chain of one is this function (chains of more are
//!   workflows');
//! - `x-workflow-plan` (header): a chained workflow's plan; the function calls the nodes it orchestrates
//!   after its own work (`crate::orchestrate`);
//! - `x-workflow-store` (header): what the call reads from a store before its work and writes there after
//!   (`proto::store`).
//!
//! The reply carries the report in `x-function-report`; its body is the payload asked for, or else the
//! report's JSON. A query parameter that is not a number is answered 400, naming it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{HeaderValue, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::Response;
use http_body_util::BodyExt;

use crate::function::{Carried, Service};
use proto::function::{CallRequest, REPORT_HEADER, REQUEST_HEADER};

/// Largest payload a call may ask for, bytes.
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 30;

/// What a call's query asks, in STeLLAR's names.
#[derive(Debug, Default, PartialEq, Eq)]
struct Query {
    increment_limit: Option<u64>,
    payload_bytes: Option<u64>,
}

fn query(text: Option<&str>) -> Result<Query, String> {
    let mut q = Query::default();
    for pair in text.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = |limit: u64| match value.parse::<u64>() {
            Ok(n) if n <= limit => Ok(n),
            _ => Err(format!(
                "query parameter `{key}` (`{value}`) is not a whole number from 0 to {limit}"
            )),
        };
        match key {
            "IncrementLimit" => q.increment_limit = Some(number(u64::MAX)?),
            "PayloadLengthBytes" => q.payload_bytes = Some(number(MAX_PAYLOAD_BYTES)?),
            _ => {}
        }
    }
    Ok(q)
}

/// Answers one HTTP call.
pub(crate) async fn answer(service: Arc<Service>, request: Request) -> Response {
    let asked = match query(request.uri().query()) {
        Ok(q) => q,
        Err(reason) => return plain(StatusCode::BAD_REQUEST, reason),
    };
    let call = request
        .headers()
        .get(REQUEST_HEADER)
        .and_then(|v| CallRequest::from_metadata(v.as_bytes()));
    let headers = request.headers();
    // Its input is the body, timed on its way in (an empty body reports no transfer).
    let received = request.extensions().get::<crate::receive::Received>();
    let carried = match Carried::of(|name| headers.get(name).map(|v| v.as_bytes())) {
        Ok(carried) => carried.received(received),
        Err(e) => return plain(StatusCode::BAD_REQUEST, e),
    };
    // The request's body is read to its end (its bytes are the call's input), then dropped.
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        if let Err(e) = frame {
            return plain(StatusCode::BAD_REQUEST, format!("reading the body: {e}"));
        }
    }
    let report = match service
        .call_and_follow(call, asked.increment_limit, carried)
        .await
    {
        Ok(report) => report,
        Err(status) => return plain(StatusCode::SERVICE_UNAVAILABLE, status.message().to_owned()),
    };
    let json = report.to_message();
    let (body, content_type) = match asked.payload_bytes {
        Some(n) => (
            Body::from(vec![b'x'; n as usize]),
            "application/octet-stream",
        ),
        None => (Body::from(json.clone()), "application/json"),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&json) {
        headers.insert(REPORT_HEADER, value);
    }
    response
}

fn plain(status: StatusCode, text: String) -> Response {
    let mut response = Response::new(Body::from(text + "\n"));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stellar_query_parameters() {
        assert_eq!(
            query(Some(
                "IncrementLimit=500&PayloadLengthBytes=1024&DataTransferChainIDs=[]"
            )),
            Ok(Query {
                increment_limit: Some(500),
                payload_bytes: Some(1024)
            })
        );
        assert_eq!(query(None), Ok(Query::default()));
        let e = query(Some("PayloadLengthBytes=-3")).unwrap_err();
        assert!(e.contains("`PayloadLengthBytes` (`-3`)"), "{e}");
        assert!(query(Some("PayloadLengthBytes=99999999999")).is_err());
    }
}
