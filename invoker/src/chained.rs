//! Chained orchestration of a workflow load (FaaSFlow's WorkerSP; the plan and who calls whom are in
//! `proto::workflow`): the invoker sends each instance's entry call only, at its due time, carrying the
//! instance's plan; the functions call the other nodes. Their records come from the reports returned up
//! the graph with the entry's answer: their send time and latency are the calling function's, their
//! send lag is empty, and their `exec_us` is the function's own time (without its wait for the nodes it
//! called). A node no report tells of (its entry or a predecessor failed, or was never sent) is recorded
//! as `not_sent:upstream_failed`.

use std::collections::HashMap;
use std::rc::Rc;

use formats::records::{Outcome, Protocol, Record};
use proto::function::FunctionReport;
use proto::workflow::{Plan, PlanNode, PlanStore, DEADLINE_MARGIN_US};

use crate::error::ReplayError;
use crate::schedule::Schedule;

/// One workflow instance, as its entry call carries it.
pub(crate) struct ChainedInstance {
    /// The plan, as its header's value.
    plan: Rc<str>,
    /// Per node of the plan, its call's place in the schedule (the entry first).
    calls: Vec<u32>,
}

/// The plans of a workflow load's instances, and what their nodes' records need.
pub(crate) struct Chaining<'a> {
    schedule: &'a Schedule,
    /// Per call of the schedule, the instance it is the entry of.
    entries: Vec<Option<Rc<ChainedInstance>>>,
    /// Time 0, µs since the Unix epoch (the functions' clocks say when they sent).
    start_unix_us: u64,
}

/// An entry call's instance, with its other nodes' records so far (not sent, until a report says).
pub(crate) struct ChainedCall {
    /// The plan the entry carries.
    pub(crate) plan: Rc<str>,
    nodes: Vec<Record>,
    start_unix_us: u64,
}

impl<'a> Chaining<'a> {
    /// The plans of `schedule`'s instances, each with the deadline its entry call's `timeout` sets (the
    /// functions end their calls in time for the entry to answer); refused when an instance has not
    /// exactly one entry node. With a `store`, each plan's data goes through it.
    pub(crate) fn new(
        schedule: &'a Schedule,
        (start_unix_us, timeout): (u64, std::time::Duration),
        store: Option<&str>,
    ) -> Result<Self, ReplayError> {
        let n = schedule.calls.len();
        let mut entries = vec![None; n];
        let Some(dependencies) = &schedule.dependencies else {
            return Err(ReplayError::Unsupported(
                "--orchestration chained replays a workflow load (made with --workflow)".into(),
            ));
        };
        let inputs = |i: u32| dependencies.inputs_of(i as usize).iter().copied();
        // Each instance's calls, in schedule order (a call comes after those it waits for).
        let mut instances: Vec<Vec<u32>> = Vec::new();
        let mut of_instance: HashMap<u64, usize> = HashMap::new();
        for (i, call) in schedule.calls.iter().enumerate() {
            if let Some(step) = call.workflow {
                let k = *of_instance.entry(step.instance).or_insert_with(|| {
                    instances.push(Vec::new());
                    instances.len() - 1
                });
                instances[k].push(i as u32);
            }
        }
        for calls in instances {
            let position: HashMap<u32, u32> = calls
                .iter()
                .enumerate()
                .map(|(k, &i)| (i, k as u32))
                .collect();
            let nodes = calls
                .iter()
                .map(|&i| {
                    let call = &schedule.calls[i as usize];
                    PlanNode {
                        endpoint: schedule.endpoints[call.endpoint as usize].clone(),
                        ask: crate::client::call_request(call.ask),
                        payload_bytes: call.payload_bytes.map_or(0, u64::from),
                        after: inputs(i).map(|(p, _)| position[&p]).collect(),
                        after_bytes: inputs(i).map(|(_, bytes)| bytes).collect(),
                    }
                })
                .collect();
            let due_us = schedule.calls[calls[0] as usize].due_us;
            let instance = schedule.calls[calls[0] as usize]
                .workflow
                .map_or(0, |w| w.instance);
            let plan = Plan {
                store: store.map(|url| PlanStore {
                    url: url.to_owned(),
                    prefix: format!("loadgen:{start_unix_us}:{instance}"),
                }),
                at: 0,
                nodes,
                deadline_unix_us: Some(
                    (start_unix_us + due_us + timeout.as_micros() as u64)
                        .saturating_sub(DEADLINE_MARGIN_US),
                ),
            };
            plan.check().map_err(|e| {
                ReplayError::Unsupported(format!(
                    "--orchestration chained: workflow instance {instance}: {e} (a virtual entry node \
                     that routes to several starts an instance with several calls; --orchestration \
                     client replays it)"
                ))
            })?;
            let entry = calls[0] as usize;
            entries[entry] = Some(Rc::new(ChainedInstance {
                plan: plan.to_header().into(),
                calls,
            }));
        }
        Ok(Chaining {
            schedule,
            entries,
            start_unix_us,
        })
    }

    /// Whether call `index` is a node of an instance other than its entry: the functions call it, and
    /// its record comes from the entry's answer.
    pub(crate) fn is_called_by_a_function(&self, index: usize) -> bool {
        self.schedule
            .calls
            .get(index)
            .is_some_and(|c| c.workflow.is_some())
            && self.entries.get(index).is_some_and(Option::is_none)
    }

    /// The instance call `index` is the entry of, if it is one's, with its other nodes' records (their
    /// protocol from `protocol_of` their endpoint).
    pub(crate) fn call(
        &self,
        index: usize,
        protocol_of: impl Fn(u32) -> Protocol,
    ) -> Option<ChainedCall> {
        let instance = self.entries.get(index)?.as_ref()?;
        let nodes = instance.calls[1..]
            .iter()
            .map(|&i| {
                let call = &self.schedule.calls[i as usize];
                let mut r = self.schedule.unsent_record(
                    call,
                    u64::from(i),
                    0,
                    Outcome::NotSentUpstreamFailed,
                );
                r.wire.protocol = Some(protocol_of(call.endpoint));
                r
            })
            .collect();
        Some(ChainedCall {
            plan: Rc::clone(&instance.plan),
            nodes,
            start_unix_us: self.start_unix_us,
        })
    }
}

impl ChainedCall {
    /// The records of the instance's nodes but its entry, as `report` (the entry's) tells of them, and
    /// the cause of each failure the functions told of, by endpoint.
    pub(crate) fn records(
        mut self,
        report: Option<&FunctionReport>,
    ) -> (Vec<Record>, Vec<(u32, String)>) {
        let mut failures = Vec::new();
        for told in report.map_or(&[][..], |r| &r.nodes) {
            let Some(r) = (told.node as usize)
                .checked_sub(1)
                .and_then(|k| self.nodes.get_mut(k))
            else {
                continue;
            };
            r.scheduled_us = told.sent_unix_us.saturating_sub(self.start_unix_us);
            r.latency_us = Some(told.latency_us);
            r.latency_from_scheduled_us = Some(told.latency_us);
            r.wire.request_bytes = Some(told.request_bytes);
            // The calling function says whether the node answered, not with which status: an answer is
            // gRPC's 0 or HTTP's 200, a failure `error:unavailable` with the function's words for it.
            if let Some(cause) = &told.failure {
                r.outcome = Outcome::status(14);
                failures.push((r.endpoint, format!("called by a function: {cause}")));
            } else {
                r.outcome = Outcome::Ok;
                r.wire.status = Some(match r.wire.protocol {
                    Some(Protocol::Grpc) | None => 0,
                    Some(_) => 200,
                });
            }
            if let Some(f) = &told.report {
                r.exec_us = Some(f.own_us.unwrap_or(f.exec_us));
                r.wire.transfer_us = f.transfer_us;
                r.instance = Some(f.instance_number());
                r.cold = Some(f.cold);
            }
        }
        (self.nodes, failures)
    }
}
