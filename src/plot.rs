//! Plots with `plotters`: figures of fits, NCA and simulations
//! ([`concentration_time`], [`scatter`], [`forest`], [`lambda_z`]), each written
//! as SVG and beside it as PNG, and goodness-of-fit figures
//! ([`gof`]) drawn once on any backend and rendered to SVG or PNG with an
//! embedded font ([`render`]).

use crate::error::{Error, Result};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::prelude::*;

/// A named curve.
#[derive(Debug, Clone)]
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// (time, concentration) points.
    pub points: Vec<(f64, f64)>,
}

/// Labels of a concentration–time plot.
#[derive(Debug, Clone)]
pub struct PlotLabels {
    /// Title above both panels.
    pub title: String,
    /// Time axis label, e.g. `Time (h)`.
    pub x: String,
    /// Concentration axis label, e.g. `Concentration (ng/mL)`.
    pub y: String,
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn plot_err(path: &str) -> impl Fn(String) -> Error + '_ {
    move |e| Error::Argument(format!("cannot draw {path}: {e}"))
}

/// A prediction band: lower and upper percentile curves at shared times.
#[derive(Debug, Clone)]
pub struct Band {
    /// (time, lower, upper) points.
    pub points: Vec<(f64, f64, f64)>,
}

/// Writes an SVG (and the same PNG beside it) with a linear and a semi-log panel of concentration–time
/// curves, with observed points on top.
pub fn concentration_time(path: &str, labels: &PlotLabels, curves: &[Curve], observed: &[(f64, f64)]) -> Result<()> {
    draw_profiles(path, labels, curves, &[], observed)
}

/// Like [`concentration_time`], with shaded prediction bands: band i takes the
/// colour of curve i (its median).
pub fn prediction_bands(
    path: &str,
    labels: &PlotLabels,
    medians: &[Curve],
    bands: &[Band],
    observed: &[(f64, f64)],
) -> Result<()> {
    draw_profiles(path, labels, medians, bands, observed)
}

fn draw_profiles(
    path: &str,
    labels: &PlotLabels,
    curves: &[Curve],
    bands: &[Band],
    observed: &[(f64, f64)],
) -> Result<()> {
    write_svg_and_png(
        path,
        (1200, 500),
        |a| draw_profiles_on(a, path, labels, curves, bands, observed),
        |a| draw_profiles_on(a, path, labels, curves, bands, observed),
    )
}

fn draw_profiles_on<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    path: &str,
    labels: &PlotLabels,
    curves: &[Curve],
    bands: &[Band],
    observed: &[(f64, f64)],
) -> Result<()> {
    let err = plot_err(path);
    let root = area.clone();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let root = root
        .titled(&labels.title, ("sans-serif", 20))
        .map_err(|e| err(e.to_string()))?;
    let (left, right) = root.split_horizontally(600);
    let band_points: Vec<(f64, f64)> = bands
        .iter()
        .flat_map(|b| b.points.iter().flat_map(|&(t, lo, hi)| [(t, lo), (t, hi)]))
        .collect();
    let all = curves
        .iter()
        .flat_map(|c| c.points.iter())
        .chain(observed.iter())
        .chain(band_points.iter());
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    let mut ymin_pos = f64::INFINITY;
    for &(x, y) in all {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
            if y > 0.0 {
                ymin_pos = ymin_pos.min(y);
            }
        }
    }
    if !x0.is_finite() || x1 <= x0 {
        x0 = 0.0;
        x1 = x1.max(1.0);
    }
    if y1 <= 0.0 {
        y1 = 1.0;
    }
    let y_top = y1 * 1.05;
    // Semi-log panel: down to just below the lowest positive value, at most four decades.
    let y_low = (ymin_pos * 0.8).max(y1 * 1e-4).min(y1 * 0.5);

    {
        let mut chart = panel(&left, "linear")
            .build_cartesian_2d(x0..x1, 0.0..y_top)
            .map_err(|e| err(e.to_string()))?;
        finish_panel(&mut chart, labels, curves, bands, observed, |_| true).map_err(&err)?;
    }
    {
        let mut chart = panel(&right, "semi-log")
            .build_cartesian_2d(x0..x1, (y_low..y_top).log_scale())
            .map_err(|e| err(e.to_string()))?;
        finish_panel(&mut chart, labels, curves, bands, observed, |y| y >= y_low).map_err(&err)?;
    }
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// A captioned panel with room for axis labels.
fn panel<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, plotters::coord::Shift>,
    caption: &'b str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60);
    builder
}

/// Draws the mesh with axis descriptions, then the curves and points.
fn finish_panel<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    labels: &PlotLabels,
    curves: &[Curve],
    bands: &[Band],
    observed: &[(f64, f64)],
    keep: impl Fn(f64) -> bool,
) -> std::result::Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    // No minor grid lines: on a log axis plotters crowds them into a grey band.
    chart
        .configure_mesh()
        .x_desc(&labels.x)
        .y_desc(&labels.y)
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, b) in bands.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()].mix(0.25);
        // On the log panel, the band is clipped at the panel's floor.
        let floor = |y: f64| if keep(y) { y } else { f64::NAN };
        let mut outline: Vec<(f64, f64)> = b.points.iter().map(|&(t, _, hi)| (t, floor(hi))).collect();
        outline.extend(b.points.iter().rev().map(|&(t, lo, _)| (t, floor(lo))));
        if outline.iter().any(|p| !p.1.is_finite()) {
            let lowest = outline
                .iter()
                .map(|p| p.1)
                .filter(|y| y.is_finite())
                .fold(f64::INFINITY, f64::min);
            if !lowest.is_finite() {
                continue;
            }
            for p in outline.iter_mut().filter(|p| !p.1.is_finite()) {
                p.1 = lowest;
            }
        }
        chart
            .draw_series(std::iter::once(Polygon::new(outline, colour.filled())))
            .map_err(|e| e.to_string())?;
    }
    draw_series(chart, curves, observed, keep)
}

fn draw_series<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    curves: &[Curve],
    observed: &[(f64, f64)],
    keep: impl Fn(f64) -> bool,
) -> std::result::Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, c) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        // Break the line where values leave the panel (zeros on the log axis).
        let mut segment: Vec<(f64, f64)> = Vec::new();
        let mut segments = Vec::new();
        for &(x, y) in &c.points {
            if y.is_finite() && keep(y) {
                segment.push((x, y));
            } else if !segment.is_empty() {
                segments.push(std::mem::take(&mut segment));
            }
        }
        segments.push(segment);
        for (k, seg) in segments.into_iter().enumerate() {
            let series = chart
                .draw_series(LineSeries::new(seg, colour.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            if k == 0 && !c.label.is_empty() {
                series
                    .label(c.label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
            }
        }
    }
    let pts: Vec<(f64, f64)> = observed
        .iter()
        .copied()
        .filter(|&(_, y)| y.is_finite() && keep(y))
        .collect();
    if !pts.is_empty() {
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, BLACK.filled())))
            .map_err(|e| e.to_string())?
            .label("observed")
            .legend(|(x, y)| Circle::new((x + 10, y), 4, BLACK.filled()));
    }
    // A legend only where it tells curves apart; it would hide data otherwise.
    if curves.iter().filter(|c| !c.label.is_empty()).count() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A reference line for a diagnostic scatter plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceLine {
    /// y = x (observed versus predicted).
    Identity,
    /// y = 0 (residuals).
    Zero,
}

/// Writes an SVG (and the same PNG beside it) scatter plot (diagnostics: observed versus predicted,
/// weighted residuals versus time) with a reference line.
pub fn scatter(path: &str, labels: &PlotLabels, points: &[(f64, f64)], line: ReferenceLine) -> Result<()> {
    write_svg_and_png(
        path,
        (700, 600),
        |a| scatter_on(a, path, labels, points, line),
        |a| scatter_on(a, path, labels, points, line),
    )
}

fn scatter_on<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    path: &str,
    labels: &PlotLabels,
    points: &[(f64, f64)],
    line: ReferenceLine,
) -> Result<()> {
    let err = plot_err(path);
    let root = area.clone();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let finite: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let span = |v: &mut dyn Iterator<Item = f64>| {
        v.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)))
    };
    let (mut x0, mut x1) = span(&mut finite.iter().map(|p| p.0));
    let (mut y0, mut y1) = span(&mut finite.iter().map(|p| p.1));
    if line == ReferenceLine::Identity {
        x0 = x0.min(y0).min(0.0);
        x1 = x1.max(y1);
        (y0, y1) = (x0, x1);
    } else {
        let m = y0.abs().max(y1.abs()).max(3.0);
        (y0, y1) = (-m * 1.05, m * 1.05);
    }
    if !(x1 > x0) {
        (x0, x1) = (0.0, 1.0);
    }
    let pad = 0.03 * (x1 - x0);
    let mut chart = ChartBuilder::on(&root)
        .caption(&labels.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0 - pad..x1 + pad, y0..y1 * 1.02)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(&labels.x)
        .y_desc(&labels.y)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let reference = match line {
        ReferenceLine::Identity => vec![(x0, x0), (x1, x1)],
        ReferenceLine::Zero => vec![(x0 - pad, 0.0), (x1 + pad, 0.0)],
    };
    chart
        .draw_series(LineSeries::new(reference, COLOURS[1].stroke_width(1)))
        .map_err(|e| err(e.to_string()))?;
    chart
        .draw_series(finite.into_iter().map(|p| Circle::new(p, 3, COLOURS[0].filled())))
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// One row of a forest plot: an individual's ratio to its typical value.
#[derive(Debug, Clone)]
pub struct ForestRow {
    /// Row label, e.g. `1 CL`.
    pub label: String,
    /// individual/typical.
    pub ratio: f64,
    /// The population's central range of the ratio (e.g. 90%), if the parameter varies.
    pub band: Option<(f64, f64)>,
    /// Whether the point is outside the band (drawn in red).
    pub flagged: bool,
}

/// Writes a forest plot (SVG, and the same PNG beside it): one row per (subject, parameter), the ratio on a log
/// axis with the population's band shaded and a line at 1.
pub fn forest(path: &str, title: &str, rows: &[ForestRow]) -> Result<()> {
    let height = (120 + 22 * rows.len()).min(20_000) as u32;
    write_svg_and_png(
        path,
        (800, height),
        |a| forest_on(a, path, title, rows),
        |a| forest_on(a, path, title, rows),
    )
}

fn forest_on<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    path: &str,
    title: &str,
    rows: &[ForestRow],
) -> Result<()> {
    let err = plot_err(path);
    let root = area.clone();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let values = rows
        .iter()
        .flat_map(|r| [Some(r.ratio), r.band.map(|b| b.0), r.band.map(|b| b.1)])
        .flatten()
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = values.fold((1.0f64, 1.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let (x0, x1) = (lo / 1.25, hi * 1.25);
    let n = rows.len().max(1);
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(110)
        .build_cartesian_2d((x0..x1).log_scale(), -0.5..(n as f64 - 0.5))
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("Individual / typical value for the subject's covariates (log scale)")
        .y_labels(n)
        .y_label_formatter(&|y: &f64| {
            let i = y.round();
            if (y - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(n - 1 - i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let y_of = |i: usize| (n - 1 - i) as f64;
    for (i, r) in rows.iter().enumerate() {
        if let Some((a, b)) = r.band {
            let y = y_of(i);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, y - 0.45), (b, y + 0.45)],
                    COLOURS[0].mix(0.2).filled(),
                )))
                .map_err(|e| err(e.to_string()))?;
        }
    }
    chart
        .draw_series(LineSeries::new(
            vec![(1.0, -0.5), (1.0, n as f64 - 0.5)],
            BLACK.stroke_width(1),
        ))
        .map_err(|e| err(e.to_string()))?;
    chart
        .draw_series(
            rows.iter()
                .enumerate()
                .filter(|(_, r)| r.ratio.is_finite() && r.ratio > 0.0)
                .map(|(i, r)| {
                    let colour = if r.flagged { COLOURS[1] } else { COLOURS[0] };
                    Circle::new((r.ratio, y_of(i)), 5, colour.filled())
                }),
        )
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// A λz regression plot of one NCA profile.
#[derive(Debug, Clone)]
pub struct LambdaZPlot {
    /// Title (subject, λz, adjusted R², t½).
    pub title: String,
    /// Time axis label.
    pub x: String,
    /// Concentration axis label.
    pub y: String,
    /// Every sample of the profile (time after the dose, concentration).
    pub points: Vec<(f64, f64)>,
    /// The samples the regression used (drawn highlighted).
    pub used: Vec<(f64, f64)>,
    /// The regression line C = e^(a − λz·t) as points, and its legend label.
    pub line: Option<(Vec<(f64, f64)>, String)>,
}

/// Writes an SVG (and the same PNG beside it) of ln concentration against time (log axis): every sample,
/// the λz samples highlighted, the regression line. Samples ≤ 0 have no
/// logarithm: the legend counts them.
pub fn lambda_z(path: &str, plot: &LambdaZPlot) -> Result<()> {
    write_svg_and_png(
        path,
        (800, 560),
        |a| lambda_z_on(a, path, plot),
        |a| lambda_z_on(a, path, plot),
    )
}

fn lambda_z_on<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, path: &str, plot: &LambdaZPlot) -> Result<()> {
    let err = plot_err(path);
    let root = area.clone();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let drawn: Vec<(f64, f64)> = plot
        .points
        .iter()
        .copied()
        .filter(|&(x, y)| x.is_finite() && y.is_finite() && y > 0.0)
        .collect();
    let hidden = plot.points.len() - drawn.len();
    let line_points = plot.line.as_ref().map_or(&[][..], |l| &l.0[..]);
    let all = drawn
        .iter()
        .chain(line_points.iter())
        .filter(|p| p.1 > 0.0 && p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, 0.0f64);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !(x1 > x0) {
        (x0, x1) = (0.0, x1.max(0.0) + 1.0);
    }
    if !(y1 > 0.0) || !y0.is_finite() {
        (y0, y1) = (0.1, 1.0);
    }
    if !(y1 > y0) {
        (y0, y1) = (y0 / 2.0, y1 * 2.0);
    }
    let pad = 0.03 * (x1 - x0);
    let mut chart = ChartBuilder::on(&root)
        .caption(&plot.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x0 - pad).min(0.0)..x1 + pad, (y0 / 1.5..y1 * 1.5).log_scale())
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(&plot.x)
        .y_desc(&plot.y)
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let label = if hidden > 0 {
        format!("samples ({hidden} ≤ 0 not drawn on the log axis)")
    } else {
        "samples".to_string()
    };
    chart
        .draw_series(drawn.iter().map(|&p| Circle::new(p, 4, BLACK.stroke_width(1))))
        .map_err(|e| err(e.to_string()))?
        .label(label)
        .legend(|(x, y)| Circle::new((x + 10, y), 4, BLACK.stroke_width(1)));
    if !plot.used.is_empty() {
        let colour = COLOURS[1];
        chart
            .draw_series(
                plot.used
                    .iter()
                    .filter(|p| p.1 > 0.0)
                    .map(|&p| Circle::new(p, 5, colour.filled())),
            )
            .map_err(|e| err(e.to_string()))?
            .label(format!("used for λz ({} points)", plot.used.len()))
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled()));
    }
    if let Some((points, text)) = &plot.line {
        let colour = COLOURS[0];
        chart
            .draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(text.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

pub mod figure;
pub mod gof;
pub mod loess;
pub mod render;

/// Writes the figure at `path` as SVG and beside it as PNG (`path` with the
/// extension `.png`), each whole or not at all; `svg` and `png` draw the same
/// figure on the two backends.
fn write_svg_and_png(
    path: &str,
    size: (u32, u32),
    svg: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
    png: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<()> {
    let text = render::svg_string(path, size, |a| svg(a).map_err(|e| e.to_string()))?;
    let bytes = render::png_bytes(path, size, |a| png(a).map_err(|e| e.to_string()))?;
    crate::output::write_atomically(path, text.as_bytes())?;
    crate::output::write_atomically(std::path::Path::new(path).with_extension("png"), &bytes)
}
