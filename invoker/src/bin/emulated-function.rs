//! `emulated-function`: a gRPC function server that emulates a proxy's duration and memory profile.

use std::io::Write;

use anyhow::{bail, Context, Result};
use clap::Parser;
use invoker::emulated::{serve, server_runtime, Behaviour, DEFAULT_BUDGET_MB};
use profiles::Catalogue;

/// Serves helloworld.Greeter/SayHello: per request, touches a working set and busy-spins, as a proxy would.
#[derive(Debug, Parser)]
#[command(name = "emulated-function", version, about)]
struct Args {
    /// Address to listen on (port 0: any free port). The bound address is printed as `listening on ADDR`.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Emulate this proxy of --profile (durations and memory drawn from its percentiles per request).
    #[arg(long, value_name = "NAME")]
    proxy: Option<String>,
    /// Catalogue the proxy comes from: `builtin` or a profile.json.
    #[arg(long, default_value = "builtin")]
    profile: String,
    /// Fixed busy time per request, ms (instead of --proxy).
    #[arg(long, value_name = "MS", conflicts_with = "proxy")]
    duration_ms: Option<f64>,
    /// Fixed working set per request, MiB (instead of --proxy).
    #[arg(long, value_name = "MIB", conflicts_with = "proxy")]
    memory_mb: Option<f64>,
    /// Memory all concurrent requests may hold together, MiB.
    #[arg(long, default_value_t = DEFAULT_BUDGET_MB)]
    memory_budget_mb: u32,
    /// Worker threads, and the most requests busy at once (the rest queue, using no CPU).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> Result<()> {
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .init();
    let args = Args::parse();
    let mut behaviour = match &args.proxy {
        Some(name) => {
            let catalogue = Catalogue::load(&args.profile)
                .with_context(|| format!("reading {}", args.profile))?;
            let Some(proxy) = catalogue.get(name) else {
                bail!("unknown proxy `{name}` in {}", args.profile);
            };
            Behaviour::of_proxy(proxy)
        }
        None => Behaviour::fixed(
            "emulated",
            args.duration_ms.unwrap_or(0.0),
            args.memory_mb.unwrap_or(0.0),
        ),
    };
    behaviour.memory_budget_mb = args.memory_budget_mb;
    let runtime = server_runtime(args.threads, None)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve(listener, behaviour, shutdown).await?;
        Ok(())
    })
}
