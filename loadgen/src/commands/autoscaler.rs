//! `loadgen autoscaler`: Knative's autoscaler decider alone on one revision's observed metric, a row per
//! tick, so the model can be checked against scenarios worked out by hand.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::AutoscalerArgs;
use crate::pipeline::create_parent;

/// The header of the ticks' CSV.
pub const TICKS_HEADER: &str =
    "time_s,stable,panic,ready,desired,pods,panic_mode,excess_burst_capacity";

/// Reads the observed metric, runs the decider and writes its ticks.
pub fn autoscaler(args: &AutoscalerArgs) -> Result<()> {
    let settings = args
        .knative
        .settings()
        .context("the autoscaler's settings (--knative-*)")?;
    let observed = read_observed(&args.observed)?;
    let ticks = autoscaler::replay(&observed, &settings, args.ready_delay);
    let mut text = String::with_capacity(64 * (ticks.len() + 1));
    text.push_str(TICKS_HEADER);
    text.push('\n');
    for t in &ticks {
        let d = &t.decision;
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            t.time_s,
            d.stable,
            d.panic,
            t.ready,
            d.desired,
            t.pods,
            u8::from(d.panic_mode),
            d.excess_burst_capacity
        ));
    }
    match &args.output {
        Some(path) => {
            create_parent(path)?;
            formats::output::write_atomic(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "autoscaler {} ticks of {} s over {} s -> {}",
                ticks.len(),
                settings.tick_s,
                observed.len(),
                path.display()
            );
        }
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .context("writing the ticks to standard output")?,
    }
    Ok(())
}

/// The values of a `second,value` CSV, one per second from 0, each finite and not negative; anything
/// else is refused naming the file, the line and the field.
pub fn read_observed(path: &Path) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the observed metric {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let at = |line: usize| format!("{}, line {}", path.display(), line + 1);
    match lines.next() {
        Some((_, header)) if header.trim() == "second,value" => {}
        Some((n, header)) => bail!(
            "{}: the header is `{}`, expected `second,value`",
            at(n),
            header.trim()
        ),
        None => bail!(
            "{}: empty, expected the header `second,value`",
            path.display()
        ),
    }
    let mut values = Vec::new();
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [second, value] = fields.as_slice() else {
            bail!(
                "{}: {} fields, expected 2 (second,value)",
                at(n),
                fields.len()
            );
        };
        let second: u64 = second.parse().map_err(|_| {
            anyhow::anyhow!(
                "{}: field `second`: `{second}` is not a whole number",
                at(n)
            )
        })?;
        if second != values.len() as u64 {
            bail!(
                "{}: field `second`: {second}, expected {} (one row per second from 0)",
                at(n),
                values.len()
            );
        }
        let value: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                anyhow::anyhow!("{}: field `value`: `{value}` is not a number ≥ 0", at(n))
            })?;
        values.push(value);
    }
    if values.is_empty() {
        bail!("{}: no rows after the header", path.display());
    }
    Ok(values)
}
