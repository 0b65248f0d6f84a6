//! Plain against zstd (`--compress zstd`, `-o load.json.zst`) for what a long run writes:
//!
//! 1. **Records.** 10 million records of a realistic run (answered calls with lags, latencies and
//!    execution times drawn at random; a few not sent) written through `RecordsWriter` plain and
//!    compressed, then read back through `read_records`: bytes, and write and read rates.
//! 2. **RPS ramp.** `loadgen generate` of a one-hour linear ramp to 10,000 calls/s (about 18 million
//!    calls) as its own process, to `load.json` and to `load.json.zst`: wall time, peak RSS, bytes.
//! 3. **A whole raw day.** `loadgen generate -w 0 -d 1440` of the raw-layout Azure day (46,412 functions ×
//!    1,440 minutes, resampled from the vSwarm sample as the full-day benchmark does) against the sample's
//!    191 profiles, plain and zstd: wall time, peak RSS, bytes. At most 2 runs each: a plain day is 25 GB.
//!
//! Repeated (`BENCH_REPEATS`, 3), median [min–max]. Written to `bench-results/compress.txt`.
//! `cargo bench -p loadgen --bench compress`; set `FULL_DAY_DIR` to keep the data set there.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use formats::compressed::Compressed;
use formats::records::{read_records, Outcome, Record, RecordsWriter, Wire};
use host::bench::{spread, Output};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;
use common::{full_day, output_path, path, repeats, run_measured, RPS_RAMP};

const RECORDS: u64 = 10_000_000;

fn main() {
    let mut out = Output::new(
        "cargo bench -p loadgen --bench compress",
        &output_path("compress"),
    );
    let runs = repeats();
    let dir = tempfile::tempdir().expect("temp dir");
    out.line(&format!("# {runs} runs; median [min–max]"));
    records(&mut out, dir.path(), runs);
    ramp(&mut out, dir.path(), runs);
    day(&mut out, runs.min(2));
    out.finish();
}

/// A record of a realistic run: call `i`, one of 400 endpoints, mostly answered.
fn record(i: u64, rng: &mut ChaCha8Rng) -> Record {
    let sent = rng.random_bool(0.995);
    let latency = 1_000 + rng.random_range(0..200_000u64);
    Record {
        index: i,
        worker: 0,
        period: (i / 10_000) as u32,
        endpoint: rng.random_range(0..400),
        warmup: i < 100_000,
        scheduled_us: i * 100 + rng.random_range(0..100),
        dispatch_lag_ns: sent.then(|| rng.random_range(200..5_000)),
        send_lag_ns: sent.then(|| rng.random_range(5_000..60_000)),
        latency_us: sent.then_some(latency),
        latency_from_scheduled_us: sent.then_some(latency + 30),
        outcome: if sent {
            Outcome::Ok
        } else {
            Outcome::NotSentBackPressure
        },
        exec_us: sent.then(|| latency - rng.random_range(0..900)),
        instance: sent.then(|| rng.random_range(0..2_000u64) * 0x9e37_79b9_7f4a_7c15),
        cold: sent.then(|| rng.random_bool(0.001)),
        wire: Wire::default(),
        workflow: None,
    }
}

fn records(out: &mut Output, dir: &Path, runs: usize) {
    let endpoints: Vec<String> = (0..400)
        .map(|e| format!("emu-{e}.default.127.0.0.1.sslip.io"))
        .collect();
    for name in ["records.csv", "records.csv.zst"] {
        let file = dir.join(name);
        let (mut write, mut read, mut bytes) = (vec![], vec![], 0);
        for _ in 0..runs {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let started = Instant::now();
            let sink = std::io::BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(&file).expect("records file"),
            );
            let mut w = RecordsWriter::new(Compressed::for_path(sink, &file).expect("writer"))
                .expect("writer");
            for i in 0..RECORDS {
                w.write(&record(i, &mut rng), &endpoints).expect("write");
            }
            w.finish().and_then(Compressed::finish).expect("finish");
            write.push(RECORDS as f64 / started.elapsed().as_secs_f64() / 1e6);
            bytes = std::fs::metadata(&file).expect("size").len();
            let started = Instant::now();
            let mut n = 0u64;
            read_records(&file, |_, _| n += 1).expect("read");
            assert_eq!(n, RECORDS);
            read.push(RECORDS as f64 / started.elapsed().as_secs_f64() / 1e6);
        }
        out.line(&format!(
            "records      {RECORDS} to {name}: {:.0} MB ({:.1} B a record); write {} M/s, read {} M/s",
            bytes as f64 / 1e6,
            bytes as f64 / RECORDS as f64,
            spread(&write, 2),
            spread(&read, 2)
        ));
        std::fs::remove_file(&file).ok();
    }
}

/// `loadgen generate args… -o each output` as its own process, `runs` times: one line per output.
fn generate_both(out: &mut Output, label: &str, args: &[&str], outputs: [&Path; 2], runs: usize) {
    for load in outputs {
        let (mut wall, mut rss, mut bytes) = (vec![], vec![], 0);
        for _ in 0..runs {
            let (seconds, kib, ok) = run_measured(
                Command::new(env!("CARGO_BIN_EXE_loadgen"))
                    .args(args)
                    .args(["-o", path(load)]),
            );
            assert!(ok, "loadgen generate -o {} failed", load.display());
            wall.push(seconds);
            rss.push(kib as f64 / 1024.0);
            bytes = std::fs::metadata(load).expect("load").len();
            std::fs::remove_file(load).ok();
        }
        out.line(&format!(
            "{label} -o {}: {:.2} GB, {} s wall, peak RSS {} MiB",
            load.file_name().expect("name").to_string_lossy(),
            bytes as f64 / 1e9,
            spread(&wall, 1),
            spread(&rss, 0)
        ));
    }
}

fn ramp(out: &mut Output, dir: &Path, runs: usize) {
    generate_both(
        out,
        "rps ramp     1 h linear to 10,000/s (18 M calls)",
        &RPS_RAMP,
        [&dir.join("load.json"), &dir.join("load.json.zst")],
        runs,
    );
}

fn day(out: &mut Output, runs: usize) {
    // `data` owns the temporary directory: it must live to the end.
    let Some(data) = full_day("compress") else {
        return;
    };
    out.line(&data.description);
    let profile = data.sample.join("profile.json");
    let args = [
        "generate",
        "-t",
        path(&data.day),
        "-p",
        path(&profile),
        "-w",
        "0",
        "-d",
        "1440",
        "--seed",
        "1",
    ];
    generate_both(
        out,
        &format!("whole day    1,440 minutes, {runs} runs,"),
        &args,
        [
            &data.root.join("load.json"),
            &data.root.join("load.json.zst"),
        ],
        runs,
    );
}
