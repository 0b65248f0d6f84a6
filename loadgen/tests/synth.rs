//! `loadgen synth`: reproducible, readable in both layouts, and shaped like the Azure 2019 dataset.

use trace::synth::{synthesize, SynthOptions};
use trace::{read, AppMemory, Granularity, Layout, MemoryLevel, ReadOptions};

fn options(layout: Layout) -> SynthOptions {
    SynthOptions {
        functions: 400,
        periods: 60,
        granularity: Granularity::Minute,
        seed: 9,
        layout,
    }
}

#[test]
fn same_seed_same_files() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    synthesize(a.path(), &options(Layout::Sampled)).unwrap();
    synthesize(b.path(), &options(Layout::Sampled)).unwrap();
    for f in ["invocations.csv", "durations.csv", "memory.csv"] {
        assert_eq!(
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn both_layouts_read_back_to_the_same_trace() {
    let sampled = tempfile::tempdir().unwrap();
    let raw = tempfile::tempdir().unwrap();
    let s = synthesize(sampled.path(), &options(Layout::Sampled)).unwrap();
    let r = synthesize(raw.path(), &options(Layout::Raw { day: 7 })).unwrap();
    assert!(r
        .files
        .memory
        .ends_with("app_memory_percentiles.anon.d07.csv"));
    assert_eq!((s.functions, s.invocations), (400, r.invocations));

    let ts = read(sampled.path(), &ReadOptions::default()).unwrap();
    let tr = read(raw.path(), &ReadOptions::default()).unwrap();
    assert_eq!(ts.report.memory_level, MemoryLevel::Function);
    assert_eq!(tr.report.memory_level, MemoryLevel::App(AppMemory::Split));
    assert_eq!(ts.functions.len(), 400);
    assert_eq!(tr.functions.len(), 400);
    for f in 0..400 {
        assert_eq!(ts.functions[f].id, tr.functions[f].id);
        assert_eq!(ts.counts(f), tr.counts(f));
        assert_eq!(ts.functions[f].duration_ms, tr.functions[f].duration_ms);
        for (&(p, a), &(q, b)) in ts.functions[f]
            .memory_mb
            .points()
            .iter()
            .zip(tr.functions[f].memory_mb.points())
        {
            assert_eq!(p, q);
            assert!(
                (a - b).abs() <= 1e-9 * a.max(1.0),
                "memory split: {a} vs {b}"
            );
        }
    }
    let total: u64 = (0..400).map(|f| ts.total(f)).sum();
    assert_eq!(total, s.invocations);
}

#[test]
fn shape_is_heavy_tailed_with_timers_and_a_diurnal_swing() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(Layout::Sampled);
    o.functions = 2000;
    o.periods = 1440;
    synthesize(dir.path(), &o).unwrap();
    let t = read(dir.path(), &ReadOptions::default()).unwrap();
    let mut rates: Vec<f64> = (0..t.functions.len())
        .map(|f| t.total(f) as f64 / 1440.0)
        .collect();
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let p99 = rates[rates.len() * 99 / 100];
    assert!(
        median < 1.0,
        "most functions are invoked less than once a minute: {median}"
    );
    assert!(
        p99 > 100.0 * median.max(0.01),
        "a few are hot: p99 {p99}, median {median}"
    );
    let timers = t.functions.iter().filter(|f| f.trigger == "timer").count();
    assert!(timers > 100 && timers < 600, "{timers} timers");
    // Diurnal: total load in the afternoon peak exceeds the night trough.
    let total_at = |m: usize| {
        (0..t.functions.len())
            .map(|f| u64::from(t.counts(f)[m]))
            .sum::<u64>()
    };
    let night: u64 = (180..240).map(total_at).sum();
    let afternoon: u64 = (900..960).map(total_at).sum();
    assert!(
        afternoon as f64 > 1.5 * night as f64,
        "afternoon {afternoon} night {night}"
    );
    // Durations: log-normal with median under a second, a tail an order of magnitude beyond it.
    let mut d: Vec<f64> = t
        .functions
        .iter()
        .map(|f| f.duration_ms.at(50.0).unwrap())
        .collect();
    d.sort_by(f64::total_cmp);
    assert!(
        d[d.len() / 2] < 1000.0 && d[d.len() * 95 / 100] > 5_000.0,
        "median {} p95 {}",
        d[d.len() / 2],
        d[d.len() * 95 / 100]
    );
}

#[test]
fn an_azure2021_file_holds_the_same_functions_and_counts_call_by_call() {
    let dir = tempfile::tempdir().unwrap();
    let sampled = synthesize(&dir.path().join("sampled"), &options(Layout::Sampled)).unwrap();
    let stats =
        trace::synth::synthesize_azure2021(&dir.path().join("2021"), &options(Layout::Sampled))
            .unwrap();
    assert_eq!(stats.invocations, sampled.invocations);
    let file = stats.files.invocations;
    assert!(trace::is_azure2021(&file).unwrap());
    let text = std::fs::read_to_string(&file).unwrap();
    // The summary counts what the file holds: a function that drew no call has no row.
    let in_file = |column: usize| {
        text.lines()
            .skip(1)
            .map(|l| l.split(',').take(column).collect::<Vec<_>>().join(","))
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    assert_eq!((stats.functions, stats.apps), (in_file(2), in_file(1)));
    assert!(
        stats.functions < sampled.functions,
        "some functions drew no call"
    );
    assert_eq!(
        text.lines().count() as u64,
        stats.invocations + 1,
        "a row per call"
    );
    // Rows in order of end time, as in the dataset.
    let ends: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert!(ends.windows(2).all(|w| w[0] <= w[1]));
    let options = trace::Azure2021Options {
        granularity: Granularity::Minute,
        start: 0,
        periods: Some(60),
        memory_mb: 256.0,
    };
    let t2021 = trace::read_azure2021(&file, &options).unwrap();
    let window = ReadOptions {
        granularity: Some(Granularity::Minute),
        start: None,
        periods: None,
        app_memory: AppMemory::Split,
        strict: true,
        day: None,
        duplicates: Default::default(),
    };
    let t2019 = read(&dir.path().join("sampled"), &window).unwrap();
    // Same functions (those with a call) and the same count in every minute.
    let by_name = |t: &trace::Trace| {
        (0..t.functions.len())
            .filter(|&f| t.total(f) > 0)
            .map(|f| (t.functions[f].id.function.clone(), t.counts(f).to_vec()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(by_name(&t2021), by_name(&t2019));
    assert!(t2021
        .functions
        .iter()
        .all(|f| f.memory_mb.at(50.0) == Some(256.0)));
}
