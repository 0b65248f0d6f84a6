//! STeLLAR's endpoints JSON (what it reads for providers it cannot list, such as vHive), and the URL each
//! provider's gateway is called at, in STeLLAR's shapes.

use std::path::Path;

use serde::Deserialize;

use crate::experiment::StellarError;

/// One gateway of an endpoints file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// `GatewayID`: `host:port` (vHive), a host and path (clouds), or a full URL.
    #[serde(rename = "GatewayID")]
    pub id: String,
    /// `FunctionMemoryMB`.
    #[serde(rename = "FunctionMemoryMB", default)]
    pub memory_mb: Option<f64>,
    /// `ImageSizeMB`.
    #[serde(rename = "ImageSizeMB", default)]
    pub image_size_mb: Option<f64>,
    /// `PackageType`.
    #[serde(rename = "PackageType", default)]
    pub package_type: Option<String>,
}

/// Reads an endpoints file: a JSON list of gateways.
pub fn read_gateways(path: &Path) -> Result<Vec<Gateway>, StellarError> {
    let text = std::fs::read_to_string(path).map_err(|source| StellarError::Io {
        path: path.to_owned(),
        source,
    })?;
    let gateways: Vec<Gateway> = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_str(&text),
    )
    .map_err(|e| StellarError::Invalid {
        path: path.to_owned(),
        json_path: e.path().to_string(),
        reason: e.into_inner().to_string(),
    })?;
    if gateways.is_empty() {
        return Err(StellarError::Invalid {
            path: path.to_owned(),
            json_path: "(top)".into(),
            reason: "lists no gateway".into(),
        });
    }
    Ok(gateways)
}

/// The region of AWS's gateways unless `AWS_REGION` says: STeLLAR's own default.
pub const DEFAULT_AWS_REGION: &str = "us-west-1";

/// The providers STeLLAR knows.
pub const PROVIDERS: [&str; 7] = [
    "aws",
    "azure",
    "google",
    "gcr",
    "cloudflare",
    "aliyun",
    "vhive",
];

/// The URL a gateway of `provider` is called at (before STeLLAR's query is added), AWS's API Gateway
/// in `aws_region`; an error says why it cannot be.
pub fn gateway_url(provider: &str, gateway: &str, aws_region: &str) -> Result<String, String> {
    if gateway.contains("://") {
        return Ok(gateway.to_owned());
    }
    match provider {
        // The gateway ID is the host and path (Azure's with its `?code=` key), called over HTTPS with
        // GET, as STeLLAR's benchhttp does.
        "azure" | "google" | "gcr" | "cloudflare" | "aliyun" => Ok(format!("https://{gateway}")),
        // STeLLAR's API Gateway route; calls are POSTs signed with AWS Signature V4 (see `AWS_STEP`).
        "aws" => Ok(format!(
            "https://{gateway}.execute-api.{aws_region}.amazonaws.com/prod/benchmarking"
        )),
        // STeLLAR's producer-consumer gRPC service at `host[:port]`, port 80 when none is named, as
        // STeLLAR's vHive client dials.
        "vhive" => Ok(format!("vhive://{gateway}")),
        other => Err(format!(
            "unknown provider `{other}` (STeLLAR's are {})",
            PROVIDERS.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_in_stellars_url_shape() {
        assert_eq!(
            gateway_url("aws", "abc123", "eu-west-1").unwrap(),
            "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/benchmarking"
        );
        assert_eq!(
            gateway_url("azure", "x.azurewebsites.net/api/f?code=k", "").unwrap(),
            "https://x.azurewebsites.net/api/f?code=k"
        );
        assert_eq!(
            gateway_url("vhive", "http://10.0.0.1:80/", "").unwrap(),
            "http://10.0.0.1:80/"
        );
        assert_eq!(
            gateway_url("vhive", "10.0.0.1:8080", "").unwrap(),
            "vhive://10.0.0.1:8080"
        );
        assert!(gateway_url("ibm", "f", "")
            .unwrap_err()
            .contains("unknown provider `ibm`"));
    }
}
