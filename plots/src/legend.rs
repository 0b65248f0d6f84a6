//! Where a figure's legend goes: the corner of the plotting area its data leaves emptiest.

use plotters::prelude::SeriesLabelPosition;

#[cfg(test)]
use crate::spec::Series;
use crate::spec::XyPlot;

/// A corner of the plotting area, where a legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corner {
    /// Bottom right (the first choice: empty under most CDFs and rising curves).
    LowerRight,
    /// Top right.
    UpperRight,
    /// Top left.
    UpperLeft,
    /// Bottom left.
    LowerLeft,
}

impl Corner {
    /// The position plotters draws a legend at for this corner.
    pub fn position(self) -> SeriesLabelPosition {
        match self {
            Corner::LowerRight => SeriesLabelPosition::LowerRight,
            Corner::UpperRight => SeriesLabelPosition::UpperRight,
            Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
            Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
        }
    }
}

/// The corner where `p`'s legend covers the least of its data (points, and lines sampled between
/// them), on axes spanning `x` and `y`; ties go to the earlier corner of [`Corner`].
pub fn legend_corner(p: &XyPlot, x: (f64, f64), y: (f64, f64)) -> Corner {
    // The legend's size as fractions of the plotting area (about 900 × 520 pixels): 8 pixels a
    // character and 40 for the swatch, 20 pixels a row.
    let longest = p
        .series
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    let width = ((longest * 8 + 40) as f64 / 900.0).min(1.0);
    let height = ((p.series.len() * 20 + 12) as f64 / 520.0).min(1.0);
    let fraction = |v: f64, (lo, hi): (f64, f64), log: bool| {
        if log {
            (v.max(f64::MIN_POSITIVE).log10() - lo.log10()) / (hi.log10() - lo.log10())
        } else {
            (v - lo) / (hi - lo)
        }
    };
    let corners = [
        Corner::LowerRight,
        Corner::UpperRight,
        Corner::UpperLeft,
        Corner::LowerLeft,
    ];
    let mut covered = [0usize; 4];
    let mut count = |fx: f64, fy: f64| {
        for (k, corner) in corners.iter().enumerate() {
            let in_x = match corner {
                Corner::LowerRight | Corner::UpperRight => fx >= 1.0 - width,
                _ => fx <= width,
            };
            let in_y = match corner {
                Corner::LowerRight | Corner::LowerLeft => fy <= height,
                _ => fy >= 1.0 - height,
            };
            covered[k] += usize::from(in_x && in_y);
        }
    };
    for s in &p.series {
        let points: Vec<(f64, f64)> = s
            .values
            .iter()
            .filter(|(vx, vy)| vx.is_finite() && vy.is_finite())
            .map(|&(vx, vy)| (fraction(vx, x, p.log_x), fraction(vy, y, p.log_y)))
            .collect();
        for (i, &(fx, fy)) in points.iter().enumerate() {
            count(fx, fy);
            // A line crosses the space between its points: sample it.
            if let (true, Some(&(nx, ny))) = (p.lines, points.get(i + 1)) {
                for t in 1..8 {
                    let t = f64::from(t) / 8.0;
                    count(fx + (nx - fx) * t, fy + (ny - fy) * t);
                }
            }
        }
    }
    let least = covered.iter().min().copied().unwrap_or(0);
    corners[covered.iter().position(|&c| c == least).unwrap_or(0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plot(values: Vec<(f64, f64)>, lines: bool) -> XyPlot {
        XyPlot {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            series: vec![Series {
                name: "calls".into(),
                values,
            }],
            log_x: false,
            log_y: false,
            points: !lines,
            lines,
            x_ticks: Vec::new(),
            error_bars: Vec::new(),
            marks: Default::default(),
        }
    }

    #[test]
    fn the_legend_goes_where_the_data_is_not() {
        let range = (0.0, 100.0);
        // A rising CDF leaves the lower right empty: the first choice.
        let cdf: Vec<(f64, f64)> = (0..=100).map(|i| (f64::from(i), f64::from(i))).collect();
        assert_eq!(
            legend_corner(&plot(cdf, true), range, range),
            Corner::LowerRight
        );
        // A low, flat rate runs along the bottom: the legend goes up, where the line is not.
        let flat = (0..=100).map(|i| (f64::from(i), 2.0)).collect();
        assert_eq!(
            legend_corner(&plot(flat, true), range, range),
            Corner::UpperRight
        );
        // A falling curve ends in the lower right.
        let falling = vec![(0.0, 100.0), (100.0, 0.0)];
        assert_eq!(
            legend_corner(&plot(falling, true), range, range),
            Corner::UpperRight
        );
        // Two points only, at the ends of a line along the top: the line between them counts.
        let along_the_top = vec![(0.0, 100.0), (100.0, 100.0), (100.0, 0.0)];
        let corner = legend_corner(&plot(along_the_top, true), range, range);
        assert_eq!(
            corner,
            Corner::LowerLeft,
            "every corner but the lower left is crossed"
        );
    }
}
