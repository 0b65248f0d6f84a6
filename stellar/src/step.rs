//! One step of a STeLLAR experiment: one sub-experiment, or (`Sequential: false`) all of them at once,
//! as one replay: their schedules side by side, each its own closed loop. What each sub-experiment owns
//! of the replay is kept, to write its latency CSV and to say how far STeLLAR's loop drifted.

use std::ops::Range;
use std::time::Duration;

use formats::records::Record;
use formats::records::WorkflowCall;
use invoker::rounds::Round;
use invoker::schedule::{Dependencies, Schedule, ScheduledCall};

use crate::experiment::SubExperiment;
use crate::rounds::{plan_rounds, replay_plan};

/// What one sub-experiment owns of a step's replay.
#[derive(Debug, Clone)]
pub struct Part {
    /// The sub-experiment.
    pub sub: SubExperiment,
    /// Per round, its nominal instant and its calls in the step's schedule (closed loops only).
    pub rounds: Vec<(Duration, Range<usize>)>,
}

/// A step's replay.
pub struct StepPlan {
    /// Every call of every part.
    pub schedule: Schedule,
    /// One closed loop per part (empty once [`StepPlan::scheduled`]).
    pub loops: Vec<Vec<Round>>,
    /// The parts, in order.
    pub parts: Vec<Part>,
    /// Per call, the part it belongs to.
    pub part_of_call: Vec<u32>,
    /// Per call, its burst's ID within its part.
    pub burst_of_call: Vec<u64>,
}

/// The replay of `subs`, each with its gateways' URLs; gaps drawn from `seed` (and the
/// sub-experiment's index); service times turned into increment limits at `increments_per_us`.
pub fn step_plan(
    subs: &[(SubExperiment, Vec<String>)],
    seed: u64,
    increments_per_us: f64,
) -> StepPlan {
    let mut schedule = Schedule {
        periods: 1,
        periods_in_file: 1,
        ..Schedule::default()
    };
    let (mut loops, mut parts) = (Vec::new(), Vec::new());
    let (mut part_of_call, mut burst_of_call) = (Vec::new(), Vec::new());
    for (sub, gateways) in subs {
        let rounds = plan_rounds(sub, gateways.len() as u32, seed ^ (sub.index as u64) << 32);
        let plan = replay_plan(&rounds, gateways, sub.payload_bytes, increments_per_us);
        let (calls0, endpoints0) = (schedule.calls.len(), schedule.endpoints.len() as u32);
        schedule.endpoints.extend(plan.schedule.endpoints);
        schedule
            .calls
            .extend(plan.schedule.calls.into_iter().map(|mut c| {
                c.endpoint += endpoints0;
                c
            }));
        schedule.period_us = schedule.period_us.max(plan.schedule.period_us);
        let shift = |r: &Range<usize>| r.start + calls0..r.end + calls0;
        let shifted: Vec<Round> = plan
            .rounds
            .iter()
            .map(|r| Round {
                sleep_before: r.sleep_before,
                bursts: r.bursts.iter().map(shift).collect(),
            })
            .collect();
        let round_calls = rounds
            .iter()
            .zip(&shifted)
            .map(|(planned, r)| {
                let first = r.bursts.first().map_or(calls0, |b| b.start);
                let last = r.bursts.last().map_or(calls0, |b| b.end);
                (planned.at, first..last)
            })
            .collect();
        loops.push(shifted);
        part_of_call.extend(std::iter::repeat_n(
            parts.len() as u32,
            plan.burst_of_call.len(),
        ));
        burst_of_call.extend(plan.burst_of_call);
        parts.push(Part {
            sub: sub.clone(),
            rounds: round_calls,
        });
    }
    // Closed loops name their calls by index, so calls stay part by part; `scheduled` sorts them.
    let mut plan = StepPlan {
        schedule,
        loops,
        parts,
        part_of_call,
        burst_of_call,
    };
    plan.add_chains();
    plan
}

/// Marks the calls of a chain's followers (not a sub-experiment's own requests) in `part_of_call`.
pub const FOLLOWER: u32 = u32::MAX;

impl StepPlan {
    /// `DataTransferChainLength` > 1: each call of such a part becomes the entry of a chain workflow
    /// instance, whose other functions (on the same gateway) follow it, each receiving
    /// `PayloadLengthBytes` from the one before; the functions call one another (chained orchestration),
    /// so the loops still send the requests only. The followers' calls go after every part's own (outside
    /// every burst), marked [`FOLLOWER`].
    fn add_chains(&mut self) {
        let longest = self
            .parts
            .iter()
            .map(|p| p.sub.chain_length)
            .max()
            .unwrap_or(1);
        if longest < 2 {
            return;
        }
        self.schedule.nodes = (0..longest).map(|k| format!("chain-{k}")).collect();
        let own = self.schedule.calls.len();
        for entry in 0..own {
            let sub = &self.parts[self.part_of_call[entry] as usize].sub;
            if sub.chain_length < 2 {
                continue;
            }
            let payload = u32::try_from(sub.payload_bytes).unwrap_or(u32::MAX);
            let call = &mut self.schedule.calls[entry];
            call.workflow = Some(WorkflowCall {
                instance: entry as u64,
                node: 0,
            });
            let first = *call;
            for node in 1..sub.chain_length {
                self.schedule.calls.push(ScheduledCall {
                    payload_bytes: Some(payload),
                    workflow: Some(WorkflowCall {
                        instance: entry as u64,
                        node,
                    }),
                    ..first
                });
                self.part_of_call.push(FOLLOWER);
                self.burst_of_call.push(self.burst_of_call[entry]);
            }
        }
        self.schedule.dependencies = Some(chain_dependencies(&self.schedule));
    }
}

/// Each chain function's call waits for the one before it in its instance, receiving its payload.
fn chain_dependencies(schedule: &Schedule) -> Dependencies {
    let mut at: std::collections::HashMap<(u64, u32), u32> = Default::default();
    for (i, call) in schedule.calls.iter().enumerate() {
        if let Some(w) = call.workflow {
            at.insert((w.instance, w.node), i as u32);
        }
    }
    let after: Vec<Vec<(u32, u64)>> = schedule
        .calls
        .iter()
        .map(|call| match call.workflow {
            Some(w) if w.node > 0 => at
                .get(&(w.instance, w.node - 1))
                .map(|&before| vec![(before, call.payload_bytes.map_or(0, u64::from))])
                .unwrap_or_default(),
            _ => Vec::new(),
        })
        .collect();
    Dependencies::new(&after)
}

impl StepPlan {
    /// The same calls for the open-loop dispatcher (`timing = "scheduled"`): every burst at its round's
    /// nominal instant, so the calls are put in order of due time (the parts interleaved); no loops.
    pub fn scheduled(mut self) -> StepPlan {
        let mut order: Vec<usize> = (0..self.schedule.calls.len()).collect();
        order.sort_by_key(|&i| self.schedule.calls[i].due_us);
        self.burst_of_call = order.iter().map(|&i| self.burst_of_call[i]).collect();
        self.part_of_call = order.iter().map(|&i| self.part_of_call[i]).collect();
        self.schedule.calls = order.iter().map(|&i| self.schedule.calls[i]).collect();
        if self.schedule.dependencies.is_some() {
            self.schedule.dependencies = Some(chain_dependencies(&self.schedule));
        }
        self.loops.clear();
        for part in &mut self.parts {
            part.rounds.clear();
        }
        self
    }
}

/// How far a closed loop's rounds started after their nominal instants (its answers' time accumulating),
/// from its records: the largest and the last drift.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Drift {
    /// The largest, ms.
    pub max_ms: f64,
    /// The last round's, ms.
    pub last_ms: f64,
}

impl Part {
    /// This part's drift, from the records of the step (indexed by call).
    pub fn drift(&self, records: &[Record]) -> Drift {
        let mut drift = Drift::default();
        for (at, calls) in &self.rounds {
            let started = records[calls.clone()].iter().map(|r| r.scheduled_us).min();
            if let Some(us) = started {
                let ms = (us as f64 - at.as_secs_f64() * 1e6) / 1e3;
                drift.max_ms = drift.max_ms.max(ms);
                drift.last_ms = ms;
            }
        }
        drift
    }
}

/// What a step's replay wrote besides our records.
pub struct Replayed {
    /// The replay's summary.
    pub summary: formats::summary::Summary,
    /// Per part, STeLLAR's latency CSV and its rows.
    pub latencies: Vec<(std::path::PathBuf, u64)>,
    /// Per part, how far its closed loop drifted from the nominal instants (none when scheduled).
    pub drift: Vec<Option<Drift>>,
    /// Per call, the part it belongs to.
    pub part_of_call: Vec<u32>,
}

impl StepPlan {
    /// Replays the step with `options` (its records file required), in closed loops unless
    /// [`StepPlan::scheduled`]; then writes each part's STeLLAR latency CSV into `dir`.
    pub fn replay(
        self,
        options: invoker::dispatch::ReplayOptions,
        dir: &std::path::Path,
    ) -> anyhow::Result<Replayed> {
        use anyhow::Context as _;
        let records = options
            .records
            .clone()
            .context("a STeLLAR step needs its records file")?;
        let closed = !self.loops.is_empty();
        let pacing = if self.loops.is_empty() {
            invoker::dispatch::Pacing::Scheduled
        } else {
            invoker::dispatch::Pacing::Loops(self.loops)
        };
        let summary = invoker::dispatch::replay(
            self.schedule,
            invoker::dispatch::ReplayOptions { pacing, ..options },
        )?;
        let start = std::time::UNIX_EPOCH + Duration::from_micros(summary.start_unix_us);
        let mut latencies = Vec::with_capacity(self.parts.len());
        for (k, part) in self.parts.iter().enumerate() {
            let burst_of = |index: u64| {
                let i = index as usize;
                (self.part_of_call.get(i) == Some(&(k as u32))).then(|| self.burst_of_call[i])
            };
            latencies.push(crate::latencies::write(
                dir, &part.sub, &records, start, burst_of,
            )?);
        }
        let mut drift = vec![None; self.parts.len()];
        if closed {
            let mut all: Vec<Record> = Vec::with_capacity(self.part_of_call.len());
            formats::records::read_records(&records, |r, _| all.push(*r))?;
            all.sort_by_key(|r| r.index);
            for (k, part) in self.parts.iter().enumerate() {
                drift[k] = Some(part.drift(&all));
            }
        }
        Ok(Replayed {
            summary,
            latencies,
            drift,
            part_of_call: self.part_of_call,
        })
    }
}
