//! The workers' live reports, folded into one observer of the whole load: the coordinator's live view
//! and `/metrics` then count every worker's calls, as if one invoker replayed them all.
//!
//! Each worker's reports are applied once, in order ([`formats::transfer::LiveReport`]): a report sent
//! again is acknowledged and ignored, one that skips ahead is refused (the worker sends the missing one
//! first). A worker's `due` and `sent` are totals; the observer is given what each report adds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use formats::transfer::LiveReport;
use invoker::observe::Observer;

/// What the coordinator knows of one worker's reports.
#[derive(Debug, Default)]
struct Reported {
    /// The number of the next report to apply.
    next: u64,
    /// The worker's endpoint indices mapped to the whole load's.
    endpoints: Vec<u32>,
    due: u64,
    sent: u64,
}

/// How a report was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Folded in.
    Folded,
    /// Already folded in earlier (sent again); ignored.
    Again,
}

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No such worker in this run.
    #[error("no worker {0} in this run")]
    NoWorker(u32),
    /// It skips ahead of the next report expected.
    #[error("report {got} arrived before report {expected}")]
    OutOfOrder {
        /// The next report expected.
        expected: u64,
        /// The report received.
        got: u64,
    },
    /// Its content does not fit the load.
    #[error("{0}")]
    Invalid(String),
}

/// The workers' live reports, folded into an observer of the whole load.
pub struct WorkersLive {
    observer: Arc<Observer>,
    index: HashMap<String, u32>,
    workers: Mutex<Vec<Reported>>,
}

impl WorkersLive {
    /// Folds `workers` workers' reports into `observer` (made for the whole load).
    pub fn new(observer: Arc<Observer>, workers: u32) -> WorkersLive {
        let index = observer
            .endpoints()
            .iter()
            .enumerate()
            .map(|(i, e)| (e.clone(), i as u32))
            .collect();
        WorkersLive {
            observer,
            index,
            workers: Mutex::new((0..workers).map(|_| Reported::default()).collect()),
        }
    }

    /// Applies worker `k`'s `report`, or says why not (nothing of it is counted then).
    pub fn apply(&self, k: u32, report: &LiveReport) -> Result<Applied, Refused> {
        let mut workers = self.workers.lock().expect("live reports lock");
        let worker = workers.get_mut(k as usize).ok_or(Refused::NoWorker(k))?;
        if report.seq < worker.next {
            return Ok(Applied::Again);
        }
        if report.seq > worker.next {
            return Err(Refused::OutOfOrder {
                expected: worker.next,
                got: report.seq,
            });
        }
        let mapped = match &report.endpoints {
            Some(names) => Some(
                names
                    .iter()
                    .map(|name| {
                        self.index.get(name).copied().ok_or_else(|| {
                            Refused::Invalid(format!("endpoint `{name}` is not in the load"))
                        })
                    })
                    .collect::<Result<Vec<u32>, _>>()?,
            ),
            None => None,
        };
        let (due, sent) = (
            report.due.saturating_sub(worker.due),
            report.sent.saturating_sub(worker.sent),
        );
        let endpoints = mapped.as_deref().unwrap_or(&worker.endpoints);
        self.observer
            .fold_report(due, sent, &report.calls, endpoints)
            .map_err(Refused::Invalid)?;
        if let Some(mapped) = mapped {
            worker.endpoints = mapped;
        }
        worker.next += 1;
        worker.due = worker.due.max(report.due);
        worker.sent = worker.sent.max(report.sent);
        Ok(Applied::Folded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::records::Outcome;
    use formats::transfer::FinishedCall;

    fn call(endpoint: u32, outcome: Outcome) -> FinishedCall {
        FinishedCall {
            endpoint,
            outcome,
            send_lag_ns: Some(1_000),
            latency_us: (outcome == Outcome::Ok).then_some(500),
        }
    }

    #[test]
    fn reports_fold_once_in_order_with_each_workers_endpoints() {
        let endpoints = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let observer = Arc::new(Observer::new(&endpoints, &[1, 1, 1]));
        let live = WorkersLive::new(Arc::clone(&observer), 2);
        // Worker 0 knows only c and a, in that order.
        let first = LiveReport {
            seq: 0,
            due: 3,
            sent: 2,
            endpoints: Some(vec!["c".into(), "a".into()]),
            calls: vec![call(0, Outcome::Ok), call(1, Outcome::Timeout)],
        };
        assert_eq!(live.apply(0, &first), Ok(Applied::Folded));
        // Sent again (its answer was lost): not counted twice.
        assert_eq!(live.apply(0, &first), Ok(Applied::Again));
        let skipped = LiveReport {
            seq: 2,
            ..LiveReport::default()
        };
        assert_eq!(
            live.apply(0, &skipped),
            Err(Refused::OutOfOrder {
                expected: 1,
                got: 2
            })
        );
        let second = LiveReport {
            seq: 1,
            due: 4,
            sent: 4,
            endpoints: None,
            calls: vec![call(0, Outcome::Ok), call(0, Outcome::Ok)],
        };
        assert_eq!(live.apply(0, &second), Ok(Applied::Folded));
        let other = LiveReport {
            seq: 0,
            due: 1,
            sent: 1,
            endpoints: Some(vec!["b".into()]),
            calls: vec![call(0, Outcome::Ok)],
        };
        assert_eq!(live.apply(1, &other), Ok(Applied::Folded));
        let s = observer.snapshot();
        assert_eq!((s.due, s.sent, s.finished, s.in_flight), (5, 5, 5, 0));
        assert_eq!(s.per_endpoint, vec![1, 1, 3]);
        assert!(s.outcomes.contains(&("ok", 4)) && s.outcomes.contains(&("timeout", 1)));
        // What does not fit the load is refused whole.
        let unknown = LiveReport {
            seq: 0,
            endpoints: Some(vec!["z".into()]),
            ..LiveReport::default()
        };
        assert!(matches!(live.apply(1, &unknown), Ok(Applied::Again)));
        let fresh = WorkersLive::new(Arc::clone(&observer), 1);
        assert!(matches!(fresh.apply(0, &unknown), Err(Refused::Invalid(e)) if e.contains("`z`")));
        let bad_endpoint = LiveReport {
            seq: 0,
            due: 9,
            sent: 9,
            endpoints: Some(vec!["a".into()]),
            calls: vec![call(0, Outcome::Ok), call(1, Outcome::Ok)],
        };
        assert!(
            matches!(fresh.apply(0, &bad_endpoint), Err(Refused::Invalid(e)) if e.contains("endpoint 1"))
        );
        assert_eq!(observer.snapshot().finished, 5);
        assert_eq!(live.apply(7, &first), Err(Refused::NoWorker(7)));
    }
}
