//! What the workspace's tests share: turns for tests that must not run beside each other, and waits on
//! events (a condition, a process's exit, a line it prints) that are bounded in time and fail naming what
//! never happened. Tests sequence on these, never on sleeps.

pub mod nginx;
pub mod redis;
pub mod tls;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Output};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(20);

/// One test at a time, within a test binary: for tests that run a spinning dispatcher or many
/// processes, which would make a neighbour's calls late on a two-core machine. Hold the guard for the
/// test's length; a test that panicked while holding it does not block the others.
pub fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Polls `probe` until it gives a value, for at most `limit`; past it, panics saying `what` never
/// happened.
pub fn wait_until<T>(limit: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(POLL);
    }
}

/// Waits for `child` to exit, for at most `limit`; past it, kills it and panics with what it printed.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    loop {
        if child
            .try_wait()
            .expect("the child can be waited on")
            .is_some()
        {
            return child.wait_with_output().expect("the child's output");
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("the child's output");
            panic!(
                "the process ran longer than {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(POLL);
    }
}

/// A child's stream read line by line on a thread of its own, so a test can wait for a line while the
/// child runs and still have every line afterwards.
pub struct Lines {
    seen: Vec<String>,
    incoming: mpsc::Receiver<String>,
    reader: Option<JoinHandle<()>>,
}

impl Lines {
    /// Starts reading `stream` (a child's `stdout` or `stderr`, taken from it).
    pub fn of(stream: impl Read + Send + 'static) -> Lines {
        let (tx, incoming) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            seen: Vec::new(),
            incoming,
            reader: Some(reader),
        }
    }

    /// Waits at most `limit` for a line holding `needle`, and returns it; past the limit (or when the
    /// stream ends first), panics with the lines seen.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        self.wait_for_line(&format!("a line with `{needle}`"), limit, |l| {
            l.contains(needle)
        })
    }

    /// Waits at most `limit` for a line `wanted` accepts (`what` says which, when it never comes).
    pub fn wait_for_line(
        &mut self,
        what: &str,
        limit: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        if let Some(line) = self.seen.iter().find(|l| wanted(l)) {
            return line.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(line) => {
                    let found = wanted(&line);
                    self.seen.push(line.clone());
                    if found {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "{what}: not within {limit:?} ({e}); lines seen:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Every line, once the stream has ended (the child has exited).
    pub fn finish(mut self) -> String {
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the reader thread");
        }
        self.seen.extend(self.incoming.try_iter());
        self.seen.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn waits_end_on_the_event_and_fail_past_their_limit() {
        let mut n = 0;
        assert_eq!(
            wait_until(Duration::from_secs(5), "three polls", || {
                n += 1;
                (n == 3).then_some(n)
            }),
            3
        );
        let never = std::panic::catch_unwind(|| {
            wait_until(Duration::from_millis(50), "never", || None::<()>)
        });
        assert!(never.is_err());
    }

    #[test]
    fn lines_are_waited_for_and_all_kept() {
        let mut child = Command::new("sh")
            .args(["-c", "echo one; echo two; sleep 0.2; echo three"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = Lines::of(child.stdout.take().unwrap());
        assert_eq!(lines.wait_for("tw", Duration::from_secs(5)), "two");
        let out = wait_bounded(child, Duration::from_secs(5));
        assert!(out.status.success());
        assert_eq!(lines.finish(), "one\ntwo\nthree");
    }

    #[test]
    fn a_process_past_its_limit_is_killed() {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let started = Instant::now();
        let result =
            std::panic::catch_unwind(move || wait_bounded(child, Duration::from_millis(100)));
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
