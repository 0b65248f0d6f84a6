//! [`Ticker`]: a thread that does something every interval while a replay runs and once more when it
//! is stopped, so the last interval is never lost (the live view's last line, a collector's last sample,
//! a worker's last live report).

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What a ticker's body waits on.
pub struct Ticks {
    interval: Duration,
    stopped: Arc<(Mutex<bool>, Condvar)>,
}

impl Ticks {
    /// Waits one interval, or less if the ticker is stopped meanwhile; says whether it was stopped (the
    /// body then does its last round).
    pub fn wait(&self) -> bool {
        let (lock, wake) = &*self.stopped;
        let guard = lock.lock().expect("ticker lock");
        let (guard, _) = wake
            .wait_timeout_while(guard, self.interval, |stopped| !*stopped)
            .expect("ticker lock");
        *guard
    }
}

/// A thread running a body that paces itself with [`Ticks::wait`]; [`Ticker::finish`] stops it and
/// gives back what the body returned.
pub struct Ticker<T> {
    stopped: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Ticker<T> {
    /// Starts thread `name` running `body`, whose [`Ticks`] wait `interval` at a time.
    pub fn start(
        name: &str,
        interval: Duration,
        body: impl FnOnce(Ticks) -> T + Send + 'static,
    ) -> std::io::Result<Ticker<T>> {
        let stopped = Arc::new((Mutex::new(false), Condvar::new()));
        let ticks = Ticks {
            interval,
            stopped: Arc::clone(&stopped),
        };
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || body(ticks))?;
        Ok(Ticker {
            stopped,
            thread: Some(thread),
        })
    }
}

impl<T> Ticker<T> {
    /// Stops the ticker (its body's wait returns `true`), waits for the body to end, and gives what it
    /// returned (`None` if it panicked).
    pub fn finish(mut self) -> Option<T> {
        self.stop()
    }

    fn stop(&mut self) -> Option<T> {
        let (lock, wake) = &*self.stopped;
        *lock.lock().expect("ticker lock") = true;
        wake.notify_all();
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl<T> Drop for Ticker<T> {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn finishing_ends_the_wait_at_once_and_gives_the_body_its_last_round() {
        let ticker = Ticker::start("test-ticker", Duration::from_secs(3600), |ticks| {
            let mut rounds = 0;
            loop {
                let last = ticks.wait();
                rounds += 1;
                if last {
                    return rounds;
                }
            }
        })
        .unwrap();
        let asked = Instant::now();
        assert_eq!(ticker.finish(), Some(1));
        // Not an hour's wait: the stop wakes it.
        assert!(asked.elapsed() < Duration::from_secs(60));
        let (ended, has_ended) = std::sync::mpsc::channel();
        let short = Ticker::start("test-ticker", Duration::from_millis(1), move |ticks| {
            let mut rounds = 0u32;
            while rounds < 5 && !ticks.wait() {
                rounds += 1;
            }
            ended.send(()).unwrap();
            rounds
        })
        .unwrap();
        // The body ends on its own after five intervals; finishing still gives its result.
        has_ended.recv_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(short.finish(), Some(5));
    }
}
