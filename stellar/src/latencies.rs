//! STeLLAR's latency CSV, written from our records as STeLLAR writes it (`writers/
//! round-trip-latency-writer.go`), so its plotting scripts keep working: one directory per
//! sub-experiment named as STeLLAR names it, `latencies.csv` in it with the header
//! `Request ID,Host,Sent At,Received At,Client Latency (ms),Burst ID`, times to the second (RFC 3339),
//! the latency in whole milliseconds (truncated, as Go's `Duration.Milliseconds`), and no row for a
//! failed request. Our records keep the microseconds and the failures.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use formats::records::{read_records, Outcome, RecordsError};

use crate::experiment::SubExperiment;

/// The header STeLLAR writes.
pub const HEADER: &str = "Request ID,Host,Sent At,Received At,Client Latency (ms),Burst ID";

/// The directory STeLLAR gives a sub-experiment (`createSubExperimentOutput`).
pub fn directory_name(sub: &SubExperiment) -> String {
    format!(
        "{}-memory{}MB-img{}MB-IAT{}s-burst{}-st{}-payload{}KB",
        sub.title,
        sub.memory_mb,
        sub.image_size_mb as i64,
        sub.iat_seconds,
        sub.burst_sizes[0],
        sub.service_times_text[0],
        sub.payload_bytes / 1024
    )
}

/// The host of a URL, as Go's `URL.Hostname`.
fn hostname(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    }
}

/// Writes `dir/<directory_name>/latencies.csv` from the records of `records` (a run whose time 0 was
/// `start`) that `burst_of` gives a burst ID (those of this sub-experiment); returns the file and its
/// rows.
pub fn write(
    dir: &Path,
    sub: &SubExperiment,
    records: &Path,
    start: SystemTime,
    burst_of: impl Fn(u64) -> Option<u64>,
) -> Result<(PathBuf, u64), RecordsError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RecordsError::Io { path, source }
    };
    let sub_dir = dir.join(directory_name(sub));
    std::fs::create_dir_all(&sub_dir).map_err(io(&sub_dir))?;
    let path = sub_dir.join("latencies.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
    let mut text = format!("{HEADER}\n");
    let mut rows = 0;
    let at = |us: u64| humantime::format_rfc3339_seconds(start + Duration::from_micros(us));
    let mut failed: Option<std::io::Error> = None;
    read_records(records, |r, endpoint| {
        let (Outcome::Ok, Some(sent), Some(ended), Some(latency)) =
            (r.outcome, r.sent_us(), r.ended_us(), r.latency_us)
        else {
            return;
        };
        let Some(burst) = burst_of(r.index) else {
            return;
        };
        text.push_str(&format!(
            "{},{},{},{},{},{burst}\n",
            r.index,
            hostname(endpoint),
            at(sent),
            at(ended),
            latency / 1000
        ));
        rows += 1;
        if text.len() > 1 << 16 && failed.is_none() {
            failed = out.write_all(text.as_bytes()).err();
            text.clear();
        }
    })?;
    if let Some(e) = failed {
        return Err(io(&path)(e));
    }
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(io(&path))?;
    Ok((path, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_what_go_calls_the_hostname() {
        assert_eq!(
            hostname("http://127.0.0.1:8080/?IncrementLimit=1"),
            "127.0.0.1"
        );
        assert_eq!(
            hostname("https://x.azurewebsites.net/api/f?code=k"),
            "x.azurewebsites.net"
        );
        assert_eq!(hostname("h2c://[::1]:80/"), "::1");
    }
}
