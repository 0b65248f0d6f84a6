//! The emulated function as one of STeLLAR's producer-consumer functions (`ProducerConsumer/InvokeNext`,
//! what STeLLAR's vHive provider calls), on the same port as the rest: `incrementLimit` is the call's
//! busy-spin, as over HTTP; the reply's `timestampChain` holds the Unix milliseconds at which this
//! function answered, in Go's `%v` list form as STeLLAR's functions write it; the report travels in the
//! reply's `x-function-report` metadata. A chain of more than this function (`dataTransferChainIDs` not
//! empty) or a payload through object storage is refused: chains are workflows'.

use std::time::{SystemTime, UNIX_EPOCH};

use proto::chain::producer_consumer_server::ProducerConsumer;
use proto::chain::{go_list, parse_go_list, InvokeChainReply, InvokeChainRequest};
use proto::function::REPORT_HEADER;
use tonic::{Request, Response, Status};

use crate::function::Service;

/// The busy-spin a request asks for: `incrementLimit` in decimal (empty: none).
fn increment_limit(request: &InvokeChainRequest) -> Result<Option<u64>, Status> {
    let text = request.increment_limit.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        Status::invalid_argument(format!(
            "incrementLimit `{text}` is not a whole number from 0 to {}",
            u64::MAX
        ))
    })
}

/// Refuses what only a chain of several functions does.
fn check_single(request: &InvokeChainRequest) -> Result<(), Status> {
    // An empty field, like `[]`, names no next function.
    let next = parse_go_list(&request.data_transfer_chain_i_ds).unwrap_or_default();
    if !next.is_empty() {
        return Err(Status::unimplemented(format!(
            "dataTransferChainIDs {}: chains of more than one function are workflows' (not served yet)",
            request.data_transfer_chain_i_ds
        )));
    }
    if request.storage_transfer {
        return Err(Status::unimplemented(
            "storageTransfer: payloads through object storage are workflows' (not served yet)",
        ));
    }
    Ok(())
}

#[tonic::async_trait]
impl ProducerConsumer for Service {
    async fn invoke_next(
        &self,
        request: Request<InvokeChainRequest>,
    ) -> Result<Response<InvokeChainReply>, Status> {
        let request = request.into_inner();
        check_single(&request)?;
        let spin = increment_limit(&request)?;
        let (report, _waited) = self.call(None, spin).await?;
        let mut chain = parse_go_list(&request.timestamp_chain).unwrap_or_default();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        chain.push(now_ms.to_string());
        let mut response = Response::new(InvokeChainReply {
            timestamp_chain: go_list(&chain),
        });
        if let Ok(value) = report.to_message().parse() {
            response.metadata_mut().insert(REPORT_HEADER, value);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_as_stellar_writes_them() {
        let mut r = InvokeChainRequest {
            increment_limit: "1500".into(),
            data_transfer_chain_i_ds: "[]".into(),
            payload_length_bytes: "1024".into(),
            ..Default::default()
        };
        assert_eq!(increment_limit(&r).unwrap(), Some(1500));
        assert!(check_single(&r).is_ok());
        r.data_transfer_chain_i_ds = "[10.0.0.2:80]".into();
        let e = check_single(&r).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unimplemented);
        assert!(e.message().contains("workflows'"), "{}", e.message());
        r.increment_limit = "many".into();
        assert!(increment_limit(&r)
            .unwrap_err()
            .message()
            .contains("`many`"));
        assert_eq!(go_list(&["1", "2"]), "[1 2]");
        assert_eq!(parse_go_list("[]"), Some(vec![]));
    }
}
