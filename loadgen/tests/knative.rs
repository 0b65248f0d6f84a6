//! The Knative deployer through the `loadgen` binary, against fake `kubectl`/`kn` put first on PATH
//! (`tests/fake`), with the shared sample's real profile.json, config.json and YAMLs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::{deploy_knative, run_loadgen, s, text, FakeCluster};

use deploy::knative::is_dns1035;
use deploy::kube::{MANAGED_BY, MANAGED_BY_LABEL};
use formats::endpoints::{read as read_endpoints, EndpointEntry};

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

    let endpoints: Vec<EndpointEntry> = read_endpoints(&dir.path().join("endpoints.json")).unwrap();
    let load = formats::read(&dir.path().join("load.json")).unwrap();
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
    }
    // Readiness: one list of our services per round, however many services (the fake answers Ready on
    // the third list), and never one call per service.
    let lists: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("kubectl get"))
        .collect();
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert!(
        lists.iter().all(|c| c.as_str()
            == format!(
                "kubectl get ksvc --all-namespaces -l {MANAGED_BY_LABEL}={MANAGED_BY} -o json"
            )),
        "{lists:?}"
    );

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
    // One delete per namespace, naming every service, never one call per service.
    let namespaces: std::collections::BTreeSet<&str> = endpoints
        .iter()
        .map(|e| e.service.as_deref().unwrap().split_once('/').unwrap().0)
        .collect();
    let deletes: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("kubectl delete ksvc"))
        .collect();
    assert_eq!(deletes.len(), namespaces.len(), "{deletes:?}");
    for e in &endpoints {
        let (ns, name) = e.service.as_deref().unwrap().split_once('/').unwrap();
        assert!(
            deletes
                .iter()
                .any(|c| c.starts_with(&format!("kubectl delete ksvc -n {ns} "))
                    && c.split(' ').any(|w| w == name)),
            "{name}: {deletes:?}"
        );
    }
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
    // 70 services: the message lists five, says how many more, and points to the full lists.
    assert!(
        t.contains("70 service(s) not Ready") && t.contains("and 65 more"),
        "{t}"
    );
    let not_ready = std::fs::read_to_string(dir.path().join("build/not-ready.txt")).unwrap();
    assert_eq!(not_ready.lines().count(), 70);
    assert!(
        not_ready.lines().all(|l| l.contains("Ready=False")),
        "{not_ready}"
    );
    let applied = std::fs::read_to_string(dir.path().join("build/applied.txt")).unwrap();
    assert_eq!(applied.lines().count(), 70);
    assert!(t.lines().all(|l| l.len() < 1000), "{t}");
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

    // --dry-run: YAMLs and deploy.sh, no call to the cluster at all. The autoscaler's knobs that are
    // annotations go on every service; a cluster-wide one is said to stay the cluster's.
    let cluster = FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    let out = deploy_knative(
        &sample,
        dir.path(),
        &sample.join("config.json"),
        &cluster,
        &[
            "--dry-run",
            "--knative-window",
            "30",
            "--knative-target-burst-capacity",
            "-1",
            "--knative-target-utilization-percentage",
            "50",
            "--knative-max-scale-down-rate",
            "4",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out)
            .contains("--knative-max-scale-down-rate set Knative's cluster-wide config-autoscaler"),
        "{}",
        text(&out)
    );
    assert!(cluster.calls().is_empty(), "{:?}", cluster.calls());
    let script = std::fs::read_to_string(dir.path().join("build/deploy.sh")).unwrap();
    let endpoints = read_endpoints(&dir.path().join("endpoints.json")).unwrap();
    for e in &endpoints {
        let (ns, name) = e.service.as_deref().unwrap().split_once('/').unwrap();
        assert!(script.contains(&format!("kn-{name}.yaml")), "{script}");
        assert!(script.contains(&format!("ksvc/{name}")), "{script}");
        assert_eq!(e.endpoint, format!("{name}.{ns}"));
        let yaml =
            std::fs::read_to_string(dir.path().join(format!("build/kn-{name}.yaml"))).unwrap();
        for annotation in [
            "autoscaling.knative.dev/window: 30s",
            "autoscaling.knative.dev/target-burst-capacity: '-1'",
            "autoscaling.knative.dev/target-utilization-percentage: '50'",
        ] {
            assert!(yaml.contains(annotation), "{annotation}: {yaml}");
        }
        assert!(!yaml.contains("max-scale-down-rate"), "{yaml}");
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

#[test]
fn run_interrupted_while_waiting_for_ready_deletes_what_it_applied() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let cluster = FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let profile = sample.join("profile.json");
    let config = sample.join("config.json");
    let build = dir.path().join("build");
    let mut command = std::process::Command::new(common::LOADGEN);
    command
        .args([
            "run",
            "--deployer",
            "knative",
            "-t",
            s(&sample),
            "-p",
            s(&profile),
        ])
        .args([
            "-c",
            s(&config),
            "-b",
            s(&build),
            "-o",
            s(&out),
            "-w",
            "0",
            "-d",
            "2",
        ])
        .args(["--poll-interval", "0.05", "--ready-timeout", "600"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in cluster.env(&[("FAKE_NEVER_READY", "1")]) {
        command.env(k, v);
    }
    let child = command.spawn().unwrap();
    // Waiting for Ready once the services are listed.
    testkit::wait_until(Duration::from_secs(60), "a readiness list", || {
        cluster
            .calls()
            .iter()
            .any(|c| c.starts_with("kubectl get"))
            .then_some(())
    });
    assert!(!cluster.services().is_empty());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = common::wait_bounded(child, Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("interrupted") && e.contains("deleted"), "{e}");
    // Every service this run labelled is gone; what is left is what the config's own pre-deployment
    // commands applied (the sample's databases), which loadgen never made and never deletes.
    let left = cluster.services();
    assert!(left.iter().all(|n| n.ends_with("-database")), "{left:?}");
    let labelled = std::fs::read_dir(cluster.state.join("svc"))
        .unwrap()
        .filter(|e| {
            std::fs::read_to_string(e.as_ref().unwrap().path())
                .unwrap()
                .contains(MANAGED_BY)
        })
        .count();
    assert_eq!(labelled, 0);
    assert!(!out.join("records.csv").exists() && !out.join("load.json").exists());
}

#[test]
fn cold_functions_and_bursts_are_distinct_services_of_one_proxy() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let cluster = FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    let (profile, config) = (sample.join("profile.json"), sample.join("config.json"));
    let (build, load) = (dir.path().join("build"), dir.path().join("load.json"));
    let common = [
        "generate",
        "--deployer",
        "knative",
        "-p",
        s(&profile),
        "-c",
        s(&config),
        "-b",
        s(&build),
        "-o",
        s(&load),
        "-m",
        "false",
        "-w",
        "0",
        "--poll-interval",
        "0.02",
        "--seed",
        "3",
    ];
    for shape in [
        &[
            "--rps",
            "4",
            "--cold-ratio",
            "50",
            "--cooldown",
            "2",
            "-d",
            "4",
        ][..],
        &[
            "--burst-size",
            "2",
            "--burst-iat",
            "1",
            "--burst-endpoints",
            "3",
            "-d",
            "3",
        ][..],
    ] {
        let args: Vec<&str> = common.iter().chain(shape).copied().collect();
        let out = run_loadgen(&args, &cluster.env(&[]), Duration::from_secs(60));
        assert!(out.status.success(), "{}", text(&out));
        let endpoints: Vec<EndpointEntry> =
            read_endpoints(&dir.path().join("endpoints.json")).unwrap();
        assert!(endpoints.len() >= 3, "{endpoints:?}");
        // One proxy: every deployment is named after it, from its YAML.
        let base = endpoints[0]
            .proxy
            .rsplit_once(if shape[0] == "--rps" {
                "-cold-"
            } else {
                "-burst-"
            })
            .map_or(endpoints[0].proxy.as_str(), |(b, _)| b)
            .trim_end_matches("-warm")
            .to_owned();
        let mut services = std::collections::BTreeSet::new();
        for e in &endpoints {
            assert!(e.proxy.starts_with(&format!("{base}-")), "{e:?} vs {base}");
            let service = e.service.clone().unwrap();
            let name = service.split_once('/').unwrap().1.to_owned();
            let yaml = std::fs::read_to_string(build.join(format!("kn-{name}.yaml"))).unwrap();
            let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
            assert_eq!(v["metadata"]["name"].as_str(), Some(name.as_str()));
            services.insert(service);
        }
        assert_eq!(services.len(), endpoints.len(), "distinct services");
        let l = formats::read(&load).unwrap();
        assert_eq!(l.endpoints.len(), endpoints.len());
    }
}
