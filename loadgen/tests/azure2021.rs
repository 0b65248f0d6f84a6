//! The Azure 2021 invocation trace through the binary: each row replayed at its own microsecond, and a
//! malformed row refused with its line.

mod common;

use common::{calls, generate_seconds, run_loadgen, s, Call, LIMIT};

/// Hand-made Azure 2021 rows: shared microseconds, a start before the trace began, starts that cross a
/// period boundary before they end, one a hair past the window, and decimals that binary floating point
/// would not hold exactly.
const AZURE2021: &str = "app,func,end_timestamp,duration
a,f,0.5,0.25
a,f,0.500000,0.250000
b,g,1.0000004,0.0000003
b,g,0.1,0.2
a,f,2.1,0.2
c,h,2.999999,0
a,f,5.5,0.1
b,g,3.0000005,0.0000005
c,h,2.3,0.3
";

#[test]
fn azure2021_rows_are_replayed_at_their_own_microseconds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("invocations.txt");
    std::fs::write(&file, AZURE2021).unwrap();
    let load = generate_seconds(
        dir.path(),
        "whole",
        &[
            "-t",
            s(&file),
            "-p",
            "trace",
            "-d",
            "3",
            "--per-call",
            "--memory-mb",
            "512",
        ],
    );
    let mapping: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("whole.mapping.json")).unwrap(),
    )
    .unwrap();
    let endpoint = |app: &str, func: &str| -> String {
        mapping["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["hash_app"] == app && e["hash_function"] == func)
            .unwrap_or_else(|| panic!("{app}/{func} not mapped: {mapping}"))["proxy"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (af, bg, ch) = (endpoint("a", "f"), endpoint("b", "g"), endpoint("c", "h"));
    let expected: Vec<Call> = vec![
        // Two invocations in one microsecond: both kept.
        (250_000, af.clone(), Some((250_000, 512))),
        (250_000, af.clone(), Some((250_000, 512))),
        // 1.0000004 − 0.0000003 = 1.0000001 s, exactly; to the microsecond, 1 s.
        (1_000_000, bg.clone(), Some((0, 512))),
        // Starts in second 1, ends in second 2: it belongs to second 1.
        (1_900_000, af.clone(), Some((200_000, 512))),
        (2_000_000, ch.clone(), Some((300_000, 512))),
        (2_999_999, ch.clone(), Some((0, 512))),
    ];
    assert_eq!(calls(&load, 1_000_000), expected);
    // The mapping's durations come from the invocations: c/h ran 0 and 300 ms.
    let ch_entry = mapping["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["hash_app"] == "c")
        .unwrap()
        .clone();
    assert_eq!(ch_entry["trace"]["memory_mb"], 512.0, "{ch_entry}");

    // --start counts periods from the trace's beginning: second 1 becomes the load's second 0.
    let later = generate_seconds(
        dir.path(),
        "later",
        &["-t", s(&file), "-p", "trace", "-d", "2", "--start", "1"],
    );
    let times: Vec<u64> = calls(&later, 1_000_000).iter().map(|c| c.0).collect();
    assert_eq!(times, [0, 900_000, 1_000_000, 1_999_999]);

    // --shift has nothing to rotate in an exact replay: refused, naming the file.
    let o = run_loadgen(
        &[
            "generate",
            "-t",
            s(&file),
            "-p",
            "builtin",
            "-m",
            "false",
            "-w",
            "0",
            "-d",
            "3",
            "--shift",
            "-o",
            s(&dir.path().join("x.json")),
        ],
        &[],
        LIMIT,
    );
    assert!(
        !o.status.success() && common::text(&o).contains("--shift"),
        "{}",
        common::text(&o)
    );
}

#[test]
fn a_malformed_azure2021_row_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    for (rows, line, what) in [
        ("a,f,0.5,0.1\na,f,abc,0.1\n", "line 3", "end_timestamp"),
        ("a,f,0.5,0.1\na,f,0.6,-0.1\n", "line 3", "duration"),
        ("a,f,0.5,0.1\n\na,f,0.6\n", "line 4", "ragged"),
    ] {
        let file = dir.path().join("bad.txt");
        std::fs::write(&file, format!("app,func,end_timestamp,duration\n{rows}")).unwrap();
        let out = dir.path().join("load.json");
        let o = run_loadgen(
            &[
                "generate",
                "-t",
                s(&file),
                "-p",
                "builtin",
                "-m",
                "false",
                "-d",
                "1",
                "-o",
                s(&out),
            ],
            &[],
            LIMIT,
        );
        let t = common::text(&o);
        assert!(!o.status.success(), "{t}");
        assert!(
            t.contains("bad.txt") && t.contains(line) && t.contains(what),
            "{rows:?}: {t}"
        );
        assert!(!out.exists(), "nothing written on error");
    }
}

#[test]
fn a_directory_holding_an_azure2021_file_is_read_as_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let traces = dir.path().join("traces");
    std::fs::create_dir(&traces).unwrap();
    let file = traces.join(trace::AZURE2021_FILE);
    std::fs::write(&file, AZURE2021).unwrap();
    let args = |t: &std::path::Path| {
        vec![
            "-t".to_owned(),
            s(t).to_owned(),
            "-p".into(),
            "trace".into(),
            "-d".into(),
            "3".into(),
        ]
    };
    let by_file = generate_seconds(
        dir.path(),
        "file",
        &args(&file).iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let by_dir = generate_seconds(
        dir.path(),
        "dir",
        &args(&traces).iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(calls(&by_dir, 1_000_000), calls(&by_file, 1_000_000));

    // Two such files: neither is guessed, both are named.
    std::fs::write(traces.join("other.txt"), AZURE2021).unwrap();
    let o = run_loadgen(
        &[
            "generate",
            "-t",
            s(&traces),
            "-p",
            "trace",
            "-m",
            "false",
            "-d",
            "3",
            "-o",
            s(&dir.path().join("x.json")),
        ],
        &[],
        LIMIT,
    );
    let t = common::text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains(trace::AZURE2021_FILE) && t.contains("other.txt"),
        "{t}"
    );
}
