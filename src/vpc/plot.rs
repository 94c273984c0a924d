//! Drawing a [`Vpc`]: one panel per stratum with the simulated 95% intervals
//! of the 5th, 50th and 95th percentiles as shaded areas, the simulated
//! medians as thin lines, the observed percentiles as thick lines and the
//! observations as semi-transparent points (censored ones as crosses at
//! their limit); beside it, when the data have an LLOQ, the BLQ fraction
//! panel (observed against the simulated median and interval).
//!
//! [`draw_vpc`] draws on any plotters backend; [`write_plot`] writes an SVG
//! or PNG file atomically.

use super::{BinStats, Vpc};
use crate::error::{Error, Result};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Labels and scale of a VPC plot.
#[derive(Debug, Clone, PartialEq)]
pub struct VpcPlotStyle {
    /// Title above the panels.
    pub title: String,
    /// Label of the y axis (e.g. `DV` or `prediction-corrected DV`).
    pub y_label: String,
    /// A logarithmic y axis (positive values only).
    pub log_y: bool,
}

const OUTER: RGBColor = RGBColor(49, 104, 168);
const MEDIAN: RGBColor = RGBColor(204, 51, 51);

/// The colour of percentile `k` (0: 5th, 1: 50th, 2: 95th).
fn colour(k: usize) -> RGBColor {
    if k == 1 {
        MEDIAN
    } else {
        OUTER
    }
}

/// The size in pixels of a VPC plot with `n_strata` panels.
pub fn size(n_strata: usize) -> (u32, u32) {
    (1000, 60 + 420 * n_strata.max(1) as u32)
}

/// Draws `vpc` on `area` (see the module documentation).
pub fn draw_vpc<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, vpc: &Vpc, style: &VpcPlotStyle) -> Result<()> {
    let err = |e: String| Error::Argument(format!("cannot draw the VPC: {e}"));
    area.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let area = area
        .titled(&style.title, ("sans-serif", 20))
        .map_err(|e| err(e.to_string()))?;
    let with_blq = vpc.bins.iter().any(|b| b.blq.is_some());
    let rows = area.split_evenly((vpc.strata.len().max(1), 1));
    for (s, row) in rows.iter().enumerate() {
        let bins: Vec<&BinStats> = vpc.bins.iter().filter(|b| b.stratum == vpc.strata[s]).collect();
        let points: Vec<(f64, f64, bool)> = vpc
            .points
            .iter()
            .filter(|p| p.0 == s)
            .map(|p| (p.1, p.2, p.3))
            .collect();
        let caption = if vpc.strata[s].is_empty() {
            String::new()
        } else {
            vpc.strata[s].clone()
        };
        let (main, blq) = if with_blq {
            let w = row.dim_in_pixel().0;
            let (a, b) = row.split_horizontally(w * 2 / 3);
            (a, Some(b))
        } else {
            (row.clone(), None)
        };
        percentile_panel(&main, &caption, &bins, &points, vpc.options.x.label(), style).map_err(err)?;
        if let Some(b) = blq {
            blq_panel(&b, &bins, vpc.options.x.label()).map_err(err)?;
        }
    }
    area.present().map_err(|e| err(e.to_string()))
}

/// Writes `vpc` as a plot at `path`, whole or not at all: PNG when the name
/// ends in `.png`, else SVG (both through [`crate::plot::render`], with the
/// embedded font).
pub fn write_plot(path: &str, vpc: &Vpc, style: &VpcPlotStyle) -> Result<()> {
    let size = size(vpc.strata.len());
    let bytes = if path.to_ascii_lowercase().ends_with(".png") {
        crate::plot::render::png_bytes(path, size, |a| draw_vpc(a, vpc, style).map_err(|e| e.to_string()))?
    } else {
        crate::plot::render::svg_string(path, size, |a| draw_vpc(a, vpc, style).map_err(|e| e.to_string()))?
            .into_bytes()
    };
    crate::output::write_atomically(path, &bytes)
}

/// The x range of the bins and points.
fn x_range(bins: &[&BinStats], points: &[(f64, f64, bool)]) -> (f64, f64) {
    let xs = bins
        .iter()
        .flat_map(|b| [b.x_lo, b.x_hi])
        .chain(points.iter().map(|p| p.0));
    let (lo, hi) = xs
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.02).max(1e-9);
    (lo - pad, hi + pad)
}

/// The y range of every value drawn, positive values only on a log axis.
fn y_range(bins: &[&BinStats], points: &[(f64, f64, bool)], log: bool) -> (f64, f64) {
    let ys = bins
        .iter()
        .flat_map(|b| {
            b.observed
                .into_iter()
                .chain(b.simulated.iter().flat_map(|i| [i.lo, i.hi, i.median]))
        })
        .chain(points.iter().map(|p| p.1))
        .filter(|y| y.is_finite() && (!log || *y > 0.0));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
    match (lo.is_finite(), log) {
        (false, true) => (0.1, 10.0),
        (false, false) => (0.0, 1.0),
        (true, true) => (lo * 0.8, hi * 1.25),
        (true, false) => {
            let pad = ((hi - lo) * 0.05).max(1e-9);
            (lo.min(0.0) - if lo < 0.0 { pad } else { 0.0 }, hi + pad)
        }
    }
}

/// The percentile panel of one stratum, on a linear or log y axis.
fn percentile_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    bins: &[&BinStats],
    points: &[(f64, f64, bool)],
    x_label: &str,
    style: &VpcPlotStyle,
) -> std::result::Result<(), String> {
    let (x0, x1) = x_range(bins, points);
    let (y0, y1) = y_range(bins, points, style.log_y);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    if style.log_y {
        let mut chart = builder
            .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
            .map_err(|e| e.to_string())?;
        draw_percentiles(&mut chart, bins, points, x_label, &style.y_label, |y| y >= y0)
    } else {
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(|e| e.to_string())?;
        draw_percentiles(&mut chart, bins, points, x_label, &style.y_label, |_| true)
    }
}

/// Points, bands and lines of a percentile panel; `keep` tells the y values
/// the axis can show.
fn draw_percentiles<'a, DB, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    bins: &[&BinStats],
    points: &[(f64, f64, bool)],
    x_label: &str,
    y_label: &str,
    keep: impl Fn(f64) -> bool,
) -> std::result::Result<(), String>
where
    DB: DrawingBackend + 'a,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;
    let ok = |y: f64| y.is_finite() && keep(y);
    for k in 0..3 {
        let band: Vec<(f64, f64, f64)> = bins
            .iter()
            .map(|b| (b.x, b.simulated[k].lo, b.simulated[k].hi))
            .filter(|p| ok(p.1) && ok(p.2))
            .collect();
        if band.len() > 1 {
            let mut outline: Vec<(f64, f64)> = band.iter().map(|p| (p.0, p.2)).collect();
            outline.extend(band.iter().rev().map(|p| (p.0, p.1)));
            chart
                .draw_series(std::iter::once(Polygon::new(outline, colour(k).mix(0.25).filled())))
                .map_err(|e| e.to_string())?;
        }
    }
    chart
        .draw_series(
            points
                .iter()
                .filter(|p| !p.2 && ok(p.1))
                .map(|p| Circle::new((p.0, p.1), 2, BLACK.mix(0.2).filled())),
        )
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(
            points
                .iter()
                .filter(|p| p.2 && ok(p.1))
                .map(|p| Cross::new((p.0, p.1), 3, MEDIAN.mix(0.5).stroke_width(1))),
        )
        .map_err(|e| e.to_string())?;
    for k in 0..3 {
        let simulated = segments(bins.iter().map(|b| (b.x, b.simulated[k].median)), &ok);
        let observed = segments(bins.iter().map(|b| (b.x, b.observed[k])), &ok);
        for seg in simulated {
            chart
                .draw_series(LineSeries::new(seg, colour(k).mix(0.8).stroke_width(1)))
                .map_err(|e| e.to_string())?;
        }
        for seg in observed {
            chart
                .draw_series(LineSeries::new(seg, colour(k).stroke_width(3)))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The runs of consecutive points with values `ok` (lines break at unknown values).
fn segments(points: impl Iterator<Item = (f64, f64)>, ok: &impl Fn(f64) -> bool) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for (x, y) in points {
        if ok(y) {
            out.last_mut().expect("never empty").push((x, y));
        } else if !out.last().expect("never empty").is_empty() {
            out.push(Vec::new());
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The BLQ fraction panel: observed share against the simulated median and interval.
fn blq_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    bins: &[&BinStats],
    x_label: &str,
) -> std::result::Result<(), String> {
    let known: Vec<(f64, f64, super::stats::Interval)> =
        bins.iter().filter_map(|b| b.blq.map(|(o, s)| (b.x, o, s))).collect();
    let (x0, x1) = x_range(bins, &[]);
    let mut chart = ChartBuilder::on(area)
        .caption("fraction below LLOQ", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x0..x1, 0.0..1.0)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("fraction BLQ")
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;
    if known.len() > 1 {
        let mut outline: Vec<(f64, f64)> = known.iter().map(|p| (p.0, p.2.hi)).collect();
        outline.extend(known.iter().rev().map(|p| (p.0, p.2.lo)));
        chart
            .draw_series(std::iter::once(Polygon::new(outline, OUTER.mix(0.25).filled())))
            .map_err(|e| e.to_string())?;
    }
    chart
        .draw_series(LineSeries::new(
            known.iter().map(|p| (p.0, p.2.median)),
            OUTER.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(known.iter().map(|p| (p.0, p.1)), BLACK.stroke_width(2)))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(known.iter().map(|p| Circle::new((p.0, p.1), 3, BLACK.filled())))
        .map_err(|e| e.to_string())?;
    Ok(())
}
