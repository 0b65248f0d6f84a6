//! `loadgen plot` through the binary: vSwarm's six figures plus mapping error and trace-vs-load from the
//! files `generate` writes, on the shared sample and on a synthetic trace; and `plot results`.

use std::path::Path;

mod common;
use common::{loadgen, ok, s};

/// Each named figure exists as a PNG of the stated size and an SVG.
fn check(dir: &Path, names: &[&str]) {
    for name in names {
        let png = dir.join(format!("{name}.png"));
        let img = image::open(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert_eq!((img.width(), img.height()), (plots::WIDTH, plots::HEIGHT));
        let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("<text"), "{name}");
    }
}

const VSWARM_SIX: [&str; 6] = [
    "proxy_memory",
    "proxy_cpu",
    "proxy_duration",
    "trace_memory",
    "trace_duration",
    "memory_duration",
];

/// Per-minute totals of the functions listed in mapping.json, from invocations.csv directly.
fn trace_per_period(trace_dir: &Path, mapping: &Path, periods: usize) -> Vec<u64> {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(mapping).unwrap()).unwrap();
    let mapped: std::collections::HashSet<(String, String, String)> = m["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["hash_owner"].as_str().unwrap().to_owned(),
                e["hash_app"].as_str().unwrap().to_owned(),
                e["hash_function"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut r = csv::Reader::from_path(trace_dir.join("invocations.csv")).unwrap();
    let first = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h.parse::<u32>().is_ok())
        .unwrap();
    let mut totals = vec![0u64; periods];
    for rec in r.records() {
        let rec = rec.unwrap();
        if !mapped.contains(&(rec[0].to_owned(), rec[1].to_owned(), rec[2].to_owned())) {
            continue;
        }
        for (j, t) in totals.iter_mut().enumerate() {
            *t += rec[first + j].parse::<u64>().unwrap();
        }
    }
    totals
}

fn plot_with_mapping_and_load(trace_dir: &Path, profile: &str, work: &Path, minute: &str) {
    let load = work.join("load.json");
    ok(&loadgen(&[
        "generate",
        "-t",
        s(trace_dir),
        "-p",
        profile,
        "-o",
        s(&load),
        "-w",
        "1",
        "-d",
        "6",
        "-m",
        minute,
        "--seed",
        "3",
    ]));
    let png = work.join("png");
    let mapping = work.join("mapping.json");
    let text = ok(&loadgen(&[
        "plot",
        "-t",
        s(trace_dir),
        "-p",
        profile,
        "-o",
        s(&png),
        "--mapping",
        s(&mapping),
        "--load",
        s(&load),
        "-m",
        minute,
    ]));
    let unit = if minute == "true" { "minute" } else { "second" };
    let per_period = format!("invocations_per_{unit}");
    let mut names = VSWARM_SIX.to_vec();
    names.extend(["mapping_error", per_period.as_str()]);
    check(&png, &names);
    assert!(text.contains("figures    8 in"), "{text}");
    // Trace and load coincide, and both equal a count made from the files.
    let want = trace_per_period(trace_dir, &mapping, 7);
    let load = formats::read(&load).unwrap();
    let got: Vec<u64> = load.periods.iter().map(|p| p.calls.len() as u64).collect();
    assert_eq!(got, want);
}

#[test]
fn vswarm_plot_on_the_sample() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    // vSwarm's flags: -t -p -o (and --png_folder).
    let png = work.path().join("vswarm");
    ok(&loadgen(&[
        "plot",
        "-t",
        s(&sample),
        "-p",
        s(&sample.join("profile.json")),
        "--png_folder",
        s(&png),
    ]));
    check(&png, &VSWARM_SIX);
    plot_with_mapping_and_load(
        &sample,
        s(&sample.join("profile.json")),
        work.path(),
        "true",
    );
}

#[test]
fn plot_on_a_synthetic_trace_and_bad_input() {
    let work = tempfile::tempdir().unwrap();
    let trace = work.path().join("trace");
    ok(&loadgen(&[
        "synth",
        "-o",
        s(&trace),
        "-n",
        "60",
        "--periods",
        "8",
        "-m",
        "false",
    ]));
    plot_with_mapping_and_load(&trace, "builtin", work.path(), "false");
    // Proxies only, without a trace.
    let only = work.path().join("only");
    ok(&loadgen(&["plot", "-p", "builtin", "-o", s(&only)]));
    check(&only, &VSWARM_SIX[..3]);
    // A missing profile and a bad records file are named.
    let o = loadgen(&[
        "plot",
        "-p",
        s(&work.path().join("nope.json")),
        "-o",
        s(&only),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.json"));
    let bad = work.path().join("records.csv");
    std::fs::write(&bad, "not,a,records,file\n").unwrap();
    let o = loadgen(&["plot", "results", s(&bad)]);
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success() && e.contains("records.csv: line 1"),
        "{e}"
    );
}
