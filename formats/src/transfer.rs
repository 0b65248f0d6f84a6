//! How shards and results travel between `loadgen` (the coordinator) and the invokers of a run shared by
//! several workers, over plain HTTP:
//!
//! - `GET /v1/shards/K`: worker K's share of the load (`load-K.json`);
//! - `GET /v1/clock`: the coordinator's clock, for an NTP-style offset ([`ClockReply`], [`ClockSample`]);
//! - `PUT /v1/records/K/NAME`: worker K's records, in chunks sent while it replays ([`chunk_name`]:
//!   `records-000000.csv`, … in scheduled order, each a whole records file), so a worker lost mid-run
//!   loses at most the chunk it was writing;
//! - `PUT /v1/results/K/NAME`: one of worker K's [`RESULT_FILES`] (its summary, sent last: the worker is
//!   done);
//! - `PUT /v1/failed/K`: why worker K cannot run (plain text), so the coordinator need not wait for it;
//! - `PUT /v1/live/K`: worker K's [`LiveReport`]s while it replays (JSON), for the coordinator's live view
//!   and `/metrics`.
//!
//! Every body carries its SHA-256 in [`HASH_HEADER`] and the receiver checks it ([`Sha256Writer`]) before
//! it keeps the file: a corrupted or truncated transfer is refused, never used.
//!
//! The hash guards transit only (the sender supplies it). Who may talk at all is decided by the run's
//! token: every request carries `Authorization: Bearer TOKEN` ([`bearer`]), the coordinator answers any
//! other with 401 before it reads the body, and the workers find the token in [`TOKEN_ENV`], never on
//! their command line.

use std::io::{self, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::records::Outcome;

/// The header holding a body's SHA-256, lowercase hex.
pub const HASH_HEADER: &str = "x-content-sha256";

/// The environment variable that gives a worker its run's token.
pub const TOKEN_ENV: &str = "LOADGEN_COORDINATOR_TOKEN";

/// The environment variable that gives a worker the certificates (PEM) it trusts for a coordinator that
/// serves HTTPS (`loadgen run --coordinator-tls`).
pub const CA_ENV: &str = "LOADGEN_COORDINATOR_CA";

/// The `Authorization` header's value for `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Whether `header` (an `Authorization` value) carries `token`, compared in constant time so the answer's
/// timing does not tell how much of a guess was right.
pub fn carries_token(header: &[u8], token: &str) -> bool {
    let expected = bearer(token);
    let expected = expected.as_bytes();
    header.len() == expected.len()
        && !token.is_empty()
        && header
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// What a worker sends back once it is done (its records went before, in chunks).
pub const RESULT_FILES: [&str; 1] = [crate::files::SUMMARY];

/// The name of a worker's `c`-th records chunk (`records-000003.csv`, or `.csv.zst` compressed).
pub fn chunk_name(c: u64, compression: crate::compressed::Compression) -> String {
    let plain = format!("records-{c:06}.csv");
    match compression {
        crate::compressed::Compression::None => plain,
        crate::compressed::Compression::Zstd => format!("{plain}.zst"),
    }
}

/// The chunk number a [`chunk_name`] holds; `None` for any other name (so no path can be smuggled in).
pub fn parse_chunk_name(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix("records-")?
        .strip_suffix(".csv")
        .or_else(|| name.strip_prefix("records-")?.strip_suffix(".csv.zst"))?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The path worker `k` puts its records chunk `name` ([`chunk_name`]) to.
pub fn chunk_path(k: u32, name: &str) -> String {
    format!("/v1/records/{k}/{name}")
}

/// The path of worker `k`'s shard.
pub fn shard_path(k: u32) -> String {
    format!("/v1/shards/{k}")
}

/// The path of the head of worker `k`'s shard (its endpoints and calls per period, as
/// `invoker::schedule::HeadOnWire`) over `warmup + duration` periods of `period_us`: a worker that
/// streams its shard asks for it first.
pub fn shard_head_path(k: u32, period_us: u64, warmup: u32, duration: u32) -> String {
    format!("/v1/shards/{k}/head/{period_us}/{warmup}/{duration}")
}

/// The path of a file a worker's flags name (`--endpoint-requests`, `--ca-cert`): the worker fetches it
/// from the coordinator, as the path the flag gives is the coordinator's, not the worker's.
pub fn worker_file_path(flag: &str) -> String {
    format!("/v1/files/{flag}")
}

/// The path of the clock.
pub const CLOCK_PATH: &str = "/v1/clock";

/// The path worker `k` puts its result file `name` to.
pub fn result_path(k: u32, name: &str) -> String {
    format!("/v1/results/{k}/{name}")
}

/// The path worker `k` reports its failure to.
pub fn failure_path(k: u32) -> String {
    format!("/v1/failed/{k}")
}

/// The path worker `k` puts its live reports to.
pub fn live_path(k: u32) -> String {
    format!("/v1/live/{k}")
}

/// What a worker tells the coordinator while it replays, about once a second: its counts so far and the
/// calls that finished since its previous report. Reports are numbered from 0 and applied once each, in
/// order: a report the coordinator already applied (its answer was lost, the worker sent it again) is
/// acknowledged and ignored, so no call is counted twice. The records the worker sends at the end stay
/// the run's measurement; these only feed what is shown during it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveReport {
    /// This report's number: 0, 1, 2, …
    pub seq: u64,
    /// Calls whose due time this worker's dispatcher has reached, in all.
    pub due: u64,
    /// Calls this worker has sent, in all.
    pub sent: u64,
    /// The worker's endpoints, which [`FinishedCall::endpoint`] indexes: in report 0 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<String>>,
    /// The calls finished since the previous report.
    pub calls: Vec<FinishedCall>,
}

/// One finished call in a [`LiveReport`]: what the live view and the metrics need of its record. On the
/// wire a 4-element array (`[endpoint, outcome name, send_lag_ns, latency_us]`), a third of an object's
/// size; an outcome name that is not one is refused when the report is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishedCall {
    /// Index into the worker's endpoints.
    pub endpoint: u32,
    /// How it ended.
    pub outcome: Outcome,
    /// Due time to send, ns; none when it was not sent.
    pub send_lag_ns: Option<u64>,
    /// Send to answer, µs; answered calls only.
    pub latency_us: Option<u64>,
}

impl Serialize for FinishedCall {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (
            self.endpoint,
            self.outcome.name(),
            self.send_lag_ns,
            self.latency_us,
        )
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for FinishedCall {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (endpoint, outcome, send_lag_ns, latency_us) =
            <(u32, String, Option<u64>, Option<u64>)>::deserialize(d)?;
        let outcome = Outcome::parse(&outcome)
            .ok_or_else(|| serde::de::Error::custom(format!("`{outcome}` is not an outcome")))?;
        Ok(FinishedCall {
            endpoint,
            outcome,
            send_lag_ns,
            latency_us,
        })
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// A writer that hashes what passes through it.
pub struct Sha256Writer<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Sha256Writer<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Sha256Writer {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The writer back, and the hash (hex) of everything written.
    pub fn finish(self) -> (W, String) {
        (self.inner, hex(&self.hasher.finalize()))
    }
}

impl<W: Write> Write for Sha256Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// SHA-256 (hex) of a file's content.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Whether a received body is the one that was sent: `Err` names both hashes.
pub fn check_hash(expected: &str, received: &str) -> Result<(), String> {
    if expected.eq_ignore_ascii_case(received) {
        Ok(())
    } else {
        Err(format!(
            "content hash mismatch: sent as {expected}, received as {received} (the transfer was corrupted or cut short)"
        ))
    }
}

/// The coordinator's answer to a clock request: when it received the request and when it answered, µs
/// since the Unix epoch on its clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockReply {
    /// Request received (NTP's t2).
    pub received_us: i64,
    /// Answer sent (NTP's t3).
    pub sent_us: i64,
}

/// One NTP-style exchange, seen from the worker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockSample {
    /// The coordinator's clock minus the worker's, µs.
    pub offset_us: f64,
    /// Round trip, minus the coordinator's own time, µs.
    pub round_trip_us: f64,
}

impl ClockSample {
    /// From the four timestamps: request sent (t1, worker clock), `reply` (t2, t3, coordinator clock),
    /// answer received (t4, worker clock). The offset assumes the two directions take equally long, so
    /// its error is at most half the round trip.
    pub fn new(sent_us: i64, reply: ClockReply, received_us: i64) -> ClockSample {
        let (t1, t2, t3, t4) = (
            sent_us as f64,
            reply.received_us as f64,
            reply.sent_us as f64,
            received_us as f64,
        );
        ClockSample {
            offset_us: ((t2 - t1) + (t3 - t4)) / 2.0,
            round_trip_us: ((t4 - t1) - (t3 - t2)).max(0.0),
        }
    }

    /// The sample with the shortest round trip (the least uncertain), if any.
    pub fn best(samples: &[ClockSample]) -> Option<ClockSample> {
        samples
            .iter()
            .copied()
            .min_by(|a, b| a.round_trip_us.total_cmp(&b.round_trip_us))
    }
}

/// Microseconds since the Unix epoch now, on this machine's clock.
pub fn now_unix_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_names_round_trip_and_nothing_else_parses() {
        use crate::compressed::Compression;
        assert_eq!(chunk_name(3, Compression::None), "records-000003.csv");
        assert_eq!(chunk_name(3, Compression::Zstd), "records-000003.csv.zst");
        assert_eq!(
            chunk_name(1_234_567, Compression::None),
            "records-1234567.csv"
        );
        for c in [0, 3, 999_999, 1_234_567] {
            for how in [Compression::None, Compression::Zstd] {
                assert_eq!(parse_chunk_name(&chunk_name(c, how)), Some(c));
            }
        }
        for bad in [
            "records.csv",
            "records-3.csv",
            "records-00000a.csv",
            "records-000003.txt",
            "records-../../x.csv",
            "summary.json",
            "records-000003.csv.gz",
        ] {
            assert_eq!(parse_chunk_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        assert!(carries_token(b"Bearer abc123", "abc123"));
        for wrong in [
            &b"Bearer abc124"[..],
            b"Bearer abc12",
            b"bearer abc123",
            b"abc123",
            b"",
        ] {
            assert!(!carries_token(wrong, "abc123"), "{wrong:?}");
        }
        // A run without a token lets nobody in.
        assert!(!carries_token(b"Bearer ", ""));
    }

    #[test]
    fn hashes_match_sha256sum_and_catch_changes() {
        let mut w = Sha256Writer::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (bytes, hash) = w.finish();
        assert_eq!(bytes, b"abc");
        // FIPS 180-2's example.
        assert_eq!(
            hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(sha256_file(&file).unwrap(), hash);
        std::fs::write(&file, b"abd").unwrap();
        let other = sha256_file(&file).unwrap();
        let e = check_hash(&hash, &other).unwrap_err();
        assert!(e.contains("mismatch") && e.contains(&hash[..8]), "{e}");
        assert!(check_hash(&hash, &hash.to_uppercase()).is_ok());
    }

    #[test]
    fn live_reports_travel_as_compact_json() {
        let report = LiveReport {
            seq: 0,
            due: 3,
            sent: 2,
            endpoints: Some(vec!["a:80".into()]),
            calls: vec![FinishedCall {
                endpoint: 0,
                outcome: Outcome::Ok,
                send_lag_ns: Some(1500),
                latency_us: Some(900),
            }],
        };
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(
            text,
            r#"{"seq":0,"due":3,"sent":2,"endpoints":["a:80"],"calls":[[0,"ok",1500,900]]}"#
        );
        assert_eq!(serde_json::from_str::<LiveReport>(&text).unwrap(), report);
        let later = LiveReport {
            seq: 1,
            ..LiveReport::default()
        };
        let text = serde_json::to_string(&later).unwrap();
        assert!(!text.contains("endpoints"), "{text}");
        assert_eq!(serde_json::from_str::<LiveReport>(&text).unwrap(), later);
        let e = serde_json::from_str::<LiveReport>(
            r#"{"seq":2,"due":1,"sent":1,"calls":[[0,"maybe",1,null]]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`maybe` is not an outcome"), "{e}");
    }

    #[test]
    fn clock_offset_from_four_timestamps() {
        // The coordinator is 1000 µs ahead; 50 µs each way, 10 µs to answer.
        let s = ClockSample::new(
            0,
            ClockReply {
                received_us: 1050,
                sent_us: 1060,
            },
            110,
        );
        assert_eq!(s.offset_us, 1000.0);
        assert_eq!(s.round_trip_us, 100.0);
        let slow = ClockSample {
            offset_us: 5.0,
            round_trip_us: 900.0,
        };
        assert_eq!(ClockSample::best(&[slow, s]), Some(s));
        assert_eq!(ClockSample::best(&[]), None);
    }
}
