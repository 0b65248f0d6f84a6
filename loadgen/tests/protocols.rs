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
