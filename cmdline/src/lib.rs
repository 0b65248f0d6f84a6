//! What `loadgen`, `invoker` and `emulated-function` share on the command line, defined once:
//!
//! - [`values`]: flag values with bounds (booleans as vSwarm's scripts write them, seconds, numbers,
//!   instants), so that no number a user types can overflow a computation later;
//! - [`sizes`]: a size in bytes, fixed or drawn from a distribution;
//! - [`goflags`]: vSwarm's Go-style single-dash long flags (`-traceFile x`, `-min=false`);
//! - [`Stop`]: Ctrl-C and SIGTERM as a stop request that work checks, and the exit status it implies;
//! - [`main_result`]: how a binary ends: its error printed once, each cause once, and its exit status.

pub mod goflags;
pub mod sizes;
pub mod values;

use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Arc;

/// A stop request, set by SIGINT or SIGTERM (or by [`Stop::request`]), that long work polls.
///
/// The first signal asks work to stop and finish what it started (calls in flight are awaited); the second
/// asks it to stop waiting (what is still in flight is recorded as such) and write what it has; the third
/// ends the process at once, for a program that does not respond.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    requests: Arc<AtomicUsize>,
    signal: Arc<AtomicI32>,
}

impl Stop {
    /// A stop that only [`Stop::request`] sets.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// A stop set by SIGINT and SIGTERM.
    pub fn on_signals() -> std::io::Result<Stop> {
        let stop = Stop::new();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let requests = Arc::clone(&stop.requests);
            let last = Arc::clone(&stop.signal);
            // SAFETY: the handler only does async-signal-safe things: atomic operations and `_exit`.
            unsafe {
                signal_hook::low_level::register(signal, move || {
                    last.store(signal, Ordering::SeqCst);
                    if requests.fetch_add(1, Ordering::SeqCst) + 1 >= 3 {
                        kill_adopted_groups();
                        signal_hook::low_level::exit(128 + signal);
                    }
                })?;
            }
        }
        Ok(stop)
    }

    /// Asks for a stop, as a signal would (without one).
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.requests.load(Ordering::SeqCst) >= 1
    }

    /// Whether a second stop was asked for: stop waiting for work in flight.
    pub fn abandon(&self) -> bool {
        self.requests.load(Ordering::SeqCst) >= 2
    }

    /// The exit status an interrupted program ends with: 128 + the signal (130 for SIGINT, 143 for
    /// SIGTERM), 130 for a stop requested without a signal; `None` if no stop was asked for.
    pub fn exit_status(&self) -> Option<u8> {
        if !self.requested() {
            return None;
        }
        Some(match self.signal.load(Ordering::SeqCst) {
            0 => 130,
            signal => (128 + signal).clamp(0, 255) as u8,
        })
    }
}

/// Process groups this program started (interference generators), killed by the third stop signal
/// before the program ends at once, so none outlives it. Fixed slots: the handler may not allocate.
static ADOPTED_GROUPS: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];

/// Records process group `pgid` as this program's, to be killed if a third stop signal ends it at once;
/// false when every slot is taken (the group then relies on its parent-death signal alone).
pub fn adopt_group(pgid: i32) -> bool {
    ADOPTED_GROUPS.iter().any(|slot| {
        slot.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    })
}

/// Forgets process group `pgid` (it has ended).
pub fn release_group(pgid: i32) {
    for slot in &ADOPTED_GROUPS {
        let _ = slot.compare_exchange(pgid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// Kills every adopted group: only async-signal-safe calls (atomics and `kill`).
fn kill_adopted_groups() {
    for slot in &ADOPTED_GROUPS {
        let pgid = slot.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: kill(2) is async-signal-safe; a negative pid names the group.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

/// Sets up logging on stderr: debug messages with `debug`, otherwise information and above.
pub fn init_logging(debug: bool) {
    let level = if debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    env_logger::Builder::new().filter_level(level).init();
}

/// An error and its causes as one line, each cause once: a cause whose text the message already holds
/// (many errors repeat their source in their own text) is not repeated.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// Ends a binary: on error, prints `error: …` once on stderr. The status is 0 on success, 1 on error,
/// and [`Stop::exit_status`] (130 or 143) when `stop` was requested, whether the work then ended cleanly
/// (everything written) or not, so a script can always tell an interrupted run from a complete one.
pub fn main_result(result: anyhow::Result<()>, stop: Option<&Stop>) -> ExitCode {
    let interrupted = stop.and_then(Stop::exit_status);
    if let Err(e) = &result {
        eprintln!("error: {}", error_text(e));
    }
    match (interrupted, result) {
        (Some(status), _) => ExitCode::from(status),
        (None, Ok(())) => ExitCode::SUCCESS,
        (None, Err(_)) => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = anyhow::Error::new(io).context("reading x.csv: No such file");
        assert_eq!(error_text(&e), "reading x.csv: No such file");
        let e = anyhow::anyhow!("dns error").context("connecting");
        assert_eq!(error_text(&e), "connecting: dns error");
    }

    #[test]
    fn stop_levels_and_status() {
        let stop = Stop::new();
        assert!(!stop.requested() && stop.exit_status().is_none());
        stop.request();
        assert!(stop.requested() && !stop.abandon());
        assert_eq!(stop.exit_status(), Some(130));
        stop.request();
        assert!(stop.abandon());
        assert_eq!(main_result(Ok(()), Some(&stop)), ExitCode::from(130));
        assert_eq!(main_result(Ok(()), Some(&Stop::new())), ExitCode::SUCCESS);
        assert_eq!(
            main_result(Err(anyhow::anyhow!("x")), None),
            ExitCode::FAILURE
        );
    }
}
