//! `loadgen synth`: a synthetic trace with the Azure dataset's shape.

use anyhow::{Context, Result};
use trace::{Granularity, Layout};

use crate::cli::{LayoutArg, SynthArgs};
use crate::synth::{synthesize, SynthOptions};

/// Writes the trace and says what it holds.
pub fn synth(args: &SynthArgs) -> Result<()> {
    let granularity = Granularity::from_minute_flag(args.minute);
    let stats = synthesize(
        &args.output,
        &SynthOptions {
            functions: args.functions,
            periods: args.periods,
            granularity,
            seed: args.seed,
            layout: match args.layout {
                LayoutArg::Sampled => Layout::Sampled,
                LayoutArg::Raw => Layout::Raw { day: args.day },
            },
        },
    )
    .with_context(|| format!("writing a synthetic trace to {}", args.output.display()))?;
    println!(
        "synth      {} functions in {} apps, {} {}s, {} invocations -> {}, {}, {}",
        stats.functions,
        stats.apps,
        args.periods,
        granularity.unit(),
        stats.invocations,
        stats.files.invocations.display(),
        stats.files.durations.display(),
        stats.files.memory.display()
    );
    Ok(())
}
