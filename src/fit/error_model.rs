//! What a fit minimises: the likelihood of the model file's residual error
//! model (additive, proportional, combined), with its −2 log-likelihood and
//! its derivatives, or the classical weighted least squares of WinNonlin and DAS.

use crate::error::{Error, Result};
use std::f64::consts::PI;
use std::fmt;

/// Weights of classical weighted least squares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weighting {
    /// w = 1 (ordinary least squares).
    Uniform,
    /// w = 1/y.
    InvObserved,
    /// w = 1/y².
    InvObservedSquared,
    /// w = 1/f, f the prediction (iteratively reweighted).
    InvPredicted,
    /// w = 1/f² (iteratively reweighted).
    InvPredictedSquared,
}

impl Weighting {
    /// Parses `1`, `1/y`, `1/y2` (or `1/y^2`), `1/f`, `1/f2` (or `1/f^2`).
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().replace('^', "").to_ascii_lowercase().as_str() {
            "1" | "uniform" | "none" => Ok(Weighting::Uniform),
            "1/y" => Ok(Weighting::InvObserved),
            "1/y2" => Ok(Weighting::InvObservedSquared),
            "1/f" | "1/yhat" => Ok(Weighting::InvPredicted),
            "1/f2" | "1/yhat2" => Ok(Weighting::InvPredictedSquared),
            _ => Err(Error::Argument(format!(
                "weighting '{text}': expected 1, 1/y, 1/y2, 1/f or 1/f2"
            ))),
        }
    }

    /// Whether the weights depend on the predictions (so are re-evaluated: IRLS).
    pub fn uses_prediction(self) -> bool {
        matches!(self, Weighting::InvPredicted | Weighting::InvPredictedSquared)
    }

    /// Whether the weights need positive observations (or predictions).
    pub fn needs_positive(self) -> bool {
        self != Weighting::Uniform
    }

    /// The weight of an observation `y` with prediction `f`.
    pub fn weight(self, y: f64, f: f64) -> f64 {
        match self {
            Weighting::Uniform => 1.0,
            Weighting::InvObserved => 1.0 / y,
            Weighting::InvObservedSquared => 1.0 / (y * y),
            Weighting::InvPredicted => 1.0 / f,
            Weighting::InvPredictedSquared => 1.0 / (f * f),
        }
    }
}

impl fmt::Display for Weighting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Weighting::Uniform => "1",
            Weighting::InvObserved => "1/y",
            Weighting::InvObservedSquared => "1/y^2",
            Weighting::InvPredicted => "1/f",
            Weighting::InvPredictedSquared => "1/f^2",
        })
    }
}

/// What a fit minimises, as read from the model file's error model (or
/// classical weighted least squares, which ignores it).
///
/// The residual error model is the language's ([`crate::model::runtime::residual_variance`]):
/// the fit recognises the forms whose σ it estimates with closed-form
/// derivatives, `add(a)` (Var = a²), `prop(b)` (Var = b²f²) and
/// `add(a) + prop(b)` (Var = a² + b²f²), each σ a declared `sigma`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// Maximum likelihood with `add(σ)`.
    Additive,
    /// Maximum likelihood with `prop(σ)`.
    Proportional,
    /// Maximum likelihood with `add(a) + prop(b)`.
    Combined,
    /// Maximum likelihood with any other error model of the file (exp, power,
    /// sd, var, combined1, θ in the error model, fixed σ, several forms) or
    /// with censored observations (Beal's M3), through the model's own
    /// variances; `n_sigma` σ are estimated with θ.
    General {
        /// Number of estimated σ.
        n_sigma: usize,
    },
    /// Weighted least squares, minimising Σ w(y − f)²; not a likelihood.
    WeightedLeastSquares(Weighting),
}

impl Criterion {
    /// Whether this is a likelihood (its σ are estimated).
    pub fn is_likelihood(self) -> bool {
        !matches!(self, Criterion::WeightedLeastSquares(_))
    }

    /// Number of residual-error SDs estimated with the structural parameters.
    pub fn n_sigma(self) -> usize {
        match self {
            Criterion::Additive | Criterion::Proportional => 1,
            Criterion::Combined => 2,
            Criterion::General { n_sigma } => n_sigma,
            Criterion::WeightedLeastSquares(_) => 0,
        }
    }

    /// Whether observations must be positive.
    pub fn needs_positive_observations(self) -> bool {
        match self {
            Criterion::Proportional => true,
            Criterion::WeightedLeastSquares(w) => w.needs_positive(),
            _ => false,
        }
    }

    /// Variance of an observation with prediction `f` and log-σ values `log_sigma`.
    pub fn variance(self, f: f64, log_sigma: &[f64]) -> f64 {
        variance_parts(self, f, log_sigma).v
    }

    /// −2 log-likelihood of observations `y` with predictions `f` (including n·ln 2π).
    pub fn m2ll(self, y: &[f64], f: &[f64], log_sigma: &[f64]) -> f64 {
        y.iter()
            .zip(f)
            .map(|(&y, &f)| {
                let v = self.variance(f, log_sigma);
                (2.0 * PI).ln() + v.ln() + (y - f) * (y - f) / v
            })
            .sum()
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Criterion::Additive => f.write_str("additive"),
            Criterion::Proportional => f.write_str("proportional"),
            Criterion::Combined => f.write_str("combined"),
            Criterion::General { .. } => f.write_str("the model file's"),
            Criterion::WeightedLeastSquares(w) => write!(f, "weighted least squares (w = {w})"),
        }
    }
}

/// The variance V(f, s) and its partial derivatives in f and the log-σ values s.
#[derive(Debug, Clone, Copy, Default)]
struct VarianceParts {
    v: f64,
    v_f: f64,
    v_ff: f64,
    v_s: [f64; 2],
    v_fs: [f64; 2],
    v_ss: [[f64; 2]; 2],
}

fn variance_parts(model: Criterion, f: f64, s: &[f64]) -> VarianceParts {
    match model {
        Criterion::Additive => {
            let v = (2.0 * s[0]).exp();
            VarianceParts {
                v,
                v_s: [2.0 * v, 0.0],
                v_ss: [[4.0 * v, 0.0], [0.0, 0.0]],
                ..Default::default()
            }
        }
        Criterion::Proportional => {
            let s2 = (2.0 * s[0]).exp();
            let v = s2 * f * f;
            VarianceParts {
                v,
                v_f: 2.0 * s2 * f,
                v_ff: 2.0 * s2,
                v_s: [2.0 * v, 0.0],
                v_fs: [4.0 * s2 * f, 0.0],
                v_ss: [[4.0 * v, 0.0], [0.0, 0.0]],
            }
        }
        Criterion::Combined => {
            let a2 = (2.0 * s[0]).exp();
            let b2 = (2.0 * s[1]).exp();
            VarianceParts {
                v: a2 + b2 * f * f,
                v_f: 2.0 * b2 * f,
                v_ff: 2.0 * b2,
                v_s: [2.0 * a2, 2.0 * b2 * f * f],
                v_fs: [0.0, 4.0 * b2 * f],
                v_ss: [[4.0 * a2, 0.0], [0.0, 4.0 * b2 * f * f]],
            }
        }
        Criterion::WeightedLeastSquares(_) | Criterion::General { .. } => VarianceParts {
            v: 1.0,
            ..Default::default()
        },
    }
}

/// Derivatives of one observation's ℓ = ln V + (y − f)²/V in the prediction f
/// and the log-σ values s (exact, by the chain rule through V).
#[derive(Debug, Clone, Copy, Default)]
pub struct ObservationDerivatives {
    /// ℓ itself.
    pub value: f64,
    /// ∂ℓ/∂f.
    pub d_f: f64,
    /// ∂²ℓ/∂f².
    pub d_ff: f64,
    /// ∂ℓ/∂s.
    pub d_s: [f64; 2],
    /// ∂²ℓ/∂f∂s.
    pub d_fs: [f64; 2],
    /// ∂²ℓ/∂s∂s.
    pub d_ss: [[f64; 2]; 2],
}

/// ℓ and its derivatives for observation `y`, prediction `f`, log-σ `s`.
pub fn observation_derivatives(model: Criterion, y: f64, f: f64, s: &[f64]) -> ObservationDerivatives {
    let p = variance_parts(model, f, s);
    let r = y - f;
    let (v, r2) = (p.v, r * r);
    // Partials of ℓ(r, V) = ln V + r²/V, with r = y − f (so ∂r/∂f = −1).
    let l_v = 1.0 / v - r2 / (v * v);
    let l_vv = -1.0 / (v * v) + 2.0 * r2 / (v * v * v);
    let l_r = 2.0 * r / v;
    let l_rr = 2.0 / v;
    let l_rv = -2.0 * r / (v * v);
    let mut d = ObservationDerivatives {
        value: v.ln() + r2 / v,
        d_f: l_v * p.v_f - l_r,
        d_ff: l_vv * p.v_f * p.v_f + l_v * p.v_ff - 2.0 * l_rv * p.v_f + l_rr,
        ..Default::default()
    };
    for a in 0..2 {
        d.d_s[a] = l_v * p.v_s[a];
        d.d_fs[a] = l_vv * p.v_s[a] * p.v_f + l_v * p.v_fs[a] - l_rv * p.v_s[a];
        for b in 0..2 {
            d.d_ss[a][b] = l_vv * p.v_s[a] * p.v_s[b] + l_v * p.v_ss[a][b];
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central finite differences of ℓ against the chain-rule derivatives.
    #[test]
    fn observation_derivatives_match_finite_differences() {
        let ell = |m: Criterion, f: f64, s: &[f64]| observation_derivatives(m, 3.0, f, s).value;
        for m in [Criterion::Additive, Criterion::Proportional, Criterion::Combined] {
            let (f, s) = (2.2, [-0.7, -1.9]);
            let d = observation_derivatives(m, 3.0, f, &s);
            let h = 1e-5;
            let fd_f = (ell(m, f + h, &s) - ell(m, f - h, &s)) / (2.0 * h);
            let fd_ff = (ell(m, f + h, &s) - 2.0 * d.value + ell(m, f - h, &s)) / (h * h);
            assert!((d.d_f - fd_f).abs() < 1e-7, "{m}: {} vs {fd_f}", d.d_f);
            assert!((d.d_ff - fd_ff).abs() < 1e-4, "{m}: {} vs {fd_ff}", d.d_ff);
            for a in 0..m.n_sigma() {
                let mut sp = s;
                let mut sm = s;
                sp[a] += h;
                sm[a] -= h;
                let fd_s = (ell(m, f, &sp) - ell(m, f, &sm)) / (2.0 * h);
                assert!((d.d_s[a] - fd_s).abs() < 1e-7);
                let fd_fs = (observation_derivatives(m, 3.0, f, &sp).d_f - observation_derivatives(m, 3.0, f, &sm).d_f)
                    / (2.0 * h);
                assert!((d.d_fs[a] - fd_fs).abs() < 1e-6);
                for b in 0..m.n_sigma() {
                    let fd_ss = (observation_derivatives(m, 3.0, f, &sp).d_s[b]
                        - observation_derivatives(m, 3.0, f, &sm).d_s[b])
                        / (2.0 * h);
                    assert!((d.d_ss[a][b] - fd_ss).abs() < 1e-6);
                }
            }
        }
    }

    #[test]
    fn m2ll_is_the_gaussian_formula() {
        // Additive, σ = 2, one observation y = 5, f = 4: ln 2π + ln 4 + 1/4.
        let v = Criterion::Additive.m2ll(&[5.0], &[4.0], &[2f64.ln()]);
        assert!((v - ((2.0 * PI).ln() + 4f64.ln() + 0.25)).abs() < 1e-14);
        // Proportional, σ = 0.1, y = 11, f = 10: Var = 1: ln 2π + 0 + 1.
        let v = Criterion::Proportional.m2ll(&[11.0], &[10.0], &[0.1f64.ln()]);
        assert!((v - ((2.0 * PI).ln() + 1.0)).abs() < 1e-12);
    }
}
