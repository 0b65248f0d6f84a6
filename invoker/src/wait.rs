//! Waiting for a call's microsecond on the dispatcher thread: parked on a timerfd inside the runtime
//! through long gaps (the thread sleeps; answers still wake it and are timed at once), then yielding to the
//! runtime's I/O, then spinning on the monotonic clock; and the thread's tuning (timer slack, `SCHED_FIFO`)
//! that makes those wake-ups precise. The figures behind the thresholds are in `timing.md`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use cmdline::Stop;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Normal scheduling: with more than this to a deadline the dispatcher parks, until [`PARK_MARGIN`] before.
/// A sleeping `SCHED_OTHER` thread that uses a lot of CPU can wait a whole slice (up to ~20 ms measured
/// here) to run again once woken, so it only parks through gaps long enough to earn its place back.
const PARK_THRESHOLD: Duration = Duration::from_millis(3);
/// See [`PARK_THRESHOLD`].
const PARK_MARGIN: Duration = Duration::from_millis(1);
/// Real-time scheduling: a woken `SCHED_FIFO` thread runs at once, so it parks through any gap longer than
/// this, until [`RT_PARK_MARGIN`] before the deadline (a wake-up takes up to ~50 µs here).
const RT_PARK_THRESHOLD: Duration = Duration::from_micros(80);
/// See [`RT_PARK_THRESHOLD`].
const RT_PARK_MARGIN: Duration = Duration::from_micros(60);
/// Sharing CPUs with other busy dispatchers (several invokers on one machine, more than its CPUs): a
/// dispatcher that spun through every short gap would keep its CPU busy and lose it for whole scheduler
/// slices (milliseconds), so it parks through any gap longer than this, until [`SHARED_PARK_MARGIN`]
/// before, and mostly sleeps: a woken thread that has used little CPU runs again at once.
const SHARED_PARK_THRESHOLD: Duration = Duration::from_micros(80);
/// See [`SHARED_PARK_THRESHOLD`].
const SHARED_PARK_MARGIN: Duration = Duration::from_micros(60);
/// Inside this window the dispatcher spins on the clock without yielding.
const SPIN_WINDOW: Duration = Duration::from_micros(25);
/// Real-time mode: after running this long without parking, the dispatcher parks for [`RT_BREAK`], so the
/// kernel's real-time throttling (`sched_rt_runtime_us` 950,000 of 1,000,000: a 50 ms stop once a second)
/// does not trigger: 5 %, in breaks short enough to delay few calls by little.
const RT_RUN_LIMIT: Duration = Duration::from_micros(4750);
/// See [`RT_RUN_LIMIT`].
const RT_BREAK: Duration = Duration::from_micros(250);
/// Timer slack to 1 ns (the default 50 µs costs ~30 µs per wake-up) and, if asked, `SCHED_FIFO`.
/// Returns the mode in words and whether the thread is real-time.
pub(crate) fn tune_thread(realtime: bool) -> (String, bool) {
    // SAFETY: plain syscalls on the calling thread with valid arguments.
    let slack = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1, 0, 0, 0) } == 0;
    let mut mode = String::from("SCHED_OTHER");
    if realtime {
        let param = libc::sched_param { sched_priority: 10 };
        // SAFETY: as above; `param` outlives the call.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
            mode = format!(
                "SCHED_FIFO priority 10 (parks {} us after {} us without parking)",
                RT_BREAK.as_micros(),
                RT_RUN_LIMIT.as_micros()
            );
        } else {
            mode = format!(
                "SCHED_OTHER (SCHED_FIFO refused: {})",
                std::io::Error::last_os_error()
            );
        }
    }
    let is_realtime = mode.starts_with("SCHED_FIFO");
    let slack = if slack {
        "1 ns"
    } else {
        "default (prctl failed)"
    };
    let mode = format!("{mode}, timer slack {slack}, connections driven on the dispatcher thread");
    (mode, is_realtime)
}

/// Waits for deadlines: parked on a timerfd inside the runtime (the thread sleeps, answers still wake it),
/// then yielding to I/O, then spinning on the clock.
pub(crate) struct Waiter {
    timer: AsyncFd<TimerFd>,
    /// Real-time mode: give the CPU up at least every [`RT_RUN_LIMIT`].
    realtime: bool,
    /// Sharing CPUs: park through short gaps too (see [`SHARED_PARK_THRESHOLD`]).
    shared: bool,
    last_park: Instant,
}

struct TimerFd(OwnedFd);

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl Waiter {
    pub(crate) fn new(realtime: bool, shared: bool) -> std::io::Result<Waiter> {
        // SAFETY: plain syscall; the descriptor is owned right after.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: `TimerFd` owns the descriptor for the AsyncFd's whole life and always returns it.
        let timer = unsafe { AsyncFd::register_with_interest(TimerFd(owned), Interest::READABLE) }
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Waiter {
            timer,
            realtime,
            shared,
            last_park: Instant::now(),
        })
    }

    /// Sleeps `duration` in the runtime's poll (I/O keeps being served), with the timerfd's precision.
    async fn park(&mut self, duration: Duration) {
        let duration = duration.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: duration.as_secs() as libc::time_t,
                tv_nsec: duration.subsec_nanos() as libc::c_long,
            },
        };
        let fd = self.timer.as_raw_fd();
        // SAFETY: valid descriptor and pointers for the duration of the call.
        if unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) } != 0 {
            tokio::task::yield_now().await;
            return;
        }
        loop {
            let Ok(mut guard) = self.timer.readable().await else {
                break;
            };
            let mut expirations = [0u8; 8];
            // SAFETY: reading 8 bytes into an 8-byte buffer.
            let read = guard.try_io(|_| {
                let n = unsafe { libc::read(fd, expirations.as_mut_ptr().cast(), 8) };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            if read.is_ok() {
                break;
            }
        }
        self.last_park = Instant::now();
    }

    /// Waits for `deadline`; `false` if stopped first.
    pub(crate) async fn wait_until(&mut self, deadline: Instant, stop: &Stop) -> bool {
        loop {
            if stop.requested() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            if self.realtime && now - self.last_park > RT_RUN_LIMIT {
                self.park(RT_BREAK).await;
                continue;
            }
            let remaining = deadline - now;
            let (threshold, margin) = if self.realtime {
                (RT_PARK_THRESHOLD, RT_PARK_MARGIN)
            } else if self.shared {
                (SHARED_PARK_THRESHOLD, SHARED_PARK_MARGIN)
            } else {
                (PARK_THRESHOLD, PARK_MARGIN)
            };
            if remaining > threshold {
                // Wake at least every 100 ms to notice a stop request.
                self.park((remaining - margin).min(Duration::from_millis(100)))
                    .await;
            } else if remaining > SPIN_WINDOW {
                tokio::task::yield_now().await;
            } else {
                while Instant::now() < deadline {
                    std::hint::spin_loop();
                }
                return true;
            }
        }
    }
}
