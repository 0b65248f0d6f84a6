//! A run's interference windows and faults drawn on a figure on its time axis (`spec::TimeMarks`).

use plotters::prelude::*;

/// Shading of an interference window, and colour of a fault's line.
const WINDOW: RGBColor = RGBColor(255, 160, 60);
const FAULT: RGBColor = RGBColor(200, 30, 30);

/// Draws `marks` on `chart` over its y range `(y0, y1)`: each window a shaded band, each fault a dashed
/// vertical line, both in the legend (labelled by what they were).
pub(crate) fn draw_marks<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    marks: &crate::spec::TimeMarks,
    (y0, y1): (f64, f64),
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    for (from, to, label) in &marks.windows {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(*from, y0), (*to, y1)],
                WINDOW.mix(0.25).filled(),
            )))
            .map_err(e)?
            .label(label.clone())
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 6), (x + 16, y + 6)], WINDOW.mix(0.4).filled())
            });
    }
    for (at, label) in &marks.instants {
        chart
            .draw_series(DashedLineSeries::new(
                [(*at, y0), (*at, y1)],
                6,
                4,
                FAULT.stroke_width(2),
            ))
            .map_err(e)?
            .label(label.clone())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], FAULT.stroke_width(2)));
    }
    Ok(())
}
