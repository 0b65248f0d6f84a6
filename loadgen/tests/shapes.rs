//! Load shapes beyond a trace's plain counts, through the binary: `--shift` (each function's arrivals
//! rotated within each period by its own random phase), RPS (constant, steps, ramps, cold starts, and a
//! run that checks every cold call meets a cold instance), bursts (gaps against STeLLAR's shifted
//! exponential), and how their proxy is chosen.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{calls, generate_seconds, ok, run_loadgen, s, LIMIT};

/// Offsets per (endpoint, period) of a load.
fn offsets(load: &Path) -> BTreeMap<(String, usize), Vec<u64>> {
    let l = formats::read(load).unwrap();
    let mut out: BTreeMap<(String, usize), Vec<u64>> = BTreeMap::new();
    for (p, period) in l.periods.iter().enumerate() {
        for c in &period.calls {
            out.entry((l.endpoints[c.endpoint as usize].clone(), p))
                .or_default()
                .push(c.offset_us);
        }
    }
    out
}

/// Gaps between consecutive offsets, around the period (the last to the first plus a period).
fn circular_gaps(v: &[u64], period: u64) -> Vec<u64> {
    let mut gaps: Vec<u64> = v.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.push(v[0] + period - v[v.len() - 1]);
    gaps.sort_unstable();
    gaps
}

#[test]
fn shifted_equidistant_arrivals_keep_counts_and_spacing_and_leave_the_period_start() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    ok(&run_loadgen(
        &[
            "synth",
            "-o",
            s(&trace),
            "-n",
            "1000",
            "--periods",
            "6",
            "-m",
            "false",
            "--seed",
            "2",
        ],
        &[],
        LIMIT,
    ));
    let generate = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "generate",
            "-t",
            s(&trace),
            "-p",
            "trace",
            "-m",
            "false",
            "-w",
            "0",
            "-d",
            "6",
            "-i",
            "equidistant",
            "--seed",
            "4",
            "-o",
            s(out),
            "--mapping",
        ];
        let mapping = out.with_extension("mapping.json");
        args.push(s(&mapping));
        args.extend_from_slice(extra);
        ok(&run_loadgen(&args, &[], LIMIT));
    };
    let (plain, shifted) = (
        dir.path().join("plain.json"),
        dir.path().join("shifted.json"),
    );
    generate(&plain, &[]);
    generate(&shifted, &["--shift"]);
    let (a, b) = (offsets(&plain), offsets(&shifted));
    assert_eq!(
        a.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>(),
        b.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>(),
        "the same calls per function and period"
    );
    let period = 1_000_000;
    let mut at_start = 0;
    let mut firsts = Vec::new();
    for (key, v) in &b {
        assert!(
            v.windows(2).all(|w| w[0] <= w[1]) && v[v.len() - 1] < period,
            "{key:?}"
        );
        // Equidistant spacing, rotated: the same gaps around the period (to the microsecond's rounding).
        let (ga, gb) = (circular_gaps(&a[key], period), circular_gaps(v, period));
        assert!(
            ga.iter().zip(&gb).all(|(x, y)| x.abs_diff(*y) <= 1),
            "{key:?}: {ga:?} vs {gb:?}"
        );
        assert_eq!(
            a[key][0], 0,
            "unshifted, equidistant arrivals start the period"
        );
        at_start += usize::from(v[0] == 0);
        // Rotated, the first arrival lies anywhere before the second would have come: in 0..period/n.
        firsts.push(v[0] as f64 * v.len() as f64 / period as f64);
    }
    // Shifted, the first arrival's phase (as a share of the spacing) is spread, not tied to the start.
    let n = firsts.len() as f64;
    assert!(n >= 50.0, "{n}");
    assert!(
        at_start as f64 <= 0.02 * n,
        "{at_start} of {n} still at the start"
    );
    let mean = firsts.iter().sum::<f64>() / n;
    assert!((0.25..=0.75).contains(&mean), "{mean}");
}

/// Calls per second of a load.
fn per_second(load: &Path) -> Vec<usize> {
    formats::read(load)
        .unwrap()
        .periods
        .iter()
        .map(|p| p.calls.len())
        .collect()
}

#[test]
fn rps_makes_exact_counts_steps_and_ramps() {
    let dir = tempfile::tempdir().unwrap();
    let constant = generate_seconds(dir.path(), "constant", &["--rps", "100", "-d", "5"]);
    assert_eq!(per_second(&constant), [100; 5]);
    // The calls of a second spread over it (uniform by default), not bunched at its start.
    let t: Vec<u64> = calls(&constant, 1_000_000)
        .iter()
        .map(|c| c.0 % 1_000_000)
        .collect();
    assert!(t.iter().any(|&o| o > 900_000) && t.iter().any(|&o| o < 100_000));
    let steps = generate_seconds(
        dir.path(),
        "steps",
        &[
            "--rps",
            "10",
            "--rps-step",
            "5",
            "--rps-every",
            "2",
            "--rps-max",
            "22",
            "-d",
            "10",
            "-i",
            "equidistant",
        ],
    );
    assert_eq!(per_second(&steps), [10, 10, 15, 15, 20, 20, 22, 22, 22, 22]);
    let ramp = generate_seconds(
        dir.path(),
        "ramp",
        &[
            "--rps",
            "10",
            "--rps-step",
            "10",
            "--rps-every",
            "1",
            "--rps-ramp",
            "-d",
            "4",
        ],
    );
    // 10 + 10 t calls/s: 15, 25, 35, 45 in seconds 0..4.
    assert_eq!(per_second(&ramp), [15, 25, 35, 45]);
    // Steps without --rps-max rise for the whole run (once an empty load: inf × 0 = NaN calls).
    let unbounded = generate_seconds(
        dir.path(),
        "unbounded",
        &[
            "--rps",
            "5",
            "--rps-step",
            "5",
            "--rps-every",
            "1",
            "-d",
            "5",
        ],
    );
    assert_eq!(per_second(&unbounded), [5, 10, 15, 20, 25]);
    // A fractional rate carries over: one call every other second.
    let slow = generate_seconds(dir.path(), "slow", &["--rps", "0.5", "-d", "6"]);
    assert_eq!(per_second(&slow), [0, 1, 0, 1, 0, 1]);
}

#[test]
fn cold_calls_wait_out_the_cooldown_and_keep_their_share() {
    let dir = tempfile::tempdir().unwrap();
    let load = generate_seconds(
        dir.path(),
        "cold",
        &[
            "--rps",
            "20",
            "--cold-ratio",
            "25",
            "--cooldown",
            "3",
            "-d",
            "30",
        ],
    );
    let all = calls(&load, 1_000_000);
    assert_eq!(all.len(), 600);
    let mut by_endpoint: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (t, e, _) in &all {
        by_endpoint.entry(e.clone()).or_default().push(*t);
    }
    let warm: Vec<&String> = by_endpoint
        .keys()
        .filter(|e| e.ends_with("-warm"))
        .collect();
    assert_eq!(warm.len(), 1, "{:?}", by_endpoint.keys());
    let cold_calls = all.len() - by_endpoint[warm[0]].len();
    // 25 % of 600, to within one call.
    assert!((149..=151).contains(&cold_calls), "{cold_calls}");
    let cold_functions = by_endpoint.len() - 1;
    // Five cold calls a second, each function silent 3 s: at least 15 functions.
    assert!(cold_functions >= 15, "{cold_functions}");
    for (e, times) in by_endpoint.iter().filter(|(e, _)| e.contains("-cold-")) {
        for w in times.windows(2) {
            assert!(
                w[1] - w[0] >= 3_000_000,
                "{e}: calls at {} and {} µs",
                w[0],
                w[1]
            );
        }
    }
}

/// Kolmogorov–Smirnov distance between a sample and a CDF.
fn ks_distance(sample: &mut [f64], cdf: impl Fn(f64) -> f64) -> f64 {
    sample.sort_by(f64::total_cmp);
    let n = sample.len() as f64;
    sample
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

#[test]
fn burst_gaps_follow_the_shifted_exponential() {
    let dir = tempfile::tempdir().unwrap();
    let load = generate_seconds(
        dir.path(),
        "bursts",
        &[
            "--burst-size",
            "3",
            "--burst-iat",
            "1",
            "--burst-jitter",
            "0.5",
            "--burst-endpoints",
            "4",
            "-d",
            "600",
        ],
    );
    let mut by_endpoint: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (t, e, _) in calls(&load, 1_000_000) {
        by_endpoint.entry(e).or_default().push(t);
    }
    assert_eq!(by_endpoint.len(), 4, "four distinct deployments");
    let mut gaps = Vec::new();
    for times in by_endpoint.values() {
        // Every burst is three calls in one microsecond, the first at 0.
        assert_eq!(times[0], 0);
        for burst in times.chunks(3) {
            assert_eq!(burst.len(), 3);
            assert!(burst.iter().all(|&t| t == burst[0]));
        }
        let starts: Vec<u64> = times.iter().step_by(3).copied().collect();
        gaps.extend(starts.windows(2).map(|w| (w[1] - w[0]) as f64 / 1e6));
    }
    assert!(gaps.len() > 1000, "{}", gaps.len());
    assert!(gaps.iter().all(|&g| g >= 1.0), "no gap below --burst-iat");
    // KS at the 1 % level: 1.63/√n.
    let critical = 1.63 / (gaps.len() as f64).sqrt();
    let shifted = |mean: f64| move |x: f64| 1.0 - (-(x - 1.0).max(0.0) / mean).exp();
    let d = ks_distance(&mut gaps, shifted(0.5));
    assert!(d < critical, "D = {d} ≥ {critical}");
    // The test can tell: the same gaps against a mean of 0.6 s are refused.
    let wrong = ks_distance(&mut gaps, shifted(0.6));
    assert!(wrong > critical, "D = {wrong} ≤ {critical}");
}

#[test]
fn an_rps_run_with_cold_ratio_meets_a_cold_instance_on_every_cold_call() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // The simple platform, whose instances are dropped after 0.5 s idle (Knative's scale to zero takes a
    // stable window and a grace period: over a minute); each cold function is called 2.5 s after its
    // last call, which covers the idle time and the proxy's longest call (1.0 s).
    ok(&run_loadgen(
        &[
            "run",
            "-o",
            s(&out),
            "-p",
            "builtin",
            "--rps",
            "20",
            "--cold-ratio",
            "25",
            "--cooldown",
            "2.5",
            "--local-platform",
            "simple",
            "--keep-alive",
            "0.5",
            "-m",
            "false",
            "-d",
            "4",
            "-w",
            "0",
            "--seed",
            "5",
            "--rps-duration-ms",
            "10",
            "--local-scale",
            "1",
        ],
        &[],
        LIMIT,
    ));
    let endpoints: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("endpoints.json")).unwrap())
            .unwrap();
    let proxy_of = |address: &str| -> String {
        endpoints
            .iter()
            .find(|e| e["endpoint"] == address)
            .unwrap_or_else(|| panic!("{address} not in endpoints.json"))["proxy"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (mut cold_calls, mut warm_calls) = (0, 0);
    formats::records::read_records(&out.join("records.csv"), |r, endpoint| {
        assert_eq!(r.outcome, formats::records::Outcome::Ok, "{r:?}");
        let proxy = proxy_of(endpoint);
        if proxy.contains("-cold-") {
            assert_eq!(r.cold, Some(true), "{proxy}: {r:?}");
            cold_calls += 1;
        } else {
            assert!(proxy.ends_with("-warm"), "{proxy}");
            warm_calls += 1;
        }
    })
    .unwrap();
    assert_eq!(cold_calls + warm_calls, 80);
    assert!((19..=21).contains(&cold_calls), "{cold_calls}");
}

#[test]
fn the_shape_proxy_is_named_or_nearest_to_the_asked_size() {
    let dir = tempfile::tempdir().unwrap();
    let endpoints = |name: &str| -> Vec<String> {
        formats::read(&dir.path().join(format!("{name}.json")))
            .unwrap()
            .endpoints
    };
    // Default: the built-in proxy nearest to 100 ms and 128 MB.
    generate_seconds(dir.path(), "default", &["--rps", "2", "-d", "1"]);
    assert_eq!(endpoints("default"), ["emu-97p9ms-128mi-warm"]);
    generate_seconds(
        dir.path(),
        "sized",
        &[
            "--rps",
            "2",
            "-d",
            "1",
            "--rps-duration-ms",
            "10",
            "--rps-memory-mb",
            "512",
        ],
    );
    assert_eq!(endpoints("sized"), ["emu-9p9ms-512mi-warm"]);
    generate_seconds(
        dir.path(),
        "named",
        &[
            "--burst-size",
            "1",
            "--burst-iat",
            "1",
            "-d",
            "1",
            "--rps-proxy",
            "emu-1ms-16mi",
        ],
    );
    assert_eq!(endpoints("named"), ["emu-1ms-16mi-burst-0"]);
    let o = run_loadgen(
        &[
            "generate",
            "--rps",
            "2",
            "-p",
            "builtin",
            "--rps-proxy",
            "no-such",
            "-o",
            s(&dir.path().join("x.json")),
        ],
        &[],
        LIMIT,
    );
    let t = common::text(&o);
    assert!(
        !o.status.success() && t.contains("`no-such` is not in the catalogue"),
        "{t}"
    );
}
