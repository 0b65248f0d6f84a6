//! The `[collect]` table of an experiment file: the collectors every step runs with, as run flags
//! (`scale-interval`, `prometheus`, `metrics-linger`), and `[collect.queries]`, named PromQL queries
//! (each a `--prometheus-query NAME=PROMQL`).

use anyhow::{bail, Result};

use super::text::{line_of, scalar};

/// The settings of a `[collect]` table (`table`, read from `text`) as (run flag, value, line); `at`
/// words a line for an error.
pub(crate) fn settings(
    table: &toml::Table,
    text: &str,
    at: &dyn Fn(usize) -> String,
) -> Result<Vec<(String, String, usize)>> {
    let mut settings = Vec::new();
    for (key, value) in table.clone() {
        let line = line_of(text, "collect", &key);
        match (key.as_str(), &value) {
            ("queries", toml::Value::Table(queries)) => {
                for (name, query) in queries {
                    let line = line_of(text, "collect.queries", name).max(line);
                    let toml::Value::String(query) = query else {
                        bail!(
                            "{}: [collect.queries] `{name}`: expected a PromQL query (a string), not {}",
                            at(line),
                            query.type_str()
                        );
                    };
                    settings.push(("prometheus-query".into(), format!("{name}={query}"), line));
                }
            }
            ("scale-interval" | "prometheus" | "metrics-linger", _) => {
                let Some(v) = scalar(&value) else {
                    bail!(
                        "{}: [collect] `{key}`: expected a single value, not {}",
                        at(line),
                        value.type_str()
                    );
                };
                settings.push((key, v, line));
            }
            _ => bail!(
                "{}: [collect] `{key}`: one of scale-interval, prometheus, metrics-linger, and the \
                 table [collect.queries]",
                at(line)
            ),
        }
    }
    Ok(settings)
}
