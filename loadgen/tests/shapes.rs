//! Load shapes beyond a trace's plain counts: `--shift` (each function's arrivals rotated within each
//! period by its own random phase).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{ok, run_loadgen, s, LIMIT};

/// Offsets per (endpoint, period) of a load.
fn offsets(load: &Path) -> BTreeMap<(String, usize), Vec<u64>> {
    let l = formats::read(load).unwrap();
    let mut out: BTreeMap<(String, usize), Vec<u64>> = BTreeMap::new();
    for (p, period) in l.periods.iter().enumerate() {
        for c in &period.calls {
            out.entry((l.endpoints[c.endpoint as usize].clone(), p))
                .or_default()
                .push(c.offset_us);
        }
    }
    out
}

/// Gaps between consecutive offsets, around the period (the last to the first plus a period).
fn circular_gaps(v: &[u64], period: u64) -> Vec<u64> {
    let mut gaps: Vec<u64> = v.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.push(v[0] + period - v[v.len() - 1]);
    gaps.sort_unstable();
    gaps
}

#[test]
fn shifted_equidistant_arrivals_keep_counts_and_spacing_and_leave_the_period_start() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    ok(&run_loadgen(
        &[
            "synth",
            "-o",
            s(&trace),
            "-n",
            "1000",
            "--periods",
            "6",
            "-m",
            "false",
            "--seed",
            "2",
        ],
        &[],
        LIMIT,
    ));
    let generate = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "generate",
            "-t",
            s(&trace),
            "-p",
            "trace",
            "-m",
            "false",
            "-w",
            "0",
            "-d",
            "6",
            "-i",
            "equidistant",
            "--seed",
            "4",
            "-o",
            s(out),
            "--mapping",
        ];
        let mapping = out.with_extension("mapping.json");
        args.push(s(&mapping));
        args.extend_from_slice(extra);
        ok(&run_loadgen(&args, &[], LIMIT));
    };
    let (plain, shifted) = (
        dir.path().join("plain.json"),
        dir.path().join("shifted.json"),
    );
    generate(&plain, &[]);
    generate(&shifted, &["--shift"]);
    let (a, b) = (offsets(&plain), offsets(&shifted));
    assert_eq!(
        a.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>(),
        b.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>(),
        "the same calls per function and period"
    );
    let period = 1_000_000;
    let mut at_start = 0;
    let mut firsts = Vec::new();
    for (key, v) in &b {
        assert!(
            v.windows(2).all(|w| w[0] <= w[1]) && v[v.len() - 1] < period,
            "{key:?}"
        );
        // Equidistant spacing, rotated: the same gaps around the period (to the microsecond's rounding).
        let (ga, gb) = (circular_gaps(&a[key], period), circular_gaps(v, period));
        assert!(
            ga.iter().zip(&gb).all(|(x, y)| x.abs_diff(*y) <= 1),
            "{key:?}: {ga:?} vs {gb:?}"
        );
        assert_eq!(
            a[key][0], 0,
            "unshifted, equidistant arrivals start the period"
        );
        at_start += usize::from(v[0] == 0);
        // Rotated, the first arrival lies anywhere before the second would have come: in 0..period/n.
        firsts.push(v[0] as f64 * v.len() as f64 / period as f64);
    }
    // Shifted, the first arrival's phase (as a share of the spacing) is spread, not tied to the start.
    let n = firsts.len() as f64;
    assert!(n >= 50.0, "{n}");
    assert!(
        at_start as f64 <= 0.02 * n,
        "{at_start} of {n} still at the start"
    );
    let mean = firsts.iter().sum::<f64>() / n;
    assert!((0.25..=0.75).contains(&mean), "{mean}");
}
