//! A run's `## Measured and predicted`: what its platform did (the local fleet's Knative platform, or
//! a cluster) beside what `loadgen predict` makes of the same load.

use std::fmt::Write as _;

use crate::commands::predict::Beside;

/// `## Measured and predicted`: the platform's totals beside `loadgen predict`'s for the same load, with
/// the prediction's relative error.
pub fn section(out: &mut String, beside: Option<&Beside>) {
    let Some(Beside {
        measured,
        source,
        predicted: prediction,
    }) = beside
    else {
        return;
    };
    let _ = writeln!(out, "\n## Measured and predicted\n");
    let predicted = match prediction {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(out, "`loadgen predict` failed on this run's load: {e}");
            return;
        }
    };
    let _ = writeln!(
        out,
        "Measured: {source}. Predicted: `loadgen predict` ran Knative's autoscaler model over the same \
         load in simulated time, each call occupying its instance for its duration (drawn again, with the \
         load's seed, where the load does not ask it). Relative error = (predicted − measured) / \
         measured; its files are in `predict/`.\n"
    );
    let _ = writeln!(
        out,
        "| | measured | predicted | relative error |\n|---|---:|---:|---:|"
    );
    // Counts are whole; instance-seconds keep a decimal.
    let rows = [
        (
            "cold starts",
            measured.cold_starts as f64,
            predicted.cold_starts as f64,
            0,
        ),
        (
            "instances created",
            measured.instances_created as f64,
            predicted.instances_created as f64,
            0,
        ),
        (
            "instance-seconds",
            measured.instance_seconds,
            predicted.instance_seconds,
            1,
        ),
        (
            "peak instances",
            f64::from(measured.peak_instances),
            f64::from(predicted.peak_instances),
            0,
        ),
    ];
    for (name, m, p, decimals) in rows {
        let error = if m > 0.0 {
            format!("{:+.1} %", 100.0 * (p - m) / m)
        } else {
            "—".to_owned()
        };
        let _ = writeln!(
            out,
            "| {name} | {m:.decimals$} | {p:.decimals$} | {error} |"
        );
    }
    let _ = writeln!(
        out,
        "\n![predicted scale](predict/predict_scale.png) ([SVG](predict/predict_scale.svg))"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::summary::PlatformTotals;

    fn totals(cold_starts: u64, instance_seconds: f64) -> PlatformTotals {
        PlatformTotals {
            instances_created: 4,
            cold_starts,
            instance_seconds,
            peak_instances: 3,
        }
    }

    #[test]
    fn the_prediction_stands_beside_the_measurement_with_its_relative_error() {
        let beside = |predicted| Beside {
            measured: totals(10, 100.0),
            source: "the test",
            predicted,
        };
        let mut out = String::new();
        section(&mut out, Some(&beside(Ok(totals(11, 90.0)))));
        for expected in [
            "Measured: the test.",
            "| cold starts | 10 | 11 | +10.0 % |",
            "| instance-seconds | 100.0 | 90.0 | -10.0 % |",
            "| peak instances | 3 | 3 | +0.0 % |",
            "![predicted scale](predict/predict_scale.png)",
        ] {
            assert!(out.contains(expected), "{expected} not in {out}");
        }
        let mut failed = String::new();
        section(&mut failed, Some(&beside(Err("no load.json".into()))));
        assert!(
            failed.contains("failed on this run's load: no load.json"),
            "{failed}"
        );
        // Nothing measured: nothing said.
        let mut none = String::new();
        section(&mut none, None);
        assert!(none.is_empty());
    }
}
