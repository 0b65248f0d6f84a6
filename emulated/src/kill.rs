//! Instances killed on purpose: a fault a run injects (`loadgen run --fault T:kill-instances`) to see
//! how the platform recovers. A killed instance is gone at once: the calls it was serving end with an
//! error (`UNAVAILABLE`, as a client of a pod that died sees its connection reset), and later calls go
//! to the function's other instances, or to new ones it scales up (`--local-platform knative`), or to
//! the restarted server, cold again (`--local-platform simple`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::watch;
use tonic::Status;

use crate::instance::Instances;

/// Which of a function's instances to kill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KillWhich {
    /// Every instance.
    All,
    /// This many (all, when it has fewer).
    Count(u32),
    /// This percentage of them, rounded up (so any instance at all means at least one).
    Percent(f64),
}

impl KillWhich {
    /// How many of `alive` instances this is.
    pub fn of(self, alive: usize) -> usize {
        match self {
            KillWhich::All => alive,
            KillWhich::Count(n) => (n as usize).min(alive),
            KillWhich::Percent(p) => {
                ((alive as f64 * p.clamp(0.0, 100.0) / 100.0).ceil() as usize).min(alive)
            }
        }
    }
}

/// One function's kill switch: which of its instances were killed, watched by the calls they serve.
pub(crate) struct Kills {
    /// Every instance killed so far (ids are random 64-bit numbers, never reused).
    killed: watch::Sender<Arc<HashSet<u64>>>,
    /// The function's instances, once its server made them.
    instances: OnceLock<Instances>,
}

impl Kills {
    /// A switch with nothing killed, for a function whose server has not started yet.
    pub(crate) fn new() -> Arc<Kills> {
        Arc::new(Kills {
            killed: watch::Sender::new(Arc::new(HashSet::new())),
            instances: OnceLock::new(),
        })
    }

    /// The function's instances, made by its server.
    pub(crate) fn attach(&self, instances: Instances) {
        let _ = self.instances.set(instances);
    }

    /// Kills `which` of the function's instances now; returns how many were killed.
    pub(crate) fn kill(&self, which: KillWhich) -> usize {
        let ids = match self.instances.get() {
            Some(Instances::Scaled(pool)) => pool.kill(|alive| which.of(alive)),
            Some(Instances::KeepAlive(instance, keep_alive)) => {
                let mut instance = instance.lock().unwrap_or_else(|e| e.into_inner());
                let alive = instance.alive(std::time::Instant::now(), *keep_alive);
                if which.of(usize::from(alive)) == 1 {
                    vec![instance.restart()]
                } else {
                    Vec::new()
                }
            }
            None => Vec::new(),
        };
        if !ids.is_empty() {
            self.killed.send_modify(|killed| {
                let mut more = HashSet::clone(killed);
                more.extend(ids.iter().copied());
                *killed = Arc::new(more);
            });
        }
        ids.len()
    }

    /// Resolves when instance `id` is killed: the error its calls end with.
    pub(crate) async fn killed(&self, id: u64) -> Status {
        let mut watching = self.killed.subscribe();
        let _ = watching.wait_for(|killed| killed.contains(&id)).await;
        Status::unavailable(format!(
            "instance {} was killed (a fault injected by the run)",
            proto::function::instance_text(id)
        ))
    }
}

/// Set when the call that made it is dropped (its instance killed), so its computation stops.
#[derive(Default)]
pub(crate) struct Abandoned(pub(crate) Arc<AtomicBool>);

impl Drop for Abandoned {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
