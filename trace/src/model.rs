//! The in-memory trace: functions, their resource percentiles, and a dense count matrix for the window read.

use std::fmt;

pub use formats::Percentiles;

use crate::arrivals::Arrivals;

/// Percentiles at which `durations.csv` gives execution time (`percentile_Average_N`).
pub const DURATION_PERCENTILES: [u8; 7] = [0, 1, 25, 50, 75, 99, 100];
/// Percentiles at which `memory.csv` gives allocated memory (`AverageAllocatedMb_pctN`).
pub const MEMORY_PERCENTILES: [u8; 8] = [1, 5, 25, 50, 75, 95, 99, 100];

/// Name of the duration column for percentile `p`.
pub fn duration_column(p: u8) -> String {
    format!("percentile_Average_{p}")
}

/// Name of the memory column for percentile `p`.
pub fn memory_column(p: u8) -> String {
    format!("AverageAllocatedMb_pct{p}")
}

/// A function's identity in the Azure trace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionId {
    /// `HashOwner`.
    pub owner: String,
    /// `HashApp`.
    pub app: String,
    /// `HashFunction`.
    pub function: String,
}

impl FunctionId {
    /// The identity as a number that does not depend on which other functions the trace holds (FNV-1a of
    /// the three hashes), so a function's calls land at the same microseconds whatever the sample, window
    /// filter or `--keep-idle`, and its own emulated function has the same name in every run.
    pub fn stable_key(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [&self.owner, &self.app, &self.function] {
            for b in part.bytes().chain(std::iter::once(0)) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }
}

impl fmt::Display for FunctionId {
    /// Abbreviated to 8 characters per hash: enough to find the row, short enough to read.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |s: &str| s.chars().take(8).collect::<String>();
        write!(
            f,
            "{}/{}/{}",
            short(&self.owner),
            short(&self.app),
            short(&self.function)
        )
    }
}

/// One trace function with its resource profile.
#[derive(Debug, Clone)]
pub struct Function {
    /// Identity.
    pub id: FunctionId,
    /// `Trigger` (http, timer, queue, ...); empty when the file has no such column.
    pub trigger: String,
    /// Execution time percentiles, milliseconds.
    pub duration_ms: Percentiles,
    /// `Average` execution time, milliseconds.
    pub duration_avg_ms: f64,
    /// Allocated memory percentiles, MB (this function's share when the file is per app).
    pub memory_mb: Percentiles,
    /// `AverageAllocatedMb` (this function's share when the file is per app).
    pub memory_avg_mb: f64,
}

pub use formats::Granularity;

/// How an app-level memory figure becomes a per-function one (raw Azure layout only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppMemory {
    /// Divided equally among the app's functions in the invocations file.
    #[default]
    Split,
    /// Every function gets the whole app figure.
    Share,
}

/// Where the memory figures came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLevel {
    /// One row per function (`HashFunction` column present).
    Function,
    /// One row per app, turned into per-function figures as stated.
    App(AppMemory),
}

/// Why a function of the invocations file was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeftOut {
    /// No row in the durations file.
    NoDurations,
    /// No row in the memory file (function or app), though durations were present.
    NoMemory,
}

/// What reading left out and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReport {
    /// Function rows in the invocations file.
    pub functions_read: usize,
    /// Each function left out, and why, in invocations-file order.
    pub left_out: Vec<(FunctionId, LeftOut)>,
    /// Where memory figures came from.
    pub memory_level: MemoryLevel,
    /// Rows skipped as repeats of an earlier row's key, all files together (only with
    /// [`Duplicates::KeepFirst`]; otherwise a repeat is an error).
    pub duplicate_rows: usize,
}

impl ReadReport {
    /// Functions left out for want of a durations row.
    pub fn missing_durations(&self) -> usize {
        self.left_out
            .iter()
            .filter(|(_, why)| *why == LeftOut::NoDurations)
            .count()
    }

    /// Functions left out for want of a memory row.
    pub fn missing_memory(&self) -> usize {
        self.left_out
            .iter()
            .filter(|(_, why)| *why == LeftOut::NoMemory)
            .count()
    }
}

/// What to do with a row whose key an earlier row of the same file already had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Duplicates {
    /// Stop with an error naming both lines.
    #[default]
    Error,
    /// Keep the first row, skip and count the others (the raw Azure files have some).
    KeepFirst,
}

/// A trace window: functions present in all three files and their counts for the chosen periods.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Period length.
    pub granularity: Granularity,
    /// Label (column name) of the first period read.
    pub first_period: u32,
    /// Number of periods read.
    pub periods: usize,
    /// Functions kept, in the order of the invocations file.
    pub functions: Vec<Function>,
    /// Row-major `functions × periods` invocation counts.
    counts: Vec<u32>,
    /// What was left out.
    pub report: ReadReport,
    /// Each call's own time, when the trace (or load shape) places calls one by one; the counts are then
    /// derived from them and no IAT distribution applies.
    pub arrivals: Option<Arrivals>,
}

impl Trace {
    /// Assembles a trace; `counts` is row-major, `functions.len() × periods`.
    pub fn new(
        granularity: Granularity,
        first_period: u32,
        periods: usize,
        functions: Vec<Function>,
        counts: Vec<u32>,
        report: ReadReport,
    ) -> Self {
        assert_eq!(
            counts.len(),
            functions.len() * periods,
            "count matrix shape"
        );
        Trace {
            granularity,
            first_period,
            periods,
            functions,
            counts,
            report,
            arrivals: None,
        }
    }

    /// Assembles a trace whose calls are placed one by one and were counted already (row-major,
    /// `functions.len() × periods`: what a pass over `arrivals` would count).
    pub fn with_counted_arrivals(
        (granularity, first_period, periods): (Granularity, u32, usize),
        functions: Vec<Function>,
        arrivals: Arrivals,
        counts: Vec<u32>,
        report: ReadReport,
    ) -> Self {
        let mut trace = Trace::new(
            granularity,
            first_period,
            periods,
            functions,
            counts,
            report,
        );
        trace.arrivals = Some(arrivals);
        trace
    }

    /// Invocation counts of function `f` for every period of the window.
    pub fn counts(&self, f: usize) -> &[u32] {
        &self.counts[f * self.periods..(f + 1) * self.periods]
    }

    /// Invocations of function `f` over the window.
    pub fn total(&self, f: usize) -> u64 {
        self.counts(f).iter().map(|&c| u64::from(c)).sum()
    }

    /// Keeps only the functions for which `keep(index)` holds, preserving order.
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let periods = self.periods;
        let mut kept_functions = Vec::new();
        let mut kept_counts = Vec::new();
        let mut new_index = Vec::with_capacity(self.functions.len());
        for (f, function) in std::mem::take(&mut self.functions).into_iter().enumerate() {
            if keep(f) {
                new_index.push(Some(kept_functions.len() as u32));
                kept_counts.extend_from_slice(&self.counts[f * periods..(f + 1) * periods]);
                kept_functions.push(function);
            } else {
                new_index.push(None);
            }
        }
        self.functions = kept_functions;
        self.counts = kept_counts;
        if let Some(arrivals) = self.arrivals.as_mut() {
            arrivals.retain_functions(&new_index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_keeps_rows_aligned() {
        let f = |n: &str| Function {
            id: FunctionId {
                owner: n.into(),
                app: n.into(),
                function: n.into(),
            },
            trigger: String::new(),
            duration_ms: Percentiles::default(),
            duration_avg_ms: 0.0,
            memory_mb: Percentiles::default(),
            memory_avg_mb: 0.0,
        };
        let report = ReadReport {
            functions_read: 3,
            left_out: Vec::new(),
            memory_level: MemoryLevel::Function,
            duplicate_rows: 0,
        };
        let mut t = Trace::new(
            Granularity::Minute,
            1,
            2,
            vec![f("a"), f("b"), f("c")],
            vec![1, 2, 3, 4, 5, 6],
            report,
        );
        t.retain(|i| i != 1);
        assert_eq!(t.functions.len(), 2);
        assert_eq!(t.counts(1), &[5, 6]);
        assert_eq!(t.total(0), 3);
    }
}
