//! One call's life after its release: made by its client, then its record completed (send lag, what
//! went over the wire, what the function said) and, for a failure, its cause kept once per endpoint.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::client::Call;
use crate::sink::Pending;

/// The first failure's cause per endpoint: what a run that failed says (once, not once per call).
pub(crate) type FirstFailures = Rc<RefCell<Vec<Option<String>>>>;

/// Makes `call`, due at `deadline`, and completes its record.
pub(crate) async fn call_once(
    call: Call,
    mut pending: Pending,
    deadline: Instant,
    timeout: Duration,
    failures: FirstFailures,
) {
    let reply = call.run(timeout).await;
    let done = Instant::now();
    if let Some(r) = pending.record.as_mut() {
        r.send_lag_ns = Some(reply.sent.saturating_duration_since(deadline).as_nanos() as u64);
        r.wire = reply.wire;
        if let Some(report) = reply.report {
            r.exec_us = Some(report.exec_us);
            r.instance = Some(report.instance_number());
            r.cold = Some(report.cold);
        }
        if let Some(cause) = reply.failure {
            let mut first = failures.borrow_mut();
            let slot = &mut first[r.endpoint as usize];
            if slot.is_none() {
                *slot = Some(cause);
            }
        }
    }
    pending.complete(
        reply.outcome,
        done.saturating_duration_since(reply.sent),
        done.saturating_duration_since(deadline),
    );
}
