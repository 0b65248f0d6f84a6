//! The live view of a replay: once an interval, calls per second due, sent and answered, errors by kind,
//! calls in flight, send-lag p99 and latency p50/p99 over the last ten seconds, and the busiest endpoints.
//!
//! On a terminal it is one compact screen redrawn in place; elsewhere (a pipe, a log file) one line per
//! interval, in `key=value` words, whose `+N` counts are the calls finished in that interval: over all the
//! lines they add up to the records.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use invoker::observe::{Observer, Snapshot, WINDOW_S};
use observe::ticker::Ticker;

/// Endpoints the live view names.
const SHOWN: usize = 3;

/// Width assumed when the terminal does not say its own.
const DEFAULT_WIDTH: usize = 80;

/// How the live view is drawn.
#[derive(Clone, Copy)]
pub enum Layout {
    /// One screen redrawn in place, every line cut to the width this gives (asked at every redraw, so
    /// a resized terminal is followed).
    Screen(fn() -> usize),
    /// One `key=value` line per interval.
    Lines,
}

/// The width of the terminal on standard output, or [`DEFAULT_WIDTH`].
fn terminal_width() -> usize {
    terminal_size::terminal_size().map_or(DEFAULT_WIDTH, |(w, _)| usize::from(w.0))
}

/// A running live view; [`LiveView::finish`] draws the last interval and stops it.
pub struct LiveView {
    ticker: Ticker<()>,
}

impl LiveView {
    /// Starts drawing `observer` every `interval` to standard output, as a screen on a terminal and as
    /// lines elsewhere. `labels` name the observer's endpoints, in its order.
    pub fn start(observer: Arc<Observer>, interval: Duration, labels: Vec<String>) -> LiveView {
        let layout = if std::io::stdout().is_terminal() {
            Layout::Screen(terminal_width)
        } else {
            Layout::Lines
        };
        Self::start_to(
            observer,
            interval,
            labels,
            layout,
            Box::new(std::io::stdout()),
        )
    }

    /// [`LiveView::start`] to any writer, in either layout.
    pub fn start_to(
        observer: Arc<Observer>,
        interval: Duration,
        labels: Vec<String>,
        layout: Layout,
        mut out: Box<dyn Write + Send>,
    ) -> LiveView {
        let ticker = Ticker::start("live-view", interval, move |ticks| {
            let mut last = Snapshot::default();
            let mut drawn_lines = 0;
            let mut finished = false;
            while !finished {
                finished = ticks.wait();
                let now = observer.snapshot();
                let text = match layout {
                    Layout::Screen(width) => {
                        // Lines cut to the width never wrap, so moving up by the lines drawn lands
                        // on the previous screen's first line: nothing stale is left behind.
                        // The screen left on the terminal at the end covers the whole run: the last
                        // interval alone can be a moment in which no call ended.
                        let since = if finished {
                            &Snapshot::default()
                        } else {
                            &last
                        };
                        let text = screen_of(since, &now, &labels, width());
                        let back = if drawn_lines > 0 {
                            format!("\x1b[{drawn_lines}A\x1b[J")
                        } else {
                            String::new()
                        };
                        drawn_lines = text.lines().count();
                        back + &text
                    }
                    Layout::Lines => line_of(&last, &now, &labels) + "\n",
                };
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
                last = now;
            }
        })
        .expect("spawn the live view");
        LiveView { ticker }
    }

    /// Draws the last interval (everything recorded since the previous one) and stops.
    pub fn finish(self) {
        self.ticker.finish();
    }
}

/// Each of `observer`'s endpoints named as `names` (endpoint → proxy) says, else by itself.
pub fn labels(
    observer: &Observer,
    names: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    observer
        .endpoints()
        .iter()
        .map(|e| names.get(e).cloned().unwrap_or_else(|| e.clone()))
        .collect()
}

/// The busiest endpoints of the interval, by calls finished in it.
fn busiest<'e>(last: &Snapshot, now: &Snapshot, endpoints: &'e [String]) -> Vec<(&'e str, u64)> {
    let mut v: Vec<(&str, u64)> = now
        .per_endpoint
        .iter()
        .enumerate()
        .map(|(e, &n)| {
            let before = last.per_endpoint.get(e).copied().unwrap_or(0);
            (endpoints[e].as_str(), n - before)
        })
        .filter(|&(_, n)| n > 0)
        .collect();
    v.sort_by_key(|&(e, n)| (std::cmp::Reverse(n), e));
    v.truncate(SHOWN);
    v
}

/// Calls finished in the interval by outcome, in the order first seen.
fn outcome_deltas(last: &Snapshot, now: &Snapshot) -> Vec<(&'static str, u64)> {
    now.outcomes
        .iter()
        .map(|&(name, n)| {
            let before = last
                .outcomes
                .iter()
                .find(|(m, _)| *m == name)
                .map_or(0, |&(_, b)| b);
            (name, n - before)
        })
        .collect()
}

fn optional(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// One line: the interval's counts as `+N`, the state now, the window's percentiles.
pub fn line_of(last: &Snapshot, now: &Snapshot, endpoints: &[String]) -> String {
    let mut s = format!(
        "live t={:.1}s due=+{} sent=+{} done=+{}",
        now.elapsed_s,
        now.due - last.due,
        now.sent - last.sent,
        now.finished - last.finished
    );
    for (name, n) in outcome_deltas(last, now) {
        s += &format!(" {name}=+{n}");
    }
    s += &format!(
        " in_flight={} lag_p99_us={} latency_p50_us={} latency_p99_us={}",
        now.in_flight,
        optional(now.send_lag_p99_us),
        optional(now.latency_p50_us),
        optional(now.latency_p99_us)
    );
    let busiest = busiest(last, now, endpoints);
    if !busiest.is_empty() {
        let list: Vec<String> = busiest.iter().map(|(e, n)| format!("{e}:{n}")).collect();
        s += &format!(" busiest={}", list.join(","));
    }
    s
}

fn us(v: Option<u64>) -> String {
    match v {
        None => "-".to_owned(),
        Some(v) if v < 1_000 => format!("{v} µs"),
        Some(v) if v < 1_000_000 => format!("{:.1} ms", v as f64 / 1e3),
        Some(v) => format!("{:.2} s", v as f64 / 1e6),
    }
}

/// `line` cut to `width` characters, the cut marked by `…`.
fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The terminal screen: rates over the interval, the state now; no line longer than `width`.
pub fn screen_of(last: &Snapshot, now: &Snapshot, endpoints: &[String], width: usize) -> String {
    let seconds = (now.elapsed_s - last.elapsed_s).max(1e-3);
    let rate = |a: u64, b: u64| format!("{:.0}/s", (a - b) as f64 / seconds);
    let deltas = outcome_deltas(last, now);
    let answered = deltas
        .iter()
        .find(|(n, _)| *n == "ok")
        .map_or(0, |&(_, n)| n);
    let errors: Vec<String> = deltas
        .iter()
        .filter(|&&(n, d)| n != "ok" && d > 0)
        .map(|&(n, d)| format!("{n} {:.0}/s", d as f64 / seconds))
        .collect();
    let busiest: Vec<String> = busiest(last, now, endpoints)
        .iter()
        .map(|(e, n)| format!("{e} {:.0}/s", *n as f64 / seconds))
        .collect();
    let lines = [
        format!(
            "live       {:.0} s: due {}, sent {}, answered {:.0}/s, {} in flight",
            now.elapsed_s,
            rate(now.due, last.due),
            rate(now.sent, last.sent),
            answered as f64 / seconds,
            now.in_flight,
        ),
        format!(
            "errors     {}",
            if errors.is_empty() {
                "none".to_owned()
            } else {
                errors.join(", ")
            }
        ),
        format!(
            "last {WINDOW_S:<2} s  send lag p99 {}, latency p50 {}, p99 {}",
            us(now.send_lag_p99_us),
            us(now.latency_p50_us),
            us(now.latency_p99_us)
        ),
        format!(
            "busiest    {}",
            if busiest.is_empty() {
                "-".to_owned()
            } else {
                busiest.join(", ")
            }
        ),
    ];
    let mut screen = String::new();
    for line in lines {
        screen += &fit(&line, width.max(1));
        screen.push('\n');
    }
    screen
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn snapshot(elapsed_s: f64, done: u64, ok: u64, per_endpoint: Vec<u64>) -> Snapshot {
        Snapshot {
            elapsed_s,
            due: done,
            sent: done,
            finished: done,
            outcomes: vec![("ok", ok), ("timeout", done - ok)],
            in_flight: 0,
            send_lag_p99_us: Some(12),
            latency_p50_us: Some(1_500),
            latency_p99_us: None,
            per_endpoint,
        }
    }

    #[test]
    fn lines_count_the_interval_and_screens_its_rates() {
        let endpoints = ["a".to_owned(), "b".to_owned()];
        let (first, second) = (
            snapshot(1.0, 10, 9, vec![6, 4]),
            snapshot(2.0, 30, 27, vec![10, 20]),
        );
        let line = line_of(&first, &second, &endpoints);
        assert_eq!(
            line,
            "live t=2.0s due=+20 sent=+20 done=+20 ok=+18 timeout=+2 in_flight=0 lag_p99_us=12 \
             latency_p50_us=1500 latency_p99_us=- busiest=b:16,a:4"
        );
        let screen = screen_of(&first, &second, &endpoints, 80);
        assert!(screen.contains("answered 18/s"), "{screen}");
        assert!(screen.contains("timeout 2/s"), "{screen}");
        assert!(screen.contains("latency p50 1.5 ms"), "{screen}");
        assert_eq!(screen.lines().count(), 4);
        // Long names are cut at the width, never wrapped.
        let long = ["a".repeat(70), "b".repeat(70)];
        let narrow = screen_of(&first, &second, &long, 40);
        assert_eq!(narrow.lines().count(), 4);
        assert!(narrow.lines().all(|l| l.chars().count() <= 40), "{narrow}");
        assert!(
            narrow.contains("busiest    bbbb") && narrow.contains('…'),
            "{narrow}"
        );
    }

    #[test]
    fn the_last_interval_is_drawn_on_finish() {
        let o = Arc::new(Observer::new(&["e".to_owned()], &[1]));
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let view = LiveView::start_to(
            Arc::clone(&o),
            Duration::from_secs(3600),
            vec!["e".to_owned()],
            Layout::Lines,
            Box::new(Shared(Arc::clone(&out))),
        );
        view.finish();
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("live t="), "{text}");
    }
}
