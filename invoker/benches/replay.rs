//! Replay benchmark: the `invoker` binary against an `emulated-function` server doing no work, both on this
//! machine (loopback), at constant rates, 2 warm-up + 10 measured seconds each. Prints achieved rate,
//! dispatch lag, send lag (hand-off to the gRPC client: the honest one), latency, records lost, and the
//! hypervisor's steal time on the dispatcher's CPU during the run (all CPUs when unpinned): a virtual CPU
//! taken away for milliseconds shows as milliseconds of lag that no guest software can prevent.
//!
//! Each rate runs in three modes: the dispatcher under the normal scheduler; `pinned`, the dispatcher alone
//! on CPU 1 (`--dispatcher-cpu 1`) with the server on CPU 0; and `realtime`, pinned the same way and
//! `SCHED_FIFO` (`--realtime`, root only; the summary says when it was refused). Unpinned, a real-time
//! dispatcher can land on the server's CPU and starve it. The server runs on CPU 0 in every mode.
//!
//! `cargo bench -p invoker --bench replay`; `REPLAY_RATES=1000,50000` overrides the rates,
//! `REPLAY_SECONDS` the measured seconds, `REPLAY_MODES=normal` or `realtime` runs one mode,
//! `REPLAY_REPEATS=5` runs each configuration five times.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use invoker::stats::Summary;
use loadfile::{Invocation, LoadWriter};

const WARMUP: u64 = 2;

fn main() {
    let rates: Vec<u64> = std::env::var("REPLAY_RATES")
        .unwrap_or_else(|_| "1000,5000,10000,20000,30000,40000".into())
        .split(',')
        .map(|r| r.trim().parse().expect("REPLAY_RATES: integers"))
        .collect();
    let seconds: u64 = std::env::var("REPLAY_SECONDS")
        .ok()
        .map(|s| s.parse().expect("REPLAY_SECONDS: integer"))
        .unwrap_or(10);
    let repeats: usize = std::env::var("REPLAY_REPEATS")
        .map(|s| s.parse().expect("REPLAY_REPEATS: integer"))
        .unwrap_or(1);
    let modes: Vec<String> = std::env::var("REPLAY_MODES")
        .unwrap_or_else(|_| "normal,pinned,realtime".into())
        .split(',')
        .map(|m| m.trim().to_owned())
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    // Loopback traffic is processed in softirq on the sending CPU unless RPS steers it elsewhere; on the
    // dispatcher's CPU that work preempts (or, under SCHED_FIFO, is starved by) the dispatcher.
    let rps = std::fs::read_to_string("/sys/class/net/lo/queues/rx-0/rps_cpus")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    println!("loopback RPS cpus mask: {rps} (0: softirq work stays on the sending CPU)");
    let mut server = Server::start();
    println!(
        "{:>8} {:>7} {:>9} | {:>29} | {:>31} | {:>13} | {:>5} | {:>5}",
        "mode",
        "rate/s",
        "achieved",
        "dispatch lag p50/p99/p99.9/max",
        "send lag p50/p99/p99.9/max (us)",
        "latency p50/p99",
        "lost",
        "steal ms"
    );
    for mode in &modes {
        for rate in rates.iter().flat_map(|&r| std::iter::repeat_n(r, repeats)) {
            let load = dir.path().join(format!("load-{rate}.json"));
            constant_load(&load, &server.endpoint, rate, WARMUP + seconds);
            let summary_path = dir.path().join(format!("summary-{rate}.json"));
            let status = Command::new(env!("CARGO_BIN_EXE_invoker"))
                .args(["-traceFile", path(&load), "-min=false", "-grpcTimeout", "5"])
                .args([
                    "-warmup",
                    &WARMUP.to_string(),
                    "-duration",
                    &seconds.to_string(),
                ])
                .args(["-latf", path(&dir.path().join("lat.txt"))])
                .args(["--records", path(&dir.path().join("records.csv"))])
                .args(["--summary", path(&summary_path)])
                .args(if mode == "realtime" {
                    &["--realtime"][..]
                } else {
                    &[][..]
                })
                .stdout(Stdio::null())
                .status()
                .expect("run invoker");
            assert!(status.success(), "invoker failed at {rate}/s");
            let s: Summary =
                serde_json::from_str(&std::fs::read_to_string(&summary_path).expect("summary"))
                    .expect("summary json");
            let lost = s.scheduled_total - s.records;
            let (d, l) = (&s.dispatch_lag_us, &s.send_lag_us);
            // Steal on the dispatcher's CPU (1 when pinned), or on all CPUs.
            let steal: f64 = if mode == "normal" {
                s.steal_ms.values().sum()
            } else {
                s.steal_ms.get(&1).copied().unwrap_or(0.0)
            };
            println!(
            "{:>8} {:>7} {:>9.1} | {:>6.2} {:>6.2} {:>7.2} {:>8.1} | {:>6.2} {:>6.2} {:>8.2} {:>8.1} | {:>6.0} {:>6.0} | {:>5} | {:>5.0}",
            mode, rate, s.achieved_rate, d.p50, d.p99, d.p999, d.max, l.p50, l.p99, l.p999, l.max,
            s.latency_us.p50, s.latency_us.p99, lost, steal
        );
            if s.ok != s.scheduled {
                println!("         outcomes: {:?}", s.outcomes);
            }
            if mode == "realtime" && !s.dispatcher.starts_with("SCHED_FIFO") {
                println!("         {}", s.dispatcher);
            }
        }
    }
    server.stop();
}

/// `rate` calls per second, evenly spaced, for `periods` one-second periods.
fn constant_load(path: &Path, endpoint: &str, rate: u64, periods: u64) {
    let mut w = LoadWriter::create(path, &[endpoint.to_owned()]).expect("load file");
    let calls: Vec<Invocation> = (0..rate)
        .map(|k| Invocation {
            offset_us: k * 1_000_000 / rate,
            endpoint: 0,
        })
        .collect();
    for _ in 0..periods {
        w.write_period(&calls).expect("write");
    }
    w.finish().expect("finish");
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

struct Server {
    child: Child,
    endpoint: String,
}

impl Server {
    fn start() -> Server {
        // On CPU 0, so a pinned dispatcher has CPU 1 to itself (taskset is from util-linux).
        let mut child = Command::new("taskset")
            .args(["-c", "0", env!("CARGO_BIN_EXE_emulated-function")])
            .args(["--listen", "127.0.0.1:0", "--threads", "1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start emulated-function");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("listening line");
        let endpoint = line
            .trim()
            .strip_prefix("listening on ")
            .expect("`listening on ADDR`")
            .to_owned();
        Server { child, endpoint }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
