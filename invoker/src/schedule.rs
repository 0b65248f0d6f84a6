//! The replay plan: a load file flattened into absolute, time-ordered calls (72 bytes each).

use std::path::Path;

use formats::records::{Outcome, Record, WorkflowCall};
use formats::{CallAsk, LoadError};

/// One call to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledCall {
    /// Microseconds from the start of the run.
    pub due_us: u64,
    /// Period (0-based) the call belongs to.
    pub period: u32,
    /// Index into [`Schedule::endpoints`].
    pub endpoint: u32,
    /// What the call asks of its function, when the load says (sent in the request's metadata).
    pub ask: Option<CallAsk>,
    /// The size of what the call sends, bytes, when the load says (`payload_bytes`); otherwise the
    /// request's own (`--payload-bytes`).
    pub payload_bytes: Option<u32>,
    /// Its workflow instance and node, in a workflow load.
    pub workflow: Option<WorkflowCall>,
}

/// Every call of a run, in the order they are due.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    /// Distinct endpoints, as written in the load.
    pub endpoints: Vec<String>,
    /// Calls sorted by due time (ties keep file order).
    pub calls: Vec<ScheduledCall>,
    /// Periods replayed.
    pub periods: u32,
    /// The first `warmup_periods` are excluded from statistics.
    pub warmup_periods: u32,
    /// Length of a period, µs.
    pub period_us: u64,
    /// Periods the file held.
    pub periods_in_file: u32,
    /// A workflow load's node names (what [`ScheduledCall::workflow`] indexes).
    pub nodes: Vec<String>,
    /// A workflow load's dependencies: which calls wait for which.
    pub dependencies: Option<Dependencies>,
}

/// Which calls of a workflow load wait for which (client orchestration): a call that waits is released
/// when every call it waits for has ended, not at its due time.
#[derive(Debug, Clone, Default)]
pub struct Dependencies {
    /// Per call, how many calls it waits for.
    pub waits_for: Vec<u32>,
    /// Per call `i`, the calls waiting for it are `waiting[start[i]..start[i + 1]]`.
    start: Vec<u32>,
    waiting: Vec<u32>,
    /// Per call `i`, the calls it waits for, each with the bytes it receives from it, are
    /// `inputs[input_start[i]..input_start[i + 1]]`.
    input_start: Vec<u32>,
    inputs: Vec<(u32, u64)>,
}

impl Dependencies {
    /// From each call's list of the calls it waits for (schedule indices, each before it), each with the
    /// bytes it receives from it.
    pub fn new(after: &[Vec<(u32, u64)>]) -> Dependencies {
        let n = after.len();
        let mut count = vec![0u32; n + 1];
        for (a, _) in after.iter().flatten() {
            count[*a as usize + 1] += 1;
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let start = count.clone();
        let mut waiting = vec![0u32; start[n] as usize];
        for (call, a) in after.iter().enumerate() {
            for &(before, _) in a {
                let slot = &mut count[before as usize];
                waiting[*slot as usize] = call as u32;
                *slot += 1;
            }
        }
        let mut input_start = Vec::with_capacity(n + 1);
        input_start.push(0);
        for a in after {
            input_start.push(input_start[input_start.len() - 1] + a.len() as u32);
        }
        Dependencies {
            waits_for: after.iter().map(|a| a.len() as u32).collect(),
            start,
            waiting,
            input_start,
            inputs: after.iter().flatten().copied().collect(),
        }
    }

    /// The calls call `index` waits for, each with the bytes it receives from it.
    pub fn inputs_of(&self, index: usize) -> &[(u32, u64)] {
        &self.inputs[self.input_start[index] as usize..self.input_start[index + 1] as usize]
    }

    /// The calls waiting for call `index`, each with the bytes it hands them.
    pub fn outputs_of(&self, index: usize) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.waiting_for(index).iter().filter_map(move |&w| {
            let &(_, bytes) = self
                .inputs_of(w as usize)
                .iter()
                .find(|(from, _)| *from as usize == index)?;
            Some((w, bytes))
        })
    }

    /// The calls waiting for call `index`.
    pub fn waiting_for(&self, index: usize) -> &[u32] {
        &self.waiting[self.start[index] as usize..self.start[index + 1] as usize]
    }

    /// Calls that wait for another.
    pub fn dependent_calls(&self) -> usize {
        self.waits_for.iter().filter(|&&w| w > 0).count()
    }
}

/// The dependencies of a workflow load's calls, in schedule order: `order[k]` is the file position
/// (periods concatenated) of the schedule's `k`-th call.
fn dependencies(periods: &[formats::Period], order: &[u32]) -> Dependencies {
    let mut index_of = vec![0u32; order.len()];
    for (k, &file) in order.iter().enumerate() {
        index_of[file as usize] = k as u32;
    }
    let mut after = vec![Vec::new(); order.len()];
    let mut first = 0usize;
    for period in periods {
        // Each instance's calls, by file position, in file order.
        let mut of_instance: std::collections::HashMap<u64, Vec<usize>> = Default::default();
        for (i, step) in period.steps.iter().enumerate() {
            let file = first + i;
            let mine = of_instance.entry(step.instance).or_default();
            // What each input carries: as the load says, or (an older load) the payload shared evenly.
            let payload = period.payloads.get(i).map_or(0, |&p| u64::from(p));
            let bytes = |k: usize| match step.after_bytes.get(k) {
                Some(&b) => b,
                None => proto::workflow::even_share(payload, step.after.len(), k),
            };
            after[index_of[file] as usize] = step
                .after
                .iter()
                .enumerate()
                .map(|(k, &a)| (index_of[mine[a as usize]], bytes(k)))
                .collect();
            mine.push(file);
        }
        first += period.calls.len();
    }
    Dependencies::new(&after)
}

/// What a run needs to know of a load without holding its calls: its schedule's endpoints, periods and
/// warm-up, how many calls it holds and to which endpoints, and when the last is due.
#[derive(Debug, Clone, Default)]
pub struct LoadHead {
    /// The schedule without its calls (`calls` is empty).
    pub schedule: Schedule,
    /// Calls in its periods (warm-up and measured).
    pub calls: u64,
    /// Calls per endpoint, by index into the schedule's endpoints.
    pub calls_by_endpoint: Vec<u64>,
    /// Calls per period replayed (warm-up and measured).
    pub calls_by_period: Vec<u64>,
    /// The last call's due time, µs from the start (0 without calls).
    pub last_due_us: u64,
}

/// A load's head as JSON: what a coordinator sends a worker that streams its shard
/// (`invoker --stream-shard`), so the worker has it without reading the shard first. Workflow loads are
/// not dealt to workers, so it has no node names.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeadOnWire {
    /// The load's endpoints.
    pub endpoints: Vec<String>,
    /// Periods replayed, of which the first `warmup_periods` are warm-up.
    pub periods: u32,
    /// See [`HeadOnWire::periods`].
    pub warmup_periods: u32,
    /// Period length, µs.
    pub period_us: u64,
    /// Periods the file holds.
    pub periods_in_file: u32,
    /// Calls in the periods replayed.
    pub calls: u64,
    /// Calls per endpoint.
    pub calls_by_endpoint: Vec<u64>,
    /// Calls per period replayed.
    pub calls_by_period: Vec<u64>,
    /// The last call's due time, µs.
    pub last_due_us: u64,
}

impl From<&LoadHead> for HeadOnWire {
    fn from(head: &LoadHead) -> HeadOnWire {
        let s = &head.schedule;
        HeadOnWire {
            endpoints: s.endpoints.clone(),
            periods: s.periods,
            warmup_periods: s.warmup_periods,
            period_us: s.period_us,
            periods_in_file: s.periods_in_file,
            calls: head.calls,
            calls_by_endpoint: head.calls_by_endpoint.clone(),
            calls_by_period: head.calls_by_period.clone(),
            last_due_us: head.last_due_us,
        }
    }
}

impl From<HeadOnWire> for LoadHead {
    fn from(w: HeadOnWire) -> LoadHead {
        LoadHead {
            schedule: Schedule {
                endpoints: w.endpoints,
                calls: Vec::new(),
                periods: w.periods,
                warmup_periods: w.warmup_periods,
                period_us: w.period_us,
                periods_in_file: w.periods_in_file,
                nodes: Vec::new(),
                dependencies: None,
            },
            calls: w.calls,
            calls_by_endpoint: w.calls_by_endpoint,
            calls_by_period: w.calls_by_period,
            last_due_us: w.last_due_us,
        }
    }
}

impl LoadHead {
    /// The head of a schedule read whole.
    pub fn of(schedule: &Schedule) -> LoadHead {
        let mut calls_by_endpoint = vec![0u64; schedule.endpoints.len()];
        let mut calls_by_period = vec![0u64; schedule.periods as usize];
        for c in &schedule.calls {
            calls_by_endpoint[c.endpoint as usize] += 1;
            calls_by_period[c.period as usize] += 1;
        }
        LoadHead {
            schedule: schedule.clone_head(),
            calls: schedule.calls.len() as u64,
            calls_by_endpoint,
            calls_by_period,
            last_due_us: schedule.calls.iter().map(|c| c.due_us).max().unwrap_or(0),
        }
    }
}

/// Call `i` of period `p` as a scheduled call.
fn scheduled_call(p: usize, period: &formats::Period, i: usize, period_us: u64) -> ScheduledCall {
    let c = &period.calls[i];
    ScheduledCall {
        due_us: p as u64 * period_us + c.offset_us,
        period: p as u32,
        endpoint: c.endpoint,
        ask: period.asks.get(i).copied().and_then(CallAsk::asked),
        payload_bytes: period.payloads.get(i).copied(),
        workflow: period.steps.get(i).map(|s| WorkflowCall {
            instance: s.instance,
            node: s.node,
        }),
    }
}

/// Period `p`'s calls as scheduled calls, in file order, appended to `calls`.
fn push_period_calls(
    p: usize,
    period: &formats::Period,
    period_us: u64,
    calls: &mut Vec<ScheduledCall>,
) {
    calls.extend((0..period.calls.len()).map(|i| scheduled_call(p, period, i, period_us)));
}

impl Schedule {
    /// Reads `path` and keeps its first `warmup + duration` periods (all of them if it holds fewer).
    /// An offset past its period's length is an error naming the period and the call.
    pub fn from_file(
        path: &Path,
        period_us: u64,
        warmup: u32,
        duration: u32,
    ) -> Result<Schedule, LoadError> {
        let load = formats::read(path)?;
        load.check_offsets(path, period_us)?;
        let periods_in_file = u32::try_from(load.periods.len()).unwrap_or(u32::MAX);
        let periods = warmup.saturating_add(duration).min(periods_in_file);
        let wanted: usize = load
            .periods
            .iter()
            .take(periods as usize)
            .map(|p| p.calls.len())
            .sum();
        let mut calls = Vec::new();
        // The load itself is already in memory; refuse rather than abort if its copy does not fit.
        calls.try_reserve_exact(wanted).map_err(|_| LoadError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(format!(
                "{wanted} calls do not fit in memory ({} bytes)",
                wanted.saturating_mul(std::mem::size_of::<ScheduledCall>())
            )),
        })?;
        for (p, period) in load.periods.iter().take(periods as usize).enumerate() {
            push_period_calls(p, period, period_us, &mut calls);
        }
        // vSwarm's own files are not always sorted; a stable sort keeps file order among equal times.
        let kept = &load.periods[..periods as usize];
        let dependencies = if kept.iter().any(|p| !p.steps.is_empty()) {
            // A workflow load: the calls' file positions are kept, to find what each waits for.
            let mut order: Vec<u32> = (0..calls.len() as u32).collect();
            order.sort_by_key(|&k| calls[k as usize].due_us);
            calls = order.iter().map(|&k| calls[k as usize]).collect();
            Some(dependencies(kept, &order))
        } else {
            // Any other load is sorted in place: no second copy of its calls.
            calls.sort_by_key(|c| c.due_us);
            None
        };
        Ok(Schedule {
            endpoints: load.endpoints,
            calls,
            periods,
            warmup_periods: warmup.min(periods),
            period_us,
            periods_in_file,
            nodes: load.nodes,
            dependencies,
        })
    }

    /// What [`Schedule::from_file`] would read from `path`, without its calls: one pass over the load,
    /// holding one period at a time. With [`Schedule::stream_calls`], a load too big to hold is read in
    /// two passes.
    pub fn head_of_file(
        path: &Path,
        period_us: u64,
        warmup: u32,
        duration: u32,
    ) -> Result<LoadHead, LoadError> {
        let wanted = warmup.saturating_add(duration);
        let mut periods_in_file = 0u32;
        let (mut calls, mut calls_by_endpoint, mut last_due_us) = (0u64, Vec::new(), 0u64);
        let mut calls_by_period = Vec::new();
        let names = formats::read_periods(path, |period, _| {
            period.check_offsets(path, periods_in_file as usize, period_us)?;
            if periods_in_file < wanted {
                calls += period.calls.len() as u64;
                calls_by_period.push(period.calls.len() as u64);
                let base = u64::from(periods_in_file) * period_us;
                for c in &period.calls {
                    let e = c.endpoint as usize;
                    if calls_by_endpoint.len() <= e {
                        calls_by_endpoint.resize(e + 1, 0);
                    }
                    calls_by_endpoint[e] += 1;
                    last_due_us = last_due_us.max(base + c.offset_us);
                }
            }
            periods_in_file = periods_in_file.saturating_add(1);
            Ok::<(), LoadError>(())
        })?;
        calls_by_endpoint.resize(names.endpoints.len(), 0);
        let periods = wanted.min(periods_in_file);
        let schedule = Schedule {
            endpoints: names.endpoints,
            calls: Vec::new(),
            periods,
            warmup_periods: warmup.min(periods),
            period_us,
            periods_in_file,
            nodes: names.nodes,
            dependencies: None,
        };
        Ok(LoadHead {
            schedule,
            calls,
            calls_by_endpoint,
            calls_by_period,
            last_due_us,
        })
    }

    /// Hands `each` the calls of `path` (whose [`Schedule::head_of_file`] this is) in the order
    /// [`Schedule::from_file`] puts them (periods never overlap, so sorting each is sorting all), in
    /// batches of at most `batch` calls, each with its period's index and how many calls that period
    /// holds (an empty period gives one empty batch). One period is held as the file gives it, with its
    /// calls' order, never as scheduled calls; an error of `each` stops the reading and is returned.
    pub fn stream_calls<E: From<LoadError>>(
        &self,
        path: &Path,
        batch: usize,
        each: impl FnMut(usize, usize, &[ScheduledCall]) -> Result<(), E>,
    ) -> Result<(), E> {
        let file = formats::compressed::open(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        self.stream_calls_from(file, path, batch, each)
    }

    /// [`Schedule::stream_calls`] from `reader` (the load's plain text: a worker's shard as its
    /// coordinator streams it), named `path` in errors.
    pub fn stream_calls_from<E: From<LoadError>>(
        &self,
        reader: impl std::io::Read,
        path: &Path,
        batch: usize,
        mut each: impl FnMut(usize, usize, &[ScheduledCall]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut p = 0usize;
        let (mut order, mut calls) = (Vec::<u32>::new(), Vec::new());
        formats::read_periods_from(reader, path, |period, _| {
            if p < self.periods as usize {
                let n = period.calls.len();
                order.clear();
                order.extend(0..n as u32);
                // Stable: calls due at the same time keep file order.
                order.sort_by_key(|&i| period.calls[i as usize].offset_us);
                if n == 0 {
                    each(p, 0, &[])?;
                }
                for part in order.chunks(batch.max(1)) {
                    calls.clear();
                    calls.extend(
                        part.iter()
                            .map(|&i| scheduled_call(p, &period, i as usize, self.period_us)),
                    );
                    each(p, n, &calls)?;
                }
            }
            p += 1;
            Ok::<(), E>(())
        })?;
        Ok(())
    }

    /// A copy of everything but the calls and their dependencies.
    fn clone_head(&self) -> Schedule {
        Schedule {
            endpoints: self.endpoints.clone(),
            calls: Vec::new(),
            periods: self.periods,
            warmup_periods: self.warmup_periods,
            period_us: self.period_us,
            periods_in_file: self.periods_in_file,
            nodes: self.nodes.clone(),
            dependencies: None,
        }
    }

    /// Whether call `c` falls in the warm-up.
    pub fn is_warmup(&self, c: &ScheduledCall) -> bool {
        c.period < self.warmup_periods
    }

    /// The record of `call` (the `index`-th of the whole load, dealt to `worker`) before anything happened
    /// to it: no lag, no latency, `outcome`.
    pub fn unsent_record(
        &self,
        call: &ScheduledCall,
        index: u64,
        worker: u32,
        outcome: Outcome,
    ) -> Record {
        Record {
            workflow: call.workflow,
            index,
            worker,
            period: call.period,
            endpoint: call.endpoint,
            warmup: self.is_warmup(call),
            scheduled_us: call.due_us,
            dispatch_lag_ns: None,
            send_lag_ns: None,
            latency_us: None,
            latency_from_scheduled_us: None,
            outcome,
            exec_us: None,
            instance: None,
            cold: None,
            wire: formats::records::Wire::default(),
        }
    }

    /// Length of the measured (post-warm-up) part, µs.
    pub fn measured_us(&self) -> u64 {
        u64::from(self.periods - self.warmup_periods) * self.period_us
    }

    /// The measured window (warm-up excluded), µs from time 0: what the rates divide by.
    pub fn measured_window(&self) -> crate::stats::MeasuredWindow {
        crate::stats::MeasuredWindow {
            start_us: u64::from(self.warmup_periods) * self.period_us,
            end_us: u64::from(self.periods) * self.period_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_streamed_by_period_is_the_schedule_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("load.json");
        // vSwarm's own files are not sorted within a period; the last call of period 1 is at its very end.
        std::fs::write(
            &path,
            r#"[{"timestamp":[500,100,100,900],"endpoint":["b","a","c","a"]},
                {"timestamp":[1000,0,300],"endpoint":["c","b","d"]},
                {"timestamp":[5],"endpoint":["e"]}]"#,
        )
        .unwrap();
        let whole = Schedule::from_file(&path, 1000, 1, 1).unwrap();
        let loaded = Schedule::head_of_file(&path, 1000, 1, 1).unwrap();
        let of_whole = LoadHead::of(&whole);
        assert_eq!(loaded.calls, whole.calls.len() as u64);
        assert_eq!(
            (
                loaded.calls,
                &loaded.calls_by_endpoint,
                &loaded.calls_by_period,
                loaded.last_due_us
            ),
            (
                of_whole.calls,
                &of_whole.calls_by_endpoint,
                &of_whole.calls_by_period,
                of_whole.last_due_us
            )
        );
        assert_eq!(loaded.calls_by_period, [4, 3]);
        assert_eq!(loaded.calls_by_endpoint, [2, 2, 2, 1, 0]);
        assert_eq!(loaded.last_due_us, 2000);
        let head = loaded.schedule;
        assert_eq!(
            (head.periods, head.warmup_periods, head.periods_in_file),
            (2, 1, 3)
        );
        // The names of every period, the unread third too: what the file holds.
        assert_eq!(head.endpoints, ["b", "a", "c", "d", "e"]);
        let mut streamed = Vec::new();
        head.stream_calls(&path, 3, |p, n, calls| {
            streamed.push((p, n, calls.to_vec()));
            Ok::<(), LoadError>(())
        })
        .unwrap();
        let shape: Vec<(usize, usize, usize)> =
            streamed.iter().map(|(p, n, c)| (*p, *n, c.len())).collect();
        assert_eq!(
            shape,
            [(0, 4, 3), (0, 4, 1), (1, 3, 3)],
            "batches of 3 at most"
        );
        let calls: Vec<ScheduledCall> = streamed.into_iter().flat_map(|(_, _, c)| c).collect();
        assert_eq!(calls, whole.calls);
        // An offset past its period is refused by the first pass, naming it.
        std::fs::write(
            &path,
            r#"[{"timestamp":[1],"endpoint":["a"]},{"timestamp":[1001],"endpoint":["a"]}]"#,
        )
        .unwrap();
        let err = Schedule::head_of_file(&path, 1000, 0, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("period 2"), "{err}");
    }
}
