//! Shard-serving benchmark: a 460 MB load (the size of a full Azure day's load.json) dealt into 8 shards,
//! served by `loadgen`'s workers' HTTP server and fetched at once by 8 worker clients (the invoker's own
//! `Coordinator::fetch`, hash checked) over loopback. Prints the time to hash the shards before serving,
//! and the seconds until all 8 have their shard, per run and as median [min–max] over `BENCH_REPEATS`
//! runs (3). Written to `bench-results/shards.txt`. `cargo bench -p loadgen --bench shards`.

use std::time::Instant;

use formats::transfer::shard_path;
use formats::{shard_of, Invocation, LoadWriter};
use host::bench::{spread, Output};
use invoker::worker::Coordinator;

mod common;
use common::{output_path, repeats};

const WORKERS: u32 = 8;
/// The run's token, as `loadgen run` would make it.
const TOKEN: &str = "bench-token";
const TARGET_BYTES: u64 = 460_000_000;

fn main() {
    let mut out = Output::new(
        "cargo bench -p loadgen --bench shards",
        &output_path("shards"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let shards: Vec<_> = (0..WORKERS)
        .map(|k| dir.path().join(format!("load-{k}.json")))
        .collect();
    let (calls, bytes) = write_shards(&shards);
    out.line(&format!(
        "# a load of {calls} calls, {:.0} MB, dealt into {WORKERS} shards; {WORKERS} clients fetch at once over loopback",
        bytes as f64 / 1e6
    ));
    let mut hashing = Vec::new();
    let mut fetching = Vec::new();
    for run in 0..repeats() {
        let started = Instant::now();
        let served = coordinator::serve::describe_shards(&shards).expect("hash");
        let hashed = started.elapsed().as_secs_f64();
        let (tx, _events) = std::sync::mpsc::channel();
        let results = dir.path().join(format!("results-{run}"));
        let server = coordinator::serve::start(
            "127.0.0.1:0".parse().unwrap(),
            (served, Vec::new()),
            &results,
            tx,
            None,
            (TOKEN, None),
        )
        .expect("server");
        let url = format!("http://{}", server.addr);
        let fetched_dir = dir.path().join(format!("fetched-{run}"));
        std::fs::create_dir_all(&fetched_dir).expect("dir");
        let started = Instant::now();
        let threads: Vec<_> = (0..WORKERS)
            .map(|k| {
                let (url, dest) = (url.clone(), fetched_dir.join(format!("{k}.json")));
                std::thread::spawn(move || {
                    Coordinator::new(&url, TOKEN)
                        .expect("client")
                        .fetch(&shard_path(k), &dest)
                        .expect("fetch")
                })
            })
            .collect();
        let received: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let all = started.elapsed().as_secs_f64();
        assert_eq!(received, bytes, "every byte of every shard arrived");
        drop(server);
        std::fs::remove_dir_all(&fetched_dir).expect("clean");
        out.line(&format!(
            "run {run}: hashing {hashed:.2} s; all {WORKERS} shards fetched in {all:.2} s ({:.0} MB/s together)",
            bytes as f64 / 1e6 / all
        ));
        hashing.push(hashed);
        fetching.push(all);
    }
    out.line(&format!(
        "hashing the shards before serving: {} s, median [min–max]",
        spread(&hashing, 2)
    ));
    out.line(&format!(
        "until all {WORKERS} workers have their shard: {} s, median [min–max]",
        spread(&fetching, 2)
    ));
    out.finish();
}

/// Writes shards of a load with the shape of a day's: periods of many calls to long Knative endpoint
/// names, until the shards hold about `TARGET_BYTES` together. Returns calls and bytes.
fn write_shards(paths: &[std::path::PathBuf]) -> (u64, u64) {
    let endpoints: Vec<String> = (0..400)
        .map(|i| format!("trace-func-{i:04}-a1b2c3d4.default.192.168.1.240.sslip.io"))
        .collect();
    let mut writers: Vec<_> = paths
        .iter()
        .map(|p| LoadWriter::create(p, &endpoints).expect("shard"))
        .collect();
    let per_period = 100_000u64;
    let mut index = 0u64;
    let mut bytes_per_call = 0.0;
    let mut calls = 0u64;
    while (calls as f64 * bytes_per_call) < TARGET_BYTES as f64 || calls == 0 {
        let mut dealt: Vec<Vec<Invocation>> = vec![Vec::new(); paths.len()];
        for i in 0..per_period {
            let call = Invocation {
                offset_us: i * 60_000_000 / per_period,
                endpoint: ((i * 7919) % endpoints.len() as u64) as u32,
            };
            dealt[shard_of(index, WORKERS).0 as usize].push(call);
            index += 1;
        }
        for (w, share) in writers.iter_mut().zip(&dealt) {
            w.write_period(share).expect("write");
        }
        calls += per_period;
        // One call writes its offset line and its endpoint line.
        bytes_per_call = 17.0 + endpoints[0].len() as f64 + 9.0;
    }
    let mut bytes = 0;
    for w in writers {
        bytes += w.commit().expect("commit").bytes;
    }
    (calls, bytes)
}
