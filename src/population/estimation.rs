//! Population estimation of a model written in the model language: FOCE with
//! interaction (FOCE-I), FOCE without interaction, FO and the Laplacian
//! method, on NONMEM's objective (−2 log-likelihood without N·ln 2π).
//!
//! A subject's random effects are its η and, with inter-occasion variability,
//! one κ vector per occasion: `b = (η, κ₁, κ₂, …)` with covariance
//! `Ω_b = diag(Ω, Ω_iov, Ω_iov, …)` (NONMEM's `$OMEGA BLOCK SAME`). With f, R
//! the predictions and residual variances and g = ∂f/∂b at the conditional
//! mode b̂ ([`super::map::conditional_mode`]):
//!
//! `OFV_i = Σ[(y−f)²/R + ln R] + b̂ᵀΩ_b⁻¹b̂ + ln|Ω_b| + ln|H_i/2|`
//!
//! with `H_i/2 = Ω_b⁻¹ + Σ gᵀg/R + ½ Σ (∂R/∂b)ᵀ(∂R/∂b)/R²` (FOCE-I). FOCE
//! without interaction evaluates R at b = 0; the Laplacian method uses the
//! Hessian of the conditional objective itself; FO linearises at b = 0:
//! `OFV_i = rᵀC⁻¹r + ln|C|`, r = y − f(0), C = gΩ_bgᵀ + diag R(f(0)).
//!
//! The outer problem is solved by BFGS on unconstrained coordinates φ: ln θ
//! for θ with a positive lower bound (θ itself otherwise, kept within its
//! bounds), the Cholesky factors of the estimated Ω blocks (log diagonal) and
//! ln SD of the estimated σ; subjects are evaluated in parallel with rayon and
//! each b̂ is warm-started from the best point so far.

use super::map::{conditional_half_hessian, conditional_mode, polish_mode, Conditional, Fitted, MapEstimate};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::lang::{Block, RandomEffects, TermKind};
use crate::model::{Model, SubjectData, Values};
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Estimation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// First-order: linearised at η = 0.
    Fo,
    /// First-order conditional estimation without interaction (R at η = 0).
    Foce,
    /// First-order conditional estimation with interaction.
    FoceI,
    /// Laplacian: the Hessian of the conditional objective at η̂.
    Laplace,
}

impl Method {
    /// Parses `foce-i` (also `focei`), `foce`, `fo` or `laplace`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "focei" | "foceinter" => Ok(Method::FoceI),
            "foce" => Ok(Method::Foce),
            "fo" => Ok(Method::Fo),
            "laplace" | "laplacian" => Ok(Method::Laplace),
            _ => Err(Error::Argument(format!(
                "unknown method '{text}': expected foce-i, foce, fo or laplace (pk popfit also takes saem)"
            ))),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Fo => "FO",
            Method::Foce => "FOCE",
            Method::FoceI => "FOCE-I",
            Method::Laplace => "Laplacian",
        })
    }
}

/// Values of a model's population parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct PopValues {
    /// θ in declaration order.
    pub theta: Vec<f64>,
    /// Ω of η.
    pub omega: DMatrix<f64>,
    /// Ω of κ (one occasion).
    pub omega_iov: DMatrix<f64>,
    /// σ as SDs.
    pub sigma_sd: Vec<f64>,
}

impl PopValues {
    /// θ and σ with one subject's random effects `eta` and `kappa`.
    pub fn with_effects<'a>(&'a self, eta: &'a [f64], kappa: &'a [f64]) -> Values<'a> {
        Values {
            theta: &self.theta,
            eta,
            kappa,
            sigma_sd: &self.sigma_sd,
        }
    }

    /// The model's initial values.
    pub fn initial(model: &Model) -> Self {
        let c = &model.code;
        PopValues {
            theta: model.theta_init(),
            omega: c.omega.matrix.clone(),
            omega_iov: c
                .iov
                .as_ref()
                .map_or(DMatrix::zeros(0, 0), |i| i.effects.matrix.clone()),
            sigma_sd: model.sigma_sd_init(),
        }
    }
}

/// A subject prepared for estimation.
#[derive(Debug, Clone)]
pub struct PopSubject {
    /// Records, occasions and observations.
    pub data: SubjectData,
    /// Observations on the error model's scale (ln DV for exp() error).
    pub y: Vec<f64>,
    /// Whether each observation is compared on the log scale.
    pub log: Vec<bool>,
    /// Per observation: 0 observed, ±1 censored at the limit in `y` (M3).
    pub censored: Vec<i8>,
}

/// The subjects of a data file, prepared for a model.
#[derive(Debug)]
pub struct PopulationData {
    /// Subjects with observations.
    pub subjects: Vec<PopSubject>,
    /// Number of observations.
    pub n_obs: usize,
    /// Number of censored observations (entering by M3).
    pub n_censored: usize,
    /// Censored observations left out by the model's `blq m1`.
    pub n_dropped_blq: usize,
}

impl PopulationData {
    /// Prepares every subject; a subject without observations, or with DV ≤ 0
    /// under a log-scale error model, is an error naming it.
    pub fn new(model: &Model, data: &Dataset) -> Result<Self> {
        data.require_dv()?;
        let log_output: Vec<bool> = model
            .code
            .outputs
            .iter()
            .map(|o| o.terms.iter().any(|t| t.0 == TermKind::Exp))
            .collect();
        let mut subjects = Vec::with_capacity(data.subjects.len());
        for s in &data.subjects {
            let sd = model.subject(data, s)?;
            if sd.obs.is_empty() {
                return Err(Error::Fit {
                    subject: s.id.clone(),
                    message: "no observations to fit (records with EVID 0, MDV 0 and a DV value)".into(),
                });
            }
            let mut y = Vec::with_capacity(sd.obs.len());
            let mut log = Vec::with_capacity(sd.obs.len());
            for o in &sd.obs {
                let l = log_output[o.output];
                if !o.dv.is_finite() || (l && o.dv <= 0.0) {
                    return Err(Error::Fit {
                        subject: s.id.clone(),
                        message: format!(
                            "line {}: DV = {} at time {}; output {} compares on the log scale and needs DV > 0",
                            o.line, o.dv, o.time, model.code.outputs[o.output].name
                        ),
                    });
                }
                y.push(if l { o.dv.ln() } else { o.dv });
                log.push(l);
            }
            let censored: Vec<i8> = sd.obs.iter().map(|o| o.censored).collect();
            subjects.push(PopSubject {
                data: sd,
                y,
                log,
                censored,
            });
        }
        let mut per_output = vec![0usize; model.code.outputs.len()];
        for s in &subjects {
            for o in &s.data.obs {
                per_output[o.output] += 1;
            }
        }
        if let Some(k) = per_output.iter().position(|n| *n == 0) {
            let o = &model.code.outputs[k];
            return Err(Error::Model {
                model: model.origin.clone(),
                message: format!(
                    "output {} (DVID {}{}) has no observations in {}: its error model cannot be estimated; \
                     remove the output or check the DVID/CMT column",
                    o.name,
                    o.dvid,
                    o.cmt.map_or(String::new(), |c| format!(", CMT {c}")),
                    data.file
                ),
            });
        }
        let n_obs = subjects.iter().map(|s| s.y.len()).sum();
        let n_censored = subjects
            .iter()
            .map(|s| s.censored.iter().filter(|c| **c != 0).count())
            .sum();
        let n_dropped_blq = subjects.iter().map(|s| s.data.dropped_blq).sum();
        Ok(PopulationData {
            subjects,
            n_obs,
            n_censored,
            n_dropped_blq,
        })
    }
}

impl AtValues<'_> {
    /// Predictions on the error model's scale (logarithms for log-scale
    /// outputs) and the residual variances (or the fixed ones).
    fn fitted(&self, mut f: Vec<f64>, variance: Vec<f64>) -> std::result::Result<Fitted, String> {
        for (i, l) in self.subject.log.iter().enumerate() {
            if *l {
                if !(f[i] > 0.0) {
                    return Err(format!(
                        "the prediction {} at time {} is not positive, and the error model is on the log scale",
                        f[i], self.subject.data.obs[i].time
                    ));
                }
                f[i] = f[i].ln();
            }
        }
        let r = match &self.fixed_r {
            Some(r) => r.clone(),
            None => variance,
        };
        Ok(Fitted { f, r })
    }

    /// The model's values at random effects b = (η, κ per occasion).
    fn at<'b>(&'b self, b: &'b [f64]) -> Values<'b> {
        let (eta, kappa) = b.split_at(self.n_eta.min(b.len()));
        self.values.with_effects(eta, kappa)
    }
}

/// A subject at given population values: the [`Conditional`] the MAP
/// estimator, the objective and SAEM's sampler ([`super::saem`]) work on.
pub(crate) struct AtValues<'a> {
    model: &'a Model,
    subject: &'a PopSubject,
    values: &'a PopValues,
    n_eta: usize,
    /// Residual variances held fixed (FOCE without interaction).
    fixed_r: Option<Vec<f64>>,
}

impl<'a> AtValues<'a> {
    /// Subject `subject` of `model` at `values` (residual variances at each b).
    pub(crate) fn new(model: &'a Model, subject: &'a PopSubject, values: &'a PopValues) -> Self {
        AtValues {
            model,
            subject,
            values,
            n_eta: values.omega.nrows(),
            fixed_r: None,
        }
    }
}

impl Conditional for AtValues<'_> {
    fn id(&self) -> &str {
        &self.subject.data.id
    }
    fn y(&self) -> &[f64] {
        &self.subject.y
    }
    fn censored(&self) -> &[i8] {
        &self.subject.censored
    }
    fn evaluate(&self, b: &[f64]) -> std::result::Result<Fitted, String> {
        let v = self.at(b);
        let p = self.model.predict(&self.subject.data, &v).map_err(|e| match e {
            Error::Fit { message, .. } => message,
            other => other.to_string(),
        })?;
        self.fitted(p.f, p.variance)
    }
    fn sensitivities(&self, b: &[f64]) -> Option<(DMatrix<f64>, DMatrix<f64>)> {
        self.evaluate_with_sensitivities(b).map(|(_, g, gr)| (g, gr))
    }
    fn evaluate_with_sensitivities(&self, b: &[f64]) -> Option<(Fitted, DMatrix<f64>, DMatrix<f64>)> {
        let d = match self.model.predict_derivatives(&self.subject.data, &self.at(b)) {
            Ok(Some(d)) => d,
            // Numerically integrated ODEs, doses that move with η: differences.
            Ok(None) => {
                let fitted = self.evaluate(b).ok()?;
                let (g, gr) = super::map::central_sensitivities(self, b)?;
                return Some((fitted, g, gr));
            }
            Err(_) => return None,
        };
        let (n, k) = (d.f.len(), d.n_b);
        let mut g = DMatrix::from_row_slice(n, k, &d.df);
        let mut gr = DMatrix::from_row_slice(n, k, &d.dvariance);
        for (i, l) in self.subject.log.iter().enumerate() {
            if *l {
                if !(d.f[i] > 0.0) {
                    return None;
                }
                // ∂ln f/∂b = (∂f/∂b)/f.
                for j in 0..k {
                    g[(i, j)] /= d.f[i];
                }
            }
        }
        if self.fixed_r.is_some() {
            gr.fill(0.0);
        }
        let fitted = self.fitted(d.f, d.variance).ok()?;
        Some((fitted, g, gr))
    }
}

/// The covariance of a subject's random effects b = (η, κ per occasion).
pub(crate) fn stacked_omega(values: &PopValues, n_occasions: usize, iov: bool) -> DMatrix<f64> {
    let ne = values.omega.nrows();
    let nk = if iov { values.omega_iov.nrows() } else { 0 };
    let n = ne + nk * n_occasions;
    let mut m = DMatrix::zeros(n, n);
    m.view_mut((0, 0), (ne, ne)).copy_from(&values.omega);
    for o in 0..n_occasions {
        let s = ne + o * nk;
        m.view_mut((s, s), (nk, nk)).copy_from(&values.omega_iov);
    }
    m
}

pub(crate) fn log_det(m: &DMatrix<f64>) -> Option<f64> {
    if m.nrows() == 0 {
        return Some(0.0);
    }
    let ch = m.clone().cholesky()?;
    Some(ch.l().diagonal().iter().map(|d| 2.0 * d.ln()).sum())
}

/// One evaluation of the objective: total and per subject, with b̂.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// OFV.
    pub ofv: f64,
    /// Per-subject contributions.
    pub contributions: Vec<f64>,
    /// Conditional estimates (FO: the linearisation at b = 0).
    pub estimates: Vec<MapEstimate>,
}

/// The population objective at `values` by `method`, warm-starting each
/// subject's b̂ from `starts` (zeros if empty).
pub fn objective(
    model: &Model,
    data: &PopulationData,
    values: &PopValues,
    method: Method,
    starts: &[Vec<f64>],
) -> Result<Evaluation> {
    objective_with(model, data, values, method, starts, false)
}

/// [`objective`] with each b̂ refined by a Newton step ([`polish_mode`]): an
/// OFV smooth to ~1e-9 rather than ~1e-5, for second differences (the
/// covariance step), at about twice the cost.
pub fn precise_objective(
    model: &Model,
    data: &PopulationData,
    values: &PopValues,
    method: Method,
    starts: &[Vec<f64>],
) -> Result<Evaluation> {
    objective_with(model, data, values, method, starts, true)
}

fn objective_with(
    model: &Model,
    data: &PopulationData,
    values: &PopValues,
    method: Method,
    starts: &[Vec<f64>],
    polish: bool,
) -> Result<Evaluation> {
    let iov = model.code.iov.is_some();
    let n_eta = values.omega.nrows();
    if data.n_censored > 0 && method != Method::Laplace {
        return Err(Error::Argument(format!(
            "{} observations are censored (BLQ) and enter by Beal's M3, which needs the Laplacian \
             method (--method laplace, as NONMEM's LAPLACIAN); or write `blq m1` in the model to drop them",
            data.n_censored
        )));
    }
    let parts: Vec<(f64, MapEstimate)> = data
        .subjects
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let fail = |message: String| Error::Fit {
                subject: s.data.id.clone(),
                message,
            };
            let omega_b = stacked_omega(values, s.data.n_occasions, iov);
            let ld = log_det(&omega_b).ok_or_else(|| fail("Ω is not positive definite".into()))?;
            let omega_inv = omega_b
                .clone()
                .cholesky()
                .map(|c| c.inverse())
                .ok_or_else(|| fail("Ω is not positive definite".into()))?;
            let mut problem = AtValues {
                model,
                subject: s,
                values,
                n_eta,
                fixed_r: None,
            };
            let zero = vec![0.0; omega_b.nrows()];
            if method == Method::Foce {
                let at_zero = problem
                    .evaluate(&zero)
                    .map_err(|m| fail(format!("the model cannot be evaluated at the typical values: {m}")))?;
                problem.fixed_r = Some(at_zero.r);
            }
            if method == Method::Fo {
                return fo_contribution(&problem, &omega_b, &omega_inv);
            }
            let start = starts.get(i).filter(|s| s.len() == zero.len()).cloned().unwrap_or(zero);
            let mut est = conditional_mode(&problem, &omega_inv, &start)?;
            if polish {
                est = polish_mode(&problem, &omega_inv, est);
            }
            let curvature = if method == Method::Laplace {
                conditional_half_hessian(&problem, &omega_inv, &est.eta, est.objective)
                    .ok_or_else(|| fail("the Hessian of the conditional objective is not positive definite".into()))?
            } else {
                est.half_information.clone()
            };
            let det = log_det(&curvature)
                .ok_or_else(|| fail("the conditional information matrix is not positive definite".into()))?;
            Ok((est.objective + ld + det, est))
        })
        .collect::<Result<_>>()?;
    let ofv = parts.iter().map(|p| p.0).sum();
    let (contributions, estimates) = parts.into_iter().unzip();
    Ok(Evaluation {
        ofv,
        contributions,
        estimates,
    })
}

/// The conditional mode (MAP estimate) of every subject's random effects
/// b = (η, κ per occasion) at `values`, as popfit's FOCE-I computes it
/// ([`conditional_mode`] on the same [`Conditional`]): `pk fit --prior`. A
/// subject whose estimate fails gets its error, and the others go on.
pub fn conditional_modes(model: &Model, data: &PopulationData, values: &PopValues) -> Vec<Result<MapEstimate>> {
    conditional_modes_weighted(model, data, values, 1.0)
}

/// [`conditional_modes`] with the prior term bΩ_b⁻¹b multiplied by `prior_weight`
/// (0: the maximum-likelihood estimate of b, without the prior).
pub fn conditional_modes_weighted(
    model: &Model,
    data: &PopulationData,
    values: &PopValues,
    prior_weight: f64,
) -> Vec<Result<MapEstimate>> {
    let iov = model.code.iov.is_some();
    let n_eta = values.omega.nrows();
    data.subjects
        .par_iter()
        .map(|s| {
            let omega_b = stacked_omega(values, s.data.n_occasions, iov);
            let omega_inv = omega_b
                .clone()
                .cholesky()
                .map(|c| c.inverse() * prior_weight)
                .ok_or_else(|| Error::Fit {
                    subject: s.data.id.clone(),
                    message: "Ω is not positive definite".into(),
                })?;
            let problem = AtValues {
                model,
                subject: s,
                values,
                n_eta,
                fixed_r: None,
            };
            conditional_mode(&problem, &omega_inv, &vec![0.0; omega_b.nrows()])
        })
        .collect()
}

/// FO: linearisation at b = 0.
fn fo_contribution(p: &AtValues<'_>, omega_b: &DMatrix<f64>, omega_inv: &DMatrix<f64>) -> Result<(f64, MapEstimate)> {
    let fail = |m: &str| Error::Fit {
        subject: p.id().to_string(),
        message: m.to_string(),
    };
    let zero = vec![0.0; omega_b.nrows()];
    let fitted = p
        .evaluate(&zero)
        .map_err(|m| fail(&format!("the model cannot be evaluated at the typical values: {m}")))?;
    let (g, _) = p
        .sensitivities(&zero)
        .ok_or_else(|| fail("the model cannot be evaluated near η = 0"))?;
    let mut cov = &g * omega_b * g.transpose();
    for (i, ri) in fitted.r.iter().enumerate() {
        cov[(i, i)] += ri;
    }
    let ch = cov
        .cholesky()
        .ok_or_else(|| fail("the FO covariance of the observations is not positive definite"))?;
    let res = DVector::from_iterator(fitted.f.len(), p.y().iter().zip(&fitted.f).map(|(y, f)| y - f));
    let w = ch.solve(&res);
    let ld: f64 = ch.l().diagonal().iter().map(|d| 2.0 * d.ln()).sum();
    let est = MapEstimate {
        eta: zero,
        objective: res.dot(&w),
        f: fitted.f,
        r: fitted.r,
        g,
        half_information: omega_inv.clone(),
        iterations: 0,
    };
    Ok((res.dot(&w) + ld, est))
}

/// How a θ maps to its coordinate in φ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThetaScale {
    /// ln θ: θ > 0 bounded below by 0 or more.
    Log,
    /// ln((θ − lower)/(upper − θ)): θ between two finite bounds that allow θ ≤ 0.
    Logit {
        /// Lower bound.
        lower: f64,
        /// Upper bound.
        upper: f64,
    },
    /// θ / scale (|initial value|, or 1): θ unbounded on a side that allows θ ≤ 0.
    Linear(f64),
}

impl ThetaScale {
    fn of(t: &crate::lang::ThetaDecl) -> Self {
        if t.lower >= 0.0 && t.init > 0.0 {
            ThetaScale::Log
        } else if t.lower.is_finite() && t.upper.is_finite() && t.lower < t.init && t.init < t.upper {
            ThetaScale::Logit {
                lower: t.lower,
                upper: t.upper,
            }
        } else {
            ThetaScale::Linear(if t.init != 0.0 { t.init.abs() } else { 1.0 })
        }
    }
    fn to_phi(self, theta: f64) -> f64 {
        match self {
            ThetaScale::Log => theta.ln(),
            ThetaScale::Logit { lower, upper } => ((theta - lower) / (upper - theta)).ln(),
            ThetaScale::Linear(s) => theta / s,
        }
    }
    fn to_theta(self, phi: f64) -> f64 {
        match self {
            ThetaScale::Log => phi.exp(),
            ThetaScale::Logit { lower, upper } => lower + (upper - lower) / (1.0 + (-phi).exp()),
            ThetaScale::Linear(s) => phi * s,
        }
    }
}

/// An element of φ, for reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Element {
    /// θ_i on its scale.
    Theta(usize, ThetaScale),
    /// L_ij of Ω's Cholesky factor (ln L_ii on the diagonal).
    Omega(usize, usize),
    /// L_ij of Ω_iov's Cholesky factor (ln L_ii on the diagonal).
    Iov(usize, usize),
    /// ln SD of σ_k.
    Sigma(usize),
}

/// Which population parameters are estimated, and their coordinates φ.
#[derive(Debug, Clone)]
pub struct Parameters {
    /// The elements of φ.
    pub elements: Vec<Element>,
}

fn block_elements(effects: &RandomEffects, out: &mut Vec<(usize, usize)>) {
    for &Block { start, size, fixed } in &effects.blocks {
        if fixed {
            continue;
        }
        for i in start..start + size {
            for j in start..=i {
                out.push((i, j));
            }
        }
    }
}

fn cholesky_lower(m: &DMatrix<f64>) -> Option<DMatrix<f64>> {
    if m.nrows() == 0 {
        return Some(DMatrix::zeros(0, 0));
    }
    m.clone().cholesky().map(|c| c.l())
}

impl Parameters {
    /// Every θ, Ω block and σ not marked fixed.
    pub fn of(model: &Model) -> Self {
        let c = &model.code;
        let mut elements: Vec<Element> = c
            .thetas
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.fixed)
            .map(|(i, t)| Element::Theta(i, ThetaScale::of(t)))
            .collect();
        let mut om = Vec::new();
        block_elements(&c.omega, &mut om);
        elements.extend(om.into_iter().map(|(i, j)| Element::Omega(i, j)));
        if let Some(iov) = &c.iov {
            let mut ok = Vec::new();
            block_elements(&iov.effects, &mut ok);
            elements.extend(ok.into_iter().map(|(i, j)| Element::Iov(i, j)));
        }
        elements.extend(
            c.sigmas
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.fixed)
                .map(|(k, _)| Element::Sigma(k)),
        );
        Parameters { elements }
    }

    /// φ at `v`; an error if an Ω is not positive definite.
    pub fn phi(&self, model: &Model, v: &PopValues) -> Result<Vec<f64>> {
        let not_pd = || Error::Model {
            model: model.origin.clone(),
            message: "Ω is not positive definite".into(),
        };
        let l = cholesky_lower(&v.omega).ok_or_else(not_pd)?;
        let li = cholesky_lower(&v.omega_iov).ok_or_else(not_pd)?;
        Ok(self
            .elements
            .iter()
            .map(|e| match *e {
                Element::Theta(i, scale) => scale.to_phi(v.theta[i]),
                Element::Omega(i, j) if i == j => l[(i, i)].ln(),
                Element::Omega(i, j) => l[(i, j)],
                Element::Iov(i, j) if i == j => li[(i, i)].ln(),
                Element::Iov(i, j) => li[(i, j)],
                Element::Sigma(k) => v.sigma_sd[k].ln(),
            })
            .collect())
    }

    /// Values at φ (fixed elements from `base`); an error names a θ outside its bounds.
    pub fn values(&self, model: &Model, base: &PopValues, phi: &[f64]) -> Result<PopValues> {
        let mut v = base.clone();
        let mut l = cholesky_lower(&base.omega).unwrap_or_else(|| DMatrix::zeros(0, 0));
        let mut li = cholesky_lower(&base.omega_iov).unwrap_or_else(|| DMatrix::zeros(0, 0));
        for (e, &x) in self.elements.iter().zip(phi) {
            match *e {
                Element::Theta(i, scale) => {
                    let t = &model.code.thetas[i];
                    let value = scale.to_theta(x);
                    if !(value >= t.lower && value <= t.upper) {
                        return Err(Error::Argument(format!(
                            "θ {} = {value} is outside its bounds [{}, {}]",
                            t.name, t.lower, t.upper
                        )));
                    }
                    v.theta[i] = value;
                }
                Element::Omega(i, j) => l[(i, j)] = if i == j { x.exp() } else { x },
                Element::Iov(i, j) => li[(i, j)] = if i == j { x.exp() } else { x },
                Element::Sigma(k) => v.sigma_sd[k] = x.exp(),
            }
        }
        v.omega = &l * l.transpose();
        v.omega_iov = &li * li.transpose();
        Ok(v)
    }
}

/// Settings of the outer optimisation.
#[derive(Debug, Clone, Copy)]
pub struct EstimationOptions {
    /// Method.
    pub method: Method,
    /// Largest number of BFGS iterations.
    pub max_iterations: u64,
    /// Print a progress line per outer iteration on standard error (see
    /// [`estimate_with`] to receive the steps instead).
    pub progress: bool,
}

/// One outer iteration of an estimation, for progress reports.
#[derive(Debug, Clone, Copy)]
pub struct OuterStep {
    /// The method.
    pub method: Method,
    /// Iteration of the quasi-Newton loop (0 at the start).
    pub iteration: u64,
    /// OFV reached.
    pub ofv: f64,
    /// The OFV decrease the quadratic model still predicts (NaN for the
    /// objective at the start, before any gradient).
    pub predicted: f64,
    /// Objective evaluations so far.
    pub evaluations: usize,
}

impl std::fmt::Display for OuterStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.predicted.is_nan() {
            write!(f, "{} start: OFV {:.4}", self.method, self.ofv)
        } else {
            write!(
                f,
                "{} iteration {}: OFV {:.4}, predicted decrease {:.2e}, evaluations {}",
                self.method, self.iteration, self.ofv, self.predicted, self.evaluations
            )
        }
    }
}

impl Default for EstimationOptions {
    fn default() -> Self {
        EstimationOptions {
            method: Method::FoceI,
            max_iterations: 300,
            progress: false,
        }
    }
}

/// The result of a population fit.
#[derive(Debug, Clone)]
pub struct PopulationFit {
    /// Values at the estimates.
    pub values: PopValues,
    /// Method used.
    pub method: Method,
    /// Final objective evaluation.
    pub evaluation: Evaluation,
    /// Whether the outer optimisation converged.
    pub converged: bool,
    /// Why it stopped.
    pub message: String,
    /// Outer iterations.
    pub iterations: u64,
    /// Objective evaluations (each over all subjects).
    pub objective_evaluations: usize,
    /// φ at the estimates.
    pub phi: Vec<f64>,
    /// The point and OFV of each outer iteration (empty without estimation),
    /// as NONMEM's `.ext` lists them.
    pub history: Vec<IterationRecord>,
}

impl PopulationFit {
    /// The fitted θ and σ with one subject's random effects `eta` and `kappa`.
    pub fn values_with<'a>(&'a self, eta: &'a [f64], kappa: &'a [f64]) -> Values<'a> {
        self.values.with_effects(eta, kappa)
    }
}

/// One outer iteration of an estimation: where it stood and its OFV.
#[derive(Debug, Clone)]
pub struct IterationRecord {
    /// Iteration number (0 at the start).
    pub iteration: u64,
    /// OFV there.
    pub ofv: f64,
    /// θ, Ω, σ there.
    pub values: PopValues,
}

struct Outer<'a> {
    model: &'a Model,
    data: &'a PopulationData,
    params: &'a Parameters,
    base: &'a PopValues,
    method: Method,
    /// b̂ of the best point so far (warm starts) and its OFV.
    best: Mutex<(f64, Vec<Vec<f64>>)>,
    evaluations: AtomicUsize,
}

impl Outer<'_> {
    fn ofv(&self, phi: &[f64]) -> Result<f64> {
        let values = self.params.values(self.model, self.base, phi)?;
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        let starts = self.best.lock().map(|b| b.1.clone()).unwrap_or_default();
        let e = objective(self.model, self.data, &values, self.method, &starts)?;
        if let Ok(mut best) = self.best.lock() {
            if e.ofv < best.0 {
                *best = (e.ofv, e.estimates.iter().map(|m| m.eta.clone()).collect());
            }
        }
        Ok(e.ofv)
    }
}

/// Estimates the population parameters of `model` from `data`, starting at
/// `start`; with `options.progress`, a line per outer iteration on standard error.
pub fn estimate(
    model: &Model,
    data: &PopulationData,
    start: &PopValues,
    options: &EstimationOptions,
) -> Result<PopulationFit> {
    let print = |step: OuterStep| {
        if options.progress {
            eprintln!("{step}");
        }
    };
    estimate_with(model, data, start, options, &print)
}

/// [`estimate`], telling `observe` each outer step (the start, then every iteration).
pub fn estimate_with(
    model: &Model,
    data: &PopulationData,
    start: &PopValues,
    options: &EstimationOptions,
    observe: &dyn Fn(OuterStep),
) -> Result<PopulationFit> {
    let params = Parameters::of(model);
    let phi0 = params.phi(model, start)?;
    let first = objective(model, data, start, options.method, &[])?;
    observe(OuterStep {
        method: options.method,
        iteration: 0,
        ofv: first.ofv,
        predicted: f64::NAN,
        evaluations: 1,
    });
    let outer = Outer {
        model,
        data,
        params: &params,
        base: start,
        method: options.method,
        best: Mutex::new((first.ofv, first.estimates.iter().map(|e| e.eta.clone()).collect())),
        evaluations: AtomicUsize::new(1),
    };
    let ofv = |phi: &[f64]| outer.ofv(phi);
    let history: Mutex<Vec<(u64, f64, Vec<f64>)>> = Mutex::new(Vec::new());
    let progress = |it: u64, f: f64, predicted: f64, phi: &[f64]| {
        if let Ok(mut h) = history.lock() {
            h.push((it, f, phi.to_vec()));
        }
        observe(OuterStep {
            method: options.method,
            iteration: it,
            ofv: f,
            predicted,
            evaluations: outer.evaluations.load(Ordering::Relaxed),
        });
    };
    let result = super::outer::minimise(&ofv, phi0, first.ofv, options.max_iterations, &progress)?;
    let values = params.values(model, start, &result.phi)?;
    let history = history
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|(iteration, ofv, phi)| {
            params
                .values(model, start, &phi)
                .map(|values| IterationRecord { iteration, ofv, values })
        })
        .collect::<Result<Vec<_>>>()?;
    let starts = outer.best.lock().map(|b| b.1.clone()).unwrap_or_default();
    let mut evaluation = objective(model, data, &values, options.method, &starts)?;
    if options.method == Method::Fo {
        // FO has no individual η: report the post-hoc (MAP) η̂ at the estimates, as NONMEM's POSTHOC.
        evaluation.estimates = objective(model, data, &values, Method::FoceI, &[])?.estimates;
    }
    Ok(PopulationFit {
        values,
        method: options.method,
        evaluation,
        converged: result.converged,
        message: result.message,
        iterations: result.iterations,
        objective_evaluations: outer.evaluations.load(Ordering::Relaxed) + 1,
        phi: result.phi,
        history,
    })
}

/// The objective at `start` as a fit without iterations (`pk popfit
/// --evaluate`, NONMEM's MAXEVAL=0), with every subject's η̂ (post hoc for FO).
pub fn evaluate_at(model: &Model, pop: &PopulationData, start: &PopValues, method: Method) -> Result<PopulationFit> {
    let mut evaluation = objective(model, pop, start, method, &[])?;
    if method == Method::Fo {
        evaluation.estimates = objective(model, pop, start, Method::FoceI, &[])?.estimates;
    }
    Ok(PopulationFit {
        values: start.clone(),
        method,
        converged: true,
        message: "objective evaluated at the initial estimates (no estimation)".into(),
        iterations: 0,
        objective_evaluations: 1,
        phi: Parameters::of(model).phi(model, start)?,
        history: vec![IterationRecord {
            iteration: 0,
            ofv: evaluation.ofv,
            values: start.clone(),
        }],
        evaluation,
    })
}

/// A reported estimate: its name and value on the scale NONMEM reports it
/// (θ; Ω and σ elements as variances and covariances).
#[derive(Debug, Clone, PartialEq)]
pub struct Reported {
    /// Name, e.g. `TVCL`, `OMEGA(eta_cl)`, `OMEGA(eta_cl,eta_v)`, `SIGMA(prop)`.
    pub name: String,
    /// Value.
    pub value: f64,
}

/// The estimated elements with their reported values.
pub fn reported(model: &Model, params: &Parameters, v: &PopValues) -> Vec<Reported> {
    let c = &model.code;
    let etas = &c.omega.names;
    let kappas: Vec<String> = c.iov.as_ref().map_or(Vec::new(), |i| i.effects.names.clone());
    params
        .elements
        .iter()
        .map(|e| match *e {
            Element::Theta(i, _) => Reported {
                name: c.thetas[i].name.clone(),
                value: v.theta[i],
            },
            Element::Omega(i, j) => Reported {
                name: if i == j {
                    format!("OMEGA({})", etas[i])
                } else {
                    format!("OMEGA({},{})", etas[i], etas[j])
                },
                value: v.omega[(i, j)],
            },
            Element::Iov(i, j) => Reported {
                name: if i == j {
                    format!("OMEGA({})", kappas[i])
                } else {
                    format!("OMEGA({},{})", kappas[i], kappas[j])
                },
                value: v.omega_iov[(i, j)],
            },
            Element::Sigma(k) => Reported {
                name: format!("SIGMA({})", c.sigmas[k].name),
                value: v.sigma_sd[k] * v.sigma_sd[k],
            },
        })
        .collect()
}

/// ε-shrinkage as NONMEM's EPSSHRINKSD: 1 − SD(IWRES) over the
/// observations (SD with n − 1; NaN for fewer than 2 finite IWRES).
pub fn epsilon_shrinkage(rows: &[ObservationRow]) -> f64 {
    let v: Vec<f64> = rows.iter().map(|r| r.iwres).filter(|x| x.is_finite()).collect();
    if v.len() < 2 {
        return f64::NAN;
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    1.0 - (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// Per-observation diagnostics of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRow {
    /// Subject id.
    pub id: String,
    /// Time.
    pub time: f64,
    /// Time after the last dose (NONMEM's TAD).
    pub tad: f64,
    /// Output name.
    pub output: String,
    /// Observed value (the quantification limit of a censored observation).
    pub dv: f64,
    /// 0: observed; 1: below the quantification limit; −1: above it.
    pub blq: i8,
    /// Population prediction (η = 0).
    pub pred: f64,
    /// Individual prediction (η̂).
    pub ipred: f64,
    /// Residual DV − PRED.
    pub res: f64,
    /// Weighted residual as NONMEM's WRES: the FO linearisation at η = 0,
    /// decorrelated by the symmetric inverse square root of G Ω Gᵀ + R at η = 0.
    pub wres: f64,
    /// Conditional weighted residual as NONMEM's CWRES (Hooker et al., Pharm
    /// Res 2007): the FOCE linearisation at η̂, y − (f(η̂) − G η̂), decorrelated
    /// by the symmetric inverse square root of G Ω Gᵀ + R(η̂).
    pub cwres: f64,
    /// Individual weighted residual (y − IPRED)/√R.
    pub iwres: f64,
}

/// `e` decorrelated by the symmetric inverse square root of
/// C = G Ω Gᵀ + diag(r), C^{-1/2} = V Λ^{-1/2} Vᵀ from C's eigen-decomposition:
/// NONMEM's default for WRES and CWRES (`WRESCHOL=EIGENVALUE` in its listing;
/// a Cholesky factor would give other, order-dependent values). NaN where C
/// is not positive definite.
fn decorrelated(g: &DMatrix<f64>, omega: &DMatrix<f64>, r: &[f64], e: &DVector<f64>) -> Vec<f64> {
    let mut c = g * omega * g.transpose();
    for (i, r) in r.iter().enumerate() {
        c[(i, i)] += r;
    }
    let eigen = c.symmetric_eigen();
    if eigen.eigenvalues.iter().any(|&l| !(l > 0.0) || !l.is_finite()) {
        return vec![f64::NAN; e.len()];
    }
    let v = &eigen.eigenvectors;
    let scaled = DVector::from_iterator(
        e.len(),
        (v.transpose() * e)
            .iter()
            .zip(eigen.eigenvalues.iter())
            .map(|(x, l)| x / l.sqrt()),
    );
    (v * scaled).as_slice().to_vec()
}

/// PRED, IPRED, RES, WRES, CWRES and IWRES of every observation.
pub fn diagnostics(model: &Model, data: &PopulationData, fit: &PopulationFit) -> Result<Vec<ObservationRow>> {
    let iov = model.code.iov.is_some();
    let n_eta = fit.values.omega.nrows();
    let mut rows = Vec::new();
    for (s, est) in data.subjects.iter().zip(&fit.evaluation.estimates) {
        let p = AtValues {
            model,
            subject: s,
            values: &fit.values,
            n_eta,
            fixed_r: None,
        };
        let zero = vec![0.0; est.eta.len()];
        let pred = p.evaluate(&zero).map_err(|m| Error::Fit {
            subject: s.data.id.clone(),
            message: format!("the model cannot be evaluated at the typical values: {m}"),
        })?;
        let omega_b = stacked_omega(&fit.values, s.data.n_occasions, iov);
        let eta = DVector::from_column_slice(&est.eta);
        let lin = DVector::from_column_slice(&est.f) - &est.g * &eta;
        let y = DVector::from_column_slice(&s.y);
        let cwres = decorrelated(&est.g, &omega_b, &est.r, &(&y - lin));
        let wres = match p.sensitivities(&zero) {
            Some((g0, _)) => decorrelated(&g0, &omega_b, &pred.r, &(&y - DVector::from_column_slice(&pred.f))),
            None => vec![f64::NAN; s.y.len()],
        };
        let tad = s.data.record_tad();
        for (i, o) in s.data.obs.iter().enumerate() {
            let back = |v: f64| if s.log[i] { v.exp() } else { v };
            rows.push(ObservationRow {
                id: s.data.id.clone(),
                time: o.time,
                tad: tad.get(o.record).copied().unwrap_or(f64::NAN),
                output: model.code.outputs[o.output].name.clone(),
                dv: o.dv,
                blq: o.censored,
                pred: back(pred.f[i]),
                ipred: back(est.f[i]),
                res: o.dv - back(pred.f[i]),
                wres: wres[i],
                cwres: cwres[i],
                iwres: (s.y[i] - est.f[i]) / est.r[i].sqrt(),
            });
        }
    }
    Ok(rows)
}
