//! report.md's `## Interference and faults`: what ran and when (from the timeline's log), latency p50
//! and p99 from each call's due time, errors and the achieved rate before, during and after each window
//! and fault, and each fault's recovery time.

use std::fmt::Write as _;

use disturbance::windows::RECOVERY_RUN;
use disturbance::Log;

use crate::disturb::Around;

fn ms(us: Option<u64>) -> String {
    us.map_or_else(|| "–".to_owned(), |us| format!("{:.2}", us as f64 / 1000.0))
}

/// The section, when the run had interference or faults.
pub(crate) fn section(out: &mut String, disturbed: Option<&(Log, Around)>) {
    let Some((log, around)) = disturbed else {
        return;
    };
    let _ = writeln!(out, "\n## Interference and faults\n");
    for i in &log.interference {
        let ran = match i.ran {
            Some((s, e)) => format!("ran {s:.2}–{e:.2} s"),
            None => "did not run".to_owned(),
        };
        let report = match i.report.value {
            Some(v) => format!(", {} {v:.1}", i.report.name),
            None => String::new(),
        };
        let error = if i.error.is_empty() {
            String::new()
        } else {
            format!(" ({})", i.error)
        };
        let _ = writeln!(
            out,
            "- Interference `{}` ({}): {ran}{report}{error}.",
            i.spec, i.place
        );
    }
    for f in &log.faults {
        let done = match f.done_s {
            Some(s) => format!("done at {s:.2} s: {}", f.touched),
            None => "not reached (the run ended first)".to_owned(),
        };
        let error = if f.error.is_empty() {
            String::new()
        } else {
            format!("; failed: {}", f.error)
        };
        let _ = writeln!(out, "- Fault `{}`: {done}{error}.", f.spec);
    }
    let _ = writeln!(
        out,
        "\nLatency from each call's due time, ms; errors are calls that did not succeed; rate is calls sent per second.\n"
    );
    let _ = writeln!(
        out,
        "| window or fault | phase | seconds | calls | p50 | p99 | errors | rate/s |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|");
    for phase in &around.phases {
        let p = &phase.figures;
        let _ = writeln!(
            out,
            "| `{}` | {} | {:.0}–{:.0} | {} | {} | {} | {} ({:.1} %) | {} |",
            phase.spec,
            phase.phase,
            p.seconds.0,
            p.seconds.1,
            p.calls,
            ms(p.p50_us),
            ms(p.p99_us),
            p.errors,
            100.0 * p.error_rate(),
            p.rate.map_or_else(|| "–".to_owned(), |r| format!("{r:.1}"))
        );
    }
    for (entry, recovery) in &around.recovery_s {
        let fault = around
            .phases
            .iter()
            .find(|p| &p.entry == entry)
            .map_or(entry.as_str(), |p| p.spec.as_str());
        let _ = match recovery {
            Some(s) => writeln!(out, "\nRecovery from `{fault}`: {s:.0} s (then {RECOVERY_RUN} s in a row with p99 within 10 % or 1 ms of before, errors within 1 pp)."),
            None => writeln!(out, "\nRecovery from `{fault}`: not recovered (never {RECOVERY_RUN} s in a row with p99 within 10 % or 1 ms of before and errors within 1 pp before the run ended)."),
        };
    }
}
