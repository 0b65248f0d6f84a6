//! AWS Signature V4 for HTTP calls (API Gateway, Lambda function URLs), through AWS's own `aws-sigv4`
//! crate: every call is signed when it leaves (the signature holds its time), with the credentials of
//! the standard environment variables, read once at start.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use hyper::header::{HeaderName, HeaderValue};

/// Signs requests for one service in one region.
#[derive(Debug, Clone)]
pub struct AwsSigner {
    identity: Identity,
    service: String,
    region: String,
}

impl AwsSigner {
    /// A signer from `SERVICE:REGION` (e.g. `execute-api:us-west-1`) and the credentials `env` gives:
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and `AWS_SESSION_TOKEN` when set.
    pub fn from_env(
        scope: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<AwsSigner, String> {
        let (service, region) = scope
            .split_once(':')
            .filter(|(s, r)| !s.is_empty() && !r.is_empty())
            .ok_or_else(|| {
                format!("`{scope}` is not SERVICE:REGION (e.g. execute-api:us-west-1)")
            })?;
        let key = |name: &str| {
            env(name).ok_or_else(|| format!("the environment variable `{name}` is not set"))
        };
        let credentials = Credentials::new(
            key("AWS_ACCESS_KEY_ID")?,
            key("AWS_SECRET_ACCESS_KEY")?,
            env("AWS_SESSION_TOKEN"),
            None,
            "environment",
        );
        Ok(AwsSigner {
            identity: credentials.into(),
            service: service.to_owned(),
            region: region.to_owned(),
        })
    }

    /// The headers that sign `method uri` with `headers` and `body` at `time` (`authorization`,
    /// `x-amz-date`, and `x-amz-security-token` with a session token).
    pub fn headers(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(&self.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let request = SignableRequest::new(
            method,
            uri,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        instructions
            .headers()
            .map(|(name, value)| {
                Ok((
                    HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?,
                    HeaderValue::from_str(value).map_err(|e| e.to_string())?,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(scope: &str) -> Result<AwsSigner, String> {
        AwsSigner::from_env(scope, |name| match name {
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            _ => None,
        })
    }

    /// AWS's SigV4 test suite, `get-vanilla`: fixed credentials, date and region give its documented
    /// scope, date header and signature.
    #[test]
    fn a_request_signed_as_aws_documents_it() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        let headers = signer("service:us-east-1")
            .unwrap()
            .headers(
                "GET",
                "https://example.amazonaws.com/",
                &[("host", "example.amazonaws.com")],
                b"",
                time,
            )
            .unwrap();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(get("x-amz-date"), "20150830T123600Z");
        assert_eq!(
            get("authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn missing_credentials_and_bad_scopes_are_named() {
        assert!(signer("execute-api")
            .unwrap_err()
            .contains("SERVICE:REGION"));
        let e = AwsSigner::from_env("execute-api:us-west-1", |_| None).unwrap_err();
        assert!(e.contains("`AWS_ACCESS_KEY_ID` is not set"), "{e}");
    }
}
