//! `loadgen run` over every protocol the emulated functions speak, and a run in which every call failed:
//! complete, in place, and ending non-zero with the first cause per endpoint.

use std::path::Path;

mod common;
use common::{loadgen, ok, s};
use formats::records::{read_records, Outcome, Protocol};

/// Every record's protocol and outcome, and the endpoints they went to.
fn wire(out: &Path) -> Vec<(Option<Protocol>, Outcome, String)> {
    let mut rows = Vec::new();
    read_records(&out.join("records.csv"), |r, e| {
        rows.push((r.wire.protocol, r.outcome, e.to_owned()))
    })
    .unwrap();
    rows
}

#[test]
fn the_local_fleet_is_called_over_http1_and_h2c_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    for (protocol, scheme, expected) in [
        ("http", "http://", Protocol::Http1),
        ("h2c", "h2c://", Protocol::H2),
    ] {
        let out = dir.path().join(protocol);
        ok(&loadgen(&[
            "run",
            "-o",
            s(&out),
            "-m",
            "false",
            "-w",
            "0",
            "-d",
            "2",
            "--seed",
            "3",
            "--rps",
            "20",
            "--function-protocol",
            protocol,
            "--payload-bytes",
            "100",
        ]));
        let rows = wire(&out);
        assert_eq!(rows.len(), 40, "{protocol}");
        for (p, outcome, endpoint) in rows {
            assert_eq!((p, outcome), (Some(expected), Outcome::Ok), "{protocol}");
            assert!(endpoint.starts_with(scheme), "{endpoint}");
        }
        let endpoints = std::fs::read_to_string(out.join("endpoints.json")).unwrap();
        assert!(endpoints.contains(scheme), "{endpoints}");
    }
    // vSwarm's proxies on Knative speak gRPC only: refused before anything is written.
    let out = dir.path().join("refused");
    let o = loadgen(&[
        "run",
        "-o",
        s(&out),
        "--deployer",
        "knative",
        "--function-protocol",
        "http",
    ]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("vSwarm's proxies") && e.contains("-p trace"),
        "{e}"
    );
    assert!(!out.exists());
}

#[test]
fn a_run_in_which_every_call_failed_is_kept_and_ends_non_zero_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // A 38-second function and a half-second timeout: every call times out.
    let o = loadgen(&[
        "run",
        "-o",
        s(&out),
        "-m",
        "false",
        "-w",
        "0",
        "-d",
        "2",
        "--seed",
        "5",
        "--rps",
        "3",
        "--rps-proxy",
        "emu-37p9s-16mi",
        "--cpu-share",
        "0.01",
        "--local-scale",
        "1",
        "--grpc-timeout",
        "0.5",
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{e}");
    assert!(e.contains("every call failed (6 sent"), "{e}");
    assert!(
        e.contains("no answer within the call timeout of 0.500 s"),
        "{e}"
    );
    assert!(
        e.contains(&format!("the run's files are in {}", out.display())),
        "{e}"
    );
    // A complete run, in place.
    let rows = wire(&out);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|(_, o, _)| *o == Outcome::Timeout));
    assert!(out.join("report.md").is_file() && out.join("summary.json").is_file());
}

/// Each record's call index, endpoint and request body bytes.
fn request_bytes(out: &Path) -> Vec<(u64, String, u64)> {
    let mut rows = Vec::new();
    read_records(&out.join("records.csv"), |r, e| {
        assert_eq!(r.outcome, Outcome::Ok, "call {}", r.index);
        rows.push((r.index, e.to_owned(), r.wire.request_bytes.unwrap()))
    })
    .unwrap();
    rows.sort();
    rows
}

#[test]
fn payload_sizes_drawn_per_call_or_per_function_are_what_each_call_sends() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec![
            "run",
            "-o",
            s(&out),
            "-m",
            "false",
            "-w",
            "0",
            "-d",
            "2",
            "--seed",
            "11",
            "--method",
            "POST",
        ];
        args.extend(extra);
        ok(&loadgen(&args));
        out
    };

    // Per call: the load says each call's size, and that is the body each call sent.
    let out = run(
        "per-call",
        &[
            "--rps",
            "20",
            "--function-protocol",
            "http",
            "--payload",
            "uniform:100:5000",
        ],
    );
    let load = formats::read(&out.join("load.json")).unwrap();
    let sizes: Vec<u64> = load
        .periods
        .iter()
        .flat_map(|p| {
            assert_eq!(p.payloads.len(), p.calls.len());
            p.payloads.iter().map(|&b| u64::from(b))
        })
        .collect();
    let sent: Vec<u64> = request_bytes(&out).into_iter().map(|(_, _, b)| b).collect();
    assert_eq!(sent, sizes);
    assert!(sent.iter().all(|b| (100..=5000).contains(b)), "{sent:?}");
    let distinct: std::collections::BTreeSet<_> = sent.iter().collect();
    assert!(distinct.len() > 30, "drawn per call: {distinct:?}");

    // Per function: one size per endpoint, different between endpoints, over h2c.
    let out = run(
        "per-function",
        &[
            "--burst-size",
            "4",
            "--burst-iat",
            "0.5",
            "--burst-endpoints",
            "3",
            "--function-protocol",
            "h2c",
            "--payload",
            "lognormal:4KiB:1",
            "--payload-per",
            "function",
        ],
    );
    let mut per_endpoint = std::collections::BTreeMap::<String, Vec<u64>>::new();
    for (_, endpoint, bytes) in request_bytes(&out) {
        per_endpoint.entry(endpoint).or_default().push(bytes);
    }
    assert_eq!(per_endpoint.len(), 3, "{per_endpoint:?}");
    let sizes: std::collections::BTreeSet<u64> = per_endpoint
        .values()
        .map(|b| {
            assert!(b.iter().all(|x| *x == b[0]), "{b:?}");
            b[0]
        })
        .collect();
    assert_eq!(sizes.len(), 3, "{per_endpoint:?}");

    // A bad size is refused at the flag, before anything is written.
    let out = dir.path().join("refused");
    let o = loadgen(&["run", "-o", s(&out), "--payload", "uniform:9:3"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("--payload") && e.contains("above the maximum"),
        "{e}"
    );
    assert!(!out.exists());
}

#[test]
fn given_endpoints_are_called_each_with_its_own_method_headers_and_payload() {
    let _turn = testkit::turn();
    let nginx = testkit::nginx::Nginx::start(None);
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("profile.json");
    ok(&loadgen(&["catalogue", "-o", s(&catalogue)]));
    let proxies: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&catalogue).unwrap()).unwrap();
    // Every built-in proxy at its own URL of nginx's /echo: every other one POSTs 100 bytes with its
    // tenant taken from the environment, the rest send the flags' GET and header.
    let entries: Vec<serde_json::Value> = proxies
        .keys()
        .enumerate()
        .map(|(i, name)| {
            let endpoint = format!("http://127.0.0.1:{}/echo?proxy={name}", nginx.http);
            if i % 2 == 0 {
                serde_json::json!({"proxy": name, "endpoint": endpoint, "method": "POST",
                                   "headers": ["x-tenant: $TENANT"], "payload_bytes": 100})
            } else {
                serde_json::json!({"proxy": name, "endpoint": endpoint})
            }
        })
        .collect();
    let own: std::collections::BTreeSet<String> = entries
        .iter()
        .filter(|e| e.get("method").is_some())
        .map(|e| e["endpoint"].as_str().unwrap().to_owned())
        .collect();
    let given = dir.path().join("given.json");
    std::fs::write(&given, serde_json::Value::from(entries).to_string()).unwrap();
    let out = dir.path().join("run");
    let args = [
        "run",
        "-o",
        s(&out),
        "-n",
        "200",
        "-m",
        "false",
        "-w",
        "0",
        "-d",
        "3",
        "--seed",
        "5",
        "--workers",
        "2",
        "--use-endpoints",
        s(&given),
        "--header",
        "x-tenant: flags",
    ];
    let env = [("TENANT", "alpha".to_owned())];
    ok(&common::run_loadgen(&args, &env, common::LIMIT));
    let rows = {
        let mut rows = Vec::new();
        read_records(&out.join("records.csv"), |r, e| {
            rows.push((*r, e.to_owned()))
        })
        .unwrap();
        rows
    };
    assert!(!rows.is_empty());
    let mut kinds = std::collections::BTreeSet::new();
    for (r, endpoint) in &rows {
        assert_eq!(r.outcome, Outcome::Ok, "{endpoint}");
        // nginx answers `METHOD|x-tenant|`: the reply's size says which request went.
        let (sent, reply) = if own.contains(endpoint) {
            (100, "POST|alpha|")
        } else {
            (0, "GET|flags|")
        };
        assert_eq!(
            (r.wire.request_bytes, r.wire.response_bytes),
            (Some(sent), Some(reply.len() as u64)),
            "{endpoint}"
        );
        kinds.insert(sent);
    }
    assert_eq!(kinds.len(), 2, "both kinds of entry were called");
    // The run's endpoints.json holds the entries it used, their requests with them.
    let used = formats::endpoints::read(&out.join("endpoints.json")).unwrap();
    assert!(used.iter().any(|e| e.payload_bytes == Some(100)));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("with a request of their own; nothing deployed"),
        "{report}"
    );

    // A proxy without an entry, an entry's bad header, or a file that is not JSON is refused before
    // anything is written, naming the flag that gave it: the finished run stays as it was.
    let before = std::fs::read(out.join("records.csv")).unwrap();
    for (json, says) in [
        (
            serde_json::json!([{"proxy": "other", "endpoint": "http://127.0.0.1:9/"}]).to_string(),
            "no entry for",
        ),
        (
            serde_json::json!([{"proxy": "p", "endpoint": "http://127.0.0.1:9/", "headers": ["bad"]}])
                .to_string(),
            "given.json [0].headers[0]",
        ),
        ("[{".to_owned(), "--use-endpoints"),
    ] {
        std::fs::write(&given, json).unwrap();
        let o = loadgen(&args);
        assert!(!o.status.success());
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(says) && e.contains("given.json"), "{e}");
        assert_eq!(std::fs::read(out.join("records.csv")).unwrap(), before);
    }
}

#[test]
fn workers_call_https_endpoints_with_the_ca_they_fetch_from_the_coordinator() {
    let _turn = testkit::turn();
    let certs = testkit::tls::certificates(&["localhost"]);
    let nginx = testkit::nginx::Nginx::start(Some((&certs.server, &certs.server_key)));
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("profile.json");
    ok(&loadgen(&["catalogue", "-o", s(&catalogue)]));
    let proxies: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&catalogue).unwrap()).unwrap();
    let port = nginx.https.unwrap();
    let entries: Vec<serde_json::Value> = proxies
        .keys()
        .map(|name| serde_json::json!({"proxy": name, "endpoint": format!("https://localhost:{port}/")}))
        .collect();
    let given = dir.path().join("given.json");
    std::fs::write(&given, serde_json::Value::from(entries).to_string()).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &certs.ca).unwrap();
    let out = dir.path().join("run");
    ok(&loadgen(&[
        "run",
        "-o",
        s(&out),
        "-n",
        "200",
        "-m",
        "false",
        "-w",
        "0",
        "-d",
        "2",
        "--seed",
        "5",
        "--workers",
        "2",
        "--use-endpoints",
        s(&given),
        "--ca-cert",
        s(&ca),
    ]));
    let rows = wire(&out);
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|(_, outcome, _)| *outcome == Outcome::Ok),
        "{rows:?}"
    );
}
