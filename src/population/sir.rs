//! Sampling importance resampling (SIR) of the parameter uncertainty of a
//! population fit (Dosne, Bergstrand, Harling, Karlsson, J Pharmacokinet
//! Pharmacodyn 2016;43:583–596), the fast alternative to a bootstrap.
//!
//! Each iteration draws M parameter vectors from a proposal, a multivariate
//! normal in φ (the estimated coordinates: log θ, Cholesky factors of Ω, log
//! SD of σ, so every draw is admissible) centred on the estimates, with the
//! covariance of the covariance step first and of the previous iteration's
//! resample afterwards (PsN's iterative SIR). Each draw's importance ratio is
//! the likelihood exp(−½ dOFV) times the Jacobian of the reported scale (so
//! the prior is flat on θ, Ω and σ as NONMEM reports them, as in Dosne et
//! al.) over the proposal density. m draws are then resampled without
//! replacement with probabilities proportional to the ratios.

use super::estimation::{objective, reported, Method, Parameters, PopValues, PopulationData, PopulationFit};
use crate::model::Model;
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// Settings of a SIR run.
#[derive(Debug, Clone, PartialEq)]
pub struct SirOptions {
    /// Draws per iteration (PsN's default 1000, 1000, 1000, 2000, 2000).
    pub samples: Vec<usize>,
    /// Resamples per iteration (PsN's default 200, 400, 500, 1000, 1000).
    pub resamples: Vec<usize>,
    /// Seed of the draws.
    pub seed: u64,
}

impl Default for SirOptions {
    fn default() -> Self {
        SirOptions {
            samples: vec![1000, 1000, 1000, 2000, 2000],
            resamples: vec![200, 400, 500, 1000, 1000],
            seed: 1,
        }
    }
}

impl SirOptions {
    /// Checks that there are as many resample counts as sample counts, each
    /// at most its sample count and positive.
    pub fn check(&self) -> Result<()> {
        if self.samples.is_empty() || self.samples.len() != self.resamples.len() {
            return Err(Error::Argument(format!(
                "SIR: {} sample counts and {} resample counts: give one resample count per iteration",
                self.samples.len(),
                self.resamples.len()
            )));
        }
        for (k, (&m_big, &m)) in self.samples.iter().zip(&self.resamples).enumerate() {
            if m == 0 || m > m_big {
                return Err(Error::Argument(format!(
                    "SIR iteration {}: {m} resamples of {m_big} samples: expected 1 ≤ resamples ≤ samples",
                    k + 1
                )));
            }
        }
        Ok(())
    }
}

/// Diagnostics of one SIR iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct SirIteration {
    /// Draws.
    pub samples: usize,
    /// Resamples.
    pub resamples: usize,
    /// Draws whose objective failed (weight 0).
    pub failed: usize,
    /// Effective sample size of the importance weights, (Σw)²/Σw².
    pub effective_samples: f64,
    /// Largest share of the total weight held by one draw.
    pub max_weight_share: f64,
    /// Mean dOFV of the resamples (for a well-behaved problem near the
    /// number of estimated parameters, the mean of χ²(n)).
    pub mean_dofv: f64,
}

/// The result of a SIR run.
#[derive(Debug, Clone, PartialEq)]
pub struct SirResult {
    /// Names of the reported estimates.
    pub names: Vec<String>,
    /// The estimates.
    pub estimates: Vec<f64>,
    /// The final resample, on the reported scale (one vector per resample).
    pub resampled: Vec<Vec<f64>>,
    /// dOFV of each final resample.
    pub resampled_dofv: Vec<f64>,
    /// Per iteration, its diagnostics.
    pub iterations: Vec<SirIteration>,
    /// Number of estimated parameters.
    pub n_parameters: usize,
}

impl SirResult {
    /// The percentile interval of estimate `k` at `level` (e.g. 0.95), as the bootstrap's.
    pub fn interval(&self, k: usize, level: f64) -> (f64, f64) {
        let v: Vec<f64> = self.resampled.iter().map(|r| r[k]).collect();
        super::bootstrap::percentile_interval(&v, level).unwrap_or((f64::NAN, f64::NAN))
    }

    /// The standard deviation of estimate `k` over the final resample.
    pub fn standard_error(&self, k: usize) -> f64 {
        let n = self.resampled.len() as f64;
        let mean = self.resampled.iter().map(|r| r[k]).sum::<f64>() / n;
        (self.resampled.iter().map(|r| (r[k] - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt()
    }
}

/// What SIR evaluates: the objective in φ and the reported values.
struct Target<'a> {
    model: &'a Model,
    data: &'a PopulationData,
    start: &'a PopValues,
    params: Parameters,
    method: Method,
    starts: Vec<Vec<f64>>,
}

impl Target<'_> {
    fn values(&self, phi: &[f64]) -> Result<PopValues> {
        self.params.values(self.model, self.start, phi)
    }

    fn reported(&self, phi: &[f64]) -> Result<Vec<f64>> {
        let v = self.values(phi)?;
        Ok(reported(self.model, &self.params, &v)
            .into_iter()
            .map(|r| r.value)
            .collect())
    }

    fn ofv(&self, phi: &[f64]) -> Result<f64> {
        let v = self.values(phi)?;
        Ok(objective(self.model, self.data, &v, self.method, &self.starts)?.ofv)
    }

    /// ln |det ∂(reported)/∂φ| (the covariance step's Jacobian).
    fn log_jacobian(&self, phi: &[f64]) -> Result<f64> {
        let jac = super::covariance::reported_jacobian(self.model, &self.params, self.start, phi)?;
        Ok(jac.determinant().abs().ln())
    }
}

/// A draw's dOFV and log-Jacobian relative to the mode, `None` when it fails.
type LogPosterior<'a> = dyn Fn(&[f64]) -> Option<(f64, f64)> + Sync + 'a;

/// One draw: φ, its dOFV and ln importance ratio (None when its objective failed).
struct Draw {
    phi: Vec<f64>,
    dofv: Option<f64>,
    log_ratio: f64,
}

/// SIR from `fit` with the covariance of φ of its covariance step as the
/// first proposal; `progress` is told of each evaluated draw.
pub fn sir(
    model: &Model,
    data: &PopulationData,
    start: &PopValues,
    fit: &PopulationFit,
    phi_covariance: &DMatrix<f64>,
    options: &SirOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<SirResult> {
    options.check()?;
    let target = Target {
        model,
        data,
        start,
        params: Parameters::of(model),
        method: fit.method,
        starts: fit.evaluation.estimates.iter().map(|e| e.eta.clone()).collect(),
    };
    let n = fit.phi.len();
    if phi_covariance.nrows() != n {
        return Err(Error::Argument(format!(
            "SIR: a proposal covariance of size {} for {n} estimated parameters",
            phi_covariance.nrows()
        )));
    }
    let log_jacobian_at_mode = target.log_jacobian(&fit.phi)?;
    // The log-posterior of a draw relative to the estimates, flat prior on the reported scale.
    let evaluate = |phi: &[f64]| -> Option<(f64, f64)> {
        let ofv = target.ofv(phi).ok()?;
        let lj = target.log_jacobian(phi).ok()?;
        (ofv.is_finite() && lj.is_finite()).then_some((ofv - fit.evaluation.ofv, lj - log_jacobian_at_mode))
    };
    let (chosen, iterations) = importance_resample(&fit.phi, phi_covariance, options, &evaluate, progress)?;
    let resampled = chosen
        .iter()
        .map(|d| target.reported(&d.phi))
        .collect::<Result<Vec<_>>>()?;
    let fitted = reported(model, &target.params, &fit.values);
    Ok(SirResult {
        names: fitted.iter().map(|r| r.name.clone()).collect(),
        estimates: fitted.iter().map(|r| r.value).collect(),
        resampled,
        resampled_dofv: chosen.iter().filter_map(|d| d.dofv).collect(),
        iterations,
        n_parameters: n,
    })
}

/// The iterations of SIR about `mode`: draws from N(mode, proposal),
/// importance ratios exp(−½ dOFV + ln J) / q from `evaluate` (dOFV and the
/// log-Jacobian relative to the mode; `None` when the draw fails), resampling
/// without replacement, and the next proposal from the resample.
fn importance_resample(
    mode: &[f64],
    first_proposal: &DMatrix<f64>,
    options: &SirOptions,
    evaluate: &LogPosterior<'_>,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<(Vec<Draw>, Vec<SirIteration>)> {
    let n = mode.len();
    let centre = DVector::from_column_slice(mode);
    let mut proposal = first_proposal.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut iterations = Vec::new();
    let mut chosen: Vec<Draw> = Vec::new();
    for (&m_big, &m) in options.samples.iter().zip(&options.resamples) {
        let chol = proposal.clone().cholesky().ok_or_else(|| {
            Error::Argument("SIR: the proposal covariance is not positive definite (the resample collapsed?)".into())
        })?;
        let l = chol.l();
        let precision = chol.inverse();
        let phis: Vec<Vec<f64>> = (0..m_big)
            .map(|_| {
                let z = DVector::from_iterator(n, (0..n).map(|_| rng.sample::<f64, _>(StandardNormal)));
                (&centre + &l * z).iter().copied().collect()
            })
            .collect();
        let draws: Vec<Draw> = phis
            .into_par_iter()
            .map(|phi| {
                let d = DVector::from_column_slice(&phi) - &centre;
                let log_q = -0.5 * (d.transpose() * &precision * &d)[(0, 0)];
                let evaluated = evaluate(&phi);
                progress(1);
                match evaluated {
                    Some((dofv, log_jacobian)) => Draw {
                        phi,
                        dofv: Some(dofv),
                        log_ratio: -0.5 * dofv + log_jacobian - log_q,
                    },
                    None => Draw {
                        phi,
                        dofv: None,
                        log_ratio: f64::NEG_INFINITY,
                    },
                }
            })
            .collect();
        let (picked, diagnostics) = resample(draws, m, &mut rng)?;
        let resampled_dofv: Vec<f64> = picked.iter().filter_map(|d| d.dofv).collect();
        iterations.push(SirIteration {
            samples: m_big,
            resamples: m,
            mean_dofv: resampled_dofv.iter().sum::<f64>() / resampled_dofv.len().max(1) as f64,
            ..diagnostics
        });
        proposal = sample_covariance(&picked, &centre);
        chosen = picked;
    }
    Ok((chosen, iterations))
}

/// Resamples `m` draws without replacement, each pick with probability
/// proportional to the importance ratios of the draws still in the pool.
fn resample(draws: Vec<Draw>, m: usize, rng: &mut ChaCha8Rng) -> Result<(Vec<Draw>, SirIteration)> {
    let failed = draws.iter().filter(|d| d.dofv.is_none()).count();
    let top = draws.iter().map(|d| d.log_ratio).fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return Err(Error::Argument(
            "SIR: every draw's objective failed; no importance ratios".into(),
        ));
    }
    let mut weights: Vec<f64> = draws.iter().map(|d| (d.log_ratio - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    let effective = total * total / weights.iter().map(|w| w * w).sum::<f64>();
    let max_share = weights.iter().fold(0.0_f64, |a, w| a.max(*w)) / total;
    let usable = weights.iter().filter(|w| **w > 0.0).count();
    if usable < m {
        return Err(Error::Argument(format!(
            "SIR: {m} resamples asked of {usable} draws with a positive importance ratio"
        )));
    }
    let mut picked_index = Vec::with_capacity(m);
    let mut remaining = total;
    for _ in 0..m {
        let u: f64 = rng.random::<f64>() * remaining;
        let mut acc = 0.0;
        let mut k = weights.len() - 1;
        for (i, w) in weights.iter().enumerate() {
            acc += w;
            if *w > 0.0 && acc > u {
                k = i;
                break;
            }
        }
        while weights[k] == 0.0 && k > 0 {
            k -= 1;
        }
        remaining -= weights[k];
        weights[k] = 0.0;
        picked_index.push(k);
    }
    picked_index.sort_unstable();
    let mut draws: Vec<Option<Draw>> = draws.into_iter().map(Some).collect();
    let picked = picked_index.into_iter().filter_map(|k| draws[k].take()).collect();
    Ok((
        picked,
        SirIteration {
            samples: 0,
            resamples: 0,
            failed,
            effective_samples: effective,
            max_weight_share: max_share,
            mean_dofv: f64::NAN,
        },
    ))
}

/// The covariance of the resampled φ about the mode (the next proposal).
fn sample_covariance(draws: &[Draw], mode: &DVector<f64>) -> DMatrix<f64> {
    let n = mode.len();
    let mut c = DMatrix::zeros(n, n);
    for d in draws {
        let x = DVector::from_column_slice(&d.phi) - mode;
        c += &x * x.transpose();
    }
    c / (draws.len().max(2) - 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a Gaussian log-likelihood, OFV = −2LL = (φ−μ)ᵀA(φ−μ) (so the
    /// posterior is N(μ, A⁻¹) under a flat prior), SIR started from a proposal twice
    /// too wide and with the wrong correlation recovers the posterior's
    /// covariance, and the resampled dOFV has the mean of χ²(2), 2.
    #[test]
    fn recovers_a_gaussian_posterior() {
        let a = DMatrix::from_row_slice(2, 2, &[2.0, 0.6, 0.6, 1.0]);
        let truth = a.clone().try_inverse().unwrap();
        let evaluate = |phi: &[f64]| -> Option<(f64, f64)> {
            let x = DVector::from_column_slice(phi);
            Some(((x.transpose() * &a * &x)[(0, 0)], 0.0))
        };
        let wide = DMatrix::from_row_slice(2, 2, &[2.0 * truth[(0, 0)], 0.0, 0.0, 2.0 * truth[(1, 1)]]);
        let options = SirOptions {
            samples: vec![4000, 4000, 8000],
            resamples: vec![1000, 2000, 2000],
            seed: 11,
        };
        let (chosen, iterations) = importance_resample(&[0.0, 0.0], &wide, &options, &evaluate, &|_| {}).unwrap();
        let c = sample_covariance(&chosen, &DVector::zeros(2));
        for (got, want) in c.iter().zip(truth.iter()) {
            // Resampling without replacement shrinks the spread a little (m/M = 1/4):
            // 10% covers it and the Monte Carlo error of 2000 resamples.
            assert!(
                (got - want).abs() < 0.1 * truth[(0, 0)].max(truth[(1, 1)]),
                "{c} vs {truth}"
            );
        }
        let last = iterations.last().unwrap();
        assert!((last.mean_dofv - 2.0).abs() < 0.25, "{last:?}");
    }

    #[test]
    fn resampling_follows_the_weights_and_never_repeats() {
        // Two draws of weight 1 and 3 of ratio: resampling 1 of them many
        // times picks the second 3 times in 4.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut second = 0;
        let trials = 20_000;
        for _ in 0..trials {
            let draws = vec![
                Draw {
                    phi: vec![0.0],
                    dofv: Some(0.0),
                    log_ratio: 0.0,
                },
                Draw {
                    phi: vec![1.0],
                    dofv: Some(0.0),
                    log_ratio: 3f64.ln(),
                },
            ];
            let (picked, _) = resample(draws, 1, &mut rng).unwrap();
            second += usize::from(picked[0].phi[0] == 1.0);
        }
        let share = second as f64 / trials as f64;
        // Binomial SD at 20000 trials: 0.003.
        assert!((share - 0.75).abs() < 0.015, "{share}");
        let draws: Vec<Draw> = (0..10)
            .map(|i| Draw {
                phi: vec![i as f64],
                dofv: Some(0.0),
                log_ratio: -(i as f64),
            })
            .collect();
        let (picked, d) = resample(draws, 10, &mut rng).unwrap();
        let mut seen: Vec<f64> = picked.iter().map(|p| p.phi[0]).collect();
        seen.dedup();
        assert_eq!(seen.len(), 10, "without replacement");
        assert!(d.effective_samples > 1.0 && d.effective_samples < 10.0);
    }
}
