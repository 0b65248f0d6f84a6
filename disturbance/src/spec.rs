//! What a run is told to disturb, as `--interference KIND:key=value,…` and `--fault AT:ACTION[:key=value,…]`
//! write it; an experiment's `[[interference]]` and `[[faults]]` tables have the same keys and become
//! these flags ([`flag_text`]). Everything is parsed and checked here, before anything starts.

use std::fmt;

/// A value a user wrote that cannot be used, and why (the caller adds the file and line, or the flag).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

fn invalid<T>(message: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError(message.into()))
}

/// Where an interference runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    /// On this machine, off the dispatcher's CPU.
    Local,
    /// On each Kubernetes node whose labels hold all of these (`where = "nodes:k=v"`), as a Job.
    Nodes(Vec<(String, String)>),
}

/// What an interference does.
#[derive(Debug, Clone, PartialEq)]
pub enum InterferenceKind {
    /// `threads` stress-ng CPU workers, each busy `load` % of the time.
    Cpu { threads: u32, load: u32 },
    /// `mib` of memory held and touched (stress-ng's `--vm` keeping its pages).
    Memory { mib: u64 },
    /// `mib` streamed over and over at full speed (stress-ng's `--stream`), loading memory bandwidth.
    MemoryBandwidth { mib: u64 },
    /// iperf3 sending at `bitrate_bps` to `to` (`host[:port]` of an iperf3 server; by default one the
    /// run starts on loopback).
    Network {
        bitrate_bps: u64,
        to: Option<String>,
    },
    /// Any shell command, started and ended like the others.
    Command { run: String },
}

impl InterferenceKind {
    /// Its name, as written.
    pub fn name(&self) -> &'static str {
        match self {
            InterferenceKind::Cpu { .. } => "cpu",
            InterferenceKind::Memory { .. } => "memory",
            InterferenceKind::MemoryBandwidth { .. } => "memory-bandwidth",
            InterferenceKind::Network { .. } => "network",
            InterferenceKind::Command { .. } => "command",
        }
    }
}

/// One interference window.
#[derive(Debug, Clone, PartialEq)]
pub struct Interference {
    /// What runs.
    pub kind: InterferenceKind,
    /// From this second of the replay.
    pub start_s: f64,
    /// To this one.
    pub stop_s: f64,
    /// Where.
    pub place: Place,
    /// As written.
    pub text: String,
}

/// Which of a function's instances a fault kills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Share {
    /// Every one.
    All,
    /// This many.
    Count(u32),
    /// This percentage, rounded up.
    Percent(f64),
}

/// Pods in `namespace` whose labels hold `selector` (`k=v[,k=v]`).
#[derive(Debug, Clone, PartialEq)]
pub struct PodSelection {
    /// Their namespace.
    pub namespace: String,
    /// Their labels.
    pub selector: String,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Kills instances of a local fleet's function (every function's, when none is named).
    KillInstances {
        function: Option<String>,
        share: Share,
    },
    /// Stops local worker `worker` (SIGSTOP) for `seconds`, then lets it go on (SIGCONT).
    PauseWorker { worker: u32, seconds: f64 },
    /// Kills local worker `worker` (SIGKILL).
    KillWorker { worker: u32 },
    /// Deletes the pods each selection holds (Kubernetes).
    DeletePods { selections: Vec<PodSelection> },
    /// Runs a shell command (a node's kubelet restarted over ssh, say).
    Command { run: String },
}

impl FaultAction {
    /// Its name, as written.
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::KillInstances { .. } => "kill-instances",
            FaultAction::PauseWorker { .. } => "pause-worker",
            FaultAction::KillWorker { .. } => "kill-worker",
            FaultAction::DeletePods { .. } => "delete-pods",
            FaultAction::Command { .. } => "command",
        }
    }
}

/// One fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// At this second of the replay.
    pub at_s: f64,
    /// What it does.
    pub action: FaultAction,
    /// As written.
    pub text: String,
}

/// Knative's control plane (`delete-pods:control_plane`): the autoscaler, the controller and the
/// webhook in `knative-serving`. etcd, the API server and the scheduler are static pods that only
/// their node's kubelet restarts: a `command` fault (`ssh node sudo systemctl restart kubelet`) is the
/// way to hit those, as invitro does.
pub const CONTROL_PLANE: [&str; 3] = ["app=autoscaler", "app=controller", "app=webhook"];
/// The namespace of Knative Serving's pods.
pub const KNATIVE_NAMESPACE: &str = "knative-serving";
/// The data plane's ingress gateway by default (`delete-pods:data_plane`): Kourier's, in
/// `kourier-system` (`ingress-namespace` and `ingress-selector` name another, Istio's say).
pub const KOURIER: (&str, &str) = ("kourier-system", "app=3scale-kourier-gateway");

/// `key=value` pairs of a flag's tail; the key `run` takes the rest of the text as it is (a command
/// may hold commas), so it comes last.
fn pairs(text: &str) -> Result<Vec<(String, String)>, SpecError> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(command) = rest.strip_prefix("run=") {
            out.push(("run".to_owned(), command.to_owned()));
            break;
        }
        let (pair, tail) = rest.split_once(',').unwrap_or((rest, ""));
        let Some((key, value)) = pair.split_once('=') else {
            return invalid(format!("`{pair}` is not key=value"));
        };
        out.push((key.trim().to_owned(), value.trim().to_owned()));
        rest = tail;
    }
    Ok(out)
}

/// The flag text of a table's `kind` and its other keys: `kind:key=value,…`, `run` last.
pub fn flag_text(kind: &str, keys: &[(String, String)]) -> String {
    let mut keys: Vec<&(String, String)> = keys.iter().collect();
    keys.sort_by_key(|(k, _)| k == "run");
    let tail: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{kind}:{}", tail.join(","))
}

/// `text` (a flag's `KIND:…` or `AT:ACTION:…`) with `key` set to `value`: an experiment's swept level
/// (`"interference.0.load" = [0, 50, 100]`).
pub fn with_key(text: &str, key: &str, value: &str) -> Result<String, SpecError> {
    let (head, tail) = split_head(text)?;
    let mut keys = pairs(tail)?;
    match keys.iter_mut().find(|(k, _)| k == key) {
        Some(pair) => pair.1 = value.to_owned(),
        None => keys.push((key.to_owned(), value.to_owned())),
    }
    Ok(flag_text(head, &keys))
}

/// The value of `key` in `text`, if set.
pub fn key_of(text: &str, key: &str) -> Option<String> {
    let (_, tail) = split_head(text).ok()?;
    pairs(tail)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// `KIND` and the rest of `KIND:…`, or `AT:ACTION` and the rest of `AT:ACTION:…`.
fn split_head(text: &str) -> Result<(&str, &str), SpecError> {
    let first = text.find(':');
    match first {
        Some(i) if text[..i].trim().parse::<f64>().is_ok() => {
            let after = &text[i + 1..];
            match after.find(':') {
                Some(j) => Ok((&text[..i + 1 + j], &after[j + 1..])),
                None => Ok((text, "")),
            }
        }
        Some(i) => Ok((&text[..i], &text[i + 1..])),
        None => Ok((text, "")),
    }
}

/// A key's value as a number in `range`.
fn number<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(
    key: &str,
    value: &str,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, SpecError> {
    match value.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => invalid(format!(
            "`{key}` = `{value}`: expected a number from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

/// Seconds: a finite number ≥ 0.
fn seconds(key: &str, value: &str) -> Result<f64, SpecError> {
    number(key, value, 0.0..=1e9)
}

/// A bitrate in bits per second: a number with an optional `K`, `M` or `G` (powers of 1000), as iperf3
/// writes it (`100M`, `1.5G`).
pub fn parse_bitrate(text: &str) -> Result<u64, SpecError> {
    let t = text.trim();
    let (digits, scale) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    match digits.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 && n * scale < 1e13 => Ok((n * scale).round() as u64),
        _ => invalid(format!(
            "bitrate `{text}` cannot be parsed: write bits per second with an optional K, M or G (`100M`)"
        )),
    }
}

/// Node labels of `nodes:k=v[,k=v]`.
fn place(value: &str) -> Result<Place, SpecError> {
    if value == "local" {
        return Ok(Place::Local);
    }
    let Some(labels) = value.strip_prefix("nodes:") else {
        return invalid(format!(
            "`where` = `{value}`: expected `local` or `nodes:LABEL=VALUE[,LABEL=VALUE]`"
        ));
    };
    let mut out = Vec::new();
    for pair in labels.split(['+', ',']).filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_owned(), v.to_owned())),
            _ => return invalid(format!("`where` = `{value}`: `{pair}` is not LABEL=VALUE")),
        }
    }
    if out.is_empty() {
        return invalid("`where` = `nodes:`: no label given");
    }
    Ok(Place::Nodes(out))
}

impl std::str::FromStr for Interference {
    type Err = SpecError;

    /// `KIND:key=value,…`: `cpu:threads=1,load=100,start=2,stop=4`.
    fn from_str(text: &str) -> Result<Interference, SpecError> {
        let (kind, tail) = split_head(text)?;
        let keys = pairs(tail)?;
        let get = |key: &str| keys.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let allowed: &[&str] = match kind {
            "cpu" => &["threads", "load"],
            "memory" | "memory-bandwidth" => &["mib"],
            "network" => &["bitrate", "to"],
            "command" => &["run"],
            other => {
                return invalid(format!(
                    "unknown interference kind `{other}` (the kinds are cpu, memory, memory-bandwidth, network, command)"
                ))
            }
        };
        for (key, _) in &keys {
            if !["start", "stop", "where"].contains(&key.as_str())
                && !allowed.contains(&key.as_str())
            {
                return invalid(format!(
                    "`{key}` is not a key of a {kind} interference (its keys: start, stop, where, {})",
                    allowed.join(", ")
                ));
            }
        }
        let required = |key: &str| {
            get(key).ok_or_else(|| SpecError(format!("a {kind} interference needs `{key}`")))
        };
        let kind = match kind {
            "cpu" => InterferenceKind::Cpu {
                threads: number("threads", get("threads").unwrap_or("1"), 1..=4096)?,
                load: number("load", get("load").unwrap_or("100"), 0..=100)?,
            },
            "memory" => InterferenceKind::Memory {
                mib: number("mib", required("mib")?, 1..=1 << 24)?,
            },
            "memory-bandwidth" => InterferenceKind::MemoryBandwidth {
                mib: number("mib", required("mib")?, 1..=1 << 24)?,
            },
            "network" => InterferenceKind::Network {
                bitrate_bps: parse_bitrate(required("bitrate")?)?,
                to: get("to").map(str::to_owned),
            },
            _ => InterferenceKind::Command {
                run: required("run")?.to_owned(),
            },
        };
        let start_s = seconds("start", get("start").unwrap_or("0"))?;
        let stop_s = seconds("stop", required("stop")?)?;
        if stop_s <= start_s {
            return invalid(format!(
                "the window ends (stop = {stop_s} s) before it starts (start = {start_s} s)"
            ));
        }
        Ok(Interference {
            kind,
            start_s,
            stop_s,
            place: place(get("where").unwrap_or("local"))?,
            text: text.to_owned(),
        })
    }
}

/// `delete-pods`' selections: a preset, or `namespace` and `selector`.
fn pod_selections(keys: &[(String, String)]) -> Result<Vec<PodSelection>, SpecError> {
    let get = |key: &str| keys.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let knative = |selector: &str| PodSelection {
        namespace: get("namespace").unwrap_or_else(|| KNATIVE_NAMESPACE.to_owned()),
        selector: selector.to_owned(),
    };
    match get("preset").as_deref() {
        Some("control_plane") => Ok(CONTROL_PLANE.iter().map(|s| knative(s)).collect()),
        Some("data_plane") => Ok(vec![
            knative("app=activator"),
            PodSelection {
                namespace: get("ingress-namespace").unwrap_or_else(|| KOURIER.0.to_owned()),
                selector: get("ingress-selector").unwrap_or_else(|| KOURIER.1.to_owned()),
            },
        ]),
        Some(other) => invalid(format!(
            "unknown preset `{other}` (the presets are control_plane and data_plane)"
        )),
        None => match (get("namespace"), get("selector")) {
            (Some(namespace), Some(selector)) if selector.contains('=') => {
                Ok(vec![PodSelection { namespace, selector }])
            }
            _ => invalid(
                "delete-pods needs a preset (control_plane, data_plane) or `namespace` and `selector` (LABEL=VALUE)",
            ),
        },
    }
}

impl std::str::FromStr for Fault {
    type Err = SpecError;

    /// `AT:ACTION[:key=value,…]`: `3:kill-worker:worker=1`, `5:delete-pods:control_plane`.
    fn from_str(text: &str) -> Result<Fault, SpecError> {
        let Some((at, rest)) = text.split_once(':') else {
            return invalid("expected AT:ACTION[:key=value,…] (`3:kill-worker:worker=1`)");
        };
        let at_s = seconds("at", at.trim())?;
        let (action, tail) = rest.split_once(':').unwrap_or((rest, ""));
        // A bare preset: `delete-pods:control_plane`.
        let tail = match tail {
            "control_plane" | "data_plane" => format!("preset={tail}"),
            t => t.to_owned(),
        };
        let keys = pairs(&tail)?;
        let get = |key: &str| keys.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let allowed: &[&str] = match action {
            "kill-instances" => &["function", "count", "percent", "all"],
            "pause-worker" => &["worker", "seconds"],
            "kill-worker" => &["worker"],
            "delete-pods" => &[
                "preset",
                "namespace",
                "selector",
                "ingress-namespace",
                "ingress-selector",
            ],
            "command" => &["run"],
            other => {
                return invalid(format!(
                "unknown fault action `{other}` (the actions are kill-instances, pause-worker, kill-worker, delete-pods, command)"
            ))
            }
        };
        if let Some((key, _)) = keys.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return invalid(format!(
                "`{key}` is not a key of {action} (its keys: {})",
                allowed.join(", ")
            ));
        }
        let required =
            |key: &str| get(key).ok_or_else(|| SpecError(format!("{action} needs `{key}`")));
        let worker = || number("worker", required("worker")?, 0..=u32::MAX);
        let action = match action {
            "kill-instances" => FaultAction::KillInstances {
                function: get("function").map(str::to_owned),
                share: match (get("count"), get("percent")) {
                    (Some(_), Some(_)) => {
                        return invalid("kill-instances takes `count` or `percent`, not both")
                    }
                    (Some(n), None) => Share::Count(number("count", n, 1..=u32::MAX)?),
                    (None, Some(p)) => Share::Percent(number("percent", p, 0.0..=100.0)?),
                    (None, None) => Share::All,
                },
            },
            "pause-worker" => FaultAction::PauseWorker {
                worker: worker()?,
                seconds: number("seconds", required("seconds")?, 0.001..=1e6)?,
            },
            "kill-worker" => FaultAction::KillWorker { worker: worker()? },
            "delete-pods" => FaultAction::DeletePods {
                selections: pod_selections(&keys)?,
            },
            _ => FaultAction::Command {
                run: required("run")?.to_owned(),
            },
        };
        Ok(Fault {
            at_s,
            action,
            text: text.to_owned(),
        })
    }
}

/// What the run offers the interference and faults, to check them against before anything starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Offered {
    /// The replay's length, seconds (warm-up included).
    pub run_s: f64,
    /// Whether the functions are a local fleet (`kill-instances`).
    pub local_fleet: bool,
    /// Local workers, when the invokers are local processes (`pause-worker`, `kill-worker`).
    pub local_workers: Option<u32>,
    /// Whether a Kubernetes cluster is used (`delete-pods`, `where = "nodes:…"`).
    pub kubernetes: bool,
}

/// Refuses what cannot be done in this run: windows and faults after its end, actions its deployer
/// or launcher does not have.
pub fn check(
    interference: &[Interference],
    faults: &[Fault],
    offered: &Offered,
) -> Result<(), SpecError> {
    let run_s = offered.run_s;
    for i in interference {
        if i.start_s >= run_s {
            return invalid(format!(
                "`{}`: starts at {} s, after the run ({run_s} s of replay)",
                i.text, i.start_s
            ));
        }
        if matches!(i.place, Place::Nodes(_)) && !offered.kubernetes {
            return invalid(format!(
                "`{}`: `where = nodes:…` needs Kubernetes (--deployer knative or --launcher kubernetes)",
                i.text
            ));
        }
    }
    for f in faults {
        if f.at_s >= run_s {
            return invalid(format!(
                "`{}`: at {} s, after the run ({run_s} s of replay)",
                f.text, f.at_s
            ));
        }
        let refused = match &f.action {
            FaultAction::KillInstances { .. } if !offered.local_fleet => {
                Some("kill-instances needs the local fleet (--deployer local)".to_owned())
            }
            FaultAction::PauseWorker { worker, .. } | FaultAction::KillWorker { worker } => {
                match offered.local_workers {
                    None => Some(format!(
                        "{} needs local workers (--launcher local)",
                        f.action.name()
                    )),
                    Some(n) if *worker >= n => Some(format!(
                        "worker {worker} does not exist (the run has workers 0 to {})",
                        n - 1
                    )),
                    Some(_) => None,
                }
            }
            FaultAction::DeletePods { .. } if !offered.kubernetes => Some(
                "delete-pods needs Kubernetes (--deployer knative or --launcher kubernetes)"
                    .to_owned(),
            ),
            _ => None,
        };
        if let Some(why) = refused {
            return invalid(format!("`{}`: {why}", f.text));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
