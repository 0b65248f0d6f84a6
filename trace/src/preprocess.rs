//! `loadgen preprocess`: raw Azure day files to a clean excerpt in the sampled layout.
//!
//! Per day spanned: functions present in all three files (memory by app, divided evenly among the app's
//! functions), repeated rows dropped (first kept). Across days: one row per function, counts concatenated
//! (zero on a day the function is absent), figures from the first day it appears. Then functions never
//! invoked in the excerpt and functions whose average duration is zero are dropped, as invitro does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::{
    AppMemory, Duplicates, Function, Granularity, LeftOut, MemoryLevel, ReadOptions, Trace,
    TraceError,
};

const MINUTES_PER_DAY: u32 = 1440;

/// Where an excerpt starts: day index (0 = the first day file present), hour, minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExcerptStart {
    /// Day index, 0 first.
    pub day: u32,
    /// Minute of that day, 0..1440.
    pub minute: u32,
}

impl std::str::FromStr for ExcerptStart {
    type Err = String;

    /// `dd:hh:mm`, e.g. `0:09:00` or `01:23:30`.
    fn from_str(s: &str) -> Result<ExcerptStart, String> {
        let bad = |why: &str| format!("`{s}` is not a start dd:hh:mm (day 0 first): {why}");
        let parts: Vec<&str> = s.split(':').collect();
        let [d, h, m] = parts.as_slice() else {
            return Err(bad("expected three fields"));
        };
        let num = |v: &str, what: &str| {
            v.parse::<u32>()
                .map_err(|_| bad(&format!("{what} `{v}` is not a number")))
        };
        let (day, hour, minute) = (num(d, "day")?, num(h, "hour")?, num(m, "minute")?);
        if hour >= 24 {
            return Err(bad("hour must be 0..=23"));
        }
        if minute >= 60 {
            return Err(bad("minute must be 0..=59"));
        }
        Ok(ExcerptStart {
            day,
            minute: hour * 60 + minute,
        })
    }
}

/// What preprocessing kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreprocessReport {
    /// Day numbers (the NN of dNN) read.
    pub days: Vec<u32>,
    /// Distinct functions in the invocations files of those days.
    pub functions_read: usize,
    /// Rows dropped as repeats of an earlier row, all files and days together.
    pub duplicate_rows: usize,
    /// Dropped: no durations row.
    pub missing_durations: usize,
    /// Dropped: no memory row for the function's app.
    pub missing_memory: usize,
    /// Dropped: never invoked in the excerpt.
    pub idle: usize,
    /// Dropped: average duration zero.
    pub zero_duration: usize,
    /// Kept.
    pub kept: usize,
    /// Invocations of the kept functions in the excerpt.
    pub invocations: u64,
}

/// Why preprocessing failed.
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    /// A file could not be read or is malformed.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The directory holds no raw day files.
    #[error("{}: no raw day files (invocations_per_function_md.anon.dNN.csv)", dir.display())]
    NoDays {
        /// The input directory.
        dir: PathBuf,
    },
    /// The excerpt does not fit the days present.
    #[error("{}: {reason}", dir.display())]
    Excerpt {
        /// The input directory.
        dir: PathBuf,
        /// What does not fit.
        reason: String,
    },
}

/// The (day, first minute, minutes) pieces of the excerpt of `duration` minutes from `start`, over the
/// consecutive day files `days`.
fn excerpt_pieces(
    dir: &Path,
    days: &[u32],
    start: ExcerptStart,
    duration: u32,
) -> Result<Vec<(u32, u32, u32)>, PreprocessError> {
    let excerpt = |reason: String| PreprocessError::Excerpt {
        dir: dir.to_owned(),
        reason,
    };
    if duration == 0 {
        return Err(excerpt("--duration must be at least 1 minute".into()));
    }
    let first = start.day as usize;
    if first >= days.len() {
        return Err(excerpt(format!(
            "start day {} does not exist: {} day file(s) present (d{:02}..d{:02}), day 0 is d{:02}",
            start.day,
            days.len(),
            days[0],
            days[days.len() - 1],
            days[0]
        )));
    }
    let mut pieces = Vec::new();
    let (mut index, mut minute, mut left) = (first, start.minute, duration);
    while left > 0 {
        let Some(&day) = days.get(index) else {
            return Err(excerpt(format!(
                "{duration} minutes from day {} {:02}:{:02} go past the last day file (d{:02})",
                start.day,
                start.minute / 60,
                start.minute % 60,
                days[days.len() - 1]
            )));
        };
        if index > first && day != days[index - 1] + 1 {
            return Err(excerpt(format!(
                "the excerpt spans days d{:02} and d{day:02}, which are not consecutive",
                days[index - 1]
            )));
        }
        let n = left.min(MINUTES_PER_DAY - minute);
        pieces.push((day, minute, n));
        left -= n;
        minute = 0;
        index += 1;
    }
    Ok(pieces)
}

/// Reads the excerpt of `duration` minutes from `start` out of the raw day files in `dir`: the excerpt
/// (functions present in all three files, counts of the excerpt) and which of its functions the cleaning
/// keeps, ascending.
pub fn preprocess(
    dir: &Path,
    start: ExcerptStart,
    duration: u32,
) -> Result<(Trace, Vec<usize>, PreprocessReport), PreprocessError> {
    let days = crate::raw_days(dir)?;
    if days.is_empty() {
        return Err(PreprocessError::NoDays {
            dir: dir.to_owned(),
        });
    }
    let pieces = excerpt_pieces(dir, &days, start, duration)?;

    let mut report = PreprocessReport::default();
    let mut missing_of: HashMap<crate::FunctionId, (bool, bool)> = HashMap::new();
    let mut days_read = Vec::with_capacity(pieces.len());
    for &(day, from, n) in &pieces {
        report.days.push(day);
        let options = ReadOptions {
            granularity: Some(Granularity::Minute),
            start: Some(from + 1),
            periods: Some(n as usize),
            app_memory: AppMemory::Split,
            strict: false,
            day: Some(day),
            duplicates: Duplicates::KeepFirst,
        };
        let files = crate::TraceFiles::locate(dir, Some(day))?;
        let day_trace = crate::read_files(&files, &options)?;
        report.duplicate_rows += day_trace.report.duplicate_rows;
        for (id, why) in &day_trace.report.left_out {
            let flags = missing_of.entry(id.clone()).or_default();
            match why {
                LeftOut::NoDurations => flags.0 = true,
                LeftOut::NoMemory => flags.1 = true,
            }
        }
        days_read.push(day_trace);
    }
    // One day: the day's trace is the excerpt (no copy of a full day's counts).
    let excerpt = if days_read.len() == 1 {
        days_read.pop().expect("one day")
    } else {
        concatenate(days_read, duration as usize)
    };
    // A function missing a file on one day but complete on another is kept (figures from that day).
    let present: std::collections::HashSet<&crate::FunctionId> =
        excerpt.functions.iter().map(|f| &f.id).collect();
    for (id, (no_durations, _)) in &missing_of {
        if present.contains(id) {
            continue;
        }
        if *no_durations {
            report.missing_durations += 1;
        } else {
            report.missing_memory += 1;
        }
    }
    report.functions_read =
        excerpt.functions.len() + report.missing_durations + report.missing_memory;

    let mut kept = Vec::with_capacity(excerpt.functions.len());
    for (f, function) in excerpt.functions.iter().enumerate() {
        let total = excerpt.total(f);
        if total == 0 {
            report.idle += 1;
        } else if function.duration_avg_ms == 0.0 {
            report.zero_duration += 1;
        } else {
            report.invocations += total;
            kept.push(f);
        }
    }
    report.kept = kept.len();
    Ok((excerpt, kept, report))
}

/// Days of an excerpt joined: one row per function (first-seen order), counts side by side (zero on a
/// day the function is absent), figures from the first day it appears.
fn concatenate(days: Vec<Trace>, periods: usize) -> Trace {
    let mut index_of: HashMap<crate::FunctionId, usize> = HashMap::new();
    let mut functions: Vec<Function> = Vec::new();
    for day in &days {
        for function in &day.functions {
            index_of.entry(function.id.clone()).or_insert_with(|| {
                functions.push(function.clone());
                functions.len() - 1
            });
        }
    }
    let mut counts = vec![0u32; functions.len() * periods];
    let mut offset = 0;
    let mut report = days[0].report.clone();
    for day in &days {
        for (f, function) in day.functions.iter().enumerate() {
            let i = index_of[&function.id];
            counts[i * periods + offset..i * periods + offset + day.periods]
                .copy_from_slice(day.counts(f));
        }
        offset += day.periods;
        report.duplicate_rows += day.report.duplicate_rows;
    }
    report.memory_level = MemoryLevel::App(AppMemory::Split);
    Trace::new(Granularity::Minute, 1, periods, functions, counts, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_parses_and_refuses() {
        assert_eq!(
            "0:09:30".parse::<ExcerptStart>().unwrap(),
            ExcerptStart {
                day: 0,
                minute: 570
            }
        );
        assert_eq!(
            "02:23:59".parse::<ExcerptStart>().unwrap(),
            ExcerptStart {
                day: 2,
                minute: 1439
            }
        );
        for bad in [
            "",
            "1:2",
            "0:24:00",
            "0:00:60",
            "a:00:00",
            "0:00:00:00",
            "-1:00:00",
        ] {
            let e = bad.parse::<ExcerptStart>().unwrap_err();
            assert!(e.contains("dd:hh:mm"), "{bad}: {e}");
        }
    }
}
