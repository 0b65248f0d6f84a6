//! What a figure shows, before it is drawn: its data, kept so tests can check it, and its size and font.

use std::path::PathBuf;

/// Width of every figure, pixels.
pub const WIDTH: u32 = 1024;
/// Height of every figure, pixels.
pub const HEIGHT: u32 = 640;

/// The font every figure is drawn with, embedded (DejaVu Sans) so no system font is needed.
pub const FONT: &str = "sans-serif";

/// One named series of a figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Series<T> {
    /// Legend text.
    pub name: String,
    /// Its values.
    pub values: Vec<T>,
}

/// A vertical line at a bin, with its label (a percentile of the histogram).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Text, e.g. `p99 7.3 µs`.
    pub label: String,
    /// The bin it falls in.
    pub bin: usize,
}

/// Bars per labelled bin; the first series filled, the others outlined on top, so they compare bin by bin.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Title.
    pub title: String,
    /// x-axis description (with unit).
    pub x_label: String,
    /// y-axis description.
    pub y_label: String,
    /// Bin labels (their ranges).
    pub bins: Vec<String>,
    /// Per series, one value per bin.
    pub series: Vec<Series<f64>>,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Percentile markers.
    pub markers: Vec<Marker>,
    /// Series stacked in each bin (each bar on top of the ones before), all filled; otherwise the first
    /// series filled and the others outlined over it.
    pub stacked: bool,
}

/// Points or lines over two numeric axes.
#[derive(Debug, Clone, PartialEq)]
pub struct XyPlot {
    /// Title.
    pub title: String,
    /// x-axis description (with unit).
    pub x_label: String,
    /// y-axis description.
    pub y_label: String,
    /// Per series, its (x, y) points.
    pub series: Vec<Series<(f64, f64)>>,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Mark every point (a scatter when `lines` is false).
    pub points: bool,
    /// Join the points of each series with a line.
    pub lines: bool,
    /// Categories: when not empty, x values are their indices (0, 1, …) and the x axis names them.
    pub x_ticks: Vec<String>,
    /// Per series (in the order of `series`; may be shorter), vertical error bars `(x, low, high)`.
    pub error_bars: Vec<Vec<(f64, f64, f64)>>,
    /// On the run's time axis: its interference windows and faults.
    pub marks: TimeMarks,
}

/// What disturbed a run, drawn on every figure on its time axis: interference windows as shaded bands,
/// faults as vertical lines, each labelled (seconds of the run).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimeMarks {
    /// (from, to, label) of each window.
    pub windows: Vec<(f64, f64, String)>,
    /// (at, label) of each fault.
    pub instants: Vec<(f64, String)>,
}

impl TimeMarks {
    /// Whether there is nothing to mark.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.instants.is_empty()
    }
}

/// What a figure shows.
#[derive(Debug, Clone, PartialEq)]
pub enum FigureData {
    /// Bars over bins.
    Histogram(Histogram),
    /// Points or lines.
    Xy(XyPlot),
    /// Calls per second beside a collector's series, on the run's time axis.
    Timeline(Timeline),
}

/// A figure written to disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File stem, e.g. `trace_memory`.
    pub name: String,
    /// What it shows.
    pub data: FigureData,
    /// The PNG.
    pub png: PathBuf,
    /// The SVG.
    pub svg: PathBuf,
}

/// What a timeline figure shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Title.
    pub title: String,
    /// Calls per second answered, as (second of the run, calls): the left axis.
    pub calls: Series<(f64, f64)>,
    /// The collected series, as (second of the run, value): the right axis.
    pub series: Vec<Series<(f64, f64)>>,
    /// What the right axis counts.
    pub y_label: String,
    /// Its interference windows and faults.
    pub marks: TimeMarks,
}
