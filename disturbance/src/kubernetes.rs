//! Disturbances in a Kubernetes cluster, through the one `kube` module (`deploy::kube`), so labels and
//! namespaces follow one set of rules: interference as a labelled Job per entry, scheduled by node
//! selector, from the project's image (which holds stress-ng and iperf3); and pods deleted by
//! selection, where only pods listed by the selection (their labels checked again) can be deleted.

use deploy::kube::{Kubectl, MANAGED_BY, MANAGED_BY_LABEL, RUN_LABEL};
use serde_json::{json, Value};

use crate::local::stress_args;
use crate::spec::{Interference, InterferenceKind, Place, PodSelection};

/// The label that names an interference Job's entry.
pub const ENTRY_LABEL: &str = "serverless-loadgen/interference";

/// The Job of interference entry `entry` of run `run_id`.
pub fn job_name(run_id: &str, entry: usize) -> String {
    format!("loadgen-interference-{run_id}-{entry}")
}

/// The command an interference runs in its pod, for `seconds`.
fn command(kind: &InterferenceKind, seconds: f64) -> Vec<String> {
    let timeout = format!("{}s", seconds.ceil() as u64);
    if let Some(mut args) = stress_args(kind) {
        args.insert(0, "stress-ng".into());
        args.extend(["--timeout".into(), timeout, "--metrics-brief".into()]);
        return args;
    }
    match kind {
        InterferenceKind::Network { bitrate_bps, to } => {
            let to = to.clone().unwrap_or_default();
            let (host, port) = to.rsplit_once(':').unwrap_or((&to, "5201"));
            vec![
                "iperf3".into(),
                "-c".into(),
                host.into(),
                "-p".into(),
                port.into(),
                "-b".into(),
                bitrate_bps.to_string(),
                "-t".into(),
                format!("{}", seconds.ceil() as u64),
            ]
        }
        InterferenceKind::Command { run } => vec!["sh".into(), "-c".into(), run.clone()],
        _ => unreachable!("stress-ng's kinds are above"),
    }
}

/// The Job manifest of `interference` (entry `entry`) of run `run_id`, in `namespace`, from `image`.
pub fn manifest(
    interference: &Interference,
    entry: usize,
    (run_id, namespace, image): (&str, &str, &str),
) -> Value {
    let Place::Nodes(labels) = &interference.place else {
        unreachable!("a local interference has no Job")
    };
    let selector: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let labels = json!({
        MANAGED_BY_LABEL: MANAGED_BY,
        RUN_LABEL: run_id,
        ENTRY_LABEL: entry.to_string(),
    });
    let seconds = interference.stop_s - interference.start_s;
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(run_id, entry), "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": selector,
                    "containers": [{
                        "name": "interference",
                        "image": image,
                        "command": command(&interference.kind, seconds),
                    }],
                },
            },
        },
    })
}

/// Nodes whose labels hold all of `labels`: asked once, before the run starts.
pub fn nodes_matching(
    kubectl: &Kubectl,
    labels: &[(String, String)],
) -> Result<Vec<String>, String> {
    let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let nodes = kubectl
        .list(
            "nodes",
            &selector.join(","),
            "finding the interference's nodes",
        )
        .map_err(|e| e.to_string())?;
    // Nodes have no namespace: their names alone.
    Ok(nodes
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned))
        .collect())
}

/// Deletes the pods `selection` holds, now: only pods the listing returned with their labels checked
/// again; their `namespace/name`s. An empty selection deletes nothing.
pub fn delete_pods(kubectl: &Kubectl, selection: &PodSelection) -> Result<Vec<String>, String> {
    let stage = "deleting pods (a fault)";
    let pods = kubectl
        .list_in("pods", &selection.namespace, &selection.selector, stage)
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = pods
        .iter()
        .filter_map(deploy::kube::qualified_name)
        .collect();
    if !names.is_empty() {
        kubectl
            .delete("pods", &names, stage)
            .map_err(|e| e.to_string())?;
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_interference_is_a_labelled_job_on_its_nodes() {
        let i: Interference = "cpu:threads=2,load=50,start=1,stop=4,where=nodes:role=worker"
            .parse()
            .unwrap();
        let m = manifest(&i, 0, ("r1", "default", "img"));
        assert_eq!(m["metadata"]["labels"][RUN_LABEL], "r1");
        let pod = &m["spec"]["template"]["spec"];
        assert_eq!(pod["nodeSelector"]["role"], "worker");
        let command: Vec<&str> = pod["containers"][0]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            command[..5],
            ["stress-ng", "--cpu", "2", "--cpu-load", "50"]
        );
        assert!(command.contains(&"3s"));
    }
}
