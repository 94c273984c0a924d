//! Non-compartmental analysis with Phoenix WinNonlin's rules.
//!
//! One profile (times after the dose, concentrations) at a time:
//! - AUC and AUMC by the linear trapezoidal rule, linear-up/log-down (log
//!   trapezoid where the concentration falls and both are positive), or
//!   linear/log (log trapezoid from Tmax on);
//! - λz by log-linear least squares on the last ≥ 3 positive points after Cmax
//!   (after the end of an infusion), "best fit" as WinNonlin: the largest
//!   adjusted R², then the most points whose adjusted R² is within 1e-4 of it;
//!   or a given number of points or time range;
//! - extrapolation to infinity with observed and predicted Clast; CL, Vz, Vss,
//!   MRT (infusion: minus Tinf/2), C0 back-extrapolated for IV bolus;
//! - partial AUCs with interpolation (linear, or log where the rule is log),
//!   and steady-state quantities over a dosing interval τ (AUCτ, Cmin, Cavg,
//!   fluctuation, accumulation index, CLss = dose/AUCτ).

pub mod data;
pub mod summary;

use std::fmt;

/// How the area under the curve is summed between samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AucRule {
    /// WinNonlin "Linear Trapezoidal Linear Interpolation".
    Linear,
    /// WinNonlin "Linear Up Log Down": log trapezoid where C falls.
    LinearUpLogDown,
    /// WinNonlin "Linear Log Trapezoidal": linear before Tmax, log after.
    LinearLog,
    /// WinNonlin "Linear Trapezoidal Linear/Log Interpolation": linear trapezoids;
    /// partial-AUC bounds interpolated on the log scale where C falls after Tmax.
    LinearLogInterpolation,
}

impl AucRule {
    /// Parses `linear`, `linear-up-log-down` (`log-down`, `lin-up-log-down`), `linear-log`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().replace(['_', ' '], "-").as_str() {
            "linear" | "linear-trapezoidal" => Ok(AucRule::Linear),
            "linear-up-log-down" | "lin-up-log-down" | "log-down" | "linuplogdown" => Ok(AucRule::LinearUpLogDown),
            "linear-log" | "lin-log" => Ok(AucRule::LinearLog),
            "linear-log-interpolation" | "linear-interpolation-log" => Ok(AucRule::LinearLogInterpolation),
            _ => Err(format!(
                "AUC rule '{text}': expected linear, linear-up-log-down, linear-log or linear-log-interpolation"
            )),
        }
    }
}

impl fmt::Display for AucRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AucRule::Linear => "Linear Trapezoidal Linear Interpolation",
            AucRule::LinearUpLogDown => "Linear Up Log Down",
            AucRule::LinearLog => "Linear Log Trapezoidal",
            AucRule::LinearLogInterpolation => "Linear Trapezoidal Linear/Log Interpolation",
        })
    }
}

/// The route of the dose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Route {
    /// Oral or other extravascular dose: CL/F, Vz/F.
    Extravascular,
    /// IV bolus: C0 back-extrapolated, Vss.
    IvBolus,
    /// IV infusion of the given duration: MRT corrected by Tinf/2, Vss.
    IvInfusion(f64),
}

/// How λz points are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LambdaZChoice {
    /// WinNonlin's best fit.
    BestFit,
    /// The last n positive points.
    Points(usize),
    /// The positive points with start ≤ t ≤ end.
    Range(f64, f64),
}

/// The terminal-phase regression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LambdaZ {
    /// λz (1/time), minus the slope of ln C on t.
    pub lambda_z: f64,
    /// Intercept of ln C at t = 0.
    pub intercept: f64,
    /// Number of points.
    pub n: usize,
    /// First and last time used.
    pub range: (f64, f64),
    /// R².
    pub r2: f64,
    /// Adjusted R²: 1 − (1 − R²)(n − 1)/(n − 2).
    pub r2_adjusted: f64,
}

/// Options of an analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct NcaOptions {
    /// AUC rule.
    pub rule: AucRule,
    /// λz selection.
    pub lambda_z: LambdaZChoice,
    /// Partial AUC intervals (times after the dose).
    pub partial: Vec<(f64, f64)>,
    /// Dosing interval for steady-state quantities.
    pub tau: Option<f64>,
}

impl Default for NcaOptions {
    fn default() -> Self {
        NcaOptions {
            rule: AucRule::LinearUpLogDown,
            lambda_z: LambdaZChoice::BestFit,
            partial: Vec::new(),
            tau: None,
        }
    }
}

/// Results of one profile, keyed by CDISC PP test codes (see [`Nca::values`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Nca {
    /// Cmax.
    pub cmax: f64,
    /// Tmax (first time of Cmax).
    pub tmax: f64,
    /// Time before the first measurable concentration (extravascular).
    pub tlag: Option<f64>,
    /// Last positive concentration and its time.
    pub clast: f64,
    /// Time of Clast.
    pub tlast: f64,
    /// AUC to Tlast.
    pub auclast: f64,
    /// AUC to the last sample, zeros included.
    pub aucall: f64,
    /// AUMC to Tlast.
    pub aumclast: f64,
    /// The terminal regression, if one could be made.
    pub lambda_z: Option<LambdaZ>,
    /// AUC to infinity with observed Clast.
    pub aucinf_obs: Option<f64>,
    /// AUC to infinity with predicted Clast.
    pub aucinf_pred: Option<f64>,
    /// Percentage of AUCinf(obs) extrapolated.
    pub auc_extrap_obs: Option<f64>,
    /// Percentage of AUCinf(pred) extrapolated.
    pub auc_extrap_pred: Option<f64>,
    /// AUMC to infinity, observed Clast.
    pub aumcinf_obs: Option<f64>,
    /// AUMC to infinity, predicted Clast.
    pub aumcinf_pred: Option<f64>,
    /// MRT to infinity (observed Clast; infusion corrected by Tinf/2).
    pub mrtinf_obs: Option<f64>,
    /// MRT to infinity (predicted Clast).
    pub mrtinf_pred: Option<f64>,
    /// MRT to Tlast.
    pub mrtlast: f64,
    /// CL (IV) or CL/F, from AUCinf(obs).
    pub cl_obs: Option<f64>,
    /// Vz (IV) or Vz/F, from AUCinf(obs).
    pub vz_obs: Option<f64>,
    /// CL or CL/F from AUCinf(pred).
    pub cl_pred: Option<f64>,
    /// Vz or Vz/F from AUCinf(pred).
    pub vz_pred: Option<f64>,
    /// Percentage of AUMCinf(obs) extrapolated.
    pub aumc_extrap_obs: Option<f64>,
    /// Percentage of AUMCinf(pred) extrapolated.
    pub aumc_extrap_pred: Option<f64>,
    /// Vss = MRTinf·CL (IV only).
    pub vss_obs: Option<f64>,
    /// Back-extrapolated C0 (IV bolus).
    pub c0: Option<f64>,
    /// Partial AUCs: (start, end, AUC).
    pub partial: Vec<(f64, f64, f64)>,
    /// Over the dosing interval τ: AUCτ, Cmin, Cavg, fluctuation %, accumulation index, CLss.
    pub interval: Option<IntervalValues>,
    /// Quality flags (poor λz fit, short span, large extrapolation).
    pub flags: Vec<String>,
}

/// Quantities over a dosing interval [0, τ].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalValues {
    /// τ.
    pub tau: f64,
    /// AUC over [0, τ].
    pub auctau: f64,
    /// Smallest concentration in [0, τ].
    pub cmin: f64,
    /// AUCτ/τ.
    pub cavg: f64,
    /// (Cmax − Cmin)/Cavg × 100.
    pub fluctuation: f64,
    /// 1/(1 − e^(−λz τ)).
    pub accumulation: Option<f64>,
    /// Clearance at steady state, dose/AUCτ (WinNonlin's CLss, or CLss_F for an
    /// extravascular dose; CDISC CLTAU, CLFTAU).
    pub clss: f64,
}

/// Why a profile cannot be analysed.
#[derive(Debug, Clone, PartialEq)]
pub enum NcaError {
    /// Times are not strictly increasing.
    Unsorted(f64, f64),
    /// No positive concentration.
    NoPositive,
    /// No samples.
    Empty,
}

impl fmt::Display for NcaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NcaError::Unsorted(a, b) if a == b => write!(f, "two samples at the same time {a}"),
            NcaError::Unsorted(a, b) => write!(f, "sample times not in order: {b} after {a}"),
            NcaError::NoPositive => f.write_str("no measurable (positive) concentration: all samples are zero or BLQ"),
            NcaError::Empty => f.write_str("no samples"),
        }
    }
}

fn log_segment(rule: AucRule, c1: f64, c2: f64, after_tmax: bool) -> bool {
    let positive_unequal = c1 > 0.0 && c2 > 0.0 && c1 != c2;
    match rule {
        AucRule::Linear | AucRule::LinearLogInterpolation => false,
        AucRule::LinearUpLogDown => positive_unequal && c2 < c1,
        AucRule::LinearLog => positive_unequal && after_tmax,
    }
}

/// AUC and AUMC of one segment.
fn segment(rule: AucRule, (t1, c1): (f64, f64), (t2, c2): (f64, f64), after_tmax: bool) -> (f64, f64) {
    let dt = t2 - t1;
    if log_segment(rule, c1, c2, after_tmax) {
        let l = (c1 / c2).ln();
        let auc = dt * (c1 - c2) / l;
        let aumc = dt * (t1 * c1 - t2 * c2) / l + dt * dt * (c1 - c2) / (l * l);
        (auc, aumc)
    } else {
        (dt * (c1 + c2) / 2.0, dt * (t1 * c1 + t2 * c2) / 2.0)
    }
}

/// Concentration at `t` between two samples, by the rule's interpolation.
fn interpolate(rule: AucRule, (t1, c1): (f64, f64), (t2, c2): (f64, f64), t: f64, after_tmax: bool) -> f64 {
    let w = (t - t1) / (t2 - t1);
    let log = match rule {
        AucRule::LinearLogInterpolation => c1 > 0.0 && c2 > 0.0 && c2 < c1 && after_tmax,
        _ => log_segment(rule, c1, c2, after_tmax),
    };
    if log {
        (c1.ln() + w * (c2.ln() - c1.ln())).exp()
    } else {
        c1 + w * (c2 - c1)
    }
}

/// Least squares of ln C on t over the given points.
fn regression(points: &[(f64, f64)]) -> Option<LambdaZ> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (t, c)| (a + t, b + c.ln()));
    let (mx, my) = (sx / nf, sy / nf);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (t, c) in points {
        let (dx, dy) = (t - mx, c.ln() - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if !(sxx > 0.0) {
        return None;
    }
    let slope = sxy / sxx;
    let r2 = if syy > 0.0 { sxy * sxy / (sxx * syy) } else { 1.0 };
    Some(LambdaZ {
        lambda_z: -slope,
        intercept: my - slope * mx,
        n,
        range: (points[0].0, points[n - 1].0),
        r2,
        r2_adjusted: 1.0 - (1.0 - r2) * (nf - 1.0) / (nf - 2.0),
    })
}

/// Chooses λz by WinNonlin's rules.
pub fn lambda_z(times: &[f64], conc: &[f64], first_allowed: usize, choice: LambdaZChoice) -> Option<LambdaZ> {
    let candidates: Vec<(f64, f64)> = (first_allowed..times.len())
        .filter(|&i| conc[i] > 0.0)
        .map(|i| (times[i], conc[i]))
        .collect();
    let fit = |pts: &[(f64, f64)]| regression(pts).filter(|l| l.lambda_z > 0.0);
    match choice {
        LambdaZChoice::Points(n) => (n >= 3 && n <= candidates.len())
            .then(|| fit(&candidates[candidates.len() - n..]))
            .flatten(),
        LambdaZChoice::Range(a, b) => {
            let pts: Vec<(f64, f64)> = candidates.iter().copied().filter(|(t, _)| *t >= a && *t <= b).collect();
            fit(&pts)
        }
        LambdaZChoice::BestFit => {
            let fits: Vec<LambdaZ> = (3..=candidates.len())
                .filter_map(|n| fit(&candidates[candidates.len() - n..]))
                .collect();
            let best = fits.iter().map(|l| l.r2_adjusted).fold(f64::NEG_INFINITY, f64::max);
            fits.into_iter()
                .filter(|l| l.r2_adjusted >= best - 1e-4)
                .max_by_key(|l| l.n)
        }
    }
}

/// Analyses one profile: `times` after the dose (strictly increasing), `conc`
/// (BLQ already resolved: zero, or removed), `dose` amount, `route`.
pub fn analyse(times: &[f64], conc: &[f64], dose: f64, route: Route, options: &NcaOptions) -> Result<Nca, NcaError> {
    if times.is_empty() {
        return Err(NcaError::Empty);
    }
    for w in times.windows(2) {
        if !(w[1] > w[0]) {
            return Err(NcaError::Unsorted(w[0], w[1]));
        }
    }
    let last_pos = conc.iter().rposition(|&c| c > 0.0).ok_or(NcaError::NoPositive)?;
    // Extravascular and infusion profiles start from 0 at the dose when the first sample is later;
    // an IV bolus starts from C0 (back-extrapolated).
    let mut t: Vec<f64> = times.to_vec();
    let mut c: Vec<f64> = conc.to_vec();
    let mut c0 = None;
    if times[0] > 0.0 {
        let start = match route {
            Route::IvBolus => {
                let v = back_extrapolate(times, conc);
                c0 = Some(v);
                v
            }
            _ => 0.0,
        };
        t.insert(0, 0.0);
        c.insert(0, start);
    } else if route == Route::IvBolus {
        c0 = Some(conc[0]);
    }
    let shift = t.len() - times.len();
    let last = last_pos + shift;
    // The AUC rules' "after Tmax" counts from the largest value of the profile integrated,
    // a back-extrapolated C0 included; Cmax and Tmax are observed (C0 is reported apart).
    let imax = (0..t.len()).fold(0, |b, i| if c[i] > c[b] { i } else { b });
    let iobs = (0..times.len()).fold(0, |b, i| if conc[i] > conc[b] { i } else { b });
    let (cmax, tmax) = (conc[iobs], times[iobs]);
    let mut auc = vec![0.0; t.len()];
    let mut aumc = vec![0.0; t.len()];
    for i in 1..t.len() {
        let (a, m) = segment(options.rule, (t[i - 1], c[i - 1]), (t[i], c[i]), i > imax);
        auc[i] = auc[i - 1] + a;
        aumc[i] = aumc[i - 1] + m;
    }
    let (tlast, clast) = (t[last], c[last]);
    // AUCall: to the last sample; after Tlast the segments to zero are linear.
    let mut aucall = auc[last];
    for i in last + 1..t.len() {
        aucall += (t[i] - t[i - 1]) * (c[i - 1] + c[i]) / 2.0;
    }
    let first_allowed = match route {
        Route::IvBolus => imax,
        Route::Extravascular => imax + 1,
        Route::IvInfusion(d) => (imax + 1).max(t.iter().position(|&x| x >= d).unwrap_or(t.len())),
    };
    // λz uses the original samples only (not an inserted C0).
    let lz = lambda_z(
        &t[shift..],
        &c[shift..],
        first_allowed.saturating_sub(shift),
        options.lambda_z,
    );
    let tlag = (route == Route::Extravascular).then(|| {
        let first_pos = conc.iter().position(|&x| x > 0.0).unwrap_or(0);
        if first_pos == 0 {
            0.0
        } else {
            times[first_pos - 1]
        }
    });
    let mut r = Nca {
        cmax,
        tmax,
        tlag,
        clast,
        tlast,
        auclast: auc[last],
        aucall,
        aumclast: aumc[last],
        lambda_z: lz,
        mrtlast: aumc[last] / auc[last],
        c0,
        ..Default::default()
    };
    let tinf = match route {
        Route::IvInfusion(d) => d,
        _ => 0.0,
    };
    if let Some(l) = lz {
        let k = l.lambda_z;
        let clast_pred = (l.intercept - k * tlast).exp();
        let inf = |cl: f64| (r.auclast + cl / k, r.aumclast + cl * tlast / k + cl / (k * k));
        let (ai_o, mi_o) = inf(clast);
        let (ai_p, mi_p) = inf(clast_pred);
        r.aucinf_obs = Some(ai_o);
        r.aucinf_pred = Some(ai_p);
        r.auc_extrap_obs = Some(100.0 * (ai_o - r.auclast) / ai_o);
        r.auc_extrap_pred = Some(100.0 * (ai_p - r.auclast) / ai_p);
        r.aumcinf_obs = Some(mi_o);
        r.aumcinf_pred = Some(mi_p);
        r.mrtinf_obs = Some(mi_o / ai_o - tinf / 2.0);
        r.mrtinf_pred = Some(mi_p / ai_p - tinf / 2.0);
        r.aumc_extrap_obs = Some(100.0 * (mi_o - r.aumclast) / mi_o);
        r.aumc_extrap_pred = Some(100.0 * (mi_p - r.aumclast) / mi_p);
        r.cl_obs = Some(dose / ai_o);
        r.vz_obs = Some(dose / (k * ai_o));
        r.cl_pred = Some(dose / ai_p);
        r.vz_pred = Some(dose / (k * ai_p));
        if route != Route::Extravascular {
            r.vss_obs = Some(r.mrtinf_obs.unwrap_or(f64::NAN) * dose / ai_o);
        }
        flag_quality(&mut r, l);
    } else {
        r.flags
            .push("lambda_z not estimated: fewer than 3 positive points after Cmax with a falling slope".into());
    }
    let area_to = |x: f64| area_until(options.rule, &t, &c, &auc, imax, lz, x);
    for &(a, b) in &options.partial {
        let v = match (area_to(a), area_to(b)) {
            (Some(x), Some(y)) => y - x,
            _ => f64::NAN,
        };
        r.partial.push((a, b, v));
    }
    if let Some(tau) = options.tau {
        if let Some(auctau) = area_to(tau) {
            // Observed samples only: not a C0 or a zero put at the dose time.
            let within: Vec<f64> = (0..times.len()).filter(|&i| times[i] <= tau).map(|i| conc[i]).collect();
            let cmin = match within.iter().copied().fold(f64::INFINITY, f64::min) {
                m if m.is_finite() => m,
                _ => f64::NAN,
            };
            let cavg = auctau / tau;
            r.interval = Some(IntervalValues {
                tau,
                auctau,
                cmin,
                cavg,
                fluctuation: 100.0 * (cmax - cmin) / cavg,
                accumulation: lz.map(|l| 1.0 / (1.0 - (-l.lambda_z * tau).exp())),
                clss: dose / auctau,
            });
        }
    }
    Ok(r)
}

/// C0 for an IV bolus: log-linear back-extrapolation of the first two samples
/// if they fall, else the first sample.
fn back_extrapolate(times: &[f64], conc: &[f64]) -> f64 {
    if times.len() >= 2 && conc[1] < conc[0] && conc[1] > 0.0 {
        let slope = (conc[1].ln() - conc[0].ln()) / (times[1] - times[0]);
        (conc[0].ln() - slope * times[0]).exp()
    } else {
        conc[0]
    }
}

/// AUC from 0 to `x`: interpolated within the samples, extrapolated with λz beyond Tlast.
fn area_until(
    rule: AucRule,
    t: &[f64],
    c: &[f64],
    auc: &[f64],
    imax: usize,
    lz: Option<LambdaZ>,
    x: f64,
) -> Option<f64> {
    if x <= t[0] {
        return Some(0.0);
    }
    let n = t.len();
    if x <= t[n - 1] {
        let i = t.iter().position(|&ti| ti >= x)?;
        if t[i] == x {
            return Some(auc[i]);
        }
        let cx = interpolate(rule, (t[i - 1], c[i - 1]), (t[i], c[i]), x, i > imax);
        let (a, _) = segment(rule, (t[i - 1], c[i - 1]), (x, cx), i > imax);
        return Some(auc[i - 1] + a);
    }
    // Beyond the last sample: C(t) = Clast·e^(−λz(t − tlast)) from the last positive sample.
    let l = lz?;
    let last = c.iter().rposition(|&v| v > 0.0)?;
    if last != n - 1 {
        return None;
    }
    let k = l.lambda_z;
    Some(auc[n - 1] + c[n - 1] / k * (1.0 - (-k * (x - t[n - 1])).exp()))
}

fn flag_quality(r: &mut Nca, l: LambdaZ) {
    if l.r2_adjusted < 0.9 {
        r.flags
            .push(format!("lambda_z fit is poor: adjusted R² {:.4} < 0.9", l.r2_adjusted));
    }
    let span = (l.range.1 - l.range.0) * l.lambda_z / std::f64::consts::LN_2;
    if span < 2.0 {
        r.flags.push(format!(
            "lambda_z points span {span:.2} half-lives (< 2): the terminal phase is poorly defined"
        ));
    }
    if let Some(e) = r.auc_extrap_obs.filter(|e| *e > 20.0) {
        r.flags.push(format!("AUCinf extrapolated by {e:.1}% (> 20%)"));
    }
}

impl Nca {
    /// Values keyed by CDISC PP test codes, with the kind of unit of each.
    pub fn values(&self, route: Route) -> Vec<(&'static str, Option<f64>, UnitKind)> {
        use UnitKind::*;
        let iv = route != Route::Extravascular;
        let l = self.lambda_z;
        let mut v = vec![
            ("CMAX", Some(self.cmax), Conc),
            ("TMAX", Some(self.tmax), Time),
            ("TLST", Some(self.tlast), Time),
            ("CLST", Some(self.clast), Conc),
            ("AUCLST", Some(self.auclast), ConcTime),
            ("AUCALL", Some(self.aucall), ConcTime),
            ("AUCIFO", self.aucinf_obs, ConcTime),
            ("AUCIFP", self.aucinf_pred, ConcTime),
            ("AUCPEO", self.auc_extrap_obs, Percent),
            ("AUCPEP", self.auc_extrap_pred, Percent),
            ("AUMCLST", Some(self.aumclast), ConcTime2),
            ("AUMCIFO", self.aumcinf_obs, ConcTime2),
            ("AUMCIFP", self.aumcinf_pred, ConcTime2),
            ("AUMCPEO", self.aumc_extrap_obs, Percent),
            ("AUMCPEP", self.aumc_extrap_pred, Percent),
            ("LAMZ", l.map(|l| l.lambda_z), PerTime),
            ("LAMZHL", l.map(|l| std::f64::consts::LN_2 / l.lambda_z), Time),
            ("LAMZNPT", l.map(|l| l.n as f64), Count),
            ("LAMZLL", l.map(|l| l.range.0), Time),
            ("LAMZUL", l.map(|l| l.range.1), Time),
            ("R2", l.map(|l| l.r2), Ratio),
            ("R2ADJ", l.map(|l| l.r2_adjusted), Ratio),
            ("MRTLST", Some(self.mrtlast), Time),
        ];
        if iv {
            v.extend([
                ("MRTIVIFO", self.mrtinf_obs, Time),
                ("MRTIVIFP", self.mrtinf_pred, Time),
                ("CLO", self.cl_obs, Clearance),
                ("CLP", self.cl_pred, Clearance),
                ("VZO", self.vz_obs, Volume),
                ("VZP", self.vz_pred, Volume),
                ("VSSO", self.vss_obs, Volume),
            ]);
        } else {
            v.extend([
                ("TLAG", self.tlag, Time),
                ("MRTEVIFO", self.mrtinf_obs, Time),
                ("MRTEVIFP", self.mrtinf_pred, Time),
                ("CLFO", self.cl_obs, Clearance),
                ("CLFP", self.cl_pred, Clearance),
                ("VZFO", self.vz_obs, Volume),
                ("VZFP", self.vz_pred, Volume),
            ]);
        }
        if route == Route::IvBolus {
            v.push(("C0", self.c0, Conc));
        }
        if let Some(i) = self.interval {
            v.extend([
                ("AUCTAU", Some(i.auctau), ConcTime),
                ("CMIN", Some(i.cmin), Conc),
                ("CAVG", Some(i.cavg), Conc),
                ("FLUCP", Some(i.fluctuation), Percent),
                ("AILAMZ", i.accumulation, Ratio),
                // CDISC "Total CL for Dose Int" / "Total CL by F for Dose Int".
                (if iv { "CLTAU" } else { "CLFTAU" }, Some(i.clss), Clearance),
            ]);
        }
        v
    }
}

/// The kind of unit of an NCA value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    /// Concentration.
    Conc,
    /// Time.
    Time,
    /// 1/time.
    PerTime,
    /// Concentration × time.
    ConcTime,
    /// Concentration × time².
    ConcTime2,
    /// Volume/time.
    Clearance,
    /// Volume.
    Volume,
    /// Percent.
    Percent,
    /// Unitless.
    Ratio,
    /// A count.
    Count,
}
