//! A sub-experiment as STeLLAR runs it (`src/benchmarking/run.go`): `Bursts` bursts in all, in rounds;
//! each round starts after a sleep (the first one too), then sends one burst to each gateway in turn,
//! waiting for each burst's answers, until `Bursts` have been sent. Round r's bursts have
//! `BurstSizes[r mod len]` calls and the service time `DesiredServiceTimes[min(r, len − 1)]`.
//!
//! The sleep is `IATSeconds` (deterministic) or `IATSeconds` + Exp(mean ln `IATSeconds`) (stochastic:
//! STeLLAR's shifted exponential), drawn from a seeded generator so a step can be run again as it was.
//! [`replay_plan`] turns the rounds into what the invoker replays: a schedule (each round at its nominal
//! instant, the sum of the sleeps so far) and, for STeLLAR's own timing, the closed-loop rounds.

use std::ops::Range;
use std::time::Duration;

use rand::SeedableRng;
use rand_distr::{Distribution, Exp};

use invoker::rounds::Round;
use invoker::schedule::{Schedule, ScheduledCall};

use crate::experiment::{IatType, SubExperiment};

/// One burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    /// STeLLAR's burst ID: its position among the sub-experiment's bursts.
    pub id: u64,
    /// The gateway it goes to.
    pub gateway: u32,
    /// Calls in it.
    pub size: u32,
    /// The service time each call asks for.
    pub service_time: Duration,
}

/// One round.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRound {
    /// Slept before it.
    pub sleep_before: Duration,
    /// Its nominal instant: the sleeps so far, as if answers took no time.
    pub at: Duration,
    /// Its bursts, one per gateway in turn.
    pub bursts: Vec<Burst>,
}

/// The gaps STeLLAR sleeps, drawn.
pub struct Gaps {
    iat: f64,
    exp: Option<Exp<f64>>,
    rng: rand_chacha::ChaCha8Rng,
}

impl Gaps {
    /// The gaps of `sub`, from `seed`.
    pub fn new(sub: &SubExperiment, seed: u64) -> Gaps {
        let exp = match sub.iat_type {
            // The experiment reader refused IAT ≤ 1 s here, so ln IAT > 0.
            IatType::Stochastic => Some(Exp::new(1.0 / sub.iat_seconds.ln()).expect("ln IAT > 0")),
            IatType::Deterministic => None,
        };
        Gaps {
            iat: sub.iat_seconds,
            exp,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The next gap, seconds.
    pub fn next_seconds(&mut self) -> f64 {
        self.iat + self.exp.map_or(0.0, |e| e.sample(&mut self.rng))
    }
}

/// The rounds of `sub` over `gateways` gateways; gaps drawn from `seed`.
pub fn plan_rounds(sub: &SubExperiment, gateways: u32, seed: u64) -> Vec<PlannedRound> {
    let mut gaps = Gaps::new(sub, seed);
    let gateways = gateways.max(1);
    let mut rounds = Vec::new();
    let (mut sent, mut at) = (0u64, Duration::ZERO);
    while sent < sub.bursts {
        let r = rounds.len();
        let sleep_before = Duration::from_secs_f64(gaps.next_seconds());
        at += sleep_before;
        let size = sub.burst_sizes[r % sub.burst_sizes.len()];
        let service_time = sub.service_times[r.min(sub.service_times.len() - 1)];
        let mut bursts = Vec::with_capacity(gateways as usize);
        for gateway in 0..gateways {
            if sent == sub.bursts {
                break;
            }
            bursts.push(Burst {
                id: sent,
                gateway,
                size,
                service_time,
            });
            sent += 1;
        }
        rounds.push(PlannedRound {
            sleep_before,
            at,
            bursts,
        });
    }
    rounds
}

/// What the invoker replays for a sub-experiment, and which burst each call belongs to.
pub struct ReplayPlan {
    /// Every call, at its round's nominal instant (all gateways' bursts of a round at once), its
    /// endpoint the gateway's URL with the round's query.
    pub schedule: Schedule,
    /// The closed-loop rounds over `schedule`'s calls (STeLLAR's own timing).
    pub rounds: Vec<Round>,
    /// Per call (in schedule order), its burst's ID.
    pub burst_of_call: Vec<u64>,
}

/// The replay of `rounds`; gateway g's calls go to `gateways[g]` (a URL) with STeLLAR's query:
/// `IncrementLimit` (the service time at `increments_per_us` busy-spin increments per µs, as STeLLAR
/// turns service times into limits on the client), `PayloadLengthBytes` and `DataTransferChainIDs`.
pub fn replay_plan(
    rounds: &[PlannedRound],
    gateways: &[String],
    payload_bytes: u64,
    increments_per_us: f64,
) -> ReplayPlan {
    let mut endpoints: Vec<String> = Vec::new();
    let mut calls = Vec::new();
    let mut burst_of_call = Vec::new();
    let mut closed = Vec::with_capacity(rounds.len());
    for round in rounds {
        let mut bursts: Vec<Range<usize>> = Vec::with_capacity(round.bursts.len());
        for burst in &round.bursts {
            let limit = (burst.service_time.as_secs_f64() * 1e6 * increments_per_us).round() as u64;
            let base = &gateways[burst.gateway as usize];
            let url = invoker::target::with_query(
                base,
                Some(&format!(
                    "IncrementLimit={limit}&PayloadLengthBytes={payload_bytes}&DataTransferChainIDs=[]"
                )),
            );
            let endpoint = match endpoints.iter().position(|e| *e == url) {
                Some(e) => e,
                None => {
                    endpoints.push(url);
                    endpoints.len() - 1
                }
            };
            let first = calls.len();
            for _ in 0..burst.size {
                calls.push(ScheduledCall {
                    due_us: round.at.as_micros() as u64,
                    period: 0,
                    endpoint: endpoint as u32,
                    ask: None,
                    payload_bytes: None,
                    workflow: None,
                });
                burst_of_call.push(burst.id);
            }
            bursts.push(first..calls.len());
        }
        closed.push(Round {
            sleep_before: round.sleep_before,
            bursts,
        });
    }
    let end_us = rounds.last().map_or(0, |r| r.at.as_micros() as u64) + 1_000_000;
    ReplayPlan {
        schedule: Schedule {
            endpoints,
            calls,
            periods: 1,
            warmup_periods: 0,
            period_us: end_us,
            periods_in_file: 1,
            ..Schedule::default()
        },
        rounds: closed,
        burst_of_call,
    }
}
