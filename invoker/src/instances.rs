//! A workflow load's instances from its records: end to end, the critical path of the functions' own
//! execution times, and what they sent (`formats::workflows`, one row per instance); and its records put
//! in the order of the load's calls.

use std::collections::HashMap;
use std::path::Path;

use formats::output::AtomicFile;
use formats::records::{read_records, Outcome, Record, RecordsError, RecordsWriter};
use formats::summary::{TimeStats, WorkflowFigures};
use formats::workflows::InstanceRow;

use crate::error::ReplayError;
use crate::options::ReplayOptions;
use crate::schedule::Schedule;

/// For a workflow load, once its records are written: rewrites them in the order of their calls in the
/// load (by index: an instance's calls come in its graph's order, so each instance reads top down,
/// whoever made the calls and whenever they ended), and writes `options.workflows_file`; the figures of
/// its instances after warm-up, for the summary. A workflow load's records are held in memory here, as
/// its instances need them together.
pub(crate) fn write_rows(
    schedule: &Schedule,
    options: &ReplayOptions,
) -> Result<Option<WorkflowFigures>, ReplayError> {
    let Some(records) = &options.records else {
        return Ok(None);
    };
    if schedule.dependencies.is_none() {
        return Ok(None);
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |e: String| ReplayError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        }
    };
    let by_call = read_by_call(schedule, records).map_err(|e| io(records)(e.to_string()))?;
    rewrite_in_order(schedule, records, &by_call).map_err(|e| io(records)(e.to_string()))?;
    let Some(path) = &options.workflows_file else {
        return Ok(None);
    };
    let rows = rows_of(schedule, &by_call);
    formats::workflows::write(path, &rows).map_err(|e| io(path)(e.to_string()))?;
    Ok(Some(figures(&rows)))
}

/// Each call's record (one invoker wrote them: a record's index is its call's place in the schedule). A
/// record read back names its endpoint and node by the reader's tables; they are the schedule's again.
fn read_by_call(schedule: &Schedule, records: &Path) -> Result<Vec<Option<Record>>, RecordsError> {
    let mut by_call: Vec<Option<Record>> = vec![None; schedule.calls.len()];
    read_records(records, |r, _| {
        let i = r.index as usize;
        if let (Some(slot), Some(call)) = (by_call.get_mut(i), schedule.calls.get(i)) {
            *slot = Some(Record {
                endpoint: call.endpoint,
                workflow: call.workflow,
                ..*r
            });
        }
    })?;
    Ok(by_call)
}

/// Writes `by_call` to `records` (whole or not at all), in index order.
fn rewrite_in_order(
    schedule: &Schedule,
    records: &Path,
    by_call: &[Option<Record>],
) -> std::io::Result<()> {
    let file = formats::compressed::Compressed::for_path(AtomicFile::create(records)?, records)?;
    let mut writer = RecordsWriter::new(file)?.with_nodes(&schedule.nodes);
    for r in by_call.iter().flatten() {
        writer.write(r, &schedule.endpoints)?;
    }
    writer.finish()?.finish()?.commit()
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

/// One row per workflow instance of `schedule`, in order of their first call, from each call's record.
fn rows_of(schedule: &Schedule, by_call: &[Option<Record>]) -> Vec<InstanceRow> {
    let Some(dependencies) = &schedule.dependencies else {
        return Vec::new();
    };
    let n = schedule.calls.len();
    // The longest path of execution times ending at each call, with the data transfers on it; none when
    // one on the way is unknown. A call comes after every call it waits for, so one pass in schedule
    // order does it.
    let mut before = vec![Some((0u64, 0u64)); n];
    let mut path: Vec<Option<(u64, u64)>> = vec![None; n];
    for i in 0..n {
        let exec = by_call[i]
            .filter(|r| r.outcome == Outcome::Ok)
            .and_then(|r| Some((r.exec_us?, r.wire.transfer_us.unwrap_or(0))));
        path[i] = before[i].zip(exec).map(|(b, e)| (b.0 + e.0, b.1 + e.1));
        for &w in dependencies.waiting_for(i) {
            let w = w as usize;
            before[w] = before[w].zip(path[i]).map(|(b, p)| b.max(p));
        }
    }
    // The functions timed their data's moves (through a store, or inline in a workflow's requests).
    let timed = by_call
        .iter()
        .flatten()
        .any(|r| r.wire.transfer_us.is_some());
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
                transfer_us: timed.then_some(0),
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
        // The instance's critical path: its longest (execution and transfer), split into the two.
        match path[i] {
            Some((total, moved)) if row.critical_path_us.is_some() => {
                let longest = row.critical_path_us.unwrap_or(0) + row.transfer_us.unwrap_or(0);
                if total >= longest {
                    row.critical_path_us = Some(total - moved);
                    row.transfer_us = row.transfer_us.map(|_| moved);
                }
            }
            _ => (row.critical_path_us, row.transfer_us) = (None, None),
        }
        ends[k] = ends[k].max(record.and_then(|r| r.ended_us()).unwrap_or(0));
    }
    for (row, end) in rows.iter_mut().zip(ends) {
        row.end_to_end_us = (row.failed == 0).then(|| end.saturating_sub(row.due_us));
    }
    rows
}
