//! The cluster's scale during a run: per Knative service deployed, the pods its revisions' deployments
//! want (desired), have ready, and have pending; and the ready replicas of Knative's activator and
//! autoscaler. One `kubectl get deployments,pods --all-namespaces -o json` per interval, however many
//! services (not one call per service).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use deploy::kube::Kubectl;
use serde_json::Value;

use super::{unix_seconds, Collected, CsvOut, Sampler};

/// The CSV's columns.
pub const HEADER: [&str; 5] = ["time", "service", "desired", "ready", "pending"];

/// Knative's own components whose replicas are followed.
pub const COMPONENTS: [&str; 2] = ["activator", "autoscaler"];

/// Where Knative Serving runs.
const KNATIVE_NAMESPACE: &str = "knative-serving";

/// The label Knative puts on a service's deployments and pods.
const SERVICE_LABEL: &str = "serving.knative.dev/service";

/// Pods of one service (or component) at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pods {
    /// Replicas its deployments ask for.
    pub desired: u64,
    /// Replicas ready.
    pub ready: u64,
    /// Pods pending (scheduled or not, not yet running).
    pub pending: u64,
}

/// Counts, from one `kubectl get deployments,pods -o json` answer, the pods of each of `services`
/// (`namespace/name`) and of the activator and autoscaler (`knative-serving/activator`, …).
pub fn count(answer: &Value, services: &[String]) -> BTreeMap<String, Pods> {
    let mut out: BTreeMap<String, Pods> = services
        .iter()
        .cloned()
        .chain(
            COMPONENTS
                .iter()
                .map(|c| format!("{KNATIVE_NAMESPACE}/{c}")),
        )
        .map(|s| (s, Pods::default()))
        .collect();
    let items = answer["items"].as_array().map_or(&[][..], Vec::as_slice);
    for item in items {
        let meta = &item["metadata"];
        let namespace = meta["namespace"].as_str().unwrap_or("default");
        let owner = match meta["labels"][SERVICE_LABEL].as_str() {
            Some(service) => format!("{namespace}/{service}"),
            None if namespace == KNATIVE_NAMESPACE => {
                let name = meta["name"].as_str().unwrap_or_default();
                match COMPONENTS.iter().find(|c| **c == name) {
                    Some(c) => format!("{KNATIVE_NAMESPACE}/{c}"),
                    None => continue,
                }
            }
            None => continue,
        };
        let Some(pods) = out.get_mut(&owner) else {
            continue;
        };
        match item["kind"].as_str() {
            Some("Deployment") => {
                pods.desired += item["spec"]["replicas"].as_u64().unwrap_or(0);
                pods.ready += item["status"]["readyReplicas"].as_u64().unwrap_or(0);
            }
            Some("Pod") if item["status"]["phase"].as_str() == Some("Pending") => {
                pods.pending += 1;
            }
            _ => {}
        }
    }
    out
}

/// Samples the pods of `services` (`namespace/name`) with `kubectl` into `dir/kubernetes-scale.csv`
/// every `interval` until finished.
pub fn start(dir: &Path, kubectl: &Kubectl, services: Vec<String>, interval: Duration) -> Sampler {
    let path = dir.join("kubernetes-scale.csv");
    let what = "Kubernetes: desired, ready and pending pods per service; activator and autoscaler";
    let mut out = CsvOut::create(&path, &HEADER);
    let error = out.as_ref().err().cloned();
    let file = out.as_ref().ok().map(|o| o.path().to_owned());
    let kubectl = kubectl.clone();
    Sampler::start(
        "kubernetes-scale",
        interval,
        move || {
            let out = out.as_mut().map_err(|e| e.clone())?;
            let args = ["get", "deployments,pods", "--all-namespaces", "-o", "json"];
            let json = kubectl
                .json(&args, "sampling pods")
                .map_err(|e| e.to_string())?;
            let time = format!("{:.6}", unix_seconds(SystemTime::now()));
            let counted = count(&json, &services);
            for (service, p) in &counted {
                out.row([
                    time.clone(),
                    service.clone(),
                    p.desired.to_string(),
                    p.ready.to_string(),
                    p.pending.to_string(),
                ])?;
            }
            out.flush()?;
            Ok(counted.len())
        },
        move |rows, sample_error| Collected {
            name: "kubernetes-scale".into(),
            what: what.into(),
            file,
            rows,
            error: error.or(sample_error),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_are_counted_per_service_and_component() {
        let answer = serde_json::json!({"items": [
            {"kind": "Deployment", "metadata": {"namespace": "default", "name": "a-00001-deployment",
             "labels": {"serving.knative.dev/service": "a"}},
             "spec": {"replicas": 3}, "status": {"readyReplicas": 2}},
            {"kind": "Pod", "metadata": {"namespace": "default", "name": "a-1",
             "labels": {"serving.knative.dev/service": "a"}}, "status": {"phase": "Pending"}},
            {"kind": "Pod", "metadata": {"namespace": "default", "name": "a-2",
             "labels": {"serving.knative.dev/service": "a"}}, "status": {"phase": "Running"}},
            {"kind": "Deployment", "metadata": {"namespace": "default", "name": "other",
             "labels": {"serving.knative.dev/service": "not-ours"}}, "spec": {"replicas": 9}},
            {"kind": "Deployment", "metadata": {"namespace": "knative-serving", "name": "activator"},
             "spec": {"replicas": 2}, "status": {"readyReplicas": 2}},
        ]});
        let counted = count(&answer, &["default/a".to_owned(), "default/b".to_owned()]);
        assert_eq!(
            counted["default/a"],
            Pods {
                desired: 3,
                ready: 2,
                pending: 1
            }
        );
        assert_eq!(counted["default/b"], Pods::default());
        assert_eq!(counted["knative-serving/activator"].ready, 2);
        assert_eq!(counted["knative-serving/autoscaler"], Pods::default());
        assert!(!counted.contains_key("default/not-ours"));
    }
}
