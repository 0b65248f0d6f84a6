//! Closed-loop pacing, as STeLLAR paces its bursts: rounds, each after a sleep, in which every burst is
//! sent whole (its calls at once) and answered before the next burst goes. Nothing is due at an instant:
//! a call's `scheduled_us` is when the loop released it, so its send lag is only the hand-off, and what
//! the loop's waiting costs shows as the rounds' drift from their nominal instants (the schedule's due
//! times), which the caller can compare.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use formats::records::Outcome;

use crate::call::{FirstFailures, Sending};
use crate::error::ReplayError;
use crate::options::ReplayOptions;
use crate::request::RequestTemplate;
use crate::schedule::Schedule;
use crate::sink::Sink;
use crate::target::Target;

pub use crate::options::{Pacing, Round};

/// Sleeps `d`, waking early on a stop request; false when stopped.
async fn sleep_unless_stopped(d: Duration, options: &ReplayOptions) -> bool {
    let until = Instant::now() + d;
    while !options.stop.requested() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        tokio::time::sleep(left.min(Duration::from_millis(20))).await;
    }
    false
}

/// The closed loops, at once; returns as [`crate::dispatch`]'s open loop does (when it was interrupted,
/// µs from time 0; the wall-clock instant of time 0; never late).
pub(crate) async fn dispatch_loops(
    schedule: &Schedule,
    loops: &[Vec<Round>],
    (targets, requests): (&[Target], &[Rc<RequestTemplate>]),
    options: &ReplayOptions,
    (sink, failures): (&Rc<Sink>, &FirstFailures),
) -> Result<(Option<u64>, SystemTime, Option<Duration>), ReplayError> {
    let clients = crate::client::connect(targets, &schedule.endpoints, options, requests).await?;
    let (start, start_wall) = (Instant::now(), SystemTime::now());
    // Chained workflow instances (STeLLAR's chains): the loops send their entries, the functions the rest.
    let chaining = match options.orchestration {
        crate::options::Orchestration::Chained => Some(crate::chained::Chaining::new(
            schedule,
            (
                start_wall
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_micros() as u64,
                options.grpc_timeout,
            ),
            options.store.as_deref(),
        )?),
        crate::options::Orchestration::Client => None,
    };
    let mut sending = Sending::new(&clients, (sink, failures), options);
    sending.chaining = chaining.as_ref();
    let loop_of = Loop {
        schedule,
        options,
        sending,
        start,
        released: RefCell::new(vec![false; schedule.calls.len()]),
    };
    let ends = futures_util::future::join_all(loops.iter().map(|rounds| loop_of.run(rounds))).await;
    let interrupted_at = ends.into_iter().flatten().min();
    // Calls never released (a stop request) keep their record; a chained instance's other nodes have
    // theirs from its entry's answer.
    for (index, call) in schedule.calls.iter().enumerate() {
        let by_a_function = chaining
            .as_ref()
            .is_some_and(|c| c.is_called_by_a_function(index));
        if !loop_of.released.borrow()[index] && !by_a_function {
            sink.push(schedule.unsent_record(call, index as u64, 0, Outcome::NotSentInterrupted));
        }
    }
    Ok((interrupted_at, start_wall, None))
}

/// What every closed loop of a replay shares.
struct Loop<'a> {
    schedule: &'a Schedule,
    options: &'a ReplayOptions,
    sending: Sending<'a>,
    start: Instant,
    released: RefCell<Vec<bool>>,
}

impl Loop<'_> {
    /// One closed loop; when it was stopped, µs from time 0.
    async fn run(&self, rounds: &[Round]) -> Option<u64> {
        let stopped = || Some(self.start.elapsed().as_micros() as u64);
        for round in rounds {
            if !sleep_unless_stopped(round.sleep_before, self.options).await {
                return stopped();
            }
            for burst in &round.bursts {
                if self.options.stop.requested() {
                    return stopped();
                }
                let mut calls = tokio::task::JoinSet::new();
                for index in burst.clone() {
                    self.release(index, &mut calls);
                }
                // Closed loop: the whole burst is answered (or times out) before the next one goes.
                while calls.join_next().await.is_some() {
                    self.sending.sink.flush_if_due();
                }
            }
        }
        None
    }

    /// Sends call `index` now, as a task of `calls`.
    fn release(&self, index: usize, calls: &mut tokio::task::JoinSet<()>) {
        let call = &self.schedule.calls[index];
        self.released.borrow_mut()[index] = true;
        let now = Instant::now();
        let mut record =
            self.schedule
                .unsent_record(call, index as u64, 0, Outcome::NotSentInterrupted);
        record.scheduled_us = now.saturating_duration_since(self.start).as_micros() as u64;
        record.dispatch_lag_ns = Some(0);
        if let Some(o) = &self.options.observer {
            o.call_due();
        }
        calls.spawn_local(self.sending.send(call, record, now));
    }
}
