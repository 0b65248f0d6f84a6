//! `loadgen clean`: deletes what loadgen made in the cluster (Knative services and the workers' Jobs, all
//! labelled `app.kubernetes.io/managed-by=serverless-loadgen`), or one run's only, and nothing else.

use anyhow::Result;

use crate::cli::CleanArgs;
use crate::deploy::knative::{self, MANAGED_BY, MANAGED_BY_LABEL};
use crate::workers::kubernetes::{self, RUN_LABEL};

/// Lists (and unless `--dry-run`, deletes) our services and Jobs.
pub fn clean(args: &CleanArgs) -> Result<()> {
    let run = args.run.as_deref();
    let services = knative::clean("kubectl", args.dry_run, run)?;
    let jobs = kubernetes::list_jobs("kubectl", run)?;
    if !args.dry_run {
        kubernetes::delete_jobs("kubectl", &jobs)?;
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let labels = match run {
        Some(run) => format!("{MANAGED_BY_LABEL}={MANAGED_BY},{RUN_LABEL}={run}"),
        None => format!("{MANAGED_BY_LABEL}={MANAGED_BY}"),
    };
    for (kind, items) in [("Knative service(s)", &services), ("Job(s)", &jobs)] {
        if items.is_empty() {
            println!("clean      no {kind} labelled {labels}; nothing to delete");
        } else {
            println!(
                "clean      {verb} {} {kind} labelled {labels}: {}",
                items.len(),
                items.join(", ")
            );
        }
    }
    Ok(())
}
