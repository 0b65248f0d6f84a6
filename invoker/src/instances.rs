//! A workflow load's instances from its records: end to end, the critical path of the functions' own
//! execution times, and what they sent (`formats::workflows`, one row per instance).

use std::collections::HashMap;
use std::path::Path;

use formats::records::{read_records, Outcome, Record, RecordsError};
use formats::summary::{TimeStats, WorkflowFigures};
use formats::workflows::InstanceRow;

use crate::error::ReplayError;
use crate::options::ReplayOptions;
use crate::schedule::Schedule;

/// Writes `options.workflows_file` for a workflow load, from its records once they are written; the
/// figures of its instances after warm-up, for the summary.
pub(crate) fn write_rows(
    schedule: &Schedule,
    options: &ReplayOptions,
) -> Result<Option<WorkflowFigures>, ReplayError> {
    let (Some(path), Some(records)) = (&options.workflows_file, &options.records) else {
        return Ok(None);
    };
    if schedule.dependencies.is_none() {
        return Ok(None);
    }
    let io = |e: String| ReplayError::Io {
        path: path.clone(),
        source: std::io::Error::other(e),
    };
    let rows = instance_rows(schedule, records).map_err(|e| io(e.to_string()))?;
    formats::workflows::write(path, &rows).map_err(|e| io(e.to_string()))?;
    Ok(Some(figures(&rows)))
}

/// The figures of the instances after warm-up.
fn figures(rows: &[InstanceRow]) -> WorkflowFigures {
    let measured: Vec<&InstanceRow> = rows.iter().filter(|r| !r.warmup).collect();
    let sample = |pick: fn(&InstanceRow) -> Option<u64>| {
        TimeStats::of_sample(
            measured
                .iter()
                .filter_map(|r| pick(r))
                .map(|v| v as f64)
                .collect(),
        )
    };
    WorkflowFigures {
        instances: measured.len() as u64,
        failed: measured.iter().filter(|r| r.failed > 0).count() as u64,
        end_to_end_us: sample(|r| r.end_to_end_us),
        overhead_us: sample(InstanceRow::overhead_us),
    }
}

/// One row per workflow instance of `schedule`, in order of their first call, from the records at
/// `records` (written by one invoker: a record's index is its call's place in the schedule). None when
/// the schedule has no workflow.
pub fn instance_rows(
    schedule: &Schedule,
    records: &Path,
) -> Result<Vec<InstanceRow>, RecordsError> {
    let Some(dependencies) = &schedule.dependencies else {
        return Ok(Vec::new());
    };
    let n = schedule.calls.len();
    let mut by_call: Vec<Option<Record>> = vec![None; n];
    read_records(records, |r, _| {
        if let Some(slot) = by_call.get_mut(r.index as usize) {
            *slot = Some(*r);
        }
    })?;
    // The longest path of execution times ending at each call; none when one on the way is unknown. A
    // call comes after every call it waits for, so one pass in schedule order does it.
    let mut before = vec![Some(0u64); n];
    let mut path = vec![None; n];
    for i in 0..n {
        let exec = by_call[i]
            .filter(|r| r.outcome == Outcome::Ok)
            .and_then(|r| r.exec_us);
        path[i] = before[i].zip(exec).map(|(b, e)| b + e);
        for &w in dependencies.waiting_for(i) {
            let w = w as usize;
            before[w] = before[w].zip(path[i]).map(|(b, p)| b.max(p));
        }
    }
    let mut rows: Vec<InstanceRow> = Vec::new();
    let mut row_of: HashMap<u64, usize> = HashMap::new();
    // Per row: the end of its last call.
    let mut ends: Vec<u64> = Vec::new();
    for (i, call) in schedule.calls.iter().enumerate() {
        let Some(step) = call.workflow else { continue };
        let k = *row_of.entry(step.instance).or_insert_with(|| {
            rows.push(InstanceRow {
                instance: step.instance,
                warmup: schedule.is_warmup(call),
                due_us: call.due_us,
                critical_path_us: Some(0),
                ..InstanceRow::default()
            });
            ends.push(0);
            rows.len() - 1
        });
        let row = &mut rows[k];
        let record = by_call[i];
        row.calls += 1;
        let ok = record.is_some_and(|r| r.outcome == Outcome::Ok);
        row.failed += u32::from(!ok);
        row.bytes += record.and_then(|r| r.wire.request_bytes).unwrap_or(0);
        row.critical_path_us = row.critical_path_us.zip(path[i]).map(|(a, b)| a.max(b));
        ends[k] = ends[k].max(record.and_then(|r| r.ended_us()).unwrap_or(0));
    }
    for (row, end) in rows.iter_mut().zip(ends) {
        row.end_to_end_us = (row.failed == 0).then(|| end.saturating_sub(row.due_us));
    }
    Ok(rows)
}
