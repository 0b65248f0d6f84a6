//! HTTP benchmark: the `invoker` binary over HTTP/1.1 keep-alive and h2c against a real nginx (Debian's
//! package, one process pinned to CPU 0, answering `hello` at once), beside gRPC against the in-process
//! test server (also pinned to CPU 0), open loop at constant rates; then wrk (HTTP/1.1) and h2load (h2c)
//! against the same nginx, and the highest rate the invoker sustains with 0 calls lost and send-lag p99
//! ≤ 100 µs; last, the same for a bare sender (mio, no HTTP library): the machine's ceiling.
//!
//! Every invoker run passes `--dispatcher-cpu 1` (the mode is `pinned`; the output says so); wrk and
//! h2load run under `taskset -c 1` with one thread, so each tool has one CPU and nginx the other. wrk and
//! h2load are closed loop: their latency is measured from when a connection was free, so it hides
//! queueing that an open-loop run shows in its send lag and latency.
//!
//! `cargo bench -p invoker --bench http`. `HTTP_RATES=1000,5000,10000` sets the rates, `HTTP_SECONDS` the
//! measured seconds (5), `HTTP_REPEATS` the runs per configuration (3), `HTTP_OUT` the output file
//! (`bench-results/http.txt` in the workspace).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use formats::summary::Summary;
use formats::{Invocation, LoadWriter};
use host::bench::{spread, Output};

const WARMUP: u64 = 1;
const SERVER_CPU: usize = 0;
const CLIENT_CPU: usize = 1;
/// Connections wrk and h2load keep open (h2load: 10 streams each).
const CLOSED_LOOP_CONNECTIONS: u32 = 16;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .map(|s| s.parse().unwrap_or_else(|_| panic!("{name}: an integer")))
        .unwrap_or(default)
}

/// One invoker run's figures.
struct Run {
    s: Summary,
    lost: u64,
    steal_ms: f64,
}

fn main() {
    let rates: Vec<u64> = std::env::var("HTTP_RATES")
        .unwrap_or_else(|_| "1000,5000,10000".into())
        .split(',')
        .map(|r| r.trim().parse().expect("HTTP_RATES: integers"))
        .collect();
    let seconds = env_number("HTTP_SECONDS", 5);
    let repeats = env_number("HTTP_REPEATS", 3) as usize;
    let out_path = std::env::var_os("HTTP_OUT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench-results/http.txt"),
        PathBuf::from,
    );
    let mut out = Output::new("cargo bench -p invoker --bench http", &out_path);
    let dir = tempfile::tempdir().expect("temp dir");
    let nginx = testkit::nginx::Nginx::start(None);
    pin_process(nginx.pid(), SERVER_CPU);
    let grpc = proto::testing::TestServer::start_on(Duration::ZERO, || {
        assert!(host::pin_to(&[SERVER_CPU]), "pinning the gRPC server");
    })
    .expect("the gRPC server starts");
    let targets = [
        ("grpc", grpc.endpoint()),
        ("http/1.1", format!("http://127.0.0.1:{}/", nginx.http)),
        ("h2c", format!("h2c://127.0.0.1:{}/", nginx.h2c)),
    ];
    out.line(&format!(
        "# {WARMUP} s warm-up + {seconds} s measured per run, {repeats} run(s) per protocol and rate; servers on CPU {SERVER_CPU} \
         (nginx {}, one process; gRPC: proto::testing); mode pinned: invoker flags `--dispatcher-cpu {CLIENT_CPU}`",
        nginx_version()
    ));
    out.line(&format!(
        "{:>8} {:>6} {:>9} | {:>31} | {:>13} | {:>4} | {:>5}",
        "protocol",
        "rate/s",
        "achieved",
        "send lag p50/p99/p99.9/max (us)",
        "latency p50/p99",
        "lost",
        "steal ms"
    ));
    let mut runs: Vec<(&str, u64, Run)> = Vec::new();
    for (protocol, endpoint) in &targets {
        for &rate in &rates {
            for _ in 0..repeats {
                let run = run_once(dir.path(), endpoint, rate, seconds);
                let (s, l) = (&run.s, &run.s.send_lag_us);
                out.line(&format!(
                    "{:>8} {:>6} {:>9.1} | {:>6.2} {:>6.2} {:>8.2} {:>8.1} | {:>6.0} {:>6.0} | {:>4} | {:>5.0}",
                    protocol, rate, s.achieved_rate, l.p50, l.p99, l.p999, l.max,
                    s.latency_us.p50, s.latency_us.p99, run.lost, run.steal_ms
                ));
                runs.push((protocol, rate, run));
            }
        }
    }
    out.line("");
    out.line(&format!(
        "# over {repeats} run(s): median [min–max]; send lag in µs; steal on CPU {CLIENT_CPU}, ms"
    ));
    out.line(&format!(
        "{:>8} {:>6} | {:>26} | {:>22} | {:>24} | {:>12} | {:>16}",
        "protocol", "rate/s", "achieved/s", "send lag p50", "send lag p99", "lost", "steal ms"
    ));
    for (protocol, _) in &targets {
        for &rate in &rates {
            let of: Vec<&Run> = runs
                .iter()
                .filter(|(p, r, _)| p == protocol && *r == rate)
                .map(|(_, _, run)| run)
                .collect();
            let pick = |f: &dyn Fn(&Run) -> f64| of.iter().map(|r| f(r)).collect::<Vec<f64>>();
            out.line(&format!(
                "{:>8} {:>6} | {:>26} | {:>22} | {:>24} | {:>12} | {:>16}",
                protocol,
                rate,
                spread(&pick(&|r| r.s.achieved_rate), 1),
                spread(&pick(&|r| r.s.send_lag_us.p50), 2),
                spread(&pick(&|r| r.s.send_lag_us.p99), 2),
                spread(&pick(&|r| r.lost as f64), 0),
                spread(&pick(&|r| r.steal_ms), 0),
            ));
        }
    }
    out.line("");
    closed_loop_tools(&mut out, &nginx, seconds, repeats);
    out.line("");
    highest_open_loop_rates(&mut out, dir.path(), &targets[1..], seconds, repeats);
    out.line("");
    bare_sender_ceiling(&mut out, nginx.http, seconds, repeats);
    out.finish();
}

/// wrk (HTTP/1.1) and h2load (h2c) against the same nginx, each on the client CPU with one thread.
fn closed_loop_tools(
    out: &mut Output,
    nginx: &testkit::nginx::Nginx,
    seconds: u64,
    repeats: usize,
) {
    out.line(&format!(
        "# closed loop, {CLOSED_LOOP_CONNECTIONS} connections, one thread on CPU {CLIENT_CPU}; latency from a free connection (queueing hidden)"
    ));
    let c = CLOSED_LOOP_CONNECTIONS.to_string();
    let mut wrk_rates = Vec::new();
    for _ in 0..repeats {
        let text = tool(&[
            "wrk",
            "-t1",
            "-c",
            &c,
            "-d",
            &format!("{seconds}s"),
            "--latency",
            &format!("http://127.0.0.1:{}/", nginx.http),
        ]);
        let rate = field_after(&text, "Requests/sec:");
        let p50 = latency_line(&text, "50%");
        let p99 = latency_line(&text, "99%");
        out.line(&format!(
            "wrk      http/1.1 {rate:>10.0} req/s  latency p50 {p50} p99 {p99}"
        ));
        wrk_rates.push(rate);
    }
    let mut h2load_rates = Vec::new();
    for _ in 0..repeats {
        let n = (80_000 * seconds).to_string();
        let text = tool(&[
            "h2load",
            "-t",
            "1",
            "-c",
            &c,
            "-m",
            "10",
            "-n",
            &n,
            &format!("http://127.0.0.1:{}/", nginx.h2c),
        ]);
        let finished = text
            .lines()
            .find(|l| l.starts_with("finished in"))
            .unwrap_or("");
        let rate: f64 = finished
            .split(',')
            .nth(1)
            .and_then(|f| f.trim().strip_suffix(" req/s"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let request = text
            .lines()
            .find(|l| l.starts_with("time for request"))
            .unwrap_or("");
        out.line(&format!(
            "h2load   h2c      {rate:>10.0} req/s  {}",
            request.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
        h2load_rates.push(rate);
    }
    out.line(&format!(
        "# wrk {} req/s, h2load {} req/s (median [min–max])",
        spread(&wrk_rates, 0),
        spread(&h2load_rates, 0)
    ));
    // One connection: each request goes alone and nginx sleeps between them, as an open-loop call
    // does at a steady rate; what a lonely request costs on this machine, beside the batched ones above.
    let mut lonely = Vec::new();
    for _ in 0..repeats {
        let text = tool(&[
            "wrk",
            "-t1",
            "-c1",
            "-d",
            &format!("{seconds}s"),
            &format!("http://127.0.0.1:{}/", nginx.http),
        ]);
        lonely.push(field_after(&text, "Requests/sec:"));
    }
    out.line(&format!(
        "# wrk with 1 connection (every request alone): {} req/s (median [min–max])",
        spread(&lonely, 0)
    ));
}

/// Raises the rate (5,000/s steps from 20,000/s) while most of `repeats` runs at it lose no call and keep
/// send-lag p99 ≤ 100 µs; the last such rate, per protocol. Every run is printed.
fn highest_open_loop_rates(
    out: &mut Output,
    dir: &Path,
    targets: &[(&str, String)],
    seconds: u64,
    repeats: usize,
) {
    out.line(&format!(
        "# highest open-loop rate with 0 lost and send-lag p99 ≤ 100 µs in most of {repeats} run(s) (rising by 5000/s)"
    ));
    for (protocol, endpoint) in targets {
        let mut best = None;
        for rate in (20_000..=100_000).step_by(5_000) {
            let mut passes = 0;
            for _ in 0..repeats {
                let run = run_once(dir, endpoint, rate, seconds);
                let passed = run.lost == 0 && run.s.send_lag_us.p99 <= 100.0;
                passes += usize::from(passed);
                out.line(&format!(
                    "{protocol:>8} {rate:>6}/s: achieved {:.0}/s, send lag p99 {:.1} µs, lost {}, steal {:.0} ms -> {}",
                    run.s.achieved_rate,
                    run.s.send_lag_us.p99,
                    run.lost,
                    run.steal_ms,
                    if passed { "passes" } else { "fails" }
                ));
            }
            if passes * 2 <= repeats {
                break;
            }
            best = Some(rate);
        }
        out.line(&format!(
            "{protocol:>8} highest: {}",
            best.map_or("none of the rates tried".into(), |r| format!("{r}/s"))
        ));
    }
}

fn run_once(dir: &Path, endpoint: &str, rate: u64, seconds: u64) -> Run {
    let load = dir.join("load.json");
    let mut w = LoadWriter::create(&load, &[endpoint.to_owned()]).expect("load file");
    let calls: Vec<Invocation> = (0..rate)
        .map(|k| Invocation {
            offset_us: k * 1_000_000 / rate,
            endpoint: 0,
        })
        .collect();
    for _ in 0..WARMUP + seconds {
        w.write_period(&calls).expect("write");
    }
    w.commit().expect("commit");
    let summary_path = dir.join("summary.json");
    let status = Command::new(env!("CARGO_BIN_EXE_invoker"))
        .args(["-traceFile", path(&load), "-min=false", "-grpcTimeout", "5"])
        .args([
            "-warmup",
            &WARMUP.to_string(),
            "-duration",
            &seconds.to_string(),
        ])
        .args(["-latf", path(&dir.join("lat.txt"))])
        .args(["--records", path(&dir.join("records.csv"))])
        .args(["--summary", path(&summary_path)])
        .args(["--dispatcher-cpu", &CLIENT_CPU.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("run invoker");
    let s: Summary =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).expect("summary"))
            .expect("summary json");
    assert!(
        status.success() || s.ok > 0,
        "invoker failed at {rate}/s to {endpoint}"
    );
    assert!(
        s.dispatcher
            .contains(&format!("pinned to CPU {CLIENT_CPU}")),
        "{}",
        s.dispatcher
    );
    Run {
        lost: s.scheduled.saturating_sub(s.ok),
        steal_ms: s.steal_ms.get(&CLIENT_CPU).copied().unwrap_or(0.0),
        s,
    }
}

/// The same search for the least an open-loop HTTP/1.1 sender can do: one thread on the client CPU, 64
/// keep-alive connections polled with mio, a fixed request written at each due time on an idle
/// connection, no HTTP library, no records. What it sustains is this machine's ceiling for lonely
/// requests over loopback, whatever the client.
fn bare_sender_ceiling(out: &mut Output, port: u16, seconds: u64, repeats: usize) {
    out.line(&format!(
        "# bare sender (mio, 64 connections, no HTTP library, CPU {CLIENT_CPU}): highest rate with all answered and send-lag p99 ≤ 100 µs in most of {repeats} run(s)"
    ));
    let mut best = None;
    for rate in (40_000..=100_000).step_by(5_000) {
        let mut passes = 0;
        for _ in 0..repeats {
            let (p99, answered, total) = std::thread::spawn(move || {
                assert!(host::pin_to(&[CLIENT_CPU]), "pinning the bare sender");
                bare_run(port, rate, seconds)
            })
            .join()
            .expect("bare sender");
            let passed = answered == total && p99 <= 100.0;
            passes += usize::from(passed);
            out.line(&format!(
                "    bare {rate:>6}/s: send lag p99 {p99:.1} µs, answered {answered} of {total} -> {}",
                if passed { "passes" } else { "fails" }
            ));
        }
        if passes * 2 <= repeats {
            break;
        }
        best = Some(rate);
    }
    out.line(&format!(
        "    bare highest: {}",
        best.map_or("none of the rates tried".into(), |r| format!("{r}/s"))
    ));
}

/// One bare run: send-lag p99 (µs), responses read, requests due.
fn bare_run(port: u16, rate: u64, seconds: u64) -> (f64, u64, u64) {
    use mio::{Events, Interest, Poll, Token};
    use std::io::{Read, Write};
    use std::time::Instant;
    const CONNECTIONS: usize = 64;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut poll = Poll::new().expect("poll");
    let mut streams = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let std_stream = std::net::TcpStream::connect(addr).expect("connect");
        std_stream.set_nodelay(true).expect("nodelay");
        std_stream.set_nonblocking(true).expect("nonblocking");
        let mut s = mio::net::TcpStream::from_std(std_stream);
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE)
            .expect("register");
        streams.push(s);
    }
    let request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut idle: Vec<usize> = (0..CONNECTIONS).collect();
    let mut events = Events::with_capacity(1024);
    let total = rate * seconds;
    let start = Instant::now() + Duration::from_millis(20);
    let give_up = start + Duration::from_secs(seconds + 5);
    let mut lags: Vec<u64> = Vec::with_capacity(total as usize);
    let (mut sent, mut answered) = (0u64, 0u64);
    let mut buf = [0u8; 4096];
    while answered < total && Instant::now() < give_up {
        if sent < total {
            let due = start + Duration::from_nanos(sent * 1_000_000_000 / rate);
            if Instant::now() >= due {
                if let Some(c) = idle.pop() {
                    if streams[c].write_all(request).is_ok() {
                        lags.push(due.elapsed().as_nanos() as u64);
                    }
                    sent += 1;
                }
            }
        }
        poll.poll(&mut events, Some(Duration::ZERO)).expect("poll");
        for event in &events {
            let c = event.token().0;
            // One request in flight per connection, and a reply of a few bytes: one read, one reply.
            if let Ok(n) = streams[c].read(&mut buf) {
                if n > 0 {
                    answered += 1;
                    idle.push(c);
                }
            }
        }
    }
    lags.sort_unstable();
    let p99 = lags
        .get(((lags.len().max(1) - 1) as f64 * 0.99) as usize)
        .map_or(f64::INFINITY, |&ns| ns as f64 / 1e3);
    (p99, answered, total)
}

/// Runs a closed-loop tool on the client CPU; its standard output.
fn tool(args: &[&str]) -> String {
    let out = Command::new("taskset")
        .args(["-c", &CLIENT_CPU.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (apt-get install wrk nghttp2-client)", args[0]));
    assert!(
        out.status.success(),
        "{}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn field_after(text: &str, label: &str) -> f64 {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn latency_line(text: &str, percentile: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(percentile))
        .map_or_else(|| "?".into(), |v| v.trim().to_owned())
}

fn pin_process(pid: u32, cpu: usize) {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("taskset");
    assert!(status.success(), "pinning nginx to CPU {cpu}");
}

fn nginx_version() -> String {
    let out = Command::new(testkit::nginx::binary().expect("nginx"))
        .arg("-v")
        .output()
        .expect("nginx -v");
    String::from_utf8_lossy(&out.stderr)
        .trim()
        .trim_start_matches("nginx version: ")
        .to_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
