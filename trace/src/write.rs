//! Writing a trace directory in either layout, row by row, so traces of any size stream to disk.

use std::io::Write;
use std::path::Path;

use formats::output::AtomicFile;

use crate::error::TraceError;
use crate::layout::{Layout, TraceFiles};
use crate::model::{
    duration_column, memory_column, FunctionId, Percentiles, Trace, DURATION_PERCENTILES,
    MEMORY_PERCENTILES,
};

/// One row of `durations.csv` (milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct DurationRow {
    /// `Average`.
    pub average: f64,
    /// `Count`: invocations the figures were computed from.
    pub count: u64,
    /// `Minimum`.
    pub minimum: f64,
    /// `Maximum`.
    pub maximum: f64,
    /// Values at [`DURATION_PERCENTILES`].
    pub percentiles: [f64; DURATION_PERCENTILES.len()],
}

/// One row of `memory.csv` (MB).
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryRow {
    /// `SampleCount`.
    pub sample_count: u64,
    /// `AverageAllocatedMb`.
    pub average: f64,
    /// Values at [`MEMORY_PERCENTILES`].
    pub percentiles: [f64; MEMORY_PERCENTILES.len()],
}

/// Streams the three files of a trace directory.
pub struct TraceWriter {
    files: TraceFiles,
    per_app_memory: bool,
    invocations: AtomicFile,
    durations: AtomicFile,
    memory: AtomicFile,
    line: Vec<u8>,
}

impl TraceWriter {
    /// Creates `dir` if needed and writes the three headers. Period columns are labelled
    /// `first_label..first_label+periods`; memory is per app (no `HashFunction`) when `per_app_memory`.
    pub fn create(
        dir: &Path,
        layout: Layout,
        first_label: u32,
        periods: usize,
        per_app_memory: bool,
    ) -> Result<TraceWriter, TraceError> {
        std::fs::create_dir_all(dir).map_err(|e| TraceError::io(dir, e))?;
        let files = TraceFiles::in_dir(dir, layout);
        // Each file is written beside its final name and renamed in `finish`; dropped before that (an
        // error), they are removed and any earlier trace in the directory stays as it was.
        let open = |p: &Path| AtomicFile::create(p).map_err(|e| TraceError::io(p, e));
        let mut writer = TraceWriter {
            invocations: open(&files.invocations)?,
            durations: open(&files.durations)?,
            memory: open(&files.memory)?,
            files,
            per_app_memory,
            line: Vec::new(),
        };
        let mut inv = String::from("HashOwner,HashApp,HashFunction,Trigger");
        for label in first_label..first_label + periods as u32 {
            inv.push_str(&format!(",{label}"));
        }
        let mut dur = String::from("HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum");
        for p in DURATION_PERCENTILES {
            dur.push_str(&format!(",{}", duration_column(p)));
        }
        let mut mem = String::from(if per_app_memory {
            "HashOwner,HashApp"
        } else {
            "HashFunction,HashOwner,HashApp"
        });
        mem.push_str(",SampleCount,AverageAllocatedMb");
        for p in MEMORY_PERCENTILES {
            mem.push_str(&format!(",{}", memory_column(p)));
        }
        let files = writer.files.clone();
        writeln!(writer.invocations, "{inv}").map_err(|e| TraceError::io(&files.invocations, e))?;
        writeln!(writer.durations, "{dur}").map_err(|e| TraceError::io(&files.durations, e))?;
        writeln!(writer.memory, "{mem}").map_err(|e| TraceError::io(&files.memory, e))?;
        Ok(writer)
    }

    /// Appends a function's invocation counts.
    pub fn invocations(
        &mut self,
        id: &FunctionId,
        trigger: &str,
        counts: &[u32],
    ) -> Result<(), TraceError> {
        self.line.clear();
        write_key(&mut self.line, &[&id.owner, &id.app, &id.function, trigger]);
        let mut buf = itoa::Buffer::new();
        for &c in counts {
            self.line.push(b',');
            self.line.extend_from_slice(buf.format(c).as_bytes());
        }
        self.line.push(b'\n');
        self.invocations
            .write_all(&self.line)
            .map_err(|e| TraceError::io(&self.files.invocations, e))
    }

    /// Appends a function's durations row.
    pub fn durations(&mut self, id: &FunctionId, row: &DurationRow) -> Result<(), TraceError> {
        self.line.clear();
        write_key(&mut self.line, &[&id.owner, &id.app, &id.function]);
        let head = format!(
            ",{},{},{},{}",
            row.average, row.count, row.minimum, row.maximum
        );
        self.line.extend_from_slice(head.as_bytes());
        push_values(&mut self.line, &row.percentiles);
        self.durations
            .write_all(&self.line)
            .map_err(|e| TraceError::io(&self.files.durations, e))
    }

    /// Appends a memory row: per function (`function` given) or per app, as the file was created.
    pub fn memory(
        &mut self,
        owner: &str,
        app: &str,
        function: Option<&str>,
        row: &MemoryRow,
    ) -> Result<(), TraceError> {
        self.line.clear();
        match (self.per_app_memory, function) {
            (true, _) => write_key(&mut self.line, &[owner, app]),
            (false, Some(f)) => write_key(&mut self.line, &[f, owner, app]),
            (false, None) => panic!("a per-function memory file needs the function hash"),
        }
        let head = format!(",{},{}", row.sample_count, row.average);
        self.line.extend_from_slice(head.as_bytes());
        push_values(&mut self.line, &row.percentiles);
        self.memory
            .write_all(&self.line)
            .map_err(|e| TraceError::io(&self.files.memory, e))
    }

    /// Completes the three files, puts them in place, and says where they are.
    pub fn finish(self) -> Result<TraceFiles, TraceError> {
        let files = self.files;
        for (file, path) in [
            (self.invocations, &files.invocations),
            (self.durations, &files.durations),
            (self.memory, &files.memory),
        ] {
            file.commit().map_err(|e| TraceError::io(path, e))?;
        }
        Ok(files)
    }
}

/// Writes the functions `rows` of `trace` (all of them when `None`), in that order, as a sampled-layout
/// directory (invocations.csv, durations.csv, memory.csv per function), period columns labelled
/// `1..=periods`. The figures the model does not keep are derived: `Count` and `SampleCount` are the
/// function's invocations in the window, `Minimum`/`Maximum` its 0th and 100th duration percentiles.
pub fn write_trace(
    dir: &Path,
    trace: &Trace,
    rows: Option<&[usize]>,
) -> Result<TraceFiles, TraceError> {
    let mut w = TraceWriter::create(dir, Layout::Sampled, 1, trace.periods, false)?;
    let all: Vec<usize>;
    let rows = match rows {
        Some(r) => r,
        None => {
            all = (0..trace.functions.len()).collect();
            &all
        }
    };
    for &f in rows {
        let function = &trace.functions[f];
        let id = &function.id;
        let total = trace.total(f);
        w.invocations(id, &function.trigger, trace.counts(f))?;
        let pick = |p: &Percentiles, at: u8| {
            p.at(f64::from(at))
                .or_else(|| p.quantile(f64::from(at) / 100.0))
                .unwrap_or(0.0)
        };
        let d = &function.duration_ms;
        w.durations(
            id,
            &DurationRow {
                average: function.duration_avg_ms,
                count: total,
                minimum: pick(d, 0),
                maximum: pick(d, 100),
                percentiles: DURATION_PERCENTILES.map(|p| pick(d, p)),
            },
        )?;
        w.memory(
            &id.owner,
            &id.app,
            Some(&id.function),
            &MemoryRow {
                sample_count: total,
                average: function.memory_avg_mb,
                percentiles: MEMORY_PERCENTILES.map(|p| pick(&function.memory_mb, p)),
            },
        )?;
    }
    w.finish()
}

fn write_key(line: &mut Vec<u8>, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        line.extend_from_slice(f.as_bytes());
    }
}

fn push_values(line: &mut Vec<u8>, values: &[f64]) {
    for v in values {
        line.extend_from_slice(format!(",{v}").as_bytes());
    }
    line.push(b'\n');
}
