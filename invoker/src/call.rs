//! One call's life after its release: made by its client, then its record completed (send lag, what
//! went over the wire, what the function said) and, for a failure, its cause kept once per endpoint.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use formats::records::Record;

use crate::chained::{ChainedCall, Chaining};
use crate::client::{Call, Client};
use crate::observe::Observer;
use crate::schedule::ScheduledCall;
use crate::sink::{Pending, Sink};
use crate::spans::{TracedCall, Tracing};
use crate::store::ClientStore;
use proto::store::STORE_HEADER;
use proto::trace::TRACEPARENT;
use proto::workflow::{PLAN_HEADER, STEP_HEADER};

/// Where a call's end is told in a workflow load (its schedule index, and whether it succeeded), for
/// the calls waiting for it (`crate::orchestrate`).
pub(crate) type Ended = tokio::sync::mpsc::UnboundedSender<(usize, bool)>;

/// The first failure's cause per endpoint: what a run that failed says (once, not once per call).
pub(crate) type FirstFailures = Rc<RefCell<Vec<Option<String>>>>;

/// What sending a released call takes, the same for the open loop and the closed ones: its endpoint's
/// client (which holds its request), the calls in flight, where records and failures go.
pub(crate) struct Sending<'a> {
    pub(crate) clients: &'a [Client],
    pub(crate) sink: &'a Rc<Sink>,
    pub(crate) failures: &'a FirstFailures,
    pub(crate) observer: Option<&'a Observer>,
    pub(crate) timeout: Duration,
    /// Calls sent and not yet ended.
    pub(crate) in_flight: Rc<Cell<usize>>,
    /// In a workflow load, where each call's end is told (so the calls waiting for it can go).
    pub(crate) ended: Option<Ended>,
    /// In a chained workflow load, the instances' plans.
    pub(crate) chaining: Option<&'a Chaining<'a>>,
    /// In a workflow load orchestrated here whose data goes through a store, what each call moves.
    pub(crate) store: Option<ClientStore<'a>>,
    /// In a workflow load, how its calls are traced.
    pub(crate) tracing: Option<&'a Tracing<'a>>,
}

impl<'a> Sending<'a> {
    /// What sending takes, for `clients` of a replay with `options`; no call in flight yet.
    pub(crate) fn new(
        clients: &'a [Client],
        (sink, failures): (&'a Rc<Sink>, &'a FirstFailures),
        options: &'a crate::options::ReplayOptions,
    ) -> Sending<'a> {
        Sending {
            clients,
            sink,
            failures,
            observer: options.observer.as_deref(),
            timeout: options.grpc_timeout,
            in_flight: Rc::new(Cell::new(0)),
            ended: None,
            chaining: None,
            store: None,
            tracing: None,
        }
    }

    /// Tells the calls waiting for call `index` (in a workflow load) that it will not be sent; in a
    /// chained one, records its instance's other nodes as not sent either.
    pub(crate) fn not_sent(&self, index: usize) {
        if let Some(ended) = &self.ended {
            let _ = ended.send((index, false));
        }
        if let Some(chained) = self.chained(index) {
            for r in chained.records(None).0 {
                self.sink.push(r);
            }
        }
    }

    /// The chained instance call `index` is the entry of, if it is one's.
    fn chained(&self, index: usize) -> Option<ChainedCall> {
        self.chaining?
            .call(index, |e| self.clients[e as usize].protocol())
    }

    /// Sends `call` (its `record` so far), due at `deadline`: counted in flight and as sent now; the
    /// future makes the call and completes the record.
    pub(crate) fn send(
        &self,
        call: &ScheduledCall,
        record: Record,
        deadline: Instant,
    ) -> impl Future<Output = ()> + 'static {
        let record_index = record.index as usize;
        self.in_flight.set(self.in_flight.get() + 1);
        if let Some(o) = self.observer {
            o.call_sent();
        }
        let pending = Pending {
            record: Some(record),
            sink: Rc::clone(self.sink),
            in_flight: Rc::clone(&self.in_flight),
        };
        // One invoker replays a workflow load: a record's index is its call's place in the schedule.
        let chained = self.chained(record_index);
        let mut call = *call;
        let mut carried = Vec::new();
        match (&chained, &self.store) {
            (Some(c), _) => carried.push((PLAN_HEADER, Rc::clone(&c.plan))),
            (None, Some(store)) => {
                // The data goes through the store: the request carries none.
                call.payload_bytes = None;
                carried.push((STORE_HEADER, store.ops(record_index)));
            }
            (None, None) => {
                if let Some(w) = call.workflow {
                    carried.push((STEP_HEADER, format!("{}/{}", w.instance, w.node).into()));
                }
            }
        }
        let traced = self.tracing.and_then(|t| t.call(record_index));
        if let Some(t) = &traced {
            carried.push((TRACEPARENT, t.traceparent().into()));
        }
        call_once(
            self.clients[call.endpoint as usize].call(&call, carried),
            pending,
            deadline,
            (self.timeout, self.ended.clone()),
            Rc::clone(self.failures),
            (chained, traced),
        )
    }
}

/// Keeps `cause` as `endpoint`'s failure unless it already has one (the first is what the run says).
fn keep_first(failures: &FirstFailures, endpoint: u32, cause: String) {
    failures.borrow_mut()[endpoint as usize].get_or_insert(cause);
}

/// Makes `call`, due at `deadline`, and completes its record.
async fn call_once(
    call: Call,
    mut pending: Pending,
    deadline: Instant,
    (timeout, ended): (Duration, Option<Ended>),
    failures: FirstFailures,
    (chained, traced): (Option<ChainedCall>, Option<TracedCall>),
) {
    let reply = call.run(timeout).await;
    let done = Instant::now();
    if let Some(traced) = traced {
        traced.ended(
            (reply.sent, done),
            reply.report.as_ref(),
            reply.failure.as_deref(),
        );
    }
    if let Some(r) = pending.record.as_mut() {
        r.send_lag_ns = Some(reply.sent.saturating_duration_since(deadline).as_nanos() as u64);
        r.wire = reply.wire;
        if let Some(report) = &reply.report {
            // A chained workflow's node: its own time, without its wait for the nodes it called.
            r.exec_us = Some(report.own_us.unwrap_or(report.exec_us));
            r.wire.transfer_us = report.transfer_us;
            r.instance = Some(report.instance_number());
            r.cold = Some(report.cold);
        }
        if let Some(cause) = reply.failure {
            keep_first(&failures, r.endpoint, cause);
        }
    }
    if let Some(chained) = chained {
        let (records, causes) = chained.records(reply.report.as_ref());
        for r in records {
            pending.sink.push(r);
        }
        for (endpoint, cause) in causes {
            keep_first(&failures, endpoint, cause);
        }
    }
    // In a workflow load (one invoker: a record's index is its schedule index), the calls waiting for
    // this one learn that it ended.
    let index = pending.record.as_ref().map(|r| r.index as usize);
    pending.complete(
        reply.outcome,
        done.saturating_duration_since(reply.sent),
        done.saturating_duration_since(deadline),
    );
    if let (Some(ended), Some(index)) = (ended, index) {
        let _ = ended.send((index, reply.outcome == formats::records::Outcome::Ok));
    }
}
