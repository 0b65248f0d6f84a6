//! Figures from the shared vSwarm sample, from the built-in catalogue and from synthetic records: files
//! exist, decode as images of the stated size, and the numbers behind them match an independent
//! computation. (Mapping and load figures are checked through `loadgen plot`, which makes those files.)

use std::path::PathBuf;

use formats::records::{Outcome, Record, RecordsWriter};
use plots::{
    catalogue_figures, draw_plan, results_figures, trace_figures, Figure, FigureData, Plan, HEIGHT,
    WIDTH,
};
use profiles::Catalogue;

/// Where figures go: `PLOTS_KEEP=dir` keeps them to look at.
fn out_dir(name: &str) -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("PLOTS_KEEP") {
        Some(d) => (None, PathBuf::from(d).join(name)),
        None => {
            let t = tempfile::tempdir().unwrap();
            let p = t.path().to_owned();
            (Some(t), p)
        }
    }
}

/// Each figure's PNG decodes at the stated size and is not blank; its SVG is an SVG with text.
pub fn check_files(figures: &[Figure]) {
    for f in figures {
        let img = image::open(&f.png).unwrap_or_else(|e| panic!("{}: {e}", f.png.display()));
        assert_eq!((img.width(), img.height()), (WIDTH, HEIGHT), "{}", f.name);
        let rgb = img.to_rgb8();
        let mut colours: Vec<[u8; 3]> = rgb.pixels().map(|p| p.0).collect();
        colours.sort_unstable();
        colours.dedup();
        assert!(colours.len() > 20, "{} looks empty", f.name);
        let svg = std::fs::read_to_string(&f.svg).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("</svg>"),
            "{}",
            f.name
        );
        assert!(svg.contains("<text"), "{}: no text in the SVG", f.name);
    }
}

fn histogram<'a>(figures: &'a [Figure], name: &str) -> &'a plots::Histogram {
    match &figures.iter().find(|f| f.name == name).unwrap().data {
        FigureData::Histogram(h) => h,
        other => panic!("{name} is {other:?}"),
    }
}

/// Counts per log bin computed here from the bins' labels: `n` equal steps in log space between the
/// first label's lower end and the last label's upper end.
/// A bin label's number ("2.5k" is 2,500).
fn label_value(s: &str) -> f64 {
    let (num, mul) = match s.chars().last() {
        Some('k') => (&s[..s.len() - 1], 1e3),
        Some('M') => (&s[..s.len() - 1], 1e6),
        Some('G') => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    };
    num.parse::<f64>().unwrap() * mul
}

/// The log10 of the first bin's lower edge and of the last bin's upper edge, read from the labels.
fn log_span(labels: &[String]) -> (f64, f64) {
    let lo = label_value(labels[0].split('–').next().unwrap()).log10();
    let hi = label_value(labels.last().unwrap().split('–').nth(1).unwrap()).log10();
    (lo, hi)
}

/// The edges between log bins, computed from their labels (not from the bins' own code).
fn bin_edges(labels: &[String]) -> Vec<f64> {
    let (lo, hi) = log_span(labels);
    let n = labels.len() as f64;
    (1..labels.len())
        .map(|j| 10f64.powf(lo + j as f64 * (hi - lo) / n))
        .collect()
}

fn independent_counts(values: &[f64], labels: &[String], floor: f64) -> Vec<f64> {
    let (lo, hi) = log_span(labels);
    let n = labels.len() as f64;
    let mut counts = vec![0.0; labels.len()];
    for &v in values {
        let j = ((v.max(floor).log10() - lo) / (hi - lo) * n + 1e-9).floor();
        counts[(j.max(0.0) as usize).min(labels.len() - 1)] += 1.0;
    }
    counts
}

#[test]
fn sample_figures_show_the_sample() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let (_guard, dir) = out_dir("sample");
    let catalogue = Catalogue::from_profile_json(&sample.join("profile.json")).unwrap();
    let trace = trace::read(&sample, &trace::ReadOptions::default()).unwrap();
    let mut plan = Plan::default();
    catalogue_figures(&catalogue, 75, &mut plan).unwrap();
    trace_figures(&trace, &catalogue, 75, &mut plan).unwrap();
    assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
    let figures = draw_plan(&dir, plan).unwrap().figures;
    assert_eq!(figures.len(), 6);
    check_files(&figures);

    // Figures 1–3 from profile.json read as plain JSON.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample.join("profile.json")).unwrap())
            .unwrap();
    let proxy = |metric: &str| -> Vec<f64> {
        json.as_object()
            .unwrap()
            .values()
            .map(|p| p[metric]["75-percentile"].as_f64().unwrap())
            .collect()
    };
    let h = histogram(&figures, "proxy_memory");
    assert_eq!(
        h.series[0].values,
        independent_counts(&proxy("memory"), &h.bins, 1.0)
    );
    assert_eq!(h.series[0].values.iter().sum::<f64>(), 191.0);
    let h = histogram(&figures, "proxy_duration");
    assert_eq!(
        h.series[0].values,
        independent_counts(&proxy("duration"), &h.bins, 0.001)
    );
    let h = histogram(&figures, "proxy_cpu");
    assert_eq!(
        h.series[0].values,
        independent_counts(&proxy("cpu"), &h.bins, 0.1)
    );

    // Figure 4: the trace's memory at p75 from memory.csv, as a share of its functions.
    let mut r = csv::Reader::from_path(sample.join("memory.csv")).unwrap();
    let col = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "AverageAllocatedMb_pct75")
        .unwrap();
    let memory: Vec<f64> = r
        .records()
        .map(|rec| rec.unwrap()[col].parse().unwrap())
        .collect();
    let h = histogram(&figures, "trace_memory");
    let want: Vec<f64> = independent_counts(&memory, &h.bins, 1.0)
        .iter()
        .map(|c| 100.0 * c / memory.len() as f64)
        .collect();
    for (a, b) in h.series[0].values.iter().zip(&want) {
        assert!((a - b).abs() < 1e-9, "{:?} vs {want:?}", h.series[0].values);
    }
    let total: f64 = h.series[1].values.iter().sum();
    assert!(
        (total - 100.0).abs() < 1e-9,
        "proxies overlay sums to {total}%"
    );
    let FigureData::Xy(scatter) = &figures
        .iter()
        .find(|f| f.name == "memory_duration")
        .unwrap()
        .data
    else {
        panic!()
    };
    assert_eq!(scatter.series[0].values.len(), 250);
    assert_eq!(scatter.series[1].values.len(), 191);
}

#[test]
fn builtin_catalogue_and_degenerate_traces_draw() {
    let (_guard, dir) = out_dir("builtin");
    let catalogue = Catalogue::builtin();
    let mut plan = Plan::default();
    catalogue_figures(&catalogue, 50, &mut plan).unwrap();
    // A trace of one function whose durations and memory are all zero.
    let function = trace::Function {
        id: trace::FunctionId {
            owner: "o".into(),
            app: "a".into(),
            function: "f".into(),
        },
        trigger: "http".into(),
        duration_ms: trace::Percentiles::new(
            trace::DURATION_PERCENTILES
                .iter()
                .map(|&p| (f64::from(p), 0.0))
                .collect(),
        ),
        duration_avg_ms: 0.0,
        memory_mb: trace::Percentiles::new(
            trace::MEMORY_PERCENTILES
                .iter()
                .map(|&p| (f64::from(p), 0.0))
                .collect(),
        ),
        memory_avg_mb: 0.0,
    };
    let report = trace::ReadReport {
        functions_read: 1,
        left_out: Vec::new(),
        memory_level: trace::MemoryLevel::Function,
        duplicate_rows: 0,
    };
    let one = trace::Trace::new(
        trace::Granularity::Minute,
        1,
        2,
        vec![function],
        vec![3, 0],
        report.clone(),
    );
    trace_figures(&one, &catalogue, 50, &mut plan).unwrap();
    let empty = trace::Trace::new(trace::Granularity::Minute, 1, 2, vec![], vec![], report);
    let mut empty_plan = Plan::default();
    trace_figures(&empty, &catalogue, 50, &mut empty_plan).unwrap();
    assert_eq!(empty_plan.figures.len(), 0);
    assert!(empty_plan
        .skipped
        .iter()
        .all(|s| s.1.contains("no function")));
    assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
    let figures = draw_plan(&dir, plan).unwrap().figures;
    check_files(&figures);
    let h = histogram(&figures, "proxy_memory");
    assert_eq!(h.series[0].values.iter().sum::<f64>(), 225.0);
    // 9 memory sizes, 16 MiB..4 GiB, one per bin in its half decade.
    assert_eq!(h.series[0].values.iter().filter(|&&c| c > 0.0).count(), 6);
    let h = histogram(&figures, "trace_memory");
    assert_eq!(
        h.series[0].values[0], 100.0,
        "a zero memory counts at the floor"
    );
    assert!(!histogram(&figures, "proxy_cpu").bins.is_empty());
    // A figure was rejected with a message rather than drawn empty or panicking.
    let mut no_data = Plan::default();
    let records = dir.join("empty.csv");
    std::fs::write(&records, format!("{}\n", formats::records::RECORDS_HEADER)).unwrap();
    results_figures(&records, &Default::default(), &mut no_data).unwrap();
    assert_eq!(no_data.figures.len(), 0);
    assert_eq!(no_data.skipped.len(), 5, "{:?}", no_data.skipped);
}

#[test]
fn results_figures_count_what_the_records_say() {
    let (_guard, dir) = out_dir("results");
    let records = dir.join("records.csv");
    std::fs::create_dir_all(&dir).unwrap();
    let endpoints: Vec<String> = vec!["a:1".into(), "b:2".into(), "c:3".into()];
    let mut w = RecordsWriter::new(std::fs::File::create(&records).unwrap()).unwrap();
    // 3 seconds: second 0 warm-up; 100 calls a second; every 10th times out; lags grow with index.
    let mut lags = Vec::new();
    let mut latencies = Vec::new();
    for i in 0..300u64 {
        let warmup = i < 100;
        let ok = i % 10 != 3;
        let lag_ns = 50 + (i * 37) % 20_000;
        let latency = 200 + (i * 91) % 5_000;
        if !warmup {
            lags.push(lag_ns as f64 / 1e3);
            if ok {
                latencies.push(latency as f64 / 1e3);
            }
        }
        w.write(
            &Record {
                workflow: None,
                index: i,
                worker: 0,
                period: (i / 100) as u32,
                endpoint: (i % 3) as u32,
                warmup,
                scheduled_us: i * 10_000,
                dispatch_lag_ns: Some(lag_ns),
                send_lag_ns: Some(lag_ns + 300),
                latency_us: Some(latency),
                latency_from_scheduled_us: Some(latency + 1),
                outcome: if ok { Outcome::Ok } else { Outcome::Timeout },
                // The function's own time: all but 50..149 µs of the latency; every 50th call cold.
                exec_us: Some(latency - (50 + i % 100)),
                instance: Some(1 + i % 3),
                cold: Some(i % 50 == 0),
                wire: formats::records::Wire::default(),
            },
            &endpoints,
        )
        .unwrap();
    }
    w.finish().unwrap();
    let mut plan = Plan::default();
    // Two of the three endpoints are named (by their proxy); the third keeps its address.
    let names = [("a:1", "emu-a"), ("b:2", "emu-b")]
        .into_iter()
        .map(|(e, n)| (e.to_owned(), n.to_owned()))
        .collect();
    results_figures(&records, &names, &mut plan).unwrap();
    assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
    let figures = draw_plan(&dir, plan).unwrap().figures;
    check_files(&figures);
    assert_eq!(figures.len(), 5);

    // Latency from the due time over the run: seconds 1 and 2 (second 0 is warm-up), the answered
    // calls' p99 of each within the histogram's 1 % (2 significant digits).
    let Some(FigureData::Xy(over)) = figures
        .iter()
        .find(|f| f.name == "latency_over_run")
        .map(|f| &f.data)
    else {
        panic!("no latency-over-the-run figure")
    };
    let p99 = &over.series[1].values;
    assert_eq!(p99.iter().map(|p| p.0).collect::<Vec<_>>(), [1.0, 2.0]);
    for (second, ms) in p99 {
        let mut of_second: Vec<f64> = (0..300u64)
            .filter(|i| i / 100 == *second as u64 && i % 10 != 3)
            .map(|i| (200 + (i * 91) % 5_000 + 1) as f64 / 1e3)
            .collect();
        of_second.sort_by(f64::total_cmp);
        let exact = of_second[(0.99 * of_second.len() as f64).ceil() as usize - 1];
        assert!(
            (ms - exact).abs() <= exact * 0.01,
            "second {second}: {ms} for {exact}"
        );
    }

    // The overhead figure: every answered measured call, the cold ones apart (calls 100, 150, 200, 250).
    let Some(FigureData::Xy(overhead)) = figures
        .iter()
        .find(|f| f.name == "overhead")
        .map(|f| &f.data)
    else {
        panic!("no overhead figure")
    };
    let (warm, cold) = (&overhead.series[0].values, &overhead.series[1].values);
    assert_eq!(warm.len() + cold.len(), latencies.len());
    assert_eq!(cold.len(), 4, "{cold:?}");
    assert!(warm
        .iter()
        .chain(cold)
        .all(|&(_, ms)| (0.05..0.15).contains(&ms)));

    let FigureData::Xy(cdf) = &figures[0].data else {
        panic!()
    };
    let all = &cdf.series[0].values;
    assert_eq!(all.last().unwrap().1, 1.0);
    latencies.sort_by(f64::total_cmp);
    // The curve is drawn from a histogram of 3 significant digits: its last step is at the highest
    // value the largest latency's bucket stands for, never below it and within 0.1 %.
    let (drawn, max) = (all.last().unwrap().0, *latencies.last().unwrap());
    assert!(drawn >= max && drawn <= max * 1.001, "{drawn} for {max}");
    assert_eq!(cdf.series.len(), 4, "all + the 3 endpoints");
    let mut named: Vec<&str> = cdf.series[1..]
        .iter()
        .map(|s| s.name.split(' ').next().unwrap())
        .collect();
    named.sort_unstable();
    assert_eq!(named, ["c:3", "emu-a", "emu-b"]);

    let h = histogram(&figures, "dispatch_lag");
    assert_eq!(h.series[0].values.iter().sum::<f64>(), 200.0);
    // Counted from a histogram of 3 significant digits: a lag may move to the next bin only when it lies
    // within 0.1 % below that bin's edge.
    let exact = independent_counts(&lags, &h.bins, 0.01);
    let moved: f64 = h.series[0]
        .values
        .iter()
        .zip(&exact)
        .map(|(a, b)| (a - b).abs())
        .sum();
    let edges = bin_edges(&h.bins);
    let near_an_edge = lags
        .iter()
        .filter(|&&l| edges.iter().any(|&e| l < e && l * 1.001 >= e))
        .count();
    assert!(
        moved <= 2.0 * near_an_edge as f64,
        "{moved} moved, {near_an_edge} near an edge"
    );
    assert!(near_an_edge < 5, "the bounds above hold something");
    lags.sort_by(f64::total_cmp);
    let p99 = lags[197]; // nearest rank: ceil(0.99 × 200) = 198th
    assert!(
        h.markers[1].label.contains(&plots::bins::compact(p99)),
        "{:?}",
        h.markers
    );

    let FigureData::Xy(rate) = &figures[2].data else {
        panic!()
    };
    let scheduled: Vec<f64> = rate.series[0].values.iter().map(|v| v.1).collect();
    assert_eq!(scheduled, vec![100.0, 100.0, 100.0]);
    let answered: f64 = rate.series[2].values.iter().map(|v| v.1).sum();
    assert_eq!(answered, 270.0);
    assert_eq!(rate.title, "Calls per second: scheduled, sent, answered");
}

#[test]
fn mapping_and_load_figures_count_their_inputs() {
    let (_guard, dir) = out_dir("mapping");
    let function = |name: &str, memory: f64, duration: f64| trace::Function {
        id: trace::FunctionId {
            owner: "o".into(),
            app: "a".into(),
            function: name.into(),
        },
        trigger: "http".into(),
        duration_ms: trace::Percentiles::new(
            trace::DURATION_PERCENTILES
                .iter()
                .map(|&p| (f64::from(p), duration))
                .collect(),
        ),
        duration_avg_ms: duration,
        memory_mb: trace::Percentiles::new(
            trace::MEMORY_PERCENTILES
                .iter()
                .map(|&p| (f64::from(p), memory))
                .collect(),
        ),
        memory_avg_mb: memory,
    };
    let functions = vec![
        function("f", 100.0, 10.0),
        function("g", 200.0, 1000.0),
        function("h", 10.0, 1.0),
    ];
    let point = |m: f64, d: f64| mapping::Point {
        memory_mb: m,
        duration_ms: d,
    };
    // Relative errors: f memory 0.02, duration 0.5; g 1.5 and 0.001; h 20 and 0.
    let entries = vec![
        mapping::MappingEntry::new(&functions[0], "p", point(100.0, 10.0), point(102.0, 15.0)),
        mapping::MappingEntry::new(
            &functions[1],
            "q",
            point(200.0, 1000.0),
            point(500.0, 1001.0),
        ),
        mapping::MappingEntry::new(&functions[2], "r", point(10.0, 1.0), point(210.0, 1.0)),
    ];
    let mapping = mapping::MappingFile {
        percentile: 75,
        method: mapping::Method::Nearest,
        catalogue: "test".into(),
        functions: entries,
    };
    let report = trace::ReadReport {
        functions_read: 3,
        left_out: Vec::new(),
        memory_level: trace::MemoryLevel::Function,
        duplicate_rows: 0,
    };
    // Counts per period: f 1,2; g 0,5; h 3,0 → 4 and 7.
    let trace = trace::Trace::new(
        trace::Granularity::Minute,
        540,
        2,
        functions,
        vec![1, 2, 0, 5, 3, 0],
        report,
    );
    let call = |offset_us| formats::Invocation {
        offset_us,
        endpoint: 0,
    };
    let load = formats::Load {
        endpoints: vec!["e".into()],
        periods: vec![
            formats::Period {
                calls: (0..4).map(call).collect(),
                ..Default::default()
            },
            formats::Period {
                calls: (0..7).map(call).collect(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let mut plan = Plan::default();
    plots::mapping_figure(&mapping, &mut plan);
    plots::load_figure(&trace, &load.per_period(), &mut plan);
    let figures = draw_plan(&dir, plan).unwrap().figures;
    check_files(&figures);
    let h = histogram(&figures, "mapping_error");
    // Bins: 0–5%, 5–10%, 10–20%, 20–30%, 30–50%, 50–100%, 100–200%, 200–500%, 500–1000%, ≥1000%.
    assert_eq!(
        h.series[0].values,
        vec![1., 0., 0., 0., 0., 0., 1., 0., 0., 1.]
    );
    assert_eq!(
        h.series[1].values,
        vec![2., 0., 0., 0., 0., 1., 0., 0., 0., 0.]
    );
    let FigureData::Xy(p) = &figures[1].data else {
        panic!()
    };
    assert_eq!(figures[1].name, "invocations_per_minute");
    assert_eq!(p.series[0].values, vec![(540.0, 4.0), (541.0, 7.0)]);
    assert_eq!(p.series[0].values, p.series[1].values);
    assert!(p.points && p.lines, "few periods are marked");

    // One period (`loadgen run`'s default minute): a line needs two points, so the point is marked and
    // the figure is not empty.
    let one = trace::Trace::new(
        trace::Granularity::Minute,
        1,
        1,
        trace.functions.clone(),
        vec![1, 0, 3],
        trace.report.clone(),
    );
    let load = formats::Load {
        endpoints: vec!["e".into()],
        periods: vec![formats::Period {
            calls: (0..4).map(call).collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut plan = Plan::default();
    plots::load_figure(&one, &load.per_period(), &mut plan);
    let figures = draw_plan(&dir.join("one"), plan).unwrap().figures;
    check_files(&figures);
    let FigureData::Xy(p) = &figures[0].data else {
        panic!()
    };
    assert!(p.points);
    assert_eq!(p.series[0].values, vec![(1.0, 4.0)]);
    assert_eq!(p.series[1].values, vec![(1.0, 4.0)]);
}

#[test]
fn answers_after_the_last_due_second_are_not_drawn_as_a_plunge() {
    let (_guard, dir) = out_dir("tail");
    let records = dir.join("records.csv");
    std::fs::create_dir_all(&dir).unwrap();
    let endpoints: Vec<String> = vec!["a:1".into()];
    let mut w = RecordsWriter::new(std::fs::File::create(&records).unwrap()).unwrap();
    // 2 seconds of 10 calls a second, each answered 450 ms after it was due: the calls of 1.6 s and
    // later are answered in second 2, when nothing is due any more.
    for i in 0..20u64 {
        w.write(
            &Record {
                workflow: None,
                index: i,
                worker: 0,
                period: (i / 10) as u32,
                endpoint: 0,
                warmup: false,
                scheduled_us: i * 100_000,
                dispatch_lag_ns: Some(1_000),
                send_lag_ns: Some(2_000),
                latency_us: Some(449_000),
                latency_from_scheduled_us: Some(450_000),
                outcome: Outcome::Ok,
                exec_us: None,
                instance: None,
                cold: None,
                wire: formats::records::Wire::default(),
            },
            &endpoints,
        )
        .unwrap();
    }
    w.finish().unwrap();
    let mut plan = Plan::default();
    results_figures(&records, &Default::default(), &mut plan).unwrap();
    let Some((_, FigureData::Xy(rate))) = plan
        .figures
        .iter()
        .find(|(name, _)| name == "calls_per_second")
    else {
        panic!("no calls_per_second figure: {:?}", plan.skipped)
    };
    let answered: Vec<f64> = rate.series[2].values.iter().map(|v| v.1).collect();
    // Second 0: the calls of 0.0–0.5 s; second 1: those of 0.6–1.5 s; the last four fall after.
    assert_eq!(answered, [6.0, 10.0]);
    assert!(
        rate.title
            .contains("0 sent, 4 answered after the last due second"),
        "{}",
        rate.title
    );
}
