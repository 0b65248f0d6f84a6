//! `loadgen synth`: a synthetic trace with the Azure dataset's shape.

use anyhow::{Context, Result};
use trace::{Granularity, Layout};

use crate::cli::{LayoutArg, SynthArgs};
use trace::synth::{synthesize, synthesize_azure2021, SynthOptions};

/// Writes the trace and says what it holds.
pub fn synth(args: &SynthArgs) -> Result<()> {
    let granularity = Granularity::from_minute_flag(args.minute);
    let options = SynthOptions {
        functions: args.functions,
        periods: args.periods,
        granularity,
        seed: args.seed,
        layout: match args.layout {
            LayoutArg::Raw => Layout::Raw { day: args.day },
            LayoutArg::Sampled | LayoutArg::Azure2021 => Layout::Sampled,
        },
    };
    let context = || format!("writing a synthetic trace to {}", args.output.display());
    if args.layout == LayoutArg::Azure2021 {
        let stats = synthesize_azure2021(&args.output, &options).with_context(context)?;
        println!(
            "synth      {} functions in {} apps, {} {}s, {} invocations -> {}",
            stats.functions,
            stats.apps,
            args.periods,
            granularity.unit(),
            stats.invocations,
            stats.files.invocations.display()
        );
        return Ok(());
    }
    let stats = synthesize(&args.output, &options).with_context(context)?;
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
