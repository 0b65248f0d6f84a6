//! Property tests of every parser of a user's file: valid `invocations.csv`, `durations.csv`, `memory.csv`,
//! `profile.json`, `load.json` and records files are mutated (bytes flipped, lines cut, blank or repeated,
//! fields swapped, huge or negative numbers put in, a BOM, CRLF line ends, quotes) and read back. Never a
//! panic; either a valid parse or an error that names the file and a position in it.
//!
//! 10,500 cases in all (bounded: small files, a fixed number of cases per parser, no shrinking past
//! a few hundred steps), each reading from a temporary directory.

use std::path::{Path, PathBuf};

use formats::records::{read_records, Outcome, Record, RecordsWriter};
use formats::{Invocation, LoadWriter};
use profiles::Catalogue;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use trace::synth::{synthesize, SynthOptions};
use trace::{Granularity, Layout, ReadOptions};

/// One change to a file's bytes; indices are taken modulo the file's size.
#[derive(Debug, Clone)]
enum Mutation {
    FlipByte(usize, u8),
    Truncate(usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    BlankLine(usize),
    SwapFields(usize, usize, usize),
    ReplaceField(usize, usize, &'static str),
    QuoteField(usize, usize),
    LoneQuote(usize),
    Bom,
    Crlf,
}

/// Values a field may become: huge, negative, fractional, not numbers, empty, not UTF-8-safe.
const VALUES: [&str; 14] = [
    "99999999999999999999",
    "2000000000",
    "4294967296",
    "-5",
    "-0",
    "1e308",
    "1e999",
    "NaN",
    "inf",
    "0.5",
    "",
    "x",
    "\"",
    "é",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let i = any::<usize>();
    prop_oneof![
        (i, any::<u8>()).prop_map(|(a, b)| Mutation::FlipByte(a, b)),
        i.prop_map(Mutation::Truncate),
        i.prop_map(Mutation::DeleteLine),
        i.prop_map(Mutation::DuplicateLine),
        i.prop_map(Mutation::BlankLine),
        (i, i, i).prop_map(|(l, a, b)| Mutation::SwapFields(l, a, b)),
        (i, i, prop::sample::select(&VALUES[..]))
            .prop_map(|(l, f, v)| Mutation::ReplaceField(l, f, v)),
        (i, i).prop_map(|(l, f)| Mutation::QuoteField(l, f)),
        i.prop_map(Mutation::LoneQuote),
        Just(Mutation::Bom),
        Just(Mutation::Crlf),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..4)
}

/// Splits into lines (keeping no terminators), applies `f` to the line list, joins with `\n`.
fn on_lines(bytes: &[u8], f: impl FnOnce(&mut Vec<Vec<u8>>)) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    f(&mut lines);
    lines.join(&b'\n')
}

/// Fields of a line: split on commas for CSV, on JSON tokens' separators otherwise — both are just
/// "runs between commas" here, which is what a user's editing mistakes look like.
fn on_fields(line: &mut Vec<u8>, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let mut fields: Vec<Vec<u8>> = line.split(|&b| b == b',').map(<[u8]>::to_vec).collect();
    f(&mut fields);
    *line = fields.join(&b',');
}

fn apply(bytes: &[u8], m: &Mutation) -> Vec<u8> {
    let n = bytes.len().max(1);
    match *m {
        Mutation::FlipByte(at, value) => {
            let mut b = bytes.to_vec();
            if !b.is_empty() {
                b[at % n] = value;
            }
            b
        }
        Mutation::Truncate(at) => bytes[..at % n.min(bytes.len() + 1)].to_vec(),
        Mutation::DeleteLine(l) => on_lines(bytes, |lines| {
            let k = l % lines.len();
            lines.remove(k);
        }),
        Mutation::DuplicateLine(l) => on_lines(bytes, |lines| {
            let k = l % lines.len();
            let copy = lines[k].clone();
            lines.insert(k, copy);
        }),
        Mutation::BlankLine(l) => on_lines(bytes, |lines| {
            let k = l % (lines.len() + 1);
            lines.insert(k, Vec::new());
        }),
        Mutation::SwapFields(l, a, b) => on_lines(bytes, |lines| {
            let k = l % lines.len();
            on_fields(&mut lines[k], |fields| {
                let len = fields.len();
                fields.swap(a % len, b % len);
            });
        }),
        Mutation::ReplaceField(l, f, value) => on_lines(bytes, |lines| {
            let k = l % lines.len();
            on_fields(&mut lines[k], |fields| {
                let len = fields.len();
                fields[f % len] = value.as_bytes().to_vec();
            });
        }),
        Mutation::QuoteField(l, f) => on_lines(bytes, |lines| {
            let k = l % lines.len();
            on_fields(&mut lines[k], |fields| {
                let len = fields.len();
                let field = &mut fields[f % len];
                field.insert(0, b'"');
                field.push(b'"');
            });
        }),
        Mutation::LoneQuote(at) => {
            let mut b = bytes.to_vec();
            b.insert(at % (bytes.len() + 1), b'"');
            b
        }
        Mutation::Bom => [&b"\xef\xbb\xbf"[..], bytes].concat(),
        Mutation::Crlf => on_lines(bytes, |lines| {
            for line in lines.iter_mut() {
                line.push(b'\r');
            }
        }),
    }
}

fn mutate(bytes: &[u8], ms: &[Mutation]) -> Vec<u8> {
    ms.iter().fold(bytes.to_vec(), |b, m| apply(&b, m))
}

/// An error that names `file` and a position in it (a line, a line and column, or a period and call).
fn assert_located(error: &str, file: &str) -> Result<(), TestCaseError> {
    prop_assert!(error.contains(file), "error does not name {file}: {error}");
    let located = ["line ", "column ", "period ", "proxy `", "holds no proxy"]
        .iter()
        .any(|w| error.contains(w));
    prop_assert!(located, "error names no position in {file}: {error}");
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::default()
    })
}

/// A small valid trace of both layouts, as the three files' bytes and their names.
fn trace_files(layout: Layout) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let stats = synthesize(
        dir.path(),
        &SynthOptions {
            functions: 8,
            periods: 4,
            granularity: Granularity::Second,
            seed: 3,
            layout,
        },
    )
    .unwrap();
    [
        stats.files.invocations,
        stats.files.durations,
        stats.files.memory,
    ]
    .iter()
    .map(|p| {
        (
            p.file_name().unwrap().to_string_lossy().into_owned(),
            std::fs::read(p).unwrap(),
        )
    })
    .collect()
}

/// Mutates file `which` of a trace and reads it; `cases` cases per layout.
fn trace_file_property(which: usize, cases: u32) {
    for (layout, options) in [
        (Layout::Sampled, ReadOptions::default()),
        (
            Layout::Raw { day: 1 },
            ReadOptions {
                day: Some(1),
                ..ReadOptions::default()
            },
        ),
    ] {
        let files = trace_files(layout);
        let dir = tempfile::tempdir().unwrap();
        runner(cases)
            .run(&mutations(), |ms| {
                for (k, (name, bytes)) in files.iter().enumerate() {
                    let content = if k == which {
                        mutate(bytes, &ms)
                    } else {
                        bytes.clone()
                    };
                    std::fs::write(dir.path().join(name), content).unwrap();
                }
                let options = ReadOptions {
                    granularity: Some(Granularity::Second),
                    ..options.clone()
                };
                if let Err(e) = trace::read(dir.path(), &options) {
                    assert_located(&e.to_string(), &files[which].0)?;
                }
                Ok(())
            })
            .unwrap();
    }
}

#[test]
fn invocations_csv_mutations_never_panic() {
    trace_file_property(0, 1000);
}

#[test]
fn durations_csv_mutations_never_panic() {
    trace_file_property(1, 750);
}

#[test]
fn memory_csv_mutations_never_panic() {
    trace_file_property(2, 750);
}

#[test]
fn profile_json_mutations_never_panic() {
    let catalogue = Catalogue {
        source: None,
        proxies: Catalogue::builtin().proxies[..3].to_vec(),
    };
    let valid = catalogue.to_profile_json().into_bytes();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.json");
    runner(1500)
        .run(&mutations(), |ms| {
            std::fs::write(&path, mutate(&valid, &ms)).unwrap();
            if let Err(e) = Catalogue::from_profile_json(&path) {
                assert_located(&e.to_string(), "profile.json")?;
            }
            Ok(())
        })
        .unwrap();
}

fn valid_load(path: &Path) -> Vec<u8> {
    let endpoints = vec!["127.0.0.1:1".to_owned(), "emu-a.default.example".to_owned()];
    let mut w = LoadWriter::create(path, &endpoints).unwrap();
    for p in 0..3u64 {
        let calls: Vec<Invocation> = (0..4)
            .map(|k| Invocation {
                offset_us: p * 1000 + k * 200_000,
                endpoint: (k % 2) as u32,
            })
            .collect();
        w.write_period(&calls).unwrap();
    }
    w.commit().unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn load_json_mutations_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.json");
    let valid = valid_load(&path);
    runner(2000)
        .run(&mutations(), |ms| {
            std::fs::write(&path, mutate(&valid, &ms)).unwrap();
            let result = formats::read(&path).and_then(|load| {
                load.check_offsets(&path, Granularity::Second.period_us())
                    .map(|_| load)
            });
            if let Err(e) = result {
                assert_located(&e.to_string(), "load.json")?;
            }
            Ok(())
        })
        .unwrap();
}

fn valid_records(path: &PathBuf) -> Vec<u8> {
    let endpoints = vec!["127.0.0.1:1".to_owned(), "127.0.0.1:2".to_owned()];
    let mut w = RecordsWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for i in 0..6u64 {
        let sent = i % 3 != 2;
        w.write(
            &Record {
                workflow: None,
                index: i,
                worker: 0,
                period: (i / 3) as u32,
                endpoint: (i % 2) as u32,
                warmup: i < 3,
                scheduled_us: i * 1000,
                dispatch_lag_ns: sent.then_some(80),
                send_lag_ns: sent.then_some(500),
                latency_us: sent.then_some(90),
                latency_from_scheduled_us: sent.then_some(91),
                outcome: if sent {
                    Outcome::Ok
                } else {
                    Outcome::NotSentInterrupted
                },
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
    std::fs::read(path).unwrap()
}

#[test]
fn records_mutations_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.csv");
    let valid = valid_records(&path);
    runner(2000)
        .run(&mutations(), |ms| {
            std::fs::write(&path, mutate(&valid, &ms)).unwrap();
            if let Err(e) = read_records(&path, |_, _| {}) {
                assert_located(&e.to_string(), "records.csv")?;
            }
            Ok(())
        })
        .unwrap();
}
