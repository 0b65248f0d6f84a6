//! The cost of observing a replay: the same `loadgen run` at 10,000 calls/s (an RPS load of 1 + 10 s on
//! the local fleet, dispatcher pinned with `--dispatcher-cpu 1`), with everything watching it off
//! (`--quiet --scale-interval 0`) and on (the live view, written to a pipe every second; `/metrics`,
//! scraped every second by this benchmark; the local scale collector every second), runs alternating,
//! 5 of each (`BENCH_REPEATS`).
//!
//! The scraper and the reader of the live view run in this benchmark's own threads, kept on CPU 0, as
//! observers on another machine would be. Prints, as median [min–max]: the send-lag p99 of the measured window (summary.json), the achieved
//! rate, and the CPU time of the whole `loadgen run` process (user + system: the invoker, the local
//! fleet and the observers together), with the hypervisor's steal over the run. Written to
//! `bench-results/observe.txt`. `cargo bench -p loadgen --bench observe`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use host::bench::{spread, Output};

mod common;
use common::{output_path, path};

/// One run: (send-lag p99 µs, achieved calls/s, CPU seconds, steal ms all CPUs, scrapes).
type Measured = (f64, f64, f64, f64, u64);

/// Runs `loadgen run` once, observed or not.
// The child is reaped by wait4 (which also gives its rusage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run(dir: &std::path::Path, observed: bool) -> Measured {
    let out = dir.join(if observed { "on" } else { "off" });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut args: Vec<String> = [
        "run",
        "-o",
        path(&out),
        "--force",
        "-p",
        "builtin",
        "--rps",
        "10000",
        "--rps-duration-ms",
        "1",
        "-i",
        "equidistant",
        "-m",
        "false",
        "-w",
        "1",
        "-d",
        "10",
        "--seed",
        "1",
        "--dispatcher-cpu",
        "1",
    ]
    .map(String::from)
    .to_vec();
    if observed {
        args.extend(
            [
                "--metrics-addr",
                &addr,
                "--scale-interval",
                "1",
                "--live-interval",
                "1",
            ]
            .map(String::from),
        );
    } else {
        args.extend(["--quiet", "--scale-interval", "0"].map(String::from));
    }
    let steal_before = host::steal_ms();
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start loadgen run");
    let mut stdout = child.stdout.take().unwrap();
    // This process stands for observers on other machines: its threads keep off the dispatcher's CPU.
    let drain = std::thread::spawn(move || {
        host::pin_to(&[0]);
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    // The scraper: once a second, as Prometheus would.
    let done = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(AtomicU64::new(0));
    let scraper = observed.then(|| {
        let (done, scrapes) = (Arc::clone(&done), Arc::clone(&scrapes));
        std::thread::spawn(move || {
            host::pin_to(&[0]);
            let client = reqwest::blocking::Client::new();
            let url = format!("http://{addr}/metrics");
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                if client
                    .get(&url)
                    .timeout(Duration::from_secs(1))
                    .send()
                    .and_then(|r| r.text())
                    .is_ok_and(|t| t.contains("loadgen_calls_sent_total"))
                {
                    scrapes.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
            }
        })
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, into structs we own.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    done.store(true, Ordering::Relaxed);
    if let Some(s) = scraper {
        let _ = s.join();
    }
    let text = drain.join().unwrap_or_default();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "loadgen run failed: {text}"
    );
    if observed {
        assert!(text.contains("live t="), "the live view wrote nothing");
    }
    let steal: f64 = host::steal_between(&steal_before, &host::steal_ms())
        .iter()
        .map(|(_, ms)| ms)
        .sum();
    let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    (
        summary["send_lag_us"]["p99"].as_f64().unwrap(),
        summary["achieved_rate"].as_f64().unwrap(),
        cpu(usage.ru_utime) + cpu(usage.ru_stime),
        steal,
        scrapes.load(Ordering::Relaxed),
    )
}

fn main() {
    let mut out = Output::new(
        "cargo bench -p loadgen --bench observe",
        &output_path("observe"),
    );
    let runs: usize = std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    out.line(&format!(
        "# loadgen run --rps 10000 (1 + 10 s, local fleet, --dispatcher-cpu 1); {runs} runs each, alternating; median [min–max]"
    ));
    let mut results: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..runs {
        for (k, observed) in [false, true].into_iter().enumerate() {
            results[k].push(run(dir.path(), observed));
        }
    }
    for (k, label) in [
        "off (--quiet --scale-interval 0)",
        "on (live view, /metrics scraped every 1 s, local scale collector every 1 s)",
    ]
    .iter()
    .enumerate()
    {
        let r = &results[k];
        let col = |f: fn(&Measured) -> f64| r.iter().map(f).collect::<Vec<f64>>();
        out.line(&format!(
            "{label}: send-lag p99 {} µs, achieved {} calls/s, process CPU {} s, steal {} ms{}",
            spread(&col(|x| x.0), 1),
            spread(&col(|x| x.1), 0),
            spread(&col(|x| x.2), 2),
            spread(&col(|x| x.3), 0),
            if k == 1 {
                format!(", scrapes per run {}", spread(&col(|x| x.4 as f64), 0))
            } else {
                String::new()
            }
        ));
        out.line(&format!(
            "  per run p99 (µs): {:?}",
            r.iter()
                .map(|x| (x.0 * 10.0).round() / 10.0)
                .collect::<Vec<_>>()
        ));
    }
    let median = |v: &[Measured]| {
        let mut p: Vec<f64> = v.iter().map(|x| x.0).collect();
        p.sort_by(f64::total_cmp);
        p[p.len() / 2]
    };
    let (off, on) = (median(&results[0]), median(&results[1]));
    out.line(&format!(
        "median p99 on / off: {:.3} (target ≤ 1.10)",
        on / off
    ));
    out.finish();
}
