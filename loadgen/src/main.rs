//! The `loadgen` binary: parse, set up logging, run.

use clap::Parser;
use loadgen::cli::{normalize_args, Cli};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse_from(normalize_args(std::env::args_os()));
    env_logger::Builder::new()
        .filter_level(if cli.dbg {
            log::LevelFilter::Debug
        } else {
            log::LevelFilter::Info
        })
        .init();
    match loadgen::commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
