//! Memory an emulated function holds: an instance's footprint (its pages, resident, from the budget
//! all the fleet's functions share) and a call's extra working set.

use std::sync::Arc;

use observe::Held;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use crate::metrics::FleetMetrics;

/// An instance's footprint: its pages, resident, and the budget they take, given back when dropped.
pub(crate) struct Footprint {
    pub(crate) _pages: Vec<u8>,
    pub(crate) _budget: Option<OwnedSemaphorePermit>,
    pub(crate) _gauge: Held,
}

impl std::fmt::Debug for Footprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Footprint").finish_non_exhaustive()
    }
}

/// `mib` of the `budget`, waited for when other instances and calls hold it.
pub(crate) async fn budget_for(
    budget: &Arc<Semaphore>,
    mib: u32,
) -> Result<Option<OwnedSemaphorePermit>, Status> {
    if mib == 0 {
        return Ok(None);
    }
    Arc::clone(budget)
        .acquire_many_owned(mib)
        .await
        .map(Some)
        .map_err(|_| Status::unavailable("server shutting down"))
}

/// A new instance's footprint of `mib`: its budget (queued for, as a call waiting for memory is), then
/// its pages touched on a busy thread.
pub(crate) async fn footprint(
    budget: &Arc<Semaphore>,
    metrics: &FleetMetrics,
    mib: u32,
) -> Result<Footprint, Status> {
    let queued = Held::new(&metrics.queued, 1);
    let budget = budget_for(budget, mib).await?;
    let busy = metrics.busy.clone();
    let pages = tokio::task::spawn_blocking(move || {
        drop(queued);
        let _busy = Held::new(&busy, 1);
        touch(mib as usize)
    })
    .await
    .map_err(|e| Status::internal(e.to_string()))?;
    Ok(Footprint {
        _pages: pages,
        _budget: budget,
        _gauge: Held::new(&metrics.working_set_bytes, i64::from(mib) << 20),
    })
}

/// Allocates `mib` MiB and writes one byte per page, so the pages are really resident; the caller holds
/// them as long as the call runs.
pub(crate) fn touch(mib: usize) -> Vec<u8> {
    if mib == 0 {
        return Vec::new();
    }
    let mut buffer = vec![0u8; mib << 20];
    for i in (0..buffer.len()).step_by(4096) {
        buffer[i] = 1;
    }
    std::hint::black_box(buffer)
}
