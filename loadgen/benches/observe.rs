//! The cost of observing a replay: the same `loadgen run` at 10,000 calls/s (an RPS load of 1 + 10 s on
//! the local fleet, Poisson arrivals of one fixed seed, dispatcher pinned with `--dispatcher-cpu 1`), with everything watching it off
//! (`--quiet --scale-interval 0`), each observer alone (the live view, written to a pipe every second;
//! `/metrics`, scraped every second by this benchmark; the local scale collector every second), and all
//! of them on; the modes alternate run by run, 7 runs of each (`BENCH_REPEATS`).
//!
//! The scraper and the reader of the live view run in this benchmark's own threads, kept on CPU 0, as
//! observers on another machine would be. Prints, as median [min–max]: the send-lag p99 of the measured window (summary.json), the achieved
//! rate, and the CPU time of the whole `loadgen run` process (user + system: the invoker, the local
//! fleet and the observers together), with the hypervisor's steal over the run and how often the
//! dispatcher was preempted (its summary says).
//!
//! Why Poisson and not equidistant arrivals: with calls exactly 100 µs apart and a fixed function time,
//! where the answers fall between two sends is fixed for a whole run and differs from run to run, so the
//! send-lag p99 of equidistant runs jumped between ~1 and ~30 µs with nothing watching (this bench's
//! equidistant figures of 2026-11-26 00:32, in git history); Poisson gaps spread that over every run, and
//! their p99 (calls due within a send of each other) moves by a few per cent from run to run, fine enough
//! to see 10 %. Written to
//! `bench-results/observe.txt`. `cargo bench -p loadgen --bench observe`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use host::bench::{spread, Output};

mod common;
use common::{output_path, path};

/// One run: (send-lag p99 µs, achieved calls/s, CPU seconds, steal ms all CPUs, scrapes, dispatcher
/// preemptions).
type Measured = (f64, f64, f64, f64, u64, u64);

/// A run whose CPUs lost at most this much to the hypervisor, all CPUs together, and whose dispatcher
/// was preempted at most [`QUIET_PREEMPTIONS`] times the median of all runs, counts as quiet.
const QUIET_STEAL_MS: f64 = 10.0;
/// See [`QUIET_STEAL_MS`].
const QUIET_PREEMPTIONS: f64 = 1.5;

/// What watches a run.
#[derive(Clone, Copy, PartialEq)]
struct Mode {
    name: &'static str,
    live: bool,
    metrics: bool,
    collector: bool,
}

const MODES: [Mode; 5] = [
    Mode {
        name: "off (--quiet --scale-interval 0)",
        live: false,
        metrics: false,
        collector: false,
    },
    Mode {
        name: "live view only",
        live: true,
        metrics: false,
        collector: false,
    },
    Mode {
        name: "/metrics only, scraped every 1 s",
        live: false,
        metrics: true,
        collector: false,
    },
    Mode {
        name: "local scale collector only, every 1 s",
        live: false,
        metrics: false,
        collector: true,
    },
    Mode {
        name: "all on",
        live: true,
        metrics: true,
        collector: true,
    },
];

/// Runs `loadgen run` once, watched as `mode` says.
// The child is reaped by wait4 (which also gives its rusage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run(dir: &std::path::Path, mode: Mode) -> Measured {
    let out = dir.join("run");
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
        "exponential",
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
        // Its figures were measured on one instance per function: the simple platform, no cold starts.
        "--local-platform",
        "simple",
    ]
    .map(String::from)
    .to_vec();
    if mode.metrics {
        args.extend(["--metrics-addr".to_owned(), addr.clone()]);
    }
    args.push(
        if mode.live {
            "--live-interval=1"
        } else {
            "--quiet"
        }
        .to_owned(),
    );
    args.push(
        if mode.collector {
            "--scale-interval=1"
        } else {
            "--scale-interval=0"
        }
        .to_owned(),
    );
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
    let scraper = mode.metrics.then(|| {
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
    assert_eq!(
        text.contains("live t="),
        mode.live,
        "the live view as asked"
    );
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
        preemptions(summary["dispatcher"].as_str().unwrap()),
    )
}

/// The `preempted N time(s)` of a summary's dispatcher line.
fn preemptions(dispatcher: &str) -> u64 {
    let (_, after) = dispatcher
        .split_once("preempted ")
        .unwrap_or_else(|| panic!("no preemption count in `{dispatcher}`"));
    after
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no preemption count in `{dispatcher}`"))
}

fn main() {
    let mut out = Output::new(
        "cargo bench -p loadgen --bench observe",
        &output_path("observe"),
    );
    let runs: usize = std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let dir = tempfile::tempdir().unwrap();
    out.line(&format!(
        "# loadgen run --rps 10000 -i exponential --seed 1 (1 + 10 s, local fleet, --dispatcher-cpu 1); {runs} runs of each mode, alternating; median [min–max]"
    ));
    // One round first, not counted: the first runs after a build find cold caches (their p99 was the
    // highest of every mode in the first runs of this bench).
    for mode in MODES {
        run(dir.path(), mode);
    }
    let mut results: Vec<Vec<Measured>> = vec![Vec::new(); MODES.len()];
    for _ in 0..runs {
        for (k, mode) in MODES.iter().enumerate() {
            results[k].push(run(dir.path(), *mode));
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let all_preemptions: Vec<f64> = results.iter().flatten().map(|x| x.5 as f64).collect();
    let preemption_limit = QUIET_PREEMPTIONS * median(&all_preemptions);
    let quiet_run = |x: &Measured| x.3 <= QUIET_STEAL_MS && x.5 as f64 <= preemption_limit;
    for (k, mode) in MODES.iter().enumerate() {
        let r = &results[k];
        let col = |f: fn(&Measured) -> f64| r.iter().map(f).collect::<Vec<f64>>();
        out.line(&format!(
            "{}: send-lag p99 {} µs, achieved {} calls/s, process CPU {} s, steal {} ms, dispatcher preempted {} times{}",
            mode.name,
            spread(&col(|x| x.0), 1),
            spread(&col(|x| x.1), 0),
            spread(&col(|x| x.2), 2),
            spread(&col(|x| x.3), 0),
            spread(&col(|x| x.5 as f64), 0),
            if mode.metrics {
                format!(", scrapes per run {}", spread(&col(|x| x.4 as f64), 0))
            } else {
                String::new()
            }
        ));
        out.line(&format!(
            "  per run (p99 µs, steal ms, preemptions): {:?}",
            r.iter()
                .map(|x| ((x.0 * 10.0).round() / 10.0, x.3, x.5))
                .collect::<Vec<_>>()
        ));
        let quiet: Vec<f64> = r.iter().filter(|x| quiet_run(x)).map(|x| x.0).collect();
        out.line(&format!(
            "  runs the VM left quiet (steal ≤ {QUIET_STEAL_MS} ms, preempted ≤ {preemption_limit:.0} times): {} of {}, send-lag p99 {} µs",
            quiet.len(),
            r.len(),
            spread(&quiet, 1)
        ));
    }
    let p99 = |k: usize, quiet: bool| {
        let v: Vec<f64> = results[k]
            .iter()
            .filter(|x| !quiet || quiet_run(x))
            .map(|x| x.0)
            .collect();
        (!v.is_empty()).then(|| median(&v))
    };
    let ratio = |quiet: bool| match (p99(MODES.len() - 1, quiet), p99(0, quiet)) {
        (Some(on), Some(off)) => format!("{:.3}", on / off),
        _ => "-".to_owned(),
    };
    out.line(&format!(
        "median p99 all on / off: {} over all runs, {} over the quiet ones (target ≤ 1.10)",
        ratio(false),
        ratio(true)
    ));
    out.finish();
}
