//! The invoker binary's `--metrics-addr`: Prometheus' text format served while it replays, gone after.

use std::time::Duration;

use proto::testing::TestServer;

mod common;
use common::{constant_load, spawn_invoker};

/// `GET http://addr/metrics` with the standard library: the body, if served.
fn scrape(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| body.to_owned())
}

/// The value of the sample `series` (`name` or `name{labels}`) in an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_binary_serves_metrics_while_it_replays() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(Duration::ZERO).unwrap();
    let load = constant_load(dir.path(), &[server.endpoint()], 100, 3);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = spawn_invoker(
        &load,
        dir.path(),
        &["-duration", "3", "--metrics-addr", &addr],
    );
    let text = testkit::wait_until(Duration::from_secs(30), "a call sent, scraped", || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the invoker ended before it was scraped"
        );
        scrape(&addr).filter(|t| sample(t, "loadgen_calls_sent_total").is_some_and(|n| n > 0.0))
    });
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let due = sample(&text, "loadgen_calls_scheduled_total").unwrap();
    let sent = sample(&text, "loadgen_calls_sent_total").unwrap();
    let ok = sample(&text, "loadgen_calls_total{outcome=\"ok\"}").unwrap_or(0.0);
    assert!(ok <= sent && sent <= due && due < 300.0, "{text}");
    assert!(
        text.contains("# TYPE loadgen_latency_seconds histogram"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    // Gone with the replay.
    assert!(scrape(&addr).is_none());
}
