//! Planning a Knative deployment: vSwarm's config.json, each proxy's YAML renamed and labelled into the
//! build directory, and the `deploy.sh` a dry run writes. Nothing here touches a cluster.

use std::path::{Path, PathBuf};
use std::time::Duration;

use profiles::Proxy;
use rand::Rng;
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use crate::kube::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::DeployError;

/// Longest service name we make: Knative names revisions `<service>-00001`, which must stay a 63-character
/// DNS label, so the service keeps 6 characters spare.
pub const MAX_SERVICE_NAME: usize = 57;
/// Random characters appended to each proxy name.
const SUFFIX_LEN: usize = 8;

/// One entry of vSwarm's config.json.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigEntry {
    /// The proxy's Knative YAML, relative to config.json.
    #[serde(rename = "yaml-location")]
    pub yaml_location: String,
    /// Shell commands run before the YAML is applied.
    #[serde(rename = "predeployment-commands", default)]
    pub predeployment_commands: Vec<String>,
    /// Shell commands run after it is applied.
    #[serde(rename = "postdeployment-commands", default)]
    pub postdeployment_commands: Vec<String>,
}

/// vSwarm's config.json: how to deploy each proxy.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The file.
    pub path: PathBuf,
    /// Its directory: YAML paths and commands are relative to it.
    pub dir: PathBuf,
    /// Its entries.
    pub entries: Vec<ConfigEntry>,
}

/// Strips `./` so `./yamls/a.yaml` and `yamls/a.yaml` compare equal.
fn normalise(path: &str) -> &str {
    let mut p = path.trim();
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    p
}

impl ProxyConfig {
    /// Reads a config.json.
    pub fn read(path: &Path) -> Result<ProxyConfig, DeployError> {
        let text = std::fs::read_to_string(path).map_err(|source| DeployError::Io {
            path: path.to_owned(),
            source,
        })?;
        let entries: Vec<ConfigEntry> =
            serde_json::from_str(&text).map_err(|e| DeployError::Config {
                path: path.to_owned(),
                reason: format!(
                    "line {} column {}: {e} (expected a list of {{yaml-location, predeployment-commands, postdeployment-commands}})",
                    e.line(),
                    e.column()
                ),
            })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        Ok(ProxyConfig {
            path: path.to_owned(),
            dir,
            entries,
        })
    }

    /// The entry deploying `proxy`: the one whose yaml-location is the proxy's `yaml` (profile.json), or,
    /// failing that, whose YAML file is `kn-<proxy name>.yaml`.
    pub fn entry_for(&self, proxy: &Proxy) -> Result<&ConfigEntry, DeployError> {
        let by_path = proxy.yaml.as_deref().and_then(|yaml| {
            self.entries
                .iter()
                .find(|e| normalise(&e.yaml_location) == normalise(yaml))
        });
        let file_name = format!("kn-{}.yaml", proxy.name);
        by_path
            .or_else(|| {
                self.entries.iter().find(|e| {
                    Path::new(normalise(&e.yaml_location))
                        .file_name()
                        .is_some_and(|f| f == file_name.as_str())
                })
            })
            .ok_or_else(|| DeployError::NoConfig {
                proxy: proxy.name.clone(),
                yaml: proxy.yaml.clone(),
                config: self.path.clone(),
            })
    }
}

/// A proxy ready to be deployed: its YAML written to the build directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedService {
    /// Proxy name.
    pub proxy: String,
    /// Knative service name.
    pub name: String,
    /// Namespace (the YAML's, or `default`).
    pub namespace: String,
    /// The rewritten YAML.
    pub yaml: PathBuf,
    /// Commands before `kubectl apply`.
    pub predeployment: Vec<String>,
    /// Commands after it.
    pub postdeployment: Vec<String>,
    /// Where commands run (config.json's directory).
    pub workdir: PathBuf,
}

impl PlannedService {
    /// `namespace/name`.
    pub fn qualified(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Whether `name` is a DNS-1035 label: lowercase letters, digits and `-`, starting with a letter, not
/// ending with `-`, at most 63 characters.
pub fn is_dns1035(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && *b.last().expect("not empty") != b'-'
}

/// The service name for `proxy` with `suffix`: the proxy name made a DNS-1035 label (lowercased, other
/// characters turned into `-`, a leading `p-` if it does not start with a letter), cut so that the whole
/// stays within [`MAX_SERVICE_NAME`].
pub fn service_name(proxy: &str, suffix: &str) -> String {
    let mut base: String = proxy
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !base.starts_with(|c: char| c.is_ascii_lowercase()) {
        base.insert_str(0, "p-");
    }
    base.truncate(MAX_SERVICE_NAME - suffix.len() - 1);
    let base = base.trim_end_matches('-');
    let mut collapsed = String::with_capacity(base.len());
    for c in base.chars() {
        if !(c == '-' && collapsed.ends_with('-')) {
            collapsed.push(c);
        }
    }
    format!("{collapsed}-{suffix}")
}

fn random_suffix(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..SUFFIX_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Rewrites a Knative YAML: `metadata.name` = `name`, our label added. Returns the new text and the
/// namespace. With several documents, the `serving.knative.dev` Service one is rewritten.
pub fn rewrite_yaml(
    text: &str,
    name: &str,
    annotations: &[(String, String)],
    extra_labels: &[(String, String)],
) -> Result<(String, String), String> {
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| e.to_string())?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    let index = match documents.len() {
        0 => return Err("no YAML document".into()),
        1 => 0,
        _ => documents
            .iter()
            .position(|d| {
                d.get("kind").and_then(Value::as_str) == Some("Service")
                    && d.get("apiVersion")
                        .and_then(Value::as_str)
                        .is_some_and(|a| a.starts_with("serving.knative.dev"))
            })
            .ok_or("several documents and none is a Knative Service")?,
    };
    let metadata = documents[index]
        .get_mut("metadata")
        .and_then(Value::as_mapping_mut)
        .ok_or("no metadata")?;
    if metadata.get("name").and_then(Value::as_str).is_none() {
        return Err("no metadata.name".into());
    }
    metadata.insert("name".into(), name.into());
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    let labels = metadata
        .entry("labels".into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if labels.is_null() {
        *labels = Value::Mapping(Mapping::new());
    }
    let labels = labels
        .as_mapping_mut()
        .ok_or("metadata.labels is not a mapping")?;
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    for (k, v) in extra_labels {
        labels.insert(k.as_str().into(), v.as_str().into());
    }
    if !annotations.is_empty() {
        // Autoscaling settings belong on the revision template: spec.template.metadata.annotations.
        let mut node = &mut documents[index];
        for key in ["spec", "template", "metadata", "annotations"] {
            let map = node
                .as_mapping_mut()
                .ok_or_else(|| format!("`{key}`'s parent is not a mapping"))?;
            let child = map
                .entry(key.into())
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            if child.is_null() {
                *child = Value::Mapping(Mapping::new());
            }
            node = child;
        }
        let map = node
            .as_mapping_mut()
            .ok_or("spec.template.metadata.annotations is not a mapping")?;
        for (k, v) in annotations {
            map.insert(k.as_str().into(), v.as_str().into());
        }
    }
    let mut out = String::new();
    for (i, d) in documents.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_yaml_ng::to_string(d).map_err(|e| e.to_string())?);
    }
    Ok((out, namespace))
}

/// Writes each proxy's rewritten YAML into `build_dir` and returns the plan, in the order given.
pub fn plan(
    config: &ProxyConfig,
    proxies: &[&Proxy],
    build_dir: &Path,
    annotations: &[(String, String)],
    labels: &[(String, String)],
) -> Result<Vec<PlannedService>, DeployError> {
    std::fs::create_dir_all(build_dir).map_err(|source| DeployError::Io {
        path: build_dir.to_owned(),
        source,
    })?;
    let mut rng = rand::rng();
    let mut planned = Vec::with_capacity(proxies.len());
    for proxy in proxies {
        let entry = config.entry_for(proxy)?;
        let source = config.dir.join(normalise(&entry.yaml_location));
        let yaml_error = |reason: String| DeployError::Yaml {
            proxy: proxy.name.clone(),
            path: source.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&source)
            .map_err(|e| yaml_error(format!("cannot read it: {e}")))?;
        let name = service_name(&proxy.name, &random_suffix(&mut rng));
        let (yaml, namespace) =
            rewrite_yaml(&text, &name, annotations, labels).map_err(yaml_error)?;
        let target = build_dir.join(format!("kn-{name}.yaml"));
        std::fs::write(&target, yaml).map_err(|source| DeployError::Io {
            path: target.clone(),
            source,
        })?;
        planned.push(PlannedService {
            proxy: proxy.name.clone(),
            name,
            namespace,
            yaml: std::path::absolute(&target).unwrap_or(target),
            predeployment: entry.predeployment_commands.clone(),
            postdeployment: entry.postdeployment_commands.clone(),
            workdir: config.dir.clone(),
        });
    }
    Ok(planned)
}

/// Quotes `s` for `sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Commands to run, in order, each distinct `(workdir, command)` once: several proxies often share a
/// pre-deployment step (a database), which vSwarm would re-run for each.
pub(super) fn steps(planned: &[PlannedService]) -> Vec<(usize, Step)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, s) in planned.iter().enumerate() {
        for c in &s.predeployment {
            if seen.insert((s.workdir.clone(), c.clone())) {
                out.push((i, Step::Shell("pre-deployment command", c.clone())));
            }
        }
        out.push((i, Step::Apply));
        for c in &s.postdeployment {
            if seen.insert((s.workdir.clone(), c.clone())) {
                out.push((i, Step::Shell("post-deployment command", c.clone())));
            }
        }
    }
    out
}

pub(super) enum Step {
    Shell(&'static str, String),
    Apply,
}

/// Writes `deploy.sh` (what [`deploy`] would run) into `build_dir`; for `--dry-run`.
pub fn write_script(
    planned: &[PlannedService],
    build_dir: &Path,
    ready_timeout: Duration,
) -> Result<PathBuf, DeployError> {
    let mut s = String::from(
        "#!/bin/sh\n# Written by `loadgen --deployer knative --dry-run`: what it would run.\nset -eu\n",
    );
    let mut workdir: Option<&Path> = None;
    for (i, step) in steps(planned) {
        let p = &planned[i];
        if workdir != Some(&p.workdir) {
            let abs = std::path::absolute(&p.workdir).unwrap_or(p.workdir.clone());
            s.push_str(&format!("cd {}\n", shell_quote(&abs.to_string_lossy())));
            workdir = Some(&p.workdir);
        }
        match step {
            Step::Shell(_, c) => s.push_str(&format!("sh -c {}\n", shell_quote(&c))),
            Step::Apply => s.push_str(&format!(
                "kubectl apply -f {}\n",
                shell_quote(&p.yaml.to_string_lossy())
            )),
        }
    }
    for p in planned {
        s.push_str(&format!(
            "kubectl wait --for=condition=Ready --timeout={}s -n {} ksvc/{}\n",
            ready_timeout.as_secs().max(1),
            shell_quote(&p.namespace),
            p.name
        ));
    }
    let path = build_dir.join("deploy.sh");
    std::fs::write(&path, s).map_err(|source| DeployError::Io {
        path: path.clone(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_dns1035_and_short_enough() {
        for proxy in [
            "aes-go-10-10",
            "Video_Analytics.Standalone-python-900",
            "9lives",
            "a-very-long-proxy-name-that-goes-on-and-on-and-on-and-on-forever-and-ever",
            "--",
        ] {
            let n = service_name(proxy, "ab12cd34");
            assert!(is_dns1035(&n), "{n}");
            assert!(n.len() <= MAX_SERVICE_NAME, "{n}");
            assert!(n.ends_with("-ab12cd34"), "{n}");
        }
        assert_eq!(service_name("aes-go-10-10", "x1"), "aes-go-10-10-x1");
        assert_eq!(service_name("A_B", "x1"), "a-b-x1");
        assert!(!is_dns1035("1abc") && !is_dns1035("abc-") && !is_dns1035("aBc"));
    }

    #[test]
    fn yaml_rewrite_renames_labels_and_keeps_the_rest() {
        let text = "\napiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: aes-go-10-10\n  namespace: bench\nspec:\n  template:\n    spec:\n      containers:\n        - image: x\n";
        let annotations = vec![(
            "autoscaling.knative.dev/metric".to_owned(),
            "rps".to_owned(),
        )];
        let (out, ns) = rewrite_yaml(
            text,
            "aes-go-10-10-abc",
            &annotations,
            &[("serverless-loadgen/run".into(), "r1".into())],
        )
        .unwrap();
        assert_eq!(ns, "bench");
        let v: Value = serde_yaml_ng::from_str(&out).unwrap();
        assert_eq!(v["metadata"]["name"].as_str(), Some("aes-go-10-10-abc"));
        assert_eq!(
            v["metadata"]["labels"][MANAGED_BY_LABEL].as_str(),
            Some(MANAGED_BY)
        );
        assert_eq!(
            v["metadata"]["labels"]["serverless-loadgen/run"].as_str(),
            Some("r1")
        );
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["image"].as_str(),
            Some("x")
        );
        assert_eq!(
            v["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/metric"]
                .as_str(),
            Some("rps")
        );
        let e =
            rewrite_yaml("kind: Service\nmetadata:\n  namespace: x\n", "n", &[], &[]).unwrap_err();
        assert!(e.contains("no metadata.name"), "{e}");
        assert!(rewrite_yaml("", "n", &[], &[]).is_err());
        let two = "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: c\n---\nkind: Service\napiVersion: serving.knative.dev/v1\nmetadata:\n  name: s\n";
        let (out, ns) = rewrite_yaml(two, "s-1", &[], &[]).unwrap();
        assert_eq!(ns, "default");
        assert!(
            out.contains("name: c") && out.contains("name: s-1"),
            "{out}"
        );
    }
}
