//! Watching a run through the binary: the live view's lines, `/metrics` scraped while it runs, the
//! collectors (a real Prometheus from Debian's package, a fake `kubectl`'s pod counts), and collectors
//! that fail without failing the run. Every run is a few seconds of a per-second RPS load on loopback.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{ok, run_loadgen, s, text, wait_bounded, FakeCluster, LIMIT, LOADGEN};

/// A port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Outcome counts of a run's records, and how many were sent.
fn outcomes(run: &Path) -> (BTreeMap<String, u64>, u64) {
    let mut counts = BTreeMap::new();
    let mut sent = 0;
    formats::records::read_records(&run.join("records.csv"), |r, _| {
        *counts.entry(r.outcome.name().to_owned()).or_default() += 1;
        sent += u64::from(r.send_lag_ns.is_some());
    })
    .unwrap();
    (counts, sent)
}

/// A short local RPS run's flags into `out`: 100 calls/s for `seconds` (a number, as written).
fn rps_run<'a>(out: &'a Path, seconds: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "-o",
        s(out),
        "-p",
        "builtin",
        "--rps",
        "100",
        "--rps-duration-ms",
        "1",
        "-m",
        "false",
        "-w",
        "0",
        "-d",
        seconds,
        "--seed",
        "4",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn the_live_view_prints_lines_that_add_up_to_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // Standard output is a pipe here: one line per interval.
    let t = ok(&run_loadgen(
        &rps_run(
            &out,
            "3",
            &["--live-interval", "0.5", "--scale-interval", "0"],
        ),
        &[],
        LIMIT,
    ));
    let lines: Vec<&str> = t.lines().filter(|l| l.starts_with("live t=")).collect();
    assert!(lines.len() >= 4, "{t}");
    assert_live_lines_add_up(&lines, &out);
    // --quiet: no live line.
    let quiet = dir.path().join("quiet");
    let t = ok(&run_loadgen(
        &rps_run(&quiet, "3", &["--quiet"]),
        &[],
        LIMIT,
    ));
    assert!(!t.contains("live t="), "{t}");
}

/// Checks a run's live-view lines against its records: the `+N` of `done`, `due`, `sent` and each
/// outcome add up to them, and the last line has nothing in flight. The run scheduled 300 calls.
fn assert_live_lines_add_up(lines: &[&str], out: &Path) {
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    for line in lines {
        for word in line.split_whitespace() {
            if let Some((key, n)) = word.split_once("=+") {
                *sums.entry(key.to_owned()).or_default() += n.parse::<u64>().unwrap();
            }
        }
    }
    let (counts, sent) = outcomes(out);
    let records: u64 = counts.values().sum();
    assert_eq!(records, 300);
    assert_eq!(sums["done"], records, "{lines:#?}");
    assert_eq!(sums["due"], records, "{lines:#?}");
    assert_eq!(sums["sent"], sent, "{lines:#?}");
    for (outcome, n) in &counts {
        assert_eq!(sums.get(outcome), Some(n), "{outcome}: {lines:#?}");
    }
    assert!(
        lines.last().unwrap().contains(" in_flight=0 "),
        "{lines:#?}"
    );
}

/// Checks the `/metrics` a run served once it ended against its records (300 calls scheduled): the
/// `loadgen_` counters, the send-lag histogram's count, the per-endpoint series, and the local fleet's
/// requests.
fn assert_final_metrics(last: &BTreeMap<String, f64>, out: &Path) {
    let (counts, sent) = outcomes(out);
    assert_eq!(last["loadgen_calls_scheduled_total"], 300.0);
    assert_eq!(last["loadgen_calls_sent_total"], sent as f64);
    assert_eq!(last["loadgen_calls_in_flight"], 0.0);
    for (outcome, n) in &counts {
        assert_eq!(
            last[&format!("loadgen_calls_total{{outcome=\"{outcome}\"}}")],
            *n as f64,
            "{last:?}"
        );
    }
    assert_eq!(last["loadgen_send_lag_seconds_count"], sent as f64);
    // The local fleet's metrics on the same address: every call sent reached an emulated function.
    assert_eq!(last["emulated_requests_total"], sent as f64, "{last:?}");
    assert_eq!(last["emulated_in_flight"], 0.0);
    // Per endpoint: bounded, and adding up.
    let per_endpoint: f64 = last
        .iter()
        .filter(|(k, _)| k.starts_with("loadgen_endpoint_calls_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(per_endpoint, 300.0);
}

/// Parses Prometheus' text exposition: every sample (`name{labels} value`) under a `# TYPE` of its
/// family, the whole ended by `# EOF`. Returns samples by `name{labels}`.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "{text}");
    let mut families = Vec::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (family, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            families.push(family.to_owned());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("`{line}`"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("`{line}`"));
        let name = series.split('{').next().unwrap();
        assert!(
            families.iter().any(|f| name.starts_with(f.as_str())),
            "`{line}` has no # TYPE"
        );
        if series.contains('{') {
            assert!(series.ends_with('}'), "`{line}`");
        }
        samples.insert(series.to_owned(), value);
    }
    samples
}

fn scrape(url: &str) -> Option<String> {
    let response = reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .ok()?;
    response
        .status()
        .is_success()
        .then(|| response.text().ok())?
}

/// Spawns `loadgen args`; its standard output comes line by line on the receiver.
fn spawn(args: &[&str], env: &[(&str, String)]) -> (Child, mpsc::Receiver<String>) {
    let mut c = Command::new(LOADGEN);
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Waits for a line containing `what`, for at most `limit`; returns the lines seen.
fn wait_for_line(rx: &mpsc::Receiver<String>, what: &str, limit: Duration) -> Vec<String> {
    let until = Instant::now() + limit;
    let mut seen = Vec::new();
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(what);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with `{what}` within {limit:?}: {seen:#?}");
}

#[test]
fn metrics_scraped_during_a_run_parse_and_end_at_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{addr}/metrics");
    let (child, rx) = spawn(
        &rps_run(
            &out,
            "3",
            &["--metrics-addr", &addr, "--metrics-linger", "5", "--quiet"],
        ),
        &[],
    );
    wait_for_line(&rx, "replay ", LIMIT);
    // During the replay: the counters move, and every scrape parses.
    let during = testkit::wait_until(Duration::from_secs(30), "a call counted", || {
        let samples = parse_exposition(&scrape(&url)?);
        (samples["loadgen_calls_scheduled_total"] > 0.0).then_some(samples)
    });
    assert!(
        during["loadgen_calls_scheduled_total"] < 300.0,
        "{during:?}"
    );
    // After the replay, while it lingers: the final counts.
    wait_for_line(&rx, "metrics    served", LIMIT);
    let last = parse_exposition(&scrape(&url).expect("served while lingering"));
    let output = wait_bounded(child, LIMIT);
    assert!(output.status.success(), "{}", text(&output));
    assert_final_metrics(&last, &out);
    // The port is free again once the run has ended.
    std::net::TcpListener::bind(&addr).expect("the metrics port is released");
}

#[test]
fn workers_report_to_the_coordinators_live_view_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{addr}/metrics");
    // Two local invoker processes; each reports every half second.
    let (child, rx) = spawn(
        &rps_run(
            &out,
            "3",
            &[
                "--workers",
                "2",
                "--live-interval",
                "0.5",
                "--scale-interval",
                "0",
                "--metrics-addr",
                &addr,
                "--metrics-linger",
                "5",
            ],
        ),
        &[],
    );
    let seen = wait_for_line(&rx, "metrics    served", LIMIT);
    let last = parse_exposition(&scrape(&url).expect("served while lingering"));
    let output = wait_bounded(child, LIMIT);
    assert!(output.status.success(), "{}", text(&output));
    let lines: Vec<&str> = seen
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("live t="))
        .collect();
    // The calls showed up while the workers replayed, not only in the last line.
    let with_calls = lines.iter().filter(|l| !l.contains(" done=+0 ")).count();
    assert!(with_calls >= 3, "{lines:#?}");
    assert_live_lines_add_up(&lines, &out);
    assert_final_metrics(&last, &out);
    // Both workers' calls are in the records.
    let mut workers = std::collections::BTreeSet::new();
    formats::records::read_records(&out.join("records.csv"), |r, _| {
        workers.insert(r.worker);
    })
    .unwrap();
    assert_eq!(workers.len(), 2, "{workers:?}");
}

/// The Prometheus server of Debian's package, started on a free port with its own storage, stopped
/// when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second; `None` when it is not installed (and
    /// `REQUIRE_SHARED_DATA` is not set: CI installs it).
    fn start(target: &str) -> Option<Prometheus> {
        let binary = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file());
        let Some(binary) = binary else {
            assert!(
                std::env::var("REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
                "prometheus is not installed (.ci/run installs Debian's package)"
            );
            eprintln!("skipping: prometheus is not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: loadgen\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new(binary)
            .args([
                &format!("--config.file={}", config.display()),
                &format!("--storage.tsdb.path={}", dir.path().join("data").display()),
                &format!("--web.listen-address={address}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let p = Prometheus {
            child,
            url: format!("http://{address}"),
            _dir: dir,
        };
        // Ready, and the target discovered (Prometheus applies its static targets a few seconds after
        // it starts): from then on it scrapes every second.
        let targets = format!("{}/api/v1/targets", p.url);
        testkit::wait_until(Duration::from_secs(60), "prometheus scraping", || {
            scrape(&targets)
                .is_some_and(|t| t.contains(&format!("\"{target}\"")))
                .then_some(())
        });
        Some(p)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_real_prometheus_scrapes_the_run_and_its_range_queries_are_collected() {
    let addr = format!("127.0.0.1:{}", free_port());
    let Some(prometheus) = Prometheus::start(&addr) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let t = ok(&run_loadgen(
        &rps_run(
            &out,
            "4",
            &[
                "--metrics-addr",
                &addr,
                "--metrics-linger",
                "2.5",
                "--quiet",
                "--scale-interval",
                "1",
                "--prometheus",
                &prometheus.url,
                "--prometheus-query",
                "requests=emulated_requests_total",
                "--prometheus-query",
                "bad=rate(",
            ],
        ),
        &[],
        LIMIT,
    ));
    let (_, sent) = outcomes(&out);
    // The range query's series: the fleet's request counter, climbing to every call sent.
    let mut reader = csv::Reader::from_path(out.join("collect/prometheus-requests.csv")).unwrap();
    assert_eq!(reader.headers().unwrap(), vec!["time", "series", "value"]);
    let rows: Vec<(f64, String, f64)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].parse().unwrap(),
                r[1].to_owned(),
                r[2].parse().unwrap(),
            )
        })
        .collect();
    assert!(rows.len() >= 3, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.1.starts_with("emulated_requests_total{") && r.1.contains("job=\"loadgen\"")),
        "{rows:?}"
    );
    let peak = rows.iter().map(|r| r.2).fold(0.0, f64::max);
    assert_eq!(peak, sent as f64, "{rows:?}");
    // The bad query is reported with Prometheus' own words, and the run went on.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let bad = report
        .lines()
        .find(|l| l.starts_with("| prometheus-bad |"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        bad.contains("**failed**") && bad.contains("parse error"),
        "{bad}"
    );
    assert!(
        t.contains("collector prometheus-bad failed") || t.contains("collected"),
        "{t}"
    );
    // The queries found no node exporter: empty, not failed.
    assert!(report.contains("| prometheus-node-cpu |"), "{report}");
    // The local scale collector ran beside it, and its figure is drawn.
    assert!(out.join("plots/collect_local_scale.png").is_file());
    assert!(out.join("plots/collect_prometheus_requests.png").is_file());
}

#[test]
fn an_unreachable_prometheus_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_loadgen(
        &rps_run(
            &out,
            "1",
            &[
                "--quiet",
                "--prometheus",
                &format!("http://127.0.0.1:{}", free_port()),
            ],
        ),
        &[],
        LIMIT,
    );
    let t = ok(&o);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let failed: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("| prometheus-") && l.contains("**failed**"))
        .collect();
    assert_eq!(failed.len(), 5, "every default query fails: {report}");
    assert!(failed[0].contains("127.0.0.1"), "{}", failed[0]);
    // Each failed collector is named once, as a warning, and the run goes on.
    assert_eq!(
        t.matches("failed (the run goes on)").count(),
        5,
        "one warning per default query: {t}"
    );
    assert!(out.join("records.csv").is_file() && out.join("summary.json").is_file());
}

#[test]
fn the_scale_collector_writes_the_fake_clusters_pod_counts_and_draws_them() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let server =
        emulated::LocalServer::start(emulated::Behaviour::fixed("ksvc", 0.0, 0.0), 1).unwrap();
    let cluster = FakeCluster::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let build = dir.path().join("build");
    let (profile, config) = (sample.join("profile.json"), sample.join("config.json"));
    let t = ok(&run_loadgen(
        &[
            "run",
            "-o",
            s(&out),
            "--deployer",
            "knative",
            "-p",
            s(&profile),
            "-c",
            s(&config),
            "-b",
            s(&build),
            "--rps",
            "20",
            "--cold-ratio",
            "50",
            "--cooldown",
            "1",
            "-m",
            "false",
            "-w",
            "0",
            "-d",
            "3",
            "--poll-interval",
            "0.02",
            "--scale-interval",
            "0.5",
            "--quiet",
        ],
        &cluster.env(&[
            ("FAKE_KSVC_URL", &format!("http://{}", server.endpoint())),
            ("FAKE_SCALE_DESIRED", "3"),
            ("FAKE_SCALE_READY", "2"),
            ("FAKE_SCALE_PENDING", "1"),
        ]),
        LIMIT,
    ));
    let endpoints = formats::endpoints::read(&out.join("endpoints.json")).unwrap();
    let services: Vec<String> = endpoints.iter().filter_map(|e| e.service.clone()).collect();
    assert!(services.len() >= 2, "{endpoints:?}");
    let mut reader = csv::Reader::from_path(out.join("collect/kubernetes-scale.csv")).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["time", "service", "desired", "ready", "pending"]
    );
    let mut by_service: BTreeMap<String, Vec<(u64, u64, u64)>> = BTreeMap::new();
    for r in reader.records() {
        let r = r.unwrap();
        by_service.entry(r[1].to_owned()).or_default().push((
            r[2].parse().unwrap(),
            r[3].parse().unwrap(),
            r[4].parse().unwrap(),
        ));
    }
    for service in &services {
        let samples = &by_service[service];
        assert!(samples.len() >= 4, "{service}: {samples:?}");
        assert!(
            samples.iter().all(|&s| s == (3, 2, 1)),
            "{service}: {samples:?}"
        );
    }
    assert!(by_service["knative-serving/activator"]
        .iter()
        .all(|&(_, ready, _)| ready == 2));
    // One kubectl call per sample, however many services.
    let scale_calls = cluster
        .calls()
        .iter()
        .filter(|c| c.starts_with("kubectl get deployments,pods"))
        .count();
    assert_eq!(
        scale_calls,
        by_service["knative-serving/activator"].len(),
        "{t}"
    );
    // The figure: services summed on the run's time axis.
    let drawn = out.join("plots/collect_kubernetes_scale.png");
    assert!(drawn.is_file(), "{t}");
    let (_, series) =
        plots::collected::series_of(&out.join("collect/kubernetes-scale.csv"), 0.0).unwrap();
    let desired = series.iter().find(|s| s.name == "desired pods").unwrap();
    assert!(desired
        .values
        .iter()
        .all(|&(_, v)| v == 3.0 * services.len() as f64));
    // The cluster's pods beside the prediction of the same load: 2 ready + 1 pending per service.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("Measured: the cluster"), "{report}");
    let peak = format!("| peak instances | {} |", 3 * services.len());
    assert!(report.contains(&peak), "{peak} not in {report}");
    assert!(out.join("predict/summary.json").is_file());
}
