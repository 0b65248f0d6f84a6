//! A run's calls per second (left axis) and what a collector measured (right axis), over the run's
//! seconds: the platform's reaction on the same time axis as the load that caused it.

use plotters::prelude::*;

use crate::bins::compact;
use crate::spec::{Timeline, FONT};

const CALLS: RGBColor = RGBColor(160, 160, 160);
const COLOURS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
];

fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        (0.0, 1.0)
    } else {
        (lo, if hi > lo { hi } else { lo + 1.0 })
    }
}

/// Draws `t` on `root`.
pub(crate) fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    t: &Timeline,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let all = || {
        t.calls
            .values
            .iter()
            .chain(t.series.iter().flat_map(|s| s.values.iter()))
    };
    let (x0, x1) = span(all().map(|p| p.0));
    let (_, calls_hi) = span(t.calls.values.iter().map(|p| p.1));
    let (_, hi) = span(t.series.iter().flat_map(|s| s.values.iter().map(|p| p.1)));
    let mut chart = ChartBuilder::on(root)
        .caption(&t.title, (FONT, 24))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(72)
        .right_y_label_area_size(72)
        .build_cartesian_2d(x0..x1, 0.0..calls_hi.max(1.0) * 1.05)
        .map_err(e)?
        .set_secondary_coord(x0..x1, 0.0..hi.max(1.0) * 1.05);
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_desc("second of the run")
        .y_desc(&t.calls.name)
        .x_label_formatter(&|v| compact(*v))
        .y_label_formatter(&|v| compact(*v))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(e)?;
    chart
        .configure_secondary_axes()
        .y_desc(&t.y_label)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(e)?;
    crate::marks::draw_marks(&mut chart, &t.marks, (0.0, calls_hi.max(1.0) * 1.05))?;
    chart
        .draw_series(LineSeries::new(
            t.calls.values.iter().copied(),
            CALLS.stroke_width(2),
        ))
        .map_err(e)?
        .label(format!("{} (left)", t.calls.name))
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], CALLS.filled()));
    for (k, s) in t.series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        chart
            .draw_secondary_series(LineSeries::new(
                s.values.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(e)?
            .label(s.name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(e)?;
    Ok(())
}
