//! Deployment and the whole pipeline, through the `loadgen` binary: `run` end to end with local servers,
//! `deploy` serving until SIGINT, and the Knative deployer against fake `kubectl`/`kn` put first on PATH.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{run_loadgen, s, text, wait_bounded, LOADGEN};

use loadgen::deploy::knative::{is_dns1035, MANAGED_BY, MANAGED_BY_LABEL};
use loadgen::deploy::{read_endpoints, DeployedProxy};

/// Starts loadgen with `args` and reads its stdout until a line starts with `prefix`.
fn spawn_until(args: &[&str], prefix: &str) -> Child {
    let mut child = Command::new(LOADGEN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let started = Instant::now();
    let mut line = String::new();
    while !line.starts_with(prefix) {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "loadgen ended before printing `{prefix}`"
        );
        assert!(started.elapsed() < Duration::from_secs(30));
    }
    // Keep draining stdout, or loadgen's next print would hit a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    child
}

fn port_closed(endpoint: &str) -> bool {
    std::net::TcpStream::connect_timeout(&endpoint.parse().unwrap(), Duration::from_millis(200))
        .is_err()
}

/// Once loadgen has exited, no endpoint it deployed (endpoints.json) accepts a connection.
fn assert_nothing_serves(endpoints_json: &Path) {
    let endpoints = read_endpoints(endpoints_json).unwrap();
    assert!(!endpoints.is_empty());
    for e in &endpoints {
        assert!(port_closed(&e.endpoint), "{} still serving", e.endpoint);
    }
}

#[test]
fn run_end_to_end_with_local_servers() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = run_loadgen(
        &[
            "run",
            "-o",
            s(&out_dir),
            "-m",
            "false",
            "-w",
            "1",
            "-d",
            "3",
            "-n",
            "60",
            "--seed",
            "7",
        ],
        &[],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out));
    for f in [
        "load.json",
        "mapping.json",
        "endpoints.json",
        "records.csv",
        "lat.csv",
        "summary.json",
        "report.md",
        "trace/invocations.csv",
        "plots/proxy_memory.png",
        "plots/trace_duration.svg",
        "plots/mapping_error.png",
        "plots/invocations_per_second.png",
        "plots/latency_cdf.png",
        "plots/dispatch_lag.png",
        "plots/calls_per_second.png",
    ] {
        assert!(out_dir.join(f).is_file(), "{f} missing\n{}", text(&out));
    }

    // Every generated call was sent and answered, and the records match load.json one to one.
    let load = loadfile::read(&out_dir.join("load.json")).unwrap();
    let mut scheduled: HashMap<(u64, String), i64> = HashMap::new();
    let mut total = 0;
    for (p, period) in load.periods.iter().enumerate() {
        for c in &period.calls {
            let key = (
                p as u64 * 1_000_000 + c.offset_us,
                load.endpoints[c.endpoint as usize].clone(),
            );
            *scheduled.entry(key).or_default() += 1;
            total += 1;
        }
    }
    assert!(total > 0, "the run scheduled nothing");
    let records = std::fs::read_to_string(out_dir.join("records.csv")).unwrap();
    let mut lines = records.lines();
    assert_eq!(lines.next(), Some(invoker::record::RECORDS_HEADER));
    let mut seen = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[9], "ok", "{line}");
        let key = (f[4].parse::<u64>().unwrap(), f[2].to_owned());
        let n = scheduled
            .get_mut(&key)
            .unwrap_or_else(|| panic!("unscheduled record {line}"));
        *n -= 1;
        assert!(*n >= 0, "two records for one call: {line}");
        seen += 1;
    }
    assert_eq!(seen, total);
    let summary: invoker::stats::Summary =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary.records, total as u64);
    assert_eq!(summary.sent, summary.scheduled);
    assert_eq!(summary.ok, summary.scheduled);
    assert_eq!(summary.per_period.len(), 4);
    assert_eq!(
        summary.per_period.iter().map(|t| t.ok).sum::<u64>(),
        total as u64
    );

    // The report says what ran and how faithfully.
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    for needle in [
        "## What ran",
        "## Fidelity",
        "| second | scheduled | sent | answered | answered % |",
        "| 1 (warm-up) |",
        "send lag",
        "emulated function servers on 127.0.0.1",
        "[`records.csv`](records.csv)",
        "## Figures",
        "](plots/latency_cdf.png)",
        "](plots/invocations_per_second.png)",
    ] {
        assert!(report.contains(needle), "report lacks {needle}:\n{report}");
    }

    assert_nothing_serves(&out_dir.join("endpoints.json"));
}

#[test]
fn run_interrupted_by_sigint_keeps_every_record_and_stops_its_servers() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let child = spawn_until(
        &[
            "run",
            "-o",
            s(&out_dir),
            "-m",
            "false",
            "-w",
            "0",
            "-d",
            "30",
            "-n",
            "60",
            "--seed",
            "7",
        ],
        "replay",
    );
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = wait_bounded(child, Duration::from_secs(40));
    assert!(out.status.success(), "{}", text(&out));
    let summary: invoker::stats::Summary =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.records, summary.scheduled_total);
    assert!(
        summary.outcomes.contains_key("not_sent:interrupted"),
        "{:?}",
        summary.outcomes
    );
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(report.contains("**Interrupted**"), "{report}");
    assert_nothing_serves(&out_dir.join("endpoints.json"));
}

#[test]
fn run_refuses_what_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_loadgen(
        &["run", "-o", s(&dir.path().join("o")), "--deployer", "none"],
        &[],
        Duration::from_secs(20),
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("needs proxies to call"),
        "{}",
        text(&out)
    );
    let out = run_loadgen(
        &[
            "run",
            "-o",
            s(&dir.path().join("o")),
            "-t",
            s(&dir.path().join("nope")),
        ],
        &[],
        Duration::from_secs(20),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("nope"), "{}", text(&out));
}

#[test]
fn deploy_local_serves_until_sigint_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let synth = run_loadgen(
        &[
            "synth",
            "-o",
            s(&trace),
            "-n",
            "40",
            "--periods",
            "3",
            "-m",
            "false",
        ],
        &[],
        Duration::from_secs(20),
    );
    assert!(synth.status.success(), "{}", text(&synth));
    let load = dir.path().join("load.json");
    let child = spawn_until(
        &[
            "deploy",
            "-t",
            s(&trace),
            "-p",
            "builtin",
            "-o",
            s(&load),
            "-m",
            "false",
            "-w",
            "0",
            "-d",
            "3",
        ],
        "serving",
    );
    let endpoints = read_endpoints(&dir.path().join("endpoints.json")).unwrap();
    assert!(!endpoints.is_empty());
    let written = loadfile::read(&load).unwrap();
    let deployed: Vec<&str> = endpoints.iter().map(|e| e.endpoint.as_str()).collect();
    for e in &written.endpoints {
        assert!(deployed.contains(&e.as_str()), "{e} not deployed");
    }
    for e in &endpoints {
        assert!(!port_closed(&e.endpoint), "{} not serving", e.endpoint);
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = wait_bounded(child, Duration::from_secs(10));
    assert!(out.status.success(), "{}", text(&out));
    assert_nothing_serves(&dir.path().join("endpoints.json"));
}

#[test]
fn generate_refuses_the_local_deployer() {
    let out = run_loadgen(
        &["generate", "--deployer", "local"],
        &[],
        Duration::from_secs(20),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("loadgen deploy"), "{}", text(&out));
}

/// A PATH with the fake kubectl and kn first, and their state directory.
struct FakeCluster {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    state: PathBuf,
}

impl FakeCluster {
    fn new() -> FakeCluster {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(state.join("svc")).unwrap();
        let fakes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake");
        for tool in ["kubectl", "kn"] {
            std::fs::copy(fakes.join(tool), bin.join(tool)).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(bin.join(tool), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        FakeCluster {
            _dir: dir,
            bin,
            state,
        }
    }

    fn env(&self, extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut env = vec![
            ("PATH", path),
            ("FAKE_KUBE_STATE", self.state.display().to_string()),
        ];
        for (k, v) in extra {
            let k: &'static str = Box::leak(k.to_string().into_boxed_str());
            env.push((k, v.to_string()));
        }
        env
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.state.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn services(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.state.join("svc"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// `loadgen deploy --deployer knative` on the shared sample with its real profile.json, config.json and
/// YAMLs, plus `extra` flags.
fn deploy_knative(
    sample: &Path,
    out: &Path,
    config: &Path,
    cluster: &FakeCluster,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut args = vec!["deploy", "--deployer", "knative", "-t", s(sample), "-p"];
    let profile = sample.join("profile.json");
    let build = out.join("build");
    let load = out.join("load.json");
    args.extend([
        s(&profile),
        "-c",
        s(config),
        "-b",
        s(&build),
        "-o",
        s(&load),
        "-w",
        "0",
        "-d",
        "2",
        "--poll-interval",
        "0.02",
    ]);
    let extra: Vec<&str> = extra.to_vec();
    let owned: Vec<String> = args.iter().chain(&extra).map(|a| a.to_string()).collect();
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    run_loadgen(&refs, &cluster.env(env), Duration::from_secs(60))
}

#[test]
fn knative_deploys_the_real_yamls_and_clean_deletes_only_ours() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let cluster = FakeCluster::new();
    // A service of the user's, without our label, that clean must leave alone.
    std::fs::write(cluster.state.join("svc/default.users-own-service"), "\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = deploy_knative(
        &sample,
        dir.path(),
        &sample.join("config.json"),
        &cluster,
        &["--ready-timeout", "20"],
        &[("FAKE_READY_AFTER", "2")],
    );
    assert!(out.status.success(), "{}", text(&out));

    let endpoints: Vec<DeployedProxy> = read_endpoints(&dir.path().join("endpoints.json")).unwrap();
    let load = loadfile::read(&dir.path().join("load.json")).unwrap();
    assert!(endpoints.len() >= 2, "{endpoints:?}");
    assert_eq!(load.endpoints.len(), endpoints.len());
    let calls = cluster.calls();
    for e in &endpoints {
        let service = e.service.as_deref().unwrap();
        let (ns, name) = service.split_once('/').unwrap();
        assert!(is_dns1035(name) && name.len() <= 63, "{name}");
        assert!(
            name.starts_with(&format!("{}-", e.proxy)),
            "{name} for {}",
            e.proxy
        );
        assert_eq!(e.endpoint, format!("{name}.{ns}.127.0.0.1.sslip.io"));
        assert!(load.endpoints.contains(&e.endpoint));
        // The YAML in the build dir is the proxy's, renamed and labelled.
        let yaml =
            std::fs::read_to_string(dir.path().join(format!("build/kn-{name}.yaml"))).unwrap();
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(v["metadata"]["name"].as_str(), Some(name));
        assert_eq!(
            v["metadata"]["labels"][MANAGED_BY_LABEL].as_str(),
            Some(MANAGED_BY)
        );
        assert_eq!(v["kind"].as_str(), Some("Service"));
        assert!(v["spec"]["template"]["spec"]["containers"].is_sequence());
        assert!(
            calls
                .iter()
                .any(|c| c.starts_with("kubectl apply -f")
                    && c.ends_with(&format!("kn-{name}.yaml"))),
            "{name} not applied: {calls:?}"
        );
        // Polled until Ready: the fake answers Ready on the third poll.
        let polls = calls
            .iter()
            .filter(|c| c.starts_with(&format!("kubectl get ksvc {name} -n {ns}")))
            .count();
        assert_eq!(polls, 3, "{name}");
    }

    // clean: ours go, the user's stays; kn is never used.
    let out = run_loadgen(&["clean"], &cluster.env(&[]), Duration::from_secs(20));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("deleted {} Knative service(s)", endpoints.len())),
        "{}",
        text(&out)
    );
    let left = cluster.services();
    assert!(
        left.contains(&"default.users-own-service".to_owned()),
        "{left:?}"
    );
    for e in &endpoints {
        let (ns, name) = e.service.as_deref().unwrap().split_once('/').unwrap();
        assert!(
            !left.contains(&format!("{ns}.{name}")),
            "{name} survived clean"
        );
    }
    let calls = cluster.calls();
    assert!(calls.iter().all(|c| !c.starts_with("kn ")), "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| !c.contains("users-own-service") || !c.contains("delete")),
        "{calls:?}"
    );
}

/// A config.json in `dir` deploying each proxy of `profile` from the sample's real YAMLs (absolute paths,
/// matched by file name), with `pre` as every proxy's pre-deployment command.
fn config_with_pre(dir: &Path, sample: &Path, pre: &str) -> PathBuf {
    let real: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample.join("config.json")).unwrap())
            .unwrap();
    let entries: Vec<serde_json::Value> = real
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let yaml = sample.join(e["yaml-location"].as_str().unwrap());
            // Distinct per proxy (a comment naming it): identical commands run once per deployment.
            serde_json::json!({
                "yaml-location": yaml.to_str().unwrap(),
                "predeployment-commands": [format!("{pre} # {}", yaml.display())],
                "postdeployment-commands": [],
            })
        })
        .collect();
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_string(&entries).unwrap()).unwrap();
    path
}

#[test]
fn knative_failing_pre_deployment_command_names_proxy_command_and_what_was_applied() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let cluster = FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    // Succeeds for the first proxy, fails once something has been applied.
    let pre = "if [ -s \"$FAKE_KUBE_STATE/applied\" ]; then echo 'database quota exceeded' >&2; exit 3; fi";
    let config = config_with_pre(dir.path(), &sample, pre);
    let out = deploy_knative(&sample, dir.path(), &config, &cluster, &[], &[]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("pre-deployment command"), "{t}");
    assert!(t.contains("database quota exceeded"), "{t}");
    assert!(t.contains("exit status: 3"), "{t}");
    assert!(t.contains("1 service(s) already applied"), "{t}");
    assert!(t.contains("loadgen clean"), "{t}");
    assert_eq!(cluster.services().len(), 1);
    // Nothing produced before is lost, nothing half-written is left as the load.
    assert!(!dir.path().join("load.json").exists());
}

#[test]
fn knative_never_ready_service_times_out_with_its_status() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let cluster = FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = deploy_knative(
        &sample,
        dir.path(),
        &sample.join("config.json"),
        &cluster,
        &["--ready-timeout", "0.5"],
        &[("FAKE_NEVER_READY", "1")],
    );
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(30));
    let t = text(&out);
    assert!(t.contains("not Ready after"), "{t}");
    assert!(t.contains("Ready=False, RevisionMissing"), "{t}");
    assert!(t.contains("already applied"), "{t}");
}

#[test]
fn knative_apply_failure_and_dry_run() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let cluster = FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    let out = deploy_knative(
        &sample,
        dir.path(),
        &sample.join("config.json"),
        &cluster,
        &[],
        &[("FAKE_APPLY_FAIL", "/build/kn-")],
    );
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("apply command") && t.contains("admission webhook denied"),
        "{t}"
    );

    // --dry-run: YAMLs and deploy.sh, no call to the cluster at all.
    let cluster = FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    let out = deploy_knative(
        &sample,
        dir.path(),
        &sample.join("config.json"),
        &cluster,
        &["--dry-run"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(cluster.calls().is_empty(), "{:?}", cluster.calls());
    let script = std::fs::read_to_string(dir.path().join("build/deploy.sh")).unwrap();
    let endpoints = read_endpoints(&dir.path().join("endpoints.json")).unwrap();
    for e in &endpoints {
        let (ns, name) = e.service.as_deref().unwrap().split_once('/').unwrap();
        assert!(script.contains(&format!("kn-{name}.yaml")), "{script}");
        assert!(script.contains(&format!("ksvc/{name}")), "{script}");
        assert_eq!(e.endpoint, format!("{name}.{ns}"));
    }
}

#[test]
fn knative_bad_config_is_explained() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let cluster = FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    // A config that lacks every proxy.
    let config = dir.path().join("config.json");
    std::fs::write(&config, "[]").unwrap();
    let out = deploy_knative(&sample, dir.path(), &config, &cluster, &[], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no entry of"), "{}", text(&out));
    // Not JSON.
    std::fs::write(&config, "[{\"yaml-location\": 3}]").unwrap();
    let out = deploy_knative(&sample, dir.path(), &config, &cluster, &[], &[]);
    assert!(
        text(&out).contains("config.json: line 1 column"),
        "{}",
        text(&out)
    );
    // Entries whose YAML is missing, or has no metadata.name.
    let yamls = dir.path().join("yamls");
    std::fs::create_dir_all(&yamls).unwrap();
    let real: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample.join("config.json")).unwrap())
            .unwrap();
    let entries: Vec<serde_json::Value> = real
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let file = Path::new(e["yaml-location"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_owned();
            serde_json::json!({"yaml-location": format!("./yamls/{}", file.to_string_lossy())})
        })
        .collect();
    std::fs::write(&config, serde_json::to_string(&entries).unwrap()).unwrap();
    let out = deploy_knative(&sample, dir.path(), &config, &cluster, &[], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("cannot read it"), "{}", text(&out));
    for e in &entries {
        let file = dir.path().join(e["yaml-location"].as_str().unwrap());
        std::fs::write(
            file,
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  namespace: default\n",
        )
        .unwrap();
    }
    let out = deploy_knative(&sample, dir.path(), &config, &cluster, &[], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no metadata.name"), "{}", text(&out));
    assert!(cluster.calls().is_empty(), "{:?}", cluster.calls());
}
