//! `-p trace` on Knative: every trace function gets its own Knative Service running the project's
//! `emulated-function` (listening on `$PORT`, h2c), with the function's own duration and memory
//! percentiles as arguments and memory requests and limits from its memory. The YAMLs are written as if
//! they were vSwarm proxies' (with a config over them), so the Knative deployer treats them the same way:
//! renamed, labelled, applied, awaited, deleted.

use std::path::Path;

use profiles::{Metric, Proxy};
use serde_json::{json, Value};

use super::plan::{ConfigEntry, ProxyConfig};
use crate::DeployError;

/// Where the image installs the emulated function.
pub const IMAGE_EMULATED: &str = "/usr/local/bin/emulated-function";
/// The port Knative gives the container (it sets `$PORT` to it).
pub const CONTAINER_PORT: u16 = 8080;
/// Memory an instance needs beside its calls' working sets, MiB.
pub const BASE_MEMORY_MB: f64 = 32.0;

/// How the own functions run.
#[derive(Debug, Clone)]
pub struct OwnFunctions {
    /// The image.
    pub image: String,
    /// `containerConcurrency` (0: unlimited).
    pub container_concurrency: u32,
    /// CPU share for every function (default: each one's).
    pub cpu_share: Option<f64>,
    /// Keep-alive, seconds.
    pub keep_alive_seconds: f64,
    /// What Knative's ingress speaks to the functions (the name of their port).
    pub protocol: crate::FunctionProtocol,
}

/// The name of `image` padded with a filler layer of `mb` MiB (`--function-image-size-mb`):
/// `IMAGE-filler-Nmb`, the tag `latest` when `image` names none; `image` itself for 0. The Dockerfile
/// builds it with `--build-arg FUNCTION_IMAGE_SIZE_MB=N`.
pub fn padded_image(image: &str, mb: u32) -> String {
    if mb == 0 {
        return image.to_owned();
    }
    // A padded image is another image: a digest names the unpadded one only.
    let image = image.split_once('@').map_or(image, |(name, _)| name);
    // A tag is what follows the last `:` after the last `/` (a registry's port is before a `/`).
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    if image[name_start..].contains(':') {
        format!("{image}-filler-{mb}mb")
    } else {
        format!("{image}:latest-filler-{mb}mb")
    }
}

/// Percentiles as `emulated-function` takes them: `P:V,P:V,…`.
fn percentiles_arg(proxy: &Proxy, metric: Metric) -> String {
    proxy
        .metric(metric)
        .points()
        .iter()
        .map(|(p, v)| format!("{p}:{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The Knative Service of `proxy`'s own emulated function.
pub fn service(proxy: &Proxy, own: &OwnFunctions) -> Value {
    let memory_mb = proxy
        .metric(Metric::Memory)
        .quantile(1.0)
        .unwrap_or(0.0)
        .max(0.0);
    let memory = format!("{}Mi", (memory_mb + BASE_MEMORY_MB).ceil() as u64);
    let share = own.cpu_share.unwrap_or_else(|| proxy.cpu_share());
    json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": { "name": proxy.name, "namespace": "default" },
        "spec": { "template": { "spec": {
            "containerConcurrency": own.container_concurrency,
            "containers": [{
                "image": own.image,
                "command": [IMAGE_EMULATED],
                "args": [
                    "--name", proxy.name,
                    "--duration-percentiles", percentiles_arg(proxy, Metric::Duration),
                    "--memory-percentiles", percentiles_arg(proxy, Metric::Memory),
                    "--cpu-share", share.to_string(),
                    "--keep-alive", own.keep_alive_seconds.to_string(),
                    "--memory-budget-mb", ((memory_mb.ceil() as u64).max(1)).to_string(),
                ],
                "ports": [{ "name": own.protocol.knative_port_name(), "containerPort": CONTAINER_PORT }],
                "resources": {
                    "requests": { "memory": memory },
                    "limits": { "memory": memory },
                },
            }],
        }}},
    })
}

/// Writes each proxy's Service into `dir` (`kn-<name>.yaml`) and returns a config over them.
pub fn config(
    proxies: &[&Proxy],
    dir: &Path,
    own: &OwnFunctions,
) -> Result<ProxyConfig, DeployError> {
    std::fs::create_dir_all(dir).map_err(|source| DeployError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut entries = Vec::with_capacity(proxies.len());
    for proxy in proxies {
        let file = format!("kn-{}.yaml", proxy.name);
        let yaml = serde_yaml_ng::to_string(&service(proxy, own)).expect("a JSON value is YAML");
        let path = dir.join(&file);
        std::fs::write(&path, yaml).map_err(|source| DeployError::Io { path, source })?;
        entries.push(ConfigEntry {
            yaml_location: file,
            predeployment_commands: Vec::new(),
            postdeployment_commands: Vec::new(),
        });
    }
    Ok(ProxyConfig {
        path: dir.join("(own functions)"),
        dir: dir.to_owned(),
        entries,
    })
}

/// `config` with Services of their own (written into `dir`) for the proxies it has no entry for and that
/// have no YAML of their own: the emulated proxies a workflow's fixed-duration nodes add to a vSwarm
/// profile's (`loadgen::workflow_load::fixed_node_proxy`). Their entries name the written files by
/// absolute path, so the config's own directory still anchors its other entries and commands.
pub fn with_own(
    mut config: ProxyConfig,
    proxies: &[&Proxy],
    dir: &Path,
    own: &OwnFunctions,
) -> Result<ProxyConfig, DeployError> {
    let missing: Vec<&Proxy> = proxies
        .iter()
        .copied()
        .filter(|p| p.yaml.is_none() && config.entry_for(p).is_err())
        .collect();
    if missing.is_empty() {
        return Ok(config);
    }
    let made = self::config(&missing, dir, own)?;
    config.entries.extend(made.entries.into_iter().map(|e| {
        ConfigEntry {
            yaml_location: made
                .dir
                .join(&e.yaml_location)
                .to_string_lossy()
                .into_owned(),
            ..e
        }
    }));
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_images_are_named_by_their_filler() {
        assert_eq!(
            padded_image("serverless-loadgen:latest", 0),
            "serverless-loadgen:latest"
        );
        assert_eq!(
            padded_image("serverless-loadgen:v2", 100),
            "serverless-loadgen:v2-filler-100mb"
        );
        assert_eq!(
            padded_image("registry:5000/loadgen", 10),
            "registry:5000/loadgen:latest-filler-10mb"
        );
        assert_eq!(
            padded_image("r/loadgen@sha256:abc", 10),
            "r/loadgen:latest-filler-10mb"
        );
    }

    #[test]
    fn a_functions_service_carries_its_own_profile() {
        let catalogue = profiles::Catalogue::builtin();
        let proxy = catalogue.get("emu-9p9ms-16mi").unwrap();
        let own = OwnFunctions {
            image: "img:1".into(),
            container_concurrency: 4,
            cpu_share: None,
            keep_alive_seconds: 600.0,
            protocol: crate::FunctionProtocol::Grpc,
        };
        let v = service(proxy, &own);
        let spec = &v["spec"]["template"]["spec"];
        assert_eq!(spec["containerConcurrency"], 4);
        let c = &spec["containers"][0];
        assert_eq!(c["command"][0], IMAGE_EMULATED);
        assert_eq!(c["ports"][0]["name"], "h2c");
        let http = OwnFunctions {
            protocol: crate::FunctionProtocol::Http,
            ..own.clone()
        };
        assert_eq!(
            service(proxy, &http)["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"],
            "http1"
        );
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let at = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
        assert!(
            at("--duration-percentiles").starts_with("0:7.92"),
            "{args:?}"
        );
        assert_eq!(at("--cpu-share"), "0.25");
        // 16 MiB × 1.1 at p100, plus the instance's own 32.
        assert_eq!(c["resources"]["limits"]["memory"], "50Mi");
        assert_eq!(c["resources"]["requests"], c["resources"]["limits"]);
    }
}
