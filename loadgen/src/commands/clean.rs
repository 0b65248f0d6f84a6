//! `loadgen clean`: deletes the Knative services loadgen labelled, and nothing else.

use anyhow::Result;

use crate::cli::CleanArgs;
use crate::deploy::knative::{self, MANAGED_BY, MANAGED_BY_LABEL};

/// Lists (and unless `--dry-run`, deletes) our services.
pub fn clean(args: &CleanArgs) -> Result<()> {
    let services = knative::clean("kubectl", args.dry_run)?;
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    if services.is_empty() {
        println!("clean      no Knative service carries {MANAGED_BY_LABEL}={MANAGED_BY}; nothing to delete");
    } else {
        println!(
            "clean      {verb} {} Knative service(s) labelled {MANAGED_BY_LABEL}={MANAGED_BY}: {}",
            services.len(),
            services.join(", ")
        );
    }
    Ok(())
}
