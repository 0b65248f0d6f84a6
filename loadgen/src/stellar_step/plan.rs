//! A STeLLAR step's flags checked: the file read, the sub-experiments found, the gateways of an
//! endpoints file in the provider's URL shapes, AWS's credentials present when they sign.

use std::path::Path;

use ::stellar::Experiment;
use anyhow::{bail, Result};

use crate::cli::StellarArgs;

/// A STeLLAR step, checked.
#[derive(Debug, Clone)]
pub struct StellarPlan {
    /// The experiment file.
    pub experiment: Experiment,
    /// The sub-experiments this step runs (at once when several).
    pub subs: Vec<usize>,
    /// Per sub-experiment, its gateways' URLs, from an endpoints file; none: emulated functions.
    pub gateways: Option<Vec<Vec<String>>>,
    /// Open loop (`--stellar-timing scheduled`) rather than STeLLAR's closed loop.
    pub scheduled: bool,
    /// The store a chain's data goes through (`StorageTransfer`), from `--store`.
    pub store: Option<String>,
}

impl StellarPlan {
    /// Checks the step's flags: the file read, the sub-experiment found, the endpoints read and each
    /// gateway's URL made (enough of them for every sub-experiment's Parallelism).
    pub fn check(args: &StellarArgs, file: &Path, store: Option<&str>) -> Result<StellarPlan> {
        let experiment = Experiment::read(file)?;
        let count = experiment.sub_experiments.len();
        let subs = match args.stellar_sub.as_str() {
            "all" => (0..count).collect(),
            n => match n.parse::<usize>() {
                Ok(i) if i < count => vec![i],
                _ => bail!(
                    "--stellar-sub {n}: {} has sub-experiments 0 to {} (or `all`)",
                    file.display(),
                    count - 1
                ),
            },
        };
        let gateways = match &args.stellar_endpoints {
            None => None,
            Some(path) => Some(assign_gateways(&experiment, &subs, path)?),
        };
        if gateways.is_some() && experiment.provider == "aws" {
            // Checked now, not when the first call is signed.
            for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
                if std::env::var_os(name).is_none() {
                    bail!("provider `aws` signs its calls with AWS Signature V4: the environment variable `{name}` is not set");
                }
            }
        }
        let store = chains_store(&experiment, &subs, file, store)?;
        Ok(StellarPlan {
            experiment,
            subs,
            gateways,
            scheduled: args.stellar_timing == "scheduled",
            store,
        })
    }

    /// Whether the step runs chains (a `DataTransferChainLength` above 1).
    pub fn chained(&self) -> bool {
        self.subs
            .iter()
            .any(|&i| self.experiment.sub_experiments[i].chain_length > 1)
    }
}

/// The store the step's chains move their data through: `--store` when its sub-experiments say
/// `StorageTransfer`, none when they do not; refused when they disagree (one step has one store), when
/// one needs a store and none is given, and for chains over vHive's gRPC.
fn chains_store(
    experiment: &Experiment,
    subs: &[usize],
    file: &Path,
    store: Option<&str>,
) -> Result<Option<String>> {
    let chains: Vec<&::stellar::experiment::SubExperiment> = subs
        .iter()
        .map(|&i| &experiment.sub_experiments[i])
        .filter(|s| s.chain_length > 1)
        .collect();
    if chains.is_empty() {
        return Ok(None);
    }
    if experiment.provider == "vhive" {
        bail!(
            "{}: DataTransferChainLength above 1 runs over HTTP gateways here; provider `vhive` calls STeLLAR's gRPC producer-consumer",
            file.display()
        );
    }
    let stored = chains.iter().filter(|s| s.storage_transfer).count();
    match (stored, store) {
        (0, _) => Ok(None),
        (n, _) if n < chains.len() => bail!(
            "{}: the chains of one step move their data one way: some say StorageTransfer and others not (run them with \"Sequential\": true)",
            file.display()
        ),
        (_, None) => bail!(
            "{}: StorageTransfer moves a chain's data through a store: give it with --store redis://HOST:PORT",
            file.display()
        ),
        (_, Some(url)) => Ok(Some(url.to_owned())),
    }
}

/// Each sub-experiment's gateways from an endpoints file, in order: STeLLAR's provider URL shapes.
fn assign_gateways(
    experiment: &Experiment,
    subs: &[usize],
    path: &Path,
) -> Result<Vec<Vec<String>>> {
    let listed = ::stellar::endpoints::read_gateways(path)?;
    let region = aws_region();
    let urls = listed
        .iter()
        .enumerate()
        .map(|(i, g)| {
            ::stellar::endpoints::gateway_url(&experiment.provider, &g.id, &region).map_err(|e| {
                anyhow::anyhow!("{}: [{i}].GatewayID (`{}`): {e}", path.display(), g.id)
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut next = 0;
    let mut assigned = Vec::with_capacity(subs.len());
    for &i in subs {
        let sub = &experiment.sub_experiments[i];
        let wanted = sub.parallelism as usize;
        if next + wanted > urls.len() {
            bail!(
                "{}: {} gateway(s) listed, but sub-experiment {i} (`{}`) needs {wanted} (Parallelism) after the {next} taken before it",
                path.display(),
                urls.len(),
                sub.title
            );
        }
        assigned.push(urls[next..next + wanted].to_vec());
        next += wanted;
    }
    Ok(assigned)
}

/// AWS's region: `AWS_REGION`, or STeLLAR's default.
pub(super) fn aws_region() -> String {
    std::env::var("AWS_REGION")
        .unwrap_or_else(|_| ::stellar::endpoints::DEFAULT_AWS_REGION.to_owned())
}
