//! The covariance step of a population fit, as NONMEM's `$COVARIANCE`: the
//! R matrix (Hessian of the OFV) and the S matrix (cross-product of the
//! subjects' OFV gradients) by central differences in φ, the estimated
//! coordinates; the covariance of φ from the sandwich R⁻¹SR⁻¹ (the default),
//! 2R⁻¹ or 4S⁻¹; the covariance of the reported estimates (θ, Ω and σ
//! elements as NONMEM reports them) by the delta method; standard errors on
//! both scales, %RSE, the correlation matrix, its eigenvalues and condition
//! number. When the matrix to invert is not positive definite the step fails
//! in NONMEM's words, and the estimates stand.

use super::estimation::ThetaScale;
use super::estimation::{
    precise_objective, reported, Element, Evaluation, Parameters, PopValues, PopulationData, PopulationFit,
};
use crate::model::Model;
use crate::{Error, Result};
use nalgebra::{DMatrix, SymmetricEigen};

/// The matrix the covariance step inverts (NONMEM's `$COVARIANCE MATRIX=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CovarianceMatrix {
    /// R⁻¹SR⁻¹, NONMEM's default: valid also when the residual model is off.
    Sandwich,
    /// The R matrix, the Hessian of the OFV: Cov = 2·R⁻¹.
    R,
    /// The S matrix, the cross-product of the subjects' OFV gradients: Cov = 4·S⁻¹.
    S,
}

impl CovarianceMatrix {
    /// Parses `sandwich`, `r` or `s` (any case).
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "sandwich" | "rsr" => Ok(CovarianceMatrix::Sandwich),
            "r" => Ok(CovarianceMatrix::R),
            "s" => Ok(CovarianceMatrix::S),
            other => Err(Error::Argument(format!(
                "--cov-matrix {other}: expected sandwich (R⁻¹SR⁻¹, NONMEM's default), r or s"
            ))),
        }
    }

    /// A short name: `sandwich`, `R` or `S`.
    pub fn short_name(&self) -> &'static str {
        match self {
            CovarianceMatrix::Sandwich => "sandwich",
            CovarianceMatrix::R => "R",
            CovarianceMatrix::S => "S",
        }
    }
}

impl std::fmt::Display for CovarianceMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CovarianceMatrix::Sandwich => "sandwich R⁻¹SR⁻¹",
            CovarianceMatrix::R => "R matrix",
            CovarianceMatrix::S => "S matrix",
        })
    }
}

/// Step of the central differences of the covariance step in φ.
const COVARIANCE_STEP: f64 = 1e-3;

/// Relative size (to the largest) below which an eigenvalue counts as zero
/// in a matrix that Cholesky factorises: it is not inverted.
const SINGULAR: f64 = 1e-12;

/// Relative size (to the largest) within which an eigenvalue of a matrix
/// that is not positive definite is indistinguishable from zero, given the
/// noise of central differences of an OFV whose η̂ are re-estimated at each
/// point (~1e-7 in the OFV, over h² = 1e-6): the matrix is then
/// "algorithmically singular" in NONMEM's words, else "non-positive-semidefinite".
const INDISTINGUISHABLE: f64 = 1e-3;

/// Why the covariance step gave no covariance matrix. Its `Display` is
/// NONMEM's message, then what it means.
#[derive(Debug, Clone, PartialEq)]
pub enum CovarianceFailure {
    /// The R matrix is not positive definite.
    R {
        /// An eigenvalue is zero relative to the largest.
        singular: bool,
        /// An eigenvalue is negative (beyond rounding).
        non_positive_semidefinite: bool,
        /// The estimates that weigh most in the eigenvector of the smallest
        /// eigenvalue (the direction the OFV does not rise along).
        direction: Vec<String>,
    },
    /// The S matrix is singular (with `MATRIX=S` or the sandwich).
    S {
        /// The estimates that weigh most in its null direction.
        direction: Vec<String>,
    },
}

impl std::fmt::Display for CovarianceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CovarianceFailure::R {
                singular,
                non_positive_semidefinite,
                direction,
            } => {
                let words = match (singular, non_positive_semidefinite) {
                    (true, true) => {
                        "R MATRIX ALGORITHMICALLY SINGULAR AND ALGORITHMICALLY NON-POSITIVE-SEMIDEFINITE; \
                         COVARIANCE STEP ABORTED"
                    }
                    (true, false) => "R MATRIX ALGORITHMICALLY SINGULAR; COVARIANCE MATRIX UNOBTAINABLE",
                    _ => "R MATRIX ALGORITHMICALLY NON-POSITIVE-SEMIDEFINITE BUT NONSINGULAR; COVARIANCE STEP ABORTED",
                };
                write!(
                    f,
                    "{words}. The Hessian of the OFV is not positive definite at the estimates: the fit may \
                     not be at a minimum, or the model is over-parameterised (the OFV does not rise along a \
                     direction that loads on {}). No standard errors; the estimates stand.",
                    direction.join(", ")
                )
            }
            CovarianceFailure::S { direction } => write!(
                f,
                "S MATRIX ALGORITHMICALLY SINGULAR; COVARIANCE MATRIX UNOBTAINABLE. The subjects' OFV \
                 gradients do not span every estimate (more estimates than subjects inform; the null \
                 direction loads on {}). No standard errors; the estimates stand.",
                direction.join(", ")
            ),
        }
    }
}

/// The result of a successful covariance step.
#[derive(Debug, Clone, PartialEq)]
pub struct CovarianceStep {
    /// The matrix inverted.
    pub matrix: CovarianceMatrix,
    /// Names of the reported estimates (as [`reported`]).
    pub names: Vec<String>,
    /// The reported estimates (θ; Ω and σ as variances and covariances).
    pub estimates: Vec<f64>,
    /// Per estimate, the scale it is estimated on (its coordinate in φ).
    pub scales: Vec<String>,
    /// Covariance of φ, the estimated coordinates.
    pub phi_covariance: DMatrix<f64>,
    /// Covariance of the reported estimates (delta method).
    pub covariance: DMatrix<f64>,
}

impl CovarianceStep {
    /// Standard errors of the reported estimates.
    pub fn standard_errors(&self) -> Vec<f64> {
        diagonal_sqrt(&self.covariance)
    }

    /// Standard errors on the estimated scale (of each coordinate of φ).
    pub fn estimated_scale_standard_errors(&self) -> Vec<f64> {
        diagonal_sqrt(&self.phi_covariance)
    }

    /// %RSE of the reported estimates: 100·SE/|estimate| (`None` for an estimate of 0).
    pub fn relative_standard_errors(&self) -> Vec<Option<f64>> {
        self.standard_errors()
            .iter()
            .zip(&self.estimates)
            .map(|(s, e)| (*e != 0.0).then(|| 100.0 * s / e.abs()))
            .collect()
    }

    /// The correlation matrix of the reported estimates (1 on the diagonal;
    /// 0 where a standard error is 0).
    pub fn correlation(&self) -> DMatrix<f64> {
        let se = self.standard_errors();
        let n = se.len();
        DMatrix::from_fn(n, n, |i, j| {
            if i == j {
                1.0
            } else if se[i] > 0.0 && se[j] > 0.0 {
                self.covariance[(i, j)] / (se[i] * se[j])
            } else {
                0.0
            }
        })
    }

    /// Eigenvalues of the correlation matrix, ascending (NONMEM's `PRINT=E`).
    pub fn eigenvalues(&self) -> Vec<f64> {
        let mut e: Vec<f64> = SymmetricEigen::new(self.correlation())
            .eigenvalues
            .iter()
            .copied()
            .collect();
        e.sort_by(f64::total_cmp);
        e
    }

    /// Condition number: the largest eigenvalue of the correlation matrix
    /// over the smallest (infinite when the smallest is not positive).
    pub fn condition_number(&self) -> f64 {
        let e = self.eigenvalues();
        match (e.first(), e.last()) {
            (Some(&lo), Some(&hi)) if lo > 0.0 => hi / lo,
            (Some(_), Some(_)) => f64::INFINITY,
            _ => 1.0,
        }
    }
}

fn diagonal_sqrt(m: &DMatrix<f64>) -> Vec<f64> {
    (0..m.nrows()).map(|i| m[(i, i)].max(0.0).sqrt()).collect()
}

/// The scale each element of φ is estimated on, for reports.
fn scale_name(e: &Element) -> String {
    match *e {
        Element::Theta(_, ThetaScale::Log) => "log".into(),
        Element::Theta(_, ThetaScale::Logit { lower, upper }) => format!("logit on ({lower}, {upper})"),
        Element::Theta(_, ThetaScale::Linear(1.0)) => "linear".into(),
        Element::Theta(_, ThetaScale::Linear(s)) => format!("linear /{s}"),
        Element::Omega(i, j) | Element::Iov(i, j) if i == j => "log Cholesky diagonal".into(),
        Element::Omega(..) | Element::Iov(..) => "Cholesky".into(),
        Element::Sigma(_) => "log SD".into(),
    }
}

/// The covariance step at `fit`'s estimates (φ = `fit.phi`, fixed elements
/// from `start`): `Ok(Err(…))` when the matrix to invert is not positive
/// definite (the estimates stand), an error when an objective fails.
pub fn covariance_step(
    model: &Model,
    data: &PopulationData,
    start: &PopValues,
    fit: &PopulationFit,
    matrix: CovarianceMatrix,
) -> Result<Outcome<CovarianceStep>> {
    let params = Parameters::of(model);
    let (names, estimates): (Vec<String>, Vec<f64>) = reported(model, &params, &fit.values)
        .into_iter()
        .map(|r| (r.name, r.value))
        .unzip();
    let starts: Vec<Vec<f64>> = fit.evaluation.estimates.iter().map(|e| e.eta.clone()).collect();
    let evaluate = |phi: &[f64]| -> Result<Evaluation> {
        let v = params.values(model, start, phi)?;
        precise_objective(model, data, &v, fit.method, &starts)
    };
    // The centre of the second differences, evaluated as the points around it are.
    let centre = evaluate(&fit.phi)?;
    let phi_names = |direction: &[f64]| loading(&names, direction);
    let r_inverse = || -> Result<Outcome<DMatrix<f64>>> {
        let f = |phi: &[f64]| -> Result<f64> { Ok(evaluate(phi)?.ofv) };
        let hess = super::outer::hessian(&f, &fit.phi, centre.ofv, COVARIANCE_STEP)?;
        Ok(positive_definite_inverse(&hess).map_err(|e| CovarianceFailure::R {
            singular: e.singular,
            non_positive_semidefinite: e.negative,
            direction: phi_names(&e.direction),
        }))
    };
    let s_inverse = || -> Result<Outcome<(DMatrix<f64>, DMatrix<f64>)>> {
        let s = s_matrix(&evaluate, &fit.phi, centre.contributions.len())?;
        Ok(match positive_definite_inverse(&s) {
            Ok(inv) => Ok((s, inv)),
            Err(e) => Err(CovarianceFailure::S {
                direction: phi_names(&e.direction),
            }),
        })
    };
    let phi_covariance = match matrix {
        CovarianceMatrix::R => r_inverse()?.map(|r| 2.0 * r),
        CovarianceMatrix::S => s_inverse()?.map(|(_, s)| 4.0 * s),
        CovarianceMatrix::Sandwich => match r_inverse()? {
            Ok(r) => s_inverse()?.map(|(s, _)| &r * s * &r),
            Err(e) => Err(e),
        },
    };
    let phi_covariance = match phi_covariance {
        Ok(c) => c,
        Err(failure) => return Ok(Err(failure)),
    };
    let jac = reported_jacobian(model, &params, start, &fit.phi)?;
    let covariance = &jac * &phi_covariance * jac.transpose();
    Ok(Ok(CovarianceStep {
        matrix,
        estimates,
        names,
        scales: params.elements.iter().map(scale_name).collect(),
        phi_covariance,
        covariance,
    }))
}

/// S = Σᵢ gᵢgᵢᵀ with gᵢ the gradient in φ of subject i's OFV contribution
/// (central differences).
fn s_matrix(evaluate: &dyn Fn(&[f64]) -> Result<Evaluation>, phi: &[f64], n_subjects: usize) -> Result<DMatrix<f64>> {
    let n = phi.len();
    let mut grads = DMatrix::zeros(n_subjects, n);
    let mut x = phi.to_vec();
    for j in 0..n {
        x[j] = phi[j] + COVARIANCE_STEP;
        let up = evaluate(&x)?.contributions;
        x[j] = phi[j] - COVARIANCE_STEP;
        let down = evaluate(&x)?.contributions;
        x[j] = phi[j];
        for (i, (u, d)) in up.iter().zip(&down).enumerate() {
            grads[(i, j)] = (u - d) / (2.0 * COVARIANCE_STEP);
        }
    }
    Ok(grads.transpose() * grads)
}

/// The result of a covariance step that may fail (the estimates stand).
pub type Outcome<T> = std::result::Result<T, CovarianceFailure>;

/// How a symmetric matrix is not positive definite.
#[derive(Debug)]
struct NotPositiveDefinite {
    /// An eigenvalue is indistinguishable from zero.
    singular: bool,
    /// An eigenvalue is negative beyond that.
    negative: bool,
    /// The eigenvector of the smallest eigenvalue.
    direction: Vec<f64>,
}

/// The inverse of a symmetric matrix that is positive definite; otherwise how it is not.
fn positive_definite_inverse(m: &DMatrix<f64>) -> std::result::Result<DMatrix<f64>, NotPositiveDefinite> {
    if m.nrows() == 0 {
        return Ok(m.clone());
    }
    let finite = m.iter().all(|v| v.is_finite());
    if finite {
        if let Some(c) = m.clone().cholesky() {
            let eig = SymmetricEigen::new(m.clone());
            if eig.eigenvalues.min() > SINGULAR * eig.eigenvalues.amax() {
                return Ok(c.inverse());
            }
        }
    }
    if !finite {
        return Err(NotPositiveDefinite {
            singular: true,
            negative: false,
            direction: Vec::new(),
        });
    }
    let eig = SymmetricEigen::new(m.clone());
    let largest = eig.eigenvalues.amax();
    let (k, smallest) = eig
        .eigenvalues
        .iter()
        .copied()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, 0.0));
    let singular = eig.eigenvalues.iter().any(|l| l.abs() <= INDISTINGUISHABLE * largest);
    let negative = smallest < -INDISTINGUISHABLE * largest;
    Err(NotPositiveDefinite {
        singular,
        negative,
        direction: eig.eigenvectors.column(k).iter().copied().collect(),
    })
}

/// The names of the estimates that weigh most (≥ half the largest weight)
/// in a direction of φ.
fn loading(names: &[String], direction: &[f64]) -> Vec<String> {
    let largest = direction.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    direction
        .iter()
        .zip(names)
        .filter(|(x, _)| largest > 0.0 && x.abs() >= 0.5 * largest)
        .map(|(_, n)| n.clone())
        .collect()
}

/// The Jacobian of the reported estimates in φ (central differences).
pub(crate) fn reported_jacobian(
    model: &Model,
    params: &Parameters,
    start: &PopValues,
    phi: &[f64],
) -> Result<DMatrix<f64>> {
    let values = |x: &[f64]| -> Result<Vec<f64>> {
        let v = params.values(model, start, x)?;
        Ok(reported(model, params, &v).into_iter().map(|r| r.value).collect())
    };
    let n = phi.len();
    let m = values(phi)?.len();
    let mut jac = DMatrix::zeros(m, n);
    let h = 1e-6;
    let mut x = phi.to_vec();
    for j in 0..n {
        x[j] = phi[j] + h;
        let up = values(&x)?;
        x[j] = phi[j] - h;
        let down = values(&x)?;
        x[j] = phi[j];
        for i in 0..m {
            jac[(i, j)] = (up[i] - down[i]) / (2.0 * h);
        }
    }
    Ok(jac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_definite_inverse_classifies_as_nonmem_words_it() {
        let pd = DMatrix::from_row_slice(2, 2, &[2.0, 0.5, 0.5, 1.0]);
        let inv = positive_definite_inverse(&pd).unwrap();
        assert!((&pd * inv - DMatrix::identity(2, 2)).amax() < 1e-14);
        // Eigenvalues 3 and −1: negative but nonsingular.
        let indefinite = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 1.0]);
        let e = positive_definite_inverse(&indefinite).unwrap_err();
        assert!(!e.singular && e.negative);
        let v = e.direction;
        assert!((v[0].abs() - v[1].abs()).abs() < 1e-12, "{v:?}");
        // Rank 1: singular, not negative.
        let rank1 = DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 1.0, 1.0]);
        let e = positive_definite_inverse(&rank1).unwrap_err();
        assert!(e.singular && !e.negative);
    }

    #[test]
    fn correlation_eigenvalues_and_condition_number() {
        // SEs 2 and 3, correlation 0.5: eigenvalues of [[1, .5], [.5, 1]] are 0.5 and 1.5.
        let cov = DMatrix::from_row_slice(2, 2, &[4.0, 3.0, 3.0, 9.0]);
        let step = CovarianceStep {
            matrix: CovarianceMatrix::R,
            names: vec!["a".into(), "b".into()],
            estimates: vec![10.0, -30.0],
            scales: vec!["log".into(), "log".into()],
            phi_covariance: cov.clone(),
            covariance: cov,
        };
        assert_eq!(step.standard_errors(), vec![2.0, 3.0]);
        assert_eq!(step.relative_standard_errors(), vec![Some(20.0), Some(10.0)]);
        assert!((step.correlation()[(0, 1)] - 0.5).abs() < 1e-15);
        let e = step.eigenvalues();
        assert!((e[0] - 0.5).abs() < 1e-12 && (e[1] - 1.5).abs() < 1e-12, "{e:?}");
        assert!((step.condition_number() - 3.0).abs() < 1e-12);
    }
}
