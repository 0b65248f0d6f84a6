//! Reading one trace CSV: a fast columnar path (polars) and, only when it finds something wrong, a row-by-row
//! pass (csv crate) that names the exact line and column. The row-by-row pass is the one statement of what a
//! valid row is; the fast path only has to notice that some row is not.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;

use crate::error::TraceError;

/// What a column must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Non-empty text (hashes, trigger).
    Text,
    /// Invocation count: a whole number in 0..=u32::MAX.
    Count,
    /// A measurement: a finite number ≥ 0.
    Value,
}

/// The header of a CSV file.
#[derive(Debug)]
pub(crate) struct Header {
    pub path: PathBuf,
    pub names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Header {
    /// Reads the first record; rejects an empty file and duplicate names.
    pub fn read(path: &Path) -> Result<Header, TraceError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(path)
            .map_err(|e| csv_error(path, e))?;
        let mut record = csv::StringRecord::new();
        let found = reader
            .read_record(&mut record)
            .map_err(|e| csv_error(path, e))?;
        if !found {
            return Err(TraceError::Csv {
                path: path.to_owned(),
                message: "line 1: no header (the file is empty)".into(),
            });
        }
        let names: Vec<String> = record.iter().map(|s| s.trim().to_owned()).collect();
        let mut index = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            if index.insert(name.clone(), i).is_some() {
                return Err(TraceError::BadHeader {
                    path: path.to_owned(),
                    column: i + 1,
                    name: name.clone(),
                    reason: "column name appears twice".into(),
                });
            }
        }
        Ok(Header {
            path: path.to_owned(),
            names,
            index,
        })
    }

    /// 0-based position of a column, if present.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// 0-based position of a required column.
    pub fn require(&self, name: &str) -> Result<usize, TraceError> {
        self.find(name).ok_or_else(|| TraceError::MissingColumn {
            path: self.path.clone(),
            column: name.to_owned(),
        })
    }
}

/// Which columns to read from a file, what they must hold, and which form a row's unique key.
pub(crate) struct Spec<'a> {
    pub header: &'a Header,
    pub columns: Vec<(usize, Kind)>,
    pub key: Vec<usize>,
}

/// The columns read, in memory, addressed by their position in the file.
pub(crate) struct Frame {
    df: DataFrame,
    names: HashMap<usize, PlSmallStr>,
}

impl Frame {
    /// Number of data rows.
    pub fn rows(&self) -> usize {
        self.df.height()
    }

    fn column(&self, index: usize) -> &Column {
        self.df
            .column(&self.names[&index])
            .expect("projected column is in the frame")
    }

    /// The frame without its rows of nothing but nulls (blank lines).
    fn without_blank_rows(self) -> PolarsResult<Frame> {
        let mut keep: Option<BooleanChunked> = None;
        for column in self.df.columns() {
            let present = column.is_not_null();
            keep = Some(match keep {
                None => present,
                Some(k) => &k | &present,
            });
        }
        let df = match keep {
            Some(k) => self.df.filter(&k)?,
            None => self.df,
        };
        Ok(Frame {
            df,
            names: self.names,
        })
    }

    /// A text column (no nulls: checked on read).
    pub fn text(&self, index: usize) -> Vec<&str> {
        let column = self.column(index).str().expect("text column");
        column.iter().map(|v| v.unwrap_or("")).collect()
    }

    /// A count column (no nulls, in range: checked on read).
    pub fn counts(&self, index: usize) -> Vec<u32> {
        let column = self.column(index).u32().expect("count column");
        column.iter().map(|v| v.unwrap_or(0)).collect()
    }

    /// A value column (no nulls, finite, ≥ 0: checked on read).
    pub fn values(&self, index: usize) -> Vec<f64> {
        let column = self.column(index).f64().expect("value column");
        column.iter().map(|v| v.unwrap_or(0.0)).collect()
    }
}

/// Reads the spec's columns with polars; any doubt about a row sends the file through [`locate`].
pub(crate) fn read(spec: &Spec) -> Result<Frame, TraceError> {
    let header = spec.header;
    let path = &header.path;
    let last = header.names.len() - 1;
    let mut kinds: HashMap<usize, Kind> = spec.columns.iter().copied().collect();
    // The last column is read too (as text unless the spec says otherwise): a short row leaves it null,
    // which is how the fast path notices ragged rows without reading every column.
    kinds.entry(last).or_insert(Kind::Text);

    let schema: Schema = header
        .names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let dtype = match kinds.get(&i) {
                // Parsed straight to u32: a full day's counts take half the memory of i64, and a negative or
                // too large count fails the fast path, whose row-by-row pass then names it.
                Some(Kind::Count) => DataType::UInt32,
                Some(Kind::Value) => DataType::Float64,
                _ => DataType::String,
            };
            Field::new(name.as_str().into(), dtype)
        })
        .collect();
    let mut projection: Vec<usize> = kinds.keys().copied().collect();
    projection.sort_unstable();

    // Quotes are where the fast path is fragile (a field that is a lone `"` panics inside polars 0.55):
    // a file with any is checked row by row first, and only a valid one reaches polars.
    if has_quote(path)? {
        if let Some(error) = locate(spec)? {
            return Err(error);
        }
    }
    let read = || {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_schema(Some(Arc::new(schema)))
            .with_projection(Some(Arc::new(projection.clone())))
            .map_parse_options(|o| {
                o.with_truncate_ragged_lines(false)
                    .with_missing_is_null(true)
            })
            .try_into_reader_with_file_path(Some(path.clone()))
            .and_then(|reader| reader.finish())
    };
    // Should the reader still panic on some input, that is a failed fast path, not a crash.
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| {
            Err(PolarsError::ComputeError(
                "the CSV reader failed on this file".into(),
            ))
        });
    let df = match result {
        Ok(df) => df,
        Err(e) => return Err(locate(spec)?.unwrap_or(polars_error(path, e))),
    };
    let names = projection
        .iter()
        .map(|&i| (i, PlSmallStr::from(header.names[i].as_str())))
        .collect();
    let mut frame = Frame { df, names };

    if !looks_valid(&frame, &kinds) {
        if let Some(error) = locate(spec)? {
            return Err(error);
        }
        // The row-by-row pass found every row valid: the nulls are blank lines, which it skips (an
        // editor often leaves some at the end). Drop them here too.
        frame = frame
            .without_blank_rows()
            .map_err(|e| polars_error(path, e))?;
    }
    Ok(frame)
}

/// Whether the file holds a `"` anywhere (read in blocks: memory stays small however big the file).
fn has_quote(path: &Path) -> Result<bool, TraceError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| TraceError::io(path, e))?;
    let mut block = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut block).map_err(|e| TraceError::io(path, e))?;
        if n == 0 {
            return Ok(false);
        }
        if block[..n].contains(&b'"') {
            return Ok(true);
        }
    }
}

/// Cheap vectorised checks: nulls, range, finiteness. `false` means "run the row-by-row pass".
fn looks_valid(frame: &Frame, kinds: &HashMap<usize, Kind>) -> bool {
    kinds.iter().all(|(&index, &kind)| {
        let column = frame.column(index);
        if column.null_count() > 0 {
            return false;
        }
        match kind {
            Kind::Text => true,
            Kind::Count => true,
            Kind::Value => {
                let c = column.f64().expect("value column");
                c.iter().flatten().all(|v| v.is_finite() && v >= 0.0)
            }
        }
    })
}

/// Streams the file row by row and returns the first problem, with its line and column.
pub(crate) fn locate(spec: &Spec) -> Result<Option<TraceError>, TraceError> {
    let header = spec.header;
    let path = &header.path;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let mut seen: HashMap<Vec<String>, u64> = HashMap::new();
    let mut bytes = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut bytes) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return Ok(Some(csv_error(path, e))),
        }
        let line = bytes.position().map_or(0, |p| p.line());
        // Text is checked here, field by field, so the line and column are this record's (the csv
        // crate's own check can name another line).
        let record = match csv::StringRecord::from_byte_record(bytes.clone()) {
            Ok(record) => record,
            Err(e) => {
                let column = e.utf8_error().field();
                return Ok(Some(TraceError::Csv {
                    path: path.clone(),
                    message: format!(
                        "line {line}: column {} (`{}`): not UTF-8 text (invalid byte {} of the field)",
                        column + 1,
                        header.names.get(column).map_or("", String::as_str),
                        e.utf8_error().valid_up_to() + 1
                    ),
                }));
            }
        };
        // A blank line is no row (whether or not the reader already skipped it).
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        if record.len() != header.names.len() {
            return Ok(Some(TraceError::Ragged {
                path: path.clone(),
                line,
                expected: header.names.len(),
                found: record.len(),
            }));
        }
        // A quote inside a field (not a quoted field, which the reader unwraps) is malformed CSV that the
        // fast path cannot read: name it wherever it is, read column or not.
        if let Some((column, value)) = record.iter().enumerate().find(|(_, f)| f.contains('"')) {
            return Ok(Some(TraceError::BadValue {
                path: path.clone(),
                line,
                column: column + 1,
                name: header.names.get(column).cloned().unwrap_or_default(),
                value: value.to_owned(),
                reason: "a quote inside a field (quote the whole field, or remove it)",
            }));
        }
        for &(column, kind) in &spec.columns {
            let value = &record[column];
            if let Some(reason) = check(value, kind) {
                return Ok(Some(TraceError::BadValue {
                    path: path.clone(),
                    line,
                    column: column + 1,
                    name: header.names[column].clone(),
                    value: value.to_owned(),
                    reason,
                }));
            }
        }
        let key: Vec<String> = spec.key.iter().map(|&i| record[i].to_owned()).collect();
        if let Some(&first_line) = seen.get(&key) {
            return Ok(Some(TraceError::Duplicate {
                path: path.clone(),
                line,
                first_line,
                key: key.join("/"),
            }));
        }
        seen.insert(key, line);
    }
}

/// The one definition of a valid field: `None` if fine, else the reason.
pub(crate) fn check(value: &str, kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Text => value.is_empty().then_some("empty"),
        Kind::Count => match value.parse::<i64>() {
            Ok(v) if v < 0 => Some("negative count"),
            Ok(v) if v > i64::from(u32::MAX) => Some("count too large"),
            Ok(_) => None,
            Err(_) if value.parse::<f64>().is_ok() => Some("count is not a whole number"),
            Err(_) => Some("not a number"),
        },
        Kind::Value => match value.parse::<f64>() {
            Ok(v) if !v.is_finite() => Some("not a finite number"),
            Ok(v) if v < 0.0 => Some("negative value"),
            Ok(_) => None,
            Err(_) => Some("not a number"),
        },
    }
}

/// The csv crate's error in words, with its line (and, for bad text, the field and byte).
fn csv_error(path: &Path, e: csv::Error) -> TraceError {
    let at = |pos: Option<&csv::Position>| {
        pos.map_or_else(|| "line ?".to_owned(), |p| format!("line {}", p.line()))
    };
    let message = match e.kind() {
        csv::ErrorKind::Io(_) => match e.into_kind() {
            csv::ErrorKind::Io(source) => return TraceError::io(path, source),
            _ => unreachable!("matched as Io"),
        },
        csv::ErrorKind::Utf8 { pos, err } => format!(
            "{}: column {}: not UTF-8 text (invalid byte {} of the field)",
            at(pos.as_ref()),
            err.field() + 1,
            err.valid_up_to() + 1
        ),
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "{}: ragged row: {len} fields where the header has {expected_len}",
            at(pos.as_ref())
        ),
        csv::ErrorKind::Seek => "the file cannot be read from its start again".to_owned(),
        csv::ErrorKind::Serialize(m) => m.clone(),
        csv::ErrorKind::Deserialize { pos, err } => format!("{}: {err}", at(pos.as_ref())),
        _ => e.to_string(),
    };
    TraceError::Csv {
        path: path.to_owned(),
        message,
    }
}

fn polars_error(path: &Path, e: PolarsError) -> TraceError {
    match e {
        PolarsError::IO { error, .. } => {
            TraceError::io(path, std::io::Error::new(error.kind(), error.to_string()))
        }
        other => TraceError::Csv {
            path: path.to_owned(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_states_each_reason() {
        assert_eq!(check("12", Kind::Count), None);
        assert_eq!(check("-1", Kind::Count), Some("negative count"));
        assert_eq!(
            check("1.5", Kind::Count),
            Some("count is not a whole number")
        );
        assert_eq!(check("x", Kind::Count), Some("not a number"));
        assert_eq!(check("99999999999", Kind::Count), Some("count too large"));
        assert_eq!(check("1.5", Kind::Value), None);
        assert_eq!(check("-0.5", Kind::Value), Some("negative value"));
        assert_eq!(check("inf", Kind::Value), Some("not a finite number"));
        assert_eq!(check("", Kind::Text), Some("empty"));
    }
}
