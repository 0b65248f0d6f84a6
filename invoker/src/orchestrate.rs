//! Client orchestration of a workflow load (FaaSFlow's MasterSP, invitro's DAG mode): a call that waits
//! for others is not released at its due time but the moment the last of them ended, and is not sent at
//! all when one of them did not succeed. The dispatcher's open loop releases the calls that wait for
//! nothing; this releases the rest, on the same thread, as their predecessors' answers come in.

use std::time::{Duration, Instant};

use formats::records::Outcome;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::call::Sending;
use crate::error::ReplayError;
use crate::options::{Pacing, ReplayOptions};
use crate::schedule::{Dependencies, Schedule};

/// Refuses a workflow load where its calls could not wait for one another: dealt over several invokers,
/// or released in closed loops; and a store for a load that is not a workflow's.
pub(crate) fn check(schedule: &Schedule, options: &ReplayOptions) -> Result<(), ReplayError> {
    if schedule.dependencies.is_none() {
        return match &options.store {
            Some(url) => Err(ReplayError::Unsupported(format!(
                "--store {url} moves the data between a workflow's functions; this load has no \
                 workflow (make it with --workflow FILE)"
            ))),
            None => Ok(()),
        };
    }
    if options.shard.is_some() {
        return Err(ReplayError::Unsupported(
            "a workflow load is replayed by one invoker (its instances' calls wait for one another); \
             run it without --workers"
                .into(),
        ));
    }
    // Closed loops send what they are given at once: a chained instance's entry (the functions call the
    // rest), never a call that must wait for others.
    if !matches!(options.pacing, Pacing::Scheduled)
        && options.orchestration != crate::options::Orchestration::Chained
    {
        return Err(ReplayError::Unsupported(
            "a workflow load is released by its own schedule and dependencies, not in closed loops"
                .into(),
        ));
    }
    Ok(())
}

/// How often a stop request is looked at while no call ends.
const STOP_CHECK: Duration = Duration::from_millis(10);

/// Releases every call of `schedule` that waits for others, as `ended` tells of the calls it waits for;
/// returns once each has its record (sent, or not sent because a predecessor failed or the run stopped).
/// `start` is time 0: a released call's `scheduled_us` is when its last predecessor ended.
pub(crate) async fn release_waiting(
    schedule: &Schedule,
    dependencies: &Dependencies,
    sending: &Sending<'_>,
    mut ended: UnboundedReceiver<(usize, bool)>,
    start: Instant,
    options: &ReplayOptions,
) {
    let mut left = dependencies.waits_for.clone();
    let mut failed = vec![false; left.len()];
    let mut unreleased = dependencies.dependent_calls();
    let mut stop_check = tokio::time::interval(STOP_CHECK);
    let mut queue = Vec::new();
    while unreleased > 0 {
        let next = tokio::select! {
            biased;
            next = ended.recv() => next,
            _ = stop_check.tick() => None,
        };
        if options.stop.requested() {
            // Every call not released yet keeps a record, as the open loop's unsent calls do.
            for (index, call) in schedule.calls.iter().enumerate() {
                if left[index] > 0 {
                    let record =
                        schedule.unsent_record(call, index as u64, 0, Outcome::NotSentInterrupted);
                    sending.sink.push(record);
                }
            }
            return;
        }
        let Some(first) = next else { continue };
        queue.push(first);
        while let Some((index, ok)) = queue.pop() {
            for &waiting in dependencies.waiting_for(index) {
                let w = waiting as usize;
                failed[w] |= !ok;
                left[w] -= 1;
                if left[w] > 0 {
                    continue;
                }
                unreleased -= 1;
                if let Some(not_sent) = release(schedule, w, failed[w], sending, start, options) {
                    sending.sink.push(not_sent);
                    queue.push((w, false));
                }
            }
        }
        sending.sink.flush_if_due();
    }
}

/// Sends call `index` now, or returns its record when it is not sent (a predecessor failed, or
/// `--max-in-flight` calls are outstanding).
fn release(
    schedule: &Schedule,
    index: usize,
    upstream_failed: bool,
    sending: &Sending<'_>,
    start: Instant,
    options: &ReplayOptions,
) -> Option<formats::records::Record> {
    let call = &schedule.calls[index];
    let now = Instant::now();
    let mut record = schedule.unsent_record(call, index as u64, 0, Outcome::NotSentInterrupted);
    record.scheduled_us = now.saturating_duration_since(start).as_micros() as u64;
    if upstream_failed {
        record.outcome = Outcome::NotSentUpstreamFailed;
        return Some(record);
    }
    if let Some(o) = &options.observer {
        o.call_due();
    }
    record.dispatch_lag_ns = Some(0);
    if sending.in_flight.get() >= options.max_in_flight {
        record.outcome = Outcome::NotSentBackPressure;
        return Some(record);
    }
    tokio::task::spawn_local(sending.send(call, record, now));
    None
}
