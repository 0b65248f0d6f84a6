//! The data path every load-making command shares, one step per function, each returning a typed result:
//!
//! 1. [`prepare`]: read the trace window and map its functions onto the proxies ([`Prepared`]);
//! 2. [`deploy_proxies`]: make the proxies callable — named, local emulated servers, or Knative
//!    ([`Deployment`]); [`local_fleet`] sizes the local fleet for the load;
//! 3. [`write_load`]: place every call and write `load.json` ([`Generated`]).
//!
//! The commands (`generate`, `deploy`, `run`) wire these together; the `report` module prints them.
//! The file is long because the three steps share their types and helpers, read best in one place.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cmdline::Stop;
use emulated::LocalServers;
use mapping::MappingSummary;
use profiles::{Catalogue, Proxy};
use trace::{ReadReport, Trace};

use crate::cli::{LoadArgs, Scale};
use crate::generate::{generate, GenerateOptions, GenerateStats, LoadSize};
use crate::map::{map_trace, Mapped};
use crate::plan::{load_catalogue, Input, LoadPlan};
use crate::progress::progress_bar;
use deploy::knative::{self, KnativeOptions, ProxyConfig};
use deploy::kube::RUN_LABEL;
use deploy::local::{
    demand_cores, fitting_scale, footprints_mb, memory_fitting_scale, LocalOptions,
};
use deploy::{self, Deployer, EndpointEntry};

/// A trace read and mapped, ready to be deployed and generated.
pub struct Prepared {
    /// The trace window (idle functions dropped unless `--keep-idle`).
    pub trace: Trace,
    /// What the load comes from: the trace's path, or the shape in words.
    pub source: String,
    /// The seed of every random choice (`--seed`, or one drawn here and reported).
    pub seed: u64,
    /// The proxies.
    pub catalogue: Catalogue,
    /// Each function's proxy.
    pub mapped: Mapped,
    /// Functions with no call in the window.
    pub idle: usize,
    /// How many calls the window holds.
    pub size: LoadSize,
    /// Where mapping.json was written.
    pub mapping_path: PathBuf,
    /// Time to read.
    pub ingest: Duration,
    /// Time to map.
    pub map: Duration,
}

impl Prepared {
    /// Catalogue indices of the proxies to deploy, ascending.
    pub fn proxies_used(&self) -> Vec<usize> {
        self.mapped.proxies_used()
    }

    /// The proxies of [`Prepared::proxies_used`].
    pub fn proxies(&self) -> Vec<&Proxy> {
        self.proxies_used()
            .iter()
            .map(|&p| &self.catalogue.proxies[p])
            .collect()
    }

    /// Calls in the window per proxy of [`Prepared::proxies_used`].
    pub fn calls_per_proxy(&self) -> Vec<u64> {
        let used = self.proxies_used();
        let mut calls = vec![0u64; used.len()];
        for (f, p) in self.mapped.proxy_of.iter().enumerate() {
            let i = used.binary_search(p).expect("proxy is in the used set");
            calls[i] += self.trace.total(f);
        }
        calls
    }
}

/// Reads the window `plan` asks for from `input` (an Azure 2019 trace, an Azure 2021 file, or the load
/// shape `--rps` / `--burst-size` make) and maps it onto the plan's catalogue (each function its own
/// with `-p trace`), writing `mapping_path`. The plan's seed keys every draw.
pub fn prepare(plan: &LoadPlan, input: &Input, mapping_path: &Path) -> Result<Prepared> {
    let load = &plan.settings;
    // The plan's parsed profile, else the one `spec` names (parsed here).
    let catalogue_of = |spec: &str| match &plan.catalogue {
        Some(c) => Ok(c.clone()),
        None => load_catalogue(spec),
    };
    let started = Instant::now();
    let seed = plan.seed;
    let Some(periods) = load.warmup_duration.checked_add(load.duration) else {
        bail!("--warmup-duration + --duration is too large");
    };
    let trace_dir = input.path();
    let trace = match input {
        Input::Shape => {
            let catalogue = catalogue_of(&load.profile)?;
            let shaped = crate::shapes::shaped_load(plan, &catalogue)?;
            let premade = (shaped.catalogue, shaped.mapped);
            let prepared = finish_prepare(
                load,
                shaped.trace,
                shaped.source,
                seed,
                |_| Ok(premade),
                mapping_path,
                started,
            )?;
            return Ok(with_node_proxies(prepared, plan, Some(&catalogue)));
        }
        Input::Azure2021(file) => {
            trace::read_azure2021(file, &load.trace.azure2021_options(Some(periods)))
        }
        Input::Azure2019(files) => {
            trace::read_files(files, &load.trace.read_options(Some(periods)))
        }
    }
    .with_context(|| {
        format!(
            "reading the trace in {} (warm-up {} + duration {} periods)",
            trace_dir.display(),
            load.warmup_duration,
            load.duration
        )
    })?;
    finish_prepare(
        load,
        trace,
        trace_dir.display().to_string(),
        seed,
        |trace| {
            // `-p trace`: every function its own emulated function, so nothing is lost to mapping.
            if load.profile == "trace" {
                let catalogue = mapping::own_catalogue(trace);
                let mapped = crate::map::map_to_own(trace, &catalogue, load.percentile)?;
                Ok((catalogue, mapped))
            } else {
                let catalogue = catalogue_of(&load.profile)?;
                let mapped = map_trace(
                    trace,
                    &catalogue,
                    &load.profile,
                    load.percentile,
                    load.unique,
                )?;
                Ok((catalogue, mapped))
            }
        },
        mapping_path,
        started,
    )
    // `-p trace` has no profile: a workflow naming a proxy was refused with the plan.
    .map(|prepared| with_node_proxies(prepared, plan, plan.catalogue.as_ref()))
}

/// A workflow's proxy nodes added to what `prepared` deploys.
fn with_node_proxies(mut p: Prepared, plan: &LoadPlan, profile: Option<&Catalogue>) -> Prepared {
    p.mapped.node_proxy = plan.workflow.as_ref().map_or_else(Vec::new, |load| {
        load.node_proxies(&mut p.catalogue, profile)
    });
    p
}

/// The common end of [`prepare`]: idle functions left out, the size checked, the functions mapped (by
/// `map`) and `mapping.json` written.
fn finish_prepare(
    load: &LoadArgs,
    mut trace: Trace,
    source: String,
    seed: u64,
    map: impl FnOnce(&Trace) -> Result<(Catalogue, Mapped)>,
    mapping_path: &Path,
    started: Instant,
) -> Result<Prepared> {
    let idle = drop_idle(&mut trace, load.keep_idle);
    let size = LoadSize::of(&trace);
    check_size(&size, load.max_calls, &trace)?;
    let ingest = started.elapsed();
    log::debug!("read {} functions in {:?}", trace.functions.len(), ingest);
    let (catalogue, mapped) = map(&trace)?;
    create_parent(mapping_path)?;
    mapped.file.write(mapping_path)?;
    Ok(Prepared {
        trace,
        source,
        seed,
        catalogue,
        mapped,
        idle,
        size,
        mapping_path: mapping_path.to_owned(),
        ingest,
        map: started.elapsed() - ingest,
    })
}

/// Refuses a load of more than `max_calls` calls, or one whose busiest period needs more memory to place
/// than this machine has available, before anything is deployed or written.
pub fn check_size(size: &LoadSize, max_calls: u64, trace: &Trace) -> Result<()> {
    if size.total > max_calls {
        bail!(
            "the window holds {} calls, more than --max-calls {max_calls}; raise --max-calls to make \
             this load, or choose a shorter window (-d) or a smaller trace",
            size.total
        );
    }
    if let Some(available) = host::available_memory_bytes() {
        let needed = size.peak_bytes();
        if needed > available {
            let (period, calls) = size.busiest_period;
            bail!(
                "{} {} of the window holds {calls} calls; placing them needs about {:.1} GiB \
                 at once, more than the {:.1} GiB this machine has available",
                trace.granularity.unit(),
                u64::from(trace.first_period) + period as u64,
                needed as f64 / f64::from(1 << 30),
                available as f64 / f64::from(1 << 30)
            );
        }
    }
    Ok(())
}

/// Removes functions with no invocation in the window unless `keep`; returns how many had none.
pub fn drop_idle(trace: &mut Trace, keep: bool) -> usize {
    let active: Vec<bool> = (0..trace.functions.len())
        .map(|f| trace.total(f) > 0)
        .collect();
    let idle = active.iter().filter(|a| !**a).count();
    if !keep {
        trace.retain(|f| active[f]);
    }
    idle
}

/// The proxies of a load, deployed (or named).
pub struct Deployment {
    /// Proxy and endpoint, in the order of [`Prepared::proxies_used`].
    pub deployed: Vec<EndpointEntry>,
    /// The local servers, alive as long as this is.
    pub servers: Option<LocalServers>,
    /// What was deployed where, in words.
    pub note: Option<String>,
}

/// A Knative deployment written, not applied: its YAMLs and script; endpoints are `name.namespace`.
fn knative_dry_run(planned: &[knative::PlannedService], load: &LoadArgs) -> Result<Deployment> {
    let script = knative::write_script(planned, &load.build, load.deploy.ready_timeout)?;
    Ok(Deployment {
        deployed: planned
            .iter()
            .map(|p| {
                EndpointEntry::deployed(
                    &p.proxy,
                    format!("{}.{}", p.name, p.namespace),
                    Some(p.qualified()),
                )
            })
            .collect(),
        servers: None,
        note: Some(format!(
            "knative dry run: {} YAMLs and {} written, nothing deployed; endpoints are `name.namespace`",
            planned.len(),
            script.display()
        )),
    })
}

/// The endpoints of `proxies` from the endpoints file `path` (`--use-endpoints`): nothing is deployed.
fn given(path: &Path, proxies: &[&Proxy]) -> Result<Deployment> {
    let names: Vec<&str> = proxies.iter().map(|p| p.name.as_str()).collect();
    let deployed = deploy::given::endpoints(path, &names)?;
    let own = deployed.iter().filter(|e| e.has_own_request()).count();
    Ok(Deployment {
        note: Some(format!(
            "given: {} endpoints from {}, {own} with a request of their own; nothing deployed",
            deployed.len(),
            path.display()
        )),
        deployed,
        servers: None,
    })
}

/// Deploys the proxies `prepared` uses with `kind`. `local` says how the local fleet runs; what is made
/// in a cluster carries the label of `run_id`.
pub fn deploy_proxies(
    prepared: &Prepared,
    plan: &LoadPlan,
    kind: Deployer,
    local: Option<&LocalFleet>,
    run_id: &str,
    stop: &Stop,
) -> Result<Deployment> {
    let load = &plan.settings;
    let proxies = prepared.proxies();
    let d = &load.deploy;
    match kind {
        Deployer::None => Ok(Deployment {
            deployed: proxies
                .iter()
                .map(|p| EndpointEntry::deployed(&p.name, p.name.clone(), None))
                .collect(),
            servers: None,
            note: None,
        }),
        Deployer::Given => given(
            d.use_endpoints
                .as_deref()
                .context("given endpoints come with their file")?,
            &proxies,
        ),
        Deployer::Local => {
            let fleet = local.context("the local deployer needs its fleet's size")?;
            let options = &fleet.options;
            let (servers, deployed) = deploy::local::deploy(&proxies, options)?;
            let note = format!(
                "local: {} emulated function servers on 127.0.0.1, {} thread(s){}, wall time and memory x{}",
                deployed.len(),
                options.threads,
                options
                    .cpus
                    .as_ref()
                    .map(|c| format!(" on CPU {c:?}"))
                    .unwrap_or_default(),
                deploy::local::format_scale(options.scale)
            );
            Ok(Deployment {
                deployed,
                servers: Some(servers),
                note: Some(note),
            })
        }
        Deployer::Knative => {
            let own = knative::own::OwnFunctions {
                image: knative::own::padded_image(&d.function_image, d.function_image_size_mb),
                container_concurrency: d.container_concurrency,
                cpu_share: d.cpu_share,
                keep_alive_seconds: d.keep_alive.as_secs_f64(),
                protocol: d.function_protocol,
            };
            let own_dir = load.build.join("own-functions");
            let config = if load.profile == "trace" {
                // Every function its own emulated function: their Services are made here.
                knative::own::config(&proxies, &own_dir, &own)?
            } else {
                // A workflow's fixed-duration nodes are emulated functions of their own beside the profile's.
                let config = ProxyConfig::read(&load.config_proxy)
                    .context("reading the proxies' deployment config (-c/--config-proxy)")?;
                knative::own::with_own(config, &proxies, &own_dir, &own)?
            };
            if let Some(note) = d.knative.cluster_wide_note() {
                log::warn!("{note}");
            }
            let planned = knative::plan(
                &config,
                &proxies,
                &load.build,
                &d.knative_annotations(),
                &[(RUN_LABEL.to_owned(), run_id.to_owned())],
            )?;
            if d.dry_run {
                return knative_dry_run(&planned, load);
            }
            let options = KnativeOptions {
                kubectl: deploy::kube::Kubectl::default(),
                ready_timeout: d.ready_timeout,
                poll_interval: d.poll_interval,
                build: load.build.clone(),
                stop: stop.clone(),
                protocol: d.function_protocol,
            };
            let progress = progress_bar(planned.len() as u64, "service");
            let deployed = knative::deploy(&planned, &options, &progress)?;
            progress.finish_and_clear();
            Ok(Deployment {
                note: Some(format!(
                    "knative: {} services Ready, YAMLs in {}",
                    deployed.len(),
                    load.build.display()
                )),
                deployed,
                servers: None,
            })
        }
    }
}

/// The local fleet for a load: how it runs, and what its scale means, in words.
#[derive(Debug, Clone)]
pub struct LocalFleet {
    /// Threads, CPUs, scale, memory.
    pub options: LocalOptions,
    /// The CPU demand of the load at scale 1, and what the chosen scale makes of it.
    pub note: String,
}

/// Share of the local threads `--local-scale auto` aims to keep busy.
pub const AUTO_UTILISATION: f64 = 0.5;

/// The local fleet for `prepared`'s load: placed off the `reserved` CPUs (the dispatchers'), with
/// `--local-scale` resolved (`default` when not given). By default it gets a thread per CPU left to it:
/// not the reserved ones, and not as many as `unpinned_dispatchers` (dispatchers on this machine that
/// share its CPUs still keep one busy each, so a fleet sized for all of them would be overloaded).
pub fn local_fleet(
    plan: &LoadPlan,
    prepared: &Prepared,
    reserved: &[usize],
    unpinned_dispatchers: usize,
    default: Scale,
) -> Result<LocalFleet> {
    let load = &plan.settings;
    let cpus = (!reserved.is_empty()).then(|| host::cpus_except(reserved));
    let threads = load
        .deploy
        .local_threads
        .unwrap_or_else(|| {
            cpus.as_ref()
                .map_or_else(host::online_cpus, Vec::len)
                .saturating_sub(unpinned_dispatchers)
        })
        .max(1);
    let trace = &prepared.trace;
    let run_seconds = trace.periods as f64 * trace.granularity.period_us() as f64 / 1e6;
    let proxies = prepared.proxies();
    let demand = demand_cores(
        &proxies,
        &prepared.calls_per_proxy(),
        run_seconds,
        load.deploy.cpu_share,
    );
    let chosen = load.deploy.local_scale.unwrap_or(default);
    let mut options = LocalOptions {
        threads,
        cpus,
        scale: match chosen {
            Scale::Factor(f) => f,
            Scale::Auto => fitting_scale(demand, threads, AUTO_UTILISATION),
        },
        memory_budget_mb: load.deploy.local_memory_mb,
        cpu_share: load.deploy.cpu_share,
        keep_alive: load.deploy.keep_alive,
        cold_start: load.deploy.simple_cold_start()?,
        scaling: load.deploy.local_scaling()?,
        protocol: load.deploy.function_protocol,
        bind: None,
    };
    // Every instance holds its footprint for its life: together they must fit the memory budget.
    let fitting = memory_fitting_scale(&proxies, &options);
    if fitting < options.scale {
        if chosen == Scale::Auto {
            options.scale = fitting;
        } else {
            bail!(
                "the local fleet's {} instances would hold {} MiB of memory at --local-scale {}, more than \
                 --local-memory-mb {} (each instance holds its proxy's median memory for its life): raise \
                 --local-memory-mb to {}, or shrink the footprints with --local-scale {} (or auto)",
                proxies.len(),
                footprints_mb(&proxies, &options),
                deploy::local::format_scale(options.scale),
                options.memory_budget_mb,
                footprints_mb(&proxies, &options),
                deploy::local::format_scale(fitting),
            );
        }
    }
    let held = footprints_mb(&proxies, &options);
    Ok(LocalFleet {
        note: deploy::local::scale_note(
            demand,
            threads,
            options.scale,
            (held, options.memory_budget_mb),
        ),
        options,
    })
}

/// Everything writing a load did, for the summary.
#[derive(Debug)]
pub struct Generated {
    /// What the load comes from: the trace's path, or the shape in words.
    pub source: String,
    /// What reading left out.
    pub read: ReadReport,
    /// Period length name.
    pub unit: &'static str,
    /// First period label and number of periods.
    pub window: (u32, usize),
    /// Warm-up periods among them.
    pub warmup: usize,
    /// Functions without invocations in the window (left out unless `--keep-idle`).
    pub idle: usize,
    /// Whether idle functions were kept.
    pub keep_idle: bool,
    /// Mapping figures.
    pub mapping: MappingSummary,
    /// Mapping method and catalogue.
    pub mapping_note: String,
    /// Where the mapping went.
    pub mapping_path: PathBuf,
    /// What was deployed where, if anything.
    pub deployment_note: Option<String>,
    /// Generation figures.
    pub stats: GenerateStats,
    /// Seed used.
    pub seed: u64,
    /// Time to read the trace.
    pub ingest: Duration,
    /// Time to map.
    pub map: Duration,
}

/// Writes the load of `prepared` with `deployment`'s endpoints to `output` (and endpoints.json to
/// `endpoints_path` unless nothing was deployed). With `--workers` above 1 it writes the shards, and the
/// whole load too when `whole`.
pub fn write_load(
    prepared: &Prepared,
    plan: &LoadPlan,
    deployment: &Deployment,
    output: &Path,
    endpoints_path: Option<&Path>,
    whole: bool,
) -> Result<Generated> {
    let load = &plan.settings;
    let used = prepared.proxies_used();
    let endpoints = prepared.mapped.endpoints(|p| {
        let i = used.binary_search(&p).expect("proxy is in the used set");
        deployment.deployed[i].endpoint.clone()
    });
    create_parent(output)?;
    if let Some(path) = endpoints_path {
        create_parent(path)?;
        formats::endpoints::write(path, &deployment.deployed)?;
    }
    let trace = &prepared.trace;
    let seed = prepared.seed;
    let progress = progress_bar(trace.periods as u64, trace.granularity.unit());
    let stats = generate(
        trace,
        &endpoints,
        GenerateOptions {
            distribution: load.iat_distribution,
            seed,
            workers: load.workers as usize,
            whole,
            per_call: load.per_call,
            shift: load.shift,
            payload: load.payload.map(|size| (size, load.payload_per)),
            workflow: plan.workflow.as_ref(),
        },
        output,
        &progress,
    )
    .context("writing the load")?;
    progress.finish_and_clear();

    Ok(Generated {
        source: prepared.source.clone(),
        read: trace.report.clone(),
        unit: trace.granularity.unit(),
        window: (trace.first_period, trace.periods),
        warmup: load.warmup_duration,
        idle: prepared.idle,
        keep_idle: load.keep_idle,
        mapping: prepared.mapped.file.summary(),
        mapping_note: match prepared.mapped.file.method {
            mapping::Method::Copies => format!(
                "{}: {} deployment(s) from {}",
                prepared.mapped.file.method.describe(),
                prepared.catalogue.proxies.len(),
                load.profile
            ),
            method => format!(
                "{} at p{}, {} proxies in {}",
                method.describe(),
                load.percentile,
                prepared.catalogue.proxies.len(),
                load.profile
            ),
        },
        mapping_path: prepared.mapping_path.clone(),
        deployment_note: deployment.note.clone(),
        stats,
        seed,
        ingest: prepared.ingest,
        map: prepared.map,
    })
}

/// Creates `path`'s parent directory if it has one.
pub fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating directory {}", parent.display()))?;
    }
    Ok(())
}
