//! The Azure Functions 2021 invocation trace: one row per invocation, `app,func,end_timestamp,duration`,
//! times in seconds (with fractions) since the trace began, over two weeks.
//!
//! The file is long because the format is read in one place: its rows, its passes, its exact decimal
//! seconds, and the writer `synth` uses, with their tests.
//!
//! Each invocation is replayed at its own start, `end_timestamp − duration`. Both numbers are parsed as
//! decimals into integer nanoseconds (never through binary floating point), subtracted, and rounded to the
//! microsecond; invocations that share a microsecond are all kept.
//!
//! The file is read in passes, line by line, and the window's invocations are never all held:
//! 1. the first pass indexes the functions, keeps every invocation's duration (8 bytes a row, for exact
//!    percentiles over the whole file: 16 MB for the dataset's 1.98 M rows) and measures the file's
//!    *reorder window*: how far behind the latest start already read a later row's start can be. Rows are
//!    ordered by end time, so that is about the longest call, but it is measured, not assumed;
//!    It counts the window's calls per function and period too;
//! 2. each later pass (the one that places the calls) gives the calls in start order through a heap that
//!    holds only the calls inside the reorder window, and stops reading once no later row can start
//!    inside the window.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rustc_hash::FxBuildHasher;

use crate::arrivals::{Arrival, Arrivals, CallSource, CallStream};
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

/// One parsed row: its function's key (`app`, a 0 byte, `func`) is left in the reader's key buffer.
#[derive(Debug, Clone, Copy)]
struct Row {
    /// Bytes of the key that are the app's name.
    app_len: usize,
    /// When the call began, µs from the trace's beginning; `None` if before it.
    start_us: Option<u64>,
    /// What it ran for, µs.
    duration_us: u64,
}

/// The rows of an Azure 2021 file, parsed one by one into reused buffers.
struct Rows {
    path: PathBuf,
    reader: BufReader<std::fs::File>,
    line: Vec<u8>,
    line_no: u64,
    header_fields: usize,
    /// Columns of app, func, end_timestamp, duration.
    at: [usize; 4],
    /// Where each field of the current line is: the line buffer is reused, so no field is copied.
    spans: Vec<(usize, usize)>,
    /// The current row's function key.
    key: Vec<u8>,
}

impl Rows {
    /// Opens `path` and reads its header.
    fn open(path: &Path) -> Result<Rows, TraceError> {
        let file = std::fs::File::open(path).map_err(|e| TraceError::io(path, e))?;
        let mut rows = Rows {
            path: path.to_owned(),
            reader: BufReader::with_capacity(1 << 20, file),
            line: Vec::new(),
            line_no: 0,
            header_fields: 0,
            at: [0; 4],
            spans: Vec::new(),
            key: Vec::new(),
        };
        if !rows.read_line()? {
            return Err(TraceError::MissingColumn {
                path: path.to_owned(),
                column: AZURE2021_HEADER.join(","),
            });
        }
        let header = String::from_utf8_lossy(&rows.line).into_owned();
        rows.header_fields = header.trim_end_matches(['\r', '\n']).split(',').count();
        let Some(at) = columns(&header) else {
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
        rows.at = at;
        Ok(rows)
    }

    /// Reads the next line; false at the end of the file.
    fn read_line(&mut self) -> Result<bool, TraceError> {
        self.line.clear();
        self.line_no += 1;
        let n = self
            .reader
            .read_until(b'\n', &mut self.line)
            .map_err(|e| TraceError::io(&self.path, e))?;
        Ok(n > 0)
    }

    /// The next row (blank lines skipped), or `None` at the end of the file.
    fn next_row(&mut self) -> Result<Option<Row>, TraceError> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            if !trim_eol(&self.line).is_empty() {
                return self.parse().map(Some);
            }
        }
    }

    fn parse(&mut self) -> Result<Row, TraceError> {
        let text = trim_eol(&self.line);
        self.spans.clear();
        let mut from = 0;
        for i in memchr::memchr_iter(b',', text) {
            self.spans.push((from, i));
            from = i + 1;
        }
        self.spans.push((from, text.len()));
        if self.spans.len() != self.header_fields {
            return Err(TraceError::Ragged {
                path: self.path.clone(),
                line: self.line_no,
                expected: self.header_fields,
                found: self.spans.len(),
            });
        }
        let [app_at, func_at, end_at, duration_at] = self.at;
        let spans = &self.spans;
        let field = |column: usize| &text[spans[column].0..spans[column].1];
        let bad = |column: usize, reason: &'static str| TraceError::BadValue {
            path: self.path.clone(),
            line: self.line_no,
            column: column + 1,
            name: AZURE2021_HEADER[self
                .at
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
        self.key.clear();
        self.key.extend_from_slice(field(app_at));
        self.key.push(0);
        self.key.extend_from_slice(field(func_at));
        Ok(Row {
            app_len: field(app_at).len(),
            // An invocation that began before the trace did is outside every window.
            start_us: end_ns.checked_sub(duration_ns).map(round_ns_to_us),
            duration_us: round_ns_to_us(duration_ns),
        })
    }
}

/// What identifies the file the first pass read: later passes refuse another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    bytes: u64,
    modified: Option<std::time::SystemTime>,
}

impl Fingerprint {
    fn of(path: &Path) -> Result<Fingerprint, TraceError> {
        let meta = std::fs::metadata(path).map_err(|e| TraceError::io(path, e))?;
        Ok(Fingerprint {
            bytes: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// Reads the window `options` asks for from the Azure 2021 trace at `path`.
///
/// Functions are listed in order of first appearance in the file; their duration percentiles (and
/// average) come from all their invocations in the file, their memory is `options.memory_mb`. The trace's
/// arrivals are the window's invocations with their recorded durations, read from the file again on each
/// pass (see the module's documentation).
pub fn read_azure2021(path: &Path, options: &Azure2021Options) -> Result<Trace, TraceError> {
    let fingerprint = Fingerprint::of(path)?;
    let mut rows = Rows::open(path)?;
    let mut index: HashMap<Vec<u8>, u32, FxBuildHasher> = HashMap::default();
    let mut ids: Vec<FunctionId> = Vec::new();
    // Every invocation's function and duration, packed as function << 40 | µs (8 bytes a call): the
    // percentiles are over the whole file.
    // Reserved for as many rows as the file holds if they are short (the dataset's are about 100 bytes):
    // pages are only taken as rows fill them, so the vector need not double into a copy of itself.
    let mut durations: Vec<u64> = Vec::with_capacity((fingerprint.bytes / 32) as usize);
    let mut reorder = ReorderWindow::default();
    let period_us = options.granularity.period_us();
    let window_start = u64::from(options.start) * period_us;
    let window_end = options
        .periods
        .map(|p| window_start.saturating_add(p as u64 * period_us));
    // The window's calls per function and period, counted here so no pass is made only to count them.
    let mut counts: Vec<Vec<u32>> = Vec::new();
    while let Some(row) = rows.next_row()? {
        let function = match index.get(rows.key.as_slice()) {
            Some(&f) => f,
            None => {
                if ids.len() >= MAX_FUNCTIONS {
                    let [_, func_at, _, _] = rows.at;
                    return Err(TraceError::BadValue {
                        path: path.to_owned(),
                        line: rows.line_no,
                        column: func_at + 1,
                        name: "func".to_owned(),
                        value: String::from_utf8_lossy(&rows.key[row.app_len + 1..]).into_owned(),
                        reason: "more than 16,777,216 functions",
                    });
                }
                let f = ids.len() as u32;
                index.insert(rows.key.clone(), f);
                ids.push(FunctionId {
                    owner: String::new(),
                    app: String::from_utf8_lossy(&rows.key[..row.app_len]).into_owned(),
                    function: String::from_utf8_lossy(&rows.key[row.app_len + 1..]).into_owned(),
                });
                f
            }
        };
        durations.push(u64::from(function) << 40 | row.duration_us.min(MAX_PACKED_US));
        if let Some(start_us) = row.start_us {
            reorder.measure(start_us);
            if start_us >= window_start && window_end.is_none_or(|end| start_us < end) {
                let p = ((start_us - window_start) / period_us) as usize;
                if counts.len() <= function as usize {
                    counts.resize_with(function as usize + 1, Vec::new);
                }
                let row = &mut counts[function as usize];
                if row.len() <= p {
                    row.resize(p + 1, 0);
                }
                row[p] += 1;
            }
        }
    }

    let periods = match options.periods {
        Some(p) => p,
        None => {
            if durations.is_empty() || reorder.latest_start_us < window_start {
                return Err(TraceError::Window {
                    path: path.to_owned(),
                    reason: format!(
                        "the window starts at {} {}, after the trace's last invocation",
                        options.granularity.unit(),
                        options.start
                    ),
                });
            }
            ((reorder.latest_start_us - window_start) / period_us + 1) as usize
        }
    };
    let functions = profiles_of(ids, durations, options.memory_mb);
    let report = ReadReport {
        functions_read: functions.len(),
        left_out: Vec::new(),
        memory_level: MemoryLevel::Function,
        duplicate_rows: 0,
    };
    let calls = Azure2021Calls {
        path: path.to_owned(),
        fingerprint,
        index,
        window: window_start..window_start.saturating_add(periods as u64 * period_us),
        lag_us: reorder.lag_us,
    };
    let mut matrix = vec![0u32; functions.len() * periods];
    for (f, row) in counts.iter().enumerate() {
        matrix[f * periods..f * periods + row.len()].copy_from_slice(row);
    }
    Ok(Trace::with_counted_arrivals(
        (options.granularity, options.start, periods),
        functions,
        Arrivals::new(calls, true),
        matrix,
        report,
    ))
}

/// How far a row's start can lag behind the latest start read before it.
#[derive(Debug, Clone, Copy, Default)]
struct ReorderWindow {
    /// The latest start read so far, µs.
    latest_start_us: u64,
    /// The most any start lagged behind the latest before it, µs.
    lag_us: u64,
}

impl ReorderWindow {
    fn measure(&mut self, start_us: u64) {
        self.latest_start_us = self.latest_start_us.max(start_us);
        self.lag_us = self.lag_us.max(self.latest_start_us - start_us);
    }
}

/// The window's calls of an Azure 2021 file, read again on each pass.
#[derive(Debug)]
struct Azure2021Calls {
    path: PathBuf,
    fingerprint: Fingerprint,
    /// Function index by key, as the first pass numbered them.
    index: HashMap<Vec<u8>, u32, FxBuildHasher>,
    /// The window, µs from the trace's beginning.
    window: std::ops::Range<u64>,
    /// The file's reorder window (see [`ReorderWindow`]).
    lag_us: u64,
}

impl CallSource for Azure2021Calls {
    fn pass(&self) -> Result<Box<dyn CallStream + Send + '_>, TraceError> {
        let found = Fingerprint::of(&self.path)?;
        if found != self.fingerprint {
            return Err(TraceError::Changed {
                path: self.path.clone(),
                reason: format!(
                    "{} bytes and modified {:?}, not {} bytes and {:?}",
                    found.bytes, found.modified, self.fingerprint.bytes, self.fingerprint.modified
                ),
            });
        }
        Ok(Box::new(Azure2021Pass {
            calls: self,
            rows: Rows::open(&self.path)?,
            pending: BinaryHeap::new(),
            reorder: ReorderWindow::default(),
            done: false,
        }))
    }
}

/// One pass over an Azure 2021 file's window.
struct Azure2021Pass<'a> {
    calls: &'a Azure2021Calls,
    rows: Rows,
    /// Calls read whose start a later row may still precede, earliest first.
    pending: BinaryHeap<Reverse<Arrival>>,
    reorder: ReorderWindow,
    /// No later row can start inside the window (or the file has ended).
    done: bool,
}

impl Azure2021Pass<'_> {
    /// Every row from now on starts at or after this, µs from the trace's beginning.
    fn settled_until(&self) -> u64 {
        self.reorder
            .latest_start_us
            .saturating_sub(self.calls.lag_us)
    }

    /// Reads one row into `pending` if it starts inside the window.
    fn read_row(&mut self) -> Result<(), TraceError> {
        let Some(row) = self.rows.next_row()? else {
            self.done = true;
            return Ok(());
        };
        let Some(start_us) = row.start_us else {
            return Ok(());
        };
        self.reorder.measure(start_us);
        if self.calls.window.contains(&start_us) {
            let Some(&function) = self.calls.index.get(self.rows.key.as_slice()) else {
                return Err(TraceError::Changed {
                    path: self.calls.path.clone(),
                    reason: format!("line {} names a function first seen now", self.rows.line_no),
                });
            };
            self.pending.push(Reverse(Arrival {
                time_us: start_us - self.calls.window.start,
                function,
                duration_us: u32::try_from(row.duration_us).unwrap_or(u32::MAX),
            }));
        }
        if self.settled_until() >= self.calls.window.end {
            self.done = true;
        }
        Ok(())
    }
}

impl CallStream for Azure2021Pass<'_> {
    fn calls_before(&mut self, end_us: u64, out: &mut Vec<Arrival>) -> Result<(), TraceError> {
        let end_abs = self.calls.window.start.saturating_add(end_us);
        while !self.done && self.settled_until() < end_abs {
            self.read_row()?;
        }
        while let Some(Reverse(first)) = self.pending.peek() {
            if first.time_us >= end_us {
                break;
            }
            out.push(*first);
            self.pending.pop();
        }
        Ok(())
    }
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

    /// Every call of `trace`'s window, read period by period.
    fn streamed(trace: &Trace) -> Vec<(u64, u32, u32)> {
        let arrivals = trace.arrivals.as_ref().unwrap();
        let mut stream = arrivals.stream().unwrap();
        let mut calls = Vec::new();
        for p in 0..trace.periods {
            stream
                .calls_before((p as u64 + 1) * trace.granularity.period_us(), &mut calls)
                .unwrap();
        }
        calls
            .iter()
            .map(|c| (c.time_us, c.function, c.duration_us))
            .collect()
    }

    #[test]
    fn rows_in_any_order_stream_in_start_order_through_the_measured_reorder_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        // (app, func, end s, duration s); the long call ends last but starts first; one row is out of
        // end order by 2 s; one began before the trace; minute 0 holds 3 starts, minute 1 two, minute 2 one.
        let rows = [
            ("a", "f", "10.5", "0.5"),
            ("a", "g", "61", "1"),
            ("a", "f", "59", "2"),
            ("b", "h", "0.5", "1"),
            ("a", "g", "70", "0.25"),
            ("b", "h", "125", "100"),
            ("a", "f", "130.000001", "0.000001"),
        ];
        let mut text = String::from("app,func,end_timestamp,duration\n");
        for (a, f, e, d) in rows {
            text += &format!("{a},{f},{e},{d}\n");
        }
        std::fs::write(&path, text).unwrap();
        let options = |periods| Azure2021Options {
            granularity: Granularity::Minute,
            start: 0,
            periods,
            memory_mb: 128.0,
        };
        let trace = read_azure2021(&path, &options(None)).unwrap();
        assert_eq!(trace.periods, 3);
        let want = vec![
            (10_000_000, 0, 500_000),
            (25_000_000, 2, 100_000_000),
            (57_000_000, 0, 2_000_000),
            (60_000_000, 1, 1_000_000),
            (69_750_000, 1, 250_000),
            (130_000_000, 0, 1),
        ];
        assert_eq!(streamed(&trace), want);
        assert_eq!(trace.counts(0), [2, 0, 1]);
        assert_eq!(trace.counts(2), [1, 0, 0]);
        // A window that ends early stops reading: minute 0 only.
        let first = read_azure2021(&path, &options(Some(1))).unwrap();
        assert_eq!(streamed(&first), want[..3]);
        // Another pass after the file changed is refused, naming it.
        std::fs::write(&path, "app,func,end_timestamp,duration\na,f,1,1\n").unwrap();
        let err = first.arrivals.as_ref().unwrap().stream().err().unwrap();
        assert!(
            err.to_string()
                .contains("t.txt: changed while it was being read"),
            "{err}"
        );
    }
}
