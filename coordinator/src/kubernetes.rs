//! `--launcher kubernetes`: the workers are the pods of one Indexed Job (pod K replays shard
//! `$(JOB_COMPLETION_INDEX)`), spread over nodes. `loadgen` drives it with `kubectl apply -f`,
//! `kubectl get … -o json`, `kubectl delete KIND NAME` and `kubectl logs` only, so any conforming
//! `kubectl` works. The Job carries our label and the run's, so cleaning up never touches anything else.

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use deploy::kube::{self, Kubectl, INDEX_LABEL, MANAGED_BY, MANAGED_BY_LABEL, RUN_LABEL};

/// Where the image installs the tools.
pub const IMAGE_INVOKER: &str = "/usr/local/bin/invoker";
/// The default image (built from the repository's Dockerfile).
pub const DEFAULT_IMAGE: &str = "serverless-loadgen:latest";
/// The pods' working directory (an emptyDir volume).
pub const POD_WORK_DIR: &str = "/work";

/// How the Job is made.
#[derive(Debug, Clone)]
pub struct KubernetesOptions {
    /// The `kubectl` to run.
    pub kubectl: Kubectl,
    /// Namespace of the Job.
    pub namespace: String,
    /// Node labels the pods must match.
    pub node_selector: Vec<(String, String)>,
    /// The image holding `invoker`.
    pub image: String,
    /// Resources each pod asks for (and is limited to): `cpu=2`, `memory=1Gi`.
    pub resources: Vec<(String, String)>,
}

/// The Job's name for a run.
pub fn job_name(run_id: &str) -> String {
    format!("loadgen-invokers-{run_id}")
}

/// The name of the Secret holding the run's token and what the workers' calls need from the environment
/// (header `$VAR`s, AWS credentials).
pub fn secret_name(run_id: &str) -> String {
    format!("loadgen-invokers-{run_id}-env")
}

/// The Secret of `values` (name, value) for the run's workers, labelled like the Job. It is applied
/// through `kubectl apply -f -`, so its values are never on a command line or in a file.
pub fn secret_manifest(run_id: &str, namespace: &str, values: &[(String, String)]) -> Value {
    let data: serde_json::Map<String, Value> =
        values.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": secret_name(run_id),
            "namespace": namespace,
            "labels": { MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: run_id },
        },
        "stringData": data,
    })
}

/// The Job manifest: `workers` pods running `invoker` with `args` (in which `$(JOB_COMPLETION_INDEX)`
/// stands for the pod's index), their environment from the run's Secret; it ends
/// after `deadline_seconds` whatever happens, and is removed 10 minutes after it finishes if `loadgen`
/// could not delete it.
pub fn manifest(
    run_id: &str,
    workers: u32,
    args: &[String],
    options: &KubernetesOptions,
    (deadline_seconds, grace_seconds): (u64, u64),
) -> Value {
    let labels = json!({ MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: run_id });
    let mut pod_labels = labels.clone();
    pod_labels["app.kubernetes.io/name"] = json!("invoker");
    let resources: serde_json::Map<String, Value> = options
        .resources
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut pod = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": grace_seconds,
        "topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": { "matchLabels": { RUN_LABEL: run_id } },
        }],
        "containers": [{
            "name": "invoker",
            "image": options.image,
            "command": [IMAGE_INVOKER],
            "args": args,
            // The run's token and the calls' variables: never in this manifest, its arguments or a log.
            "envFrom": [{ "secretRef": { "name": secret_name(run_id) } }],
            "volumeMounts": [{ "name": "work", "mountPath": POD_WORK_DIR }],
        }],
        "volumes": [{ "name": "work", "emptyDir": {} }],
    });
    if !resources.is_empty() {
        pod["containers"][0]["resources"] =
            json!({ "requests": resources.clone(), "limits": resources });
    }
    if !options.node_selector.is_empty() {
        let selector: serde_json::Map<String, Value> = options
            .node_selector
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        pod["nodeSelector"] = Value::Object(selector);
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(run_id),
            "namespace": options.namespace,
            "labels": labels,
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": workers,
            "parallelism": workers,
            // A worker run again would replay its share at the wrong time: a failed pod stays failed.
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_seconds,
            "ttlSecondsAfterFinished": 600,
            "template": { "metadata": { "labels": pod_labels }, "spec": pod },
        },
    })
}

/// The manifest as YAML.
pub fn to_yaml(manifest: &Value) -> String {
    serde_yaml_ng::to_string(manifest).expect("a JSON value is valid YAML")
}

/// The commands a run gives `kubectl`, for `--dry-run` to print; `variables` are those the workers'
/// Secret would hold beside the run's token.
pub fn commands(
    kubectl: &Kubectl,
    file: &Path,
    run_id: &str,
    namespace: &str,
    variables: &[String],
) -> Vec<String> {
    let job = job_name(run_id);
    let workers_of_run = format!("{RUN_LABEL}={run_id},{INDEX_LABEL}=K");
    let held = std::iter::once(formats::transfer::TOKEN_ENV.to_owned() + " (the run's token)")
        .chain(
            variables
                .iter()
                .map(|v| v.clone() + " (from this machine's environment)"),
        )
        .collect::<Vec<_>>();
    let mut commands = vec![format!(
        "{}   (Secret {} in {namespace}: {})",
        kubectl.shown(&["apply", "-f", "-"]),
        secret_name(run_id),
        held.join(", ")
    )];
    commands.extend([
        kubectl.shown(&["apply", "-f", &file.display().to_string()]),
        kubectl.shown(&["get", "job", &job, "-n", namespace, "-o", "json"]),
        kubectl.shown(&["logs", "-n", namespace, "-l", &workers_of_run, "--tail=5"])
            + "   (worker K, if lost)",
        kubectl.shown(&["delete", "job", "-n", namespace, &job]),
        kubectl.shown(&["delete", "secret", "-n", namespace, &secret_name(run_id)]),
    ]);
    commands
}

/// The Secret of `variables` with their values from `env`: none when there are none; an error names a
/// variable that is not set (`AWS_SESSION_TOKEN` may be absent).
pub fn secret_values(
    variables: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>> {
    let mut values = Vec::new();
    for name in variables {
        match env(name) {
            Some(value) => values.push((name.clone(), value)),
            None if name == "AWS_SESSION_TOKEN" => {}
            None => anyhow::bail!(
                "the environment variable `{name}` is not set here: the workers' calls need it (their Secret \
                 is made from this machine's environment)"
            ),
        }
    }
    Ok(values)
}

/// A Job this run created, and its Secret.
#[derive(Debug)]
pub struct Job {
    kubectl: Kubectl,
    name: String,
    namespace: String,
    run_id: String,
    deleted: bool,
}

/// What `kubectl get job` says of the workers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStatus {
    /// Indexes whose pod failed.
    pub failed: Vec<u32>,
    /// Indexes whose pod succeeded.
    pub succeeded: Vec<u32>,
    /// Why the whole Job failed, if it did (deadline passed, pod failed with no retries left).
    pub job_failed: Option<String>,
}

/// Parses Kubernetes' index lists: `1,3-5,7`.
pub fn parse_indexes(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend(a..=b.min(a.saturating_add(100_000)));
                }
            }
            None => out.extend(part.parse::<u32>()),
        }
    }
    out
}

impl Job {
    /// Applies `secret` (the workers' environment, through standard input), then `file` (the Job's
    /// manifest). The Secret goes with the Job, whatever happens.
    pub fn apply(
        options: &KubernetesOptions,
        run_id: &str,
        file: &Path,
        secret: &Value,
    ) -> Result<Job> {
        let job = Job {
            kubectl: options.kubectl.clone(),
            name: job_name(run_id),
            namespace: options.namespace.clone(),
            run_id: run_id.to_owned(),
            deleted: false,
        };
        // A Job that is not applied still takes its Secret with it when dropped.
        options.kubectl.run_with_input(
            &["apply", "-f", "-"],
            &to_yaml(secret),
            "creating the workers' Secret",
        )?;
        options.kubectl.run(
            &["apply", "-f", &file.display().to_string()],
            "creating the workers' Job",
        )?;
        Ok(job)
    }

    /// The Job's state.
    pub fn status(&self) -> Result<JobStatus> {
        let args = [
            "get",
            "job",
            &self.name,
            "-n",
            &self.namespace,
            "-o",
            "json",
        ];
        let job = self.kubectl.json(&args, "reading the workers' Job")?;
        let status = &job["status"];
        let indexes = |key: &str| parse_indexes(status[key].as_str().unwrap_or(""));
        let job_failed = status["conditions"].as_array().and_then(|conditions| {
            conditions
                .iter()
                .find(|c| c["type"] == "Failed" && c["status"] == "True")
                .map(|c| {
                    format!(
                        "{}: {}",
                        c["reason"].as_str().unwrap_or("Failed"),
                        c["message"].as_str().unwrap_or("")
                    )
                })
        });
        Ok(JobStatus {
            failed: indexes("failedIndexes"),
            succeeded: indexes("completedIndexes"),
            job_failed,
        })
    }

    /// The last lines of pod K's output, or why they could not be had.
    pub fn logs(&self, k: u32) -> String {
        let selector = format!("{RUN_LABEL}={},{INDEX_LABEL}={k}", self.run_id);
        self.kubectl
            .run(
                &["logs", "-n", &self.namespace, "-l", &selector, "--tail=5"],
                "reading a worker's logs",
            )
            .unwrap_or_else(|e| format!("(no logs: {e})"))
    }

    /// Deletes the Job (its pods get SIGTERM, then send back what they have) and its Secret.
    pub fn delete(&mut self) -> Result<()> {
        if !self.deleted {
            self.deleted = true;
            let job = format!("{}/{}", self.namespace, self.name);
            let deleted = self
                .kubectl
                .delete("job", &[job], "deleting the workers' Job");
            // The Secret goes even when the Job could not be deleted (or was never made).
            let secret = format!("{}/{}", self.namespace, secret_name(&self.run_id));
            self.kubectl
                .delete("secret", &[secret], "deleting the workers' Secret")?;
            deleted?;
        }
        Ok(())
    }
}

impl Drop for Job {
    /// The Job never outlives the run, whatever ended it.
    fn drop(&mut self) {
        if let Err(e) = self.delete() {
            log::warn!("{e:#}");
        }
    }
}

/// Every Job carrying our label (and `run`'s, when given), in all namespaces, as `namespace/name`.
pub fn list_jobs(kubectl: &Kubectl, run: Option<&str>) -> Result<Vec<String>> {
    Ok(kubectl.list_names("jobs", &kube::ours(run), "listing loadgen's Jobs")?)
}

/// `namespace/name` of every workers' Secret labelled as ours (and `run`'s, if given): what a run left
/// when it could not delete its Secret.
pub fn list_secrets(kubectl: &Kubectl, run: Option<&str>) -> Result<Vec<String>> {
    Ok(kubectl.list_names("secrets", &kube::ours(run), "listing loadgen's Secrets")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> KubernetesOptions {
        KubernetesOptions {
            kubectl: Kubectl::default(),
            namespace: "load".into(),
            node_selector: vec![("role".into(), "worker".into())],
            image: "example/loadgen:1".into(),
            resources: vec![("cpu".into(), "2".into())],
        }
    }

    #[test]
    fn the_job_is_indexed_labelled_spread_and_names_its_command() {
        let args = vec!["--worker".to_owned(), "$(JOB_COMPLETION_INDEX)".to_owned()];
        let m = manifest("r1", 4, &args, &options(), (300, 40));
        assert_eq!(m["kind"], "Job");
        assert_eq!(m["metadata"]["name"], "loadgen-invokers-r1");
        assert_eq!(m["metadata"]["namespace"], "load");
        assert_eq!(m["metadata"]["labels"][MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(m["metadata"]["labels"][RUN_LABEL], "r1");
        let spec = &m["spec"];
        assert_eq!(spec["completionMode"], "Indexed");
        assert_eq!(
            (spec["completions"].as_u64(), spec["parallelism"].as_u64()),
            (Some(4), Some(4))
        );
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["nodeSelector"]["role"], "worker");
        assert_eq!(
            pod["topologySpreadConstraints"][0]["topologyKey"],
            "kubernetes.io/hostname"
        );
        let c = &pod["containers"][0];
        assert_eq!(c["command"][0], IMAGE_INVOKER);
        assert_eq!(c["args"][1], "$(JOB_COMPLETION_INDEX)");
        assert_eq!(c["resources"]["limits"]["cpu"], "2");
        assert_eq!(
            c["envFrom"][0]["secretRef"]["name"],
            "loadgen-invokers-r1-env"
        );
        let yaml = to_yaml(&m);
        let back: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn the_workers_environment_travels_in_a_secret_never_in_the_job() {
        let args = vec![
            "--header".to_owned(),
            "Authorization: Bearer $TOKEN".to_owned(),
        ];
        let m = manifest("r1", 2, &args, &options(), (300, 40));
        let c = &m["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            c["envFrom"][0]["secretRef"]["name"],
            "loadgen-invokers-r1-env"
        );
        let values = secret_values(&["TOKEN".into(), "AWS_SESSION_TOKEN".into()], |n| {
            (n == "TOKEN").then(|| "s3cret".to_owned())
        })
        .unwrap();
        assert_eq!(values, [("TOKEN".to_owned(), "s3cret".to_owned())]);
        let secret = secret_manifest("r1", "load", &values);
        assert_eq!(secret["kind"], "Secret");
        assert_eq!(secret["stringData"]["TOKEN"], "s3cret");
        assert_eq!(secret["metadata"]["labels"][RUN_LABEL], "r1");
        assert!(!to_yaml(&m).contains("s3cret"));
        let e = secret_values(&["TOKEN".into()], |_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`TOKEN` is not set here"), "{e}");
        let shown = commands(
            &Kubectl::default(),
            Path::new("job.yaml"),
            "r1",
            "load",
            &["TOKEN".into()],
        );
        assert!(
            shown[0].starts_with("kubectl apply -f -")
                && shown[0].contains("LOADGEN_COORDINATOR_TOKEN (the run's token), TOKEN"),
            "{shown:?}"
        );
        assert_eq!(
            shown.last().unwrap(),
            "kubectl delete secret -n load loadgen-invokers-r1-env"
        );
    }

    #[test]
    fn the_image_installs_the_binary_the_job_runs() {
        let dockerfile = include_str!("../../Dockerfile");
        let installed = dockerfile
            .lines()
            .find(|l| l.starts_with("COPY --from=binaries"))
            .unwrap();
        assert!(installed.ends_with(" /usr/local/bin/"), "{installed}");
        for binary in ["invoker", "emulated-function", "loadgen"] {
            assert!(
                installed.contains(&format!("/out/{binary} ")),
                "{binary}: {installed}"
            );
        }
        assert_eq!(IMAGE_INVOKER, "/usr/local/bin/invoker");
    }

    #[test]
    fn index_lists_parse() {
        assert_eq!(parse_indexes("1,3-5,7"), [1, 3, 4, 5, 7]);
        assert_eq!(parse_indexes(""), Vec::<u32>::new());
        assert_eq!(parse_indexes("x,2"), [2]);
    }
}
