//! Replay benchmark: the `invoker` binary against a gRPC server that answers at once (`proto::testing`,
//! run in this process on a runtime pinned to CPU 0), both on this machine over loopback, at constant
//! rates, 2 warm-up + 10 measured seconds per run. Prints, per run, the achieved rate (measured from real
//! send times), dispatch lag, send lag (hand-off to the gRPC client: the honest one), latency, records
//! lost, and the hypervisor's steal time on the dispatcher's CPU; then, per mode and rate, the median and
//! range of each figure over the repeated runs.
//!
//! Modes, with the flags each passes to the invoker (printed in the output):
//! - `normal`: none; the dispatcher goes wherever the scheduler puts it;
//! - `pinned`: `--dispatcher-cpu 1`, the dispatcher alone on CPU 1 (the server is on CPU 0);
//! - `realtime`: `--dispatcher-cpu 1 --realtime` (SCHED_FIFO, root only; refusal is printed).
//!
//! `cargo bench -p invoker --bench replay`. `REPLAY_RATES=1000,50000` sets the rates, `REPLAY_SECONDS` the
//! measured seconds, `REPLAY_MODES=pinned` the modes, `REPLAY_REPEATS` the runs per configuration (3),
//! `REPLAY_OUT` the output file (`bench-results/replay.txt` in the workspace).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use formats::summary::Summary;
use formats::{Invocation, LoadWriter};
use host::bench::{spread, Output};

const WARMUP: u64 = 2;
/// The CPU the server runs on; a pinned dispatcher gets the other.
const SERVER_CPU: usize = 0;
const DISPATCHER_CPU: usize = 1;

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|m| m.trim().to_owned())
        .collect()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .map(|s| s.parse().unwrap_or_else(|_| panic!("{name}: an integer")))
        .unwrap_or(default)
}

/// The flags a mode passes to the invoker.
fn mode_flags(mode: &str) -> Vec<String> {
    let pin = vec!["--dispatcher-cpu".to_owned(), DISPATCHER_CPU.to_string()];
    match mode {
        "normal" => vec![],
        "pinned" => pin,
        "realtime" => [pin, vec!["--realtime".to_owned()]].concat(),
        other => panic!("REPLAY_MODES: unknown mode {other}"),
    }
}

/// One run's figures.
struct Run {
    s: Summary,
    lost: u64,
    steal_ms: f64,
}

fn main() {
    let rates: Vec<u64> = env_list("REPLAY_RATES", "1000,5000,10000,20000,30000")
        .iter()
        .map(|r| r.parse().expect("REPLAY_RATES: integers"))
        .collect();
    let seconds = env_number("REPLAY_SECONDS", 10);
    let repeats = env_number("REPLAY_REPEATS", 3) as usize;
    let modes = env_list("REPLAY_MODES", "normal,pinned,realtime");
    let out_path = std::env::var_os("REPLAY_OUT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench-results/replay.txt"),
        PathBuf::from,
    );
    let mut out = Output::new("cargo bench -p invoker --bench replay", &out_path);
    let dir = tempfile::tempdir().expect("temp dir");
    // Loopback traffic is processed in softirq on the sending CPU unless RPS steers it elsewhere; on the
    // dispatcher's CPU that work preempts (or, under SCHED_FIFO, is starved by) the dispatcher.
    let rps = std::fs::read_to_string("/sys/class/net/lo/queues/rx-0/rps_cpus")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    out.line(&format!(
        "# {WARMUP} s warm-up + {seconds} s measured per run, {repeats} run(s) per mode and rate; server on CPU {SERVER_CPU}; loopback RPS mask {rps} (0: softirq stays on the sending CPU)"
    ));
    for mode in &modes {
        out.line(&format!(
            "# mode {mode}: invoker flags `{}`",
            mode_flags(mode).join(" ")
        ));
    }
    let (endpoint, _server) = start_server();
    out.line(&format!(
        "{:>8} {:>6} {:>9} | {:>29} | {:>31} | {:>13} | {:>4} | {:>5}",
        "mode",
        "rate/s",
        "achieved",
        "dispatch lag p50/p99/p99.9/max",
        "send lag p50/p99/p99.9/max (us)",
        "latency p50/p99",
        "lost",
        "steal ms"
    ));
    let mut runs: Vec<(String, u64, Run)> = Vec::new();
    for mode in &modes {
        for &rate in &rates {
            for _ in 0..repeats {
                let run = run_once(dir.path(), &endpoint, mode, rate, seconds);
                let (s, d, l) = (&run.s, &run.s.dispatch_lag_us, &run.s.send_lag_us);
                out.line(&format!(
                    "{:>8} {:>6} {:>9.1} | {:>6.2} {:>6.2} {:>7.2} {:>8.1} | {:>6.2} {:>6.2} {:>8.2} {:>8.1} | {:>6.0} {:>6.0} | {:>4} | {:>5.0}",
                    mode, rate, s.achieved_rate, d.p50, d.p99, d.p999, d.max, l.p50, l.p99, l.p999, l.max,
                    s.latency_us.p50, s.latency_us.p99, run.lost, run.steal_ms
                ));
                if s.ok != s.scheduled {
                    out.line(&format!("         outcomes: {:?}", s.outcomes));
                }
                if mode == "realtime" && !s.dispatcher.starts_with("SCHED_FIFO") {
                    out.line(&format!("         {}", s.dispatcher));
                }
                runs.push((mode.clone(), rate, run));
            }
        }
    }
    out.line("");
    out.line(&format!(
        "# over {repeats} run(s): median [min–max]; send lag in µs; steal on the dispatcher's CPU (all CPUs in normal mode), ms"
    ));
    out.line(&format!(
        "{:>8} {:>6} | {:>26} | {:>22} | {:>24} | {:>26} | {:>16}",
        "mode",
        "rate/s",
        "achieved/s",
        "send lag p50",
        "send lag p99",
        "send lag p99.9",
        "steal ms"
    ));
    for mode in &modes {
        for &rate in &rates {
            let of: Vec<&Run> = runs
                .iter()
                .filter(|(m, r, _)| m == mode && *r == rate)
                .map(|(_, _, run)| run)
                .collect();
            let pick = |f: &dyn Fn(&Run) -> f64| of.iter().map(|r| f(r)).collect::<Vec<f64>>();
            out.line(&format!(
                "{:>8} {:>6} | {:>26} | {:>22} | {:>24} | {:>26} | {:>16}",
                mode,
                rate,
                spread(&pick(&|r| r.s.achieved_rate), 1),
                spread(&pick(&|r| r.s.send_lag_us.p50), 2),
                spread(&pick(&|r| r.s.send_lag_us.p99), 2),
                spread(&pick(&|r| r.s.send_lag_us.p999), 1),
                spread(&pick(&|r| r.steal_ms), 0),
            ));
        }
    }
    out.finish();
}

fn run_once(dir: &Path, endpoint: &str, mode: &str, rate: u64, seconds: u64) -> Run {
    let load = dir.join(format!("load-{rate}.json"));
    constant_load(&load, endpoint, rate, WARMUP + seconds);
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
        .args(mode_flags(mode))
        .stdout(Stdio::null())
        .status()
        .expect("run invoker");
    assert!(status.success(), "invoker failed at {rate}/s ({mode})");
    let s: Summary =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).expect("summary"))
            .expect("summary json");
    if mode != "normal" {
        assert!(
            s.dispatcher
                .contains(&format!("pinned to CPU {DISPATCHER_CPU}")),
            "mode {mode} did not pin: {}",
            s.dispatcher
        );
    }
    let steal_ms = if mode == "normal" {
        s.steal_ms.values().sum()
    } else {
        s.steal_ms.get(&DISPATCHER_CPU).copied().unwrap_or(0.0)
    };
    Run {
        lost: s.scheduled_total - s.records,
        steal_ms,
        s,
    }
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
    w.commit().expect("commit");
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The server, on one thread pinned to [`SERVER_CPU`]; it lives as long as the returned handle.
fn start_server() -> (String, proto::testing::TestServer) {
    let server = proto::testing::TestServer::start_on(Duration::ZERO, || {
        assert!(
            host::pin_to(&[SERVER_CPU]),
            "pinning the server to CPU {SERVER_CPU}"
        );
    })
    .expect("the server starts");
    (server.endpoint(), server)
}
