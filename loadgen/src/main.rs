//! The `loadgen` binary: parse, set up logging and Ctrl-C, run, end with the right status.

use std::process::ExitCode;

use anyhow::Context;
use cmdline::Stop;

fn main() -> ExitCode {
    let cli = loadgen::cli::parse_command_line(std::env::args_os()).unwrap_or_else(|e| e.exit());
    cmdline::init_logging(cli.dbg);
    let stop = match Stop::on_signals() {
        Ok(stop) => stop,
        Err(e) => return cmdline::main_result(Err(e).context("installing signal handlers"), None),
    };
    // `deploy` serves until Ctrl-C: that is its normal end, not an interruption.
    let interruptible = !matches!(cli.command, loadgen::cli::Command::Deploy(_));
    let result = loadgen::commands::run(cli, &stop);
    cmdline::main_result(result, interruptible.then_some(&stop))
}
