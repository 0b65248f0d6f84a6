//! One module per subcommand: each wires the pipeline's steps (or a library step) together and hands what
//! they return to the `report` module to word.

pub mod autoscaler;
pub mod catalogue;
pub mod check;
pub mod clean;
pub mod generate;
pub mod plot;
pub mod predict;
pub mod preprocess;
pub mod replay;
pub mod run;
pub mod sample;
pub mod synth;
pub mod watch;

use anyhow::Result;
use cmdline::Stop;

use crate::cli::{Cli, Command};

/// Runs the parsed command line; `stop` is set by Ctrl-C and SIGTERM.
pub fn run(cli: Cli, stop: &Stop) -> Result<()> {
    match cli.command {
        Command::Generate(args) => generate::generate(&args, stop).map(|report| print!("{report}")),
        Command::Deploy(args) => generate::deploy(&args, stop),
        Command::Run(args) if args.load.deploy.dry_run => check::dry_run(&args, stop),
        Command::Run(args) => {
            let outcome = run::run(&args, stop)?;
            // The run is complete and in place; it measured nothing, which must not pass unnoticed.
            match outcome.summary.every_call_failed() {
                Some(why) => anyhow::bail!(
                    "{why}\n(the run's files are in {})",
                    args.output_dir.display()
                ),
                None => Ok(()),
            }
        }
        Command::Experiment(args) => crate::experiment::experiment(&args, stop),
        Command::Clean(args) => clean::clean(&args),
        Command::Preprocess(args) => preprocess::preprocess(&args).map(|_| ()),
        Command::Sample(args) => sample::sample(&args).map(|_| ()),
        Command::Plot(args) => plot::plot(&args).map(|_| ()),
        Command::Synth(args) => synth::synth(&args),
        Command::Catalogue(args) => catalogue::catalogue(&args),
        Command::Autoscaler(args) => autoscaler::autoscaler(&args),
        Command::Predict(args) => predict::predict(&args).map(|_| ()),
    }
}
