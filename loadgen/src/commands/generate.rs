//! `loadgen generate` (vSwarm's `main.py loadgen`) and `loadgen deploy`: the pipeline up to `load.json`,
//! deploy also serving the local proxies until Ctrl-C.

use std::time::Duration;

use anyhow::{bail, Result};
use cmdline::Stop;

use crate::cli::{GenerateArgs, Scale};
use crate::pipeline::{deploy_proxies, local_fleet, prepare, write_load, Generated};
use crate::plan::{Input, LoadPlan};
use deploy::kube::new_run_id;
use deploy::Deployer;

/// Read, map, write `mapping.json`, deploy on Knative if asked, write the load.
pub fn generate(args: &GenerateArgs, stop: &Stop) -> Result<Generated> {
    args.check_output()?;
    let kind = args.load.deploy.deployer_or(Deployer::None);
    if kind == Deployer::Local {
        bail!("--deployer local: local servers live only as long as loadgen; use `loadgen deploy` (serves until Ctrl-C) or `loadgen run`");
    }
    let plan = LoadPlan::check(&args.load, rand::random)?;
    let input = Input::find(&args.load, &args.trace_dir())?;
    let prepared = prepare(&plan, &input, &args.mapping_path())?;
    if prepared.size.total == 0 {
        log::warn!(
            "the window holds no call: the load is written, empty, and replaying it sends nothing"
        );
    }
    let deployment = deploy_proxies(&prepared, &plan, kind, None, &new_run_id(), stop)?;
    let endpoints_path = (kind != Deployer::None).then(|| args.endpoints_path());
    write_load(
        &prepared,
        &plan,
        &deployment,
        &args.output,
        endpoints_path.as_deref(),
        false,
    )
}

/// Like generate, then (local) serve until Ctrl-C.
pub fn deploy(args: &GenerateArgs, stop: &Stop) -> Result<()> {
    args.check_output()?;
    let kind = args.load.deploy.deployer_or(Deployer::Local);
    let endpoints_path = args.endpoints_path();
    let plan = LoadPlan::check(&args.load, rand::random)?;
    let input = Input::find(&args.load, &args.trace_dir())?;
    let prepared = prepare(&plan, &input, &args.mapping_path())?;
    let fleet = (kind == Deployer::Local)
        .then(|| local_fleet(&plan, &prepared, &[], 0, Scale::Factor(1.0)))
        .transpose()?;
    if let Some(fleet) = &fleet {
        println!("scale      {}", fleet.note);
    }
    let mut deployment =
        deploy_proxies(&prepared, &plan, kind, fleet.as_ref(), &new_run_id(), stop)?;
    let report = write_load(
        &prepared,
        &plan,
        &deployment,
        &args.output,
        (kind != Deployer::None).then_some(endpoints_path.as_path()),
        false,
    )?;
    print!("{report}");
    if let Some(mut servers) = deployment.servers.take() {
        println!(
            "serving    {} emulated functions (endpoints in {}); Ctrl-C stops them",
            servers.addrs.len(),
            endpoints_path.display()
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        while !stop.requested() {
            std::thread::sleep(Duration::from_millis(50));
        }
        servers.stop();
        println!("stopped    all emulated function servers");
    }
    Ok(())
}
