//! `loadgen autoscaler`: Knative's KPA decider alone on one revision, against scenarios whose every tick
//! is worked out by hand here (the formulas are in the `autoscaler` crate's docs). Unless a scenario says
//! otherwise: target 100 × 70 % = 70 per pod, stable window 60 s, panic window 6 s, panic threshold 2×
//! the ready pods, ticks every 2 s, ready = the previous tick's pods.

mod common;
use common::{loadgen, ok, s, text, write_file};

/// One row of the ticks' CSV.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tick {
    t: u64,
    stable: f64,
    panic: f64,
    ready: u32,
    desired: u32,
    pods: u32,
    panic_mode: bool,
    excess: f64,
}

/// Runs the decider over `values` (second 0, 1, …) with `flags`.
fn ticks(values: &[f64], flags: &[&str]) -> Vec<Tick> {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("second,value\n");
    for (s, v) in values.iter().enumerate() {
        csv.push_str(&format!("{s},{v}\n"));
    }
    let observed = write_file(dir.path(), "observed.csv", &csv);
    let out = dir.path().join("ticks.csv");
    let mut args = vec!["autoscaler", "--observed", s(&observed), "-o", s(&out)];
    args.extend_from_slice(flags);
    ok(&loadgen(&args));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("time_s,stable,panic,ready,desired,pods,panic_mode,excess_burst_capacity")
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Tick {
                t: f[0].parse().unwrap(),
                stable: f[1].parse().unwrap(),
                panic: f[2].parse().unwrap(),
                ready: f[3].parse().unwrap(),
                desired: f[4].parse().unwrap(),
                pods: f[5].parse().unwrap(),
                panic_mode: f[6] == "1",
                excess: f[7].parse().unwrap(),
            }
        })
        .collect()
}

/// `seconds` values: `before` until second `at`, `after` from it.
fn step(seconds: usize, at: usize, before: f64, after: f64) -> Vec<f64> {
    (0..seconds)
        .map(|s| if s < at { before } else { after })
        .collect()
}

/// Asserts each tick's desired and panic mode against `expected(t) = (desired, panic_mode)`.
fn assert_ticks(ticks: &[Tick], expected: impl Fn(u64) -> (u32, bool)) {
    assert!(!ticks.is_empty());
    for tick in ticks {
        assert_eq!(
            (tick.desired, tick.panic_mode),
            expected(tick.t),
            "tick {tick:?}"
        );
    }
}

#[test]
fn a_constant_load_wants_its_load_over_the_target_and_never_panics() {
    // 50 in flight: ceil(50 / 70) = 1 pod from the first tick.
    let one = ticks(&[50.0; 120], &[]);
    assert_eq!(
        one.iter().map(|t| t.t).collect::<Vec<_>>(),
        (1..=59).map(|k| 2 * k).collect::<Vec<_>>(),
        "a tick every 2 s up to the last second (119)"
    );
    assert_ticks(&one, |_| (1, false));
    // 300 in flight: ceil(300 / 70) = 5 pods. The first tick has no pod ready (counted as 1): 5 / 1 is
    // under a 1000 % threshold, so still no panic.
    let five = ticks(
        &[300.0; 120],
        &["--knative-panic-threshold-percentage", "1000"],
    );
    assert_ticks(&five, |_| (5, false));
    for t in &five {
        assert_eq!((t.stable, t.panic), (300.0, 300.0));
        // floor(ready × 100 − 211 − 300): no pod ready at the first tick, then 5.
        let (ready, excess) = if t.t == 2 { (0, -511.0) } else { (5, -11.0) };
        assert_eq!((t.ready, t.pods, t.excess), (ready, 5, excess), "{t:?}");
    }
}

#[test]
fn a_step_panics_holds_its_pods_and_calms_a_stable_window_after_its_last_surge() {
    // 10 in flight until second 30, then 100, over 180 s.
    let step = ticks(&step(180, 30, 10.0, 100.0), &[]);
    // The 6 s panic window: t = 30 averages (5 × 10 + 100) / 6 = 25, t = 32 (3 × 10 + 3 × 100) / 6 = 55,
    // t = 34 (10 + 5 × 100) / 6 = 85 → ceil(85 / 70) = 2 pods against 1 ready: 200 %, panic.
    // From t = 36 two pods are ready and 2 / 2 is under the threshold, so panic ends at the first tick
    // more than 60 s after t = 34: t = 96. The stable average, (seconds at 100 × 100 + the rest × 10)
    // over its window, first exceeds 70 at t = 70 ((41 × 100 + 19 × 10) / 60 = 71.5), by which time
    // panic holds 2 pods anyway.
    assert_ticks(&step, |t| {
        (if t < 34 { 1 } else { 2 }, (34..=94).contains(&t))
    });
    let at = |t: u64| step.iter().find(|k| k.t == t).copied().unwrap();
    assert_eq!(at(30).panic, 25.0);
    assert_eq!(at(32).panic, 55.0);
    assert_eq!(at(34).panic, 85.0);
    assert!((at(70).stable - 71.5).abs() < 1e-9, "{:?}", at(70));
}

#[test]
fn a_drop_to_zero_at_most_halves_the_pods_each_tick_and_zero_waits_for_the_grace_period() {
    // 700 in flight until second 57, then none; a 6 s stable window (its panic window 1 s) and a tick
    // every 4 s, so the stable average can fall by more than half in one tick.
    let drop = ticks(
        &step(121, 57, 700.0, 0.0),
        &["--knative-window", "6", "--knative-tick-interval", "4"],
    );
    // t = 4: 10 pods wanted against 1 ready: panic, which ends at the first tick more than 6 s after
    // the last one over the threshold (t = 4): t = 12.
    // t = 60: the stable window (55..60) holds 2 × 700 / 6 = 233 → 4 pods, but 10 ready may at most
    // halve: 5. Then 5 → 2 (floor(5 / 2)), 2 → 1, 1 → 0.
    assert_ticks(&drop, |t| {
        let desired = match t {
            ..=56 => 10,
            60 => 5,
            64 => 2,
            68 => 1,
            _ => 0,
        };
        (desired, t <= 8)
    });
    // The pods follow, except that the last one stays until 0 has been wanted for 30 s (from t = 72).
    for t in &drop {
        let pods = match t.t {
            72..=100 => 1,
            104.. => 0,
            _ => t.desired,
        };
        assert_eq!(t.pods, pods, "{t:?}");
    }
}

#[test]
fn min_and_max_scale_clamp_what_is_wanted() {
    // 630 in flight want 9 pods (under a 1000 % threshold, no panic); max-scale 4 allows 4.
    let capped = ticks(
        &[630.0; 60],
        &[
            "--knative-max-scale",
            "4",
            "--knative-panic-threshold-percentage",
            "1000",
        ],
    );
    assert_ticks(&capped, |_| (4, false));
    // No load wants 0; min-scale 3 keeps 3, and so do the pods.
    let floor = ticks(&[0.0; 60], &["--knative-min-scale", "3"]);
    assert_ticks(&floor, |_| (3, false));
    assert!(floor.iter().all(|t| t.pods == 3));
    // With neither, no load wants nothing, and no pod is ever made.
    let none = ticks(&[0.0; 60], &[]);
    assert!(none.iter().all(|t| (t.desired, t.pods) == (0, 0)));
}

#[test]
fn the_rps_metric_aims_at_200_requests_a_second_per_pod() {
    // 300 requests/s: ceil(300 / (200 × 70 %)) = 3 pods (as concurrency, ceil(300 / 70) = 5).
    let rps = ticks(
        &[300.0; 60],
        &[
            "--knative-metric",
            "rps",
            "--knative-panic-threshold-percentage",
            "1000",
        ],
    );
    assert_ticks(&rps, |_| (3, false));
    // The burst capacity counts 200 per pod: floor(3 × 200 − 211 − 300) = 89.
    assert!(rps.iter().skip(1).all(|t| t.excess == 89.0), "{rps:?}");
}

#[test]
fn a_panic_window_of_the_whole_stable_one_and_a_tenfold_threshold_rarely_panic() {
    // invitro's "partially panic": both windows 60 s, panic at 10 × the ready pods. A step from 70 to
    // 700 at second 30 never wants 10 × the pods ready, so the pods follow the stable average:
    // t = 30: (30 × 70 + 700) / 31 = 90.3 → 2; t = 32: (2100 + 3 × 700) / 33 = 127.3 → 2;
    // t = 34: (2100 + 5 × 700) / 35 = 160 → 3; from t = 89 the window holds only 700s → 10.
    let partial = &[
        "--knative-panic-window-percentage",
        "100",
        "--knative-panic-threshold-percentage",
        "1000",
    ];
    let ramp = ticks(&step(150, 30, 70.0, 700.0), partial);
    assert!(ramp.iter().all(|t| !t.panic_mode && t.stable == t.panic));
    let at = |t: u64| ramp.iter().find(|k| k.t == t).unwrap().desired;
    assert_eq!((at(28), at(30), at(32), at(34)), (1, 2, 2, 3));
    assert!(ramp.iter().filter(|t| t.t >= 90).all(|t| t.desired == 10));
    assert!(ramp.windows(2).all(|w| w[0].desired <= w[1].desired));
    // 700 from the start wants 10 pods against 1 ready: that panics, for a stable window.
    let cold = ticks(&[700.0; 100], partial);
    assert_ticks(&cold, |t| (10, t <= 62));
}

#[test]
fn pods_ready_late_keep_the_revision_in_panic_longer() {
    // 630 in flight want 9 pods; decided at t, they are ready 10 s later: none before t = 12.
    let late = ticks(&[630.0; 120], &["--ready-delay", "10"]);
    for t in &late {
        let ready = if t.t < 12 { 0 } else { 9 };
        assert_eq!(t.ready, ready, "{t:?}");
        // floor(ready × 100 − 211 − 630).
        assert_eq!(t.excess, f64::from(ready) * 100.0 - 841.0, "{t:?}");
    }
    // 9 wanted against 1 (none) ready is over 200 % until t = 10; panic ends 60 s after that, at t = 72.
    assert_ticks(&late, |t| (9, t <= 70));
}

#[test]
fn bad_observations_and_knobs_are_refused_naming_the_file_the_line_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (csv, says) in [
        ("sec,value\n0,1\n", "line 1: the header is `sec,value`"),
        (
            "second,value\n0,1\n2,1\n",
            "line 3: field `second`: 2, expected 1",
        ),
        ("second,value\n0,1\n1,x\n", "line 3: field `value`: `x`"),
        ("second,value\n0,-1\n", "line 2: field `value`: `-1`"),
        ("second,value\n0,1,2\n", "line 2: 3 fields"),
        ("second,value\n", "no rows after the header"),
    ] {
        let file = write_file(dir.path(), "bad.csv", csv);
        let out = loadgen(&["autoscaler", "--observed", s(&file)]);
        assert!(!out.status.success(), "{csv}");
        let said = text(&out);
        assert!(
            said.contains(s(&file)) && said.contains(says),
            "{csv}: {said}"
        );
    }
    let good = write_file(dir.path(), "good.csv", "second,value\n0,1\n1,1\n2,1\n");
    for (flag, value) in [
        ("--knative-window", "5"),
        ("--knative-panic-threshold-percentage", "100"),
        ("--knative-target-burst-capacity", "-2"),
        ("--knative-metric", "cpu"),
    ] {
        let out = loadgen(&["autoscaler", "--observed", s(&good), flag, value]);
        assert!(!out.status.success(), "{flag} {value}");
        assert!(text(&out).contains(flag), "{flag}: {}", text(&out));
    }
    let out = loadgen(&[
        "autoscaler",
        "--observed",
        s(&good),
        "--knative-min-scale",
        "5",
        "--knative-max-scale",
        "2",
    ]);
    assert!(text(&out).contains("min-scale"), "{}", text(&out));
    // Nothing is written where a refused run would have put its ticks.
    let out_file = dir.path().join("ticks.csv");
    let bad = write_file(dir.path(), "bad.csv", "second,value\n0,x\n");
    assert!(
        !loadgen(&["autoscaler", "--observed", s(&bad), "-o", s(&out_file)])
            .status
            .success()
    );
    assert!(!out_file.exists());
}
