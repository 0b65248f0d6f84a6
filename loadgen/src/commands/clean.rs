//! `loadgen clean`: deletes what loadgen made in the cluster (Knative services, the workers' Jobs and
//! their Secrets, all labelled `app.kubernetes.io/managed-by=serverless-loadgen`), or one run's only, and
//! nothing else.

use anyhow::Result;

use crate::cli::CleanArgs;
use coordinator::kubernetes;
use deploy::knative;
use deploy::kube::{self, Kubectl};

/// Lists (and unless `--dry-run`, deletes) our services, Jobs and Secrets.
pub fn clean(args: &CleanArgs) -> Result<()> {
    let run = args.run.as_deref();
    let kubectl = Kubectl::default();
    let services = knative::clean(&kubectl, args.dry_run, run)?;
    let jobs = kubernetes::list_jobs(&kubectl, run)?;
    let secrets = kubernetes::list_secrets(&kubectl, run)?;
    if !args.dry_run {
        kubectl.delete("job", &jobs, "deleting loadgen's Jobs")?;
        kubectl.delete("secret", &secrets, "deleting loadgen's Secrets")?;
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let labels = kube::ours(run);
    for (kind, items) in [
        ("Knative service(s)", &services),
        ("Job(s)", &jobs),
        ("Secret(s)", &secrets),
    ] {
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
