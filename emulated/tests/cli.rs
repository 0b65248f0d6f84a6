//! The `emulated-function` binary's command line: every number bounded, its own help, errors as one line.

use std::process::{Command, Output};

fn emulated(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emulated-function"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap()
}

#[test]
fn numbers_out_of_bounds_are_refused_by_flag() {
    for (args, flag) in [
        (&["--duration-ms", "1e20"][..], "--duration-ms"),
        (&["--duration-ms", "NaN"], "--duration-ms"),
        (&["--duration-ms", "-1"], "--duration-ms"),
        (&["--threads", "0"], "--threads"),
        (&["--memory-mb", "1000000000"], "--memory-mb"),
        (&["--memory-budget-mb", "0"], "--memory-budget-mb"),
    ] {
        let o = emulated(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains(flag) && e.contains("invalid value"),
            "{args:?}: {e}"
        );
    }
    // Within each bound, but more working set than the budget: no request could run.
    let o = emulated(&["--memory-mb", "4096", "--memory-budget-mb", "1024"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("--memory-mb 4096 is more than --memory-budget-mb 1024"),
        "{e}"
    );
}

#[test]
fn help_is_its_own_and_errors_are_one_line() {
    let o = emulated(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.starts_with("A gRPC function server"), "{help}");
    assert!(!help.contains("Replays load.json"), "{help}");
    let o = emulated(&["--proxy", "no-such-proxy"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        e.trim(),
        "error: unknown proxy `no-such-proxy` in builtin",
        "{e}"
    );
}

/// Starts the binary, returns the child and the address it printed.
fn start(args: &[&str], port_env: Option<&str>) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut c = Command::new(env!("CARGO_BIN_EXE_emulated-function"));
    c.args(args).stdout(std::process::Stdio::piped());
    match port_env {
        Some(p) => c.env("PORT", p),
        None => c.env_remove("PORT"),
    };
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    (child, addr)
}

#[test]
fn inline_percentiles_and_knatives_port() {
    let (mut child, addr) = start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--name",
            "tf-0001",
            "--duration-percentiles",
            "0:20,50:25,100:30",
            "--memory-percentiles",
            "0:1,100:2",
        ],
        None,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reports: Vec<proto::function::FunctionReport> = runtime.block_on(async {
        let mut client = proto::greeter_client::GreeterClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let mut out = Vec::new();
        for _ in 0..5 {
            let reply = client
                .say_hello(proto::HelloRequest {
                    name: "t".into(),
                    v_hive_metadata: Vec::new(),
                })
                .await
                .unwrap();
            out.push(proto::function::FunctionReport::parse(&reply.into_inner().message).unwrap());
        }
        out
    });
    child.kill().unwrap();
    child.wait().unwrap();
    for r in &reports {
        assert_eq!(r.function, "tf-0001");
        assert!((20_000..=30_000).contains(&r.duration_us), "{r:?}");
        assert!((1..=2).contains(&r.memory_mb), "{r:?}");
    }
    // Knative gives the port in $PORT: without --listen, the server listens on it, on every interface.
    let (mut child, addr) = start(&["--duration-ms", "1"], Some("0"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(addr.starts_with("0.0.0.0:"), "{addr}");
    let o = emulated(&["--duration-percentiles", "0:5,200:9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("percentile must be 0 to 100"));
}

/// `GET http://addr/metrics` with the standard library: the body.
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_owned()
}

#[test]
fn the_binary_serves_its_metrics() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let (mut child, addr) = start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--duration-ms",
            "1",
            "--memory-mb",
            "1",
            "--metrics-addr",
            &metrics,
        ],
        None,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = proto::greeter_client::GreeterClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        for _ in 0..3 {
            client
                .say_hello(proto::HelloRequest {
                    name: "t".into(),
                    v_hive_metadata: Vec::new(),
                })
                .await
                .unwrap();
        }
    });
    let text = scrape(&metrics);
    child.kill().unwrap();
    child.wait().unwrap();
    for expected in [
        "emulated_requests_total 3\n",
        "emulated_cold_starts_total 1\n",
        "emulated_in_flight 0\n",
        "emulated_instances 1\n",
        "emulated_busy_threads 0\n",
        // The instance holds its 1 MiB footprint between calls.
        "emulated_working_set_bytes 1048576\n",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
}
