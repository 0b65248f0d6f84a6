//! What the timeline did, as the run's `collect/interference.csv` and `collect/faults.csv`: one row per
//! entry, times in seconds from the replay's time 0.

use std::fmt::Write as _;

use crate::timeline::Log;

/// The header of `interference.csv`.
pub const INTERFERENCE_HEADER: &str =
    "entry,kind,where,start_s,stop_s,started_s,ended_s,pids,report,value,error,spec";
/// The header of `faults.csv`.
pub const FAULTS_HEADER: &str = "entry,action,at_s,done_s,touched,error,spec";

/// A CSV field, quoted when it must be.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn seconds(s: Option<f64>) -> String {
    s.filter(|s| s.is_finite())
        .map_or_else(String::new, |s| format!("{s:.3}"))
}

/// `interference.csv`'s text.
pub fn interference_csv(log: &Log) -> String {
    let mut out = format!("{INTERFERENCE_HEADER}\n");
    for r in &log.interference {
        let pids: Vec<String> = r.pids.iter().map(u32::to_string).collect();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            r.entry,
            r.kind,
            field(&r.place),
            seconds(Some(r.window.0)),
            seconds(Some(r.window.1)),
            seconds(r.ran.map(|(s, _)| s)),
            seconds(r.ran.map(|(_, e)| e)),
            pids.join(" "),
            field(&r.report.name),
            r.report
                .value
                .map_or_else(String::new, |v| format!("{v:.1}")),
            field(&r.error),
            field(&r.spec)
        );
    }
    out
}

/// `faults.csv`'s text.
pub fn faults_csv(log: &Log) -> String {
    let mut out = format!("{FAULTS_HEADER}\n");
    for r in &log.faults {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            r.entry,
            r.action,
            seconds(Some(r.at_s)),
            seconds(r.done_s),
            field(&r.touched),
            field(&r.error),
            field(&r.spec)
        );
    }
    out
}
