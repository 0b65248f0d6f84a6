//! The workers' part of a run's report: one row per worker (calls, answered, send lag, start skew, clock
//! offset), and what went wrong with any of them, named.

use std::fmt::Write as _;

use formats::records::Outcome;
use formats::summary::Summary;

/// A clock offset above this is worth a warning: lag figures stay honest (each is taken on one clock),
/// but the workers' common start is only as good as their clocks.
pub const CLOCK_WARNING_US: f64 = 1000.0;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(
        || "–".to_owned(),
        // A value that rounds to zero is shown as 0, not -0.
        |v| {
            format!(
                "{:.digits$}",
                if v.abs() < 0.5 / 10f64.powi(digits as i32) {
                    0.0
                } else {
                    v
                }
            )
        },
    )
}

/// The "Workers" section of `report.md`, empty for a run of one invoker.
pub fn markdown(s: &Summary) -> String {
    if s.workers.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = writeln!(out, "\n## Workers\n");
    let _ = writeln!(
        out,
        "{} workers replayed the load, calls dealt round-robin in time order. Each worker's lag and latency \
         are measured on its own clock; start skew is its first send minus that call's due time; clock \
         offset is the coordinator's clock minus the worker's (NTP-style, before / after the run).\n",
        s.workers.len()
    );
    let _ = writeln!(
        out,
        "| worker | calls | answered % | send lag p50 | p99 | p99.9 (µs) | start skew (µs) | clock offset (µs) | state |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut warnings = Vec::new();
    for w in &s.workers {
        let Some(ws) = w.summary.as_deref().filter(|_| w.lost.is_none()) else {
            let why = w.lost.as_deref().unwrap_or("no summary");
            let _ = writeln!(
                out,
                "| {} | {} | – | – | – | – | – | – | **lost** |",
                w.index, w.calls
            );
            warnings.push(format!(
                "worker {} was lost: {why}. Its {} calls are recorded as `{}` (due before it was seen \
                 gone: they may have been sent) or `{}`.",
                w.index,
                w.calls,
                Outcome::WorkerLostUnknown.name(),
                Outcome::WorkerLost.name()
            ));
            continue;
        };
        let info = ws.worker.clone().unwrap_or_default();
        let answered = if ws.scheduled > 0 {
            100.0 * ws.ok as f64 / ws.scheduled as f64
        } else {
            100.0
        };
        let mut state = if ws.interrupted {
            "interrupted"
        } else {
            "done"
        }
        .to_owned();
        if let Some(late) = info.ready_late_us {
            state = format!("**started late**, {:.1} ms", late as f64 / 1e3);
            let late_calls = ws
                .outcomes
                .get(Outcome::NotSentLateStart.name())
                .copied()
                .unwrap_or(0);
            warnings.push(format!(
                "worker {} was ready {:.1} ms after the common start: its calls due before then are \
                 recorded as `{}` ({late_calls} after warm-up).",
                w.index,
                late as f64 / 1e3,
                Outcome::NotSentLateStart.name()
            ));
        }
        for (when, offset) in [
            ("before", info.clock_offset_before_us),
            ("after", info.clock_offset_after_us),
        ] {
            if let Some(o) = offset.filter(|o| o.abs() > CLOCK_WARNING_US) {
                warnings.push(format!(
                    "worker {}'s clock is {:.1} ms off the coordinator's ({when} the run): its start was \
                     corrected by the offset measured before, but synchronise the clocks (NTP/PTP) for a \
                     common start better than that.",
                    w.index,
                    o / 1e3
                ));
            }
        }
        let p = &ws.send_lag_us;
        let _ = writeln!(
            out,
            "| {} | {} | {answered:.1} | {:.2} | {:.2} | {:.2} | {} | {} / {} | {state} |",
            w.index,
            w.calls,
            p.p50,
            p.p99,
            p.p999,
            opt(info.start_skew_us, 1),
            opt(info.clock_offset_before_us, 0),
            opt(info.clock_offset_after_us, 0),
        );
    }
    for warning in warnings {
        let _ = writeln!(out, "\n- **Warning**: {warning}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::summary::{WorkerInfo, WorkerReport};

    fn summary() -> Summary {
        serde_json::from_str(include_str!("../../tests/data/worker-summary.json")).unwrap()
    }

    #[test]
    fn the_table_names_late_lost_and_clock_troubles() {
        let mut late = summary();
        late.worker = Some(WorkerInfo {
            index: 1,
            workers: 3,
            clock_offset_before_us: Some(2500.0),
            clock_offset_after_us: Some(10.0),
            clock_round_trip_us: Some(40.0),
            ready_late_us: Some(1500),
            start_skew_us: Some(3.5),
        });
        late.outcomes.insert("not_sent:late_start".into(), 7);
        let mut all = summary();
        all.workers = vec![
            WorkerReport {
                index: 0,
                calls: 10,
                lost: None,
                summary: Some(Box::new(summary())),
            },
            WorkerReport {
                index: 1,
                calls: 10,
                lost: None,
                summary: Some(Box::new(late)),
            },
            WorkerReport {
                index: 2,
                calls: 9,
                lost: Some("its process exited (signal: 9)".into()),
                summary: None,
            },
        ];
        let text = markdown(&all);
        assert!(text.contains("| 2 | 9 | – |"), "{text}");
        assert!(
            text.contains("worker 2 was lost: its process exited (signal: 9)"),
            "{text}"
        );
        assert!(text.contains("started late**, 1.5 ms"), "{text}");
        assert!(text.contains("(7 after warm-up)"), "{text}");
        assert!(text.contains("2.5 ms off"), "{text}");
        assert!(!text.contains("worker 0 was"), "{text}");
        assert!(markdown(&summary()).is_empty());
    }
}
