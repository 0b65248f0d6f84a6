//! Deployment: making the mapped proxies callable and learning their endpoints.
//!
//! Four ways, one result (proxy name → endpoint): [`Deployer::None`] uses proxy names as endpoints (what
//! `generate` writes when nothing is deployed), [`local`] starts emulated function servers in this process
//! on loopback, [`knative`] applies the proxies' YAMLs to a cluster with `kubectl`, and [`given`] reads
//! where functions deployed already are from an endpoints file. [`kube`] is the only
//! code that runs `kubectl`, for the workers' Job and the collectors too.

pub mod given;
pub mod knative;
pub mod kube;
pub mod local;

use std::path::PathBuf;

impl From<kube::KubeError> for DeployError {
    fn from(source: kube::KubeError) -> DeployError {
        DeployError::Command {
            proxy: None,
            source,
        }
    }
}

/// Where the proxies run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Deployer {
    /// Deploy nothing; endpoints are the proxies' names.
    None,
    /// Emulated function servers in this process on 127.0.0.1 (ephemeral ports).
    Local,
    /// Knative services on a cluster, through `kubectl` (config.json, YAMLs).
    Knative,
    /// Deployed already: an endpoints file says where each proxy is (`--use-endpoints FILE`).
    #[value(skip)]
    Given,
}

/// What the emulated functions speak to their callers (they answer all three on one port; this says
/// which one load.json's endpoints ask for, and which Knative's ingress is told of).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FunctionProtocol {
    /// vSwarm's gRPC `helloworld.Greeter` (endpoints `host:port`).
    #[default]
    Grpc,
    /// HTTP/1.1 (endpoints `http://host:port`).
    Http,
    /// HTTP/2 with prior knowledge (endpoints `h2c://host:port`).
    H2c,
}

impl FunctionProtocol {
    /// The endpoint that calls `host_port` (or a Knative host) with this protocol.
    pub fn endpoint(self, host_port: &str) -> String {
        match self {
            FunctionProtocol::Grpc => host_port.to_owned(),
            FunctionProtocol::Http => format!("http://{host_port}"),
            FunctionProtocol::H2c => format!("h2c://{host_port}"),
        }
    }

    /// The name of the container port in a Knative Service: Knative's ingress speaks HTTP/2 to a port
    /// named `h2c` and HTTP/1.1 to one named `http1`.
    pub fn knative_port_name(self) -> &'static str {
        match self {
            FunctionProtocol::Grpc | FunctionProtocol::H2c => "h2c",
            FunctionProtocol::Http => "http1",
        }
    }
}

pub use formats::endpoints::EndpointEntry;

/// Why deployment failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The local servers could not start.
    #[error("starting local emulated function servers: {0}")]
    Local(std::io::Error),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// config.json is not what vSwarm writes.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A proxy has no entry in config.json.
    #[error("proxy `{proxy}`: no entry of {} has its yaml-location{}", config.display(), yaml.as_deref().map(|y| format!(" ({y})")).unwrap_or_default())]
    NoConfig {
        /// Proxy name.
        proxy: String,
        /// Its YAML in the profile, if any.
        yaml: Option<String>,
        /// The config file.
        config: PathBuf,
    },
    /// A proxy's YAML is unusable.
    #[error("proxy `{proxy}`: YAML {}: {reason}", path.display())]
    Yaml {
        /// Proxy name.
        proxy: String,
        /// The YAML file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A command (`kubectl`, or one of config.json's) failed.
    #[error("{}{source}", proxy.as_deref().map(|p| format!("proxy `{p}`: ")).unwrap_or_default())]
    Command {
        /// The proxy being deployed, if the command was for one.
        proxy: Option<String>,
        /// What failed.
        source: kube::KubeError,
    },
    /// Services did not become Ready in time.
    #[error("{count} service(s) not Ready after {waited_s:.0} s: {services}")]
    NotReady {
        /// How many.
        count: usize,
        /// `namespace/name (last status)` of each, summarised when long.
        services: String,
        /// Seconds waited.
        waited_s: f64,
    },
    /// Ctrl-C while waiting for Ready: what was applied is deleted again.
    #[error("interrupted while waiting for the services to become Ready; the {deleted} service(s) applied are deleted")]
    Interrupted {
        /// Services deleted.
        deleted: usize,
    },
    /// Deployment stopped part-way; says what is already on the cluster.
    #[error(
        "{source}\n{count} service(s) already applied: {applied}; `loadgen clean` deletes them"
    )]
    Partial {
        /// The failure.
        #[source]
        source: Box<DeployError>,
        /// How many services were applied.
        count: usize,
        /// `namespace/name` of each, summarised when long.
        applied: String,
    },
}
