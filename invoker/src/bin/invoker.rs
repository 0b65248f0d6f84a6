//! The `invoker` binary: parse (Go-style flags accepted), read the schedule, replay, report.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use invoker::cli::{normalize_args, InvokerArgs};
use invoker::dispatch::{replay, ReplayOptions};
use invoker::schedule::Schedule;

fn main() -> std::process::ExitCode {
    let args = InvokerArgs::parse_from(normalize_args(std::env::args_os()));
    env_logger::Builder::new()
        .filter_level(if args.dbg {
            log::LevelFilter::Debug
        } else {
            log::LevelFilter::Info
        })
        .init();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: &InvokerArgs) -> Result<()> {
    if args.trace || args.zipkin.is_some() {
        log::warn!("-trace/-zipkin (Zipkin tracing) are not supported; ignoring them");
    }
    let timeout = args.timeout().map_err(anyhow::Error::msg)?;
    let schedule = Schedule::from_file(
        &args.trace_file,
        args.period_us(),
        args.warmup,
        args.duration,
    )
    .context("reading the load")?;
    if schedule.periods < args.warmup.saturating_add(args.duration) {
        log::warn!(
            "{} holds {} periods; replaying all of them (asked for {} warm-up + {})",
            args.trace_file.display(),
            schedule.periods_in_file,
            args.warmup,
            args.duration
        );
    }
    log::info!(
        "replaying {} calls to {} endpoints over {} periods",
        schedule.calls.len(),
        schedule.endpoints.len(),
        schedule.periods
    );
    // Ctrl-C and SIGTERM stop dispatch; in-flight calls end and every record is written.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let summary = replay(
        schedule,
        ReplayOptions {
            default_port: args.port,
            grpc_timeout: timeout,
            connect_timeout: timeout.min(Duration::from_secs(5)),
            connections: args.connections as usize,
            max_in_flight: args.max_in_flight,
            start_at: args.start_at,
            allow_unreachable: args.allow_unreachable,
            realtime: args.realtime,
            dispatcher_cpu: args.dispatcher_cpu,
            records: args.records.clone(),
            latency_file: Some(args.latf.clone()),
            stop,
        },
    )?;
    print!("{summary}");
    if let Some(path) = &args.summary {
        let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
