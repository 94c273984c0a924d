//! The −2 log-likelihood of a subject and its gradient and Hessian in the
//! estimated parameters (structural, on the estimation scale, and log σ).
//!
//! The derivatives of −2LL with respect to the predictions f and to log σ are
//! exact ([`observation_derivatives`]); those of f with respect to the
//! structural parameters are central finite differences of the model:
//!   ∂²(−2LL)/∂θj∂θk = Σ ℓff fj fk + ℓf fjk,  ∂²/∂θj∂s = Σ ℓfs fj,  ∂²/∂s∂s = Σ ℓss.

use super::error_model::{observation_derivatives, Criterion};
use super::problem::SubjectProblem;
use nalgebra::{DMatrix, DVector};
use std::f64::consts::PI;

/// Relative step of the finite differences of the predictions.
const STEP: f64 = 1e-4;

/// Predictions and their first (and optionally second) derivatives in the
/// estimation-scale structural parameters.
#[derive(Debug, Clone)]
pub struct Sensitivities {
    /// Predictions at the point.
    pub f: Vec<f64>,
    /// ∂f/∂x, one column per free parameter (n × p).
    pub jacobian: DMatrix<f64>,
    /// ∂²f/∂xj∂xk for j ≤ k, indexed [j][k] (empty unless asked for).
    pub second: Vec<Vec<Vec<f64>>>,
}

fn step(x: f64) -> f64 {
    STEP * x.abs().max(1.0)
}

/// Predictions and central-difference sensitivities at `x`.
pub fn sensitivities(
    problem: &SubjectProblem,
    x: &[f64],
    second_order: bool,
) -> std::result::Result<Sensitivities, String> {
    let n = problem.obs.len();
    let p = x.len();
    let eval = |x: &[f64]| -> std::result::Result<Vec<f64>, String> {
        let mut out = vec![0.0; n];
        problem.predict(x, &mut out)?;
        Ok(out)
    };
    let f = eval(x)?;
    let mut jacobian = DMatrix::zeros(n, p);
    let mut plus = Vec::with_capacity(p);
    let mut minus = Vec::with_capacity(p);
    for j in 0..p {
        let h = step(x[j]);
        let mut xp = x.to_vec();
        xp[j] += h;
        let mut xm = x.to_vec();
        xm[j] -= h;
        let (fp, fm) = (eval(&xp)?, eval(&xm)?);
        for i in 0..n {
            jacobian[(i, j)] = (fp[i] - fm[i]) / (2.0 * h);
        }
        plus.push(fp);
        minus.push(fm);
    }
    let mut second = Vec::new();
    if second_order {
        second = vec![vec![Vec::new(); p]; p];
        for j in 0..p {
            let hj = step(x[j]);
            second[j][j] = (0..n)
                .map(|i| (plus[j][i] - 2.0 * f[i] + minus[j][i]) / (hj * hj))
                .collect();
            for k in j + 1..p {
                let hk = step(x[k]);
                let corner = |sj: f64, sk: f64| {
                    let mut xc = x.to_vec();
                    xc[j] += sj * hj;
                    xc[k] += sk * hk;
                    eval(&xc)
                };
                let (pp, pm, mp, mm) = (
                    corner(1.0, 1.0)?,
                    corner(1.0, -1.0)?,
                    corner(-1.0, 1.0)?,
                    corner(-1.0, -1.0)?,
                );
                second[j][k] = (0..n)
                    .map(|i| (pp[i] - pm[i] - mp[i] + mm[i]) / (4.0 * hj * hk))
                    .collect();
            }
        }
    }
    Ok(Sensitivities { f, jacobian, second })
}

/// −2LL with its gradient and Hessian in (x, log σ).
#[derive(Debug, Clone)]
pub struct LikelihoodDerivatives {
    /// −2 log-likelihood, including n·ln 2π.
    pub m2ll: f64,
    /// Gradient, structural parameters first, then log σ.
    pub gradient: DVector<f64>,
    /// Hessian (same order), if computed.
    pub hessian: Option<DMatrix<f64>>,
}

/// −2LL and its derivatives at structural `x` and `log_sigma`.
pub fn m2ll_derivatives(
    problem: &SubjectProblem,
    error_model: Criterion,
    x: &[f64],
    log_sigma: &[f64],
    with_hessian: bool,
) -> std::result::Result<LikelihoodDerivatives, String> {
    let s = sensitivities(problem, x, with_hessian)?;
    Ok(assemble(problem, error_model, &s, log_sigma, with_hessian))
}

/// Assembles −2LL, gradient and Hessian from the sensitivities.
pub fn assemble(
    problem: &SubjectProblem,
    error_model: Criterion,
    s: &Sensitivities,
    log_sigma: &[f64],
    with_hessian: bool,
) -> LikelihoodDerivatives {
    let p = s.jacobian.ncols();
    let q = log_sigma.len();
    let mut m2ll = 0.0;
    let mut g = DVector::zeros(p + q);
    let mut h = DMatrix::zeros(p + q, p + q);
    for (i, o) in problem.obs.iter().enumerate() {
        let d = observation_derivatives(error_model, o.dv, s.f[i], log_sigma);
        m2ll += (2.0 * PI).ln() + d.value;
        for j in 0..p {
            g[j] += d.d_f * s.jacobian[(i, j)];
        }
        for a in 0..q {
            g[p + a] += d.d_s[a];
        }
        if !with_hessian {
            continue;
        }
        for j in 0..p {
            for k in j..p {
                h[(j, k)] += d.d_ff * s.jacobian[(i, j)] * s.jacobian[(i, k)] + d.d_f * s.second[j][k][i];
            }
            for a in 0..q {
                h[(j, p + a)] += d.d_fs[a] * s.jacobian[(i, j)];
            }
        }
        for a in 0..q {
            for b in a..q {
                h[(p + a, p + b)] += d.d_ss[a][b];
            }
        }
    }
    for j in 0..p + q {
        for k in 0..j {
            h[(j, k)] = h[(k, j)];
        }
    }
    LikelihoodDerivatives {
        m2ll,
        gradient: g,
        hessian: with_hessian.then_some(h),
    }
}
