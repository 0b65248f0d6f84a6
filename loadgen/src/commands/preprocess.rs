//! `loadgen preprocess`: a clean excerpt of the raw Azure day files, in the sampled layout.

use std::time::Instant;

use anyhow::{Context, Result};

use crate::cli::PreprocessArgs;
use trace::preprocess::PreprocessReport;

/// Preprocesses and prints what was kept and dropped, and why.
pub fn preprocess(args: &PreprocessArgs) -> Result<PreprocessReport> {
    let started = Instant::now();
    let (trace, kept, report) =
        trace::preprocess::preprocess(&args.trace, args.start, args.duration)
            .with_context(|| format!("preprocessing {}", args.trace.display()))?;
    let read = started.elapsed();
    trace::write_trace(&args.output, &trace, Some(&kept))
        .with_context(|| format!("writing the clean trace to {}", args.output.display()))?;
    print!(
        "{}",
        crate::report::preprocess_summary(
            args,
            &report,
            read.as_secs_f64(),
            started.elapsed().as_secs_f64()
        )
    );
    Ok(report)
}
