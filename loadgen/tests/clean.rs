//! `loadgen clean` against a fake cluster: it deletes only the Jobs and Secrets labelled as loadgen's
//! (and, with `--run`, one run's), never a user's.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{ok, run_loadgen, s, FakeCluster, LIMIT};

/// Applies a Job manifest to the fake cluster as a user would, with `labels`.
fn apply_job(cluster: &FakeCluster, name: &str, labels: &str) {
    let file = cluster.state.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  namespace: default\n  labels:\n{labels}spec: {{}}\n"),
    )
    .unwrap();
    let out = run_loadgen_kubectl(cluster, &["apply", "-f", s(&file)]);
    assert!(out.contains("created"), "{out}");
}

fn run_loadgen_kubectl(cluster: &FakeCluster, args: &[&str]) -> String {
    let env = cluster.env(&[]);
    let path = &env.iter().find(|(k, _)| *k == "PATH").unwrap().1;
    let kubectl = PathBuf::from(path.split(':').next().unwrap()).join("kubectl");
    let out = Command::new(kubectl)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn clean_removes_only_labelled_jobs_and_one_runs_with_run() {
    let cluster = FakeCluster::new();
    let ours = "    app.kubernetes.io/managed-by: serverless-loadgen\n";
    apply_job(
        &cluster,
        "loadgen-invokers-a",
        &format!("{ours}    serverless-loadgen/run: a\n"),
    );
    apply_job(
        &cluster,
        "loadgen-invokers-b",
        &format!("{ours}    serverless-loadgen/run: b\n"),
    );
    apply_job(&cluster, "users-own", "    app: theirs\n");
    // A Secret a run could not delete (its loadgen was killed), and a user's.
    for (name, labels) in [
        (
            "loadgen-invokers-a-env",
            format!("{ours}    serverless-loadgen/run: a\n"),
        ),
        ("users-secret", "    app: theirs\n".to_owned()),
    ] {
        let file = cluster.state.join(format!("{name}.yaml"));
        std::fs::write(
            &file,
            format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: default\n  labels:\n{labels}stringData: {{}}\n"),
        )
        .unwrap();
        let out = run_loadgen_kubectl(&cluster, &["apply", "-f", s(&file)]);
        assert!(out.contains("created"), "{out}");
    }
    let secret = |name: &str| {
        cluster
            .state
            .join(format!("secrets/default.{name}.yaml"))
            .exists()
    };
    let present = |name: &str| {
        cluster
            .state
            .join(format!("jobs/default.{name}.yaml"))
            .exists()
    };

    let t = ok(&run_loadgen(
        &["clean", "--run", "a", "--dry-run"],
        &cluster.env(&[]),
        LIMIT,
    ));
    assert!(
        t.contains("would delete 1 Job(s)") && t.contains("default/loadgen-invokers-a"),
        "{t}"
    );
    assert!(
        t.contains("would delete 1 Secret(s)") && t.contains("default/loadgen-invokers-a-env"),
        "{t}"
    );
    assert!(present("loadgen-invokers-a") && secret("loadgen-invokers-a-env"));

    let t = ok(&run_loadgen(
        &["clean", "--run", "a"],
        &cluster.env(&[]),
        LIMIT,
    ));
    assert!(t.contains("deleted 1 Job(s)"), "{t}");
    assert!(t.contains("deleted 1 Secret(s)"), "{t}");
    assert!(
        !present("loadgen-invokers-a") && present("loadgen-invokers-b") && present("users-own")
    );
    assert!(!secret("loadgen-invokers-a-env") && secret("users-secret"));

    let t = ok(&run_loadgen(&["clean"], &cluster.env(&[]), LIMIT));
    assert!(t.contains("deleted 1 Job(s)"), "{t}");
    assert!(
        !present("loadgen-invokers-b") && present("users-own"),
        "{t}"
    );
    for call in cluster.calls() {
        assert!(
            !call.contains("users-own") || call.starts_with("kubectl apply"),
            "{call}"
        );
    }
}
