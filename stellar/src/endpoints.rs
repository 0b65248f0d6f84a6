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

/// The URL a gateway of `provider` is called at (before STeLLAR's query is added); an error says why
/// it cannot be.
pub fn gateway_url(provider: &str, gateway: &str) -> Result<String, String> {
    if gateway.contains("://") {
        return Ok(gateway.to_owned());
    }
    match provider {
        // The gateway ID is the host and path (Azure's with its `?code=` key), called over HTTPS with
        // GET, as STeLLAR's benchhttp does.
        "azure" | "google" | "gcr" | "cloudflare" | "aliyun" => Ok(format!("https://{gateway}")),
        "aws" => Err(
            "provider `aws` calls API Gateway with requests signed by AWS Signature V4, which is not \
             served yet; give the endpoints as https:// URLs of an unauthenticated route instead"
                .into(),
        ),
        "vhive" => Err(
            "provider `vhive` calls STeLLAR's ProducerConsumer gRPC chain service, which is not served \
             yet; give the endpoints as http:// or h2c:// URLs of functions that answer STeLLAR's HTTP \
             query"
                .into(),
        ),
        other => Err(format!(
            "unknown provider `{other}` (STeLLAR's are {})",
            PROVIDERS.join(", ")
        )),
    }
}
