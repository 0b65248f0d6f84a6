//! Shard-serving benchmark: a 460 MB load (the size of a full Azure day's load.json) dealt into 8 shards,
//! served by `loadgen`'s workers' HTTP server and fetched at once by 8 worker clients (the invoker's own
//! `Coordinator::fetch`, hash checked) over loopback. Prints the time to hash the shards before serving,
//! the seconds until all 8 have their shard, and until all 8 can start replaying: fetched whole and read
//! once for the head (the default), or streamed (`--stream-shards`: the head asked of the coordinator),
//! and how long reading every call through the 8 streams takes, per run and as median [min–max] over
//! `BENCH_REPEATS` runs (3). Written to `bench-results/shards.txt`. `cargo bench -p loadgen --bench
//! shards`.

use std::time::Instant;

use formats::transfer::shard_path;
use formats::{shard_of, Invocation, LoadWriter};
use host::bench::{spread, Output};
use invoker::lookahead::{read_ahead_from, CallsFrom, LoadToReplay};
use invoker::worker::Coordinator;

mod common;
use common::{output_path, repeats};

const WORKERS: u32 = 8;
/// The run's token, as `loadgen run` would make it.
const TOKEN: &str = "bench-token";
const TARGET_BYTES: u64 = 460_000_000;
/// Calls in each period (a minute) of the load.
const PER_PERIOD: u64 = 100_000;
/// A minute, µs.
const PERIOD_US: u64 = 60_000_000;

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
    let (mut hashing, mut fetching, mut readying) = (Vec::new(), Vec::new(), Vec::new());
    let (mut heads, mut streaming) = (Vec::new(), Vec::new());
    let periods = (calls / PER_PERIOD) as u32;
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
        // Fetched whole (the default), then read once for the head: ready to replay.
        let threads: Vec<_> = (0..WORKERS)
            .map(|k| {
                let (url, dest) = (url.clone(), fetched_dir.join(format!("{k}.json")));
                std::thread::spawn(move || {
                    let got = Coordinator::new(&url, TOKEN)
                        .expect("client")
                        .fetch(&shard_path(k), &dest)
                        .expect("fetch");
                    let fetched = Instant::now();
                    LoadToReplay::open(&dest, PERIOD_US, 0, periods).expect("head");
                    (got, fetched)
                })
            })
            .collect();
        let done: Vec<(u64, Instant)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let ready = started.elapsed().as_secs_f64();
        let all = done.iter().map(|(_, at)| *at).max().unwrap() - started;
        let all = all.as_secs_f64();
        let received: u64 = done.iter().map(|(b, _)| b).sum();
        assert_eq!(received, bytes, "every byte of every shard arrived");
        std::fs::remove_dir_all(&fetched_dir).expect("clean");
        // Streamed (`--stream-shards`): the head asked for, then every call read through the stream.
        let started = Instant::now();
        let threads: Vec<_> = (0..WORKERS)
            .map(|k| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let coordinator = Coordinator::new(&url, TOKEN).expect("client");
                    let head =
                        invoker::shard_stream::head(&coordinator, k, PERIOD_US, (0, periods))
                            .expect("head");
                    let has_head = Instant::now();
                    let calls = CallsFrom::Stream(
                        invoker::shard_stream::open(&coordinator, k).expect("stream"),
                    );
                    let (read, reader) = read_ahead_from(&head, &calls, None).expect("reader");
                    let n = read.count() as u64;
                    reader
                        .join()
                        .unwrap()
                        .expect("the stream read whole, its hash checked");
                    (n, has_head)
                })
            })
            .collect();
        let done: Vec<(u64, Instant)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let streamed_all = started.elapsed().as_secs_f64();
        let streamed_ready =
            (done.iter().map(|(_, at)| *at).max().unwrap() - started).as_secs_f64();
        assert_eq!(
            done.iter().map(|(n, _)| n).sum::<u64>(),
            calls,
            "every call streamed"
        );
        drop(server);
        out.line(&format!(
            "run {run}: hashing {hashed:.2} s; all {WORKERS} shards fetched in {all:.2} s ({:.0} MB/s together), \
             ready (fetched, then read for the head) in {ready:.2} s; streamed: heads in {streamed_ready:.2} s, \
             every call read through the streams in {streamed_all:.2} s",
            bytes as f64 / 1e6 / all
        ));
        hashing.push(hashed);
        fetching.push(all);
        readying.push(ready);
        heads.push(streamed_ready);
        streaming.push(streamed_all);
    }
    out.line(&format!(
        "hashing the shards before serving: {} s, median [min–max]",
        spread(&hashing, 2)
    ));
    out.line(&format!(
        "until all {WORKERS} workers have their shard: {} s, median [min–max]",
        spread(&fetching, 2)
    ));
    out.line(&format!(
        "until all {WORKERS} workers can start, shards fetched: {} s; streamed (--stream-shards): {} s, median [min–max]",
        spread(&readying, 2),
        spread(&heads, 2)
    ));
    out.line(&format!(
        "every call read through the {WORKERS} streams (no copy on disk, hash checked): {} s, median [min–max]",
        spread(&streaming, 2)
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
    let per_period = PER_PERIOD;
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
