//! `loadgen generate` end to end: counts equal the trace, output is reproducible, shards add up, bad input
//! is explained and never destroys earlier output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use loadgen::cli::{parse_command_line, Command};
use loadgen::commands::generate::generate as run_generate;
use loadgen::pipeline::Generated as GenerateReport;
use mapping::MappingFile;
use trace::{read, ReadOptions};

fn generate(args: &[&str]) -> anyhow::Result<GenerateReport> {
    let argv = std::iter::once("loadgen")
        .chain(std::iter::once("generate"))
        .chain(args.iter().copied())
        .map(std::ffi::OsString::from);
    // A flag refused at parse time is an error like any other.
    let cli = parse_command_line(argv)?;
    let Command::Generate(g) = cli.command else {
        unreachable!()
    };
    run_generate(&g, &cmdline::Stop::new())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Calls per (endpoint, period), and checks each period's offsets are sorted and inside the period.
fn endpoint_counts(path: &Path, period_us: u64) -> (HashMap<(String, usize), u64>, Vec<u64>) {
    let load = formats::read(path).unwrap();
    let mut counts = HashMap::new();
    let mut per_period = Vec::new();
    for (p, period) in load.periods.iter().enumerate() {
        assert!(
            period
                .calls
                .windows(2)
                .all(|w| w[0].offset_us <= w[1].offset_us),
            "period {p} sorted"
        );
        assert!(period.calls.iter().all(|c| c.offset_us < period_us));
        for c in &period.calls {
            *counts
                .entry((load.endpoints[c.endpoint as usize].clone(), p))
                .or_default() += 1;
        }
        per_period.push(period.calls.len() as u64);
    }
    (counts, per_period)
}

/// What the trace says each endpoint should receive per period, through `mapping.json`.
fn expected_counts(
    trace_dir: &Path,
    options: &ReadOptions,
    mapping: &Path,
) -> HashMap<(String, usize), u64> {
    let trace = read(trace_dir, options).unwrap();
    let mapping = MappingFile::read(mapping).unwrap();
    let proxy_of: HashMap<(&str, &str, &str), &str> = mapping
        .functions
        .iter()
        .map(|e| {
            (
                (
                    e.hash_owner.as_str(),
                    e.hash_app.as_str(),
                    e.hash_function.as_str(),
                ),
                e.proxy.as_str(),
            )
        })
        .collect();
    let mut expected = HashMap::new();
    for (f, function) in trace.functions.iter().enumerate() {
        let id = &function.id;
        let proxy = proxy_of.get(&(id.owner.as_str(), id.app.as_str(), id.function.as_str()));
        for (p, &c) in trace.counts(f).iter().enumerate() {
            if c == 0 {
                continue;
            }
            let proxy = proxy.unwrap_or_else(|| panic!("active function {id} is mapped"));
            *expected.entry((proxy.to_string(), p)).or_default() += u64::from(c);
        }
    }
    expected
}

#[test]
fn sample_counts_per_function_and_minute_equal_the_trace_for_every_distribution() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let window = ReadOptions {
        start: Some(540),
        periods: Some(22),
        ..Default::default()
    };
    for distribution in ["uniform", "equidistant", "exponential"] {
        // One-to-one onto the built-in grid: each endpoint is exactly one trace function.
        let load = out.path().join(format!("{distribution}.json"));
        let mapping = out.path().join(format!("{distribution}-mapping.json"));
        let report = generate(&[
            "-t",
            s(&sample),
            "-p",
            "builtin",
            "-u",
            "true",
            "-i",
            distribution,
            "-o",
            s(&load),
            "--mapping",
            s(&mapping),
            "--seed",
            "11",
        ])
        .unwrap();
        assert_eq!(
            report.mapping.functions, report.mapping.distinct_proxies,
            "injective"
        );
        let (got, per_period) = endpoint_counts(&load, 60_000_000);
        let expected = expected_counts(&sample, &window, &mapping);
        assert_eq!(per_period.len(), 22);
        assert_eq!(
            got, expected,
            "{distribution}: per-function per-minute counts"
        );
        assert_eq!(report.stats.total(), expected.values().sum::<u64>());

        // Nearest onto the real vSwarm profiles: per proxy, the sum of its functions.
        let load = out.path().join(format!("{distribution}-vswarm.json"));
        let mapping = out
            .path()
            .join(format!("{distribution}-vswarm-mapping.json"));
        generate(&[
            "-t",
            s(&sample),
            "-p",
            s(&sample.join("profile.json")),
            "-i",
            distribution,
            "-o",
            s(&load),
            "--mapping",
            s(&mapping),
            "--seed",
            "11",
        ])
        .unwrap();
        let (got, _) = endpoint_counts(&load, 60_000_000);
        assert_eq!(
            got,
            expected_counts(&sample, &window, &mapping),
            "{distribution} via vSwarm profiles"
        );
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let trace_dir = synth(dir.path(), &["-n", "60", "--periods", "10"]);
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        generate(&[
            "-t",
            s(&trace_dir),
            "-p",
            "builtin",
            "-d",
            "8",
            "-o",
            s(&out),
            "--seed",
            seed,
        ])
        .unwrap();
        std::fs::read(&out).unwrap()
    };
    let a = run("a.json", "5");
    assert!(!a.is_empty());
    assert_eq!(a, run("b.json", "5"));
    assert_ne!(a, run("c.json", "6"));
}

#[test]
fn worker_shards_add_up_to_the_single_load_and_are_balanced() {
    let dir = tempfile::tempdir().unwrap();
    let trace_dir = synth(dir.path(), &["-n", "80", "--periods", "12"]);
    let single = dir.path().join("single/load.json");
    generate(&[
        "-t",
        s(&trace_dir),
        "-p",
        "builtin",
        "-d",
        "10",
        "-o",
        s(&single),
        "--seed",
        "2",
    ])
    .unwrap();
    let sharded = dir.path().join("sharded/load.json");
    let report = generate(&[
        "-t",
        s(&trace_dir),
        "-p",
        "builtin",
        "-d",
        "10",
        "-o",
        s(&sharded),
        "--seed",
        "2",
        "--workers",
        "3",
    ])
    .unwrap();
    assert!(!sharded.exists(), "with workers only shards are written");
    let whole = formats::read(&single).unwrap();
    let shards: Vec<_> = (0..3)
        .map(|k| formats::read(&formats::shard_path(&sharded, k)).unwrap())
        .collect();
    let totals: Vec<usize> = shards.iter().map(|l| l.invocations()).collect();
    assert_eq!(totals.iter().sum::<usize>(), whole.invocations());
    assert!(
        totals.iter().max().unwrap() - totals.iter().min().unwrap() <= 1,
        "{totals:?}"
    );
    assert_eq!(
        report.stats.per_file.iter().sum::<u64>() as usize,
        whole.invocations()
    );
    for p in 0..whole.periods.len() {
        let mut union: Vec<(u64, &str)> = shards
            .iter()
            .flat_map(|l| {
                l.periods[p]
                    .calls
                    .iter()
                    .map(|c| (c.offset_us, l.endpoints[c.endpoint as usize].as_str()))
            })
            .collect();
        let mut expected: Vec<(u64, &str)> = whole.periods[p]
            .calls
            .iter()
            .map(|c| (c.offset_us, whole.endpoints[c.endpoint as usize].as_str()))
            .collect();
        union.sort_unstable();
        expected.sort_unstable();
        assert_eq!(union, expected, "period {p}");
        let sizes: Vec<usize> = shards.iter().map(|l| l.periods[p].calls.len()).collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "period {p}: {sizes:?}"
        );
    }
}

#[test]
fn second_granularity_synthetic_trace_counts_match() {
    let dir = tempfile::tempdir().unwrap();
    let trace_dir = synth(dir.path(), &["-n", "50", "--periods", "20", "-m", "false"]);
    for distribution in ["uniform", "equidistant", "exponential"] {
        let load = dir.path().join(format!("{distribution}.json"));
        let mapping = dir.path().join(format!("{distribution}-mapping.json"));
        let report = generate(&[
            "-t",
            s(&trace_dir),
            "-m",
            "false",
            "-p",
            "builtin",
            "-d",
            "15",
            "-w",
            "3",
            "-i",
            distribution,
            "-o",
            s(&load),
            "--mapping",
            s(&mapping),
        ])
        .unwrap();
        assert_eq!(report.window, (1, 18));
        let (got, _) = endpoint_counts(&load, 1_000_000);
        let window = ReadOptions {
            periods: Some(18),
            ..Default::default()
        };
        assert_eq!(
            got,
            expected_counts(&trace_dir, &window, &mapping),
            "{distribution}"
        );
    }
}

#[test]
fn idle_functions_are_left_out_unless_kept() {
    let dir = tempfile::tempdir().unwrap();
    let trace_dir = synth(dir.path(), &["-n", "120", "--periods", "5"]);
    let out = dir.path().join("load.json");
    let dropped = generate(&[
        "-t",
        s(&trace_dir),
        "-p",
        "builtin",
        "-d",
        "3",
        "-o",
        s(&out),
    ])
    .unwrap();
    assert!(dropped.idle > 0, "a synthetic trace has rare functions");
    assert_eq!(dropped.mapping.functions + dropped.idle, 120);
    let kept = generate(&[
        "-t",
        s(&trace_dir),
        "-p",
        "builtin",
        "-d",
        "3",
        "-o",
        s(&out),
        "--keep-idle",
    ])
    .unwrap();
    assert_eq!(kept.mapping.functions, 120);
    assert_eq!(kept.stats.total(), dropped.stats.total());
}

#[test]
fn errors_are_explained_and_earlier_output_survives() {
    let dir = tempfile::tempdir().unwrap();
    let trace_dir = synth(dir.path(), &["-n", "20", "--periods", "5"]);
    let out = dir.path().join("load.json");
    generate(&[
        "-t",
        s(&trace_dir),
        "-p",
        "builtin",
        "-d",
        "3",
        "-o",
        s(&out),
    ])
    .unwrap();
    let good = std::fs::read(&out).unwrap();

    let message = |args: &[&str]| format!("{:#}", generate(args).unwrap_err());
    let e = message(&[
        "-t",
        s(&trace_dir),
        "-p",
        "builtin",
        "-d",
        "30",
        "-o",
        s(&out),
    ]);
    assert!(
        e.contains("32 periods from 1 go past the last period 5"),
        "{e}"
    );
    let e = message(&[
        "-t",
        s(&trace_dir),
        "-p",
        s(&dir.path().join("nope.json")),
        "-d",
        "3",
        "-o",
        s(&out),
    ]);
    assert!(
        e.contains("nope.json") && e.contains("--profile builtin"),
        "{e}"
    );
    let e = message(&[
        "-t",
        s(&trace_dir),
        "-p",
        "builtin",
        "-d",
        "3",
        "--percentile",
        "95",
        "-o",
        s(&out),
    ]);
    assert!(
        e.contains("percentile 95") && e.contains("[1, 25, 50, 75, 99, 100]"),
        "{e}"
    );

    let bad_profile = dir.path().join("bad-profile.json");
    std::fs::write(&bad_profile, "{\"x\": {\"name\": \"x\", \"cpu\": {}, \"memory\": {\"75-percentile\": 1},\n \"duration\": {\"75-percentil\": 2}}}").unwrap();
    let e = message(&[
        "-t",
        s(&trace_dir),
        "-p",
        s(&bad_profile),
        "-d",
        "3",
        "-o",
        s(&out),
    ]);
    assert!(
        e.contains("bad-profile.json: proxy `x`, duration `75-percentil`"),
        "{e}"
    );

    let inv = trace_dir.join("invocations.csv");
    let text = std::fs::read_to_string(&inv).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let broken = lines[3].replacen(",", ",,", 1);
    lines[3] = &broken;
    std::fs::write(&inv, lines.join("\n")).unwrap();
    let e = message(&[
        "-t",
        s(&trace_dir),
        "-p",
        "builtin",
        "-d",
        "3",
        "-o",
        s(&out),
    ]);
    assert!(e.contains("invocations.csv: line 4: ragged row"), "{e}");

    assert_eq!(
        std::fs::read(&out).unwrap(),
        good,
        "a failed run leaves load.json as it was"
    );
}

fn synth(dir: &Path, args: &[&str]) -> PathBuf {
    let out = dir.join("trace");
    let argv = ["loadgen", "synth", "-o", s(&out)]
        .into_iter()
        .chain(args.iter().copied())
        .map(std::ffi::OsString::from);
    loadgen::commands::run(parse_command_line(argv).unwrap(), &cmdline::Stop::new()).unwrap();
    out
}

/// Sets one count cell of a sampled-layout invocations.csv (data row `row`, period column `period`).
fn set_count(trace_dir: &Path, row: usize, period: usize, value: &str) {
    let path = trace_dir.join("invocations.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let column = header
        .iter()
        .position(|h| *h == period.to_string())
        .unwrap();
    let mut fields: Vec<String> = lines[row + 1].split(',').map(str::to_owned).collect();
    fields[column] = value.to_owned();
    lines[row + 1] = fields.join(",");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn the_size_of_a_load_is_checked_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let trace_dir = synth(dir.path(), &["-n", "5", "--periods", "3", "-m", "false"]);
    let out = dir.path().join("out/load.json");
    let base = [
        "-t",
        s(&trace_dir),
        "-p",
        "builtin",
        "-m",
        "false",
        "-w",
        "0",
        "-d",
        "3",
    ];
    let message = |args: &[&str]| format!("{:#}", generate(args).unwrap_err());
    // Four billion calls in one cell: refused with the count and the flag to raise, not an abort.
    set_count(&trace_dir, 0, 2, "4000000000");
    let e = message(&[&base[..], &["-o", s(&out)]].concat());
    assert!(
        e.contains("holds 4000000") && e.contains("--max-calls 1000000000"),
        "{e}"
    );
    assert!(
        !dir.path().join("out").exists(),
        "nothing written before the check"
    );
    // Raised past it, the busiest second is weighed against the memory this machine has.
    let e = message(&[&base[..], &["-o", s(&out), "--max-calls", "1000000000000"]].concat());
    assert!(
        e.contains("second 2 of the window holds 4000000") && e.contains("GiB"),
        "{e}"
    );
    // A small limit applies to small loads too.
    set_count(&trace_dir, 0, 2, "7");
    let e = message(&[&base[..], &["-o", s(&out), "--max-calls", "1"]].concat());
    assert!(e.contains("more than --max-calls 1;"), "{e}");
    assert!(!out.exists());
}
