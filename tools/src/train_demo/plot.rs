//! The loss curve as a PNG through `plotters`' bitmap backend. The build
//! has no font support (a font stack is a heavy dependency for a demo), so
//! the chart has no text: a white frame with axes, grid lines at each
//! quarter, and the curve in blue from step 0 (left) to the last step
//! (right), loss 0 at the bottom and the largest loss at the top.

use std::path::Path;

use plotters::prelude::*;

use crate::cli::{CliError, CliResult};

/// Writes `losses` as an 800×480 PNG at `path`.
pub fn write_png(path: &Path, losses: &[f64]) -> CliResult<()> {
    let fail = |e: String| CliError(format!("--plot {}: {e}", path.display()));
    let finite: Vec<f64> = losses.iter().copied().filter(|l| l.is_finite()).collect();
    let top = finite.iter().copied().fold(0.0f64, f64::max).max(1e-6) * 1.05;
    let n = losses.len().max(2) as f64 - 1.0;
    let root = BitMapBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let area = root.margin(20, 20, 20, 20);
    let mut chart = ChartBuilder::on(&area)
        .build_cartesian_2d(0.0..n, 0.0..top)
        .map_err(|e| fail(e.to_string()))?;
    let grey = RGBColor(220, 220, 220);
    for q in 1..4 {
        let (x, y) = (n * q as f64 / 4.0, top * q as f64 / 4.0);
        chart
            .draw_series([
                PathElement::new(vec![(x, 0.0), (x, top)], grey),
                PathElement::new(vec![(0.0, y), (n, y)], grey),
            ])
            .map_err(|e| fail(e.to_string()))?;
    }
    chart
        .draw_series([
            PathElement::new(vec![(0.0, 0.0), (n, 0.0)], BLACK.stroke_width(2)),
            PathElement::new(vec![(0.0, 0.0), (0.0, top)], BLACK.stroke_width(2)),
        ])
        .map_err(|e| fail(e.to_string()))?;
    let points =
        losses.iter().enumerate().filter(|(_, l)| l.is_finite()).map(|(i, &l)| (i as f64, l));
    chart
        .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
        .map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
