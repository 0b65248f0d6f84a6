//! The local deployer: one emulated function server per distinct proxy, in this process, on loopback;
//! each function scaled like Knative ([`LocalOptions::scaling`]) or kept as one instance.
//!
//! The servers live exactly as long as the returned [`LocalServers`]: dropping it (a normal end, an error
//! unwinding, or after Ctrl-C) closes every port, so nothing outlives `loadgen`.

use emulated::{Behaviour, LocalServers};
use profiles::Proxy;

use crate::{DeployError, EndpointEntry};

/// How the local fleet runs.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalOptions {
    /// Worker threads shared by all servers: the most requests busy at once.
    pub threads: usize,
    /// CPUs the servers' threads are pinned to (e.g. all but the dispatcher's).
    pub cpus: Option<Vec<usize>>,
    /// Busy time and working set multiplier (1: the proxies' real profile).
    pub scale: f64,
    /// Memory all requests may hold at once, MiB.
    pub memory_budget_mb: u32,
    /// The fraction of each call computing, for every function (default: each proxy's own).
    pub cpu_share: Option<f64>,
    /// How long an idle instance lives (without `scaling`).
    pub keep_alive: std::time::Duration,
    /// Extra wait of a cold call (without `scaling`).
    pub cold_start: std::time::Duration,
    /// Knative's scaling of every function (`--local-platform knative`); `None`: one instance each.
    pub scaling: Option<std::sync::Arc<emulated::Scaling>>,
    /// What the endpoints ask the servers to speak.
    pub protocol: crate::FunctionProtocol,
    /// Where each server listens, one address per proxy in the order deployed (a resumed run's, where
    /// its load sends the calls); none: an ephemeral port each.
    pub bind: Option<Vec<std::net::SocketAddr>>,
}

impl LocalOptions {
    /// How the local fleet emulates `proxy`.
    pub fn behaviour(&self, proxy: &Proxy) -> Behaviour {
        let mut b = Behaviour::of_proxy(proxy).scaled(self.scale);
        b.memory_budget_mb = self.memory_budget_mb;
        if let Some(share) = self.cpu_share {
            b.cpu_share = share;
        }
        b.keep_alive = self.keep_alive;
        b.cold_start = self.cold_start;
        b.scaling = self.scaling.clone();
        b
    }
}

/// Approximate CPU cost of touching one MiB of fresh memory (page faults and zeroing), seconds.
pub const TOUCH_SECONDS_PER_MIB: f64 = 0.25e-3;

/// Starts a server per proxy (in the order given) and returns them with their `host:port` endpoints.
pub fn deploy(
    proxies: &[&Proxy],
    options: &LocalOptions,
) -> Result<(LocalServers, Vec<EndpointEntry>), DeployError> {
    let behaviours = proxies.iter().map(|p| options.behaviour(p)).collect();
    let servers = LocalServers::start_at(
        behaviours,
        options.threads,
        options.cpus.clone(),
        options.bind.as_deref(),
    )
    .map_err(DeployError::Local)?;
    let deployed = proxies
        .iter()
        .zip(servers.endpoints())
        .map(|(p, endpoint)| {
            EndpointEntry::deployed(&p.name, options.protocol.endpoint(&endpoint), None)
        })
        .collect();
    Ok((servers, deployed))
}

/// CPU seconds per second the load asks of the emulated proxies at scale 1: each proxy's expected CPU
/// time (its wall time times its CPU share, `cpu_share` for all when given) times its calls, and the
/// touching of its instance's footprint once, over the run's length.
pub fn demand_cores(
    proxies: &[&Proxy],
    calls: &[u64],
    run_seconds: f64,
    cpu_share: Option<f64>,
) -> f64 {
    let cpu_seconds: f64 = proxies
        .iter()
        .zip(calls)
        .map(|(p, &n)| {
            let mut b = Behaviour::of_proxy(p);
            if let Some(share) = cpu_share {
                b.cpu_share = share;
            }
            n as f64 * b.mean_cpu_ms() / 1e3 + f64::from(b.footprint_mb()) * TOUCH_SECONDS_PER_MIB
        })
        .sum();
    cpu_seconds / run_seconds.max(1e-9)
}

/// MiB the fleet's instances hold when every proxy has one alive: the sum of their footprints.
pub fn footprints_mb(proxies: &[&Proxy], options: &LocalOptions) -> u64 {
    proxies
        .iter()
        .map(|p| u64::from(options.behaviour(p).footprint_mb()))
        .sum()
}

/// The largest scale at which the footprints of `proxies` fit `options.memory_budget_mb`, at most
/// `options.scale` (each footprint rounds to whole MiB, so the first guess is checked and lowered).
pub fn memory_fitting_scale(proxies: &[&Proxy], options: &LocalOptions) -> f64 {
    let budget = f64::from(options.memory_budget_mb);
    let mut fitted = options.clone();
    for _ in 0..32 {
        let held = footprints_mb(proxies, &fitted) as f64;
        if held <= budget {
            break;
        }
        fitted.scale *= budget / held * 0.999;
    }
    fitted.scale
}

/// The scale that makes `demand` cores of work use `utilisation` of `threads` cores (never above 1).
pub fn fitting_scale(demand: f64, threads: usize, utilisation: f64) -> f64 {
    if demand <= 0.0 {
        return 1.0;
    }
    (threads as f64 * utilisation / demand).min(1.0)
}

/// A scale factor as printed: `1`, `0.5`, `1.234e-2`.
pub fn format_scale(f: f64) -> String {
    if f >= 1.0 {
        format!("{f}")
    } else {
        format!("{f:.3e}")
    }
}

/// What a local fleet's scale means for a load asking `demand` cores at scale 1 of `threads` threads.
pub fn scale_note(
    demand: f64,
    threads: usize,
    scale: f64,
    (held_mb, budget_mb): (u64, u32),
) -> String {
    format!(
        "At scale 1 the emulated proxies would need {demand:.2} cores of computation for this load; {threads} \
         thread(s) compute for it, so wall time and working set are multiplied by {} (expected use {:.0}% of \
         them; the instances' footprints hold {held_mb} of the {budget_mb} MiB memory budget).{}",
        format_scale(scale),
        100.0 * demand * scale / threads as f64,
        if scale < 1.0 {
            " This run checks the pipeline and the timing, not the functions' real cost: \
             use `--local-scale 1` for the real profile, or a cluster."
        } else if demand * scale > threads as f64 {
            " The machine is too small for this load: expect queueing and timeouts."
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use profiles::Catalogue;

    #[test]
    fn servers_answer_and_stop_with_their_owner() {
        let catalogue = Catalogue::builtin();
        let proxies: Vec<&Proxy> = catalogue.proxies.iter().take(3).collect();
        let options = LocalOptions {
            threads: 1,
            cpus: None,
            scale: 1.0,
            memory_budget_mb: 64,
            cpu_share: None,
            keep_alive: std::time::Duration::from_secs(600),
            cold_start: std::time::Duration::ZERO,
            scaling: None,
            protocol: crate::FunctionProtocol::Grpc,
            bind: None,
        };
        let (servers, deployed) = deploy(&proxies, &options).unwrap();
        assert_eq!(deployed.len(), 3);
        for (d, p) in deployed.iter().zip(&proxies) {
            assert_eq!(d.proxy, p.name);
            assert!(d.endpoint.starts_with("127.0.0.1:"), "{}", d.endpoint);
            std::net::TcpStream::connect(&d.endpoint).unwrap();
        }
        drop(servers);
        for d in &deployed {
            assert!(
                std::net::TcpStream::connect(&d.endpoint).is_err(),
                "{} still open",
                d.endpoint
            );
        }
    }

    #[test]
    fn demand_and_scale() {
        let catalogue = Catalogue::builtin();
        let p = &catalogue.proxies[0];
        let b = Behaviour::of_proxy(p);
        // 600 calls' computation over a minute, and the instance's footprint touched once.
        let per_call = b.mean_duration_ms() * 0.25 / 1e3;
        let once = f64::from(b.footprint_mb()) * TOUCH_SECONDS_PER_MIB / 60.0;
        let d = demand_cores(&[p], &[600], 60.0, None);
        assert!((d - 10.0 * per_call - once).abs() < 1e-9, "{d}");
        let all_busy = demand_cores(&[p], &[600], 60.0, Some(1.0));
        assert!(all_busy > d, "{all_busy} {d}");
        assert_eq!(fitting_scale(0.0, 1, 0.5), 1.0);
        assert_eq!(fitting_scale(0.1, 1, 0.5), 1.0);
        assert!((fitting_scale(10.0, 2, 0.5) - 0.1).abs() < 1e-12);
    }
}
