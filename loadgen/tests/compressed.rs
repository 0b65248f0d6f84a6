//! `--compress zstd`: a run's load and records written as load.json.zst and records.csv.zst, from one
//! invoker or several workers (whose records travel compressed), read back by the report, the plots and
//! the tools' readers exactly as the plain files are; a truncated file refused, naming where it ends.

mod common;

use std::io::Read;
use std::path::Path;

use common::{loadgen, ok, run_loadgen, s, LIMIT};
use formats::records::{read_records, Record};

/// A short per-second run into `out` with `extra` flags: 40 calls a second for 1 + 3 seconds.
fn run(out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "run",
        "-o",
        s(out),
        "--rps",
        "40",
        "--minute",
        "false",
        "-d",
        "3",
        "-w",
        "1",
        "--seed",
        "11",
        "-q",
    ];
    args.extend_from_slice(extra);
    ok(&run_loadgen(&args, &[], LIMIT))
}

/// The text of `path`, decompressed if it is zstd, with each local endpoint's port (free ports, chosen
/// anew by each run) left out.
fn text_of(path: &Path) -> String {
    let mut text = String::new();
    formats::compressed::open(path)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    without_ports(&text)
}

fn without_ports(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("127.0.0.1:") {
        let (head, tail) = rest.split_at(at + "127.0.0.1:".len());
        out.push_str(head);
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// What a replay decides before it sends: each record's call, due time, endpoint, period and worker.
fn planned(path: &Path) -> Vec<(u64, u64, String, u32, bool)> {
    let mut rows = Vec::new();
    read_records(path, |r: &Record, e| {
        rows.push((
            r.index,
            r.scheduled_us,
            without_ports(e),
            r.period,
            r.warmup,
        ))
    })
    .unwrap();
    rows.sort();
    rows
}

#[test]
fn a_compressed_run_holds_what_a_plain_one_does() {
    let _turn = testkit::turn();
    let dir = tempfile::tempdir().unwrap();
    let (plain, packed, workers) = (
        dir.path().join("plain"),
        dir.path().join("packed"),
        dir.path().join("workers"),
    );
    run(&plain, &[]);
    run(&packed, &["--compress", "zstd"]);
    run(&workers, &["--compress", "zstd", "--workers", "2"]);

    for out in [&packed, &workers] {
        for plain_name in ["load.json", "records.csv"] {
            assert!(!out.join(plain_name).exists(), "{}", out.display());
            let file = out.join(format!("{plain_name}.zst"));
            assert_eq!(
                std::fs::read(&file).unwrap()[..4],
                [0x28, 0xb5, 0x2f, 0xfd],
                "{} is zstd",
                file.display()
            );
        }
        // The same seed gives the same load, byte for byte, compressed or not.
        let load = text_of(&out.join("load.json.zst"));
        assert!(load.matches("127.0.0.1:").count() >= 160, "{load}");
        assert_eq!(load, text_of(&plain.join("load.json")));
        // One record per call, with the same plan as the plain run's.
        assert_eq!(
            planned(&out.join("records.csv.zst")),
            planned(&plain.join("records.csv")),
            "{}",
            out.display()
        );
        let report = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(report.contains("records.csv.zst"), "{report}");
        assert!(out.join("plots/latency_cdf.png").exists());
    }
    for k in 0..2 {
        assert!(workers.join(format!("load-{k}.json.zst")).exists());
    }
    // The plots read the compressed records again, and a plain run's next run into the same directory
    // leaves no compressed file behind.
    ok(&loadgen(&["plot", "results", s(&packed)]));
    run(&packed, &[]);
    assert!(
        !packed.join("records.csv.zst").exists() && !packed.join("load.json.zst").exists(),
        "a plain run replaced the compressed one"
    );
    assert!(packed.join("records.csv").exists());

    // A records file cut short is refused, naming the file and where its stream ends; the run's other
    // files stay as they were.
    let records = workers.join("records.csv.zst");
    let whole = std::fs::read(&records).unwrap();
    let cut = whole.len() - 3;
    std::fs::write(&records, &whole[..cut]).unwrap();
    let plots_before = std::fs::read(workers.join("plots/latency_cdf.png")).unwrap();
    let refused = loadgen(&["plot", "results", s(&workers)]);
    assert!(!refused.status.success());
    let e = common::text(&refused);
    assert!(
        e.contains("records.csv.zst") && e.contains(&format!("ends at byte {cut}")),
        "{e}"
    );
    assert_eq!(
        std::fs::read(workers.join("plots/latency_cdf.png")).unwrap(),
        plots_before
    );
}

#[test]
fn generate_writes_a_zstd_load_when_its_output_ends_in_zst() {
    let dir = tempfile::tempdir().unwrap();
    let generate = |name: &str| {
        let load = dir.path().join(name);
        ok(&loadgen(&[
            "generate",
            "--rps",
            "40",
            "-m",
            "false",
            "-d",
            "3",
            "-w",
            "1",
            "-p",
            "builtin",
            "--seed",
            "1",
            "-o",
            s(&load),
        ]));
        load
    };
    let plain = generate("load.json");
    let packed = generate("load.json.zst");
    let plain_bytes = std::fs::read(&plain).unwrap();
    assert_eq!(
        std::fs::read(&packed).unwrap()[..4],
        [0x28, 0xb5, 0x2f, 0xfd]
    );
    assert!(std::fs::metadata(&packed).unwrap().len() * 5 < plain_bytes.len() as u64);
    // Byte for byte the plain load, once decompressed, and read as one by the invoker's reader.
    let mut text = Vec::new();
    formats::compressed::open(&packed)
        .unwrap()
        .read_to_end(&mut text)
        .unwrap();
    assert_eq!(text, plain_bytes);
    let schedule = invoker::schedule::Schedule::from_file(&packed, 1_000_000, 1, 3).unwrap();
    assert_eq!(schedule.calls.len(), 160);
}
