//! The latency CDF of STeLLAR sub-experiments: drawn by `plots`, placed in a report.

use std::path::Path;

/// The name of the latency CDF figure, in a step's `plots/` and an experiment's `figures/`.
pub(super) const CDF: &str = "stellar_latency_cdf";

/// Its title.
pub(super) const CDF_TITLE: &str = "Latency of each sub-experiment (answer − send)";

/// Draws a latency CDF of `groups` (title, latencies in ms) into `dir`, with all warm and all cold
/// sub-experiments together when their titles say which they are; the figure, or why it is not drawn.
pub(super) fn draw_cdf(
    dir: &Path,
    title: &str,
    mut groups: Vec<(String, Vec<f64>)>,
) -> Result<plots::spec::Figure, String> {
    for kind in ["warm", "cold"] {
        let of_kind: Vec<&(String, Vec<f64>)> = groups
            .iter()
            .filter(|(t, _)| t.to_ascii_lowercase().contains(kind))
            .collect();
        if of_kind.len() > 1 {
            let all = of_kind
                .iter()
                .flat_map(|(_, v)| v.iter().copied())
                .collect();
            groups.push((format!("all {kind}"), all));
        }
    }
    let data = plots::results::latency_cdf_of(title, &groups)?;
    plots::render(dir, CDF, data).map_err(|e| e.to_string())
}

/// The figure as a report section, its path relative to `base`.
pub(super) fn figure_markdown(figure: &Result<plots::spec::Figure, String>, base: &Path) -> String {
    match figure {
        Ok(f) => format!(
            "\n![Latency CDF]({})\n",
            f.png.strip_prefix(base).unwrap_or(&f.png).display()
        ),
        Err(e) => format!("\nThe latency CDF is not drawn: {e}.\n"),
    }
}
