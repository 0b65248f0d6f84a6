//! `plots`: the figures a researcher looks at — trace vs proxy distributions, mapping error, trace vs
//! generated load, and the invoker's latency, lag and throughput — as PNG and SVG with an embedded font.
//!
//! The data path: [`data`] computes what each figure shows (kept in [`FigureData`] so it can be checked),
//! [`results`] those of the invoker's records, [`bins`] is the histogram arithmetic, [`figure`] draws
//! with plotters, placing legends by [`legend`]. [`draw_plan`] writes a [`Plan`].

pub mod bins;
pub mod collected;
pub mod data;
pub mod figure;
pub mod legend;
mod marks;
pub mod results;
pub mod spec;
pub mod timeline;

use std::path::{Path, PathBuf};

pub use data::{catalogue_figures, load_figure, mapping_figure, trace_figures, Plan};
pub use figure::render;
pub use results::results_figures;
pub use spec::{Figure, FigureData, Histogram, Marker, Series, Timeline, XyPlot, HEIGHT, WIDTH};

/// Why figures could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// A profile or percentile problem.
    #[error(transparent)]
    Profile(#[from] profiles::ProfileError),
    /// The records file is unreadable.
    #[error(transparent)]
    Records(#[from] formats::records::RecordsError),
    /// A directory could not be made.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Drawing failed.
    #[error("drawing {}: {reason}", path.display())]
    Draw {
        /// The file being drawn.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Figures drawn, and those a plan could not make, with why.
#[derive(Debug)]
pub struct Drawn {
    /// Written figures.
    pub figures: Vec<Figure>,
    /// (file stem, reason) of each figure not drawn.
    pub skipped: Vec<(String, String)>,
}

/// Draws every figure of `plan` into `dir` (PNG and SVG each).
pub fn draw_plan(dir: &Path, plan: Plan) -> Result<Drawn, PlotError> {
    let figures = plan
        .figures
        .into_iter()
        .map(|(name, data)| render(dir, &name, data))
        .collect::<Result<_, _>>()?;
    Ok(Drawn {
        figures,
        skipped: plan.skipped,
    })
}
