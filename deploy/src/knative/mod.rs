//! The Knative deployer: vSwarm's config.json and YAMLs, applied with `kubectl`, only ever touching the
//! services it made.
//!
//! Each proxy's YAML is copied into the build directory with a fresh service name (the proxy's name and a
//! random suffix, a valid DNS-1035 label) and the label [`kube::MANAGED_BY_LABEL`]`=`[`kube::MANAGED_BY`]; `clean`
//! deletes exactly the services carrying that label. Config commands run through `sh -c` in the config
//! file's directory (vSwarm's paths are relative to it), so config.json must be trusted.
//!
//! [`plan`] prepares (config, names, YAMLs, the dry run's script); this module applies, waits for Ready
//! (one labelled list per round, however many services) and cleans.

pub mod own;
mod plan;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

pub use plan::{
    is_dns1035, plan, rewrite_yaml, service_name, write_script, ConfigEntry, PlannedService,
    ProxyConfig, MAX_SERVICE_NAME,
};
use plan::{steps, Step};

use crate::kube::{self, Kubectl};
use crate::{DeployError, EndpointEntry};

/// How to talk to the cluster.
#[derive(Debug, Clone)]
pub struct KnativeOptions {
    /// The `kubectl` to run.
    pub kubectl: Kubectl,
    /// How long all services together may take to become Ready.
    pub ready_timeout: Duration,
    /// How often readiness is polled.
    pub poll_interval: Duration,
    /// The build directory: a long list of services in an error is written there in full.
    pub build: PathBuf,
    /// Ctrl-C: the wait for Ready ends, and what was applied is deleted.
    pub stop: cmdline::Stop,
    /// What the endpoints ask the services to speak (their URL's scheme).
    pub protocol: crate::FunctionProtocol,
}

/// Names an error message lists before it says "and N more" and points to the full list in a file.
pub const LISTED: usize = 5;

/// `items` for a message: all of them when few, else the first [`LISTED`], a count, and the full list
/// written (one per line) to `file`.
fn summarise(items: &[String], file: &Path) -> String {
    if items.len() <= LISTED {
        return items.join(", ");
    }
    let written = std::fs::write(file, items.join("\n") + "\n");
    format!(
        "{} and {} more ({})",
        items[..LISTED].join(", "),
        items.len() - LISTED,
        match written {
            Ok(()) => format!("all {} listed in {}", items.len(), file.display()),
            Err(e) => format!(
                "the full list could not be written to {}: {e}",
                file.display()
            ),
        }
    )
}

/// A pre- or post-deployment command of config.json, run through `sh -c` in its proxy's directory.
fn shell(p: &PlannedService, stage: &'static str, command: &str) -> Result<String, DeployError> {
    kube::run(
        Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&p.workdir),
        stage,
        command,
    )
    .map_err(|source| DeployError::Command {
        proxy: Some(p.proxy.clone()),
        source,
    })
}

/// Runs the plan: pre-deployment commands, `kubectl apply`, post-deployment commands, then waits until
/// every service is Ready and returns their URLs (without scheme) as endpoints. On failure the error
/// lists what was already applied.
pub fn deploy(
    planned: &[PlannedService],
    options: &KnativeOptions,
    progress: &ProgressBar,
) -> Result<Vec<EndpointEntry>, DeployError> {
    let mut applied: Vec<String> = Vec::new();
    let partial = |source: DeployError, applied: &[String]| {
        if applied.is_empty() {
            source
        } else {
            DeployError::Partial {
                source: Box::new(source),
                count: applied.len(),
                applied: summarise(applied, &options.build.join("applied.txt")),
            }
        }
    };
    progress.set_length(planned.len() as u64);
    progress.set_message("applying");
    for (i, step) in steps(planned) {
        let p = &planned[i];
        let result = match step {
            Step::Shell(stage, c) => shell(p, stage, &c),
            Step::Apply => {
                let yaml = p.yaml.to_string_lossy();
                let r = options
                    .kubectl
                    .run(&["apply", "-f", &yaml], "apply command")
                    .map_err(|source| DeployError::Command {
                        proxy: Some(p.proxy.clone()),
                        source,
                    });
                if r.is_ok() {
                    applied.push(p.qualified());
                }
                r
            }
        };
        result.map_err(|e| partial(e, &applied))?;
    }

    progress.set_position(0);
    progress.set_message("waiting for Ready");
    let started = Instant::now();
    let mut endpoints: Vec<Option<String>> = vec![None; planned.len()];
    let mut last_status: Vec<String> = vec!["not listed yet".into(); planned.len()];
    loop {
        poll_readiness(planned, options, &mut endpoints, &mut last_status, progress);
        if endpoints.iter().all(Option::is_some) {
            break;
        }
        if options.stop.requested() {
            delete(&options.kubectl, &applied)?;
            return Err(DeployError::Interrupted {
                deleted: applied.len(),
            });
        }
        if started.elapsed() >= options.ready_timeout {
            let services: Vec<String> = planned
                .iter()
                .zip(&endpoints)
                .zip(&last_status)
                .filter(|((_, e), _)| e.is_none())
                .map(|((p, _), s)| format!("{} ({s})", p.qualified()))
                .collect();
            return Err(partial(
                DeployError::NotReady {
                    count: services.len(),
                    services: summarise(&services, &options.build.join("not-ready.txt")),
                    waited_s: started.elapsed().as_secs_f64(),
                },
                &applied,
            ));
        }
        std::thread::sleep(options.poll_interval);
    }
    Ok(planned
        .iter()
        .zip(endpoints)
        .map(|(p, e)| EndpointEntry::deployed(&p.proxy, e.expect("all ready"), Some(p.qualified())))
        .collect())
}

/// One round of the wait for Ready: one labelled list of our services, however many there are; each
/// service not yet Ready gets its URL, or its last status.
fn poll_readiness(
    planned: &[PlannedService],
    options: &KnativeOptions,
    endpoints: &mut [Option<String>],
    last_status: &mut [String],
    progress: &ProgressBar,
) {
    // One list of our services per round, however many there are.
    match options
        .kubectl
        .list("ksvc", &kube::ours(None), "checking readiness")
    {
        Ok(items) => {
            let by_name: std::collections::HashMap<String, &serde_json::Value> = items
                .iter()
                .filter_map(|item| Some((kube::qualified_name(item)?, item)))
                .collect();
            for (i, p) in planned.iter().enumerate() {
                if endpoints[i].is_some() {
                    continue;
                }
                match by_name.get(&p.qualified()).map(|item| readiness(item)) {
                    Some(Ok(url)) => {
                        endpoints[i] = Some(options.protocol.endpoint(&url));
                        progress.inc(1);
                    }
                    Some(Err(status)) => last_status[i] = status,
                    // A service just applied may not be listed yet; keep polling until the deadline.
                    None => last_status[i] = "not listed yet".into(),
                }
            }
        }
        Err(e) => {
            for (i, _) in planned
                .iter()
                .enumerate()
                .filter(|(i, _)| endpoints[*i].is_none())
            {
                last_status[i] = e.to_string();
            }
        }
    }
}

/// From one service of `kubectl get ksvc -o json`: the URL without scheme if Ready, else a short status.
pub fn readiness(v: &serde_json::Value) -> Result<String, String> {
    let ready = v["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    let Some(ready) = ready else {
        return Err("no Ready condition yet".into());
    };
    if ready["status"] != "True" {
        let why = [&ready["reason"], &ready["message"]]
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(": ");
        return Err(format!(
            "Ready={}{}{}",
            ready["status"].as_str().unwrap_or("?"),
            if why.is_empty() { "" } else { ", " },
            why
        ));
    }
    let url = v["status"]["url"]
        .as_str()
        .ok_or("Ready but no status.url")?;
    Ok(url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/')
        .to_owned())
}

/// Deletes every Knative service labelled as ours (and as `run`'s, when given), in every namespace, and
/// nothing else. With `dry_run`, only lists them. Returns `namespace/name` of each.
pub fn clean(
    kubectl: &Kubectl,
    dry_run: bool,
    run: Option<&str>,
) -> Result<Vec<String>, DeployError> {
    let ours = kubectl.list_names(
        "ksvc",
        &kube::ours(run),
        "listing loadgen's Knative services",
    )?;
    if !dry_run {
        delete(kubectl, &ours)?;
    }
    Ok(ours)
}

/// Deletes the Knative services named `namespace/name`: one `kubectl delete` per namespace.
pub fn delete(kubectl: &Kubectl, services: &[String]) -> Result<(), DeployError> {
    Ok(kubectl.delete("ksvc", services, "deleting services")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_reads_knative_status() {
        let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let ready = json(
            r#"{"status":{"url":"http://a-1.default.1.2.3.4.sslip.io","conditions":[{"type":"Ready","status":"True"}]}}"#,
        );
        assert_eq!(readiness(&ready).unwrap(), "a-1.default.1.2.3.4.sslip.io");
        let not = json(
            r#"{"status":{"conditions":[{"type":"Ready","status":"False","reason":"RevisionFailed","message":"image pull"}]}}"#,
        );
        assert_eq!(
            readiness(&not).unwrap_err(),
            "Ready=False, RevisionFailed: image pull"
        );
        assert!(readiness(&json(r#"{"status":{}}"#)).is_err());
        assert!(readiness(&json(r#""nope""#)).is_err());
    }

    #[test]
    fn long_lists_are_summarised_and_written_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("list.txt");
        let few: Vec<String> = (0..3).map(|i| format!("ns/s{i}")).collect();
        assert_eq!(summarise(&few, &file), "ns/s0, ns/s1, ns/s2");
        assert!(!file.exists());
        let many: Vec<String> = (0..74).map(|i| format!("ns/s{i}")).collect();
        let text = summarise(&many, &file);
        assert!(
            text.starts_with("ns/s0, ns/s1, ns/s2, ns/s3, ns/s4 and 69 more"),
            "{text}"
        );
        assert!(!text.contains("ns/s5,"), "{text}");
        assert!(text.contains(&file.display().to_string()), "{text}");
        assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 74);
    }
}
