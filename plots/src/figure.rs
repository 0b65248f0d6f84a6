//! Drawing a figure (what [`crate::spec`] says it shows) as PNG and SVG.

use std::path::Path;
use std::sync::Once;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::bins::compact;
use crate::legend::legend_corner;
use crate::spec::{Figure, FigureData, Histogram, XyPlot, FONT, HEIGHT, WIDTH};
use crate::PlotError;

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped by the dejavu crate.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Draws `data` into `dir/name.png` and `dir/name.svg`.
pub fn render(dir: &Path, name: &str, data: FigureData) -> Result<Figure, PlotError> {
    register_font();
    std::fs::create_dir_all(dir).map_err(|source| PlotError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let png = dir.join(format!("{name}.png"));
    let svg = dir.join(format!("{name}.svg"));
    let draw_error = |path: &Path, e: String| PlotError::Draw {
        path: path.to_owned(),
        reason: e,
    };
    // Each file is drawn beside its final name (`NAME.partial.png`: the backend picks the format by its
    // extension) and renamed into place when whole; a failure removes it and leaves any earlier figure.
    let partial_png = dir.join(format!("{name}.partial.png"));
    let drawn = {
        let root = BitMapBackend::new(&partial_png, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, &data)
            .and_then(|()| root.present().map_err(|e| e.to_string()))
            .map_err(|e| draw_error(&png, e))
    };
    place(drawn, &partial_png, &png)?;
    let mut text = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut text, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, &data)
            .and_then(|()| root.present().map_err(|e| e.to_string()))
            .map_err(|e| draw_error(&svg, e))
    };
    drawn?;
    formats::output::write_atomic(&svg, text.as_bytes()).map_err(|source| PlotError::Io {
        path: svg.clone(),
        source,
    })?;
    Ok(Figure {
        name: name.to_owned(),
        data,
        png,
        svg,
    })
}

/// Renames a drawn `partial` file into place at `path`, or removes it if drawing failed.
fn place(drawn: Result<(), PlotError>, partial: &Path, path: &Path) -> Result<(), PlotError> {
    let renamed = drawn.and_then(|()| {
        std::fs::rename(partial, path).map_err(|source| PlotError::Io {
            path: path.to_owned(),
            source,
        })
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(partial);
    }
    renamed
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    data: &FigureData,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    match data {
        FigureData::Histogram(h) => draw_histogram(root, h),
        FigureData::Xy(p) => draw_xy(root, p),
        FigureData::Timeline(t) => crate::timeline::draw_timeline(root, t),
    }
}

#[allow(
    clippy::too_many_lines,
    reason = "one drawing, written once for both y scales through a macro: plotters gives each its own chart type"
)]
fn draw_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    h: &Histogram,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let n = h.bins.len().max(1);
    // Stacked: each series' bar starts where the ones before it in the bin ended.
    let below = |k: usize, i: usize| -> f64 {
        if h.stacked {
            h.series[..k].iter().filter_map(|s| s.values.get(i)).sum()
        } else {
            0.0
        }
    };
    let top = if h.stacked {
        (0..n)
            .map(|i| below(h.series.len(), i))
            .fold(0.0f64, f64::max)
    } else {
        h.series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .fold(0.0f64, f64::max)
    };
    let mut chart = ChartBuilder::on(root);
    chart
        .caption(&h.title, (FONT, 24))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(72);
    let labels = h.bins.clone();
    let formatter = move |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    // Bars are drawn series by series: the first filled, later ones outlined over it.
    macro_rules! bars {
        ($chart:expr, $base:expr, $line_top:expr) => {{
            for (k, s) in h.series.iter().enumerate() {
                let colour = COLOURS[k % COLOURS.len()];
                let style = if k == 0 || h.stacked {
                    colour.mix(0.55).filled()
                } else {
                    colour.stroke_width(3)
                };
                let inset = if k == 0 || h.stacked { 0 } else { 4 };
                $chart
                    .draw_series(s.values.iter().enumerate().filter(|(_, &v)| v > 0.0).map(
                        |(i, &v)| {
                            let from = $base + below(k, i);
                            let mut bar = Rectangle::new(
                                [
                                    (SegmentValue::Exact(i), from),
                                    (SegmentValue::Exact(i + 1), from + v),
                                ],
                                style,
                            );
                            bar.set_margin(0, 0, 2 + inset, 2 + inset);
                            bar
                        },
                    ))
                    .map_err(e)?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.mix(0.7).filled())
                    });
            }
            // Each marker's label beside its own line, in the headroom above the bars, one row per
            // marker so neighbours never overlap.
            for (k, m) in h.markers.iter().enumerate() {
                $chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![
                            (SegmentValue::CenterOf(m.bin), $base),
                            (SegmentValue::CenterOf(m.bin), $line_top),
                        ],
                        BLACK.stroke_width(1),
                    )))
                    .map_err(e)?;
                $chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((SegmentValue::CenterOf(m.bin), $line_top))
                            + Text::new(
                                m.label.clone(),
                                (4, 18 * k as i32),
                                (FONT, 15).into_font().color(&BLACK),
                            ),
                    ))
                    .map_err(e)?;
            }
            // One series needs no legend: the axis says what the bars count.
            if h.series.len() > 1 {
                $chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .label_font((FONT, 15))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.4))
                    .draw()
                    .map_err(e)?;
            }
        }};
    }
    // The mesh is the same on both y scales; only the coordinate type differs.
    macro_rules! mesh {
        ($chart:expr) => {
            $chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(TRANSPARENT)
                .x_labels(n)
                .x_label_formatter(&formatter)
                .y_label_formatter(&|v| compact(*v))
                .x_desc(&h.x_label)
                .y_desc(&h.y_label)
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 16))
                .draw()
                .map_err(e)?
        };
    }
    let x = (0..n - 1).into_segmented();
    // Headroom above the tallest bar for the markers' labels (and the legend).
    let room = if h.stacked {
        // The legend of every stacked component sits above the tallest stack.
        1.0 + 0.08 * h.series.len() as f64
    } else if h.markers.is_empty() {
        1.0
    } else {
        1.0 + 0.12 * h.markers.len() as f64
    };
    if h.log_y {
        let top = top.max(1.0);
        let mut chart = chart
            .build_cartesian_2d(x, (0.8f64..top * 2.0 * room.powi(4)).log_scale())
            .map_err(e)?;
        mesh!(chart);
        bars!(chart, 0.8f64, top * 2.0 * room.powi(4) / 1.05);
    } else {
        let mut chart = chart
            .build_cartesian_2d(x, 0f64..(top * 1.12 * room).max(1.0))
            .map_err(e)?;
        mesh!(chart);
        bars!(chart, 0f64, (top * 1.12 * room).max(1.0) / 1.02);
    }
    Ok(())
}

/// Axis range over `values`, padded; positive and decade-aligned for a log axis; from zero when
/// `from_zero` and nothing is negative (counts and fractions).
fn range(values: impl Iterator<Item = f64> + Clone, log: bool, from_zero: bool) -> (f64, f64) {
    let finite = values.filter(|v| v.is_finite() && (!log || *v > 0.0));
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        // A point exactly on a decade would sit on the axis: keep a third of a decade clear below.
        let bottom = (lo.log10() - 0.3).floor();
        (
            10f64.powf(bottom),
            10f64.powf((hi.log10() + 0.05).ceil().max(bottom + 1.0)),
        )
    } else if hi > lo {
        let pad = (hi - lo) * 0.05;
        if from_zero && lo >= 0.0 {
            (0.0, hi + hi * 0.05)
        } else if lo >= 0.0 {
            (0.0f64.max(lo - pad), hi + pad)
        } else {
            (lo - pad, hi + pad)
        }
    } else if from_zero && lo >= 0.0 {
        (0.0, hi.max(1.0) * 1.05)
    } else {
        (lo - 1.0, hi + 1.0)
    }
}

#[allow(
    clippy::too_many_lines,
    reason = "one drawing, written once for the four axis kinds (log or linear x and y) through a macro: plotters gives each its own chart type"
)]
fn draw_xy<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    p: &XyPlot,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let xs = p.series.iter().flat_map(|s| s.values.iter().map(|v| v.0));
    let ys = p.series.iter().flat_map(|s| s.values.iter().map(|v| v.1));
    let bars = p
        .error_bars
        .iter()
        .flatten()
        .flat_map(|&(_, lo, hi)| [lo, hi]);
    let (x0, x1) = if p.x_ticks.is_empty() {
        range(xs, p.log_x, false)
    } else {
        (-0.5, p.x_ticks.len() as f64 - 0.5)
    };
    let (y0, y1) = range(ys.chain(bars), p.log_y, true);
    let tick = |v: &f64| -> String {
        if p.x_ticks.is_empty() {
            return compact(*v);
        }
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < p.x_ticks.len() {
            p.x_ticks[i as usize].clone()
        } else {
            String::new()
        }
    };
    let x_labels = if p.x_ticks.is_empty() {
        10
    } else {
        2 * p.x_ticks.len() + 1
    };
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(&p.title, (FONT, 24))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(72);
    macro_rules! series {
        ($chart:expr) => {{
            $chart
                .configure_mesh()
                .x_labels(x_labels)
                .y_labels(10)
                .light_line_style(TRANSPARENT)
                .x_label_formatter(&tick)
                .y_label_formatter(&|v| compact(*v))
                .x_desc(&p.x_label)
                .y_desc(&p.y_label)
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 16))
                .draw()
                .map_err(e)?;
            crate::marks::draw_marks(&mut $chart, &p.marks, (y0, y1))?;
            for (k, s) in p.series.iter().enumerate() {
                let colour = COLOURS[k % COLOURS.len()];
                let keep = |&&(x, y): &&(f64, f64)| {
                    x.is_finite() && y.is_finite() && (!p.log_x || x > 0.0) && (!p.log_y || y > 0.0)
                };
                // The first series' marks are larger and hollow, so a second series that coincides
                // with it (trace vs load) stays visible on top.
                let legend = move |(x, y): (i32, i32)| {
                    Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.filled())
                };
                if p.lines {
                    $chart
                        .draw_series(LineSeries::new(
                            s.values.iter().filter(keep).copied(),
                            colour.stroke_width(if k == 0 { 3 } else { 2 }),
                        ))
                        .map_err(e)?
                        .label(s.name.clone())
                        .legend(legend);
                }
                if let Some(bars) = p.error_bars.get(k) {
                    // A vertical bar from low to high, with caps a fiftieth of the x range wide.
                    let cap = if p.log_x { 0.0 } else { (x1 - x0) / 100.0 };
                    $chart
                        .draw_series(bars.iter().flat_map(|&(x, lo, hi)| {
                            [
                                PathElement::new(vec![(x, lo), (x, hi)], colour.stroke_width(2)),
                                PathElement::new(
                                    vec![(x - cap, lo), (x + cap, lo)],
                                    colour.stroke_width(2),
                                ),
                                PathElement::new(
                                    vec![(x - cap, hi), (x + cap, hi)],
                                    colour.stroke_width(2),
                                ),
                            ]
                        }))
                        .map_err(e)?;
                }
                if p.points {
                    let (size, style) = if p.lines && k == 0 {
                        (6, colour.stroke_width(2))
                    } else {
                        (3, colour.mix(0.6).filled())
                    };
                    let marks = $chart
                        .draw_series(
                            s.values
                                .iter()
                                .filter(keep)
                                .map(|&(x, y)| Circle::new((x, y), size, style)),
                        )
                        .map_err(e)?;
                    if !p.lines {
                        marks.label(s.name.clone()).legend(legend);
                    }
                }
            }
            $chart
                .configure_series_labels()
                .position(legend_corner(p, (x0, x1), (y0, y1)).position())
                .label_font((FONT, 15))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()
                .map_err(e)?;
        }};
    }
    match (p.log_x, p.log_y) {
        (true, true) => {
            let mut c = builder
                .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
                .map_err(e)?;
            series!(c);
        }
        (true, false) => {
            let mut c = builder
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(e)?;
            series!(c);
        }
        (false, true) => {
            let mut c = builder
                .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
                .map_err(e)?;
            series!(c);
        }
        (false, false) => {
            let mut c = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(e)?;
            series!(c);
        }
    }
    Ok(())
}
