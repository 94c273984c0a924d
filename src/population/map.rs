//! Maximum a posteriori estimates of a subject's η under a population model:
//! the conditional (inner) step of FOCE-I and the Bayesian fit of `pk fit --prior`.
//!
//! The objective is NONMEM's conditional −2 log density (without ln 2π):
//! `O(η) = Σ [(y − f)²/R + ln R] + ηᵀ Ω⁻¹ η`,
//! with f, R the prediction and residual variance at η of any [`Conditional`]
//! (a subject of a model-language model: [`super::estimation`]). It is
//! minimised by Fisher scoring with Levenberg–Marquardt damping: the gradient is exact in f, the curvature is the expected
//! information `H = Σ gᵀg (2/R + R′²/R²) + 2Ω⁻¹` (g = ∂f/∂η from
//! [`Conditional::sensitivities`]: forward-mode automatic differentiation for
//! model-language subjects, R′ = dR/df). At η̂, `H/2` is the matrix whose
//! determinant enters the FOCE-I objective.

use crate::error::{Error, Result};
use nalgebra::{DMatrix, DVector};

/// Step of the central differences in η.
const ETA_STEP: f64 = 1e-4;
/// Scoring iterations before Newton steps on the Hessian of O take over.
const NEWTON_AFTER: usize = 20;
/// A predicted decrease of O (a −2 log-likelihood) below which η̂ is final
/// when no step decreases O any more.
const NEGLIGIBLE_DECREMENT: f64 = 1e-6;
/// Steps in a row that gain only rounding after which [`STALLED_DECREMENT`] applies.
const STALLED_STEPS: usize = 5;
/// The remaining predicted decrease accepted once the steps have stalled.
const STALLED_DECREMENT: f64 = 1e-4;
/// Largest number of scoring iterations.
const MAX_ITERATIONS: usize = 200;

/// Inverse of a symmetric positive definite matrix, `None` otherwise.
pub fn inverse_spd(m: &DMatrix<f64>) -> Option<DMatrix<f64>> {
    if m.nrows() == 0 {
        return Some(DMatrix::zeros(0, 0));
    }
    m.clone().cholesky().map(|c| c.inverse())
}

/// The MAP estimate of one subject, with what FOCE-I needs at η̂.
#[derive(Debug, Clone)]
pub struct MapEstimate {
    /// η̂ (Ω's order).
    pub eta: Vec<f64>,
    /// O(η̂) = Σ[(y−f)²/R + ln R] + η̂ᵀΩ⁻¹η̂.
    pub objective: f64,
    /// Predictions at η̂ (error model scale).
    pub f: Vec<f64>,
    /// Residual variances at η̂.
    pub r: Vec<f64>,
    /// ∂f/∂η at η̂ (observations × η).
    pub g: DMatrix<f64>,
    /// Half the expected information at η̂: Σ gᵀg(1/R + R′²/(2R²)) + Ω⁻¹.
    pub half_information: DMatrix<f64>,
    /// Scoring iterations used.
    pub iterations: usize,
}

/// A subject's conditional estimation problem: observations on the error
/// model's scale, and predictions with residual variances at any η. The MAP
/// estimator, FOCE-I and FO need nothing else of a model.
pub trait Conditional: Sync {
    /// Subject id (for messages).
    fn id(&self) -> &str;
    /// Observed values on the error model's scale.
    fn y(&self) -> &[f64];
    /// Predictions f and residual variances R at η, or why the model cannot
    /// be evaluated there.
    fn evaluate(&self, eta: &[f64]) -> std::result::Result<Fitted, String>;
    /// Per observation: 0 observed, 1 below the limit held in `y` (left-censored),
    /// −1 above it; empty when nothing is censored.
    fn censored(&self) -> &[i8] {
        &[]
    }
    /// ∂f/∂η and ∂R/∂η at η (observations × η), `None` where the model
    /// cannot be evaluated. By default central differences of
    /// [`Conditional::evaluate`]; a model-language subject gives them by
    /// forward-mode automatic differentiation.
    fn sensitivities(&self, eta: &[f64]) -> Option<(DMatrix<f64>, DMatrix<f64>)> {
        central_sensitivities(self, eta)
    }
    /// [`Conditional::evaluate`] and [`Conditional::sensitivities`] at once
    /// (forward-mode AD gives both from one pass).
    fn evaluate_with_sensitivities(&self, eta: &[f64]) -> Option<(Fitted, DMatrix<f64>, DMatrix<f64>)> {
        let fitted = self.evaluate(eta).ok()?;
        let (g, gr) = self.sensitivities(eta)?;
        Some((fitted, g, gr))
    }
}

/// Predictions and residual variances at one η.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// Predictions (error model scale).
    pub f: Vec<f64>,
    /// Residual variances.
    pub r: Vec<f64>,
}

/// Predictions and the objective at one η, with ∂f/∂η and ∂R/∂η when they
/// were computed with the values.
struct Point {
    eta: Vec<f64>,
    fitted: Fitted,
    objective: f64,
    sensitivities: Option<(DMatrix<f64>, DMatrix<f64>)>,
}

/// Σ[(y−f)²/R + ln R] over observed values, and −2 ln P(censored) for
/// censored ones (Beal's M3: P(y < L) = Φ((L − f)/√R), P(y > L) = 1 − Φ(…));
/// +∞ where a variance is not positive.
pub fn data_term(y: &[f64], fitted: &Fitted, censored: &[i8]) -> f64 {
    let mut sum = 0.0;
    for (i, ((yi, fi), r)) in y.iter().zip(&fitted.f).zip(&fitted.r).enumerate() {
        if !(*r > 0.0 && r.is_finite()) {
            return f64::INFINITY;
        }
        let e = yi - fi;
        sum += match censored.get(i).copied().unwrap_or(0) {
            0 => e * e / r + r.ln(),
            side => {
                let p = crate::lang::program::normal_cdf(f64::from(side) * e / r.sqrt());
                if !(p > 0.0) {
                    return f64::INFINITY;
                }
                -2.0 * p.ln()
            }
        };
    }
    sum
}

/// Coefficients (a, b) of d(−2 ln P)/dη = a·∂f/∂η + b·∂R/∂η for one censored observation.
fn censored_terms(side: f64, y: f64, f: f64, r: f64) -> (f64, f64) {
    let sd = r.sqrt();
    let z = side * (y - f) / sd;
    let p = crate::lang::program::normal_cdf(z);
    let density = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    // dz/df = −side/sd, dz/dR = −side·(y − f)/(2 R sd).
    let c = -2.0 * density / p.max(1e-300);
    (c * (-side / sd), c * (-side * (y - f) / (2.0 * r * sd)))
}

fn prior_term(eta: &[f64], omega_inv: &DMatrix<f64>) -> f64 {
    let e = DVector::from_column_slice(eta);
    (e.transpose() * omega_inv * &e)[(0, 0)]
}

fn point(p: &dyn Conditional, omega_inv: &DMatrix<f64>, eta: Vec<f64>) -> Option<Point> {
    let fitted = p.evaluate(&eta).ok()?;
    let objective = data_term(p.y(), &fitted, p.censored()) + prior_term(&eta, omega_inv);
    objective.is_finite().then_some(Point {
        eta,
        fitted,
        objective,
        sensitivities: None,
    })
}

/// [`point`] with the sensitivities (from the same pass where the conditional
/// differentiates itself).
fn point_with_sensitivities(p: &dyn Conditional, omega_inv: &DMatrix<f64>, eta: Vec<f64>) -> Option<Point> {
    let (fitted, g, gr) = p.evaluate_with_sensitivities(&eta)?;
    let objective = data_term(p.y(), &fitted, p.censored()) + prior_term(&eta, omega_inv);
    objective.is_finite().then_some(Point {
        eta,
        fitted,
        objective,
        sensitivities: Some((g, gr)),
    })
}

/// Half the Hessian of the conditional objective O(η) at `eta` (where O =
/// `objective`), by central differences; `None` where the model fails.
pub fn conditional_half_hessian(
    p: &dyn Conditional,
    omega_inv: &DMatrix<f64>,
    eta: &[f64],
    objective: f64,
) -> Option<DMatrix<f64>> {
    let o = |b: &[f64]| point(p, omega_inv, b.to_vec()).map(|q| q.objective).ok_or(());
    super::outer::hessian(&o, eta, objective, 1e-4).ok().map(|h| 0.5 * h)
}

/// ∂f/∂η and ∂R/∂η by central differences (step 1e-4), for conditionals
/// without derivatives of their own.
pub fn central_sensitivities<P: Conditional + ?Sized>(p: &P, eta: &[f64]) -> Option<(DMatrix<f64>, DMatrix<f64>)> {
    let n = p.y().len();
    let k = eta.len();
    let mut g = DMatrix::zeros(n, k);
    let mut gr = DMatrix::zeros(n, k);
    let mut e = eta.to_vec();
    for j in 0..k {
        e[j] = eta[j] + ETA_STEP;
        let up = p.evaluate(&e).ok()?;
        e[j] = eta[j] - ETA_STEP;
        let down = p.evaluate(&e).ok()?;
        e[j] = eta[j];
        for i in 0..n {
            g[(i, j)] = (up.f[i] - down.f[i]) / (2.0 * ETA_STEP);
            gr[(i, j)] = (up.r[i] - down.r[i]) / (2.0 * ETA_STEP);
        }
    }
    Some((g, gr))
}

/// Gradient of O and half the expected information at a point.
fn scoring_terms(
    y: &[f64],
    censored: &[i8],
    omega_inv: &DMatrix<f64>,
    p: &Point,
    g: &DMatrix<f64>,
    gr: &DMatrix<f64>,
) -> (DVector<f64>, DMatrix<f64>) {
    let k = p.eta.len();
    let eta = DVector::from_column_slice(&p.eta);
    let mut grad = 2.0 * omega_inv * &eta;
    let mut half = omega_inv.clone();
    let mut d = vec![0.0; k];
    for i in 0..p.fitted.f.len() {
        let r = p.fitted.r[i];
        let e = y[i] - p.fitted.f[i];
        match censored.get(i).copied().unwrap_or(0) {
            0 => {
                // d[(y−f)²/R + ln R] = −2e/R·df + (1 − e²/R)/R·dR; expected
                // information gᵀg/R + ½(∂R)ᵀ(∂R)/R² (FOCE-I's interaction term).
                let (a, b) = (-2.0 * e / r, (1.0 - e * e / r) / r);
                for j in 0..k {
                    grad[j] += a * g[(i, j)] + b * gr[(i, j)];
                }
                for x in 0..k {
                    for z in 0..=x {
                        half[(x, z)] += g[(i, x)] * g[(i, z)] / r + 0.5 * gr[(i, x)] * gr[(i, z)] / (r * r);
                    }
                }
            }
            side => {
                let (a, b) = censored_terms(f64::from(side), y[i], p.fitted.f[i], r);
                for j in 0..k {
                    d[j] = a * g[(i, j)] + b * gr[(i, j)];
                    grad[j] += d[j];
                }
                for x in 0..k {
                    for z in 0..=x {
                        half[(x, z)] += 0.25 * d[x] * d[z];
                    }
                }
            }
        }
    }
    for a in 0..k {
        for b in 0..a {
            half[(b, a)] = half[(a, b)];
        }
    }
    (grad, half)
}

/// The conditional mode η̂ = argmin O(η) of any [`Conditional`], by Fisher
/// scoring with Levenberg–Marquardt damping, from `start`.
pub fn conditional_mode(problem: &dyn Conditional, omega_inv: &DMatrix<f64>, start: &[f64]) -> Result<MapEstimate> {
    let fail = |message: String| Error::Fit {
        subject: problem.id().to_string(),
        message,
    };
    let k = start.len();
    let mut p = match point_with_sensitivities(problem, omega_inv, start.to_vec()) {
        Some(p) => p,
        None => match point(problem, omega_inv, vec![0.0; k]) {
            Some(p) => p,
            None => {
                let why = problem
                    .evaluate(&vec![0.0; k])
                    .err()
                    .unwrap_or_else(|| "a residual variance is not positive".into());
                return Err(fail(format!(
                    "the model cannot be evaluated at the typical values: {why}"
                )));
            }
        },
    };
    let mut mu = 1e-3;
    let mut stalled = 0;
    for iteration in 0..MAX_ITERATIONS {
        let (g, gr) = p
            .sensitivities
            .take()
            .or_else(|| problem.sensitivities(&p.eta))
            .ok_or_else(|| fail(format!("the model cannot be evaluated near η = {:?}", p.eta)))?;
        let (grad, half) = scoring_terms(problem.y(), problem.censored(), omega_inv, &p, &g, &gr);
        // Scoring step: (H/2)·δ = −grad/2; its decrease predicts how far the
        // optimum is. Scoring converges only linearly where the expected
        // information is far from the curvature (large residuals, flat
        // directions): after NEWTON_AFTER iterations the steps use the
        // Hessian of O itself when it is positive definite.
        let curvature = if iteration >= NEWTON_AFTER {
            conditional_half_hessian(problem, omega_inv, &p.eta, p.objective)
                .filter(|h| h.clone().cholesky().is_some())
                .unwrap_or_else(|| half.clone())
        } else {
            half.clone()
        };
        let newton = curvature.clone().cholesky().map(|ch| ch.solve(&(-0.5 * &grad)));
        let decrement = newton.as_ref().map_or(f64::INFINITY, |d| -0.5 * grad.dot(d));
        let converged = decrement.abs() < 1e-10 || k == 0;
        let next = if converged {
            None
        } else {
            damped_step(problem, omega_inv, &p, &grad, &curvature, &mut mu)
        };
        // A step that gains less than rounding-level noise, with a remaining
        // decrement far below what matters for the objective, ends the search
        // (numerical solutions are only smooth to their tolerance).
        // Where Ω is near-singular (an outer trial point), rounding in
        // ηᵀΩ⁻¹η can stall the steps above NEGLIGIBLE_DECREMENT: after
        // STALLED_STEPS rounding-level gains in a row a remaining decrease
        // below STALLED_DECREMENT is accepted too.
        let rounding = |q: &Point| p.objective - q.objective < 1e-12 * p.objective.abs().max(1.0);
        stalled = match &next {
            Some(q) if rounding(q) => stalled + 1,
            _ => 0,
        };
        let negligible =
            decrement.abs() < NEGLIGIBLE_DECREMENT || (stalled >= STALLED_STEPS && decrement.abs() < STALLED_DECREMENT);
        let next = match next {
            Some(q) if negligible && rounding(&q) => None,
            other => other,
        };
        match next {
            Some(q) => p = q,
            // No decrease along any damped step: η̂ is as good as the model
            // evaluations allow when the remaining decrement is tiny.
            None if converged || negligible => {
                return Ok(MapEstimate {
                    eta: p.eta,
                    objective: p.objective,
                    f: p.fitted.f,
                    r: p.fitted.r,
                    g,
                    half_information: half,
                    iterations: iteration,
                })
            }
            None => {
                return Err(fail(format!(
                    "the estimate of η did not converge (no decrease from η = {:?}, objective {:.6}, remaining decrease {decrement:.3e})",
                    p.eta, p.objective
                )))
            }
        }
    }
    Err(fail(format!(
        "the estimate of η did not converge in {MAX_ITERATIONS} iterations (η = {:?})",
        p.eta
    )))
}

/// Step of the forward differences of the exact gradient in [`polish_mode`].
const POLISH_STEP: f64 = 1e-6;

/// η̂ refined by one Newton step on the exact Hessian of O (forward
/// differences, step 1e-6, of the gradient the sensitivities give). The
/// FOCE-I objective depends on η̂ to first order through ln|H/2| (η̂
/// minimises O, not the determinant), so the η̂ of [`conditional_mode`]
/// (decrement 1e-10, δη ~ 1e-5) leaves ~1e-5 of noise in the OFV, which
/// spoils second differences with steps of 1e-3 (the covariance step); after
/// this step δη is ~1e-10. Costs k + 2 evaluations with sensitivities; the
/// estimate comes back unchanged when the model fails nearby or the objective
/// would rise beyond rounding.
pub fn polish_mode(problem: &dyn Conditional, omega_inv: &DMatrix<f64>, est: MapEstimate) -> MapEstimate {
    let k = est.eta.len();
    let gradient_at = |eta: &[f64]| -> Option<(Point, DVector<f64>, DMatrix<f64>)> {
        let mut p = point_with_sensitivities(problem, omega_inv, eta.to_vec())?;
        let (g, gr) = p.sensitivities.take()?;
        let (grad, half) = scoring_terms(problem.y(), problem.censored(), omega_inv, &p, &g, &gr);
        p.sensitivities = Some((g, gr));
        Some((p, grad, half))
    };
    let refined = || -> Option<MapEstimate> {
        let (p, grad, _) = gradient_at(&est.eta)?;
        let mut hess = DMatrix::zeros(k, k);
        for j in 0..k {
            let mut eta = est.eta.clone();
            eta[j] += POLISH_STEP;
            let (_, gj, _) = gradient_at(&eta)?;
            hess.set_column(j, &((gj - &grad) / POLISH_STEP));
        }
        let hess = 0.5 * (&hess + hess.transpose());
        let step = hess.cholesky()?.solve(&(-&grad));
        if step.amax() > 1e-2 {
            return None;
        }
        let eta: Vec<f64> = p.eta.iter().zip(step.iter()).map(|(e, s)| e + s).collect();
        let (q, _, half) = gradient_at(&eta)?;
        if q.objective > p.objective + 1e-12 * p.objective.abs().max(1.0) {
            return None;
        }
        let (g, _) = q.sensitivities?;
        Some(MapEstimate {
            eta: q.eta,
            objective: q.objective,
            f: q.fitted.f,
            r: q.fitted.r,
            g,
            half_information: half,
            iterations: est.iterations + 1,
        })
    };
    if k == 0 {
        return est;
    }
    refined().unwrap_or(est)
}

/// A Levenberg–Marquardt damped scoring step from `p` that does not increase
/// the objective, trying up to 40 dampings; adapts `mu`. `None` if none does.
fn damped_step(
    problem: &dyn Conditional,
    omega_inv: &DMatrix<f64>,
    p: &Point,
    grad: &DVector<f64>,
    half: &DMatrix<f64>,
    mu: &mut f64,
) -> Option<Point> {
    for attempt in 0..40 {
        let mut damped = half.clone();
        for a in 0..p.eta.len() {
            damped[(a, a)] *= 1.0 + *mu;
        }
        let Some(step) = damped.cholesky().map(|ch| ch.solve(&(-0.5 * grad))) else {
            *mu *= 10.0;
            continue;
        };
        let trial: Vec<f64> = p
            .eta
            .iter()
            .zip(step.iter())
            .map(|(e, s)| e + s.clamp(-2.0, 2.0))
            .collect();
        // The first trial is usually accepted: its sensitivities come with it.
        let q = if attempt == 0 {
            point_with_sensitivities(problem, omega_inv, trial)
        } else {
            point(problem, omega_inv, trial)
        };
        match q {
            Some(q) if q.objective <= p.objective => {
                // Undamped (Fisher scoring) once the gains are negligible.
                *mu = if p.objective - q.objective < 1e-12 {
                    0.0
                } else {
                    (*mu / 10.0).max(1e-12)
                };
                return Some(q);
            }
            _ => *mu = if *mu == 0.0 { 1e-3 } else { *mu * 10.0 },
        }
    }
    None
}

/// ln|Ω| + ln|H/2|: the FOCE-I determinant terms of a MAP estimate
/// (None if H/2 is not positive definite).
pub fn log_det_terms(omega_log_det: f64, est: &MapEstimate) -> Option<f64> {
    let ch = est.half_information.clone().cholesky()?;
    let ld: f64 = ch.l().diagonal().iter().map(|d| 2.0 * d.ln()).sum();
    Some(omega_log_det + ld)
}

/// η-shrinkage per η: 1 − SD(η̂)/ω (SD with n − 1), NaN for fewer than 2 subjects.
pub fn shrinkage(etas: &[Vec<f64>], omega_sd: &[f64]) -> Vec<f64> {
    let n = etas.len();
    (0..omega_sd.len())
        .map(|j| {
            if n < 2 {
                return f64::NAN;
            }
            let mean = etas.iter().map(|e| e[j]).sum::<f64>() / n as f64;
            let var = etas.iter().map(|e| (e[j] - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            1.0 - var.sqrt() / omega_sd[j]
        })
        .collect()
}
