//! `loadgen sample`: representative, nested samples of a trace's functions, and samples.csv.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Context, Result};
use trace::ReadOptions;

use crate::cli::SampleArgs;

/// `loadgen sample`: the sweep, one trace directory per size and samples.csv.
pub fn sample(args: &SampleArgs) -> Result<Vec<trace::sample::SizeResult>> {
    use trace::sample::{sweep, Reference, SampleOptions};
    let started = Instant::now();
    let source = trace::read(&args.trace, &ReadOptions::default())
        .with_context(|| format!("reading the source trace {}", args.trace.display()))?;
    let reference = match &args.original {
        Some(dir) => {
            let options = ReadOptions {
                duplicates: trace::Duplicates::KeepFirst,
                ..ReadOptions::default()
            };
            let original = trace::read(dir, &options)
                .with_context(|| format!("reading the original trace {}", dir.display()))?;
            Reference::of(&original)
        }
        None => Reference::of(&source),
    };
    let options = SampleOptions {
        min: args.min,
        step: args.step,
        max: args.max,
        trials: args.trials,
        seed: args.seed,
    };
    let sizes = options
        .sizes(source.functions.len())
        .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let progress = crate::progress::progress_bar(sizes.len() as u64, "size");
    let mut written: Result<()> = Ok(());
    let results = sweep(&source, &reference, &options, |r| {
        progress.inc(1);
        if written.is_ok() {
            let dir = args.output.join(format!("sample-{}", r.size));
            written = trace::write_trace(&dir, &source, Some(&r.chosen))
                .map(|_| ())
                .with_context(|| format!("writing {}", dir.display()));
        }
    })
    .map_err(anyhow::Error::msg)?;
    progress.finish_and_clear();
    written?;
    let csv_path = args.output.join("samples.csv");
    let mut csv = String::from("size,best_trial,best_distance");
    for t in 0..args.trials {
        let _ = write!(csv, ",trial_{t}");
    }
    csv.push('\n');
    for r in &results {
        let _ = write!(csv, "{},{},{}", r.size, r.best_trial, r.best_distance());
        for d in &r.distances {
            let _ = write!(csv, ",{d}");
        }
        csv.push('\n');
    }
    formats::output::write_atomic(&csv_path, csv.as_bytes())
        .with_context(|| format!("writing {}", csv_path.display()))?;
    print!(
        "{}",
        crate::report::sample_summary(
            args,
            (source.functions.len(), source.periods),
            &results,
            &csv_path,
            started.elapsed().as_secs_f64()
        )
    );
    Ok(results)
}
