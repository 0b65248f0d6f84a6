//! HTTP endpoints against a real nginx on loopback (started and stopped by each test): HTTP/1.1, h2c and
//! TLS (with a CA the test makes), statuses and byte counts in the records, failures recorded as such,
//! TLS failures said once in words, and a run in which every call failed ending non-zero with its cause.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use formats::records::{read_records, Protocol, Record};
use invoker::dispatch::{replay, ReplayError, ReplayOptions};
use invoker::request::RequestArgs;
use invoker::schedule::Schedule;
use testkit::nginx::Nginx;
use testkit::{turn, wait_bounded};

mod common;
use common::{constant_load, spawn_invoker};

fn options(dir: &Path, request: RequestArgs) -> ReplayOptions {
    ReplayOptions {
        grpc_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        shared_cpu: true,
        records: Some(dir.join("records.csv")),
        latency_file: Some(dir.join("lat.txt")),
        request,
        ..ReplayOptions::default()
    }
}

/// Records by endpoint.
fn records(dir: &Path) -> BTreeMap<String, Vec<Record>> {
    let mut by: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    read_records(&dir.join("records.csv"), |r, e| {
        by.entry(e.to_owned()).or_default().push(*r)
    })
    .unwrap();
    by
}

fn run(
    dir: &Path,
    endpoints: &[String],
    rate: u64,
    request: RequestArgs,
) -> formats::summary::Summary {
    let load = constant_load(dir, endpoints, rate, 1);
    let schedule = Schedule::from_file(&load, 1_000_000, 0, 1).unwrap();
    replay(schedule, options(dir, request)).unwrap()
}

fn with_ca(dir: &Path, ca: &str) -> RequestArgs {
    let path = dir.join("ca.pem");
    std::fs::write(&path, ca).unwrap();
    RequestArgs {
        ca_cert: Some(path),
        ..RequestArgs::default()
    }
}

#[test]
fn every_protocol_is_answered_and_recorded_with_its_status_and_bytes() {
    let _turn = turn();
    let certs = testkit::tls::certificates(&["localhost"]);
    let nginx = Nginx::start(Some((&certs.server, &certs.server_key)));
    let dir = tempfile::tempdir().unwrap();
    let endpoints = vec![
        format!("http://127.0.0.1:{}/", nginx.http),
        format!("http://127.0.0.1:{}/kib", nginx.http),
        format!("h2c://127.0.0.1:{}/kib", nginx.h2c),
        format!("https://localhost:{}/kib", nginx.https.unwrap()),
    ];
    let summary = run(dir.path(), &endpoints, 50, with_ca(dir.path(), &certs.ca));
    assert_eq!((summary.sent, summary.ok), (200, 200), "{summary:?}");
    let by = records(dir.path());
    let expect = [
        (&endpoints[0], Protocol::Http1, 5),
        (&endpoints[1], Protocol::Http1, 1024),
        (&endpoints[2], Protocol::H2, 1024),
        // ALPN: nginx offers h2 over TLS.
        (&endpoints[3], Protocol::H2, 1024),
    ];
    for (endpoint, protocol, bytes) in expect {
        let rows = &by[endpoint.as_str()];
        assert_eq!(rows.len(), 50, "{endpoint}");
        for r in rows {
            assert_eq!(r.wire.protocol, Some(protocol), "{endpoint}");
            assert_eq!(r.wire.status, Some(200), "{endpoint}");
            assert_eq!(r.wire.response_bytes, Some(bytes), "{endpoint}");
            assert_eq!(r.wire.request_bytes, Some(0), "{endpoint}");
            assert!(r.send_lag_ns.is_some() && r.latency_us.is_some());
        }
    }
}

#[test]
fn not_found_unavailable_and_reset_are_recorded_as_such_and_a_post_carries_its_payload() {
    let _turn = turn();
    let nginx = Nginx::start(None);
    let dir = tempfile::tempdir().unwrap();
    let h1 = |path: &str| format!("http://127.0.0.1:{}{path}", nginx.http);
    let endpoints = vec![h1("/missing"), h1("/busy"), h1("/reset"), h1("/")];
    let summary = run(
        dir.path(),
        &endpoints,
        20,
        RequestArgs {
            method: "POST".into(),
            payload_bytes: Some(3000),
            headers: vec![("x-test".into(), "1".into())],
            ..RequestArgs::default()
        },
    );
    assert_eq!(summary.outcomes.get("http_404"), Some(&20), "{summary:?}");
    assert_eq!(summary.outcomes.get("http_503"), Some(&20), "{summary:?}");
    assert_eq!(
        summary.outcomes.get("error:unavailable"),
        Some(&20),
        "{summary:?}"
    );
    assert_eq!(summary.ok, 20);
    let by = records(dir.path());
    assert!(by[&endpoints[0]].iter().all(|r| r.wire.status == Some(404)));
    assert!(by[&endpoints[1]].iter().all(|r| r.wire.status == Some(503)));
    assert!(by[&endpoints[2]].iter().all(|r| r.wire.status.is_none()));
    assert!(by[&endpoints[3]]
        .iter()
        .all(|r| r.wire.request_bytes == Some(3000) && r.wire.status == Some(200)));
    // Each failing endpoint's first cause, once.
    assert!(
        summary.failures[&endpoints[0]].contains("HTTP 404"),
        "{:?}",
        summary.failures
    );
    assert!(!summary.failures.contains_key(&endpoints[3]));
    assert_eq!(summary.every_call_failed(), None);
}

#[test]
fn an_endpoints_file_gives_each_endpoint_its_own_method_headers_and_payload() {
    let _turn = turn();
    let nginx = Nginx::start(None);
    let dir = tempfile::tempdir().unwrap();
    let echo = |who: &str| format!("http://127.0.0.1:{}/echo?who={who}", nginx.http);
    let endpoints = vec![echo("own"), echo("flags"), echo("payload")];
    let file = dir.path().join("endpoints.json");
    std::fs::write(
        &file,
        serde_json::json!([
            {"proxy": "a", "endpoint": endpoints[0], "method": "POST",
             "headers": ["x-tenant: a1"], "payload_bytes": 300},
            {"proxy": "b", "endpoint": endpoints[1]},
            {"proxy": "c", "endpoint": endpoints[2], "payload_bytes": 77},
            // An entry whose endpoint the load does not call is checked, not used.
            {"endpoint": "http://127.0.0.1:9/unused", "method": "post"},
        ])
        .to_string(),
    )
    .unwrap();
    let summary = run(
        dir.path(),
        &endpoints,
        20,
        RequestArgs {
            headers: vec![("x-tenant".into(), "bravo".into())],
            endpoint_requests: Some(file.clone()),
            ..RequestArgs::default()
        },
    );
    assert_eq!(summary.ok, 60, "{summary:?}");
    let by = records(dir.path());
    // nginx answers `METHOD|x-tenant|PayloadLengthBytes`: each reply's size says what its request was.
    for (endpoint, request_bytes, reply) in [
        (&endpoints[0], 300, "POST|a1|"),
        (&endpoints[1], 0, "GET|bravo|"),
        (&endpoints[2], 0, "GET|bravo|77"),
    ] {
        let rows = &by[endpoint];
        assert_eq!(rows.len(), 20, "{endpoint}");
        for r in rows {
            assert_eq!(
                (r.wire.request_bytes, r.wire.response_bytes),
                (Some(request_bytes), Some(reply.len() as u64)),
                "{endpoint}: {reply}"
            );
        }
    }

    // A bad entry stops the run before anything is written, naming the file, its JSON path and the value.
    std::fs::write(
        &file,
        serde_json::json!([{"endpoint": endpoints[0], "method": "PUT"}]).to_string(),
    )
    .unwrap();
    let out = dir.path().join("refused");
    std::fs::create_dir(&out).unwrap();
    let load = common::constant_load(&out, &endpoints[..1], 5, 1);
    let schedule = Schedule::from_file(&load, 1_000_000, 0, 1).unwrap();
    let e = replay(
        schedule,
        options(
            &out,
            RequestArgs {
                endpoint_requests: Some(file.clone()),
                ..RequestArgs::default()
            },
        ),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("endpoints.json [0].method") && e.contains("`PUT` is not GET or POST"),
        "{e}"
    );
    assert!(!out.join("records.csv").exists());
}

#[test]
fn tls_failures_name_the_host_and_the_reason() {
    let _turn = turn();
    let certs = testkit::tls::certificates(&["localhost"]);
    let nginx = Nginx::start(Some((&certs.server, &certs.server_key)));
    let dir = tempfile::tempdir().unwrap();
    let port = nginx.https.unwrap();
    let attempt = |endpoint: String, request: RequestArgs| {
        let load = constant_load(dir.path(), &[endpoint], 5, 1);
        let schedule = Schedule::from_file(&load, 1_000_000, 0, 1).unwrap();
        replay(schedule, options(dir.path(), request)).unwrap_err()
    };
    // Not signed by a root this machine trusts.
    let e = attempt(format!("https://localhost:{port}/"), RequestArgs::default());
    assert!(matches!(e, ReplayError::Unreachable { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("TLS handshake with localhost: unknown issuer"),
        "{text}"
    );
    // Trusted, but for another name.
    let e = attempt(
        format!("https://127.0.0.1:{port}/"),
        with_ca(dir.path(), &certs.ca),
    );
    assert!(e.to_string().contains("name mismatch"), "{e}");
    // Not a certificate file.
    std::fs::write(dir.path().join("not.pem"), "hello").unwrap();
    let e = attempt(
        format!("https://localhost:{port}/"),
        RequestArgs {
            ca_cert: Some(dir.path().join("not.pem")),
            ..RequestArgs::default()
        },
    );
    assert!(
        e.to_string().contains("--ca-cert") && e.to_string().contains("no certificate"),
        "{e}"
    );
    // Nothing was left behind by the runs that could not start.
    assert!(!dir.path().join("records.csv").exists());
}

#[test]
fn a_fresh_connection_per_call_is_answered_over_every_protocol() {
    let _turn = turn();
    let certs = testkit::tls::certificates(&["localhost"]);
    let nginx = Nginx::start(Some((&certs.server, &certs.server_key)));
    let dir = tempfile::tempdir().unwrap();
    let endpoints = vec![
        format!("http://127.0.0.1:{}/", nginx.http),
        format!("h2c://127.0.0.1:{}/", nginx.h2c),
        format!("https://localhost:{}/", nginx.https.unwrap()),
    ];
    let request = RequestArgs {
        connection_per_call: true,
        ..with_ca(dir.path(), &certs.ca)
    };
    let summary = run(dir.path(), &endpoints, 20, request);
    assert_eq!((summary.sent, summary.ok), (60, 60), "{summary:?}");
}

#[test]
fn a_run_in_which_every_call_failed_writes_its_files_and_exits_non_zero_with_the_cause() {
    let _turn = turn();
    let nginx = Nginx::start(None);
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{}/busy", nginx.http);
    let load = constant_load(dir.path(), std::slice::from_ref(&endpoint), 20, 1);
    let out = wait_bounded(
        spawn_invoker(
            &load,
            dir.path(),
            &["-duration", "1", "--header", "x-token: $HOME"],
        ),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("every call failed (20 sent"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{endpoint}: 127.0.0.1:{} answered HTTP 503",
            nginx.http
        )),
        "{stderr}"
    );
    // A complete run: its files are there.
    assert_eq!(records(dir.path())[&endpoint].len(), 20);
    assert!(dir.path().join("summary.json").exists());

    // A header naming a variable that is not set stops the run before anything is written.
    let dir = tempfile::tempdir().unwrap();
    let load = constant_load(dir.path(), &[endpoint], 20, 1);
    let out = wait_bounded(
        spawn_invoker(
            &load,
            dir.path(),
            &["--header", "Authorization: Bearer $NO_SUCH_TOKEN_5"],
        ),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("`NO_SUCH_TOKEN_5` is not set"), "{stderr}");
    assert!(!dir.path().join("records.csv").exists());
}

/// An emulated function that waits `ms` per call (no CPU), on loopback.
fn emulated_function(ms: f64) -> emulated::LocalServer {
    let behaviour = emulated::Behaviour {
        cpu_share: 0.0,
        ..emulated::Behaviour::fixed("f", ms, 0.0)
    };
    emulated::LocalServer::start(behaviour, 1).unwrap()
}

#[test]
fn the_emulated_function_answers_grpc_http1_and_h2c_on_one_port_with_its_report() {
    let _turn = turn();
    let server = emulated_function(2.0);
    let dir = tempfile::tempdir().unwrap();
    let endpoints = vec![
        server.endpoint(),
        format!("http://{}/", server.endpoint()),
        format!("h2c://{}/", server.endpoint()),
    ];
    let summary = run(
        dir.path(),
        &endpoints,
        30,
        RequestArgs {
            payload_bytes: Some(2048),
            ..RequestArgs::default()
        },
    );
    assert_eq!((summary.sent, summary.ok), (90, 90), "{summary:?}");
    let by = records(dir.path());
    for (endpoint, protocol) in
        endpoints
            .iter()
            .zip([Protocol::Grpc, Protocol::Http1, Protocol::H2])
    {
        for r in &by[endpoint.as_str()] {
            assert_eq!(r.wire.protocol, Some(protocol), "{endpoint}");
            // What the function did, read from its report (a header over HTTP, the message over gRPC).
            let exec = r.exec_us.expect("the function's report");
            assert!((2_000..200_000).contains(&exec), "{endpoint}: {exec}");
            assert!(r.instance.is_some() && r.cold.is_some());
        }
    }
    // The payload: a GET asks for a reply of that size; gRPC carries it in the request's name.
    let http = &by[endpoints[1].as_str()][0].wire;
    assert_eq!(
        (http.request_bytes, http.response_bytes),
        (Some(0), Some(2048))
    );
    let grpc = &by[endpoints[0].as_str()][0].wire;
    assert!(grpc.request_bytes.unwrap() >= 2048, "{grpc:?}");
    assert_eq!(grpc.status, Some(0));
}

#[test]
fn stellar_increment_limits_are_a_busy_spin_the_function_reports() {
    let _turn = turn();
    let server = emulated_function(1.0);
    let dir = tempfile::tempdir().unwrap();
    let rate = emulated::function::spin_rate_per_us();
    // About 20 ms of spinning per call.
    let limit = (rate * 20_000.0) as u64;
    let endpoint = format!("http://{}/?IncrementLimit={limit}", server.endpoint());
    let summary = run(
        dir.path(),
        std::slice::from_ref(&endpoint),
        5,
        RequestArgs::default(),
    );
    assert_eq!(summary.ok, 5, "{summary:?}");
    for r in &records(dir.path())[&endpoint] {
        let exec = r.exec_us.unwrap();
        // Spinning, not the 1 ms the behaviour would draw; loose bounds for a shared machine.
        assert!(
            (10_000..2_000_000).contains(&exec),
            "{exec} µs for {limit} increments"
        );
    }
    let bad = format!("http://{}/?IncrementLimit=lots", server.endpoint());
    let summary = run(
        dir.path(),
        std::slice::from_ref(&bad),
        2,
        RequestArgs::default(),
    );
    assert_eq!(summary.outcomes.get("http_400"), Some(&2), "{summary:?}");
}

#[test]
fn connections_the_server_closes_after_an_answer_or_while_idle_are_replaced_without_a_failed_call()
{
    let _turn = turn();
    let nginx = Nginx::start(None);
    let dir = tempfile::tempdir().unwrap();
    // `/short-lived` answers `Connection: close` every 2nd call on a connection; `/idle-closing` closes a
    // connection idle for 50 ms, so at 4 calls/s every call finds the connections it kept closed.
    let short = format!("http://127.0.0.1:{}/short-lived", nginx.http);
    let idle = format!("http://127.0.0.1:{}/idle-closing", nginx.http);
    let summary = run(
        dir.path(),
        std::slice::from_ref(&short),
        200,
        RequestArgs::default(),
    );
    assert_eq!((summary.sent, summary.ok), (200, 200), "{summary:?}");
    let dir = tempfile::tempdir().unwrap();
    let summary = run(
        dir.path(),
        std::slice::from_ref(&idle),
        4,
        RequestArgs::default(),
    );
    assert_eq!((summary.sent, summary.ok), (4, 4), "{summary:?}");
    assert!(records(dir.path())[&idle]
        .iter()
        .all(|r| r.wire.response_bytes == Some(4)));
}

#[test]
fn calls_that_find_every_connection_busy_wait_for_one_and_the_wait_is_their_send_lag() {
    let _turn = turn();
    // 200 ms per call; 6 calls due within 6 ms.
    let server = emulated_function(200.0);
    let endpoint = format!("http://{}/", server.endpoint());
    let lags = |max_connections: u32| {
        let dir = tempfile::tempdir().unwrap();
        let load = dir.path().join("load.json");
        let mut w = formats::LoadWriter::create(&load, std::slice::from_ref(&endpoint)).unwrap();
        let calls: Vec<formats::Invocation> = (0..6)
            .map(|k| formats::Invocation {
                offset_us: k * 1000,
                endpoint: 0,
            })
            .collect();
        w.write_period(&calls).unwrap();
        w.commit().unwrap();
        let schedule = Schedule::from_file(&load, 1_000_000, 0, 1).unwrap();
        let request = RequestArgs {
            max_connections,
            ..RequestArgs::default()
        };
        let summary = replay(schedule, options(dir.path(), request)).unwrap();
        assert_eq!(summary.ok, 6, "{summary:?}");
        let mut lags: Vec<u64> = records(dir.path())[&endpoint]
            .iter()
            .map(|r| r.send_lag_ns.unwrap() / 1_000_000)
            .collect();
        lags.sort_unstable();
        lags
    };
    // Two connections: the 3rd and 4th call wait one call's time, the 5th and 6th two.
    let two = lags(2);
    assert!(
        two[1] < 100 && two[2] >= 150 && two[4] >= 350,
        "lags (ms): {two:?}"
    );
    // Enough connections: each call opens its own, none waits.
    let many = lags(64);
    assert!(many[5] < 100, "lags (ms): {many:?}");
}

#[test]
fn aws_signed_calls_carry_their_signature() {
    let _turn = turn();
    let nginx = Nginx::start(None);
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{}/authorization", nginx.http);
    let load = constant_load(dir.path(), std::slice::from_ref(&endpoint), 5, 1);
    let run = |env: &[(&str, &str)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_invoker"));
        c.args([
            "-traceFile",
            load.to_str().unwrap(),
            "-min=false",
            "-warmup",
            "0",
            "-duration",
            "1",
        ])
        .args(["-latf", dir.path().join("lat.csv").to_str().unwrap()])
        .args([
            "--records",
            dir.path().join("records.csv").to_str().unwrap(),
        ])
        .args(["--aws-sigv4", "execute-api:us-east-1"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN");
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        wait_bounded(c.spawn().unwrap(), Duration::from_secs(30))
    };
    // Without credentials: refused before anything is sent, naming the variable.
    let out = run(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr
                .contains("--aws-sigv4: the environment variable `AWS_ACCESS_KEY_ID` is not set"),
        "{stderr}"
    );
    // With them: every call carries AWS4-HMAC-SHA256 for the scope asked, and nginx echoes it back.
    let out = run(&[
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let day = "20150830".len();
    let expected = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{}/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
        "d".repeat(day),
        "s".repeat(64)
    )
    .len() as u64;
    let rows = &records(dir.path())[&endpoint];
    assert_eq!(rows.len(), 5);
    assert!(
        rows.iter().all(|r| r.wire.response_bytes == Some(expected)),
        "{rows:?}"
    );
}

#[test]
fn a_grpc_request_over_tonics_four_mib_default_is_taken_by_the_emulated_function() {
    let _turn = turn();
    let server = emulated_function(1.0);
    let dir = tempfile::tempdir().unwrap();
    let summary = run(
        dir.path(),
        &[server.endpoint()],
        5,
        RequestArgs {
            payload_bytes: Some(5 << 20),
            ..RequestArgs::default()
        },
    );
    assert_eq!((summary.sent, summary.ok), (5, 5), "{summary:?}");
}
