//! Diagnostic figures as data ([`Figure`]), each drawn by one function on
//! any plotters backend ([`Figure::draw`]) and rendered to SVG or PNG.
//!
//! Axes are drawn in display coordinates: a log axis plots log₁₀ of the
//! value, with ticks at 1, 2 and 5 × 10ᵏ (light grid lines at the other
//! integers × 10ᵏ), labelled with the values.

use super::loess::{loess, DEFAULT_SPAN};
use super::render::{png_bytes, svg_string};
use crate::error::Result;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Blue of points and individual predictions.
pub const BLUE: RGBColor = RGBColor(31, 119, 180);
/// Red of reference lines and population predictions.
pub const RED: RGBColor = RGBColor(214, 39, 40);
/// Orange of smoothers.
pub const ORANGE: RGBColor = RGBColor(230, 110, 0);

/// How an axis maps values.
#[derive(Debug, Clone, PartialEq)]
pub enum Scale {
    /// Linear.
    Linear,
    /// Base-10 logarithmic (values ≤ 0 are not drawn).
    Log,
    /// Categories at 0, 1, …, with these labels.
    Categories(Vec<String>),
}

/// An axis: its label and scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Axis label, e.g. `PRED (mg/L)`.
    pub label: String,
    /// Scale.
    pub scale: Scale,
}

impl Axis {
    /// A linear axis.
    pub fn linear(label: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            scale: Scale::Linear,
        }
    }

    /// A log axis.
    pub fn log(label: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            scale: Scale::Log,
        }
    }

    /// The display coordinate of `v` (log₁₀ on a log axis), if drawable.
    fn to_display(&self, v: f64) -> Option<f64> {
        let d = match self.scale {
            Scale::Log if v > 0.0 => v.log10(),
            Scale::Log => return None,
            _ => v,
        };
        d.is_finite().then_some(d)
    }

    /// The label of the tick at display coordinate `d`.
    fn tick_label(&self, d: f64, step: f64) -> String {
        match &self.scale {
            Scale::Log => short_number(10f64.powf(d)),
            Scale::Linear => {
                let decimals = (-step.log10().floor()).max(0.0) as usize;
                format!("{:.*}", decimals.min(6), if d.abs() < step * 1e-9 { 0.0 } else { d })
            }
            Scale::Categories(labels) => {
                let i = d.round();
                if (d - i).abs() < 1e-9 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            }
        }
    }

    /// Bold and light tick positions over [lo, hi] (display coordinates), and the bold step.
    fn ticks(&self, lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>, f64) {
        match &self.scale {
            Scale::Log => log_ticks(lo, hi),
            Scale::Linear => {
                let step = nice_step((hi - lo) / 6.0);
                let (first, last) = ((lo / step).ceil(), (hi / step).floor());
                // Extreme ranges (overflowing to ∞) get no ticks rather than billions.
                if !(first.is_finite() && last.is_finite()) || last - first > 100.0 {
                    return (Vec::new(), Vec::new(), step);
                }
                let bold = (first as i64..=last as i64).map(|k| k as f64 * step).collect();
                (bold, Vec::new(), step)
            }
            Scale::Categories(labels) => ((0..labels.len()).map(|i| i as f64).collect(), Vec::new(), 1.0),
        }
    }
}

/// A number in at most 3 significant digits, without trailing zeros (1e-3 … 1e5 in plain notation).
fn short_number(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&v.abs()) {
        return format!("{v:.0e}");
    }
    let decimals = (2.0 - v.abs().log10().floor()).max(0.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// 1, 2 or 5 × 10ᵏ at or above `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw > 0.0) || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw * 0.999)
        .unwrap_or(10.0 * p)
}

/// Log ticks over log₁₀ range [lo, hi]: bold at 1, 2, 5 × 10ᵏ (only at 10ᵏ
/// when the range spans more than 5 decades), light at the other integers × 10ᵏ.
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>, f64) {
    let (mut bold, mut light) = (Vec::new(), Vec::new());
    let wide = hi - lo > 5.0;
    for k in (lo.floor() as i32)..=(hi.ceil() as i32) {
        for m in 1..10 {
            let d = f64::from(k) + f64::from(m).log10();
            if d < lo - 1e-9 || d > hi + 1e-9 {
                continue;
            }
            if m == 1 || (!wide && (m == 2 || m == 5)) {
                bold.push(d);
            } else {
                light.push(d);
            }
        }
    }
    (bold, light, 1.0)
}

/// A horizontal reference line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HLine {
    /// Its y value.
    pub y: f64,
    /// Dashed (e.g. ±2 on residual plots) rather than solid.
    pub dashed: bool,
}

/// A scatter plot: semi-transparent points, reference lines, a LOESS smoother.
#[derive(Debug, Clone)]
pub struct Scatter {
    /// x axis.
    pub x: Axis,
    /// y axis.
    pub y: Axis,
    /// (x, y) points in data units.
    pub points: Vec<(f64, f64)>,
    /// Draw y = x.
    pub identity: bool,
    /// Horizontal reference lines.
    pub hlines: Vec<HLine>,
    /// Draw a LOESS smoother (span 2/3, on the display scale).
    pub smooth: bool,
}

/// A histogram of one η with the normal density N(0, ω²) over it.
#[derive(Debug, Clone)]
pub struct Histogram {
    /// x axis label.
    pub label: String,
    /// The values.
    pub values: Vec<f64>,
    /// ω, the SD of the population distribution drawn over the histogram.
    pub sd: f64,
}

/// A normal QQ plot of one η: sorted values against normal quantiles, with
/// the line of the population distribution N(0, ω²).
#[derive(Debug, Clone)]
pub struct Qq {
    /// y axis label.
    pub label: String,
    /// The values.
    pub values: Vec<f64>,
    /// ω, the slope of the reference line.
    pub sd: f64,
}

/// Values by category: a box (quartiles, median) and the points, jittered.
#[derive(Debug, Clone)]
pub struct Strips {
    /// x axis label (the covariate).
    pub x_label: String,
    /// y axis label.
    pub y_label: String,
    /// Per category: its label and values.
    pub groups: Vec<(String, Vec<f64>)>,
}

/// One subject's observations and predictions.
#[derive(Debug, Clone)]
pub struct Individual {
    /// Subject ID (panel title).
    pub id: String,
    /// (time, DV).
    pub dv: Vec<(f64, f64)>,
    /// IPRED lines (one per output), (time, IPRED) sorted by time.
    pub ipred: Vec<Vec<(f64, f64)>>,
    /// PRED lines (one per output), (time, PRED) sorted by time.
    pub pred: Vec<Vec<(f64, f64)>>,
}

/// The drawing of a figure.
#[derive(Debug, Clone)]
pub enum Chart {
    /// One scatter plot.
    Scatter(Scatter),
    /// Side-by-side scatter plots (e.g. one η per panel).
    Scatters(Vec<(String, Scatter)>),
    /// Side-by-side histograms.
    Histograms(Vec<Histogram>),
    /// Side-by-side QQ plots.
    Qqs(Vec<Qq>),
    /// Side-by-side categorical strips (one per η).
    Strips(Vec<(String, Strips)>),
    /// A page of individual fits.
    Individuals {
        /// Time axis label.
        x_label: String,
        /// Concentration axis label.
        y_label: String,
        /// The subjects on this page (at most 12).
        subjects: Vec<Individual>,
    },
}

/// A figure: a file stem, a title, and what it draws.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File stem, e.g. `dv_vs_pred_log` (written as `.svg` and `.png`).
    pub name: String,
    /// Title drawn above the chart.
    pub title: String,
    /// The chart.
    pub chart: Chart,
}

/// A linear coordinate in display units with given bold and light tick positions.
#[derive(Debug, Clone)]
struct Ticked {
    lo: f64,
    hi: f64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value - self.lo) / (self.hi - self.lo);
        let pixel = f64::from(limit.0) + t * f64::from(limit.1 - limit.0);
        pixel.round().clamp(-1e6, 1e6) as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

type Coord = Cartesian2d<Ticked, Ticked>;
type DrawResult = std::result::Result<(), String>;

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

impl Figure {
    /// The size in pixels.
    pub fn size(&self) -> (u32, u32) {
        let panels = match &self.chart {
            Chart::Scatter(_) => return (760, 620),
            Chart::Individuals { .. } => return (1400, 1000),
            Chart::Scatters(v) => v.len(),
            Chart::Histograms(v) => v.len(),
            Chart::Qqs(v) => v.len(),
            Chart::Strips(v) => v.len(),
        };
        let (rows, cols) = grid(panels);
        (420 * cols as u32 + 20, 380 * rows as u32 + 50)
    }

    /// Draws the figure on `area` (any backend).
    pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult {
        let area = area.titled(&self.title, ("sans-serif", 20)).map_err(e)?;
        match &self.chart {
            Chart::Scatter(s) => draw_scatter(&area, "", s),
            Chart::Scatters(v) => each_panel(&area, v, |a, (t, s)| draw_scatter(a, t, s)),
            Chart::Histograms(v) => each_panel(&area, v, draw_histogram),
            Chart::Qqs(v) => each_panel(&area, v, draw_qq),
            Chart::Strips(v) => each_panel(&area, v, |a, (t, s)| draw_strips(a, t, s)),
            Chart::Individuals {
                x_label,
                y_label,
                subjects,
            } => draw_individuals(&area, x_label, y_label, subjects),
        }
    }

    /// The figure as SVG text.
    pub fn svg(&self) -> Result<String> {
        svg_string(&self.name, self.size(), |a| self.draw(a))
    }

    /// The figure as PNG bytes.
    pub fn png(&self) -> Result<Vec<u8>> {
        png_bytes(&self.name, self.size(), |a| self.draw(a))
    }
}

/// Rows and columns for `n` panels (at most 3 columns; 2 × 2 for 4).
fn grid(n: usize) -> (usize, usize) {
    let cols = if n == 4 { 2 } else { n.clamp(1, 3) };
    (n.max(1).div_ceil(cols), cols)
}

fn each_panel<DB: DrawingBackend, T>(
    area: &DrawingArea<DB, Shift>,
    items: &[T],
    draw: impl Fn(&DrawingArea<DB, Shift>, &T) -> DrawResult,
) -> DrawResult {
    let (rows, cols) = grid(items.len());
    let cells = area.split_evenly((rows, cols));
    for (cell, item) in cells.iter().zip(items) {
        draw(cell, item)?;
    }
    Ok(())
}

/// The range of `values` padded by 4% (a unit range around a single value).
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 * (1.0 + lo.abs()) {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.04 * (hi - lo);
    (lo - pad, hi + pad)
}

/// A chart frame on `area` over display ranges, with ticks, grid and labels.
fn frame<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    x: &Axis,
    (x0, x1): (f64, f64),
    y: &Axis,
    (y0, y1): (f64, f64),
) -> std::result::Result<ChartContext<'a, DB, Coord>, String> {
    let (xb, xl, xs) = x.ticks(x0, x1);
    let (yb, yl, ys) = y.ticks(y0, y1);
    let mut builder = ChartBuilder::on(area);
    builder.margin(12).x_label_area_size(44).y_label_area_size(64);
    if !caption.is_empty() {
        builder.caption(caption, ("sans-serif", 16));
    }
    let x_range = Ticked {
        lo: x0,
        hi: x1,
        bold: xb,
        light: xl,
    };
    let y_range = Ticked {
        lo: y0,
        hi: y1,
        bold: yb,
        light: yl,
    };
    let mut chart = builder.build_cartesian_2d(x_range, y_range).map_err(e)?;
    let xfmt = |d: &f64| x.tick_label(*d, xs);
    let yfmt = |d: &f64| y.tick_label(*d, ys);
    chart
        .configure_mesh()
        .x_desc(&x.label)
        .y_desc(&y.label)
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(240, 240, 240))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(e)?;
    Ok(chart)
}

/// The opacity of points: opaque for a few, faint for thousands, so that
/// overlapping points read as a density.
fn point_alpha(n: usize) -> f64 {
    (0.9 * (150.0 / n.max(1) as f64).sqrt()).clamp(0.12, 0.85)
}

fn draw_points<DB: DrawingBackend>(chart: &mut ChartContext<'_, DB, Coord>, pts: &[(f64, f64)]) -> DrawResult {
    let style = BLUE.mix(point_alpha(pts.len())).filled();
    let radius = if pts.len() > 2000 { 2 } else { 3 };
    chart
        .draw_series(pts.iter().map(|&p| Circle::new(p, radius, style)))
        .map_err(e)?;
    Ok(())
}

fn draw_smoother<DB: DrawingBackend>(chart: &mut ChartContext<'_, DB, Coord>, pts: &[(f64, f64)]) -> DrawResult {
    let smooth = loess(pts, DEFAULT_SPAN, 80);
    if smooth.len() > 1 {
        chart
            .draw_series(LineSeries::new(smooth, ORANGE.stroke_width(3)))
            .map_err(e)?;
    }
    Ok(())
}

fn dashed<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Coord>,
    from: (f64, f64),
    to: (f64, f64),
    style: ShapeStyle,
) -> DrawResult {
    let n = 40;
    let segments = (0..n).step_by(2).map(|k| {
        let at = |t: f64| (from.0 + (to.0 - from.0) * t, from.1 + (to.1 - from.1) * t);
        PathElement::new(vec![at(k as f64 / n as f64), at((k + 1) as f64 / n as f64)], style)
    });
    chart.draw_series(segments).map_err(e)?;
    Ok(())
}

fn draw_scatter<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, caption: &str, s: &Scatter) -> DrawResult {
    let pts: Vec<(f64, f64)> = s
        .points
        .iter()
        .filter_map(|&(a, b)| Some((s.x.to_display(a)?, s.y.to_display(b)?)))
        .collect();
    let (mut xr, mut yr) = (padded(pts.iter().map(|p| p.0)), padded(pts.iter().map(|p| p.1)));
    if s.identity {
        let both = (xr.0.min(yr.0), xr.1.max(yr.1));
        (xr, yr) = (both, both);
    }
    for h in &s.hlines {
        if let Some(d) = s.y.to_display(h.y) {
            yr = (yr.0.min(d - 0.1), yr.1.max(d + 0.1));
        }
    }
    let mut chart = frame(area, caption, &s.x, xr, &s.y, yr)?;
    draw_points(&mut chart, &pts)?;
    if s.identity {
        let (a, b) = (xr.0.max(yr.0), xr.1.min(yr.1));
        chart
            .draw_series(LineSeries::new([(a, a), (b, b)], RED.stroke_width(2)))
            .map_err(e)?;
    }
    for h in &s.hlines {
        if let Some(d) = s.y.to_display(h.y) {
            let style = RED.stroke_width(if h.dashed { 1 } else { 2 });
            if h.dashed {
                dashed(&mut chart, (xr.0, d), (xr.1, d), style)?;
            } else {
                chart
                    .draw_series(LineSeries::new([(xr.0, d), (xr.1, d)], style))
                    .map_err(e)?;
            }
        }
    }
    if s.smooth {
        draw_smoother(&mut chart, &pts)?;
    }
    Ok(())
}

/// Bins for a histogram of `n` values: ⌈√n⌉ between 5 and 30.
fn n_bins(n: usize) -> usize {
    ((n as f64).sqrt().ceil() as usize).clamp(5, 30)
}

fn draw_histogram<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, h: &Histogram) -> DrawResult {
    let values: Vec<f64> = h.values.iter().copied().filter(|v| v.is_finite()).collect();
    let sd = if h.sd > 0.0 && h.sd.is_finite() { h.sd } else { 1.0 };
    let reach = values.iter().fold(3.0 * sd, |m, v| m.max(v.abs())) * 1.05;
    let bins = n_bins(values.len());
    let width = 2.0 * reach / bins as f64;
    let mut counts = vec![0usize; bins];
    for v in &values {
        let k = (((v + reach) / width).floor() as usize).min(bins - 1);
        counts[k] += 1;
    }
    let n = values.len().max(1) as f64;
    let density: Vec<f64> = counts.iter().map(|&c| c as f64 / (n * width)).collect();
    let peak = 1.0 / (sd * (2.0 * std::f64::consts::PI).sqrt());
    let top = density.iter().fold(peak, |m, d| m.max(*d)) * 1.08;
    let x = Axis::linear(h.label.clone());
    let y = Axis::linear("density");
    let mut chart = frame(area, "", &x, (-reach, reach), &y, (0.0, top))?;
    chart
        .draw_series(density.iter().enumerate().map(|(k, d)| {
            let left = -reach + k as f64 * width;
            Rectangle::new([(left, 0.0), (left + width, *d)], BLUE.mix(0.45).filled())
        }))
        .map_err(e)?;
    let curve = (0..=120).map(|i| {
        let z = -reach + 2.0 * reach * i as f64 / 120.0;
        (z, peak * (-0.5 * (z / sd).powi(2)).exp())
    });
    chart
        .draw_series(LineSeries::new(curve, RED.stroke_width(2)))
        .map_err(e)?;
    Ok(())
}

fn draw_qq<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, q: &Qq) -> DrawResult {
    let mut values: Vec<f64> = q.values.iter().copied().filter(|v| v.is_finite()).collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let pts: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let p = (i as f64 + 0.5) / n as f64;
            (crate::population::bootstrap::normal_quantile(p), *v)
        })
        .collect();
    let xr = padded(pts.iter().map(|p| p.0).chain([-2.0, 2.0]));
    let yr = padded(pts.iter().map(|p| p.1).chain([-2.0 * q.sd, 2.0 * q.sd]));
    let x = Axis::linear("normal quantile");
    let y = Axis::linear(q.label.clone());
    let mut chart = frame(area, "", &x, xr, &y, yr)?;
    chart
        .draw_series(LineSeries::new(
            [(xr.0, q.sd * xr.0), (xr.1, q.sd * xr.1)],
            RED.stroke_width(2),
        ))
        .map_err(e)?;
    draw_points(&mut chart, &pts)?;
    Ok(())
}

/// Quartiles (type 7, as R's default) of sorted values.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * p;
    let (i, f) = (h.floor() as usize, h - h.floor());
    let next = sorted.get(i + 1).copied().unwrap_or(sorted[i]);
    sorted[i] + f * (next - sorted[i])
}

fn draw_strips<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, caption: &str, s: &Strips) -> DrawResult {
    let labels: Vec<String> = s.groups.iter().map(|g| g.0.clone()).collect();
    let k = labels.len();
    let x = Axis {
        label: s.x_label.clone(),
        scale: Scale::Categories(labels),
    };
    let y = Axis::linear(s.y_label.clone());
    let yr = padded(s.groups.iter().flat_map(|g| g.1.iter().copied()).chain([0.0]));
    let mut chart = frame(area, caption, &x, (-0.6, k as f64 - 0.4), &y, yr)?;
    chart
        .draw_series(LineSeries::new(
            [(-0.6, 0.0), (k as f64 - 0.4, 0.0)],
            RED.stroke_width(1),
        ))
        .map_err(e)?;
    for (i, (_, values)) in s.groups.iter().enumerate() {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let c = i as f64;
        let (q1, q2, q3) = (quantile(&sorted, 0.25), quantile(&sorted, 0.5), quantile(&sorted, 0.75));
        if q2.is_finite() {
            chart
                .draw_series([
                    Rectangle::new([(c - 0.3, q1), (c + 0.3, q3)], BLACK.stroke_width(1)),
                    Rectangle::new([(c - 0.3, q2), (c + 0.3, q2)], RED.stroke_width(3)),
                ])
                .map_err(e)?;
        }
        // A deterministic jitter: the golden-ratio sequence over ±0.25.
        let pts: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(j, v)| (c + 0.5 * ((j as f64 * 0.618_033_988_75).fract() - 0.5), *v))
            .collect();
        draw_points(&mut chart, &pts)?;
    }
    Ok(())
}

fn draw_individuals<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x_label: &str,
    y_label: &str,
    subjects: &[Individual],
) -> DrawResult {
    let (legend, panels) = area.split_vertically(26);
    legend
        .draw(&Text::new(
            "points: DV    blue line: IPRED    thin red line: PRED",
            (10, 4),
            ("sans-serif", 15),
        ))
        .map_err(e)?;
    let cells = panels.split_evenly((3, 4));
    for (cell, s) in cells.iter().zip(subjects) {
        let all =
            s.dv.iter()
                .chain(s.ipred.iter().flatten())
                .chain(s.pred.iter().flatten());
        let xr = padded(all.clone().map(|p| p.0));
        let yr = padded(all.map(|p| p.1).chain([0.0]));
        let x = Axis::linear(x_label);
        let y = Axis::linear(y_label);
        let mut chart = frame(cell, &format!("ID {}", s.id), &x, xr, &y, yr)?;
        for line in &s.pred {
            chart
                .draw_series(LineSeries::new(line.iter().copied(), RED.stroke_width(1)))
                .map_err(e)?;
        }
        for line in &s.ipred {
            chart
                .draw_series(LineSeries::new(line.iter().copied(), BLUE.stroke_width(2)))
                .map_err(e)?;
        }
        chart
            .draw_series(s.dv.iter().map(|&p| Circle::new(p, 3, BLACK.filled())))
            .map_err(e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_1_2_5_per_decade() {
        let (bold, light, _) = log_ticks(-1.0, 1.0);
        let labels: Vec<String> = bold.iter().map(|d| short_number(10f64.powf(*d))).collect();
        assert_eq!(labels, ["0.1", "0.2", "0.5", "1", "2", "5", "10"]);
        assert_eq!(light.len(), 12);
    }

    #[test]
    fn nice_steps_and_labels() {
        assert_eq!(nice_step(0.37), 0.5);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(120.0), 200.0);
        assert_eq!(short_number(2000.0), "2000");
        assert_eq!(short_number(0.05), "0.05");
        assert_eq!(short_number(1e6), "1e6");
    }

    #[test]
    fn odd_values_neither_panic_nor_hang() {
        let cases = [
            vec![],
            vec![(f64::NAN, 1.0), (1.0, f64::INFINITY)],
            vec![(0.0, 0.0), (0.0, 0.0), (0.0, 0.0)],
            vec![(1e300, -1e300), (-1e300, 1e300), (0.0, 1.0)],
            vec![(f64::MAX, f64::MIN), (f64::MIN, f64::MAX), (1.0, 2.0)],
        ];
        for points in cases {
            for log in [false, true] {
                let axis = |l: &str| if log { Axis::log(l) } else { Axis::linear(l) };
                let figure = Figure {
                    name: "odd".into(),
                    title: "odd".into(),
                    chart: Chart::Scatter(Scatter {
                        x: axis("x"),
                        y: axis("y"),
                        points: points.clone(),
                        identity: true,
                        hlines: vec![HLine { y: 2.0, dashed: true }],
                        smooth: true,
                    }),
                };
                // Drawn, or refused with an error: never a panic.
                let svg = figure.svg();
                let png = figure.png();
                assert_eq!(svg.is_ok(), png.is_ok(), "{points:?} log {log}");
            }
        }
    }

    #[test]
    fn quartiles_as_r_type_7() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.25), 1.75);
        assert_eq!(quantile(&v, 0.5), 2.5);
    }
}
