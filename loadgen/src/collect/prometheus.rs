//! Named PromQL queries over a run's window, asked of a Prometheus server once the run has ended (so
//! nothing is asked while the load runs), one CSV per query: `time,series,value`.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::{unix_seconds, Collected, CsvOut};

/// The CSV's columns.
pub const HEADER: [&str; 3] = ["time", "series", "value"];

/// What is asked by default: node CPU and memory (node exporter) and Knative's autoscaler and
/// activator (their classic metric names).
pub const DEFAULT_QUERIES: [(&str, &str); 5] = [
    (
        "node-cpu",
        "1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[1m]))",
    ),
    (
        "node-memory",
        "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
    ),
    ("autoscaler-desired-pods", "autoscaler_desired_pods"),
    ("autoscaler-actual-pods", "autoscaler_actual_pods"),
    ("activator-concurrency", "activator_request_concurrency"),
];

/// The answer of one range query: `(series, [(time, value)])`.
pub type Matrix = Vec<(String, Vec<(f64, f64)>)>;

/// Asks `url`'s `/api/v1/query_range` for `query` from `start` to `end` every `step`.
pub fn query_range(
    client: &reqwest::blocking::Client,
    url: &str,
    query: &str,
    (start, end): (SystemTime, SystemTime),
    step: Duration,
) -> Result<Matrix, String> {
    let endpoint = format!("{}/api/v1/query_range", url.trim_end_matches('/'));
    let params = [
        ("query", query.to_owned()),
        ("start", format!("{:.3}", unix_seconds(start))),
        ("end", format!("{:.3}", unix_seconds(end))),
        ("step", format!("{:.3}", step.as_secs_f64().max(0.001))),
    ];
    let response = client
        .get(&endpoint)
        .query(&params)
        .send()
        .map_err(|e| format!("{endpoint}: {e}"))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .map_err(|e| format!("{endpoint}: HTTP {status}: {e}"))?;
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{endpoint}: HTTP {status}, not a Prometheus answer: {e}"))?;
    if body["status"] != "success" {
        return Err(format!(
            "{endpoint}: {} ({})",
            body["error"].as_str().unwrap_or("no error text"),
            body["errorType"].as_str().unwrap_or("HTTP error")
        ));
    }
    let mut matrix = Vec::new();
    for result in body["data"]["result"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
    {
        let series = series_name(&result["metric"]);
        let mut points = Vec::new();
        for v in result["values"].as_array().map_or(&[][..], Vec::as_slice) {
            let t = v[0].as_f64();
            let value = v[1].as_str().and_then(|s| s.parse::<f64>().ok());
            if let (Some(t), Some(value)) = (t, value) {
                points.push((t, value));
            }
        }
        matrix.push((series, points));
    }
    Ok(matrix)
}

/// `name{label="value",…}` from a result's `metric`, labels in name order.
fn series_name(metric: &Value) -> String {
    let Some(labels) = metric.as_object() else {
        return String::new();
    };
    let name = labels
        .get("__name__")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut rest: Vec<(&String, &Value)> =
        labels.iter().filter(|(k, _)| *k != "__name__").collect();
    rest.sort_by(|a, b| a.0.cmp(b.0));
    let inner: Vec<String> = rest
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or_default()))
        .collect();
    if inner.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", inner.join(","))
    }
}

/// Runs every query over `window` with `step`, each into `dir/prometheus-NAME.csv`; a failure is that
/// query's error, never the run's.
pub fn collect(
    dir: &Path,
    url: &str,
    queries: &[(String, String)],
    window: (SystemTime, SystemTime),
    step: Duration,
) -> Vec<Collected> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build();
    queries
        .iter()
        .map(|(name, query)| {
            let mut collected = Collected {
                name: format!("prometheus-{name}"),
                what: format!("Prometheus `{query}`"),
                file: None,
                rows: 0,
                error: None,
            };
            let result = client
                .as_ref()
                .map_err(|e| e.to_string())
                .and_then(|c| query_range(c, url, query, window, step))
                .and_then(|matrix| {
                    let mut out =
                        CsvOut::create(&dir.join(format!("prometheus-{name}.csv")), &HEADER)?;
                    for (series, points) in &matrix {
                        for (t, v) in points {
                            out.row([format!("{t:.3}"), series.clone(), v.to_string()])?;
                            collected.rows += 1;
                        }
                    }
                    out.flush()?;
                    Ok(out.path().to_owned())
                });
            match result {
                Ok(path) => collected.file = Some(path),
                Err(e) => collected.error = Some(e),
            }
            collected
        })
        .collect()
}
