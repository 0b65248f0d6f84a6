//! `loadgen preprocess` and `loadgen sample` through the binary, checked against independent
//! computations made here from the CSV files themselves.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Output;

mod common;
use common::{ok, run_loadgen, s, LIMIT};

/// Runs loadgen, with `RAYON_NUM_THREADS=threads` when given.
fn loadgen(args: &[&str], threads: Option<&str>) -> Output {
    let env: Vec<(&str, String)> = threads
        .map(|t| ("RAYON_NUM_THREADS", t.to_owned()))
        .into_iter()
        .collect();
    run_loadgen(args, &env, LIMIT)
}

type Key = (String, String, String);

/// A CSV file as header and rows of fields.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

fn raw(dir: &Path, what: &str, day: u32) -> std::path::PathBuf {
    let name = match what {
        "inv" => "invocations_per_function_md.anon",
        "dur" => "function_durations_percentiles.anon",
        _ => "app_memory_percentiles.anon",
    };
    dir.join(format!("{name}.d{day:02}.csv"))
}

/// What a clean excerpt must hold, computed from the raw files with nothing but the csv crate.
struct Expected {
    counts: HashMap<Key, Vec<u32>>,
    memory_avg: HashMap<Key, f64>,
    duration_avg: HashMap<Key, f64>,
}

fn expected(dir: &Path, pieces: &[(u32, usize, usize)]) -> Expected {
    let total: usize = pieces.iter().map(|p| p.2).sum();
    let mut e = Expected {
        counts: HashMap::new(),
        memory_avg: HashMap::new(),
        duration_avg: HashMap::new(),
    };
    let mut offset = 0;
    for &(day, from, n) in pieces {
        let (ih, inv) = read_csv(&raw(dir, "inv", day));
        let (dh, dur) = read_csv(&raw(dir, "dur", day));
        let (mh, mem) = read_csv(&raw(dir, "mem", day));
        let first_col = ih.iter().position(|h| h == "1").unwrap();
        let avg_d = dh.iter().position(|h| h == "Average").unwrap();
        let avg_m = mh.iter().position(|h| h == "AverageAllocatedMb").unwrap();
        let mut seen = HashSet::new();
        let inv: Vec<&Vec<String>> = inv
            .iter()
            .filter(|r| seen.insert((r[0].clone(), r[1].clone(), r[2].clone())))
            .collect();
        let mut app_size: HashMap<(String, String), usize> = HashMap::new();
        for r in &inv {
            *app_size.entry((r[0].clone(), r[1].clone())).or_default() += 1;
        }
        let mut durations = HashMap::new();
        for r in &dur {
            durations
                .entry((r[0].clone(), r[1].clone(), r[2].clone()))
                .or_insert(r[avg_d].parse::<f64>().unwrap());
        }
        let mut memory = HashMap::new();
        for r in &mem {
            memory
                .entry((r[0].clone(), r[1].clone()))
                .or_insert(r[avg_m].parse::<f64>().unwrap());
        }
        for r in inv {
            let key = (r[0].clone(), r[1].clone(), r[2].clone());
            let app = (r[0].clone(), r[1].clone());
            let (Some(&d), Some(&m)) = (durations.get(&key), memory.get(&app)) else {
                continue;
            };
            e.duration_avg.entry(key.clone()).or_insert(d);
            e.memory_avg
                .entry(key.clone())
                .or_insert(m / app_size[&app] as f64);
            let row = e.counts.entry(key).or_insert_with(|| vec![0; total]);
            for k in 0..n {
                row[offset + k] = r[first_col + from + k].parse().unwrap();
            }
        }
        offset += n;
    }
    e.counts
        .retain(|k, c| c.iter().any(|&v| v > 0) && e.duration_avg[k] > 0.0);
    e
}

/// Checks the clean trace in `out` holds exactly `e`.
fn check_clean(out: &Path, e: &Expected) {
    let (ih, inv) = read_csv(&out.join("invocations.csv"));
    let first = ih.iter().position(|h| h == "1").unwrap();
    let got: HashMap<Key, Vec<u32>> = inv
        .iter()
        .map(|r| {
            (
                (r[0].clone(), r[1].clone(), r[2].clone()),
                r[first..].iter().map(|v| v.parse().unwrap()).collect(),
            )
        })
        .collect();
    assert_eq!(got.len(), inv.len(), "a function written twice");
    assert_eq!(got.len(), e.counts.len());
    assert_eq!(&got, &e.counts);
    let (mh, mem) = read_csv(&out.join("memory.csv"));
    let avg = mh.iter().position(|h| h == "AverageAllocatedMb").unwrap();
    for r in &mem {
        let key = (r[1].clone(), r[2].clone(), r[0].clone());
        let want = e.memory_avg[&key];
        let have: f64 = r[avg].parse().unwrap();
        assert!(
            (have - want).abs() <= 1e-9 * want.max(1.0),
            "{key:?}: {have} vs {want}"
        );
    }
    let (dh, dur) = read_csv(&out.join("durations.csv"));
    let avg = dh.iter().position(|h| h == "Average").unwrap();
    for r in &dur {
        let key = (r[0].clone(), r[1].clone(), r[2].clone());
        assert_eq!(r[avg].parse::<f64>().unwrap(), e.duration_avg[&key]);
    }
}

#[test]
fn preprocess_keeps_exactly_the_complete_functions_across_a_day_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let rawdir = dir.path().join("raw");
    for day in ["1", "2"] {
        ok(&loadgen(
            &[
                "synth",
                "-o",
                s(&rawdir),
                "--layout",
                "raw",
                "--day",
                day,
                "-n",
                "120",
                "--periods",
                "1440",
                "--seed",
                "5",
            ],
            None,
        ));
    }
    // Damage day 1 the ways the real files are damaged.
    let (ih, mut inv) = read_csv(&raw(&rawdir, "inv", 1));
    let (dh, mut dur) = read_csv(&raw(&rawdir, "dur", 1));
    let (mh, mut mem) = read_csv(&raw(&rawdir, "mem", 1));
    inv.push(inv[3].clone()); // a repeated row (the first is kept)
    let mut repeat = inv[4].clone();
    repeat[ih.len() - 1] = "999".into();
    inv.push(repeat); // a repeated key with other counts: still the first row counts
    let no_durations = (inv[5][0].clone(), inv[5][1].clone(), inv[5][2].clone());
    dur.retain(|r| (r[0].clone(), r[1].clone(), r[2].clone()) != no_durations);
    let no_memory_app = (inv[10][0].clone(), inv[10][1].clone());
    mem.retain(|r| (r[0].clone(), r[1].clone()) != no_memory_app);
    let day2_figures = (inv[20][0].clone(), inv[20][1].clone(), inv[20][2].clone());
    dur.retain(|r| (r[0].clone(), r[1].clone(), r[2].clone()) != day2_figures);
    let avg = dh.iter().position(|h| h == "Average").unwrap();
    dur[0][avg] = "0".into(); // zero duration
    write_csv(&raw(&rawdir, "inv", 1), &ih, &inv);
    write_csv(&raw(&rawdir, "dur", 1), &dh, &dur);
    write_csv(&raw(&rawdir, "mem", 1), &mh, &mem);
    // Day 2 lacks the function without durations and the app without memory too, so they are dropped
    // from the excerpt; the function without durations on day 1 only is kept with day 2's figures.
    let (dh2, mut dur2) = read_csv(&raw(&rawdir, "dur", 2));
    dur2.retain(|r| (r[0].clone(), r[1].clone(), r[2].clone()) != no_durations);
    write_csv(&raw(&rawdir, "dur", 2), &dh2, &dur2);
    let (mh2, mut mem2) = read_csv(&raw(&rawdir, "mem", 2));
    mem2.retain(|r| (r[0].clone(), r[1].clone()) != no_memory_app);
    write_csv(&raw(&rawdir, "mem", 2), &mh2, &mem2);
    let app_functions = inv[..inv.len() - 2]
        .iter()
        .filter(|r| (r[0].clone(), r[1].clone()) == no_memory_app)
        .count();

    let out = dir.path().join("clean");
    let text = ok(&loadgen(
        &[
            "preprocess",
            "-t",
            s(&rawdir),
            "-o",
            s(&out),
            "--start",
            "0:23:00",
            "-d",
            "120",
        ],
        None,
    ));
    assert!(text.contains("(d01, d02)"), "{text}");
    assert!(text.contains("2 duplicate rows"), "{text}");
    assert!(text.contains("1 without durations"), "{text}");
    let e = expected(&rawdir, &[(1, 1380, 60), (2, 0, 60)]);
    check_clean(&out, &e);
    assert!(
        text.contains(&format!("{app_functions} without memory")),
        "{text}"
    );
    // What the clean trace holds, read from it: the function without durations on any day and the app
    // without memory are left out; the function whose durations only the second day gives is kept.
    let (_, clean) = read_csv(&out.join("invocations.csv"));
    let written: Vec<Key> = clean
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    assert!(!written.contains(&no_durations), "{no_durations:?}");
    assert!(written
        .iter()
        .all(|k| (k.0.clone(), k.1.clone()) != no_memory_app));
    assert!(written.contains(&day2_figures), "{day2_figures:?}");

    // The clean trace is what generate reads.
    let gen = dir.path().join("load.json");
    ok(&loadgen(
        &[
            "generate",
            "-t",
            s(&out),
            "-p",
            "builtin",
            "-o",
            s(&gen),
            "-w",
            "0",
            "-d",
            "120",
        ],
        None,
    ));
}

/// The vSwarm sample turned into a raw day: its apps get the sum of their functions' memory.
fn sample_as_raw_day(sample: &Path, rawdir: &Path) {
    std::fs::create_dir_all(rawdir).unwrap();
    let (ih, inv) = read_csv(&sample.join("invocations.csv"));
    let mut header = ih[..4].to_vec();
    let periods = ih.len() - 4;
    header.extend((1..=1440).map(|m| m.to_string()));
    let rows: Vec<Vec<String>> = inv
        .iter()
        .map(|r| {
            let mut row = r[..4].to_vec();
            row.extend((0..1440).map(|m| r[4 + m % periods].clone()));
            row
        })
        .collect();
    write_csv(&raw(rawdir, "inv", 1), &header, &rows);
    std::fs::copy(sample.join("durations.csv"), raw(rawdir, "dur", 1)).unwrap();
    let (mh, mem) = read_csv(&sample.join("memory.csv"));
    let mut apps: Vec<(String, String)> = Vec::new();
    let mut sums: HashMap<(String, String), Vec<f64>> = HashMap::new();
    for r in &mem {
        let app = (r[1].clone(), r[2].clone());
        let values: Vec<f64> = r[3..].iter().map(|v| v.parse().unwrap()).collect();
        match sums.get_mut(&app) {
            Some(sum) => sum.iter_mut().zip(values).for_each(|(s, v)| *s += v),
            None => {
                apps.push(app.clone());
                sums.insert(app, values);
            }
        }
    }
    let header: Vec<String> = mh[1..].to_vec();
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            let mut row = vec![a.0.clone(), a.1.clone()];
            row.extend(sums[a].iter().map(|v| v.to_string()));
            row
        })
        .collect();
    write_csv(&raw(rawdir, "mem", 1), &header, &rows);
}

#[test]
fn preprocess_on_the_vswarm_sample_splits_app_memory() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rawdir = dir.path().join("raw");
    sample_as_raw_day(&sample, &rawdir);
    let out = dir.path().join("clean");
    ok(&loadgen(
        &[
            "preprocess",
            "-t",
            s(&rawdir),
            "-o",
            s(&out),
            "--start",
            "0:09:00",
            "-d",
            "30",
        ],
        None,
    ));
    check_clean(&out, &expected(&rawdir, &[(1, 540, 30)]));
}

#[test]
fn preprocess_refuses_bad_excerpts() {
    let dir = tempfile::tempdir().unwrap();
    let rawdir = dir.path().join("raw");
    ok(&loadgen(
        &[
            "synth",
            "-o",
            s(&rawdir),
            "--layout",
            "raw",
            "-n",
            "10",
            "--periods",
            "1440",
        ],
        None,
    ));
    let out = s(&dir.path().join("o")).to_owned();
    for (start, duration, why) in [
        ("0:25:00", "10", "hour must be 0..=23"),
        ("0:00", "10", "dd:hh:mm"),
        ("1:00:00", "10", "start day 1 does not exist"),
        ("0:23:00", "120", "go past the last day file"),
        ("0:00:00", "0", "invalid value '0' for '--duration"),
    ] {
        let o = loadgen(
            &[
                "preprocess",
                "-t",
                s(&rawdir),
                "-o",
                &out,
                "--start",
                start,
                "-d",
                duration,
            ],
            None,
        );
        let t = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            !o.status.success() && t.contains(why),
            "{start} {duration}: {t}"
        );
    }
    // A trace directory of the sampled layout holds no raw day files.
    let sampled = s(&dir.path().join("sampled")).to_owned();
    ok(&loadgen(
        &["synth", "-o", &sampled, "-n", "5", "--periods", "3"],
        None,
    ));
    let o = loadgen(&["preprocess", "-t", &sampled, "-o", &out], None);
    let t = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("no raw day files"), "{t}");
}

/// Direct 1-Wasserstein distance between two samples of values: ∫ |F_a − F_b| over all points, f64.
fn w1(a: &[f64], b: &[f64]) -> f64 {
    let mut points: Vec<f64> = a.iter().chain(b).copied().collect();
    points.sort_by(f64::total_cmp);
    points.dedup();
    let cdf = |v: &[f64], x: f64| v.iter().filter(|&&y| y <= x).count() as f64 / v.len() as f64;
    points
        .windows(2)
        .map(|w| (cdf(a, w[0]) - cdf(b, w[0])).abs() * (w[1] - w[0]))
        .sum()
}

/// The distance of the sample in `sample_dir` from the trace in `original_dir`, computed from scratch.
fn direct_distance(original_dir: &Path, sample_dir: &Path) -> f64 {
    let read = |d: &Path| {
        let t = trace::read(d, &trace::ReadOptions::default()).unwrap();
        let minutes = t.periods;
        let inv: Vec<Vec<f64>> = (0..minutes)
            .map(|m| {
                (0..t.functions.len())
                    .map(|f| f64::from(t.counts(f)[m]))
                    .collect()
            })
            .collect();
        let res: Vec<Vec<f64>> = (0..minutes)
            .map(|m| {
                (0..t.functions.len())
                    .map(|f| {
                        let function = &t.functions[f];
                        f64::from(t.counts(f)[m]) * function.duration_avg_ms / 1e3
                            * function.memory_avg_mb
                    })
                    .collect()
            })
            .collect();
        (inv, res)
    };
    let (oi, or) = read(original_dir);
    let (si, sr) = read(sample_dir);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut total = 0.0;
    let mut minutes = 0;
    for m in 0..oi.len() {
        if mean(&oi[m]) == 0.0 {
            continue;
        }
        let di = w1(&oi[m], &si[m]) / mean(&oi[m]);
        let dr = if mean(&or[m]) > 0.0 {
            w1(&or[m], &sr[m]) / mean(&or[m])
        } else {
            0.0
        };
        total += (di + dr) / 2.0;
        minutes += 1;
    }
    total / minutes as f64
}

fn function_keys(dir: &Path) -> HashSet<Key> {
    let (_, rows) = read_csv(&dir.join("invocations.csv"));
    rows.into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect()
}

/// samples.csv as (size, best_trial, best_distance, trial distances).
fn samples_csv(dir: &Path) -> Vec<(usize, usize, f64, Vec<f64>)> {
    let (_, rows) = read_csv(&dir.join("samples.csv"));
    rows.iter()
        .map(|r| {
            (
                r[0].parse().unwrap(),
                r[1].parse().unwrap(),
                r[2].parse().unwrap(),
                r[3..].iter().map(|v| v.parse().unwrap()).collect(),
            )
        })
        .collect()
}

#[test]
fn samples_are_nested_best_of_their_trials_and_independent_of_threads() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, threads: &str| {
        let out = dir.path().join(name);
        ok(&loadgen(
            &[
                "sample",
                "-t",
                s(&sample),
                "-o",
                s(&out),
                "--min",
                "20",
                "--step",
                "30",
                "--max",
                "110",
                "--trials",
                "6",
                "--seed",
                "9",
            ],
            Some(threads),
        ));
        out
    };
    let one = run("one", "1");
    let two = run("two", "2");
    assert_eq!(
        std::fs::read_to_string(one.join("samples.csv")).unwrap(),
        std::fs::read_to_string(two.join("samples.csv")).unwrap()
    );
    let rows = samples_csv(&one);
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![20, 50, 80, 110]
    );
    let mut larger: Option<HashSet<Key>> = None;
    for (size, best, best_distance, distances) in rows.iter().rev() {
        let dir_one = one.join(format!("sample-{size}"));
        assert_eq!(
            std::fs::read_to_string(dir_one.join("invocations.csv")).unwrap(),
            std::fs::read_to_string(two.join(format!("sample-{size}/invocations.csv"))).unwrap()
        );
        let keys = function_keys(&dir_one);
        assert_eq!(keys.len(), *size);
        if let Some(l) = &larger {
            assert!(
                keys.is_subset(l),
                "sample of {size} not inside the larger one"
            );
        }
        larger = Some(keys);
        // The winner is the minimum over the trials, and its distance is what a direct computation gives.
        assert_eq!(distances.len(), 6);
        let min = distances.iter().copied().fold(f64::INFINITY, f64::min);
        assert_eq!(*best_distance, min);
        assert_eq!(distances[*best], min);
        let direct = direct_distance(&sample, &dir_one);
        assert!(
            (direct - best_distance).abs() <= 1e-5 * direct.max(1e-9),
            "size {size}: {best_distance} vs direct {direct}"
        );
    }
}

#[test]
fn sample_refuses_bad_sizes() {
    let Some(sample) = trace::testing::vswarm_sample() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = s(&dir.path().join("o")).to_owned();
    for (flags, why) in [
        (vec!["--min", "0"], "invalid value '0' for '--min"),
        (vec!["--min", "50", "--max", "40"], "below --min"),
        (vec!["--step", "0"], "invalid value '0' for '--step"),
        (vec!["--trials", "0"], "invalid value '0' for '--trials"),
        (
            vec!["--min", "100", "--max", "300"],
            "the source has only 250",
        ),
    ] {
        let mut args = vec!["sample", "-t", s(&sample), "-o", &out];
        args.extend(flags.iter());
        let o = loadgen(&args, None);
        let t = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success() && t.contains(why), "{flags:?}: {t}");
    }
    // An original that covers other minutes.
    let short = dir.path().join("short");
    ok(&loadgen(
        &["synth", "-o", s(&short), "-n", "300", "--periods", "10"],
        None,
    ));
    let o = loadgen(
        &[
            "sample",
            "-t",
            s(&sample),
            "--original",
            s(&short),
            "-o",
            &out,
            "--min",
            "10",
            "--max",
            "10",
        ],
        None,
    );
    let t = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success() && t.contains("same excerpt"), "{t}");
}
