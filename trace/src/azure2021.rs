//! The Azure Functions 2021 invocation trace: one row per invocation, `app,func,end_timestamp,duration`,
//! times in seconds (with fractions) since the trace began, over two weeks.
//!
//! Each invocation is replayed at its own start, `end_timestamp − duration`. Both numbers are parsed as
//! decimals into integer nanoseconds (never through binary floating point), subtracted, and rounded to the
//! microsecond; invocations that share a microsecond are all kept. The file is read line by line, so only
//! the window's invocations (16 bytes each) and every invocation's duration (8 bytes, for the percentiles)
//! are held.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rustc_hash::FxBuildHasher;

use crate::arrivals::{Arrival, Arrivals};
use crate::error::TraceError;
use crate::model::{
    Function, FunctionId, Granularity, MemoryLevel, Percentiles, ReadReport, Trace,
    DURATION_PERCENTILES, MEMORY_PERCENTILES,
};

/// Most functions a file may hold (their index takes 24 bits beside a duration).
const MAX_FUNCTIONS: usize = 1 << 24;
/// Longest duration kept for the percentiles, µs (40 bits: 12.7 days).
const MAX_PACKED_US: u64 = (1 << 40) - 1;

/// The dataset's file name (what `loadgen synth --layout azure2021` writes).
pub const AZURE2021_FILE: &str = "AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt";

/// The columns that identify an Azure 2021 invocation trace.
pub const AZURE2021_HEADER: [&str; 4] = ["app", "func", "end_timestamp", "duration"];

/// How to read an Azure 2021 trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Azure2021Options {
    /// Period length: what `start` and `periods` count.
    pub granularity: Granularity,
    /// First period of the window, counted from the trace's beginning (period 0 starts at time 0).
    pub start: u32,
    /// Periods in the window; up to the last invocation's when `None`.
    pub periods: Option<usize>,
    /// Memory every function is given, MB (the trace records none).
    pub memory_mb: f64,
}

/// Whether `path` is a file whose first line names the Azure 2021 columns.
pub fn is_azure2021(path: &Path) -> Result<bool, TraceError> {
    if !path.is_file() {
        return Ok(false);
    }
    let file = std::fs::File::open(path).map_err(|e| TraceError::io(path, e))?;
    let mut first = String::new();
    BufReader::new(file)
        .take(4096)
        .read_line(&mut first)
        .map_err(|e| TraceError::io(path, e))?;
    Ok(columns(&first).is_some())
}

/// The Azure 2021 trace `path` names: `path` itself if it is one, or, if `path` is a directory without
/// a sampled or raw 2019 trace, the one file in it that is an Azure 2021 trace (as `loadgen synth
/// --layout azure2021` writes it). `None` when `path` holds no Azure 2021 trace.
pub fn azure2021_file(path: &Path) -> Result<Option<PathBuf>, TraceError> {
    if path.is_file() {
        return Ok(is_azure2021(path)?.then(|| path.to_owned()));
    }
    if !path.is_dir()
        || path.join("invocations.csv").exists()
        || !crate::layout::raw_days(path)?.is_empty()
    {
        return Ok(None);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| TraceError::io(path, e))? {
        let file = entry.map_err(|e| TraceError::io(path, e))?.path();
        if is_azure2021(&file)? {
            found.push(file);
        }
    }
    found.sort();
    match found.len() {
        0 | 1 => Ok(found.pop()),
        _ => Err(TraceError::AmbiguousTrace {
            dir: path.to_owned(),
            files: found
                .iter()
                .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect(),
        }),
    }
}

/// Positions of the four columns in a header line, if it has all of them.
fn columns(header: &str) -> Option<[usize; 4]> {
    let names: Vec<&str> = header.trim_end_matches(['\r', '\n']).split(',').collect();
    let mut at = [0; 4];
    for (k, wanted) in AZURE2021_HEADER.iter().enumerate() {
        at[k] = names.iter().position(|n| n.trim() == *wanted)?;
    }
    Some(at)
}

/// Reads the window `options` asks for from the Azure 2021 trace at `path`.
///
/// Functions are listed in order of first appearance in the file; their duration percentiles (and
/// average) come from all their invocations in the file, their memory is `options.memory_mb`. The trace's
/// arrivals hold the window's invocations with their recorded durations.
#[allow(
    clippy::too_many_lines,
    reason = "one pass over the rows with its buffers and state in locals (10 M rows in seconds); the day-scale streaming issue reworks it into a period-by-period reader"
)]
pub fn read_azure2021(path: &Path, options: &Azure2021Options) -> Result<Trace, TraceError> {
    let file = std::fs::File::open(path).map_err(|e| TraceError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let read_line = |reader: &mut BufReader<std::fs::File>, line: &mut Vec<u8>| {
        line.clear();
        reader
            .read_until(b'\n', line)
            .map_err(|e| TraceError::io(path, e))
    };
    if read_line(&mut reader, &mut line)? == 0 {
        return Err(TraceError::MissingColumn {
            path: path.to_owned(),
            column: AZURE2021_HEADER.join(","),
        });
    }
    let header = String::from_utf8_lossy(&line).into_owned();
    let header_fields = header.trim_end_matches(['\r', '\n']).split(',').count();
    let Some([app_at, func_at, end_at, duration_at]) = columns(&header) else {
        let names: Vec<&str> = header.trim_end().split(',').map(str::trim).collect();
        let missing = AZURE2021_HEADER
            .iter()
            .find(|w| !names.contains(w))
            .expect("some column is missing");
        return Err(TraceError::MissingColumn {
            path: path.to_owned(),
            column: (*missing).to_owned(),
        });
    };

    let period_us = options.granularity.period_us();
    let window_start = u64::from(options.start) * period_us;
    let window_end = options
        .periods
        .map(|p| window_start.saturating_add(p as u64 * period_us));

    let mut index: HashMap<Vec<u8>, u32, FxBuildHasher> = HashMap::default();
    let mut ids: Vec<FunctionId> = Vec::new();
    let mut key = Vec::new();
    // Every invocation's function and duration, packed as function << 40 | µs (8 bytes a call): the
    // percentiles are over the whole file.
    let mut durations: Vec<u64> = Vec::new();
    let mut arrivals = Arrivals {
        calls: Vec::new(),
        recorded_durations: true,
    };
    let mut last_start_us = 0u64;
    let mut line_no = 1u64;
    // Where each field of the current line is: the line buffer is reused, so no field is copied.
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(header_fields);
    loop {
        if read_line(&mut reader, &mut line)? == 0 {
            break;
        }
        line_no += 1;
        let text = trim_eol(&line);
        if text.is_empty() {
            continue;
        }
        spans.clear();
        let mut from = 0;
        for i in memchr::memchr_iter(b',', text) {
            spans.push((from, i));
            from = i + 1;
        }
        spans.push((from, text.len()));
        if spans.len() != header_fields {
            return Err(TraceError::Ragged {
                path: path.to_owned(),
                line: line_no,
                expected: header_fields,
                found: spans.len(),
            });
        }
        let field = |column: usize| &text[spans[column].0..spans[column].1];
        let bad = |column: usize, reason: &'static str| TraceError::BadValue {
            path: path.to_owned(),
            line: line_no,
            column: column + 1,
            name: AZURE2021_HEADER[[app_at, func_at, end_at, duration_at]
                .iter()
                .position(|&c| c == column)
                .expect("one of the four columns")]
            .to_owned(),
            value: String::from_utf8_lossy(field(column)).into_owned(),
            reason,
        };
        let end_ns = seconds_to_ns(field(end_at)).map_err(|r| bad(end_at, r))?;
        let duration_ns = seconds_to_ns(field(duration_at)).map_err(|r| bad(duration_at, r))?;
        for column in [app_at, func_at] {
            if field(column).is_empty() {
                return Err(bad(column, "empty"));
            }
        }
        key.clear();
        key.extend_from_slice(field(app_at));
        key.push(0);
        key.extend_from_slice(field(func_at));
        let function = match index.get(key.as_slice()) {
            Some(&f) => f,
            None => {
                if ids.len() >= MAX_FUNCTIONS {
                    return Err(bad(func_at, "more than 16,777,216 functions"));
                }
                let f = ids.len() as u32;
                index.insert(key.clone(), f);
                ids.push(FunctionId {
                    owner: String::new(),
                    app: String::from_utf8_lossy(field(app_at)).into_owned(),
                    function: String::from_utf8_lossy(field(func_at)).into_owned(),
                });
                f
            }
        };
        let duration_us = round_ns_to_us(duration_ns);
        durations.push(u64::from(function) << 40 | duration_us.min(MAX_PACKED_US));
        // An invocation that began before the trace did is outside every window.
        let Some(start_ns) = end_ns.checked_sub(duration_ns) else {
            continue;
        };
        let start_us = round_ns_to_us(start_ns);
        last_start_us = last_start_us.max(start_us);
        if start_us >= window_start && window_end.is_none_or(|end| start_us < end) {
            arrivals.calls.push(Arrival {
                time_us: start_us - window_start,
                function,
                duration_us: u32::try_from(duration_us).unwrap_or(u32::MAX),
            });
        }
    }

    let periods = match options.periods {
        Some(p) => p,
        None => {
            if durations.is_empty() || last_start_us < window_start {
                return Err(TraceError::Window {
                    path: path.to_owned(),
                    reason: format!(
                        "the window starts at {} {}, after the trace's last invocation",
                        options.granularity.unit(),
                        options.start
                    ),
                });
            }
            ((last_start_us - window_start) / period_us + 1) as usize
        }
    };
    arrivals.sort();
    let functions = profiles_of(ids, durations, options.memory_mb);
    let report = ReadReport {
        functions_read: functions.len(),
        left_out: Vec::new(),
        memory_level: MemoryLevel::Function,
        duplicate_rows: 0,
    };
    Ok(Trace::with_arrivals(
        options.granularity,
        options.start,
        periods,
        functions,
        arrivals,
        report,
    ))
}

/// Each function's duration percentiles (nearest rank, ms) and average from its invocations; memory the
/// same fixed figure at every percentile.
fn profiles_of(ids: Vec<FunctionId>, mut durations: Vec<u64>, memory_mb: f64) -> Vec<Function> {
    durations.sort_unstable();
    let memory = Percentiles::new(
        MEMORY_PERCENTILES
            .iter()
            .map(|&p| (f64::from(p), memory_mb))
            .collect(),
    );
    let mut functions = Vec::with_capacity(ids.len());
    let mut from = 0;
    let mut sample = Vec::new();
    for (f, id) in ids.into_iter().enumerate() {
        let to = from + durations[from..].partition_point(|&packed| (packed >> 40) as usize == f);
        sample.clear();
        sample.extend(
            durations[from..to]
                .iter()
                .map(|&packed| (packed & MAX_PACKED_US) as f64 / 1e3),
        );
        from = to;
        let average = sample.iter().sum::<f64>() / sample.len().max(1) as f64;
        functions.push(Function {
            id,
            trigger: String::new(),
            duration_ms: Percentiles::new(
                DURATION_PERCENTILES
                    .iter()
                    .map(|&p| {
                        (
                            f64::from(p),
                            formats::nearest_rank(&sample, f64::from(p) / 100.0),
                        )
                    })
                    .collect(),
            ),
            duration_avg_ms: average,
            memory_mb: memory.clone(),
            memory_avg_mb: memory_mb,
        });
    }
    functions
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}

/// Writes an Azure 2021 invocation file, row by row (rows are written as given: the dataset's are in
/// order of end time). Times are written in seconds with six decimals, exactly.
pub struct Azure2021Writer {
    path: std::path::PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    rows: u64,
}

impl Azure2021Writer {
    /// Creates `path` (its directory too) and writes the header.
    pub fn create(path: &Path) -> Result<Azure2021Writer, TraceError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| TraceError::io(dir, e))?;
        }
        let file = std::fs::File::create(path).map_err(|e| TraceError::io(path, e))?;
        let mut writer = Azure2021Writer {
            path: path.to_owned(),
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            rows: 0,
        };
        let header = format!("{}\n", AZURE2021_HEADER.join(","));
        writer.write(header.as_bytes())?;
        Ok(writer)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), TraceError> {
        use std::io::Write;
        self.out
            .write_all(bytes)
            .map_err(|e| TraceError::io(&self.path, e))
    }

    /// One invocation of `func` in `app` that ended at `end_us` after running `duration_us`.
    pub fn row(
        &mut self,
        app: &str,
        func: &str,
        end_us: u64,
        duration_us: u64,
    ) -> Result<(), TraceError> {
        let line = format!(
            "{app},{func},{}.{:06},{}.{:06}\n",
            end_us / 1_000_000,
            end_us % 1_000_000,
            duration_us / 1_000_000,
            duration_us % 1_000_000
        );
        self.rows += 1;
        self.write(line.as_bytes())
    }

    /// Flushes; returns the rows written.
    pub fn finish(mut self) -> Result<u64, TraceError> {
        use std::io::Write;
        self.out
            .flush()
            .map_err(|e| TraceError::io(&self.path, e))?;
        Ok(self.rows)
    }
}

/// Nanoseconds to microseconds, halves rounded up.
fn round_ns_to_us(ns: u64) -> u64 {
    ns / 1000 + u64::from(ns % 1000 >= 500)
}

/// Parses a non-negative decimal number of seconds (`12`, `0.0755`, `.5`, `1e-05`, `3.2E2`) into whole
/// nanoseconds, rounding half up beyond the ninth decimal, in integer arithmetic only.
pub(crate) fn seconds_to_ns(field: &[u8]) -> Result<u64, &'static str> {
    let s = field.trim_ascii();
    if s.is_empty() {
        return Err("empty");
    }
    if s[0] == b'-' {
        return Err("negative time");
    }
    let s = s.strip_prefix(b"+").unwrap_or(s);
    let (number, exponent) = match s.iter().position(|&b| b == b'e' || b == b'E') {
        Some(i) => {
            let e = std::str::from_utf8(&s[i + 1..])
                .ok()
                .and_then(|e| e.parse::<i32>().ok())
                .ok_or("not a decimal number of seconds")?;
            (&s[..i], e)
        }
        None => (s, 0),
    };
    // Digits as one integer and the power of ten it is scaled by: value = mantissa × 10^scale.
    let mut mantissa: u128 = 0;
    let mut scale: i32 = exponent;
    let mut seen_point = false;
    let mut digits = 0;
    for &b in number {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                if mantissa < 10u128.pow(30) {
                    mantissa = mantissa * 10 + u128::from(b - b'0');
                    if seen_point {
                        scale -= 1;
                    }
                } else if !seen_point {
                    scale += 1; // an integer digit beyond what is kept still counts
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return Err("not a decimal number of seconds"),
        }
    }
    if digits == 0 {
        return Err("not a decimal number of seconds");
    }
    let too_large = "too large (over 10^10 s)";
    let shift = scale.checked_add(9).ok_or(too_large)?;
    let ns = if shift >= 0 {
        if shift > 20 && mantissa != 0 {
            return Err(too_large);
        }
        mantissa
            .checked_mul(10u128.pow(shift as u32))
            .ok_or(too_large)?
    } else if shift < -38 {
        0
    } else {
        let d = 10u128.pow((-shift) as u32);
        mantissa / d + u128::from(mantissa % d >= d / 2)
    };
    if ns > 10_000_000_000 * 1_000_000_000 {
        return Err(too_large);
    }
    Ok(ns as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_exactly_to_nanoseconds() {
        let ns = |s: &str| seconds_to_ns(s.as_bytes());
        assert_eq!(ns("0.0755"), Ok(75_500_000));
        assert_eq!(ns("12"), Ok(12_000_000_000));
        assert_eq!(ns(".5"), Ok(500_000_000));
        assert_eq!(ns("1e-05"), Ok(10_000));
        assert_eq!(ns("3.2E2"), Ok(320_000_000_000));
        assert_eq!(ns("0.1234567895"), Ok(123_456_790));
        assert_eq!(ns("0.1234567894999"), Ok(123_456_789));
        assert_eq!(ns("1209600.123456"), Ok(1_209_600_123_456_000));
        // 0.1 + 0.2 in binary floating point is 0.30000000000000004; here it is exact.
        assert_eq!(ns("0.3"), Ok(300_000_000));
        assert!(ns("-1").is_err());
        assert!(ns("").is_err());
        assert!(ns("1.2.3").is_err());
        assert!(ns("abc").is_err());
        assert!(ns("1e").is_err());
        assert!(ns("1e30").is_err());
        assert_eq!(round_ns_to_us(1_499), 1);
        assert_eq!(round_ns_to_us(1_500), 2);
    }

    #[test]
    fn header_is_recognised_in_any_order() {
        assert_eq!(
            columns("app,func,end_timestamp,duration\n"),
            Some([0, 1, 2, 3])
        );
        assert_eq!(
            columns("duration,end_timestamp,func,app\r\n"),
            Some([3, 2, 1, 0])
        );
        assert_eq!(columns("HashOwner,HashApp,HashFunction,Trigger,1,2"), None);
    }
}
