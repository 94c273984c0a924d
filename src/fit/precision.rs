//! Precision of the estimates at the optimum.
//!
//! - Likelihood error models: the observed Fisher information, half the
//!   Hessian of −2LL in (estimation-scale parameters, log σ); the covariance
//!   is its inverse, 2·H⁻¹.
//! - Weighted least squares: the Gauss–Newton form σ̂²·(JᵀWJ)⁻¹ with
//!   σ̂² = WSS/(n − p), as WinNonlin reports it.
//!
//! Standard errors on the natural scale follow by the delta method
//! (SE(θ) = θ·SE(ln θ)); 95% intervals are computed on the log scale and
//! back-transformed.

use super::error_model::Criterion;
use super::likelihood::{m2ll_derivatives, sensitivities};
use super::problem::SubjectProblem;
use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Condition number of the information matrix above which it is called ill-conditioned.
pub const ILL_CONDITIONED: f64 = 1e10;

/// How the covariance was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CovarianceMethod {
    /// Inverse of the observed Fisher information (Hessian of −2LL/2).
    ObservedInformation,
    /// Gauss–Newton σ̂²(JᵀWJ)⁻¹ of weighted least squares.
    GaussNewton,
    /// Inverse of half a central-difference Hessian of −2LL (the model file's own error model).
    FiniteDifferenceInformation,
}

impl CovarianceMethod {
    /// Description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            CovarianceMethod::ObservedInformation => {
                "inverse observed Fisher information (Hessian of -2LL/2; f derivatives by central differences)"
            }
            CovarianceMethod::GaussNewton => "Gauss-Newton: sigma^2 (J'WJ)^-1 with sigma^2 = WSS/(n-p)",
            CovarianceMethod::FiniteDifferenceInformation => {
                "inverse observed Fisher information (central-difference Hessian of -2LL/2)"
            }
        }
    }
}

/// Precision of a fit on the estimation scale (structural x, then log σ).
#[derive(Debug, Clone)]
pub struct Precision {
    /// Method used.
    pub method: CovarianceMethod,
    /// Gradient of the objective at the solution (−2LL, or WSS for least squares).
    pub gradient: DVector<f64>,
    /// The information matrix (or JᵀWJ/σ̂² for least squares), if it could be formed.
    pub information: Option<DMatrix<f64>>,
    /// Covariance, if the information is positive definite.
    pub covariance: Option<DMatrix<f64>>,
    /// Ratio of the largest to the smallest eigenvalue of the information (∞ if singular).
    pub condition_number: f64,
}

impl Precision {
    /// Standard errors on the estimation scale (NaN where unavailable).
    pub fn standard_errors(&self, n: usize) -> Vec<f64> {
        match &self.covariance {
            Some(c) => (0..c.nrows()).map(|i| c[(i, i)].max(0.0).sqrt()).collect(),
            None => vec![f64::NAN; n],
        }
    }

    /// Correlation matrix of the estimates, if the covariance exists.
    pub fn correlation(&self) -> Option<DMatrix<f64>> {
        let c = self.covariance.as_ref()?;
        let d: Vec<f64> = (0..c.nrows()).map(|i| c[(i, i)].sqrt()).collect();
        Some(DMatrix::from_fn(c.nrows(), c.ncols(), |i, j| c[(i, j)] / (d[i] * d[j])))
    }
}

/// Computes the precision at estimation-scale `x` and `log_sigma`.
pub fn precision(
    problem: &SubjectProblem,
    error_model: Criterion,
    x: &[f64],
    log_sigma: &[f64],
) -> std::result::Result<Precision, String> {
    match error_model {
        Criterion::WeightedLeastSquares(w) => {
            let s = sensitivities(problem, x, false)?;
            let y = problem.dv();
            let n = y.len();
            let p = x.len();
            let wts: Vec<f64> = y.iter().zip(&s.f).map(|(&y, &f)| w.weight(y, f)).collect();
            let wss: f64 = (0..n).map(|i| wts[i] * (y[i] - s.f[i]).powi(2)).sum();
            let sigma2 = wss / (n - p).max(1) as f64;
            let jtwj = DMatrix::from_fn(p, p, |a, b| {
                (0..n)
                    .map(|i| wts[i] * s.jacobian[(i, a)] * s.jacobian[(i, b)])
                    .sum::<f64>()
            });
            let gradient = DVector::from_fn(p, |a, _| {
                -2.0 * (0..n)
                    .map(|i| wts[i] * (y[i] - s.f[i]) * s.jacobian[(i, a)])
                    .sum::<f64>()
            });
            let information = jtwj / sigma2;
            Ok(from_information(CovarianceMethod::GaussNewton, gradient, information))
        }
        Criterion::General { .. } => general_precision(problem, x, log_sigma),
        _ => {
            let d = m2ll_derivatives(problem, error_model, x, log_sigma, true)?;
            let h = d.hessian.ok_or("the Hessian of -2LL was not computed")?;
            Ok(from_information(
                CovarianceMethod::ObservedInformation,
                d.gradient,
                h * 0.5,
            ))
        }
    }
}

/// Gradient and Hessian of −2LL by central differences (step 1e-4 on the
/// estimation scale), for the model file's own error model.
fn general_precision(problem: &SubjectProblem, x: &[f64], log_sigma: &[f64]) -> std::result::Result<Precision, String> {
    let v: Vec<f64> = x.iter().chain(log_sigma).copied().collect();
    let (p, n) = (x.len(), v.len());
    let h = 1e-4;
    let at = |d: &[(usize, f64)]| -> std::result::Result<f64, String> {
        let mut w = v.clone();
        for &(j, s) in d {
            w[j] += s;
        }
        problem
            .general_m2ll(&w[..p], &w[p..])
            .ok_or_else(|| "the model cannot be evaluated near the solution".to_string())
    };
    let mut gradient = DVector::zeros(n);
    let mut hessian = DMatrix::zeros(n, n);
    let center = at(&[])?;
    for j in 0..n {
        let (fp, fm) = (at(&[(j, h)])?, at(&[(j, -h)])?);
        gradient[j] = (fp - fm) / (2.0 * h);
        hessian[(j, j)] = (fp - 2.0 * center + fm) / (h * h);
        for k in 0..j {
            let d =
                at(&[(j, h), (k, h)])? - at(&[(j, h), (k, -h)])? - at(&[(j, -h), (k, h)])? + at(&[(j, -h), (k, -h)])?;
            hessian[(j, k)] = d / (4.0 * h * h);
            hessian[(k, j)] = hessian[(j, k)];
        }
    }
    Ok(from_information(
        CovarianceMethod::FiniteDifferenceInformation,
        gradient,
        hessian * 0.5,
    ))
}

fn from_information(method: CovarianceMethod, gradient: DVector<f64>, information: DMatrix<f64>) -> Precision {
    if information.is_empty() {
        // Nothing estimated (every parameter fixed under WLS): nothing to invert.
        return Precision {
            method,
            gradient,
            covariance: Some(information.clone()),
            information: Some(information),
            condition_number: 1.0,
        };
    }
    let finite = information.iter().all(|v| v.is_finite());
    let (condition_number, covariance) = if finite {
        let eig = SymmetricEigen::new(information.clone());
        let max = eig.eigenvalues.max();
        let min = eig.eigenvalues.min();
        let cond = if min > 0.0 { max / min } else { f64::INFINITY };
        let cov = (min > 0.0).then(|| {
            let inv = DMatrix::from_diagonal(&eig.eigenvalues.map(|l| 1.0 / l));
            &eig.eigenvectors * inv * eig.eigenvectors.transpose()
        });
        (cond, cov)
    } else {
        (f64::INFINITY, None)
    };
    Precision {
        method,
        gradient,
        information: finite.then_some(information),
        covariance,
        condition_number,
    }
}
