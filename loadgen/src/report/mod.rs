//! Every human-readable output of `loadgen`, in one place: the terminal summaries of each command and
//! (in [`run`]) the `report.md` of a run. The commands compute; this module words it.

mod disturbed;
pub mod experiment;
pub mod live;
pub mod predicted;
pub mod run;
pub mod workers;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use indicatif::HumanBytes;
use plots::Drawn;
use trace::MemoryLevel;

use crate::pipeline::Generated;
use trace::preprocess::PreprocessReport;
use trace::sample::SizeResult;

impl std::fmt::Display for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.read;
        let (first, periods) = self.window;
        let mapped = self.mapping.functions;
        let memory = match r.memory_level {
            MemoryLevel::Function => "per function".to_owned(),
            MemoryLevel::App(mode) => format!("per app, {mode:?}").to_lowercase(),
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "trace      {}: {}s {}..={} ({} warm-up + {}), memory {}",
            self.source,
            self.unit,
            first,
            first as usize + periods - 1,
            self.warmup,
            periods - self.warmup,
            memory
        );
        let idle_note = if self.keep_idle {
            format!("{} idle in the window, kept", self.idle)
        } else {
            format!("{} idle in the window", self.idle)
        };
        let left_out =
            r.missing_durations() + r.missing_memory() + if self.keep_idle { 0 } else { self.idle };
        let _ = writeln!(
            s,
            "functions  {} read, {} mapped, {} left out ({} without durations, {} without memory, {})",
            r.functions_read, mapped, left_out, r.missing_durations(), r.missing_memory(), idle_note
        );
        let m = &self.mapping;
        let _ = writeln!(
            s,
            "mapping    {}: {} distinct proxies used -> {}",
            self.mapping_note,
            m.distinct_proxies,
            self.mapping_path.display()
        );
        let _ = writeln!(
            s,
            "           relative error   memory mean {:.3} p95 {:.3} max {:.3}   duration mean {:.3} p95 {:.3} max {:.3}",
            m.memory.mean, m.memory.p95, m.memory.max, m.duration.mean, m.duration.p95, m.duration.max
        );
        if let Some(note) = &self.deployment_note {
            let _ = writeln!(s, "deployment {note}");
        }
        let st = &self.stats;
        let total = st.total();
        let (min, max) = (
            st.per_period.iter().min().copied().unwrap_or(0),
            st.per_period.iter().max().copied().unwrap_or(0),
        );
        let mean = total as f64 / st.per_period.len().max(1) as f64;
        let _ = writeln!(
            s,
            "load       {} invocations over {} {}s: per {} min {} mean {:.1} max {}",
            total,
            st.per_period.len(),
            self.unit,
            self.unit,
            min,
            mean,
            max
        );
        let files: Vec<String> = st
            .whole
            .iter()
            .map(|p| format!("{} ({total}, whole)", p.display()))
            .chain(
                st.files
                    .iter()
                    .zip(&st.per_file)
                    .map(|(p, n)| format!("{} ({n})", p.display())),
            )
            .collect();
        let _ = writeln!(
            s,
            "output     {}, {} in all",
            files.join(", "),
            HumanBytes(st.bytes)
        );
        let rate = total as f64 / st.elapsed.as_secs_f64().max(1e-9);
        let _ = writeln!(
            s,
            "time       read {:.3} s, map {:.3} s, generate {:.3} s ({:.2} M invocations/s)",
            self.ingest.as_secs_f64(),
            self.map.as_secs_f64(),
            st.elapsed.as_secs_f64(),
            rate / 1e6
        );
        let _ = writeln!(
            s,
            "seed       {} (--seed {} reproduces this load)",
            self.seed, self.seed
        );
        f.write_str(&s)
    }
}

/// `loadgen preprocess`'s summary: what was kept and dropped, and why.
pub fn preprocess_summary(
    args: &crate::cli::PreprocessArgs,
    report: &PreprocessReport,
    read_seconds: f64,
    total_seconds: f64,
) -> String {
    let days: Vec<String> = report.days.iter().map(|d| format!("d{d:02}")).collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "excerpt    {} minutes from day {} {:02}:{:02} ({})",
        args.duration,
        args.start.day,
        args.start.minute / 60,
        args.start.minute % 60,
        days.join(", ")
    );
    let _ = writeln!(
        s,
        "functions  {} read; dropped: {} duplicate rows, {} without durations, {} without memory, {} never invoked in the excerpt, {} with zero duration",
        report.functions_read,
        report.duplicate_rows,
        report.missing_durations,
        report.missing_memory,
        report.idle,
        report.zero_duration
    );
    let _ = writeln!(
        s,
        "kept       {} functions, {} invocations -> {} ({read_seconds:.2} s read, {total_seconds:.2} s in all)",
        report.kept,
        report.invocations,
        args.output.display(),
    );
    s
}

/// `loadgen sample`'s summary: the winner of each size.
pub fn sample_summary(
    args: &crate::cli::SampleArgs,
    source: (usize, usize),
    results: &[SizeResult],
    csv_path: &Path,
    seconds: f64,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "source     {} functions x {} minutes ({}){}",
        source.0,
        source.1,
        args.trace.display(),
        args.original
            .as_ref()
            .map(|o| format!(", judged against {}", o.display()))
            .unwrap_or_default()
    );
    for r in results {
        let _ = writeln!(
            s,
            "sample     {:>6} functions: distance {:.4} (trial {} of {})",
            r.size,
            r.best_distance(),
            r.best_trial,
            args.trials
        );
    }
    let trials = results.len() * args.trials;
    let _ = writeln!(
        s,
        "output     {} sample traces and {} in {}; {} trials in {:.2} s ({:.1} trials/s)",
        results.len(),
        csv_path.display(),
        args.output.display(),
        trials,
        seconds,
        trials as f64 / seconds.max(1e-9)
    );
    s
}

/// The figures drawn into `dir` and those skipped, with why.
pub fn figures_summary(dir: &Path, drawn: &Drawn) -> String {
    let names: Vec<&str> = drawn.figures.iter().map(|f| f.name.as_str()).collect();
    let mut s = format!(
        "figures    {} in {} (PNG and SVG): {}\n",
        drawn.figures.len(),
        dir.display(),
        names.join(", ")
    );
    for (name, why) in &drawn.skipped {
        let _ = writeln!(s, "skipped    {name}: {why}");
    }
    s
}

/// Markdown showing `drawn`'s figures (paths relative to `base`), and the skipped ones with why.
pub fn figures_markdown(base: &Path, drawn: &Drawn) -> String {
    let mut out = String::new();
    for f in &drawn.figures {
        let rel: PathBuf = f.png.strip_prefix(base).unwrap_or(&f.png).to_owned();
        let svg: PathBuf = f.svg.strip_prefix(base).unwrap_or(&f.svg).to_owned();
        let title = match &f.data {
            plots::FigureData::Histogram(h) => h.title.clone(),
            plots::FigureData::Xy(p) => p.title.clone(),
            plots::FigureData::Timeline(t) => t.title.clone(),
        };
        let _ = write!(
            out,
            "### {title}\n\n![{title}]({}) ([SVG]({}))\n\n",
            rel.display(),
            svg.display()
        );
    }
    for (name, why) in &drawn.skipped {
        let _ = writeln!(out, "- `{name}` not drawn: {why}");
    }
    out
}
