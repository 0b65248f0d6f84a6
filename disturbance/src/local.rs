//! The local generators: stress-ng for CPU, memory and memory bandwidth, iperf3 for the network, a
//! shell for a command; each in its own process group (see [`crate::process`]), CPU interference kept
//! off the dispatcher's CPUs by affinity (`stress-ng --taskset`), and what each says it did read back.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::Group;
use crate::spec::{Interference, InterferenceKind, SpecError};

/// `program` on PATH, or an error saying how to install it.
pub fn require(program: &str) -> Result<PathBuf, SpecError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            SpecError(format!(
                "{program} is not on PATH: install it (Debian: `sudo apt-get install {program}`)"
            ))
        })
}

/// The programs `interference` runs here.
pub fn programs(interference: &Interference) -> &'static [&'static str] {
    match interference.kind {
        InterferenceKind::Cpu { .. }
        | InterferenceKind::Memory { .. }
        | InterferenceKind::MemoryBandwidth { .. } => &["stress-ng"],
        InterferenceKind::Network { .. } => &["iperf3"],
        InterferenceKind::Command { .. } => &["sh"],
    }
}

/// What a generator said it did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// The figure's name (`bogo_ops_per_s`, `bits_per_s`), empty when the tool gives none.
    pub name: String,
    /// Its value.
    pub value: Option<f64>,
    /// What the tool said went wrong, if it said.
    pub error: Option<String>,
}

/// An interference running here: its process groups, and where its report will be.
#[derive(Debug)]
pub struct Running {
    /// The generator's groups (an iperf3 server and client; one group otherwise).
    pub groups: Vec<Group>,
    report: ReportAt,
}

#[derive(Debug)]
enum ReportAt {
    StressNg(PathBuf),
    Iperf3(PathBuf),
    Nothing,
}

/// CPUs `stress-ng --taskset` may use: all of this machine's but `avoid`; none when that leaves none.
fn taskset(avoid: &[usize]) -> Option<String> {
    if avoid.is_empty() {
        return None;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let allowed: Vec<String> = (0..cpus)
        .filter(|c| !avoid.contains(c))
        .map(|c| c.to_string())
        .collect();
    (!allowed.is_empty()).then(|| allowed.join(","))
}

/// Starts `interference` here, for `seconds` (it is also ended at its stop), its files in `dir` named
/// after `entry`; `avoid`: the dispatchers' CPUs.
pub fn start(
    interference: &Interference,
    entry: usize,
    seconds: f64,
    dir: &Path,
    avoid: &[usize],
) -> std::io::Result<Running> {
    // The tools' own timeouts are a backstop: the timeline ends each at its stop.
    let timeout = format!("{}s", seconds.ceil() as u64 + 1);
    let stressor = |args: Vec<String>| -> std::io::Result<Running> {
        let yaml = dir.join(format!("interference-{entry}.yaml"));
        let mut command = Command::new("stress-ng");
        command
            .args(&args)
            .args(["--timeout", &timeout, "--metrics-brief", "--yaml"])
            .arg(&yaml)
            .stdout(Stdio::null())
            .stderr(log_file(dir, entry)?);
        if let Some(cpus) = taskset(avoid) {
            command.args(["--taskset", &cpus]);
        }
        Ok(Running {
            groups: vec![Group::spawn(&mut command)?],
            report: ReportAt::StressNg(yaml),
        })
    };
    if let Some(args) = stress_args(&interference.kind) {
        return stressor(args);
    }
    match &interference.kind {
        InterferenceKind::Network { bitrate_bps, to } => {
            network(*bitrate_bps, to.as_deref(), seconds, (dir, entry))
        }
        InterferenceKind::Command { run } => {
            let mut command = Command::new("sh");
            command
                .args(["-c", run])
                .stdin(Stdio::null())
                .stdout(log_file(dir, entry)?)
                .stderr(log_file(dir, entry)?);
            Ok(Running {
                groups: vec![Group::spawn(&mut command)?],
                report: ReportAt::Nothing,
            })
        }
        _ => unreachable!("stress-ng's kinds are started above"),
    }
}

/// stress-ng's arguments for the kinds it makes (cpu, memory, memory-bandwidth), timeout aside.
pub fn stress_args(kind: &InterferenceKind) -> Option<Vec<String>> {
    let args: Vec<String> = match kind {
        InterferenceKind::Cpu { threads, load } => vec![
            "--cpu".into(),
            threads.to_string(),
            "--cpu-load".into(),
            load.to_string(),
        ],
        InterferenceKind::Memory { mib } => vec![
            "--vm".into(),
            "1".into(),
            "--vm-bytes".into(),
            format!("{mib}M"),
            "--vm-keep".into(),
        ],
        InterferenceKind::MemoryBandwidth { mib } => vec![
            "--memrate".into(),
            "1".into(),
            "--memrate-bytes".into(),
            format!("{mib}M"),
        ],
        _ => return None,
    };
    Some(args)
}

/// iperf3 at `bitrate` to `to`, or to a one-off server started on a free loopback port.
fn network(
    bitrate: u64,
    to: Option<&str>,
    seconds: f64,
    (dir, entry): (&Path, usize),
) -> std::io::Result<Running> {
    let mut groups = Vec::new();
    let (host, port) = match to {
        Some(to) => match to.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), port.to_owned()),
            None => (to.to_owned(), "5201".to_owned()),
        },
        None => {
            let port = TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port()
                .to_string();
            let mut server = Command::new("iperf3");
            server
                .args(["-s", "-B", "127.0.0.1", "-p", &port])
                .stdout(Stdio::null())
                .stderr(log_file(dir, entry)?);
            groups.push(Group::spawn(&mut server)?);
            wait_listening(&port);
            ("127.0.0.1".to_owned(), port)
        }
    };
    let json = dir.join(format!("interference-{entry}.json"));
    let mut client = Command::new("iperf3");
    client
        .args(["-c", &host, "-p", &port, "-J", "-b", &bitrate.to_string()])
        .args(["-t", &format!("{}", seconds.ceil().max(1.0) as u64)])
        .stdout(std::fs::File::create(&json)?)
        .stderr(log_file(dir, entry)?);
    groups.push(Group::spawn(&mut client)?);
    Ok(Running {
        groups,
        report: ReportAt::Iperf3(json),
    })
}

/// Waits (bounded, 2 s) until something listens on loopback `port`: the iperf3 server started (it
/// logs the probe as a client that sent nothing, and serves on).
fn wait_listening(port: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The generator's log (its stderr), appended to.
fn log_file(dir: &Path, entry: usize) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("interference-{entry}.log")))
}

impl Running {
    /// Ends every group (the client before the server) and reads the generator's report.
    pub fn end(&mut self) -> Report {
        for group in self.groups.iter_mut().rev() {
            group.end(Duration::from_secs(2));
        }
        match &self.report {
            ReportAt::StressNg(yaml) => {
                let value = std::fs::read_to_string(yaml)
                    .ok()
                    .and_then(|t| stress_ng_rate(&t));
                Report {
                    name: "bogo_ops_per_s".into(),
                    error: value
                        .is_none()
                        .then(|| format!("stress-ng wrote no metrics to {}", yaml.display())),
                    value,
                }
            }
            ReportAt::Iperf3(json) => {
                let text = std::fs::read_to_string(json).unwrap_or_default();
                let said: Option<serde_json::Value> = serde_json::from_str(&text).ok();
                Report {
                    name: "bits_per_s".into(),
                    value: iperf3_bitrate(&text),
                    error: said.and_then(|v| v["error"].as_str().map(|e| format!("iperf3: {e}"))),
                }
            }
            ReportAt::Nothing => Report::default(),
        }
    }
}

/// stress-ng's bogo-ops per second of real time, summed over its stressors (`--yaml`).
pub fn stress_ng_rate(yaml: &str) -> Option<f64> {
    let rates: Vec<f64> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("bogo-ops-per-second-real-time:"))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    (!rates.is_empty()).then(|| rates.iter().sum())
}

/// iperf3's achieved bitrate, bits per second, as received (as sent when it has no receiver's: it was
/// ended before the end of its `-t`), from its `-J` output.
pub fn iperf3_bitrate(json: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let end = &v["end"];
    // An interrupted client knows only what it sent (the receiver's sum is then 0).
    ["sum_received", "sum_sent", "sum"]
        .iter()
        .filter_map(|sum| end[sum]["bits_per_second"].as_f64())
        .find(|&b| b > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reports_are_read_from_the_tools_output() {
        let yaml = "metrics:\n    - stressor: cpu\n      bogo-ops: 629\n      bogo-ops-per-second-real-time: 625.5\n";
        assert_eq!(stress_ng_rate(yaml), Some(625.5));
        let json = r#"{"end":{"sum_sent":{"bits_per_second":10.5},"sum_received":{"bits_per_second":10.0}}}"#;
        assert_eq!(iperf3_bitrate(json), Some(10.0));
        assert_eq!(iperf3_bitrate("{}"), None);
    }

    #[test]
    fn cpu_interference_keeps_off_the_avoided_cpus() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cpus > 1 {
            assert_eq!(taskset(&[1]).unwrap().split(',').count(), cpus - 1);
            assert!(!taskset(&[1]).unwrap().split(',').any(|c| c == "1"));
        }
        assert_eq!(taskset(&[]), None);
    }

    #[test]
    fn a_missing_tool_says_how_to_install_it() {
        let e = require("no-such-generator-tool").unwrap_err().0;
        assert!(e.contains("apt-get install no-such-generator-tool"), "{e}");
    }
}
