//! The outer optimiser of population estimation: BFGS on the objective
//! function value with finite-difference gradients.
//!
//! The objective of FOCE-I is itself the result of inner optimisations, so its
//! gradient is only accurate to the inner tolerances. The quasi-Newton
//! iteration below is built for that: forward differences while the predicted
//! decrease is large, central differences near the optimum, a backtracking
//! (Armijo) line search, a reset of the inverse Hessian when a direction is
//! not downhill, and convergence judged by the predicted decrease ½·gᵀHg
//! (below 1e-4, or below 1e-3 with a last step that gained less than 1e-4).
//! argmin's BFGS with a More–Thuente line search reaches the same optimum on
//! Infusion_2CPT but asks for a gradient at every line-search trial: 7.7
//! times the objective evaluations (benches/outer_optimiser.rs, BENCHMARKS.md).

use crate::error::Result;
use nalgebra::{DMatrix, DVector};

/// Step of the finite differences of the OFV in φ.
const PHI_STEP: f64 = 1e-4;
/// Predicted OFV decrease below which the outer optimisation has converged.
const OFV_TOLERANCE: f64 = 1e-4;

/// The outcome of [`minimise`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The minimiser.
    pub phi: Vec<f64>,
    /// Whether it converged.
    pub converged: bool,
    /// Why it stopped.
    pub message: String,
    /// Iterations.
    pub iterations: u64,
}

/// Gradient by forward or central differences.
fn gradient(f: &dyn Fn(&[f64]) -> Result<f64>, phi: &[f64], f0: f64, central: bool) -> Result<Vec<f64>> {
    let mut g = vec![0.0; phi.len()];
    let mut x = phi.to_vec();
    for j in 0..phi.len() {
        x[j] = phi[j] + PHI_STEP;
        let up = f(&x)?;
        g[j] = if central {
            x[j] = phi[j] - PHI_STEP;
            (up - f(&x)?) / (2.0 * PHI_STEP)
        } else {
            (up - f0) / PHI_STEP
        };
        x[j] = phi[j];
    }
    Ok(g)
}

/// diag(1/∂²f/∂φ²) by central differences (1e-3 where not positive).
fn initial_inverse_hessian(f: &dyn Fn(&[f64]) -> Result<f64>, phi: &[f64], f0: f64) -> DMatrix<f64> {
    let n = phi.len();
    let h = 1e-3;
    let mut m = DMatrix::zeros(n, n);
    let mut x = phi.to_vec();
    for j in 0..n {
        x[j] = phi[j] + h;
        let up = f(&x).unwrap_or(f64::NAN);
        x[j] = phi[j] - h;
        let down = f(&x).unwrap_or(f64::NAN);
        x[j] = phi[j];
        let d2 = (up - 2.0 * f0 + down) / (h * h);
        m[(j, j)] = if d2 > 0.0 && d2.is_finite() { 1.0 / d2 } else { 1e-3 };
    }
    m
}

/// Called once per outer iteration with (iteration, value, predicted
/// decrease, point).
pub type Progress<'a> = &'a dyn Fn(u64, f64, f64, &[f64]);

/// Minimises `f` from `phi0` (where it equals `f0`); `progress` is called
/// once per iteration.
pub fn minimise(
    f: &dyn Fn(&[f64]) -> Result<f64>,
    phi0: Vec<f64>,
    f0: f64,
    max_iterations: u64,
    progress: Progress<'_>,
) -> Result<Outcome> {
    let n = phi0.len();
    let h0 = initial_inverse_hessian(f, &phi0, f0);
    let mut x = DVector::from_vec(phi0);
    let mut fx = f0;
    let mut central = false;
    let mut g = DVector::from_vec(gradient(f, x.as_slice(), fx, central)?);
    let mut h = h0.clone();
    let done = |x: &DVector<f64>, converged: bool, message: String, iterations: u64| Outcome {
        phi: x.as_slice().to_vec(),
        converged,
        message,
        iterations,
    };
    for it in 0..max_iterations {
        let mut d = -(&h * &g);
        if g.dot(&d) >= 0.0 {
            h = h0.clone();
            d = -(&h * &g);
        }
        let predicted = -0.5 * g.dot(&d);
        progress(it, fx, predicted, x.as_slice());
        if !central && predicted < 1.0 {
            central = true;
            g = DVector::from_vec(gradient(f, x.as_slice(), fx, true)?);
            continue;
        }
        if predicted < OFV_TOLERANCE {
            return Ok(done(
                &x,
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
            let ft = f(trial.as_slice()).unwrap_or(f64::INFINITY);
            if ft <= fx + 1e-4 * t * slope {
                next = Some((trial, ft));
                break;
            }
            t *= 0.5;
        }
        let Some((x_new, f_new)) = next else {
            if predicted < 1e-2 {
                return Ok(done(
                    &x,
                    true,
                    format!("converged: no further decrease; predicted OFV decrease {predicted:.1e} is at the noise of the finite differences"),
                    it,
                ));
            }
            if h != h0 {
                h = h0.clone();
                continue;
            }
            return Ok(done(
                &x,
                false,
                format!("the line search found no decrease (predicted decrease {predicted:.2e})"),
                it,
            ));
        };
        // Predicted and achieved decrease both below the tolerance (on
        // central differences): the optimum is reached to the OFV's resolution.
        if central && predicted < 10.0 * OFV_TOLERANCE && fx - f_new < OFV_TOLERANCE {
            return Ok(done(
                &x_new,
                true,
                format!(
                    "converged: the last step decreased the OFV by {:.1e} (predicted {predicted:.1e})",
                    fx - f_new
                ),
                it + 1,
            ));
        }
        let g_new = DVector::from_vec(gradient(f, x_new.as_slice(), f_new, central)?);
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
        fx = f_new;
        g = g_new;
    }
    Ok(done(
        &x,
        false,
        format!("{max_iterations} iterations without convergence"),
        max_iterations,
    ))
}

/// The Hessian of `f` at `x0` (where it equals `f0`) by central differences
/// of step `h`: the one finite-difference Hessian of the crate (covariance
/// step, Laplacian objective, Newton steps of the conditional mode).
pub fn hessian<E>(
    f: &dyn Fn(&[f64]) -> std::result::Result<f64, E>,
    x0: &[f64],
    f0: f64,
    h: f64,
) -> std::result::Result<DMatrix<f64>, E> {
    let n = x0.len();
    let mut hess = DMatrix::zeros(n, n);
    let mut x = x0.to_vec();
    for i in 0..n {
        x[i] = x0[i] + h;
        let up = f(&x)?;
        x[i] = x0[i] - h;
        let down = f(&x)?;
        x[i] = x0[i];
        hess[(i, i)] = (up - 2.0 * f0 + down) / (h * h);
    }
    for i in 0..n {
        for j in 0..i {
            let mut corner = |si: f64, sj: f64| {
                x[i] = x0[i] + si * h;
                x[j] = x0[j] + sj * h;
                let v = f(&x);
                x[i] = x0[i];
                x[j] = x0[j];
                v
            };
            let v = (corner(1.0, 1.0)? - corner(1.0, -1.0)? - corner(-1.0, 1.0)? + corner(-1.0, -1.0)?) / (4.0 * h * h);
            hess[(i, j)] = v;
            hess[(j, i)] = v;
        }
    }
    Ok(hess)
}
