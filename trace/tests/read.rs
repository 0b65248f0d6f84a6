//! Reading traces: the real vSwarm sample, both layouts, and every malformed input.

use std::path::Path;

use trace::{read, AppMemory, Granularity, MemoryLevel, ReadOptions, TraceError};

const INV_HEAD: &str = "HashOwner,HashApp,HashFunction,Trigger,1,2,3";
const DUR_HEAD: &str = "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100";
const MEM_HEAD: &str = "HashFunction,HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1,AverageAllocatedMb_pct5,AverageAllocatedMb_pct25,AverageAllocatedMb_pct50,AverageAllocatedMb_pct75,AverageAllocatedMb_pct95,AverageAllocatedMb_pct99,AverageAllocatedMb_pct100";

fn dur_row(o: &str, a: &str, f: &str, base: f64) -> String {
    let p: Vec<String> = (0..7).map(|i| (base + i as f64).to_string()).collect();
    format!("{o},{a},{f},{base},10,{base},{base},{}", p.join(","))
}

fn mem_row(o: &str, a: &str, f: Option<&str>, base: f64) -> String {
    let p: Vec<String> = (0..8).map(|i| (base + i as f64).to_string()).collect();
    let key = match f {
        Some(f) => format!("{f},{o},{a}"),
        None => format!("{o},{a}"),
    };
    format!("{key},5,{base},{}", p.join(","))
}

/// A small valid sampled-layout trace: functions f1, f2 (app a1), f3 (app a2).
fn write_sampled(dir: &Path) {
    std::fs::write(
        dir.join("invocations.csv"),
        format!("{INV_HEAD}\no1,a1,f1,http,1,0,2\no1,a1,f2,timer,0,0,0\no2,a2,f3,queue,5,6,7\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("durations.csv"),
        format!(
            "{DUR_HEAD}\n{}\n{}\n{}\n",
            dur_row("o1", "a1", "f1", 10.0),
            dur_row("o1", "a1", "f2", 20.0),
            dur_row("o2", "a2", "f3", 30.0)
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("memory.csv"),
        format!(
            "{MEM_HEAD}\n{}\n{}\n{}\n",
            mem_row("o1", "a1", Some("f1"), 100.0),
            mem_row("o1", "a1", Some("f2"), 200.0),
            mem_row("o2", "a2", Some("f3"), 300.0)
        ),
    )
    .unwrap();
}

fn replace_line(path: &Path, line: usize, new: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    if line > lines.len() {
        lines.push(new.to_owned());
    } else {
        lines[line - 1] = new.to_owned();
    }
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn sampled() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_sampled(dir.path());
    dir
}

fn err(dir: &Path, options: &ReadOptions) -> String {
    match read(dir, options) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reads_a_small_sampled_trace() {
    let dir = sampled();
    let t = read(dir.path(), &ReadOptions::default()).unwrap();
    assert_eq!(t.functions.len(), 3);
    assert_eq!(t.first_period, 1);
    assert_eq!(t.periods, 3);
    assert_eq!(t.counts(0), &[1, 0, 2]);
    assert_eq!(t.counts(2), &[5, 6, 7]);
    assert_eq!(t.functions[1].trigger, "timer");
    assert_eq!(t.functions[2].duration_ms.at(75.0), Some(34.0));
    assert_eq!(t.functions[2].memory_mb.at(75.0), Some(304.0));
    assert_eq!(t.report.memory_level, MemoryLevel::Function);
    assert_eq!(t.granularity, Granularity::Minute);

    let w = read(
        dir.path(),
        &ReadOptions {
            start: Some(2),
            periods: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((w.first_period, w.periods), (2, 2));
    assert_eq!(w.counts(2), &[6, 7]);
}

#[test]
fn raw_layout_splits_or_shares_app_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("invocations_per_function_md.anon.d03.csv"),
        format!("{INV_HEAD}\no1,a1,f1,http,1,0,2\no1,a1,f2,timer,0,1,0\no2,a2,f3,queue,5,6,7\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("function_durations_percentiles.anon.d03.csv"),
        format!(
            "{DUR_HEAD}\n{}\n{}\n{}\n",
            dur_row("o1", "a1", "f1", 10.0),
            dur_row("o1", "a1", "f2", 20.0),
            dur_row("o2", "a2", "f3", 30.0)
        ),
    )
    .unwrap();
    let mem_head = MEM_HEAD.replacen("HashFunction,", "", 1);
    std::fs::write(
        d.join("app_memory_percentiles.anon.d03.csv"),
        format!(
            "{mem_head}\n{}\n{}\n",
            mem_row("o1", "a1", None, 100.0),
            mem_row("o2", "a2", None, 300.0)
        ),
    )
    .unwrap();
    let split = read(d, &ReadOptions::default()).unwrap();
    assert_eq!(
        split.report.memory_level,
        MemoryLevel::App(AppMemory::Split)
    );
    // a1 has two functions: each gets half; a2 has one: all of it.
    assert_eq!(split.functions[0].memory_mb.at(50.0), Some(103.0 / 2.0));
    assert_eq!(split.functions[1].memory_avg_mb, 50.0);
    assert_eq!(split.functions[2].memory_mb.at(50.0), Some(303.0));
    let share = read(
        d,
        &ReadOptions {
            app_memory: AppMemory::Share,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(share.functions[0].memory_mb.at(50.0), Some(103.0));

    // A second day makes the choice ambiguous until --day is given.
    for (from, to) in [
        (
            "invocations_per_function_md.anon.d03.csv",
            "invocations_per_function_md.anon.d04.csv",
        ),
        (
            "function_durations_percentiles.anon.d03.csv",
            "function_durations_percentiles.anon.d04.csv",
        ),
        (
            "app_memory_percentiles.anon.d03.csv",
            "app_memory_percentiles.anon.d04.csv",
        ),
    ] {
        std::fs::copy(d.join(from), d.join(to)).unwrap();
    }
    assert!(matches!(
        read(d, &ReadOptions::default()),
        Err(TraceError::AmbiguousDay { .. })
    ));
    let day4 = read(
        d,
        &ReadOptions {
            day: Some(4),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(day4.functions.len(), 3);
}

#[test]
fn functions_missing_from_a_file_are_left_out_and_counted_or_fatal_when_strict() {
    let dir = sampled();
    let d = dir.path();
    // f2 loses its durations row, f3 its memory row.
    replace_line(
        &d.join("durations.csv"),
        3,
        &dur_row("o1", "a1", "zz", 20.0),
    );
    replace_line(
        &d.join("memory.csv"),
        4,
        &mem_row("o2", "a2", Some("zz"), 300.0),
    );
    let t = read(d, &ReadOptions::default()).unwrap();
    assert_eq!(t.functions.len(), 1);
    assert_eq!(t.report.functions_read, 3);
    assert_eq!(t.report.missing_durations(), 1);
    assert_eq!(t.report.missing_memory(), 1);
    let e = err(
        d,
        &ReadOptions {
            strict: true,
            ..Default::default()
        },
    );
    assert!(
        e.contains("invocations.csv: line 3") && e.contains("durations.csv"),
        "{e}"
    );
}

#[test]
fn bad_inputs_name_file_line_and_column() {
    let cases: Vec<(&str, usize, String, &[&str])> = vec![
        ("invocations.csv", 3, "o1,a1,f2,timer,0,x,0".into(), &["invocations.csv: line 3: column 6 (`2`): not a number: `x`"]),
        ("invocations.csv", 2, "o1,a1,f1,http,1,-4,2".into(), &["invocations.csv: line 2: column 6 (`2`): negative count: `-4`"]),
        ("invocations.csv", 2, "o1,a1,f1,http,1,1.5,2".into(), &["line 2: column 6 (`2`): count is not a whole number"]),
        ("invocations.csv", 4, "o1,a1,f1,http,1,1,2".into(), &["invocations.csv: line 4: duplicate row for o1/a1/f1 (first at line 2)"]),
        ("invocations.csv", 3, "o1,a1,f2,timer,0,0".into(), &["invocations.csv: line 3: ragged row: 6 fields where the header has 7"]),
        ("invocations.csv", 3, "o1,a1,f2,timer,0,0,0,9".into(), &["invocations.csv: line 3: ragged row: 8 fields where the header has 7"]),
        ("invocations.csv", 1, "HashOwner,HashApp,HashFunction,Trigger,1,2,4".into(), &["invocations.csv: line 1: column 7 (`4`): period columns must be consecutive integers: expected `3`"]),
        ("invocations.csv", 1, "HashOwner,HashApp,HashFunction,Trigger,foo,2,3".into(), &["invocations.csv: line 1: column 5 (`foo`): period columns are named by integers and follow the key columns: expected `1` here"]),
        ("invocations.csv", 1, "HashOwner,HashApp,Trigger,1,2,3".into(), &["invocations.csv: line 1: missing column `HashFunction`"]),
        ("durations.csv", 3, dur_row("o1", "a1", "f2", 20.0).replace(",23,", ",abc,"), &["durations.csv: line 3: column", "not a number: `abc`"]),
        ("durations.csv", 2, dur_row("o1", "a1", "f1", 10.0).replace(",13,", ",-13,"), &["durations.csv: line 2: column 11 (`percentile_Average_50`): negative value: `-13`"]),
        ("durations.csv", 4, dur_row("o1", "a1", "f1", 10.0), &["durations.csv: line 4: duplicate row for o1/a1/f1 (first at line 2)"]),
        ("memory.csv", 1, MEM_HEAD.replace(",AverageAllocatedMb_pct75", ",Other"), &["memory.csv: line 1: missing column `AverageAllocatedMb_pct75`"]),
        ("memory.csv", 3, "f2,o1,a1,5,200".into(), &["memory.csv: line 3: ragged row: 5 fields where the header has 13"]),
    ];
    for (file, line, content, expected) in cases {
        let dir = sampled();
        replace_line(&dir.path().join(file), line, &content);
        let e = err(dir.path(), &ReadOptions::default());
        for needle in expected {
            assert!(
                e.contains(needle),
                "{file}:{line} `{content}`:\n  got: {e}\n  want: {needle}"
            );
        }
    }
}

#[test]
fn missing_files_and_bad_windows_are_clear() {
    let dir = sampled();
    std::fs::remove_file(dir.path().join("memory.csv")).unwrap();
    let e = err(dir.path(), &ReadOptions::default());
    assert!(
        e.contains("no memory file found") && e.contains("memory.csv"),
        "{e}"
    );

    let dir = sampled();
    let e = err(
        dir.path(),
        &ReadOptions {
            start: Some(9),
            ..Default::default()
        },
    );
    assert!(
        e.contains("start period 9 is outside the file's periods 1..=3"),
        "{e}"
    );
    let e = err(
        dir.path(),
        &ReadOptions {
            start: Some(2),
            periods: Some(5),
            ..Default::default()
        },
    );
    assert!(
        e.contains("5 periods from 2 go past the last period 3"),
        "{e}"
    );

    let e = err(Path::new("/nonexistent/trace"), &ReadOptions::default());
    assert!(e.contains("/nonexistent/trace"), "{e}");
}

#[test]
fn empty_key_is_rejected() {
    let dir = sampled();
    replace_line(&dir.path().join("invocations.csv"), 2, "o1,,f1,http,1,0,2");
    let e = err(dir.path(), &ReadOptions::default());
    assert!(e.contains("line 2: column 2 (`HashApp`): empty"), "{e}");
}

#[test]
fn reads_the_vswarm_sample() {
    let Some(dir) = trace::testing::vswarm_sample() else {
        return;
    };
    let t = read(&dir, &ReadOptions::default()).unwrap();
    assert_eq!(t.functions.len(), 250);
    assert_eq!((t.first_period, t.periods), (540, 150));
    assert_eq!(t.report.memory_level, MemoryLevel::Function);

    // Independent check of the counts: a plain CSV pass over the same file.
    let mut rdr = csv::Reader::from_path(dir.join("invocations.csv")).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = headers.iter().position(|h| h == "560").unwrap();
    let mut expected_total = 0u64;
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.unwrap();
        let v: u32 = rec[col].parse().unwrap();
        assert_eq!(t.counts(i)[20], v, "function {i} at minute 560");
        assert_eq!(t.functions[i].id.function, &rec[2]);
        expected_total += (4..rec.len())
            .map(|c| rec[c].parse::<u64>().unwrap())
            .sum::<u64>();
    }
    let total: u64 = (0..t.functions.len()).map(|f| t.total(f)).sum();
    assert_eq!(total, expected_total);

    let w = read(
        &dir,
        &ReadOptions {
            start: Some(600),
            periods: Some(20),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((w.first_period, w.periods), (600, 20));
    assert_eq!(w.counts(0), &t.counts(0)[60..80]);
}

#[test]
fn a_lone_quote_is_named_not_a_crash() {
    // A field that is only `"`, in a numeric column: polars 0.55's CSV parser panics on it; the reader
    // must name it instead.
    let dir = sampled();
    let durations = dir.path().join("durations.csv");
    let row = dur_row("o1", "a1", "f2", 20.0);
    let mut fields: Vec<&str> = row.split(',').collect();
    fields[4] = "\"";
    replace_line(&durations, 3, &fields.join(","));
    let e = read(dir.path(), &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("durations.csv: line 3"), "{e}");
    // And a field with a quote in its middle (the csv crate keeps it literally, polars cannot read it).
    let dir = sampled();
    replace_line(
        &dir.path().join("invocations.csv"),
        2,
        "o1,a\"1,f1,http,1,0,2",
    );
    let e = read(dir.path(), &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("invocations.csv: line 2: column 2 (`HashApp`): a quote inside a field"),
        "{e}"
    );
}
