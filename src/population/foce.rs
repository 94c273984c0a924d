//! Population estimation: FOCE with interaction (FOCE-I) and FO, on NONMEM's
//! objective (−2 log-likelihood without N·ln 2π).
//!
//! Per subject, with f and R the predictions and residual variances and
//! g = ∂f/∂η at the conditional mode η̂ (see [`super::map`]):
//!
//! `OFV_i = Σ[(y−f)²/R + ln R] + η̂ᵀΩ⁻¹η̂ + ln|Ω| + ln|Ω⁻¹ + Σ gᵀg/R + ½ Σ (∂R/∂η)ᵀ(∂R/∂η)/R²|`
//!
//! FO linearises at η = 0 instead: `OFV_i = rᵀC⁻¹r + ln|C|`, r = y − f(0),
//! C = gΩgᵀ + diag R(f(0)).
//!
//! The outer problem is solved by BFGS with a backtracking line search on
//! unconstrained parameters: ln θ, covariate coefficients, the Cholesky factor
//! of Ω (log diagonal) and ln σ, with finite-difference gradients; subjects
//! are evaluated in parallel with rayon and each η̂ is warm-started.

use super::map::{log_det_terms, map_estimate, sensitivities, Conditions, MapEstimate, PopSubject};
use super::model::{cholesky_lower, PopulationModel};
use crate::data::Dataset;
use crate::error::{Error, Result};
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Estimation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// First-order: linearised at η = 0.
    Fo,
    /// First-order conditional estimation with interaction.
    FoceI,
}

impl Method {
    /// Parses `foce-i` (also `focei`, `foce`) or `fo`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "focei" | "foce" | "focéi" => Ok(Method::FoceI),
            "fo" => Ok(Method::Fo),
            _ => Err(Error::Argument(format!(
                "unknown method '{text}': expected foce-i or fo"
            ))),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Fo => "FO",
            Method::FoceI => "FOCE-I",
        })
    }
}

/// The subjects of a data file, prepared for population estimation.
#[derive(Debug)]
pub struct PopulationData<'a> {
    /// Subjects with observations.
    pub subjects: Vec<PopSubject<'a>>,
    /// Number of observations.
    pub n_obs: usize,
}

impl<'a> PopulationData<'a> {
    /// Prepares every subject; a subject without observations or covariates
    /// is an error naming it.
    pub fn new(model: &'a PopulationModel, data: &'a Dataset) -> Result<Self> {
        let subjects: Vec<PopSubject> = data
            .subjects
            .iter()
            .map(|s| PopSubject::new(model, data, s))
            .collect::<Result<_>>()?;
        let n_obs = subjects.iter().map(|s| s.y.len()).sum();
        Ok(PopulationData { subjects, n_obs })
    }
}

/// Which elements of the population model are estimated, and their
/// unconstrained coordinates φ.
#[derive(Debug, Clone)]
pub struct Parameters {
    theta: Vec<usize>,
    coefficients: Vec<usize>,
    omega_diagonal: Vec<usize>,
    omega_block: Vec<(usize, usize)>,
    sigma: bool,
    /// Fixed Cholesky factor entries (those not estimated).
    base_l: DMatrix<f64>,
}

/// An element of φ, for reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    /// ln of a typical value.
    Theta(usize),
    /// A covariate coefficient.
    Coefficient(usize),
    /// ln L_ii of Ω's Cholesky factor.
    OmegaDiagonal(usize),
    /// L_ij of Ω's Cholesky factor.
    OmegaOff(usize, usize),
    /// ln σ_k.
    Sigma(usize),
}

impl Parameters {
    /// Everything not marked fixed in the model file.
    pub fn of(model: &PopulationModel) -> Result<Self> {
        let fixed_with_block = model
            .omega_block
            .iter()
            .any(|&(i, j)| model.omega_fixed[i] || model.omega_fixed[j]);
        if fixed_with_block {
            return Err(Error::Model {
                model: model.name.clone(),
                message: "a fixed ω cannot be part of a correlated block".into(),
            });
        }
        let base_l = model.omega_cholesky()?;
        Ok(Parameters {
            theta: (0..model.typical.len()).filter(|&p| !model.typical[p].fixed).collect(),
            coefficients: (0..model.covariates.len())
                .filter(|&c| model.covariates[c].estimate)
                .collect(),
            omega_diagonal: (0..model.omega.nrows()).filter(|&i| !model.omega_fixed[i]).collect(),
            omega_block: model.omega_block.clone(),
            sigma: !model.residual.fixed,
            base_l,
        })
    }

    /// The elements of φ in order.
    pub fn elements(&self, model: &PopulationModel) -> Vec<Element> {
        let mut e: Vec<Element> = self.theta.iter().map(|&p| Element::Theta(p)).collect();
        e.extend(self.coefficients.iter().map(|&c| Element::Coefficient(c)));
        e.extend(self.omega_diagonal.iter().map(|&i| Element::OmegaDiagonal(i)));
        e.extend(self.omega_block.iter().map(|&(i, j)| Element::OmegaOff(i, j)));
        if self.sigma {
            e.extend((0..model.residual.sigmas().len()).map(Element::Sigma));
        }
        e
    }

    /// φ at the model's current values.
    pub fn initial(&self, model: &PopulationModel) -> Vec<f64> {
        let l = cholesky_lower(&model.omega).unwrap_or_else(|| self.base_l.clone());
        let sig = model.residual.sigmas();
        self.elements(model)
            .iter()
            .map(|e| match *e {
                Element::Theta(p) => model.typical[p].value.ln(),
                Element::Coefficient(c) => model.covariates[c].coefficient,
                Element::OmegaDiagonal(i) => l[(i, i)].ln(),
                Element::OmegaOff(i, j) => l[(i, j)],
                Element::Sigma(k) => sig[k].ln(),
            })
            .collect()
    }

    /// The first estimated value outside its bounds at φ (typical values and
    /// covariate coefficients), named, if any.
    pub fn out_of_bounds(&self, model: &PopulationModel, phi: &[f64]) -> Option<String> {
        for (e, &v) in self.elements(model).iter().zip(phi) {
            match *e {
                Element::Theta(p) => {
                    let t = &model.typical[p];
                    let x = v.exp();
                    if !(x >= t.lower && x <= t.upper) {
                        return Some(format!(
                            "typical {} = {x} is outside [{}, {}]",
                            t.name, t.lower, t.upper
                        ));
                    }
                }
                Element::Coefficient(c) => {
                    let k = &model.covariates[c];
                    if !(v >= k.lower && v <= k.upper) {
                        return Some(format!(
                            "the coefficient of {} on {} = {v} is outside [{}, {}]",
                            k.covariate, model.typical[k.parameter].name, k.lower, k.upper
                        ));
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The model at φ.
    pub fn apply(&self, model: &PopulationModel, phi: &[f64]) -> PopulationModel {
        let mut m = model.clone();
        let mut l = self.base_l.clone();
        for &(i, j) in &self.omega_block {
            l[(i, j)] = 0.0;
        }
        let mut sig = model.residual.sigmas();
        for (e, &v) in self.elements(model).iter().zip(phi) {
            match *e {
                Element::Theta(p) => m.typical[p].value = v.exp(),
                Element::Coefficient(c) => m.covariates[c].coefficient = v,
                Element::OmegaDiagonal(i) => l[(i, i)] = v.exp(),
                Element::OmegaOff(i, j) => l[(i, j)] = v,
                Element::Sigma(k) => sig[k] = v.exp(),
            }
        }
        m.omega = &l * l.transpose();
        m.residual = m.residual.with_sigmas(&sig);
        m
    }
}

/// One evaluation of the objective: total and per subject, with the η̂.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// OFV.
    pub ofv: f64,
    /// Per-subject contributions.
    pub contributions: Vec<f64>,
    /// Conditional estimates (FOCE-I) or the η = 0 linearisation (FO).
    pub estimates: Vec<MapEstimate>,
}

/// The population objective of `model` on `data` by `method`, warm-starting
/// each subject's η̂ from `starts` (zeros if empty).
pub fn objective(
    model: &PopulationModel,
    data: &PopulationData<'_>,
    method: Method,
    starts: &[Vec<f64>],
) -> Result<Evaluation> {
    let conditions = Conditions::of(model)?;
    let omega_log_det = log_det(&model.omega).ok_or_else(|| Error::Model {
        model: model.name.clone(),
        message: "Ω is not positive definite".into(),
    })?;
    let n_eta = model.eta_parameters.len();
    let parts: Vec<(f64, MapEstimate)> = data
        .subjects
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let tv = model.checked_typical_values(s.id(), &s.covariates)?;
            let start = starts.get(i).cloned().unwrap_or_else(|| vec![0.0; n_eta]);
            match method {
                Method::FoceI => {
                    let est = map_estimate(s, &conditions, &tv, &start)?;
                    let det = log_det_terms(omega_log_det, &est).ok_or_else(|| Error::Fit {
                        subject: s.id().to_string(),
                        message: "the conditional information matrix is not positive definite".into(),
                    })?;
                    Ok((est.objective + det, est))
                }
                Method::Fo => fo_contribution(s, &conditions, &tv),
            }
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

fn log_det(m: &DMatrix<f64>) -> Option<f64> {
    if m.nrows() == 0 {
        return Some(0.0);
    }
    let ch = m.clone().cholesky()?;
    Some(ch.l().diagonal().iter().map(|d| 2.0 * d.ln()).sum())
}

/// FO: linearisation at η = 0.
fn fo_contribution(s: &PopSubject<'_>, c: &Conditions<'_>, tv: &[f64]) -> Result<(f64, MapEstimate)> {
    let fail = |m: &str| Error::Fit {
        subject: s.id().to_string(),
        message: m.to_string(),
    };
    let k = c.model.eta_parameters.len();
    let zero = vec![0.0; k];
    let mut f = vec![0.0; s.y.len()];
    s.predict(
        c.model,
        &c.model.individual_values(tv, &zero),
        c.residual.log_scale(),
        &mut f,
    )
    .ok_or_else(|| fail("the model cannot be evaluated at the typical values"))?;
    let g = sensitivities(s, c, tv, &zero).ok_or_else(|| fail("the model cannot be evaluated near η = 0"))?;
    let r: Vec<f64> = f.iter().map(|fi| c.residual.variance(*fi).0).collect();
    let mut cov = &g * &c.model.omega * g.transpose();
    for (i, ri) in r.iter().enumerate() {
        cov[(i, i)] += ri;
    }
    let ch = cov
        .cholesky()
        .ok_or_else(|| fail("the FO covariance of the observations is not positive definite"))?;
    let res = DVector::from_iterator(f.len(), s.y.iter().zip(&f).map(|(y, f)| y - f));
    let w = ch.solve(&res);
    let ld: f64 = ch.l().diagonal().iter().map(|d| 2.0 * d.ln()).sum();
    let est = MapEstimate {
        eta: zero,
        objective: res.dot(&w),
        f,
        r,
        g,
        half_information: c.omega_inv.clone(),
        iterations: 0,
    };
    Ok((res.dot(&w) + ld, est))
}

/// Settings of the outer optimisation.
#[derive(Debug, Clone, Copy)]
pub struct EstimationOptions {
    /// Method.
    pub method: Method,
    /// Largest number of BFGS iterations.
    pub max_iterations: u64,
    /// Print a progress line per outer iteration on standard error.
    pub progress: bool,
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
    /// The model at the estimates.
    pub model: PopulationModel,
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
    /// φ at the estimates (elements as [`Parameters::elements`] lists them).
    pub phi: Vec<f64>,
}

struct Outer<'a, 'd> {
    model: &'a PopulationModel,
    data: &'a PopulationData<'d>,
    params: &'a Parameters,
    method: Method,
    /// η̂ of the best point so far (warm starts) and its OFV.
    best: Mutex<(f64, Vec<Vec<f64>>)>,
    evaluations: AtomicUsize,
}

impl Outer<'_, '_> {
    fn ofv(&self, phi: &[f64]) -> Result<f64> {
        if let Some(why) = self.params.out_of_bounds(self.model, phi) {
            return Err(Error::Argument(why));
        }
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        let model = self.params.apply(self.model, phi);
        let starts = self.best.lock().map(|b| b.1.clone()).unwrap_or_default();
        let e = objective(&model, self.data, self.method, &starts)?;
        if let Ok(mut best) = self.best.lock() {
            if e.ofv < best.0 {
                *best = (e.ofv, e.estimates.iter().map(|m| m.eta.clone()).collect());
            }
        }
        Ok(e.ofv)
    }
}

/// Step of the finite differences of the OFV in φ.
const PHI_STEP: f64 = 1e-4;

impl Outer<'_, '_> {
    /// Gradient of the OFV in φ by forward (cheap, far from the optimum) or
    /// central differences.
    fn gradient(&self, phi: &[f64], f0: f64, central: bool) -> Result<Vec<f64>> {
        let mut g = vec![0.0; phi.len()];
        let mut x = phi.to_vec();
        for j in 0..phi.len() {
            x[j] = phi[j] + PHI_STEP;
            let up = self.ofv(&x)?;
            g[j] = if central {
                x[j] = phi[j] - PHI_STEP;
                (up - self.ofv(&x)?) / (2.0 * PHI_STEP)
            } else {
                (up - f0) / PHI_STEP
            };
            x[j] = phi[j];
        }
        Ok(g)
    }
}

/// Estimates the population parameters of `model` from `data`.
pub fn estimate(
    model: &PopulationModel,
    data: &PopulationData<'_>,
    options: &EstimationOptions,
) -> Result<PopulationFit> {
    let params = Parameters::of(model)?;
    let phi0 = params.initial(model);
    let first = objective(model, data, options.method, &[])?;
    if options.progress {
        eprintln!("{} start: OFV {:.4}", options.method, first.ofv);
    }
    let outer = Outer {
        model,
        data,
        params: &params,
        method: options.method,
        best: Mutex::new((first.ofv, first.estimates.iter().map(|e| e.eta.clone()).collect())),
        evaluations: AtomicUsize::new(1),
    };
    let h0 = initial_inverse_hessian(&outer, &phi0, first.ofv);
    let (phi, converged, message, iterations) = bfgs(&outer, phi0, first.ofv, h0, options)?;
    let fitted = params.apply(model, &phi);
    let starts = outer.best.lock().map(|b| b.1.clone()).unwrap_or_default();
    let mut evaluation = objective(&fitted, data, options.method, &starts)?;
    if options.method == Method::Fo {
        // FO has no individual η: report the post-hoc (MAP) η̂ at the estimates, as NONMEM's POSTHOC.
        evaluation.estimates = objective(&fitted, data, Method::FoceI, &[])?.estimates;
    }
    Ok(PopulationFit {
        model: fitted,
        method: options.method,
        evaluation,
        converged,
        message,
        iterations,
        objective_evaluations: outer.evaluations.load(Ordering::Relaxed) + 1,
        phi,
    })
}

/// diag(1/∂²OFV/∂φ²) by central differences (1e-3 where not positive).
fn initial_inverse_hessian(outer: &Outer<'_, '_>, phi: &[f64], f0: f64) -> DMatrix<f64> {
    let n = phi.len();
    let h = 1e-3;
    let mut m = DMatrix::zeros(n, n);
    let mut x = phi.to_vec();
    for j in 0..n {
        x[j] = phi[j] + h;
        let up = outer.ofv(&x).unwrap_or(f64::NAN);
        x[j] = phi[j] - h;
        let down = outer.ofv(&x).unwrap_or(f64::NAN);
        x[j] = phi[j];
        let d2 = (up - 2.0 * f0 + down) / (h * h);
        m[(j, j)] = if d2 > 0.0 && d2.is_finite() { 1.0 / d2 } else { 1e-3 };
    }
    m
}

/// Predicted OFV decrease below which the outer optimisation has converged.
const OFV_TOLERANCE: f64 = 1e-4;

/// Quasi-Newton (BFGS) minimisation of the OFV with a backtracking (Armijo)
/// line search. The gradient is by forward differences while the predicted
/// decrease is large, central differences near the optimum; a direction that
/// is not downhill resets the inverse Hessian to `h0`. Converged when the
/// predicted decrease ½·gᵀHg is below [`OFV_TOLERANCE`].
fn bfgs(
    outer: &Outer<'_, '_>,
    phi0: Vec<f64>,
    f0: f64,
    h0: DMatrix<f64>,
    options: &EstimationOptions,
) -> Result<(Vec<f64>, bool, String, u64)> {
    let n = phi0.len();
    let mut x = DVector::from_vec(phi0);
    let mut f = f0;
    let mut central = false;
    let mut g = DVector::from_vec(outer.gradient(x.as_slice(), f, central)?);
    let mut h = h0.clone();
    for it in 0..options.max_iterations {
        let mut d = -(&h * &g);
        if g.dot(&d) >= 0.0 {
            h = h0.clone();
            d = -(&h * &g);
        }
        let predicted = -0.5 * g.dot(&d);
        if options.progress {
            eprintln!(
                "{} iteration {it}: OFV {f:.4}, predicted decrease {predicted:.2e}, evaluations {}",
                outer.method,
                outer.evaluations.load(Ordering::Relaxed)
            );
        }
        if !central && predicted < 1.0 {
            central = true;
            g = DVector::from_vec(outer.gradient(x.as_slice(), f, true)?);
            continue;
        }
        if predicted < OFV_TOLERANCE {
            return Ok((
                x.as_slice().to_vec(),
                true,
                format!("converged: predicted OFV decrease {predicted:.1e} < {OFV_TOLERANCE:.0e}"),
                it,
            ));
        }
        let slope = g.dot(&d);
        let mut t = 1.0;
        let mut next = None;
        for _ in 0..40 {
            let trial = &x + t * &d;
            let ft = outer.ofv(trial.as_slice()).unwrap_or(f64::INFINITY);
            if ft <= f + 1e-4 * t * slope {
                next = Some((trial, ft));
                break;
            }
            t *= 0.5;
        }
        let Some((x_new, f_new)) = next else {
            if predicted < 1e-2 {
                return Ok((
                    x.as_slice().to_vec(),
                    true,
                    format!("converged: no further decrease; predicted OFV decrease {predicted:.1e} is at the noise of the finite differences"),
                    it,
                ));
            }
            if h != h0 {
                h = h0.clone();
                continue;
            }
            return Ok((
                x.as_slice().to_vec(),
                false,
                format!("the line search found no decrease (predicted decrease {predicted:.2e})"),
                it,
            ));
        };
        let g_new = DVector::from_vec(outer.gradient(x_new.as_slice(), f_new, central)?);
        let s = &x_new - &x;
        let y = &g_new - &g;
        let sy = s.dot(&y);
        if sy > 1e-12 {
            let rho = 1.0 / sy;
            let i = DMatrix::<f64>::identity(n, n);
            let left = &i - rho * &s * y.transpose();
            let right = &i - rho * &y * s.transpose();
            h = &left * &h * &right + rho * &s * s.transpose();
        }
        x = x_new;
        f = f_new;
        g = g_new;
    }
    Ok((
        x.as_slice().to_vec(),
        false,
        format!("{} iterations without convergence", options.max_iterations),
        options.max_iterations,
    ))
}

/// The covariance step: the inverse observed information 2·(∇²OFV)⁻¹ in φ
/// (NONMEM's R matrix form), by central differences. `None` if the Hessian
/// is not positive definite.
pub fn covariance(
    model: &PopulationModel,
    data: &PopulationData<'_>,
    method: Method,
    fit: &PopulationFit,
) -> Result<Option<DMatrix<f64>>> {
    let params = Parameters::of(model)?;
    let n = fit.phi.len();
    let starts: Vec<Vec<f64>> = fit.evaluation.estimates.iter().map(|e| e.eta.clone()).collect();
    let f = |phi: &[f64]| -> Result<f64> { Ok(objective(&params.apply(model, phi), data, method, &starts)?.ofv) };
    let h = 1e-3;
    let f0 = fit.evaluation.ofv;
    let mut hess = DMatrix::zeros(n, n);
    let mut x = fit.phi.clone();
    let mut single = vec![(0.0, 0.0); n];
    for i in 0..n {
        x[i] = fit.phi[i] + h;
        single[i].0 = f(&x)?;
        x[i] = fit.phi[i] - h;
        single[i].1 = f(&x)?;
        x[i] = fit.phi[i];
        hess[(i, i)] = (single[i].0 - 2.0 * f0 + single[i].1) / (h * h);
    }
    for i in 0..n {
        for j in 0..i {
            let mut corner = |si: f64, sj: f64| -> Result<f64> {
                x[i] = fit.phi[i] + si * h;
                x[j] = fit.phi[j] + sj * h;
                let v = f(&x);
                x[i] = fit.phi[i];
                x[j] = fit.phi[j];
                v
            };
            let v = (corner(1.0, 1.0)? - corner(1.0, -1.0)? - corner(-1.0, 1.0)? + corner(-1.0, -1.0)?) / (4.0 * h * h);
            hess[(i, j)] = v;
            hess[(j, i)] = v;
        }
    }
    Ok(hess.cholesky().map(|c| 2.0 * c.inverse()))
}

/// Names and values of the reported parameters: ln θ, covariate coefficients,
/// ω² (diagonal), Ω's off-diagonal covariances and σ.
pub fn reported(model: &PopulationModel, params: &Parameters) -> Vec<(String, f64)> {
    let etas = model.eta_names();
    let sig = model.residual.sigmas();
    params
        .elements(model)
        .iter()
        .map(|e| match *e {
            Element::Theta(p) => (format!("log {}", model.typical[p].name), model.typical[p].value.ln()),
            Element::Coefficient(c) => {
                let k = &model.covariates[c];
                (
                    format!("{} on {}", k.covariate, model.typical[k.parameter].name),
                    k.coefficient,
                )
            }
            Element::OmegaDiagonal(i) => (format!("omega2 {}", etas[i]), model.omega[(i, i)]),
            Element::OmegaOff(i, j) => (format!("omega {}-{}", etas[i], etas[j]), model.omega[(i, j)]),
            Element::Sigma(k) => (model.residual.sigma_names()[k].to_string(), sig[k]),
        })
        .collect()
}

/// Standard errors of [`reported`] values from the covariance of φ, by the
/// delta method (Jacobian of the reported values in φ by central differences).
pub fn standard_errors(base: &PopulationModel, fit: &PopulationFit, cov_phi: &DMatrix<f64>) -> Result<Vec<f64>> {
    let params = Parameters::of(base)?;
    let n = fit.phi.len();
    let values = |phi: &[f64]| -> Vec<f64> {
        reported(&params.apply(base, phi), &params)
            .into_iter()
            .map(|r| r.1)
            .collect()
    };
    let m = values(&fit.phi).len();
    let mut jac = DMatrix::zeros(m, n);
    let h = 1e-6;
    let mut x = fit.phi.clone();
    for j in 0..n {
        x[j] = fit.phi[j] + h;
        let up = values(&x);
        x[j] = fit.phi[j] - h;
        let down = values(&x);
        x[j] = fit.phi[j];
        for i in 0..m {
            jac[(i, j)] = (up[i] - down[i]) / (2.0 * h);
        }
    }
    let cov = &jac * cov_phi * jac.transpose();
    Ok((0..m).map(|i| cov[(i, i)].max(0.0).sqrt()).collect())
}

/// Per-observation diagnostics of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRow {
    /// Subject id.
    pub id: String,
    /// Time.
    pub time: f64,
    /// Observed value.
    pub dv: f64,
    /// Population prediction (η = 0).
    pub pred: f64,
    /// Individual prediction (η̂).
    pub ipred: f64,
    /// Conditional weighted residual (FOCE linearisation at η̂).
    pub cwres: f64,
    /// Individual weighted residual (y − IPRED)/√R.
    pub iwres: f64,
}

/// PRED, IPRED, CWRES and IWRES of every observation.
pub fn diagnostics(
    model: &PopulationModel,
    data: &PopulationData<'_>,
    fit: &PopulationFit,
) -> Result<Vec<ObservationRow>> {
    let log = model.residual.log_scale();
    let back = |v: f64| if log { v.exp() } else { v };
    let mut rows = Vec::new();
    for (s, est) in data.subjects.iter().zip(&fit.evaluation.estimates) {
        let tv = model.checked_typical_values(s.id(), &s.covariates)?;
        let mut pred = vec![0.0; s.y.len()];
        s.predict(model, &tv, log, &mut pred).ok_or_else(|| Error::Fit {
            subject: s.id().to_string(),
            message: "the model cannot be evaluated at the typical values".into(),
        })?;
        let eta = DVector::from_column_slice(&est.eta);
        let lin = DVector::from_column_slice(&est.f) - &est.g * &eta;
        let mut c = &est.g * &model.omega * est.g.transpose();
        for (i, r) in est.r.iter().enumerate() {
            c[(i, i)] += r;
        }
        let e = DVector::from_column_slice(&s.y) - lin;
        let cwres = match c.cholesky() {
            Some(ch) => ch.l().solve_lower_triangular(&e).map(|v| v.as_slice().to_vec()),
            None => None,
        }
        .unwrap_or_else(|| vec![f64::NAN; s.y.len()]);
        for (i, o) in s.problem.obs.iter().enumerate() {
            rows.push(ObservationRow {
                id: s.id().to_string(),
                time: o.time,
                dv: o.dv,
                pred: back(pred[i]),
                ipred: back(est.f[i]),
                cwres: cwres[i],
                iwres: (s.y[i] - est.f[i]) / est.r[i].sqrt(),
            });
        }
    }
    Ok(rows)
}
