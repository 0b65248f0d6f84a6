//! The `invoker` binary: parse (Go-style flags accepted), read the schedule, replay, report.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use cmdline::Stop;
use invoker::cli::InvokerArgs;
use invoker::dispatch::{replay, ReplayOptions};
use invoker::schedule::Schedule;

fn main() -> ExitCode {
    let args = InvokerArgs::parse_command_line(std::env::args_os()).unwrap_or_else(|e| e.exit());
    cmdline::init_logging(args.dbg);
    // Ctrl-C and SIGTERM stop dispatch; calls in flight end (a second signal stops waiting for them) and
    // every record is written before the process exits with 130 or 143.
    let stop = match Stop::on_signals() {
        Ok(stop) => stop,
        Err(e) => return cmdline::main_result(Err(e).context("installing signal handlers"), None),
    };
    cmdline::main_result(run(&args, &stop), Some(&stop))
}

fn run(args: &InvokerArgs, stop: &Stop) -> Result<()> {
    if args.trace || args.zipkin.is_some() {
        log::warn!("-trace/-zipkin (Zipkin tracing) are not supported; ignoring them");
    }
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
    let summary = replay(
        schedule,
        ReplayOptions {
            default_port: args.port,
            grpc_timeout: args.grpc_timeout,
            connect_timeout: args.grpc_timeout.min(Duration::from_secs(5)),
            connections: args.connections as usize,
            max_in_flight: args.max_in_flight,
            start_at: args.start_at,
            allow_unreachable: args.allow_unreachable,
            realtime: args.realtime,
            dispatcher_cpu: args.dispatcher_cpu,
            records: args.records.clone(),
            latency_file: Some(args.latf.clone()),
            stop: stop.clone(),
        },
    )?;
    print!("{summary}");
    if let Some(path) = &args.summary {
        let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
        formats::output::write_atomic(path, json.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
