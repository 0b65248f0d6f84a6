//! `emulated-function`: a gRPC function server that emulates a proxy's duration and memory profile.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, Parser};
use cmdline::values::{number_in, whole_in};
use emulated::{serve, server_runtime, Behaviour, DEFAULT_BUDGET_MB};
use profiles::Catalogue;
use profiles::Percentiles;

/// Longest busy time a request may ask for, ms (an hour).
const MAX_DURATION_MS: f64 = 3_600_000.0;
/// Largest working set or budget, MiB (1 TiB).
const MAX_MEMORY_MB: u64 = 1 << 20;

/// A gRPC function server (helloworld.Greeter/SayHello, as vSwarm's proxies) that emulates a function:
/// per call it takes a duration of wall time, computing its CPU share of it and waiting the rest, as the
/// proxy's profile says (or as fixed by --duration-ms, or as the call asks in its metadata). Its instance
/// holds its memory (the profile's median, or --memory-mb) from its cold start on; a call asking for more
/// touches the difference. Its reply says what it did (JSON: exec_us, instance, cold, memory_mb).
/// Also answers the standard gRPC health check.
#[derive(Debug, Parser)]
#[command(name = "emulated-function", version, long_about = None)]
struct Args {
    /// Address to listen on (port 0: any free port). The bound address is printed as `listening on ADDR`.
    /// Default: 0.0.0.0:$PORT when the environment sets PORT (as Knative does), else 127.0.0.1:0.
    #[arg(long)]
    listen: Option<String>,
    /// Emulate this proxy of --profile (durations drawn from its percentiles per request; its median
    /// memory held by the instance).
    #[arg(long, value_name = "NAME")]
    proxy: Option<String>,
    /// Catalogue the proxy comes from: `builtin` or a profile.json.
    #[arg(long, default_value = "builtin")]
    profile: String,
    /// Name reported in replies (default: the proxy's, or `emulated`).
    #[arg(long)]
    name: Option<String>,
    /// Wall time per call drawn from these percentiles, ms: `P:V,P:V,…` (e.g. `0:5,50:12,100:40`; what
    /// `loadgen -p trace` gives each function's own emulated function). Instead of --proxy.
    #[arg(long, value_name = "P:MS,…", conflicts_with_all = ["proxy", "duration_ms"], value_parser = parse_percentiles)]
    duration_percentiles: Option<Percentiles>,
    /// Memory percentiles, MiB: `P:V,P:V,…`; the instance holds the median. Instead of --proxy.
    #[arg(long, value_name = "P:MIB,…", conflicts_with_all = ["proxy", "memory_mb"], value_parser = parse_percentiles)]
    memory_percentiles: Option<Percentiles>,
    /// Fixed busy time per request, ms, 0 to 3,600,000 (instead of --proxy).
    #[arg(long, value_name = "MS", conflicts_with = "proxy", value_parser = number_in(0.0, MAX_DURATION_MS))]
    duration_ms: Option<f64>,
    /// Memory the instance holds from its cold start on, MiB, 0 up to --memory-budget-mb (instead of
    /// --proxy).
    #[arg(long, value_name = "MIB", conflicts_with = "proxy", value_parser = number_in(0.0, MAX_MEMORY_MB as f64))]
    memory_mb: Option<f64>,
    /// Memory the instance and its calls may hold together, MiB (1 to 1,048,576).
    #[arg(long, default_value_t = DEFAULT_BUDGET_MB, value_parser = whole_in::<u32>(1, MAX_MEMORY_MB))]
    memory_budget_mb: u32,
    /// Worker threads, and the most calls computing at once (the rest queue, using no CPU); 1 to 1024.
    #[arg(long, default_value_t = 1, value_parser = whole_in::<usize>(1, 1024))]
    threads: usize,
    /// Fraction of a call's wall time spent computing, 0 to 1; the rest is waiting that holds no thread.
    /// Default: the proxy's (its profile's CPU utilisation), or 1 with --duration-ms.
    #[arg(long, value_name = "FRACTION", value_parser = number_in(0.0, 1.0))]
    cpu_share: Option<f64>,
    /// Seconds an instance may sit idle before the next call is a cold start (0 to a day).
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0, value_parser = number_in(0.0, 86_400.0))]
    keep_alive: f64,
    /// Extra wait of a cold call before it runs, ms (0 to 600,000).
    #[arg(long, value_name = "MS", default_value_t = 0.0, value_parser = number_in(0.0, 600_000.0))]
    cold_start_ms: f64,
    /// Serve this function's metrics in Prometheus' format at http://HOST:PORT/metrics (`emulated_…`:
    /// requests, cold starts, calls in flight, busy threads, queue length, working set, instances).
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
}

/// `P:V,P:V,…`: percentiles 0 to 100 with values of at least 0.
fn parse_percentiles(text: &str) -> Result<Percentiles, String> {
    let mut points = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (p, v) = part
            .split_once(':')
            .ok_or_else(|| format!("`{part}` is not P:VALUE"))?;
        let p: f64 = p
            .trim()
            .parse()
            .map_err(|_| format!("`{p}` is not a percentile"))?;
        let v: f64 = v
            .trim()
            .parse()
            .map_err(|_| format!("`{v}` is not a number"))?;
        if !(0.0..=100.0).contains(&p) || !v.is_finite() || v < 0.0 {
            return Err(format!(
                "`{part}`: the percentile must be 0 to 100 and the value at least 0"
            ));
        }
        points.push((p, v));
    }
    if points.is_empty() {
        return Err("no P:VALUE given".into());
    }
    Ok(Percentiles::new(points))
}

fn main() -> ExitCode {
    cmdline::init_logging(false);
    // The same command-line rules as the other tools: a negative number is that flag's invalid value.
    let args = cmdline::goflags::parse_args(&Args::command(), std::env::args_os())
        .and_then(Args::try_parse_from)
        .unwrap_or_else(|e| e.exit());
    cmdline::main_result(run(&args), None)
}

fn run(args: &Args) -> Result<()> {
    if let Some(mb) = args.memory_mb {
        if mb > f64::from(args.memory_budget_mb) {
            bail!(
                "--memory-mb {mb} is more than --memory-budget-mb {}: no request could ever run",
                args.memory_budget_mb
            );
        }
    }
    let mut behaviour = match &args.proxy {
        Some(name) => {
            let catalogue = Catalogue::load(&args.profile)
                .with_context(|| format!("reading {}", args.profile))?;
            let Some(proxy) = catalogue.get(name) else {
                bail!("unknown proxy `{name}` in {}", args.profile);
            };
            Behaviour::of_proxy(proxy)
        }
        None => {
            let mut b = Behaviour::fixed(
                "emulated",
                args.duration_ms.unwrap_or(0.0),
                args.memory_mb.unwrap_or(0.0),
            );
            if let Some(p) = &args.duration_percentiles {
                b.duration_ms = p.clone();
            }
            if let Some(p) = &args.memory_percentiles {
                b.memory_mb = p.clone();
            }
            b
        }
    };
    if let Some(name) = &args.name {
        behaviour.name = name.clone();
    }
    behaviour.memory_budget_mb = args.memory_budget_mb;
    if let Some(share) = args.cpu_share {
        behaviour.cpu_share = share;
    }
    behaviour.keep_alive = std::time::Duration::from_secs_f64(args.keep_alive);
    behaviour.cold_start = std::time::Duration::from_secs_f64(args.cold_start_ms / 1e3);
    let listen = match (&args.listen, std::env::var("PORT")) {
        (Some(listen), _) => listen.clone(),
        (None, Ok(port)) => {
            let port: u16 = port
                .trim()
                .parse()
                .with_context(|| format!("the environment's PORT `{port}` is not a port"))?;
            format!("0.0.0.0:{port}")
        }
        (None, Err(_)) => "127.0.0.1:0".to_owned(),
    };
    let metrics = std::sync::Arc::new(emulated::FleetMetrics::new());
    let _metrics_server = args
        .metrics_addr
        .as_ref()
        .map(|addr| {
            let sampled = std::sync::Arc::clone(&metrics);
            observe::MetricsServer::start_refreshing(
                addr,
                vec![metrics.registry()],
                std::sync::Arc::new(move || {
                    sampled.scale();
                }),
            )
            .with_context(|| format!("--metrics-addr {addr}: cannot serve metrics there"))
        })
        .transpose()?;
    let runtime = server_runtime(args.threads, None)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        println!(
            "listening on {} (gRPC, HTTP/1.1 and h2c); busy-spin {:.0} increments/µs (STeLLAR's IncrementLimit)",
            listener.local_addr()?,
            emulated::function::spin_rate_per_us()
        );
        std::io::stdout().flush()?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve(listener, behaviour, metrics, shutdown).await?;
        Ok(())
    })
}
