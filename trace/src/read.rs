//! Reading a trace directory into a [`Trace`]: the three files joined on (owner, app, function).

use std::collections::HashMap;
use std::path::Path;

use crate::csvread::{self, Header, Kind, Spec};
use crate::error::TraceError;
use crate::layout::TraceFiles;
use crate::model::{
    duration_column, memory_column, AppMemory, Duplicates, Function, FunctionId, Granularity,
    LeftOut, MemoryLevel, Percentiles, ReadReport, Trace, DURATION_PERCENTILES, MEMORY_PERCENTILES,
};

/// How to read a trace.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Whether the count columns are minutes or seconds.
    pub granularity: Option<Granularity>,
    /// Label of the first period to read; the file's first period when `None`.
    pub start: Option<u32>,
    /// Number of periods to read; all from `start` on when `None`.
    pub periods: Option<usize>,
    /// How app-level memory becomes per-function memory.
    pub app_memory: AppMemory,
    /// Fail, rather than leave out, when a function lacks a durations or memory row.
    pub strict: bool,
    /// Raw layout: which day's files, when the directory holds several.
    pub day: Option<u32>,
    /// Repeated keys: an error, or the first row kept.
    pub duplicates: Duplicates,
}

/// The period columns of an invocations header: first label and the 0-based positions they occupy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodColumns {
    /// Label of the first period column (`1` in the Azure files, `540` in the vSwarm sample).
    pub first_label: u32,
    /// Position of the first period column in the header.
    pub first_column: usize,
    /// Number of period columns.
    pub count: usize,
}

impl PeriodColumns {
    /// Label of the last period column.
    pub fn last_label(&self) -> u32 {
        self.first_label + self.count as u32 - 1
    }
}

/// Reads the trace in `dir` (either layout).
pub fn read(dir: &Path, options: &ReadOptions) -> Result<Trace, TraceError> {
    let files = TraceFiles::locate(dir, options.day)?;
    read_files(&files, options)
}

/// The period columns of an invocations file's header: every column named by an integer, which must be
/// consecutive both in position and in label.
pub fn period_columns(path: &Path) -> Result<PeriodColumns, TraceError> {
    period_columns_of(&Header::read(path)?)
}

fn period_columns_of(header: &Header) -> Result<PeriodColumns, TraceError> {
    let numeric: Vec<(usize, u32)> = header
        .names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.parse::<u32>().ok().map(|label| (i, label)))
        .collect();
    let Some(&(first_column, first_label)) = numeric.first() else {
        return Err(TraceError::BadHeader {
            path: header.path.clone(),
            column: header.names.len(),
            name: header.names.last().cloned().unwrap_or_default(),
            reason: "no period columns (columns named by integers, e.g. 1..1440)".into(),
        });
    };
    // Everything after the key columns is a period: a misspelt label before the first one would
    // otherwise shorten the trace without a word.
    let keys_end = ["HashOwner", "HashApp", "HashFunction", "Trigger"]
        .iter()
        .filter_map(|k| header.find(k))
        .max()
        .map_or(0, |last| last + 1);
    if let Some(at) = (keys_end..first_column).next() {
        return Err(TraceError::BadHeader {
            path: header.path.clone(),
            column: at + 1,
            name: header.names[at].clone(),
            reason: format!(
                "period columns are named by integers and follow the key columns: expected `{}` here",
                first_label.saturating_sub((first_column - at) as u32)
            ),
        });
    }
    for (k, &(column, label)) in numeric.iter().enumerate() {
        let expected_label = first_label + k as u32;
        if column != first_column + k || label != expected_label {
            let at = (first_column + k).min(header.names.len() - 1);
            return Err(TraceError::BadHeader {
                path: header.path.clone(),
                column: at + 1,
                name: header.names[at].clone(),
                reason: format!(
                    "period columns must be consecutive integers: expected `{expected_label}` here"
                ),
            });
        }
    }
    Ok(PeriodColumns {
        first_label,
        first_column,
        count: numeric.len(),
    })
}

/// The columns of the average (`average`) and of each percentile of `percentiles` (named by `column`).
fn average_and_percentiles(
    header: &Header,
    average: &str,
    percentiles: &[u8],
    column: fn(u8) -> String,
) -> Result<(usize, Vec<usize>), TraceError> {
    let avg = header.require(average)?;
    let pcts = percentiles
        .iter()
        .map(|&p| header.require(&column(p)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((avg, pcts))
}

/// The count matrix of the kept rows (function-major, `periods` columns from `first_column`).
fn window_counts(
    inv: &csvread::Frame,
    first_column: usize,
    periods: usize,
    kept_rows: &[usize],
) -> Vec<u32> {
    let mut counts = vec![0u32; kept_rows.len() * periods];
    for j in 0..periods {
        let column = inv.counts(first_column + j);
        for (k, &row) in kept_rows.iter().enumerate() {
            counts[k * periods + j] = column[row];
        }
    }
    counts
}

/// Reads the three files named by `files`.
#[allow(
    clippy::too_many_lines,
    reason = "the three files' rows are joined by keys borrowed from their parsed frames, all alive in this one scope; split, each part would carry those borrows"
)]
pub fn read_files(files: &TraceFiles, options: &ReadOptions) -> Result<Trace, TraceError> {
    let granularity = options.granularity.unwrap_or(Granularity::Minute);

    // Invocations: keys, trigger, and only the window's period columns.
    let inv_header = Header::read(&files.invocations)?;
    let inv_keys = key_columns(&inv_header, true)?;
    let trigger = inv_header.find("Trigger");
    let columns = period_columns_of(&inv_header)?;
    let (window_start, periods) = window(&files.invocations, &columns, options)?;
    let first_window_column = columns.first_column + (window_start - columns.first_label) as usize;
    let mut inv_columns: Vec<(usize, Kind)> = inv_keys.iter().map(|&k| (k, Kind::Text)).collect();
    inv_columns.extend(trigger.map(|t| (t, Kind::Text)));
    inv_columns.extend((0..periods).map(|j| (first_window_column + j, Kind::Count)));
    let inv_spec = Spec {
        header: &inv_header,
        columns: inv_columns,
        key: inv_keys.clone(),
    };
    let inv = csvread::read(&inv_spec)?;
    let inv_ids = keys(&inv, &inv_keys);
    let mut duplicate_rows = 0;
    // Functions are taken in invocations-file order; the index says which row of a key comes first.
    let inv_first = index_unique(&inv_spec, &inv_ids, options.duplicates, &mut duplicate_rows)?;
    let is_first = |row: usize, id: &Vec<&str>| inv_first[id.as_slice()] == row;

    // Durations: one row per function.
    let dur_header = Header::read(&files.durations)?;
    let dur_keys = key_columns(&dur_header, true)?;
    let (dur_avg, dur_pcts) = average_and_percentiles(
        &dur_header,
        "Average",
        &DURATION_PERCENTILES,
        duration_column,
    )?;
    let dur_spec = value_spec(&dur_header, &dur_keys, dur_avg, &dur_pcts);
    let dur = csvread::read(&dur_spec)?;
    let dur_ids = keys(&dur, &dur_keys);
    let dur_index = index_unique(&dur_spec, &dur_ids, options.duplicates, &mut duplicate_rows)?;
    let dur_avg_values = dur.values(dur_avg);
    let dur_pct_values: Vec<Vec<f64>> = dur_pcts.iter().map(|&c| dur.values(c)).collect();

    // Memory: one row per function, or per app in the raw layout.
    let mem_header = Header::read(&files.memory)?;
    let per_function = mem_header.find("HashFunction").is_some();
    let mem_keys = key_columns(&mem_header, per_function)?;
    let (mem_avg, mem_pcts) = average_and_percentiles(
        &mem_header,
        "AverageAllocatedMb",
        &MEMORY_PERCENTILES,
        memory_column,
    )?;
    let mem_spec = value_spec(&mem_header, &mem_keys, mem_avg, &mem_pcts);
    let mem = csvread::read(&mem_spec)?;
    let mem_ids = keys(&mem, &mem_keys);
    let mem_index = index_unique(&mem_spec, &mem_ids, options.duplicates, &mut duplicate_rows)?;
    let mem_avg_values = mem.values(mem_avg);
    let mem_pct_values: Vec<Vec<f64>> = mem_pcts.iter().map(|&c| mem.values(c)).collect();
    let memory_level = if per_function {
        MemoryLevel::Function
    } else {
        MemoryLevel::App(options.app_memory)
    };

    // Functions per app, for splitting app memory among them.
    let mut app_functions: HashMap<(&str, &str), usize> = HashMap::new();
    for (_, id) in inv_ids
        .iter()
        .enumerate()
        .filter(|(row, id)| is_first(*row, id))
    {
        *app_functions.entry((id[0], id[1])).or_default() += 1;
    }

    let mut report = ReadReport {
        functions_read: inv_first.len(),
        left_out: Vec::new(),
        memory_level,
        duplicate_rows,
    };
    let triggers = trigger.map(|t| inv.text(t));
    let mut functions = Vec::new();
    let mut kept_rows = Vec::new();
    for (row, id) in inv_ids.iter().enumerate() {
        if !is_first(row, id) {
            continue;
        }
        let Some(&d) = dur_index.get(id.as_slice()) else {
            report
                .left_out
                .push((function_id(id), LeftOut::NoDurations));
            strict_check(options, files, row, id, &files.durations)?;
            continue;
        };
        let mem_key: &[&str] = if per_function { id } else { &id[..2] };
        let Some(&m) = mem_index.get(mem_key) else {
            report.left_out.push((function_id(id), LeftOut::NoMemory));
            strict_check(options, files, row, id, &files.memory)?;
            continue;
        };
        let share = match memory_level {
            MemoryLevel::App(AppMemory::Split) => 1.0 / app_functions[&(id[0], id[1])] as f64,
            _ => 1.0,
        };
        functions.push(Function {
            id: function_id(id),
            trigger: triggers
                .as_ref()
                .map_or(String::new(), |t| t[row].to_owned()),
            duration_ms: percentiles(&DURATION_PERCENTILES, &dur_pct_values, d),
            duration_avg_ms: dur_avg_values[d],
            memory_mb: percentiles(&MEMORY_PERCENTILES, &mem_pct_values, m).scaled(share),
            memory_avg_mb: mem_avg_values[m] * share,
        });
        kept_rows.push(row);
    }

    let counts = window_counts(&inv, first_window_column, periods, &kept_rows);
    Ok(Trace::new(
        granularity,
        window_start,
        periods,
        functions,
        counts,
        report,
    ))
}

/// Resolves `--start`/`--duration` against the file's period labels.
fn window(
    path: &Path,
    columns: &PeriodColumns,
    options: &ReadOptions,
) -> Result<(u32, usize), TraceError> {
    let (first, last) = (columns.first_label, columns.last_label());
    let start = options.start.unwrap_or(first);
    if start < first || start > last {
        return Err(TraceError::Window {
            path: path.to_owned(),
            reason: format!("start period {start} is outside the file's periods {first}..={last}"),
        });
    }
    let available = (last - start + 1) as usize;
    let periods = options.periods.unwrap_or(available);
    if periods == 0 {
        return Err(TraceError::Window {
            path: path.to_owned(),
            reason: "the window must cover at least one period".into(),
        });
    }
    if periods > available {
        return Err(TraceError::Window {
            path: path.to_owned(),
            reason: format!(
                "{periods} periods from {start} go past the last period {last} (only {available} available)"
            ),
        });
    }
    Ok((start, periods))
}

fn key_columns(header: &Header, with_function: bool) -> Result<Vec<usize>, TraceError> {
    let mut keys = vec![header.require("HashOwner")?, header.require("HashApp")?];
    if with_function {
        keys.push(header.require("HashFunction")?);
    }
    Ok(keys)
}

fn value_spec<'a>(header: &'a Header, keys: &[usize], avg: usize, pcts: &[usize]) -> Spec<'a> {
    let mut columns: Vec<(usize, Kind)> = keys.iter().map(|&k| (k, Kind::Text)).collect();
    columns.push((avg, Kind::Value));
    columns.extend(pcts.iter().map(|&c| (c, Kind::Value)));
    Spec {
        header,
        columns,
        key: keys.to_vec(),
    }
}

/// Each row's key fields, borrowed from the frame.
fn keys<'f>(frame: &'f csvread::Frame, key_columns: &[usize]) -> Vec<Vec<&'f str>> {
    let columns: Vec<Vec<&str>> = key_columns.iter().map(|&c| frame.text(c)).collect();
    (0..frame.rows())
        .map(|r| columns.iter().map(|c| c[r]).collect())
        .collect()
}

/// Key → first row; a repeated key is reported with its exact lines, or skipped and counted.
fn index_unique<'k>(
    spec: &Spec,
    ids: &'k [Vec<&'k str>],
    duplicates: Duplicates,
    skipped: &mut usize,
) -> Result<HashMap<&'k [&'k str], usize>, TraceError> {
    let mut index: HashMap<&[&str], usize> = HashMap::with_capacity(ids.len());
    for (row, id) in ids.iter().enumerate() {
        if let Some(&first) = index.get(id.as_slice()) {
            if duplicates == Duplicates::KeepFirst {
                *skipped += 1;
                continue;
            }
            // The row-by-row pass names the lines exactly; rows map to lines 1:1 only without
            // quoted line breaks, so its answer is preferred.
            return Err(csvread::locate(spec)?.unwrap_or(TraceError::Duplicate {
                path: spec.header.path.clone(),
                line: row as u64 + 2,
                first_line: first as u64 + 2,
                key: id.join("/"),
            }));
        }
        index.insert(id.as_slice(), row);
    }
    Ok(index)
}

fn strict_check(
    options: &ReadOptions,
    files: &TraceFiles,
    row: usize,
    id: &[&str],
    missing_from: &Path,
) -> Result<(), TraceError> {
    if !options.strict {
        return Ok(());
    }
    Err(TraceError::MissingFunction {
        path: files.invocations.clone(),
        line: row as u64 + 2,
        key: function_id(id).to_string(),
        missing_from: missing_from.to_owned(),
    })
}

fn function_id(id: &[&str]) -> FunctionId {
    FunctionId {
        owner: id[0].to_owned(),
        app: id[1].to_owned(),
        function: id[2].to_owned(),
    }
}

fn percentiles(at: &[u8], columns: &[Vec<f64>], row: usize) -> Percentiles {
    Percentiles::new(
        at.iter()
            .zip(columns)
            .map(|(&p, c)| (f64::from(p), c[row]))
            .collect(),
    )
}
