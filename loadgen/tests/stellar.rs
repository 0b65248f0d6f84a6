//! `loadgen experiment FILE.json` on STeLLAR's files as they are: each sub-experiment a step of the
//! experiment machinery (results.csv, report.md, dry run), STeLLAR's latency CSVs beside our records,
//! concurrent sub-experiments as one step, gateways from an endpoints file (a real nginx), and refusals
//! that name the file, the JSON path and the value before anything is written.

use std::path::Path;

mod common;
use common::{loadgen, ok, s, write_file};

const THREE: &str = r#"{
  "Sequential": true,
  "Provider": "gcr",
  "SubExperiments": [
    {"Title": "warm", "Function": "hellogo", "Bursts": 4, "BurstSizes": [2], "IATSeconds": 0.1,
     "IATType": "deterministic", "DesiredServiceTimes": ["0ms", "5ms"], "Parallelism": 2},
    {"Title": "cold", "Bursts": 1, "BurstSizes": [1], "IATSeconds": 1.05},
    {"Title": "payload", "Bursts": 2, "BurstSizes": [3], "IATSeconds": 0.1, "IATType": "deterministic",
     "PayloadLengthBytes": 2048}
  ]
}"#;

fn latencies(step: &Path) -> Vec<String> {
    let dir = std::fs::read_dir(step)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("latencies.csv").is_file())
        .unwrap_or_else(|| panic!("no STeLLAR directory in {}", step.display()));
    std::fs::read_to_string(dir.join("latencies.csv"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_sub_experiment_is_a_step_with_stellars_latency_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "exp.json", THREE);
    let out = dir.path().join("out");
    // A dry run plans and checks the three steps, and replays nothing.
    let dry = ok(&loadgen(&[
        "experiment",
        s(&file),
        "-o",
        s(&out),
        "--dry-run",
    ]));
    assert!(dry.contains("3 steps planned"), "{dry}");
    assert!(!out.join("steps/000/records.csv").exists());
    std::fs::remove_dir_all(&out).unwrap();

    ok(&loadgen(&["experiment", s(&file), "-o", s(&out)]));
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(results.lines().count(), 4, "{results}");
    // Calls: 4 bursts of 2, 1 of 1, 2 of 3; all answered.
    for (line, calls) in results.lines().skip(1).zip(["8", "1", "6"]) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!((f[3], f[5]), (calls, calls), "{line}");
    }
    let warm = latencies(&out.join("steps/000"));
    assert_eq!(
        warm[0],
        "Request ID,Host,Sent At,Received At,Client Latency (ms),Burst ID"
    );
    assert_eq!(warm.len(), 9);
    assert!(out
        .join("steps/002/payload-memory128MB-img0MB-IAT0.1s-burst3-st0ms-payload2KB/latencies.csv")
        .is_file());
    let report = std::fs::read_to_string(out.join("steps/000/report.md")).unwrap();
    assert!(
        report.contains("`SubExperiments[0].Function`") && report.contains("keeps its fraction"),
        "{report}"
    );
    assert!(report.contains("warm-memory128MB"), "{report}");
    // The latency CDF: each step's, and one of all the sub-experiments in the experiment's report.
    assert!(out
        .join("steps/000/plots/stellar_latency_cdf.png")
        .is_file());
    assert!(out.join("figures/stellar_latency_cdf.png").is_file());
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("![Latency CDF](figures/stellar_latency_cdf.png)"),
        "{report}"
    );
}

#[test]
fn concurrent_sub_experiments_are_one_step_and_can_be_fired_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "exp.json",
        &THREE.replace("\"Sequential\": true", "\"Sequential\": false"),
    );
    let out = dir.path().join("out");
    ok(&loadgen(&[
        "experiment",
        s(&file),
        "-o",
        s(&out),
        "--timing",
        "scheduled",
    ]));
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(results.lines().count(), 2, "one step: {results}");
    let mut stellar_dirs = 0;
    for e in std::fs::read_dir(out.join("steps/000")).unwrap() {
        stellar_dirs += usize::from(e.unwrap().path().join("latencies.csv").is_file());
    }
    assert_eq!(stellar_dirs, 3);
    let report = std::fs::read_to_string(out.join("steps/000/report.md")).unwrap();
    assert!(
        report.contains("scheduled (every burst at its instant, open loop)"),
        "{report}"
    );
}

#[test]
fn gateways_come_from_stellars_endpoints_file_and_bad_files_are_refused_before_anything_is_written()
{
    let nginx = testkit::nginx::Nginx::start(None);
    let dir = tempfile::tempdir().unwrap();
    let one = r#"{"Provider": "gcr", "SubExperiments": [{"Title": "t", "Bursts": 3, "BurstSizes": [2],
        "IATSeconds": 0.05, "IATType": "deterministic", "Parallelism": 2}]}"#;
    let file = write_file(dir.path(), "exp.json", one);
    let endpoints = write_file(
        dir.path(),
        "endpoints.json",
        &format!(
            r#"[{{"GatewayID": "http://127.0.0.1:{0}/", "FunctionMemoryMB": 128, "ImageSizeMB": 10, "PackageType": "Zip"}},
               {{"GatewayID": "http://127.0.0.1:{0}/kib"}}]"#,
            nginx.http
        ),
    );
    let out = dir.path().join("out");
    ok(&loadgen(&[
        "experiment",
        s(&file),
        "-o",
        s(&out),
        "--endpoints",
        s(&endpoints),
    ]));
    let rows = latencies(&out.join("steps/000"));
    assert_eq!(rows.len(), 7, "{rows:?}");
    let records = std::fs::read_to_string(out.join("steps/000/records.csv")).unwrap();
    assert!(records.contains(&format!(
        "http://127.0.0.1:{}/kib?IncrementLimit=0&PayloadLengthBytes=0",
        nginx.http
    )));

    let refused = |name: &str, text: &str, extra: &[&str], why: &[&str]| {
        let file = write_file(dir.path(), name, text);
        let out = dir.path().join(format!("out-{name}"));
        let mut args = vec!["experiment", s(&file), "-o", s(&out)];
        args.extend_from_slice(extra);
        let o = loadgen(&args);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{name}");
        for w in why {
            assert!(e.contains(w), "{name}: {e}");
        }
        assert!(!out.exists(), "{name}: nothing written");
    };
    refused(
        "empty.json",
        r#"{"SubExperiments": [{"Bursts": 1, "IATSeconds": 5, "BurstSizes": []}]}"#,
        &[],
        &["empty.json", "SubExperiments[0].BurstSizes", "is empty"],
    );
    refused(
        "negative.json",
        r#"{"SubExperiments": [{"Bursts": 1, "IATSeconds": -1, "IATType": "deterministic"}]}"#,
        &[],
        &["SubExperiments[0].IATSeconds", "`-1`"],
    );
    refused(
        "ibm.json",
        &one.replace("gcr", "ibm"),
        &[
            "--endpoints",
            s(&write_file(
                dir.path(),
                "e.json",
                r#"[{"GatewayID": "f.example.com/x"}]"#,
            )),
        ],
        &["e.json", "[0].GatewayID", "unknown provider `ibm`"],
    );
    // The refusal names the missing credential (nothing else in this test binary reads it).
    std::env::remove_var("AWS_ACCESS_KEY_ID");
    refused(
        "aws.json",
        &one.replace("gcr", "aws"),
        &[
            "--endpoints",
            s(&write_file(
                dir.path(),
                "two.json",
                r#"[{"GatewayID": "abc"}, {"GatewayID": "def"}]"#,
            )),
        ],
        &["Signature V4", "`AWS_ACCESS_KEY_ID` is not set"],
    );
    refused(
        "few.json",
        one,
        &["--endpoints", s(&dir.path().join("e.json"))],
        &["1 gateway(s) listed", "needs 2 (Parallelism)"],
    );
    let toml = write_file(dir.path(), "exp.toml", "[run]\nduration = 1\n");
    let o = loadgen(&[
        "experiment",
        s(&toml),
        "--timing",
        "scheduled",
        "-o",
        s(&dir.path().join("t")),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("are for STeLLAR experiment files"));
}

#[test]
fn vhive_gateways_are_called_over_stellars_producer_consumer_grpc_service() {
    let dir = tempfile::tempdir().unwrap();
    let behaviour = emulated::Behaviour {
        cpu_share: 0.0,
        ..emulated::Behaviour::fixed("vhive-gateway", 0.0, 0.0)
    };
    let mut servers = emulated::LocalServers::start(vec![behaviour; 2], 1, None).unwrap();
    let gateways: Vec<String> = servers.endpoints();
    let exp = r#"{"Provider": "vhive", "SubExperiments": [{"Title": "v", "Bursts": 4, "BurstSizes": [2],
        "IATSeconds": 0.05, "IATType": "deterministic", "Parallelism": 2, "PayloadLengthBytes": 64,
        "DesiredServiceTimes": ["2ms"]}]}"#;
    let file = write_file(dir.path(), "exp.json", exp);
    // STeLLAR's vHive endpoints: `host:port`, as its endpoints JSON lists them.
    let endpoints = write_file(
        dir.path(),
        "endpoints.json",
        &format!(
            r#"[{{"GatewayID": "{}", "FunctionMemoryMB": 128, "ImageSizeMB": 10, "PackageType": "Image"}},
               {{"GatewayID": "{}"}}]"#,
            gateways[0], gateways[1]
        ),
    );
    let out = dir.path().join("out");
    ok(&loadgen(&[
        "experiment",
        s(&file),
        "-o",
        s(&out),
        "--endpoints",
        s(&endpoints),
    ]));
    servers.stop();
    assert_eq!(latencies(&out.join("steps/000")).len(), 1 + 8);
    let mut calls = 0;
    formats::records::read_records(&out.join("steps/000/records.csv"), |r, e| {
        calls += 1;
        assert_eq!(r.outcome, formats::records::Outcome::Ok, "{e}");
        assert_eq!(r.wire.protocol, Some(formats::records::Protocol::Grpc));
        assert!(e.starts_with("vhive://127.0.0.1:"), "{e}");
        assert!(e.contains("PayloadLengthBytes=64"), "{e}");
        // The function's report came back in the reply's metadata: it spun about 2 ms.
        let exec = r.exec_us.expect("the function's report");
        assert!((1_000..200_000).contains(&exec), "exec {exec} µs");
    })
    .unwrap();
    assert_eq!(calls, 8);

    // With no endpoints file, a vhive experiment runs against local functions over the same service.
    let out = dir.path().join("local");
    ok(&loadgen(&["experiment", s(&file), "-o", s(&out)]));
    let records = std::fs::read_to_string(out.join("steps/000/records.csv")).unwrap();
    assert_eq!(records.matches("vhive://").count(), 8, "{records}");
}

/// STeLLAR's data-transfer chains: each request the entry of a chain of `DataTransferChainLength`
/// functions, each handing `PayloadLengthBytes` to the next, inline or (`StorageTransfer`) through a
/// real redis-server; STeLLAR's latency file has one row per request, our records one per function.
#[test]
fn data_transfer_chains_run_as_chain_workflows_inline_or_through_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let redis = testkit::redis::Redis::start();
    let chain = |storage: bool| {
        format!(
            r#"{{"Provider": "gcr", "SubExperiments": [{{"Title": "chain", "Bursts": 3, "BurstSizes": [2],
               "IATSeconds": 0.1, "IATType": "deterministic", "PayloadLengthBytes": 4096,
               "DataTransferChainLength": 3, "StorageTransfer": {storage}}}]}}"#
        )
    };
    for storage in [false, true] {
        let file = write_file(
            dir.path(),
            &format!("chain-{storage}.json"),
            &chain(storage),
        );
        let out = dir.path().join(format!("out-{storage}"));
        let mut args = vec!["run", "--stellar", s(&file), "-o", s(&out)];
        let url = redis.url();
        if storage {
            args.extend(["--store", url.as_str()]);
        }
        ok(&loadgen(&args));
        // 6 requests, each a chain of 3: 18 records, all answered.
        let mut records = Vec::new();
        formats::records::read_workflow_records(&out.join("records.csv"), |r, _, node| {
            records.push((node.unwrap().to_owned(), *r));
        })
        .unwrap();
        assert_eq!(records.len(), 18);
        for (node, r) in &records {
            assert_eq!(r.outcome, formats::records::Outcome::Ok, "{node}: {r:?}");
            if node != "chain-0" {
                // The payload went inline, or through the store, timed by the function either way.
                let inline = if storage { 0 } else { 4096 };
                assert_eq!(r.wire.request_bytes, Some(inline), "{node}: {r:?}");
                assert!(r.wire.transfer_us.is_some(), "{node}: {r:?}");
            }
        }
        // STeLLAR's file: one row per request (the chain's entry), as STeLLAR measures it.
        assert_eq!(latencies(&out).len(), 1 + 6);
        assert_eq!(redis.keys(), 0);
    }
    // A chain that says StorageTransfer needs a store.
    let file = write_file(dir.path(), "stored.json", &chain(true));
    let o = loadgen(&[
        "run",
        "--stellar",
        s(&file),
        "-o",
        s(&dir.path().join("no")),
    ]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("StorageTransfer") && e.contains("--store redis://"),
        "{e}"
    );
}
